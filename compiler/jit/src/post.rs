//! Native root ops: an elementwise kernel whose stored value is `tanh(e)` (or `exp(e)`)
//! stores `e`, and the executor applies the function in place, natively, to each range
//! of the output right after the kernel writes it (while it is in cache).
//!
//! Why: Cranelift has four-lane vectors only, and a `tanh` needs more constants than
//! its 16 vector registers hold, so the generated loop reloads spilled constants on
//! every iteration. `rlp_runtime::wide` runs the very same scalar sequence compiled
//! by LLVM for the CPU's widest vectors (16 lanes with AVX-512), bit for bit the same
//! values, so results still equal the interpreter's.
//!
//! This is a CPU-executor pass: it runs in [`crate::exec::JitExecutable::new`] on the
//! schedule `fuse` made, so other consumers of that schedule (`rlpc explain`, the CUDA
//! emitter) never see a [`PostOp`].

use crate::kernel::{DynTerm, Kernel, KernelKind, Op, PostOp, PostUnary, Schedule, Step, ValId};
use rlp_ir::UnaryOp;
use rlp_runtime::DType;

/// Kernels with fewer units than this keep the function inline: below it, the call and
/// the native loop's setup cost about what the function does.
pub const POST_MIN_UNITS: usize = 32;

/// Whether the pass is switched off (`RLP_JIT_NATIVE_ROOTS=0`), to measure its effect.
fn disabled() -> bool {
    std::env::var_os("RLP_JIT_NATIVE_ROOTS").is_some_and(|v| v == "0")
}

/// Gives every eligible kernel of `schedule` (its own steps, matrix-product epilogues
/// and host-loop scan bodies) its root function as a [`PostOp`].
pub fn split_native_roots(schedule: &mut Schedule) {
    if disabled() {
        return;
    }
    for step in &mut schedule.steps {
        match step {
            Step::Kernel(k) => split_root(k),
            Step::MatMul(m) => {
                if let Some(k) = &mut m.epilogue {
                    split_root(k)
                }
            }
            Step::Scan(s) => split_native_roots(&mut s.body),
            Step::Native(_) => {}
        }
    }
}

/// Moves the root function of `k` out to a [`PostOp`] when `k` is a map kernel of at
/// least [`POST_MIN_UNITS`] units storing `f(e)` (`f` one of [`PostUnary`], `f32`) into
/// an output, and `f(e)` is used nowhere else in the kernel.
fn split_root(k: &mut Kernel) {
    if k.post.is_some() || k.units() < POST_MIN_UNITS {
        return;
    }
    let KernelKind::Map { stores } = &k.kind else {
        return;
    };
    let found = stores.iter().enumerate().find_map(|(s, &(param, v))| {
        let inst = &k.insts[v.index()];
        let op = match &inst.op {
            Op::Unary(UnaryOp::Tanh, e) => (PostUnary::Tanh, *e),
            Op::Unary(UnaryOp::Exp, e) => (PostUnary::Exp, *e),
            _ => return None,
        };
        let f32s = inst.dtype == DType::F32 && k.insts[op.1.index()].dtype == DType::F32;
        (f32s && uses(k, v) == 1).then_some((s, param, op))
    });
    let Some((s, param, (op, e))) = found else {
        return;
    };
    let KernelKind::Map { stores } = &mut k.kind else {
        unreachable!()
    };
    let root = stores[s].1;
    stores[s].1 = e;
    // The root is usually the last instruction; drop it then (else codegen's dead-code
    // elimination does).
    if root.index() + 1 == k.insts.len() {
        k.insts.pop();
    }
    k.post = Some(PostOp { param, op });
}

/// How often `v` is used in `k`: as an operand, in an index, or stored (an index term
/// read by an instruction counts twice; only "once or more than once" matters here).
fn uses(k: &Kernel, v: ValId) -> usize {
    let in_ops: usize = (0..k.insts.len())
        .map(|i| {
            crate::codegen::lazy::operands(k, ValId(i as u32))
                .iter()
                .filter(|&&o| o == v)
                .count()
        })
        .sum();
    let in_indices = k
        .indices
        .iter()
        .flat_map(|ix| &ix.dynamic)
        .filter(|d: &&DynTerm| d.value == v)
        .count();
    let in_stores = match &k.kind {
        KernelKind::Map { stores } => stores.iter().filter(|s| s.1 == v).count(),
        _ => 0,
    };
    in_ops + in_indices + in_stores
}

impl PostOp {
    /// Applies the function in place to elements `start..end` of the kernel's output.
    ///
    /// # Safety
    /// `args` holds the kernel's parameter buffers in order; parameter `self.param` is an
    /// `f32` buffer of at least `end` elements that no other thread touches in
    /// `start..end` during the call.
    pub(crate) unsafe fn apply(self, args: &[*mut u8], start: usize, end: usize) {
        if start >= end {
            return;
        }
        // SAFETY: forwarded from the caller.
        let xs = unsafe {
            std::slice::from_raw_parts_mut(args[self.param].cast::<f32>().add(start), end - start)
        };
        match self.op {
            PostUnary::Tanh => rlp_runtime::wide::tanh_f32_slice(xs),
            PostUnary::Exp => rlp_runtime::wide::exp_f32_slice(xs),
        }
    }
}
