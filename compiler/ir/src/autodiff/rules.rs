//! The adjoint rules: one arm per op, in one place.
//!
//! [`adjoint`] matches every op with no wildcard, so a new op does not compile until it
//! has a rule (and the gradient tests check that every op is exercised). A rule
//! receives the node's cotangent `dy` and, per argument, whether that argument needs a
//! gradient; it builds only what is needed and returns one optional contribution per
//! argument. The conventions the rules follow are listed in the parent module's docs.

use super::{AutodiffError, Cotangent, scan};
use crate::graph::{BinaryOp, Graph, NodeId, Op, ReduceOp, TensorType, Type, UnaryOp};
use crate::types::TypeError;
use rlp_runtime::DType;

/// The contributions of node `id`, whose cotangent is `cot`, to each of its arguments.
pub(super) fn adjoint(
    g: &mut Graph,
    id: NodeId,
    cot: &Cotangent,
    needs: &[bool],
) -> Result<Vec<Option<Cotangent>>, AutodiffError> {
    let node = g.node(id);
    let (op, args) = (node.op.clone(), node.args.clone());
    if let Op::Scan(_) = op {
        let Cotangent::Tuple(dys) = cot else {
            unreachable!("a scan's cotangent is a tuple")
        };
        return Ok(tensors(scan::adjoint(g, id, dys, needs)?));
    }
    let dy = cot.tensor();
    let shape = |g: &Graph, i: usize| g.ty(args[i]).shape.clone();
    let grads = match op {
        // Leaves, integer results or integer arguments, and the gradient barrier.
        Op::Input(_)
        | Op::Const(_)
        | Op::Literal(_)
        | Op::Iota { .. }
        | Op::Random { .. }
        | Op::OneHot { .. }
        | Op::ArgMax { .. }
        | Op::SearchSorted
        | Op::TopK { .. }
        | Op::StopGradient => vec![None; args.len()],
        Op::Unary(u) => vec![unary(g, u, args[0], id, dy)?],
        Op::Binary(b) => binary(g, b, args[0], args[1], id, dy, needs)?,
        Op::Select => {
            let zero = zeros_like(g, dy)?;
            let a = needs[1].then(|| g.select(args[0], dy, zero)).transpose()?;
            let b = needs[2].then(|| g.select(args[0], zero, dy)).transpose()?;
            vec![None, a, b]
        }
        Op::Cast => vec![Some(g.cast(dy, g.ty(args[0]).dtype)?)],
        Op::Broadcast => vec![Some(unbroadcast(g, dy, &shape(g, 0))?)],
        Op::Reshape => vec![Some(g.reshape(dy, &shape(g, 0))?)],
        Op::Transpose(perm) => {
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            vec![Some(g.transpose(dy, inverse)?)]
        }
        Op::Reduce {
            op: ReduceOp::Sum,
            axes,
        } => vec![Some(expand(g, dy, &axes, &shape(g, 0))?)],
        Op::Reduce {
            op: ReduceOp::Max | ReduceOp::Min,
            axes,
        } => vec![Some(reduce_choice(g, args[0], id, dy, &axes)?)],
        Op::MatMul => {
            let (a, b) = (args[0], args[1]);
            // Each product's own transposes: swap the last two axes.
            let swap = if shape(g, 0).len() == 3 {
                vec![0, 2, 1]
            } else {
                vec![1, 0]
            };
            let da = needs[0]
                .then(|| {
                    g.transpose(b, swap.clone())
                        .and_then(|bt| g.add(Op::MatMul, vec![dy, bt]))
                })
                .transpose()?;
            let db = needs[1]
                .then(|| {
                    g.transpose(a, swap)
                        .and_then(|at| g.add(Op::MatMul, vec![at, dy]))
                })
                .transpose()?;
            vec![da, db]
        }
        Op::Slice { axis, start, end } => {
            vec![Some(g.pad(dy, axis, start, shape(g, 0)[axis] - end)?)]
        }
        Op::Pad { axis, before, .. } => vec![Some(g.slice(
            dy,
            axis,
            before,
            before + shape(g, 0)[axis],
        )?)],
        Op::Concat { axis } => {
            let mut start = 0;
            let mut grads = Vec::with_capacity(args.len());
            for (&a, &need) in args.iter().zip(needs) {
                let end = start + g.ty(a).shape[axis];
                grads.push(need.then(|| g.slice(dy, axis, start, end)).transpose()?);
                start = end;
            }
            grads
        }
        Op::Gather => vec![Some(gather(g, args[0], args[1], dy)?), None],
        Op::TakeRows => {
            let zero = zeros_like(g, args[0])?;
            let dx = g.add(Op::PutRows { accumulate: true }, vec![zero, args[1], dy])?;
            vec![Some(dx), None]
        }
        Op::PutRows { accumulate } => {
            let (idx, rows) = (args[1], args[2]);
            let dx = if accumulate || !needs[0] {
                needs[0].then_some(dy)
            } else {
                let zero = zeros_like(g, rows)?;
                Some(g.add(Op::PutRows { accumulate }, vec![dy, idx, zero])?)
            };
            let drows = needs[2]
                .then(|| put_rows_source(g, accumulate, dy, idx))
                .transpose()?;
            vec![dx, None, drows]
        }
        Op::CumSum { reverse } => vec![Some(g.add(Op::CumSum { reverse: !reverse }, vec![dy])?)],
        Op::DynIndex => vec![Some(dyn_index(g, args[0], args[1], dy)?), None],
        Op::Project(k) => {
            let Type::Tuple(elements) = &g.node(args[0]).ty else {
                unreachable!("project reads a tuple")
            };
            let mut slots = vec![None; elements.len()];
            slots[k] = Some(dy);
            return Ok(vec![Some(Cotangent::Tuple(slots))]);
        }
        Op::Scan(_) => unreachable!("handled above"),
    };
    Ok(tensors(grads))
}

