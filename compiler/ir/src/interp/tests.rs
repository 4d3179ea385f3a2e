//! Each op on small inputs checked by hand, edge lengths 0 and 1, scans both ways, and
//! the runtime errors.

use super::*;
use crate::graph::{BinaryOp, Distribution, ReduceOp, TensorType, UnaryOp};
use rlp_runtime::{DType, rng};

fn ty(dtype: DType, shape: &[usize]) -> TensorType {
    TensorType::new(dtype, shape)
}

fn t(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
    Tensor::from_f64(dtype, shape, values)
}

/// A graph of the given inputs and one output built by `body` from the input nodes.
fn graph(inputs: &[TensorType], body: impl FnOnce(&mut Graph, &[NodeId]) -> NodeId) -> Graph {
    let mut g = Graph::new();
    let ins: Vec<NodeId> = inputs.iter().map(|ty| g.add_input(ty.clone())).collect();
    let out = body(&mut g, &ins);
    g.outputs.push(out);
    g
}

fn run1(g: &Graph, inputs: &[Tensor]) -> Tensor {
    run(g, inputs)
        .unwrap_or_else(|e| panic!("{e}\n{g}"))
        .remove(0)
}

/// `op` applied to one input of type `ty` holding `values`.
fn unary(op: UnaryOp, dtype: DType, values: &[f64]) -> Tensor {
    let shape = [values.len()];
    let g = graph(&[ty(dtype, &shape)], |g, x| g.unary(op, x[0]).unwrap());
    run1(&g, &[t(dtype, &shape, values)])
}

fn binary(op: BinaryOp, dtype: DType, a: &[f64], b: &[f64]) -> Result<Tensor, RunError> {
    let shape = [a.len()];
    let g = graph(&[ty(dtype, &shape), ty(dtype, &shape)], |g, x| {
        g.binary(op, x[0], x[1]).unwrap()
    });
    run(&g, &[t(dtype, &shape, a), t(dtype, &shape, b)]).map(|mut v| v.remove(0))
}

/// `op[attrs]` with a given result type applied to one input.
fn typed(op: Op, input: Tensor, out: TensorType) -> Result<Tensor, RunError> {
    let g = graph(&[ty(input.dtype(), input.shape())], |g, x| {
        g.add_checked(op, vec![x[0]], out).unwrap()
    });
    run(&g, &[input]).map(|mut v| v.remove(0))
}

/// An inferred-type op applied to one input.
fn inferred(op: Op, input: Tensor) -> Result<Tensor, RunError> {
    let g = graph(&[ty(input.dtype(), input.shape())], |g, x| {
        g.add(op, vec![x[0]]).unwrap()
    });
    run(&g, &[input]).map(|mut v| v.remove(0))
}

#[test]
fn constants_literals_and_stop() {
    let g = graph(&[ty(DType::F32, &[2])], |g, x| {
        let c = g.constant(DType::I32, -2.7);
        let c = g.broadcast(c, &[2]).unwrap();
        let c = g.cast(c, DType::F32).unwrap();
        let lit = g
            .add_checked(
                Op::Literal([0.5, 1e-8].into()),
                vec![],
                ty(DType::F32, &[2]),
            )
            .unwrap();
        let s = g.add(Op::StopGradient, vec![x[0]]).unwrap();
        let a = g.binary(BinaryOp::Add, c, lit).unwrap();
        g.binary(BinaryOp::Add, a, s).unwrap()
    });
    let got = run1(&g, &[t(DType::F32, &[2], &[10.0, 20.0])]);
    assert_eq!(
        got.to_f64_vec(),
        [
            (-2.0f32 + 0.5 + 10.0) as f64,
            (-2.0f32 + 1e-8 + 20.0) as f64
        ]
    );
}

