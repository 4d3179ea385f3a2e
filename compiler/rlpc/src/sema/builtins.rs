//! Built-in functions: the primitives stdlib `.rlp` code is written with.
//!
//! Each built-in maps to IR ops (math, reductions, indexing, random numbers) or to a
//! general runtime construct (`param`, `environment`, `rollout`, `optimizer`). Anything
//! expressible from these lives in `stdlib/*.rlp`, not here.

use super::elab::{Elab, R, num, promote, show_shape, slice_bounds};
use super::value::{EnvDef, OptDef, TVal, Value};
use crate::diag::{Diag, Loc, did_you_mean};
use crate::program::SlotKind;
use rlp_ir::{BinaryOp, DType, Distribution, Op, ReduceOp, TensorType, UnaryOp};
use rlp_syntax::ast::{BinOp, Ident};
use std::rc::Rc;

pub mod table;

/// Call arguments, evaluated.
pub struct Args {
    pub pos: Vec<(Value, Loc)>,
    /// (name, value, value loc, name loc)
    pub kw: Vec<(Ident, Value, Loc, Loc)>,
    pub call: Loc,
}

impl Args {
    /// Takes the argument named `name` or the next positional one.
    fn take(&mut self, name: &str) -> Option<(Value, Loc)> {
        if let Some(i) = self.kw.iter().position(|k| k.0.name == name) {
            let (_, v, l, _) = self.kw.remove(i);
            return Some((v, l));
        }
        if self.pos.is_empty() {
            None
        } else {
            Some(self.pos.remove(0))
        }
    }
    fn take_kw(&mut self, name: &str) -> Option<(Value, Loc)> {
        let i = self.kw.iter().position(|k| k.0.name == name)?;
        let (_, v, l, _) = self.kw.remove(i);
        Some((v, l))
    }
    /// Takes a required argument; when it is missing, a misspelt keyword for it is the
    /// likelier mistake, so that is what gets reported.
    pub fn need(&mut self, f: &str, name: &str) -> R<(Value, Loc)> {
        if let Some(x) = self.take(name) {
            return Ok(x);
        }
        if let Some((k, _, _, kl)) = self
            .kw
            .iter()
            .find(|k| did_you_mean(&k.0.name, [name]).is_some())
        {
            return Err(with_signature(
                Diag::new(
                    "unknown-keyword",
                    format!("`{f}` has no parameter `{}`", k.name),
                )
                .label(*kl, "unknown keyword")
                .help(format!("did you mean `{name}`?")),
                f,
            ));
        }
        Err(with_signature(
            Diag::new("arity", format!("`{f}` needs the argument `{name}`"))
                .label(self.call, format!("`{name}` missing")),
            f,
        ))
    }
    /// [`Args::take`] for built-ins defined outside this module.
    pub fn take_public(&mut self, name: &str) -> Option<(Value, Loc)> {
        self.take(name)
    }

    /// [`Args::done`] for built-ins defined outside this module.
    pub fn done_public(self, f: &str, known: &[&str]) -> R<()> {
        self.done(f, known)
    }

    /// Errors on arguments nobody took.
    fn done(self, f: &str, known: &[&str]) -> R<()> {
        if let Some((_, l)) = self.pos.first() {
            return Err(with_signature(
                Diag::new("arity", format!("too many arguments to `{f}`"))
                    .label(*l, "unexpected argument"),
                f,
            ));
        }
        if let Some((n, _, _, nl)) = self.kw.first() {
            let mut d = Diag::new(
                "unknown-keyword",
                format!("`{f}` has no parameter `{}`", n.name),
            )
            .label(*nl, "unknown keyword");
            let names: Vec<&str> = match table::signature(f) {
                Some(sig) => sig.params.iter().map(|p| p.name).collect(),
                None => known.to_vec(),
            };
            if let Some(s) = did_you_mean(&n.name, names) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            return Err(with_signature(d, f));
        }
        Ok(())
    }
}

/// Adds the signature of the built-in `f` (from [`table`]) to the help of `d`, so a
/// wrong call shows what the right one looks like.
fn with_signature(mut d: Diag, f: &str) -> Diag {
    let Some(sig) = table::signature(f) else {
        return d;
    };
    let line = format!("signature: `{sig}`");
    d.help = Some(match d.help.take() {
        Some(h) => format!("{h}\n{line}"),
        None => line,
    });
    d
}

macro_rules! builtins {
    ($($variant:ident => $name:literal),* $(,)?) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Builtin { $($variant),* }
        impl Builtin {
            pub fn name(self) -> &'static str { match self { $(Builtin::$variant => $name),* } }
            pub fn by_name(n: &str) -> Option<Builtin> { match n { $($name => Some(Builtin::$variant),)* _ => None } }
            pub fn names() -> &'static [&'static str] { &[$($name),*] }
        }
    };
}

builtins! {
    Exp => "exp", Log => "log", Sqrt => "sqrt", Tanh => "tanh", Sin => "sin", Cos => "cos",
    Abs => "abs", Sign => "sign", Floor => "floor", Atan2 => "atan2",
    Min => "min", Max => "max", Sum => "sum", Mean => "mean", Argmax => "argmax",
    Where => "where", Stop => "stop", Zeros => "zeros", Ones => "ones", Full => "full",
    ZerosLike => "zeros_like", Uniform => "uniform", Normal => "normal", Param => "param",
    F32 => "f32", F64 => "f64", I32 => "i32", Stack => "stack", Concat => "concat",
    OneHot => "one_hot", Len => "len", Reshape => "reshape", Environment => "environment",
    Rollout => "rollout", Optimizer => "optimizer", Range => "range", Take => "take",
    Indices => "indices", Int => "int", Map => "map", Gym => "gym", Split => "split",
    Chars => "chars", Grad => "grad", Parameters => "parameters", Require => "require",
    Put => "put", Cumsum => "cumsum", SearchSorted => "search_sorted", Values => "values",
    Copy => "copy", TopK => "top_k", Argsort => "argsort", Sort => "sort",
    Transpose => "transpose", Dataset => "dataset",
    Pretrained => "pretrained",
}

