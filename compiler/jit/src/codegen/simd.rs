//! Four-lane `f32` code for elementwise kernels.
//!
//! Why: Cranelift does not vectorise loops, and scalar code leaves most of an SSE/NEON
//! unit idle on the cheap arithmetic that fills optimiser updates and activations.
//!
//! A map kernel fits when every buffer it touches is `f32`, every load has a fixed
//! step along the innermost dim (0: one splatted element; 1: one vector load; any other,
//! as a column of a wider tensor: four element loads) and no data-dependent term, and
//! every instruction has an exact lane-wise form (no calls: `sin`, `pow`… stay scalar, as do `floor`, `rem`
//! and casts, which need features older CPUs lack; `exp`, `log` and `tanh` are inline
//! arithmetic, module `math`, and have one). Booleans live as lane masks (all
//! ones or all zeros). Each lane computes exactly what the scalar loop computes for its
//! element, so results are unchanged.
//!
//! A reduction fits on the same terms with one *unit* per lane ([`fits_reduce`]): lane
//! `k` folds unit `first + k`'s elements in their order, so every unit's sum is the
//! scalar one bit for bit; its loads gather one element per unit, since units need not
//! be adjacent in memory.

use super::Emitter;
use crate::kernel::{IndexId, Kernel, KernelKind, Op, ValId};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value, types};
use rlp_ir::{BinaryOp, UnaryOp};
use rlp_runtime::DType;

/// Elements per vector.
pub const LANES: usize = 4;

const VF: Type = types::F32X4;
const VM: Type = types::I32X4;

/// Whether `k` (coalesced) has a four-lane form.
pub fn fits(k: &Kernel) -> bool {
    matches!(k.kind, KernelKind::Map { .. }) && lane_wise(k)
}

/// Whether a (coalesced) scan kernel's step-major loop has a four-lane form: as for a
/// map kernel, with carries (vector loads from their final-store buffers) and loads
/// that move with the step allowed. The step index itself is only ever used by
/// addressing here (`i32` ops have no lane form), so it stays scalar.
pub fn fits_scan(k: &Kernel) -> bool {
    matches!(k.kind, KernelKind::Scan(_)) && !k.space.is_empty() && lane_wise(k)
}

/// Whether a reduction (no checks) has a four-lane fold with one unit per lane: as for a
/// map kernel, except that loads may step by anything (each lane gathers its unit's
/// element).
pub fn fits_reduce(k: &Kernel) -> bool {
    matches!(k.kind, KernelKind::Reduce { .. })
        && !k.space.is_empty()
        && k.checks.is_empty()
        && lane_wise(k)
}

/// Whether a map kernel's load may step by `stride` elements along the innermost dim:
/// its four lanes' byte offsets must fit the 32-bit offset of a load.
fn strided(stride: i64) -> bool {
    stride
        .checked_mul(4 * (LANES as i64 - 1))
        .is_some_and(|b| i32::try_from(b).is_ok())
}

fn lane_wise(k: &Kernel) -> bool {
    let scan = matches!(k.kind, KernelKind::Scan(_));
    let gathers = matches!(k.kind, KernelKind::Reduce { .. });
    let inner = k.space.len() - 1;
    let params_f32 = k.params.iter().all(|p| p.dtype == DType::F32);
    let map = matches!(k.kind, KernelKind::Map { .. });
    let loads_ok = k.indices.iter().all(|ix| {
        ix.dynamic.is_empty()
            && (scan || ix.step_stride == 0)
            && (gathers || matches!(ix.strides[inner], 0 | 1) || map && strided(ix.strides[inner]))
    });
    let op_ok = |inst: &crate::kernel::Inst| match &inst.op {
        Op::Load { .. } => true,
        Op::Const(_) => matches!(inst.dtype, DType::F32 | DType::Bool),
        Op::Unary(u, _) => match inst.dtype {
            DType::F32 => matches!(
                u,
                UnaryOp::Neg
                    | UnaryOp::Abs
                    | UnaryOp::Sqrt
                    | UnaryOp::Sign
                    | UnaryOp::Exp
                    | UnaryOp::Log
                    | UnaryOp::Tanh
            ),
            DType::Bool => *u == UnaryOp::Not,
            _ => false,
        },
        Op::Binary(b, a, _) => match k.insts[a.index()].dtype {
            DType::F32 => {
                b.is_comparison()
                    || matches!(
                        b,
                        BinaryOp::Add
                            | BinaryOp::Sub
                            | BinaryOp::Mul
                            | BinaryOp::Div
                            | BinaryOp::Rem
                            | BinaryOp::Max
                            | BinaryOp::Min
                    )
            }
            DType::Bool => b.is_logical() || matches!(b, BinaryOp::Eq | BinaryOp::Ne),
            _ => false,
        },
        Op::Select(..) => matches!(inst.dtype, DType::F32 | DType::Bool),
        Op::Carry(_) | Op::Step => scan,
        Op::Coord(_) | Op::Cast(_) | Op::Random { .. } | Op::Assert(..) => false,
    };
    params_f32 && loads_ok && k.insts.iter().all(op_ok)
}

