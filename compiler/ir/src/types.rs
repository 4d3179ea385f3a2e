//! Type inference for IR ops: the single definition of what each op accepts and
//! returns. The builder uses it to type new nodes, the verifier to check old ones.

use crate::graph::{BinaryOp, Graph, NodeId, Op, TensorType, Type, UnaryOp};
use rlp_runtime::DType;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{op}: {message}")]
pub struct TypeError {
    pub op: &'static str,
    pub message: String,
}

fn err<T>(op: &Op, message: impl Into<String>) -> Result<T, TypeError> {
    Err(TypeError {
        op: op.name(),
        message: message.into(),
    })
}

/// Numpy broadcasting of `from` to `to`: right-aligned, each dim 1 or equal.
pub fn broadcastable(from: &[usize], to: &[usize]) -> bool {
    from.len() <= to.len()
        && from
            .iter()
            .rev()
            .zip(to.iter().rev())
            .all(|(&f, &t)| f == t || f == 1)
}

/// The broadcast shape of two shapes, if they are compatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let db = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// The type of `op` applied to `args` in `g`. Ops whose result type is a parameter of
/// the op (see [`Graph::add_typed`]) are rejected here; [`check_typed`] checks them.
pub fn infer(g: &Graph, op: &Op, args: &[NodeId]) -> Result<Type, TypeError> {
    let arg = |i: usize| -> Result<&TensorType, TypeError> {
        let id = *args.get(i).ok_or_else(|| TypeError {
            op: op.name(),
            message: format!("missing argument {i}"),
        })?;
        g.nodes
            .get(id.index())
            .and_then(|n| n.ty.as_tensor())
            .ok_or_else(|| TypeError {
                op: op.name(),
                message: format!("argument {i} ({id}) is not a tensor node"),
            })
    };
    let arity = |n: usize| -> Result<(), TypeError> {
        if args.len() == n {
            Ok(())
        } else {
            err(op, format!("takes {n} arguments, got {}", args.len()))
        }
    };
    let t = match op {
        Op::Input(_)
        | Op::Const(_)
        | Op::Literal(_)
        | Op::Cast
        | Op::Broadcast
        | Op::Reshape
        | Op::Iota { .. }
        | Op::Random { .. }
        | Op::OneHot { .. } => return err(op, "result type must be given (add_typed)"),
        Op::Unary(u) => {
            arity(1)?;
            let a = arg(0)?;
            match u {
                UnaryOp::Not if a.dtype != DType::Bool => return err(op, "needs bool"),
                UnaryOp::Not => {}
                UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign if a.dtype == DType::I32 => {}
                _ if !a.dtype.is_float() => {
                    return err(op, format!("needs a float, got {}", a.dtype));
                }
                _ => {}
            }
            a.clone()
        }
        Op::Binary(b) => {
            arity(2)?;
            let (x, y) = (arg(0)?, arg(1)?);
            if x != y {
                return err(op, format!("operands differ: {x} and {y}"));
            }
            if b.is_logical() {
                if x.dtype != DType::Bool {
                    return err(op, "needs bool operands");
                }
                x.clone()
            } else if b.is_comparison() {
                if x.dtype == DType::Bool && !matches!(b, BinaryOp::Eq | BinaryOp::Ne) {
                    return err(op, "cannot order bools");
                }
                TensorType::new(DType::Bool, x.shape.clone())
            } else {
                if x.dtype == DType::Bool {
                    return err(op, "arithmetic on bool");
                }
                if matches!(b, BinaryOp::Pow | BinaryOp::Atan2) && !x.dtype.is_float() {
                    return err(op, "needs floats");
                }
                x.clone()
            }
        }
        Op::Select => {
            arity(3)?;
            let (c, a, b) = (arg(0)?, arg(1)?, arg(2)?);
            if c.dtype != DType::Bool || c.shape != a.shape || a != b {
                return err(op, format!("select({c}, {a}, {b})"));
            }
            a.clone()
        }
        Op::Transpose(perm) => {
            arity(1)?;
            let a = arg(0)?;
            let mut seen = vec![false; a.rank()];
            if perm.len() != a.rank()
                || perm
                    .iter()
                    .any(|&p| p >= a.rank() || std::mem::replace(&mut seen[p], true))
            {
                return err(op, format!("bad permutation {perm:?} for {a}"));
            }
            TensorType::new(
                a.dtype,
                perm.iter().map(|&p| a.shape[p]).collect::<Vec<_>>(),
            )
        }
        Op::Reduce { axes, .. } => {
            arity(1)?;
            let a = arg(0)?;
            if a.dtype == DType::Bool
                || axes.windows(2).any(|w| w[0] >= w[1])
                || axes.iter().any(|&x| x >= a.rank())
            {
                return err(op, format!("bad axes {axes:?} for {a}"));
            }
            let shape = a
                .shape
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &d)| d);
            TensorType::new(a.dtype, shape.collect::<Vec<_>>())
        }
        Op::ArgMax { axis } => {
            arity(1)?;
            let a = arg(0)?;
            if *axis >= a.rank() || a.shape[*axis] == 0 || a.dtype == DType::Bool {
                return err(op, format!("bad axis {axis} for {a}"));
            }
            let mut s = a.shape.clone();
            s.remove(*axis);
            TensorType::new(DType::I32, s)
        }
        Op::MatMul => {
            arity(2)?;
            let (a, b) = (arg(0)?, arg(1)?);
            let r = a.rank();
            if !(r == 2 || r == 3)
                || b.rank() != r
                || a.shape[..r - 2] != b.shape[..r - 2]
                || a.shape[r - 1] != b.shape[r - 2]
                || a.dtype != b.dtype
                || !a.dtype.is_float()
            {
                return err(op, format!("{a} @ {b}"));
            }
            let mut s = a.shape[..r - 1].to_vec();
            s.push(b.shape[r - 1]);
            TensorType::new(a.dtype, s)
        }
        Op::Slice { axis, start, end } => {
            arity(1)?;
            let a = arg(0)?;
            if *axis >= a.rank() || start > end || *end > a.shape[*axis] {
                return err(op, format!("slice {start}..{end} of axis {axis} of {a}"));
            }
            let mut s = a.shape.clone();
            s[*axis] = end - start;
            TensorType::new(a.dtype, s)
        }
        Op::Pad {
            axis,
            before,
            after,
        } => {
            arity(1)?;
            let a = arg(0)?;
            if *axis >= a.rank() {
                return err(op, format!("axis {axis} of {a}"));
            }
            let mut s = a.shape.clone();
            s[*axis] += before + after;
            TensorType::new(a.dtype, s)
        }
        Op::Concat { axis } => {
            if args.is_empty() {
                return err(op, "needs at least one argument");
            }
            let first = arg(0)?.clone();
            if *axis >= first.rank() {
                return err(op, format!("axis {axis} of {first}"));
            }
            let mut s = first.shape.clone();
            s[*axis] = 0;
            for i in 0..args.len() {
                let a = arg(i)?;
                let same = a.dtype == first.dtype
                    && a.rank() == first.rank()
                    && (0..a.rank()).all(|d| d == *axis || a.shape[d] == first.shape[d]);
                if !same {
                    return err(
                        op,
                        format!("{a} does not concatenate with {first} along {axis}"),
                    );
                }
                s[*axis] += a.shape[*axis];
            }
            TensorType::new(first.dtype, s)
        }
        Op::Gather => {
            arity(2)?;
            let (x, i) = (arg(0)?, arg(1)?);
            if i.dtype != DType::I32
                || x.rank() != i.rank() + 1
                || x.shape[..i.rank()] != i.shape[..]
            {
                return err(op, format!("gather({x}, {i})"));
            }
            TensorType::new(x.dtype, i.shape.clone())
        }
        Op::TakeRows => {
            arity(2)?;
            let (x, i) = (arg(0)?, arg(1)?);
            if i.dtype != DType::I32 || i.rank() != 1 || x.rank() == 0 {
                return err(op, format!("take_rows({x}, {i})"));
            }
            let mut s = x.shape.clone();
            s[0] = i.shape[0];
            TensorType::new(x.dtype, s)
        }
        Op::PutRows { accumulate } => {
            arity(3)?;
            let (x, i, r) = (arg(0)?, arg(1)?, arg(2)?);
            let fits = i.dtype == DType::I32
                && i.rank() == 1
                && x.rank() >= 1
                && r.dtype == x.dtype
                && r.rank() == x.rank()
                && r.shape[0] == i.shape[0]
                && r.shape[1..] == x.shape[1..]
                && !(*accumulate && x.dtype == DType::Bool);
            if !fits {
                return err(op, format!("{}({x}, {i}, {r})", op.name()));
            }
            x.clone()
        }
        Op::CumSum { .. } => {
            arity(1)?;
            let x = arg(0)?;
            if x.rank() == 0 || !x.dtype.is_float() && x.dtype != DType::I32 {
                return err(op, format!("cumsum({x})"));
            }
            x.clone()
        }
        Op::SearchSorted => {
            arity(2)?;
            let (s, v) = (arg(0)?, arg(1)?);
            let r = s.rank();
            if r == 0
                || v.rank() != r
                || s.dtype != v.dtype
                || s.dtype == DType::Bool
                || s.shape[..r - 1] != v.shape[..r - 1]
            {
                return err(op, format!("search_sorted({s}, {v})"));
            }
            TensorType::new(DType::I32, v.shape.clone())
        }
        Op::TopK { k } => {
            arity(1)?;
            let x = arg(0)?;
            if x.rank() == 0 || x.dtype == DType::Bool || *k > x.shape[x.rank() - 1] {
                return err(op, format!("top_k({x}, {k})"));
            }
            let mut s = x.shape.clone();
            *s.last_mut().expect("rank checked") = *k;
            TensorType::new(DType::I32, s)
        }
        Op::DynIndex => {
            arity(2)?;
            let (x, t) = (arg(0)?, arg(1)?);
            if x.rank() == 0 || t.dtype != DType::I32 || t.rank() != 0 {
                return err(op, format!("dyn_index({x}, {t})"));
            }
            TensorType::new(x.dtype, x.shape[1..].to_vec())
        }
        Op::StopGradient => {
            arity(1)?;
            arg(0)?.clone()
        }
        Op::Scan(scan) => return infer_scan(g, op, scan, args),
        Op::Project(k) => {
            arity(1)?;
            match g.nodes.get(args[0].index()).map(|n| &n.ty) {
                Some(Type::Tuple(ts)) if *k < ts.len() => ts[*k].clone(),
                _ => return err(op, format!("project {k} of a non-tuple or short tuple")),
            }
        }
    };
    Ok(Type::Tensor(t))
}