impl Builtin {
    pub fn call(self, el: &mut Elab, mut a: Args) -> R<Value> {
        let f = self.name();
        let call = a.call;
        let out = match self {
            Builtin::Exp
            | Builtin::Log
            | Builtin::Sqrt
            | Builtin::Tanh
            | Builtin::Sin
            | Builtin::Cos
            | Builtin::Abs
            | Builtin::Sign
            | Builtin::Floor => {
                let (x, l) = a.need(f, "x")?;
                a.done(f, &["x"])?;
                let op = match self {
                    Builtin::Exp => UnaryOp::Exp,
                    Builtin::Log => UnaryOp::Log,
                    Builtin::Sqrt => UnaryOp::Sqrt,
                    Builtin::Tanh => UnaryOp::Tanh,
                    Builtin::Sin => UnaryOp::Sin,
                    Builtin::Cos => UnaryOp::Cos,
                    Builtin::Abs => UnaryOp::Abs,
                    Builtin::Sign => UnaryOp::Sign,
                    _ => UnaryOp::Floor,
                };
                if let Some(v) = num(&x) {
                    let r = match op {
                        UnaryOp::Exp => v.exp(),
                        UnaryOp::Log => v.ln(),
                        UnaryOp::Sqrt => v.sqrt(),
                        UnaryOp::Tanh => v.tanh(),
                        UnaryOp::Sin => v.sin(),
                        UnaryOp::Cos => v.cos(),
                        UnaryOp::Abs => v.abs(),
                        UnaryOp::Sign => v.signum(),
                        _ => v.floor(),
                    };
                    return Ok(Value::Float(r));
                }
                let mut t = el.to_tensor(&x, l, None)?;
                let needs_float = !matches!(op, UnaryOp::Abs | UnaryOp::Sign);
                if needs_float && !t.ty.dtype.is_float() || t.ty.dtype == DType::Bool {
                    t = el.cast(&t, DType::F32)?;
                }
                let n = el.node(&t)?;
                let r = el.emit(Op::Unary(op), vec![n])?;
                Value::Tensor(el.tval(r))
            }
            Builtin::Atan2 => {
                let (y, ly) = a.need(f, "y")?;
                let (x, lx) = a.need(f, "x")?;
                a.done(f, &["y", "x"])?;
                let ty = el.to_tensor(&y, ly, Some(DType::F32))?;
                let tx = el.to_tensor(&x, lx, Some(ty.ty.dtype))?;
                let (ty, tx) = el.unify(&ty, &tx, ly, lx, true)?;
                Value::Tensor(emit_bin(el, BinaryOp::Atan2, &ty, &tx)?)
            }
            Builtin::Min | Builtin::Max => {
                let (x, lx) = a.need(f, "x")?;
                if let Some((y, ly)) = a.take("y") {
                    a.done(f, &["x", "y"])?;
                    if let (Some(p), Some(q)) = (num(&x), num(&y)) {
                        return Ok(Value::Float(if self == Builtin::Min {
                            p.min(q)
                        } else {
                            p.max(q)
                        }));
                    }
                    let op = if self == Builtin::Min {
                        BinaryOp::Min
                    } else {
                        BinaryOp::Max
                    };
                    let hx = if let Value::Tensor(t) = &x {
                        Some(t.ty.dtype)
                    } else {
                        None
                    };
                    let hy = if let Value::Tensor(t) = &y {
                        Some(t.ty.dtype)
                    } else {
                        None
                    };
                    let tx = el.to_tensor(&x, lx, hy)?;
                    let ty = el.to_tensor(&y, ly, hx)?;
                    let (tx, ty) = el.unify(&tx, &ty, lx, ly, true)?;
                    Value::Tensor(emit_bin(el, op, &tx, &ty)?)
                } else {
                    let axis = a.take_kw("axis");
                    let keep = take_bool(&mut a, "keep")?;
                    a.done(f, &["x", "y", "axis", "keep"])?;
                    let op = if self == Builtin::Min {
                        ReduceOp::Min
                    } else {
                        ReduceOp::Max
                    };
                    let t = el.to_tensor(&x, lx, None)?;
                    Value::Tensor(reduce(el, op, &t, axis, keep, lx)?)
                }
            }
            Builtin::Sum | Builtin::Mean => {
                let (x, lx) = a.need(f, "x")?;
                let axis = a.take("axis");
                let keep = take_bool(&mut a, "keep")?;
                a.done(f, &["x", "axis", "keep"])?;
                let mut t = el.to_tensor(&x, lx, None)?;
                // A sum of integers stays exact (counts, hashes, indices), as
                // `cumsum`, `max` and `min` do; a mean, and a sum of booleans (a
                // count used as a float), are f32.
                let exact = self == Builtin::Sum && t.ty.dtype == DType::I32;
                if !t.ty.dtype.is_float() && !exact {
                    t = el.cast(&t, DType::F32)?;
                }
                let before = t.ty.numel();
                let s = reduce(el, ReduceOp::Sum, &t, axis, keep, lx)?;
                if self == Builtin::Sum {
                    Value::Tensor(s)
                } else {
                    let count = (before / s.ty.numel().max(1)).max(1) as f64;
                    let c = el.emit_typed(Op::Const(count), vec![], TensorType::scalar(s.ty.dtype));
                    let c = el.tval(c);
                    let c = el.convert(&c, &s.ty, lx)?;
                    Value::Tensor(emit_bin(el, BinaryOp::Div, &s, &c)?)
                }
            }
            Builtin::Argmax => {
                let (x, lx) = a.need(f, "x")?;
                let axis = a.take("axis");
                a.done(f, &["x", "axis"])?;
                let t = el.to_tensor(&x, lx, None)?;
                let ax = match axis {
                    None => -1,
                    Some((Value::Int(i), _)) => i,
                    Some((_, l)) => {
                        return Err(
                            Diag::new("type-mismatch", "`axis` must be an int").label(l, "here")
                        );
                    }
                };
                let ax = norm_axis(ax, t.ty.rank(), lx)?;
                if t.ty.shape[ax] == 0 {
                    return Err(Diag::new(
                        "shape-mismatch",
                        format!(
                            "`argmax` over an axis of length 0 has no answer: x is {}",
                            t.ty
                        ),
                    )
                    .label(lx, format!("axis {ax} of this is empty")));
                }
                let t = if t.ty.dtype == DType::Bool {
                    el.cast(&t, DType::I32)?
                } else {
                    t
                };
                let n = el.node(&t)?;
                let r = el.emit(Op::ArgMax { axis: ax }, vec![n])?;
                Value::Tensor(el.tval(r))
            }
            Builtin::Where => {
                let (c, lc) = a.need(f, "cond")?;
                let (x, _) = a.need(f, "a")?;
                let (y, _) = a.need(f, "b")?;
                a.done(f, &["cond", "a", "b"])?;
                match c {
                    Value::Bool(b) => return Ok(if b { x } else { y }),
                    Value::Tensor(t) => select(el, &t, &x, &y, lc, call)?,
                    other => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!("`where` needs a bool condition, found {}", other.kind()),
                        )
                        .label(lc, "condition"));
                    }
                }
            }
            Builtin::Stop => {
                let (x, lx) = a.need(f, "x")?;
                a.done(f, &["x"])?;
                match x {
                    Value::Tensor(t) => {
                        let n = el.node(&t)?;
                        let r = el.emit(Op::StopGradient, vec![n])?;
                        Value::Tensor(el.tval(r))
                    }
                    Value::Int(_) | Value::Float(_) => x,
                    other => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!("`stop` takes a tensor, found {}", other.kind()),
                        )
                        .label(lx, "here"));
                    }
                }
            }
            Builtin::Zeros | Builtin::Ones | Builtin::Full => {
                let (s, ls) = a.need(f, "shape")?;
                let value = if self == Builtin::Full {
                    let (v, lv) = a.need(f, "value")?;
                    num(&v).ok_or_else(|| {
                        Diag::new("type-mismatch", "`full` needs a number").label(lv, "here")
                    })?
                } else if self == Builtin::Ones {
                    1.0
                } else {
                    0.0
                };
                let d = take_dtype(&mut a)?;
                a.done(f, &["shape", "value", "dtype"])?;
                let shape = shape_arg(&s, ls)?;
                Value::Tensor(filled(el, d.unwrap_or(DType::F32), &shape, value))
            }
            Builtin::ZerosLike => {
                let (x, lx) = a.need(f, "x")?;
                a.done(f, &["x"])?;
                let t = el.to_tensor(&x, lx, None)?;
                Value::Tensor(filled(el, t.ty.dtype, &t.ty.shape, 0.0))
            }
            Builtin::Uniform | Builtin::Normal => {
                let (s, ls) = a.need(f, "shape")?;
                let (p0, p1) = if self == Builtin::Uniform {
                    ("low", "high")
                } else {
                    ("mean", "std")
                };
                let lo = a.take(p0).map(|x| x.0);
                let hi = a.take(p1).map(|x| x.0);
                let d = take_dtype(&mut a)?.unwrap_or(DType::F32);
                let seed = match a.take_kw("seed") {
                    None => 0,
                    Some((Value::Int(k), _)) => k,
                    Some((_, l)) => {
                        return Err(
                            Diag::new("type-mismatch", "`seed` must be an int").label(l, "here")
                        );
                    }
                };
                a.done(f, &["shape", p0, p1, "dtype", "seed"])?;
                let shape = shape_arg(&s, ls)?;
                let dist = if self == Builtin::Uniform {
                    Distribution::Uniform
                } else {
                    Distribution::Normal
                };
                let r = random_seeded(el, dist, d, &shape, seed as u64)?;
                // low + (high - low) * u, or mean + std * z.
                let (off, scale) = match (lo, hi, dist) {
                    (lo, hi, Distribution::Uniform) => {
                        let lo = lo.unwrap_or(Value::Float(0.0));
                        let hi = hi.unwrap_or(Value::Float(1.0));
                        let span = el.binary(BinOp::Sub, hi, lo.clone(), call, call, call)?;
                        (lo, span)
                    }
                    (m, s, _) => (
                        m.unwrap_or(Value::Float(0.0)),
                        s.unwrap_or(Value::Float(1.0)),
                    ),
                };
                let scaled = el.binary(BinOp::Mul, Value::Tensor(r), scale, call, call, call)?;
                el.binary(BinOp::Add, off, scaled, call, call, call)?
            }
            Builtin::Param => {
                let (s, ls) = a.need(f, "shape")?;
                let init = a.take_kw("init");
                let scale = a.take_kw("scale");
                let name = match a.take_kw("name") {
                    None => "p".to_string(),
                    Some((Value::Str(n), _)) => n.to_string(),
                    Some((_, l)) => {
                        return Err(
                            Diag::new("type-mismatch", "`name` is a string").label(l, "here")
                        );
                    }
                };
                a.done(f, &["shape", "init", "scale", "name"])?;
                let shape = shape_arg(&s, ls)?;
                let init = match init {
                    Some((Value::Str(s), _)) => s.to_string(),
                    Some((_, l)) => {
                        return Err(Diag::new(
                            "type-mismatch",
                            "`init` is a string: \"uniform\", \"normal\" or \"zeros\"",
                        )
                        .label(l, "here"));
                    }
                    None => "uniform".to_string(),
                };
                let scale = match scale {
                    Some((v, l)) => num(&v).ok_or_else(|| {
                        Diag::new("type-mismatch", "`scale` must be a number").label(l, "here")
                    })?,
                    None => 1.0,
                };
                param(el, &shape, &init, scale, &name, call)?
            }
            Builtin::F32 | Builtin::F64 | Builtin::I32 => {
                let (x, lx) = a.need(f, "x")?;
                a.done(f, &["x"])?;
                let d = match self {
                    Builtin::F32 => DType::F32,
                    Builtin::F64 => DType::F64,
                    _ => DType::I32,
                };
                let t = el.to_tensor(&x, lx, Some(d))?;
                Value::Tensor(el.cast(&t, d)?)
            }
            Builtin::Stack | Builtin::Concat => {
                let (xs, lxs) = a.need(f, "xs")?;
                let axis = a.take("axis");
                a.done(f, &["xs", "axis"])?;
                let (Value::List(items) | Value::Tuple(items)) = xs else {
                    return Err(Diag::new(
                        "type-mismatch",
                        format!("`{f}` takes a list of tensors"),
                    )
                    .label(lxs, "not a list"));
                };
                let mut ts = vec![];
                for it in items.iter() {
                    ts.push(el.to_tensor(it, lxs, None)?);
                }
                let ax = match axis {
                    None => -1,
                    Some((Value::Int(i), _)) => i,
                    Some((_, l)) => {
                        return Err(
                            Diag::new("type-mismatch", "`axis` must be an int").label(l, "here")
                        );
                    }
                };
                Value::Tensor(join(el, ts, ax, self == Builtin::Stack, lxs)?)
            }
            Builtin::OneHot => {
                let (x, lx) = a.need(f, "index")?;
                let (n, ln) = a.need(f, "depth")?;
                a.done(f, &["index", "depth"])?;
                let Value::Int(n) = n else {
                    return Err(
                        Diag::new("type-mismatch", "`depth` must be an int").label(ln, "here")
                    );
                };
                let t = el.to_tensor(&x, lx, Some(DType::I32))?;
                let t = el.cast(&t, DType::I32)?;
                let mut s = t.ty.shape.clone();
                s.push(n as usize);
                let node = el.node(&t)?;
                let r = el.emit_typed(
                    Op::OneHot { depth: n as usize },
                    vec![node],
                    TensorType::new(DType::F32, s),
                );
                Value::Tensor(el.tval(r))
            }
            Builtin::Len => {
                let (x, lx) = a.need(f, "x")?;
                a.done(f, &["x"])?;
                match x {
                    Value::List(l) | Value::Tuple(l) => Value::Int(l.len() as i64),
                    Value::Tensor(t) if t.ty.rank() > 0 => Value::Int(t.ty.shape[0] as i64),
                    other => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!("`len` of {}", other.kind()),
                        )
                        .label(lx, "here"));
                    }
                }
            }
            Builtin::Reshape => {
                let (x, lx) = a.need(f, "x")?;
                let (s, ls) = a.need(f, "shape")?;
                a.done(f, &["x", "shape"])?;
                let t = el.to_tensor(&x, lx, None)?;
                let shape = reshape_target(&s, ls, t.ty.numel())?;
                if shape.iter().product::<usize>() != t.ty.numel() {
                    return Err(Diag::new(
                        "shape-mismatch",
                        format!("cannot reshape {} into {}", t.ty, show_shape(&shape)),
                    )
                    .label(ls, "element counts differ"));
                }
                Value::Tensor(reshape(el, &t, shape)?)
            }
            Builtin::Transpose => {
                let (x, lx) = a.need(f, "x")?;
                let axes = a.take("axes");
                a.done(f, &["x", "axes"])?;
                let t = el.to_tensor(&x, lx, None)?;
                let rank = t.ty.rank();
                let perm: Vec<usize> = match axes {
                    None => (0..rank).rev().collect(),
                    Some((Value::List(xs), la)) => {
                        let mut perm = vec![];
                        for x in xs.iter() {
                            let Value::Int(i) = x else {
                                return Err(
                                    Diag::new("type-mismatch", "axes are ints").label(la, "here")
                                );
                            };
                            perm.push(norm_axis(*i, rank, la)?);
                        }
                        let mut seen = perm.clone();
                        seen.sort();
                        if seen != (0..rank).collect::<Vec<_>>() {
                            return Err(Diag::new(
                                "shape-mismatch",
                                format!(
                                    "`axes` must name each of the {rank} axes of {} once",
                                    t.ty
                                ),
                            )
                            .label(la, "not a permutation"));
                        }
                        perm
                    }
                    Some((other, la)) => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!("`axes` is a list of ints, found {}", other.kind()),
                        )
                        .label(la, "here"));
                    }
                };
                if perm.iter().enumerate().all(|(i, &p)| i == p) {
                    Value::Tensor(t)
                } else {
                    let shape: Vec<usize> = perm.iter().map(|&p| t.ty.shape[p]).collect();
                    let n = el.node(&t)?;
                    let r = el.emit_typed(
                        Op::Transpose(perm),
                        vec![n],
                        TensorType::new(t.ty.dtype, shape),
                    );
                    Value::Tensor(el.tval(r))
                }
            }
            Builtin::Take => {
                let (x, lx) = a.need(f, "x")?;
                let (i, li) = a.need(f, "index")?;
                a.done(f, &["x", "index"])?;
                let t = el.to_tensor(&x, lx, None)?;
                let idx = el.to_tensor(&i, li, Some(DType::I32))?;
                Value::Tensor(take(el, &t, &idx, lx, li)?)
            }
            Builtin::Put => {
                let (x, lx) = a.need(f, "x")?;
                let (i, li) = a.need(f, "index")?;
                let (r, lr) = a.need(f, "rows")?;
                let add = take_bool(&mut a, "add")?;
                a.done(f, &["x", "index", "rows", "add"])?;
                let t = el.to_tensor(&x, lx, None)?;
                let idx = el.to_tensor(&i, li, Some(DType::I32))?;
                let rows = el.to_tensor(&r, lr, Some(t.ty.dtype))?;
                Value::Tensor(put(el, [(&t, lx), (&idx, li), (&rows, lr)], add)?)
            }
            Builtin::Cumsum => {
                let (x, lx) = a.need(f, "x")?;
                let reverse = take_bool(&mut a, "reverse")?;
                a.done(f, &["x", "reverse"])?;
                let t = el.to_tensor(&x, lx, None)?;
                if t.ty.rank() == 0 || t.ty.dtype == DType::Bool {
                    return Err(Diag::new(
                        "type-mismatch",
                        format!(
                            "`cumsum` adds along the last axis of a numeric tensor, found {}",
                            t.ty
                        ),
                    )
                    .label(lx, "here"));
                }
                let n = el.node(&t)?;
                let r = el.emit(Op::CumSum { reverse }, vec![n])?;
                Value::Tensor(el.tval(r))
            }
            Builtin::SearchSorted => {
                let (s, ls) = a.need(f, "sorted")?;
                let (v, lv) = a.need(f, "values")?;
                a.done(f, &["sorted", "values"])?;
                let st = el.to_tensor(&s, ls, None)?;
                let vt = el.to_tensor(&v, lv, Some(st.ty.dtype))?;
                Value::Tensor(search_sorted(el, &st, &vt, ls, lv)?)
            }
            Builtin::TopK => {
                let (x, lx) = a.need(f, "x")?;
                let (k, lk) = a.need(f, "k")?;
                a.done(f, &["x", "k"])?;
                let t = ranked_rows(el, &x, lx, f)?;
                let len = t.ty.shape[t.ty.rank() - 1];
                let k = match k {
                    Value::Int(k) if (1..=len as i64).contains(&k) => k as usize,
                    other => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!(
                                "`top_k` keeps an int number of a row's {len} elements, \
                                 from 1 to {len}, found {}",
                                show_count(&other)
                            ),
                        )
                        .label(lk, "here"));
                    }
                };
                let idx = top_k(el, &t, k)?;
                let values = take_along_last(el, &t, &idx)?;
                Value::record(vec![
                    ("values".into(), Value::Tensor(values)),
                    ("indices".into(), Value::Tensor(idx)),
                ])
            }
            Builtin::Argsort | Builtin::Sort => {
                let (x, lx) = a.need(f, "x")?;
                let descending = take_bool(&mut a, "descending")?;
                a.done(f, &["x", "descending"])?;
                let t = ranked_rows(el, &x, lx, f)?;
                let len = t.ty.shape[t.ty.rank() - 1];
                // Ascending is descending of an order-reversing map: -x for floats
                // (exact), -1 - x for ints (no overflow at i32::MIN).
                let key = if descending {
                    t.clone()
                } else {
                    let c = if t.ty.dtype == DType::I32 { -1 } else { 0 };
                    let c = el.to_tensor(&Value::Int(c), lx, Some(t.ty.dtype))?;
                    tensor_binary(el, BinOp::Sub, &c, &t, lx, lx, lx)?
                };
                let idx = top_k(el, &key, len)?;
                if self == Builtin::Argsort {
                    Value::Tensor(idx)
                } else {
                    Value::Tensor(take_along_last(el, &t, &idx)?)
                }
            }
            Builtin::Indices => {
                let (n, ln) = a.need(f, "n")?;
                a.done(f, &["n"])?;
                let Value::Int(n) = n else {
                    return Err(
                        Diag::new("type-mismatch", "`indices` takes an int").label(ln, "here")
                    );
                };
                let r = el.emit_typed(
                    Op::Iota { axis: 0 },
                    vec![],
                    TensorType::new(DType::I32, vec![n.max(0) as usize]),
                );
                Value::Tensor(el.tval(r))
            }
            Builtin::Int => {
                let (x, lx) = a.need(f, "x")?;
                a.done(f, &["x"])?;
                // 2⁶³ as a float: the floors in [-2⁶³, 2⁶³) are the 64-bit ints.
                const LIMIT: f64 = 9_223_372_036_854_775_808.0;
                match x {
                    Value::Int(_) => x,
                    Value::Float(v) if (-LIMIT..LIMIT).contains(&v.floor()) => {
                        Value::Int(v.floor() as i64)
                    }
                    Value::Float(v) if v.is_finite() => {
                        return Err(Diag::new(
                            "bad-value",
                            format!("`int({v:e})` does not fit in a 64-bit int"),
                        )
                        .label(lx, "too large")
                        .help("compile-time ints are 64-bit: within ±9.2e18"));
                    }
                    other => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!(
                                "`int` converts a number known at compile time, found {}",
                                other.kind()
                            ),
                        )
                        .label(lx, "here")
                        .help("for tensors use `i32(x)`"));
                    }
                }
            }
            Builtin::Map => {
                let (func, lf) = a.need(f, "f")?;
                let (xs, lxs) = a.need(f, "xs")?;
                let ys = a.take("ys");
                a.done(f, &["f", "xs", "ys"])?;
                let apply = |el: &mut Elab, v: Value, w: Option<Value>| {
                    let mut pos = vec![(v, lxs)];
                    if let (Some(w), Some((_, ly))) = (w, &ys) {
                        pos.push((w, *ly));
                    }
                    el.call(
                        func.clone(),
                        Args {
                            pos,
                            kw: vec![],
                            call,
                        },
                        lf,
                    )
                };
                let partner = |k: usize, name: Option<&str>| -> R<Option<Value>> {
                    map_partner(ys.as_ref(), &xs, k, name, lxs)
                };
                match &xs {
                    Value::List(items) => Value::List(
                        items
                            .iter()
                            .enumerate()
                            .map(|(k, v)| apply(el, v.clone(), partner(k, None)?))
                            .collect::<R<Vec<_>>>()?
                            .into(),
                    ),
                    Value::Tuple(items) => Value::Tuple(
                        items
                            .iter()
                            .enumerate()
                            .map(|(k, v)| apply(el, v.clone(), partner(k, None)?))
                            .collect::<R<Vec<_>>>()?
                            .into(),
                    ),
                    Value::Record(fs) => Value::Record(
                        fs.iter()
                            .enumerate()
                            .map(|(k, (n, v))| {
                                // An error about one field's value names the field
                                // (a buffer's `action` of the wrong dtype).
                                let w = partner(k, Some(n))?;
                                let r = apply(el, v.clone(), w).map_err(|mut d| {
                                    d.message = format!("field `{n}`: {}", d.message);
                                    d
                                });
                                Ok((n.clone(), r?))
                            })
                            .collect::<R<Vec<_>>>()?
                            .into(),
                    ),
                    other => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!(
                                "`map` runs over a list, tuple or record, found {}",
                                other.kind()
                            ),
                        )
                        .label(lxs, "here"));
                    }
                }
            }
            Builtin::Values => {
                let (r, lr) = a.need(f, "record")?;
                a.done(f, &["record"])?;
                let Value::Record(fs) = r else {
                    return Err(Diag::new(
                        "type-mismatch",
                        format!("`values` takes a record, found {}", r.kind()),
                    )
                    .label(lr, "here"));
                };
                Value::List(fs.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>().into())
            }
            Builtin::Split | Builtin::Chars => {
                let (t, lt) = a.need(f, "text")?;
                let sep = if self == Builtin::Split {
                    Some(a.need(f, "sep")?)
                } else {
                    None
                };
                a.done(f, &["text", "sep"])?;
                let Value::Str(t) = t else {
                    return Err(Diag::new(
                        "type-mismatch",
                        format!("`{f}` takes a string, found {}", t.kind()),
                    )
                    .label(lt, "here"));
                };
                let parts: Vec<Value> = match sep {
                    Some((Value::Str(sep), _)) if !sep.is_empty() => {
                        t.split(&*sep).map(|p| Value::Str(p.into())).collect()
                    }
                    Some((_, ls)) => {
                        return Err(Diag::new("type-mismatch", "`sep` is a non-empty string")
                            .label(ls, "here"));
                    }
                    None => t
                        .chars()
                        .map(|c| Value::Str(c.to_string().into()))
                        .collect(),
                };
                Value::List(parts.into())
            }
            Builtin::Range => {
                let (n, ln) = a.need(f, "n")?;
                a.done(f, &["n"])?;
                let Value::Int(n) = n else {
                    return Err(
                        Diag::new("type-mismatch", "`range` takes an int").label(ln, "here")
                    );
                };
                if n > MAX_RANGE {
                    return Err(Diag::new(
                            "bad-value",
                            format!(
                                "`range({n})` would make a compile-time list of {n} ints; at most {MAX_RANGE}"
                            ),
                        )
                        .label(ln, "too long")
                        .help("`range` lists are built (and `for` loops over them unrolled) while compiling; for a tensor of indices write `indices(n)`, for many steps a `scan` or the train block's iterations"));
                }
                Value::List((0..n.max(0)).map(Value::Int).collect::<Vec<_>>().into())
            }
            Builtin::Environment => environment(el, a)?,
            Builtin::Gym => super::rollout::gym(el, a)?,
            Builtin::Dataset => super::data::dataset_builtin(el, a)?,
            Builtin::Pretrained => super::data::pretrained_builtin(el, a)?,
            Builtin::Grad => super::params::grad_builtin(el, a)?,
            Builtin::Parameters => super::params::parameters_builtin(el, a)?,
            Builtin::Copy => super::params::copy_builtin(el, a)?,
            Builtin::Require => super::elab::require(el, a)?,
            Builtin::Rollout => super::rollout::rollout(el, a)?,
            Builtin::Optimizer => {
                let (init, _) = a.need(f, "init")?;
                let (update, _) = a.need(f, "update")?;
                let max_grad_norm = match a.take_kw("max_grad_norm") {
                    None => 0.0,
                    Some((Value::Float(x), _)) if x >= 0.0 => x,
                    Some((Value::Int(x), _)) if x >= 0 => x as f64,
                    Some((v, l)) => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!(
                                "`max_grad_norm` is a number ≥ 0 (0: no clipping), found {}",
                                v.kind()
                            ),
                        )
                        .label(l, "here"));
                    }
                };
                a.done(f, &["init", "update", "max_grad_norm"])?;
                Value::Optimizer(Rc::new(OptDef {
                    init,
                    update,
                    states: Default::default(),
                    count: Default::default(),
                    name: el.owner.clone(),
                    max_grad_norm,
                }))
            }
        };
        Ok(out)
    }
}