impl Emitter<'_, '_> {
    /// Emits the kernel's instructions for the four elements from flat index `i` (the
    /// innermost coordinate is set), and stores them.
    pub(super) fn emit_vector(&mut self, i: Value, stores: &[(usize, ValId)]) {
        let vals = self.vector_values(i);
        for &(param, v) in stores {
            let x = vals[v.index()].expect("stored values are computed");
            self.store_vector(param, i, x);
        }
    }

    /// Stores four lanes at element `index` of `param`.
    pub(super) fn store_vector(&mut self, param: usize, index: Value, x: Value) {
        let addr = self.address(param, index);
        self.b
            .ins()
            .store(MemFlagsData::new().with_notrap(), x, addr, 0);
    }

    /// Every instruction's value for the four units from flat index `i` (the innermost
    /// coordinate is set; in a scan, so is the step).
    pub(super) fn vector_values(&mut self, i: Value) -> Vec<Option<Value>> {
        self.lane_values(Some(i), &mut |e, param, index| {
            let inner = e.k.space.len() - 1;
            let at = e.index(index);
            let addr = e.address(param, at);
            match e.k.indices[index.index()].strides[inner] {
                0 => {
                    let x = e.b.ins().load(types::F32, MemFlagsData::trusted(), addr, 0);
                    e.b.ins().splat(VF, x)
                }
                // Element-aligned only: no `aligned` flag on a vector access.
                1 => {
                    e.b.ins()
                        .load(VF, MemFlagsData::new().with_notrap(), addr, 0)
                }
                // A strided column (`x[:, 0]` of an `[N, 2]`): lane `l` is `stride · l`
                // elements on, all within the row the scalar loop would read.
                stride => {
                    let lanes: Vec<Value> = (0..LANES as i64)
                        .map(|l| {
                            let off = i32::try_from(4 * stride * l).expect("`fits` bounds strides");
                            e.b.ins()
                                .load(types::F32, MemFlagsData::trusted(), addr, off)
                        })
                        .collect();
                    e.vector_of(VF, &lanes)
                }
            }
        })
    }

    /// The element of four units of a reduction at column `cv` of their current rows, one
    /// unit per lane: `row_bases[k]` are unit `k`'s index bases. An index that does not
    /// move with the unit is loaded once.
    pub(super) fn gather_units(
        &mut self,
        param: usize,
        index: IndexId,
        row_bases: &[Vec<Option<Value>>],
        cv: Value,
        n_kept: usize,
    ) -> Value {
        let inner = self.k.space.len() - 1;
        let strides = &self.k.indices[index.index()].strides;
        let same = strides[..n_kept].iter().all(|&s| s == 0);
        // One kept dim stepping by one element (a bias gradient's sum over the batch of a
        // `[B, H]`): the four units' elements lie side by side, one vector load.
        if n_kept == 1 && strides[0] == 1 {
            self.bases = row_bases[0].clone();
            self.inner = Some((inner, cv));
            let at = self.index(index);
            let addr = self.address(param, at);
            return self
                .b
                .ins()
                .load(VF, MemFlagsData::new().with_notrap(), addr, 0);
        }
        let mut lanes = Vec::with_capacity(LANES);
        for bases in row_bases.iter().take(if same { 1 } else { LANES }) {
            self.bases = bases.clone();
            self.inner = Some((inner, cv));
            let at = self.index(index);
            let addr = self.address(param, at);
            lanes.push(
                self.b
                    .ins()
                    .load(types::F32, MemFlagsData::trusted(), addr, 0),
            );
        }
        if same {
            return self.b.ins().splat(VF, lanes[0]);
        }
        self.vector_of(VF, &lanes)
    }

