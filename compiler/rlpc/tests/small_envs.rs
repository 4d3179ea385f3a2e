//! The small environments written in `.rlp` (`stdlib/env/bandit.rlp`, `gridworld.rlp`,
//! `point_mass.rlp`): each `step` lowered alone and run on the interpreter and the JIT
//! against hand-computed transitions and statistical expectations; then the example
//! programs learn: UCB and epsilon-greedy drive the regret down, and a policy gradient
//! solves a small grid.

mod common;

use rlp_ir::{DType, Tensor, TensorType};
use rlp_runtime::Executable;
use rlpc::run::{self, Backend, Trainer};
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};
use std::path::Path;

type Build = fn(rlp_ir::Graph) -> Box<dyn Executable>;

fn interp(g: rlp_ir::Graph) -> Box<dyn Executable> {
    Box::new(rlp_ir::interp::Interpreter::new(g).unwrap())
}

fn jit(g: rlp_ir::Graph) -> Box<dyn Executable> {
    rlp_jit::compile(
        &rlpc::run::prepare(&g).unwrap(),
        &rlp_jit::JitOptions::default(),
    )
    .unwrap()
}

const BACKENDS: [(&str, Build); 2] = [("interp", interp), ("jit", jit)];

fn t(d: DType, shape: &[usize]) -> FnArg {
    FnArg::Tensor(TensorType::new(d, shape.to_vec()))
}

/// Lowers `module.name(args…)`, builds it and runs it on `inputs`; outputs by name.
fn run_fn(
    mods: &Modules,
    module: &str,
    name: &str,
    args: Vec<FnArg>,
    inputs: &[Tensor],
    build: Build,
) -> Vec<(String, Vec<f64>)> {
    let (g, names) = lower_function(mods, module, name, args, 0)
        .unwrap_or_else(|d| panic!("{module}.{name}: {}", d.message));
    let out = build(g).run(inputs).expect("runs");
    names
        .into_iter()
        .zip(out.iter().map(|x| x.to_f64_vec()))
        .collect()
}

fn field<'a>(out: &'a [(String, Vec<f64>)], name: &str) -> &'a [f64] {
    &out.iter().find(|(n, _)| n == name).unwrap().1
}

// ---------------------------------------------------------------- grid world

/// A 3×3 map (a function: `lower_function` elaborates no top-level bindings): S at 0, a wall at 2, a hole at 4, the goal at 5.
///   S . #
///   . H G
///   . . .
const GRID_SRC: &str = "use std.env.gridworld.{step, observe, reset}\n\
    fn grid() { [[4, 0, 1], [0, 3, 2], [0, 0, 0]] }\n\
    pub fn det(s, a) { step(s, a, grid(), slip: 0.0, hole_reward: -1.0, step_reward: -0.1) }\n\
    pub fn half(s, a) { step(s, a, grid(), slip: 0.5, seed: 3) }\n\
    pub fn full(s, a) { step(s, a, grid(), slip: 1.0, seed: 5) }\n\
    pub fn obs(s) { observe(s, grid(), coords: true) }\n\
    pub fn start(n: int) { reset(n, grid()) }\n\
    pub fn start2(n: int) { reset(n, [[0, 0, 0], [1, 1, 4]]) }\n";

fn grid_mods() -> Modules {
    Modules::load_source("grid_test.rlp", GRID_SRC)
        .map_err(|(_, d)| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>())
        .unwrap()
        .0
}

#[test]
fn gridworld_moves_walls_goals_holes() {
    let mods = grid_mods();
    // (cell, action, next cell, reward, terminated); actions 0 up 1 right 2 down 3 left.
    let cases: &[(i32, i32, i32, f64, bool)] = &[
        (0, 0, 0, -0.1, false), // off the top edge: stays
        (0, 3, 0, -0.1, false), // off the left edge: stays
        (0, 1, 1, -0.1, false),
        (0, 2, 3, -0.1, false),
        (1, 1, 1, -0.1, false), // into the wall: stays
        (1, 2, 4, -1.0, true),  // into the hole
        (3, 1, 4, -1.0, true),
        (3, 0, 0, -0.1, false),
        (8, 0, 5, 1.0, true), // into the goal
        (8, 3, 7, -0.1, false),
        (8, 1, 8, -0.1, false), // off the right edge
        (8, 2, 8, -0.1, false), // off the bottom edge
        (6, 1, 7, -0.1, false),
        (7, 0, 4, -1.0, true),
        (3, 2, 6, -0.1, false),
    ];
    let n = cases.len();
    let s: Vec<f64> = cases.iter().map(|c| c.0 as f64).collect();
    let a: Vec<f64> = cases.iter().map(|c| c.1 as f64).collect();
    let inputs = [
        Tensor::from_f64(DType::I32, &[n, 1], &s),
        Tensor::from_f64(DType::I32, &[n], &a),
    ];
    for (bn, b) in BACKENDS {
        let args = vec![t(DType::I32, &[n, 1]), t(DType::I32, &[n])];
        let out = run_fn(&mods, "grid_test.rlp", "det", args, &inputs, b);
        let (s2, r, d, ok) = (
            field(&out, "state"),
            field(&out, "reward"),
            field(&out, "terminated"),
            field(&out, "success"),
        );
        for (k, c) in cases.iter().enumerate() {
            assert_eq!(s2[k], c.2 as f64, "{bn} case {k} {c:?}: next cell");
            assert!(
                (r[k] - c.3).abs() < 1e-6,
                "{bn} case {k} {c:?}: reward {}",
                r[k]
            );
            assert_eq!(d[k] != 0.0, c.4, "{bn} case {k} {c:?}: terminated");
            assert_eq!(ok[k] != 0.0, c.3 == 1.0, "{bn} case {k} {c:?}: success");
        }
    }
}

