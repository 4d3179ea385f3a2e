//! Cases particular to this backend: snapshots of the generated source for one kernel of
//! each kind (so a change to the emitted CUDA is a reviewed diff), each also run against
//! the interpreter; launches larger than one grid (the grid-stride loop); the shared
//! status word naming the failed check.

use crate::common::*;
use crate::scan::scan;
use rlp_ir::{BinaryOp, Distribution, Graph, Op, ReduceOp, UnaryOp};
use rlp_runtime::DType;

const F: DType = DType::F32;

/// The generated functions of `g` (after the same optimisation `rlpc` applies).
fn source(g: &Graph) -> String {
    rlp_cuda::explain(&rlp_ir::opt::optimize(g)).unwrap()
}

/// An elementwise kernel with a counter-based draw, `exp` and a select.
fn map_graph() -> Graph {
    graph(&[ty(F, &[8]), ty(DType::I32, &[])], |g, x| {
        let noise = g.add_typed(
            Op::Random {
                dist: Distribution::Normal,
                seed: 7,
                stream: 1,
            },
            vec![x[1], x[1]],
            ty(F, &[8]),
        );
        let e = g.unary(UnaryOp::Exp, x[0]).unwrap();
        let s = g.binary(BinaryOp::Add, e, noise).unwrap();
        let zero = g.full(&ty(F, &[8]), 0.0).unwrap();
        let pos = g.binary(BinaryOp::Gt, x[0], zero).unwrap();
        vec![g.select(pos, s, x[0]).unwrap()]
    })
}

#[test]
fn elementwise_source() {
    let g = map_graph();
    insta::assert_snapshot!(source(&g));
    check(&g, &Gen(1).inputs(&g, true));
}

#[test]
fn reduction_and_argmax_source() {
    let g = graph(&[ty(F, &[4, 6])], |g, x| {
        let sq = g.binary(BinaryOp::Mul, x[0], x[0]).unwrap();
        let sum = g.reduce(ReduceOp::Sum, sq, vec![1]).unwrap();
        let best = g.add(Op::ArgMax { axis: 1 }, vec![x[0]]).unwrap();
        vec![sum, best]
    });
    insta::assert_snapshot!(source(&g));
    check(&g, &Gen(2).inputs(&g, true));
}

/// A scan of environment shape: a carried state stepped with a per-step action.
fn scan_graph() -> Graph {
    let body = graph(&[ty(F, &[3]), ty(F, &[3]), ty(DType::I32, &[])], |g, x| {
        let s = g.unary(UnaryOp::Sin, x[0]).unwrap();
        let next = g.binary(BinaryOp::Add, s, x[1]).unwrap();
        let r = g.binary(BinaryOp::Mul, next, next).unwrap();
        vec![next, r]
    });
    graph(&[ty(F, &[3]), ty(F, &[5, 3])], |g, x| {
        scan(g, body, 5, false, 1, 1, vec![x[0], x[1]])
    })
}

#[test]
fn scan_source() {
    let g = scan_graph();
    insta::assert_snapshot!(source(&g));
    check(&g, &Gen(3).inputs(&g, true));
}

#[test]
fn row_ops_source() {
    let g = graph(
        &[
            ty(F, &[6, 2]),
            ty(DType::I32, &[3]),
            ty(F, &[3, 2]),
            ty(F, &[2, 5]),
        ],
        |g, x| {
            let put = g
                .add(Op::PutRows { accumulate: true }, vec![x[0], x[1], x[2]])
                .unwrap();
            let top = g.add(Op::TopK { k: 2 }, vec![x[3]]).unwrap();
            vec![put, top]
        },
    );
    insta::assert_snapshot!(source(&g));
    let mut inputs = Gen(4).inputs(&g, false);
    inputs[1] = t(DType::I32, &[3], &[5.0, 0.0, 5.0]);
    check(&g, &inputs);
}

/// More units than one grid holds: every kernel loops over its units with the grid's
/// stride, so the tail past `blocks · BLOCK` is computed too (the CPU build's grid is
/// `HOST_MAX_GRID` blocks, so this runs the loop several times, as the suites' larger
/// kernels do).
#[test]
fn launches_larger_than_one_grid_cover_every_unit() {
    let grid = rlp_cuda::device::HOST_MAX_GRID * u64::from(rlp_cuda::device::BLOCK);
    let n = 3 * grid as usize + 1000;
    let g = graph(&[ty(F, &[n])], |g, x| {
        vec![g.binary(BinaryOp::Mul, x[0], x[0]).unwrap()]
    });
    let x: Vec<f64> = (0..n).map(|i| (i % 1000) as f64).collect();
    let out = check(&g, &[t(F, &[n], &x)]);
    assert_eq!(out[0].to_f64_vec()[n - 1], ((n - 1) % 1000).pow(2) as f64);
}

/// A failed bounds check anywhere stops the run with that check's message, even when a
/// later kernel would have succeeded.
#[test]
fn a_failed_check_is_reported_by_its_own_message() {
    let g = graph(&[ty(F, &[4, 2]), ty(DType::I32, &[2])], |g, x| {
        let rows = g.add(Op::TakeRows, vec![x[0], x[1]]).unwrap();
        vec![g.unary(UnaryOp::Neg, rows).unwrap()]
    });
    let inputs = [t(F, &[4, 2], &[1.0; 8]), t(DType::I32, &[2], &[1.0, 9.0])];
    let message = check_fails(&g, &inputs);
    assert!(
        message.contains("out of range") || message.contains("index"),
        "{message}"
    );
}
