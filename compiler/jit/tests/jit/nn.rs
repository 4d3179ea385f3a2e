//! Small networks: log-softmax + gather (a policy's log-probability) and a 2-layer MLP.

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, NodeId, Op, ReduceOp, UnaryOp};
use rlp_runtime::DType;

/// `log_softmax(logits)[b, a[b]]`, computed stably, and the entropy.
fn log_prob(b: usize, a: usize) -> Graph {
    let f = DType::F32;
    graph(&[ty(f, &[b, a]), ty(DType::I32, &[b])], |g, x| {
        let m = g.reduce(ReduceOp::Max, x[0], vec![1]).unwrap();
        let m = g.reshape(m, &[b, 1]).unwrap();
        let mb = g.broadcast(m, &[b, a]).unwrap();
        let z = g.binary(BinaryOp::Sub, x[0], mb).unwrap();
        let e = g.unary(UnaryOp::Exp, z).unwrap();
        let s = g.reduce(ReduceOp::Sum, e, vec![1]).unwrap();
        let ls = g.unary(UnaryOp::Log, s).unwrap();
        let ls = g.reshape(ls, &[b, 1]).unwrap();
        let lsb = g.broadcast(ls, &[b, a]).unwrap();
        let logp = g.binary(BinaryOp::Sub, z, lsb).unwrap();
        let chosen = g.add(Op::Gather, vec![logp, x[1]]).unwrap();
        let p = g.unary(UnaryOp::Exp, logp).unwrap();
        let plogp = g.binary(BinaryOp::Mul, p, logp).unwrap();
        let h = g.reduce(ReduceOp::Sum, plogp, vec![1]).unwrap();
        let ent = g.unary(UnaryOp::Neg, h).unwrap();
        vec![chosen, ent]
    })
}

#[test]
fn log_softmax_and_gather() {
    let mut rng = Gen(21);
    for (b, a) in [(1, 1), (3, 4), (5, 2), (17, 6), (64, 5)] {
        let g = log_prob(b, a);
        let actions: Vec<f64> = (0..b).map(|_| rng.below(a as u64) as f64).collect();
        let inputs = vec![
            rng.tensor(&ty(DType::F32, &[b, a]), false),
            t(DType::I32, &[b], &actions),
        ];
        let out = check(&g, &inputs);
        // Hand check of one row: log-probabilities are at most 0.
        assert!(out[0].to_f64_vec().iter().all(|&v| v <= 0.0));
    }
}

fn dense(g: &mut Graph, x: NodeId, w: NodeId, b: NodeId) -> NodeId {
    let y = g.add(Op::MatMul, vec![x, w]).unwrap();
    let shape = g.ty(y).shape.clone();
    let bb = g.broadcast(b, &shape).unwrap();
    g.binary(BinaryOp::Add, y, bb).unwrap()
}

#[test]
fn two_layer_mlp() {
    let mut rng = Gen(22);
    for dtype in [DType::F32, DType::F64] {
        for batch in [0, 1, 3, 32] {
            let (i, h, o) = (8, 32, 4);
            let g = graph(
                &[
                    ty(dtype, &[batch, i]),
                    ty(dtype, &[i, h]),
                    ty(dtype, &[h]),
                    ty(dtype, &[h, o]),
                    ty(dtype, &[o]),
                ],
                |g, x| {
                    let h1 = dense(g, x[0], x[1], x[2]);
                    let a1 = g.unary(UnaryOp::Tanh, h1).unwrap();
                    vec![dense(g, a1, x[3], x[4])]
                },
            );
            // The same GEMM on the same row-major operands: exact.
            check(&g, &rng.inputs(&g, false));
        }
    }
}
