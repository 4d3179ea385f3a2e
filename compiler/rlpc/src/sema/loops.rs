//! `for` and `repeat` statements inside a stage: a loop in the IR, or unrolled.
//!
//! A loop becomes one `Scan` node of the enclosing stage (or loop) graph whose body is
//! the loop body traced once ([`CtxKind::Loop`]): the slots the body writes
//! (parameters, optimizer moments, environment state) and the names it rebinds are
//! the scan's carries, the items the loop runs over are stacked into sequences, and
//! everything else it reads is loop-invariant. `minimize` and `grad` in the body
//! differentiate the body graph. The graph, and so the compile time, no longer grows
//! with the number of iterations.
//!
//! The rule (also in `docs/language.md`). A loop is **unrolled** — its body elaborated
//! once per item, as a compile-time loop — when
//! 1. it is not directly inside a stage or another such loop (a `scan` body, the top
//!    level), or the program is lowered with [`super::Options::unroll_loops`];
//! 2. the body reads the loop variable and the items differ in anything but tensor
//!    values: ints (`for k in range(4)` whose body uses `k`), functions, tensor shapes
//!    or dtypes; or the items hold state (parameters, top-level tensors), which the
//!    body could update by name;
//! 3. a name the body rebinds holds anything but tensors (a number, a function), or the
//!    body changes its shape or dtype; or a `repeat` body binds a new name (which
//!    outlives the loop);
//! 4. the body creates state (parameters, environments; optimizer moments made on
//!    first use are fine) or steps an external environment;
//! 5. a gradient taken in the body could flow through a value from outside the body:
//!    its loss reads (other than through `stop`) a value computed from the parameters
//!    it differentiates before the loop or in an earlier iteration (state the loop
//!    updates from them), or a name the loop rebinds;
//! 6. anything else makes tracing the body once fail (the unrolled loop then reports
//!    the error, if it has one).
//!
//! Both forms give the same results: iteration `k` of `n` draws its random numbers
//! from the streams of the body's statements with `c1 = c1_outer · n + k` — what a
//! scan's step does (`Elab::counters`) — whether it is traced once or unrolled.

use super::elab::{Ctx, CtxKind, Elab, R, Role};
use super::value::{Frame, Src, TVal, Value};
use crate::diag::{Diag, Loc};
use crate::program::{LoopLowering, LoopNote, SlotId, SlotKind};
use rlp_ir::{DType, Graph, NodeId, Op, TensorType};
use rlp_syntax::ast::{self, StmtKind};
use std::collections::HashMap;
use std::rc::Rc;

/// Elaborates one statement of a loop body.
pub type StmtFn = fn(&mut Elab, &ast::Stmt, &Rc<Frame>) -> R<()>;

/// A `for` statement over `items` (or, with no variable, `repeat`), each statement of
/// the body elaborated by `run`. Names a `for` body binds end with the loop; those a
/// `repeat` body binds outlive it (such a `repeat` is unrolled).
pub fn for_loop(
    el: &mut Elab,
    var: Option<&ast::Ident>,
    items: Vec<Value>,
    body: &[ast::Stmt],
    fr: &Rc<Frame>,
    run: StmtFn,
) -> R<()> {
    let loc = el.loc;
    let scoped = var.is_some();
    let scope = LoopScope::enter(fr);
    // The loop variable keeps its last item after the loop when it names a variable
    // of this scope already (the unrolled loop's assignments do that).
    let var_kept = var.filter(|v| fr.vars.borrow().iter().any(|(n, _)| *n == v.name));
    let note = note(el, loc, items.len());
    let r = (|| {
        if items.is_empty() {
            return Ok(None);
        }
        let why = match plan(el, var, &items, body, fr, scoped) {
            Ok(plan) => {
                let snap = Snapshot::take(el, fr);
                match trace(el, &plan, var, &items, body, fr, run, loc) {
                    Ok(lowered) => return Ok(Some(lowered)),
                    Err(d) => {
                        snap.restore(el, fr);
                        if d.code == GIVE_UP {
                            d.message
                        } else {
                            format!("tracing its body once failed ({})", d.message)
                        }
                    }
                }
            }
            Err(why) => why,
        };
        unroll(el, var, &items, body, fr, run)?;
        Ok(Some(LoopLowering::Unrolled(why)))
    })();
    if let (Some(i), Ok(Some(lowering))) = (note, &r) {
        el.loop_notes[i].1.lowering = lowering.clone();
    }
    if let (Some(v), Some(last)) = (var_kept, items.last())
        && r.is_ok()
    {
        fr.set(&v.name, last.clone());
    }
    if scoped {
        scope.leave(fr);
    }
    el.loc = loc;
    r.map(|_| ())
}

