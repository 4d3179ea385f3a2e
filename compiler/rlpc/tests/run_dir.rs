//! The run directory through the real CLI: its files, kill-and-resume exactness, NaN
//! reports that name the source line, and clean errors for unwritable directories.

use rlp_runtime::checkpoint;
use rlp_runtime::io::load_npz;
use rlp_runtime::metrics::read_metrics_csv;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// CartPole REINFORCE cut down to seconds: few envs, short rollouts, few iterations.
/// It has everything a checkpoint must carry: parameters, Adam moments and step count,
/// environment state and episode statistics, and random draws keyed by the iteration.
const SMALL: &str = "\
use std.env.cartpole
use std.estimators.{reward_to_go}
use std.losses.{policy_gradient}

env    = cartpole(envs: 4, seed: 1)
policy = categorical(mlp(env.obs, [8], env.actions))
lr     = 1e-2
opt    = adam(lr: lr)

train iterations: 9 {
  sample  batch = rollout(env, policy, steps: 20)
  fit     q     = reward_to_go(batch.reward, batch.done, gamma: 0.99)
          adv   = (q - mean(q)) / (std(q) + 1e-8)
  improve minimize policy_gradient(policy, batch, adv) with opt
  log     return = mean(env.episode_return), steps = sum(batch.reward)
}
";

/// A state that shrinks by 1 each iteration; its `log` turns NaN once it is negative,
/// at iteration 3. Line 5 holds the `log`.
const GOES_NAN: &str = "\
x = zeros([2]) + 2.5

train iterations: 10 {
  fit x <- x - 1.0
      y = log(x) * 2.0
  log v = mean(y)
}
";

fn rlpc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rlpc"))
}

/// A fresh, empty directory for one test (under the target directory, not /tmp, so
/// parallel test binaries never collide).
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("run_dir")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    rlpc().args(args).output().expect("run rlpc")
}

fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "rlpc {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `metrics.csv` without the wall-clock column, which is the only one allowed to differ.
fn metrics_without_wall(dir: &Path) -> Vec<Vec<u64>> {
    let (cols, rows) = read_metrics_csv(&dir.join("metrics.csv")).unwrap();
    let wall = cols.iter().position(|c| c == "wall_s").unwrap();
    rows.iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .filter(|(i, _)| *i != wall)
                .map(|(_, v)| v.to_bits())
                .collect()
        })
        .collect()
}

#[test]
fn killed_and_resumed_run_is_bit_identical() {
    let root = scratch("resume");
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let (full, split) = (root.join("full"), root.join("split"));
    let common = ["--quiet", "--seed", "7", "--set", "lr=2e-2"];
    let mut a = vec![
        "run",
        s(&file),
        "--out",
        s(&full),
        "--checkpoint-every",
        "2",
    ];
    a.extend(common);
    ok(&a);
    // Checkpoints after 2 and 4 iterations, then killed after 5: iteration 4's metrics
    // row is in the file but not in the checkpoint, and must be replaced, not doubled.
    let mut b = vec![
        "run",
        s(&file),
        "--out",
        s(&split),
        "--checkpoint-every",
        "2",
    ];
    b.extend(common);
    b.extend(["--stop-after", "5"]);
    let stopped = ok(&b);
    assert!(String::from_utf8_lossy(&stopped.stdout).contains("--resume"));
    assert!(
        !split.join("params.npz").exists(),
        "a killed run has no final params"
    );
    let (step, _, _) = checkpoint::load_latest(&split.join("checkpoints"))
        .unwrap()
        .unwrap();
    assert_eq!(step, 4);
    assert_eq!(
        read_metrics_csv(&split.join("metrics.csv"))
            .unwrap()
            .1
            .len(),
        5
    );

    ok(&["run", "--resume", s(&split), "--quiet"]);

    assert_eq!(
        load_npz(&full.join("params.npz")).unwrap(),
        load_npz(&split.join("params.npz")).unwrap()
    );
    let (fs, fstate, fmeta) = checkpoint::load_latest(&full.join("checkpoints"))
        .unwrap()
        .unwrap();
    let (ss, sstate, smeta) = checkpoint::load_latest(&split.join("checkpoints"))
        .unwrap()
        .unwrap();
    assert_eq!((fs, ss), (9, 9));
    assert_eq!(fstate, sstate, "every slot of the final state");
    assert_eq!(fmeta["env_steps"], smeta["env_steps"]);
    let rows = metrics_without_wall(&full);
    assert_eq!(rows.len(), 9);
    assert_eq!(rows, metrics_without_wall(&split));
    // The optimiser really moved the parameters (so the comparison is not vacuous).
    let params = load_npz(&full.join("params.npz")).unwrap();
    assert!(!params.is_empty());
    assert!(
        fstate.len() > params.len(),
        "state has more than the parameters"
    );
}

#[test]
fn run_directory_has_program_settings_plots_checkpoints_and_params() {
    let root = scratch("contents");
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let out = root.join("out");
    let done = ok(&[
        "run",
        s(&file),
        "--out",
        s(&out),
        "--quiet",
        "--seed",
        "3",
        "--checkpoint-every",
        "2",
        "--set",
        "lr=2e-2",
    ]);
    // Even a quiet run says how long compiling took.
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stdout.contains("(compiled in "), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(out.join("program.rlp")).unwrap(),
        SMALL
    );
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("settings.json")).unwrap()).unwrap();
    assert_eq!(settings["seed"], 3);
    assert_eq!(settings["backend"], "jit");
    assert_eq!(settings["iterations"], 9);
    assert_eq!(settings["checkpoint_every"], 2);
    assert_eq!(settings["set"], serde_json::json!(["lr=2e-2"]));
    assert_eq!(settings["rlpc_version"], env!("CARGO_PKG_VERSION"));
    let ms = &settings["compile_ms"];
    let (total, front, kernels) = (
        ms["total"].as_f64().unwrap(),
        ms["front_end"].as_f64().unwrap(),
        ms["kernels"].as_f64().unwrap(),
    );
    assert!(total > 0.0 && kernels > 0.0 && front > 0.0, "{ms}");
    assert!((front + kernels - total).abs() < 1e-6 * total, "{ms}");
    assert!(
        settings["seed_rule"]
            .as_str()
            .unwrap()
            .contains("mixed into the run seed"),
        "{settings}"
    );
    for png in ["return.png", "steps.png"] {
        let bytes = std::fs::read(out.join(png)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{png}");
    }
    // Kept: the newest three of 2, 4, 6, 8, 9.
    let mut ckpts: Vec<String> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".npz"))
        .collect();
    ckpts.sort();
    assert_eq!(ckpts, ["ckpt-6.npz", "ckpt-8.npz", "ckpt-9.npz"]);
    let params = load_npz(&out.join("params.npz")).unwrap();
    let (_, state, _) = checkpoint::load_latest(&out.join("checkpoints"))
        .unwrap()
        .unwrap();
    for (name, t) in &params {
        assert!(name.starts_with("policy."), "{name} is not a parameter");
        assert_eq!(
            Some(t),
            state.iter().find(|(n, _)| n == name).map(|(_, t)| t)
        );
    }
}

