//! Deferred select operands in lanes scans: work that only feeds the taken-when-rare side
//! of a `select` runs only when some lane takes it.
//!
//! Why: an environment step ends with `select(done, reset_state, stepped_state)`; the
//! reset draws a fresh state (a Philox block per environment) every step although an
//! episode ends only every few dozen steps. Here the instructions that feed nothing but
//! the `a` operands of the selects sharing one condition (a *cone*) move into a region
//! that runs when any of the four lanes has the condition set; otherwise the selects
//! yield their `b` operands. Each lane still gets exactly its select's value, so results
//! are unchanged. Only cones that contain a random draw are deferred: for cheap
//! arithmetic the branch would cost more than it saves.

use crate::kernel::{Kernel, Op, ScanKernel, ValId};

/// One deferred region: emitted just before body instruction `before` (or after the
/// whole body when `None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// The first body instruction that needs a select's value.
    pub before: Option<ValId>,
    /// The selects' shared condition.
    pub cond: ValId,
    /// The deferred instructions, in order.
    pub cone: Vec<ValId>,
    /// The selects, in order.
    pub selects: Vec<ValId>,
}

/// The regions of a scan kernel's body, and which instructions they take over.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// `deferred[i]`: instruction `i` is emitted by a region, not in body order.
    pub deferred: Vec<bool>,
    pub regions: Vec<Region>,
}

/// The values an instruction reads, including the dynamic terms of its index.
pub fn operands(k: &Kernel, v: ValId) -> Vec<ValId> {
    let index_terms = |ix: &crate::kernel::IndexId| -> Vec<ValId> {
        k.indices[ix.index()]
            .dynamic
            .iter()
            .map(|d| d.value)
            .collect()
    };
    match &k.insts[v.index()].op {
        Op::Load { index, .. } | Op::Coord(index) => index_terms(index),
        Op::Const(_) | Op::Carry(_) | Op::Step => vec![],
        Op::Unary(_, a) | Op::Cast(a) | Op::Assert(a, _, None) => vec![*a],
        Op::Assert(a, _, Some(x)) => vec![*a, *x],
        Op::Binary(_, a, b) => vec![*a, *b],
        Op::Select(c, a, b) => vec![*c, *a, *b],
        Op::Random {
            c0, c1, counter, ..
        } => {
            let mut v = vec![*c0, *c1];
            v.extend(index_terms(counter));
            v
        }
    }
}

/// Plans the deferred regions of scan kernel `k` with loop `s`.
pub fn plan(k: &Kernel, s: &ScanKernel) -> Plan {
    let n = k.insts.len();
    let mut in_body = vec![false; n];
    for &v in &s.body {
        in_body[v.index()] = true;
    }
    let mut users: Vec<Vec<ValId>> = vec![vec![]; n];
    for &v in &s.body {
        for o in operands(k, v) {
            users[o.index()].push(v);
        }
    }
    let mut escapes = vec![false; n];
    for &v in s.next.iter().chain(s.step_stores.iter().map(|st| &st.1)) {
        escapes[v.index()] = true;
    }
    let mut plan = Plan {
        deferred: vec![false; n],
        regions: vec![],
    };
    let mut conds: Vec<ValId> = vec![];
    for &v in &s.body {
        if let Op::Select(c, _, _) = k.insts[v.index()].op
            && !conds.contains(&c)
        {
            conds.push(c);
        }
    }
    for cond in conds {
        let selects: Vec<ValId> = s
            .body
            .iter()
            .copied()
            .filter(|v| matches!(k.insts[v.index()].op, Op::Select(c, _, _) if c == cond))
            .filter(|v| !plan.deferred[v.index()])
            .collect();
        let is_select = |v: ValId| selects.contains(&v);
        // Everything in the body the `a` operands are computed from…
        let mut cone = vec![false; n];
        let mut stack: Vec<ValId> = selects
            .iter()
            .map(|v| match k.insts[v.index()].op {
                Op::Select(_, a, _) => a,
                _ => unreachable!("filtered to selects"),
            })
            .collect();
        while let Some(x) = stack.pop() {
            let i = x.index();
            if !in_body[i] || cone[i] || plan.deferred[i] || is_select(x) || x == cond {
                continue;
            }
            cone[i] = true;
            stack.extend(operands(k, x));
        }
        // …less the selects' other operands (the skip path yields `b`)…
        for v in &selects {
            if let Op::Select(_, _, b) = k.insts[v.index()].op {
                cone[b.index()] = false;
            }
        }
        // …less what anything else uses, to a fixed point.
        loop {
            let mut changed = false;
            for i in 0..n {
                if cone[i]
                    && (escapes[i] || users[i].iter().any(|u| !cone[u.index()] && !is_select(*u)))
                {
                    cone[i] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let members: Vec<ValId> = (0..n)
            .filter(|&i| cone[i])
            .map(|i| ValId(i as u32))
            .collect();
        if !members
            .iter()
            .any(|v| matches!(k.insts[v.index()].op, Op::Random { .. }))
        {
            continue;
        }
        // The region goes before the first other instruction that needs a select.
        let before = selects
            .iter()
            .flat_map(|v| users[v.index()].iter().copied())
            .filter(|u| !cone[u.index()] && !is_select(*u))
            .min();
        let limit = before.map_or(usize::MAX, ValId::index);
        let inputs_ready = members.iter().chain(&selects).all(|&v| {
            operands(k, v).iter().all(|o| {
                !in_body[o.index()] || cone[o.index()] || is_select(*o) || o.index() < limit
            })
        });
        if !inputs_ready {
            continue;
        }
        for &v in members.iter().chain(&selects) {
            plan.deferred[v.index()] = true;
        }
        plan.regions.push(Region {
            before,
            cond,
            cone: members,
            selects,
        });
    }
    plan
}
