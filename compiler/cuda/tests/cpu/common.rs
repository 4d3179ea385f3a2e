//! The JIT suites' helpers, with `check` and `check_fails` running the CUDA backend's
//! CPU build instead of the JIT.

pub use crate::jit_common::{Gen, compare_all, graph, jit, same_bits, t, ty};
use rlp_ir::Graph;
use rlp_runtime::{Executable, Tensor};

/// The graph compiled by the CUDA backend for this CPU.
pub fn cuda(g: &Graph) -> Box<dyn Executable> {
    rlp_cuda::compile(g, rlp_cuda::Target::Cpu)
        .unwrap_or_else(|e| panic!("cuda (cpu) compile failed: {e}\n{g}"))
}

/// Runs `g` with the interpreter and the CUDA backend's CPU build and asserts they agree
/// bit for bit (any NaN equals any NaN). Returns the interpreter's outputs.
pub fn check(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    let want =
        rlp_ir::interp::run(g, inputs).unwrap_or_else(|e| panic!("interpreter failed: {e}\n{g}"));
    let got = cuda(g)
        .run(inputs)
        .unwrap_or_else(|e| panic!("cuda (cpu) failed: {e}\n{g}"));
    compare_all("cuda (cpu)", &got, &want, g, &same_bits);
    want
}

/// Both the interpreter and the CUDA backend fail; returns the backend's message.
pub fn check_fails(g: &Graph, inputs: &[Tensor]) -> String {
    let interp = rlp_ir::interp::run(g, inputs);
    assert!(interp.is_err(), "the interpreter should fail on\n{g}");
    match cuda(g).run(inputs) {
        Ok(_) => panic!("cuda (cpu) should fail on\n{g}"),
        Err(e) => e.message,
    }
}
