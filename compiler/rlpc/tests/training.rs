//! Whole programs: the JIT agrees with the interpreter on a full REINFORCE update, and
//! the example learns CartPole.

mod common;
use common::last_return;
use rlpc::run::{self, Backend, Trainer};
use std::path::Path;

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// Init plus three iterations (rollout, returns, gradient, Adam) on both backends:
/// every slot agrees to a relative 1e-5.
#[test]
fn jit_matches_interpreter_on_whole_iterations() {
    let (p, _) = rlpc::front_end(&example("reinforce_cartpole.rlp"), 3)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let jit = run::compile(p.clone(), Backend::Jit).unwrap();
    let interp = run::compile(p, Backend::Interp).unwrap();
    let mut a = Trainer::new(&jit).unwrap();
    let mut b = Trainer::new(&interp).unwrap();
    for it in 0..3 {
        a.step(it, None).unwrap();
        b.step(it, None).unwrap();
        for ((name, x), (_, y)) in a.state().iter().zip(b.state().iter()) {
            let (x, y) = (x.to_f64_vec(), y.to_f64_vec());
            for (u, v) in x.iter().zip(&y) {
                assert!(
                    (u - v).abs() <= 1e-5 * v.abs().max(1.0),
                    "iteration {it}, slot {name}: jit {u} vs interpreter {v}"
                );
            }
        }
    }
}

