//! The external-environment protocol (`docs/external-envs.md`) against real Gymnasium
//! workers and against misbehaving test workers (`tools/test_workers/`).
//!
//! Python comes from `$RLPC_PYTHON`, else `python3`. Tests that need Gymnasium print a
//! `skipped:` line and pass when it is missing, unless `$CI` is set: then they fail.
//! Throughput: `cargo test --release -p rlp-runtime --test external -- --ignored --nocapture`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn};
use rlp_runtime::Tensor;
use rlp_runtime::external::{ActionSpace, EnvSpec, ExternalEnv, ExternalError, ExternalOptions};
use serde_json::Value;

fn python() -> PathBuf {
    match std::env::var_os("RLPC_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("python3"),
    }
}

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

fn python_can(py: &PathBuf, code: &str) -> bool {
    Command::new(py)
        .arg("-c")
        .arg(code)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Options for the real Gymnasium adapter, or `None` (after a loud message) when this Python
/// lacks gymnasium — a failure instead when `$CI` is set.
fn gym_opts(test: &str) -> Option<ExternalOptions> {
    let py = python();
    if !python_can(&py, "import gymnasium, numpy") {
        let msg = format!(
            "`{}` cannot import gymnasium and numpy (set $RLPC_PYTHON, or `{} -m pip install gymnasium numpy`)",
            py.display(),
            py.display()
        );
        if std::env::var_os("CI").is_some() {
            panic!("{test}: {msg}; $CI is set, so this is a failure");
        }
        // Straight to the process's stderr: the test harness captures `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "\n******** skipped: {test}: {msg} ********\n"
        );
        return None;
    }
    Some(ExternalOptions {
        python: Some(py),
        worker_script: Some(repo_file("tools/rlpc_gym_worker.py")),
        timeout: Duration::from_secs(60),
    })
}

/// Options for the plain-Python test worker (no gymnasium needed).
fn fake_opts(timeout: Duration) -> ExternalOptions {
    let py = python();
    assert!(
        python_can(&py, "import json, struct"),
        "`{}` does not run Python",
        py.display()
    );
    ExternalOptions {
        python: Some(py),
        worker_script: Some(repo_file("tools/test_workers/fake_worker.py")),
        timeout,
    }
}

fn f32s(t: &Tensor) -> Vec<f32> {
    match t {
        Tensor::F32(a) => a.iter().copied().collect(),
        other => panic!("expected f32, got {}", other.dtype()),
    }
}

fn bools(t: &Tensor) -> Vec<bool> {
    match t {
        Tensor::Bool(a) => a.iter().copied().collect(),
        other => panic!("expected bool, got {}", other.dtype()),
    }
}

fn i32_actions(xs: &[i32]) -> Tensor {
    Tensor::I32(ArrayD::from_shape_vec(IxDyn(&[xs.len()]), xs.to_vec()).unwrap())
}

#[test]
fn probes_cartpole_and_pendulum() {
    let Some(opts) = gym_opts("probes_cartpole_and_pendulum") else {
        return;
    };
    assert_eq!(
        ExternalEnv::probe("CartPole-v1", &opts).unwrap(),
        EnvSpec {
            obs_shape: vec![4],
            action: ActionSpace::Discrete(2),
            max_steps: Some(500)
        }
    );
    assert_eq!(
        ExternalEnv::probe("Pendulum-v1", &opts).unwrap(),
        EnvSpec {
            obs_shape: vec![3],
            action: ActionSpace::Box {
                shape: vec![1],
                low: vec![-2.0],
                high: vec![2.0]
            },
            max_steps: Some(200),
        }
    );
    // The default worker script is found without being named.
    let defaults = ExternalOptions {
        worker_script: None,
        ..opts
    };
    assert_eq!(
        ExternalEnv::probe("CartPole-v1", &defaults)
            .unwrap()
            .obs_shape,
        vec![4]
    );
}

#[test]
fn five_envs_on_two_workers_have_the_right_shapes() {
    let Some(opts) = gym_opts("five_envs_on_two_workers_have_the_right_shapes") else {
        return;
    };
    let mut env = ExternalEnv::start("CartPole-v1", 5, 2, 0, &opts).unwrap();
    assert_eq!(env.num_envs(), 5);
    assert_eq!(env.spec().obs_shape, vec![4]);
    let obs = env.reset().unwrap();
    assert_eq!(obs.shape(), &[5, 4]);
    let r = env.step(&i32_actions(&[0, 1, 0, 1, 0])).unwrap();
    assert_eq!(r.obs.shape(), &[5, 4]);
    assert_eq!(r.final_obs.shape(), &[5, 4]);
    assert_eq!(r.reward.shape(), &[5]);
    assert_eq!(r.terminated.shape(), &[5]);
    assert_eq!(r.truncated.shape(), &[5]);
    assert_eq!(f32s(&r.reward), vec![1.0; 5]);
}