/// Starts the note `rlpc explain` shows for the loop at `loc` (once per loop and stage:
/// not again for each iteration of an unrolled loop around it).
fn note(el: &mut Elab, loc: Loc, iterations: usize) -> Option<usize> {
    let stage = el.ctxs.first()?.id;
    let at = el.mods.sources.describe(loc);
    if el.loop_notes.iter().any(|(g, n)| *g == stage && n.at == at) {
        return None;
    }
    let header = el
        .mods
        .sources
        .snippet(loc)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let depth = el
        .ctxs
        .iter()
        .map(|c| c.unrolled.len() + usize::from(c.kind == CtxKind::Loop))
        .sum();
    el.loop_notes.push((
        stage,
        LoopNote {
            at,
            header,
            depth,
            iterations,
            lowering: LoopLowering::Unrolled("it has no iterations".into()),
        },
    ));
    Some(el.loop_notes.len() - 1)
}

/// The names a `for` body introduces live only inside it: they are dropped when the
/// loop ends, so they are not carried to later stages (and not kept as state).
pub struct LoopScope(usize);

impl LoopScope {
    pub fn enter(fr: &Rc<Frame>) -> LoopScope {
        LoopScope(fr.vars.borrow().len())
    }
    pub fn leave(self, fr: &Rc<Frame>) {
        fr.vars.borrow_mut().truncate(self.0);
    }
}

/// The body once per item. Iteration `k` of `n` draws with `c1 = c1 · n + k` and
/// restarts the stream numbers at the loop's first, as the traced loop does.
fn unroll(
    el: &mut Elab,
    var: Option<&ast::Ident>,
    items: &[Value],
    body: &[ast::Stmt],
    fr: &Rc<Frame>,
    run: StmtFn,
) -> R<()> {
    let level = el.ctxs.len() - 1;
    let outer = el.ctxs[level].unrolled.clone();
    let first_stream = el.next_stream;
    let n = items.len();
    let mut result = Ok(());
    for (k, item) in items.iter().enumerate() {
        el.next_stream = first_stream;
        let mut idx = outer.clone();
        idx.push((n, k));
        el.set_unrolled(level, idx);
        if let Some(v) = var {
            fr.set(&v.name, item.clone());
        }
        result = body.iter().try_for_each(|s| run(el, s, fr));
        if result.is_err() {
            break;
        }
    }
    if el.ctxs.len() > level {
        el.set_unrolled(level, outer);
    }
    el.next_stream = el.stream_mark;
    result
}

// ----- the plan: what a traced loop needs, decided before tracing ------------------------

/// How the loop variable is made inside the traced body.
struct Plan {
    /// The first item, whose tensors the body's values replace (`None`: the body does
    /// not read the variable).
    template: Option<Value>,
    /// Per tensor of the item: the same value in every item, or one value per item.
    leaves: Vec<Leaf>,
    /// Names the body rebinds that are visible at the loop, with their values there.
    rebound: Vec<(String, Value)>,
}

enum Leaf {
    Same(TVal),
    PerItem(Vec<TVal>),
}

/// Whether the loop can be traced once, and how; else why it is unrolled (rules 1–3).
fn plan(
    el: &Elab,
    var: Option<&ast::Ident>,
    items: &[Value],
    body: &[ast::Stmt],
    fr: &Rc<Frame>,
    scoped: bool,
) -> Result<Plan, String> {
    let top = el.ctxs.last().ok_or("it is not in a stage")?;
    if el.opts.unroll_loops {
        return Err("loops are unrolled in this compilation".into());
    }
    if top.is_init {
        return Err("it is not in a stage".into());
    }
    if top.kind == CtxKind::Scan {
        return Err("it is inside a `scan` body".into());
    }
    let mut mentioned = vec![];
    for s in body {
        stmt_names(s, &mut mentioned);
    }
    let (template, leaves) = match var {
        Some(v) if mentioned.contains(&v.name) => {
            let first = &items[0];
            if items.iter().any(|it| !alike(first, it)) {
                return Err(format!(
                    "its body reads `{}` and the items differ in more than tensor values",
                    v.name
                ));
            }
            let per: Vec<Vec<TVal>> = items.iter().map(tensors).collect();
            let mut leaves = vec![];
            for j in 0..per[0].len() {
                let vals: Vec<TVal> = per.iter().map(|p| p[j].clone()).collect();
                if vals.iter().all(|t| t.src == vals[0].src) {
                    leaves.push(Leaf::Same(vals[0].clone()));
                    continue;
                }
                let state = vals.iter().any(|t| {
                    matches!(t.src, Src::Slot(s)
                        if matches!(el.slots[s.0 as usize].kind, SlotKind::Param | SlotKind::State))
                });
                if state {
                    return Err("its items hold state the body could update".into());
                }
                leaves.push(Leaf::PerItem(vals));
            }
            (Some(first.clone()), leaves)
        }
        _ => (None, vec![]),
    };
    let mut targets = vec![];
    let_targets(body, &mut targets);
    let mut rebound = vec![];
    for name in targets {
        if var.is_some_and(|v| v.name == name) || rebound.iter().any(|(n, _)| *n == name) {
            continue;
        }
        match fr.get(&name) {
            Some(v) if tensors_only(&v) => rebound.push((name, v)),
            Some(v) => {
                return Err(format!(
                    "its body rebinds `{name}`, which holds {}",
                    v.kind()
                ));
            }
            // A module's function or a built-in, shadowed from the first iteration on.
            None if el.mods.lookup(fr.module, &name).is_some()
                || super::builtins::Builtin::by_name(&name).is_some()
                || name == "iteration" =>
            {
                return Err(format!("its body rebinds `{name}`"));
            }
            // A name a `repeat` body introduces outlives the loop.
            None if !scoped => {
                return Err(format!(
                    "its body binds `{name}`, which outlives a `repeat`"
                ));
            }
            None => {}
        }
    }
    Ok(Plan {
        template,
        leaves,
        rebound,
    })
}