fn infer_scan(
    g: &Graph,
    op: &Op,
    scan: &crate::graph::Scan,
    args: &[NodeId],
) -> Result<Type, TypeError> {
    let b = &scan.body;
    let n_inv = args
        .len()
        .checked_sub(scan.n_carry + scan.n_seq)
        .ok_or_else(|| TypeError {
            op: "scan",
            message: "fewer arguments than carries + sequences".into(),
        })?;
    if b.inputs.len() != scan.n_carry + scan.n_seq + n_inv + 1 {
        return err(
            op,
            format!(
                "body takes {} inputs, expected {}",
                b.inputs.len(),
                args.len() + 1
            ),
        );
    }
    if b.outputs.len() < scan.n_carry {
        return err(op, "body returns fewer outputs than carries");
    }
    let mut out = Vec::new();
    for (i, &a) in args.iter().enumerate() {
        let at = g
            .nodes
            .get(a.index())
            .and_then(|n| n.ty.as_tensor())
            .ok_or_else(|| TypeError {
                op: "scan",
                message: format!("argument {i} is not a tensor"),
            })?;
        let expect = if i >= scan.n_carry && i < scan.n_carry + scan.n_seq {
            if at.rank() == 0 || at.shape[0] != scan.length {
                return err(
                    op,
                    format!("sequence {at} does not have length {}", scan.length),
                );
            }
            TensorType::new(at.dtype, at.shape[1..].to_vec())
        } else {
            at.clone()
        };
        if b.inputs[i] != expect {
            return err(
                op,
                format!(
                    "body input {i} is {} but the argument gives {expect}",
                    b.inputs[i]
                ),
            );
        }
    }
    if b.inputs.last() != Some(&TensorType::scalar(DType::I32)) {
        return err(op, "the last body input must be the i32 step index");
    }
    for (i, &o) in b.outputs.iter().enumerate() {
        let ot = b.ty(o);
        if i < scan.n_carry {
            if *ot != b.inputs[i] {
                return err(
                    op,
                    format!("carry {i} enters as {} but leaves as {ot}", b.inputs[i]),
                );
            }
            out.push(ot.clone());
        } else {
            let mut s = vec![scan.length];
            s.extend_from_slice(&ot.shape);
            out.push(TensorType::new(ot.dtype, s));
        }
    }
    Ok(Type::Tuple(out))
}

