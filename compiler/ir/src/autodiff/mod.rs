//! Reverse-mode automatic differentiation, IR → IR.
//!
//! [`grad`] appends to a graph the nodes that compute the gradient of a scalar loss;
//! [`vjp`] is the general form (a vector–Jacobian product from given output
//! cotangents), which the scan rule also uses to differentiate scan bodies.
//!
//! The pass works in three steps:
//! 1. **activity**: a node is *active* when it lies on a path from a `wrt` node to a
//!    seeded output along float values (integer and bool values carry no gradient, and
//!    `stop` cuts the path). Only active nodes get cotangents, so a gradient never
//!    contains zeros for values that cannot matter;
//! 2. **sweep**: nodes are visited in reverse order; each active node with a cotangent
//!    hands contributions to its active arguments through its adjoint rule (`rules.rs`:
//!    one function, one arm per op). Fan-out accumulates with `add`;
//! 3. the cotangents of the `wrt` nodes are the result.
//!
//! Scans are differentiated by a scan running the other way over the body's VJP
//! (`scan.rs`); the forward scan is extended in place to also return its per-step
//! carries.
//!
//! # Conventions of the rules
//! - ops that are constant almost everywhere (`sign`, `floor`, comparisons, casts to
//!   int, `argmax`) and ops with no float inputs (`iota`, `random`, `one_hot`) give no
//!   gradient; `stop` gives none by definition; the index arguments of `gather` and
//!   `dyn_index` have none;
//! - `max`/`min` send the gradient to the operand the forward op picked, the first on
//!   ties (the forward op also returns the first on ties);
//! - `reduce_max`/`reduce_min` split the gradient evenly between all positions equal to
//!   the result;
//! - masking always uses `select` with zeros, never a multiplication by a 0/1 mask, so
//!   an inf or NaN in a position that was not chosen cannot leak into the gradient
//!   (`0 · NaN = NaN`). A rule whose local derivative is itself NaN (`sqrt` below zero)
//!   still gives NaN: select the *input* (`sqrt(select(c, x, 1))`), not just the output;
//! - `abs` has gradient `sign(x)`, so 0 at 0; `pow` w.r.t. its exponent is 0 where the
//!   base is 0;
//! - every node appended carries the source span of the forward node it differentiates.

mod rules;
mod scan;

use crate::graph::{BinaryOp, Graph, NodeId, Op, TensorType, Type};
use crate::types::TypeError;
use crate::verify::{VerifyError, verify};