// ----- tracing -----------------------------------------------------------------------------

/// Everything tracing a loop body can change, to undo a trace that did not work out.
struct Snapshot {
    ctxs: Vec<Ctx>,
    init: Option<Ctx>,
    slots: usize,
    next_stream: u32,
    stream_mark: u32,
    env_steps: u64,
    pending: usize,
    externals: usize,
    opt_log: usize,
    opt_slots: usize,
    vars: Vec<(String, Value)>,
    notes: usize,
}

impl Snapshot {
    fn take(el: &Elab, fr: &Rc<Frame>) -> Snapshot {
        Snapshot {
            ctxs: el.ctxs.clone(),
            init: el.init.clone(),
            slots: el.slots.len(),
            next_stream: el.next_stream,
            stream_mark: el.stream_mark,
            env_steps: el.env_steps,
            pending: el.pending.len(),
            externals: el.externals.len(),
            opt_log: el.opt_log.len(),
            opt_slots: el.opt_slots.len(),
            vars: fr.vars.borrow().clone(),
            notes: el.loop_notes.len(),
        }
    }

    fn restore(self, el: &mut Elab, fr: &Rc<Frame>) {
        el.ctxs = self.ctxs;
        el.init = self.init;
        el.slots.truncate(self.slots);
        el.next_stream = self.next_stream;
        el.stream_mark = self.stream_mark;
        el.env_steps = self.env_steps;
        el.pending.truncate(self.pending);
        el.externals.truncate(self.externals);
        while el.opt_log.len() > self.opt_log {
            let log = el.opt_log.pop().expect("longer than the snapshot");
            log.opt.states.borrow_mut().truncate(log.states);
            *log.opt.count.borrow_mut() = log.count;
        }
        el.opt_slots.truncate(self.opt_slots);
        el.making_opt_state = false;
        *fr.vars.borrow_mut() = self.vars;
        el.loop_notes.truncate(self.notes);
    }
}

/// The code of [`give_up`]'s diagnostics.
const GIVE_UP: &str = "loop-unrolled";

/// Why a traced loop is given up (never shown as an error: the loop is unrolled and
/// `rlpc explain` says why).
fn give_up(loc: Loc, why: &str) -> Diag {
    Diag::new(GIVE_UP, why.to_string()).label(loc, "this loop")
}

