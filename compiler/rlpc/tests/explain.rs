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
