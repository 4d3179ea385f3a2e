//! `--set NAME=VALUE`: overrides of top-level bindings, checked by kind.

use super::elab::{Elab, R};
use super::modules::ModId;
use super::value::{Frame, Value};
use crate::diag::{Diag, Loc};
use rlp_syntax::ast::{self, Item, StmtKind};

/// Evaluates the override bindings (plain values: numbers, bools, strings, lists).
pub(super) fn override_values(el: &mut Elab, m: ModId) -> R<Vec<(String, Value, Loc)>> {
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
pub(super) fn same_kind(old: &Value, new: Value, at: Loc, decl: Loc) -> R<Value> {
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

/// Numbers, bools, strings and lists of them: what `--set` may give.
fn is_plain(v: &Value) -> bool {
    match v {
        Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Str(_) => true,
        Value::List(xs) => xs.iter().all(is_plain),
        _ => false,
    }
}

/// A plain value (see [`is_plain`]) as JSON, or `None` for any other value: how a
/// top-level binding is recorded as a hyperparameter. A non-finite float is `null`.
pub(super) fn plain_json(v: &Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        Value::Int(i) => J::from(*i),
        Value::Float(x) => J::from(*x),
        Value::Bool(b) => J::Bool(*b),
        Value::Str(s) => J::String(s.to_string()),
        Value::List(xs) => J::Array(xs.iter().map(plain_json).collect::<Option<_>>()?),
        _ => return None,
    })
}
