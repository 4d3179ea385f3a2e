//! Lowering the top level and the `train` block into the pipeline IR.
//!
//! The top level runs into the `init` graph: every tensor it binds becomes state.
//! The `train` body is cut into stages (`sample`, `fit`, `improve`, `log`, and the
//! bodies of `every`), each its own graph; values that cross from one stage to a later
//! one travel through transient slots.

use super::builtins::{Args, filled};
use super::elab::{Elab, R};
use super::modules::{ModId, Modules};
use super::value::{Frame, Src, TVal, Value};
use crate::diag::{Diag, Loc};
use crate::program::{Metric, Program, Schedule, SlotId, SlotKind, Stage, StageKind};
use rlp_ir::{DType, Op, TensorType};
use rlp_syntax::ast::{self, BinOp, ExprKind, Item, StageKind as AstStage, StmtKind};
use std::rc::Rc;

/// Lowers a loaded program. `seed` keys every random draw.
pub fn lower(mods: &Modules, main: ModId, seed: u64) -> Result<Program, Diag> {
    lower_with(mods, main, seed, None)
}

/// [`lower`] with `--set NAME=VALUE` overrides, given as a module of bindings
/// ([`Modules::add_overrides`]): each replaces the top-level binding of that name, which
/// must exist and hold a value of the same kind.
pub fn lower_with(
    mods: &Modules,
    main: ModId,
    seed: u64,
    overrides: Option<ModId>,
) -> Result<Program, Diag> {
    let mut el = Elab::new(mods, seed);
    let file = mods.module(main).file;
    let frame = Frame::root(main);
    el.push_ctx(true);
    let mut pending = match overrides {
        Some(m) => override_values(&mut el, m)?,
        None => vec![],
    };
    let mut train: Option<&ast::Train> = None;
    let module = mods.module(main).ast.clone();
    for item in &module.items {
        match item {
            Item::Use(_) | Item::Fn(_) => {}
            Item::Stmt(s) => {
                el.owner = match &s.kind {
                    StmtKind::Let { names, .. } => names
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join("_"),
                    _ => String::new(),
                };
                el.stmt(s, &frame)?;
                if let StmtKind::Let { names, .. } = &s.kind {
                    for n in names {
                        if let Some(i) = pending.iter().position(|o| o.0 == n.name) {
                            let (name, value, loc) = pending.remove(i);
                            let old = frame.get(&name).expect("just bound");
                            frame.set(&name, same_kind(&old, value, loc, Loc::new(file, n.span))?);
                        }
                    }
                }
            }
            Item::Train(t) => {
                if let Some(first) = train {
                    return Err(Diag::new("duplicate", "a program has one `train` block")
                        .label(Loc::new(file, t.span), "second `train`")
                        .label(Loc::new(file, first.span), "first one here"));
                }
                train = Some(t);
            }
        }
    }
    if let Some((name, _, loc)) = pending.first() {
        let names = frame.names();
        let mut d = Diag::new(
            "unknown-name",
            format!("`--set {name}=…`: the program has no top-level binding `{name}`"),
        )
        .label(*loc, "set here");
        if let Some(s) = crate::diag::did_you_mean(name, names.iter().map(|s| s.as_str())) {
            d = d.help(format!("did you mean `{s}`?"));
        } else {
            d = d.help(format!("top-level bindings: {}", names.join(", ")));
        }
        return Err(d);
    }
    // Top-level tensors become state.
    materialize_frame(&mut el, &frame, SlotKind::State, "")?;
    let init_ctx = el.ctxs.pop().expect("init ctx");
    el.init = Some(init_ctx);
    el.owner.clear();

    let Some(train) = train else {
        return Err(Diag::new("no-train", "this program has no `train` block")
            .label(
                Loc::new(file, rlp_syntax::ast::Span::new(0, 0)),
                "nothing to run",
            )
            .help("add `train iterations: N { … }` with the stages to run"));
    };
    let count_loc = Loc::new(file, train.count.span);
    let iterations = match el.expr(&train.count, &frame)? {
        Value::Int(i) if i >= 0 => i as u64,
        other => {
            return Err(Diag::new(
                "type-mismatch",
                format!(
                    "the number of {} must be a non-negative int, found {}",
                    train.unit.name,
                    other.kind()
                ),
            )
            .label(count_loc, "here"));
        }
    };
    if !matches!(train.unit.name.as_str(), "iterations" | "steps") {
        return Err(Diag::new(
            "unknown-keyword",
            format!("`train {}:` is not a loop unit", train.unit.name),
        )
        .label(
            Loc::new(file, train.unit.span),
            "expected `iterations` or `steps`",
        ));
    }
    let body_frame = Frame::child(&frame);
    body_frame.set(
        "iteration",
        Value::Tensor(TVal {
            src: Src::Slot(el.counter),
            ty: TensorType::scalar(DType::I32),
        }),
    );
    el.in_train = true;
    let mut lw = Lowering {
        stages: vec![],
        metrics: vec![],
        open: None,
    };
    lw.body(&mut el, &train.body, &body_frame, Schedule::ALWAYS)?;
    lw.close(&mut el, &body_frame)?;

    let mut init_ctx = el.init.take().expect("init ctx");
    let writes = init_ctx.writes.clone();
    init_ctx.graph.outputs = writes.iter().map(|s| init_ctx.slot_vals[s]).collect();
    let init = Stage {
        kind: StageKind::Init,
        loc: Loc::new(file, rlp_syntax::ast::Span::new(0, 0)),
        schedule: Schedule::ALWAYS,
        graph: init_ctx.graph,
        reads: vec![],
        writes,
        env_steps: 0,
    };
    Ok(Program {
        slots: el.slots,
        init,
        stages: lw.stages,
        metrics: lw.metrics,
        iterations,
        unit: train.unit.name.clone(),
        counter: el.counter,
        seed,
    })
}