#[test]
fn gridworld_slip_replaces_the_action_uniformly() {
    let mods = grid_mods();
    let n = 8000;
    // From the centre (cell 4) every move succeeds: up 1, right 5, down 7, left 3.
    let inputs = [
        Tensor::from_f64(DType::I32, &[n, 1], &vec![4.0; n]),
        Tensor::from_f64(DType::I32, &[n], &vec![0.0; n]),
    ];
    for (bn, b) in BACKENDS {
        for (f, p_up) in [("full", 0.25), ("half", 0.625)] {
            let args = vec![t(DType::I32, &[n, 1]), t(DType::I32, &[n])];
            let out = run_fn(&mods, "grid_test.rlp", f, args, &inputs, b);
            let s2 = field(&out, "state");
            let p_other = (1.0 - p_up) / 3.0;
            for (cell, p) in [(1.0, p_up), (5.0, p_other), (7.0, p_other), (3.0, p_other)] {
                let freq = s2.iter().filter(|&&x| x == cell).count() as f64 / n as f64;
                // 5 standard deviations of a binomial frequency.
                let tol = 5.0 * (p * (1.0 - p) / n as f64).sqrt();
                assert!(
                    (freq - p).abs() < tol,
                    "{bn} slip {f}: cell {cell} frequency {freq} vs {p}"
                );
            }
            assert!(s2.iter().all(|x| [1.0, 3.0, 5.0, 7.0].contains(x)));
        }
    }
}

#[test]
fn gridworld_reset_and_observation() {
    let mods = grid_mods();
    for (bn, b) in BACKENDS {
        let s0 = run_fn(&mods, "grid_test.rlp", "start", vec![FnArg::Int(3)], &[], b);
        assert_eq!(s0[0].1, vec![0.0; 3], "{bn}: start cell");
        let s0 = run_fn(
            &mods,
            "grid_test.rlp",
            "start2",
            vec![FnArg::Int(2)],
            &[],
            b,
        );
        assert_eq!(s0[0].1, vec![5.0; 2], "{bn}: start cell of the second map");
        let inputs = [Tensor::from_f64(DType::I32, &[2, 1], &[5.0, 6.0])];
        let o = run_fn(
            &mods,
            "grid_test.rlp",
            "obs",
            vec![t(DType::I32, &[2, 1])],
            &inputs,
            b,
        );
        let o = &o[0].1;
        assert_eq!(o.len(), 2 * 11);
        let mut want = vec![0.0; 22];
        want[5] = 1.0; // cell 5 = (1, 2)
        want[9] = 0.5;
        want[10] = 1.0;
        want[11 + 6] = 1.0; // cell 6 = (2, 0)
        want[11 + 9] = 1.0;
        want[11 + 10] = 0.0;
        assert_eq!(o, &want, "{bn}: observation");
    }
}

// ---------------------------------------------------------------- bandits

const MEANS: [f64; 4] = [0.1, 0.5, 0.55, 0.9];

fn bandit_inputs(n: usize, means: &[f64]) -> [Tensor; 2] {
    let k = means.len();
    let s: Vec<f64> = (0..n).flat_map(|_| means.iter().copied()).collect();
    let a: Vec<f64> = (0..n).map(|i| (i % k) as f64).collect();
    [
        Tensor::from_f64(DType::F32, &[n, k], &s),
        Tensor::from_f64(DType::I32, &[n], &a),
    ]
}