/// The action environment `i` takes at step `t` in the reproduction test: mostly "push
/// right", so that episodes terminate within a few dozen steps.
fn scripted_action(t: usize, i: usize) -> i32 {
    i32::from(!(t / 3 + i).is_multiple_of(4))
}

#[test]
fn cartpole_reproduces_gymnasium_with_auto_reset() {
    let Some(opts) = gym_opts("cartpole_reproduces_gymnasium_with_auto_reset") else {
        return;
    };
    let (n, steps, seed) = (5usize, 60usize, 7u64);
    // The same rollout in plain Gymnasium, auto-resetting by hand.
    let snippet = format!(
        r#"
import json, gymnasium as gym, numpy as np
n, steps, seed = {n}, {steps}, {seed}
envs = [gym.make("CartPole-v1") for _ in range(n)]
f = lambda o: [float(x) for x in np.asarray(o, dtype=np.float32).ravel()]
out = {{"reset": [f(e.reset(seed=seed + i)[0]) for i, e in enumerate(envs)], "steps": []}}
for t in range(steps):
    rec = {{"obs": [], "final": [], "reward": [], "term": [], "trunc": []}}
    for i, e in enumerate(envs):
        o, r, te, tr, _ = e.step(int((t // 3 + i) % 4 != 0))
        rec["final"].append(f(o))
        if te or tr:
            o, _ = e.reset()
        rec["obs"].append(f(o)); rec["reward"].append(float(r))
        rec["term"].append(bool(te)); rec["trunc"].append(bool(tr))
    out["steps"].append(rec)
print(json.dumps(out))
"#
    );
    let output = Command::new(opts.python.as_ref().unwrap())
        .arg("-c")
        .arg(&snippet)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Value = serde_json::from_slice(&output.stdout).unwrap();
    let flat = |v: &Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
            })
            .collect()
    };
    let flags = |v: &Value| -> Vec<bool> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_bool().unwrap())
            .collect()
    };

    let mut env = ExternalEnv::start("CartPole-v1", n, 2, seed, &opts).unwrap();
    assert_eq!(
        f32s(&env.reset().unwrap()),
        flat(&expected["reset"]),
        "seeded reset observations"
    );
    let mut terminations = 0;
    for t in 0..steps {
        let actions: Vec<i32> = (0..n).map(|i| scripted_action(t, i)).collect();
        let r = env.step(&i32_actions(&actions)).unwrap();
        let want = &expected["steps"][t];
        assert_eq!(f32s(&r.obs), flat(&want["obs"]), "obs at step {t}");
        assert_eq!(
            f32s(&r.final_obs),
            flat(&want["final"]),
            "final_obs at step {t}"
        );
        assert_eq!(
            f32s(&r.reward),
            flat(&Value::Array(vec![want["reward"].clone()])),
            "reward at step {t}"
        );
        assert_eq!(
            bools(&r.terminated),
            flags(&want["term"]),
            "terminated at step {t}"
        );
        assert_eq!(
            bools(&r.truncated),
            flags(&want["trunc"]),
            "truncated at step {t}"
        );
        let (obs, fin) = (f32s(&r.obs), f32s(&r.final_obs));
        for (i, done) in bools(&r.terminated).into_iter().enumerate() {
            let (o, f) = (&obs[4 * i..4 * i + 4], &fin[4 * i..4 * i + 4]);
            if done {
                terminations += 1;
                assert_ne!(
                    o, f,
                    "env {i} at step {t}: auto-reset observation equals final_obs"
                );
                assert!(
                    o.iter().all(|x| x.abs() <= 0.05),
                    "env {i}: {o:?} is not a fresh reset"
                );
            } else {
                assert_eq!(
                    o, f,
                    "env {i} at step {t}: final_obs differs although the episode goes on"
                );
            }
        }
    }
    assert!(
        terminations >= n,
        "only {terminations} terminations in {steps} steps"
    );
}

