//! Gradient graphs from `rlp_ir::autodiff` (transposed matmuls, broadcasts summed back,
//! selects, reverse scans): the kinds of graphs training runs, before and after the
//! optimiser.

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, NodeId, Op, ReduceOp, Scan, UnaryOp, autodiff, opt};
use rlp_runtime::DType;

const F: DType = DType::F32;

fn dense(g: &mut Graph, x: NodeId, w: NodeId, b: NodeId) -> NodeId {
    let y = g.add(Op::MatMul, vec![x, w]).unwrap();
    let shape = g.ty(y).shape.clone();
    let bb = g.broadcast(b, &shape).unwrap();
    g.binary(BinaryOp::Add, y, bb).unwrap()
}

/// `-mean(log_softmax(mlp(obs))[action] * adv)` and its gradient w.r.t. the weights.
fn policy_gradient(batch: usize) -> Graph {
    let (obs, hidden, actions) = (6, 16, 3);
    let mut g = graph(
        &[
            ty(F, &[batch, obs]),
            ty(DType::I32, &[batch]),
            ty(F, &[batch]),
            ty(F, &[obs, hidden]),
            ty(F, &[hidden]),
            ty(F, &[hidden, actions]),
            ty(F, &[actions]),
        ],
        |_, _| vec![],
    );
    let x: Vec<NodeId> = (0..7).map(|k| NodeId(k as u32)).collect();
    let h = dense(&mut g, x[0], x[3], x[4]);
    let h = g.unary(UnaryOp::Tanh, h).unwrap();
    let logits = dense(&mut g, h, x[5], x[6]);
    let m = g.reduce(ReduceOp::Max, logits, vec![1]).unwrap();
    let m = g.reshape(m, &[batch, 1]).unwrap();
    let m = g.broadcast(m, &[batch, actions]).unwrap();
    let m = g.add(Op::StopGradient, vec![m]).unwrap();
    let z = g.binary(BinaryOp::Sub, logits, m).unwrap();
    let e = g.unary(UnaryOp::Exp, z).unwrap();
    let s = g.reduce(ReduceOp::Sum, e, vec![1]).unwrap();
    let ls = g.unary(UnaryOp::Log, s).unwrap();
    let ls = g.reshape(ls, &[batch, 1]).unwrap();
    let ls = g.broadcast(ls, &[batch, actions]).unwrap();
    let logp = g.binary(BinaryOp::Sub, z, ls).unwrap();
    let chosen = g.add(Op::Gather, vec![logp, x[1]]).unwrap();
    let weighted = g.binary(BinaryOp::Mul, chosen, x[2]).unwrap();
    let total = g.reduce(ReduceOp::Sum, weighted, vec![0]).unwrap();
    let loss = g
        .binary_scalar(BinaryOp::Mul, total, -1.0 / batch as f64)
        .unwrap();
    let grads = autodiff::grad(&mut g, loss, &x[3..]).unwrap();
    g.outputs = std::iter::once(loss).chain(grads).collect();
    g
}

#[test]
fn policy_gradient_loss_and_weight_gradients() {
    let mut rng = Gen(51);
    for batch in [1, 5, 32] {
        let g = policy_gradient(batch);
        let mut inputs = rng.inputs(&g, false);
        let actions: Vec<f64> = (0..batch).map(|_| rng.below(3) as f64).collect();
        inputs[1] = t(DType::I32, &[batch], &actions);
        check(&g, &inputs);
        check(&opt::optimize(&g), &inputs);
    }
}

/// The sum of discounted returns, differentiated w.r.t. the rewards and the discount.
#[test]
fn gradient_through_a_reverse_scan() {
    let (steps, n) = (12, 5);
    let body = graph(
        &[ty(F, &[n]), ty(F, &[n]), ty(F, &[n]), ty(DType::I32, &[])],
        |g, x| {
            let disc = g.binary(BinaryOp::Mul, x[2], x[0]).unwrap();
            let ret = g.binary(BinaryOp::Add, x[1], disc).unwrap();
            let sq = g.binary(BinaryOp::Mul, ret, ret).unwrap();
            vec![ret, sq]
        },
    );
    let mut g = graph(&[ty(F, &[steps, n]), ty(F, &[n])], |_, _| vec![]);
    let (r, gamma) = (NodeId(0), NodeId(1));
    let init = g.full(&ty(F, &[n]), 0.0).unwrap();
    let s = g
        .add(
            Op::Scan(Box::new(Scan {
                length: steps,
                reverse: true,
                n_carry: 1,
                n_seq: 1,
                body,
            })),
            vec![init, r, gamma],
        )
        .unwrap();
    let sq = g.project(s, 1).unwrap();
    let loss = g.reduce(ReduceOp::Sum, sq, vec![0, 1]).unwrap();
    let grads = autodiff::grad(&mut g, loss, &[r, gamma]).unwrap();
    g.outputs = std::iter::once(loss).chain(grads).collect();
    let mut rng = Gen(52);
    let inputs = vec![
        rng.tensor(&ty(F, &[steps, n]), false),
        t(F, &[n], &[0.9, 0.5, 0.99, 1.0, 0.0]),
    ];
    check(&g, &inputs);
    check(&opt::optimize(&g), &inputs);
}