#[test]
fn bernoulli_bandit_frequencies_and_regret() {
    let mods = Modules::stdlib(&["std.env.bandit"]).unwrap();
    let n = 40_000;
    let inputs = bandit_inputs(n, &MEANS);
    for (bn, b) in BACKENDS {
        let args = vec![t(DType::F32, &[n, 4]), t(DType::I32, &[n])];
        let out = run_fn(&mods, "std.env.bandit", "bernoulli_step", args, &inputs, b);
        let (r, reg, d) = (
            field(&out, "reward"),
            field(&out, "regret"),
            field(&out, "terminated"),
        );
        assert_eq!(field(&out, "state"), inputs[0].to_f64_vec().as_slice());
        assert!(
            d.iter().all(|&x| x != 0.0),
            "{bn}: one-pull episodes terminate"
        );
        assert!(
            r.iter().all(|&x| x == 0.0 || x == 1.0),
            "{bn}: rewards are 0 or 1"
        );
        for (k, &p) in MEANS.iter().enumerate() {
            let pulls: Vec<usize> = (k..n).step_by(4).collect();
            let freq = pulls.iter().map(|&i| r[i]).sum::<f64>() / pulls.len() as f64;
            let tol = 5.0 * (p * (1.0 - p) / pulls.len() as f64).sqrt();
            assert!(
                (freq - p).abs() < tol,
                "{bn} arm {k}: frequency {freq} vs {p}"
            );
            for &i in &pulls {
                assert!(
                    (reg[i] - (0.9 - p)).abs() < 1e-6,
                    "{bn} arm {k}: regret {}",
                    reg[i]
                );
            }
        }
    }
}

#[test]
fn gaussian_bandit_moments_and_regret() {
    let mods = Modules::stdlib(&["std.env.bandit"]).unwrap();
    let n = 40_000;
    let means = [0.0, 0.5, 1.0, -1.0];
    let inputs = bandit_inputs(n, &means);
    for (bn, b) in BACKENDS {
        let args = vec![
            t(DType::F32, &[n, 4]),
            t(DType::I32, &[n]),
            FnArg::Float(2.0),
        ];
        let out = run_fn(&mods, "std.env.bandit", "gaussian_step", args, &inputs, b);
        let (r, reg) = (field(&out, "reward"), field(&out, "regret"));
        for (k, &mu) in means.iter().enumerate() {
            let xs: Vec<f64> = (k..n).step_by(4).map(|i| r[i]).collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let sd = (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / xs.len() as f64).sqrt();
            let tol = 5.0 * 2.0 / (xs.len() as f64).sqrt();
            assert!((m - mu).abs() < tol, "{bn} arm {k}: mean {m} vs {mu}");
            assert!((sd - 2.0).abs() < 0.1, "{bn} arm {k}: std {sd} vs 2");
            for i in (k..n).step_by(4) {
                assert!(
                    (reg[i] - (1.0 - mu)).abs() < 1e-6,
                    "{bn} arm {k}: regret {}",
                    reg[i]
                );
            }
        }
    }
}

// ---------------------------------------------------------------- point mass

