//! Dead-code elimination: drops every node no output depends on, and renumbers.
//!
//! `Input` nodes are always kept (the graph's signature does not change). Scan bodies
//! are cleaned recursively, and a scan's per-step outputs that no live `project` reads
//! are removed from its body — they would otherwise be computed and stacked every step
//! — with the remaining `project` indices renumbered. Carries always stay: each feeds
//! the next step.

use crate::graph::{Graph, Node, NodeId, Op, Type};
use crate::types;

/// `g` without its dead nodes.
pub fn run(g: &Graph) -> Graph {
    let (live, read) = liveness(g);
    let mut out = Graph {
        inputs: g.inputs.clone(),
        nodes: vec![],
        outputs: vec![],
    };
    let mut map: Vec<Option<NodeId>> = vec![None; g.nodes.len()];
    // For each scan, the new tuple position of each old one (None if removed).
    let mut positions: Vec<Vec<Option<usize>>> = vec![vec![]; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        if !live[i] {
            continue;
        }
        let args: Vec<NodeId> = node
            .args
            .iter()
            .map(|a| map[a.index()].expect("live argument"))
            .collect();
        let new = match &node.op {
            Op::Scan(scan) => {
                let mut scan = scan.clone();
                positions[i] = prune_outputs(&mut scan.body, scan.n_carry, &read[i]);
                scan.body = run(&scan.body);
                let op = Op::Scan(scan);
                let ty = types::infer(&out, &op, &args).expect("a pruned scan stays well-typed");
                Node {
                    op,
                    args,
                    ty,
                    origin: node.origin,
                }
            }
            Op::Project(k) => {
                let k = positions[node.args[0].index()][*k].expect("a read output is kept");
                Node {
                    op: Op::Project(k),
                    args,
                    ty: node.ty.clone(),
                    origin: node.origin,
                }
            }
            op => Node {
                op: op.clone(),
                args,
                ty: node.ty.clone(),
                origin: node.origin,
            },
        };
        map[i] = Some(out.push(new));
    }
    out.outputs = g
        .outputs
        .iter()
        .map(|o| map[o.index()].expect("outputs are live"))
        .collect();
    out
}

/// Which nodes are live (outputs, inputs, and what they need), and for each tuple
/// node which of its elements a live `project` reads.
fn liveness(g: &Graph) -> (Vec<bool>, Vec<Vec<bool>>) {
    let mut live: Vec<bool> = g
        .nodes
        .iter()
        .map(|n| matches!(n.op, Op::Input(_)))
        .collect();
    for o in &g.outputs {
        live[o.index()] = true;
    }
    let mut read: Vec<Vec<bool>> = g
        .nodes
        .iter()
        .map(|n| match &n.ty {
            Type::Tuple(ts) => vec![false; ts.len()],
            Type::Tensor(_) => vec![],
        })
        .collect();
    for i in (0..g.nodes.len()).rev() {
        if !live[i] {
            continue;
        }
        let node = &g.nodes[i];
        if let Op::Project(k) = node.op {
            read[node.args[0].index()][k] = true;
        }
        for a in &node.args {
            live[a.index()] = true;
        }
    }
    (live, read)
}

/// Removes the per-step outputs of `body` (those after the `n_carry` carries) that are
/// not `read`, and returns each old output's new position.
fn prune_outputs(body: &mut Graph, n_carry: usize, read: &[bool]) -> Vec<Option<usize>> {
    let mut positions = Vec::with_capacity(read.len());
    let mut kept = Vec::new();
    for (k, &o) in body.outputs.iter().enumerate() {
        if k < n_carry || read[k] {
            positions.push(Some(kept.len()));
            kept.push(o);
        } else {
            positions.push(None);
        }
    }
    body.outputs = kept;
    positions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{BinaryOp, Scan, TensorType, UnaryOp};
    use crate::interp;
    use crate::verify::verify;
    use rlp_runtime::{DType, Tensor};

    #[test]
    fn removes_dead_nodes_keeps_inputs_and_renumbers() {
        let ty = TensorType::new(DType::F32, [2]);
        let mut g = Graph::new();
        let x = g.add_input(ty.clone());
        let unused = g.add_input(ty.clone());
        let dead = g.unary(UnaryOp::Exp, unused).unwrap();
        g.binary(BinaryOp::Mul, dead, x).unwrap();
        let y = g.unary(UnaryOp::Neg, x).unwrap();
        g.outputs = vec![y, x];

        let h = run(&g);
        verify(&h).unwrap();
        assert_eq!(
            h.to_string(),
            "inputs f32[2], f32[2]\n%0 = input[0] : f32[2]\n%1 = input[1] : f32[2]\n%2 = neg %0 : f32[2]\noutputs %2, %0\n"
        );
        let inputs = [
            Tensor::full(DType::F32, &[2], 1.5),
            Tensor::full(DType::F32, &[2], 2.0),
        ];
        assert_eq!(
            interp::run(&h, &inputs).unwrap(),
            interp::run(&g, &inputs).unwrap()
        );
    }

    /// A scan with two per-step outputs of which only the second is read: the first,
    /// and the body nodes computing it, go; `project[2]` becomes `project[1]`.
    #[test]
    fn prunes_unread_scan_outputs() {
        let s = TensorType::scalar(DType::F32);
        let mut body = Graph::new();
        let c = body.add_input(s.clone());
        body.add_input(TensorType::scalar(DType::I32));
        let e = body.unary(UnaryOp::Exp, c).unwrap();
        let n = body.unary(UnaryOp::Neg, c).unwrap();
        body.outputs = vec![c, e, n];
        let mut g = Graph::new();
        let x = g.add_input(s);
        let scan = g
            .add(
                Op::Scan(Box::new(Scan {
                    length: 3,
                    reverse: false,
                    n_carry: 1,
                    n_seq: 0,
                    body,
                })),
                vec![x],
            )
            .unwrap();
        let negs = g.project(scan, 2).unwrap();
        g.outputs = vec![negs];

        let h = run(&g);
        verify(&h).unwrap();
        let Op::Scan(pruned) = &h.node(NodeId(1)).op else {
            panic!("{h}")
        };
        assert_eq!(pruned.body.nodes.len(), 3, "{h}");
        assert_eq!(h.node(NodeId(2)).op, Op::Project(1));
        let inputs = [Tensor::full(DType::F32, &[], 0.5)];
        assert_eq!(
            interp::run(&h, &inputs).unwrap(),
            interp::run(&g, &inputs).unwrap()
        );
    }
}
