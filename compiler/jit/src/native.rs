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
use rlp_runtime::order::top_k_rows;

/// Runs a matrix product: `out = lhs @ rhs`.
///
/// # Safety
/// `ptrs` must hold valid buffers for the step's operands (with the sizes the schedule
/// declares) and a writable, non-overlapping output.
pub unsafe fn matmul(step: &MatMul, ptrs: &[*mut u8]) {
    let par = parallelism(step.m, step.n, step.k);
    // A batched product runs its products one after another.
    for b in 0..step.batch {
        // SAFETY: forwarded from the caller.
        unsafe { product_rows(step, ptrs, b, 0, step.m, par) }
    }
}

/// Rows `r0..r1` of product `b` of a (possibly batched) matrix product (`gemm` computes
/// each row the same way whatever block of rows it is called on, for blocks of more
/// than one row; see [`crate::kernel::EPILOGUE_ROWS`]).
///
/// # Safety
/// As [`matmul`]; `b < step.batch` and `r0 <= r1 <= step.m`.
pub unsafe fn product_rows(
    step: &MatMul,
    ptrs: &[*mut u8],
    b: usize,
    r0: usize,
    r1: usize,
    par: gemm::Parallelism,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match step.dtype {
            DType::F32 => gemm_typed::<f32>(step, ptrs, b, r0, r1, par, 0.0, 1.0),
            DType::F64 => gemm_typed::<f64>(step, ptrs, b, r0, r1, par, 0.0, 1.0),
            DType::I32 | DType::Bool => unreachable!("type rules allow only float matmul"),
        }
    }
}

#[allow(clippy::too_many_arguments)]
unsafe fn gemm_typed<T: Copy + 'static>(
    step: &MatMul,
    ptrs: &[*mut u8],
    b: usize,
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
    // SAFETY: `out` holds batch·m·n elements, b < batch and r1 <= step.m.
    let dst = unsafe { ptrs[out.index()].cast::<T>().add((b * step.m + r0) * n) };
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
            .add(lhs.offset + b * lhs.bs)
            .offset(r0 as isize * lhs.rs);
        let rp = ptrs[rhs.buf.index()]
            .cast::<T>()
            .add(rhs.offset + b * rhs.bs);
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
pub unsafe fn run(step: &Native, ptrs: &[*mut u8], out_dtype: DType) -> Result<(), String> {
    let elem = out_dtype.size_bytes();
    // SAFETY: each copy stays within rows whose sizes the schedule derived from the
    // operands' shapes.
    unsafe {
        match step {
            &Native::Transpose {
                src,
                offset,
                out,
                rows,
                cols,
            } => {
                let (s, d) = (ptrs[src.index()], ptrs[out.index()]);
                match elem {
                    4 => {
                        transpose_4_bytes(s.cast::<u32>().add(offset), d.cast::<u32>(), rows, cols)
                    }
                    8 => transpose(s.cast::<u64>().add(offset), d.cast::<u64>(), rows, cols),
                    1 => transpose(s.add(offset), d, rows, cols),
                    _ => unreachable!("elements are 1, 4 or 8 bytes"),
                }
            }
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
            Native::PutRows {
                x,
                idx,
                src,
                out,
                rows,
                per,
                idx_len,
                accumulate,
                node,
            } => {
                let idx = std::slice::from_raw_parts(ptrs[idx.index()].cast::<i32>(), *idx_len);
                let name = if *accumulate { "add_rows" } else { "put_rows" };
                // Check every index before writing anything.
                for (m, &i) in idx.iter().enumerate() {
                    row_index(i, m, *rows, *node, name)?;
                }
                let (x, src, dst) = (ptrs[x.index()], ptrs[src.index()], ptrs[out.index()]);
                if x != dst {
                    std::ptr::copy_nonoverlapping(x, dst, rows * per * elem);
                }
                for (m, &i) in idx.iter().enumerate() {
                    let (to, from) = (i as usize * per, m * per);
                    if !*accumulate {
                        std::ptr::copy_nonoverlapping(
                            src.add(from * elem),
                            dst.add(to * elem),
                            per * elem,
                        );
                        continue;
                    }
                    match out_dtype {
                        DType::F32 => add_row::<f32>(dst, src, to, from, *per, |a, b| a + b),
                        DType::F64 => add_row::<f64>(dst, src, to, from, *per, |a, b| a + b),
                        DType::I32 => add_row::<i32>(dst, src, to, from, *per, i32::wrapping_add),
                        DType::Bool => unreachable!("the type rules reject add_rows of bools"),
                    }
                }
            }
            Native::CumSum {
                x,
                out,
                outer,
                len,
                reverse,
            } => {
                let (x, dst) = (ptrs[x.index()], ptrs[out.index()]);
                let n = outer * len;
                match out_dtype {
                    DType::F32 => running_sums::<f32>(x, dst, n, *len, *reverse, |a, b| a + b),
                    DType::F64 => running_sums::<f64>(x, dst, n, *len, *reverse, |a, b| a + b),
                    DType::I32 => running_sums::<i32>(x, dst, n, *len, *reverse, i32::wrapping_add),
                    DType::Bool => unreachable!("the type rules reject cumsum of bools"),
                }
            }
            &Native::TopK {
                x,
                out,
                rows,
                len,
                k,
                dtype,
            } => {
                let dst = std::slice::from_raw_parts_mut(ptrs[out.index()].cast::<i32>(), rows * k);
                let x = ptrs[x.index()].cast_const();
                match dtype {
                    DType::F32 => top_k_rows(
                        std::slice::from_raw_parts(x.cast::<f32>(), rows * len),
                        len,
                        k,
                        dst,
                    ),
                    DType::F64 => top_k_rows(
                        std::slice::from_raw_parts(x.cast::<f64>(), rows * len),
                        len,
                        k,
                        dst,
                    ),
                    DType::I32 => top_k_rows(
                        std::slice::from_raw_parts(x.cast::<i32>(), rows * len),
                        len,
                        k,
                        dst,
                    ),
                    DType::Bool => unreachable!("the type rules reject top_k of bools"),
                }
            }
            Native::SearchSorted {
                sorted,
                v,
                out,
                outer,
                len,
                queries,
                dtype,
            } => {
                let (s, v) = (
                    ptrs[sorted.index()].cast_const(),
                    ptrs[v.index()].cast_const(),
                );
                let dst = ptrs[out.index()].cast::<i32>();
                let (outer, len, queries) = (*outer, *len, *queries);
                match dtype {
                    DType::F32 => bisect::<f32>(s, v, dst, outer, len, queries),
                    DType::F64 => bisect::<f64>(s, v, dst, outer, len, queries),
                    DType::I32 => bisect::<i32>(s, v, dst, outer, len, queries),
                    DType::Bool => unreachable!("the type rules reject search_sorted of bools"),
                }
            }
        }
    }
    Ok(())
}

