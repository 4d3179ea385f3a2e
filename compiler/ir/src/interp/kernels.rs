//! One array function per op: plain ndarray code, written to be obviously right.
//!
//! Kernels accept arguments in any memory layout and read them in logical (row-major)
//! order; the graph walker normalises every result to standard layout.

use ndarray::{ArrayD, ArrayViewD, Axis, Dimension, IxDyn, Slice, Zip};
use rlp_runtime::{DType, Tensor, rng};

use super::scalar::{self, Elem, Num, Real};
use crate::graph::{BinaryOp, Distribution, Op, ReduceOp, TensorType, UnaryOp};

/// Runs `$body` with `$T` bound to the element type of `$dtype`.
macro_rules! with_dtype {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $T = f32;
                $body
            }
            DType::F64 => {
                type $T = f64;
                $body
            }
            DType::I32 => {
                type $T = i32;
                $body
            }
            DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// Like [`with_dtype`] for the ordered types; bool is rejected by the verifier.
macro_rules! with_num {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $T = f32;
                $body
            }
            DType::F64 => {
                type $T = f64;
                $body
            }
            DType::I32 => {
                type $T = i32;
                $body
            }
            DType::Bool => unreachable!("bool is not an ordered type (rejected by the verifier)"),
        }
    };
}

/// Like [`with_dtype`] for the float types.
macro_rules! with_real {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $T = f32;
                $body
            }
            DType::F64 => {
                type $T = f64;
                $body
            }
            other => unreachable!("{other} is not a float (rejected by the verifier)"),
        }
    };
}

/// The result of `op` (any op but `Input`, `Scan` and `Project`, which the graph walker
/// evaluates) on `args`, for a node of type `ty`. An `Err` is a runtime check that
/// failed (an index out of range, an integer division by zero).
pub(crate) fn apply(op: &Op, ty: &TensorType, args: &[&Tensor]) -> Result<Tensor, String> {
    let out = match op {
        Op::Input(_) | Op::Scan(_) | Op::Project(_) => {
            unreachable!("{} is evaluated by the graph walker", op.name())
        }
        Op::Const(v) => Tensor::full(ty.dtype, &[], *v),
        Op::Literal(values) => Tensor::from_f64(ty.dtype, &ty.shape, values),
        Op::Unary(u) => unary(*u, args[0]),
        Op::Binary(b) => binary(*b, args[0], args[1])?,
        Op::Select => {
            with_dtype!(ty.dtype, T => T::wrap(select(args[0], T::peek(args[1]), T::peek(args[2]))))
        }
        Op::Cast => args[0].cast(ty.dtype),
        Op::Broadcast => {
            with_dtype!(ty.dtype, T => T::wrap(broadcast(T::peek(args[0]), &ty.shape)))
        }
        Op::Reshape => with_dtype!(ty.dtype, T => T::wrap(reshape(T::peek(args[0]), &ty.shape))),
        Op::Transpose(perm) => {
            with_dtype!(ty.dtype, T => T::wrap(transpose(T::peek(args[0]), perm)))
        }
        Op::Reduce { op, axes } => {
            with_num!(ty.dtype, T => T::wrap(reduce(T::peek(args[0]), *op, axes)))
        }
        Op::ArgMax { axis } => {
            with_num!(args[0].dtype(), T => Tensor::I32(argmax(T::peek(args[0]), *axis)))
        }
        Op::MatMul => {
            with_real!(ty.dtype, T => T::wrap(matmul(T::peek(args[0]), T::peek(args[1]))))
        }
        Op::Slice { axis, start, end } => {
            with_dtype!(ty.dtype, T => T::wrap(T::peek(args[0]).slice_axis(Axis(*axis), Slice::from(*start..*end)).to_owned()))
        }
        Op::Pad { axis, before, .. } => {
            with_dtype!(ty.dtype, T => T::wrap(pad(T::peek(args[0]), &ty.shape, *axis, *before)))
        }
        Op::Concat { axis } => with_dtype!(ty.dtype, T => T::wrap(concat(args, *axis))),
        Op::Gather => {
            with_dtype!(ty.dtype, T => T::wrap(gather(T::peek(args[0]), i32::peek(args[1]))?))
        }
        Op::TakeRows => {
            with_dtype!(ty.dtype, T => T::wrap(take_rows(T::peek(args[0]), i32::peek(args[1]))?))
        }
        Op::PutRows { accumulate: false } => with_dtype!(ty.dtype, T => T::wrap(put_rows(
            T::peek(args[0]),
            i32::peek(args[1]),
            T::peek(args[2]),
            |_, r| r
        )?)),
        Op::PutRows { accumulate: true } => with_num!(ty.dtype, T => T::wrap(put_rows(
            T::peek(args[0]),
            i32::peek(args[1]),
            T::peek(args[2]),
            |x: T, r: T| x.plus(r)
        )?)),
        Op::CumSum { reverse } => {
            with_num!(ty.dtype, T => T::wrap(cumsum(T::peek(args[0]), *reverse)))
        }
        Op::TopK { k } => {
            with_num!(args[0].dtype(), T => Tensor::I32(top_k(T::peek(args[0]), *k)))
        }
        Op::SearchSorted => with_num!(args[0].dtype(), T => Tensor::I32(search_sorted(
            T::peek(args[0]),
            T::peek(args[1])
        ))),
        Op::OneHot { depth } => {
            with_num!(ty.dtype, T => T::wrap(one_hot::<T>(i32::peek(args[0]), *depth)))
        }
        Op::DynIndex => {
            let t = int_scalar(args[1]);
            let len = args[0].shape()[0];
            if t < 0 || t as usize >= len {
                return Err(format!("index {t} is out of range 0..{len}"));
            }
            index_axis0(args[0], t as usize)
        }
        Op::Iota { axis } => Tensor::I32(ArrayD::from_shape_fn(IxDyn(&ty.shape), |ix| {
            ix[*axis] as i32
        })),
        Op::Random { dist, seed, stream } => random(
            ty,
            *dist,
            *seed,
            *stream,
            int_scalar(args[0]),
            int_scalar(args[1]),
        ),
        Op::StopGradient => args[0].clone(),
    };
    Ok(out)
}

