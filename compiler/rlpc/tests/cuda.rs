//! The CUDA backend on whole programs: training iterations of shipped examples run by the
//! backend's generated source compiled for the CPU (`--backend cuda-cpu`) leave exactly
//! the reference's state — every slot (parameters, optimiser moments, environment state,
//! replay buffers, counters) bit for bit — and log the same metrics. The reference is the
//! interpreter on PPO and the JIT (which equals it) on the longer DQN and SAC runs. On a machine with
//! an NVIDIA GPU the same comparison runs on the GPU with tolerances; without one,
//! asking for `--backend cuda` is a clear error.

mod common;

use rlp_runtime::Tensor;
use rlpc::run::{self, Backend, Trainer};
use std::path::Path;
use std::process::Command;

/// Runs `iterations` of `examples/{name}` on `backend`: metrics per iteration, final state.
fn train(
    name: &str,
    settings: &[(&str, &str)],
    iterations: u64,
    backend: Backend,
) -> (Vec<Vec<f64>>, Vec<(String, Tensor)>) {
    let p = common::example_program(name, 0, settings);
    let c = run::compile(p, backend).unwrap_or_else(|e| panic!("{name} on {backend:?}: {e}"));
    let mut t = Trainer::new(&c).unwrap();
    let mut metrics = vec![];
    for it in 0..iterations.min(c.program.iterations) {
        t.step(it, None)
            .unwrap_or_else(|e| panic!("{name} on {backend:?}, iteration {it}: {e}"));
        metrics.push(t.metric_values());
    }
    (metrics, t.state())
}

