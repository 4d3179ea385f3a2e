//! Building one kernel's instructions: the shared back half of `fuse` and `scan`.
//!
//! Why a builder: the fusion pass decides *which* nodes form a kernel; turning those nodes
//! into [`Inst`]s (operands, loads through views, index arithmetic, runtime checks) is the
//! same work for elementwise groups, reduction prologues and scan bodies. The builder owns
//! the kernel's arenas and knows how a value of some shape is read at the kernel's
//! iteration point; callers walk their nodes and call it.

use crate::kernel::{
    BufId, Check, DynTerm, Index, IndexId, Inst, Kernel, KernelKind, Op, Param, ScanKernel, ValId,
};
use crate::view::{IndexRef, Source, View, row_major};
use rlp_ir::{BinaryOp, Distribution, Node, NodeId, ReduceOp};
use rlp_runtime::DType;
use std::collections::HashMap;

/// The name of an integer division op, for its error.
fn op_name(op: BinaryOp) -> &'static str {
    if op == BinaryOp::Div { "div" } else { "rem" }
}

/// Converts an IR constant to what the IR says a constant of `dtype` holds.
pub fn convert_const(value: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => value as f32 as f64,
        DType::F64 => value,
        DType::I32 => value as i32 as f64,
        DType::Bool => f64::from(u8::from(value != 0.0)),
    }
}

/// Accumulates the instructions, parameters and indices of one kernel.
///
/// The kernel iterates over `space`; `logical` is the shape values are indexed in (the
/// reduction input for reductions, the element shape for scans) and `space[i] =
/// logical[perm[i]]`. A value of shape `Q` is read at a point by broadcasting `Q` to
/// `logical` (right-aligned), then permuting to space order.
pub struct KernelBuilder {
    logical: Vec<usize>,
    perm: Vec<usize>,
    params: Vec<Param>,
    param_of: HashMap<(BufId, bool), usize>,
    indices: Vec<Index>,
    index_of: HashMap<Index, IndexId>,
    insts: Vec<Inst>,
    /// Whether each value changes from one scan step to the next.
    varying: Vec<bool>,
    /// The number of scan steps, in a scan kernel (so `Op::Step` lies in `0..steps`).
    steps: Option<usize>,
    checks: Vec<Check>,
    nodes: Vec<NodeId>,
}

impl KernelBuilder {
    /// A builder for a kernel over `logical` visited in the order `perm`.
    pub fn new(logical: &[usize], perm: Vec<usize>) -> KernelBuilder {
        debug_assert_eq!(perm.len(), logical.len());
        KernelBuilder {
            logical: logical.to_vec(),
            perm,
            params: vec![],
            param_of: HashMap::new(),
            indices: vec![],
            index_of: HashMap::new(),
            insts: vec![],
            varying: vec![],
            steps: None,
            checks: vec![],
            nodes: vec![],
        }
    }

    /// The identity visiting order for `logical`.
    pub fn identity(logical: &[usize]) -> KernelBuilder {
        KernelBuilder::new(logical, (0..logical.len()).collect())
    }

    /// Declares this a scan kernel of `steps` steps.
    pub fn set_steps(&mut self, steps: usize) {
        self.steps = Some(steps);
    }

    /// The logical shape values are read in.
    pub fn logical(&self) -> &[usize] {
        &self.logical
    }

    /// Records that the kernel computes `node` (for `explain`).
    pub fn note(&mut self, node: NodeId) {
        self.nodes.push(node);
    }

    /// The dtype of a value.
    pub fn dtype(&self, v: ValId) -> DType {
        self.insts[v.index()].dtype
    }

    /// The kernel parameter for `buf`, added on first use.
    pub fn param(&mut self, buf: BufId, dtype: DType, write: bool) -> usize {
        *self.param_of.entry((buf, write)).or_insert_with(|| {
            self.params.push(Param { buf, dtype, write });
            self.params.len() - 1
        })
    }

