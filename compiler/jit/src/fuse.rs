//! The fusion pass: partition a graph into kernels and schedule them.
//!
//! Why: running one op at a time writes and re-reads every intermediate tensor; RL
//! graphs are long chains of cheap elementwise math on modest tensors, so memory traffic
//! and per-op overhead dominate. Fusing a chain into one loop keeps intermediates in
//! registers.
//!
//! What fuses (with `fuse: true`):
//! - **elementwise groups**: `Unary`, `Binary`, `Select`, `Cast`, `StopGradient`, plus
//!   `Iota`, `Random` and `Gather` (computed from the point's coordinates), of one shape.
//!   A producer joins its consumers' group when every use of it is an elementwise use
//!   inside that one group, so nothing outside needs it in memory (graph outputs are
//!   stored from inside the group). This rule cannot create cycles between kernels.
//! - **reductions**: `Reduce` and `ArgMax` absorb their elementwise producer chain as a
//!   prologue, under the same rule.
//! - **views**: `Broadcast`, `Transpose`, `Slice`, `Reshape`, `DynIndex`, `Const` and
//!   `Project` are never computed; they become index arithmetic in the loads that read
//!   them (module `view`). A `Reshape` that cannot be a view copies first.
//! - **scans** become one kernel when the body fits (module `scan`), else a host loop
//!   over the body's own schedule.
//! - `MatMul` is a `gemm` call on row-major operands (any other layout is copied first,
//!   as gemm rounds differently per layout); `Pad`, `Concat`, `OneHot` are native steps.
//!
//! With `fuse: false`, every node (views and constants included) gets its own kernel and
//! buffer, and every scan runs as a host loop: the reference schedule for differential
//! tests.

use crate::JitError;
use crate::kernel::{
    BufId, Buffer, BufferKind, HostScan, Kernel, KernelKind, MatMul, Matrix, Native, Schedule,
    Step, ValId,
};
use crate::lower::{KernelBuilder, convert_const};
use crate::view::{IndexRef, Source, View};
use rlp_ir::{Graph, Node, NodeId, Op, ReduceOp};
use rlp_runtime::DType;
use std::collections::HashMap;

/// Verifies, partitions and schedules `graph`. Kernel names are unique within one call.
pub fn fuse(graph: &Graph, fuse: bool) -> Result<Schedule, JitError> {
    // Everything below relies on the verifier's invariants (scan bodies included).
    rlp_ir::verify::verify(graph).map_err(|e| JitError::Invalid(e.to_string()))?;
    let graph =
        crate::expand::take_rows_as_gathers(graph).map_err(|e| JitError::Invalid(e.to_string()))?;
    let mut counter = 0;
    fuse_graph(&graph, fuse, &mut counter)
}

/// [`fuse`] with a kernel-name counter shared with enclosing graphs (scan bodies).
pub(crate) fn fuse_graph(
    graph: &Graph,
    fuse: bool,
    counter: &mut usize,
) -> Result<Schedule, JitError> {
    let partition = Partition::new(graph, fuse);
    let mut b = Builder::new(graph, fuse, partition, counter);
    for id in graph.ids() {
        if b.part.live[id.index()] {
            b.node(id)?;
        }
    }
    b.finish()
}

/// How a group's loop is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupKind {
    Map,
    Reduce,
    ArgMax,
}

/// Nodes computed by one kernel; `root` is the last (the group is emitted there).
#[derive(Debug)]
struct Group {
    root: NodeId,
    kind: GroupKind,
    /// The shape members are computed over (the reduction input for reductions).
    space: Vec<usize>,
    members: Vec<NodeId>,
}

/// The grouping decision for a whole graph.
struct Partition {
    live: Vec<bool>,
    is_output: Vec<bool>,
    group_of: Vec<Option<usize>>,
    groups: Vec<Group>,
}

/// Ops computed inside a kernel at each point of their own shape.
fn is_member_op(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary(_)
            | Op::Binary(_)
            | Op::Select
            | Op::Cast
            | Op::StopGradient
            | Op::Iota { .. }
            | Op::Random { .. }
            | Op::Gather
    )
}

