//! Training on Gymnasium's own CartPole-v1 through the external-environment protocol.
//! Needs Python with gymnasium (`RLPC_PYTHON`, else `python3`); `.ci/run` installs it.
//! Without it the test says it is skipped — except under CI, where that is a failure.

mod common;
use common::last_return;
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
        eprintln!("skipped: `{python}` cannot import gymnasium (set RLPC_PYTHON)");
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