#[test]
fn unary_ops_use_the_operand_type() {
    let xs = [0.3, -1.7, 2.5];
    let got = unary(UnaryOp::Exp, DType::F32, &xs);
    let want: Vec<f64> = xs
        .iter()
        .map(|&x| rlp_runtime::math::exp_f32(x as f32) as f64)
        .collect();
    assert_eq!(got.to_f64_vec(), want);
    type Reference = fn(f64) -> f64;
    let cases: [(UnaryOp, Reference); 7] = [
        (UnaryOp::Neg, |x| -x),
        (UnaryOp::Tanh, f64::tanh),
        (UnaryOp::Sin, rlp_runtime::math::sin_f64),
        (UnaryOp::Cos, rlp_runtime::math::cos_f64),
        (UnaryOp::Abs, f64::abs),
        (UnaryOp::Floor, f64::floor),
        (UnaryOp::Exp, f64::exp),
    ];
    for (op, f) in cases {
        assert_eq!(unary(op, DType::F64, &xs).to_f64_vec(), xs.map(f), "{op:?}");
    }
    assert_eq!(
        unary(UnaryOp::Log, DType::F64, &[1.0, 4.0]).to_f64_vec(),
        [0.0, 4f64.ln()]
    );
    assert_eq!(
        unary(UnaryOp::Sqrt, DType::F32, &[4.0, 2.0]).to_f64_vec(),
        [2.0, 2f32.sqrt() as f64]
    );
    assert_eq!(
        unary(UnaryOp::Sign, DType::F32, &[-2.0, 0.0, 3.0]).to_f64_vec(),
        [-1.0, 0.0, 1.0]
    );
    assert_eq!(
        unary(UnaryOp::Sign, DType::I32, &[-2.0, 0.0, 3.0]).to_f64_vec(),
        [-1.0, 0.0, 1.0]
    );
    assert_eq!(
        unary(UnaryOp::Abs, DType::I32, &[-2.0, 5.0]).to_f64_vec(),
        [2.0, 5.0]
    );
    assert_eq!(
        unary(UnaryOp::Not, DType::Bool, &[1.0, 0.0]).to_f64_vec(),
        [0.0, 1.0]
    );
    assert_eq!(unary(UnaryOp::Exp, DType::F32, &[]).len(), 0);
}

#[test]
fn binary_arithmetic() {
    let (a, b) = ([7.0, -7.0, 1.5], [2.0, 2.0, -0.5]);
    let f = |op| binary(op, DType::F64, &a, &b).unwrap().to_f64_vec();
    assert_eq!(f(BinaryOp::Add), [9.0, -5.0, 1.0]);
    assert_eq!(f(BinaryOp::Sub), [5.0, -9.0, 2.0]);
    assert_eq!(f(BinaryOp::Mul), [14.0, -14.0, -0.75]);
    assert_eq!(f(BinaryOp::Div), [3.5, -3.5, -3.0]);
    assert_eq!(f(BinaryOp::Rem), [1.0, 1.0, 0.0]);
    assert_eq!(f(BinaryOp::Pow), [49.0, 49.0, 1.5f64.powf(-0.5)]);
    assert_eq!(f(BinaryOp::Max), [7.0, 2.0, 1.5]);
    assert_eq!(f(BinaryOp::Min), [2.0, -7.0, -0.5]);
    assert_eq!(
        f(BinaryOp::Atan2),
        [7f64.atan2(2.0), (-7f64).atan2(2.0), 1.5f64.atan2(-0.5)]
    );
}

#[test]
fn f32_arithmetic_rounds_in_f32() {
    let (a, b) = (0.1f32, 0.2f32);
    let got = binary(BinaryOp::Mul, DType::F32, &[a as f64], &[b as f64]).unwrap();
    assert_eq!(got, Tensor::F32(ndarray::arr1(&[a * b]).into_dyn()));
    let pow = binary(
        BinaryOp::Pow,
        DType::F32,
        &[1.1f32 as f64],
        &[3.3f32 as f64],
    )
    .unwrap();
    assert_eq!(pow.to_f64_vec(), [1.1f32.powf(3.3) as f64]);
}

#[test]
fn integer_division_truncates_rem_floors_and_zero_is_an_error() {
    let i = |op, a: &[f64], b: &[f64]| binary(op, DType::I32, a, b);
    assert_eq!(
        i(BinaryOp::Div, &[7.0, -7.0], &[2.0, 2.0])
            .unwrap()
            .to_f64_vec(),
        [3.0, -3.0]
    );
    assert_eq!(
        i(BinaryOp::Rem, &[7.0, -7.0, 7.0], &[3.0, 3.0, -3.0])
            .unwrap()
            .to_f64_vec(),
        [1.0, 2.0, -2.0]
    );
    let e = i(BinaryOp::Div, &[1.0, 2.0], &[1.0, 0.0]).unwrap_err();
    assert_eq!(
        e.message,
        "%2 (div): integer division by zero at position [1]"
    );
}

