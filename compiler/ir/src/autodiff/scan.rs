//! The adjoint of a scan: a scan running the other way over the vector–Jacobian
//! product of the body.
//!
//! For a forward scan `c[t+1], y[t] = body(c[t], x[t], inv, t)`:
//! 1. the forward scan is extended (in place, by appending outputs, so existing
//!    `project`s keep their meaning) to also return the stacked carries `c[t]` each step
//!    started from;
//! 2. a new scan visits the steps in the opposite order. Its body recomputes the
//!    forward step from `c[t]`, `x[t]`, `inv`, `t` and applies [`super::vjp`] to it, seeded
//!    with the carry cotangent `dc[t+1]` and the output cotangent `dy[t]`. It carries
//!    `dc` (giving `dc[t]`) and, as extra carries, running sums of the invariants'
//!    cotangents; the sequences' cotangents `dx[t]` are its per-step outputs, stacked
//!    by index like any scan's.
//!
//! The body is recomputed rather than storing its intermediates: memory stays at one
//! carry per step. Only carries that depend on a differentiated input take part
//! (found by a fixpoint, since a carry can become dependent through another carry).

use super::{AutodiffError, backprop, depends_on};
use crate::graph::{BinaryOp, Graph, NodeId, Op, Scan};
use crate::types::{self, TypeError};

/// The body inputs, body outputs and scan arguments the VJP involves, as positions
/// within their group (carries, sequences, invariants, per-step outputs).
struct Plan {
    /// Carries whose cotangent the reverse scan carries.
    carries: Vec<usize>,
    /// Sequences that need gradients.
    seqs: Vec<usize>,
    /// Invariants that need gradients.
    invariants: Vec<usize>,
    /// Per-step outputs with a cotangent that depend on a differentiated input.
    outputs: Vec<usize>,
}

