//! `for` and `repeat` statements lowered to loops in the IR (`sema::loops`): the same
//! results as the unrolled lowering, bit for bit, and the unrolled fallback where the
//! loop cannot be expressed.

use rlpc::program::Program;
use rlpc::run::{self, Backend, Trainer};
use rlpc::sema::Options;
use std::path::Path;

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

fn lower_file(name: &str, unroll: bool) -> Program {
    let opts = Options {
        unroll_loops: unroll,
        ..Default::default()
    };
    rlpc::front_end_opts(&example(name), 0, &[], opts)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap()
        .0
}

fn lower_source(src: &str, unroll: bool) -> Program {
    let opts = Options {
        unroll_loops: unroll,
        ..Default::default()
    };
    let dir = std::env::temp_dir().join(format!("rlpc-loops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("p{}.rlp", src.len()));
    std::fs::write(&path, src).unwrap();
    rlpc::front_end_opts(&path, 0, &[], opts)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap()
        .0
}

/// Scan nodes at the top of the stage graphs (rollouts and estimators have theirs too).
fn scans(p: &Program) -> usize {
    p.stages
        .iter()
        .map(|s| {
            s.graph
                .nodes
                .iter()
                .filter(|n| matches!(n.op, rlp_ir::Op::Scan(_)))
                .count()
        })
        .sum()
}

fn nodes(p: &Program) -> usize {
    p.stages.iter().map(|s| s.graph.nodes.len()).sum()
}

/// Trains both lowerings for `iters` iterations and requires every slot to be
/// bit-identical after each.
fn same_training(a: Program, b: Program, iters: u64, backend: Backend) {
    let (ca, cb) = (
        run::compile(a, backend).unwrap(),
        run::compile(b, backend).unwrap(),
    );
    let (mut ta, mut tb) = (Trainer::new(&ca).unwrap(), Trainer::new(&cb).unwrap());
    for it in 0..iters {
        ta.step(it, None).unwrap();
        tb.step(it, None).unwrap();
        // Bits, not values: NaN (an environment with no finished episode has no
        // return) equals itself.
        let bits = |xs: Vec<f64>| xs.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        for ((name, x), (_, y)) in ta.state().iter().zip(tb.state().iter()) {
            assert_eq!(x.dtype(), y.dtype(), "iteration {it}: slot {name} differs");
            assert_eq!(x.shape(), y.shape(), "iteration {it}: slot {name} differs");
            assert_eq!(
                bits(x.to_f64_vec()),
                bits(y.to_f64_vec()),
                "iteration {it}: slot {name} differs"
            );
        }
        assert_eq!(
            bits(ta.metric_values()),
            bits(tb.metric_values()),
            "iteration {it}"
        );
    }
}

fn loop_matches_unrolled(name: &str, iters: u64) {
    let (looped, unrolled) = (lower_file(name, false), lower_file(name, true));
    assert!(
        nodes(&looped) < nodes(&unrolled),
        "{name}: the loop should make smaller graphs ({} vs {} nodes)",
        nodes(&looped),
        nodes(&unrolled)
    );
    same_training(looped, unrolled, iters, Backend::Jit);
}

#[test]
fn epochs_of_minibatches_match_unrolled_pendulum() {
    loop_matches_unrolled("ppo_pendulum.rlp", 3);
}

#[test]
fn epochs_of_minibatches_match_unrolled_cartpole() {
    loop_matches_unrolled("ppo_cartpole.rlp", 3);
}

#[test]
fn repeated_updates_match_unrolled() {
    loop_matches_unrolled("offpolicy_pg_cartpole.rlp", 3);
    loop_matches_unrolled("actor_critic_cartpole.rlp", 3);
}

#[test]
fn loop_matches_unrolled_on_the_interpreter() {
    let src = r#"
use std.env.cartpole
env    = cartpole(envs: 2)
policy = categorical(mlp(env.obs, [8], env.actions))
opt    = adam(lr: 1e-2)
train iterations: 2 {
  sample  batch = rollout(env, policy, steps: 8)
  improve for epoch in range(3) {
    data = { obs: batch.obs, action: batch.action, r: batch.reward }
    for mb in minibatches(data, 2) {
      minimize -mean(policy(mb.obs).log_prob(mb.action) * mb.r) with opt
    }
  }
  log r = mean(batch.reward)
}
"#;
    let (looped, unrolled) = (lower_source(src, false), lower_source(src, true));
    assert!(scans(&looped) > scans(&unrolled));
    same_training(looped, unrolled, 2, Backend::Interp);
}

/// A name the body rebinds is carried; a number it rebinds, or an int loop variable
/// the body reads, makes the loop unrolled. Either way the values are the same.
#[test]
fn rebound_names_and_loop_variables() {
    let src = |body: &str| {
        format!(
            r#"
use std.env.cartpole
env    = cartpole(envs: 2)
policy = categorical(mlp(env.obs, [8], env.actions))
opt    = sgd(lr: 1e-2)
train iterations: 2 {{
  sample  batch = rollout(env, policy, steps: 4)
  improve total = 0.0 * mean(batch.reward)
          {body}
  log total = total
}}
"#
        )
    };
    // A carried tensor: a loop.
    let carried = src(
        "for k in range(3) {\n total = total + mean(batch.reward)\n minimize -mean(policy(batch.obs).log_prob(batch.action)) with opt\n }",
    );
    let (l, u) = (lower_source(&carried, false), lower_source(&carried, true));
    assert!(scans(&l) > scans(&u), "a carried tensor keeps the loop");
    same_training(l, u, 2, Backend::Jit);
    // The loop variable read as a number: unrolled.
    let numbered = src("for k in range(3) {\n total = total + k * mean(batch.reward)\n }");
    let (l, u) = (
        lower_source(&numbered, false),
        lower_source(&numbered, true),
    );
    assert_eq!(
        scans(&l),
        scans(&u),
        "an int loop variable the body reads unrolls"
    );
    same_training(l, u, 2, Backend::Jit);
}

/// Conjugate gradient's Fisher-vector products differentiate a KL computed before the
/// loop: a loop would lose that path, so the loop is unrolled (same graph as forced
/// unrolling).
#[test]
fn gradients_through_values_from_before_the_loop_unroll() {
    let (l, u) = (
        lower_file("npg_cartpole.rlp", false),
        lower_file("npg_cartpole.rlp", true),
    );
    assert_eq!(nodes(&l), nodes(&u));
    let src = r#"
use std.env.cartpole
env    = cartpole(envs: 2)
policy = categorical(mlp(env.obs, [8], env.actions))
opt    = sgd(lr: 1e-2)
train iterations: 2 {
  sample  batch = rollout(env, policy, steps: 4)
  improve lp = policy(batch.obs).log_prob(batch.action)
          for k in range(3) {
            minimize -mean(lp) wrt policy with opt
          }
  log r = mean(batch.reward)
}
"#;
    let (l, u) = (lower_source(src, false), lower_source(src, true));
    assert_eq!(
        scans(&l),
        scans(&u),
        "the loss reads parameters from before the loop"
    );
    same_training(l, u, 2, Backend::Jit);
}

/// Rollouts inside a loop: the environment's state is carried, the loop's steps count
/// `n` times, and each iteration's actions are drawn at their own counters.
#[test]
fn rollouts_and_repeats_in_a_loop_match_unrolled() {
    let src = r#"
use std.env.cartpole
env    = cartpole(envs: 4)
policy = categorical(mlp(env.obs, [8], env.actions))
opt    = adam(lr: 1e-2)
train iterations: 3 {
  improve for k in range(3) {
            b = rollout(env, policy, steps: 5)
            repeat 2 {
              minimize -mean(policy(b.obs).log_prob(b.action) * b.reward) with opt
            }
          }
  log r = mean(env.episode_return)
}
"#;
    let (l, u) = (lower_source(src, false), lower_source(src, true));
    assert!(nodes(&l) < nodes(&u));
    let steps = |p: &Program| p.stages.iter().map(|s| s.env_steps).sum::<u64>();
    assert_eq!(steps(&l), 3 * 5 * 4);
    assert_eq!(steps(&l), steps(&u));
    same_training(l, u, 3, Backend::Jit);
}

/// State the loop updates from the parameters and a later iteration's loss reads: the
/// unrolled gradient flows through it into the parameters, so the loop is unrolled.
/// Updated before the loss in the same iteration, it is part of the body's own graph,
/// so the loop stays.
#[test]
fn state_carried_from_the_parameters_into_a_later_loss() {
    let src = |body: &str| {
        format!(
            r#"
use std.env.cartpole
env    = cartpole(envs: 2)
policy = categorical(mlp(env.obs, [8], env.actions))
opt    = sgd(lr: 1e-1)
s      = ones([])
train iterations: 2 {{
  sample  batch = rollout(env, policy, steps: 4)
  improve for k in range(3) {{
            {body}
          }}
  log s = s
}}
"#
        )
    };
    let loss = "minimize -mean(policy(batch.obs).log_prob(batch.action)) * s wrt policy with opt";
    let update = "s <- 1.0 + sum(parameters(policy)[0])";
    let after = src(&format!("{loss}\n{update}"));
    let (l, u) = (lower_source(&after, false), lower_source(&after, true));
    assert_eq!(
        scans(&l),
        scans(&u),
        "the next iteration's loss reads it: unrolled"
    );
    same_training(l, u, 2, Backend::Jit);
    let before = src(&format!("{update}\n{loss}"));
    let (l, u) = (lower_source(&before, false), lower_source(&before, true));
    assert!(
        scans(&l) > scans(&u),
        "read after its update in the body: a loop"
    );
    same_training(l, u, 2, Backend::Jit);
}

/// Minibatches drawn from a replay buffer inside a loop of updates, with a target
/// network synced before it: the same as unrolled, buffer included.
#[test]
fn replayed_updates_match_unrolled() {
    let src = r#"
use std.env.cartpole
use std.replay.{replay, transitions, insert, draw}
use std.estimators.{q_learning_target}
env    = cartpole(envs: 2)
q      = mlp(env.obs, [8], env.actions, act: relu)
q_targ = mlp(env.obs, [8], env.actions, act: relu)
buf    = replay(16, transitions(env))
opt    = adam(lr: 1e-2)
train iterations: 12 {
  sample batch = rollout(env, categorical(q), steps: 3)
         buf  <- insert(buf, batch)
  every 2 steps after 1 {
    improve q_targ <- q
            for k in range(3) {
              mb = draw(buf, 5)
              target = q_learning_target(mb.reward, q_targ(mb.next_obs), mb.terminated)
              minimize mean((q(mb.obs)[mb.action] - stop(target)) ** 2) with opt
            }
  }
}
"#;
    let (looped, unrolled) = (lower_source(src, false), lower_source(src, true));
    assert!(scans(&looped) > scans(&unrolled));
    same_training(looped, unrolled, 12, Backend::Jit);
}

/// An evaluation rollout (`evaluation: true`) steps its environment but not the run's
/// `env_steps`; the same rollout without the flag counts, and the flag must be a bool.
#[test]
fn evaluation_rollouts_do_not_count_as_env_steps() {
    let src = |flag: &str| {
        format!(
            r#"
use std.env.cartpole
env    = cartpole(envs: 4)
probe  = cartpole(envs: 3, seed: 1)
policy = categorical(mlp(env.obs, [8], env.actions))
train iterations: 3 {{
  sample batch = rollout(env, policy, steps: 5)
         every 2 steps {{
           sample eval = rollout(probe, policy, steps: 7{flag})
         }}
  log    r = nanmean(env.episode_return), g = nanmean(probe.episode_return)
}}
"#
        )
    };
    let steps = |p: &Program| p.stages.iter().map(|s| s.env_steps).collect::<Vec<u64>>();
    let counted = steps(&lower_source(&src(""), false));
    let evaluation = steps(&lower_source(&src(", evaluation: true"), false));
    assert_eq!(counted.iter().sum::<u64>(), 5 * 4 + 7 * 3, "{counted:?}");
    assert_eq!(evaluation.iter().sum::<u64>(), 5 * 4, "{evaluation:?}");
    let dir = std::env::temp_dir().join(format!("rlpc-loops-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.rlp");
    std::fs::write(&path, src(", evaluation: 1")).unwrap();
    let (d, s) = rlpc::front_end_opts(&path, 0, &[], Options::default()).unwrap_err();
    let msg = rlpc::diag::render_plain(&d, &s);
    assert!(msg.contains("`evaluation` must be true or false"), "{msg}");
}