#[test]
fn max_min_propagate_nan() {
    let got = binary(
        BinaryOp::Max,
        DType::F32,
        &[f64::NAN, 1.0, 3.0],
        &[1.0, f64::NAN, 2.0],
    )
    .unwrap()
    .to_f64_vec();
    assert!(got[0].is_nan() && got[1].is_nan() && got[2] == 3.0);
    let got = binary(
        BinaryOp::Min,
        DType::F64,
        &[f64::NAN, 1.0],
        &[1.0, f64::NAN],
    )
    .unwrap()
    .to_f64_vec();
    assert!(got[0].is_nan() && got[1].is_nan());
}

#[test]
fn comparisons_and_logic() {
    let (a, b) = ([1.0, 2.0, f64::NAN], [2.0, 2.0, f64::NAN]);
    let c = |op| binary(op, DType::F32, &a, &b).unwrap().to_f64_vec();
    assert_eq!(c(BinaryOp::Lt), [1.0, 0.0, 0.0]);
    assert_eq!(c(BinaryOp::Le), [1.0, 1.0, 0.0]);
    assert_eq!(c(BinaryOp::Gt), [0.0, 0.0, 0.0]);
    assert_eq!(c(BinaryOp::Ge), [0.0, 1.0, 0.0]);
    assert_eq!(c(BinaryOp::Eq), [0.0, 1.0, 0.0]);
    assert_eq!(c(BinaryOp::Ne), [1.0, 0.0, 1.0]);
    let (p, q) = ([1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]);
    let l = |op| binary(op, DType::Bool, &p, &q).unwrap().to_f64_vec();
    assert_eq!(l(BinaryOp::And), [1.0, 0.0, 0.0, 0.0]);
    assert_eq!(l(BinaryOp::Or), [1.0, 1.0, 1.0, 0.0]);
    assert_eq!(l(BinaryOp::Eq), [1.0, 0.0, 0.0, 1.0]);
}

#[test]
fn select_picks_without_arithmetic() {
    let g = graph(
        &[
            ty(DType::Bool, &[3]),
            ty(DType::F32, &[3]),
            ty(DType::F32, &[3]),
        ],
        |g, x| g.select(x[0], x[1], x[2]).unwrap(),
    );
    let got = run1(
        &g,
        &[
            t(DType::Bool, &[3], &[1.0, 0.0, 1.0]),
            t(DType::F32, &[3], &[1.0, 2.0, 3.0]),
            t(DType::F32, &[3], &[f64::NAN; 3]),
        ],
    );
    let v = got.to_f64_vec();
    assert_eq!((v[0], v[2]), (1.0, 3.0));
    assert!(v[1].is_nan());
}

#[test]
fn cast_truncates_and_tests_non_zero() {
    let x = t(DType::F32, &[4], &[-1.7, 2.9, 0.0, f64::NAN]);
    assert_eq!(
        typed(Op::Cast, x.clone(), ty(DType::I32, &[4]))
            .unwrap()
            .to_f64_vec(),
        [-1.0, 2.0, 0.0, 0.0]
    );
    assert_eq!(
        typed(Op::Cast, x.clone(), ty(DType::Bool, &[4]))
            .unwrap()
            .to_f64_vec(),
        [1.0, 1.0, 0.0, 1.0]
    );
    let b = t(DType::Bool, &[2], &[1.0, 0.0]);
    assert_eq!(
        typed(Op::Cast, b, ty(DType::F64, &[2]))
            .unwrap()
            .to_f64_vec(),
        [1.0, 0.0]
    );
}

