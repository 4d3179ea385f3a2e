//! Steps run by plain Rust rather than generated code: GEMM and block data movement.
//!
//! Why: a matrix product is worth a tuned library (`gemm`: packing, register blocking,
//! SIMD) that a straightforward JIT loop would not approach; `Pad`, `Concat` and `OneHot`
//! are block copies and fills that `memcpy` already does well.
//!
//! Every function here takes the executor's buffer addresses; the schedule guarantees
//! their sizes (see [`crate::kernel`]).

use crate::kernel::{MatMul, Native};
use rlp_runtime::DType;

/// Runs a matrix product: `out = lhs @ rhs`.
///
/// # Safety
/// `ptrs` must hold valid buffers for the step's operands (with the sizes the schedule
/// declares) and a writable, non-overlapping output.
pub unsafe fn matmul(step: &MatMul, ptrs: &[*mut u8]) {
    let par = parallelism(step.m, step.n, step.k);
    // SAFETY: forwarded from the caller.
    unsafe { matmul_rows(step, ptrs, 0, step.m, par) }
}

/// Rows `r0..r1` of a matrix product (`gemm` computes each row the same way whatever
/// block of rows it is called on, for blocks of more than one row; see
/// [`crate::kernel::EPILOGUE_ROWS`]).
///
/// # Safety
/// As [`matmul`]; `r0 <= r1 <= step.m`.
pub unsafe fn matmul_rows(
    step: &MatMul,
    ptrs: &[*mut u8],
    r0: usize,
    r1: usize,
    par: gemm::Parallelism,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match step.dtype {
            DType::F32 => gemm_typed::<f32>(step, ptrs, r0, r1, par, 0.0, 1.0),
            DType::F64 => gemm_typed::<f64>(step, ptrs, r0, r1, par, 0.0, 1.0),
            DType::I32 | DType::Bool => unreachable!("type rules allow only float matmul"),
        }
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn gemm_typed<T: Copy + 'static>(
    step: &MatMul,
    ptrs: &[*mut u8],
    r0: usize,
    r1: usize,
    par: gemm::Parallelism,
    zero: T,
    one: T,
) {
    let MatMul {
        k,
        n,
        lhs,
        rhs,
        out,
        ..
    } = *step;
    let m = r1 - r0;
    // SAFETY: `out` holds step.m·n elements and r1 <= step.m.
    let dst = unsafe { ptrs[out.index()].cast::<T>().add(r0 * n) };
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: `dst` holds m·n elements.
        unsafe { std::slice::from_raw_parts_mut(dst, m * n).fill(zero) };
        return;
    }
    // SAFETY: offsets and strides were derived from the operands' views, which stay
    // inside their buffers (row r0 of lhs included); `gemm` computes
    // dst = alpha·dst + beta·lhs·rhs and ignores alpha when `read_dst` is false.
    unsafe {
        let lp = ptrs[lhs.buf.index()]
            .cast::<T>()
            .add(lhs.offset)
            .offset(r0 as isize * lhs.rs);
        let rp = ptrs[rhs.buf.index()].cast::<T>().add(rhs.offset);
        gemm::gemm(
            m, n, k, dst, 1, n as isize, false, lp, lhs.cs, lhs.rs, rp, rhs.cs, rhs.rs, zero, one,
            false, false, false, par,
        );
    }
}

/// Threads for a matmul: large products split their output blocks across the rayon
/// pool. Each output element still accumulates over `k` in the same blocked order, so
/// the result does not depend on the thread count (checked against the interpreter's
/// single-threaded product in the tests).
pub fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    if m.saturating_mul(n).saturating_mul(k) >= 1 << 22 && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    }
}

/// Runs a data-movement step whose output has `out_dtype`.
///
/// # Safety
/// As for [`matmul`]: the step's buffers must be valid with their declared sizes.
pub unsafe fn run(step: &Native, ptrs: &[*mut u8], out_dtype: DType) {
    let elem = out_dtype.size_bytes();
    // SAFETY: each copy stays within rows whose sizes the schedule derived from the
    // operands' shapes.
    unsafe {
        match step {
            Native::Pad {
                src,
                out,
                outer,
                inner,
                out_inner,
                before_elems,
            } => {
                let (s, d) = (ptrs[src.index()], ptrs[out.index()]);
                std::ptr::write_bytes(d, 0, outer * out_inner * elem);
                for o in 0..*outer {
                    let from = s.add(o * inner * elem);
                    let to = d.add((o * out_inner + before_elems) * elem);
                    std::ptr::copy_nonoverlapping(from, to, inner * elem);
                }
            }
            Native::Concat {
                srcs,
                out,
                outer,
                inner,
            } => {
                let d = ptrs[out.index()];
                let row: usize = inner.iter().sum();
                for o in 0..*outer {
                    let mut at = o * row;
                    for (src, &len) in srcs.iter().zip(inner) {
                        std::ptr::copy_nonoverlapping(
                            ptrs[src.index()].add(o * len * elem),
                            d.add(at * elem),
                            len * elem,
                        );
                        at += len;
                    }
                }
            }
            Native::OneHot {
                idx,
                out,
                rows,
                depth,
            } => {
                let (d, n_rows) = (ptrs[out.index()], *rows);
                std::ptr::write_bytes(d, 0, n_rows * depth * elem);
                let idx = std::slice::from_raw_parts(ptrs[idx.index()].cast::<i32>(), n_rows);
                for (r, &i) in idx.iter().enumerate() {
                    // An index outside 0..depth leaves a zero row (the IR's definition).
                    if i >= 0 && (i as usize) < *depth {
                        let at = r * depth + i as usize;
                        match out_dtype {
                            DType::F32 => *d.cast::<f32>().add(at) = 1.0,
                            DType::F64 => *d.cast::<f64>().add(at) = 1.0,
                            DType::I32 => *d.cast::<i32>().add(at) = 1,
                            DType::Bool => *d.add(at) = 1,
                        }
                    }
                }
            }
        }
    }
}