/// The README's example solves CartPole (mean return ≥ 195) within its own budget.
#[test]
fn example_solves_cartpole_seed_0() {
    let ret = last_return("reinforce_cartpole.rlp", 0, &[]);
    assert!(ret >= 195.0, "mean return in the last iteration was {ret}");
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let run_with = |seed: u64| {
        let (p, _) = rlpc::front_end(&example("reinforce_cartpole.rlp"), seed)
            .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
            .unwrap();
        let c = run::compile(p, Backend::Jit).unwrap();
        let mut t = Trainer::new(&c).unwrap();
        for it in 0..2 {
            t.step(it, None).unwrap();
        }
        t.state()
    };
    let (a, b, c) = (run_with(5), run_with(5), run_with(6));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

/// The clipped-surrogate example (GAE, minibatches, epochs) reaches CartPole's 475.
#[test]
fn clipped_surrogate_example_solves_cartpole_seed_0() {
    let ret = last_return("ppo_cartpole.rlp", 0, &[]);
    assert!(ret >= 475.0, "mean return in the last iteration was {ret}");
}

/// A rollout of which only the rewards are read stores only the rewards: the unread
/// batch fields drop out of the sample stage (so its scan neither computes nor stores
/// them), while keeping them all changes no state and no metric, bit for bit.
#[test]
fn unread_batch_fields_are_not_computed() {
    let src = "use std.env.cartpole\n\
        env = cartpole(envs: 8, seed: 1)\n\
        policy = obs -> { sample: () -> i32(floor(uniform([8], low: 0.0, high: 2.0))) }\n\
        train iterations: 3 {\n\
        \x20 sample batch = rollout(env, policy, steps: 50)\n\
        \x20 log r = mean(batch.reward)\n\
        }\n";
    let dir = std::env::temp_dir().join(format!("rlpc-prune-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.rlp");
    std::fs::write(&path, src).unwrap();
    let lower = |keep_unread: bool| {
        let opts = rlpc::sema::Options {
            keep_unread,
            ..Default::default()
        };
        rlpc::front_end_opts(&path, 0, &[], opts)
            .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
            .unwrap()
            .0
    };
    let (pruned, kept) = (lower(false), lower(true));
    let writes = |p: &rlpc::program::Program| -> Vec<String> {
        let stage = p.stages.iter().find(|s| s.env_steps > 0).unwrap();
        stage
            .writes
            .iter()
            .map(|&s| p.slot(s).name.clone())
            .collect()
    };
    let (w_pruned, w_kept) = (writes(&pruned), writes(&kept));
    for name in ["env.state", "tmp.batch.reward"] {
        assert!(
            w_pruned.iter().any(|w| w == name),
            "{name} not in {w_pruned:?}"
        );
    }
    for name in ["tmp.batch.obs", "tmp.batch.next_obs", "tmp.batch.done"] {
        assert!(
            !w_pruned.iter().any(|w| w == name),
            "{name} in {w_pruned:?}"
        );
        assert!(w_kept.iter().any(|w| w == name), "{name} not in {w_kept:?}");
    }
    let run_it = |p: rlpc::program::Program| {
        let c = run::compile(p, Backend::Jit).unwrap();
        let mut t = Trainer::new(&c).unwrap();
        for it in 0..3 {
            t.step(it, None).unwrap();
        }
        (t.state(), t.metric_values())
    };
    let ((sa, ma), (sb, mb)) = (run_it(pruned), run_it(kept));
    assert_eq!(
        ma.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        mb.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(sa.len(), sb.len());
    for ((name, x), (_, y)) in sa.iter().zip(&sb) {
        assert_eq!(x.to_f64_vec(), y.to_f64_vec(), "slot {name}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A sum of more than 4,096 elements is the in-order sum of the in-order sums of blocks
/// of 4,096 (the last one shorter), on both backends; a sum of 4,096 is a plain fold.
#[test]
fn long_sums_add_blocks_of_4096_in_order() {
    let src = "train iterations: 1 {\n\
        \x20 sample x = uniform([3, 5000], low: -1.0, high: 3.0)\n\
        \x20 log s = sum(x)\n\
        \x20 log m = mean(x[:, 0:4096][0])\n\
        \x20 log w = sum(x[:, 0:4096])\n\
        }\n";
    let (p, _) = rlpc::front_end_source("sums.rlp", src, 5)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let fold = |xs: &[f32]| xs.iter().fold(0.0f32, |a, &b| a + b);
    for backend in [Backend::Jit, Backend::Interp] {
        let c = run::compile(p.clone(), backend).unwrap();
        let mut t = Trainer::new(&c).unwrap();
        t.step(0, None).unwrap();
        let slot = c
            .program
            .slots
            .iter()
            .position(|s| s.name == "tmp.x")
            .unwrap();
        let xs: Vec<f32> = t.slots[slot]
            .to_f64_vec()
            .iter()
            .map(|&v| v as f32)
            .collect();
        let blocks: Vec<f32> = xs.chunks(4096).map(fold).collect();
        assert_eq!(blocks.len(), 4);
        let want_sum = fold(&blocks);
        let want_mean = fold(&xs[..4096]) / 4096.0;
        let got = t.metric_values();
        assert_eq!(got[0] as f32, want_sum, "{backend:?}: sum");
        assert_eq!(got[1] as f32, want_mean, "{backend:?}: mean of 4096");
        // Exactly three blocks (no shorter last one): the rows of the slice.
        let rows: Vec<f32> = xs.chunks(5000).map(|r| fold(&r[..4096])).collect();
        assert_eq!(got[2] as f32, fold(&rows), "{backend:?}: sum of 3 × 4096");
        // The order matters here: a plain fold of all 15,000 gives other bits.
        assert_ne!(
            fold(&xs),
            want_sum,
            "the fixture should tell the orders apart"
        );
    }
}

/// `max_grad_norm`: one SGD step (lr 1) on a loss whose gradient has norm 2·‖(3, 4)‖·100 =
/// 1000 moves the parameters by exactly the clip norm, in the gradient's direction; a
/// clip above the norm leaves the step as it was. Both backends.
#[test]
fn gradients_are_clipped_to_a_global_norm() {
    for (clip, want) in [(5.0, 5.0), (2000.0, 1000.0)] {
        let src = format!(
            "a = param([1], init: \"zeros\")\nb = param([1], init: \"zeros\")\n\
             opt = sgd(lr: 1.0, max_grad_norm: {clip})\n\
             train iterations: 1 {{\n  improve minimize -100.0 * (6.0 * sum(a) + 8.0 * sum(b)) with opt\n}}\n"
        );
        let (p, _) = rlpc::front_end_source("clip.rlp", &src, 0)
            .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
            .unwrap();
        for backend in [Backend::Jit, Backend::Interp] {
            let c = run::compile(p.clone(), backend).unwrap();
            let mut t = Trainer::new(&c).unwrap();
            t.step(0, None).unwrap();
            let get = |n: &str| {
                t.params()
                    .into_iter()
                    .find(|(m, _)| m == n)
                    .unwrap()
                    .1
                    .to_f64_vec()[0]
            };
            let (a, b) = (get("a.p0"), get("b.p0"));
            let norm = (a * a + b * b).sqrt();
            assert!(
                (norm - want).abs() < 1e-3 * want,
                "clip {clip}: step norm {norm}"
            );
            assert!((a / b - 0.75).abs() < 1e-5, "direction kept: {a} {b}");
        }
    }
}
