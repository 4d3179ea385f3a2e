//! `rlpc eval`: a tiny CartPole run trained through the binary, then evaluated.

mod common;

use rlp_ir::Tensor;
use rlpc::eval::{EvalOptions, evaluate, evaluate_program};
use rlpc::run::{self, Backend, Trainer};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const PROGRAM: &str = "\
use std.env.cartpole
use std.estimators.{reward_to_go}
use std.losses.{policy_gradient}

env    = cartpole(envs: 4, seed: 1)
policy = categorical(mlp(env.obs, [16], env.actions))
opt    = adam(lr: 1e-2)

train iterations: 5 {
  sample  batch = rollout(env, policy, steps: 100)
  fit     q     = reward_to_go(batch.reward, batch.done, gamma: 0.99)
  improve minimize policy_gradient(policy, batch, q - mean(q)) with opt
  log     return = mean(env.episode_return)
}
";

fn rlpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlpc"))
        .args(args)
        .output()
        .expect("run rlpc")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rlpc-eval-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The program file and its trained run directory (trained once per test process).
fn trained() -> &'static (PathBuf, PathBuf) {
    static RUN: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let file = scratch("run").join("tiny.rlp");
        let out = common::train_file(&file, PROGRAM);
        assert!(out.join("params.npz").is_file());
        (file, out)
    })
}

/// The `return: mean …` line.
fn return_line(o: &Output) -> String {
    stdout(o)
        .lines()
        .find(|l| l.starts_with("return: mean "))
        .unwrap_or_else(|| panic!("no return line in:\n{}{}", stdout(o), stderr(o)))
        .to_string()
}