/// Whether argument `pos` of `op` is read at the same point as the op's own element
/// (so the argument may be computed inside the same kernel).
fn is_point_arg(op: &Op, pos: usize) -> bool {
    match op {
        Op::Unary(_) | Op::Binary(_) | Op::Select | Op::Cast | Op::StopGradient => true,
        Op::Reduce { .. } | Op::ArgMax { .. } => pos == 0,
        Op::Gather => pos == 1,
        _ => false,
    }
}

impl Partition {
    fn new(graph: &Graph, fuse: bool) -> Partition {
        let n = graph.nodes.len();
        let mut live = vec![false; n];
        let mut is_output = vec![false; n];
        for o in &graph.outputs {
            live[o.index()] = true;
            is_output[o.index()] = true;
        }
        let mut uses: Vec<Vec<(NodeId, bool)>> = vec![vec![]; n];
        for id in (0..n as u32).rev().map(NodeId) {
            let node = graph.node(id);
            if !live[id.index()] {
                continue;
            }
            for (pos, a) in node.args.iter().enumerate() {
                live[a.index()] = true;
                uses[a.index()].push((id, is_point_arg(&node.op, pos)));
            }
        }
        let mut p = Partition {
            live,
            is_output,
            group_of: vec![None; n],
            groups: vec![],
        };
        for id in (0..n as u32).rev().map(NodeId) {
            if !p.live[id.index()] {
                continue;
            }
            let node = graph.node(id);
            let kind = match &node.op {
                Op::Reduce { .. } => GroupKind::Reduce,
                Op::ArgMax { .. } => GroupKind::ArgMax,
                op if is_member_op(op) => {
                    if fuse && let Some(g) = p.joinable(graph, id, &uses[id.index()]) {
                        p.group_of[id.index()] = Some(g);
                        p.groups[g].members.push(id);
                        continue;
                    }
                    GroupKind::Map
                }
                _ => continue,
            };
            let space = match kind {
                GroupKind::Map => graph.ty(id).shape.clone(),
                _ => graph.ty(node.args[0]).shape.clone(),
            };
            p.group_of[id.index()] = Some(p.groups.len());
            p.groups.push(Group {
                root: id,
                kind,
                space,
                members: vec![id],
            });
        }
        for g in &mut p.groups {
            g.members.reverse();
        }
        p
    }

    /// The group `id` can join: every use is a point use inside that one group, over a
    /// space of `id`'s shape.
    fn joinable(&self, graph: &Graph, id: NodeId, uses: &[(NodeId, bool)]) -> Option<usize> {
        let (first, _) = uses.first()?;
        let g = self.group_of[first.index()]?;
        let all_in = uses
            .iter()
            .all(|&(u, point)| point && self.group_of[u.index()] == Some(g));
        // Reductions store one value per unit, so a graph output cannot hide in a prologue.
        let storable = self.groups[g].kind == GroupKind::Map || !self.is_output[id.index()];
        (all_in && storable && self.groups[g].space == graph.ty(id).shape).then_some(g)
    }
}

/// Where a node's value can be read once its producing step has run.
#[derive(Clone, Debug)]
enum Place {
    Unset,
    View(View),
    Tuple(Vec<BufId>),
}

/// Builds the schedule in node order.
struct Builder<'g, 'c> {
    graph: &'g Graph,
    fuse: bool,
    part: Partition,
    place: Vec<Place>,
    buffers: Vec<Buffer>,
    inputs: Vec<BufId>,
    steps: Vec<Step>,
    counter: &'c mut usize,
}

impl<'g, 'c> Builder<'g, 'c> {
    fn new(graph: &'g Graph, fuse: bool, part: Partition, counter: &'c mut usize) -> Self {
        let buffers: Vec<Buffer> = graph
            .inputs
            .iter()
            .enumerate()
            .map(|(k, t)| Buffer {
                dtype: t.dtype,
                len: t.numel(),
                kind: BufferKind::Input(k),
            })
            .collect();
        let inputs = (0..buffers.len() as u32).map(BufId).collect();
        Builder {
            graph,
            fuse,
            part,
            place: vec![Place::Unset; graph.nodes.len()],
            buffers,
            inputs,
            steps: vec![],
            counter,
        }
    }

    fn temp(&mut self, dtype: DType, len: usize) -> BufId {
        self.buffers.push(Buffer {
            dtype,
            len,
            kind: BufferKind::Temp,
        });
        BufId(self.buffers.len() as u32 - 1)
    }