fn tensors(grads: Vec<Option<NodeId>>) -> Vec<Option<Cotangent>> {
    grads
        .into_iter()
        .map(|d| d.map(Cotangent::Tensor))
        .collect()
}

fn zeros_like(g: &mut Graph, x: NodeId) -> Result<NodeId, TypeError> {
    let ty = g.ty(x).clone();
    g.full(&ty, 0.0)
}

/// `x`'s gradient for `y = op(x)`.
fn unary(
    g: &mut Graph,
    op: UnaryOp,
    x: NodeId,
    y: NodeId,
    dy: NodeId,
) -> Result<Option<NodeId>, TypeError> {
    use BinaryOp::{Add, Mul, Sub};
    let d = match op {
        UnaryOp::Neg => g.unary(UnaryOp::Neg, dy)?,
        UnaryOp::Exp => g.binary(Mul, dy, y)?,
        UnaryOp::Log => g.binary(BinaryOp::Div, dy, x)?,
        UnaryOp::Sqrt => {
            let two_y = g.binary(Add, y, y)?;
            g.binary(BinaryOp::Div, dy, two_y)?
        }
        UnaryOp::Tanh => {
            let y2 = g.binary(Mul, y, y)?;
            let ty = g.ty(y).clone();
            let one = g.full(&ty, 1.0)?;
            let slope = g.binary(Sub, one, y2)?;
            g.binary(Mul, dy, slope)?
        }
        UnaryOp::Sin => {
            let cos = g.unary(UnaryOp::Cos, x)?;
            g.binary(Mul, dy, cos)?
        }
        UnaryOp::Cos => {
            let sin = g.unary(UnaryOp::Sin, x)?;
            let d = g.binary(Mul, dy, sin)?;
            g.unary(UnaryOp::Neg, d)?
        }
        UnaryOp::Abs => {
            let sign = g.unary(UnaryOp::Sign, x)?;
            g.binary(Mul, dy, sign)?
        }
        UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Not => return Ok(None),
    };
    Ok(Some(d))
}