/// The value of an i32 scalar tensor.
fn int_scalar(t: &Tensor) -> i32 {
    *i32::peek(t).first().expect("an i32 scalar")
}

/// `x[t]` along axis 0.
pub(crate) fn index_axis0(x: &Tensor, t: usize) -> Tensor {
    with_dtype!(x.dtype(), T => T::wrap(T::peek(x).index_axis(Axis(0), t).to_owned()))
}

/// `f` applied pairwise to same-shape arrays.
fn zip<A: Copy, B: Copy, C>(x: &ArrayD<A>, y: &ArrayD<B>, f: impl Fn(A, B) -> C) -> ArrayD<C> {
    Zip::from(x).and(y).map_collect(|&a, &b| f(a, b))
}

fn unary(op: UnaryOp, x: &Tensor) -> Tensor {
    match x {
        Tensor::F32(a) => Tensor::F32(a.mapv(scalar::real_unary(op))),
        Tensor::F64(a) => Tensor::F64(a.mapv(scalar::real_unary(op))),
        Tensor::I32(a) => Tensor::I32(a.mapv(scalar::int_unary(op))),
        Tensor::Bool(a) => Tensor::Bool(a.mapv(|v| !v)),
    }
}

fn binary(op: BinaryOp, x: &Tensor, y: &Tensor) -> Result<Tensor, String> {
    if op.is_comparison() {
        return Ok(Tensor::Bool(with_dtype!(x.dtype(), T => {
            let f = scalar::compare::<T>(op);
            Zip::from(T::peek(x)).and(T::peek(y)).map_collect(f)
        })));
    }
    Ok(match (x, y) {
        (Tensor::F32(a), Tensor::F32(b)) => Tensor::F32(zip(a, b, scalar::real_arith(op))),
        (Tensor::F64(a), Tensor::F64(b)) => Tensor::F64(zip(a, b, scalar::real_arith(op))),
        (Tensor::I32(a), Tensor::I32(b)) => {
            if matches!(op, BinaryOp::Div | BinaryOp::Rem)
                && let Some((ix, _)) = b.indexed_iter().find(|(_, v)| **v == 0)
            {
                return Err(format!(
                    "integer division by zero at position {:?}",
                    ix.slice()
                ));
            }
            Tensor::I32(zip(a, b, scalar::int_arith(op)))
        }
        (Tensor::Bool(a), Tensor::Bool(b)) => Tensor::Bool(zip(a, b, scalar::logical(op))),
        _ => unreachable!("binary operands of different dtypes (rejected by the verifier)"),
    })
}

