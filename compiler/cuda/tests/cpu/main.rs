//! The CUDA backend's generated source, compiled for the CPU as C++, against the
//! reference interpreter: the JIT's own differential suites (ops, math, scans with
//! environment steps, random graphs, runtime errors, gradients, networks) rerun with
//! this backend as the executor under test, plus the CUDA-specific cases in `cuda`.
//!
//! Every result must equal the interpreter's bit for bit, as the JIT's must: the CPU
//! build calls the same libm and rounds every operation once.

#[path = "../../../jit/tests/jit/common.rs"]
#[allow(dead_code)]
mod jit_common;

/// Cases per random-graph property: each compiles a module with the C++ compiler
/// (~0.2 s), so fewer than the JIT suite's 96.
const PROP_CASES: u32 = 24;

mod common;
mod cuda;
mod store;

#[path = "../../../jit/tests/jit/errors.rs"]
mod errors;
#[path = "../../../jit/tests/jit/gradients.rs"]
mod gradients;
#[path = "../../../jit/tests/jit/math.rs"]
mod math;
#[path = "../../../jit/tests/jit/nn.rs"]
mod nn;
#[path = "../../../jit/tests/jit/ops.rs"]
mod ops;
#[path = "../../../jit/tests/jit/prop.rs"]
mod prop;
#[path = "../../../jit/tests/jit/scan.rs"]
mod scan;
