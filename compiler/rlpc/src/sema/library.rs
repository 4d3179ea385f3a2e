//! Checking a library module alone: a file of functions with no `train` block.
//!
//! Functions are checked when they are called, with the shapes of their arguments. A
//! library has no caller, so each function whose parameters are declared is called
//! once with made-up arguments: a tensor input per tensor parameter, with every
//! dimension symbol bound to its own placeholder size. Symbols that must agree then
//! agree, and shapes that would only match by accident (`T` against `N`) do not, so a
//! shape error in the body is found before any program uses the function.
//! Functions with an undeclared parameter (generic ones) are skipped, with the reason.

use super::builtins::Args;
use super::elab::Elab;
use super::modules::{ModId, Modules};
use super::shapes::dtype;
use super::value::{FnRef, Value};
use crate::diag::{Diag, Loc};
use rlp_ir::{DType, TensorType};
use rlp_syntax::ast::{DimExpr, FnDecl, Item, Param, TypeKind};
use std::rc::Rc;

/// Sizes given to dimension symbols, in order of first appearance in a signature: far
/// enough apart that `T + 1`, `2 * N` and the like never land on another symbol's size.
const PLACEHOLDER_SIZES: &[i64] = &[13, 29, 47, 67, 89, 113, 139, 167];

/// What checking a library found.
#[derive(Debug, Default)]
pub struct LibraryReport {
    /// Functions type-checked, in source order.
    pub checked: Vec<String>,
    /// Functions not checked: (name, why).
    pub skipped: Vec<(String, String)>,
    /// One error per function that failed its check.
    pub errors: Vec<Diag>,
}

impl LibraryReport {
    /// `3 functions checked, 1 skipped (generic: n_step_rounds)`.
    pub fn summary(&self) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut s = format!(
            "library: {} function{} checked",
            self.checked.len(),
            plural(self.checked.len())
        );
        if !self.skipped.is_empty() {
            s.push_str(&format!(", {} skipped", self.skipped.len()));
        }
        s
    }
}

/// Whether `module` is a library: functions and `use`s only, no `train` block and no
/// top-level statements (a program without `train`, or an empty file, is still an error).
pub fn is_library(mods: &Modules, module: ModId) -> bool {
    let items = &mods.module(module).ast.items;
    items.iter().any(|item| matches!(item, Item::Fn(_)))
        && items
            .iter()
            .all(|item| matches!(item, Item::Use(_) | Item::Fn(_)))
}

/// Checks every function of `module` that declares its parameters (see the module
/// documentation).
pub fn check_library(mods: &Modules, module: ModId, seed: u64) -> LibraryReport {
    let mut report = LibraryReport::default();
    let names = mods
        .module(module)
        .ast
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Fn(f) => Some(f.name.name.clone()),
            _ => None,
        });
    for name in names {
        // The declaration as loaded: the one a call resolves to.
        let Some(decl) = mods.module(module).fns.get(&name).cloned() else {
            continue;
        };
        match check_function(mods, module, decl, seed) {
            Checked::Ok => report.checked.push(name),
            Checked::Skipped(why) => report.skipped.push((name, why)),
            Checked::Failed(d) => {
                report.checked.push(name);
                report.errors.push(d);
            }
        }
    }
    report
}

enum Checked {
    Ok,
    Skipped(String),
    Failed(Diag),
}

