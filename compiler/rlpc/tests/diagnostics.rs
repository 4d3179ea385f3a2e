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

/// One report per unclosed bracket (`(` of a call, `[` of a list, `{` of a record) left
/// open in the body of `wrap`; each hint must name that bracket, not the block's `{`.
fn unclosed_brackets_in(wrap: impl Fn(&str) -> String) -> String {
    ["    x = f(1, 2", "    x = [1, 2", "    x = { a: 1, b: 2"]
        .iter()
        .map(|line| check(&wrap(&format!("{line}\n    y = 3"))))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn unclosed_bracket_in_a_train_block_is_the_one_named() {
    insta::assert_snapshot!(unclosed_brackets_in(|body| format!(
        "fn f(a, b) {{ a + b }}\ntrain iterations: 1 {{\n  fit {{\n{body}\n  }}\n  log a = 1.0\n}}\n"
    )));
}

#[test]
fn unclosed_bracket_in_a_fn_body_is_the_one_named() {
    insta::assert_snapshot!(unclosed_brackets_in(|body| format!(
        "fn f(a, b) {{ a + b }}\nfn g() {{\n{body}\n    y\n}}\ntrain iterations: 1 {{ log a = 1.0 }}\n"
    )));
}

#[test]
fn unknown_import_with_a_short_name_suggests() {
    insta::assert_snapshot!(check(
        "use std.estimators.{gea}\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

/// A wrong call of a built-in shows its signature, from the table.
#[test]
fn wrong_builtin_calls_show_the_signature() {
    let case = |call: &str| {
        check(&format!(
            "x = {call}\ntrain iterations: 1 {{ log a = 1.0 }}\n"
        ))
    };
    insta::assert_snapshot!(
        [
            case("uniform([3], hihg: 2.0)"),
            case("take(zeros([4, 2]))"),
            case("normal([2], 0.0, 1.0, 3)"),
            case("sum(zeros([2]), axes: 0)"),
        ]
        .join("\n")
    );
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

/// The warnings of a program that compiles.
fn warnings(src: &str) -> String {
    match rlpc::front_end_source("case.rlp", src, 0) {
        Ok((p, sources)) => render_plain(&p.warnings, &sources),
        Err((diags, sources)) => panic!("expected no error:\n{}", render_plain(&diags, &sources)),
    }
}

/// An environment whose `step` returns `terminated` as `f32`, else well formed.
fn env_with_step(step_body: &str) -> String {
    format!(
        "fn reset(n: int) {{ zeros([n, 1]) }}\n\
         fn step(s, a) {{\n  x = s + 0.1\n{step_body}\n}}\n\
         env = environment(envs: 2, max_steps: 10, obs: 1, actions: 2, reset: reset, step: step)\n\
         policy = categorical(mlp(env.obs, [8], env.actions))\n\
         train iterations: 1 {{\n  sample batch = rollout(env, policy, steps: 4)\n  log r = mean(batch.reward)\n}}\n"
    )
}

/// A float flag would be cast to bool (0.5 counting as terminated): rejected at the
/// field `step` returns.
#[test]
fn float_terminated_is_rejected_at_the_field() {
    insta::assert_snapshot!(check(&env_with_step(
        "  { state: x, reward: x[:, 0], terminated: x[:, 0] - 0.5 }"
    )));
}

#[test]
fn float_truncated_is_rejected_at_the_field() {
    insta::assert_snapshot!(check(&env_with_step(
        "  { state: x, reward: x[:, 0], terminated: x[:, 0] > 1.0, truncated: x[:, 0] }"
    )));
}

/// `done` is the rollout's own (`terminated or truncated`); a `step` that returns one
/// would be silently overridden.
#[test]
fn step_cannot_return_a_field_the_rollout_makes() {
    insta::assert_snapshot!(check(&env_with_step(
        "  { state: x, reward: x[:, 0], terminated: x[:, 0] > 1.0, done: x[:, 0] > 2.0 }"
    )));
}

/// A field the batch cannot stack (a string, a function) is an error at the field, not
/// a field silently missing from the batch; inside a record, its path is named.
#[test]
fn step_field_that_cannot_be_stacked_is_named() {
    insta::assert_snapshot!(check(&env_with_step(
        "  { state: x, reward: x[:, 0], terminated: x[:, 0] > 1.0, extra: \"hi\" }"
    )));
    insta::assert_snapshot!(check(&env_with_step(
        "  { state: x, reward: x[:, 0], terminated: x[:, 0] > 1.0, info: { k: x[:, 0], f: y -> y } }"
    )));
}

#[test]
fn compile_time_division_by_zero() {
    insta::assert_snapshot!(check("x = 7 % 0\ntrain iterations: 1 { log a = 1.0 }\n"));
    insta::assert_snapshot!(check("x = 7 / 0\ntrain iterations: 1 { log a = 1.0 }\n"));
    insta::assert_snapshot!(check(
        "x = 7.5 % 0.0\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
    insta::assert_snapshot!(check(
        "x = i32(zeros([3])) % 0\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

/// `require` in the stdlib reports at the user's call.
#[test]
fn n_step_return_needs_n_of_at_least_one() {
    insta::assert_snapshot!(check(
        "use std.estimators.{n_step_return}\nr = zeros([4, 2])\nt = zeros([4, 2]) > 1.0\ng = n_step_return(r, r, t, t, n: 0)\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn require_needs_a_compile_time_bool() {
    insta::assert_snapshot!(check(
        "fn f(x) { require(x > 0.0, \"positive\"); x }\ny = f(zeros([2]))\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

/// A value head's [T, N, 1] against [T, N] targets: a shape error at the call.
#[test]
fn mse_of_a_value_head_without_its_last_axis() {
    insta::assert_snapshot!(check(
        "use std.losses.{mse}\nv = zeros([4, 4, 1])\nq = zeros([4, 4])\nl = mse(v, q)\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

/// Both operands gain an axis: [4, 4, 1] - [4, 4] is [4, 4, 4].
#[test]
fn accidental_outer_product_warns() {
    insta::assert_snapshot!(warnings(
        "v = zeros([4, 4, 1])\nq = zeros([4, 4])\nd = v - q\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

/// In a stdlib function, the warning also points at the user's call.
#[test]
fn accidental_outer_product_in_the_stdlib_points_at_the_call() {
    insta::assert_snapshot!(warnings(
        "v = zeros([4, 4, 1])\nlow = zeros([4, 4])\nd = clip(v, low, 1.0)\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

/// Outer products on purpose: operands of the same rank, or an axis made by `reshape`;
/// and the ordinary broadcasts (a scalar, a bias, a kept axis) warn about nothing.
#[test]
fn deliberate_broadcasts_do_not_warn() {
    assert_eq!(
        warnings(
            "a = zeros([3, 1]) * zeros([1, 5])\nb = reshape(zeros([3]), [3, 1]) * zeros([5])\n\
             c = zeros([3, 5]) + zeros([5])\nd = zeros([3, 5]) - mean(zeros([3, 5]), axis: -1, keep: true)\n\
             e = 2.0 * zeros([3, 5])\ntrain iterations: 1 { log a = 1.0 }\n"
        ),
        ""
    );
}

/// No shipped example — nor the stdlib code it reaches — trips the outer-broadcast
/// warning.
#[test]
fn shipped_examples_warn_about_nothing() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rlp") {
            continue;
        }
        let (p, sources) = rlpc::front_end(&path, 0)
            .map_err(|(d, s)| render_plain(&d, &s))
            .unwrap();
        assert_eq!(
            render_plain(&p.warnings, &sources),
            "",
            "{}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} examples");
}

/// A scan value that is no tensor, record or tuple: the label is the body's value.
#[test]
fn scan_value_must_hold_tensors() {
    insta::assert_snapshot!(check(
        "x = scan t in 3 (c = 0.0) {\n  c = c + 1.0\n  { total: c, f: y -> y }\n}\ntrain iterations: 1 { log a = 1.0 }\n"
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
fn state_made_inside_a_library_call_is_labelled_at_the_binding() {
    insta::assert_snapshot!(check_within_16g(
        "use std.replay.{replay}\nbuf = replay(2000000000, { obs: ([4], \"f32\") })\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn a_library_with_a_top_level_value_points_at_it() {
    insta::assert_snapshot!(check(
        "use std.estimators.{gae}\n\nlam = 0.95\n\npub fn f(x) { x * 2.0 }\n"
    ));
}

#[test]
fn a_tensor_index_beside_a_slice_says_how_to_pick_per_row() {
    insta::assert_snapshot!(check(
        "lp = zeros([4, 5, 3])\na = i32(zeros([4]))\ntrain iterations: 1 { log v = sum(lp[:, :, a]) }\n"
    ));
}

/// An environment of the user's own, with `step`'s returned record given by `ret`.
fn own_env(ret: &str) -> String {
    format!(
        "fn reset(n: int) {{ zeros([n, 2]) }}\nfn step(s: [N, 2], a: [N, 1]) {{\n  x = s[:, 0] + 0.1 * a[:, 0]\n  {ret}\n}}\n\
         env = environment(envs: 4, max_steps: 20, obs: 2, act_dim: 1, act_low: -1.0, act_high: 1.0, reset: reset, step: step)\n\
         policy = gaussian(mlp(env.obs, [8], env.act_dim), env.act_dim)\n\
         train iterations: 2 {{\n  sample batch = rollout(env, policy, steps: 4)\n  log r = mean(batch.reward)\n}}\n"
    )
}

#[test]
fn a_step_that_changes_the_state_dtype_names_the_field() {
    insta::assert_snapshot!(check(&own_env(
        "{ state: f64(stack([x, s[:, 1]], axis: 1)), reward: x, terminated: x > 1.0 }"
    )));
}

#[test]
fn a_step_reward_with_an_extra_axis_names_the_field() {
    insta::assert_snapshot!(check(&own_env(
        "{ state: stack([x, s[:, 1]], axis: 1), reward: reshape(x, [4, 1]), terminated: x > 1.0 }"
    )));
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

/// A float passed where a bool is declared: the help shows a comparison, since there is
/// no `bool(x)` conversion.
#[test]
fn a_float_for_a_bool_parameter_suggests_a_comparison() {
    let e = check(&format!(
        "use std.estimators.{{reward_to_go}}\n{}",
        program(
            "  sample batch = rollout(env, policy, steps: 4)\n  fit q = reward_to_go(batch.reward, batch.reward, gamma: 0.99)"
        )
    ));
    assert!(e.contains("should be bool but is f32"), "{e}");
    assert!(e.contains("`x > 0.5`"), "{e}");
    assert!(!e.contains("bool(x)"), "{e}");
}

/// A top-level binding used inside a `fn` body says why it is not seen there; one used
/// above its binding says to move the binding.
#[test]
fn unknown_names_that_are_top_level_bindings_say_why() {
    let e = check(
        "gamma = 0.9\nfn f(x) { x * gamma }\ny = f(2.0)\ntrain iterations: 1 { log a = y }\n",
    );
    assert!(
        e.contains("a top-level binding, which a `fn` body does not see"),
        "{e}"
    );
    assert!(e.contains("pass `gamma` as a parameter"), "{e}");
    let e = check("y = gamma * 2.0\ngamma = 0.9\ntrain iterations: 1 { log a = y }\n");
    assert!(e.contains("bound here, below its use"), "{e}");
}

/// `--set` on a name the program does not bind is about the name, whatever the value
/// (`lr=abc` once reported `abc` as an unknown name).
#[test]
fn set_names_are_checked_before_their_values() {
    let src = "lr = 0.1\ntrain iterations: 1 { log a = lr }\n";
    for value in ["abc", "1"] {
        let settings = [("lrr".to_string(), value.to_string())];
        let e = match rlpc::front_end_source_with("case.rlp", src, 0, &settings, Default::default())
        {
            Ok(_) => panic!("expected an error"),
            Err((d, s)) => render_plain(&d, &s),
        };
        assert!(
            e.contains("the program has no top-level binding `lrr`"),
            "{e}"
        );
        assert!(e.contains("did you mean `lr`?"), "{e}");
    }
}

/// `--set n=3 --set n=5` is an error naming both (the first value once won silently),
/// and `--set n=n` says a value is not a name of the program's.
#[test]
fn a_name_set_twice_or_set_to_a_name_is_refused() {
    let src = "n = 2\ntrain iterations: 1 { log a = f32(n) }\n";
    let with = |settings: &[(&str, &str)]| {
        let settings: Vec<(String, String)> = (settings.iter())
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        match rlpc::front_end_source_with("case.rlp", src, 0, &settings, Default::default()) {
            Ok(_) => panic!("expected an error"),
            Err((d, s)) => render_plain(&d, &s),
        }
    };
    let e = with(&[("n", "3"), ("n", "5")]);
    assert!(
        e.contains("rlp::duplicate") && e.contains("`--set n=…` is given twice"),
        "{e}"
    );
    assert!(e.contains("first here") && e.contains("again here"), "{e}");
    let e = with(&[("n", "n")]);
    assert!(
        e.contains("`--set n=n`: a `--set` value is") && e.contains("a name, not a value"),
        "{e}"
    );
    assert!(!e.contains("`fn` body"), "{e}");
}

/// A `--set` list whose elements are not of the kind the program's list holds is an
/// error at `<--set>` (it was reported deep in the stdlib, where the list was used);
/// ints may still set a list of floats.
#[test]
fn a_set_list_must_hold_the_programs_kind_of_element() {
    let src = "hidden = [64, 64]\nlrs = [0.1, 0.2]\ntrain iterations: 1 { log a = f32(hidden[0]) + lrs[0] }\n";
    let with = |name: &str, value: &str| {
        let settings = [(name.to_string(), value.to_string())];
        rlpc::front_end_source_with("case.rlp", src, 0, &settings, Default::default())
            .map(|_| ())
            .map_err(|(d, s)| render_plain(&d, &s))
    };
    let e = with("hidden", "[32, \"a\"]").unwrap_err();
    assert!(
        e.contains("`--set` gives a list holding a string where the program's list holds an int"),
        "{e}"
    );
    assert!(e.contains("<--set>"), "{e}");
    assert!(with("lrs", "[1, 2]").is_ok());
    assert!(with("hidden", "[32, 16, 8]").is_ok());
}

/// `<-` onto a value an earlier stage computed is an error, as it is within one stage:
/// the value lives for one iteration, so the update would be lost.
#[test]
fn an_update_of_an_earlier_stages_value_is_not_state() {
    let e = check(&format!(
        "x = zeros([2])\n{}",
        program("  fit     y = x + 1.0\n  improve y <- y + 10.0\n  log     a = mean(y)")
    ));
    assert!(e.contains("rlp::not-state"), "{e}");
    assert!(e.contains("computed in an earlier stage"), "{e}");
}

/// `name = …` in a stage where `name` is top-level state binds a new name for one
/// iteration: a buffer that never grows, a target that never moves, a counter stuck at 1.
#[test]
fn a_binding_that_shadows_state_warns() {
    let prelude = "use std.env.pendulum\nuse std.replay.{replay, transitions, insert}\n\
         env = pendulum(envs: 2)\npolicy = gaussian(mlp(env.obs, [8], env.act_dim), env.act_dim)\n\
         q = mlp(env.obs, [8], 1)\nq_targ = copy(q)\nbuf = replay(100, transitions(env))\ncount = zeros([])\n";
    insta::assert_snapshot!(warnings(&format!(
        "{prelude}train iterations: 2 {{\n  sample batch = rollout(env, policy, steps: 1)\n         buf   = insert(buf, batch)\n  fit    count = count + 1.0\n         q_targ = polyak(q_targ, q, tau: 0.1)\n  log    c = count + mean(buf.data.reward)\n}}\n"
    )));
    // With `<-`, and for a local name bound twice (only the first binding is checked),
    // nothing to warn about.
    assert_eq!(
        warnings(&format!(
            "{prelude}train iterations: 2 {{\n  sample batch = rollout(env, policy, steps: 1)\n         buf <- insert(buf, batch)\n  fit    count <- count + 1.0\n         x = count * 2.0\n         x = x + 1.0\n  log    c = x\n}}\n"
        )),
        ""
    );
}

/// `log_prob` of a [B] action against a [B, 1] mean builds [B, B] inside the stdlib: the
/// warning names the function and points at the user's call. An index `x[:, 0]` that
/// drops an axis is no deliberate reshape.
#[test]
fn accidental_outer_product_in_a_stdlib_closure() {
    insta::assert_snapshot!(warnings(
        "use std.dist.{gaussian_mean_log_std}\nmu = zeros([4, 1])\na = zeros([4, 1])\nl = gaussian_mean_log_std(mu, zeros([1])).log_prob(a[:, 0])\ntrain iterations: 1 { log x = mean(l) }\n"
    ));
}

#[test]
fn wrt_a_module_the_loss_does_not_read() {
    insta::assert_snapshot!(check(&format!(
        "other = mlp(4, [8], 2)\n{}",
        program(
            "  sample batch = rollout(env, policy, steps: 4)\n  improve minimize mean(policy(batch.obs).log_prob(batch.action)) wrt other with adam()"
        )
    )));
}

/// A `log` entry on its own line without the comma before it.
#[test]
fn log_entry_without_its_comma() {
    insta::assert_snapshot!(check(&program(
        "  sample batch = rollout(env, policy, steps: 4)\n  log    a = mean(batch.reward)\n         b = max(batch.reward)"
    )));
}

#[test]
fn negative_iterations_say_the_value() {
    let src = "iters = 10\ntrain iterations: iters { log a = 1.0 }\n";
    let settings = [("iters".to_string(), "-3".to_string())];
    let e = match rlpc::front_end_source_with("case.rlp", src, 0, &settings, Default::default()) {
        Ok(_) => panic!("expected an error"),
        Err((d, s)) => render_plain(&d, &s),
    };
    assert!(e.contains("must be a non-negative int, found -3"), "{e}");
}

/// A replay buffer declared with one field of the wrong dtype, width or name: the
/// message names the field (and a misspelt one gets a suggestion).
#[test]
fn replay_field_errors_name_the_field() {
    let case = |fields: &str| {
        check(&format!(
            "use std.env.pendulum\nuse std.replay.{{replay, insert}}\nenv = pendulum(envs: 2)\n\
             policy = gaussian(mlp(env.obs, [8], env.act_dim), env.act_dim)\n\
             buf = replay(100, {{ obs: ([3], \"f32\"), {fields}, reward: ([], \"f32\") }})\n\
             train iterations: 1 {{\n  sample batch = rollout(env, policy, steps: 1)\n         buf <- insert(buf, batch)\n}}\n"
        ))
    };
    insta::assert_snapshot!(
        [
            case("action: ([1], \"i32\")"),
            case("action: ([2], \"f32\")"),
            case("acton: ([1], \"f32\")"),
        ]
        .join("\n")
    );
}

/// `x.f(…)` where `x` has no field `f` and no function `f` exists: says what `x` is.
#[test]
fn a_field_call_on_a_function_says_what_it_is() {
    insta::assert_snapshot!(check(
        "use std.env.cartpole\nenv = cartpole(envs: 2)\nqnet = mlp(env.obs, [8], env.actions)\n\
         policy = categorical(mlp(env.obs, [8], env.actions))\n\
         train iterations: 1 {\n  sample batch = rollout(env, policy, steps: 4)\n  fit    p = policy.net(batch.obs)\n  log    m = mean(p)\n}\n"
    ));
    let e = check("r = { alpha: 1.0 }\ny = r.alpah(2.0)\ntrain iterations: 1 { log a = 1.0 }\n");
    assert!(e.contains("a record with no field `alpah`"), "{e}");
    assert!(e.contains("did you mean `r.alpha`?"), "{e}");
}

#[test]
fn concat_mismatch_shows_the_shapes() {
    insta::assert_snapshot!(check(
        "x = concat([zeros([4, 3]), zeros([4, 1])], axis: 0)\ntrain iterations: 1 { log a = mean(x) }\n"
    ));
}

/// A stdlib function used without its `use`: the help names the import.
#[test]
fn unknown_name_from_a_stdlib_module_suggests_the_use() {
    let e = check("x = mse(zeros([2]), zeros([2]))\ntrain iterations: 1 { log a = x }\n");
    assert!(
        e.contains("`mse` is in `std.losses`: add `use std.losses.{mse}`"),
        "{e}"
    );
}

/// A failed `require` on a comparison of numbers shows the values compared.
#[test]
fn a_failed_require_shows_the_numbers_compared() {
    let e = check(
        "use std.replay.{replay, insert}\nb = replay(40, { x: ([2], \"f32\") })\ntrain iterations: 1 {\n  sample x = zeros([100, 2])\n         b <- insert(b, { x: x })\n  log    a = 1.0\n}\n",
    );
    assert!(e.contains("`n` is 100, `cap` is 40"), "{e}");
}

/// A discount outside [0, 1] is an error at the user's call, not a run that diverges.
#[test]
fn a_discount_above_one_is_rejected_at_the_call() {
    insta::assert_snapshot!(check(&format!(
        "use std.estimators.{{reward_to_go}}\n{}",
        program(
            "  sample batch = rollout(env, policy, steps: 4)\n  fit q = reward_to_go(batch.reward, batch.done, gamma: 5.0)"
        )
    )));
}

/// A learning rate of 0 or below would stand still or climb the loss.
#[test]
fn a_negative_learning_rate_is_rejected_at_the_call() {
    insta::assert_snapshot!(check(&format!(
        "use std.losses.{{policy_gradient}}\n{}",
        program(
            "  sample batch = rollout(env, policy, steps: 4)\n  improve minimize policy_gradient(policy, batch, batch.reward) with adam(lr: -1e-2)"
        )
    )));
}

#[test]
fn one_name_imported_from_two_modules() {
    insta::assert_snapshot!(check(
        "use std.dp.{greedy}\nuse std.explore.{greedy}\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn gather_index_of_the_wrong_shape_says_the_shape_it_needs() {
    insta::assert_snapshot!(check(
        "t = f32([0.1, 0.2, 0.7])\na = zeros([2, 5]) > 1.0\ntrain iterations: 1 { log v = sum(t[i32(a)]) }\n"
    ));
}

#[test]
fn gather_index_that_misses_the_leading_dims_says_the_shape_it_needs() {
    insta::assert_snapshot!(check(
        "t = zeros([2, 3])\ni = i32(zeros([5]))\ntrain iterations: 1 { log v = sum(t[i]) }\n"
    ));
}

#[test]
fn a_loss_from_an_earlier_stage_value_says_it_is_a_constant() {
    insta::assert_snapshot!(check(&program(
        "  sample  batch = rollout(env, policy, steps: 4)\n  fit     lp = policy(batch.obs).log_prob(batch.action)\n  improve minimize -mean(lp) with adam(lr: 1e-3)"
    )));
}

#[test]
fn every_without_a_unit() {
    insta::assert_snapshot!(check(&program("  every 2 {\n    log a = 1.0\n  }")));
}

#[test]
fn compile_time_int_overflow_is_an_error() {
    insta::assert_snapshot!(check(
        "big = 2 ** 62 * 4\nx = zeros([])\ntrain iterations: 1 {\n  log a = x + big\n}\n"
    ));
}

#[test]
fn compile_time_int_edges_are_errors_not_wrapped_values() {
    let one = |def: &str| {
        check(&format!(
            "{def}\ntrain iterations: 1 {{\n  log a = f32(x)\n}}\n"
        ))
    };
    insta::assert_snapshot!(
        [
            one("x = -(-9223372036854775807 - 1)"),
            one("x = 2 ** 64"),
            one("x = (-3) ** 41"),
            one("x = int(1e30)"),
            one("x = len(range(1000000000000))"),
        ]
        .join("\n")
    );
}

#[test]
fn argmax_over_an_empty_axis_is_a_shape_error() {
    insta::assert_snapshot!(check(
        "x = zeros([4, 0])\ntrain iterations: 1 {\n  fit y = argmax(x, axis: -1)\n  log s = sum(f32(y))\n}\n"
    ));
}

/// A top-level value or function named `iteration` would be read by closures defined at
/// top level while the `train` block reads the loop counter: refused.
#[test]
fn a_top_level_binding_named_iteration_is_refused() {
    insta::assert_snapshot!(
        [
            check("iteration = 5\nf = () -> iteration\ntrain iterations: 3 {\n  log a = iteration, b = f()\n}\n"),
            check("fn iteration() { 3 }\ntrain iterations: 3 {\n  log a = iteration\n}\n"),
        ]
        .join("\n")
    );
}

#[test]
fn a_negative_every_after_is_an_error() {
    insta::assert_snapshot!(check(
        "c = zeros([])\ntrain iterations: 6 {\n  fit d = 1.0\n  every 2 steps after -1 {\n    fit c <- c + 1.0\n  }\n  log a = c\n}\n"
    ));
}

#[test]
fn an_int_beyond_i32_made_an_i32_tensor_is_an_error() {
    insta::assert_snapshot!(check(
        "k = i32([1, 2])\ntrain iterations: 1 {\n  log a = f32(sum(k + 3_000_000_000))\n}\n"
    ));
}

#[test]
fn a_misspelt_stage_label_is_named() {
    insta::assert_snapshot!(check(&program("  sampel batch = 1.0\n  log a = batch")));
}

#[test]
fn a_misspelt_minimize_is_named() {
    insta::assert_snapshot!(check(
        "o = zeros([])\ntrain iterations: 1 {\n  improve minimze o * o with adam()\n}\n"
    ));
}

#[test]
fn a_metric_logged_twice_points_at_both() {
    insta::assert_snapshot!(check(
        "o = zeros([])\ntrain iterations: 2 {\n  fit o <- o + 1.0\n  log a = o, a = o * 2.0\n}\n"
    ));
}

#[test]
fn a_metric_logged_in_a_stage_level_loop_is_logged_twice() {
    insta::assert_snapshot!(check(
        "o = zeros([])\ntrain iterations: 2 {\n  for k in range(2) {\n    fit o <- o + 1.0\n    log a = o * k\n  }\n}\n"
    ));
}

#[test]
fn a_metric_named_like_a_fixed_column() {
    insta::assert_snapshot!(check(
        "o = zeros([])\ntrain iterations: 2 {\n  fit o <- o + 1.0\n  log iteration = o\n}\n"
    ));
}

/// Which of two calls of a function in the user's own file failed: the error inside
/// the body also points at the call.
#[test]
fn an_error_in_a_same_file_function_names_the_call() {
    insta::assert_snapshot!(check(
        "fn center(x) {\n  m = mean(x, axis: 0)\n  x - reshape(m, [m.shape[0], 1])\n}\nnorm = x -> center(x)\na = ones([4, 3])\nb = ones([5, 5])\np = center(b)\nq = norm(a)\ntrain iterations: 1 { log s = sum(p) + sum(q) }\n"
    ));
}

#[test]
fn a_lambda_is_named_by_its_binding() {
    insta::assert_snapshot!(check(
        "sc = (x, k) -> x * k\ntrain iterations: 1 { log s = sum(sc(ones([2]), kk: 3.0)) }\n"
    ));
}

#[test]
fn a_ragged_tensor_literal_says_which_lengths() {
    insta::assert_snapshot!(check(
        "p = f32([[1.0, 0.0], [0.5]])\ntrain iterations: 1 { log s = sum(p) }\n"
    ));
}

#[test]
fn a_grid_map_with_an_unknown_cell() {
    insta::assert_snapshot!(check(
        "use std.env.gridworld.{grid_from_string}\ng = grid_from_string(\"S..X\\n.#.G\")\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn a_ragged_grid_map() {
    insta::assert_snapshot!(check(
        "use std.env.gridworld.{grid_from_string}\ng = grid_from_string(\"S...\\n.#.G.\")\ntrain iterations: 1 { log a = 1.0 }\n"
    ));
}

#[test]
fn none_indexes_tensors_only() {
    insta::assert_snapshot!(check(
        "xs = [1, 2]\ntrain iterations: 1 {\n  log a = f32(xs[None])\n}\n"
    ));
}

#[test]
fn a_second_axis_pick_needs_one_index_per_row() {
    insta::assert_snapshot!(check(
        "lp = zeros([4, 5, 3])\na = i32(zeros([3]))\ntrain iterations: 1 { log v = sum(lp[:, a]) }\n"
    ));
}

#[test]
fn a_number_beyond_f32_made_an_f32_tensor_is_an_error() {
    insta::assert_snapshot!(check(
        "x = zeros([2])\ntrain iterations: 1 {\n  fit x <- x + 1e100\n  log v = mean(x)\n}\n"
    ));
}

#[test]
fn a_second_axis_pick_needs_an_i32_index() {
    insta::assert_snapshot!(check(
        "z = zeros([3, 4, 5])\na = f32([1.0, 0.0, 2.0])\ntrain iterations: 1 { log v = sum(z[:, a]) }\n"
    ));
}

/// The error of `src` (a program without a `train` block of its own), checked to have
/// code `code`, to point at line `line` of the user's file and to say each of `says`.
fn rejected(src: &str, code: &str, line: usize, says: &[&str]) {
    let e = check(&format!("{src}\ntrain iterations: 1 {{ log a = 1.0 }}\n"));
    assert!(e.starts_with(&format!("rlp::{code}")), "{e}");
    assert!(e.contains(&format!("[case.rlp:{line}:")), "{e}");
    for s in says {
        assert!(e.contains(s), "expected {s:?} in:\n{e}");
    }
}

const TINY_ENV: &str = "fn reset(n: int) { zeros([n, 3]) }\nfn step(s, a) { { state: s, reward: zeros([len(s)]), terminated: zeros([len(s)]) > 1.0 } }\n";

/// A rollout checks an environment's observations against its `envs` and `obs`,
/// at the `environment(…)` call that declares them.
#[test]
fn an_environment_whose_observe_disagrees_with_obs_is_rejected_at_the_call() {
    let case = |args: &str, says: &[&str]| {
        let e = check(&format!(
            "{TINY_ENV}env = environment(envs: 2, max_steps: 10, actions: 2, reset: reset, step: step, {args})
\
             policy = categorical(mlp(env.obs, [4], env.actions))\n\
             train iterations: 1 {{\n  sample batch = rollout(env, policy, steps: 2)\n  log r = mean(batch.obs)\n}}\n"
        ));
        assert!(e.starts_with("rlp::shape-mismatch"), "{e}");
        assert!(
            e.contains("[case.rlp:3:") && e.contains("declared here"),
            "{e}"
        );
        assert!(e.contains("in this rollout"), "{e}");
        for s in says {
            assert!(e.contains(s), "expected {s:?} in:\n{e}");
        }
    };
    case(
        "obs: 3, observe: s -> zeros([5, 7])",
        &[
            "observations of shape [2, 3]",
            "`observe(state)` has shape [5, 7]",
        ],
    );
    case(
        "obs: 5, observe: s -> s",
        &["observations of shape [2, 5]", "has shape [2, 3]"],
    );
    case(
        "obs: 4",
        &["(there is no `observe`) has shape [2, 3]", "[2, 4]"],
    );
}

/// Sizes below 1 are refused at the argument rather than wrapped.
#[test]
fn an_environment_with_sizes_below_one_is_rejected() {
    let env = |args: &str| {
        format!(
            "{TINY_ENV}env = environment(envs: 2, reset: reset, step: step, observe: s -> s, {args})"
        )
    };
    rejected(
        &env("max_steps: 10, obs: 3, actions: -2"),
        "bad-value",
        3,
        &["`actions` (the number of actions) must be at least 1, got -2"],
    );
    rejected(
        &env("max_steps: 0, obs: 3, actions: 2"),
        "bad-value",
        3,
        &["`max_steps` (the episode limit) must be at least 1, got 0"],
    );
    rejected(
        &env("max_steps: 10, obs: -3, actions: 2"),
        "bad-value",
        3,
        &["`obs` (the width of an observation) must be at least 1, got -3"],
    );
    rejected(
        &env("max_steps: 10, obs: 3, act_dim: 0"),
        "bad-value",
        3,
        &["`act_dim` (the width of an action) must be at least 1, got 0"],
    );
}

/// A stdlib environment's episode limit below 1 is refused at the user's call; the
/// chain keeps its documented `max_steps: 0` (2·length) and needs two cells.
#[test]
fn stdlib_environments_refuse_meaningless_sizes() {
    for env in [
        "cartpole",
        "acrobot",
        "pendulum",
        "mountain_car",
        "mountain_car_continuous",
        "point_mass",
        "gridworld",
    ] {
        for bad in ["0", "-1"] {
            rejected(
                &format!("use std.env.{env}\nx = 1\nenv = {env}(envs: 2, max_steps: {bad})"),
                "require",
                3,
                &["`max_steps` (the episode limit) must be at least 1"],
            );
        }
    }
    rejected(
        "use std.render.{pendulum_pixels}\nenv = pendulum_pixels(max_steps: 0)",
        "require",
        2,
        &["`max_steps` (the episode limit) must be at least 1"],
    );
    rejected(
        "use std.env.chain\nenv = chain(length: 8, max_steps: -1)",
        "require",
        2,
        &["`max_steps` must be at least 1, or 0 for the default 2·length"],
    );
    for bad in ["-3", "0", "1"] {
        rejected(
            &format!("use std.env.chain\nenv = chain(length: {bad})"),
            "require",
            2,
            &["a chain needs a `length` of at least 2"],
        );
    }
    // Documented meanings still compile.
    for ok in [
        "use std.env.chain\nenv = chain(length: 2, max_steps: 0)",
        "use std.env.cartpole\nenv = cartpole(max_steps: 1)",
    ] {
        let src = format!("{ok}\ntrain iterations: 1 {{ log a = 1.0 }}\n");
        assert!(rlpc::front_end_source("case.rlp", &src, 0).is_ok(), "{ok}");
    }
}

#[test]
fn bandits_need_arms_and_bernoulli_means_in_the_unit_interval() {
    rejected(
        "use std.env.bandit.{bernoulli_bandit, gaussian_bandit}\nenv = bernoulli_bandit(arms: [])",
        "require",
        2,
        &["a bandit needs at least one arm"],
    );
    rejected(
        "use std.env.bandit.{bernoulli_bandit, gaussian_bandit}\nenv = bernoulli_bandit(arms: [0.2, 2.0])",
        "require",
        2,
        &["a Bernoulli arm's mean is a probability, in [0, 1]"],
    );
    rejected(
        "use std.env.bandit.{bernoulli_bandit, gaussian_bandit}\nenv = bernoulli_bandit(arms: [-0.1, 0.5])",
        "require",
        2,
        &["in [0, 1]"],
    );
    rejected(
        "use std.env.bandit.{bernoulli_bandit, gaussian_bandit}\nenv = gaussian_bandit(means: [])",
        "require",
        2,
        &["a bandit needs at least one arm"],
    );
    rejected(
        "use std.env.bandit.{bernoulli_bandit, gaussian_bandit}\nenv = bernoulli_bandit(horizon: 0)",
        "require",
        2,
        &["`horizon` (pulls per episode) must be at least 1"],
    );
}

#[test]
fn minibatches_need_a_count_from_one_to_the_number_of_samples() {
    let b = "b = { obs: zeros([4, 2, 3]), action: zeros([4, 2]) }";
    rejected(
        &format!("{b}\nm = minibatches(b, 0)"),
        "require",
        2,
        &[
            "`minibatches` needs a `count` of at least 1",
            "`count` is 0",
        ],
    );
    rejected(
        &format!("{b}\nm = minibatches(b, 9)"),
        "require",
        2,
        &[
            "no larger than the number of samples",
            "`count` is 9, `n` is 8",
        ],
    );
}

/// A stdlib parameter that takes a function (`act:` of `mlp`, the `net` of a policy)
/// rejects anything else at the call, not where the function is first called (the
/// rollout).
#[test]
fn a_function_parameter_rejects_a_number_at_the_call() {
    insta::assert_snapshot!(check(
        "use std.env.cartpole\nenv    = cartpole(envs: 2)\npolicy = categorical(mlp(env.obs, [4], env.actions, act: 3))\ntrain iterations: 2 {\n  sample batch = rollout(env, policy, steps: 4)\n}\n"
    ));
    rejected(
        "use std.nn.{ensemble_mlp}\nm = ensemble_mlp(3, 4, [8], 2, act: \"relu\")",
        "type-mismatch",
        2,
        &["argument `act` should be a function but is a string"],
    );
    rejected(
        "p = categorical(4)",
        "type-mismatch",
        1,
        &["argument `net` should be a function but is an int"],
    );
}

#[test]
fn mlp_needs_a_list_of_positive_widths() {
    rejected(
        "m = mlp(4, [16, 0], 2)",
        "require",
        1,
        &["every hidden layer of an `mlp` needs a width of at least 1"],
    );
    rejected(
        "m = mlp(4, 64, 2)",
        "type-mismatch",
        1,
        &["should be a list but is an int"],
    );
    rejected(
        "use std.nn.{ensemble_mlp}\nm = ensemble_mlp(3, 4, [0], 2)",
        "require",
        2,
        &["every hidden layer of an `ensemble_mlp` needs a width of at least 1"],
    );
}

#[test]
fn rendering_needs_a_size_of_at_least_one_pixel() {
    rejected(
        "use std.render.{render_pendulum}\nx = render_pendulum(zeros([2]), size: 0)",
        "require",
        2,
        &["an image needs a `size` of at least 1 pixel"],
    );
    rejected(
        "use std.render.{pendulum_pixels}\nenv = pendulum_pixels(size: 0)",
        "require",
        2,
        &["an image needs a `size` of at least 1 pixel"],
    );
}