fn take_dtype(a: &mut Args) -> R<Option<DType>> {
    match a.take_kw("dtype") {
        None => Ok(None),
        Some((Value::Str(s), l)) => super::shapes::dtype(&s).map(Some).ok_or_else(|| {
            Diag::new("unknown-type", format!("unknown dtype \"{s}\"")).label(l, "here")
        }),
        Some((_, l)) => {
            Err(Diag::new("type-mismatch", "`dtype` is a string such as \"f32\"").label(l, "here"))
        }
    }
}

/// `reshape`'s target shape: [`shape_arg`], or a list with one `-1`, the size that
/// makes the element counts agree (`reshape(x, [-1, 4])`).
fn reshape_target(v: &Value, l: Loc, numel: usize) -> R<Vec<usize>> {
    let (Value::List(xs) | Value::Tuple(xs)) = v else {
        return shape_arg(v, l);
    };
    let unknown: Vec<usize> = (0..xs.len())
        .filter(|&i| matches!(xs[i], Value::Int(-1)))
        .collect();
    if unknown.len() > 1 {
        return Err(Diag::new(
            "type-mismatch",
            "`reshape` infers one size at most: only one `-1` in its shape",
        )
        .label(l, "here"));
    }
    let Some(&at) = unknown.first() else {
        return shape_arg(v, l);
    };
    let mut rest: Vec<Value> = xs.to_vec();
    rest[at] = Value::Int(1);
    let mut shape = shape_arg(&Value::List(rest.into()), l)?;
    let known: usize = shape.iter().product();
    if known == 0 || numel % known != 0 {
        let written: Vec<String> = (0..shape.len())
            .map(|i| {
                if i == at {
                    "-1".into()
                } else {
                    shape[i].to_string()
                }
            })
            .collect();
        return Err(Diag::new(
            "shape-mismatch",
            format!(
                "cannot reshape {numel} elements into [{}]: the other sizes do not divide it",
                written.join(", ")
            ),
        )
        .label(l, "no size fits the `-1`"));
    }
    shape[at] = numel / known;
    Ok(shape)
}