fn select<T: Elem>(cond: &Tensor, a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    Zip::from(bool::peek(cond))
        .and(a)
        .and(b)
        .map_collect(|&c, x, y| if c { x.clone() } else { y.clone() })
}

/// A copy of `v` in standard layout.
fn standard<T: Clone>(v: ArrayViewD<'_, T>) -> ArrayD<T> {
    v.as_standard_layout().into_owned()
}

fn broadcast<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    standard(
        a.broadcast(IxDyn(shape))
            .expect("broadcastable (checked by the verifier)"),
    )
}

fn reshape<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), a.iter().cloned().collect())
        .expect("same element count (checked by the verifier)")
}

fn transpose<T: Clone>(a: &ArrayD<T>, perm: &[usize]) -> ArrayD<T> {
    standard(a.view().permuted_axes(IxDyn(perm)))
}

/// The elements of `a` grouped by the positions of the `kept` axes: row `i` of the
/// result holds, in row-major order over the other axes, the elements at the `i`-th
/// (row-major) position of the kept axes.
fn rows<T: Copy>(a: &ArrayD<T>, kept: &[usize]) -> (Vec<T>, usize) {
    let rest = (0..a.ndim()).filter(|d| !kept.contains(d));
    let perm: Vec<usize> = kept.iter().copied().chain(rest).collect();
    let row_len = perm[kept.len()..].iter().map(|&d| a.shape()[d]).product();
    (
        a.view()
            .permuted_axes(IxDyn(&perm))
            .iter()
            .copied()
            .collect(),
        row_len,
    )
}

/// Reduces over `axes`. Each output element folds its inputs in row-major order over
/// the reduced axes, starting from the identity (0 for sum — so the sum of `[-0.0]` is
/// `+0.0` — -inf for max, +inf for min), one rounding per step: `((0 + x0) + x1) + …`.
fn reduce<T: Num>(a: &ArrayD<T>, op: ReduceOp, axes: &[usize]) -> ArrayD<T> {
    let kept: Vec<usize> = (0..a.ndim()).filter(|d| !axes.contains(d)).collect();
    let shape: Vec<usize> = kept.iter().map(|&d| a.shape()[d]).collect();
    let (init, step): (T, fn(T, T) -> T) = match op {
        ReduceOp::Sum => (T::ZERO, T::plus),
        ReduceOp::Max => (T::LOWEST, scalar::max),
        ReduceOp::Min => (T::HIGHEST, scalar::min),
    };
    let (flat, n) = rows(a, &kept);
    let out_len = shape.iter().product::<usize>();
    let out = (0..out_len).map(|i| {
        flat[i * n..(i + 1) * n]
            .iter()
            .fold(init, |acc, &x| step(acc, x))
    });
    ArrayD::from_shape_vec(IxDyn(&shape), out.collect()).expect("reduced shape")
}

/// The index of the first maximum along `axis`; a NaN counts as larger than anything,
/// so the first NaN wins (as in numpy).
fn argmax<T: Num>(a: &ArrayD<T>, axis: usize) -> ArrayD<i32> {
    let kept: Vec<usize> = (0..a.ndim()).filter(|&d| d != axis).collect();
    let shape: Vec<usize> = kept.iter().map(|&d| a.shape()[d]).collect();
    let (flat, n) = rows(a, &kept);
    let out_len = shape.iter().product::<usize>();
    let first_max = |row: &[T]| {
        let mut best = 0;
        for (i, &x) in row.iter().enumerate().skip(1) {
            if !row[best].is_nan() && (x.is_nan() || x > row[best]) {
                best = i;
            }
        }
        best as i32
    };
    let out = (0..out_len).map(|i| first_max(&flat[i * n..(i + 1) * n]));
    ArrayD::from_shape_vec(IxDyn(&shape), out.collect()).expect("argmax shape")
}