/// Checks a node whose type is a parameter of its op.
pub fn check_typed(g: &Graph, op: &Op, args: &[NodeId], ty: &TensorType) -> Result<(), TypeError> {
    let arg = |i: usize| {
        g.nodes
            .get(args.get(i)?.index())
            .and_then(|n| n.ty.as_tensor())
    };
    let ok = match op {
        Op::Input(k) => args.is_empty() && g.inputs.get(*k) == Some(ty),
        Op::Const(_) => args.is_empty() && ty.rank() == 0,
        Op::Literal(v) => args.is_empty() && v.len() == ty.numel(),
        Op::Cast => args.len() == 1 && arg(0).is_some_and(|a| a.shape == ty.shape),
        Op::Broadcast => {
            args.len() == 1
                && arg(0).is_some_and(|a| a.dtype == ty.dtype && broadcastable(&a.shape, &ty.shape))
        }
        Op::Reshape => {
            args.len() == 1
                && arg(0).is_some_and(|a| a.dtype == ty.dtype && a.numel() == ty.numel())
        }
        Op::Iota { axis } => args.is_empty() && ty.dtype == DType::I32 && *axis < ty.rank(),
        Op::Random { .. } => {
            ty.dtype.is_float()
                && args.len() == 2
                && (0..2).all(|i| arg(i).is_some_and(|a| a.dtype == DType::I32 && a.rank() == 0))
        }
        Op::OneHot { depth } => {
            args.len() == 1
                && arg(0).is_some_and(|a| {
                    a.dtype == DType::I32
                        && ty.shape.len() == a.rank() + 1
                        && ty.shape[..a.rank()] == a.shape[..]
                        && ty.shape[a.rank()] == *depth
                })
                && ty.dtype != DType::Bool
        }
        _ => {
            return match infer(g, op, args)? {
                Type::Tensor(t) if t == *ty => Ok(()),
                other => err(op, format!("node says {ty}, op gives {other:?}")),
            };
        }
    };
    if ok {
        Ok(())
    } else {
        err(op, format!("arguments do not fit the result type {ty}"))
    }
}