    fn kernel_name(&mut self, kind: &str) -> String {
        let n = *self.counter;
        *self.counter += 1;
        format!("k{n}_{kind}")
    }

    fn view(&self, id: NodeId) -> &View {
        match &self.place[id.index()] {
            Place::View(v) => v,
            other => panic!("fuse: {id} read before it is placed ({other:?})"),
        }
    }

    fn dtype(&self, id: NodeId) -> DType {
        self.graph.ty(id).dtype
    }

    /// Places one node, emitting the steps that compute it.
    fn node(&mut self, id: NodeId) -> Result<(), JitError> {
        let node: &'g Node = self.graph.node(id);
        let ty = match &node.ty {
            rlp_ir::Type::Tensor(t) => t.clone(),
            rlp_ir::Type::Tuple(types) => {
                let Op::Scan(scan) = &node.op else {
                    return Err(JitError::Invalid(format!(
                        "{id}: only scans have tuple types"
                    )));
                };
                return self.emit_scan(id, node, scan, types);
            }
        };
        let view = match &node.op {
            Op::Input(k) => View::contiguous(self.inputs[*k], &ty.shape),
            Op::Const(c) => View::constant(convert_const(*c, ty.dtype), &ty.shape),
            Op::Literal(data) => {
                if data.len() != ty.numel() {
                    return Err(JitError::Invalid(format!(
                        "{id}: literal of {} values for {}",
                        data.len(),
                        ty
                    )));
                }
                self.buffers.push(Buffer {
                    dtype: ty.dtype,
                    len: ty.numel(),
                    kind: BufferKind::Literal(data.clone()),
                });
                View::contiguous(BufId(self.buffers.len() as u32 - 1), &ty.shape)
            }
            Op::Broadcast => self.view(node.args[0]).broadcast(&ty.shape),
            Op::Transpose(perm) => self.view(node.args[0]).transpose(perm),
            Op::Slice { axis, start, end } => self.view(node.args[0]).slice(*axis, *start, *end),
            Op::DynIndex => self
                .view(node.args[0])
                .index(IndexRef::Node(node.args[1]), id),
            Op::Reshape => {
                let arg = self.view(node.args[0]).clone();
                match arg.reshape(&ty.shape) {
                    Some(v) => v,
                    None => {
                        View::contiguous(self.materialise(&arg, ty.dtype, node.args[0]), &ty.shape)
                    }
                }
            }
            Op::Project(k) => match &self.place[node.args[0].index()] {
                Place::Tuple(bufs) => View::contiguous(bufs[*k], &ty.shape),
                _ => return Err(JitError::Invalid(format!("{id} projects a non-scan node"))),
            },
            Op::Reduce { .. }
            | Op::ArgMax { .. }
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Select
            | Op::Cast
            | Op::StopGradient
            | Op::Iota { .. }
            | Op::Random { .. }
            | Op::Gather => {
                let g = self.part.group_of[id.index()].expect("live member ops are grouped");
                if self.part.groups[g].root == id {
                    self.emit_group(g)?;
                }
                return Ok(());
            }
            Op::MatMul => return self.emit_matmul(id, node),
            Op::Pad {
                axis,
                before,
                after: _,
            } => return self.emit_pad(id, node, *axis, *before),
            Op::Concat { axis } => return self.emit_concat(id, node, *axis),
            Op::OneHot { depth } => return self.emit_one_hot(id, node, *depth),
            Op::PutRows { .. } | Op::CumSum { .. } | Op::SearchSorted | Op::TopK { .. } => {
                return self.emit_rows(id, node);
            }
            Op::TakeRows => {
                return Err(JitError::Invalid(format!(
                    "{id}: take_rows is rewritten into a gather before fusion"
                )));
            }
            Op::Scan(_) => {
                return Err(JitError::Invalid(format!(
                    "{id}: a scan must have a tuple type"
                )));
            }
        };
        // Unfused schedules give every node its own buffer, views and constants included.
        let view = if self.fuse {
            view
        } else {
            View::contiguous(self.materialise(&view, ty.dtype, id), &ty.shape)
        };
        self.place[id.index()] = Place::View(view);
        Ok(())
    }