struct Lowering {
    stages: Vec<Stage>,
    metrics: Vec<Metric>,
    /// The stage being built: kind, where it starts, schedule.
    open: Option<(StageKind, Loc, Schedule)>,
}

impl Lowering {
    fn body(
        &mut self,
        el: &mut Elab,
        stmts: &[ast::Stmt],
        fr: &Rc<Frame>,
        sched: Schedule,
    ) -> R<()> {
        for s in stmts {
            let loc = el.at(fr, s.span);
            match &s.kind {
                StmtKind::Stage { kind, body, .. } => {
                    let k = match kind {
                        AstStage::Sample => StageKind::Sample,
                        AstStage::Fit => StageKind::Fit,
                        AstStage::Improve => StageKind::Improve,
                    };
                    self.open_stage(el, fr, k, loc, sched)?;
                    self.body(el, body, fr, sched)?;
                }
                StmtKind::Log { entries } => {
                    self.open_stage(el, fr, StageKind::Log, loc, sched)?;
                    for (name, e) in entries {
                        let v = el.expr(e, fr)?;
                        let l = el.at(fr, e.span);
                        let t = el.to_tensor(&v, l, Some(DType::F32))?;
                        if t.ty.rank() != 0 {
                            return Err(Diag::new(
                                "shape-mismatch",
                                format!("a logged metric is a scalar; `{}` is {}", name.name, t.ty),
                            )
                            .label(l, format!("this is {}", t.ty))
                            .help("reduce it first, e.g. `mean(x)`"));
                        }
                        let t = el.cast(&t, DType::F32)?;
                        let slot = el.new_slot(
                            &format!("log.{}", name.name),
                            TensorType::scalar(DType::F32),
                            SlotKind::Transient,
                        );
                        el.write_slot(slot, &t)?;
                        self.metrics.push(Metric {
                            name: name.name.clone(),
                            slot,
                        });
                    }
                    self.close(el, fr)?;
                }
                StmtKind::For { var, iter, body } => {
                    // A loop at the level of stages may hold stages itself.
                    for item in for_items(el, iter, fr)? {
                        fr.set(&var.name, item);
                        self.body(el, body, fr, sched)?;
                    }
                }
                StmtKind::Every {
                    period,
                    unit,
                    after,
                    body,
                } => {
                    if !matches!(
                        unit.name.as_str(),
                        "step" | "steps" | "iteration" | "iterations"
                    ) {
                        return Err(Diag::new(
                            "unknown-keyword",
                            format!("`every … {}` is not a unit", unit.name),
                        )
                        .label(el.at(fr, unit.span), "expected `steps` or `iterations`"));
                    }
                    let p = const_int(el, period, fr)?;
                    let a = match after {
                        Some(e) => const_int(el, e, fr)?,
                        None => 0,
                    };
                    if p < 1 {
                        return Err(
                            Diag::new("bad-value", "`every` needs a period of at least 1")
                                .label(el.at(fr, period.span), "here"),
                        );
                    }
                    self.close(el, fr)?;
                    let inner = Schedule {
                        period: p as u64 * sched.period,
                        after: sched.after + a as u64,
                    };
                    self.body(el, body, fr, inner)?;
                    self.close(el, fr)?;
                }
                _ => {
                    if self.open.is_none() {
                        self.open_stage(el, fr, StageKind::Fit, loc, sched)?;
                    }
                    train_stmt_in(el, s, fr)?;
                }
            }
        }
        Ok(())
    }

    fn open_stage(
        &mut self,
        el: &mut Elab,
        fr: &Rc<Frame>,
        kind: StageKind,
        loc: Loc,
        sched: Schedule,
    ) -> R<()> {
        if let Some((k, _, s)) = self.open {
            if k == kind && s == sched && kind != StageKind::Log {
                return Ok(());
            }
        }
        self.close(el, fr)?;
        el.push_ctx(false);
        el.env_steps = 0;
        self.open = Some((kind, loc, sched));
        Ok(())
    }

