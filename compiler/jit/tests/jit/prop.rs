//! Random well-typed elementwise + reduction graphs: the JIT (fused and unfused) equals
//! the interpreter bit for bit.

use crate::common::*;
use proptest::prelude::*;
use rlp_ir::{BinaryOp, Graph, NodeId, ReduceOp, UnaryOp};
use rlp_runtime::DType;

const UNARY: [UnaryOp; 10] = [
    UnaryOp::Neg,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Tanh,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Abs,
    UnaryOp::Sign,
    UnaryOp::Floor,
];
const BINARY: [BinaryOp; 9] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
    BinaryOp::Pow,
    BinaryOp::Max,
    BinaryOp::Min,
    BinaryOp::Atan2,
];
const COMPARE: [BinaryOp; 6] = [
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Eq,
    BinaryOp::Ne,
];
const REDUCE: [ReduceOp; 3] = [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min];

/// One generated operation: a kind and three free choices (operands, op, axes…).
type Gen4 = (u8, u16, u16, u16);

/// Builds a graph over one shape from generated operations. Every value in `pool` has
/// the full shape; reductions are broadcast back so later ops can use them.
fn build(dtype: DType, shape: &[usize], small: &[usize], ops: &[Gen4]) -> Graph {
    graph(
        &[ty(dtype, shape), ty(dtype, shape), ty(dtype, small)],
        |g, x| {
            let mut pool: Vec<NodeId> = vec![x[0], x[1], g.broadcast(x[2], shape).unwrap()];
            let pick = |pool: &Vec<NodeId>, k: u16| pool[k as usize % pool.len()];
            for &(kind, a, b, c) in ops {
                let v = match kind % 6 {
                    0 => g
                        .unary(UNARY[c as usize % UNARY.len()], pick(&pool, a))
                        .unwrap(),
                    1 => g
                        .binary(
                            BINARY[c as usize % BINARY.len()],
                            pick(&pool, a),
                            pick(&pool, b),
                        )
                        .unwrap(),
                    2 => {
                        let cond = g
                            .binary(
                                COMPARE[c as usize % COMPARE.len()],
                                pick(&pool, a),
                                pick(&pool, b),
                            )
                            .unwrap();
                        g.select(cond, pick(&pool, b), pick(&pool, a.wrapping_add(1)))
                            .unwrap()
                    }
                    3 => {
                        // Through the other float type (or i32) and back.
                        let other = match (c % 3, dtype) {
                            (0, _) => DType::I32,
                            (_, DType::F32) => DType::F64,
                            _ => DType::F32,
                        };
                        let y = g.cast(pick(&pool, a), other).unwrap();
                        g.cast(y, dtype).unwrap()
                    }
                    4 => {
                        let axes: Vec<usize> =
                            (0..shape.len()).filter(|d| c >> d & 1 == 1).collect();
                        let r = g
                            .reduce(REDUCE[b as usize % 3], pick(&pool, a), axes.clone())
                            .unwrap();
                        let kept: Vec<usize> = (0..shape.len())
                            .map(|d| if axes.contains(&d) { 1 } else { shape[d] })
                            .collect();
                        let r = g.reshape(r, &kept).unwrap();
                        g.broadcast(r, shape).unwrap()
                    }
                    _ => {
                        let k = g
                            .full(&ty(dtype, shape), (c as f64 / 1000.0) - 3.0)
                            .unwrap();
                        g.binary(BINARY[b as usize % 4], pick(&pool, a), k).unwrap()
                    }
                };
                pool.push(v);
            }
            let last = *pool.last().unwrap();
            vec![last, pool[pool.len() / 2]]
        },
    )
}

fn shape_strategy() -> impl Strategy<Value = (Vec<usize>, u16)> {
    (prop::collection::vec(0usize..6, 0..4), any::<u16>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_elementwise_and_reduce_graphs(
        f64_type in any::<bool>(),
        (shape, small_mask) in shape_strategy(),
        ops in prop::collection::vec((any::<u8>(), any::<u16>(), any::<u16>(), any::<u16>()), 1..12),
        seed in any::<u64>(),
    ) {
        let dtype = if f64_type { DType::F64 } else { DType::F32 };
        // A broadcastable smaller shape: drop some leading dims, set some dims to 1.
        let drop = (small_mask as usize) % (shape.len() + 1);
        let small: Vec<usize> = shape[drop..]
            .iter()
            .enumerate()
            .map(|(i, &d)| if small_mask >> (4 + i) & 1 == 1 { 1 } else { d })
            .collect();
        let g = build(dtype, &shape, &small, &ops);
        let inputs = Gen(seed).inputs(&g, true);
        check(&g, &inputs);
    }
}
