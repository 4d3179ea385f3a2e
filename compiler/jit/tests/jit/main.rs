//! Differential tests of the JIT against the reference interpreter.
//!
//! Every `check` runs the interpreter and the JIT with fusion on and off and requires
//! bit-identical results (floats compared by bits; any NaN equals any NaN). No test
//! here needs a tolerance: matmuls call the same GEMM as the interpreter on the same
//! row-major operands, and every other op runs the same float operations in the same
//! order.
//!
//! `bench` holds quick throughput measurements, ignored by default:
//! `cargo test --release -p rlp-jit --test jit -- --ignored --nocapture bench`.

/// Cases per random-graph property (the CUDA backend's CPU suite reuses `prop` with
/// fewer: each of its cases compiles C++).
const PROP_CASES: u32 = 96;

mod bench;
mod common;
mod errors;
mod fusion;
mod gradients;
mod math;
mod native_roots;
mod nn;
mod ops;
mod prop;
mod remainder;
mod scan;
mod scan_step_major;
mod threads;
