//! The verifier: checks every invariant written on [`crate::graph`], so that passes and
//! backends may rely on them instead of re-checking.
//!
//! It runs after the front end and after every pass in tests; the interpreter runs it
//! before evaluating. The order of checks matters: arguments are checked to be earlier
//! nodes before anything reads their types, and a scan's body is verified before the
//! scan's own type is inferred (inference reads the body's output types).

use crate::graph::{Graph, NodeId, Op, Type};
use crate::types;
use std::fmt;

/// A broken invariant, located by node (and by the scans it sits inside).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct VerifyError {
    /// The scan nodes whose bodies contain the problem, outermost first; each id is
    /// relative to the graph that holds that scan.
    pub scans: Vec<NodeId>,
    /// The offending node and its op name, or `None` for a graph-level problem.
    pub node: Option<(NodeId, &'static str)>,
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for scan in &self.scans {
            write!(f, "in the body of scan {scan}: ")?;
        }
        if let Some((id, op)) = self.node {
            write!(f, "{id} ({op}): ")?;
        }
        f.write_str(&self.message)
    }
}

/// Checks `g` and, recursively, every scan body in it.
pub fn verify(g: &Graph) -> Result<(), VerifyError> {
    for id in g.ids() {
        verify_node(g, id)?;
    }
    verify_outputs(g)
}

fn verify_node(g: &Graph, id: NodeId) -> Result<(), VerifyError> {
    let node = g.node(id);
    let fail = |message: String| VerifyError {
        scans: vec![],
        node: Some((id, node.op.name())),
        message,
    };
    if let Some(bad) = node.args.iter().find(|a| **a >= id) {
        return Err(fail(format!(
            "argument {bad} is not defined before its use (nodes must be in topological order)"
        )));
    }
    if let Op::Input(k) = node.op
        && k >= g.inputs.len()
    {
        return Err(fail(format!(
            "input index {k} is out of range: the graph has {} inputs",
            g.inputs.len()
        )));
    }
    if let Op::Scan(scan) = &node.op {
        verify(&scan.body).map_err(|mut e| {
            e.scans.insert(0, id);
            e
        })?;
    }
    match &node.ty {
        Type::Tensor(t) => {
            types::check_typed(g, &node.op, &node.args, t).map_err(|e| fail(e.message))
        }
        Type::Tuple(_) if !matches!(node.op, Op::Scan(_)) => {
            Err(fail("only scan nodes have tuple types".into()))
        }
        Type::Tuple(_) => match types::infer(g, &node.op, &node.args) {
            Ok(t) if t == node.ty => Ok(()),
            Ok(t) => Err(fail(format!(
                "node says {:?}, the scan gives {t:?}",
                node.ty
            ))),
            Err(e) => Err(fail(e.message)),
        },
    }
}

fn verify_outputs(g: &Graph) -> Result<(), VerifyError> {
    let fail = |message: String| VerifyError {
        scans: vec![],
        node: None,
        message,
    };
    for (i, &o) in g.outputs.iter().enumerate() {
        match g.nodes.get(o.index()) {
            None => return Err(fail(format!("output {i} is {o}, which does not exist"))),
            Some(n) if n.ty.as_tensor().is_none() => {
                return Err(fail(format!(
                    "output {i} is {o}, a tuple; outputs must be tensors"
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{BinaryOp, Node, Scan, TensorType};
    use rlp_runtime::DType;

    fn f32s(shape: &[usize]) -> TensorType {
        TensorType::new(DType::F32, shape)
    }

    /// `x + x` over one `f32[2]` input.
    fn small() -> Graph {
        let mut g = Graph::new();
        let x = g.add_input(f32s(&[2]));
        let y = g.binary(BinaryOp::Add, x, x).unwrap();
        g.outputs.push(y);
        g
    }

    #[test]
    fn accepts_a_well_formed_graph() {
        verify(&small()).unwrap();
    }

    #[test]
    fn catches_a_forward_reference() {
        let mut g = small();
        g.nodes[1].args[1] = NodeId(1);
        let e = verify(&g).unwrap_err();
        assert_eq!(e.node, Some((NodeId(1), "add")));
        assert!(
            e.to_string().contains("%1 is not defined before its use"),
            "{e}"
        );
    }

    #[test]
    fn catches_a_wrong_type() {
        let mut g = small();
        g.nodes[1].ty = Type::Tensor(f32s(&[3]));
        let e = verify(&g).unwrap_err();
        assert_eq!(e.node, Some((NodeId(1), "add")));
        assert!(e.message.contains("f32[3]"), "{e}");
    }

    #[test]
    fn catches_a_bad_input_index() {
        let mut g = small();
        g.nodes[0].op = Op::Input(1);
        let e = verify(&g).unwrap_err();
        assert_eq!(
            e.to_string(),
            "%0 (input): input index 1 is out of range: the graph has 1 inputs"
        );
    }

    #[test]
    fn catches_an_input_of_the_wrong_type() {
        let mut g = small();
        g.inputs[0] = TensorType::new(DType::F64, [2]);
        assert_eq!(verify(&g).unwrap_err().node, Some((NodeId(0), "input")));
    }

    #[test]
    fn catches_bad_outputs() {
        let mut g = small();
        g.outputs.push(NodeId(9));
        assert!(
            verify(&g)
                .unwrap_err()
                .to_string()
                .contains("output 1 is %9")
        );
    }

    #[test]
    fn catches_a_tuple_on_a_non_scan_node() {
        let mut g = small();
        g.nodes[1].ty = Type::Tuple(vec![f32s(&[2])]);
        assert!(verify(&g).unwrap_err().message.contains("only scan nodes"));
    }

    #[test]
    fn catches_project_of_a_tensor() {
        let mut g = small();
        g.push(Node {
            op: Op::Project(0),
            args: vec![NodeId(1)],
            ty: Type::Tensor(f32s(&[2])),
            origin: None,
        });
        assert_eq!(verify(&g).unwrap_err().node, Some((NodeId(2), "project")));
    }

    /// A scan whose body holds a broken node: the error names the scan, then the node.
    #[test]
    fn locates_errors_inside_scan_bodies() {
        let mut body = Graph::new();
        let c = body.add_input(f32s(&[2]));
        body.add_input(TensorType::scalar(DType::I32));
        let y = body.binary(BinaryOp::Mul, c, c).unwrap();
        body.outputs.push(y);
        let mut g = Graph::new();
        let x = g.add_input(f32s(&[2]));
        let scan = Scan {
            length: 3,
            reverse: false,
            n_carry: 1,
            n_seq: 0,
            body,
        };
        let s = g.add(Op::Scan(Box::new(scan)), vec![x]).unwrap();
        let out = g.project(s, 0).unwrap();
        g.outputs.push(out);
        verify(&g).unwrap();

        let Op::Scan(scan) = &mut g.nodes[1].op else {
            unreachable!()
        };
        scan.body.nodes[2].args[0] = NodeId(5);
        let e = verify(&g).unwrap_err();
        assert_eq!(e.scans, vec![NodeId(1)]);
        assert!(
            e.to_string()
                .starts_with("in the body of scan %1: %2 (mul): argument %5"),
            "{e}"
        );
    }
}