/// Index `i` (position `m`) checked against `0..rows`, as the interpreter words the error.
fn row_index(
    i: i32,
    m: usize,
    rows: usize,
    node: rlp_ir::NodeId,
    op: &str,
) -> Result<usize, String> {
    if i < 0 || i as usize >= rows {
        return Err(format!(
            "{node} ({op}): row index {i} at position {m} is out of range 0..{rows}"
        ));
    }
    Ok(i as usize)
}

/// `dst[to..to+per] = add(dst[..], src[from..from+per])`, elementwise.
///
/// # Safety
/// Both ranges lie inside their buffers of `T`s.
unsafe fn add_row<T: Copy>(
    dst: *mut u8,
    src: *mut u8,
    to: usize,
    from: usize,
    per: usize,
    add: impl Fn(T, T) -> T,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        let (d, s) = (dst.cast::<T>().add(to), src.cast::<T>().add(from));
        for k in 0..per {
            *d.add(k) = add(*d.add(k), *s.add(k));
        }
    }
}

/// Running sums of rows of `len` of the `n` elements at `x` into `dst`, one addition
/// per element in order (from the end when `reverse`), as the interpreter adds them.
///
/// # Safety
/// `x` and `dst` hold `n` `T`s each.
unsafe fn running_sums<T: Copy>(
    x: *mut u8,
    dst: *mut u8,
    n: usize,
    len: usize,
    reverse: bool,
    add: impl Fn(T, T) -> T,
) {
    if len == 0 {
        return;
    }
    // SAFETY: forwarded from the caller.
    let (x, d) = unsafe {
        (
            std::slice::from_raw_parts(x.cast::<T>(), n),
            std::slice::from_raw_parts_mut(dst.cast::<T>(), n),
        )
    };
    for (xs, ds) in x.chunks(len).zip(d.chunks_mut(len)) {
        let mut acc: Option<T> = None;
        let mut one = |(x, d): (&T, &mut T)| {
            let s = acc.map_or(*x, |a| add(a, *x));
            *d = s;
            acc = Some(s);
        };
        if reverse {
            xs.iter().rev().zip(ds.iter_mut().rev()).for_each(&mut one);
        } else {
            xs.iter().zip(ds.iter_mut()).for_each(&mut one);
        }
    }
}

/// `dst[s, q]` = the bisection position of `v[s, q]` in row `s` of `sorted`.
///
/// # Safety
/// `sorted` holds `outer·len` `T`s, `v` and `dst` `outer·queries` each.
unsafe fn bisect<T: Copy + PartialOrd>(
    sorted: *const u8,
    v: *const u8,
    dst: *mut i32,
    outer: usize,
    len: usize,
    queries: usize,
) {
    // SAFETY: forwarded from the caller.
    let (s, v, d) = unsafe {
        (
            std::slice::from_raw_parts(sorted.cast::<T>(), outer * len),
            std::slice::from_raw_parts(v.cast::<T>(), outer * queries),
            std::slice::from_raw_parts_mut(dst, outer * queries),
        )
    };
    for (j, (&x, out)) in v.iter().zip(d.iter_mut()).enumerate() {
        let row = &s[(j / queries) * len..(j / queries + 1) * len];
        *out = rlp_runtime::order::count_le(row, x) as i32;
    }
}

