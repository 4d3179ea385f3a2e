//! Planning (`stdlib/plan.rlp`) and what it rests on: `top_k`, `sort` and `argsort`
//! against an independent sort on both backends; batched `@` against the members' own
//! products; ensembles whose members start apart, train independently and disagree off
//! their data; CEM and random shooting on a linear-quadratic problem whose optimal
//! actions are closed form; CEM-MPC swinging Pendulum up with the true dynamics.

mod common;

use rlp_ir::{DType, Tensor, TensorType};
use rlpc::run::Backend;
use rlpc::sema::function::FnArg;

const WRAPPERS: &str = r#"
use std.plan.{cem, random_shooting}

fn ranks(x: [N, K]) {
  t = top_k(x, 3)
  (t.values, t.indices, sort(x), argsort(x), sort(x, descending: true),
   argsort(x, descending: true))
}

fn int_ranks(x: [N, K] i32) { (sort(x), argsort(x)) }

fn members(x: [E, B, K], w: [E, K, M]) { x @ w }

/// x' = x + a, reward -(x'² + 0.5 a²).
fn lq_step(s: [N, 1], a: [N, 1]) {
  x2 = s + a
  { state: x2, reward: -(x2[:, 0] ** 2 + 0.5 * a[:, 0] ** 2) }
}

fn lq_cem(s: [N, 1]) {
  cem(lq_step, s, zeros([2, N, 1]), low: -5.0, high: 5.0, init_std: 2.0, candidates: 300,
      elites: 30, iterations: 10).mean
}

/// Two members that disagree: one pays 2a, the other -a².
fn two_minds(s: [N, 2, 1], a: [N, 1]) {
  { state: s, reward: stack([2.0 * a[:, 0], -(a[:, 0] * a[:, 0])], axis: -1) }
}

fn plan_mean(s: [N, 2, 1]) {
  cem(two_minds, s, zeros([1, N, 1]), low: -0.5, high: 2.0, init_std: 1.0, candidates: 300,
      elites: 30, iterations: 10, objective: r -> mean(r, axis: -1)).mean
}

fn plan_averse(s: [N, 2, 1]) {
  cem(two_minds, s, zeros([1, N, 1]), low: -0.5, high: 2.0, init_std: 1.0, candidates: 300,
      elites: 30, iterations: 10, objective: r -> mean(r, axis: -1) - std(r, axis: [-1])).mean
}

fn lq_shoot(s: [N, 1]) {
  random_shooting(lq_step, s, horizon: 1, act_dim: 1, low: -5.0, high: 5.0,
                  candidates: 4000)
}
"#;

const BACKENDS: [(&str, Backend); 2] = common::BOTH_BACKENDS;

fn run(name: &str, args: &[TensorType], inputs: &[Tensor], backend: Backend) -> Vec<Vec<f64>> {
    let args = args.iter().cloned().map(FnArg::Tensor).collect();
    common::run_graph(
        common::function_graph("w.rlp", WRAPPERS, name, args, 3),
        backend,
        inputs,
    )
}

fn ty(d: DType, shape: &[usize]) -> TensorType {
    TensorType::new(d, shape.to_vec())
}

