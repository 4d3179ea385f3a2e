//! Parameters and optimisation: which parameters a value holds, and `minimize`.
//!
//! A module is a closure over its parameters, so "the parameters of `policy`" are the
//! parameter slots reachable from the names its body mentions. `minimize` appends the
//! reverse-mode gradient of the loss to the stage graph and applies the optimizer's
//! `.rlp` update to each parameter, creating the optimizer's state on first use.

use super::builtins::{Args, filled};
use super::elab::{Elab, OptLog, R, Role};
use super::train::materialize;
use super::value::{Closure, Frame, Src, TVal, Value};
use crate::diag::{Diag, Loc};
use crate::program::{SlotId, SlotKind};
use rlp_ir::{DType, NodeId, TensorType};
use rlp_syntax::ast::{self, BinOp, ExprKind, StmtKind};
use std::collections::HashMap;
use std::rc::Rc;

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

pub(super) fn collect_tensors(el: &Elab, v: &Value) -> Vec<TVal> {
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
pub(super) fn names_in(e: &ast::Expr, out: &mut Vec<String>) {
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
pub(super) fn minimize(
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
    if !el.top_owns_slots() {
        return Err(
            Diag::new("misplaced", "`minimize` cannot run inside a scan").label(loc, "here"),
        );
    }
    let loss_node = el.node(&lt)?;
    let top = el.ctxs.len() - 1;
    // The parameters: those named by `wrt`, else every parameter the loss reads other
    // than through `stop`, except copies made by `<-` in this graph.
    let params: Vec<SlotId> = if wrt.is_empty() {
        let anc = ancestors(&el.ctxs[top].graph, loss_node);
        let copied = &el.ctxs[top].copied;
        let mut ps: Vec<SlotId> = el.ctxs[top]
            .slot_vals
            .iter()
            .filter(|(s, n)| {
                el.slots[s.0 as usize].kind == SlotKind::Param
                    && anc[n.index()]
                    && !copied.contains(s)
            })
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
            // Each `wrt` entry must be read by the loss (other than through `stop`),
            // else its gradient is zero and nothing of it trains.
            let anc = ancestors(&el.ctxs[top].graph, loss_node);
            let ctx = &el.ctxs[top];
            let now = found
                .iter()
                .any(|p| ctx.slot_vals.get(p).is_some_and(|n| anc[n.index()]));
            // Or an earlier value of it: the graph's input for the slot (read before an
            // update in this stage, or in an unrolled loop's earlier round), or any value
            // captured from outside a loop body (which may hold it).
            let earlier =
                ctx.graph
                    .ids()
                    .filter(|n| anc[n.index()])
                    .any(|n| match ctx.graph.node(n).op {
                        rlp_ir::Op::Input(k) => match ctx.roles.get(k) {
                            Some(Role::Slot(s)) => found.contains(s),
                            Some(Role::Inv(_) | Role::Seq(_)) => true,
                            _ => false,
                        },
                        _ => false,
                    });
            if !now && !earlier {
                let lw = el.at(fr, w.span);
                let name = el.mods.sources.snippet(lw).to_string();
                return Err(Diag::new(
                    "wrt-unread",
                    format!("the loss does not depend on `{name}`"),
                )
                .label(lw, format!("the loss never reads `{name}`"))
                .label(ll, "this loss")
                .help(format!(
                    "minimize a loss computed from `{name}`'s output, or leave `{name}` out of `wrt`"
                )));
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
        // Values of an earlier stage reach this graph as stored tensors, not as the
        // computation that made them: a loss built from them has no gradient.
        let anc = ancestors(&el.ctxs[top].graph, loss_node);
        let mut earlier: Vec<&str> = el.ctxs[top]
            .slot_vals
            .iter()
            .filter(|(s, n)| el.slots[s.0 as usize].kind == SlotKind::Transient && anc[n.index()])
            .map(|(s, _)| {
                let name = el.slots[s.0 as usize].name.as_str();
                name.strip_prefix("tmp.").unwrap_or(name)
            })
            .collect();
        earlier.sort();
        earlier.dedup();
        let help = if earlier.is_empty() {
            "check that the loss uses a module's output".to_string()
        } else {
            let names: Vec<String> = earlier.iter().map(|n| format!("`{n}`")).collect();
            format!(
                "the loss reads {}, computed in an earlier stage: values computed in an \
                 earlier stage are constants here; compute them in the same stage to \
                 differentiate through them",
                names.join(", ")
            )
        };
        return Err(
            Diag::new("no-params", "this loss does not depend on any parameter")
                .label(ll, "constant loss")
                .help(help),
        );
    }
    el.loc = loc;
    super::loops::check_gradient(el, loss_node, &params, wrt.is_empty(), loc)?;
    let mut grads = differentiate(el, loss_node, &params, loc, ll)?;
    if opt.max_grad_norm > 0.0 {
        grads = clip_global_norm(el, &grads, opt.max_grad_norm, loc)?;
    }
    // Optimizer step counter, shared by all parameters of this optimizer.
    let count = *opt.count.borrow();
    let count = match count {
        Some(c) => c,
        None => {
            el.opt_log.push(OptLog {
                opt: opt.clone(),
                states: opt.states.borrow().len(),
                count: None,
            });
            el.making_opt_state = true;
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
            let made = el.in_init(|el| {
                let z = filled(el, DType::F32, &[], 0.0);
                el.write_slot(c, &z)
            });
            el.making_opt_state = false;
            made?;
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
    el.opt_log.push(OptLog {
        opt: opt.clone(),
        states: opt.states.borrow().len(),
        count: *opt.count.borrow(),
    });
    el.making_opt_state = true;
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
    });
    el.making_opt_state = false;
    let v = v?;
    opt.states.borrow_mut().push((p, v.clone()));
    Ok(v)
}

/// Which nodes `root` depends on (scan bodies count through their arguments).
fn ancestors(g: &rlp_ir::Graph, root: rlp_ir::NodeId) -> Vec<bool> {
    let mut mark = vec![false; g.nodes.len()];
    mark[root.index()] = true;
    for i in (0..=root.index()).rev() {
        if mark[i] && g.nodes[i].op != rlp_ir::Op::StopGradient {
            for a in &g.nodes[i].args {
                mark[a.index()] = true;
            }
        }
    }
    mark
}

/// `grad(loss, wrt: m)`: the gradient of a scalar loss with respect to the parameters
/// of `m` (a module, a list of modules), as a list in the order of `parameters(m)`.
/// Gradients are tensors like any other, so they can be differentiated again
/// (Hessian- and Fisher-vector products).
pub fn grad_builtin(el: &mut Elab, mut a: Args) -> R<Value> {
    let call = a.call;
    let (loss, ll) = a.need("grad", "loss")?;
    let (wrt, lw) = a.need("grad", "wrt")?;
    a.done_public("grad", &["loss", "wrt"])?;
    let lt = el.to_tensor(&loss, ll, None)?;
    if lt.ty.rank() != 0 || !lt.ty.dtype.is_float() {
        return Err(Diag::new(
            "shape-mismatch",
            format!("`grad` needs a float scalar, but this is {}", lt.ty),
        )
        .label(ll, format!("this is {}", lt.ty))
        .help("reduce it, e.g. `mean(…)`"));
    }
    if !el.top_owns_slots() {
        return Err(Diag::new("misplaced", "`grad` cannot run inside a scan").label(call, "here"));
    }
    let params = collect_params(el, &wrt);
    if params.is_empty() {
        return Err(
            Diag::new("not-state", format!("{} has no parameters", wrt.kind()))
                .label(lw, "no parameters"),
        );
    }
    let loss_node = el.node(&lt)?;
    super::loops::check_gradient(el, loss_node, &params, false, call)?;
    let grads = differentiate(el, loss_node, &params, call, ll)?;
    let list: Vec<Value> = grads
        .into_iter()
        .map(|g| Value::Tensor(el.tval(g)))
        .collect();
    Ok(Value::List(list.into()))
}

/// `parameters(m)`: the current values of the parameters of `m`, as a list (the order
/// `grad` and `m <- list` use).
pub fn parameters_builtin(el: &mut Elab, mut a: Args) -> R<Value> {
    let (m, lm) = a.need("parameters", "module")?;
    a.done_public("parameters", &["module"])?;
    let params = collect_params(el, &m);
    if params.is_empty() {
        return Err(
            Diag::new("not-state", format!("{} has no parameters", m.kind()))
                .label(lm, "no parameters"),
        );
    }
    let list: Vec<Value> = params
        .iter()
        .map(|p| {
            Value::Tensor(TVal {
                src: Src::Slot(*p),
                ty: el.slots[p.0 as usize].ty.clone(),
            })
        })
        .collect();
    Ok(Value::List(list.into()))
}

/// The gradients scaled by `max / max(‖g‖, max)`, ‖g‖ the norm of all of them together:
/// unchanged while the norm is at most `max`, else scaled down to it (no division by a
/// zero norm).
fn clip_global_norm(el: &mut Elab, grads: &[NodeId], max: f64, loc: Loc) -> R<Vec<NodeId>> {
    use super::builtins::Builtin;
    let call = |el: &mut Elab, b: Builtin, xs: Vec<Value>| {
        b.call(
            el,
            Args {
                pos: xs.into_iter().map(|x| (x, loc)).collect(),
                kw: vec![],
                call: loc,
            },
        )
    };
    let mut total = Value::Float(0.0);
    for &g in grads {
        let g = Value::Tensor(el.tval(g));
        let sq = el.binary(BinOp::Mul, g.clone(), g, loc, loc, loc)?;
        let s = call(el, Builtin::Sum, vec![sq])?;
        total = el.binary(BinOp::Add, total, s, loc, loc, loc)?;
    }
    let norm = call(el, Builtin::Sqrt, vec![total])?;
    let denom = call(el, Builtin::Max, vec![norm, Value::Float(max)])?;
    let scale = el.binary(BinOp::Div, Value::Float(max), denom, loc, loc, loc)?;
    grads
        .iter()
        .map(|&g| {
            let g = Value::Tensor(el.tval(g));
            let v = el.binary(BinOp::Mul, g, scale.clone(), loc, loc, loc)?;
            let t = el.to_tensor(&v, loc, None)?;
            el.node(&t)
        })
        .collect()
}

/// `copy(m)`: `m` over new parameters, each initialised (in the init graph) to the
/// initial value of the one it copies, so a target network starts equal to its source
/// and is trained, synced or averaged on its own from then on. Closures are rebuilt
/// with the copied parameters bound in a child of their frame; values without
/// parameters are shared.
pub fn copy_builtin(el: &mut Elab, mut a: Args) -> R<Value> {
    let (m, lm) = a.need("copy", "module")?;
    a.done_public("copy", &["module"])?;
    let params = collect_params(el, &m);
    if params.is_empty() {
        return Err(Diag::new(
            "not-state",
            format!("{} has no parameters to copy", m.kind()),
        )
        .label(lm, "no parameters"));
    }
    let mut fresh = HashMap::new();
    for p in params {
        let source = &el.slots[p.0 as usize];
        let field = source
            .name
            .split_once('.')
            .map_or(source.name.as_str(), |(_, f)| f);
        let owner = if el.owner.is_empty() {
            "copy"
        } else {
            el.owner.as_str()
        };
        let (name, ty) = (format!("{owner}.{field}"), source.ty.clone());
        let q = el.new_slot(&name, ty, SlotKind::Param);
        el.in_init(|el| {
            let level = el.ctxs.len() - 1;
            let n = el.read_slot(level, p);
            let v = el.tval(n);
            el.write_slot(q, &v)
        })?;
        fresh.insert(p, q);
    }
    Ok(with_slots(&m, &fresh, &mut HashMap::new()))
}

/// `v` with the parameter slots in `fresh` replaced; `memo` keeps closures shared
/// between two places shared in the copy.
fn with_slots(
    v: &Value,
    fresh: &HashMap<SlotId, SlotId>,
    memo: &mut HashMap<*const Closure, Rc<Closure>>,
) -> Value {
    let mut all =
        |xs: &[Value]| -> Rc<[Value]> { xs.iter().map(|x| with_slots(x, fresh, memo)).collect() };
    match v {
        Value::Tensor(t) => match t.src {
            Src::Slot(s) if fresh.contains_key(&s) => Value::Tensor(TVal {
                src: Src::Slot(fresh[&s]),
                ty: t.ty.clone(),
            }),
            _ => v.clone(),
        },
        Value::List(xs) => Value::List(all(xs)),
        Value::Tuple(xs) => Value::Tuple(all(xs)),
        Value::Record(fs) => Value::Record(
            fs.iter()
                .map(|(n, x)| (n.clone(), with_slots(x, fresh, memo)))
                .collect(),
        ),
        Value::Closure(c) => {
            let key = Rc::as_ptr(c);
            if let Some(done) = memo.get(&key) {
                return Value::Closure(done.clone());
            }
            let frame = Frame::child(&c.frame);
            let mut names = vec![];
            names_in(&c.body, &mut names);
            let copy = Rc::new(Closure {
                params: c.params.clone(),
                body: c.body.clone(),
                frame: frame.clone(),
                file: c.file,
            });
            memo.insert(key, copy.clone());
            for n in names {
                if c.params.iter().any(|p| p.name.name == n) {
                    continue;
                }
                if let Some(x) = c.frame.get(&n) {
                    frame.set(&n, with_slots(&x, fresh, memo));
                }
            }
            Value::Closure(copy)
        }
        _ => v.clone(),
    }
}

/// Appends to the stage (or loop) graph the gradient of `loss` with respect to the current values
/// of the parameter slots `params`; the new nodes are attributed to `at` (so a NaN in
/// the backward pass names the `minimize` or `grad` that made it).
fn differentiate(
    el: &mut Elab,
    loss: rlp_ir::NodeId,
    params: &[SlotId],
    at: Loc,
    loss_loc: Loc,
) -> R<Vec<rlp_ir::NodeId>> {
    let mut nodes = vec![];
    for p in params {
        let tv = TVal {
            src: Src::Slot(*p),
            ty: el.slots[p.0 as usize].ty.clone(),
        };
        nodes.push(el.node(&tv)?);
    }
    let top = el.ctxs.len() - 1;
    let before = el.ctxs[top].graph.nodes.len();
    let grads = rlp_ir::autodiff::grad(&mut el.ctxs[top].graph, loss, &nodes).map_err(|e| {
        Diag::new("autodiff", format!("cannot differentiate this: {e}")).label(loss_loc, "here")
    })?;
    let origin = Some(rlp_ir::Origin {
        file: at.file.0,
        start: at.span.start,
        end: at.span.end,
        called_from: None,
    });
    for n in &mut el.ctxs[top].graph.nodes[before..] {
        n.origin = origin;
    }
    Ok(grads)
}
