//! Every kind of compile error, rendered as the user sees it (plain text, fixed width)
//! and snapshotted. Each case is a small program with one mistake.

use rlpc::diag::render_plain;

fn check(src: &str) -> String {
    match rlpc::front_end_source("case.rlp", src, 0) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err((diags, sources)) => render_plain(&diags, &sources),
    }
}

const PRELUDE: &str = "use std.env.cartpole\nenv = cartpole(envs: 2)\npolicy = categorical(mlp(env.obs, [8], env.actions))\n";

fn program(body: &str) -> String {
    format!("{PRELUDE}train iterations: 1 {{\n{body}\n}}\n")
}

#[test]
fn parse_error_unclosed_call() {
    insta::assert_snapshot!(check("env = cartpole(envs: 2\npolicy = 1\n"));
}

#[test]
fn unknown_name_suggests() {
    insta::assert_snapshot!(check(&program(
        "  sample batch = rollot(env, policy, steps: 4)"
    )));
}

#[test]
fn unknown_keyword_suggests() {
    insta::assert_snapshot!(check(&program(
        "  sample batch = rollout(env, policy, stepz: 4)"
    )));
}

#[test]
fn too_many_arguments() {
    insta::assert_snapshot!(check(
        "fn f(x) { x }\ny = f(1, 2)\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn missing_argument() {
    insta::assert_snapshot!(check(
        "fn f(x, y) { x + y }\ny = f(1)\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn broadcast_mismatch_shows_both_shapes() {
    insta::assert_snapshot!(check(
        "a = zeros([3, 4])\nb = zeros([5])\nc = a + b\ntrain iterations: 1 { log x = 1.0 }\n"
    ));
}

#[test]
fn symbolic_shape_mismatch() {
    insta::assert_snapshot!(check(
        "fn td(r: [T, N], v: [T+1, N]) -> [T, N] { r + v[1:] - v[:-1] }\nx = td(zeros([5, 2]), zeros([5, 2]))\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn int_expected() {
    insta::assert_snapshot!(check(
        "use std.env.cartpole\nenv = cartpole(envs: 2.5)\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn missing_stdlib_module() {
    insta::assert_snapshot!(check(
        "use std.env.cartpoel\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn unknown_import() {
    insta::assert_snapshot!(check(
        "use std.estimators.{reward_to_og}\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn unknown_field() {
    insta::assert_snapshot!(check(&program(
        "  sample batch = rollout(env, policy, steps: 4)\n  log r = mean(batch.rewrd)"
    )));
}

#[test]
fn loss_must_be_scalar() {
    insta::assert_snapshot!(check(&program(
        "  sample batch = rollout(env, policy, steps: 4)\n  improve minimize policy(batch.obs).log_prob(batch.action) with adam()"
    )));
}

#[test]
fn no_train_block() {
    insta::assert_snapshot!(check("x = 1\n"));
}

/// The count is evaluated outside any stage; a count that builds tensors is a type
/// error, not an internal one (found by the fuzzer: `train iterations: 15@0`).
#[test]
fn train_count_that_builds_tensors() {
    insta::assert_snapshot!(check("train iterations: zeros([2]) { log a = 1.0 }\n"));
    insta::assert_snapshot!(check("train iterations: 15@0 { log a = 1.0 }\n"));
}

#[test]
fn gather_index_dtype() {
    insta::assert_snapshot!(check(
        "x = zeros([3, 4])\ni = zeros([3])\ny = x[i]\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn endless_recursion() {
    insta::assert_snapshot!(check(
        "fn f(x) { f(x + 1) }\ny = f(0)\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn logged_metric_must_be_scalar() {
    insta::assert_snapshot!(check(&program("  log r = env.episode_return")));
}

#[test]
fn stage_outside_train() {
    insta::assert_snapshot!(check("log a = 1.0\ntrain iterations: 1 { log b = 1.0 }\n"));
}

#[test]
fn unreadable_file() {
    let (diags, sources) =
        match rlpc::front_end(std::path::Path::new("/nonexistent/dir/prog.rlp"), 0) {
            Err(e) => e,
            Ok(_) => panic!("a missing file must not compile"),
        };
    insta::assert_snapshot!(render_plain(&diags, &sources));
}

#[test]
fn policy_head_does_not_match_the_action_space() {
    insta::assert_snapshot!(check(
        "use std.env.cartpole\nenv = cartpole(envs: 2)\npolicy = categorical(mlp(env.obs, [8], 3))\ntrain iterations: 1 {\n  sample batch = rollout(env, policy, steps: 4)\n}\n"
    ));
}

#[test]
fn error_inside_the_stdlib_points_at_the_users_call() {
    insta::assert_snapshot!(check(
        "use std.env.cartpole\nenv = cartpole(envs: 2)\npolicy = categorical(mlp(env.obs + 1, [8], 2))\ntrain iterations: 1 {\n  sample batch = rollout(env, policy, steps: 4)\n}\n"
    ));
}

/// [`check`] against a memory limit of 16 GiB, whatever the machine has.
fn check_within_16g(src: &str) -> String {
    let opts = rlpc::sema::Options {
        memory: rlpc::sema::memory::MemoryBudget::Limit(16 << 30),
        ..Default::default()
    };
    match rlpc::front_end_source_opts("case.rlp", src, 0, opts) {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err((diags, sources)) => render_plain(&diags, &sources),
    }
}

#[test]
fn state_larger_than_memory_names_the_tensor() {
    insta::assert_snapshot!(check_within_16g(
        "x = zeros([100000000000])\ntrain iterations: 1 { log a = mean(x) }\n"
    ));
}

#[test]
fn shape_whose_size_overflows() {
    insta::assert_snapshot!(check_within_16g(
        "x = zeros([4294967296, 4294967296])\ntrain iterations: 1 { log a = mean(x) }\n"
    ));
}

#[test]
fn scan_of_too_many_steps() {
    insta::assert_snapshot!(check_within_16g(
        "x = scan t in 100000000000 (c = zeros([4])) { c + 1.0 }\ntrain iterations: 1 { log a = mean(x) }\n"
    ));
}

#[test]
fn parameters_larger_than_memory() {
    insta::assert_snapshot!(check_within_16g(
        "w = mlp(1000000, [1000000], 1)\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn a_batch_larger_than_memory_names_its_stage() {
    // 2,000,000 steps of 1,024 CartPoles: the rollout's stacked observations (30 GiB).
    insta::assert_snapshot!(check_within_16g(&format!(
        "{}train iterations: 1 {{\n  sample batch = rollout(env, policy, steps: 2000000)\n  log r = mean(batch.obs)\n}}\n",
        PRELUDE.replace("envs: 2", "envs: 1024")
    )));
}

#[test]
fn a_program_within_the_limit_passes() {
    let opts = rlpc::sema::Options {
        memory: rlpc::sema::memory::MemoryBudget::Limit(1 << 20),
        ..Default::default()
    };
    let src = "x = zeros([1000])\ntrain iterations: 1 { log a = mean(x) }\n";
    assert!(rlpc::front_end_source_opts("case.rlp", src, 0, opts).is_ok());
    // 4,000 bytes of state do not fit in 1,000.
    let opts = rlpc::sema::Options {
        memory: rlpc::sema::memory::MemoryBudget::Limit(1000),
        ..Default::default()
    };
    assert!(rlpc::front_end_source_opts("case.rlp", src, 0, opts).is_err());
}