#[test]
fn point_mass_dynamics_success_and_walls() {
    let mods = Modules::stdlib(&["std.env.point_mass"]).unwrap();
    // (x, y, vx, vy, gx, gy), (fx, fy)
    #[rustfmt::skip]
    let cases: &[([f64; 6], [f64; 2])] = &[
        ([0.0, 0.0, 0.0, 0.0, 0.5, 0.0], [1.0, 0.0]),
        ([0.0, 0.0, 0.0, 0.0, 0.5, 0.0], [5.0, -3.0]),  // clipped to (1, -1)
        ([0.45, 0.0, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0]),  // within the radius: success
        ([0.99, 0.2, 1.0, 0.5, 0.0, 0.0], [1.0, 0.0]),  // hits the right wall
        ([-0.5, -0.5, 0.2, -0.4, 0.3, 0.3], [-0.5, 0.25]),
    ];
    let n = cases.len();
    let s: Vec<f64> = cases.iter().flat_map(|c| c.0).collect();
    let a: Vec<f64> = cases.iter().flat_map(|c| c.1).collect();
    let inputs = [
        Tensor::from_f64(DType::F32, &[n, 6], &s),
        Tensor::from_f64(DType::F32, &[n, 2], &a),
    ];
    // dt 0.1, damping 1, radius 0.1: v' = v + dt (clip(f) − v), p' = clip(p + dt v', ±1).
    let expect = |(s, a): &([f64; 6], [f64; 2])| {
        let mut out = [0.0; 6];
        for j in 0..2 {
            let f = a[j].clamp(-1.0, 1.0);
            let v = s[2 + j] + 0.1 * (f - s[2 + j]);
            let free = s[j] + 0.1 * v;
            let p = free.clamp(-1.0, 1.0);
            out[j] = p;
            out[2 + j] = if p == free { v } else { 0.0 };
            out[4 + j] = s[4 + j];
        }
        let dist = ((out[4] - out[0]).powi(2) + (out[5] - out[1]).powi(2)).sqrt();
        (out, dist)
    };
    for (bn, b) in BACKENDS {
        let args = vec![t(DType::F32, &[n, 6]), t(DType::F32, &[n, 2])];
        let out = run_fn(&mods, "std.env.point_mass", "step", args, &inputs, b);
        let (s2, r, d, ok, dist) = (
            field(&out, "state"),
            field(&out, "reward"),
            field(&out, "terminated"),
            field(&out, "success"),
            field(&out, "distance"),
        );
        for (k, c) in cases.iter().enumerate() {
            let (want, want_d) = expect(c);
            for j in 0..6 {
                assert!(
                    (s2[k * 6 + j] - want[j]).abs() < 1e-6,
                    "{bn} case {k} state {j}: {} vs {}",
                    s2[k * 6 + j],
                    want[j]
                );
            }
            assert!((dist[k] - want_d).abs() < 1e-6, "{bn} case {k}: distance");
            assert!(
                (r[k] + want_d).abs() < 1e-6,
                "{bn} case {k}: reward {}",
                r[k]
            );
            let success = want_d < 0.1;
            assert_eq!(d[k] != 0.0, success, "{bn} case {k}: terminated");
            assert_eq!(ok[k], if success { 1.0 } else { 0.0 }, "{bn} case {k}");
        }
        assert_eq!(d[2], 1.0, "{bn}: the case inside the radius succeeds");
        assert_eq!(s2[3 * 6], 1.0, "{bn}: clipped at the wall");
        assert_eq!(s2[3 * 6 + 2], 0.0, "{bn}: velocity into the wall zeroed");
    }
}

// ---------------------------------------------------------------- whole programs

/// Every constructor inside a program with a random policy, on both backends; the
/// extra fields (`regret`, `success`, `distance`) reach the batch.
#[test]
fn constructors_roll_out_with_a_random_policy() {
    let cases = [
        (
            "use std.env.bandit.{bernoulli_bandit}\n\
             env = bernoulli_bandit(arms: [0.2, 0.7], envs: 64, seed: 1)",
            "i32(floor(uniform([64], low: 0.0, high: 2.0)))",
            "regret",
        ),
        (
            "use std.env.bandit.{gaussian_bandit}\n\
             env = gaussian_bandit(means: [0.0, 1.0, 0.5], std: 0.5, envs: 64, horizon: 10)",
            "i32(floor(uniform([64], low: 0.0, high: 3.0)))",
            "regret",
        ),
        (
            "use std.env.gridworld.{gridworld}\n\
             env = gridworld(grid: [[4, 0, 0], [0, 3, 2]], envs: 64, slip: 0.2, coords: true)",
            "i32(floor(uniform([64], low: 0.0, high: 4.0)))",
            "success",
        ),
        (
            "use std.env.point_mass.{point_mass}\n\
             env = point_mass(envs: 64, seed: 2, max_steps: 50)",
            "uniform([64, 2], low: -1.0, high: 1.0)",
            "success",
        ),
    ];
    for (head, action, extra) in cases {
        let src = format!(
            "{head}\n\
             policy = obs -> {{ sample: () -> {action} }}\n\
             train iterations: 3 {{\n\
             sample batch = rollout(env, policy, steps: 60)\n\
             log ret = mean(env.episode_return), r = mean(batch.reward), x = mean(batch.{extra}), o = mean(batch.next_obs)\n\
             }}\n"
        );
        let a = common::source_metrics(&src, 7, 3, Backend::Jit);
        let b = common::source_metrics(&src, 7, 3, Backend::Interp);
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!(x.is_finite(), "{src}\n{a:?}");
            assert!(
                (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                "{src}\n{a:?} vs {b:?}"
            );
        }
        eprintln!("{head}: {:?}", a.last().unwrap());
    }
}

