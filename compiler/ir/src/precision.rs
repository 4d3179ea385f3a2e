//! The f64 mode of a graph: the same program with every `f32` made `f64`.
//!
//! Gradient checks compare reverse-mode gradients against finite differences, which
//! need more precision than f32 has; running the identical graph in f64 isolates the
//! autodiff rules from rounding. Every op is defined for both float types, so only
//! types change: constants and literals are already stored as f64, casts to f32 become
//! casts to f64, and random draws skip their rounding to f32.

use crate::graph::{Graph, Node, Op, TensorType, Type};
use rlp_runtime::DType;

/// `g` with every `F32` type — of inputs, nodes and scan bodies — changed to `F64`.
pub fn to_f64(g: &Graph) -> Graph {
    Graph {
        inputs: g.inputs.iter().map(widen).collect(),
        nodes: g.nodes.iter().map(widen_node).collect(),
        outputs: g.outputs.clone(),
    }
}

fn widen(t: &TensorType) -> TensorType {
    let dtype = if t.dtype == DType::F32 {
        DType::F64
    } else {
        t.dtype
    };
    TensorType::new(dtype, t.shape.clone())
}

fn widen_node(n: &Node) -> Node {
    let op = match &n.op {
        Op::Scan(scan) => {
            let mut scan = scan.clone();
            scan.body = to_f64(&scan.body);
            Op::Scan(scan)
        }
        op => op.clone(),
    };
    let ty = match &n.ty {
        Type::Tensor(t) => Type::Tensor(widen(t)),
        Type::Tuple(ts) => Type::Tuple(ts.iter().map(widen).collect()),
    };
    Node {
        op,
        args: n.args.clone(),
        ty,
        origin: n.origin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{BinaryOp, Scan};
    use crate::verify::verify;

    #[test]
    fn widens_inputs_nodes_and_scan_bodies() {
        let mut body = Graph::new();
        let c = body.add_input(TensorType::new(DType::F32, [2]));
        body.add_input(TensorType::scalar(DType::I32));
        let y = body.binary(BinaryOp::Add, c, c).unwrap();
        body.outputs = vec![y];
        let mut g = Graph::new();
        let x = g.add_input(TensorType::new(DType::F32, [2]));
        let n = g.add_input(TensorType::new(DType::I32, [2]));
        let s = g
            .add(
                Op::Scan(Box::new(Scan {
                    length: 2,
                    reverse: false,
                    n_carry: 1,
                    n_seq: 0,
                    body,
                })),
                vec![x],
            )
            .unwrap();
        let p = g.project(s, 0).unwrap();
        let m = g.cast(n, DType::F32).unwrap();
        let out = g.binary(BinaryOp::Mul, p, m).unwrap();
        g.outputs.push(out);

        let w = to_f64(&g);
        verify(&w).unwrap();
        assert_eq!(w.inputs[0].dtype, DType::F64);
        assert_eq!(w.inputs[1].dtype, DType::I32);
        assert_eq!(w.ty(out).dtype, DType::F64);
        let Op::Scan(scan) = &w.node(s).op else {
            unreachable!()
        };
        assert!(scan.body.inputs[0].dtype == DType::F64);
        assert!(!w.to_string().contains("f32"), "{w}");
    }
}