/// A shape given as an int or a list of ints.
pub fn shape_arg(v: &Value, l: Loc) -> R<Vec<usize>> {
    let bad = || {
        let negative = match v {
            Value::Int(i) if *i < 0 => Some(*i),
            Value::List(xs) | Value::Tuple(xs) => xs.iter().find_map(|x| match x {
                Value::Int(i) if *i < 0 => Some(*i),
                _ => None,
            }),
            _ => None,
        };
        let found = match (negative, v) {
            (Some(i), _) => format!("a size of {i}"),
            (None, Value::List(xs) | Value::Tuple(xs)) => {
                match xs.iter().find(|x| !matches!(x, Value::Int(_))) {
                    Some(x) => format!("{} among its sizes", x.kind()),
                    None => v.kind(),
                }
            }
            (None, _) => v.kind(),
        };
        let d = Diag::new(
            "type-mismatch",
            format!("a shape is an int or a list of non-negative ints, found {found}"),
        )
        .label(l, "here");
        match negative {
            Some(-1) => d.help("only `reshape` infers a size from `-1`"),
            _ => d,
        }
    };
    match v {
        Value::Int(i) if *i >= 0 => Ok(vec![*i as usize]),
        Value::List(xs) | Value::Tuple(xs) => xs
            .iter()
            .map(|x| {
                if let Value::Int(i) = x {
                    if *i >= 0 { Ok(*i as usize) } else { Err(bad()) }
                } else {
                    Err(bad())
                }
            })
            .collect(),
        _ => Err(bad()),
    }
}

pub fn filled(el: &mut Elab, d: DType, shape: &[usize], value: f64) -> TVal {
    let c = el.emit_typed(Op::Const(value), vec![], TensorType::scalar(d));
    if shape.is_empty() {
        return el.tval(c);
    }
    let b = el.emit_typed(Op::Broadcast, vec![c], TensorType::new(d, shape.to_vec()));
    el.tval(b)
}

pub fn random(el: &mut Elab, dist: Distribution, d: DType, shape: &[usize]) -> R<TVal> {
    random_seeded(el, dist, d, shape, 0)
}

/// Random numbers keyed by the run's seed mixed with a program-given `offset`.
fn random_seeded(
    el: &mut Elab,
    dist: Distribution,
    d: DType,
    shape: &[usize],
    offset: u64,
) -> R<TVal> {
    let (stream, c0, c1) = el.rng()?;
    let seed = el.seed ^ offset.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let r = el.emit_typed(
        Op::Random { dist, seed, stream },
        vec![c0, c1],
        TensorType::new(d, shape.to_vec()),
    );
    Ok(el.tval(r))
}

pub fn emit_bin(el: &mut Elab, op: BinaryOp, a: &TVal, b: &TVal) -> R<TVal> {
    let x = el.node(a)?;
    let y = el.node(b)?;
    let r = el.emit(Op::Binary(op), vec![x, y])?;
    Ok(el.tval(r))
}

pub fn reshape(el: &mut Elab, t: &TVal, shape: Vec<usize>) -> R<TVal> {
    if t.ty.shape == shape {
        return Ok(t.clone());
    }
    let n = el.node(t)?;
    let r = el.emit_typed(Op::Reshape, vec![n], TensorType::new(t.ty.dtype, shape));
    Ok(el.tval(r))
}

fn norm_axis(ax: i64, rank: usize, l: Loc) -> R<usize> {
    let r = rank as i64;
    let k = if ax < 0 { r + ax } else { ax };
    if k < 0 || k >= r {
        return Err(Diag::new(
            "shape-mismatch",
            format!("axis {ax} is out of range for rank {rank}"),
        )
        .label(l, "here"));
    }
    Ok(k as usize)
}

pub(super) fn take_bool(a: &mut Args, name: &str) -> R<bool> {
    match a.take_kw(name) {
        None => Ok(false),
        Some((Value::Bool(b), _)) => Ok(b),
        Some((v, l)) => Err(Diag::new(
            "type-mismatch",
            format!("`{name}` must be true or false, found {}", v.kind()),
        )
        .label(l, "here")),
    }
}

/// Reduces over `axis` (all axes when absent); `keep` leaves the reduced axes as 1s.
fn reduce(
    el: &mut Elab,
    op: ReduceOp,
    t: &TVal,
    axis: Option<(Value, Loc)>,
    keep: bool,
    l: Loc,
) -> R<TVal> {
    let axes: Vec<usize> = match axis {
        None => (0..t.ty.rank()).collect(),
        Some((Value::Int(i), la)) => vec![norm_axis(i, t.ty.rank(), la)?],
        Some((Value::List(xs), la)) => {
            let mut v = vec![];
            for x in xs.iter() {
                let Value::Int(i) = x else {
                    return Err(Diag::new("type-mismatch", "axes are ints").label(la, "here"));
                };
                v.push(norm_axis(*i, t.ty.rank(), la)?);
            }
            v.sort();
            v.dedup();
            v
        }
        Some((_, la)) => {
            return Err(
                Diag::new("type-mismatch", "`axis` must be an int or a list of ints")
                    .label(la, "here"),
            );
        }
    };
    let _ = l;
    if axes.is_empty() {
        return Ok(t.clone());
    }
    let t = if t.ty.dtype == DType::Bool {
        el.cast(t, DType::F32)?
    } else {
        t.clone()
    };
    let kept: Vec<usize> =
        t.ty.shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect();
    let r = if op == ReduceOp::Sum && axes.len() == t.ty.rank() && t.ty.numel() > SUM_BLOCK {
        blocked_sum(el, &t)?
    } else {
        let n = el.node(&t)?;
        let r = el.emit(Op::Reduce { op, axes }, vec![n])?;
        el.tval(r)
    };
    if keep { reshape(el, &r, kept) } else { Ok(r) }
}