    /// Every instruction's four-lane value, loads produced by `load(param, index)`; a
    /// scan's carries are read at flat index `carry_at` of their final-store buffers.
    pub(super) fn lane_values(
        &mut self,
        carry_at: Option<Value>,
        load: &mut dyn FnMut(&mut Self, usize, IndexId) -> Value,
    ) -> Vec<Option<Value>> {
        let k = self.k;
        let mut vals: Vec<Option<Value>> = vec![None; k.insts.len()];
        for (n, inst) in k.insts.iter().enumerate() {
            let v = |x: &ValId| vals[x.index()].expect("operands come first");
            let value = match &inst.op {
                Op::Load { param, index } => load(self, *param, *index),
                Op::Const(c) => self.splat_const(inst.dtype, *c),
                Op::Unary(u, a) => self.vector_unary(*u, inst.dtype, v(a)),
                Op::Binary(b, x, y) => self.vector_binary(*b, k.insts[x.index()].dtype, v(x), v(y)),
                Op::Select(c, a, b) => self.vector_select(v(c), v(a), v(b)),
                Op::Carry(c) => {
                    let KernelKind::Scan(s) = &k.kind else {
                        unreachable!("carries only occur in scan kernels")
                    };
                    let at = carry_at.expect("a scan's lanes read carries at a unit");
                    let addr = self.address(s.final_stores[*c].0, at);
                    self.b
                        .ins()
                        .load(VF, MemFlagsData::new().with_notrap(), addr, 0)
                }
                // Only addressing uses the step (see `fits_scan`): a scalar suffices.
                Op::Step => {
                    let t = self.step.expect("step outside a scan step");
                    self.b.ins().ireduce(types::I32, t)
                }
                _ => unreachable!("`fits` admits only lane-wise instructions"),
            };
            vals[n] = Some(value);
        }
        vals
    }

    /// A constant in every lane (a bool as a lane mask).
    fn splat_const(&mut self, dtype: DType, c: f64) -> Value {
        if dtype == DType::Bool {
            let m = self
                .b
                .ins()
                .iconst(types::I32, if c != 0.0 { -1 } else { 0 });
            self.b.ins().splat(VM, m)
        } else {
            let x = self.b.ins().f32const(c as f32);
            self.b.ins().splat(VF, x)
        }
    }

    /// `c ? a : b` per lane, for float vectors or masks.
    pub(super) fn vector_select(&mut self, c: Value, a: Value, b: Value) -> Value {
        self.blend(c, a, b)
    }

    /// `mask ? a : b` per lane, where every lane of `mask` (any vector type of the lane
    /// width of `a` and `b`) is all ones or all zeros: one `blendv` on x86-64, whose
    /// sign-bit test then agrees with `bitselect` (which Cranelift lowers to three
    /// instructions unless the mask is a bare comparison).
    pub(super) fn blend(&mut self, mask: Value, a: Value, b: Value) -> Value {
        let ty = self.b.func.dfg.value_type(a);
        if !cfg!(target_arch = "x86_64") {
            let m = self.b.ins().bitcast(ty, MemFlagsData::new(), mask);
            return self.b.ins().bitselect(m, a, b);
        }
        let int = if ty.lane_bits() == 64 {
            types::I64X2
        } else {
            types::I32X4
        };
        let as_int = |e: &mut Self, x: Value| {
            if e.b.func.dfg.value_type(x) == int {
                x
            } else {
                e.b.ins().bitcast(int, MemFlagsData::new(), x)
            }
        };
        let (m, x, y) = (as_int(self, mask), as_int(self, a), as_int(self, b));
        let r = self.b.ins().blendv(m, x, y);
        if ty == int {
            r
        } else {
            self.b.ins().bitcast(ty, MemFlagsData::new(), r)
        }
    }

    pub(super) fn vector_unary(&mut self, op: UnaryOp, dtype: DType, a: Value) -> Value {
        match (op, dtype) {
            (UnaryOp::Not, _) => self.b.ins().bnot(a),
            (UnaryOp::Neg, _) => self.b.ins().fneg(a),
            (UnaryOp::Abs, _) => self.b.ins().fabs(a),
            (UnaryOp::Sqrt, _) => self.b.ins().sqrt(a),
            (UnaryOp::Exp, _) => self.math(true).exp(a),
            (UnaryOp::Log, _) => self.math(true).ln(a),
            (UnaryOp::Tanh, _) => self.math(true).tanh(a),
            (UnaryOp::Sign, _) => {
                // As the scalar form: -1, 1, or the operand itself (±0, NaN).
                let zero = self.splat_const(DType::F32, 0.0);
                let one = self.splat_const(DType::F32, 1.0);
                let minus = self.splat_const(DType::F32, -1.0);
                let pos = self.b.ins().fcmp(FloatCC::GreaterThan, a, zero);
                let neg = self.b.ins().fcmp(FloatCC::LessThan, a, zero);
                let x = self.vector_select(neg, minus, a);
                self.vector_select(pos, one, x)
            }
            _ => unreachable!("`fits` admits only these unary ops"),
        }
    }