    /// Appends an instruction.
    pub fn push(&mut self, op: Op, dtype: DType) -> ValId {
        let varying = self.is_varying(&op);
        self.insts.push(Inst { op, dtype });
        self.varying.push(varying);
        ValId(self.insts.len() as u32 - 1)
    }

    fn is_varying(&self, op: &Op) -> bool {
        let v = |x: &ValId| self.varying[x.index()];
        let idx = |i: &IndexId| {
            let ix = &self.indices[i.index()];
            ix.step_stride != 0 || ix.dynamic.iter().any(|d| v(&d.value))
        };
        match op {
            Op::Carry(_) | Op::Step => true,
            Op::Const(_) => false,
            Op::Load { index, .. } | Op::Coord(index) => idx(index),
            Op::Unary(_, a) | Op::Cast(a) | Op::Assert(a, _, _) => v(a),
            Op::Binary(_, a, b) => v(a) || v(b),
            Op::Select(c, a, b) => v(c) || v(a) || v(b),
            Op::Random {
                c0, c1, counter, ..
            } => v(c0) || v(c1) || idx(counter),
        }
    }

    /// Interns an index.
    fn intern(&mut self, index: Index) -> IndexId {
        if let Some(&id) = self.index_of.get(&index) {
            return id;
        }
        self.indices.push(index.clone());
        let id = IndexId(self.indices.len() as u32 - 1);
        self.index_of.insert(index, id);
        id
    }

    /// Strides over the space of a value with `shape` and `strides`, read at the point.
    pub fn strides_at_point(&self, shape: &[usize], strides: &[i64]) -> Vec<i64> {
        let lead = self.logical.len() - shape.len();
        let logical: Vec<i64> = (0..self.logical.len())
            .map(|d| {
                if d < lead || shape[d - lead] == 1 {
                    0
                } else {
                    strides[d - lead]
                }
            })
            .collect();
        self.perm.iter().map(|&p| logical[p]).collect()
    }

    /// How many runtime checks the kernel has so far (the next one's id).
    pub fn check_count(&self) -> usize {
        self.checks.len()
    }

    /// A runtime check id.
    pub fn check(&mut self, op: &'static str, node: NodeId, message: String) -> usize {
        self.checks.push(Check {
            op,
            node,
            message,
            origin: None,
        });
        self.checks.len() - 1
    }

    /// Reads `view` at the point. Its dynamic terms must already be resolved to values
    /// (`resolve` maps the node-referenced ones).
    pub fn read(
        &mut self,
        view: &View,
        dtype: DType,
        resolve: &mut dyn FnMut(&mut Self, NodeId) -> Option<ValId>,
    ) -> Option<ValId> {
        match view.source {
            Source::Const(c) => {
                // No memory to read, but an index out of range is still the error it is
                // everywhere else (and in the interpreter).
                if !view.dynamic.is_empty() {
                    let strides = self.strides_at_point(&view.shape, &view.strides);
                    let index = self.index(view, strides, resolve)?;
                    self.assert_in_range(index);
                }
                Some(self.push(Op::Const(c), dtype))
            }
            Source::Buf(buf) => {
                let strides = self.strides_at_point(&view.shape, &view.strides);
                let index = self.index(view, strides, resolve)?;
                let param = self.param(buf, dtype, false);
                Some(self.push(Op::Load { param, index }, dtype))
            }
        }
    }

    /// Checks each data-dependent term of `index` as a load through it would, for an
    /// index nothing loads through.
    fn assert_in_range(&mut self, index: IndexId) {
        let terms = self.indices[index.index()].dynamic.clone();
        for d in terms {
            let zero = self.push(Op::Const(0.0), DType::I32);
            let mut ok = self.push(Op::Binary(BinaryOp::Ge, d.value, zero), DType::Bool);
            if let Ok(bound) = i32::try_from(d.bound) {
                let bound = self.push(Op::Const(f64::from(bound)), DType::I32);
                let below = self.push(Op::Binary(BinaryOp::Lt, d.value, bound), DType::Bool);
                ok = self.push(Op::Binary(BinaryOp::And, ok, below), DType::Bool);
            }
            self.push(Op::Assert(ok, d.check, Some(d.value)), DType::Bool);
        }
    }