#[test]
fn eval_prints_mean_return() {
    let (_, run) = trained();
    let o = rlpc(&["eval", run.to_str().unwrap(), "--episodes", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = return_line(&o);
    assert!(
        line.contains('±') && line.contains("min") && line.contains("max"),
        "{line}"
    );
    assert!(stdout(&o).contains("4 episodes"), "{}", stdout(&o));
}

/// A run directory whose saved `program.rlp` is damaged: `eval` and `collect` name that
/// file (not the program the run was trained from, which is fine), and `collect`'s
/// errors speak of `rlpc collect`; one episode is "1 episode".
#[test]
fn eval_and_collect_name_the_saved_program_and_themselves() {
    let (_, run) = trained();
    let o = rlpc(&["eval", run.to_str().unwrap(), "--episodes", "1"]);
    assert!(stdout(&o).contains(": 1 episode of "), "{}", stdout(&o));
    let data = scratch("collect-name").join("d.npz");
    let o = rlpc(&[
        "collect",
        run.to_str().unwrap(),
        "--episodes",
        "1",
        "--policy",
        "opt",
        "--out",
        data.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("(`rlpc collect` calls the --policy"),
        "{}",
        stderr(&o)
    );

    let damaged = scratch("damaged").join("run");
    std::fs::create_dir_all(&damaged).unwrap();
    for entry in std::fs::read_dir(run).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), damaged.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(damaged.join("program.rlp"), "x = (\n").unwrap();
    for cmd in ["eval", "collect"] {
        let mut args = vec![cmd, damaged.to_str().unwrap(), "--episodes", "1"];
        if cmd == "collect" {
            args.extend(["--out", data.to_str().unwrap()]);
        }
        let o = rlpc(&args);
        assert!(!o.status.success());
        let want = format!("`{}` does not parse", damaged.join("program.rlp").display());
        assert!(stderr(&o).contains(&want), "{cmd}: {}", stderr(&o));
    }
}

#[test]
fn eval_is_deterministic_and_stochastic_differs() {
    let (_, run) = trained();
    let dir = run.to_str().unwrap();
    let a = rlpc(&["eval", dir, "--episodes", "8"]);
    let b = rlpc(&["eval", dir, "--episodes", "8"]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(return_line(&a), return_line(&b));
    let s = rlpc(&["eval", dir, "--episodes", "8", "--stochastic"]);
    assert!(s.status.success(), "{}", stderr(&s));
    assert!(stdout(&s).contains("stochastic"));
    let det = evaluate(
        run,
        &EvalOptions {
            episodes: 8,
            ..EvalOptions::default()
        },
    )
    .unwrap();
    let sto = evaluate(
        run,
        &EvalOptions {
            episodes: 8,
            stochastic: true,
            ..EvalOptions::default()
        },
    )
    .unwrap();
    assert_eq!(det.returns.len(), 8);
    assert_ne!(det.returns, sto.returns);
}

fn param(ps: &[(String, Tensor)], name: &str) -> Vec<f64> {
    ps.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .1
        .to_f64_vec()
}

/// The saved policy acts as the in-memory one after the same training: the same
/// parameters, the same returns, and actions that are the argmax of its logits.
#[test]
fn saved_policy_matches_in_memory_policy() {
    let (file, run) = trained();
    let (program, _) =
        rlpc::front_end_source("tiny.rlp", PROGRAM, 0).unwrap_or_else(|_| panic!("front end"));
    let iterations = program.iterations;
    let compiled = run::compile(program, Backend::Jit).unwrap();
    let mut t = Trainer::new(&compiled).unwrap();
    for it in 0..iterations {
        t.step(it, None).unwrap();
    }
    let mem = t.params();
    let saved = rlp_runtime::io::load_npz(&run.join("params.npz")).unwrap();
    for (n, v) in &mem {
        assert_eq!(param(&saved, n), v.to_f64_vec(), "parameter {n}");
    }
    // Both act at the iteration training ended at, as `evaluate` does by default.
    let opts = EvalOptions {
        episodes: 6,
        iteration: Some(iterations),
        ..EvalOptions::default()
    };
    let from_dir = evaluate(run, &opts).unwrap();
    let from_mem =
        evaluate_program(PROGRAM, file, 0, &[], &mem, Path::new("memory"), &opts).unwrap();
    assert_eq!(from_dir.returns, from_mem.returns);
    assert_eq!(
        from_dir.first_episode_actions,
        from_mem.first_episode_actions
    );
    // Greedy actions: argmax of tanh(o·w0 + b0)·w1 + b1 with the in-memory parameters.
    let (w0, b0, w1, b1) = (
        param(&mem, "policy.w0"),
        param(&mem, "policy.b0"),
        param(&mem, "policy.w1"),
        param(&mem, "policy.b1"),
    );
    let mut checked = 0;
    for (o, a) in from_mem
        .first_episode_obs
        .iter()
        .zip(&from_mem.first_episode_actions)
    {
        let h: Vec<f64> = (0..16)
            .map(|j| (b0[j] + (0..4).map(|i| o[i] * w0[i * 16 + j]).sum::<f64>()).tanh())
            .collect();
        let l: Vec<f64> = (0..2)
            .map(|k| b1[k] + (0..16).map(|j| h[j] * w1[j * 2 + k]).sum::<f64>())
            .collect();
        if (l[0] - l[1]).abs() < 1e-4 {
            continue;
        }
        let greedy = if l[1] > l[0] { 1.0 } else { 0.0 };
        assert_eq!(a[0], greedy, "obs {o:?} logits {l:?}");
        checked += 1;
    }
    assert!(checked > 5, "only {checked} actions checked");
}

#[test]
fn frames_and_gif() {
    let (_, run) = trained();
    let d = scratch("frames");
    let frames = d.join("frames");
    let gif = d.join("episode.gif");
    let o = rlpc(&[
        "eval",
        run.to_str().unwrap(),
        "--episodes",
        "2",
        "--frames",
        frames.to_str().unwrap(),
        "--gif",
        gif.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = evaluate(
        run,
        &EvalOptions {
            episodes: 2,
            ..EvalOptions::default()
        },
    )
    .unwrap();
    let n = r.first_episode_obs.len();
    assert_eq!(n, r.first_episode_actions.len() + 1);
    let mut pngs: Vec<_> = std::fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), n);
    assert!(stdout(&o).contains(&format!("{n} frames")));
    for p in [&pngs[0], &pngs[n / 2], &pngs[n - 1]] {
        let bytes = std::fs::read(p).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", p.display());
    }
    let g = std::fs::read(&gif).unwrap();
    assert_eq!(&g[..6], b"GIF89a");
    assert_eq!(*g.last().unwrap(), 0x3B);
}

#[test]
fn clean_errors() {
    let (_, run) = trained();
    let d = scratch("errors");
    let missing = d.join("no-such-run");
    let o = rlpc(&["eval", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no-such-run"), "{}", stderr(&o));

    // A run directory without params.npz (an unfinished run).
    let partial = d.join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    for f in ["program.rlp", "settings.json"] {
        std::fs::copy(run.join(f), partial.join(f)).unwrap();
    }
    let o = rlpc(&["eval", partial.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("params.npz"), "{}", stderr(&o));

    let o = rlpc(&["eval", run.to_str().unwrap(), "--policy", "actor"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("`actor`") && e.contains("policy"), "{e}");

    let o = rlpc(&["eval", run.to_str().unwrap(), "--env", "world"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`world`"), "{}", stderr(&o));

    // Bindings that exist but cannot act: the message is about them, not a quote of
    // the evaluation loop rlpc wrote (code the user never saw).
    for (flag, name, says) in [
        ("--policy", "opt", "`opt` cannot act in `env`"),
        ("--env", "opt", "`policy` cannot act in `opt`"),
    ] {
        let o = rlpc(&["eval", run.to_str().unwrap(), flag, name]);
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        assert!(e.contains(says) && !e.contains("__eval"), "{e}");
    }
}

/// `--gif` on an environment with no renderer is refused before the evaluation runs,
/// not after it has printed its results.
#[test]
fn gif_without_a_renderer_is_refused_before_evaluating() {
    let d = scratch("no_renderer");
    let run = common::train_file(
        &d.join("own_env.rlp"),
        "\
fn reset(n: int) { zeros([n, 1]) }
fn step(s, a) { { state: s + 1.0, reward: 1.0 + 0.0 * s[:, 0], terminated: s[:, 0] > 3.0 } }
env = environment(envs: 2, max_steps: 10, obs: 1, actions: 2, reset: reset, step: step)
policy = categorical(mlp(env.obs, [4], env.actions))

train iterations: 2 {
  sample batch = rollout(env, policy, steps: 4)
  log steps = sum(batch.reward)
}
",
    );
    let gif = d.join("x.gif");
    let o = rlpc(&[
        "eval",
        run.to_str().unwrap(),
        "--gif",
        gif.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("no renderer for this environment"),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&o).contains("evaluated"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("return:"), "{}", stdout(&o));
    assert!(!gif.exists());
    // Without `--gif` the same run evaluates.
    let o = rlpc(&["eval", run.to_str().unwrap(), "--episodes", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("return:"));
}

/// `--stochastic` (and `collect --stochastic`) act with the iteration counter where the
/// run ended, so a schedule over `iteration` has its trained value: here ε falls from 1
/// to 0 over the 20 iterations, so the ε-greedy policy's sampled actions are all its
/// greedy action (1). At iteration 0 (ε = 1) they are uniformly random.
#[test]
fn stochastic_eval_and_collect_act_at_the_iteration_the_run_ended() {
    let d = scratch("schedule");
    let out = common::train_file(
        &d.join("eps.rlp"),
        "\
use std.env.cartpole
use std.explore.{epsilon_greedy_policy, linear_schedule}

env    = cartpole(envs: 4, seed: 1)
bias   = zeros([2])
q      = obs -> stack([0.0 * obs[:, 0], 1.0 + 0.0 * obs[:, 0]]) + bias
eps    = linear_schedule(1.0, 0.0, 20)
policy = epsilon_greedy_policy(q, eps)

train iterations: 20 {
  sample batch = rollout(env, policy, steps: 10)
  log    eps = eps()
}
",
    );
    let dir = out.to_str().unwrap();
    let sto = rlpc(&["eval", dir, "--episodes", "8", "--stochastic"]);
    assert!(sto.status.success(), "{}", stderr(&sto));
    assert!(stdout(&sto).contains("at iteration 20"), "{}", stdout(&sto));
    let x = d.join("sampled.npz");
    let o = rlpc(&[
        "collect",
        dir,
        "--episodes",
        "8",
        "--stochastic",
        "--out",
        x.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let actions =
        |data: &rlp_runtime::dataset::Dataset| data.field("action").expect("actions").to_f64_vec();
    let data = rlp_runtime::dataset::Dataset::load(&x).unwrap();
    let a = actions(&data);
    assert!(!a.is_empty() && a.iter().all(|&a| a == 1.0), "{a:?}");
    // At iteration 0, ε = 1: the same policy acts at random.
    let opts = EvalOptions {
        episodes: 8,
        stochastic: true,
        iteration: Some(0),
        ..EvalOptions::default()
    };
    let (report, data) = rlpc::eval::collect(&out, &opts).unwrap();
    assert_eq!(report.iteration, 0);
    let a = actions(&data);
    let zeros = a.iter().filter(|&&a| a == 0.0).count();
    assert!(
        zeros * 4 > a.len(),
        "{zeros} of {} actions 0 at ε = 1",
        a.len()
    );
}

/// A policy that reads state the run trained besides parameters — a table of values, an
/// observation normaliser's statistics — acts with the trained state in `rlpc eval` and
/// `rlpc collect` (from the run's last checkpoint), not with the state's initial value.
/// Here the trained preference makes action 1 the mode (return 5 per episode); the
/// initial one (zeros) makes it action 0 (return 0).
#[test]
fn eval_and_collect_act_with_the_trained_state() {
    let d = scratch("state");
    let out = common::train_file(
        &d.join("table.rlp"),
        "\
fn reset(n: int) { zeros([n, 1]) }
fn step(s, a) { { state: s + 1.0, reward: f32(a), terminated: s[:, 0] > 3.0 } }
env    = environment(envs: 2, max_steps: 10, obs: 1, actions: 2, reset: reset, step: step)
pref   = zeros([2])
policy = obs -> categorical_logits((0.0 * obs ++ 0.0 * obs) + pref)

train iterations: 3 {
  fit    pref  <- f32([0.0, 1.0])
  sample batch = rollout(env, policy, steps: 10)
  log    ret = sum(batch.reward)
}
",
    );
    let report = evaluate(&out, &EvalOptions::default()).unwrap();
    assert_eq!(report.mean(), 5.0, "{:?}", report.returns);
    let opts = EvalOptions {
        episodes: 4,
        ..EvalOptions::default()
    };
    let (_, data) = rlpc::eval::collect(&out, &opts).unwrap();
    let a = data.field("action").expect("actions").to_f64_vec();
    assert!(!a.is_empty() && a.iter().all(|&a| a == 1.0), "{a:?}");
    // The binary says the same.
    let o = rlpc(&["eval", out.to_str().unwrap(), "--episodes", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        return_line(&o).contains("mean 5.000"),
        "{}",
        return_line(&o)
    );
}
