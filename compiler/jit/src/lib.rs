//! The CPU backend: fuse a tensor graph into kernels, JIT-compile them with Cranelift,
//! and run them on host tensors.
//!
//! Steps, one module each:
//! 1. [`fuse::fuse`]: `Graph` → [`kernel::Schedule`] — which nodes share a loop, which
//!    values get a buffer, what runs as a library call or a host loop;
//! 2. [`codegen::compile`]: each [`kernel::Kernel`] → Cranelift IR → machine code;
//! 3. [`exec::JitExecutable`]: runs the schedule, splitting large kernels across rayon
//!    threads (after `post` hands large `tanh`/`exp` roots of map kernels to native
//!    slice loops).
//!
//! [`compile`] runs all three; [`kernels_summary`] prints the schedule.
//!
//! Results equal the reference interpreter's (`rlp_ir::interp`) bit for bit, whatever the
//! fusion or thread count: the same float operations run in the same order (never a
//! fused multiply-add), transcendental functions and random draws call the same Rust
//! functions, reductions fold sequentially in row-major order of the reduced indices, and
//! `MatMul` calls the same `gemm` routine on the same row-major operands.
//!
//! Supporting modules: `view` (index arithmetic for broadcasts, transposes, slices,
//! `x[t]`), `lower` (building a kernel's instructions), `scan` (scan kernels),
//! `callouts` (the Rust functions generated code calls), `native` (GEMM and block
//! copies), `buffer` (host storage).

#![warn(missing_docs)]

mod buffer;
mod callouts;
pub mod codegen;
pub mod exec;
mod expand;
pub mod fuse;
pub mod kernel;
mod lower;
mod native;
mod pool;
mod post;
mod scan;
mod view;
mod warm;

use rlp_ir::Graph;
use rlp_runtime::Executable;

/// How to compile a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitOptions {
    /// Worker threads for large kernels; 0 uses rayon's global pool.
    pub threads: usize,
    /// Fuse nodes into shared kernels. `false` gives every node its own kernel and
    /// buffer (the reference schedule for differential tests).
    pub fuse: bool,
    /// Use the CPU's fused multiply-add instructions when it has them. `false` makes
    /// every `fma` a call to libm's per lane: the same results, slower. It is the path a
    /// CPU without FMA takes, kept testable on one that has it.
    pub fma: bool,
}

impl Default for JitOptions {
    fn default() -> Self {
        JitOptions {
            threads: 0,
            fuse: true,
            fma: true,
        }
    }
}

/// Why a graph could not be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JitError {
    /// The graph breaks an IR invariant the backend relies on.
    #[error("invalid graph: {0}")]
    Invalid(String),
    /// Something this backend cannot do (yet), or a resource it could not get.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Cranelift rejected a generated function (a bug in this crate).
    #[error("code generation failed in {kernel}: {message}")]
    Codegen {
        /// The kernel's name (or `<module>`).
        kernel: String,
        /// Cranelift's message.
        message: String,
    },
}

/// Compiles `graph` into an executable that runs it on host tensors.
pub fn compile(graph: &Graph, opts: &JitOptions) -> Result<Box<dyn Executable>, JitError> {
    let schedule = fuse::fuse(graph, opts.fuse)?;
    let output_shapes = graph
        .outputs
        .iter()
        .map(|&o| graph.ty(o).shape.clone())
        .collect();
    let exe = exec::JitExecutable::new(graph.inputs.clone(), output_shapes, schedule, opts)?;
    Ok(Box::new(exe))
}

/// Which nodes fused into which kernel, one step per line (for `rlpc explain`).
pub fn kernels_summary(graph: &Graph, opts: &JitOptions) -> String {
    match fuse::fuse(graph, opts.fuse) {
        Ok(schedule) => schedule.to_string(),
        Err(e) => format!("error: {e}\n"),
    }
}

/// Runs a matrix product step on host memory with this backend's `gemm` path: `ptrs`
/// is indexed by the step's buffer ids (for other executors of the same schedules).
///
/// # Safety
/// Every buffer the step names is at its index in `ptrs`, allocated with the size the
/// step's shapes, offsets and strides imply.
pub unsafe fn host_matmul(step: &kernel::MatMul, ptrs: &[*mut u8]) {
    // SAFETY: forwarded from the caller.
    unsafe { native::matmul(step, ptrs) }
}