    /// The plain buffer holding `view` (of node `node`), copying it with a kernel when it
    /// is not one.
    fn materialise(&mut self, view: &View, dtype: DType, node: NodeId) -> BufId {
        if let Some(b) = view.plain_buffer(|b| self.buffers[b.index()].len) {
            return b;
        }
        let out = self.temp(dtype, view.numel());
        let mut kb = KernelBuilder::identity(&view.shape);
        kb.note(node);
        let v = kb
            .read(view, dtype, &mut |kb, n| self.outer_value(kb, n))
            .expect("outer reads always lower");
        let name = self.kernel_name("copy");
        let mut kernel = kb.finish_map(name, &[(out, v)]);
        kernel.locate_checks(self.graph);
        self.steps.push(Step::Kernel(Box::new(kernel)));
        out
    }

    /// Reads a placed (materialised or view) node at the kernel's point.
    fn outer_value(&self, kb: &mut KernelBuilder, n: NodeId) -> Option<ValId> {
        let view = self.view(n).clone();
        kb.read(&view, self.dtype(n), &mut |kb, m| self.outer_value(kb, m))
    }

    /// An operand at the point: an already lowered member, or an outer read (memoised).
    fn operand(
        &self,
        kb: &mut KernelBuilder,
        n: NodeId,
        memo: &mut HashMap<NodeId, ValId>,
    ) -> Option<ValId> {
        if let Some(&v) = memo.get(&n) {
            return Some(v);
        }
        let v = self.outer_value(kb, n)?;
        memo.insert(n, v);
        Some(v)
    }

    /// Lowers one member whose member operands are already in `memo`.
    fn member_value(
        &self,
        kb: &mut KernelBuilder,
        n: NodeId,
        memo: &mut HashMap<NodeId, ValId>,
    ) -> Option<ValId> {
        let node = self.graph.node(n);
        let ty = self.graph.ty(n);
        Some(match &node.op {
            Op::Iota { axis } => kb.iota(&ty.shape, *axis),
            Op::Random { dist, seed, stream } => {
                let c0 = self.operand(kb, node.args[0], memo)?;
                let c1 = self.operand(kb, node.args[1], memo)?;
                kb.random(&ty.shape, *dist, *seed, *stream, c0, c1, ty.dtype)
            }
            Op::Gather => {
                let idx = self.operand(kb, node.args[1], memo)?;
                let x = self.view(node.args[0]).clone();
                kb.gather(&x, idx, ty.dtype, n, &mut |kb, m| self.outer_value(kb, m))?
            }
            _ => {
                let mut operands = Vec::with_capacity(node.args.len());
                for &a in &node.args {
                    operands.push(self.operand(kb, a, memo)?);
                }
                kb.pointwise(n, node, &operands)?
            }
        })
    }

    /// Lowers `members` (in node order, so operands come first: no recursion however
    /// long the chain) and returns every member's value.
    fn lower_members(
        &self,
        kb: &mut KernelBuilder,
        members: &[NodeId],
    ) -> Option<HashMap<NodeId, ValId>> {
        let mut memo = HashMap::new();
        for &m in members {
            kb.note(m);
            let v = self.member_value(kb, m, &mut memo)?;
            memo.insert(m, v);
        }
        Some(memo)
    }