/// A fixed pseudo-random sequence in [-1, 1).
fn values(n: usize, salt: u64) -> Vec<f64> {
    let mut s = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// Positions of a row in ascending order, ties by position (a stable sort).
fn stable_argsort(row: &[f64]) -> Vec<usize> {
    let mut p: Vec<usize> = (0..row.len()).collect();
    p.sort_by(|&a, &b| row[a].partial_cmp(&row[b]).unwrap());
    p
}

#[test]
fn top_k_sort_and_argsort_match_an_independent_sort() {
    let (n, k) = (5, 9);
    // Rounded to tenths, so rows hold ties.
    let x: Vec<f64> = values(n * k, 1)
        .iter()
        .map(|v| (v * 10.0).round() / 10.0)
        .collect();
    let input = [Tensor::from_f64(DType::F32, &[n, k], &x)];
    for (backend, on) in BACKENDS {
        let out = run("ranks", &[ty(DType::F32, &[n, k])], &input, on);
        for r in 0..n {
            let row: Vec<f64> = x[r * k..(r + 1) * k]
                .iter()
                .map(|&v| v as f32 as f64)
                .collect();
            let up = stable_argsort(&row);
            // Descending with ties by position: a stable sort of the negated row.
            let neg: Vec<f64> = row.iter().map(|v| -v).collect();
            let down = stable_argsort(&neg);
            let at = |o: &Vec<f64>, w: usize| o[r * w..(r + 1) * w].to_vec();
            let pos = |p: &[usize]| p.iter().map(|&i| i as f64).collect::<Vec<_>>();
            let val = |p: &[usize]| p.iter().map(|&i| row[i]).collect::<Vec<_>>();
            assert_eq!(
                at(&out[0], 3),
                val(&down[..3]),
                "{backend} top_k values, row {r}"
            );
            assert_eq!(
                at(&out[1], 3),
                pos(&down[..3]),
                "{backend} top_k indices, row {r}"
            );
            assert_eq!(at(&out[2], k), val(&up), "{backend} sort, row {r}");
            assert_eq!(at(&out[3], k), pos(&up), "{backend} argsort, row {r}");
            assert_eq!(
                at(&out[4], k),
                val(&down),
                "{backend} sort descending, row {r}"
            );
            assert_eq!(
                at(&out[5], k),
                pos(&down),
                "{backend} argsort descending, row {r}"
            );
        }
    }
    // Ints, including the extremes, where negation would overflow.
    let xi = [i32::MIN as f64, 3.0, -1.0, i32::MAX as f64, 3.0, 0.0];
    for (backend, on) in BACKENDS {
        let input = [Tensor::from_f64(DType::I32, &[1, 6], &xi)];
        let out = run("int_ranks", &[ty(DType::I32, &[1, 6])], &input, on);
        let want = [i32::MIN as f64, -1.0, 0.0, 3.0, 3.0, i32::MAX as f64];
        assert_eq!(out[0], want, "{backend} int sort");
        assert_eq!(
            out[1],
            [0.0, 2.0, 5.0, 1.0, 4.0, 3.0],
            "{backend} int argsort"
        );
    }
}

#[test]
fn batched_matmul_multiplies_each_member_by_its_own_weights() {
    let (e, b, k, m) = (3, 4, 5, 2);
    let (x, w) = (values(e * b * k, 2), values(e * k * m, 3));
    let inputs = [
        Tensor::from_f64(DType::F64, &[e, b, k], &x),
        Tensor::from_f64(DType::F64, &[e, k, m], &w),
    ];
    let args = [ty(DType::F64, &[e, b, k]), ty(DType::F64, &[e, k, m])];
    for (backend, on) in BACKENDS {
        let out = &run("members", &args, &inputs, on)[0];
        for (i, got) in out.iter().enumerate() {
            let (ei, rest) = (i / (b * m), i % (b * m));
            let (bi, mi) = (rest / m, rest % m);
            let want: f64 = (0..k)
                .map(|j| x[(ei * b + bi) * k + j] * w[(ei * k + j) * m + mi])
                .sum();
            assert!(
                (got - want).abs() < 1e-12,
                "{backend} element {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn planners_find_the_closed_form_optimum_of_a_linear_quadratic_problem() {
    let x0 = [-2.0, -0.7, 0.0, 0.4, 1.5];
    let n = x0.len();
    let input = [Tensor::from_f64(DType::F32, &[n, 1], &x0)];
    // Two steps, reward -(x'² + λa²), λ = 1/2. The last step's best action is
    // a1 = -x1/(1+λ) and leaves a cost of c·x1² with c = λ/(1+λ); so the first is
    // a0 = -(1+c)·x0 / (1+c+λ) = -8/11·x0.
    let plan = run("lq_cem", &[ty(DType::F32, &[n, 1])], &input, Backend::Jit);
    for (i, &x) in x0.iter().enumerate() {
        let a0 = -8.0 / 11.0 * x;
        let a1 = -(x + a0) / 1.5;
        let (g0, g1) = (plan[0][i], plan[0][n + i]);
        assert!(
            (g0 - a0).abs() < 1e-3,
            "CEM first action from {x}: {g0} vs {a0}"
        );
        assert!(
            (g1 - a1).abs() < 1e-3,
            "CEM second action from {x}: {g1} vs {a1}"
        );
    }
    // One step: a* = -x/(1+λ); the best of 4,000 uniform draws in [-5, 5] lands within
    // a few thousandths.
    let shot = run("lq_shoot", &[ty(DType::F32, &[n, 1])], &input, Backend::Jit);
    for (i, &x) in x0.iter().enumerate() {
        let want = -x / 1.5;
        let got = shot[0][i];
        assert!(
            (got - want).abs() < 0.02,
            "shooting from {x}: {got} vs {want}"
        );
    }
}

#[test]
fn cem_with_the_true_model_swings_pendulum_up() {
    // Four pendulums from random starts, one episode each (200 steps).
    for seed in [0, 1] {
        let ret = common::last_return("cem_pendulum.rlp", seed, &[("iters", "200")]);
        assert!(ret > -200.0, "seed {seed}: mean return {ret}");
    }
}

fn trainer_for(src: &str, backend: rlpc::run::Backend) -> rlpc::run::Compiled {
    let (p, _) = rlpc::front_end_source("ens.rlp", src, 0)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    rlpc::run::compile(p, backend).unwrap()
}

#[test]
fn ensemble_members_start_apart_and_train_independently() {
    // A loss that reads member 0 only: its gradient must leave the others untouched.
    let src = "net = ensemble_mlp(3, 4, [8], 2, act: relu)\n\
               x   = uniform([16, 4], low: -1.0, high: 1.0)\n\
               opt = sgd(lr: 0.1)\n\
               train iterations: 1 {\n  improve minimize mean(net(x)[0] ** 2) with opt\n}\n";
    for backend in [rlpc::run::Backend::Jit, rlpc::run::Backend::Interp] {
        let c = trainer_for(src, backend);
        let mut t = rlpc::run::Trainer::new(&c).unwrap();
        let before = t.params();
        t.step(0, None).unwrap();
        let after = t.params();
        assert_eq!(before.len(), 4, "two layers of w and b");
        for ((name, b), (_, a)) in before.iter().zip(&after) {
            assert_eq!(b.shape()[0], 3, "{name} has a leading member axis");
            let per = b.shape().iter().product::<usize>() / 3;
            let (b, a) = (b.to_f64_vec(), a.to_f64_vec());
            let member = |v: &[f64], e: usize| v[e * per..(e + 1) * per].to_vec();
            assert_ne!(
                member(&b, 0),
                member(&b, 1),
                "{name}: members 0 and 1 start equal"
            );
            assert_ne!(
                member(&b, 1),
                member(&b, 2),
                "{name}: members 1 and 2 start equal"
            );
            assert_ne!(
                member(&b, 0),
                member(&a, 0),
                "{name}: member 0 did not move"
            );
            for e in 1..3 {
                assert_eq!(member(&b, e), member(&a, e), "{name}: member {e} moved");
            }
        }
    }
}

#[test]
fn ensemble_disagreement_grows_off_the_data() {
    // Five members fitted to sin(3x) on [-1, 1], each on its own minibatches; their
    // spread is measured on the data and on [3, 5], where nothing constrains them.
    let src = "net  = ensemble_mlp(5, 1, [32, 32], 1, act: tanh)\n\
               opt  = adam(lr: 3e-3)\n\
               grid = reshape(f32(indices(64)) / 63.0, [64, 1])\n\
               train iterations: 1000 {\n\
               \x20 improve x = uniform([5, 32, 1], low: -1.0, high: 1.0)\n\
               \x20         minimize mean((net(x) - sin(3.0 * x)) ** 2) with opt\n\
               \x20 log     err = mean((net(grid * 2.0 - 1.0) - sin(3.0 * (grid * 2.0 - 1.0))) ** 2),\n\
               \x20         on  = mean(std(net(grid * 2.0 - 1.0), axis: [0])),\n\
               \x20         off = mean(std(net(grid * 2.0 + 3.0), axis: [0]))\n\
               }\n";
    let c = trainer_for(src, rlpc::run::Backend::Jit);
    let mut t = rlpc::run::Trainer::new(&c).unwrap();
    for it in 0..1000 {
        t.step(it, None).unwrap();
    }
    let names: Vec<String> = c.program.metrics.iter().map(|m| m.name.clone()).collect();
    let m = t.metric_values();
    let get = |n: &str| m[names.iter().position(|x| x == n).unwrap()];
    let (fit, on, off) = (get("err"), get("on"), get("off"));
    assert!(fit < 1e-3, "the members fit the data: mse {fit}");
    assert!(off > 10.0 * on, "spread on the data {on}, off it {off}");
}

#[test]
fn cem_with_a_learned_ensemble_controls_pendulum_within_its_first_episodes() {
    // Four pendulums, 25 random steps each, then planning with the ensemble fitted every
    // 10 steps: the first episodes (800 env steps in all) end far above random torques
    // (-1,300 on these starts; the true model gives about -170).
    let ret = common::last_return(
        "pets_pendulum.rlp",
        0,
        &[("iters", "200"), ("candidates", "200")],
    );
    assert!(ret > -500.0, "mean return of the first episodes {ret}");
}

/// `(I − γ·P)⁻¹` by Gauss–Jordan elimination with partial pivoting, in f64.
fn resolvent(p: &[f64], n: usize, gamma: f64) -> Vec<f64> {
    let mut a: Vec<f64> = (0..n * n)
        .map(|i| f64::from(u8::from(i / n == i % n)) - gamma * p[i])
        .collect();
    let mut inv: Vec<f64> = (0..n * n)
        .map(|i| f64::from(u8::from(i / n == i % n)))
        .collect();
    for c in 0..n {
        let piv = (c..n)
            .max_by(|&x, &y| a[x * n + c].abs().total_cmp(&a[y * n + c].abs()))
            .unwrap();
        for j in 0..n {
            a.swap(c * n + j, piv * n + j);
            inv.swap(c * n + j, piv * n + j);
        }
        let d = a[c * n + c];
        for j in 0..n {
            a[c * n + j] /= d;
            inv[c * n + j] /= d;
        }
        for r in (0..n).filter(|&r| r != c) {
            let f = a[r * n + c];
            for j in 0..n {
                a[r * n + j] -= f * a[c * n + j];
                inv[r * n + j] -= f * inv[c * n + j];
            }
        }
    }
    inv
}

#[test]
fn successor_representation_matches_the_closed_form_and_transfers_to_a_new_task() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/successor_gridworld.rlp");
    let settings = [("iters".to_string(), "10000".to_string())];
    let (p, _) = rlpc::front_end_with(&path, 0, &settings)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let c = rlpc::run::compile(p, rlpc::run::Backend::Jit).unwrap();
    let mut t = rlpc::run::Trainer::new(&c).unwrap();
    for it in 0..10_000 {
        t.step(it, None).unwrap();
    }
    let state = t.state();
    let get = |n: &str| state.iter().find(|(k, _)| k == n).unwrap().1.to_f64_vec();
    // The program's series against an independent inverse of its own P'π.
    let (p_pi, exact) = (get("p_pi"), get("exact_m"));
    let n = 25;
    // Rows sum to 1 except where walls, holes and the goal take mass out.
    let mass: f64 = p_pi.iter().sum();
    assert!(mass > 10.0 && mass < 25.0, "P'π carries {mass}");
    let inv = resolvent(&p_pi, n, 0.9);
    for (i, (a, b)) in exact.iter().zip(&inv).enumerate() {
        assert!((a - b).abs() < 1e-4, "entry {i}: series {a}, inverse {b}");
    }
    let names: Vec<String> = c.program.metrics.iter().map(|m| m.name.clone()).collect();
    let m = t.metric_values();
    let metric = |k: &str| m[names.iter().position(|x| x == k).unwrap()];
    assert!(
        metric("sr_error") < 0.02,
        "TD-learned M vs closed form: {}",
        metric("sr_error")
    );
    assert!(
        metric("value_error_b") < 0.03,
        "task b values from M and a re-fitted w: {}",
        metric("value_error_b")
    );
}

#[test]
fn dyna_q_plans_its_way_to_the_goal_sooner_than_q_learning() {
    // After 300 iterations (1,200 real steps): the greedy policy of the table, on 16
    // evaluation episodes.
    let run = |planning: &str| {
        common::final_metrics(
            "dyna_q_gridworld.rlp",
            0,
            &[("iters", "300"), ("planning", planning)],
            &["greedy_success", "v_start"],
        )
    };
    let (dyna, plain) = (run("32"), run("0"));
    assert!(dyna[0] >= 0.75, "Dyna-Q greedy success {}", dyna[0]);
    assert!(plain[0] <= 0.5, "Q-learning greedy success {}", plain[0]);
    assert!(
        dyna[1] > 0.3 && plain[1] < 0.1,
        "values at the start: {dyna:?} {plain:?}"
    );
}

#[test]
fn a_policy_trained_through_the_learned_model_swings_pendulum_up() {
    // 600 iterations of 4 environments: 2,400 env steps; the actor alone on 10
    // evaluation episodes.
    let greedy = common::final_metrics(
        "model_backprop_pendulum.rlp",
        0,
        &[("iters", "601")],
        &["greedy"],
    );
    assert!(greedy[0] > -200.0, "greedy return {}", greedy[0]);
}

#[test]
fn sac_on_model_rollouts_swings_pendulum_up_within_a_thousand_steps() {
    // 1,000 real steps (one environment); the greedy policy on 10 evaluation episodes.
    let greedy = common::final_metrics("mbpo_pendulum.rlp", 0, &[("iters", "1001")], &["greedy"]);
    assert!(greedy[0] > -200.0, "greedy return {}", greedy[0]);
}

#[test]
fn c_learning_reaches_goals_without_rewards() {
    // 7,000 iterations of 4 point masses; the last episode of each (the untrained
    // actor reaches none of its goals in the first 1,000 iterations).
    let m = common::final_metrics(
        "c_learning_point_mass.rlp",
        0,
        &[("iters", "7000")],
        &["success"],
    );
    assert!(m[0] >= 0.75, "success {}", m[0]);
}

#[test]
fn a_risk_averse_objective_avoids_what_the_members_disagree_on() {
    // The mean of 2a and -a² peaks at a = 1; the mean less the members' spread
    // (|2a + a²| / 2) peaks at a = 0, where they agree.
    let state = [Tensor::from_f64(DType::F32, &[3, 2, 1], &[0.0; 6])];
    let arg = [ty(DType::F32, &[3, 2, 1])];
    let mean = run("plan_mean", &arg, &state, Backend::Jit);
    let averse = run("plan_averse", &arg, &state, Backend::Jit);
    for i in 0..3 {
        assert!(
            (mean[0][i] - 1.0).abs() < 0.02,
            "mean objective: {}",
            mean[0][i]
        );
        assert!(
            averse[0][i].abs() < 0.02,
            "risk-averse objective: {}",
            averse[0][i]
        );
    }
}

#[test]
fn ddpg_with_model_based_value_expansion_swings_pendulum_up() {
    // 5,000 real steps with a 4-step expanded target; the actor on 10 evaluation
    // episodes.
    let greedy = common::final_metrics("mve_pendulum.rlp", 0, &[("iters", "5001")], &["greedy"]);
    assert!(greedy[0] > -200.0, "greedy return {}", greedy[0]);
}

#[test]
fn dqn_with_model_generated_transitions_balances_cartpole() {
    // Seed 0: the greedy policy's 10 evaluation episodes after 11,500 iterations of
    // 4 environments (46,000 real steps; model transitions from iteration 1,000 on).
    let greedy = common::final_metrics(
        "dyna_dqn_cartpole.rlp",
        0,
        &[("iters", "11501")],
        &["greedy"],
    );
    assert!(greedy[0] >= 475.0, "greedy return {}", greedy[0]);
}