/// The gradients of `a` and `b` for `y = a op b`, each built only if needed.
fn binary(
    g: &mut Graph,
    op: BinaryOp,
    a: NodeId,
    b: NodeId,
    y: NodeId,
    dy: NodeId,
    needs: &[bool],
) -> Result<Vec<Option<NodeId>>, TypeError> {
    use BinaryOp::*;
    let (da, db) = match op {
        Add => (Some(dy), Some(dy)),
        Sub => (
            Some(dy),
            needs[1].then(|| g.unary(UnaryOp::Neg, dy)).transpose()?,
        ),
        Mul => (
            needs[0].then(|| g.binary(Mul, dy, b)).transpose()?,
            needs[1].then(|| g.binary(Mul, dy, a)).transpose()?,
        ),
        Div => {
            // d(a/b)/db = -a/b² = -(1/b)·y, so both share dy/b.
            let dy_b = g.binary(Div, dy, b)?;
            let db = needs[1]
                .then(|| {
                    g.binary(Mul, dy_b, y)
                        .and_then(|d| g.unary(UnaryOp::Neg, d))
                })
                .transpose()?;
            (Some(dy_b), db)
        }
        Rem => {
            // y = a - floor(a/b)·b, with floor(a/b) piecewise constant.
            let db = needs[1]
                .then(|| {
                    let q = g.binary(Div, a, b)?;
                    let q = g.unary(UnaryOp::Floor, q)?;
                    let d = g.binary(Mul, dy, q)?;
                    g.unary(UnaryOp::Neg, d)
                })
                .transpose()?;
            (Some(dy), db)
        }
        Pow => (
            needs[0].then(|| pow_base(g, a, b, dy)).transpose()?,
            needs[1].then(|| pow_exponent(g, a, y, dy)).transpose()?,
        ),
        Max | Min => {
            let picks_a = g.binary(if op == Max { Ge } else { Le }, a, b)?;
            let zero = zeros_like(g, dy)?;
            (
                needs[0].then(|| g.select(picks_a, dy, zero)).transpose()?,
                needs[1].then(|| g.select(picks_a, zero, dy)).transpose()?,
            )
        }
        Atan2 => {
            // atan2(a, b): d/da = b / (a² + b²), d/db = -a / (a² + b²).
            let a2 = g.binary(Mul, a, a)?;
            let b2 = g.binary(Mul, b, b)?;
            let r2 = g.binary(Add, a2, b2)?;
            let dy_r2 = g.binary(Div, dy, r2)?;
            (
                needs[0].then(|| g.binary(Mul, dy_r2, b)).transpose()?,
                needs[1]
                    .then(|| {
                        g.binary(Mul, dy_r2, a)
                            .and_then(|d| g.unary(UnaryOp::Neg, d))
                    })
                    .transpose()?,
            )
        }
        Lt | Le | Gt | Ge | Eq | Ne | And | Or => (None, None),
    };
    Ok(vec![da.filter(|_| needs[0]), db.filter(|_| needs[1])])
}

/// `dy · b · a^(b-1)`.
fn pow_base(g: &mut Graph, a: NodeId, b: NodeId, dy: NodeId) -> Result<NodeId, TypeError> {
    let b1 = g.binary_scalar(BinaryOp::Sub, b, 1.0)?;
    let p = g.binary(BinaryOp::Pow, a, b1)?;
    let slope = g.binary(BinaryOp::Mul, b, p)?;
    g.binary(BinaryOp::Mul, dy, slope)
}

/// `dy · y · ln(a)`, and 0 where `a == 0` (where `y · ln(a)` would be `0 · -inf`).
fn pow_exponent(g: &mut Graph, a: NodeId, y: NodeId, dy: NodeId) -> Result<NodeId, TypeError> {
    let ln = g.unary(UnaryOp::Log, a)?;
    let slope = g.binary(BinaryOp::Mul, y, ln)?;
    let d = g.binary(BinaryOp::Mul, dy, slope)?;
    let zero = zeros_like(g, a)?;
    let at_zero = g.binary(BinaryOp::Eq, a, zero)?;
    g.select(at_zero, zero, d)
}

/// Sums `dy` over the axes a broadcast to `dy`'s shape created or stretched, giving
/// the broadcast argument's `shape`.
fn unbroadcast(g: &mut Graph, dy: NodeId, shape: &[usize]) -> Result<NodeId, TypeError> {
    let out = g.ty(dy).shape.clone();
    let lead = out.len() - shape.len();
    let axes: Vec<usize> = (0..out.len())
        .filter(|&i| i < lead || (shape[i - lead] == 1 && out[i] != 1))
        .collect();
    let summed = if axes.is_empty() {
        dy
    } else {
        g.reduce(ReduceOp::Sum, dy, axes)?
    };
    g.reshape(summed, shape)
}

/// `dy`, the result of reducing over `axes`, broadcast back to the reduced `shape`
/// (reshaped first to keep the reduced axes as 1s, unless they are leading axes, which
/// broadcasting adds by itself).
fn expand(g: &mut Graph, dy: NodeId, axes: &[usize], shape: &[usize]) -> Result<NodeId, TypeError> {
    let leading = axes.iter().enumerate().all(|(i, &a)| i == a);
    let r = if leading {
        dy
    } else {
        let kept: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect();
        g.reshape(dy, &kept)?
    };
    g.broadcast(r, shape)
}