/// The contributions of scan `id`, whose tuple cotangent is `dys`, to its arguments.
pub(super) fn adjoint(
    g: &mut Graph,
    id: NodeId,
    dys: &[Option<NodeId>],
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, AutodiffError> {
    let Op::Scan(scan) = &g.node(id).op else {
        unreachable!("the scan rule on a non-scan")
    };
    let scan: Scan = (**scan).clone();
    let args = g.node(id).args.clone();
    let (nc, ns) = (scan.n_carry, scan.n_seq);
    let ni = args.len() - nc - ns;

    let active = active_inputs(&scan, needs);
    let out_active = output_deps(&scan.body, &active);
    let plan = Plan {
        carries: (0..nc).filter(|&k| active[k]).collect(),
        seqs: (0..ns).filter(|&j| needs[nc + j]).collect(),
        invariants: (0..ni).filter(|&j| needs[nc + ns + j]).collect(),
        outputs: (0..scan.n_out())
            .filter(|&m| out_active[nc + m] && dys[nc + m].is_some())
            .collect(),
    };
    let seeded = plan.carries.iter().any(|&k| dys[k].is_some()) || !plan.outputs.is_empty();
    if !seeded {
        return Ok(vec![None; args.len()]);
    }

    let starts = emit_start_carries(g, id)?;
    let body = reverse_body(&scan, &plan)?;
    // The reverse scan's arguments, in the order `reverse_body` reads them: the final
    // carries' cotangents and zeroed invariant sums (carries), the forward carries and
    // sequences and the output cotangents (sequences), the invariants.
    let mut r_args = Vec::new();
    for &k in &plan.carries {
        r_args.push(match dys[k] {
            Some(d) => d,
            None => g.full(&scan.body.inputs[k], 0.0)?,
        });
    }
    for &j in &plan.invariants {
        r_args.push(g.full(&scan.body.inputs[nc + ns + j], 0.0)?);
    }
    for k in 0..nc {
        r_args.push(g.project(id, starts + k)?);
    }
    r_args.extend(&args[nc..nc + ns]);
    r_args.extend(
        plan.outputs
            .iter()
            .map(|&m| dys[nc + m].expect("seeded output")),
    );
    r_args.extend(&args[nc + ns..]);
    let n_carry = plan.carries.len() + plan.invariants.len();
    let reverse = Scan {
        length: scan.length,
        reverse: !scan.reverse,
        n_carry,
        n_seq: nc + ns + plan.outputs.len(),
        body,
    };
    let r = g.add(Op::Scan(Box::new(reverse)), r_args)?;

    // Its results, `[dc…, dinv…, dx…]`, are the arguments' gradients.
    let mut grads = vec![None; args.len()];
    for (pos, &k) in plan.carries.iter().enumerate() {
        if needs[k] {
            grads[k] = Some(g.project(r, pos)?);
        }
    }
    for (pos, &j) in plan.invariants.iter().enumerate() {
        grads[nc + ns + j] = Some(g.project(r, plan.carries.len() + pos)?);
    }
    for (pos, &j) in plan.seqs.iter().enumerate() {
        grads[nc + j] = Some(g.project(r, n_carry + pos)?);
    }
    Ok(grads)
}

/// The body inputs that depend on a differentiated argument: those of the arguments
/// that need gradients, plus every carry the body makes depend on them.
fn active_inputs(scan: &Scan, needs: &[bool]) -> Vec<bool> {
    let mut active = needs.to_vec();
    active.push(false); // the step index
    loop {
        let outs = output_deps(&scan.body, &active);
        let grown: Vec<usize> = (0..scan.n_carry)
            .filter(|&k| outs[k] && !active[k])
            .collect();
        if grown.is_empty() {
            return active;
        }
        for k in grown {
            active[k] = true;
        }
    }
}

/// Whether each body output depends on an `active` body input.
fn output_deps(body: &Graph, active: &[bool]) -> Vec<bool> {
    let source: Vec<bool> = body
        .nodes
        .iter()
        .map(|n| matches!(n.op, Op::Input(k) if active[k]))
        .collect();
    let deps = depends_on(body, &source);
    body.outputs.iter().map(|o| deps[o.index()]).collect()
}

/// Makes scan `id` also return, stacked, the carries each step started from, and
/// returns the tuple position of the first. A body that already returns its input
/// carries as its last outputs (a scan differentiated before) is reused as is.
fn emit_start_carries(g: &mut Graph, id: NodeId) -> Result<usize, TypeError> {
    let Op::Scan(scan) = &mut g.nodes[id.index()].op else {
        unreachable!("not a scan")
    };
    let nc = scan.n_carry;
    let body = &mut scan.body;
    let n = body.outputs.len();
    let returns_input = |k: usize| body.node(body.outputs[n - nc + k]).op == Op::Input(k);
    if n - nc >= nc && (0..nc).all(returns_input) {
        return Ok(n - nc);
    }
    for k in 0..nc {
        let existing = body.ids().find(|&i| body.node(i).op == Op::Input(k));
        let input = existing
            .unwrap_or_else(|| body.add_typed(Op::Input(k), vec![], body.inputs[k].clone()));
        body.outputs.push(input);
    }
    let node = g.node(id);
    let ty = types::infer(g, &node.op, &node.args)?;
    g.nodes[id.index()].ty = ty;
    Ok(n)
}

/// The reverse scan's body. Inputs: carries `[dc…, dinv…]`, sequences
/// `[c…, x…, dy…]`, invariants `[inv…]`, then `t`. Outputs: `[dc_prev…, dinv + dinv_t…]`
/// as new carries, `[dx…]` per step.
fn reverse_body(scan: &Scan, plan: &Plan) -> Result<Graph, AutodiffError> {
    let fwd = &scan.body;
    let (nc, ns) = (scan.n_carry, scan.n_seq);
    let ni = fwd.inputs.len() - nc - ns - 1;
    let mut b = Graph::new();
    let input = |b: &mut Graph, i: usize| b.add_input(fwd.inputs[i].clone());
    let dc: Vec<NodeId> = plan.carries.iter().map(|&k| input(&mut b, k)).collect();
    let dinv: Vec<NodeId> = plan
        .invariants
        .iter()
        .map(|&j| input(&mut b, nc + ns + j))
        .collect();
    let c: Vec<NodeId> = (0..nc).map(|k| input(&mut b, k)).collect();
    let x: Vec<NodeId> = (0..ns).map(|j| input(&mut b, nc + j)).collect();
    let dy: Vec<NodeId> = plan
        .outputs
        .iter()
        .map(|&m| b.add_input(fwd.ty(fwd.outputs[nc + m]).clone()))
        .collect();
    let inv: Vec<NodeId> = (0..ni).map(|j| input(&mut b, nc + ns + j)).collect();
    let t = input(&mut b, nc + ns + ni);

    let step_inputs: Vec<NodeId> = c
        .iter()
        .chain(&x)
        .chain(&inv)
        .chain([&t])
        .copied()
        .collect();
    let y = b.inline(fwd, &step_inputs);
    let seeds: Vec<(NodeId, NodeId)> = (plan.carries.iter().map(|&k| y[k]).zip(dc.iter().copied()))
        .chain(
            plan.outputs
                .iter()
                .map(|&m| y[nc + m])
                .zip(dy.iter().copied()),
        )
        .collect();
    let wrt: Vec<NodeId> = (plan.carries.iter().map(|&k| c[k]))
        .chain(plan.seqs.iter().map(|&j| x[j]))
        .chain(plan.invariants.iter().map(|&j| inv[j]))
        .collect();
    let grads = backprop(&mut b, &seeds, &wrt)?;
    let (d_carries, rest) = grads.split_at(plan.carries.len());
    let (d_seqs, d_invariants) = rest.split_at(plan.seqs.len());

    let or_zeros = |b: &mut Graph, d: Option<NodeId>, like: NodeId| match d {
        Some(d) => Ok(d),
        None => {
            let ty = b.ty(like).clone();
            b.full(&ty, 0.0)
        }
    };
    let mut outputs = Vec::new();
    for (&d, &k) in d_carries.iter().zip(&plan.carries) {
        outputs.push(or_zeros(&mut b, d, c[k])?);
    }
    for (&d, &acc) in d_invariants.iter().zip(&dinv) {
        outputs.push(match d {
            Some(d) => b.binary(BinaryOp::Add, acc, d)?,
            None => acc,
        });
    }
    for (&d, &j) in d_seqs.iter().zip(&plan.seqs) {
        outputs.push(or_zeros(&mut b, d, x[j])?);
    }
    b.outputs = outputs;
    Ok(b)
}