/// Traces the body once into a loop graph and emits the `Scan` node that runs it.
#[allow(clippy::too_many_arguments)]
fn trace(
    el: &mut Elab,
    plan: &Plan,
    var: Option<&ast::Ident>,
    items: &[Value],
    body: &[ast::Stmt],
    fr: &Rc<Frame>,
    run: StmtFn,
    loc: Loc,
) -> R<LoopLowering> {
    let n = items.len();
    // The per-item tensors, stacked along a new leading axis in the enclosing graph.
    let mut stacked = vec![];
    for leaf in &plan.leaves {
        if let Leaf::PerItem(vals) = leaf {
            let mut parts = vec![];
            for v in vals {
                let node = el.node(v)?;
                let mut shape = vec![1];
                shape.extend(&v.ty.shape);
                parts.push(el.emit_typed(
                    Op::Reshape,
                    vec![node],
                    TensorType::new(v.ty.dtype, shape),
                ));
            }
            stacked.push(if parts.len() == 1 {
                parts[0]
            } else {
                el.emit(Op::Concat { axis: 0 }, parts)?
            });
        }
    }
    // The loop graph: step index, carries for the rebound names, item slices.
    el.push_ctx(false);
    let level = el.ctxs.len() - 1;
    el.ctxs[level].kind = CtxKind::Loop;
    let t = el.ctxs[level]
        .graph
        .add_input(TensorType::scalar(DType::I32));
    el.ctxs[level].roles.push(Role::Step);
    el.ctxs[level].scan = Some((t, n));
    let mut inits = vec![];
    for (name, v) in &plan.rebound {
        let old = tensors(v);
        let mut new = vec![];
        for o in &old {
            let c = el.ctxs[level].graph.add_input(o.ty.clone());
            el.ctxs[level].roles.push(Role::Carry);
            new.push(Value::Tensor(el.tval(c)));
        }
        fr.set(name, rebuild(v, &mut new.into_iter()));
        inits.extend(old);
    }
    if let (Some(var), Some(template)) = (var, &plan.template) {
        let mut seqs = stacked.iter();
        let mut vals = vec![];
        for leaf in &plan.leaves {
            vals.push(Value::Tensor(match leaf {
                Leaf::Same(tv) => tv.clone(),
                Leaf::PerItem(v) => {
                    let o = *seqs.next().expect("one stack per leaf");
                    let s = el.ctxs[level].graph.add_input(v[0].ty.clone());
                    el.ctxs[level].roles.push(Role::Seq(o));
                    el.tval(s)
                }
            }));
        }
        fr.set(&var.name, rebuild(template, &mut vals.into_iter()));
    }
    // The body.
    let slots_before = el.slots.len();
    let (pending, externals) = (el.pending.len(), el.externals.len());
    let steps_before = el.env_steps;
    el.env_steps = 0;
    for s in body {
        run(el, s, fr)?;
    }
    el.loc = loc;
    let made = el.slots[slots_before..].len();
    let opt_made = el
        .opt_slots
        .iter()
        .filter(|s| s.0 as usize >= slots_before)
        .count();
    if made != opt_made {
        return Err(give_up(loc, "its body creates state"));
    }
    if el.pending.len() != pending || el.externals.len() != externals {
        return Err(give_up(loc, "its body steps an external environment"));
    }
    let body_steps = el.env_steps;
    el.env_steps = steps_before + body_steps * n as u64;
    // The rebound names' new values, which must keep their types.
    let mut new_carries = vec![];
    for (name, old) in &plan.rebound {
        let now = fr
            .get(name)
            .ok_or_else(|| give_up(loc, &format!("`{name}` is unbound after its body")))?;
        let (a, b) = (tensors(old), tensors(&now));
        if !tensors_only(&now)
            || a.len() != b.len()
            || a.iter().zip(&b).any(|(x, y)| x.ty != y.ty)
            || !alike(old, &now)
        {
            return Err(give_up(
                loc,
                &format!("its body changes the type of `{name}`"),
            ));
        }
        for tv in b {
            new_carries.push(el.node(&tv)?);
        }
    }
    check_deferred(el, level, loc)?;
    close(el, n, &plan.rebound, inits, new_carries, fr, loc)
}