/// A record `step` returns beside its required fields is stacked into the batch as a
/// record of `[T, N]` stacks, nested records too, on both backends.
#[test]
fn a_record_step_returns_is_stacked_into_the_batch_as_a_record() {
    let src = "fn reset(n: int) { zeros([n, 1]) }\n\
               fn step(s, a) {\n\
               { state: s + 1.0, reward: f32(a), terminated: f32(a) > 5.0,\n\
               info: { k: f32(a) + 1.0, inner: { z: s[:, 0] } } }\n\
               }\n\
               env = environment(envs: 3, max_steps: 4, obs: 1, actions: 2, reset: reset, step: step)\n\
               policy = obs -> { sample: () -> i32(zeros([3])) + 1 }\n\
               train iterations: 2 {\n\
               sample batch = rollout(env, policy, steps: 2)\n\
               log k = mean(batch.info.k), z = mean(batch.info.inner.z),\n\
               t = f32(batch.info.k.shape[0]), n = f32(batch.info.inner.z.shape[1])\n\
               }\n";
    for backend in [Backend::Jit, Backend::Interp] {
        let rows = common::source_metrics(src, 7, 2, backend);
        // Action 1 every step: k = 2; the state counts steps (0, 1, then 2, 3).
        assert_eq!(rows[0], [2.0, 0.5, 2.0, 3.0], "{backend:?}");
        assert_eq!(rows[1], [2.0, 2.5, 2.0, 3.0], "{backend:?}");
    }
}

fn example_metrics(name: &str, iters: u64) -> (Vec<String>, Vec<Vec<f64>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let (p, _) = rlpc::front_end(&path, 0)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let names: Vec<String> = p.metrics.iter().map(|m| m.name.clone()).collect();
    let c = run::compile(p, Backend::Jit).unwrap();
    let mut tr = Trainer::new(&c).unwrap();
    let rows = (0..iters)
        .map(|it| {
            tr.step(it, None).unwrap();
            tr.metric_values()
        })
        .collect();
    (names, rows)
}

fn column(names: &[String], rows: &[Vec<f64>], name: &str) -> Vec<f64> {
    let j = names.iter().position(|n| n == name).unwrap();
    rows.iter().map(|r| r[j]).collect()
}

fn avg(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// UCB1 in `.rlp`: per-bandit counts as state; the regret per pull falls.
#[test]
fn ucb_example_drives_regret_down() {
    let (names, rows) = example_metrics("bandit_ucb.rlp", 400);
    let regret = column(&names, &rows, "regret");
    let (first, last) = (avg(&regret[..20]), avg(&regret[350..]));
    eprintln!("ucb regret: first 20 {first:.3}, last 50 {last:.3}");
    assert!(first > 0.2, "{first}");
    assert!(last < 0.3 * first, "regret first {first}, last {last}");
}

/// Decaying epsilon-greedy on Gaussian bandits: the regret per pull falls.
#[test]
fn epsilon_greedy_example_drives_regret_down() {
    let (names, rows) = example_metrics("bandit_epsilon_greedy.rlp", 400);
    let regret = column(&names, &rows, "regret");
    let (first, last) = (avg(&regret[..20]), avg(&regret[350..]));
    eprintln!("epsilon-greedy regret: first 20 {first:.3}, last 50 {last:.3}");
    assert!(last < 0.3 * first, "regret first {first}, last {last}");
}

/// Policy gradient solves the deterministic grid: every finished episode reaches the
/// goal, by the shortest path (4 moves: return 1 − 3 · 0.05 = 0.85).
#[test]
fn gridworld_pg_example_reaches_the_goal() {
    let (names, rows) = example_metrics("gridworld_pg.rlp", 60);
    let success = column(&names, &rows, "success");
    let ret = column(&names, &rows, "return");
    eprintln!(
        "gridworld pg: success {:.3} → {:.3}, return {:.3} → {:.3}",
        success[0], success[59], ret[0], ret[59]
    );
    assert!(
        success[0] < 0.5,
        "the random policy rarely succeeds: {}",
        success[0]
    );
    assert!(avg(&success[50..]) >= 0.98, "{:?}", &success[50..]);
    assert!(ret[59] >= 0.8, "return {}", ret[59]);
}

/// A map drawn as text gives the same cell codes as the list form.
#[test]
fn gridworld_map_drawn_as_text() {
    let src = "use std.env.gridworld.{grid_from_string}\nfn flat() { stack(map(r -> i32(r), grid_from_string(\"S..#\\n.#.G\\n..H.\")), axis: 0) }\n";
    let (mods, _) = rlpc::sema::Modules::load_source("text_map.rlp", src)
        .map_err(|(_, d)| d[0].message.clone())
        .unwrap();
    let (g, _) =
        rlpc::sema::function::lower_function(&mods, "text_map.rlp", "flat", vec![], 0).unwrap();
    let out = rlp_ir::interp::run(&g, &[]).unwrap();
    assert_eq!(
        out[0].to_f64_vec(),
        vec![4.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0]
    );
}