    /// Emits the kernel of group `g` (at its root, after everything it reads).
    fn emit_group(&mut self, g: usize) -> Result<(), JitError> {
        let group = &self.part.groups[g];
        let (root, kind, space, members) = (
            group.root,
            group.kind,
            group.space.clone(),
            group.members.clone(),
        );
        let root_node = self.graph.node(root);
        let invalid = || JitError::Invalid(format!("{root}: cannot lower {}", root_node.op.name()));
        let kernel = match kind {
            GroupKind::Map => {
                let mut kb = KernelBuilder::identity(&space);
                let memo = self.lower_members(&mut kb, &members).ok_or_else(invalid)?;
                let mut stores = vec![];
                let stored: Vec<NodeId> = members
                    .iter()
                    .copied()
                    .filter(|&m| m == root || self.part.is_output[m.index()])
                    .collect();
                for m in stored {
                    let out = self.temp(self.dtype(m), space.iter().product());
                    self.place[m.index()] = Place::View(View::contiguous(out, &space));
                    stores.push((out, memo[&m]));
                }
                kb.finish_map(self.kernel_name("map"), &stores)
            }
            GroupKind::Reduce | GroupKind::ArgMax => {
                let (reduced, op) = match &root_node.op {
                    Op::Reduce { op, axes } => (axes.clone(), *op),
                    Op::ArgMax { axis } => (vec![*axis], ReduceOp::Max),
                    _ => return Err(invalid()),
                };
                let kept: Vec<usize> = (0..space.len()).filter(|d| !reduced.contains(d)).collect();
                let n_kept = kept.len();
                let perm = kept.into_iter().chain(reduced).collect();
                let mut kb = KernelBuilder::new(&space, perm);
                // The root is last; its prologue is everything before it.
                let (prologue, _) = members.split_at(members.len() - 1);
                let mut memo = self.lower_members(&mut kb, prologue).ok_or_else(invalid)?;
                kb.note(root);
                let v = self
                    .operand(&mut kb, root_node.args[0], &mut memo)
                    .ok_or_else(invalid)?;
                let out_ty = self.graph.ty(root);
                let out = self.temp(out_ty.dtype, out_ty.numel());
                self.place[root.index()] = Place::View(View::contiguous(out, &out_ty.shape));
                if kind == GroupKind::Reduce {
                    kb.finish_reduce(self.kernel_name("reduce"), op, n_kept, v, out)
                } else {
                    kb.finish_argmax(self.kernel_name("argmax"), n_kept, v, out)
                }
            }
        };
        let mut kernel = kernel;
        kernel.locate_checks(self.graph);
        self.steps.push(Step::Kernel(Box::new(kernel)));
        Ok(())
    }

    /// A `gemm` operand for `view`: a row-major block (possibly at an offset, as for a
    /// row slice), else a contiguous copy. gemm rounds differently for other layouts (it
    /// picks kernels by stride), and the interpreter always passes row-major operands.
    fn matrix(&mut self, view: &View, dtype: DType, node: NodeId) -> Matrix {
        let (rows, cols) = (view.shape[0], view.shape[1]);
        let row_major = view.dynamic.is_empty()
            && view.offset >= 0
            && (cols <= 1 || view.strides[1] == 1)
            && (rows <= 1 || view.strides[0] == cols as i64);
        // The transpose of a row-major block: `[cols, rows]` at `offset`.
        let transposed = view.dynamic.is_empty()
            && view.offset >= 0
            && rows > 1
            && cols > 1
            && view.strides[0] == 1
            && view.strides[1] == rows as i64;
        let (buf, offset) = match (view.source, row_major, transposed) {
            (Source::Buf(buf), true, _) => (buf, view.offset as usize),
            (Source::Buf(src), false, true) => {
                let out = self.temp(dtype, rows * cols);
                self.steps.push(Step::Native(Native::Transpose {
                    src,
                    offset: view.offset as usize,
                    out,
                    rows: cols,
                    cols: rows,
                }));
                (out, 0)
            }
            _ => (self.materialise(view, dtype, node), 0),
        };
        Matrix {
            buf,
            offset,
            rs: cols as isize,
            cs: 1,
            bs: rows * cols,
        }
    }

    /// The operand of a batched product: `[B, rows, cols]` row-major, each product's
    /// matrix right after the previous one (copied to that layout if it is not).
    fn batched_matrix(&mut self, view: &View, dtype: DType, node: NodeId) -> Matrix {
        let (rows, cols) = (view.shape[1], view.shape[2]);
        let packed = view.dynamic.is_empty()
            && view.offset >= 0
            && view.strides.as_slice() == crate::view::row_major(&view.shape).as_slice();
        let (buf, offset) = match view.source {
            Source::Buf(buf) if packed => (buf, view.offset as usize),
            _ => (self.materialise(view, dtype, node), 0),
        };
        Matrix {
            buf,
            offset,
            rs: cols as isize,
            cs: 1,
            bs: rows * cols,
        }
    }

