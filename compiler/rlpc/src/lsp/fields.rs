//! The fields of a record when the syntax tells them: a record literal, a binding of
//! one, a function whose value is one, and the records built-ins make (an
//! environment, a rollout's batch, a dataset). No types are inferred.

use super::index::{Def, ModInfo, World};
use rlp_syntax::ast::{Expr, ExprKind, Span, StmtKind};
use std::rc::Rc;

/// One field: its name, what it holds (as written, or in words), and where it is written.
#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    /// The field's value expression, when it is written in `.rlp`.
    pub value: Option<Expr>,
    /// What it is, in words (built-in records).
    pub detail: String,
    /// The module and span of its name, when it is written in `.rlp`.
    pub loc: Option<(Rc<ModInfo>, Span)>,
}

/// Where an expression is read: its module and the bindings visible to it (name →
/// value, later ones shadowing earlier ones).
#[derive(Clone)]
pub struct ExprCtx {
    pub module: Rc<ModInfo>,
    pub scope: Vec<(String, Option<Expr>)>,
}

impl ExprCtx {
    fn binding(&self, name: &str) -> Option<&Option<Expr>> {
        self.scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

const ENV_FIELDS: &[(&str, &str)] = &[
    ("envs", "int: the number of environments"),
    ("obs", "int: the observation size"),
    ("actions", "int: the number of discrete actions"),
    ("act_dim", "int: the size of a continuous action"),
    ("act_low", "the lowest action"),
    ("act_high", "the highest action"),
    ("max_steps", "int: the episode limit"),
    ("state", "tensor: every environment's state"),
    (
        "episode_return",
        "[N]: the return of each environment's last finished episode (NaN before one ends)",
    ),
    (
        "episode_length",
        "[N]: the length of each environment's last finished episode",
    ),
    ("action_shape", "the shape of one action ([] when discrete)"),
    ("action_dtype", "\"i32\" (discrete) or \"f32\" (continuous)"),
];

const BATCH_FIELDS: &[(&str, &str)] = &[
    ("obs", "[T, N, …]: observations"),
    ("action", "[T, N, …]: actions taken"),
    ("reward", "[T, N]: rewards"),
    (
        "terminated",
        "[T, N] bool: the episode ended in a terminal state",
    ),
    ("truncated", "[T, N] bool: the episode was cut (time limit)"),
    ("done", "[T, N] bool: terminated or truncated"),
    (
        "next_obs",
        "[T, N, …]: the observation after the step, before any reset",
    ),
    (
        "episode_return",
        "[T, N]: the return of an episode ending at that step, else 0",
    ),
    (
        "log_prob",
        "[T, N]: the policy's log-probability of the action",
    ),
    (
        "not_terminated",
        "[T, N]: 1 where the episode goes on, else 0",
    ),
];

const DATASET_FIELDS: &[(&str, &str)] = &[
    (
        "data",
        "record of the logged arrays, one row per transition",
    ),
    ("size", "int: the number of transitions"),
    ("capacity", "int: the number of rows"),
    ("episodes", "int: the number of episodes"),
    ("max_length", "int: the longest episode"),
    ("episode_start", "[E] i32: each episode's first row"),
    ("episode_length", "[E] i32: each episode's length"),
];

/// The record a built-in returns, if it returns one with known fields.
fn builtin_fields(name: &str) -> Option<Vec<Field>> {
    let table: &[(&str, &str)] = match name {
        "environment" | "gym" => ENV_FIELDS,
        "rollout" => BATCH_FIELDS,
        "dataset" => DATASET_FIELDS,
        "top_k" => &[
            ("values", "[…, k]: the k largest of each row"),
            ("indices", "[…, k] i32: their positions"),
        ],
        "optimizer" => &[("init", "fn"), ("update", "fn")],
        _ => return None,
    };
    Some(
        table
            .iter()
            .map(|(n, d)| Field {
                name: n.to_string(),
                value: None,
                detail: d.to_string(),
                loc: None,
            })
            .collect(),
    )
}

const MAX_DEPTH: usize = 8;

/// The fields of the record `e` evaluates to, if the syntax tells them.
pub fn fields_of(w: &World, cx: &ExprCtx, e: &Expr) -> Option<Vec<Field>> {
    fields_at(w, cx, e, 0).map(|(f, _)| f)
}

/// [`fields_of`] with the context the fields' value expressions are read in.
pub fn fields_with_ctx(w: &World, cx: &ExprCtx, e: &Expr) -> Option<(Vec<Field>, ExprCtx)> {
    fields_at(w, cx, e, 0)
}

fn fields_at(w: &World, cx: &ExprCtx, e: &Expr, depth: usize) -> Option<(Vec<Field>, ExprCtx)> {
    if depth > MAX_DEPTH {
        return None;
    }
    match &e.kind {
        ExprKind::Record(fs) => Some((
            fs.iter()
                .map(|(k, v)| Field {
                    name: k.name.clone(),
                    value: Some(v.clone()),
                    detail: String::new(),
                    loc: Some((cx.module.clone(), k.span)),
                })
                .collect(),
            cx.clone(),
        )),
        ExprKind::Name(id) => match cx.binding(&id.name) {
            Some(Some(v)) => {
                // The value was bound before this binding: read it without the names
                // bound from here on.
                let pos = cx.scope.iter().rposition(|(n, _)| *n == id.name)?;
                let inner = ExprCtx {
                    module: cx.module.clone(),
                    scope: cx.scope[..pos].to_vec(),
                };
                fields_at(w, &inner, v, depth + 1)
            }
            _ => None,
        },
        ExprKind::Call { callee, .. } => {
            let Some(def) = callee_def(w, cx, callee) else {
                // A closure: the fields of what its body makes.
                let (body, inner) = lambda_at(w, cx, callee, depth + 1)?;
                return fields_at(w, &inner, &body, depth + 1);
            };
            match w.callable(&def)? {
                Def::Builtin(sig) => builtin_fields(sig.name).map(|f| (f, cx.clone())),
                Def::Fn(m, name) => {
                    let (value, inner) = fn_value(&m, &name)?;
                    fields_at(w, &inner, &value, depth + 1)
                }
                Def::Module(_) => None,
            }
        }
        ExprKind::Field { base, name } => {
            let (fs, inner) = fields_at(w, cx, base, depth + 1)?;
            let f = fs.into_iter().find(|f| f.name == name.name)?;
            fields_at(w, &inner, f.value.as_ref()?, depth + 1)
        }
        ExprKind::If { then, .. } => fields_at(w, cx, then, depth + 1),
        ExprKind::Block(b) => {
            let mut inner = cx.clone();
            push_lets(&mut inner, &b.stmts);
            fields_at(w, &inner, b.value.as_deref()?, depth + 1)
        }
        _ => None,
    }
}

/// The body of the function `e` evaluates to, when the syntax shows a lambda (`x -> …`,
/// a binding of one, a function returning one, a record field holding one), with the
/// context it is read in.
fn lambda_at(w: &World, cx: &ExprCtx, e: &Expr, depth: usize) -> Option<(Expr, ExprCtx)> {
    if depth > MAX_DEPTH {
        return None;
    }
    match &e.kind {
        ExprKind::Lambda { params, body } => {
            let mut inner = cx.clone();
            inner
                .scope
                .extend(params.iter().map(|p| (p.name.name.clone(), None)));
            Some(((**body).clone(), inner))
        }
        ExprKind::Name(id) => {
            let pos = cx.scope.iter().rposition(|(n, _)| *n == id.name)?;
            let v = cx.scope[pos].1.as_ref()?;
            let inner = ExprCtx {
                module: cx.module.clone(),
                scope: cx.scope[..pos].to_vec(),
            };
            lambda_at(w, &inner, v, depth + 1)
        }
        ExprKind::Call { callee, .. } => {
            let (value, inner) = match w.callable(&callee_def(w, cx, callee)?)? {
                Def::Fn(m, name) => fn_value(&m, &name)?,
                _ => return None,
            };
            lambda_at(w, &inner, &value, depth + 1)
        }
        ExprKind::Field { base, name } => {
            let (fs, inner) = fields_at(w, cx, base, depth + 1)?;
            let f = fs.into_iter().find(|f| f.name == name.name)?;
            lambda_at(w, &inner, f.value.as_ref()?, depth + 1)
        }
        ExprKind::Block(b) => {
            let mut inner = cx.clone();
            push_lets(&mut inner, &b.stmts);
            lambda_at(w, &inner, b.value.as_deref()?, depth + 1)
        }
        _ => None,
    }
}

/// The bindings of `stmts`, in order, into `cx`.
fn push_lets(cx: &mut ExprCtx, stmts: &[rlp_syntax::ast::Stmt]) {
    for s in stmts {
        if let StmtKind::Let { names, value, .. } = &s.kind {
            for n in names {
                let v = (names.len() == 1).then(|| value.clone());
                cx.scope.push((n.name.clone(), v));
            }
        }
    }
}

/// A function's value expression (its body's last expression) and the context of its
/// body (parameters unknown, its own bindings known).
fn fn_value(m: &Rc<ModInfo>, name: &str) -> Option<(Expr, ExprCtx)> {
    let f = m.fn_decl(name)?;
    let mut cx = ExprCtx {
        module: m.clone(),
        scope: f
            .params
            .iter()
            .map(|p| (p.name.name.clone(), None))
            .collect(),
    };
    push_lets(&mut cx, &f.body.stmts);
    Some(((*f.body.value.as_ref()?).as_ref().clone(), cx))
}

/// The definition a callee expression names: `f`, or `module.f`.
pub fn callee_def(w: &World, cx: &ExprCtx, callee: &Expr) -> Option<Def> {
    match &callee.kind {
        ExprKind::Name(id) => {
            if cx.binding(&id.name).is_some() {
                return None;
            }
            w.lookup(&cx.module, &id.name)
        }
        ExprKind::Field { base, name } => match &base.kind {
            ExprKind::Name(m) if cx.binding(&m.name).is_none() => {
                match w.lookup(&cx.module, &m.name)? {
                    Def::Module(md) => w.member(&md, &name.name),
                    _ => None,
                }
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsp::index::{Origin, Stdlib};
    use std::collections::HashMap;

    fn names(src: &str, expr: &str) -> Option<Vec<String>> {
        let stdlib = Stdlib::default();
        let open = HashMap::new();
        let w = World::new(&stdlib, &open);
        let m = Rc::new(ModInfo::new(Origin::Buffer("t".into()), src.to_string()));
        let ast = m.ast.as_ref().unwrap_or_else(|| panic!("parse"));
        let scope = crate::lsp::scope::top_level(ast)
            .iter()
            .map(|b| (b.name.name.clone(), b.value.cloned()))
            .collect();
        let cx = ExprCtx {
            module: m.clone(),
            scope,
        };
        let e = rlp_syntax::parse(&format!("zz = {expr}\n")).ok()?;
        let rlp_syntax::ast::Item::Stmt(s) = &e.items[0] else {
            return None;
        };
        let StmtKind::Let { value, .. } = &s.kind else {
            return None;
        };
        fields_of(&w, &cx, value).map(|fs| fs.into_iter().map(|f| f.name).collect())
    }

    #[test]
    fn records_bindings_and_functions_give_fields() {
        let src = "use std.env.cartpole\ncfg = { lr: 1, inner: { a: 2 } }\nenv = cartpole(envs: 2)\nfn mk(x) {\n  r = { p: x, q: 2 }\n  r\n}\n";
        assert_eq!(names(src, "cfg").unwrap(), ["lr", "inner"]);
        assert_eq!(names(src, "cfg.inner").unwrap(), ["a"]);
        assert_eq!(names(src, "mk(1)").unwrap(), ["p", "q"]);
        let env = names(src, "env").unwrap();
        assert!(env.contains(&"obs".to_string()) && env.contains(&"episode_return".to_string()));
        let batch = names(src, "rollout(env, p, steps: 2)").unwrap();
        assert!(batch.contains(&"reward".to_string()));
        assert_eq!(names(src, "1 + 2"), None);
        // Through closures: a policy's distribution, a method's record.
        let src = "net = mlp(4, [8], 2)\npolicy = categorical(net)\nd = policy(1)\n";
        let d = names(src, "d").unwrap();
        assert!(d.contains(&"log_prob".to_string()) && d.contains(&"sample".to_string()));
        assert_eq!(
            names(src, "d.sample_log_prob()").unwrap(),
            ["action", "log_prob"]
        );
    }
}