#[test]
fn pendulum_truncates_at_200_steps() {
    let Some(opts) = gym_opts("pendulum_truncates_at_200_steps") else {
        return;
    };
    let mut env = ExternalEnv::start("Pendulum-v1", 3, 2, 1, &opts).unwrap();
    env.reset().unwrap();
    let zeros = Tensor::F32(ArrayD::zeros(IxDyn(&[3, 1])));
    for t in 1..=200 {
        let r = env.step(&zeros).unwrap();
        assert_eq!(
            bools(&r.terminated),
            vec![false; 3],
            "Pendulum never terminates"
        );
        assert_eq!(
            bools(&r.truncated),
            vec![t == 200; 3],
            "truncated at step {t}"
        );
        assert!(f32s(&r.reward).iter().all(|&x| x <= 0.0));
        if t < 200 {
            assert_eq!(f32s(&r.obs), f32s(&r.final_obs));
        } else {
            let (obs, fin) = (f32s(&r.obs), f32s(&r.final_obs));
            for i in 0..3 {
                assert_ne!(obs[3 * i..3 * i + 3], fin[3 * i..3 * i + 3], "env {i}");
            }
        }
    }
    // The auto-reset started new episodes: no truncation on the next step.
    let r = env.step(&zeros).unwrap();
    assert_eq!(bools(&r.truncated), vec![false; 3]);
}

