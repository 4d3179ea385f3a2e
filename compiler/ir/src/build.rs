//! Builder shorthands on [`Graph`]: one method per node pattern that passes (autodiff,
//! the optimiser) and tests emit.
//!
//! Every method types its node on the spot — through [`types::infer`] or
//! [`types::check_typed`] — so a wrong construction fails where it is made rather than
//! later in the verifier. Shape-preserving no-ops (`broadcast`/`reshape` to the shape
//! the value already has) return their argument instead of adding a node, which keeps
//! generated gradient graphs small.

use crate::graph::{BinaryOp, Graph, Node, NodeId, Op, ReduceOp, TensorType, UnaryOp};
use crate::types::{self, TypeError};
use rlp_runtime::DType;

impl Graph {
    /// Appends a node whose result type is a parameter of its op (like
    /// [`Graph::add_typed`]), checking the type now.
    pub fn add_checked(
        &mut self,
        op: Op,
        args: Vec<NodeId>,
        ty: TensorType,
    ) -> Result<NodeId, TypeError> {
        types::check_typed(self, &op, &args, &ty)?;
        Ok(self.add_typed(op, args, ty))
    }

    /// A rank-0 constant.
    pub fn constant(&mut self, dtype: DType, value: f64) -> NodeId {
        self.add_typed(Op::Const(value), vec![], TensorType::scalar(dtype))
    }

    /// A tensor of type `ty` filled with `value`: a constant, broadcast unless scalar.
    pub fn full(&mut self, ty: &TensorType, value: f64) -> Result<NodeId, TypeError> {
        let c = self.constant(ty.dtype, value);
        self.broadcast(c, &ty.shape)
    }

    /// `op(x)`.
    pub fn unary(&mut self, op: UnaryOp, x: NodeId) -> Result<NodeId, TypeError> {
        self.add(Op::Unary(op), vec![x])
    }

    /// `a op b`; both operands have one type (broadcast explicitly first).
    pub fn binary(&mut self, op: BinaryOp, a: NodeId, b: NodeId) -> Result<NodeId, TypeError> {
        self.add(Op::Binary(op), vec![a, b])
    }

    /// `a op c` for a scalar constant `c` broadcast to `a`'s shape.
    pub fn binary_scalar(&mut self, op: BinaryOp, a: NodeId, c: f64) -> Result<NodeId, TypeError> {
        let ty = self.ty(a).clone();
        let c = self.full(&ty, c)?;
        self.binary(op, a, c)
    }

    /// `select(cond, a, b)`.
    pub fn select(&mut self, cond: NodeId, a: NodeId, b: NodeId) -> Result<NodeId, TypeError> {
        self.add(Op::Select, vec![cond, a, b])
    }

    /// `x` converted to `dtype`; `x` itself if it already has that dtype.
    pub fn cast(&mut self, x: NodeId, dtype: DType) -> Result<NodeId, TypeError> {
        let ty = self.ty(x);
        if ty.dtype == dtype {
            return Ok(x);
        }
        let ty = TensorType::new(dtype, ty.shape.clone());
        self.add_checked(Op::Cast, vec![x], ty)
    }

    /// `x` broadcast to `shape`; `x` itself if it already has that shape.
    pub fn broadcast(&mut self, x: NodeId, shape: &[usize]) -> Result<NodeId, TypeError> {
        let ty = self.ty(x);
        if ty.shape == shape {
            return Ok(x);
        }
        let ty = TensorType::new(ty.dtype, shape);
        self.add_checked(Op::Broadcast, vec![x], ty)
    }

    /// `x` reshaped to `shape`; `x` itself if it already has that shape.
    pub fn reshape(&mut self, x: NodeId, shape: &[usize]) -> Result<NodeId, TypeError> {
        let ty = self.ty(x);
        if ty.shape == shape {
            return Ok(x);
        }
        let ty = TensorType::new(ty.dtype, shape);
        self.add_checked(Op::Reshape, vec![x], ty)
    }

    /// `x` with its axes permuted: `out.shape[i] = x.shape[perm[i]]`.
    pub fn transpose(&mut self, x: NodeId, perm: Vec<usize>) -> Result<NodeId, TypeError> {
        self.add(Op::Transpose(perm), vec![x])
    }

    /// `x` reduced over `axes` (sorted, distinct).
    pub fn reduce(
        &mut self,
        op: ReduceOp,
        x: NodeId,
        axes: Vec<usize>,
    ) -> Result<NodeId, TypeError> {
        self.add(Op::Reduce { op, axes }, vec![x])
    }

    /// `x[.., start..end, ..]` along `axis`.
    pub fn slice(
        &mut self,
        x: NodeId,
        axis: usize,
        start: usize,
        end: usize,
    ) -> Result<NodeId, TypeError> {
        self.add(Op::Slice { axis, start, end }, vec![x])
    }

    /// `x` with `before` and `after` zeros along `axis`.
    pub fn pad(
        &mut self,
        x: NodeId,
        axis: usize,
        before: usize,
        after: usize,
    ) -> Result<NodeId, TypeError> {
        self.add(
            Op::Pad {
                axis,
                before,
                after,
            },
            vec![x],
        )
    }

    /// `one_hot(idx, depth)` with elements of `dtype`.
    pub fn one_hot(
        &mut self,
        idx: NodeId,
        depth: usize,
        dtype: DType,
    ) -> Result<NodeId, TypeError> {
        let mut shape = self.ty(idx).shape.clone();
        shape.push(depth);
        self.add_checked(
            Op::OneHot { depth },
            vec![idx],
            TensorType::new(dtype, shape),
        )
    }

    /// The index along `axis` at every position of `shape`.
    pub fn iota(&mut self, shape: &[usize], axis: usize) -> Result<NodeId, TypeError> {
        self.add_checked(
            Op::Iota { axis },
            vec![],
            TensorType::new(DType::I32, shape),
        )
    }

    /// Element `k` of a scan's tuple.
    pub fn project(&mut self, tuple: NodeId, k: usize) -> Result<NodeId, TypeError> {
        self.add(Op::Project(k), vec![tuple])
    }

    /// Copies `body`'s nodes into this graph, reading `inputs[k]` wherever `body` reads
    /// its input `k`, and returns the copies of `body`'s outputs.
    pub fn inline(&mut self, body: &Graph, inputs: &[NodeId]) -> Vec<NodeId> {
        let mut map: Vec<NodeId> = Vec::with_capacity(body.nodes.len());
        for node in &body.nodes {
            let id = match node.op {
                Op::Input(k) => inputs[k],
                _ => self.push(Node {
                    op: node.op.clone(),
                    args: node.args.iter().map(|a| map[a.index()]).collect(),
                    ty: node.ty.clone(),
                    origin: node.origin,
                }),
            };
            map.push(id);
        }
        body.outputs.iter().map(|o| map[o.index()]).collect()
    }
}