    /// Closes the open stage: locals it computed move to transient slots.
    fn close(&mut self, el: &mut Elab, fr: &Rc<Frame>) -> R<()> {
        let Some((kind, loc, schedule)) = self.open.take() else {
            return Ok(());
        };
        materialize_frame(el, fr, SlotKind::Transient, "tmp.")?;
        let (graph, reads, writes) = el.finish_stage();
        self.stages.push(Stage {
            kind,
            loc,
            schedule,
            graph,
            reads,
            writes,
            env_steps: el.env_steps,
        });
        Ok(())
    }
}

fn const_int(el: &mut Elab, e: &ast::Expr, fr: &Rc<Frame>) -> R<i64> {
    match el.expr(e, fr)? {
        Value::Int(i) => Ok(i),
        other => Err(Diag::new(
            "type-mismatch",
            format!(
                "expected an int known at compile time, found {}",
                other.kind()
            ),
        )
        .label(el.at(fr, e.span), "here")),
    }
}

/// Turns the tensors of the current graph bound in `fr` (only its own variables) into
/// slots, so later graphs can read them.
fn materialize_frame(el: &mut Elab, fr: &Rc<Frame>, kind: SlotKind, prefix: &str) -> R<()> {
    let vars: Vec<(String, Value)> = fr.vars.borrow().clone();
    for (name, v) in vars {
        let nv = materialize(el, &v, &format!("{prefix}{name}"), kind)?;
        fr.set(&name, nv);
    }
    Ok(())
}

fn materialize(el: &mut Elab, v: &Value, name: &str, kind: SlotKind) -> R<Value> {
    Ok(match v {
        Value::Tensor(t) => match t.src {
            Src::Node { graph, .. } if Some(graph) == el.ctxs.last().map(|c| c.id) => {
                let slot = el.new_slot(name, t.ty.clone(), kind);
                el.write_slot(slot, t)?;
                Value::Tensor(TVal {
                    src: Src::Slot(slot),
                    ty: t.ty.clone(),
                })
            }
            _ => v.clone(),
        },
        Value::Tuple(xs) => Value::Tuple(
            xs.iter()
                .enumerate()
                .map(|(i, x)| materialize(el, x, &format!("{name}.{i}"), kind))
                .collect::<R<Vec<_>>>()?
                .into(),
        ),
        Value::List(xs) => Value::List(
            xs.iter()
                .enumerate()
                .map(|(i, x)| materialize(el, x, &format!("{name}.{i}"), kind))
                .collect::<R<Vec<_>>>()?
                .into(),
        ),
        Value::Record(fs) => Value::Record(
            fs.iter()
                .map(|(n, x)| Ok((n.clone(), materialize(el, x, &format!("{name}.{n}"), kind)?)))
                .collect::<R<Vec<_>>>()?
                .into(),
        ),
        _ => v.clone(),
    })
}

/// Statements only a `train` body has, reached from [`Elab::stmt`].
pub fn train_stmt(el: &mut Elab, s: &ast::Stmt, fr: &Rc<Frame>) -> R<()> {
    match &s.kind {
        StmtKind::Stage { .. } | StmtKind::Log { .. } | StmtKind::Every { .. } => Err(Diag::new(
            "misplaced",
            "stages, `log` and `every` belong directly in the `train` block",
        )
        .label(el.at(fr, s.span), "nested here")),
        _ => train_stmt_in(el, s, fr),
    }
}

fn train_stmt_in(el: &mut Elab, s: &ast::Stmt, fr: &Rc<Frame>) -> R<()> {
    let loc = el.at(fr, s.span);
    el.loc = loc;
    match &s.kind {
        StmtKind::Let { .. } | StmtKind::Expr(_) => {
            let was = el.in_train;
            el.in_train = true;
            let r = el.stmt(s, fr);
            el.in_train = was;
            r
        }
        StmtKind::Minimize { loss, wrt, with } => minimize(el, loss, wrt, with, fr, loc),
        StmtKind::Update { place, value } => {
            let target = el.expr(place, fr)?;
            let v = el.expr(value, fr)?;
            assign(
                el,
                &target,
                &v,
                el.at(fr, place.span),
                el.at(fr, value.span),
            )
        }
        StmtKind::AugAssign { place, op, value } => {
            let target = el.expr(place, fr)?;
            let v = el.expr(value, fr)?;
            let (lp, lv) = (el.at(fr, place.span), el.at(fr, value.span));
            let new = el.binary(*op, target.clone(), v, lp, lv, loc)?;
            assign(el, &target, &new, lp, lv)
        }
        StmtKind::Repeat { count, body } => {
            let n = const_int(el, count, fr)?;
            for _ in 0..n.max(0) {
                for st in body {
                    train_stmt_in(el, st, fr)?;
                }
            }
            Ok(())
        }
        StmtKind::For { var, iter, body } => {
            for item in for_items(el, iter, fr)? {
                fr.set(&var.name, item);
                for st in body {
                    train_stmt_in(el, st, fr)?;
                }
            }
            Ok(())
        }
        StmtKind::Stage { .. } | StmtKind::Log { .. } | StmtKind::Every { .. } => {
            train_stmt(el, s, fr)
        }
    }
}

