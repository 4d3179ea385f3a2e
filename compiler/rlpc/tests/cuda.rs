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