/// Pops the loop graph and emits its `Scan` node: carries are the slots the body wrote
/// (in first-write order), then the rebound names; the enclosing graph gets the final
/// values.
fn close(
    el: &mut Elab,
    n: usize,
    rebound: &[(String, Value)],
    inits: Vec<TVal>,
    new_carries: Vec<NodeId>,
    fr: &Rc<Frame>,
    loc: Loc,
) -> R<LoopLowering> {
    let level = el.ctxs.len() - 1;
    // A written slot the body never read still needs its carry input.
    for s in el.ctxs[level].writes.clone() {
        if !el.ctxs[level].roles.contains(&Role::Slot(s)) {
            let ty = el.slots[s.0 as usize].ty.clone();
            let ctx = &mut el.ctxs[level];
            ctx.graph.add_input(ty);
            ctx.roles.push(Role::Slot(s));
        }
    }
    let ctx = el.ctxs.pop().expect("loop ctx");
    let writes = ctx.writes.clone();
    let mut outputs: Vec<NodeId> = writes.iter().map(|s| ctx.slot_vals[s]).collect();
    outputs.extend(new_carries);
    // Inputs in scan order: carries (written slots, then rebound names), sequences,
    // invariants (slots only read, captured values), the step.
    let rank = |r: &Role| match r {
        Role::Slot(s) => match writes.iter().position(|w| w == s) {
            Some(i) => (0, i),
            None => (3, 0),
        },
        Role::Carry => (1, 0),
        Role::Seq(_) => (2, 0),
        Role::Inv(_) => (3, 0),
        Role::Step => (4, 0),
    };
    let mut order: Vec<usize> = (0..ctx.roles.len()).collect();
    order.sort_by_key(|&k| (rank(&ctx.roles[k]), k));
    let mut new_index = vec![0; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_index[old] = new;
    }
    let mut body: Graph = ctx.graph;
    body.inputs = order.iter().map(|&k| body.inputs[k].clone()).collect();
    for node in &mut body.nodes {
        if let Op::Input(k) = &mut node.op {
            *k = new_index[*k];
        }
    }
    body.outputs = outputs;
    // The scan's arguments, in the enclosing graph.
    let mut args = vec![];
    let mut inits = inits.iter();
    for &k in &order {
        let node = match ctx.roles[k] {
            Role::Slot(s) => {
                let ty = el.slots[s.0 as usize].ty.clone();
                el.node(&TVal {
                    src: Src::Slot(s),
                    ty,
                })?
            }
            Role::Carry => {
                let init = inits.next().expect("one init per carry");
                el.node(init)?
            }
            Role::Seq(o) | Role::Inv(o) => o,
            Role::Step => continue,
        };
        args.push(node);
    }
    let n_carry = writes.len() + rebound.iter().map(|(_, v)| tensors(v).len()).sum::<usize>();
    let n_seq = ctx
        .roles
        .iter()
        .filter(|r| matches!(r, Role::Seq(_)))
        .count();
    let scan = rlp_ir::Scan {
        length: n,
        reverse: false,
        n_carry,
        n_seq,
        body,
    };
    el.loc = loc;
    let node = el.emit(Op::Scan(Box::new(scan)), args)?;
    let mut finals = vec![];
    for k in 0..n_carry {
        let p = el.emit(Op::Project(k), vec![node])?;
        finals.push(el.tval(p));
    }
    let mut finals = finals.into_iter();
    for s in &writes {
        let v = finals.next().expect("one final per carry");
        el.write_slot(*s, &v)?;
    }
    for (name, old) in rebound {
        let count = tensors(old).len();
        let vals: Vec<Value> = finals.by_ref().take(count).map(Value::Tensor).collect();
        fr.set(name, rebuild(old, &mut vals.into_iter()));
    }
    let mut carries: Vec<String> = writes
        .iter()
        .map(|s| el.slots[s.0 as usize].name.clone())
        .collect();
    carries.extend(rebound.iter().map(|(n, _)| n.clone()));
    Ok(LoopLowering::Loop {
        carries,
        sequences: n_seq,
    })
}

// ----- gradients in a loop body -----------------------------------------------------------

/// Checks that a gradient of `loss` with respect to the parameter slots `params`,
/// taken in the current graph, is the one the unrolled loop would take (rule 5); a
/// no-op outside loop bodies. `discovered`: the parameters were found by walking the
/// loss (`minimize` without `wrt`), so a parameter reached only through a value from
/// outside the body would be missed as well.
///
/// Unrolled, the loss's graph reaches through everything computed before it in the
/// stage; traced, it stops at the body's inputs. The gradient is the same when no path
/// a gradient follows leads from the loss through an input to the parameters' current
/// values: through a value from before the loop (checked now, in the enclosing graphs),
/// or through state the loop carries (checked when the loop's writes are known,
/// [`check_deferred`]).
pub fn check_gradient(
    el: &mut Elab,
    loss: NodeId,
    params: &[SlotId],
    discovered: bool,
    loc: Loc,
) -> R<()> {
    let level = el.ctxs.len() - 1;
    if el.ctxs[level].kind != CtxKind::Loop {
        return Ok(());
    }
    if discovered {
        let mut outside = vec![];
        for k in reached_inputs(&el.ctxs[level].graph, loss, false) {
            if let Role::Seq(o) | Role::Inv(o) = el.ctxs[level].roles[k] {
                params_reached(el, level - 1, o, &mut outside);
            }
        }
        if outside.iter().any(|p| !params.contains(p)) {
            return Err(give_up(
                loc,
                "a loss in its body reads parameters through a value from before the loop",
            ));
        }
    }
    for k in reached_inputs(&el.ctxs[level].graph, loss, true) {
        match el.ctxs[level].roles[k] {
            Role::Step => {}
            Role::Slot(s) if params.contains(&s) => {}
            Role::Slot(s) => el.ctxs[level].deferred.push((s, params.to_vec())),
            Role::Seq(o) | Role::Inv(o) => leaks(el, level - 1, o, params, loc)?,
            Role::Carry => {
                return Err(give_up(
                    loc,
                    "a gradient in its body reads a name the loop rebinds",
                ));
            }
        }
    }
    Ok(())
}