/// `target <- value`: state gets a new value; a module's parameters are copied
/// parameter by parameter (`q_targ <- q`).
fn assign(el: &mut Elab, target: &Value, value: &Value, lt: Loc, lv: Loc) -> R<()> {
    if let Value::Tensor(TVal {
        src: Src::Slot(s), ..
    }) = target
    {
        let v = el.to_tensor(value, lv, None)?;
        return el.write_slot(*s, &v);
    }
    let dst = collect_params(el, target);
    let src = collect_tensors(el, value);
    if dst.is_empty() {
        return Err(Diag::new(
            "not-state",
            format!("{} holds no state to update", target.kind()),
        )
        .label(lt, "not state")
        .help("`<-` updates tensors bound at top level and the parameters of modules"));
    }
    if dst.len() != src.len() {
        return Err(Diag::new(
            "shape-mismatch",
            format!("cannot copy {} tensors into {}", src.len(), dst.len()),
        )
        .label(lt, format!("{} parameters", dst.len()))
        .label(lv, format!("{} tensors", src.len())));
    }
    for (d, s) in dst.iter().zip(src.iter()) {
        if el.slots[d.0 as usize].ty != s.ty {
            return Err(Diag::new(
                "shape-mismatch",
                format!("cannot copy {} into {}", s.ty, el.slots[d.0 as usize].ty),
            )
            .label(lv, "source")
            .label(lt, "target"));
        }
        el.write_slot(*d, s)?;
    }
    Ok(())
}

/// The parameter slots a value holds (modules are closures over their parameters), in
/// a stable order.
pub fn collect_params(el: &Elab, v: &Value) -> Vec<SlotId> {
    collect_tensors(el, v)
        .into_iter()
        .filter_map(|t| {
            if let Src::Slot(s) = t.src {
                Some(s)
            } else {
                None
            }
        })
        .filter(|s| el.slots[s.0 as usize].kind == SlotKind::Param)
        .collect()
}

fn collect_tensors(el: &Elab, v: &Value) -> Vec<TVal> {
    let mut out = vec![];
    let mut seen = vec![];
    walk_tensors(v, &mut out, &mut seen);
    let _ = el;
    out
}

fn walk_tensors(v: &Value, out: &mut Vec<TVal>, seen: &mut Vec<*const ()>) {
    match v {
        Value::Tensor(t) => {
            let dup = out.iter().any(|o: &TVal| o.src == t.src);
            if !dup {
                out.push(t.clone());
            }
        }
        Value::Tuple(xs) | Value::List(xs) => xs.iter().for_each(|x| walk_tensors(x, out, seen)),
        Value::Record(fs) => fs.iter().for_each(|(_, x)| walk_tensors(x, out, seen)),
        Value::Closure(c) => {
            let key = Rc::as_ptr(c) as *const ();
            if seen.contains(&key) {
                return;
            }
            seen.push(key);
            // Only what the body names: a closure does not own its whole scope.
            let mut names = vec![];
            names_in(&c.body, &mut names);
            let params: Vec<&str> = c.params.iter().map(|p| p.name.name.as_str()).collect();
            for n in names {
                if params.contains(&n.as_str()) {
                    continue;
                }
                if let Some(x) = c.frame.get(&n) {
                    walk_tensors(&x, out, seen);
                }
            }
        }
        _ => {}
    }
}

/// Every name an expression mentions (free or not; over-approximating is harmless).
fn names_in(e: &ast::Expr, out: &mut Vec<String>) {
    let mut go = |x: &ast::Expr| names_in(x, out);
    match &e.kind {
        ExprKind::Name(i) => {
            let n = i.name.clone();
            out.push(n);
        }
        ExprKind::List(xs) | ExprKind::Tuple(xs) => xs.iter().for_each(go),
        ExprKind::Record(fs) => fs.iter().for_each(|(_, x)| go(x)),
        ExprKind::Unary { operand, .. } => go(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            go(lhs);
            go(rhs)
        }
        ExprKind::Call { callee, args } => {
            go(callee);
            args.iter().for_each(|a| go(&a.value))
        }
        ExprKind::Field { base, .. } => go(base),
        ExprKind::Index { base, indices } => {
            go(base);
            for i in indices {
                match i {
                    ast::IndexItem::Expr(x) => go(x),
                    ast::IndexItem::Slice { start, end, .. } => {
                        start.iter().for_each(&mut go);
                        end.iter().for_each(&mut go);
                    }
                }
            }
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            go(cond);
            go(then);
            go(otherwise)
        }
        ExprKind::Lambda { body, .. } => go(body),
        ExprKind::Range { from, to } => {
            go(from);
            go(to)
        }
        ExprKind::Block(b) => block_names(b, out),
        ExprKind::Scan(s) => {
            s.carries.iter().for_each(|(_, x)| names_in(x, out));
            block_names(&s.body, out);
        }
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) => {}
    }
}