#[test]
fn unknown_env_id_is_reported_with_gymnasiums_message() {
    let Some(opts) = gym_opts("unknown_env_id_is_reported_with_gymnasiums_message") else {
        return;
    };
    let err = ExternalEnv::probe("NoSuchEnvAtAll-v3", &opts).unwrap_err();
    assert!(matches!(err, ExternalError::UnknownEnv { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("NoSuchEnvAtAll-v3") && msg.contains("doesn't exist"),
        "{msg}"
    );
}

#[test]
fn missing_gymnasium_says_how_to_install_it() {
    let py = python();
    if !python_can(&py, "import json") {
        panic!("`{}` does not run Python", py.display());
    }
    let opts = ExternalOptions {
        python: Some(py),
        worker_script: Some(repo_file("tools/test_workers/no_gymnasium.py")),
        timeout: Duration::from_secs(60),
    };
    let err = ExternalEnv::probe("CartPole-v1", &opts).unwrap_err();
    assert!(
        matches!(err, ExternalError::MissingPackage { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("-m pip install gymnasium numpy"), "{msg}");
}

#[test]
fn python_not_found_is_a_clear_error() {
    let opts = ExternalOptions {
        python: Some(PathBuf::from("/nonexistent/bin/python3")),
        worker_script: None,
        ..ExternalOptions::default()
    };
    let err = ExternalEnv::probe("CartPole-v1", &opts).unwrap_err();
    assert!(
        matches!(err, ExternalError::PythonNotFound { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("/nonexistent/bin/python3"),
        "{err}"
    );
    assert!(err.to_string().contains("RLPC_PYTHON"), "{err}");

    let opts = ExternalOptions {
        worker_script: Some("/nonexistent/worker.py".into()),
        ..fake_opts(Duration::from_secs(5))
    };
    let err = ExternalEnv::probe("counter-v0", &opts).unwrap_err();
    assert!(
        matches!(err, ExternalError::WorkerScriptNotFound { .. }),
        "{err:?}"
    );
}

#[test]
fn envs_are_split_and_seeded_across_workers() {
    let opts = fake_opts(Duration::from_secs(30));
    let mut env = ExternalEnv::start("counter-v0", 5, 2, 100, &opts).unwrap();
    assert_eq!(env.spec().action, ActionSpace::Discrete(3));
    assert_eq!(env.spec().max_steps, None);
    // The fake worker's first observation component is the env's seed.
    let obs = f32s(&env.reset().unwrap());
    assert_eq!(
        obs,
        vec![100.0, 0.0, 101.0, 0.0, 102.0, 0.0, 103.0, 0.0, 104.0, 0.0]
    );
    for t in 1..=5 {
        let r = env.step(&i32_actions(&[0, 1, 2, 1, 0])).unwrap();
        assert_eq!(f32s(&r.reward), vec![0.0, 1.0, 2.0, 1.0, 0.0]);
        assert_eq!(bools(&r.terminated), vec![t == 5; 5]);
        assert_eq!(f32s(&r.final_obs)[1], t as f32);
        assert_eq!(f32s(&r.obs)[1], if t == 5 { 0.0 } else { t as f32 });
    }
    // More workers than environments: one per environment.
    let mut env = ExternalEnv::start("counter-v0", 2, 8, 0, &opts).unwrap();
    assert_eq!(f32s(&env.reset().unwrap()), vec![0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn bad_actions_are_rejected_and_the_env_stays_usable() {
    let opts = fake_opts(Duration::from_secs(30));
    let mut env = ExternalEnv::start("counter-v0", 3, 2, 0, &opts).unwrap();
    let err = env.step(&i32_actions(&[0, 0, 0])).unwrap_err();
    assert!(err.to_string().contains("before the first reset"), "{err}");
    env.reset().unwrap();
    for bad in [
        i32_actions(&[0, 1]),
        i32_actions(&[0, 3, 1]),
        i32_actions(&[-1, 0, 0]),
        Tensor::F32(ArrayD::zeros(IxDyn(&[3]))),
    ] {
        let err = env.step(&bad).unwrap_err();
        assert!(matches!(err, ExternalError::BadArgument(_)), "{err:?}");
    }
    env.step(&i32_actions(&[2, 2, 2])).unwrap();
}

#[test]
fn a_worker_that_dies_is_named_with_its_status_and_stderr() {
    let opts = fake_opts(Duration::from_secs(30));
    let start = Instant::now();
    let mut env = ExternalEnv::start("die-after-3", 4, 2, 0, &opts).unwrap();
    env.reset().unwrap();
    for _ in 0..3 {
        env.step(&i32_actions(&[1, 1, 1, 1])).unwrap();
    }
    let err = env.step(&i32_actions(&[1, 1, 1, 1])).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ExternalError::WorkerDied { worker: 0, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("worker 0") && msg.contains("exit status: 3"),
        "{msg}"
    );
    assert!(
        msg.contains("fake worker: die after 3 steps as asked"),
        "{msg}"
    );
    // Unusable afterwards, without hanging.
    let err = env.step(&i32_actions(&[1, 1, 1, 1])).unwrap_err();
    assert!(matches!(err, ExternalError::Broken(_)), "{err:?}");
    assert!(env.reset().is_err());
    drop(env);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );

    // Killed by a signal.
    let mut env = ExternalEnv::start("crash-after-2", 2, 2, 0, &opts).unwrap();
    env.reset().unwrap();
    env.step(&i32_actions(&[0, 0])).unwrap();
    env.step(&i32_actions(&[0, 0])).unwrap();
    let msg = env.step(&i32_actions(&[0, 0])).unwrap_err().to_string();
    assert!(
        msg.contains("worker 0") && msg.contains("signal: 9"),
        "{msg}"
    );
}

#[test]
fn a_worker_that_hangs_times_out_and_is_killed() {
    let opts = fake_opts(Duration::from_millis(1500));
    let mut env = ExternalEnv::start("hang-after-2", 4, 2, 0, &opts).unwrap();
    env.reset().unwrap();
    env.step(&i32_actions(&[0; 4])).unwrap();
    env.step(&i32_actions(&[0; 4])).unwrap();
    let t = Instant::now();
    let err = env.step(&i32_actions(&[0; 4])).unwrap_err();
    let waited = t.elapsed();
    assert!(
        matches!(err, ExternalError::Timeout { worker: 0, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("worker 0 did not answer within 1.5 s"),
        "{msg}"
    );
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    let t = Instant::now();
    drop(env); // worker 1 hangs too: killed after the grace period
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "drop took {:?}",
        t.elapsed()
    );

    // A worker that never answers the hello.
    let t = Instant::now();
    let err = ExternalEnv::probe("hang-hello", &opts).unwrap_err();
    assert!(matches!(err, ExternalError::Timeout { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_garbled_handshake_is_a_protocol_error() {
    let opts = fake_opts(Duration::from_secs(30));
    let err = ExternalEnv::probe("garbage-hello", &opts).unwrap_err();
    assert!(
        matches!(err, ExternalError::Protocol { worker: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("hello there"), "{err}");
}

/// Environment steps per second (envs × step calls) of CartPole-v1 through the protocol.
#[test]
#[ignore]
fn throughput() {
    let Some(opts) = gym_opts("throughput") else {
        return;
    };
    for (envs, calls) in [(8usize, 2000usize), (64, 300)] {
        for workers in [1, 2] {
            let mut env = ExternalEnv::start("CartPole-v1", envs, workers, 0, &opts).unwrap();
            env.reset().unwrap();
            let t = Instant::now();
            for c in 0..calls {
                let a: Vec<i32> = (0..envs).map(|i| ((c + i) % 2) as i32).collect();
                env.step(&i32_actions(&a)).unwrap();
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "CartPole-v1, {envs} envs, {workers} worker(s): {:.0} env steps/s ({:.0} µs per step call)",
                (calls * envs) as f64 / s,
                s / calls as f64 * 1e6
            );
        }
    }
}
