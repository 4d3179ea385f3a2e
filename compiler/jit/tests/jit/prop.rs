//! Random well-typed elementwise + reduction graphs, and random scans of environment
//! shape: the JIT (fused and unfused) equals the interpreter bit for bit.

use crate::common::*;
use proptest::prelude::*;
use rlp_ir::{BinaryOp, Distribution, Graph, NodeId, Op, ReduceOp, UnaryOp};
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
            apply(g, dtype, shape, &mut pool, ops, true);
            let last = *pool.last().unwrap();
            vec![last, pool[pool.len() / 2]]
        },
    )
}

fn pick(pool: &[NodeId], k: u16) -> NodeId {
    pool[k as usize % pool.len()]
}

/// Appends one value per generated operation to `pool` (every value of `shape`);
/// reductions only when `reduce`.
fn apply(
    g: &mut Graph,
    dtype: DType,
    shape: &[usize],
    pool: &mut Vec<NodeId>,
    ops: &[Gen4],
    reduce: bool,
) {
    for &(kind, a, b, c) in ops {
        let v = match kind % 6 {
            4 if !reduce => {
                let y = pick(pool, a);
                g.unary(UNARY[c as usize % UNARY.len()], y).unwrap()
            }
            0 => g
                .unary(UNARY[c as usize % UNARY.len()], pick(pool, a))
                .unwrap(),
            1 => g
                .binary(
                    BINARY[c as usize % BINARY.len()],
                    pick(pool, a),
                    pick(pool, b),
                )
                .unwrap(),
            2 => {
                let cond = g
                    .binary(
                        COMPARE[c as usize % COMPARE.len()],
                        pick(pool, a),
                        pick(pool, b),
                    )
                    .unwrap();
                g.select(cond, pick(pool, b), pick(pool, a.wrapping_add(1)))
                    .unwrap()
            }
            3 => {
                // Through the other float type (or i32) and back.
                let other = match (c % 3, dtype) {
                    (0, _) => DType::I32,
                    (_, DType::F32) => DType::F64,
                    _ => DType::F32,
                };
                let y = g.cast(pick(pool, a), other).unwrap();
                g.cast(y, dtype).unwrap()
            }
            4 => {
                let axes: Vec<usize> = (0..shape.len()).filter(|d| c >> d & 1 == 1).collect();
                let r = g
                    .reduce(REDUCE[b as usize % 3], pick(pool, a), axes.clone())
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
                g.binary(BINARY[b as usize % 4], pick(pool, a), k).unwrap()
            }
        };
        pool.push(v);
    }
}

/// A scan of environment shape over `n` elements: an `[n]` carry and an `[n, w]` carry
/// (columns sliced out, restacked by concatenation), an `[n]` sequence, uniform draws of
/// both shapes, generated elementwise operations, and a `where(flag, draw, next)` reset
/// of the wide carry (a deferred region in the lanes kernel).
fn build_scan(
    dtype: DType,
    n: usize,
    w: usize,
    steps: usize,
    reverse: bool,
    ops: &[Gen4],
) -> Graph {
    let body = graph(
        &[
            ty(dtype, &[n]),
            ty(dtype, &[n, w]),
            ty(dtype, &[n]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let mut pool: Vec<NodeId> = vec![x[0], x[2]];
            for c in 0..w {
                let s = g.slice(x[1], 1, c, c + 1).unwrap();
                pool.push(g.reshape(s, &[n]).unwrap());
            }
            let draw = |g: &mut Graph, stream: u32, shape: &[usize]| {
                g.add_typed(
                    Op::Random {
                        dist: Distribution::Uniform,
                        seed: 5,
                        stream,
                    },
                    vec![x[3], x[3]],
                    ty(dtype, shape),
                )
            };
            let u = draw(g, 1, &[n]);
            pool.push(u);
            apply(g, dtype, &[n], &mut pool, ops, false);
            let cols: Vec<NodeId> = (0..w)
                .map(|c| {
                    let v = pick(&pool, ops[c % ops.len()].1.wrapping_add(c as u16));
                    g.reshape(v, &[n, 1]).unwrap()
                })
                .collect();
            let stacked = g.add(Op::Concat { axis: 1 }, cols).unwrap();
            let (a, b) = (pick(&pool, ops[0].2), pick(&pool, ops[0].3));
            let flag = g.binary(BinaryOp::Lt, a, b).unwrap();
            let flag_w = g.reshape(flag, &[n, 1]).unwrap();
            let flag_w = g.broadcast(flag_w, &[n, w]).unwrap();
            let fresh = draw(g, 2, &[n, w]);
            let next_wide = g.select(flag_w, fresh, stacked).unwrap();
            let last = *pool.last().unwrap();
            vec![last, next_wide, pool[pool.len() / 2], next_wide, flag]
        },
    );
    graph(
        &[ty(dtype, &[n]), ty(dtype, &[n, w]), ty(dtype, &[steps, n])],
        |g, x| crate::scan::scan(g, body, steps, reverse, 2, 1, vec![x[0], x[1], x[2]]),
    )
}

fn shape_strategy() -> impl Strategy<Value = (Vec<usize>, u16)> {
    (prop::collection::vec(0usize..6, 0..4), any::<u16>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::PROP_CASES, ..ProptestConfig::default() })]

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

    #[test]
    fn random_environment_shaped_scans(
        f64_type in any::<bool>(),
        n in 0usize..11,
        w in 1usize..5,
        steps in 0usize..9,
        reverse in any::<bool>(),
        ops in prop::collection::vec((any::<u8>(), any::<u16>(), any::<u16>(), any::<u16>()), 1..10),
        seed in any::<u64>(),
    ) {
        let dtype = if f64_type { DType::F64 } else { DType::F32 };
        let g = build_scan(dtype, n, w, steps, reverse, &ops);
        let s = rlp_jit::fuse::fuse(&g, true).unwrap();
        prop_assert!(
            s.steps.iter().any(|st| matches!(st, rlp_jit::kernel::Step::Kernel(k)
                if matches!(k.kind, rlp_jit::kernel::KernelKind::Scan(_)))),
            "not one scan kernel:\n{}", s
        );
        let inputs = Gen(seed).inputs(&g, true);
        check(&g, &inputs);
    }
}
