//! Training on Gymnasium's own CartPole-v1 through the external-environment protocol.
//! Needs Python with gymnasium (`RLPC_PYTHON`, else `python3`); `.ci/run` installs it.
//! Without it each such test passes after a loud `skipped:` line on the process's
//! stderr (which the harness does not capture) — except under CI, where that is a failure.

mod common;
use common::last_return;
use std::io::Write;
use std::process::Command;

fn gymnasium_available() -> bool {
    let python = std::env::var("RLPC_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import gymnasium"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide Python with gymnasium (RLPC_PYTHON={python})"
        );
        let test = std::thread::current().name().unwrap_or("?").to_string();
        let _ = writeln!(
            std::io::stderr(),
            "\n******** skipped: {test}: `{python}` cannot import gymnasium \
             (set $RLPC_PYTHON, or `{python} -m pip install gymnasium numpy`) ********\n"
        );
    }
    ok
}

#[test]
fn clipped_surrogate_solves_gymnasium_cartpole() {
    if !gymnasium_available() {
        return;
    }
    let ret = last_return("ppo_gym_cartpole.rlp", 0, &[]);
    assert!(ret >= 475.0, "mean return in the last iteration was {ret}");
}

#[test]
fn an_unknown_environment_id_is_a_compile_error() {
    if !gymnasium_available() {
        return;
    }
    let src = "env = gym(id: \"NoSuchEnv-v9\")\ntrain iterations: 1 { log a = 1.0 }\n";
    let Err((diags, sources)) = rlpc::front_end_source("bad_env.rlp", src, 0) else {
        panic!("must not compile")
    };
    let text = rlpc::diag::render_plain(&diags, &sources);
    assert!(
        text.contains("NoSuchEnv-v9") && text.contains("bad_env.rlp:1"),
        "{text}"
    );
}

/// Spaces declared in `gym(…)`: compiling starts no Python (a missing interpreter is
/// no compile error), while a program that leaves them out reads them from a worker.
#[test]
fn declared_spaces_compile_without_python() {
    let dir = std::env::temp_dir().join(format!("rlpc-gym-decl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |name: &str, gym: &str| {
        let path = dir.join(name);
        let src = format!(
            "env = {gym}\npolicy = categorical(linear(env.obs, env.actions))\n\
             train iterations: 1 {{\n  sample batch = rollout(env, policy, steps: 2)\n  log r = mean(batch.reward)\n}}\n"
        );
        std::fs::write(&path, src).unwrap();
        Command::new(env!("CARGO_BIN_EXE_rlpc"))
            .arg("check")
            .arg(&path)
            .env("RLPC_PYTHON", dir.join("no-such-python"))
            .output()
            .unwrap()
    };
    let declared = check(
        "declared.rlp",
        "gym(id: \"CartPole-v1\", envs: 2, obs: [4], actions: 2)",
    );
    assert!(
        declared.status.success(),
        "{}",
        String::from_utf8_lossy(&declared.stderr)
    );
    let probed = check("probed.rlp", "gym(id: \"CartPole-v1\", envs: 2)");
    let err = String::from_utf8_lossy(&probed.stderr);
    assert!(
        !probed.status.success() && err.contains("no-such-python"),
        "{err}"
    );
}

/// Declared spaces that are not the environment's: the program compiles, and the run
/// stops when the workers start, naming the environment and both specs.
#[test]
fn declared_spaces_are_checked_when_the_workers_start() {
    if !gymnasium_available() {
        return;
    }
    let first_step_error = |src: &str| {
        let (p, sources) = rlpc::front_end_source("declared.rlp", src, 0)
            .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
            .unwrap();
        let c = rlpc::run::compile(p, rlpc::run::Backend::Jit).unwrap();
        let mut t = rlpc::run::Trainer::new(&c).unwrap();
        t.step(0, Some(&sources)).unwrap_err()
    };
    let program = |gym: &str, policy: &str| {
        format!(
            "env = {gym}\npolicy = {policy}\n\
             train iterations: 1 {{\n  sample batch = rollout(env, policy, steps: 2)\n  log r = mean(batch.reward)\n}}\n"
        )
    };
    let e = first_step_error(&program(
        "gym(id: \"CartPole-v1\", envs: 2, obs: [5], actions: 2)",
        "categorical(linear(env.obs, env.actions))",
    ));
    assert!(
        e.contains("`CartPole-v1`")
            && e.contains("declares observations [5], 2 discrete actions")
            && e.contains(
                "has observations [4], 2 discrete actions, episodes of at most 500 steps"
            ),
        "{e}"
    );
    // Continuous actions: unbounded is not [-2, 2].
    let e = first_step_error(&program(
        "gym(id: \"Pendulum-v1\", envs: 2, obs: [3], act_dim: 1)",
        "gaussian(linear(env.obs, env.act_dim), env.act_dim)",
    ));
    assert!(
        e.contains("`Pendulum-v1`")
            && e.contains("actions [1] in [-inf, inf]")
            && e.contains("actions [1] in [-2, 2]"),
        "{e}"
    );
    // The right declaration trains.
    let src = program(
        "gym(id: \"Pendulum-v1\", envs: 2, obs: [3], act_dim: 1, act_low: -2.0, act_high: 2.0, max_steps: 200)",
        "gaussian(linear(env.obs, env.act_dim), env.act_dim)",
    );
    let (p, _) = rlpc::front_end_source("declared.rlp", &src, 0)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let c = rlpc::run::compile(p, rlpc::run::Backend::Jit).unwrap();
    let mut t = rlpc::run::Trainer::new(&c).unwrap();
    t.step(0, None).unwrap();
}
