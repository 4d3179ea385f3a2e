//! The JIT suites' helpers, with `check` and `check_fails` running the CUDA backend's
//! CPU build instead of the JIT — or, with `RLPC_CUDA_TEST_TARGET=gpu` on a machine with
//! an NVIDIA GPU (`bench/gpu.sh` sets it), the GPU itself, compared with a tolerance
//! where CUDA's libdevice rounds differently from glibc (see `rlp_cuda::prelude`).

pub use crate::jit_common::{Gen, compare_all, graph, jit, same_bits, t, ty};
use rlp_ir::Graph;
use rlp_runtime::{Executable, Tensor};

fn on_gpu() -> bool {
    std::env::var("RLPC_CUDA_TEST_TARGET").is_ok_and(|t| t == "gpu")
}

/// Where the tests run: this CPU, or the GPU (see above).
pub fn target() -> rlp_cuda::Target {
    if on_gpu() {
        rlp_cuda::Target::Gpu
    } else {
        rlp_cuda::Target::Cpu
    }
}

/// The graph compiled by the CUDA backend for this CPU (or the GPU, see above).
pub fn cuda(g: &Graph) -> Box<dyn Executable> {
    rlp_cuda::compile(g, target()).unwrap_or_else(|e| panic!("cuda compile failed: {e}\n{g}"))
}

/// Equal within a few units in the last place (floats; NaN equals NaN, infinities
/// exactly), exact for integers and bools.
fn close(a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.dtype() != b.dtype() || a.shape() != b.shape() {
        return same_bits(a, b);
    }
    let eps = if a.dtype() == rlp_runtime::DType::F64 {
        1e-12
    } else {
        2e-5
    };
    let (x, y) = (a.to_f64_vec(), b.to_f64_vec());
    match x.iter().zip(&y).position(|(p, q)| {
        !(p == q
            || (p.is_nan() && q.is_nan())
            || (p - q).abs() <= eps * p.abs().max(q.abs()).max(1e-30))
    }) {
        None => Ok(()),
        Some(i) => Err(format!("element {i}: {} vs {}", x[i], y[i])),
    }
}

/// Runs `g` with the interpreter and the CUDA backend's CPU build and asserts they agree
/// bit for bit (any NaN equals any NaN). Returns the interpreter's outputs.
pub fn check(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    let want =
        rlp_ir::interp::run(g, inputs).unwrap_or_else(|e| panic!("interpreter failed: {e}\n{g}"));
    let got = cuda(g)
        .run(inputs)
        .unwrap_or_else(|e| panic!("cuda failed: {e}\n{g}"));
    let eq: &dyn Fn(&Tensor, &Tensor) -> Result<(), String> =
        if on_gpu() { &close } else { &same_bits };
    compare_all("cuda", &got, &want, g, eq);
    want
}

/// Both the interpreter and the CUDA backend fail; returns the backend's message.
pub fn check_fails(g: &Graph, inputs: &[Tensor]) -> String {
    let interp = rlp_ir::interp::run(g, inputs);
    assert!(interp.is_err(), "the interpreter should fail on\n{g}");
    match cuda(g).run(inputs) {
        Ok(_) => panic!("cuda should fail on\n{g}"),
        Err(e) => e.message,
    }
}