    /// The index of `view`'s element at the point, given its space `strides`.
    pub fn index(
        &mut self,
        view: &View,
        strides: Vec<i64>,
        resolve: &mut dyn FnMut(&mut Self, NodeId) -> Option<ValId>,
    ) -> Option<IndexId> {
        let mut dynamic = Vec::with_capacity(view.dynamic.len());
        let mut step_stride = 0;
        for d in &view.dynamic {
            let value = match d.index {
                IndexRef::Val(v) => v,
                IndexRef::Node(n) => resolve(self, n)?,
            };
            // The scan step itself is always in range of a sequence: no check needed.
            if self.insts[value.index()].op == Op::Step
                && self.steps.is_some_and(|n| n as u64 <= d.bound)
            {
                step_stride += d.stride;
                continue;
            }
            let check = self.check(d.op, d.node, format!("index out of range 0..{}", d.bound));
            dynamic.push(DynTerm {
                value,
                stride: d.stride,
                bound: d.bound,
                check,
            });
        }
        Some(self.intern(Index {
            offset: view.offset,
            strides,
            step_stride,
            dynamic,
        }))
    }

    /// `Gather`: `x[s, idx[s]]` for the view `x: [S…, K]` and the `i32` value `idx`.
    pub fn gather(
        &mut self,
        x: &View,
        idx: ValId,
        dtype: DType,
        node: NodeId,
        resolve: &mut dyn FnMut(&mut Self, NodeId) -> Option<ValId>,
    ) -> Option<ValId> {
        let r = x.shape.len() - 1;
        let k = x.shape[r];
        let rows = View {
            shape: x.shape[..r].to_vec(),
            strides: x.strides[..r].to_vec(),
            ..x.clone()
        };
        let strides = self.strides_at_point(&rows.shape, &rows.strides);
        let id = self.index(&rows, strides, resolve)?;
        let mut index = self.indices[id.index()].clone();
        let check = self.check("gather", node, format!("index out of range 0..{k}"));
        index.dynamic.push(DynTerm {
            value: idx,
            stride: x.strides[r],
            bound: k as u64,
            check,
        });
        let index = self.intern(index);
        match x.source {
            Source::Buf(buf) => {
                let param = self.param(buf, dtype, false);
                Some(self.push(Op::Load { param, index }, dtype))
            }
            Source::Const(c) => {
                // Every in-range index reads the constant; evaluating the index keeps the check.
                self.push(Op::Coord(index), DType::I32);
                Some(self.push(Op::Const(c), dtype))
            }
        }
    }

    /// `Iota { axis }` of a value with `shape`, at the point.
    pub fn iota(&mut self, shape: &[usize], axis: usize) -> ValId {
        let mut unit = vec![0i64; shape.len()];
        unit[axis] = 1;
        let strides = self.strides_at_point(shape, &unit);
        let index = self.intern(Index {
            offset: 0,
            strides,
            step_stride: 0,
            dynamic: vec![],
        });
        self.push(Op::Coord(index), DType::I32)
    }

    /// One random draw of a value with `shape` at the point.
    #[allow(clippy::too_many_arguments)]
    pub fn random(
        &mut self,
        shape: &[usize],
        dist: Distribution,
        seed: u64,
        stream: u32,
        c0: ValId,
        c1: ValId,
        dtype: DType,
    ) -> ValId {
        let strides = self.strides_at_point(shape, &row_major(shape));
        self.random_at(strides, 0, dist, seed, stream, c0, c1, dtype)
    }

