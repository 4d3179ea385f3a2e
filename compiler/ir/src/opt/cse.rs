//! Common-subexpression elimination: a node equal to an earlier one (same op and
//! attributes, same arguments, same type) is replaced by it.
//!
//! Every op is a pure function of its arguments and attributes — `random` included: a
//! draw is fixed by its seed, stream, counters and shape, so two equal `random` nodes
//! hold the same numbers, while draws with different streams differ in the key. Two
//! ops are equal when their printed forms are (the text form carries every attribute,
//! floats in round-trip form, so `0.0` and `-0.0` stay apart). Scans are never merged
//! (their bodies are not part of that form); their bodies are cleaned recursively.
//! Merged nodes become dead; `dce` removes them.

use std::collections::HashMap;

use crate::graph::{Graph, Node, NodeId, Op, Type};

/// `g` with duplicate nodes merged.
pub fn run(g: &Graph) -> Graph {
    let mut out = Graph {
        inputs: g.inputs.clone(),
        nodes: vec![],
        outputs: vec![],
    };
    let mut map: Vec<NodeId> = Vec::with_capacity(g.nodes.len());
    let mut seen: HashMap<(String, Vec<NodeId>, Type), NodeId> = HashMap::new();
    for node in &g.nodes {
        let args: Vec<NodeId> = node.args.iter().map(|a| map[a.index()]).collect();
        let id = match &node.op {
            Op::Scan(scan) => {
                let mut scan = scan.clone();
                scan.body = run(&scan.body);
                out.push(Node {
                    op: Op::Scan(scan),
                    args,
                    ty: node.ty.clone(),
                    origin: node.origin,
                })
            }
            op => {
                let key = (op.to_string(), args.clone(), node.ty.clone());
                *seen.entry(key).or_insert_with(|| {
                    out.push(Node {
                        op: op.clone(),
                        args,
                        ty: node.ty.clone(),
                        origin: node.origin,
                    })
                })
            }
        };
        map.push(id);
    }
    out.outputs = g.outputs.iter().map(|o| map[o.index()]).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{BinaryOp, Distribution, TensorType};
    use crate::verify::verify;
    use rlp_runtime::DType;

    fn count(g: &Graph, name: &str) -> usize {
        g.nodes.iter().filter(|n| n.op.name() == name).count()
    }

    #[test]
    fn merges_equal_nodes_only() {
        let ty = TensorType::new(DType::F32, [2]);
        let mut g = Graph::new();
        let x = g.add_input(ty.clone());
        let zeros = [
            g.full(&ty, 0.0).unwrap(),
            g.full(&ty, 0.0).unwrap(),
            g.full(&ty, -0.0).unwrap(),
        ];
        let sums: Vec<NodeId> = zeros
            .iter()
            .map(|&z| g.binary(BinaryOp::Add, x, z).unwrap())
            .collect();
        let (c0, c1) = (g.constant(DType::I32, 0.0), g.constant(DType::I32, 0.0));
        let random = |g: &mut Graph, stream| {
            let op = Op::Random {
                dist: Distribution::Uniform,
                seed: 1,
                stream,
            };
            g.add_checked(op, vec![c0, c1], ty.clone()).unwrap()
        };
        let draws = [random(&mut g, 0), random(&mut g, 0), random(&mut g, 1)];
        g.outputs = sums.into_iter().chain(draws).collect();

        let h = run(&g);
        verify(&h).unwrap();
        assert_eq!(count(&h, "const"), 3, "0.0, -0.0 and the i32 0:\n{h}");
        assert_eq!(count(&h, "add"), 2, "{h}");
        assert_eq!(count(&h, "uniform"), 2, "{h}");
        assert_eq!(h.outputs[0], h.outputs[1]);
        assert_ne!(h.outputs[0], h.outputs[2]);
        assert_eq!(h.outputs[3], h.outputs[4]);
        assert_ne!(h.outputs[3], h.outputs[5]);
    }
}