/// The block length of a sum over every axis (see [`blocked_sum`]).
const SUM_BLOCK: usize = 4096;

/// The sum of every element of `t` (more than [`SUM_BLOCK`] of them), defined as the
/// sum, in order, of the sums of consecutive blocks of `SUM_BLOCK` elements (row-major;
/// the last block may be shorter), each added up in order.
///
/// Why: a sum is a fold, one addition after another, so a whole-batch `mean` (the most
/// common metric) ran on one thread at one addition per add latency while the other
/// cores idled — a fifth of a 16,384-environment rollout's time. Block sums are
/// independent, so they run in parallel, and the result is still one fixed order of
/// additions, the same on every backend and thread count. Sums of up to `SUM_BLOCK`
/// elements are plain folds, as before.
fn blocked_sum(el: &mut Elab, t: &TVal) -> R<TVal> {
    let len = t.ty.numel();
    let whole = len - len % SUM_BLOCK;
    let flat = reshape(el, t, vec![len])?;
    let slice = |el: &mut Elab, x: &TVal, start: usize, end: usize| -> R<TVal> {
        if (start, end) == (0, x.ty.shape[0]) {
            return Ok(x.clone());
        }
        let n = el.node(x)?;
        let r = el.emit(
            Op::Slice {
                axis: 0,
                start,
                end,
            },
            vec![n],
        )?;
        Ok(el.tval(r))
    };
    let sum = |el: &mut Elab, x: &TVal, axes: Vec<usize>| -> R<TVal> {
        let n = el.node(x)?;
        let r = el.emit(
            Op::Reduce {
                op: ReduceOp::Sum,
                axes,
            },
            vec![n],
        )?;
        Ok(el.tval(r))
    };
    let head = slice(el, &flat, 0, whole)?;
    let blocks = reshape(el, &head, vec![whole / SUM_BLOCK, SUM_BLOCK])?;
    let mut partial = sum(el, &blocks, vec![1])?;
    if whole < len {
        let tail = slice(el, &flat, whole, len)?;
        let last = sum(el, &tail, vec![0])?;
        let last = reshape(el, &last, vec![1])?;
        let (p, l) = (el.node(&partial)?, el.node(&last)?);
        let r = el.emit(Op::Concat { axis: 0 }, vec![p, l])?;
        partial = el.tval(r);
    }
    sum(el, &partial, vec![0])
}

fn join(el: &mut Elab, ts: Vec<TVal>, axis: i64, stack: bool, l: Loc) -> R<TVal> {
    if ts.is_empty() {
        return Err(Diag::new("arity", "nothing to join").label(l, "empty list"));
    }
    let d = ts
        .iter()
        .fold(ts[0].ty.dtype, |d, t| promote(d, t.ty.dtype, false));
    let mut nodes = vec![];
    let rank = ts[0].ty.rank() + usize::from(stack);
    let ax = norm_axis(axis, rank, l)?;
    for t in &ts {
        let mut t = el.cast(t, d)?;
        if stack {
            let mut s = t.ty.shape.clone();
            if s != ts[0].ty.shape {
                return Err(Diag::new(
                    "shape-mismatch",
                    format!("cannot stack {} with {}", t.ty, ts[0].ty),
                )
                .label(l, "shapes differ"));
            }
            s.insert(ax, 1);
            t = reshape(el, &t, s)?;
        }
        nodes.push(el.node(&t)?);
    }
    // A few width-1 pieces stacked along the last axis (an environment packing its state)
    // become selects over the position on that axis: elementwise, so they fuse into the
    // kernel around them (a concatenation is a copy of its own). Exact, NaN included.
    let out_shape = {
        let mut s = el.top_ty(nodes[0]).shape.clone();
        s[ax] = nodes.iter().map(|&n| el.top_ty(n).shape[ax]).sum();
        s
    };
    if stack && ax == rank - 1 && nodes.len() <= 16 {
        let ty = TensorType::new(d, out_shape.clone());
        let col = el.emit_typed(
            Op::Iota { axis: ax },
            vec![],
            TensorType::new(DType::I32, out_shape.clone()),
        );
        let mut acc = el.emit_typed(Op::Broadcast, vec![nodes[nodes.len() - 1]], ty.clone());
        for k in (0..nodes.len() - 1).rev() {
            let kc = el.emit_typed(Op::Const(k as f64), vec![], TensorType::scalar(DType::I32));
            let kb = el.emit_typed(
                Op::Broadcast,
                vec![kc],
                TensorType::new(DType::I32, out_shape.clone()),
            );
            let here = el.emit(Op::Binary(BinaryOp::Eq), vec![col, kb])?;
            let piece = el.emit_typed(Op::Broadcast, vec![nodes[k]], ty.clone());
            acc = el.emit(Op::Select, vec![here, piece, acc])?;
        }
        return Ok(el.tval(acc));
    }
    let shapes: Vec<String> = nodes
        .iter()
        .map(|&n| show_shape(&el.top_ty(n).shape))
        .collect();
    let r = el.emit(Op::Concat { axis: ax }, nodes).map_err(|_| {
        Diag::new(
            "shape-mismatch",
            format!(
                "these tensors do not concatenate along axis {axis}: {}",
                shapes.join(", ")
            ),
        )
        .label(l, format!("shapes {}", shapes.join(", ")))
        .help("all axes but the one joined must be equal (and the ranks the same)")
    })?;
    Ok(el.tval(r))
}

/// `where(cond, a, b)` with broadcasting; selects, never multiplies by a mask.
pub fn select(el: &mut Elab, c: &TVal, a: &Value, b: &Value, lc: Loc, l: Loc) -> R<Value> {
    if c.ty.dtype != DType::Bool {
        return Err(Diag::new(
            "type-mismatch",
            format!("a condition must be bool, found {}", c.ty),
        )
        .label(lc, "condition"));
    }
    let ha = if let Value::Tensor(t) = a {
        Some(t.ty.dtype)
    } else {
        None
    };
    let hb = if let Value::Tensor(t) = b {
        Some(t.ty.dtype)
    } else {
        None
    };
    let ta = el.to_tensor(a, l, hb)?;
    let tb = el.to_tensor(b, l, ha)?;
    let (ta, tb) = el.unify(&ta, &tb, l, l, false)?;
    let shape = rlp_ir::types::broadcast_shapes(&c.ty.shape, &ta.ty.shape).ok_or_else(|| {
        Diag::new(
            "shape-mismatch",
            format!(
                "condition {} does not broadcast with values {}",
                c.ty, ta.ty
            ),
        )
        .label(lc, "condition")
        .label(l, "values")
    })?;
    let c = el.convert(c, &TensorType::new(DType::Bool, shape.clone()), lc)?;
    let ta = el.convert(&ta, &TensorType::new(ta.ty.dtype, shape.clone()), l)?;
    let tb = el.convert(&tb, &TensorType::new(tb.ty.dtype, shape), l)?;
    let (nc, na, nb) = (el.node(&c)?, el.node(&ta)?, el.node(&tb)?);
    let r = el.emit(Op::Select, vec![nc, na, nb])?;
    Ok(Value::Tensor(el.tval(r)))
}

/// A binary operator on two tensors: dtype promotion, broadcasting, then the op.
pub fn tensor_binary(
    el: &mut Elab,
    op: BinOp,
    a: &TVal,
    b: &TVal,
    la: Loc,
    lb: Loc,
    loc: Loc,
) -> R<TVal> {
    match op {
        BinOp::MatMul => return matmul(el, a, b, la, lb),
        BinOp::Concat => return join(el, vec![a.clone(), b.clone()], -1, false, loc),
        _ => {}
    }
    let logical = matches!(op, BinOp::And | BinOp::Or);
    let cmp = matches!(
        op,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
    );
    if logical && (a.ty.dtype != DType::Bool || b.ty.dtype != DType::Bool) {
        return Err(Diag::new(
            "type-mismatch",
            format!("`{}` needs bools, found {} and {}", op.symbol(), a.ty, b.ty),
        )
        .label(la, "left")
        .label(lb, "right"));
    }
    let (mut x, mut y) = el.unify(a, b, la, lb, !logical && !cmp)?;
    let bop = match op {
        BinOp::Add => BinaryOp::Add,
        BinOp::Sub => BinaryOp::Sub,
        BinOp::Mul => BinaryOp::Mul,
        BinOp::Div => BinaryOp::Div,
        BinOp::Rem => BinaryOp::Rem,
        BinOp::Pow => BinaryOp::Pow,
        BinOp::Eq => BinaryOp::Eq,
        BinOp::Ne => BinaryOp::Ne,
        BinOp::Lt => BinaryOp::Lt,
        BinOp::Le => BinaryOp::Le,
        BinOp::Gt => BinaryOp::Gt,
        BinOp::Ge => BinaryOp::Ge,
        BinOp::And => BinaryOp::And,
        BinOp::Or => BinaryOp::Or,
        BinOp::MatMul | BinOp::Concat => unreachable!(),
    };
    // Division and powers of ints happen in floats.
    if matches!(bop, BinaryOp::Div | BinaryOp::Pow) && !x.ty.dtype.is_float() {
        x = el.cast(&x, DType::F32)?;
        y = el.cast(&y, DType::F32)?;
    }
    if cmp && x.ty.dtype == DType::Bool && !matches!(bop, BinaryOp::Eq | BinaryOp::Ne) {
        x = el.cast(&x, DType::F32)?;
        y = el.cast(&y, DType::F32)?;
    }
    emit_bin(el, bop, &x, &y)
}