/// Calls `decl` once with made-up arguments for its declared parameters; parameters
/// with a default keep it.
fn check_function(mods: &Modules, module: ModId, decl: Rc<FnDecl>, seed: u64) -> Checked {
    let file = mods.module(module).file;
    let mut sizes = Placeholders::default();
    let mut el = Elab::new(mods, seed);
    // Random draws use fixed counters, as in `rlpc exec`: no iteration counter input.
    el.push_ctx(true);
    let call = Loc::new(file, decl.name.span);
    let mut kw = vec![];
    for p in &decl.params {
        let value = match made_up(&mut el, p, &mut sizes) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(why) => return Checked::Skipped(why),
        };
        let at = Loc::new(file, p.span);
        kw.push((p.name.clone(), value, at, Loc::new(file, p.name.span)));
    }
    let f = Value::Fn(FnRef { module, decl });
    let args = Args {
        pos: vec![],
        kw,
        call,
    };
    match el.call(f, args, call) {
        Ok(_) => Checked::Ok,
        // A precondition on values (`require(c == "#" or …)`) says nothing about the
        // function's shapes when the values are made up.
        Err(d) if d.code == "require" => Checked::Skipped(format!(
            "its `require` does not hold for made-up arguments ({})",
            d.message
        )),
        Err(d) => Checked::Failed(sizes.explain(d)),
    }
}

/// A value for parameter `p`: `None` to leave it to its default, `Err` (why) when the
/// declaration says too little to make one up.
fn made_up(el: &mut Elab, p: &Param, sizes: &mut Placeholders) -> Result<Option<Value>, String> {
    let name = &p.name.name;
    let Some(ty) = &p.ty else {
        return match p.default {
            Some(_) => Ok(None),
            None => Err(format!("parameter `{name}` has no declared type")),
        };
    };
    if p.default.is_some() && !matches!(ty.kind, TypeKind::Tensor { .. }) {
        return Ok(None);
    }
    match &ty.kind {
        TypeKind::Tensor { dims, dtype: dt } => {
            let shape: Vec<usize> = dims
                .iter()
                .map(|d| sizes.size_of(d))
                .collect::<Result<_, _>>()?;
            // An unknown dtype is reported by the check itself, at the declaration.
            let dt = dt
                .as_ref()
                .and_then(|i| dtype(&i.name))
                .unwrap_or(DType::F32);
            let node = el.ctxs[0].graph.add_input(TensorType::new(dt, shape));
            Ok(Some(Value::Tensor(el.tval(node))))
        }
        TypeKind::Named(n) => match n.name.as_str() {
            "int" | "i32" => Ok(Some(Value::Int(3))),
            "float" | "f32" | "f64" => Ok(Some(Value::Float(0.5))),
            "bool" => Ok(Some(Value::Bool(true))),
            "str" => Ok(Some(Value::Str("text".into()))),
            other => Err(format!(
                "parameter `{name}` is a `{other}`, which cannot be made up"
            )),
        },
    }
}

/// Placeholder sizes of the dimension symbols of one signature.
#[derive(Default)]
struct Placeholders {
    bound: Vec<(String, i64)>,
}

impl Placeholders {
    fn size_of(&mut self, d: &DimExpr) -> Result<usize, String> {
        let mut total = 0i64;
        for t in &d.terms {
            let v = match &t.symbol {
                None => 1,
                Some(s) => self.symbol(&s.name)?,
            };
            total += t.coeff * v;
        }
        usize::try_from(total)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("dimension `{d}` has no positive placeholder size"))
    }

    /// Says which sizes stand for which symbols, since the shapes in `d` show sizes.
    fn explain(&self, mut d: Diag) -> Diag {
        if self.bound.is_empty() {
            return d;
        }
        let sizes: Vec<String> = self
            .bound
            .iter()
            .map(|(n, v)| format!("{n} = {v}"))
            .collect();
        let note = format!(
            "checked as a library function, with placeholder sizes {}",
            sizes.join(", ")
        );
        d.help = Some(match d.help.take() {
            Some(h) => format!("{h}\n{note}"),
            None => note,
        });
        d
    }

    fn symbol(&mut self, name: &str) -> Result<i64, String> {
        if let Some(&(_, v)) = self.bound.iter().find(|b| b.0 == name) {
            return Ok(v);
        }
        let v = *PLACEHOLDER_SIZES
            .get(self.bound.len())
            .ok_or("too many dimension symbols")?;
        self.bound.push((name.to_string(), v));
        Ok(v)
    }
}
