//! Constant folding: a scalar `unary`, `binary`, `select` or `cast` whose arguments are
//! all constants becomes the constant it computes.
//!
//! The value comes from the interpreter's own kernels, so folding rounds exactly as
//! running would (f32 arithmetic stays in f32). Any scalar of any dtype is exact as a
//! `Const`'s f64. A fold that would fail at run time (an integer division by zero) is
//! left in the graph so the error still happens, with its source span. Scan bodies are
//! folded recursively. The constants folded away become dead; `dce` removes them.

use rlp_runtime::Tensor;

use crate::graph::{Graph, Node, NodeId, Op, Type};
use crate::interp;

/// `g` with its scalar constant arithmetic evaluated.
pub fn run(g: &Graph) -> Graph {
    let mut out = Graph {
        inputs: g.inputs.clone(),
        nodes: vec![],
        outputs: vec![],
    };
    let mut map: Vec<NodeId> = Vec::with_capacity(g.nodes.len());
    for node in &g.nodes {
        let args: Vec<NodeId> = node.args.iter().map(|a| map[a.index()]).collect();
        let (op, args) = match &node.op {
            Op::Scan(scan) => {
                let mut scan = scan.clone();
                scan.body = run(&scan.body);
                (Op::Scan(scan), args)
            }
            op => match folded(&out, op, &args, &node.ty) {
                Some(value) => (Op::Const(value), vec![]),
                None => (op.clone(), args),
            },
        };
        map.push(out.push(Node {
            op,
            args,
            ty: node.ty.clone(),
            origin: node.origin,
        }));
    }
    out.outputs = g.outputs.iter().map(|o| map[o.index()]).collect();
    out
}

/// The value `op` computes, if it is foldable and all its `args` in `g` are constants.
fn folded(g: &Graph, op: &Op, args: &[NodeId], ty: &Type) -> Option<f64> {
    if !matches!(op, Op::Unary(_) | Op::Binary(_) | Op::Select | Op::Cast) {
        return None;
    }
    let ty = ty.as_tensor()?;
    let values: Vec<Tensor> = args
        .iter()
        .map(|a| {
            let node = g.node(*a);
            match node.op {
                Op::Const(v) => Some(Tensor::full(node.ty.tensor().dtype, &[], v)),
                _ => None,
            }
        })
        .collect::<Option<_>>()?;
    let value = interp::apply(op, ty, &values.iter().collect::<Vec<_>>()).ok()?;
    value.scalar_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{BinaryOp, TensorType, UnaryOp};
    use crate::verify::verify;
    use rlp_runtime::DType;

    #[test]
    fn folds_scalar_chains_in_the_nodes_dtype() {
        let mut g = Graph::new();
        let x = g.add_input(TensorType::scalar(DType::F32));
        let (a, b) = (g.constant(DType::F32, 0.1), g.constant(DType::F32, 0.2));
        let sum = g.binary(BinaryOp::Add, a, b).unwrap();
        let neg = g.unary(UnaryOp::Neg, sum).unwrap();
        let y = g.binary(BinaryOp::Mul, neg, x).unwrap();
        let big = g.binary(BinaryOp::Gt, sum, a).unwrap();
        let n = g.cast(big, DType::I32).unwrap();
        g.outputs = vec![y, n];

        let h = run(&g);
        verify(&h).unwrap();
        assert_eq!(h.node(neg).op, Op::Const(-((0.1f32 + 0.2f32) as f64)));
        assert!(h.node(neg).args.is_empty());
        assert_eq!(h.node(n).op, Op::Const(1.0));
        assert!(
            matches!(h.node(y).op, Op::Binary(BinaryOp::Mul)),
            "inputs are not constants"
        );
    }

    #[test]
    fn leaves_failing_folds_and_tensors_alone() {
        let mut g = Graph::new();
        let (one, zero) = (g.constant(DType::I32, 1.0), g.constant(DType::I32, 0.0));
        let div = g.binary(BinaryOp::Div, one, zero).unwrap();
        let row = g.full(&TensorType::new(DType::I32, [2]), 3.0).unwrap();
        let sq = g.binary(BinaryOp::Mul, row, row).unwrap();
        g.outputs = vec![div, sq];
        assert_eq!(run(&g), g);
    }
}