/// Bit-for-bit equality of two tensors (any NaN equals any NaN).
fn same(a: &Tensor, b: &Tensor) -> bool {
    a.dtype() == b.dtype()
        && a.shape() == b.shape()
        && a.to_f64_vec()
            .iter()
            .zip(b.to_f64_vec())
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

fn assert_same_training(
    name: &str,
    settings: &[(&str, &str)],
    iterations: u64,
    reference: Backend,
) {
    let (jm, js) = train(name, settings, iterations, reference);
    let (cm, cs) = train(name, settings, iterations, Backend::CudaCpu);
    assert_eq!(jm.len(), cm.len());
    for (it, (a, b)) in jm.iter().zip(&cm).enumerate() {
        let same_metrics = a
            .iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
        assert!(
            same_metrics,
            "{name}: iteration {it} metrics {a:?} vs {b:?}"
        );
    }
    assert_eq!(js.len(), cs.len());
    for ((n, a), (_, b)) in js.iter().zip(&cs) {
        assert!(
            same(a, b),
            "{name}: slot `{n}` differs after {iterations} iterations"
        );
    }
}

#[test]
fn ppo_iterations_equal_the_jit() {
    // Rollout scans with the CartPole step inside, GAE, minibatch SGD with Adam.
    assert_same_training("ppo_cartpole.rlp", &[], 2, Backend::Interp);
}

#[test]
fn dqn_iterations_with_replay_equal_the_jit() {
    // Ring-buffer inserts (put_rows), n-step windows, minibatch draws, target copies.
    assert_same_training("dqn_cartpole.rlp", &[], 300, Backend::Jit);
}

#[test]
fn sac_iterations_equal_the_jit() {
    // Continuous control: tanh-Gaussian sampling, two critics, Polyak averaging,
    // a learned temperature; updates start after 40 steps.
    assert_same_training("sac_pendulum.rlp", &[("warmup", "40")], 80, Backend::Jit);
}

#[test]
fn asking_for_the_gpu_without_one_is_a_clear_error() {
    if rlp_cuda::gpu::available().is_ok() {
        // A GPU machine: the backend runs, and agrees with the JIT within tolerance.
        let (jm, _) = train("ppo_cartpole.rlp", &[], 2, Backend::Jit);
        let (gm, _) = train("ppo_cartpole.rlp", &[], 2, Backend::Cuda);
        for (a, b) in jm.iter().zip(&gm) {
            for (x, y) in a.iter().zip(b) {
                assert!((x - y).abs() <= 1e-3 * x.abs().max(1.0), "{a:?} vs {b:?}");
            }
        }
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rlpc"))
        .args(["run", "--quiet", "--backend", "cuda", "--out"])
        .arg(std::env::temp_dir().join(format!("rlpc-cuda-missing-{}", std::process::id())))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/ppo_cartpole.rlp"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the CUDA backend needs an NVIDIA GPU") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// Runs `iterations` of `c` (compiled for cuda-cpu, slots resident or not): metrics per
/// iteration and the final state.
fn train_compiled(c: &run::Compiled, iterations: u64) -> (Vec<Vec<f64>>, Vec<(String, Tensor)>) {
    let mut t = Trainer::new(c).unwrap();
    let mut metrics = vec![];
    for it in 0..iterations.min(c.program.iterations) {
        t.step(it, None)
            .unwrap_or_else(|e| panic!("iteration {it}: {e}"));
        metrics.push(t.metric_values());
    }
    (metrics, t.state())
}

fn same_runs(
    name: &str,
    a: &(Vec<Vec<f64>>, Vec<(String, Tensor)>),
    b: &(Vec<Vec<f64>>, Vec<(String, Tensor)>),
) {
    assert_eq!(a.0.len(), b.0.len());
    for (it, (x, y)) in a.0.iter().zip(&b.0).enumerate() {
        let same_metrics = x
            .iter()
            .zip(y)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
        assert!(
            same_metrics,
            "{name}: iteration {it} metrics {x:?} vs {y:?}"
        );
    }
    assert_eq!(a.1.len(), b.1.len());
    for ((n, x), (_, y)) in a.1.iter().zip(&b.1) {
        assert!(same(x, y), "{name}: slot `{n}` differs");
    }
}

/// Slots resident in device memory (the default on the CUDA backends) give exactly the
/// state and metrics of slots kept on the host and uploaded for every stage call: PPO
/// (rollout scans, minibatch updates) and DQN (replay rows written in place on the
/// device, `every` blocks that copy the target network and evaluate).
#[test]
fn resident_slots_equal_host_slots() {
    for (name, iterations) in [("ppo_cartpole.rlp", 2), ("dqn_cartpole.rlp", 300)] {
        let compile = || {
            run::compile(common::example_program(name, 0, &[]), Backend::CudaCpu)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let resident = compile();
        assert!(resident.slots_resident());
        let mut host = compile();
        host.keep_slots_on_host();
        same_runs(
            name,
            &train_compiled(&resident, iterations),
            &train_compiled(&host, iterations),
        );
    }
}

/// After warm-up an iteration of PPO on CartPole moves only what the host needs: the
/// iteration counter up, and down the runtime-check word of each stage, one non-finite
/// flag per floating-point value a stage wrote, and the logged metric — not its
/// parameters (tens of kilobytes) or its rollout batch. With the slots on the host the
/// same iteration downloads every output of every stage.
#[test]
fn an_iteration_with_resident_slots_moves_bytes_not_slots() {
    let name = "ppo_cartpole.rlp";
    let per_iteration = |resident: bool| {
        let mut c = run::compile(common::example_program(name, 0, &[]), Backend::CudaCpu).unwrap();
        if !resident {
            c.keep_slots_on_host();
        }
        let mut t = Trainer::new(&c).unwrap();
        let (warm, measured) = (2, 3);
        for it in 0..warm {
            t.step(it, None).unwrap();
            t.metric_values();
        }
        let before = rlp_cuda::device::transfers();
        for it in warm..warm + measured {
            t.step(it, None).unwrap();
            assert!(t.metric_values()[0].is_finite());
        }
        let after = rlp_cuda::device::transfers();
        let params: usize = t.params().iter().map(|(_, p)| p.len() * 4).sum();
        (
            (after.uploaded - before.uploaded) / measured,
            (after.downloaded - before.downloaded) / measured,
            params as u64,
        )
    };
    let (up, down, params) = per_iteration(true);
    let (host_up, host_down, _) = per_iteration(false);
    eprintln!(
        "{name} on cuda-cpu, bytes per iteration: resident {up} up, {down} down; \
         host slots {host_up} up, {host_down} down; parameters {params} bytes"
    );
    assert!(params > 10_000, "parameters: {params} bytes");
    assert!(
        down < 1024,
        "resident slots: {down} bytes down per iteration"
    );
    assert!(up < 1024, "resident slots: {up} bytes up per iteration");
    assert!(host_down > params, "host slots: {host_down} bytes down");
}

/// A run on resident slots stopped after a checkpoint and resumed ends exactly where
/// the uninterrupted run does: the checkpoint comes down from the device and goes back
/// up on resume.
#[test]
fn resuming_with_resident_slots_is_bit_identical() {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cuda_resume");
    let _ = std::fs::remove_dir_all(&root);
    let c = run::compile(
        common::example_program("ppo_cartpole.rlp", 3, &[("iters", "5")]),
        Backend::CudaCpu,
    )
    .unwrap();
    assert!(c.slots_resident());
    let opts = |dir: &str| run::RunOptions {
        out: Some(root.join(dir)),
        quiet: true,
        checkpoint_every: 2,
        ..Default::default()
    };
    run::train(&c, &opts("full"), None).unwrap();
    let stopped = run::RunOptions {
        stop_after: Some(3),
        ..opts("split")
    };
    run::train(&c, &stopped, None).unwrap();
    let resumed = run::RunOptions {
        resume: true,
        ..opts("split")
    };
    let summary = run::train(&c, &resumed, None).unwrap();
    assert_eq!(summary.resumed_from, Some(2));
    let load = |dir: &str| rlp_runtime::io::load_npz(&root.join(dir).join("params.npz")).unwrap();
    let (a, b) = (load("full"), load("split"));
    assert_eq!(a.len(), b.len());
    for ((n, x), (_, y)) in a.iter().zip(&b) {
        assert!(same(x, y), "`{n}` differs after resuming");
    }
    let metrics = |dir: &str| {
        let (cols, rows) =
            rlp_runtime::metrics::read_metrics_csv(&root.join(dir).join("metrics.csv")).unwrap();
        let wall = cols.iter().position(|c| c == "wall_s").unwrap();
        rows.iter()
            .map(|r| {
                r.iter()
                    .enumerate()
                    .filter(|(i, _)| *i != wall)
                    .map(|(_, v)| v.to_bits())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(metrics("full"), metrics("split"));
}

/// A non-finite value found by the device's check is reported exactly as on the host:
/// the slot, the stage and the expression that made it (traced from the stage's inputs,
/// downloaded on that rare path); and a row index out of range names the `put`.
#[test]
fn errors_on_resident_slots_read_as_on_the_host() {
    let cases = [
        (
            "goes_nan.rlp",
            "x = zeros([2]) + 2.5\n\ntrain iterations: 10 {\n  fit x <- x - 1.0\n      y = log(x) * 2.0\n  log v = mean(y)\n}\n",
        ),
        (
            "bad_put.rlp",
            "buf = zeros([4, 2])\n\ntrain iterations: 10 {\n  fit buf <- put(buf, i32(iteration) + indices(2), ones([2, 2]))\n  log s = sum(buf)\n}\n",
        ),
    ];
    for (file, src) in cases {
        let error = |backend: Backend| {
            let (p, sources) = rlpc::front_end_source(file, src, 0)
                .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
                .unwrap();
            let c = run::compile(p, backend).unwrap();
            let mut t = Trainer::new(&c).unwrap();
            for it in 0..c.program.iterations {
                let before = t.state();
                if let Err(e) = t.step(it, Some(&sources)) {
                    // A failed stage writes nothing: the state is as it was, but for the
                    // counter the host sets before the iteration.
                    let after = t.state();
                    for ((n, a), (_, b)) in before.iter().zip(&after) {
                        assert!(n == "iteration" || same(a, b), "{file}: `{n}` changed");
                    }
                    return e;
                }
            }
            panic!("{file} on {backend:?}: no error")
        };
        let (host, device) = (error(Backend::Jit), error(Backend::CudaCpu));
        assert!(
            host.contains("non-finite") || host.contains("out of range"),
            "{host}"
        );
        assert_eq!(host, device, "{file}");
    }
}