    fn emit_matmul(&mut self, id: NodeId, node: &Node) -> Result<(), JitError> {
        let ty = self.graph.ty(id).clone();
        let (lv, rv) = (
            self.view(node.args[0]).clone(),
            self.view(node.args[1]).clone(),
        );
        let batched = lv.shape.len() == 3;
        let (lhs, rhs) = if batched {
            (
                self.batched_matrix(&lv, ty.dtype, node.args[0]),
                self.batched_matrix(&rv, ty.dtype, node.args[1]),
            )
        } else {
            (
                self.matrix(&lv, ty.dtype, node.args[0]),
                self.matrix(&rv, ty.dtype, node.args[1]),
            )
        };
        let out = self.temp(ty.dtype, ty.numel());
        let r = lv.shape.len();
        let (m, k, n) = (lv.shape[r - 2], lv.shape[r - 1], rv.shape[r - 1]);
        self.steps.push(Step::MatMul(MatMul {
            dtype: ty.dtype,
            batch: if batched { lv.shape[0] } else { 1 },
            m,
            k,
            n,
            lhs,
            rhs,
            out,
            node: id,
            epilogue: None,
        }));
        self.place[id.index()] = Place::View(View::contiguous(out, &ty.shape));
        Ok(())
    }

    fn plain_arg(&mut self, arg: NodeId) -> BufId {
        let view = self.view(arg).clone();
        self.materialise(&view, self.dtype(arg), arg)
    }

    fn emit_native(&mut self, id: NodeId, make: impl FnOnce(BufId) -> Native) {
        let ty = self.graph.ty(id).clone();
        let out = self.temp(ty.dtype, ty.numel());
        self.steps.push(Step::Native(make(out)));
        self.place[id.index()] = Place::View(View::contiguous(out, &ty.shape));
    }

    fn emit_pad(
        &mut self,
        id: NodeId,
        node: &Node,
        axis: usize,
        before: usize,
    ) -> Result<(), JitError> {
        let src = self.plain_arg(node.args[0]);
        let in_shape = &self.graph.ty(node.args[0]).shape;
        let out_shape = &self.graph.ty(id).shape;
        let row: usize = in_shape[axis + 1..].iter().product();
        let (outer, inner, out_inner) = (
            in_shape[..axis].iter().product(),
            in_shape[axis..].iter().product(),
            out_shape[axis..].iter().product(),
        );
        self.emit_native(id, |out| Native::Pad {
            src,
            out,
            outer,
            inner,
            out_inner,
            before_elems: before * row,
        });
        Ok(())
    }

    fn emit_concat(&mut self, id: NodeId, node: &Node, axis: usize) -> Result<(), JitError> {
        let srcs: Vec<BufId> = node.args.iter().map(|&a| self.plain_arg(a)).collect();
        let inner = node
            .args
            .iter()
            .map(|&a| self.graph.ty(a).shape[axis..].iter().product())
            .collect();
        let outer = self.graph.ty(id).shape[..axis].iter().product();
        self.emit_native(id, |out| Native::Concat {
            srcs,
            out,
            outer,
            inner,
        });
        Ok(())
    }

    fn emit_one_hot(&mut self, id: NodeId, node: &Node, depth: usize) -> Result<(), JitError> {
        let idx = self.plain_arg(node.args[0]);
        let rows = self.graph.ty(node.args[0]).numel();
        self.emit_native(id, |out| Native::OneHot {
            idx,
            out,
            rows,
            depth,
        });
        Ok(())
    }

    /// Row scatters, running sums and bisection: native steps on plain buffers.
    fn emit_rows(&mut self, id: NodeId, node: &Node) -> Result<(), JitError> {
        let args: Vec<BufId> = node.args.iter().map(|&a| self.plain_arg(a)).collect();
        let x_ty = self.graph.ty(node.args[0]).clone();
        let last = |shape: &[usize]| shape.last().copied().unwrap_or(1);
        let rows = x_ty.shape.first().copied().unwrap_or(1);
        let per: usize = x_ty.shape.iter().skip(1).product();
        let arg_len = |k: usize| self.graph.ty(node.args[k]).numel();
        match node.op {
            Op::PutRows { accumulate } => {
                let idx_len = arg_len(1);
                self.emit_native(id, |out| Native::PutRows {
                    x: args[0],
                    idx: args[1],
                    src: args[2],
                    out,
                    rows,
                    per,
                    idx_len,
                    accumulate,
                    node: id,
                })
            }
            Op::CumSum { reverse } => {
                let len = last(&x_ty.shape);
                let outer = if len == 0 { 0 } else { x_ty.numel() / len };
                self.emit_native(id, |out| Native::CumSum {
                    x: args[0],
                    out,
                    outer,
                    len,
                    reverse,
                })
            }
            Op::SearchSorted => {
                let len = last(&x_ty.shape);
                let v_shape = &self.graph.ty(node.args[1]).shape;
                let queries = last(v_shape);
                let outer = if queries == 0 {
                    0
                } else {
                    arg_len(1) / queries
                };
                self.emit_native(id, |out| Native::SearchSorted {
                    sorted: args[0],
                    v: args[1],
                    out,
                    outer,
                    len,
                    queries,
                    dtype: x_ty.dtype,
                })
            }
            Op::TopK { k } => {
                let len = last(&x_ty.shape);
                let rows = x_ty.numel().checked_div(len).unwrap_or(0);
                self.emit_native(id, |out| Native::TopK {
                    x: args[0],
                    out,
                    rows,
                    len,
                    k,
                    dtype: x_ty.dtype,
                })
            }
            _ => unreachable!("emit_rows handles row, ranking and running-sum ops only"),
        }
        Ok(())
    }

