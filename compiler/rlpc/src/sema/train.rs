//! Lowering the top level and the `train` block into the pipeline IR.
//!
//! The top level runs into the `init` graph: every tensor it binds becomes state.
//! The `train` body is cut into stages (`sample`, `fit`, `improve`, `log`, and the
//! bodies of `every`), each its own graph; values that cross from one stage to a later
//! one travel through transient slots.

use super::elab::{Elab, R};
use super::loops::{LoopScope, for_loop};
use super::modules::{ModId, Modules};
use super::overrides::{override_values, plain_json, same_kind};
use super::params::{collect_params, collect_tensors, minimize};
use super::value::{Frame, Src, TVal, Value};
use crate::diag::{Diag, Loc};
use crate::program::{Metric, Program, Schedule, SlotKind, Stage, StageKind};
use rlp_ir::{DType, TensorType};
use rlp_syntax::ast::{self, Item, StageKind as AstStage, StmtKind};
use std::collections::HashMap;
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
    lower_opts(mods, main, seed, overrides, super::Options::default())
}

/// [`lower_with`] with [`super::Options`].
pub fn lower_opts(
    mods: &Modules,
    main: ModId,
    seed: u64,
    overrides: Option<ModId>,
    opts: super::Options,
) -> Result<Program, Diag> {
    let mut el = Elab::new(mods, seed);
    el.opts = opts;
    let file = mods.module(main).file;
    let frame = Frame::root(main);
    el.push_ctx(true);
    let module = mods.module(main).ast.clone();
    let mut pending = match overrides {
        Some(m) => {
            // Name before value: `--set lr=abc` on a program without `lr` is about `lr`.
            check_override_names(&el, m, &module)?;
            override_values(&mut el, m, &module)?
        }
        None => vec![],
    };
    let mut train: Option<&ast::Train> = None;
    // Where each top-level name is bound: the site of state made inside a library call
    // (`buf = replay(…)`), for diagnostics about its size.
    let mut bound_at: HashMap<String, Loc> = HashMap::new();
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
                not_the_counter(s, file)?;
                el.stmt(s, &frame)?;
                if let StmtKind::Let { names, value, .. } = &s.kind {
                    for n in names {
                        bound_at.insert(n.name.clone(), Loc::new(file, value.span));
                    }
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
    debug_assert!(pending.is_empty(), "override names are checked first");
    let hyperparameters = frame
        .vars
        .borrow()
        .iter()
        .filter_map(|(n, v)| plain_json(v).map(|j| (n.clone(), j)))
        .collect();
    // Top-level tensors become state.
    let first_state = el.slots.len();
    materialize_frame(&mut el, &frame, SlotKind::State, "")?;
    for slot in &mut el.slots[first_state..] {
        let binding = slot.name.split(['.', '#']).next().unwrap_or("");
        if slot.site.is_none() {
            slot.site = bound_at.get(binding).copied();
        }
    }
    let Some(train) = train else {
        return Err(no_train(&module, file));
    };
    // The count is evaluated while the init graph is current, so that a count that
    // builds tensors gets the type error below instead of finding no graph to build in.
    let count_loc = Loc::new(file, train.count.span);
    let iterations = match el.expr(&train.count, &frame)? {
        Value::Int(i) if i >= 0 => i as u64,
        other => {
            // A negative int is a value out of range; anything else is the wrong kind.
            let code = match other {
                Value::Int(_) => "bad-value",
                _ => "type-mismatch",
            };
            return Err(Diag::new(
                code,
                format!(
                    "the number of {} must be a non-negative int, found {}",
                    train.unit.name,
                    match other {
                        Value::Int(i) => i.to_string(),
                        _ => other.kind(),
                    }
                ),
            )
            .label(count_loc, "here"));
        }
    };
    let init_ctx = el.ctxs.pop().expect("init ctx");
    el.init = Some(init_ctx);
    el.owner.clear();

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
    // The init graph may read slots too (the iteration counter, 0 then).
    let reads = init_ctx
        .roles
        .iter()
        .filter_map(|r| {
            if let super::elab::Role::Slot(s) = r {
                Some(*s)
            } else {
                None
            }
        })
        .collect();
    let init = Stage {
        kind: StageKind::Init,
        loc: Loc::new(file, rlp_syntax::ast::Span::new(0, 0)),
        schedule: Schedule::ALWAYS,
        graph: init_ctx.graph,
        reads,
        writes,
        env_steps: 0,
        external: None,
        loops: vec![],
        row_writes: vec![],
    };
    let mut program = Program {
        slots: el.slots,
        init,
        stages: lw.stages,
        metrics: lw.metrics,
        iterations,
        unit: train.unit.name.clone(),
        counter: el.counter,
        externals: el.externals,
        seed,
        warnings: el.warnings,
        data: el.data,
        hyperparameters,
        files_read: el.files_read,
    };
    if !el.opts.keep_unread {
        program.prune_unread_transients();
    }
    program.keep_periodic_values();
    program.mark_missing_values();
    super::memory::check(&program, el.opts.memory)?;
    Ok(program)
}

struct Lowering {
    stages: Vec<Stage>,
    metrics: Vec<Metric>,
    /// The stage being built: kind, where it starts, schedule.
    open: Option<(StageKind, Loc, Schedule)>,
}

impl Lowering {
    /// Refuses a metric name that `metrics.csv` cannot hold as a column: one logged
    /// already (two `log`s, or one `log` in a stage-level `for`, which unrolls) or one
    /// of the columns every row starts with. Caught here, before anything runs, so a
    /// run never starts (and clears its directory of an earlier run's outputs) only to
    /// fail writing the header.
    fn claim_metric_name(&self, at: Loc, name: &str) -> R<()> {
        if rlp_runtime::metrics::FIXED_COLUMNS.contains(&name) {
            return Err(Diag::new(
                "duplicate",
                format!("`{name}` is one of the columns every row of `metrics.csv` starts with"),
            )
            .label(at, "a metric of that name")
            .help(format!(
                "`{}` are written on every row already; log this value under another name",
                rlp_runtime::metrics::FIXED_COLUMNS.join("`, `")
            )));
        }
        if let Some(first) = self.metrics.iter().find(|m| m.name == name) {
            let first = first.at;
            let diag = Diag::new("duplicate", format!("the metric `{name}` is logged twice"));
            return Err(if first == at {
                diag.label(at, "logged on every pass of the loop around it")
                    .help("a `for` around stages is unrolled, so this `log` runs once per item under one name: log one value per item from a list (`log a0 = …, a1 = …`) or a reduction over the items")
            } else {
                diag.label(first, "first logged here")
                    .label(at, "and again here")
                    .help("each metric is a column of `metrics.csv`: give this one another name")
            });
        }
        Ok(())
    }

    fn body(
        &mut self,
        el: &mut Elab,
        stmts: &[ast::Stmt],
        fr: &Rc<Frame>,
        sched: Schedule,
    ) -> R<()> {
        for (i, s) in stmts.iter().enumerate() {
            let loc = el.at(fr, s.span);
            if i > 0 {
                check_log_comma(el, &stmts[i - 1], s, fr)?;
            }
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
                        let at = el.at(fr, name.span);
                        self.claim_metric_name(at, &name.name)?;
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
                            at,
                        });
                    }
                    self.close(el, fr)?;
                }
                StmtKind::For { body, .. } if !super::loops::holds_stages(body) => {
                    // A loop of statements runs inside one stage.
                    if self.open.is_none() {
                        self.open_stage(el, fr, StageKind::Fit, loc, sched)?;
                    }
                    train_stmt_in(el, s, fr)?;
                }
                StmtKind::For { var, iter, body } => {
                    // A loop at the level of stages holds stages itself: unrolled, each
                    // iteration's stages their own graphs.
                    let scope = LoopScope::enter(fr);
                    for item in for_items(el, iter, fr)? {
                        fr.set(&var.name, item);
                        self.body(el, body, fr, sched)?;
                    }
                    scope.leave(fr);
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
                    if a < 0 {
                        let at = after.as_ref().map_or(loc, |e| el.at(fr, e.span));
                        return Err(Diag::new(
                            "bad-value",
                            format!("`every … after {a}`: the first iteration is 0, so `after` is at least 0"),
                        )
                        .label(at, "negative"));
                    }
                    let (Some(period), Some(after)) = (
                        (p as u64).checked_mul(sched.period),
                        sched.after.checked_add(a as u64),
                    ) else {
                        return Err(Diag::new("bad-value", "`every`: the nested schedule's period or start does not fit in 64 bits")
                            .label(loc, "here"));
                    };
                    self.close(el, fr)?;
                    let inner = Schedule { period, after };
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
        if let Some((k, _, s)) = self.open
            && k == kind
            && s == sched
            && kind != StageKind::Log
        {
            return Ok(());
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
        let id = el.ctxs.last().expect("stage ctx").id;
        let (mut graph, reads, mut writes) = el.finish_stage();
        let row_writes = super::inplace::rows_in_place(el, &mut graph, &reads, &mut writes);
        let (loops, others) = std::mem::take(&mut el.loop_notes)
            .into_iter()
            .partition(|(g, _)| *g == id);
        el.loop_notes = others;
        // External rollouts met in this stage run first; the stage's own graph is
        // dropped when a rollout was all it held.
        for mut ext in std::mem::take(&mut el.pending) {
            ext.schedule = schedule;
            self.stages.push(ext);
        }
        if !writes.is_empty() {
            self.stages.push(Stage {
                kind,
                loc,
                schedule,
                graph,
                reads,
                writes,
                env_steps: el.env_steps,
                external: None,
                loops: loops.into_iter().map(|(_, n)| n).collect(),
                row_writes,
            });
        }
        Ok(())
    }
}