#[test]
fn nan_names_the_source_line_and_keeps_the_last_checkpoint() {
    let root = scratch("nan");
    let file = root.join("goes_nan.rlp");
    std::fs::write(&file, GOES_NAN).unwrap();
    let out = root.join("out");
    let r = run(&[
        "run",
        s(&file),
        "--out",
        s(&out),
        "--quiet",
        "--checkpoint-every",
        "2",
    ]);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("iteration 2"), "{err}");
    assert!(err.contains("stage `fit`"), "{err}");
    assert!(err.contains("`log`"), "{err}");
    assert!(err.contains("goes_nan.rlp:5:"), "{err}");
    assert!(err.contains("y = log(x) * 2.0"), "{err}");
    assert!(err.contains("ckpt-2.npz"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The periodic checkpoint survives untouched, and nothing after it was written.
    let (step, state, _) = checkpoint::load_latest(&out.join("checkpoints"))
        .unwrap()
        .unwrap();
    assert_eq!(step, 2);
    let x = &state.iter().find(|(n, _)| n == "x").unwrap().1;
    assert_eq!(x.to_f64_vec(), [0.5, 0.5]);
    assert!(!out.join("params.npz").exists());
}

#[test]
fn a_huge_learning_rate_is_traced_to_the_source() {
    let root = scratch("lr");
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let r = run(&[
        "run",
        s(&file),
        "--out",
        s(&root.join("out")),
        "--quiet",
        "--set",
        "lr=1e38",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("non-finite value"), "{err}");
    assert!(
        err.contains("the first non-finite value was made by"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A NaN in a logged value computed from the batch stops the run: only values computed
/// from a "no value yet" source (an environment's episode return before its first
/// episode ends) may be NaN, and the rollout that carries that return does not make its
/// other fields such values.
#[test]
fn a_nan_metric_from_the_batch_stops_the_run() {
    let root = scratch("nan_metric");
    let file = root.join("nan.rlp");
    std::fs::write(
        &file,
        "use std.env.cartpole\nenv = cartpole(envs: 4)\npolicy = categorical(mlp(env.obs, [8], env.actions))\n\
         train iterations: 10 {\n  sample batch = rollout(env, policy, steps: 8)\n  \
         log return = nanmean(env.episode_return), bad = log(f32(iteration) - 3.0 + 0.0 * mean(batch.reward))\n}\n",
    )
    .unwrap();
    let r = run(&["run", s(&file), "--out", s(&root.join("out")), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("iteration 0") && err.contains("non-finite value"),
        "{err}"
    );
    assert!(err.contains("`log`"), "the culprit is named: {err}");
}

/// A NaN made inside a stdlib function is shown at the stdlib's line and at the user's
/// call that led there (`nanmean` of an all-NaN row divides 0 by 0).
#[test]
fn a_nan_made_inside_a_stdlib_function_shows_the_users_call() {
    let root = scratch("nan_stdlib_call");
    let file = root.join("nan.rlp");
    std::fs::write(
        &file,
        "use std.env.cartpole\nenv    = cartpole(envs: 2)\npolicy = categorical(mlp(env.obs, [4], env.actions))\n\
         train iterations: 2 {\n  sample batch = rollout(env, policy, steps: 4)\n  log    r = nanmean(log(-batch.reward))\n}\n",
    )
    .unwrap();
    let r = run(&["run", s(&file), "--out", s(&root.join("out")), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("made by `div` at <stdlib>/core.rlp:"), "{err}");
    assert!(
        err.contains("  called from ")
            && err.contains("nan.rlp:6:14\n")
            && err.contains("nanmean(log(-batch.reward))"),
        "{err}"
    );
}

/// A program stepping `envs` random walks from 0 whose reward is `sqrt` of the position
/// (NaN once a walk goes below 0, on line 4), acting with `policy`, logging `metric`.
fn sqrt_walk(envs: usize, policy: &str, metric: &str) -> String {
    format!(
        "fn reset(n: int) {{ zeros([n, 1]) }}\nfn step(s: [N, 1], a: [N] i32) {{\n  \
         x = s[:, 0] + where(a == 1, 1.0, -1.0)\n  \
         {{ state: reshape(x, [N, 1]), reward: sqrt(x), terminated: x > 5.0 }}\n}}\n\
         env = environment(envs: {envs}, max_steps: 20, obs: 1, actions: 2, reset: reset, step: step)\n\
         policy = {policy}\n\
         train iterations: 3 {{\n  sample batch = rollout(env, policy, steps: 8)\n  log r = {metric}\n}}\n"
    )
}

/// A NaN made inside an environment's own `step` is traced to that expression, past the
/// episode return the rollout carries (NaN there means "no value yet", not a culprit).
#[test]
fn a_nan_made_in_an_environments_step_is_traced_to_its_line() {
    let root = scratch("nan_env_step");
    let file = root.join("env.rlp");
    let policy = "categorical(mlp(env.obs, [8], env.actions))";
    std::fs::write(&file, sqrt_walk(4, policy, "nanmean(env.episode_return)")).unwrap();
    let r = run(&["run", s(&file), "--out", s(&root.join("out")), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("made by `sqrt`") && err.contains("env.rlp:4:"),
        "{err}"
    );
    assert!(err.contains("in step 0 of the loop"), "{err}");
}

/// The same at 256 environments stepped by a random policy, whose rollout runs in blocks
/// of groups and reports its non-finite stores itself: the run still stops at the
/// rollout, with the expression named.
#[test]
fn a_nan_in_a_large_rollout_is_traced_to_its_line() {
    let root = scratch("nan_env_step_large");
    let file = root.join("env.rlp");
    let policy = "obs -> { sample: () -> i32(floor(uniform([256], high: 2.0))) }";
    std::fs::write(&file, sqrt_walk(256, policy, "mean(batch.reward)")).unwrap();
    let r = run(&["run", s(&file), "--out", s(&root.join("out")), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("written by stage `sample`"), "{err}");
    assert!(
        err.contains("made by `sqrt`") && err.contains("env.rlp:4:"),
        "{err}"
    );
}

#[test]
fn unwritable_run_directory_is_a_clean_error() {
    let root = scratch("unwritable");
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let blocker = root.join("a_file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let r = run(&["run", s(&file), "--out", s(&blocker.join("out")), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: cannot create the run directory"),
        "{err}"
    );
    assert!(err.contains("a_file"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn resume_errors_name_the_file() {
    let root = scratch("resume_errors");
    // Not a run directory at all.
    let r = run(&["run", "--resume", s(&root.join("nothing"))]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("is not a run directory"));
    // A run killed before its first checkpoint.
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let out = root.join("out");
    ok(&[
        "run",
        s(&file),
        "--out",
        s(&out),
        "--quiet",
        "--stop-after",
        "1",
    ]);
    let r = run(&["run", "--resume", s(&out), "--quiet"]);
    assert!(String::from_utf8_lossy(&r.stderr).contains("no checkpoint to resume from"));
    // A checkpoint from a different program: a slot of the wrong shape.
    ok(&[
        "run",
        s(&file),
        "--out",
        s(&out),
        "--quiet",
        "--checkpoint-every",
        "2",
        "--stop-after",
        "3",
    ]);
    let other = SMALL.replace("[8]", "[5]");
    std::fs::write(out.join("program.rlp"), &other).unwrap();
    std::fs::write(&file, &other).unwrap();
    let r = run(&["run", "--resume", s(&out), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("ckpt-2.npz"), "{err}");
    assert!(err.contains("in the checkpoint but"), "{err}");
}

/// A real kill: the process gets SIGKILL once its second checkpoint is on disk, at
/// whatever point of whatever iteration it is in; resuming still ends exactly where an
/// uninterrupted run ends.
#[test]
fn sigkilled_run_resumes_to_the_same_parameters() {
    let root = scratch("sigkill");
    let file = root.join("long.rlp");
    std::fs::write(
        &file,
        SMALL.replace("train iterations: 9", "train iterations: 400"),
    )
    .unwrap();
    let (full, killed) = (root.join("full"), root.join("killed"));
    let args = |out: &Path| -> Vec<String> {
        [
            "run",
            s(&file),
            "--out",
            s(out),
            "--checkpoint-every",
            "20",
            "--quiet",
            "--seed",
            "3",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    ok(&args(&full).iter().map(|x| x.as_str()).collect::<Vec<_>>());
    let mut child = rlpc().args(args(&killed)).spawn().unwrap();
    let second = killed.join("checkpoints").join("ckpt-40.npz");
    let start = std::time::Instant::now();
    while !second.exists() && start.elapsed().as_secs() < 60 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let finished_already = child.try_wait().unwrap().is_some();
    child.kill().ok();
    child.wait().unwrap();
    assert!(
        !finished_already,
        "the run ended before it could be killed; make it longer"
    );
    ok(&["run", "--resume", s(&killed), "--quiet"]);
    assert_eq!(
        load_npz(&full.join("params.npz")).unwrap(),
        load_npz(&killed.join("params.npz")).unwrap()
    );
    assert_eq!(metrics_without_wall(&full), metrics_without_wall(&killed));
}

/// Episodes of 10 steps, rollouts of 4: no episode ends in iterations 0 and 1, the
/// first ones end in iteration 2 (step 10) and the next in iteration 4 (step 20).
const SLOW_EPISODES: &str = "\
fn reset(n: int) { zeros([n, 1]) }
fn step(s, a) { { state: s + 1.0, reward: 1.0 + 0.0 * s[:, 0], terminated: s[:, 0] < 0.0 } }
env = environment(envs: 3, max_steps: 10, obs: 1, actions: 2, reset: reset, step: step)
policy = categorical(mlp(env.obs, [4], env.actions))

train iterations: 5 {
  sample batch = rollout(env, policy, steps: 4)
  log return = nanmean(env.episode_return), plain = mean(env.episode_return),
      steps = sum(batch.reward)
}
";

/// Before an environment has finished an episode it has no return: the metric is NaN
/// (`nan` in metrics.csv, a gap in the plot, `–` on the progress bar), which does not
/// stop the run as a NaN in state would; the real returns follow.
#[test]
fn no_episode_return_before_the_first_episode_ends() {
    let root = scratch("no_return_yet");
    let file = root.join("slow.rlp");
    std::fs::write(&file, SLOW_EPISODES).unwrap();
    let out = root.join("out");
    ok(&["run", s(&file), "--out", s(&out), "--quiet"]);
    let (cols, rows) = read_metrics_csv(&out.join("metrics.csv")).unwrap();
    let col = |name: &str| {
        let k = cols.iter().position(|c| c == name).unwrap();
        rows.iter().map(|r| r[k]).collect::<Vec<f64>>()
    };
    for name in ["return", "plain"] {
        let v = col(name);
        assert!(v[0].is_nan() && v[1].is_nan(), "{name}: {v:?}");
        assert_eq!(v[2..], [10.0, 10.0, 10.0], "{name}");
    }
    assert_eq!(col("steps"), [12.0; 5]);
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(csv.lines().nth(1).unwrap().contains(",nan,nan,"), "{csv}");
    assert!(out.join("return.png").exists());
}

/// A program whose state cannot be allocated: 10^15 f32 values (3.55 PiB, more than
/// any address space holds, so the allocation fails even where memory is overcommitted).
const TOO_BIG: &str = "x = zeros([1000000000000000])\ntrain iterations: 1 { log a = mean(x) }\n";

#[test]
fn a_program_larger_than_memory_is_refused_before_it_runs() {
    let dir = scratch("too_big_checked");
    let file = dir.join("big.rlp");
    std::fs::write(&file, TOO_BIG).unwrap();
    let out_dir = dir.join("run");
    for args in [
        vec!["check", s(&file)],
        vec!["run", "--quiet", "--out", s(&out_dir), s(&file)],
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "rlpc {args:?}: {err}");
        assert!(
            err.contains("rlp::out-of-memory") && err.contains("3.55 PiB"),
            "{err}"
        );
    }
    assert!(
        !out_dir.exists(),
        "a refused program leaves no run directory"
    );
}

#[test]
fn a_failed_allocation_is_an_error_not_an_abort() {
    // The estimate is turned off, so the allocation itself fails: an error naming the
    // stage and the size, exit code 1 (not SIGABRT), and no run directory.
    let dir = scratch("too_big_unchecked");
    let file = dir.join("big.rlp");
    std::fs::write(&file, TOO_BIG).unwrap();
    let out_dir = dir.join("run");
    for backend in ["jit", "interp"] {
        let args = [
            "run",
            "--quiet",
            "--memory-limit",
            "none",
            "--backend",
            backend,
            "--out",
            s(&out_dir),
            s(&file),
        ];
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{backend}: {err}");
        assert!(
            err.contains("out of memory") && err.contains("3.55 PiB") && err.contains("init"),
            "{backend}: {err}"
        );
        assert!(
            !out_dir.exists(),
            "{backend}: a failed run leaves no run directory"
        );
    }
}

#[test]
fn resuming_a_model_based_run_is_bit_identical() {
    // An ensemble, its optimiser, a replay buffer and a warm-start plan in state; the
    // split run stops between two model fits (iterations 25 and 35).
    let root = scratch("resume_model");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pets_pendulum.rlp");
    let (full, split) = (root.join("full"), root.join("split"));
    let common = [
        "--quiet",
        "--set",
        "iters=40",
        "--set",
        "candidates=50",
        "--checkpoint-every",
        "10",
    ];
    let mut a = vec!["run", s(&file), "--out", s(&full)];
    a.extend(common);
    ok(&a);
    let mut b = vec!["run", s(&file), "--out", s(&split), "--stop-after", "31"];
    b.extend(common);
    ok(&b);
    ok(&["run", "--resume", s(&split), "--quiet"]);
    let (_, fstate, _) = checkpoint::load_latest(&full.join("checkpoints"))
        .unwrap()
        .unwrap();
    let (_, sstate, _) = checkpoint::load_latest(&split.join("checkpoints"))
        .unwrap()
        .unwrap();
    // Compared bit for bit (episode returns are NaN until an episode ends).
    let bits = |state: &[(String, rlp_runtime::Tensor)]| -> Vec<(String, Vec<u64>)> {
        state
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    t.to_f64_vec().iter().map(|x| x.to_bits()).collect(),
                )
            })
            .collect()
    };
    let (fb, sb) = (bits(&fstate), bits(&sstate));
    for ((n, x), (_, y)) in fb.iter().zip(&sb) {
        assert!(x == y, "slot {n} differs after resuming");
    }
    assert_eq!(fb.len(), sb.len());
    assert_eq!(metrics_without_wall(&full), metrics_without_wall(&split));
    let names: Vec<&String> = fstate.iter().map(|(n, _)| n).collect();
    for want in ["net.", "buf.", "plan"] {
        assert!(
            names.iter().any(|n| n.starts_with(want)),
            "{want} not in {names:?}"
        );
    }
}

#[test]
fn resuming_a_run_that_reads_data_is_bit_identical_and_saves_no_data() {
    // A dataset (`dataset(…)`) and a frozen expert (`pretrained(…)`) are read from their
    // files again on resume; checkpoints hold neither.
    let root = scratch("resume_data");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for (program, set, frozen) in [
        ("bc_cartpole.rlp", "iters=300", "ds."),
        ("dagger_cartpole.rlp", "rounds=12", "expert."),
    ] {
        let file = examples.join(program);
        let (full, split) = (
            root.join(format!("{program}.full")),
            root.join(format!("{program}.split")),
        );
        let common = ["--quiet", "--set", set, "--checkpoint-every", "4"];
        let mut a = vec!["run", s(&file), "--out", s(&full)];
        a.extend(common);
        ok(&a);
        let mut b = vec!["run", s(&file), "--out", s(&split), "--stop-after", "6"];
        b.extend(common);
        ok(&b);
        ok(&["run", "--resume", s(&split), "--quiet"]);
        let (_, fstate, _) = checkpoint::load_latest(&full.join("checkpoints"))
            .unwrap()
            .unwrap();
        let (_, sstate, _) = checkpoint::load_latest(&split.join("checkpoints"))
            .unwrap()
            .unwrap();
        assert_eq!(
            fstate, sstate,
            "{program}: the state differs after resuming"
        );
        assert_eq!(
            metrics_without_wall(&full),
            metrics_without_wall(&split),
            "{program}"
        );
        assert!(
            fstate.iter().all(|(n, _)| !n.starts_with(frozen)),
            "{program}: {frozen}* saved in a checkpoint"
        );
        let params = rlp_runtime::io::load_npz(&full.join("params.npz")).unwrap();
        assert!(
            params.iter().all(|(n, _)| !n.starts_with(frozen)),
            "{program}"
        );
    }
}

#[test]
fn resuming_after_the_program_was_edited_still_finds_its_data() {
    // The run continues from the text it saved; that text's relative data paths resolve
    // from the program's own directory, not from the run directory.
    let root = scratch("resume_edited");
    let dir = root.join("project");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    std::fs::copy(
        examples.join("data/cartpole_expert.npz"),
        dir.join("data/cartpole_expert.npz"),
    )
    .unwrap();
    let file = dir.join("bc.rlp");
    std::fs::copy(examples.join("bc_cartpole.rlp"), &file).unwrap();
    let out = root.join("run");
    ok(&[
        "run",
        s(&file),
        "--out",
        s(&out),
        "--quiet",
        "--set",
        "iters=20",
        "--stop-after",
        "5",
        "--checkpoint-every",
        "5",
    ]);
    let edited = std::fs::read_to_string(&file).unwrap() + "\n# edited after the run started\n";
    std::fs::write(&file, edited).unwrap();
    ok(&["run", "--resume", s(&out), "--quiet"]);
    let rows = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(rows.lines().count(), 21, "{rows}");
}

/// `run::train_with`'s hook (what the Python bindings' callback is) stops a run cleanly
/// where it returns false: a checkpoint there and `params.npz`, and resuming from that
/// checkpoint ends bit-identical to a run that was never stopped.
#[test]
fn a_run_stopped_by_its_hook_resumes_bit_identically() {
    use rlpc::run::{self, Backend, RunOptions};
    let root = scratch("hook");
    let (program, sources) =
        rlpc::front_end_source("small.rlp", SMALL, 7).unwrap_or_else(|(d, _)| panic!("{d:?}"));
    let c = run::compile(program, Backend::Jit).unwrap();
    let opts = |dir: &Path, resume: bool| RunOptions {
        out: Some(dir.to_path_buf()),
        quiet: true,
        checkpoint_every: 0,
        resume,
        ..RunOptions::default()
    };
    let full = root.join("full");
    assert!(
        run::train(&c, &opts(&full, false), Some(&sources))
            .unwrap()
            .finished
    );

    let split = root.join("split");
    let mut seen = vec![];
    let stopped = run::train_with(
        run::Trainer::new(&c).unwrap(),
        &opts(&split, false),
        Some(&sources),
        &mut |e| {
            seen.push((e.iteration, e.metrics.len()));
            e.iteration < 3
        },
    )
    .unwrap();
    assert_eq!(seen, [(0, 2), (1, 2), (2, 2), (3, 2)]);
    assert_eq!(stopped.iterations, 4);
    assert!(!stopped.finished);
    let (step, state, _) = checkpoint::load_latest(&split.join("checkpoints"))
        .unwrap()
        .unwrap();
    assert_eq!(step, 4);
    let params = load_npz(&split.join("params.npz")).unwrap();
    for (name, t) in &params {
        let saved = state.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        assert_eq!(saved, Some(t), "`{name}` in params.npz is the checkpoint's");
    }

    let resumed = run::train(&c, &opts(&split, true), Some(&sources)).unwrap();
    assert!(resumed.finished);
    assert_eq!(resumed.resumed_from, Some(4));
    assert_eq!(
        load_npz(&full.join("params.npz")).unwrap(),
        load_npz(&split.join("params.npz")).unwrap()
    );
    assert_eq!(metrics_without_wall(&full), metrics_without_wall(&split));
}

/// `--iterations N` trains N iterations of this session and stops with a checkpoint and
/// the outputs; `--resume` finishes the program's count, bit-identical to one run.
#[test]
fn a_run_capped_by_iterations_resumes_bit_identically() {
    let root = scratch("iterations-cap");
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let (full, split) = (root.join("full"), root.join("split"));
    ok(&["run", s(&file), "--out", s(&full), "--quiet", "--seed", "3"]);
    let capped = ok(&[
        "run",
        s(&file),
        "--out",
        s(&split),
        "--quiet",
        "--seed",
        "3",
        "--iterations",
        "4",
    ]);
    let said = String::from_utf8_lossy(&capped.stdout);
    assert!(said.contains("stopped after 4 iterations"), "{said}");
    assert!(
        split.join("params.npz").exists(),
        "a capped run saves its parameters"
    );
    assert_eq!(metrics_without_wall(&split).len(), 4);
    ok(&["run", "--resume", s(&split), "--quiet"]);
    assert_eq!(
        load_npz(&full.join("params.npz")).unwrap(),
        load_npz(&split.join("params.npz")).unwrap()
    );
    assert_eq!(metrics_without_wall(&full), metrics_without_wall(&split));
    let zero = run(&["run", s(&file), "--out", s(&split), "--iterations", "0"]);
    assert!(!zero.status.success());
}

/// Runs `file` on the JIT and on the interpreter (run directories under `root`);
/// each run must fail with stderr containing every one of `wants`.
fn fails_on_both_backends(root: &Path, file: &Path, wants: &[&str]) {
    for backend in ["jit", "interp"] {
        let stem = file.file_stem().unwrap().to_string_lossy();
        let out = root.join(format!("{stem}-{backend}"));
        let o = run(&[
            "run",
            s(file),
            "--out",
            s(&out),
            "--quiet",
            "--backend",
            backend,
        ]);
        assert!(!o.status.success(), "{backend}: the run succeeded");
        let e = String::from_utf8_lossy(&o.stderr);
        for want in wants {
            assert!(e.contains(want), "{backend}: no {want:?} in {e}");
        }
    }
}

/// An index out of range in a gather whose value only the gradient uses (the loss is
/// not logged, so the forward gather is dead) is still an error on both backends, not
/// a zero gradient.
#[test]
fn an_index_out_of_range_seen_only_by_a_gradient_is_an_error() {
    let root = scratch("grad-range");
    let file = root.join("g.rlp");
    std::fs::write(
        &file,
        "w   = param([1, 3], init: \"zeros\")\nidx = i32([5])\nopt = sgd(lr: 1.0)\ntrain iterations: 1 {\n  improve minimize -mean(log_softmax(w)[idx]) with opt\n  log w0 = w[0, 0]\n}\n",
    )
    .unwrap();
    fails_on_both_backends(
        &root,
        &file,
        &["index 5", "out of range 0..3", "g.rlp:5:11"],
    );
}

/// An off-by-one index inside a library function's `scan` is an error on both
/// backends, located at the index in the library file: whether the tensor indexed is a
/// constant (the JIT reads no memory for it, and once skipped the check) or state.
#[test]
fn an_index_out_of_range_in_a_scan_body_is_located_on_both_backends() {
    let root = scratch("scan-range");
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::write(
        root.join("lib/offby1.rlp"),
        "pub fn prev_sum(r: [T, N]) -> [T, N] {\n  scan t in T (acc = zeros([N])) { acc = r[t] + r[t + 1] }\n}\n",
    )
    .unwrap();
    let programs = [
        "fit y = prev_sum(ones([5, 2]))",
        "fit x <- x * 1.5\n  fit y = prev_sum(x)",
    ];
    for (i, body) in programs.iter().enumerate() {
        let file = root.join(format!("p{i}.rlp"));
        std::fs::write(
            &file,
            format!("use \"./lib/offby1.rlp\".{{prev_sum}}\nx = ones([5, 2])\ntrain iterations: 1 {{\n  {body}\n  log a = mean(y)\n}}\n"),
        )
        .unwrap();
        fails_on_both_backends(
            &root,
            &file,
            &[
                "at step 4: ",
                "index 5 is out of range 0..5",
                "offby1.rlp:2:49",
                "called from ",
                "y = prev_sum(",
            ],
        );
    }
}

/// A scan whose body holds a matrix product runs as a host loop over the body's own
/// kernels; an index out of range there names the step and the index on both backends.
#[test]
fn an_index_out_of_range_in_a_host_loop_scan_names_its_step() {
    let root = scratch("host-scan-range");
    let file = root.join("h.rlp");
    std::fs::write(
        &file,
        "w = ones([2, 2])\nx = ones([5, 2])\ntrain iterations: 1 {\n  fit y = scan t in 5 (h = zeros([1, 2])) { h = tanh(h @ w) + x[t + 1] }\n  log a = mean(y)\n}\n",
    )
    .unwrap();
    fails_on_both_backends(
        &root,
        &file,
        &["at step 4: ", "index 5 is out of range 0..5", "h.rlp:4:63"],
    );
}

/// A row index out of range in a `put` into state names the stage's and the `put`'s
/// source locations, with the line.
#[test]
fn an_index_out_of_range_at_run_time_points_at_the_put() {
    let root = scratch("put-range");
    let file = root.join("idx.rlp");
    std::fs::write(
        &file,
        "buf = zeros([10, 2])\ni = 20\ntrain iterations: 2 {\n  fit buf <- put(buf, full([1], i, dtype: \"i32\"), ones([1, 2]))\n  log a = mean(buf)\n}\n",
    )
    .unwrap();
    let o = run(&["run", s(&file), "--out", s(&root.join("run")), "--quiet"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("row index 20 at position 0 is out of range 0..10"),
        "{e}"
    );
    assert!(
        e.contains("the `put` at") && e.contains("idx.rlp:4:14"),
        "{e}"
    );
    assert!(e.contains("put(buf, full([1], i"), "{e}");
}

/// A value logged inside `every 3 steps after 2` (and one a later stage reads from it)
/// has no value before iteration 2: `nan`, not a zero that reads as a measurement. In
/// between it repeats the last run's value — also after a resume between two runs of
/// the block, so the resumed metrics equal the uninterrupted ones.
#[test]
fn a_periodic_log_is_missing_before_its_first_run_and_survives_a_resume() {
    let root = scratch("periodic-log");
    let file = root.join("every.rlp");
    std::fs::write(
        &file,
        "x = zeros([])\ntrain iterations: 7 {\n  fit x <- x + 1.0\n  every 3 steps after 2 {\n    log seen = x * 10.0\n    fit twice = x * 2.0\n  }\n  log later = twice + 0.5\n}\n",
    )
    .unwrap();
    let (full, split) = (root.join("full"), root.join("split"));
    ok(&["run", s(&file), "--out", s(&full), "--quiet"]);
    let (cols, rows) = read_metrics_csv(&full.join("metrics.csv")).unwrap();
    let col = |name: &str| {
        let k = cols.iter().position(|c| c == name).unwrap();
        rows.iter().map(|r| r[k]).collect::<Vec<f64>>()
    };
    let seen = col("seen");
    assert!(seen[0].is_nan() && seen[1].is_nan(), "{seen:?}");
    assert_eq!(seen[2..], [30.0, 30.0, 30.0, 60.0, 60.0]);
    let later = col("later");
    assert!(later[0].is_nan() && later[1].is_nan(), "{later:?}");
    assert_eq!(later[2..], [6.5, 6.5, 6.5, 12.5, 12.5]);
    // Stopped (as if killed) after iteration 3, between the runs at 2 and 5.
    ok(&[
        "run",
        s(&file),
        "--out",
        s(&split),
        "--quiet",
        "--checkpoint-every",
        "4",
        "--stop-after",
        "5",
    ]);
    ok(&["run", "--resume", s(&split), "--quiet"]);
    assert_eq!(metrics_without_wall(&full), metrics_without_wall(&split));
}

/// Ctrl-C (SIGINT) lets the iteration under way finish, then stops like `--iterations`:
/// a checkpoint at the iteration reached, `params.npz`, exit status 130 and a message
/// saying how to resume; `--resume` then carries on from there.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_with_a_checkpoint_that_resumes() {
    let root = scratch("sigint");
    let file = root.join("long.rlp");
    std::fs::write(
        &file,
        "x = zeros([])\ntrain iterations: 2_000_000 {\n  fit x <- x + 1.0\n  log x = x\n}\n",
    )
    .unwrap();
    let out = root.join("run");
    let child = rlpc()
        .args(["run", s(&file), "--out", s(&out), "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once training is under way (rows in metrics.csv).
    let csv = out.join("metrics.csv");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&csv).map_or(0, |c| c.lines().count()) < 3 {
        assert!(t0.elapsed().as_secs() < 60, "the run never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let o = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(130), "{said}");
    assert!(
        said.contains("interrupted after") && said.contains("--resume"),
        "{said}"
    );
    let (step, _, _) = checkpoint::load_latest(&out.join("checkpoints"))
        .unwrap()
        .unwrap();
    let rows = read_metrics_csv(&csv).unwrap().1;
    assert_eq!(rows.len() as u64, step, "one metrics row per iteration run");
    assert_eq!(
        rows.last().unwrap()[3],
        step as f64,
        "x counts the iterations"
    );
    assert!(out.join("params.npz").exists());
    ok(&["run", "--resume", s(&out), "--quiet", "--iterations", "3"]);
    let rows = read_metrics_csv(&csv).unwrap().1;
    assert_eq!(rows.len() as u64, step + 3);
    assert_eq!(rows.last().unwrap()[3], (step + 3) as f64);
}

/// An index out of range in a `take` names the source line of the `take`, with the
/// JIT and with the interpreter.
#[test]
fn a_take_out_of_range_points_at_the_take() {
    let root = scratch("take-range");
    let file = root.join("take.rlp");
    std::fs::write(
        &file,
        "x = zeros([10, 3])\nidx = indices(5) + 7\ntrain iterations: 2 {\n  fit z = take(x, idx)\n  log s = sum(z)\n}\n",
    )
    .unwrap();
    fails_on_both_backends(
        &root,
        &file,
        &["out of range 0..10", "take.rlp:4:11\n", "take(x, idx)\n"],
    );
}

/// A program's own modules are saved in the run directory (`modules.json`): a resume
/// after the module file was edited, from another working directory, trains exactly
/// what the run began with, and a finished run evaluates without the module on disk.
#[test]
fn resume_and_eval_use_the_modules_the_run_began_with() {
    let root = scratch("saved-modules");
    let src = root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let module = src.join("shaping.rlp");
    std::fs::write(&module, "pub fn scale(x) { x * 0.5 }\n").unwrap();
    let file = src.join("prog.rlp");
    std::fs::write(
        &file,
        SMALL
            .replace(
                "steps = sum(batch.reward)",
                "steps = scale(sum(batch.reward))",
            )
            .replacen("\n", "\nuse \"./shaping.rlp\".{scale}\n", 1),
    )
    .unwrap();
    let (full, split) = (root.join("full"), root.join("split"));
    ok(&["run", s(&file), "--out", s(&full), "--quiet", "--seed", "2"]);
    // Relative paths, as a user types them, from the program's directory.
    let split_rel = "../split";
    let out = rlpc()
        .current_dir(&src)
        .args([
            "run",
            "prog.rlp",
            "--out",
            split_rel,
            "--quiet",
            "--seed",
            "2",
            "--iterations",
            "4",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(split.join("modules.json").exists());
    // The module changes on disk, and the resume runs from elsewhere.
    std::fs::write(&module, "pub fn scale(x) { x * 100.0 }\n").unwrap();
    let resumed = rlpc()
        .current_dir(&root)
        .args(["run", "--resume", "split", "--quiet"])
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(metrics_without_wall(&full), metrics_without_wall(&split));
    std::fs::remove_file(&module).unwrap();
    let e = rlpc()
        .current_dir(&root)
        .args(["eval", "split", "--episodes", "1"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&e.stderr);
    assert!(!said.contains("cannot read"), "{said}");
}

/// A damaged newest checkpoint is passed over (with a warning naming it) for the newest
/// intact one, and a lost `latest.json` is made up for by listing the directory; either
/// way the resumed run ends exactly where an uninterrupted one does.
#[test]
fn resume_falls_back_to_the_newest_intact_checkpoint() {
    let root = scratch("resume_fallback");
    let file = root.join("small.rlp");
    std::fs::write(&file, SMALL).unwrap();
    let full = root.join("full");
    let common = ["--quiet", "--seed", "3", "--checkpoint-every", "2"];
    let mut a = vec!["run", s(&file), "--out", s(&full)];
    a.extend(common);
    ok(&a);
    let damaged = root.join("damaged");
    let mut b = vec!["run", s(&file), "--out", s(&damaged)];
    b.extend(common);
    b.extend(["--stop-after", "7"]);
    ok(&b);
    let ckpts = damaged.join("checkpoints");
    assert_eq!(checkpoint::load_latest(&ckpts).unwrap().unwrap().0, 6);
    let no_index = root.join("no_index");
    let copy = Command::new("cp")
        .args(["-r", s(&damaged), s(&no_index)])
        .status()
        .unwrap();
    assert!(copy.success());
    std::fs::remove_file(no_index.join("checkpoints").join(checkpoint::LATEST)).unwrap();
    let npz = checkpoint::npz_path(&ckpts, 6);
    let bytes = std::fs::read(&npz).unwrap();
    std::fs::write(&npz, &bytes[..bytes.len() / 3]).unwrap();

    let r = ok(&["run", "--resume", s(&damaged), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("checkpoint 6 is unreadable ("), "{err}");
    assert!(err.contains("ckpt-6.npz"), "{err}");
    assert!(err.contains("; resuming from 4"), "{err}");
    let r = ok(&["run", "--resume", s(&no_index), "--quiet"]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("latest.json` is missing"), "{err}");
    assert!(!err.contains("no checkpoint to resume from"), "{err}");

    let want = load_npz(&full.join("params.npz")).unwrap();
    for dir in [&damaged, &no_index] {
        assert_eq!(load_npz(&dir.join("params.npz")).unwrap(), want, "{dir:?}");
        let rows = metrics_without_wall(dir);
        assert_eq!(rows.len(), 9, "{dir:?}");
        assert_eq!(rows, metrics_without_wall(&full), "{dir:?}");
    }
}

/// `--set loss=mse` on a string binding (the shell removed the quotes of
/// `--set loss="mse"`): the error says to quote the value for the shell.
#[test]
fn an_unquoted_string_override_says_to_quote_it() {
    let root = scratch("unquoted");
    let file = root.join("s.rlp");
    std::fs::write(
        &file,
        "loss = \"huber\"\nx = zeros([])\ntrain iterations: 1 {\n  fit x <- x + 1.0\n  log x = x\n}\n",
    )
    .unwrap();
    let o = run(&[
        "run",
        s(&file),
        "--out",
        s(&root.join("run")),
        "--quiet",
        "--set",
        "loss=mse",
    ]);
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(said.contains(r#"--set 'loss="mse"'"#), "{said}");
    assert!(!said.contains("add `use"), "{said}");
    ok(&[
        "run",
        s(&file),
        "--out",
        s(&root.join("run")),
        "--quiet",
        "--set",
        r#"loss="mse""#,
    ]);
}

/// A fresh run into a directory that holds an earlier run removes that run's outputs
/// before writing its own — metrics, the plot of a metric it does not log, checkpoints,
/// parameters, TensorBoard events — and leaves files rlpc did not write alone.
#[test]
fn a_fresh_run_removes_the_outputs_of_the_run_it_replaces() {
    let root = scratch("replace");
    let first = root.join("first.rlp");
    std::fs::write(
        &first,
        "x = zeros([])\ntrain iterations: 3 {\n  fit x <- x + 1.0\n  log eps = x\n}\n",
    )
    .unwrap();
    let out = root.join("run");
    ok(&[
        "run",
        s(&first),
        "--out",
        s(&out),
        "--quiet",
        "--tensorboard",
    ]);
    assert!(out.join("eps.png").is_file());
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let second = root.join("second.rlp");
    std::fs::write(
        &second,
        "y = zeros([])\ntrain iterations: 2 {\n  fit y <- y + 2.0\n  log other = y\n}\n",
    )
    .unwrap();
    ok(&["run", s(&second), "--out", s(&out), "--quiet"]);
    assert!(!out.join("eps.png").exists(), "the old run's plot survived");
    assert!(out.join("other.png").is_file());
    let events = std::fs::read_dir(out.join("tensorboard")).map_or(0, |d| d.count());
    assert_eq!(events, 0, "the old run's TensorBoard events survived");
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    let header = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(
        header.starts_with("iteration,env_steps,wall_s,other\n"),
        "{header}"
    );
}

/// Ctrl-C at any moment of a fresh run's start-up into a directory holding an earlier
/// run never leaves the two mixed: either the earlier run is untouched (the signal came
/// while compiling) or none of its outputs are left; an exit status of 130 comes with a
/// message.
#[test]
fn ctrl_c_during_start_up_never_leaves_a_mixed_run_directory() {
    let root = scratch("ctrlc-start");
    let first = root.join("first.rlp");
    std::fs::write(
        &first,
        "x = zeros([])\ntrain iterations: 3 {\n  fit x <- x + 1.0\n  log eps = x\n}\n",
    )
    .unwrap();
    let second = root.join("second.rlp");
    std::fs::write(
        &second,
        "y = zeros([])\ntrain iterations: 2_000_000 {\n  fit y <- y + 2.0\n  log other = y\n}\n",
    )
    .unwrap();
    let out = root.join("run");
    for delay_ms in [0u64, 20, 40, 60, 80, 100, 130, 160, 200, 300] {
        let _ = std::fs::remove_dir_all(&out);
        ok(&["run", s(&first), "--out", s(&out), "--quiet"]);
        let child = rlpc()
            .args(["run", s(&second), "--out", s(&out), "--quiet"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        let o = child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let program = std::fs::read_to_string(out.join("program.rlp")).unwrap();
        if program.contains("log eps") {
            // Killed before the run directory was touched: the first run is whole.
            assert!(out.join("eps.png").is_file() && out.join("params.npz").is_file());
        } else {
            assert!(!out.join("eps.png").exists(), "{delay_ms} ms: {said}");
            let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap_or_default();
            let header = csv.lines().next().unwrap_or_default();
            assert!(
                !header.split(',').any(|c| c == "eps"),
                "{delay_ms} ms: the old metrics.csv survived"
            );
        }
        if o.status.code() == Some(130) {
            assert!(
                said.contains("interrupted"),
                "{delay_ms} ms: exit 130 without a message"
            );
        }
    }
}

/// Two metrics of one name are a compile error: `rlpc run` stops before touching the
/// run directory, so an earlier run's outputs there survive.
#[test]
fn a_metric_name_clash_fails_before_the_run_directory_is_touched() {
    let d = scratch("metric-clash");
    let good = d.join("good.rlp");
    std::fs::write(
        &good,
        "o = zeros([])\ntrain iterations: 2 {\n  fit o <- o + 1.0\n  log a = o\n}\n",
    )
    .unwrap();
    let out = d.join("run");
    ok(&["run", s(&good), "--out", s(&out), "--quiet"]);
    let bad = d.join("bad.rlp");
    std::fs::write(
        &bad,
        "o = zeros([])\ntrain iterations: 2 {\n  fit o <- o + 1.0\n  log a = o, a = o * 2.0\n}\n",
    )
    .unwrap();
    for args in [
        vec!["check", s(&bad)],
        vec!["run", s(&bad), "--out", s(&out)],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("the metric `a` is logged twice") && e.contains("bad.rlp:4"),
            "{e}"
        );
    }
    for f in ["params.npz", "metrics.csv"] {
        assert!(out.join(f).exists(), "{f} of the earlier run was removed");
    }
}

/// An error in the init graph (a top-level binding) names its source line.
#[test]
fn an_error_in_a_top_level_binding_names_its_line() {
    let d = scratch("init-error");
    let f = d.join("init.rlp");
    std::fs::write(
        &f,
        "t = zeros([3])\nk = i32([1, 7])\nrows = take(t, k)\n\
         train iterations: 1 { log s = sum(rows) }\n",
    )
    .unwrap();
    let o = run(&["run", s(&f), "--out", s(&d.join("run")), "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("stage `init` failed") && e.contains("init.rlp:3:8") && e.contains("take(t, k)"),
        "{e}"
    );
}

/// `rlpc check --set` and `rlpc explain --set` compile the variant a run would.
#[test]
fn check_and_explain_take_settings() {
    let d = scratch("check-set");
    let f = d.join("p.rlp");
    std::fs::write(
        &f,
        "n = 3\nx = zeros([n])\ntrain iterations: 1 { log s = sum(x) }\n",
    )
    .unwrap();
    let o = ok(&["check", s(&f), "--set", "n=5"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("ok"));
    let o = run(&["check", s(&f), "--set", "m=5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`n`"));
    let o = ok(&["explain", s(&f), "--set", "n=5", "--no-kernels"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("f32[5]"));
}

/// A file where the run keeps its checkpoints stops the run before it trains (not after
/// training, at the first checkpoint, losing what it learnt), with a message saying that
/// a file is in the way; so does a file given as the run directory.
#[test]
fn a_file_in_the_way_of_the_checkpoints_stops_the_run_before_training() {
    let dir = scratch("file_in_the_way");
    let prog = dir.join("small.rlp");
    std::fs::write(&prog, SMALL).unwrap();
    let out = dir.join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("checkpoints"), "not a directory").unwrap();
    let o = run(&["run", s(&prog), "--out", s(&out), "--quiet"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("checkpoint directory") && err.contains("a file of that name is in the way"),
        "{err}"
    );
    // Nothing was trained: no metrics rows were written.
    let rows = read_metrics_csv(&out.join("metrics.csv")).map_or(0, |(_, rows)| rows.len());
    assert_eq!(rows, 0, "{err}");
    let file = dir.join("a_file");
    std::fs::write(&file, "x").unwrap();
    let o = run(&["run", s(&prog), "--out", s(&file), "--quiet"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("run directory") && err.contains("a file of that name is in the way"),
        "{err}"
    );
}

/// `rlpc plot --out DIR` is refused before anything is written, saying that `--out` is a
/// directory and a file path is needed — not the OS's "Not a directory" from the rename
/// that would have put the finished PNG in place.
#[test]
fn plot_out_that_is_a_directory_is_refused() {
    let root = scratch("plot_out_dir");
    std::fs::write(
        root.join("metrics.csv"),
        "iteration,env_steps,wall_s,r\n0,10,0.1,1.0\n1,20,0.2,2.0\n",
    )
    .unwrap();
    let out_dir = root.join("plots");
    std::fs::create_dir_all(&out_dir).unwrap();
    let curve = format!("{}:r", s(&root));
    for out in [s(&out_dir).to_string(), format!("{}/", s(&out_dir))] {
        let r = run(&["plot", "--out", &out, &curve]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success(), "{err}");
        assert!(
            err.contains("is a directory") && err.contains("plot.png"),
            "{err}"
        );
        assert!(!err.contains("Not a directory"), "{err}");
        assert_eq!(
            std::fs::read_dir(&out_dir).unwrap().count(),
            0,
            "nothing written"
        );
    }
    ok(&["plot", "--out", s(&out_dir.join("r.png")), &curve]);
    assert!(out_dir.join("r.png").exists());
    // A `--dashed` label no curve has is an error, not ignored.
    let r = run(&[
        "plot",
        "--out",
        s(&out_dir.join("z.png")),
        "--dashed",
        "ZZZ",
        &curve,
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        !r.status.success() && err.contains("no curve is labelled `ZZZ`"),
        "{err}"
    );
    assert!(!out_dir.join("z.png").exists());
}