/// Why a gradient could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AutodiffError {
    #[error("the graph is invalid: {0}")]
    Invalid(#[from] VerifyError),
    #[error("{0} is not a node of the graph")]
    NoSuchNode(NodeId),
    #[error("the loss {node} must be a float scalar, but it is {ty}")]
    LossNotScalar { node: NodeId, ty: Type },
    #[error("cannot differentiate with respect to {node}: it is {ty}, not a float tensor")]
    NotFloat { node: NodeId, ty: Type },
    #[error("the cotangent {cotangent} of {node} is {got}, but {node} is {want}")]
    CotangentType {
        node: NodeId,
        cotangent: NodeId,
        got: Type,
        want: Type,
    },
    /// An adjoint rule built an ill-typed node: a bug in this module.
    #[error("internal error: an adjoint rule built an ill-typed node: {0}")]
    IllTyped(#[from] TypeError),
}

/// Appends to `g` the gradient of `loss` (a float scalar) with respect to each `wrt`
/// node: for each, a node of the same type holding `d loss / d wrt` (zeros when `loss`
/// does not depend on it).
pub fn grad(g: &mut Graph, loss: NodeId, wrt: &[NodeId]) -> Result<Vec<NodeId>, AutodiffError> {
    verify(g)?;
    let ty = &node(g, loss)?.ty;
    match ty {
        Type::Tensor(t) if t.dtype.is_float() && t.rank() == 0 => {}
        _ => {
            return Err(AutodiffError::LossNotScalar {
                node: loss,
                ty: ty.clone(),
            });
        }
    }
    let one = g.constant(g.ty(loss).dtype, 1.0);
    let grads = backprop(g, &[(loss, one)], wrt)?;
    wrt.iter()
        .zip(grads)
        .map(|(&w, d)| match d {
            Some(d) => Ok(d),
            None => {
                let ty = g.ty(w).clone();
                Ok(g.full(&ty, 0.0)?)
            }
        })
        .collect()
}

/// Appends to `g` the vector–Jacobian product of the graph: given `(node, cotangent)`
/// pairs (each cotangent a node of its node's type), returns for each `wrt` node the
/// node holding `Σ cotangent · d node / d wrt`, or `None` when no seeded node depends
/// on it.
///
/// Every node appended carries the source span of the forward node it differentiates,
/// so a runtime error in gradient code points at the expression it came from.
pub fn vjp(
    g: &mut Graph,
    cotangents: &[(NodeId, NodeId)],
    wrt: &[NodeId],
) -> Result<Vec<Option<NodeId>>, AutodiffError> {
    verify(g)?;
    backprop(g, cotangents, wrt)
}

/// [`vjp`] on a graph known to be valid.
fn backprop(
    g: &mut Graph,
    cotangents: &[(NodeId, NodeId)],
    wrt: &[NodeId],
) -> Result<Vec<Option<NodeId>>, AutodiffError> {
    for &w in wrt {
        let ty = &node(g, w)?.ty;
        if !ty.as_tensor().is_some_and(|t| t.dtype.is_float()) {
            return Err(AutodiffError::NotFloat {
                node: w,
                ty: ty.clone(),
            });
        }
    }
    for &(n, c) in cotangents {
        let (want, got) = (&node(g, n)?.ty, &node(g, c)?.ty);
        if want != got || want.as_tensor().is_none() {
            return Err(AutodiffError::CotangentType {
                node: n,
                cotangent: c,
                got: got.clone(),
                want: want.clone(),
            });
        }
    }
    let n = g.nodes.len();
    let active = activity(g, cotangents.iter().map(|&(node, _)| node), wrt);
    let mut adj: Vec<Option<Cotangent>> = vec![None; n];
    for &(node, c) in cotangents {
        if active[node.index()] {
            accumulate(g, &mut adj[node.index()], Cotangent::Tensor(c))?;
        }
    }
    for id in (0..n).rev().map(|i| NodeId(i as u32)) {
        let Some(cot) = adj[id.index()].clone().filter(|_| active[id.index()]) else {
            continue;
        };
        let args = g.node(id).args.clone();
        let needs: Vec<bool> = args.iter().map(|a| active[a.index()]).collect();
        let first_new = g.nodes.len();
        let contributions = rules::adjoint(g, id, &cot, &needs)?;
        let origin = g.node(id).origin;
        for node in &mut g.nodes[first_new..] {
            node.origin = node.origin.or(origin);
        }
        for ((arg, c), need) in args.iter().zip(contributions).zip(needs) {
            if let Some(c) = c.filter(|_| need) {
                accumulate(g, &mut adj[arg.index()], c)?;
            }
        }
    }
    Ok(wrt
        .iter()
        .map(|w| adj[w.index()].as_ref().map(Cotangent::tensor))
        .collect())
}

fn node(g: &Graph, id: NodeId) -> Result<&crate::graph::Node, AutodiffError> {
    g.nodes.get(id.index()).ok_or(AutodiffError::NoSuchNode(id))
}

/// The cotangent of one node: a tensor, or for a scan one optional tensor per element
/// of its tuple (filled in by the `project` nodes that read it).
#[derive(Clone, Debug)]
enum Cotangent {
    Tensor(NodeId),
    Tuple(Vec<Option<NodeId>>),
}

impl Cotangent {
    fn tensor(&self) -> NodeId {
        match self {
            Cotangent::Tensor(id) => *id,
            Cotangent::Tuple(_) => unreachable!("a tuple cotangent for a tensor node"),
        }
    }
}

/// Adds `c` into `slot`.
fn accumulate(g: &mut Graph, slot: &mut Option<Cotangent>, c: Cotangent) -> Result<(), TypeError> {
    let sum = match (slot.take(), c) {
        (None, c) => c,
        (Some(Cotangent::Tensor(a)), Cotangent::Tensor(b)) => {
            Cotangent::Tensor(g.binary(BinaryOp::Add, a, b)?)
        }
        (Some(Cotangent::Tuple(a)), Cotangent::Tuple(b)) => Cotangent::Tuple(
            a.into_iter()
                .zip(b)
                .map(|pair| match pair {
                    (Some(x), Some(y)) => g.binary(BinaryOp::Add, x, y).map(Some),
                    (x, y) => Ok(x.or(y)),
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => unreachable!("tensor and tuple cotangents for one node"),
    };
    *slot = Some(sum);
    Ok(())
}

/// Whether each node lies on a float path from a `wrt` node to a seeded node.
fn activity(g: &Graph, seeds: impl Iterator<Item = NodeId>, wrt: &[NodeId]) -> Vec<bool> {
    let mut source = vec![false; g.nodes.len()];
    for w in wrt {
        source[w.index()] = true;
    }
    let depends = depends_on(g, &source);
    let mut reaches = vec![false; g.nodes.len()];
    for s in seeds {
        reaches[s.index()] = true;
    }
    for i in (0..g.nodes.len()).rev() {
        if reaches[i] && depends[i] {
            for a in &g.nodes[i].args {
                reaches[a.index()] = true;
            }
        }
    }
    depends
        .iter()
        .zip(&reaches)
        .map(|(d, r)| *d && *r)
        .collect()
}

/// Whether each node depends differentiably on a `source` node: through float values
/// and not through `stop`.
fn depends_on(g: &Graph, source: &[bool]) -> Vec<bool> {
    let mut depends = vec![false; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        depends[i] = source[i]
            || (carries_gradient(&node.ty)
                && !matches!(node.op, Op::StopGradient)
                && node.args.iter().any(|a| depends[a.index()]));
    }
    depends
}

/// Float values carry gradients; a tuple does when any element is a float.
fn carries_gradient(ty: &Type) -> bool {
    let float = |t: &TensorType| t.dtype.is_float();
    match ty {
        Type::Tensor(t) => float(t),
        Type::Tuple(ts) => ts.iter().any(float),
    }
}

#[cfg(test)]
mod tests;
