//! Declared types and symbolic shapes.
//!
//! A parameter typed `[T+1, N]` binds the symbols `T` and `N` at the call: the first
//! argument that mentions a symbol fixes it, every later mention must agree, and both
//! places are shown when one does not. Bound symbols are visible in the body as ints.

use super::elab::{Elab, R, show_shape};
use super::value::{Frame, Value};
use crate::diag::{Diag, FileId, Loc};
use rlp_ir::{DType, TensorType};
use rlp_syntax::ast::{DimExpr, TypeExpr, TypeKind};
use std::rc::Rc;

/// Dimension symbols bound during one call: value and where it was fixed.
#[derive(Default, Debug)]
pub struct DimEnv {
    bound: Vec<(String, i64, Loc, String)>,
}

impl DimEnv {
    /// Dims already visible as ints in a frame (for return types).
    pub fn from_frame(fr: &Frame) -> DimEnv {
        let mut d = DimEnv::default();
        for (n, v) in fr.vars.borrow().iter() {
            if let Value::Int(i) = v {
                d.bound.push((n.clone(), *i, Loc::default(), String::new()));
            }
        }
        d
    }

    fn get(&self, s: &str) -> Option<&(String, i64, Loc, String)> {
        self.bound.iter().find(|b| b.0 == s)
    }

    /// Makes the bound symbols visible as ints in the function body.
    pub fn bind_into(&self, fr: &Rc<Frame>) {
        for (n, v, _, _) in &self.bound {
            if fr.vars.borrow().iter().all(|(m, _)| m != n) {
                fr.set(n, Value::Int(*v));
            }
        }
    }
}

/// Evaluates a dimension expression whose symbols are ints in scope.
pub fn eval_dim(d: &DimExpr, fr: &Rc<Frame>, file: FileId) -> R<i64> {
    let mut total = 0i64;
    for t in &d.terms {
        let v = match &t.symbol {
            None => 1,
            Some(s) => match fr.get(&s.name) {
                Some(Value::Int(i)) => i,
                Some(other) => {
                    return Err(Diag::new(
                        "type-mismatch",
                        format!("dimension `{}` is {}, not an int", s.name, other.kind()),
                    )
                    .label(Loc::new(file, s.span), "here"));
                }
                None => {
                    return Err(Diag::new(
                        "unknown-name",
                        format!("unknown dimension `{}`", s.name),
                    )
                    .label(Loc::new(file, s.span), "not bound"));
                }
            },
        };
        total += t.coeff * v;
    }
    Ok(total)
}