/// Errs when `node` of the graph at `level` (a value a loop body reads) depends, along
/// a path gradients follow, on the parameters being differentiated.
fn leaks(el: &mut Elab, level: usize, node: NodeId, params: &[SlotId], loc: Loc) -> R<()> {
    let why = "a gradient in its body reads a value computed from the parameters before the loop";
    for k in reached_inputs(&el.ctxs[level].graph, node, true) {
        match el.ctxs[level].roles[k] {
            Role::Step => {}
            Role::Slot(s) if params.contains(&s) => return Err(give_up(loc, why)),
            Role::Slot(s) if el.ctxs[level].kind == CtxKind::Loop => {
                el.ctxs[level].deferred.push((s, params.to_vec()))
            }
            Role::Slot(_) => {}
            Role::Seq(o) | Role::Inv(o) if level > 0 => leaks(el, level - 1, o, params, loc)?,
            Role::Seq(_) | Role::Inv(_) | Role::Carry => return Err(give_up(loc, why)),
        }
    }
    Ok(())
}

/// [`leaks`] for the value slot `s` has at `level`.
fn slot_leaks(el: &mut Elab, level: usize, s: SlotId, params: &[SlotId], loc: Loc) -> R<()> {
    match el.ctxs[level].slot_vals.get(&s) {
        Some(&n) => leaks(el, level, n, params, loc),
        None if el.ctxs[level].kind == CtxKind::Loop => {
            el.ctxs[level].deferred.push((s, params.to_vec()));
            Ok(())
        }
        None => Ok(()),
    }
}

/// The checks a loop body's gradients left for when its writes are known: for each
/// slot a loss read, its value on entry must not depend on the parameters, and when the
/// loop updates it, neither may the value one iteration leaves for the next (which the
/// next iteration's loss reads) depend on the parameters' values it leaves.
fn check_deferred(el: &mut Elab, level: usize, loc: Loc) -> R<()> {
    let why = "a gradient in its body reads state the loop updates from the parameters";
    let mut work = std::mem::take(&mut el.ctxs[level].deferred);
    let mut done: Vec<(SlotId, Vec<SlotId>)> = vec![];
    while let Some((s, params)) = work.pop() {
        if done.contains(&(s, params.clone())) {
            continue;
        }
        done.push((s, params.clone()));
        slot_leaks(el, level - 1, s, &params, loc)?;
        let ctx = &el.ctxs[level];
        if !ctx.writes.contains(&s) {
            continue;
        }
        // Parameters the loop updates: their next values are the body's final ones.
        // The others keep their value from before the loop.
        let input = |p: SlotId| ctx.roles.iter().position(|r| *r == Role::Slot(p));
        let updated = |p: &SlotId| {
            ctx.writes.contains(p)
                && input(*p).is_none_or(
                    |k| !matches!(ctx.graph.node(ctx.slot_vals[p]).op, Op::Input(j) if j == k),
                )
        };
        let (moving, fixed): (Vec<SlotId>, Vec<SlotId>) = params.iter().partition(|p| updated(p));
        let mark = depends(&ctx.graph, &[ctx.slot_vals[&s]], true);
        if moving.iter().any(|p| mark[ctx.slot_vals[p].index()]) {
            return Err(give_up(loc, why));
        }
        let reached: Vec<Role> = inputs_marked(&ctx.graph, &mark)
            .into_iter()
            .map(|k| ctx.roles[k])
            .collect();
        for role in reached {
            match role {
                Role::Step => {}
                Role::Slot(q) if params.contains(&q) => {
                    if fixed.contains(&q) {
                        return Err(give_up(loc, why));
                    }
                }
                Role::Slot(q) => work.push((q, params.clone())),
                Role::Seq(o) | Role::Inv(o) => {
                    if !fixed.is_empty() {
                        leaks(el, level - 1, o, &fixed, loc)?;
                    }
                }
                Role::Carry => return Err(give_up(loc, why)),
            }
        }
    }
    Ok(())
}

/// The parameter slots `node` at `level` depends on through any path, across the
/// enclosing graphs.
fn params_reached(el: &Elab, level: usize, node: NodeId, out: &mut Vec<SlotId>) {
    for k in reached_inputs(&el.ctxs[level].graph, node, false) {
        match el.ctxs[level].roles[k] {
            Role::Slot(s)
                if el.slots[s.0 as usize].kind == SlotKind::Param && !out.contains(&s) =>
            {
                out.push(s)
            }
            Role::Seq(o) | Role::Inv(o) if level > 0 => params_reached(el, level - 1, o, out),
            _ => {}
        }
    }
}

