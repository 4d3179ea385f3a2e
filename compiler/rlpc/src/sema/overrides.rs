//! `--set NAME=VALUE`: overrides of top-level bindings, checked by kind.

use super::elab::{Elab, R};
use super::modules::ModId;
use super::value::{Frame, Value};
use crate::diag::{Diag, Loc};
use rlp_syntax::ast::{self, Item, StmtKind};

/// Evaluates the override bindings (plain values: numbers, bools, strings, lists) of the
/// `--set` module `m`, for the program whose main module is `main`.
pub(super) fn override_values(
    el: &mut Elab,
    m: ModId,
    main: &ast::Module,
) -> R<Vec<(String, Value, Loc)>> {
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
        if let Some((_, _, first)) = out
            .iter()
            .find(|o: &&(String, Value, Loc)| o.0 == names[0].name)
        {
            let name = &names[0].name;
            return Err(
                Diag::new("duplicate", format!("`--set {name}=…` is given twice"))
                    .label(Loc::new(file, *span), "again here")
                    .label(*first, "first here")
                    .help("give each name one value"),
            );
        }
        let v = el
            .expr(value, &frame)
            .map_err(|d| unquoted_string(d, &names[0].name, value, main))?;
        if !is_plain(&v) {
            return Err(Diag::new(
                "type-mismatch",
                "`--set` values are numbers, bools, strings or lists (or arithmetic on them, such as `2 * 64`)",
            )
            .label(Loc::new(file, value.span), "not a plain value"));
        }
        out.push((names[0].name.clone(), v, Loc::new(file, *span)));
    }
    Ok(out)
}

/// `d`, the error of a `--set NAME=WORD` whose WORD is not a name, with a help saying
/// to quote it for the shell when the program binds NAME to a string: the shell strips
/// the quotes of `--set loss="mse"`, leaving the name `mse`.
fn unquoted_string(d: Diag, name: &str, value: &ast::Expr, main: &ast::Module) -> Diag {
    let ast::ExprKind::Name(word) = &value.kind else {
        return d;
    };
    if d.code == "unknown-name" && main.bindings().any(|n| n.name == word.name) {
        let word = &word.name;
        return Diag {
            message: format!(
                "`--set {name}={word}`: a `--set` value is a number, a bool, a string or a \
                 list, not the name of one of the program's bindings"
            ),
            help: Some(format!("write the value itself: `--set {name}=…`")),
            labels: (d.labels.iter())
                .filter(|l| l.loc.span == value.span)
                .map(|l| crate::diag::Label {
                    loc: l.loc,
                    text: "a name, not a value".into(),
                })
                .collect(),
            ..d
        };
    }
    let binds_string = main.items.iter().any(|item| {
        matches!(item, Item::Stmt(ast::Stmt {
            kind: StmtKind::Let { names, value, .. }, ..
        }) if names.len() == 1 && names[0].name == name
            && matches!(value.kind, ast::ExprKind::Str(_)))
    });
    if !binds_string || d.code != "unknown-name" {
        return d;
    }
    let word = &word.name;
    Diag {
        message: format!(
            "`--set {name}={word}`: `{name}` is a string, and `{word}` is not a name (the \
             shell removes the quotes of `{name}=\"{word}\"`)"
        ),
        help: Some(format!(
            "quote the value for the shell too: `--set '{name}=\"{word}\"'`"
        )),
        ..d
    }
}

/// The override if it has the kind of the binding it replaces (an int may set a float);
/// a list the program writes with elements of one kind takes elements of that kind.
pub(super) fn same_kind(old: &Value, new: Value, at: Loc, decl: Loc) -> R<Value> {
    if let (Value::List(o), Value::List(n)) = (old, &new)
        && let Some(first) = o.first()
        && o.iter()
            .all(|x| std::mem::discriminant(x) == std::mem::discriminant(first))
    {
        let elements = n.iter().map(|x| {
            same_kind(first, x.clone(), at, decl).map_err(|_| {
                Diag::new(
                    "type-mismatch",
                    format!(
                        "`--set` gives a list holding {} where the program's list holds {}",
                        x.kind(),
                        first.kind()
                    ),
                )
                .label(at, "set here")
                .label(decl, "bound here")
            })
        });
        return Ok(Value::List(elements.collect::<R<Vec<_>>>()?.into()));
    }
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