/// `a @ b`: `[…, K] @ [K, N]` → `[…, N]` (leading dims flattened into one GEMM), or a
/// batched product `[E…, M, K] @ [E…, K, N]` → `[E…, M, N]`: one product per leading
/// index (an ensemble's members), all in one batched step.
fn matmul(el: &mut Elab, a: &TVal, b: &TVal, la: Loc, lb: Loc) -> R<TVal> {
    let bad = |why: &str| {
        Diag::new(
            "shape-mismatch",
            format!("cannot multiply {} @ {}: {why}", a.ty, b.ty),
        )
        .label(la, format!("this is {}", a.ty))
        .label(lb, format!("this is {}", b.ty))
    };
    if b.ty.rank() > 2 {
        return batched_matmul(el, a, b, &bad);
    }
    if a.ty.rank() == 0 || b.ty.rank() == 0 {
        return Err(bad("`@` takes [..., K] @ [K, N]"));
    }
    let k = *a.ty.shape.last().unwrap();
    if b.ty.shape[0] != k {
        return Err(bad(&format!(
            "inner dimensions {} and {} differ",
            k, b.ty.shape[0]
        )));
    }
    let d = promote(promote(a.ty.dtype, b.ty.dtype, true), DType::F32, true);
    let a2 = el.cast(a, d)?;
    let b2 = el.cast(b, d)?;
    let lead: Vec<usize> = a.ty.shape[..a.ty.rank() - 1].to_vec();
    let m: usize = lead.iter().product();
    let n = if b.ty.rank() == 2 { b.ty.shape[1] } else { 1 };
    let a2 = reshape(el, &a2, vec![m, k])?;
    let b2 = reshape(el, &b2, vec![k, n])?;
    let r = emit_bin_op(el, Op::MatMul, &a2, &b2)?;
    let mut out = lead;
    if b.ty.rank() == 2 {
        out.push(n);
    }
    reshape(el, &r, out)
}

/// `[E…, M, K] @ [E…, K, N]`: the leading dims must be equal; they are flattened into
/// the one batch axis of the IR's batched product.
fn batched_matmul(el: &mut Elab, a: &TVal, b: &TVal, bad: &dyn Fn(&str) -> Diag) -> R<TVal> {
    let r = b.ty.rank();
    if a.ty.rank() != r {
        return Err(bad(&format!(
            "a batched product takes [E..., M, K] @ [E..., K, N] with the same leading dims \
             (broadcast the left operand to rank {r} first)"
        )));
    }
    let (lead, (am, bm)) = (
        &a.ty.shape[..r - 2],
        (&a.ty.shape[r - 2..], &b.ty.shape[r - 2..]),
    );
    if lead != &b.ty.shape[..r - 2] {
        return Err(bad("the leading (batch) dimensions differ"));
    }
    if am[1] != bm[0] {
        return Err(bad(&format!(
            "inner dimensions {} and {} differ",
            am[1], bm[0]
        )));
    }
    let d = promote(promote(a.ty.dtype, b.ty.dtype, true), DType::F32, true);
    let batch: usize = lead.iter().product();
    let a2 = el.cast(a, d)?;
    let b2 = el.cast(b, d)?;
    let a2 = reshape(el, &a2, vec![batch, am[0], am[1]])?;
    let b2 = reshape(el, &b2, vec![batch, bm[0], bm[1]])?;
    let r = emit_bin_op(el, Op::MatMul, &a2, &b2)?;
    let mut out = lead.to_vec();
    out.extend([am[0], bm[1]]);
    reshape(el, &r, out)
}

fn emit_bin_op(el: &mut Elab, op: Op, a: &TVal, b: &TVal) -> R<TVal> {
    let x = el.node(a)?;
    let y = el.node(b)?;
    let r = el.emit(op, vec![x, y])?;
    Ok(el.tval(r))
}

/// `take(x, idx)`: rows of `x` (axis 0) picked by an i32 vector, `[B, F…]` → `[M, F…]`;
/// O(M·F) whatever `B` is (a replay buffer's minibatch).
fn take(el: &mut Elab, x: &TVal, idx: &TVal, lx: Loc, li: Loc) -> R<TVal> {
    row_index_vector(idx, li, "take")?;
    if x.ty.rank() == 0 {
        return Err(Diag::new(
            "shape-mismatch",
            "`take` picks rows of a tensor of rank 1 or more",
        )
        .label(lx, "a scalar"));
    }
    let (nx, ni) = (el.node(x)?, el.node(idx)?);
    let r = el.emit(Op::TakeRows, vec![nx, ni])?;
    Ok(el.tval(r))
}

fn row_index_vector(idx: &TVal, li: Loc, f: &str) -> R<()> {
    if idx.ty.rank() != 1 || idx.ty.dtype != DType::I32 {
        return Err(Diag::new(
            "type-mismatch",
            format!("`{f}` needs an i32 vector of row indices, found {}", idx.ty),
        )
        .label(li, "index"));
    }
    Ok(())
}

/// `put(x, idx, rows, add:)`: `x` with row `idx[m]` replaced by (or increased by) row
/// `m` of `rows`. Written into a state slot with `<-`, it updates the rows in place.
fn put(el: &mut Elab, args: [(&TVal, Loc); 3], add: bool) -> R<TVal> {
    let [(x, lx), (idx, li), (rows, lr)] = args;
    row_index_vector(idx, li, "put")?;
    let mut want = x.ty.shape.clone();
    if want.is_empty() {
        return Err(Diag::new(
            "shape-mismatch",
            "`put` writes rows of a tensor of rank 1 or more",
        )
        .label(lx, "a scalar"));
    }
    want[0] = idx.ty.shape[0];
    if rows.ty.shape != want {
        return Err(Diag::new(
            "shape-mismatch",
            format!(
                "`put` of {} index into {} needs rows of shape {}, found {}",
                idx.ty,
                x.ty,
                show_shape(&want),
                rows.ty
            ),
        )
        .label(lr, format!("this is {}", rows.ty))
        .label(lx, format!("rows of {}", x.ty)));
    }
    if add && x.ty.dtype == DType::Bool {
        return Err(Diag::new(
            "type-mismatch",
            "`put(…, add: true)` adds numbers, not bools",
        )
        .label(lx, format!("this is {}", x.ty)));
    }
    if crate::sema::elab::promote(rows.ty.dtype, x.ty.dtype, false) != x.ty.dtype {
        return Err(Diag::new(
            "type-mismatch",
            format!(
                "`put` cannot write {} rows into {} without losing precision",
                rows.ty.dtype, x.ty
            ),
        )
        .label(lr, format!("this is {}", rows.ty))
        .help("convert the rows explicitly (`i32(…)`, `f32(…)`)"));
    }
    let rows = el.cast(rows, x.ty.dtype)?;
    let (nx, ni, nr) = (el.node(x)?, el.node(idx)?, el.node(&rows)?);
    let r = el.emit(Op::PutRows { accumulate: add }, vec![nx, ni, nr])?;
    Ok(el.tval(r))
}