/// The graph inputs `root` depends on ([`depends`]).
fn reached_inputs(g: &Graph, root: NodeId, grad_paths: bool) -> Vec<usize> {
    inputs_marked(g, &depends(g, &[root], grad_paths))
}

fn inputs_marked(g: &Graph, mark: &[bool]) -> Vec<usize> {
    let mut out: Vec<usize> = g
        .nodes
        .iter()
        .zip(mark)
        .filter_map(|(n, &m)| match n.op {
            Op::Input(k) if m => Some(k),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// What `roots` depend on in `g`, a mark per node. `grad_paths`: only along edges a
/// gradient follows (into float values, not out of `stop`). A scan's output depends on
/// the arguments its body connects it to (a rollout's observations do not depend on
/// the policy that chose its integer actions).
fn depends(g: &Graph, roots: &[NodeId], grad_paths: bool) -> Vec<bool> {
    let follows = |id: NodeId| {
        !grad_paths
            || match &g.node(id).ty {
                rlp_ir::Type::Tensor(t) => t.dtype.is_float(),
                rlp_ir::Type::Tuple(_) => true,
            }
    };
    let mut mark = vec![false; g.nodes.len()];
    let mut outs: HashMap<usize, Vec<usize>> = HashMap::new();
    for r in roots {
        mark[r.index()] = true;
    }
    for i in (0..g.nodes.len()).rev() {
        if !mark[i] {
            continue;
        }
        let node = &g.nodes[i];
        let args: Vec<NodeId> = match &node.op {
            Op::StopGradient if grad_paths => vec![],
            Op::Project(k) => {
                outs.entry(node.args[0].index()).or_default().push(*k);
                node.args.clone()
            }
            Op::Scan(scan) => {
                let wanted = outs
                    .remove(&i)
                    .unwrap_or_else(|| (0..scan.body.outputs.len()).collect());
                scan_inputs(scan, &wanted, grad_paths)
                    .into_iter()
                    .filter(|&k| k < node.args.len())
                    .map(|k| node.args[k])
                    .collect()
            }
            _ => node.args.clone(),
        };
        for a in args {
            if matches!(node.op, Op::Project(_)) || follows(a) {
                mark[a.index()] = true;
            }
        }
    }
    mark
}

/// The body inputs of `scan` (= its argument positions) its outputs `outs` depend on,
/// through the steps: a carry read makes its new value a dependency too.
fn scan_inputs(scan: &rlp_ir::Scan, outs: &[usize], grad_paths: bool) -> Vec<usize> {
    let body = &scan.body;
    if scan.length == 0 {
        // No steps: the final carries are the initial ones.
        return outs.iter().copied().filter(|&k| k < scan.n_carry).collect();
    }
    let mut roots: Vec<NodeId> = outs.iter().map(|&k| body.outputs[k]).collect();
    let mut carried = vec![false; scan.n_carry];
    for &k in outs {
        if k < scan.n_carry {
            carried[k] = true;
        }
    }
    loop {
        let inputs = inputs_marked(body, &depends(body, &roots, grad_paths));
        let mut grew = false;
        for &k in &inputs {
            if k < scan.n_carry && !carried[k] {
                carried[k] = true;
                roots.push(body.outputs[k]);
                grew = true;
            }
        }
        if !grew {
            return inputs;
        }
    }
}

// ----- values -------------------------------------------------------------------------------

/// The tensors of a value, in a fixed order (records, lists and tuples walked in order).
pub(super) fn tensors(v: &Value) -> Vec<TVal> {
    fn go(v: &Value, out: &mut Vec<TVal>) {
        match v {
            Value::Tensor(t) => out.push(t.clone()),
            Value::List(xs) | Value::Tuple(xs) => xs.iter().for_each(|x| go(x, out)),
            Value::Record(fs) => fs.iter().for_each(|(_, x)| go(x, out)),
            _ => {}
        }
    }
    let mut out = vec![];
    go(v, &mut out);
    out
}

/// `v` with its tensors replaced, in [`tensors`] order, by `new`.
pub(super) fn rebuild(v: &Value, new: &mut impl Iterator<Item = Value>) -> Value {
    match v {
        Value::Tensor(_) => new.next().expect("one value per tensor"),
        Value::List(xs) => Value::List(xs.iter().map(|x| rebuild(x, new)).collect()),
        Value::Tuple(xs) => Value::Tuple(xs.iter().map(|x| rebuild(x, new)).collect()),
        Value::Record(fs) => Value::Record(
            fs.iter()
                .map(|(n, x)| (n.clone(), rebuild(x, new)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether a value is made of tensors only (lists, tuples and records of them).
fn tensors_only(v: &Value) -> bool {
    match v {
        Value::Tensor(_) => true,
        Value::List(xs) | Value::Tuple(xs) => xs.iter().all(tensors_only),
        Value::Record(fs) => fs.iter().all(|(_, x)| tensors_only(x)),
        _ => false,
    }
}

/// Whether two values differ at most in their tensors' values: the same structure,
/// tensors of the same types, everything else equal.
fn alike(a: &Value, b: &Value) -> bool {
    use Value as V;
    match (a, b) {
        (V::Tensor(x), V::Tensor(y)) => x.ty == y.ty,
        (V::List(x), V::List(y)) | (V::Tuple(x), V::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| alike(p, q))
        }
        (V::Record(x), V::Record(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((m, p), (n, q))| m == n && alike(p, q))
        }
        (V::Unit, V::Unit) => true,
        (V::Int(x), V::Int(y)) => x == y,
        (V::Float(x), V::Float(y)) => x.to_bits() == y.to_bits(),
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Range(a0, a1), V::Range(b0, b1)) => a0 == b0 && a1 == b1,
        (V::Fn(x), V::Fn(y)) => x.module == y.module && Rc::ptr_eq(&x.decl, &y.decl),
        (V::Closure(x), V::Closure(y)) => Rc::ptr_eq(x, y),
        (V::Builtin(x), V::Builtin(y)) => x.name() == y.name(),
        (V::Module(x), V::Module(y)) => x == y,
        (V::Env(x), V::Env(y)) => Rc::ptr_eq(x, y),
        (V::External(x), V::External(y)) => Rc::ptr_eq(x, y),
        (V::Optimizer(x), V::Optimizer(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

// ----- names --------------------------------------------------------------------------------

/// Every name the statements mention (over-approximated: bound or free, assigned or
/// read).
fn stmt_names(s: &ast::Stmt, out: &mut Vec<String>) {
    let e = |x: &ast::Expr, out: &mut Vec<String>| super::params::names_in(x, out);
    match &s.kind {
        StmtKind::Let { names, value, .. } => {
            out.extend(names.iter().map(|n| n.name.clone()));
            e(value, out);
        }
        StmtKind::Update { place, value } | StmtKind::AugAssign { place, value, .. } => {
            e(place, out);
            e(value, out);
        }
        StmtKind::Minimize { loss, wrt, with } => {
            e(loss, out);
            wrt.iter().for_each(|w| e(w, out));
            e(with, out);
        }
        StmtKind::Expr(x) => e(x, out),
        StmtKind::Stage { body, .. } => body.iter().for_each(|s| stmt_names(s, out)),
        StmtKind::Log { entries } => entries.iter().for_each(|(n, x)| {
            out.push(n.name.clone());
            e(x, out)
        }),
        StmtKind::Every {
            period,
            after,
            body,
            ..
        } => {
            e(period, out);
            after.iter().for_each(|a| e(a, out));
            body.iter().for_each(|s| stmt_names(s, out));
        }
        StmtKind::Repeat { count, body } => {
            e(count, out);
            body.iter().for_each(|s| stmt_names(s, out));
        }
        StmtKind::For { var, iter, body } => {
            out.push(var.name.clone());
            e(iter, out);
            body.iter().for_each(|s| stmt_names(s, out));
        }
    }
}

/// The names the statements assign with `=` in the loop's scope (nested loops
/// included; blocks and functions have scopes of their own).
fn let_targets(stmts: &[ast::Stmt], out: &mut Vec<String>) {
    for s in stmts {
        match &s.kind {
            StmtKind::Let { names, .. } => out.extend(names.iter().map(|n| n.name.clone())),
            StmtKind::Repeat { body, .. } | StmtKind::For { body, .. } => let_targets(body, out),
            _ => {}
        }
    }
}

/// Whether statements hold stages, `log` or `every` (then a loop over them is a loop
/// of stages, unrolled at the level of stages).
pub fn holds_stages(stmts: &[ast::Stmt]) -> bool {
    stmts.iter().any(|s| match &s.kind {
        StmtKind::Stage { .. } | StmtKind::Log { .. } | StmtKind::Every { .. } => true,
        StmtKind::For { body, .. } | StmtKind::Repeat { body, .. } => holds_stages(body),
        _ => false,
    })
}