/// `[M, K] @ [K, N]` through the `gemm` crate — the library a JIT calls too, so both
/// round alike. gemm's accumulation order is its own (blocked over K, with fused
/// multiply-adds where the CPU has them), so matmul results are *not* the naive
/// left-to-right sum; tests compare them with a tolerance.
/// A batched product `[B, M, K] @ [B, K, N]` is `B` such products, one per leading index.
fn matmul<T: Real>(a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    if a.ndim() == 3 {
        let mut shape = a.shape()[..2].to_vec();
        shape.push(b.shape()[2]);
        let mut out = Vec::with_capacity(shape.iter().product());
        for i in 0..a.shape()[0] {
            let ai = a.index_axis(Axis(0), i).to_owned();
            let bi = b.index_axis(Axis(0), i).to_owned();
            out.extend(matmul(&ai, &bi).iter().copied());
        }
        return ArrayD::from_shape_vec(IxDyn(&shape), out).expect("batched matmul shape");
    }
    let (m, k, n) = (a.shape()[0], a.shape()[1], b.shape()[1]);
    let a = a.as_standard_layout();
    let b = b.as_standard_layout();
    let mut out = vec![T::ZERO; m * n];
    if m > 0 && n > 0 && k > 0 {
        // SAFETY: `a` is m×k, `b` k×n and `out` m×n, all contiguous row-major (column
        // stride 1, row stride = columns), so every access gemm makes is in bounds; with
        // `read_dst` false it writes `out = 1·(a·b)` without reading it.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                T::ZERO,
                T::ONE,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[m, n]), out).expect("matmul shape")
}

fn pad<T: Clone + Default>(
    a: &ArrayD<T>,
    shape: &[usize],
    axis: usize,
    before: usize,
) -> ArrayD<T> {
    let mut out = ArrayD::from_elem(IxDyn(shape), T::default());
    let len = a.shape()[axis];
    out.slice_axis_mut(Axis(axis), Slice::from(before..before + len))
        .assign(a);
    out
}

fn concat<T: Elem>(args: &[&Tensor], axis: usize) -> ArrayD<T> {
    let views: Vec<ArrayViewD<'_, T>> = args.iter().map(|t| T::peek(t).view()).collect();
    ndarray::concatenate(Axis(axis), &views).expect("concatenable (checked by the verifier)")
}

/// `out[s] = x[s, idx[s]]`; an index outside `0..K` is an error naming it and where.
fn gather<T: Clone>(x: &ArrayD<T>, idx: &ArrayD<i32>) -> Result<ArrayD<T>, String> {
    let k = x.shape()[x.ndim() - 1];
    let x = x.as_standard_layout();
    let flat = x.as_slice().expect("standard layout");
    let mut out = Vec::with_capacity(idx.len());
    for (s, (pos, &i)) in idx.indexed_iter().enumerate() {
        if i < 0 || i as usize >= k {
            return Err(format!(
                "index {i} at position {:?} is out of range 0..{k}",
                pos.slice()
            ));
        }
        out.push(flat[s * k + i as usize].clone());
    }
    Ok(ArrayD::from_shape_vec(idx.raw_dim(), out).expect("gather shape"))
}

/// The row-major elements of `x` and the number of elements per row of its first axis.
fn rows_of<T: Clone>(x: &ArrayD<T>) -> (Vec<T>, usize) {
    let per = x.shape()[1..].iter().product();
    (x.iter().cloned().collect(), per)
}

/// `idx` checked against `0..rows`, as `usize`s.
fn row_indices(idx: &ArrayD<i32>, rows: usize) -> Result<Vec<usize>, String> {
    idx.iter()
        .enumerate()
        .map(|(m, &i)| {
            if i < 0 || i as usize >= rows {
                Err(format!(
                    "row index {i} at position {m} is out of range 0..{rows}"
                ))
            } else {
                Ok(i as usize)
            }
        })
        .collect()
}

fn take_rows<T: Clone>(x: &ArrayD<T>, idx: &ArrayD<i32>) -> Result<ArrayD<T>, String> {
    let (flat, per) = rows_of(x);
    let mut out = Vec::with_capacity(idx.len() * per);
    for i in row_indices(idx, x.shape()[0])? {
        out.extend_from_slice(&flat[i * per..(i + 1) * per]);
    }
    let mut shape = x.shape().to_vec();
    shape[0] = idx.len();
    Ok(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("take_rows shape"))
}