fn block_names(b: &ast::Block, out: &mut Vec<String>) {
    for s in &b.stmts {
        match &s.kind {
            StmtKind::Let { value, .. } | StmtKind::Expr(value) => names_in(value, out),
            StmtKind::Update { place, value } | StmtKind::AugAssign { place, value, .. } => {
                names_in(place, out);
                names_in(value, out)
            }
            _ => {}
        }
    }
    if let Some(v) = &b.value {
        names_in(v, out);
    }
}

/// `minimize LOSS [wrt …] with OPT`: differentiate, then apply the optimizer's
/// update to each parameter.
fn minimize(
    el: &mut Elab,
    loss: &ast::Expr,
    wrt: &[ast::Expr],
    with: &ast::Expr,
    fr: &Rc<Frame>,
    loc: Loc,
) -> R<()> {
    let ll = el.at(fr, loss.span);
    let lv = el.expr(loss, fr)?;
    let lt = el.to_tensor(&lv, ll, None)?;
    if lt.ty.rank() != 0 || !lt.ty.dtype.is_float() {
        return Err(Diag::new(
            "shape-mismatch",
            format!("a loss must be a float scalar, but this is {}", lt.ty),
        )
        .label(ll, format!("this is {}", lt.ty))
        .help("reduce it, e.g. `mean(…)`"));
    }
    let opt_loc = el.at(fr, with.span);
    let opt = match el.expr(with, fr)? {
        Value::Optimizer(o) => o,
        other => {
            return Err(Diag::new(
                "type-mismatch",
                format!("`with` takes an optimizer, found {}", other.kind()),
            )
            .label(opt_loc, "not an optimizer")
            .help("e.g. `with adam(lr: 1e-3)`"));
        }
    };
    if el.ctxs.len() != 1 {
        return Err(
            Diag::new("misplaced", "`minimize` cannot run inside a scan").label(loc, "here"),
        );
    }
    let loss_node = el.node(&lt)?;
    // The parameters: those named by `wrt`, else every parameter the loss reads.
    let params: Vec<SlotId> = if wrt.is_empty() {
        let anc = ancestors(&el.ctxs[0].graph, loss_node);
        let mut ps: Vec<SlotId> = el.ctxs[0]
            .slot_vals
            .iter()
            .filter(|(s, n)| el.slots[s.0 as usize].kind == SlotKind::Param && anc[n.index()])
            .map(|(s, _)| *s)
            .collect();
        ps.sort();
        ps
    } else {
        let mut ps = vec![];
        for w in wrt {
            let v = el.expr(w, fr)?;
            let found = collect_params(el, &v);
            if found.is_empty() {
                return Err(Diag::new(
                    "not-state",
                    format!("{} has no parameters to optimise", v.kind()),
                )
                .label(el.at(fr, w.span), "no parameters"));
            }
            ps.extend(
                found
                    .into_iter()
                    .filter(|p| !ps.contains(p))
                    .collect::<Vec<_>>(),
            );
        }
        ps
    };
    if params.is_empty() {
        return Err(
            Diag::new("no-params", "this loss does not depend on any parameter")
                .label(ll, "constant loss")
                .help("check that the loss uses a module's output"),
        );
    }
    el.loc = loc;
    let mut nodes = vec![];
    for p in &params {
        let tv = TVal {
            src: Src::Slot(*p),
            ty: el.slots[p.0 as usize].ty.clone(),
        };
        nodes.push(el.node(&tv)?);
    }
    let origin = Some(rlp_ir::Origin {
        file: loc.file.0,
        start: loc.span.start,
        end: loc.span.end,
    });
    let before = el.ctxs[0].graph.nodes.len();
    let grads = rlp_ir::autodiff::grad(&mut el.ctxs[0].graph, loss_node, &nodes).map_err(|e| {
        Diag::new("autodiff", format!("cannot differentiate this loss: {e}")).label(ll, "this loss")
    })?;
    for n in &mut el.ctxs[0].graph.nodes[before..] {
        n.origin = origin;
    }
    // Optimizer step counter, shared by all parameters of this optimizer.
    let count = match *opt.count.borrow() {
        Some(c) => c,
        None => {
            let name = if opt.name.is_empty() {
                "opt".to_string()
            } else {
                opt.name.clone()
            };
            let c = el.new_slot(
                &format!("{name}.count"),
                TensorType::scalar(DType::F32),
                SlotKind::State,
            );
            el.in_init(|el| {
                let z = filled(el, DType::F32, &[], 0.0);
                el.write_slot(c, &z)
            })?;
            c
        }
    };
    *opt.count.borrow_mut() = Some(count);
    let t_old = Value::Tensor(TVal {
        src: Src::Slot(count),
        ty: TensorType::scalar(DType::F32),
    });
    let t = el.binary(BinOp::Add, t_old, Value::Float(1.0), loc, loc, loc)?;
    let t = el.to_tensor(&t, loc, None)?;
    el.write_slot(count, &t)?;
    for (p, g) in params.iter().zip(grads) {
        let pv = TVal {
            src: Src::Slot(*p),
            ty: el.slots[p.0 as usize].ty.clone(),
        };
        let state = opt_state(el, &opt, *p, loc)?;
        let gv = el.tval(g);
        let args = Args {
            pos: vec![
                (Value::Tensor(pv), loc),
                (Value::Tensor(gv), loc),
                (state.clone(), loc),
                (Value::Tensor(t.clone()), loc),
            ],
            kw: vec![],
            call: loc,
        };
        let out = el.call(opt.update.clone(), args, opt_loc)?;
        let (np, ns) = match out {
            Value::Tuple(xs) if xs.len() == 2 => (xs[0].clone(), xs[1].clone()),
            other => {
                return Err(Diag::new(
                    "type-mismatch",
                    format!(
                        "an optimizer's `update` returns (new_param, new_state), found {}",
                        other.kind()
                    ),
                )
                .label(opt_loc, "this optimizer"));
            }
        };
        let np = el.to_tensor(&np, loc, None)?;
        el.write_slot(*p, &np)?;
        let olds = collect_tensors(el, &state);
        let news = collect_tensors(el, &ns);
        if olds.len() != news.len() {
            return Err(Diag::new(
                "type-mismatch",
                "an optimizer's `update` must return state of the same structure as `init`",
            )
            .label(opt_loc, "this optimizer"));
        }
        for (o, n) in olds.iter().zip(news.iter()) {
            if let Src::Slot(s) = o.src {
                el.write_slot(s, n)?;
            }
        }
    }
    Ok(())
}