    /// Column `col` of one random draw of a wide value (`shape`: the logical shape plus a
    /// last axis) at the point: its counter is the element's row-major position.
    #[allow(clippy::too_many_arguments)]
    pub fn random_column(
        &mut self,
        shape: &[usize],
        col: usize,
        dist: Distribution,
        seed: u64,
        stream: u32,
        c0: ValId,
        c1: ValId,
        dtype: DType,
    ) -> ValId {
        let rank = shape.len() - 1;
        let strides = self.strides_at_point(&shape[..rank], &row_major(shape)[..rank]);
        self.random_at(strides, col as i64, dist, seed, stream, c0, c1, dtype)
    }

    #[allow(clippy::too_many_arguments)]
    fn random_at(
        &mut self,
        strides: Vec<i64>,
        offset: i64,
        dist: Distribution,
        seed: u64,
        stream: u32,
        c0: ValId,
        c1: ValId,
        dtype: DType,
    ) -> ValId {
        let counter = self.intern(Index {
            offset,
            strides,
            step_stride: 0,
            dynamic: vec![],
        });
        self.push(
            Op::Random {
                dist,
                seed,
                stream,
                c0,
                c1,
                counter,
            },
            dtype,
        )
    }

    /// A pointwise op (`Unary`, `Binary`, `Select`, `Cast`, `StopGradient`) of node `id`
    /// applied to operand values.
    pub fn pointwise(&mut self, id: NodeId, node: &Node, operands: &[ValId]) -> Option<ValId> {
        let dtype = node.ty.as_tensor()?.dtype;
        if let rlp_ir::Op::Binary(op @ (BinaryOp::Div | BinaryOp::Rem)) = node.op
            && dtype == DType::I32
        {
            // Integer division by zero is a runtime error, checked before dividing.
            let zero = self.push(Op::Const(0.0), DType::I32);
            let nonzero = self.push(Op::Binary(BinaryOp::Ne, operands[1], zero), DType::Bool);
            let check = self.check(op_name(op), id, "integer division by zero".into());
            self.push(Op::Assert(nonzero, check, None), DType::Bool);
        }
        if let Some(v) = self.fold(node, operands) {
            return Some(v);
        }
        let op = match &node.op {
            rlp_ir::Op::Unary(u) => Op::Unary(*u, operands[0]),
            rlp_ir::Op::Binary(b) => Op::Binary(*b, operands[0], operands[1]),
            rlp_ir::Op::Select => Op::Select(operands[0], operands[1], operands[2]),
            rlp_ir::Op::Cast if self.dtype(operands[0]) == dtype => return Some(operands[0]),
            rlp_ir::Op::Cast => Op::Cast(operands[0]),
            rlp_ir::Op::StopGradient => return Some(operands[0]),
            _ => return None,
        };
        Some(self.push(op, dtype))
    }

    /// The constant of value `v`, if it is one.
    fn constant_of(&self, v: ValId) -> Option<f64> {
        match self.insts[v.index()].op {
            Op::Const(c) => Some(c),
            _ => None,
        }
    }

    /// Selects on a constant condition, and integer and boolean comparisons and logic of
    /// constants, decided now. (Stacking columns by position compares a constant column
    /// index with constants: without this each step would select through every column.)
    /// Float arithmetic is left to run, so it rounds as the interpreter does.
    fn fold(&mut self, node: &Node, operands: &[ValId]) -> Option<ValId> {
        match &node.op {
            rlp_ir::Op::Select => {
                let c = self.constant_of(operands[0])?;
                Some(if c != 0.0 { operands[1] } else { operands[2] })
            }
            rlp_ir::Op::Binary(op) => {
                let (a, b) = (
                    self.constant_of(operands[0])?,
                    self.constant_of(operands[1])?,
                );
                if matches!(self.dtype(operands[0]), DType::F32 | DType::F64) {
                    return None;
                }
                let truth = match op {
                    BinaryOp::Eq => a == b,
                    BinaryOp::Ne => a != b,
                    BinaryOp::Lt => a < b,
                    BinaryOp::Le => a <= b,
                    BinaryOp::Gt => a > b,
                    BinaryOp::Ge => a >= b,
                    BinaryOp::And => a != 0.0 && b != 0.0,
                    BinaryOp::Or => a != 0.0 || b != 0.0,
                    _ => return None,
                };
                Some(self.push(Op::Const(f64::from(u8::from(truth))), DType::Bool))
            }
            _ => None,
        }
    }