/// The element of `map`'s second collection `ys` paired with element `k` (field `name`)
/// of `xs`: by position for lists and tuples of equal length, by name for records (`ys`
/// may have more fields: a rollout's batch into a buffer of some of them).
fn map_partner(
    ys: Option<&(Value, Loc)>,
    xs: &Value,
    k: usize,
    name: Option<&str>,
    lxs: Loc,
) -> R<Option<Value>> {
    let Some((ys, ly)) = ys else {
        return Ok(None);
    };
    match (ys, name) {
        (Value::Record(fs), Some(n)) => ys.field(n).map(Some).ok_or_else(|| {
            let names: Vec<&str> = fs.iter().map(|(f, _)| f.as_str()).collect();
            let d = Diag::new(
                "unknown-field",
                format!(
                    "field `{n}` has no partner: the record paired with it has {}",
                    names
                        .iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .label(*ly, format!("no field `{n}` here"))
            .label(lxs, format!("this record has `{n}`"));
            match did_you_mean(n, names.iter().copied()) {
                Some(m) => d.help(format!(
                    "did you mean `{m}`? The two records are paired field by field, by name"
                )),
                None => d.help("the two records are paired field by field, by name"),
            }
        }),
        (Value::List(items) | Value::Tuple(items), None) => {
            let len = match xs {
                Value::List(v) | Value::Tuple(v) => v.len(),
                _ => 0,
            };
            if items.len() != len {
                return Err(Diag::new(
                    "shape-mismatch",
                    format!("`map` pairs {len} elements with {}", items.len()),
                )
                .label(*ly, format!("{} elements", items.len()))
                .label(lxs, format!("{len} elements")));
            }
            Ok(Some(items[k].clone()))
        }
        _ => Err(Diag::new(
            "type-mismatch",
            format!("`map` pairs {} with {}", xs.kind(), ys.kind()),
        )
        .label(*ly, "not the same kind of collection")),
    }
}

/// `action_shape` and `action_dtype`: one action of the environment whose other fields
/// are `fields` (`[]` and `"i32"` for discrete actions, `[act_dim]` and `"f32"` for
/// continuous ones), so that code can make room for actions without asking which kind
/// they are (a replay buffer's `action` field).
pub fn action_space_fields(fields: &[(String, Value)]) -> Vec<(String, Value)> {
    let act_dim = fields.iter().find_map(|(n, v)| match v {
        Value::Int(d) if n == "act_dim" => Some(*d),
        _ => None,
    });
    let (shape, dtype) = match act_dim {
        Some(d) => (vec![Value::Int(d)], "f32"),
        None => (vec![], "i32"),
    };
    vec![
        ("action_shape".to_string(), Value::List(shape.into())),
        ("action_dtype".to_string(), Value::Str(dtype.into())),
    ]
}

/// `search_sorted(sorted, values)`: per value, how many elements of `sorted` are at most
/// it. `sorted: [K]` with values of any shape, or `[S…, K]` with values `[S…, Q]` (one
/// row of `sorted` per row of values).
fn search_sorted(el: &mut Elab, s: &TVal, v: &TVal, ls: Loc, lv: Loc) -> R<TVal> {
    if s.ty.rank() == 0 || s.ty.dtype == DType::Bool {
        return Err(Diag::new(
            "type-mismatch",
            format!("`search_sorted` searches rows of numbers, found {}", s.ty),
        )
        .label(ls, "here"));
    }
    let dtype = crate::sema::elab::promote(s.ty.dtype, v.ty.dtype, true);
    let (s, v) = (el.cast(s, dtype)?, el.cast(v, dtype)?);
    if s.ty.rank() == 1 {
        // One sorted row for every value: values flattened to [1, Q].
        let q = v.ty.numel();
        let s2 = reshape(el, &s, vec![1, s.ty.shape[0]])?;
        let v2 = reshape(el, &v, vec![1, q])?;
        let (ns, nv) = (el.node(&s2)?, el.node(&v2)?);
        let r = el.emit(Op::SearchSorted, vec![ns, nv])?;
        let r = el.tval(r);
        return reshape(el, &r, v.ty.shape.clone());
    }
    let r = s.ty.rank();
    if v.ty.rank() != r || v.ty.shape[..r - 1] != s.ty.shape[..r - 1] {
        return Err(Diag::new(
            "shape-mismatch",
            format!(
                "`search_sorted` of rows {} needs values with the same leading dims, found {}",
                s.ty, v.ty
            ),
        )
        .label(lv, format!("this is {}", v.ty))
        .label(ls, format!("rows of {}", s.ty)));
    }
    let (ns, nv) = (el.node(&s)?, el.node(&v)?);
    let r = el.emit(Op::SearchSorted, vec![ns, nv])?;
    Ok(el.tval(r))
}

/// The argument of a ranking built-in: a numeric tensor of rank ≥ 1 with a non-empty
/// last axis (bools rank as 0/1 ints).
fn ranked_rows(el: &mut Elab, x: &Value, lx: Loc, f: &str) -> R<TVal> {
    let t = el.to_tensor(x, lx, None)?;
    let t = if t.ty.dtype == DType::Bool {
        el.cast(&t, DType::I32)?
    } else {
        t
    };
    if t.ty.rank() == 0 || t.ty.shape[t.ty.rank() - 1] == 0 {
        return Err(Diag::new(
            "shape-mismatch",
            format!(
                "`{f}` ranks the rows of a tensor along its last axis, found {}",
                t.ty
            ),
        )
        .label(lx, "here"));
    }
    Ok(t)
}

fn show_count(v: &Value) -> String {
    match v {
        Value::Int(k) => k.to_string(),
        other => other.kind().to_string(),
    }
}

/// The positions of each row's `k` largest elements, largest first.
fn top_k(el: &mut Elab, t: &TVal, k: usize) -> R<TVal> {
    let n = el.node(t)?;
    let r = el.emit(Op::TopK { k }, vec![n])?;
    Ok(el.tval(r))
}

/// `x: [S…, K]`, `idx: [S…, k] i32` → `x[s…, idx[s…, j]]`, `[S…, k]`: each row of `x`
/// broadcast to the `k` picks and gathered, so the gradient flows back to the picked
/// elements.
fn take_along_last(el: &mut Elab, x: &TVal, idx: &TVal) -> R<TVal> {
    let r = x.ty.rank();
    let mut one = x.ty.shape.clone();
    one.insert(r - 1, 1);
    let xr = reshape(el, x, one)?;
    let mut wide = idx.ty.shape.clone();
    wide.push(x.ty.shape[r - 1]);
    let n = el.node(&xr)?;
    let b = el.emit_typed(Op::Broadcast, vec![n], TensorType::new(x.ty.dtype, wide));
    let ni = el.node(idx)?;
    let g = el.emit(Op::Gather, vec![b, ni])?;
    Ok(el.tval(g))
}

/// The help for a gather `x[idx]` whose index has the wrong shape: the shape it must
/// have, the one it has, and for a vector `x`, the one-hot form of a table lookup.
fn gather_help(x: &TensorType, idx: &TensorType) -> String {
    let dims = |s: &[usize]| {
        let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
        format!("[{}]", parts.join(", "))
    };
    let rank = x.rank();
    let want = dims(&x.shape[..rank.saturating_sub(1)]);
    let mut help = format!(
        "`x[idx]` gathers along the last axis of x: idx must be an i32 tensor of shape \
         x.shape[:-1] = {want}, one index per row of x; here x is {x} and idx is {idx}"
    );
    if let [depth] = x.shape[..] {
        help.push_str(&format!(
            "; to look up one entry of the [{depth}] table per index, write \
             `sum(one_hot(idx, {depth}) * x, axis: -1)`"
        ));
    }
    help
}

/// `x[:, idx]` for `x` [B, A, …] and `idx` [B] i32: row `b` of the result is
/// `x[b, idx[b], …]`, [B, …] (an action's atoms in a distributional Q-head). The axis
/// picked from moves last and the index is broadcast over the rest, so it is the
/// last-axis gather of `x[idx]` (with its adjoint) on a transposed view.
fn gather_second_axis(el: &mut Elab, x: &TVal, i: &TVal, li: Loc, loc: Loc) -> R<TVal> {
    let (b, a) = (x.ty.shape[0], x.ty.shape[1]);
    if i.ty.dtype != DType::I32 {
        return Err(Diag::new(
            "type-mismatch",
            format!("a gather index must be i32, found {}", i.ty),
        )
        .label(li, "index"));
    }
    if i.ty.shape[0] != b {
        return Err(Diag::new(
            "shape-mismatch",
            format!(
                "`x[:, idx]` picks one index per row: idx must be i32[{b}], found {}",
                i.ty
            ),
        )
        .label(li, format!("this is {}", i.ty))
        .label(loc, format!("indexing {}", x.ty)));
    }
    let rank = x.ty.rank();
    let mut perm: Vec<usize> = (0..rank).filter(|&d| d != 1).collect();
    perm.push(1);
    let rest: Vec<usize> = perm[..rank - 1].iter().map(|&d| x.ty.shape[d]).collect();
    let moved = if rank == 2 {
        x.clone()
    } else {
        let mut shape = rest.clone();
        shape.push(a);
        let n = el.node(x)?;
        let r = el.emit_typed(
            Op::Transpose(perm),
            vec![n],
            TensorType::new(x.ty.dtype, shape),
        );
        el.tval(r)
    };
    let mut ones = vec![b];
    ones.extend(std::iter::repeat_n(1, rank - 2));
    let column = reshape(el, i, ones)?;
    let n = el.node(&column)?;
    let spread = el.emit_typed(Op::Broadcast, vec![n], TensorType::new(DType::I32, rest));
    let nx = el.node(&moved)?;
    let r = el.emit(Op::Gather, vec![nx, spread])?;
    Ok(el.tval(r))
}

/// One index of `x[…]`.
pub enum Ix {
    At(Value, Loc),
    Range(Option<i64>, Option<i64>, Loc),
    /// `None`: an axis of length 1 inserted here; it takes no axis of the operand.
    NewAxis(Loc),
}

/// Tensor indexing: ints and slices per axis; a loop variable or i32 scalar picks a
/// row; a single i32 tensor of shape `x.shape[:-1]` gathers along the last axis; `None`
/// inserts an axis of length 1 (`x[:, None]` of an [N] is [N, 1]).
pub fn index_tensor(el: &mut Elab, x: &TVal, idx: Vec<Ix>, loc: Loc) -> R<TVal> {
    if let [Ix::At(Value::Tensor(i), li)] = &idx[..]
        && i.ty.rank() >= 1
        && x.ty.rank() == i.ty.rank() + 1
    {
        if i.ty.dtype != DType::I32 {
            return Err(Diag::new(
                "type-mismatch",
                format!("a gather index must be i32, found {}", i.ty),
            )
            .label(*li, "index"));
        }
        if x.ty.shape[..i.ty.rank()] != i.ty.shape[..] {
            return Err(Diag::new(
                "shape-mismatch",
                format!("index {} does not match the leading dims of {}", i.ty, x.ty),
            )
            .label(*li, format!("this is {}", i.ty))
            .label(loc, format!("indexing {}", x.ty))
            .help(gather_help(&x.ty, &i.ty)));
        }
        let (nx, ni) = (el.node(x)?, el.node(i)?);
        let r = el.emit(Op::Gather, vec![nx, ni])?;
        return Ok(el.tval(r));
    }
    if let [Ix::Range(None, None, _), Ix::At(Value::Tensor(i), li)] = &idx[..]
        && i.ty.rank() == 1
        && x.ty.rank() >= 2
    {
        return gather_second_axis(el, x, i, *li, loc);
    }
    let taking = idx.iter().filter(|i| !matches!(i, Ix::NewAxis(_))).count();
    if taking > x.ty.rank() {
        return Err(Diag::new(
            "index",
            format!("{taking} indices for a tensor of rank {}", x.ty.rank()),
        )
        .label(loc, format!("indexing {}", x.ty)));
    }
    let mut cur = x.clone();
    let mut axis = 0;
    let idx_len = idx.len();
    for it in idx {
        match it {
            Ix::NewAxis(_) => {
                let mut s = cur.ty.shape.clone();
                s.insert(axis, 1);
                cur = reshape(el, &cur, s)?;
                axis += 1;
            }
            Ix::Range(s, e, _) => {
                let (s, e) = slice_bounds(s, e, cur.ty.shape[axis]);
                if (s, e) != (0, cur.ty.shape[axis]) {
                    let n = el.node(&cur)?;
                    let r = el.emit(
                        Op::Slice {
                            axis,
                            start: s,
                            end: e,
                        },
                        vec![n],
                    )?;
                    cur = el.tval(r);
                }
                axis += 1;
            }
            Ix::At(Value::Int(i), li) => {
                let len = cur.ty.shape[axis] as i64;
                let k = if i < 0 { len + i } else { i };
                if k < 0 || k >= len {
                    return Err(Diag::new(
                        "index",
                        format!("index {i} is out of range for an axis of length {len}"),
                    )
                    .label(li, "out of range")
                    .label(loc, format!("indexing {}", x.ty)));
                }
                let n = el.node(&cur)?;
                let r = el.emit(
                    Op::Slice {
                        axis,
                        start: k as usize,
                        end: k as usize + 1,
                    },
                    vec![n],
                )?;
                let r = el.tval(r);
                let mut s = r.ty.shape.clone();
                s.remove(axis);
                cur = reshape(el, &r, s)?;
            }
            Ix::At(Value::Tensor(t), li) if t.ty.rank() == 0 && t.ty.dtype == DType::I32 => {
                if axis != 0 {
                    return Err(Diag::new(
                        "index",
                        "a computed index must come first: `x[t]` or `x[t, …]`",
                    )
                    .label(li, "here"));
                }
                if let Some(s) = el.seq_slice(&cur, &t)? {
                    cur = s;
                } else {
                    let (nx, nt) = (el.node(&cur)?, el.node(&t)?);
                    let r = el.emit(Op::DynIndex, vec![nx, nt])?;
                    cur = el.tval(r);
                }
            }
            Ix::At(Value::Tensor(t), li) if idx_len == 1 && t.ty.rank() >= 1 => {
                return Err(Diag::new(
                    "type-mismatch",
                    format!("cannot index {} with a tensor {}", x.ty, t.ty),
                )
                .label(li, format!("this is {}", t.ty))
                .help(gather_help(&x.ty, &t.ty)));
            }
            Ix::At(Value::Tensor(t), li) if t.ty.rank() >= 1 => {
                // A tensor beside other indices: `x[:, idx]` is not a gather here.
                return Err(Diag::new(
                    "type-mismatch",
                    format!(
                        "a tensor index ({}) gathers only as `x[idx]` or `x[:, idx]`",
                        t.ty
                    ),
                )
                .label(li, format!("index {} of {}", axis, x.ty))
                .help(
                    "`x[idx]` picks along the last axis and `x[:, idx]` along the second (one \
                     i32 index per row); for an axis further in, multiply by a one-hot mask and \
                     sum that axis away; `take(x, idx)` picks whole rows",
                ));
            }
            Ix::At(v, li) => {
                return Err(
                    Diag::new("type-mismatch", format!("cannot index with {}", v.kind()))
                        .label(li, "index")
                        .help(
                            "use an int, a slice `a:b`, the loop variable of a scan, or an i32 \
                         tensor alone (`x[idx]`) to gather",
                        ),
                );
            }
        }
    }
    Ok(cur)
}

/// Creates a trainable parameter with its initial value drawn in the init graph.
/// Parameters are named `owner.name<k>`: the top-level binding that made them, the
/// `name:` given to `param` (`w`, `b`), and a counter per name (`policy.w0`, `policy.w1`).
fn param(
    el: &mut Elab,
    shape: &[usize],
    init: &str,
    scale: f64,
    pname: &str,
    call: Loc,
) -> R<Value> {
    let owner = if el.owner.is_empty() {
        "param"
    } else {
        &el.owner
    };
    let stem = format!("{owner}.{pname}");
    let k = (0..)
        .find(|k| !el.slots.iter().any(|s| s.name == format!("{stem}{k}")))
        .unwrap();
    let name = format!("{stem}{k}");
    let ty = TensorType::new(DType::F32, shape.to_vec());
    let slot = el.new_slot(&name, ty.clone(), SlotKind::Param);
    el.in_init(|el| {
        let v = match init {
            "zeros" => filled(el, DType::F32, shape, 0.0),
            "uniform" => {
                let u = random(el, Distribution::Uniform, DType::F32, shape)?;
                // scale * (2u - 1): uniform on (-scale, scale).
                let two = el.binary(
                    BinOp::Mul,
                    Value::Tensor(u),
                    Value::Float(2.0),
                    call,
                    call,
                    call,
                )?;
                let c = el.binary(BinOp::Sub, two, Value::Float(1.0), call, call, call)?;
                match el.binary(BinOp::Mul, c, Value::Float(scale), call, call, call)? {
                    Value::Tensor(t) => t,
                    _ => unreachable!(),
                }
            }
            "normal" => {
                let z = random(el, Distribution::Normal, DType::F32, shape)?;
                match el.binary(
                    BinOp::Mul,
                    Value::Tensor(z),
                    Value::Float(scale),
                    call,
                    call,
                    call,
                )? {
                    Value::Tensor(t) => t,
                    _ => unreachable!(),
                }
            }
            other => {
                return Err(
                    Diag::new("unknown-init", format!("unknown initialiser \"{other}\""))
                        .label(call, "here")
                        .help("initialisers: \"uniform\", \"normal\", \"zeros\""),
                );
            }
        };
        el.write_slot(slot, &v)
    })?;
    Ok(Value::Tensor(TVal {
        src: super::value::Src::Slot(slot),
        ty,
    }))
}

/// `environment(envs:, seed:, max_steps:, obs:, actions:, reset:, step:, observe:)`:
/// an environment whose state lives in slots, reset in the init graph.
/// The slot of each environment's last finished episode's return: NaN ("no return
/// yet") until its first episode ends, so a log of it shows nothing there rather than
/// a return of 0 no episode had.
pub fn no_return_yet(el: &mut Elab, name: &str, n: usize) -> R<crate::program::SlotId> {
    let s = el.new_slot(name, TensorType::new(DType::F32, vec![n]), SlotKind::State);
    el.slots[s.0 as usize].nan_is_missing = true;
    let nan = filled(el, DType::F32, &[n], f64::NAN);
    el.write_slot(s, &nan)?;
    Ok(s)
}

/// An environment's observation of shape `found` where it declares `[envs, obs]`
/// (`want`): reported at its declaration (`declared`), since a policy, a buffer's
/// `transitions(env)` and a batch's `obs` all take the declared width.
pub fn observation_mismatch(
    want: [usize; 2],
    found: &[usize],
    has_observe: bool,
    declared: Loc,
) -> Diag {
    let from = if has_observe {
        "`observe(state)`"
    } else {
        "the state (there is no `observe`)"
    };
    Diag::new(
        "shape-mismatch",
        format!(
            "this environment declares observations of shape {} (`envs` {}, `obs` {}), but {from} has shape {}",
            show_shape(&want),
            want[0],
            want[1],
            show_shape(found)
        ),
    )
    .label(declared, "declared here")
    .help("make `observe` return one row of `obs` numbers per environment, or declare `obs` as that width")
}

fn environment(el: &mut Elab, mut a: Args) -> R<Value> {
    let f = "environment";
    let int = |a: &mut Args, n: &str| -> R<(i64, Loc)> {
        let (v, l) = a.need(f, n)?;
        match v {
            Value::Int(i) => Ok((i, l)),
            other => Err(Diag::new(
                "type-mismatch",
                format!("`{n}` must be an int, found {}", other.kind()),
            )
            .label(l, "here")),
        }
    };
    let (envs, le) = int(&mut a, "envs")?;
    if envs < 1 {
        return Err(Diag::new(
            "bad-value",
            format!("`envs` must be at least 1, got {envs}"),
        )
        .label(le, "here"));
    }
    // A size below 1 means nothing (and would wrap as an unsigned count).
    let at_least_one = |n: &str, v: i64, l: Loc, what: &str| -> R<()> {
        if v < 1 {
            return Err(Diag::new(
                "bad-value",
                format!("`{n}` ({what}) must be at least 1, got {v}"),
            )
            .label(l, "here"));
        }
        Ok(())
    };
    let (max_steps, lm) = int(&mut a, "max_steps")?;
    at_least_one("max_steps", max_steps, lm, "the episode limit")?;
    let (obs_dim, lo) = int(&mut a, "obs")?;
    at_least_one("obs", obs_dim, lo, "the width of an observation")?;
    // Discrete environments give `actions` (a count); continuous ones `act_dim` with
    // `act_low`/`act_high` bounds. Whatever is given is visible as a field.
    let extra: Vec<(String, Value, Loc)> = ["actions", "act_dim", "act_low", "act_high"]
        .iter()
        .filter_map(|k| a.take_kw(k).map(|(v, l)| (k.to_string(), v, l)))
        .collect();
    let mut actions = 0;
    for (k, v, l) in &extra {
        let what = match k.as_str() {
            "actions" => "the number of actions",
            "act_dim" => "the width of an action",
            _ => continue,
        };
        match v {
            Value::Int(n) => at_least_one(k, *n, *l, what)?,
            v => {
                return Err(Diag::new(
                    "type-mismatch",
                    format!("`{k}` must be an int, found {}", v.kind()),
                )
                .label(*l, "here"));
            }
        }
        if let ("actions", Value::Int(n)) = (k.as_str(), v) {
            actions = *n;
        }
    }
    let extra: Vec<(String, Value)> = extra.into_iter().map(|(k, v, _)| (k, v)).collect();
    let (reset, _) = a.need(f, "reset")?;
    let (step, _) = a.need(f, "step")?;
    let observe = a.take_kw("observe").map(|x| x.0);
    let call = a.call;
    a.done(
        f,
        &[
            "envs",
            "max_steps",
            "obs",
            "actions",
            "reset",
            "step",
            "observe",
        ],
    )?;
    let n = envs as usize;
    let owner = if el.owner.is_empty() {
        "env".to_string()
    } else {
        el.owner.clone()
    };
    // The first state comes from `reset(n)` in the init graph.
    let (state, ep_len, ep_return, last_return, last_length) = el
        .in_init(|el| {
            let s0 = el.call(
                reset.clone(),
                Args {
                    pos: vec![(Value::Int(envs), call)],
                    kw: vec![],
                    call,
                },
                call,
            )?;
            let s0 = el.to_tensor(&s0, call, None)?;
            let state = el.new_slot(&format!("{owner}.state"), s0.ty.clone(), SlotKind::State);
            el.write_slot(state, &s0)?;
            let mk = |el: &mut Elab, name: &str, d: DType| -> R<crate::program::SlotId> {
                let s = el.new_slot(
                    &format!("{owner}.{name}"),
                    TensorType::new(d, vec![n]),
                    SlotKind::State,
                );
                let z = filled(el, d, &[n], 0.0);
                el.write_slot(s, &z)?;
                Ok(s)
            };
            Ok((
                mk(el, "episode_length_so_far", DType::I32)?,
                mk(el, "episode_return_so_far", DType::F32)?,
                no_return_yet(el, &format!("{owner}.episode_return"), n)?,
                mk(el, "episode_length", DType::I32)?,
            ))
        })
        .map(|(a, b, c, d)| {
            (
                el.slots
                    .iter()
                    .position(|s| s.name == format!("{owner}.state"))
                    .map(|i| crate::program::SlotId(i as u32))
                    .unwrap(),
                a,
                b,
                c,
                d,
            )
        })?;
    let slot_val = |el: &Elab, s: crate::program::SlotId| {
        Value::Tensor(TVal {
            src: super::value::Src::Slot(s),
            ty: el.slots[s.0 as usize].ty.clone(),
        })
    };
    let fields = vec![
        ("envs".to_string(), Value::Int(envs)),
        ("obs".to_string(), Value::Int(obs_dim)),
        ("max_steps".to_string(), Value::Int(max_steps)),
        ("state".to_string(), slot_val(el, state)),
        ("episode_return".to_string(), slot_val(el, last_return)),
        ("episode_length".to_string(), slot_val(el, last_length)),
    ];
    let mut fields = fields;
    fields.extend(extra);
    fields.extend(action_space_fields(&fields));
    Ok(Value::Env(Rc::new(EnvDef {
        envs: n,
        obs_dim: obs_dim as usize,
        actions: actions as usize,
        max_steps,
        reset,
        step,
        observe,
        call,
        state,
        ep_len,
        ep_return,
        last_return,
        last_length,
        fields,
    })))
}

/// The longest list `range` builds: a compile-time list (and a `for` loop over it is
/// unrolled), so a longer one is a mistake that would exhaust memory while compiling.
const MAX_RANGE: i64 = 1_000_000;