/// The optimizer's state for one parameter, created (in the init graph) on first use.
fn opt_state(el: &mut Elab, opt: &Rc<super::value::OptDef>, p: SlotId, loc: Loc) -> R<Value> {
    if let Some((_, v)) = opt.states.borrow().iter().find(|(s, _)| *s == p) {
        return Ok(v.clone());
    }
    let pname = el.slots[p.0 as usize].name.clone();
    let oname = if opt.name.is_empty() {
        "opt".to_string()
    } else {
        opt.name.clone()
    };
    let pv = TVal {
        src: Src::Slot(p),
        ty: el.slots[p.0 as usize].ty.clone(),
    };
    let init = opt.init.clone();
    let v = el.in_init(|el| {
        let v = el.call(
            init,
            Args {
                pos: vec![(Value::Tensor(pv), loc)],
                kw: vec![],
                call: loc,
            },
            loc,
        )?;
        materialize(el, &v, &format!("{oname}.{pname}"), SlotKind::State)
    })?;
    opt.states.borrow_mut().push((p, v.clone()));
    Ok(v)
}

/// Which nodes `root` depends on (scan bodies count through their arguments).
fn ancestors(g: &rlp_ir::Graph, root: rlp_ir::NodeId) -> Vec<bool> {
    let mut mark = vec![false; g.nodes.len()];
    mark[root.index()] = true;
    for i in (0..=root.index()).rev() {
        if mark[i] {
            for a in &g.nodes[i].args {
                mark[a.index()] = true;
            }
        }
    }
    mark
}