/// [`transpose`] for 4-byte elements: whole 4×4 blocks by SSE shuffles (four loads, eight
/// shuffles and four stores for sixteen elements), the ragged edges element by element.
///
/// Why: the backward products' `Xᵀ` and `Wᵀ` operands are transposed copies; copied one
/// strided element at a time they took ~5 % of a small PPO update (`[128, 64]` operands).
/// A copy moves bits, so the result is the same whichever way it is done.
///
/// # Safety
/// As [`transpose`].
unsafe fn transpose_4_bytes(src: *const u32, out: *mut u32, rows: usize, cols: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128, _mm_loadu_ps, _mm_movehl_ps, _mm_movelh_ps, _mm_storeu_ps, _mm_unpackhi_ps,
            _mm_unpacklo_ps,
        };
        const TILE: usize = 16;
        let (r4, c4) = (rows / 4 * 4, cols / 4 * 4);
        let (src_f, out_f) = (src.cast::<f32>(), out.cast::<f32>());
        for r0 in (0..r4).step_by(TILE) {
            for c0 in (0..c4).step_by(TILE) {
                for c in (c0..(c0 + TILE).min(c4)).step_by(4) {
                    for r in (r0..(r0 + TILE).min(r4)).step_by(4) {
                        // SAFETY: rows r..r+4 and columns c..c+4 lie inside both buffers
                        // (r + 4 <= rows, c + 4 <= cols). SSE2 is part of x86_64. The
                        // loads and stores are of f32 lanes but only move bits (no
                        // arithmetic), so NaN payloads and every other pattern survive.
                        unsafe {
                            let row = |i: usize| -> __m128 {
                                _mm_loadu_ps(src_f.add((r + i) * cols + c))
                            };
                            let (a, b, x, y) = (row(0), row(1), row(2), row(3));
                            let (ab_lo, ab_hi) = (_mm_unpacklo_ps(a, b), _mm_unpackhi_ps(a, b));
                            let (xy_lo, xy_hi) = (_mm_unpacklo_ps(x, y), _mm_unpackhi_ps(x, y));
                            let at = |j: usize| out_f.add((c + j) * rows + r);
                            _mm_storeu_ps(at(0), _mm_movelh_ps(ab_lo, xy_lo));
                            _mm_storeu_ps(at(1), _mm_movehl_ps(xy_lo, ab_lo));
                            _mm_storeu_ps(at(2), _mm_movelh_ps(ab_hi, xy_hi));
                            _mm_storeu_ps(at(3), _mm_movehl_ps(xy_hi, ab_hi));
                        }
                    }
                }
            }
        }
        // The columns past the last whole block (all rows), then the rows past it.
        for c in c4..cols {
            for r in 0..rows {
                // SAFETY: r < rows and c < cols.
                unsafe { *out.add(c * rows + r) = *src.add(r * cols + c) };
            }
        }
        for r in r4..rows {
            for c in 0..c4 {
                // SAFETY: r < rows and c < cols.
                unsafe { *out.add(c * rows + r) = *src.add(r * cols + c) };
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: forwarded from the caller.
    unsafe {
        transpose(src, out, rows, cols)
    }
}

/// `out[c·rows + r] = src[r·cols + c]` in 16×16 tiles, so both sides stay in cache.
///
/// # Safety
/// `src` holds `rows·cols` elements and `out` has room for as many; they do not overlap.
unsafe fn transpose<T: Copy>(src: *const T, out: *mut T, rows: usize, cols: usize) {
    const TILE: usize = 16;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for c in c0..(c0 + TILE).min(cols) {
                for r in r0..(r0 + TILE).min(rows) {
                    // SAFETY: r < rows and c < cols, inside both buffers.
                    unsafe { *out.add(c * rows + r) = *src.add(r * cols + c) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape around the 4×4 blocks and 16×16 tiles, against the plain loop, on
    /// bit patterns that include NaN payloads and negative zero.
    #[test]
    fn four_byte_transposes_match_the_plain_loop() {
        for rows in [1, 3, 4, 5, 8, 15, 16, 17, 33, 64, 128] {
            for cols in [1, 2, 4, 7, 12, 16, 19, 64] {
                let src: Vec<u32> = (0..rows * cols)
                    .map(|i| match i % 5 {
                        0 => 0x7fc0_0001 + i as u32, // NaN payloads
                        1 => 0x8000_0000,            // -0.0
                        _ => (i as u32).wrapping_mul(2_654_435_761),
                    })
                    .collect();
                let (mut fast, mut plain) = (vec![0u32; rows * cols], vec![0u32; rows * cols]);
                // SAFETY: both outputs hold rows·cols elements, the source as many.
                unsafe {
                    transpose_4_bytes(src.as_ptr(), fast.as_mut_ptr(), rows, cols);
                    transpose(src.as_ptr(), plain.as_mut_ptr(), rows, cols);
                }
                assert_eq!(fast, plain, "{rows} × {cols}");
                for r in 0..rows {
                    for c in 0..cols {
                        assert_eq!(fast[c * rows + r], src[r * cols + c], "{rows} × {cols}");
                    }
                }
            }
        }
    }
}