/// The gradient of `y = reduce_max/min(x)`: `dy` shared evenly between the positions
/// of `x` equal to `y`.
fn reduce_choice(
    g: &mut Graph,
    x: NodeId,
    y: NodeId,
    dy: NodeId,
    axes: &[usize],
) -> Result<NodeId, TypeError> {
    let ty = g.ty(x).clone();
    let yb = expand(g, y, axes, &ty.shape)?;
    let chosen = g.binary(BinaryOp::Eq, x, yb)?;
    let ones = g.cast(chosen, ty.dtype)?;
    let count = g.reduce(ReduceOp::Sum, ones, axes.to_vec())?;
    let share = g.binary(BinaryOp::Div, dy, count)?;
    let share = expand(g, share, axes, &ty.shape)?;
    let zero = g.full(&ty, 0.0)?;
    g.select(chosen, share, zero)
}

/// The gradient of `y = gather(x, idx)`: `dy[s]` at `[s, idx[s]]`, zero elsewhere.
fn gather(g: &mut Graph, x: NodeId, idx: NodeId, dy: NodeId) -> Result<NodeId, TypeError> {
    let ty = g.ty(x).clone();
    let depth = ty.shape[ty.rank() - 1];
    // A one-hot row is zero for an index out of range, and when only the gradient is
    // wanted the forward gather (and its range check) may be dead: the index first
    // passes through a gather of zeros of `x`'s shape, which checks it as the forward
    // gather would and adds nothing.
    let zeros = g.full(&TensorType::new(DType::I32, ty.shape.clone()), 0.0)?;
    let checked = g.add(Op::Gather, vec![zeros, idx])?;
    let idx = g.binary(BinaryOp::Add, idx, checked)?;
    let hot = g.one_hot(idx, depth, DType::I32)?;
    let chosen = g.cast(hot, DType::Bool)?;
    let mut column = g.ty(dy).shape.clone();
    column.push(1);
    let dy = g.reshape(dy, &column)?;
    let dy = g.broadcast(dy, &ty.shape)?;
    let zero = g.full(&ty, 0.0)?;
    g.select(chosen, dy, zero)
}

/// The gradient of the written rows of `y = put_rows(x, idx, rows)`: the rows of `dy` they
/// landed in. A row a later write overwrote reached nothing, so it gets zero: row `m`
/// survived when the last `m'` writing to row `idx[m]` is `m` itself.
fn put_rows_source(
    g: &mut Graph,
    accumulate: bool,
    dy: NodeId,
    idx: NodeId,
) -> Result<NodeId, TypeError> {
    let picked = g.add(Op::TakeRows, vec![dy, idx])?;
    if accumulate {
        return Ok(picked);
    }
    let shape = g.ty(picked).shape.clone();
    let m = shape[0];
    let b = g.ty(dy).shape[0];
    let order = g.iota(&[m], 0)?;
    let nobody = g.full(&TensorType::new(DType::I32, vec![b]), -1.0)?;
    let writer = g.add(Op::PutRows { accumulate }, vec![nobody, idx, order])?;
    let last = g.add(Op::TakeRows, vec![writer, idx])?;
    let survived = g.binary(BinaryOp::Eq, last, order)?;
    let mut column = vec![1; shape.len()];
    column[0] = m;
    let survived = g.reshape(survived, &column)?;
    let survived = g.broadcast(survived, &shape)?;
    let zero = zeros_like(g, picked)?;
    g.select(survived, picked, zero)
}

/// The gradient of `y = x[t]`: `dy` in row `t`, zero elsewhere.
fn dyn_index(g: &mut Graph, x: NodeId, t: NodeId, dy: NodeId) -> Result<NodeId, TypeError> {
    let ty = g.ty(x).clone();
    let rows = g.iota(&ty.shape, 0)?;
    let t = g.broadcast(t, &ty.shape)?;
    let chosen = g.binary(BinaryOp::Eq, rows, t)?;
    let mut row = g.ty(dy).shape.clone();
    row.insert(0, 1);
    let dy = g.reshape(dy, &row)?;
    let dy = g.broadcast(dy, &ty.shape)?;
    let zero = g.full(&ty, 0.0)?;
    g.select(chosen, dy, zero)
}