/// `rollout(env, policy, steps: T)`: steps every environment `T` times under the
/// policy, resetting finished episodes, and returns the batch as a record of `[T, N, …]`
/// tensors. Environment state is carried in its slots across calls.
pub fn rollout(el: &mut Elab, mut a: Args) -> R<Value> {
    let call = a.call;
    let (env, lenv) = a.need("rollout", "env")?;
    let (policy, _) = a.need("rollout", "policy")?;
    let (steps, lsteps) = a.need("rollout", "steps")?;
    a.done_public("rollout", &["env", "policy", "steps"])?;
    let Value::Env(env) = env else {
        return Err(Diag::new(
            "type-mismatch",
            format!("`rollout` needs an environment, found {}", env.kind()),
        )
        .label(lenv, "not an environment"));
    };
    let Value::Int(t_len) = steps else {
        return Err(Diag::new(
            "type-mismatch",
            format!("`steps` must be an int, found {}", steps.kind()),
        )
        .label(lsteps, "here"));
    };
    if t_len < 1 {
        return Err(Diag::new("bad-value", "`steps` must be at least 1").label(lsteps, "here"));
    }
    let slot = |el: &Elab, s: SlotId| TVal {
        src: Src::Slot(s),
        ty: el.slots[s.0 as usize].ty.clone(),
    };
    let inits = vec![
        slot(el, env.state),
        slot(el, env.ep_len),
        slot(el, env.ep_return),
        slot(el, env.last_return),
        slot(el, env.last_length),
    ];
    let names: Vec<String> = ["state", "ep_len", "ep_return", "last_return", "last_length"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let n = env.envs;
    let mut fields: Vec<String> = vec![];
    let envr = env.clone();
    let mut body = |el: &mut Elab, c: Vec<TVal>, _t: TVal| -> R<(Vec<TVal>, Vec<TVal>)> {
        let (s, ep_len, ep_ret, last_ret, last_len) = (
            c[0].clone(),
            c[1].clone(),
            c[2].clone(),
            c[3].clone(),
            c[4].clone(),
        );
        let observe = |el: &mut Elab, s: &TVal| -> R<TVal> {
            let o = match &envr.observe {
                Some(f) => el.call(
                    f.clone(),
                    Args {
                        pos: vec![(Value::Tensor(s.clone()), call)],
                        kw: vec![],
                        call,
                    },
                    call,
                )?,
                None => Value::Tensor(s.clone()),
            };
            let o = el.to_tensor(&o, call, None)?;
            el.cast(&o, DType::F32)
        };
        let obs = observe(el, &s)?;
        let dist = el.call(
            policy.clone(),
            Args {
                pos: vec![(Value::Tensor(obs.clone()), call)],
                kw: vec![],
                call,
            },
            call,
        )?;
        let sample = dist.field("sample").ok_or_else(|| {
            Diag::new(
                "type-mismatch",
                format!(
                    "the policy must return a distribution with `sample`, found {}",
                    dist.kind()
                ),
            )
            .label(call, "in this rollout")
        })?;
        let act = el.call(
            sample,
            Args {
                pos: vec![],
                kw: vec![],
                call,
            },
            call,
        )?;
        let act = el.to_tensor(&act, call, None)?;
        let logp = match dist.field("log_prob") {
            Some(f) => Some(el.call(
                f,
                Args {
                    pos: vec![(Value::Tensor(act.clone()), call)],
                    kw: vec![],
                    call,
                },
                call,
            )?),
            None => None,
        };
        let out = el.call(
            envr.step.clone(),
            Args {
                pos: vec![
                    (Value::Tensor(s.clone()), call),
                    (Value::Tensor(act.clone()), call),
                ],
                kw: vec![],
                call,
            },
            call,
        )?;
        let get = |name: &str| {
            out.field(name).ok_or_else(|| Diag::new("type-mismatch", format!("an environment's `step` returns a record with `state`, `reward` and `terminated`; `{name}` is missing")).label(call, "in this rollout"))
        };
        let s2 = el.to_tensor(&get("state")?, call, None)?;
        let s2 = el.convert(&s2, &s.ty, call)?;
        let reward = el.to_tensor(&get("reward")?, call, Some(DType::F32))?;
        let reward = el.cast(&reward, DType::F32)?;
        let reward = el.convert(&reward, &TensorType::new(DType::F32, vec![n]), call)?;
        let term = el.to_tensor(&get("terminated")?, call, None)?;
        let term = el.convert(&term, &TensorType::new(DType::Bool, vec![n]), call)?;
        let one = Value::Int(1);
        let len1 = el.binary(BinOp::Add, Value::Tensor(ep_len), one, call, call, call)?;
        let ret1 = el.binary(
            BinOp::Add,
            Value::Tensor(ep_ret),
            Value::Tensor(reward.clone()),
            call,
            call,
            call,
        )?;
        let timeout = el.binary(
            BinOp::Ge,
            len1.clone(),
            Value::Int(envr.max_steps),
            call,
            call,
            call,
        )?;
        let not_term = el.unary_not(&term)?;
        let trunc = el.binary(
            BinOp::And,
            timeout,
            Value::Tensor(not_term),
            call,
            call,
            call,
        )?;
        let done = el.binary(
            BinOp::Or,
            Value::Tensor(term.clone()),
            trunc.clone(),
            call,
            call,
            call,
        )?;
        let done_t = el.to_tensor(&done, call, None)?;
        let next_obs = observe(el, &s2)?;
        let fresh = el.call(
            envr.reset.clone(),
            Args {
                pos: vec![(Value::Int(n as i64), call)],
                kw: vec![],
                call,
            },
            call,
        )?;
        let fresh = el.to_tensor(&fresh, call, None)?;
        let fresh = el.convert(&fresh, &s.ty, call)?;
        // Broadcast the per-env flag over the state's trailing dims.
        let mut dshape = vec![n];
        dshape.extend(std::iter::repeat_n(1, s.ty.rank() - 1));
        let done_s = super::builtins::reshape(el, &done_t, dshape)?;
        let s_next = super::builtins::select(
            el,
            &done_s,
            &Value::Tensor(fresh),
            &Value::Tensor(s2),
            call,
            call,
        )?;
        let zero_i = Value::Int(0);
        let ep_len2 = super::builtins::select(el, &done_t, &zero_i, &len1, call, call)?;
        let ep_ret2 = super::builtins::select(el, &done_t, &Value::Float(0.0), &ret1, call, call)?;
        let last_ret2 =
            super::builtins::select(el, &done_t, &ret1, &Value::Tensor(last_ret), call, call)?;
        let last_len2 =
            super::builtins::select(el, &done_t, &len1, &Value::Tensor(last_len), call, call)?;
        let ep_return_out =
            super::builtins::select(el, &done_t, &ret1, &Value::Float(0.0), call, call)?;
        let carries = [s_next, ep_len2, ep_ret2, last_ret2, last_len2]
            .iter()
            .map(|v| el.to_tensor(v, call, None))
            .collect::<R<Vec<_>>>()?;
        let trunc_t = el.to_tensor(&trunc, call, None)?;
        let mut ys = vec![
            obs,
            act,
            reward,
            term,
            trunc_t,
            done_t,
            next_obs,
            el.to_tensor(&ep_return_out, call, None)?,
        ];
        fields = [
            "obs",
            "action",
            "reward",
            "terminated",
            "truncated",
            "done",
            "next_obs",
            "episode_return",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(lp) = logp {
            ys.push(el.to_tensor(&lp, call, None)?);
            fields.push("log_prob".into());
        }
        // Anything else the environment's `step` reports (a bandit's `regret`, a goal
        // task's `success`) is stacked into the batch under its own name.
        if let Value::Record(extra) = &out {
            for (name, v) in extra.iter() {
                if !["state", "reward", "terminated"].contains(&name.as_str()) && !fields.contains(name) {
                    if let Ok(t) = el.to_tensor(v, call, None) {
                        ys.push(t);
                        fields.push(name.clone());
                    }
                }
            }
        }
        Ok((carries, ys))
    };
    let (finals, ys) = el.scan(t_len as usize, false, &names, inits, &mut body)?;
    for (s, v) in [
        env.state,
        env.ep_len,
        env.ep_return,
        env.last_return,
        env.last_length,
    ]
    .iter()
    .zip(finals.iter())
    {
        el.write_slot(*s, v)?;
    }
    el.env_steps += t_len as u64 * n as u64;
    let mut rec: Vec<(String, Value)> = fields
        .into_iter()
        .zip(ys.into_iter().map(Value::Tensor))
        .collect();
    // `not_terminated` as a float mask, for bootstrapped targets.
    let term = rec
        .iter()
        .find(|(n, _)| n == "terminated")
        .map(|(_, v)| v.clone())
        .unwrap();
    if let Value::Tensor(t) = term {
        let nt = el.unary_not(&t)?;
        let nt = el.cast(&nt, DType::F32)?;
        rec.push(("not_terminated".into(), Value::Tensor(nt)));
    }
    let _ = Op::Const(0.0);
    Ok(Value::record(rec))
}

impl Elab<'_> {
    pub fn unary_not(&mut self, t: &TVal) -> R<TVal> {
        let n = self.node(t)?;
        let r = self.emit(Op::Unary(rlp_ir::UnaryOp::Not), vec![n])?;
        Ok(self.tval(r))
    }
}

/// Evaluates the override bindings (plain values: numbers, bools, strings, lists).
fn override_values(el: &mut Elab, m: ModId) -> R<Vec<(String, Value, Loc)>> {
    let module = el.mods.module(m);
    let file = module.file;
    let ast = module.ast.clone();
    let frame = Frame::root(m);
    let mut out = vec![];
    for item in &ast.items {
        let Item::Stmt(ast::Stmt {
            kind: StmtKind::Let { names, value, .. },
            span,
        }) = item
        else {
            return Err(Diag::new("parse", "`--set` takes NAME=VALUE")
                .label(Loc::new(file, ast::Span::new(0, 0)), "here"));
        };
        let v = el.expr(value, &frame)?;
        if !is_plain(&v) {
            return Err(Diag::new(
                "type-mismatch",
                "`--set` values are numbers, bools, strings or lists",
            )
            .label(Loc::new(file, value.span), "not a plain value"));
        }
        out.push((names[0].name.clone(), v, Loc::new(file, *span)));
    }
    Ok(out)
}

/// The override if it has the kind of the binding it replaces (an int may set a float).
fn same_kind(old: &Value, new: Value, at: Loc, decl: Loc) -> R<Value> {
    let ok = match (old, &new) {
        (Value::Float(_), Value::Int(i)) => return Ok(Value::Float(*i as f64)),
        (Value::Int(_), Value::Int(_))
        | (Value::Float(_), Value::Float(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Str(_), Value::Str(_)) => true,
        (Value::List(_), Value::List(_)) => true,
        _ => false,
    };
    if ok {
        Ok(new)
    } else {
        Err(Diag::new(
            "type-mismatch",
            format!(
                "`--set` gives {} but the program binds {}",
                new.kind(),
                old.kind()
            ),
        )
        .label(at, "set here")
        .label(decl, "bound here"))
    }
}

/// The elements a `for` loop runs over: a list or tuple known at compile time.
pub fn for_items(el: &mut Elab, iter: &ast::Expr, fr: &Rc<Frame>) -> R<Vec<Value>> {
    match el.expr(iter, fr)? {
        Value::List(xs) | Value::Tuple(xs) => Ok(xs.to_vec()),
        Value::Int(n) => Ok((0..n.max(0)).map(Value::Int).collect()),
        other => Err(Diag::new(
            "type-mismatch",
            format!(
                "`for` runs over a list known at compile time, found {}",
                other.kind()
            ),
        )
        .label(el.at(fr, iter.span), "not a list")
        .help("loops over tensors are written with `scan`")),
    }
}

/// Numbers, bools, strings and lists of them: what `--set` may give.
fn is_plain(v: &Value) -> bool {
    match v {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Str(_) => true,
        Value::List(xs) => xs.iter().all(is_plain),
        _ => false,
    }
}