#[test]
fn broadcast_rank_zero_trailing_and_middle_dims() {
    let s = t(DType::F32, &[], &[5.0]);
    assert_eq!(
        typed(Op::Broadcast, s, ty(DType::F32, &[2, 2]))
            .unwrap()
            .to_f64_vec(),
        [5.0; 4]
    );
    let row = t(DType::I32, &[3], &[1.0, 2.0, 3.0]);
    assert_eq!(
        typed(Op::Broadcast, row, ty(DType::I32, &[2, 3]))
            .unwrap()
            .to_f64_vec(),
        [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    );
    let mid = t(DType::F64, &[2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let got = typed(Op::Broadcast, mid, ty(DType::F64, &[2, 3, 2])).unwrap();
    assert_eq!(got.shape(), [2, 3, 2]);
    assert_eq!(
        got.to_f64_vec(),
        [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 3.0, 4.0]
    );
    let empty = t(DType::F32, &[1, 2], &[1.0, 2.0]);
    assert_eq!(
        typed(Op::Broadcast, empty, ty(DType::F32, &[0, 2]))
            .unwrap()
            .shape(),
        [0, 2]
    );
}

#[test]
fn reshape_and_transpose() {
    let x = t(DType::F32, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let r = typed(Op::Reshape, x.clone(), ty(DType::F32, &[3, 2])).unwrap();
    assert_eq!(
        (r.shape(), r.to_f64_vec()),
        (&[3usize, 2][..], x.to_f64_vec())
    );
    let tr = inferred(Op::Transpose(vec![1, 0]), x).unwrap();
    assert_eq!(tr.shape(), [3, 2]);
    assert_eq!(tr.to_f64_vec(), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    let y = t(DType::I32, &[2, 1, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let tr = inferred(Op::Transpose(vec![2, 0, 1]), y).unwrap();
    assert_eq!(tr.shape(), [3, 2, 1]);
    assert_eq!(tr.to_f64_vec(), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
}

#[test]
fn reductions() {
    let x = t(DType::F32, &[2, 3], &[1.0, 5.0, 3.0, -4.0, 2.0, 6.0]);
    let r = |op, axes: &[usize]| {
        inferred(
            Op::Reduce {
                op,
                axes: axes.to_vec(),
            },
            x.clone(),
        )
        .unwrap()
    };
    assert_eq!(r(ReduceOp::Sum, &[1]).to_f64_vec(), [9.0, 4.0]);
    assert_eq!(r(ReduceOp::Sum, &[0]).to_f64_vec(), [-3.0, 7.0, 9.0]);
    assert_eq!(r(ReduceOp::Sum, &[0, 1]).to_f64_vec(), [13.0]);
    assert_eq!(r(ReduceOp::Sum, &[0, 1]).shape(), [] as [usize; 0]);
    assert_eq!(r(ReduceOp::Sum, &[]).to_f64_vec(), x.to_f64_vec());
    assert_eq!(r(ReduceOp::Max, &[1]).to_f64_vec(), [5.0, 6.0]);
    assert_eq!(r(ReduceOp::Min, &[0]).to_f64_vec(), [-4.0, 2.0, 3.0]);
    let i = t(DType::I32, &[3], &[4.0, -2.0, 9.0]);
    assert_eq!(
        inferred(
            Op::Reduce {
                op: ReduceOp::Max,
                axes: vec![0]
            },
            i
        )
        .unwrap()
        .to_f64_vec(),
        [9.0]
    );
    let nan = t(DType::F64, &[3], &[1.0, f64::NAN, 2.0]);
    assert!(
        inferred(
            Op::Reduce {
                op: ReduceOp::Max,
                axes: vec![0]
            },
            nan
        )
        .unwrap()
        .to_f64_vec()[0]
            .is_nan()
    );
}

#[test]
fn reductions_over_empty_axes_give_the_identity() {
    let x = t(DType::F32, &[0, 2], &[]);
    let r = |op| {
        inferred(Op::Reduce { op, axes: vec![0] }, x.clone())
            .unwrap()
            .to_f64_vec()
    };
    assert_eq!(r(ReduceOp::Sum), [0.0, 0.0]);
    assert_eq!(r(ReduceOp::Max), [f64::NEG_INFINITY; 2]);
    assert_eq!(r(ReduceOp::Min), [f64::INFINITY; 2]);
}

/// The sum folds left to right in f32: `(1e8 + 1) + -1e8` is 0 in f32, not 1.
#[test]
fn sum_accumulates_sequentially_in_the_dtype() {
    let x = t(DType::F32, &[3], &[1e8, 1.0, -1e8]);
    assert_eq!(
        inferred(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes: vec![0]
            },
            x
        )
        .unwrap()
        .to_f64_vec(),
        [0.0]
    );
}

#[test]
fn argmax_takes_the_first_maximum() {
    let x = t(DType::F32, &[2, 3], &[1.0, 3.0, 3.0, 2.0, 0.0, 2.0]);
    assert_eq!(
        inferred(Op::ArgMax { axis: 1 }, x.clone())
            .unwrap()
            .to_f64_vec(),
        [1.0, 0.0]
    );
    assert_eq!(
        inferred(Op::ArgMax { axis: 0 }, x).unwrap().to_f64_vec(),
        [1.0, 0.0, 0.0]
    );
    let nan = t(DType::F32, &[3], &[1.0, f64::NAN, 5.0]);
    assert_eq!(
        inferred(Op::ArgMax { axis: 0 }, nan).unwrap().to_f64_vec(),
        [1.0]
    );
}

fn matmul(m: usize, k: usize, n: usize, dtype: DType) -> (Tensor, Vec<f64>) {
    let a: Vec<f64> = (0..m * k)
        .map(|i| rng::normal(1, 0, 0, 0, i as u64))
        .collect();
    let b: Vec<f64> = (0..k * n)
        .map(|i| rng::normal(1, 1, 0, 0, i as u64))
        .collect();
    let g = graph(&[ty(dtype, &[m, k]), ty(dtype, &[k, n])], |g, x| {
        g.add(Op::MatMul, vec![x[0], x[1]]).unwrap()
    });
    let (ta, tb) = (t(dtype, &[m, k], &a), t(dtype, &[k, n], &b));
    let (a, b) = (ta.to_f64_vec(), tb.to_f64_vec());
    let naive = (0..m * n)
        .map(|ij| (0..k).map(|l| a[ij / n * k + l] * b[l * n + ij % n]).sum())
        .collect();
    (run1(&g, &[ta, tb]), naive)
}

#[test]
fn matmul_matches_the_naive_product() {
    for (m, k, n) in [(3, 4, 2), (1, 1, 1), (5, 17, 3), (2, 0, 3), (0, 3, 2)] {
        for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
            let (got, want) = matmul(m, k, n, dtype);
            assert_eq!(got.shape(), [m, n]);
            for (x, y) in got.to_f64_vec().iter().zip(&want) {
                assert!(
                    (x - y).abs() <= tol * (1.0 + y.abs()),
                    "{m}x{k}x{n} {dtype}: {x} vs {y}"
                );
            }
        }
    }
}

#[test]
fn slice_pad_concat() {
    let x = t(DType::F32, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let s = inferred(
        Op::Slice {
            axis: 1,
            start: 1,
            end: 3,
        },
        x.clone(),
    )
    .unwrap();
    assert_eq!(
        (s.shape(), s.to_f64_vec()),
        (&[2usize, 2][..], vec![1.0, 2.0, 4.0, 5.0])
    );
    let empty = inferred(
        Op::Slice {
            axis: 0,
            start: 1,
            end: 1,
        },
        x.clone(),
    )
    .unwrap();
    assert_eq!(empty.shape(), [0, 3]);
    let p = inferred(
        Op::Pad {
            axis: 0,
            before: 1,
            after: 0,
        },
        x.clone(),
    )
    .unwrap();
    assert_eq!(
        p.to_f64_vec(),
        [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    let p = inferred(
        Op::Pad {
            axis: 1,
            before: 0,
            after: 1,
        },
        x.clone(),
    )
    .unwrap();
    assert_eq!(p.to_f64_vec(), [0.0, 1.0, 2.0, 0.0, 3.0, 4.0, 5.0, 0.0]);

    let g = graph(
        &[ty(DType::F32, &[2, 3]), ty(DType::F32, &[2, 0])],
        |g, x| {
            g.add(Op::Concat { axis: 1 }, vec![x[0], x[1], x[0]])
                .unwrap()
        },
    );
    let c = run1(&g, &[x.clone(), t(DType::F32, &[2, 0], &[])]);
    assert_eq!(c.shape(), [2, 6]);
    assert_eq!(
        c.to_f64_vec(),
        [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 3.0, 4.0, 5.0]
    );
}

fn gather(x: Tensor, idx: Tensor) -> Result<Tensor, RunError> {
    let g = graph(
        &[ty(x.dtype(), x.shape()), ty(DType::I32, idx.shape())],
        |g, a| g.add(Op::Gather, vec![a[0], a[1]]).unwrap(),
    );
    run(&g, &[x, idx]).map(|mut v| v.remove(0))
}

#[test]
fn gather_picks_along_the_last_axis_and_rejects_bad_indices() {
    let x = t(DType::F32, &[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(
        gather(x.clone(), t(DType::I32, &[2], &[2.0, 0.0]))
            .unwrap()
            .to_f64_vec(),
        [2.0, 3.0]
    );
    let e = gather(x.clone(), t(DType::I32, &[2], &[1.0, 3.0])).unwrap_err();
    assert_eq!(
        e.message,
        "%2 (gather): index 3 at position [1] is out of range 0..3"
    );
    let e = gather(x, t(DType::I32, &[2], &[-1.0, 0.0])).unwrap_err();
    assert!(e.message.contains("index -1 at position [0]"), "{e}");
    let empty = gather(t(DType::F32, &[0, 3], &[]), t(DType::I32, &[0], &[])).unwrap();
    assert_eq!(empty.shape(), [0]);
}

fn rows_op(op: Op, args: &[Tensor]) -> Result<Tensor, RunError> {
    let types: Vec<TensorType> = args.iter().map(|a| ty(a.dtype(), a.shape())).collect();
    let g = graph(&types, |g, a| g.add(op.clone(), a.to_vec()).unwrap());
    run(&g, args).map(|mut v| v.remove(0))
}

#[test]
fn take_rows_picks_rows_and_rejects_bad_indices() {
    let x = t(DType::F32, &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let idx = t(DType::I32, &[4], &[2.0, 0.0, 2.0, 1.0]);
    let got = rows_op(Op::TakeRows, &[x.clone(), idx]).unwrap();
    assert_eq!(got.shape(), [4, 2]);
    assert_eq!(got.to_f64_vec(), [4.0, 5.0, 0.0, 1.0, 4.0, 5.0, 2.0, 3.0]);
    let e = rows_op(Op::TakeRows, &[x, t(DType::I32, &[2], &[0.0, 3.0])]).unwrap_err();
    assert_eq!(
        e.message,
        "%2 (take_rows): row index 3 at position 1 is out of range 0..3"
    );
}

#[test]
fn put_rows_writes_in_order_and_add_rows_accumulates() {
    let x = t(DType::F32, &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    let idx = t(DType::I32, &[3], &[2.0, 0.0, 2.0]);
    let rows = t(DType::F32, &[3, 2], &[10.0, 11.0, 20.0, 21.0, 30.0, 31.0]);
    let put = Op::PutRows { accumulate: false };
    let got = rows_op(put.clone(), &[x.clone(), idx.clone(), rows.clone()]).unwrap();
    // Row 2 is written twice; the later write wins. Row 1 is untouched.
    assert_eq!(got.to_f64_vec(), [20.0, 21.0, 2.0, 3.0, 30.0, 31.0]);
    let add = Op::PutRows { accumulate: true };
    let got = rows_op(add, &[x.clone(), idx, rows.clone()]).unwrap();
    assert_eq!(got.to_f64_vec(), [20.0, 22.0, 2.0, 3.0, 44.0, 47.0]);
    let e = rows_op(put, &[x, t(DType::I32, &[3], &[0.0, -1.0, 0.0]), rows]).unwrap_err();
    assert!(e.message.contains("row index -1 at position 1"), "{e}");
}

#[test]
fn cumsum_adds_in_order_along_the_last_axis() {
    let x = t(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let got = rows_op(Op::CumSum { reverse: false }, std::slice::from_ref(&x)).unwrap();
    assert_eq!(got.to_f64_vec(), [1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
    let got = rows_op(Op::CumSum { reverse: true }, &[x]).unwrap();
    assert_eq!(got.to_f64_vec(), [6.0, 5.0, 3.0, 15.0, 11.0, 6.0]);
    let i = t(DType::I32, &[3], &[1.0, -2.0, 5.0]);
    let got = rows_op(Op::CumSum { reverse: false }, &[i]).unwrap();
    assert_eq!(got.to_f64_vec(), [1.0, -1.0, 4.0]);
}

#[test]
fn search_sorted_counts_the_elements_at_most_each_value() {
    // Two rows of running sums, three values per row.
    let sorted = t(DType::F32, &[2, 3], &[1.0, 3.0, 6.0, 0.0, 0.0, 2.0]);
    let v = t(DType::F32, &[2, 3], &[0.5, 3.0, 7.0, -1.0, 0.0, 1.5]);
    let got = rows_op(Op::SearchSorted, &[sorted, v]).unwrap();
    assert_eq!(got.dtype(), DType::I32);
    assert_eq!(got.to_f64_vec(), [0.0, 2.0, 3.0, 0.0, 2.0, 2.0]);
}

#[test]
fn one_hot_gives_zero_rows_out_of_range() {
    let idx = t(DType::I32, &[3], &[1.0, 5.0, 0.0]);
    let got = typed(Op::OneHot { depth: 2 }, idx, ty(DType::F32, &[3, 2])).unwrap();
    assert_eq!(got.to_f64_vec(), [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]);
}

fn dyn_index(x: Tensor, i: i32) -> Result<Tensor, RunError> {
    let g = graph(&[ty(x.dtype(), x.shape())], |g, a| {
        let c = g.constant(DType::I32, i as f64);
        g.add(Op::DynIndex, vec![a[0], c]).unwrap()
    });
    run(&g, &[x]).map(|mut v| v.remove(0))
}

#[test]
fn dyn_index_reads_a_row_and_rejects_bad_indices() {
    let x = t(DType::F64, &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(dyn_index(x.clone(), 2).unwrap().to_f64_vec(), [4.0, 5.0]);
    assert_eq!(
        dyn_index(x.clone(), 3).unwrap_err().message,
        "%2 (dyn_index): index 3 is out of range 0..3"
    );
    assert!(dyn_index(x, -1).is_err());
}

#[test]
fn iota_counts_along_its_axis() {
    let g = graph(&[], |g, _| g.iota(&[2, 3], 1).unwrap());
    assert_eq!(run1(&g, &[]).to_f64_vec(), [0.0, 1.0, 2.0, 0.0, 1.0, 2.0]);
    let g = graph(&[], |g, _| g.iota(&[2, 3], 0).unwrap());
    assert_eq!(run1(&g, &[]).to_f64_vec(), [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
}

#[test]
fn random_draws_element_i_from_the_counter() {
    for (dist, dtype) in [
        (Distribution::Uniform, DType::F32),
        (Distribution::Normal, DType::F64),
    ] {
        let g = graph(&[], |g, _| {
            let (c0, c1) = (g.constant(DType::I32, 3.0), g.constant(DType::I32, -2.0));
            g.add_checked(
                Op::Random {
                    dist,
                    seed: 11,
                    stream: 4,
                },
                vec![c0, c1],
                ty(dtype, &[2, 2]),
            )
            .unwrap()
        });
        let draw = match dist {
            Distribution::Uniform => rng::uniform,
            Distribution::Normal => rng::normal,
        };
        let want: Vec<f64> = (0..4).map(|i| draw(11, 4, 3, -2, i)).collect();
        assert_eq!(run1(&g, &[]), t(dtype, &[2, 2], &want));
    }
}

/// `scan[length] (acc = init) { acc = x[t] + gamma * acc; out[t] = (acc, t) }` over
/// `x: f32[length]`, with `gamma` an invariant.
fn accumulate(length: usize, reverse: bool) -> Graph {
    let s = TensorType::scalar(DType::F32);
    let mut body = Graph::new();
    let acc = body.add_input(s.clone());
    let x = body.add_input(s.clone());
    let gamma = body.add_input(s.clone());
    let step = body.add_input(TensorType::scalar(DType::I32));
    let d = body.binary(BinaryOp::Mul, gamma, acc).unwrap();
    let new = body.binary(BinaryOp::Add, x, d).unwrap();
    body.outputs = vec![new, new, step];
    graph(&[s.clone(), ty(DType::F32, &[length]), s], |g, a| {
        let scan = Scan {
            length,
            reverse,
            n_carry: 1,
            n_seq: 1,
            body,
        };
        let sc = g
            .add(Op::Scan(Box::new(scan)), vec![a[0], a[1], a[2]])
            .unwrap();
        let (last, outs, steps) = (
            g.project(sc, 0).unwrap(),
            g.project(sc, 1).unwrap(),
            g.project(sc, 2).unwrap(),
        );
        g.outputs.extend([last, outs]);
        steps
    })
}

fn run_accumulate(length: usize, reverse: bool, xs: &[f64]) -> Vec<Vec<f64>> {
    let g = accumulate(length, reverse);
    let inputs = [
        t(DType::F32, &[], &[1.0]),
        t(DType::F32, &[length], xs),
        t(DType::F32, &[], &[0.5]),
    ];
    run(&g, &inputs)
        .unwrap()
        .iter()
        .map(Tensor::to_f64_vec)
        .collect()
}

/// Outputs of `accumulate`: the final carry, the stacked carries, the stacked steps.
#[test]
fn forward_scan_carries_and_stacks_by_index() {
    let out = run_accumulate(3, false, &[1.0, 2.0, 4.0]);
    assert_eq!(
        out,
        [vec![5.375], vec![1.5, 2.75, 5.375], vec![0.0, 1.0, 2.0]]
    );
}

#[test]
fn reverse_scan_visits_backwards_and_stacks_by_index() {
    let out = run_accumulate(3, true, &[1.0, 2.0, 4.0]);
    assert_eq!(
        out,
        [vec![3.125], vec![3.125, 4.25, 4.5], vec![0.0, 1.0, 2.0]]
    );
}

#[test]
fn scans_of_length_zero_and_one() {
    assert_eq!(run_accumulate(0, true, &[]), [vec![1.0], vec![], vec![]]);
    assert_eq!(
        run_accumulate(1, false, &[2.0]),
        [vec![2.5], vec![2.5], vec![0.0]]
    );
}

#[test]
fn errors_inside_a_scan_name_the_step() {
    let mut body = Graph::new();
    let x = body.add_input(ty(DType::F32, &[2]));
    let step = body.add_input(TensorType::scalar(DType::I32));
    let row = body.add(Op::DynIndex, vec![x, step]).unwrap();
    body.outputs = vec![row];
    let g = graph(&[ty(DType::F32, &[2])], |g, a| {
        let scan = Scan {
            length: 3,
            reverse: false,
            n_carry: 0,
            n_seq: 0,
            body,
        };
        let s = g.add(Op::Scan(Box::new(scan)), vec![a[0]]).unwrap();
        g.project(s, 0).unwrap()
    });
    let e = run(&g, &[t(DType::F32, &[2], &[1.0, 2.0])]).unwrap_err();
    assert_eq!(
        e.message,
        "%1 (scan): at step 2: %2 (dyn_index): index 2 is out of range 0..2"
    );
}

#[test]
fn errors_carry_the_source_span() {
    let mut g = graph(&[ty(DType::I32, &[1])], |g, x| {
        g.binary(BinaryOp::Div, x[0], x[0]).unwrap()
    });
    g.nodes[1].origin = Some(crate::graph::Origin {
        file: 2,
        start: 10,
        end: 15,
        called_from: None,
    });
    let e = run(&g, &[t(DType::I32, &[1], &[0.0])]).unwrap_err();
    assert_eq!(
        e.message,
        "%1 (div): integer division by zero at position [0]"
    );
    let span = rlp_runtime::SourceSpan {
        file: 2,
        start: 10,
        end: 15,
        called_from: None,
    };
    assert_eq!(e.origin, Some(span));
}

#[test]
fn inputs_are_checked() {
    let g = graph(&[ty(DType::F32, &[2])], |g, x| {
        g.unary(UnaryOp::Neg, x[0]).unwrap()
    });
    assert_eq!(
        run(&g, &[]).unwrap_err().message,
        "expected 1 inputs, got 0"
    );
    let e = run(&g, &[t(DType::F64, &[2], &[1.0, 2.0])]).unwrap_err();
    assert_eq!(e.message, "input 0: expected f32[2], got f64[2]");
    let e = run(&g, &[t(DType::F32, &[3], &[1.0, 2.0, 3.0])]).unwrap_err();
    assert_eq!(e.message, "input 0: expected f32[2], got f32[3]");
}

#[test]
fn an_invalid_graph_is_refused() {
    let mut g = graph(&[ty(DType::F32, &[2])], |g, x| {
        g.unary(UnaryOp::Neg, x[0]).unwrap()
    });
    g.nodes[1].args[0] = NodeId(1);
    assert!(
        run(&g, &[t(DType::F32, &[2], &[1.0, 2.0])])
            .unwrap_err()
            .message
            .starts_with("invalid graph: %1 (neg)")
    );
    assert!(Interpreter::new(g).is_err());
}

#[test]
fn the_interpreter_is_an_executable() {
    let g = graph(&[ty(DType::F32, &[2])], |g, x| {
        g.unary(UnaryOp::Neg, x[0]).unwrap()
    });
    let exe: Box<dyn Executable> = Box::new(Interpreter::new(g).unwrap());
    let x = Tensor::F32(
        ndarray::arr2(&[[1.0f32, 2.0]])
            .reversed_axes()
            .into_shape_with_order(vec![2])
            .unwrap(),
    );
    assert_eq!(exe.run(&[x]).unwrap()[0].to_f64_vec(), [-1.0, -2.0]);
}