/// `log a = x` followed by an indented `b = y` line: the comma that would make `b` a
/// second entry is missing, and `b` would be a binding nothing reads (the metric
/// silently absent).
fn check_log_comma(el: &Elab, prev: &ast::Stmt, s: &ast::Stmt, fr: &Rc<Frame>) -> R<()> {
    let (StmtKind::Log { entries }, StmtKind::Let { names, .. }) = (&prev.kind, &s.kind) else {
        return Ok(());
    };
    let text = el.mods.sources.text(el.file(fr));
    let column = |at: u32| {
        let upto = &text[..(at as usize).min(text.len())];
        upto.len() - upto.rfind('\n').map_or(0, |k| k + 1)
    };
    if column(s.span.start) <= column(prev.span.start) {
        return Ok(());
    }
    let last = entries.last().map(|(n, _)| n.name.as_str()).unwrap_or("");
    Err(Diag::new(
        "log-comma",
        format!(
            "`{}` continues the `log` above but is not one of its entries",
            names[0].name
        ),
    )
    .label(el.at(fr, s.span), "a binding nothing reads, not a metric")
    .label(
        el.at(fr, prev.span),
        format!("this `log` ends after `{last}`"),
    )
    .help(
        "separate log entries with `,` (a comma at the end of the line above); a binding \
         meant as a statement of its own takes a stage label (`fit y = …`)",
    ))
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
/// `no-train`; for a file of functions that also binds a value at the top level (which
/// makes it a program rather than a library), the error points at that binding.
fn no_train(module: &ast::Module, file: crate::diag::FileId) -> Diag {
    let has_fns = module.items.iter().any(|i| matches!(i, Item::Fn(_)));
    let first_stmt = module.items.iter().find_map(|i| match i {
        Item::Stmt(s) => Some(s),
        _ => None,
    });
    match first_stmt {
        Some(s) if has_fns => {
            let what = match &s.kind {
                StmtKind::Let { names, .. } => format!(
                    "`{}`",
                    names
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                _ => "this statement".to_string(),
            };
            Diag::new(
                "no-train",
                "this file has functions and a top-level binding but no `train` block",
            )
            .label(
                Loc::new(file, s.span),
                format!("{what} at the top level makes this file a program, not a library"),
            )
            .help(
                "a library holds only `fn`s and `use`s (functions do not see top-level \
                 bindings anyway): move the value into the function that uses it or make it a \
                 parameter's default; a program needs `train iterations: N { … }`",
            )
        }
        _ => Diag::new("no-train", "this program has no `train` block")
            .label(
                Loc::new(file, rlp_syntax::ast::Span::new(0, 0)),
                "nothing to run",
            )
            .help("add `train iterations: N { … }` with the stages to run"),
    }
}

fn materialize_frame(el: &mut Elab, fr: &Rc<Frame>, kind: SlotKind, prefix: &str) -> R<()> {
    let vars: Vec<(String, Value)> = fr.vars.borrow().clone();
    for (name, v) in vars {
        let nv = materialize(el, &v, &format!("{prefix}{name}"), kind)?;
        fr.set(&name, nv);
    }
    Ok(())
}

pub(super) fn materialize(el: &mut Elab, v: &Value, name: &str, kind: SlotKind) -> R<Value> {
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

pub(super) fn train_stmt_in(el: &mut Elab, s: &ast::Stmt, fr: &Rc<Frame>) -> R<()> {
    let loc = el.at(fr, s.span);
    el.loc = loc;
    match &s.kind {
        StmtKind::Let { .. } | StmtKind::Expr(_) => {
            if let StmtKind::Let { names, .. } = &s.kind {
                warn_shadowed_state(el, names, fr);
            }
            let was = el.in_train;
            el.in_train = true;
            let r = el.stmt(s, fr);
            el.in_train = was;
            r
        }
        StmtKind::Minimize { loss, wrt, with } => minimize(el, loss, wrt, with, fr, loc),
        StmtKind::Update { place, value } => {
            let target = el.expr(place, fr)?;
            not_a_dataset(el, &target, el.at(fr, place.span))?;
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
            not_a_dataset(el, &target, el.at(fr, place.span))?;
            let v = el.expr(value, fr)?;
            let (lp, lv) = (el.at(fr, place.span), el.at(fr, value.span));
            let new = el.binary(*op, target.clone(), v, lp, lv, loc)?;
            assign(el, &target, &new, lp, lv)
        }
        StmtKind::Repeat { count, body } => {
            let n = const_int(el, count, fr)?;
            let items = (0..n.max(0)).map(Value::Int).collect();
            el.loc = loc;
            for_loop(el, None, items, body, fr, train_stmt_in)
        }
        StmtKind::For { var, iter, body } => {
            let items = for_items(el, iter, fr)?;
            el.loc = loc;
            for_loop(el, Some(var), items, body, fr, train_stmt_in)
        }
        StmtKind::Stage { .. } | StmtKind::Log { .. } | StmtKind::Every { .. } => {
            train_stmt(el, s, fr)
        }
    }
}

/// A top-level binding may not be named `iteration` (see
/// [`super::modules::names_the_counter`]).
fn not_the_counter(s: &ast::Stmt, file: crate::diag::FileId) -> R<()> {
    let StmtKind::Let { names, .. } = &s.kind else {
        return Ok(());
    };
    match names.iter().find(|n| n.name == super::modules::COUNTER) {
        None => Ok(()),
        Some(n) => Err(super::modules::names_the_counter(
            Loc::new(file, n.span),
            "a top-level binding",
        )),
    }
}

/// `name = …` in the `train` block where `name` is top-level state (a tensor, a
/// buffer, a module's parameters) binds a new name for one iteration and leaves the
/// state as it was: almost always a forgotten `<-`. Warned at the first such binding.
fn warn_shadowed_state(el: &mut Elab, names: &[ast::Ident], fr: &Rc<Frame>) {
    for n in names {
        let mut f = fr.clone();
        let mut local = false;
        while let Some(p) = f.parent.clone() {
            local |= f.vars.borrow().iter().any(|(v, _)| *v == n.name);
            f = p;
        }
        if local {
            continue;
        }
        let Some(top) = f.get(&n.name) else {
            continue;
        };
        if !holds_state(el, &top) && collect_params(el, &top).is_empty() {
            continue;
        }
        let name = &n.name;
        let d = Diag::warning(
            "shadowed-state",
            format!("`{name}` is state, but `=` leaves it unchanged"),
        )
        .label(el.at(fr, n.span), "a new name, for this iteration only")
        .help(format!(
            "`{name}` is state; `=` makes a new name for this iteration only — write `{name} <- …` to update it"
        ));
        el.warn(d);
    }
}

/// A `<-` whose target holds a dataset's rows is refused before its value is made:
/// otherwise `ds <- insert(ds, batch)` fails inside `insert` on what a dataset lacks (a
/// `ptr`), far from the real mistake.
fn not_a_dataset(el: &Elab, target: &Value, lt: Loc) -> R<()> {
    if let Value::Tensor(_) = target {
        return Ok(()); // one field: `write_slot` says it
    }
    let data = collect_tensors(el, target)
        .into_iter()
        .find_map(|t| match t.src {
            Src::Slot(s) if el.slots[s.0 as usize].kind == SlotKind::Data => Some(s),
            _ => None,
        });
    match data {
        None => Ok(()),
        Some(s) => Err(Diag::new(
            "read-only",
            format!(
                "this holds a dataset's rows (`{}`, …), which a program reads but does not write",
                el.slots[s.0 as usize].name
            ),
        )
        .label(lt, "written here")
        .help("copy the rows into state of your own first: `mine = replay(…)` with the same fields, then `mine <- insert(mine, …)`")),
    }
}

/// `target <- value`: state gets a new value; a module's parameters are copied
/// parameter by parameter (`q_targ <- q`).
fn assign(el: &mut Elab, target: &Value, value: &Value, lt: Loc, lv: Loc) -> R<()> {
    if let Value::Tensor(TVal {
        src: Src::Slot(s), ..
    }) = target
    {
        if el.slots[s.0 as usize].kind == SlotKind::Transient {
            // A value an earlier stage computed, carried to this one: it lives for this
            // iteration only, so an update would be lost (and within one stage it is
            // already an error).
            return Err(Diag::new(
                "not-state",
                "this value was computed in an earlier stage; it holds no state to update",
            )
            .label(lt, "computed earlier in this iteration")
            .help("bind a new name (`y2 = …`), or bind it at top level to make it state"));
        }
        let v = el.to_tensor(value, lv, None)?;
        return el.write_slot(*s, &v);
    }
    let structured = matches!(
        (target, value),
        (Value::Record(_), Value::Record(_))
            | (
                Value::List(_) | Value::Tuple(_),
                Value::List(_) | Value::Tuple(_)
            )
    );
    // (Parameters go by the copy below, module by module.)
    if structured && holds_state(el, target) && collect_params(el, target).is_empty() {
        return assign_fields(el, target, value, lt, lv);
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
        el.ctxs.last_mut().expect("a graph").copied.push(*d);
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

/// Whether `v` holds state other than parameters (a replay buffer's record).
fn holds_state(el: &Elab, v: &Value) -> bool {
    collect_tensors(el, v)
        .iter()
        .any(|t| matches!(t.src, Src::Slot(s) if el.slots[s.0 as usize].kind == SlotKind::State))
}

/// `record <- record` (or list, tuple): each state tensor of `target` gets the value in the same place of
/// `value` (fields by name, list items by position); numbers, strings and functions in
/// `target` are left alone.
fn assign_fields(el: &mut Elab, target: &Value, value: &Value, lt: Loc, lv: Loc) -> R<()> {
    match target {
        Value::Tensor(TVal {
            src: Src::Slot(s), ..
        }) => {
            let v = el.to_tensor(value, lv, None)?;
            let ty = el.slots[s.0 as usize].ty.clone();
            if v.ty != ty {
                return Err(Diag::new(
                    "shape-mismatch",
                    format!(
                        "cannot write {} into `{}` ({ty})",
                        v.ty, el.slots[s.0 as usize].name
                    ),
                )
                .label(lv, format!("has {}", v.ty))
                .label(lt, "target"));
            }
            el.write_slot(*s, &v)
        }
        Value::Tensor(_) => Err(Diag::new(
            "not-state",
            "`<-` writes state, but this record holds a tensor that is not state",
        )
        .label(lt, "not all state")),
        Value::Record(fs) => {
            for (name, t) in fs.iter() {
                let Some(v) = value.field(name) else {
                    return Err(Diag::new(
                        "unknown-field",
                        format!("the new value has no field `{name}`"),
                    )
                    .label(lv, format!("needs `{name}`"))
                    .label(lt, "target"));
                };
                assign_fields(el, t, &v, lt, lv)?;
            }
            Ok(())
        }
        Value::List(ts) | Value::Tuple(ts) => match value {
            Value::List(vs) | Value::Tuple(vs) if vs.len() == ts.len() => {
                for (t, v) in ts.iter().zip(vs.iter()) {
                    assign_fields(el, t, v, lt, lv)?;
                }
                Ok(())
            }
            _ => Err(Diag::new(
                "shape-mismatch",
                format!("cannot write {} into a list of {}", value.kind(), ts.len()),
            )
            .label(lv, "source")
            .label(lt, "target")),
        },
        _ => Ok(()),
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

/// Every `--set NAME=…` names a top-level binding of the program `main`.
fn check_override_names(el: &Elab, overrides: ModId, main: &ast::Module) -> Result<(), Diag> {
    let names: Vec<String> = main.bindings().map(|n| n.name.clone()).collect();
    let set = el.mods.module(overrides);
    for item in &set.ast.items {
        let Item::Stmt(ast::Stmt {
            kind: StmtKind::Let {
                names: set_names, ..
            },
            span,
        }) = item
        else {
            continue; // not NAME=VALUE: `override_values` says so
        };
        let name = &set_names[0].name;
        if names.contains(name) {
            continue;
        }
        let mut d = Diag::new(
            "unknown-name",
            format!("`--set {name}=…`: the program has no top-level binding `{name}`"),
        )
        .label(Loc::new(set.file, *span), "set here");
        if let Some(s) = crate::diag::did_you_mean(name, names.iter().map(|s| s.as_str())) {
            d = d.help(format!("did you mean `{s}`?"));
        } else if names.is_empty() {
            d = d.help("the program binds no top-level names for `--set` to change");
        } else {
            d = d.help(format!("top-level bindings: {}", names.join(", ")));
        }
        return Err(d);
    }
    Ok(())
}
