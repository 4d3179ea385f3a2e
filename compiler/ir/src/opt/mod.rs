//! The optimiser: one pass per file, each a function `run(&Graph) -> Graph` that
//! preserves every value the graph outputs, bit for bit.
//!
//! [`PASSES`] is the pipeline, by name (so a driver can dump the graph after any of
//! them); [`optimize`] runs it.

pub mod cse;
pub mod dce;
pub mod fold;

use crate::graph::Graph;
use crate::verify::verify;

/// A pass: its name and its function.
pub type Pass = (&'static str, fn(&Graph) -> Graph);

/// The passes in the order [`optimize`] runs them:
/// 1. `fold` first, so that arithmetic on constants becomes constants that `cse` can
///    then merge;
/// 2. `cse` merges duplicates — the folded constants, and the many identical
///    `const`/`broadcast` pairs and recomputed subexpressions autodiff emits;
/// 3. `dce` last, removing what the first two left unused (folded operands, merged
///    duplicates, forward values a gradient graph recomputes but never reads).
pub const PASSES: [Pass; 3] = [("fold", fold::run), ("cse", cse::run), ("dce", dce::run)];

/// Runs every pass of [`PASSES`] in order. Debug builds verify the graph after each
/// pass, so a pass that breaks an invariant is named at once.
pub fn optimize(g: &Graph) -> Graph {
    PASSES.iter().fold(g.clone(), |g, (name, pass)| {
        let g = pass(&g);
        if cfg!(debug_assertions)
            && let Err(e) = verify(&g)
        {
            panic!("the {name} pass produced an invalid graph: {e}");
        }
        g
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::grad;
    use crate::graph::{BinaryOp, NodeId, Op, ReduceOp, Scan, TensorType, Type, UnaryOp};
    use crate::interp::run;
    use crate::verify::verify;
    use rlp_runtime::{DType, Tensor};

    /// A loss through a scan and some constant arithmetic, and its gradients.
    fn gradient_graph() -> Graph {
        let f = |s: &[usize]| TensorType::new(DType::F32, s);
        let mut body = Graph::new();
        let c = body.add_input(f(&[3]));
        let x = body.add_input(f(&[3]));
        body.add_input(TensorType::scalar(DType::I32));
        let cx = body.binary(BinaryOp::Mul, c, x).unwrap();
        let t = body.unary(UnaryOp::Tanh, cx).unwrap();
        let c2 = body.binary(BinaryOp::Add, t, x).unwrap();
        body.outputs = vec![c2, t];

        let mut g = Graph::new();
        let c0 = g.add_input(f(&[3]));
        let xs = g.add_input(f(&[4, 3]));
        let s = g
            .add(
                Op::Scan(Box::new(Scan {
                    length: 4,
                    reverse: false,
                    n_carry: 1,
                    n_seq: 1,
                    body,
                })),
                vec![c0, xs],
            )
            .unwrap();
        let last = g.project(s, 0).unwrap();
        let (two, three) = (g.constant(DType::F32, 2.0), g.constant(DType::F32, 3.0));
        let six = g.binary(BinaryOp::Mul, two, three).unwrap();
        let six = g.broadcast(six, &[3]).unwrap();
        let scaled = g.binary(BinaryOp::Mul, last, six).unwrap();
        let loss = g.reduce(ReduceOp::Sum, scaled, vec![0]).unwrap();
        let grads = grad(&mut g, loss, &[c0, xs]).unwrap();
        g.outputs = [loss].into_iter().chain(grads).collect();
        g
    }

    fn inputs() -> Vec<Tensor> {
        let v = |n: usize| (0..n).map(|i| (i as f64 * 0.37).sin()).collect::<Vec<_>>();
        vec![
            Tensor::from_f64(DType::F32, &[3], &v(3)),
            Tensor::from_f64(DType::F32, &[4, 3], &v(12)),
        ]
    }

    /// Every pass keeps the graph valid and its outputs bit-identical; together they
    /// shrink an autodiff graph.
    #[test]
    fn passes_preserve_values_and_shrink_gradient_graphs() {
        let g = gradient_graph();
        let want = run(&g, &inputs()).unwrap();
        let mut h = g.clone();
        for (name, pass) in PASSES {
            h = pass(&h);
            verify(&h).unwrap_or_else(|e| panic!("after {name}: {e}\n{h}"));
            assert_eq!(run(&h, &inputs()).unwrap(), want, "after {name}");
        }
        assert_eq!(optimize(&g), h);
        // `2 * 3` folds to one constant (-2 nodes); the reverse body's recomputed carry
        // update, which the gradient never reads, goes (-1).
        assert_eq!(size(&g) - size(&h), 3, "{h}");
        // The forward scan no longer stacks its unread per-step `tanh`.
        let Type::Tuple(elements) = &h.node(NodeId(2)).ty else {
            panic!("{h}")
        };
        assert_eq!(elements.len(), 2, "{h}");
        assert!(
            !h.nodes
                .iter()
                .any(|n| matches!(n.op, Op::Binary(_)) && n.args.iter().all(|a| is_const(&h, *a)))
        );
    }

    /// A random scalar program over two inputs: each instruction `(op, a, b, c)` applies
    /// op `op` to earlier values `a`, `b`, `c` (modulo the number of values so far), or
    /// adds a constant; the last two values are the outputs.
    fn random_program(program: &[(u8, usize, usize, usize)]) -> Graph {
        use BinaryOp::*;
        use UnaryOp::*;
        const BINARY: [BinaryOp; 9] = [Add, Sub, Mul, Div, Rem, Pow, Max, Min, Atan2];
        const UNARY: [UnaryOp; 10] = [Neg, Exp, Log, Sqrt, Tanh, Sin, Cos, Abs, Sign, Floor];
        const CONSTANTS: [f64; 4] = [0.0, -0.0, 2.5, -3.0];
        let mut g = Graph::new();
        let mut values: Vec<NodeId> = (0..2)
            .map(|_| g.add_input(TensorType::scalar(DType::F32)))
            .collect();
        for &(op, a, b, c) in program {
            let [a, b, c] = [a, b, c].map(|i| values[i % values.len()]);
            let op = op as usize;
            let v = match op {
                0..9 => g.binary(BINARY[op], a, b).unwrap(),
                9..19 => g.unary(UNARY[op - 9], a).unwrap(),
                19 => {
                    let lt = g.binary(Lt, a, b).unwrap();
                    g.select(lt, b, c).unwrap()
                }
                20 => {
                    let i = g.cast(a, DType::I32).unwrap();
                    g.cast(i, DType::F32).unwrap()
                }
                _ => g.constant(DType::F32, CONSTANTS[op % 4]),
            };
            values.push(v);
        }
        g.outputs = values[values.len() - 2..].to_vec();
        g
    }

    /// Bit patterns, with every NaN canonical: IEEE 754 leaves the sign and payload of
    /// a NaN result unspecified, so folding at compile time may produce another NaN.
    fn bits(outputs: &[Tensor]) -> Vec<u64> {
        outputs
            .iter()
            .flat_map(Tensor::to_f64_vec)
            .map(|v| {
                if v.is_nan() {
                    f64::NAN.to_bits()
                } else {
                    v.to_bits()
                }
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        #[test]
        fn optimising_random_programs_keeps_every_bit_but_nan_payloads(
            program in proptest::collection::vec((0u8..25, 0usize..32, 0usize..32, 0usize..32), 1..24),
            x in -4.0f64..4.0,
            y in -4.0f64..4.0,
        ) {
            let g = random_program(&program);
            let h = optimize(&g);
            verify(&h).unwrap();
            let inputs = [Tensor::full(DType::F32, &[], x), Tensor::full(DType::F32, &[], y)];
            proptest::prop_assert_eq!(bits(&run(&h, &inputs).unwrap()), bits(&run(&g, &inputs).unwrap()));
        }
    }

    /// Nodes, counting those in scan bodies.
    fn size(g: &Graph) -> usize {
        g.nodes
            .iter()
            .map(|n| {
                1 + if let Op::Scan(s) = &n.op {
                    size(&s.body)
                } else {
                    0
                }
            })
            .sum()
    }

    fn is_const(g: &Graph, id: NodeId) -> bool {
        matches!(g.node(id).op, Op::Const(_))
    }
}