    fn emit_scan(
        &mut self,
        id: NodeId,
        node: &Node,
        scan: &rlp_ir::Scan,
        types: &[rlp_ir::TensorType],
    ) -> Result<(), JitError> {
        if self.fuse {
            let views: Vec<View> = node.args.iter().map(|&a| self.view(a).clone()).collect();
            let dtypes: Vec<DType> = node.args.iter().map(|&a| self.dtype(a)).collect();
            // Checks made while reading the scan's arguments name outer nodes; the
            // rest name nodes of the body.
            let mut outer_checks = vec![];
            let lowered = crate::scan::lower(scan, &views, &dtypes, &mut |kb, n| {
                let first = kb.check_count();
                let v = self.outer_value(kb, n);
                outer_checks.extend(first..kb.check_count());
                v
            });
            if let Some(l) = lowered {
                let outs: Vec<BufId> = types
                    .iter()
                    .map(|t| self.temp(t.dtype, t.numel()))
                    .collect();
                let step_stores: Vec<_> = l
                    .outs
                    .iter()
                    .map(|(c, v)| (outs[c.output], c.col, c.width, *v))
                    .collect();
                let final_stores: Vec<_> = l
                    .finals
                    .iter()
                    .map(|c| (outs[c.output], c.col, c.width))
                    .collect();
                let name = self.kernel_name("scan");
                let mut kernel: Kernel = l.builder.finish_scan(
                    name,
                    scan.length,
                    scan.reverse,
                    l.init,
                    l.next,
                    &step_stores,
                    &final_stores,
                );
                kernel.nodes.insert(0, id);
                kernel.locate_scan_checks(self.graph, &scan.body, &outer_checks);
                self.steps.push(Step::Kernel(Box::new(kernel)));
                self.place[id.index()] = Place::Tuple(outs);
                return Ok(());
            }
        }
        let args: Vec<BufId> = node.args.iter().map(|&a| self.plain_arg(a)).collect();
        let body = fuse_graph(&scan.body, self.fuse, self.counter)?;
        let outs: Vec<BufId> = types
            .iter()
            .map(|t| self.temp(t.dtype, t.numel()))
            .collect();
        self.steps.push(Step::Scan(Box::new(HostScan {
            length: scan.length,
            reverse: scan.reverse,
            n_carry: scan.n_carry,
            n_seq: scan.n_seq,
            args,
            outs: outs.clone(),
            body,
            node: id,
        })));
        self.place[id.index()] = Place::Tuple(outs);
        Ok(())
    }

    fn finish(mut self) -> Result<Schedule, JitError> {
        let outputs: Vec<BufId> = self
            .graph
            .outputs
            .iter()
            .map(|&o| self.plain_arg(o))
            .collect();
        // `RLP_JIT_NO_EPILOGUES` (at compile time) keeps epilogues as separate kernels,
        // for before/after benchmarks (`bench_mlp`).
        if self.fuse && std::env::var_os("RLP_JIT_NO_EPILOGUES").is_none() {
            self.steps = attach_epilogues(std::mem::take(&mut self.steps));
        }
        let frees = frees(&self.buffers, &self.steps, &outputs);
        Ok(Schedule {
            buffers: self.buffers,
            inputs: self.inputs,
            steps: self.steps,
            outputs,
            frees,
        })
    }
}

