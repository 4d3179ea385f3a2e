//! `rlpc explain` output for a small program, snapshotted: the slots, each stage's graph
//! as lowered and after each optimiser pass, and the fused kernels.

use rlpc::explain::{ExplainOptions, explain};

const PROGRAM: &str = r#"
use std.env.cartpole
use std.estimators.{reward_to_go}

env    = cartpole(envs: 2)
policy = categorical(linear(env.obs, env.actions))

train iterations: 1 {
  sample  batch = rollout(env, policy, steps: 3)
  fit     q = reward_to_go(batch.reward, batch.done, gamma: 0.9)
  improve minimize -mean(policy(batch.obs).log_prob(batch.action) * q) with sgd(lr: 0.1)
  log     ret = mean(q)
}
"#;

fn program() -> rlpc::program::Program {
    rlpc::front_end_source("explain.rlp", PROGRAM, 0)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap()
        .0
}

#[test]
fn every_pass_and_kernels() {
    let text = explain(
        &program(),
        &ExplainOptions {
            every_pass: true,
            kernels: true,
            ..Default::default()
        },
    )
    .unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn after_one_pass_only() {
    let p = program();
    let lowered = explain(
        &p,
        &ExplainOptions {
            after: Some("lower".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let last = explain(&p, &ExplainOptions::default()).unwrap();
    assert!(lowered.contains("-- after lower") && !lowered.contains("-- after dce"));
    assert!(last.contains("-- after dce") && !last.contains("-- after lower"));
    let err = explain(
        &p,
        &ExplainOptions {
            after: Some("fuse-all".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.contains("fold, cse, dce"), "{err}");
}

/// Loops in a stage: each `for` says whether it became a scan node (and what it carries)
/// or was unrolled (and why); the loop's scan node and its body follow in the graph.
#[test]
fn loops_say_how_they_were_lowered() {
    let src = r#"
use std.env.cartpole
env    = cartpole(envs: 2)
policy = categorical(linear(env.obs, env.actions))
opt    = sgd(lr: 0.1)

train iterations: 1 {
  sample  batch = rollout(env, policy, steps: 4)
  improve for epoch in range(2) {
            data = { obs: batch.obs, action: batch.action, r: batch.reward }
            for mb in minibatches(data, 2) {
              minimize -mean(policy(mb.obs).log_prob(mb.action) * mb.r) with opt
            }
          }
          for k in range(2) {
            policy <- map(p -> p * (1.0 - 0.01 * k), parameters(policy))
          }
}
"#;
    let p = rlpc::front_end_source("loops.rlp", src, 0)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap()
        .0;
    let text = explain(&p, &ExplainOptions::default()).unwrap();
    // The improve stage: its header, the loops, and the graph's scan lines.
    let stage = text.split("== stage improve").nth(1).unwrap();
    let shown: Vec<&str> = stage
        .lines()
        .filter(|l| {
            l.starts_with(" (every")
                || l.starts_with("-- loops")
                || l.starts_with("  ")
                    && (l.contains("loops.rlp")
                        || l.contains("scan node")
                        || l.contains("unrolled"))
                || l.contains("= scan[")
        })
        .map(|l| l.split(" : ").next().unwrap())
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
}
