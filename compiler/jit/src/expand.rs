//! Rewrites done before fusion: ops the interpreter evaluates directly that this backend
//! runs better as a composition of ops it already fuses.
//!
//! `TakeRows(x: [B, R…], idx: [M])` becomes a gather along the last axis of `x` seen
//! through views — transposed to `[R…, B]` and broadcast to `[M, R…, B]`, with `idx`
//! broadcast to `[M, R…]` — none of which is materialised in a fused schedule: the result
//! is computed by loads at `idx[m]·stride` inside whatever kernel consumes it (a
//! minibatch's rows feed the first layer's product directly; an environment's lookup
//! table stays inside its rollout kernel), O(M·R) whatever `B` is.

use rlp_ir::types::TypeError;
use rlp_ir::{Graph, Node, NodeId, Op};

/// `g` with every `TakeRows` (scan bodies included) replaced by views and a `Gather`.
pub fn take_rows_as_gathers(g: &Graph) -> Result<Graph, TypeError> {
    if !has_take_rows(g) {
        return Ok(g.clone());
    }
    let mut out = Graph::new();
    out.inputs = g.inputs.clone();
    let mut map: Vec<NodeId> = Vec::with_capacity(g.nodes.len());
    for node in &g.nodes {
        let args: Vec<NodeId> = node.args.iter().map(|a| map[a.index()]).collect();
        let id = match &node.op {
            Op::TakeRows => {
                let first = out.nodes.len();
                let id = gather_rows(&mut out, args[0], args[1])?;
                for n in &mut out.nodes[first..] {
                    n.origin = node.origin;
                }
                id
            }
            Op::Scan(scan) => {
                let mut scan = (**scan).clone();
                scan.body = take_rows_as_gathers(&scan.body)?;
                out.push(Node {
                    op: Op::Scan(Box::new(scan)),
                    args,
                    ty: node.ty.clone(),
                    origin: node.origin,
                })
            }
            op => out.push(Node {
                op: op.clone(),
                args,
                ty: node.ty.clone(),
                origin: node.origin,
            }),
        };
        map.push(id);
    }
    out.outputs = g.outputs.iter().map(|o| map[o.index()]).collect();
    Ok(out)
}

fn has_take_rows(g: &Graph) -> bool {
    g.nodes.iter().any(|n| match &n.op {
        Op::TakeRows => true,
        Op::Scan(s) => has_take_rows(&s.body),
        _ => false,
    })
}

/// `x[idx]` (rows) as `gather(broadcast(transpose(x)), broadcast(idx))`.
fn gather_rows(g: &mut Graph, x: NodeId, idx: NodeId) -> Result<NodeId, TypeError> {
    let xt = g.ty(x).clone();
    let m = g.ty(idx).shape[0];
    let rank = xt.rank();
    // [B, R…] → [R…, B]
    let perm: Vec<usize> = (1..rank).chain([0]).collect();
    let moved = if rank > 1 { g.transpose(x, perm)? } else { x };
    let mut wide = vec![m];
    wide.extend_from_slice(&xt.shape[1..]);
    let mut full = wide.clone();
    full.push(xt.shape[0]);
    let table = g.broadcast(moved, &full)?;
    let mut column = vec![1; rank];
    column[0] = m;
    let idx = g.reshape(idx, &column)?;
    let idx = g.broadcast(idx, &wide)?;
    g.add(Op::Gather, vec![table, idx])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rlp_ir::{TensorType, Type};
    use rlp_runtime::DType;

    #[test]
    fn take_rows_becomes_a_gather_of_the_same_type() {
        let mut g = Graph::new();
        let x = g.add_input(TensorType::new(DType::F32, vec![5, 2, 3]));
        let i = g.add_input(TensorType::new(DType::I32, vec![4]));
        let t = g.add(Op::TakeRows, vec![x, i]).unwrap();
        g.outputs = vec![t];
        let e = take_rows_as_gathers(&g).unwrap();
        let out = e.outputs[0];
        assert_eq!(e.node(out).op, Op::Gather);
        assert_eq!(
            e.node(out).ty,
            Type::Tensor(TensorType::new(DType::F32, vec![4, 2, 3]))
        );
    }
}