    fn finish(self, name: String, kind: KernelKind) -> Kernel {
        Kernel {
            name,
            params: self.params,
            space: self.perm.iter().map(|&p| self.logical[p]).collect(),
            kind,
            indices: self.indices,
            insts: self.insts,
            checks: self.checks,
            nodes: self.nodes,
            post: None,
        }
    }

    /// An elementwise kernel storing `stores[i].1` into buffer `stores[i].0`.
    pub fn finish_map(mut self, name: String, stores: &[(BufId, ValId)]) -> Kernel {
        let stores = stores
            .iter()
            .map(|&(buf, v)| {
                let dtype = self.dtype(v);
                (self.param(buf, dtype, true), v)
            })
            .collect();
        self.finish(name, KernelKind::Map { stores })
    }

    /// A reduction kernel: the last `space.len() - n_kept` dims are folded with `op`.
    pub fn finish_reduce(
        mut self,
        name: String,
        op: ReduceOp,
        n_kept: usize,
        value: ValId,
        out: BufId,
    ) -> Kernel {
        let out = self.param(out, self.dtype(value), true);
        self.finish(
            name,
            KernelKind::Reduce {
                op,
                n_kept,
                value,
                out,
            },
        )
    }

    /// An argmax kernel over the last space dim.
    pub fn finish_argmax(
        mut self,
        name: String,
        n_kept: usize,
        value: ValId,
        out: BufId,
    ) -> Kernel {
        let out = self.param(out, DType::I32, true);
        self.finish(name, KernelKind::ArgMax { n_kept, value, out })
    }

    /// A scan kernel; instructions are split into prologue and body by whether they vary
    /// with the step. Each store names a column of `width` columns of its buffer's
    /// element (`width` 1: the element itself): the final value of kernel carry `k` goes
    /// to `final_stores[k]` at the unit, per-step values to `step_stores` at `t`.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_scan(
        mut self,
        name: String,
        length: usize,
        reverse: bool,
        init: Vec<ValId>,
        next: Vec<ValId>,
        step_stores: &[(BufId, usize, usize, ValId)],
        final_stores: &[(BufId, usize, usize)],
    ) -> Kernel {
        let (mut prologue, mut body) = (vec![], vec![]);
        for (i, &v) in self.varying.iter().enumerate() {
            if v { &mut body } else { &mut prologue }.push(ValId(i as u32));
        }
        let units: usize = self.logical.iter().product();
        let unit_strides = row_major(&self.logical);
        let column_index = |this: &mut Self, col: usize, width: usize, per_step: bool| {
            this.intern(Index {
                offset: col as i64,
                strides: unit_strides.iter().map(|s| s * width as i64).collect(),
                step_stride: if per_step { (units * width) as i64 } else { 0 },
                dynamic: vec![],
            })
        };
        let dense = step_stores
            .iter()
            .map(|s| s.2)
            .chain(final_stores.iter().map(|s| s.2))
            .all(|w| w == 1);
        let step_stores = step_stores
            .iter()
            .map(|&(buf, col, width, v)| {
                let dtype = self.dtype(v);
                let index = column_index(&mut self, col, width, true);
                (self.param(buf, dtype, true), v, index)
            })
            .collect();
        let final_stores = final_stores
            .iter()
            .zip(&init)
            .map(|(&(buf, col, width), &v)| {
                let dtype = self.dtype(v);
                let index = column_index(&mut self, col, width, false);
                (self.param(buf, dtype, true), index)
            })
            .collect();
        let scan = ScanKernel {
            length,
            reverse,
            prologue,
            body,
            init,
            next,
            step_stores,
            final_stores,
            dense,
        };
        self.finish(name, KernelKind::Scan(scan))
    }
}