    pub(super) fn vector_binary(
        &mut self,
        op: BinaryOp,
        dtype: DType,
        a: Value,
        b: Value,
    ) -> Value {
        if dtype == DType::Bool {
            return match op {
                BinaryOp::And => self.b.ins().band(a, b),
                BinaryOp::Or => self.b.ins().bor(a, b),
                BinaryOp::Eq => {
                    self.b
                        .ins()
                        .icmp(cranelift_codegen::ir::condcodes::IntCC::Equal, a, b)
                }
                _ => self
                    .b
                    .ins()
                    .icmp(cranelift_codegen::ir::condcodes::IntCC::NotEqual, a, b),
            };
        }
        match op {
            BinaryOp::Add => self.b.ins().fadd(a, b),
            BinaryOp::Sub => self.b.ins().fsub(a, b),
            BinaryOp::Mul => self.b.ins().fmul(a, b),
            BinaryOp::Div => self.b.ins().fdiv(a, b),
            BinaryOp::Rem => self.floored_rem(a, b),
            BinaryOp::Max | BinaryOp::Min => {
                // `a` when it is NaN or wins (ties included), else `b`: the scalar rule.
                let a_nan = self.b.ins().fcmp(FloatCC::Unordered, a, a);
                let cc = if op == BinaryOp::Max {
                    FloatCC::GreaterThanOrEqual
                } else {
                    FloatCC::LessThanOrEqual
                };
                let wins = self.b.ins().fcmp(cc, a, b);
                let take_a = self.b.ins().bor(a_nan, wins);
                self.vector_select(take_a, a, b)
            }
            _ => {
                let cc = super::float_cc(op);
                self.b.ins().fcmp(cc, a, b)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fits;
    use crate::kernel::Step;
    use rlp_ir::{BinaryOp, Graph, TensorType, UnaryOp};
    use rlp_runtime::DType;

    fn first_kernel_fits(g: &Graph) -> bool {
        let s = crate::fuse::fuse(g, true).unwrap();
        let Step::Kernel(k) = &s.steps[0] else {
            panic!("not a kernel")
        };
        fits(&k.coalesced())
    }

    #[test]
    fn arithmetic_and_inline_math_on_f32_fit_and_calls_do_not() {
        let mut g = Graph::new();
        let x = g.add_input(TensorType::new(DType::F32, [3, 8]));
        let y = g.add_input(TensorType::new(DType::F32, [8]));
        let yb = g.broadcast(y, &[3, 8]).unwrap();
        let m = g.binary(BinaryOp::Max, x, yb).unwrap();
        let s = g.unary(UnaryOp::Sqrt, m).unwrap();
        g.outputs = vec![s];
        assert!(first_kernel_fits(&g));
        let e = g.unary(UnaryOp::Tanh, s).unwrap();
        g.outputs = vec![e];
        assert!(first_kernel_fits(&g));
        let e = g.unary(UnaryOp::Sin, s).unwrap();
        g.outputs = vec![e];
        assert!(!first_kernel_fits(&g));
        let mut h = Graph::new();
        let x = h.add_input(TensorType::new(DType::F64, [8]));
        let n = h.unary(UnaryOp::Neg, x).unwrap();
        h.outputs = vec![n];
        assert!(!first_kernel_fits(&h));
    }

    #[test]
    fn columns_of_wider_tensors_fit() {
        let mut g = Graph::new();
        let x = g.add_input(TensorType::new(DType::F32, [8, 2]));
        let c = g.slice(x, 1, 1, 2).unwrap();
        let r = g.reshape(c, &[1, 8]).unwrap();
        let b = g.broadcast(r, &[3, 8]).unwrap();
        let e = g.unary(UnaryOp::Exp, b).unwrap();
        g.outputs = vec![e];
        assert!(first_kernel_fits(&g));
    }

    fn first_reduce_fits(g: &Graph) -> bool {
        let s = crate::fuse::fuse(g, true).unwrap();
        let Step::Kernel(k) = &s.steps[0] else {
            panic!("not a kernel")
        };
        super::fits_reduce(&k.coalesced())
    }

    #[test]
    fn f32_reductions_fold_in_lanes_and_f64_or_casts_do_not() {
        let mut g = Graph::new();
        let x = g.add_input(TensorType::new(DType::F32, [5, 8]));
        let e = g.unary(UnaryOp::Exp, x).unwrap();
        let s = g.reduce(rlp_ir::ReduceOp::Sum, e, vec![0]).unwrap();
        g.outputs = vec![s];
        assert!(first_reduce_fits(&g));
        let mut h = Graph::new();
        let x = h.add_input(TensorType::new(DType::F64, [5, 8]));
        let s = h.reduce(rlp_ir::ReduceOp::Max, x, vec![1]).unwrap();
        h.outputs = vec![s];
        assert!(!first_reduce_fits(&h));
        let mut c = Graph::new();
        let x = c.add_input(TensorType::new(DType::I32, [5, 8]));
        let f = c.cast(x, DType::F32).unwrap();
        let s = c.reduce(rlp_ir::ReduceOp::Sum, f, vec![1]).unwrap();
        c.outputs = vec![s];
        assert!(!first_reduce_fits(&c));
    }
}