/// Checks `v` against the declared type `t`, converting numbers and promoting dtypes
/// where the declaration asks for it. `what` names the value in messages.
pub fn check_value(
    el: &mut Elab,
    t: &TypeExpr,
    v: Value,
    dims: &mut DimEnv,
    at: Loc,
    file: FileId,
    what: &str,
) -> R<Value> {
    let decl = Loc::new(file, t.span);
    match &t.kind {
        TypeKind::Named(n) => match n.name.as_str() {
            "int" => match v {
                Value::Int(_) => Ok(v),
                _ => Err(mismatch(what, "an int", &v, at, decl)),
            },
            "float" => match v {
                Value::Int(i) => Ok(Value::Float(i as f64)),
                Value::Float(_) => Ok(v),
                _ => Err(mismatch(what, "a float", &v, at, decl)),
            },
            "bool" => match v {
                Value::Bool(_) => Ok(v),
                Value::Tensor(ref tv) if tv.ty.dtype == DType::Bool && tv.ty.rank() == 0 => Ok(v),
                _ => Err(mismatch(what, "a bool", &v, at, decl)),
            },
            "str" => match v {
                Value::Str(_) => Ok(v),
                _ => Err(mismatch(what, "a string", &v, at, decl)),
            },
            "list" => match v {
                Value::List(_) => Ok(v),
                _ => Err(mismatch(what, "a list", &v, at, decl)),
            },
            "function" => match v {
                _ if v.is_callable() => Ok(v),
                _ => Err(mismatch(what, "a function", &v, at, decl)),
            },
            "f32" | "f64" | "i32" => {
                let d = dtype(&n.name).unwrap();
                match &v {
                    Value::Int(_) | Value::Float(_) => Ok(v),
                    Value::Tensor(tv) if tv.ty.rank() == 0 => Ok(Value::Tensor(el.cast(tv, d)?)),
                    _ => Err(mismatch(
                        what,
                        &format!("a scalar {}", n.name),
                        &v,
                        at,
                        decl,
                    )),
                }
            }
            _ => Ok(v), // an unchecked, descriptive name: `policy`, `env`
        },
        TypeKind::Tensor {
            dims: want,
            dtype: dt,
        } => {
            let d = match dt {
                None => None,
                Some(i) => Some(dtype(&i.name).ok_or_else(|| {
                    Diag::new("unknown-type", format!("unknown dtype `{}`", i.name))
                        .label(Loc::new(file, i.span), "not a dtype")
                        .help("dtypes: f32, f64, i32, bool")
                })?),
            };
            let tv = match &v {
                Value::Tensor(tv) => tv.clone(),
                Value::Int(_) | Value::Float(_) | Value::Bool(_) if want.is_empty() => {
                    el.to_tensor(&v, at, d)?
                }
                _ => {
                    return Err(mismatch(
                        what,
                        &format!("a tensor {}", describe(want)),
                        &v,
                        at,
                        decl,
                    ));
                }
            };
            if tv.ty.rank() != want.len() {
                return Err(Diag::new(
                    "shape-mismatch",
                    format!(
                        "{what} should have rank {} ({}) but is {}",
                        want.len(),
                        describe(want),
                        tv.ty
                    ),
                )
                .label(at, format!("this is {}", tv.ty))
                .label(decl, "declared here"));
            }
            for (k, dim) in want.iter().enumerate() {
                unify_dim(
                    dim,
                    tv.ty.shape[k] as i64,
                    dims,
                    at,
                    decl,
                    what,
                    &tv.ty,
                    file,
                )?;
            }
            let tv = match d {
                Some(d) if d != tv.ty.dtype => {
                    let ok = d.is_float() || (d == DType::I32 && tv.ty.dtype == DType::Bool);
                    if !ok {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!("{what} should be {} but is {}", d, tv.ty.dtype),
                        )
                        .label(at, format!("this is {}", tv.ty))
                        .label(decl, "declared here")
                        .help(if d == DType::Bool {
                            "make a bool with a comparison, e.g. `x > 0.5` or `x != 0`".to_string()
                        } else {
                            format!("convert explicitly, e.g. `{d}(x)`")
                        }));
                    }
                    el.cast(&tv, d)?
                }
                _ => tv,
            };
            Ok(Value::Tensor(tv))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn unify_dim(
    dim: &DimExpr,
    actual: i64,
    dims: &mut DimEnv,
    at: Loc,
    decl: Loc,
    what: &str,
    ty: &TensorType,
    file: FileId,
) -> R<()> {
    // Sum the known part; at most one unknown symbol with coefficient ±1 is solved for.
    let mut known = 0i64;
    let mut unknown: Option<(&str, i64, rlp_syntax::ast::Span)> = None;
    for t in &dim.terms {
        match &t.symbol {
            None => known += t.coeff,
            Some(s) => match dims.get(&s.name) {
                Some(b) => known += t.coeff * b.1,
                None if unknown.is_none() && t.coeff.abs() == 1 => {
                    unknown = Some((&s.name, t.coeff, s.span))
                }
                None => {
                    return Err(Diag::new("shape-mismatch", "cannot solve this dimension")
                        .label(Loc::new(file, dim.span), "more than one unknown symbol"));
                }
            },
        }
    }
    match unknown {
        Some((name, coeff, _)) => {
            let v = (actual - known) * coeff;
            if v < 0 {
                return Err(Diag::new(
                    "shape-mismatch",
                    format!(
                        "{what} has {actual} where {} was expected: `{name}` would be {v}",
                        render(dim)
                    ),
                )
                .label(at, format!("this is {ty}"))
                .label(decl, "declared here"));
            }
            dims.bound.push((name.to_string(), v, at, what.to_string()));
            Ok(())
        }
        None if known == actual => Ok(()),
        None => {
            let mut d = Diag::new(
                "shape-mismatch",
                format!(
                    "{what} has shape {} but its declared `{}` is {known}",
                    show_shape(&ty.shape),
                    render(dim)
                ),
            )
            .label(at, format!("this is {ty}"))
            .label(decl, "declared here");
            if let Some(sym) = dim.terms.iter().filter_map(|t| t.symbol.as_ref()).next()
                && let Some((n, v, l, w)) = dims.get(&sym.name).cloned()
                && l != Loc::default()
            {
                d = d.label(l, format!("`{n}` = {v} was fixed by {w}"));
            }
            Err(d)
        }
    }
}

fn render(d: &DimExpr) -> String {
    d.to_string()
}

fn describe(dims: &[DimExpr]) -> String {
    format!(
        "[{}]",
        dims.iter().map(render).collect::<Vec<_>>().join(", ")
    )
}

fn mismatch(what: &str, want: &str, v: &Value, at: Loc, decl: Loc) -> Diag {
    Diag::new(
        "type-mismatch",
        format!("{what} should be {want} but is {}", v.kind()),
    )
    .label(at, format!("this is {}", v.kind()))
    .label(decl, "declared here")
}

pub fn dtype(name: &str) -> Option<DType> {
    Some(match name {
        "f32" => DType::F32,
        "f64" => DType::F64,
        "i32" => DType::I32,
        "bool" => DType::Bool,
        _ => return None,
    })
}