/// `x` with row `idx[m]` set to `combine(old, rows[m])`, for `m` in order.
fn put_rows<T: Clone>(
    x: &ArrayD<T>,
    idx: &ArrayD<i32>,
    rows: &ArrayD<T>,
    combine: impl Fn(T, T) -> T,
) -> Result<ArrayD<T>, String> {
    let (mut flat, per) = rows_of(x);
    let (new, _) = rows_of(rows);
    for (m, i) in row_indices(idx, x.shape()[0])?.into_iter().enumerate() {
        for k in 0..per {
            flat[i * per + k] = combine(flat[i * per + k].clone(), new[m * per + k].clone());
        }
    }
    Ok(ArrayD::from_shape_vec(x.raw_dim(), flat).expect("put_rows shape"))
}

/// Running sums along the last axis, one addition per element in order.
fn cumsum<T: Num>(x: &ArrayD<T>, reverse: bool) -> ArrayD<T> {
    let mut out = x.as_standard_layout().into_owned();
    let k = x.shape()[x.ndim() - 1];
    let flat = out.as_slice_mut().expect("standard layout");
    if k > 0 {
        for row in flat.chunks_mut(k) {
            let mut acc: Option<T> = None;
            let mut add = |v: &mut T| {
                let s = acc.map_or(*v, |a| a.plus(*v));
                *v = s;
                acc = Some(s);
            };
            if reverse {
                row.iter_mut().rev().for_each(&mut add);
            } else {
                row.iter_mut().for_each(&mut add);
            }
        }
    }
    out
}

/// For each value, the number of elements of its row of `sorted` that are `<= v`.
fn search_sorted<T: Num>(sorted: &ArrayD<T>, v: &ArrayD<T>) -> ArrayD<i32> {
    let k = sorted.shape()[sorted.ndim() - 1];
    let q = v.shape()[v.ndim() - 1];
    let s = sorted.as_standard_layout();
    let s = s.as_slice().expect("standard layout");
    let out: Vec<i32> = v
        .iter()
        .enumerate()
        .map(|(j, &x)| {
            let row = &s[(j / q.max(1)) * k..(j / q.max(1) + 1) * k];
            rlp_runtime::order::count_le(row, x) as i32
        })
        .collect();
    ArrayD::from_shape_vec(v.raw_dim(), out).expect("search_sorted shape")
}

/// Each row's `k` largest positions, by the shared definition in `rlp_runtime::order`.
fn top_k<T: Num + rlp_runtime::order::Ranked>(x: &ArrayD<T>, k: usize) -> ArrayD<i32> {
    let len = x.shape()[x.ndim() - 1];
    let rows = x.len().checked_div(len).unwrap_or(0);
    let mut shape = x.shape().to_vec();
    *shape.last_mut().expect("rank checked") = k;
    let x = x.as_standard_layout();
    let mut out = vec![0i32; rows * k];
    rlp_runtime::order::top_k_rows(x.as_slice().expect("standard layout"), len, k, &mut out);
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("top_k shape")
}

/// 1 where the last index equals `idx`, else 0; an out-of-range index gives a zero row.
fn one_hot<T: Num>(idx: &ArrayD<i32>, depth: usize) -> ArrayD<T> {
    let mut shape = idx.shape().to_vec();
    shape.push(depth);
    let mut out = vec![T::ZERO; idx.len() * depth];
    for (s, &i) in idx.iter().enumerate() {
        if i >= 0 && (i as usize) < depth {
            out[s * depth + i as usize] = T::ONE;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("one-hot shape")
}

/// Element `i` (row-major) is draw `i` of `(seed, stream, c0, c1)`, rounded to the dtype.
fn random(ty: &TensorType, dist: Distribution, seed: u64, stream: u32, c0: i32, c1: i32) -> Tensor {
    let draw = match dist {
        Distribution::Uniform => rng::uniform,
        Distribution::Normal => rng::normal,
    };
    let values: Vec<f64> = (0..ty.numel() as u64)
        .map(|i| draw(seed, stream, c0, c1, i))
        .collect();
    Tensor::from_f64(ty.dtype, &ty.shape, &values)
}