/// The buffers each step touches: `(reads, writes)`.
pub(crate) fn step_buffers(step: &Step) -> (Vec<BufId>, Vec<BufId>) {
    match step {
        Step::Kernel(k) => (
            k.params
                .iter()
                .filter(|p| !p.write)
                .map(|p| p.buf)
                .collect(),
            k.params.iter().filter(|p| p.write).map(|p| p.buf).collect(),
        ),
        Step::MatMul(m) => {
            let (mut reads, mut writes) = (vec![m.lhs.buf, m.rhs.buf], vec![m.out]);
            if let Some(k) = &m.epilogue {
                let (r, w) = step_buffers(&Step::Kernel(k.clone()));
                reads.extend(r.into_iter().filter(|&b| b != m.out));
                writes.extend(w);
            }
            (reads, writes)
        }
        Step::Native(Native::Pad { src, out, .. }) => (vec![*src], vec![*out]),
        Step::Native(Native::Transpose { src, out, .. }) => (vec![*src], vec![*out]),
        Step::Native(Native::Concat { srcs, out, .. }) => (srcs.clone(), vec![*out]),
        Step::Native(Native::OneHot { idx, out, .. }) => (vec![*idx], vec![*out]),
        Step::Native(Native::PutRows {
            x, idx, src, out, ..
        }) => (vec![*x, *idx, *src], vec![*out]),
        Step::Native(Native::CumSum { x, out, .. }) => (vec![*x], vec![*out]),
        Step::Native(Native::TopK { x, out, .. }) => (vec![*x], vec![*out]),
        Step::Native(Native::SearchSorted { sorted, v, out, .. }) => {
            (vec![*sorted, *v], vec![*out])
        }
        Step::Scan(s) => (s.args.clone(), s.outs.clone()),
    }
}

/// Moves each elementwise kernel that directly follows a matrix product and reads the
/// product only at its own point into that product's epilogue (see [`MatMul`]).
fn attach_epilogues(steps: Vec<Step>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    for step in steps {
        if let (Step::Kernel(k), Some(Step::MatMul(m))) = (&step, out.last_mut())
            && m.epilogue.is_none()
            && is_epilogue_of(k, m)
        {
            let Step::Kernel(k) = step else {
                unreachable!("matched above")
            };
            m.epilogue = Some(k);
            continue;
        }
        out.push(step);
    }
    out
}

/// Whether map kernel `k` can run row block by row block after `m`: it covers exactly
/// the product's `[M, N]` elements in order and reads the product only at its own
/// point (so a block's epilogue never needs rows of another block).
fn is_epilogue_of(k: &Kernel, m: &MatMul) -> bool {
    let KernelKind::Map { .. } = k.kind else {
        return false;
    };
    if k.units() != m.batch * m.m * m.n || m.m * m.n == 0 {
        return false;
    }
    let flat = crate::view::row_major(&k.space);
    k.insts.iter().all(|inst| match inst.op {
        crate::kernel::Op::Load { param, index } if k.params[param].buf == m.out => {
            let ix = &k.indices[index.index()];
            // Size-1 dims carry no stride (they read as 0).
            let at_point = (0..k.space.len()).all(|d| k.space[d] == 1 || ix.strides[d] == flat[d]);
            ix.offset == 0 && ix.dynamic.is_empty() && ix.step_stride == 0 && at_point
        }
        _ => true,
    }) && k.params.iter().all(|p| !(p.write && p.buf == m.out))
}

/// For each step, the temporaries it is the last to touch (outputs are never freed).
fn frees(buffers: &[Buffer], steps: &[Step], outputs: &[BufId]) -> Vec<Vec<BufId>> {
    let mut last = vec![None; buffers.len()];
    for (s, step) in steps.iter().enumerate() {
        let (reads, writes) = step_buffers(step);
        for b in reads.into_iter().chain(writes) {
            last[b.index()] = Some(s);
        }
    }
    let mut frees = vec![vec![]; steps.len()];
    for (b, l) in last.iter().enumerate() {
        let id = BufId(b as u32);
        if let (Some(s), BufferKind::Temp) = (l, &buffers[b].kind)
            && !outputs.contains(&id)
        {
            frees[*s].push(id);
        }
    }
    frees
}
