//! Four-lane scan kernels of every dtype: a whole environment rollout in vector registers.
//!
//! Why: the `simd` module vectorises `f32`-only kernels, but an environment step mixes
//! `f64` state, `i32` counters, `bool` flags, `f32` observations and random draws. Here
//! four units (environments) run side by side, element-major: their carries stay in
//! registers for all `T` steps. Every value has four lanes — `f32` as `F32X4`, `i32` as
//! `I32X4`, `bool` as an `I32X4` mask (all ones or zeros), `f64` as two `F64X2` halves.
//! An instruction without a lane form here is computed lane by lane by the scalar
//! emitter, so each lane computes exactly what the scalar loop computes for its unit and
//! results are unchanged; only the common operations need a lane form to be fast.

use super::Emitter;
use super::random::{ALL_LANES, Uniform};
use crate::kernel::{IndexId, Kernel, KernelKind, Op, ScanKernel, ValId};
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    ConstantData, Endianness, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Type, Value,
    types,
};
use cranelift_frontend::Variable;
use rlp_ir::{BinaryOp, Distribution, UnaryOp};
use rlp_runtime::DType;
use rlp_runtime::math as m;
use std::collections::HashMap;

/// Units per vector.
const LANES: usize = 4;

/// A value for four units.
#[derive(Clone, Copy, Debug)]
pub(super) enum Lanes {
    /// `F32X4`, `I32X4`, or an `I32X4` mask for `bool`.
    One(Value),
    /// An `f64` value: lanes 0–1 and 2–3 as `F64X2`.
    Two(Value, Value),
}

impl Lanes {
    /// Its vectors, in order.
    pub(super) fn values(self) -> Vec<Value> {
        match self {
            Lanes::One(a) => vec![a],
            Lanes::Two(a, b) => vec![a, b],
        }
    }

    /// A lane value from its vectors (one, or an `f64`'s two halves).
    pub(super) fn from_values(xs: &[Value]) -> Lanes {
        match *xs {
            [a] => Lanes::One(a),
            [a, b] => Lanes::Two(a, b),
            _ => unreachable!("a lane value has one or two vectors"),
        }
    }
}

/// Whether `k` (coalesced) runs four units at a time here: a scan kernel over at least
/// one dim without runtime checks (their first failure is reported in unit order).
pub fn fits(k: &Kernel) -> bool {
    matches!(k.kind, KernelKind::Scan(_)) && !k.space.is_empty() && k.checks.is_empty()
}

/// Groups of four units a blocked scan ([`Emitter::scan_blocks`]) advances together:
/// 256 units, so a step writes a kilobyte run of each 4-byte field, long enough for the
/// hardware prefetcher to follow within a page (16 groups, whole lines but 256-byte
/// runs: 58–60 M CartPole steps/s storing the batch at 16,384 environments; 64 groups:
/// 71–78).
const BLOCK_GROUPS: usize = 64;

/// Units in a block.
pub(super) const BLOCK_UNITS: usize = BLOCK_GROUPS * LANES;

/// Whether a lanes scan runs whole blocks of groups step by step: one dim of at least a
/// block of units, and per-step outputs. `RLP_JIT_UNBLOCKED_SCANS` (set at compile
/// time) turns it off, for before/after benchmarks.
pub(super) fn blocked(k: &Kernel, s: &ScanKernel) -> bool {
    k.space.len() == 1
        && k.space[0] >= BLOCK_UNITS
        && !s.step_stores.is_empty()
        && std::env::var_os("RLP_JIT_UNBLOCKED_SCANS").is_none()
}

/// The vector type of each part of a lane value of `dtype` (`f64` in two halves, a
/// `bool` as an `I32X4` mask).
fn part_types(dtype: DType) -> &'static [Type] {
    match dtype {
        DType::F64 => &[types::F64X2, types::F64X2],
        DType::F32 => &[types::F32X4],
        DType::I32 | DType::Bool => &[types::I32X4],
    }
}

pub(super) fn little() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

fn vector_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

impl Emitter<'_, '_> {
    /// `for j in start..end`, four units at a time while four remain in a row of the last
    /// space dim, each group running the whole scan; then one unit at a time.
    pub(super) fn emit_scan_lanes(&mut self, start: Value, end: Value, s: &ScanKernel) {
        self.keep_non_finite_flags();
        let start = if blocked(self.k, s) {
            self.scan_blocks(start, end, s)
        } else {
            start
        };
        self.emit_rows(start, end, true, &mut |e, _, lanes| {
            if lanes {
                e.scan_group(s)
            } else {
                e.scan_unit(s)
            }
        });
        let status = self.success_status();
        self.b.ins().return_(&[status]);
    }

    /// The scan for the four units at the current point. When some uniform draws can
    /// be computed four steps ahead (module `ahead`), a group whose draws are aligned
    /// runs the step loop that does so, any other the plain one.
    fn scan_group(&mut self, s: &ScanKernel) {
        let k: &Kernel = self.k;
        self.lanes = vec![None; k.insts.len()];
        self.blocks.clear();
        self.trig.clear();
        for &v in &s.prologue {
            self.lane_inst(v);
        }
        let mut carries: Vec<Vec<Variable>> = Vec::with_capacity(s.init.len());
        for &init in &s.init {
            let parts = self.parts(init);
            let vars = parts
                .iter()
                .map(|&x| {
                    let ty = self.b.func.dfg.value_type(x);
                    let var = self.b.declare_var(ty);
                    self.b.def_var(var, x);
                    var
                })
                .collect();
            carries.push(vars);
        }
        self.lane_carries = carries.clone();
        let plan = super::lazy::plan(k, s);
        let draws = super::ahead::draws(k, s, &plan.deferred);
        if draws.is_empty() {
            self.group_steps(s, &plan, &carries, &[]);
        } else {
            let mut misaligned = self.b.ins().iconst(types::I64, 0);
            for d in &draws {
                let at = self.index(d.u.counter);
                misaligned = self.b.ins().bor(misaligned, at);
            }
            let misaligned = self.b.ins().band_imm_s(misaligned, LANES as i64 - 1);
            let [plain, ahead, done] = std::array::from_fn(|_| self.b.create_block());
            self.b.ins().brif(misaligned, plain, &[], ahead, &[]);
            let prologue = self.lanes.clone();
            self.b.switch_to_block(ahead);
            self.group_steps(s, &plan, &carries, &draws);
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(plain);
            self.lanes = prologue;
            self.group_steps(s, &plan, &carries, &[]);
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
        }
        for (c, &(param, index)) in s.final_stores.iter().enumerate() {
            let parts: Vec<Value> = carries[c].iter().map(|&v| self.b.use_var(v)).collect();
            let x = Lanes::from_values(&parts);
            let dtype = k.insts[s.init[c].index()].dtype;
            self.lane_store(param, index, x, dtype);
        }
    }

    /// The step loop of a group, its carries in `carries`; `draws` are computed four
    /// steps ahead (their blocks aligned).
    fn group_steps(
        &mut self,
        s: &ScanKernel,
        plan: &super::lazy::Plan,
        carries: &[Vec<Variable>],
        draws: &[super::ahead::Draw],
    ) {
        let k: &Kernel = self.k;
        let quads = row_quads(k, &s.step_stores);
        // Per draw, the words of the next four steps; the first is this step's.
        let ahead: Vec<[Variable; 4]> = draws
            .iter()
            .map(|_| std::array::from_fn(|_| self.b.declare_var(types::I32X4)))
            .collect();
        self.step_loop(s, &mut |e| {
            for &v in &s.body {
                e.lanes[v.index()] = None;
            }
            e.blocks.clear();
            e.trig.clear();
            e.ahead.clear();
            if !draws.is_empty() {
                e.refill_ahead(s, draws, &ahead);
                for (d, vars) in draws.iter().zip(&ahead) {
                    let w = e.b.use_var(vars[0]);
                    e.ahead.insert(d.id, w);
                }
            }
            e.step_body(s, plan, &quads);
            // Read every next carry before redefining any (a carry may pass to another).
            let next: Vec<Vec<Value>> = s.next.iter().map(|&v| e.parts(v)).collect();
            for (vars, xs) in carries.iter().zip(next) {
                for (&var, x) in vars.iter().zip(xs) {
                    e.b.def_var(var, x);
                }
            }
            for vars in &ahead {
                for j in 0..3 {
                    let w = e.b.use_var(vars[j + 1]);
                    e.b.def_var(vars[j], w);
                }
            }
            e.ahead.clear();
        });
    }

    /// One step of the body for the group at the current point, its carries already
    /// readable, and the step's stores.
    fn step_body(&mut self, s: &ScanKernel, plan: &super::lazy::Plan, quads: &[[usize; 4]]) {
        let k: &Kernel = self.k;
        for &v in &s.body {
            for r in plan.regions.iter().filter(|r| r.before == Some(v)) {
                self.emit_region(r);
            }
            if !plan.deferred[v.index()] {
                self.lane_inst(v);
            }
        }
        for r in plan.regions.iter().filter(|r| r.before.is_none()) {
            self.emit_region(r);
        }
        for (i, &(param, v, index)) in s.step_stores.iter().enumerate() {
            match quads.iter().find(|q| q.contains(&i)) {
                Some(q) if q[0] == i => {
                    let cols = q.map(|j| self.one(s.step_stores[j].1));
                    let base = s.step_stores[q[0]].2;
                    self.store_rows(param, base, cols);
                }
                Some(_) => {}
                None => {
                    let x = self.lane(v);
                    self.lane_store(param, index, x, k.insts[v.index()].dtype);
                }
            }
        }
    }

    /// Whole blocks of [`BLOCK_GROUPS`] groups from `start` on, each block's groups
    /// advancing step by step together; returns where the whole blocks end (the rest
    /// runs group by group).
    ///
    /// Why: the per-step outputs are time-major (`t * units + unit`), so a group that runs
    /// all its steps alone writes a quarter of a cache line of each `f32` field per step,
    /// on a different page each step; the line is completed by three later groups long
    /// after it left the first-level cache, and at thousands of environments each line
    /// is fetched and written back several times. A block's groups at one step together
    /// write long runs of whole lines. Between steps a group's carries wait, in their lane
    /// form, in a stack area (a CartPole group's take 192 bytes; a block's stay in the
    /// first-level cache). Each unit still
    /// evaluates the same instructions in the same step order, so results are unchanged.
    fn scan_blocks(&mut self, start: Value, end: Value, s: &ScanKernel) -> Value {
        let k: &Kernel = self.k;
        let width = BLOCK_UNITS as i64;
        let span = self.b.ins().isub(end, start);
        let whole = self.b.ins().udiv_imm_u(span, width);
        let whole = self.b.ins().imul_imm_s(whole, width);
        let blocks_end = self.b.ins().iadd(start, whole);
        self.set_bases(None, &[], &[]);
        let plan = super::lazy::plan(k, s);
        let quads = row_quads(k, &s.step_stores);
        // Each carry's parts at consecutive 16-byte offsets of a group's area.
        let part_types: Vec<&[Type]> = s
            .init
            .iter()
            .map(|&v| part_types(self.dtype_of(v)))
            .collect();
        let group_bytes = 16 * part_types.iter().map(|t| t.len()).sum::<usize>() as i64;
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (group_bytes * BLOCK_GROUPS as i64) as u32,
            4,
        ));
        let f = vector_flags();
        self.counted_loop(start, blocks_end, width, &mut |e, first| {
            // The group's area: its first unit's offset in the block, over four, times
            // the area of a group.
            let area = |e: &mut Self, unit: Value| {
                let g = e.b.ins().isub(unit, first);
                let off = e.b.ins().imul_imm_s(g, group_bytes / LANES as i64);
                let base = e.b.ins().stack_addr(types::I64, slot, 0);
                e.b.ins().iadd(base, off)
            };
            e.block_groups(first, &mut |e, unit| {
                e.prologue_lanes(s);
                let addr = area(e, unit);
                let mut off = 0;
                for &init in &s.init {
                    for x in e.parts(init) {
                        e.b.ins().store(f, x, addr, off);
                        off += 16;
                    }
                }
            });
            e.step_loop(s, &mut |e| {
                e.block_groups(first, &mut |e, unit| {
                    e.prologue_lanes(s);
                    let addr = area(e, unit);
                    let mut off = 0;
                    let mut carries = Vec::with_capacity(s.init.len());
                    for types in &part_types {
                        let vars = types
                            .iter()
                            .map(|&ty| {
                                let x = e.b.ins().load(ty, f, addr, off);
                                off += 16;
                                let var = e.b.declare_var(ty);
                                e.b.def_var(var, x);
                                var
                            })
                            .collect();
                        carries.push(vars);
                    }
                    e.lane_carries = carries;
                    e.step_body(s, &plan, &quads);
                    // Read every next carry before storing any (a carry may pass to
                    // another).
                    let next: Vec<Vec<Value>> = s.next.iter().map(|&v| e.parts(v)).collect();
                    let mut off = 0;
                    for x in next.into_iter().flatten() {
                        e.b.ins().store(f, x, addr, off);
                        off += 16;
                    }
                });
            });
            // The final carries, from the areas to their outputs.
            e.block_groups(first, &mut |e, unit| {
                let addr = area(e, unit);
                let mut off = 0;
                for (c, types) in part_types.iter().enumerate() {
                    let parts: Vec<Value> = types
                        .iter()
                        .map(|&ty| {
                            let x = e.b.ins().load(ty, f, addr, off);
                            off += 16;
                            x
                        })
                        .collect();
                    let (param, index) = s.final_stores[c];
                    let dtype = e.dtype_of(s.init[c]);
                    e.lane_store(param, index, Lanes::from_values(&parts), dtype);
                }
            });
        });
        self.inner = None;
        blocks_end
    }

    /// `group` for each of the block's groups, starting at unit `first`, with the group's
    /// first unit, which is also the innermost coordinate.
    fn block_groups(&mut self, first: Value, group: &mut dyn FnMut(&mut Self, Value)) {
        let end = self.b.ins().iadd_imm_s(first, BLOCK_UNITS as i64);
        self.counted_loop(first, end, LANES as i64, &mut |e, unit| {
            e.inner = Some((0, unit));
            group(e, unit);
        });
    }

    /// The prologue's lanes for the group at the current point (nothing of an earlier
    /// group's values reused).
    fn prologue_lanes(&mut self, s: &ScanKernel) {
        self.lanes = vec![None; self.k.insts.len()];
        self.blocks.clear();
        self.trig.clear();
        self.ahead.clear();
        for &v in &s.prologue {
            self.lane_inst(v);
        }
    }

    /// At every fourth iteration of the step loop, the next four steps' words of each
    /// draw into `ahead`.
    fn refill_ahead(
        &mut self,
        s: &ScanKernel,
        draws: &[super::ahead::Draw],
        ahead: &[[Variable; 4]],
    ) {
        let t = self.step.expect("inside the step loop");
        let iteration = if s.reverse {
            let last = self.b.ins().iconst(types::I64, s.length as i64 - 1);
            self.b.ins().isub(last, t)
        } else {
            t
        };
        let phase = self.b.ins().band_imm_s(iteration, LANES as i64 - 1);
        let [refill, go_on] = std::array::from_fn(|_| self.b.create_block());
        self.b.ins().brif(phase, go_on, &[], refill, &[]);
        self.b.switch_to_block(refill);
        let steps: [Value; 4] = std::array::from_fn(|j| {
            let by = if s.reverse { -(j as i64) } else { j as i64 };
            self.b.ins().iadd_imm_s(t, by)
        });
        for (d, vars) in draws.iter().zip(ahead) {
            let words = self.draw_ahead(d, steps);
            for (&var, w) in vars.iter().zip(words) {
                self.b.def_var(var, w);
            }
        }
        self.b.ins().jump(go_on, &[]);
        self.b.switch_to_block(go_on);
        // Values computed in the refill block do not reach past it.
        self.blocks.clear();
        self.trig.clear();
    }

    fn lane(&self, v: ValId) -> Lanes {
        self.lanes[v.index()].unwrap_or_else(|| panic!("codegen: lanes of {v:?} used before set"))
    }

    fn parts(&self, v: ValId) -> Vec<Value> {
        self.lane(v).values()
    }

    pub(super) fn one(&self, v: ValId) -> Value {
        match self.lane(v) {
            Lanes::One(a) => a,
            Lanes::Two(..) => unreachable!("only f64 values have two parts"),
        }
    }

    fn dtype_of(&self, v: ValId) -> DType {
        self.k.insts[v.index()].dtype
    }

    /// Computes instruction `id` for the four units, with a lane form where there is one.
    pub(super) fn lane_inst(&mut self, id: ValId) {
        let k: &Kernel = self.k;
        let inst = &k.insts[id.index()];
        let dtype = inst.dtype;
        let fast = match &inst.op {
            Op::Load { param, index } => self.lane_load(*param, *index, dtype),
            Op::Const(c) => Some(self.lane_splat(dtype, *c)),
            Op::Carry(c) => {
                let vars = self.lane_carries[*c].clone();
                let parts: Vec<Value> = vars.iter().map(|&v| self.b.use_var(v)).collect();
                Some(Lanes::from_values(&parts))
            }
            Op::Step => {
                let t = self.step.expect("step outside a scan step");
                let t = self.b.ins().ireduce(types::I32, t);
                Some(Lanes::One(self.b.ins().splat(types::I32X4, t)))
            }
            Op::Unary(u, a) => self.lane_unary(*u, dtype, *a),
            Op::Binary(op, a, b) => {
                let (x, y) = (self.lane(*a), self.lane(*b));
                self.lane_binary(*op, self.dtype_of(*a), x, y)
            }
            Op::Select(c, a, b) => {
                let (c, a, b) = (self.one(*c), self.lane(*a), self.lane(*b));
                Some(self.lane_select(c, a, b))
            }
            Op::Cast(a) => self.lane_cast(self.lane(*a), self.dtype_of(*a), dtype),
            op @ Op::Random {
                dist: Distribution::Uniform,
                ..
            } => {
                let u = Uniform::of(op).expect("a uniform draw");
                self.lane_uniform(id, u, dtype)
            }
            _ => None,
        };
        let x = match fast {
            Some(x) => x,
            None => self.lane_by_lane(id),
        };
        self.lanes[id.index()] = Some(x);
    }

    /// Instruction `id` computed by the scalar emitter once per lane, at that lane's
    /// unit (the innermost coordinate plus the lane).
    fn lane_by_lane(&mut self, id: ValId) -> Lanes {
        let reads = super::lazy::operands(self.k, id);
        let (dim, col) = self.inner.expect("lanes run inside a row");
        let mut outs = [None; LANES];
        for (l, out) in outs.iter_mut().enumerate() {
            for &r in &reads {
                let x = self.extract(self.lane(r), self.dtype_of(r), l);
                self.vals[r.index()] = Some(x);
            }
            let c = self.b.ins().iadd_imm_s(col, l as i64);
            self.inner = Some((dim, c));
            self.lane_tag = Some(l as u8);
            self.emit_inst(id);
            *out = self.vals[id.index()];
        }
        self.inner = Some((dim, col));
        self.lane_tag = None;
        let outs = outs.map(|o| o.expect("the scalar emitter sets its result"));
        self.assemble(self.dtype_of(id), outs)
    }

    /// Lane `l` of `x` as the scalar emitter's value (`bool`: an `I8` 0 or 1).
    fn extract(&mut self, x: Lanes, dtype: DType, l: usize) -> Value {
        match (x, dtype) {
            (Lanes::Two(a, b), _) => {
                let half = if l < 2 { a } else { b };
                self.b.ins().extractlane(half, (l % 2) as u8)
            }
            (Lanes::One(a), DType::Bool) => {
                let m = self.b.ins().extractlane(a, l as u8);
                let bit = self.b.ins().band_imm_s(m, 1);
                self.b.ins().ireduce(types::I8, bit)
            }
            (Lanes::One(a), _) => self.b.ins().extractlane(a, l as u8),
        }
    }

    /// The vector of type `ty` whose lanes are `xs`.
    pub(super) fn vector_of(&mut self, ty: Type, xs: &[Value]) -> Value {
        let mut v = self.b.ins().scalar_to_vector(ty, xs[0]);
        for (l, &x) in xs.iter().enumerate().skip(1) {
            v = self.b.ins().insertlane(v, x, l as u8);
        }
        v
    }

    /// Four scalar-emitter values as one lane value.
    fn assemble(&mut self, dtype: DType, xs: [Value; LANES]) -> Lanes {
        let vector = |e: &mut Self, ty, xs: &[Value]| e.vector_of(ty, xs);
        match dtype {
            DType::F64 => Lanes::Two(
                vector(self, types::F64X2, &xs[..2]),
                vector(self, types::F64X2, &xs[2..]),
            ),
            DType::F32 => Lanes::One(vector(self, types::F32X4, &xs)),
            DType::I32 => Lanes::One(vector(self, types::I32X4, &xs)),
            DType::Bool => {
                let masks = xs.map(|b| {
                    let w = self.b.ins().uextend(types::I32, b);
                    self.b.ins().ineg(w)
                });
                Lanes::One(vector(self, types::I32X4, &masks))
            }
        }
    }

    /// A scalar of the scalar emitter's type in every lane.
    fn broadcast_scalar(&mut self, dtype: DType, x: Value) -> Lanes {
        match dtype {
            DType::F64 => {
                let v = self.b.ins().splat(types::F64X2, x);
                Lanes::Two(v, v)
            }
            DType::F32 => Lanes::One(self.b.ins().splat(types::F32X4, x)),
            DType::I32 => Lanes::One(self.b.ins().splat(types::I32X4, x)),
            DType::Bool => {
                let w = self.b.ins().uextend(types::I32, x);
                let m = self.b.ins().ineg(w);
                Lanes::One(self.b.ins().splat(types::I32X4, m))
            }
        }
    }

    fn lane_splat(&mut self, dtype: DType, c: f64) -> Lanes {
        let x = self.constant(dtype, c);
        self.broadcast_scalar(dtype, x)
    }

    /// A load whose index steps by 0 or 1 along the lanes; others go lane by lane.
    fn lane_load(&mut self, param: usize, index: IndexId, dtype: DType) -> Option<Lanes> {
        let ix = &self.k.indices[index.index()];
        let inner = self.k.space.len() - 1;
        if !ix.dynamic.is_empty() || !matches!(ix.strides[inner], 0 | 1) {
            return None;
        }
        let contiguous = ix.strides[inner] == 1;
        let at = self.index(index);
        let addr = self.address(param, at);
        if !contiguous {
            let ty = super::clif_type(dtype);
            let x = self.b.ins().load(ty, MemFlagsData::trusted(), addr, 0);
            return Some(self.broadcast_scalar(dtype, x));
        }
        let f = vector_flags();
        Some(match dtype {
            DType::F64 => Lanes::Two(
                self.b.ins().load(types::F64X2, f, addr, 0),
                self.b.ins().load(types::F64X2, f, addr, 16),
            ),
            DType::F32 => Lanes::One(self.b.ins().load(types::F32X4, f, addr, 0)),
            DType::I32 => Lanes::One(self.b.ins().load(types::I32X4, f, addr, 0)),
            DType::Bool => {
                // Four bytes of 0/1, widened to 32-bit lanes, compared with 0.
                let word = self.b.ins().load(types::I32, f, addr, 0);
                let v = self.b.ins().scalar_to_vector(types::I32X4, word);
                let bytes = self.b.ins().bitcast(types::I8X16, little(), v);
                let halves = self.b.ins().swiden_low(bytes);
                let words = self.b.ins().swiden_low(halves);
                let zero = self.b.ins().iconst(types::I32, 0);
                let zero = self.b.ins().splat(types::I32X4, zero);
                Lanes::One(self.b.ins().icmp(IntCC::NotEqual, words, zero))
            }
        })
    }

    /// Stores four lanes at `index` of `param`: vector stores where the index steps by
    /// one along the lanes, else lane by lane.
    fn lane_store(&mut self, param: usize, index: IndexId, x: Lanes, dtype: DType) {
        let ix = &self.k.indices[index.index()];
        let inner = self.k.space.len() - 1;
        if ix.dynamic.is_empty() && ix.strides[inner] == 1 {
            let at = self.index(index);
            let addr = self.address(param, at);
            let f = vector_flags();
            for v in x.values() {
                self.note_stored(param, v);
            }
            match (x, dtype) {
                (Lanes::Two(a, b), _) => {
                    self.b.ins().store(f, a, addr, 0);
                    self.b.ins().store(f, b, addr, 16);
                }
                (Lanes::One(m), DType::Bool) => {
                    // Masks to bytes of 0/1: narrow twice, keep the low bit.
                    let halves = self.b.ins().snarrow(m, m);
                    let bytes = self.b.ins().snarrow(halves, halves);
                    let one = self.b.ins().iconst(types::I8, 1);
                    let ones = self.b.ins().splat(types::I8X16, one);
                    let bits = self.b.ins().band(bytes, ones);
                    let words = self.b.ins().bitcast(types::I32X4, little(), bits);
                    let word = self.b.ins().extractlane(words, 0);
                    self.b.ins().store(f, word, addr, 0);
                }
                (Lanes::One(v), _) => {
                    self.b.ins().store(f, v, addr, 0);
                }
            }
            return;
        }
        let (dim, col) = self.inner.expect("lanes run inside a row");
        for l in 0..LANES {
            let c = self.b.ins().iadd_imm_s(col, l as i64);
            self.inner = Some((dim, c));
            let at = self.index(index);
            let v = self.extract(x, dtype, l);
            self.store_raw(param, at, v);
        }
        self.inner = Some((dim, col));
    }

    /// `c ? a : b` per lane (`c` an `I32X4` mask).
    fn lane_select(&mut self, c: Value, a: Lanes, b: Lanes) -> Lanes {
        match (a, b) {
            (Lanes::Two(a0, a1), Lanes::Two(b0, b1)) => {
                let lo = self.b.ins().swiden_low(c);
                let hi = self.b.ins().swiden_high(c);
                Lanes::Two(self.blend(lo, a0, b0), self.blend(hi, a1, b1))
            }
            (Lanes::One(a), Lanes::One(b)) => Lanes::One(self.vector_select(c, a, b)),
            _ => unreachable!("select operands share a dtype"),
        }
    }

    fn lane_unary(&mut self, op: UnaryOp, dtype: DType, a: ValId) -> Option<Lanes> {
        let (x, a) = (a, self.lane(a));
        Some(match (a, dtype) {
            (Lanes::One(a), DType::F32) => match op {
                UnaryOp::Neg
                | UnaryOp::Abs
                | UnaryOp::Sqrt
                | UnaryOp::Sign
                | UnaryOp::Exp
                | UnaryOp::Log
                | UnaryOp::Tanh => Lanes::One(self.vector_unary(op, dtype, a)),
                UnaryOp::Floor => Lanes::One(self.b.ins().floor(a)),
                _ => return None,
            },
            (Lanes::One(a), DType::Bool) if op == UnaryOp::Not => Lanes::One(self.b.ins().bnot(a)),
            (Lanes::One(a), DType::I32) => match op {
                UnaryOp::Neg => Lanes::One(self.b.ins().ineg(a)),
                UnaryOp::Abs => Lanes::One(self.b.ins().iabs(a)),
                _ => return None,
            },
            (Lanes::Two(..), _) if matches!(op, UnaryOp::Sin | UnaryOp::Cos) => {
                let (sin, cos) = self.lane_sin_cos(x);
                if op == UnaryOp::Sin { sin } else { cos }
            }
            (Lanes::Two(a, b), _) => {
                let f = |e: &mut Self, x| match op {
                    UnaryOp::Neg => Some(e.b.ins().fneg(x)),
                    UnaryOp::Abs => Some(e.b.ins().fabs(x)),
                    UnaryOp::Sqrt => Some(e.b.ins().sqrt(x)),
                    _ => None,
                };
                Lanes::Two(f(self, a)?, f(self, b)?)
            }
            _ => return None,
        })
    }

    fn lane_binary(&mut self, op: BinaryOp, dtype: DType, a: Lanes, b: Lanes) -> Option<Lanes> {
        let arith = matches!(
            op,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem
        );
        let minmax = matches!(op, BinaryOp::Max | BinaryOp::Min);
        Some(match (a, b, dtype) {
            (Lanes::One(a), Lanes::One(b), DType::F32) if arith || minmax || op.is_comparison() => {
                Lanes::One(self.vector_binary(op, dtype, a, b))
            }
            (Lanes::One(a), Lanes::One(b), DType::Bool)
                if matches!(
                    op,
                    BinaryOp::And | BinaryOp::Or | BinaryOp::Eq | BinaryOp::Ne
                ) =>
            {
                Lanes::One(self.vector_binary(op, dtype, a, b))
            }
            (Lanes::One(a), Lanes::One(b), DType::I32) => Lanes::One(match op {
                BinaryOp::Add => self.b.ins().iadd(a, b),
                BinaryOp::Sub => self.b.ins().isub(a, b),
                BinaryOp::Mul => self.b.ins().imul(a, b),
                BinaryOp::Max => self.b.ins().smax(a, b),
                BinaryOp::Min => self.b.ins().smin(a, b),
                _ if op.is_comparison() => {
                    let cc = super::int_cc(op);
                    self.b.ins().icmp(cc, a, b)
                }
                _ => return None,
            }),
            (Lanes::Two(a0, a1), Lanes::Two(b0, b1), _) if arith => {
                let f = |e: &mut Self, x, y| match op {
                    BinaryOp::Add => e.b.ins().fadd(x, y),
                    BinaryOp::Sub => e.b.ins().fsub(x, y),
                    BinaryOp::Mul => e.b.ins().fmul(x, y),
                    BinaryOp::Rem => e.floored_rem(x, y),
                    _ => e.b.ins().fdiv(x, y),
                };
                Lanes::Two(f(self, a0, b0), f(self, a1, b1))
            }
            (Lanes::Two(a0, a1), Lanes::Two(b0, b1), _) if minmax => {
                // As the scalar rule: `a` when it is NaN or wins (ties included).
                let cc = if op == BinaryOp::Max {
                    FloatCC::GreaterThanOrEqual
                } else {
                    FloatCC::LessThanOrEqual
                };
                let f = |e: &mut Self, x, y| {
                    let nan = e.b.ins().fcmp(FloatCC::Unordered, x, x);
                    let wins = e.b.ins().fcmp(cc, x, y);
                    let take = e.b.ins().bor(nan, wins);
                    e.blend(take, x, y)
                };
                Lanes::Two(f(self, a0, b0), f(self, a1, b1))
            }
            (Lanes::Two(a0, a1), Lanes::Two(b0, b1), _) if op.is_comparison() => {
                let cc = super::float_cc(op);
                let lo = self.b.ins().fcmp(cc, a0, b0);
                let hi = self.b.ins().fcmp(cc, a1, b1);
                // Each 64-bit mask lane is all ones or zeros: keep its low 32 bits.
                Lanes::One(self.shuffle_words(lo, hi, [0, 2, 4, 6]))
            }
            _ => return None,
        })
    }

    fn lane_cast(&mut self, a: Lanes, from: DType, to: DType) -> Option<Lanes> {
        if from == to {
            return Some(a);
        }
        Some(match (a, from, to) {
            (Lanes::One(a), DType::F32, DType::F64) => {
                let lo = self.b.ins().fvpromote_low(a);
                let upper = self.shuffle_words(a, a, [2, 3, 2, 3]);
                let upper = self.b.ins().bitcast(types::F32X4, little(), upper);
                Lanes::Two(lo, self.b.ins().fvpromote_low(upper))
            }
            (Lanes::Two(a, b), DType::F64, DType::F32) => {
                let lo = self.b.ins().fvdemote(a);
                let hi = self.b.ins().fvdemote(b);
                let v = self.shuffle_words(lo, hi, [0, 1, 4, 5]);
                Lanes::One(self.b.ins().bitcast(types::F32X4, little(), v))
            }
            // Saturating, NaN to 0: the scalar cast's (Rust's `as`) rule.
            (Lanes::One(a), DType::F32, DType::I32) => {
                Lanes::One(self.b.ins().fcvt_to_sint_sat(types::I32X4, a))
            }
            (Lanes::One(a), DType::I32, DType::F32) => {
                Lanes::One(self.b.ins().fcvt_from_sint(types::F32X4, a))
            }
            // Exact, as the scalar conversion.
            (Lanes::One(a), DType::I32, DType::F64) => {
                let lo = self.b.ins().swiden_low(a);
                let hi = self.b.ins().swiden_high(a);
                Lanes::Two(
                    self.b.ins().fcvt_from_sint(types::F64X2, lo),
                    self.b.ins().fcvt_from_sint(types::F64X2, hi),
                )
            }
            (Lanes::One(m), DType::Bool, _) => {
                let one = self.lane_splat(to, 1.0);
                let zero = self.lane_splat(to, 0.0);
                self.lane_select(m, one, zero)
            }
            (x, _, DType::Bool) => {
                let zero = self.lane_splat(from, 0.0);
                self.lane_binary(BinaryOp::Ne, from, x, zero)?
            }
            _ => return None,
        })
    }

    /// 32-bit lanes `idx` (0–3 from `a`, 4–7 from `b`) of two vectors, as `I32X4`.
    pub(super) fn shuffle_words(&mut self, a: Value, b: Value, idx: [u8; 4]) -> Value {
        let a = self.b.ins().bitcast(types::I8X16, little(), a);
        let b = self.b.ins().bitcast(types::I8X16, little(), b);
        let mut mask = [0u8; 16];
        for (w, &i) in idx.iter().enumerate() {
            for byte in 0..4 {
                mask[4 * w + byte] = 4 * i + byte as u8;
            }
        }
        let imm = self
            .b
            .func
            .dfg
            .immediates
            .push(ConstantData::from(&mask[..]));
        let v = self.b.ins().shuffle(a, b, imm);
        self.b.ins().bitcast(types::I32X4, little(), v)
    }

    /// A uniform draw for four units, by the shape of its counters: words computed four
    /// steps ahead (module `ahead`); whole Philox blocks per unit (`lane_row_uniform`);
    /// four consecutive counters, the four words of one block when the first is a
    /// multiple of four; any other counters without data-dependent terms
    /// (`lane_counter_uniform`).
    fn lane_uniform(&mut self, id: ValId, u: Uniform, dtype: DType) -> Option<Lanes> {
        if let Some(&words) = self.ahead.get(&id) {
            return self.units_from_words(words, dtype);
        }
        let ix = &self.k.indices[u.counter.index()];
        let inner = self.k.space.len() - 1;
        if !ix.dynamic.is_empty() {
            return None;
        }
        if u.static_word(self.k) {
            return Some(self.lane_row_uniform(u, dtype));
        }
        if ix.strides[inner] != 1 {
            return Some(self.lane_counter_uniform(u, dtype));
        }
        let at = self.index(u.counter);
        let misaligned = self.b.ins().band_imm_s(at, 3);
        let [aligned, straddles, merge] = std::array::from_fn(|_| self.b.create_block());
        self.b.ins().brif(misaligned, straddles, &[], aligned, &[]);

        self.b.switch_to_block(aligned);
        let c0v = self.one(u.c0);
        let c0s = self.b.ins().extractlane(c0v, 0);
        let c1v = self.one(u.c1);
        let c1s = self.b.ins().extractlane(c1v, 0);
        let block = self.b.ins().ushr_imm_u(at, 2);
        let words = self.philox_block(u.seed, u.stream, c0s, c1s, block);
        let w = self.vector_of(types::I32X4, &words);
        let fast = self.units_from_words(w, dtype)?.values();
        let args: Vec<_> = fast.iter().map(|&v| v.into()).collect();
        self.b.ins().jump(merge, &args);

        self.b.switch_to_block(straddles);
        let slow = self.lane_counter_uniform(u, dtype).values();
        let args: Vec<_> = slow.iter().map(|&v| v.into()).collect();
        self.b.ins().jump(merge, &args);

        self.b.switch_to_block(merge);
        let params: Vec<Value> = fast
            .iter()
            .map(|&v| {
                let ty = self.b.func.dfg.value_type(v);
                self.b.append_block_param(merge, ty)
            })
            .collect();
        // Philox blocks cached on one side are not available after the merge.
        self.blocks.clear();
        Some(Lanes::from_values(&params))
    }

    /// A uniform draw for four units whose counters are a whole number of Philox blocks
    /// apart, all at the same word of their blocks (every stride a multiple of four: the
    /// rows of a `[N, 4]` reset). The four blocks run in the lanes of one vector Philox,
    /// computed once per emission scope for every draw that shares them (the columns).
    fn lane_row_uniform(&mut self, u: Uniform, dtype: DType) -> Lanes {
        let (key, word) = u.block_key(self.k, Some(ALL_LANES));
        let words = match self.blocks.get(&key) {
            Some(w) => *w,
            None => {
                let inner = self.k.space.len() - 1;
                let per_lane = self.k.indices[u.counter.index()].strides[inner] / 4;
                let at = self.index(u.counter);
                let first = self.b.ins().ushr_imm_u(at, 2);
                let blocks =
                    std::array::from_fn(|l| self.b.ins().iadd_imm_s(first, per_lane * l as i64));
                let w = self.blocks_in_lanes(u, blocks);
                self.blocks.insert(key, w);
                w
            }
        };
        self.units_from_words(words[word], dtype)
            .expect("uniform draws are floats")
    }

    /// A uniform draw for four units at any counters without data-dependent terms:
    /// each lane's block through one vector Philox, then each lane's word of its block
    /// picked by blends.
    fn lane_counter_uniform(&mut self, u: Uniform, dtype: DType) -> Lanes {
        let inner = self.k.space.len() - 1;
        let stride = self.k.indices[u.counter.index()].strides[inner];
        let at = self.index(u.counter);
        let counters: [Value; LANES] =
            std::array::from_fn(|l| self.b.ins().iadd_imm_s(at, stride * l as i64));
        let blocks = counters.map(|c| self.b.ins().ushr_imm_u(c, 2));
        let sels = counters.map(|c| {
            let word = self.b.ins().band_imm_u(c, 3);
            self.b.ins().ireduce(types::I32, word)
        });
        let sel = self.vector_of(types::I32X4, &sels);
        let w = self.blocks_in_lanes(u, blocks);
        let bit = |e: &mut Self, b: u32| {
            let m = e.splat_word(b);
            let set = e.b.ins().band(sel, m);
            e.b.ins().icmp(IntCC::Equal, set, m)
        };
        let (odd, upper) = (bit(self, 1), bit(self, 2));
        let w01 = self.blend(odd, w[1], w[0]);
        let w23 = self.blend(odd, w[3], w[2]);
        let word = self.blend(upper, w23, w01);
        self.units_from_words(word, dtype)
            .expect("uniform draws are floats")
    }

    /// The words of Philox blocks `blocks` (`i64`, one per lane) of draw `u`, through one
    /// vector Philox: word `j` of every lane's block in vector `j`.
    fn blocks_in_lanes(&mut self, u: Uniform, blocks: [Value; LANES]) -> [Value; 4] {
        let words = blocks.map(|b| self.block_words(u.stream, b));
        let lo = self.vector_of(types::I32X4, &words.map(|w| w.0));
        let high = self.vector_of(types::I32X4, &words.map(|w| w.1));
        // The counter words are the same in every lane.
        let [c0v, c1v] = [u.c0, u.c1].map(|c| {
            let v = self.one(c);
            let x = self.b.ins().extractlane(v, 0);
            self.b.ins().splat(types::I32X4, x)
        });
        self.philox_lanes(u.seed, [lo, c0v, c1v, high])
    }

    /// `rng::unit` of four `I32X4` words, as `dtype`: `(w >> 8) + 0.5` scaled by 2^-24.
    /// In `f32` this rounds once, as the `f64` computation demoted does (the scaling is
    /// exact).
    fn units_from_words(&mut self, w: Value, dtype: DType) -> Option<Lanes> {
        let top = self.b.ins().ushr_imm_u(w, 8);
        if dtype == DType::F64 {
            // `w >> 8` is below 2^24: exact in f32, and so after promoting.
            let k = self.b.ins().fcvt_from_sint(types::F32X4, top);
            let Lanes::Two(lo, hi) = self.lane_cast(Lanes::One(k), DType::F32, DType::F64)? else {
                unreachable!("f64 values have two parts")
            };
            let Lanes::Two(half, _) = self.lane_splat(DType::F64, 0.5) else {
                unreachable!("f64 values have two parts")
            };
            let Lanes::Two(scale, _) = self.lane_splat(DType::F64, 1.0 / 16_777_216.0) else {
                unreachable!("f64 values have two parts")
            };
            let f = |e: &mut Self, x| {
                let x = e.b.ins().fadd(x, half);
                e.b.ins().fmul(x, scale)
            };
            Some(Lanes::Two(f(self, lo), f(self, hi)))
        } else {
            let x = self.b.ins().fcvt_from_sint(types::F32X4, top);
            let half = self.lane_splat(DType::F32, 0.5);
            let scale = self.lane_splat(DType::F32, 1.0 / 16_777_216.0);
            let (Lanes::One(half), Lanes::One(scale)) = (half, scale) else {
                unreachable!()
            };
            let x = self.b.ins().fadd(x, half);
            Some(Lanes::One(self.b.ins().fmul(x, scale)))
        }
    }

    /// `sin` and `cos` of the `f64` value `x` for four units, computed together and kept
    /// for the scope (the quadrant selection needs both kernels anyway): the sequence of
    /// `rlp_runtime::math::{sin_f64, cos_f64}` on `F64X2` halves when every lane is within
    /// the reduction limit, else lane by lane through the same scalar functions.
    fn lane_sin_cos(&mut self, x: ValId) -> (Lanes, Lanes) {
        if let Some(&pair) = self.trig.get(&x) {
            return pair;
        }
        let Lanes::Two(x0, x1) = self.lane(x) else {
            unreachable!("f64 values have two parts")
        };
        let split = |l: Lanes| match l {
            Lanes::Two(a, b) => (a, b),
            Lanes::One(_) => unreachable!("f64 values have two parts"),
        };
        let all_below = |e: &mut Self, bound: f64, cc: FloatCC| {
            let bound = split(e.lane_splat(DType::F64, bound)).0;
            let (a0, a1) = (e.b.ins().fabs(x0), e.b.ins().fabs(x1));
            let ok0 = e.b.ins().fcmp(cc, a0, bound);
            let ok1 = e.b.ins().fcmp(cc, a1, bound);
            let ok = e.b.ins().band(ok0, ok1);
            e.b.ins().vall_true(ok)
        };
        // Below 0.78, x·2/π rounds to 0 in every lane: the reduction leaves x as it is (a
        // -0 becomes +0, which the kernels map to the same results) and the quadrant
        // selects keep the kernels' values, so the kernels alone give the same bits.
        let small = all_below(self, 0.78, FloatCC::LessThan);
        let [tiny, check, fast, slow, merge] = std::array::from_fn(|_| self.b.create_block());
        self.b.ins().brif(small, tiny, &[], check, &[]);

        self.b.switch_to_block(tiny);
        let (s0, c0) = self.half_kernels(x0);
        let (s1, c1) = self.half_kernels(x1);
        self.b
            .ins()
            .jump(merge, &[s0.into(), s1.into(), c0.into(), c1.into()]);

        self.b.switch_to_block(check);
        let all = all_below(self, m::TRIG_LIMIT, FloatCC::LessThanOrEqual);
        self.b.ins().brif(all, fast, &[], slow, &[]);

        self.b.switch_to_block(fast);
        let (s0, c0) = self.half_sin_cos(x0);
        let (s1, c1) = self.half_sin_cos(x1);
        self.b
            .ins()
            .jump(merge, &[s0.into(), s1.into(), c0.into(), c1.into()]);

        self.b.switch_to_block(slow);
        let mut sins = [x0; LANES];
        let mut coss = [x0; LANES];
        for l in 0..LANES {
            let xl = self.extract(Lanes::Two(x0, x1), DType::F64, l);
            sins[l] = self.call("rlp_sin_f64", &[xl]);
            coss[l] = self.call("rlp_cos_f64", &[xl]);
        }
        let (s0, s1) = split(self.assemble(DType::F64, sins));
        let (c0, c1) = split(self.assemble(DType::F64, coss));
        self.b
            .ins()
            .jump(merge, &[s0.into(), s1.into(), c0.into(), c1.into()]);

        self.b.switch_to_block(merge);
        let p: Vec<Value> = (0..4)
            .map(|_| self.b.append_block_param(merge, types::F64X2))
            .collect();
        let pair = (Lanes::Two(p[0], p[1]), Lanes::Two(p[2], p[3]));
        self.trig.insert(x, pair);
        pair
    }

    /// The sine and cosine kernels of `math` on an `F64X2` (|h| ≤ π/4): Horner's rule
    /// with one fused multiply-add per step, as `math::horner_fma`. (Without the host's
    /// FMA instructions Cranelift calls libm's `fma` per lane: slower, same bits.)
    fn half_kernels(&mut self, r: Value) -> (Value, Value) {
        let c = |e: &mut Self, v: f64| {
            let x = e.b.ins().f64const(v);
            e.b.ins().splat(types::F64X2, x)
        };
        let z = self.b.ins().fmul(r, r);
        let horner = |e: &mut Self, coeffs: &[f64]| {
            let (&last, rest) = coeffs.split_last().expect("a polynomial has coefficients");
            let mut p = c(e, last);
            for &co in rest.iter().rev() {
                let cv = c(e, co);
                p = e.b.ins().fma(p, z, cv);
            }
            p
        };
        let ps = horner(self, &m::SIN_F64);
        let rz = self.b.ins().fmul(r, z);
        let sin_r = self.b.ins().fma(rz, ps, r);
        let pc = horner(self, &m::COS_F64);
        let one = c(self, 1.0);
        let cos_r = self.b.ins().fma(z, pc, one);
        (sin_r, cos_r)
    }

    /// `(sin h, cos h)` for an `F64X2` within the reduction limit, as `math::sin_f64` and
    /// `math::cos_f64` compute them, operation for operation.
    fn half_sin_cos(&mut self, h: Value) -> (Value, Value) {
        let c = |e: &mut Self, v: f64| {
            let x = e.b.ins().f64const(v);
            e.b.ins().splat(types::F64X2, x)
        };
        let two_pi = c(self, m::FRAC_2_PI);
        let t = self.b.ins().fmul(h, two_pi);
        let k = self.b.ins().nearest(t);
        let mut r = h;
        for part in [m::PIO2_1, m::PIO2_2, m::PIO2_3] {
            let p = c(self, part);
            let kp = self.b.ins().fmul(k, p);
            r = self.b.ins().fsub(r, kp);
        }
        let quarter = c(self, 0.25);
        let four = c(self, 4.0);
        let kq = self.b.ins().fmul(k, quarter);
        let fl = self.b.ins().floor(kq);
        let f4 = self.b.ins().fmul(four, fl);
        let q = self.b.ins().fsub(k, f4);
        let (sin_r, cos_r) = self.half_kernels(r);
        let is = |e: &mut Self, v: f64| {
            let cv = c(e, v);
            e.b.ins().fcmp(FloatCC::Equal, q, cv)
        };
        let (q1, q2, q3) = (is(self, 1.0), is(self, 2.0), is(self, 3.0));
        let two = c(self, 2.0);
        let odd = self.b.ins().bor(q1, q3);
        let upper = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, q, two);
        let middle = self.b.ins().bor(q1, q2);
        let pick = |e: &mut Self, mask: Value, a: Value, bb: Value| e.blend(mask, a, bb);
        let vs = pick(self, odd, cos_r, sin_r);
        let ns = self.b.ins().fneg(vs);
        let sin = pick(self, upper, ns, vs);
        let vc = pick(self, odd, sin_r, cos_r);
        let nc = self.b.ins().fneg(vc);
        let cos = pick(self, middle, nc, vc);
        (sin, cos)
    }

    /// A deferred region (module `lazy`): when any lane has the condition set, its cone
    /// and then the selects run; otherwise the branch goes straight to the merge with
    /// every select's `b` operand, and no blend runs. The selects' results reach the rest
    /// of the step as the merge's parameters; the `b` operands, arguments of the branch,
    /// are computed once before it.
    fn emit_region(&mut self, r: &super::lazy::Region) {
        let k: &Kernel = self.k;
        let c = self.one(r.cond);
        let any = self.b.ins().vany_true(c);
        // With no lane's condition set, every select yields its `b` operand (that select's
        // own `b` when the operand is another of the selects).
        let mut kept: HashMap<ValId, Vec<Value>> = HashMap::new();
        for &v in &r.selects {
            let Op::Select(_, _, b) = k.insts[v.index()].op else {
                unreachable!("regions hold selects")
            };
            let x = kept.get(&b).cloned().unwrap_or_else(|| self.parts(b));
            kept.insert(v, x);
        }
        let skip: Vec<_> = r
            .selects
            .iter()
            .flat_map(|v| kept[v].clone())
            .map(Into::into)
            .collect();
        let [work, merge] = std::array::from_fn(|_| self.b.create_block());
        self.b.ins().brif(any, work, &[], merge, &skip);
        let trig_before: Vec<ValId> = self.trig.keys().copied().collect();

        self.b.switch_to_block(work);
        for &v in r.cone.iter().chain(&r.selects) {
            self.lane_inst(v);
        }
        let args: Vec<_> = r
            .selects
            .iter()
            .flat_map(|&v| self.parts(v))
            .map(Into::into)
            .collect();
        self.b.ins().jump(merge, &args);

        self.b.switch_to_block(merge);
        for &v in &r.selects {
            let parts: Vec<Value> = self
                .parts(v)
                .iter()
                .map(|&x| {
                    let ty = self.b.func.dfg.value_type(x);
                    self.b.append_block_param(merge, ty)
                })
                .collect();
            self.lanes[v.index()] = Some(Lanes::from_values(&parts));
        }
        // Values computed in the work block do not reach past the merge.
        self.blocks.clear();
        self.trig.retain(|x, _| trig_before.contains(x));
    }

    /// Stores four 32-bit columns of four lanes as four rows: element `(lane, col)` at
    /// `index(base) + col` with the lane's unit (a 4×4 transpose, then vector stores).
    fn store_rows(&mut self, param: usize, base: IndexId, cols: [Value; 4]) {
        for c in cols {
            self.note_stored(param, c);
        }
        let rows = self.transpose4(cols);
        let (dim, col) = self.inner.expect("lanes run inside a row");
        for (l, row) in rows.into_iter().enumerate() {
            let c = self.b.ins().iadd_imm_s(col, l as i64);
            self.inner = Some((dim, c));
            let at = self.index(base);
            let addr = self.address(param, at);
            self.b.ins().store(vector_flags(), row, addr, 0);
        }
        self.inner = Some((dim, col));
    }
}

impl Emitter<'_, '_> {
    /// The 4×4 transpose of four `I32X4` values: word `j` of result `i` is word `i` of
    /// `cols[j]`.
    pub(super) fn transpose4(&mut self, cols: [Value; 4]) -> [Value; 4] {
        let t0 = self.shuffle_words(cols[0], cols[1], [0, 4, 1, 5]);
        let t1 = self.shuffle_words(cols[2], cols[3], [0, 4, 1, 5]);
        let t2 = self.shuffle_words(cols[0], cols[1], [2, 6, 3, 7]);
        let t3 = self.shuffle_words(cols[2], cols[3], [2, 6, 3, 7]);
        [
            self.shuffle_words(t0, t1, [0, 1, 4, 5]),
            self.shuffle_words(t0, t1, [2, 3, 6, 7]),
            self.shuffle_words(t2, t3, [0, 1, 4, 5]),
            self.shuffle_words(t2, t3, [2, 3, 6, 7]),
        ]
    }
}

/// Groups of four per-step stores (by position in `stores`, in column order) that write
/// the four consecutive 32-bit columns of one row per unit: one param, the same strides,
/// offsets `o..o + 4`, a stride of four along the lanes.
fn row_quads(k: &Kernel, stores: &[(usize, ValId, IndexId)]) -> Vec<[usize; 4]> {
    let inner = k.space.len() - 1;
    let mut quads = vec![];
    for (i, &(param, v, index)) in stores.iter().enumerate() {
        let ix = &k.indices[index.index()];
        let word = matches!(k.insts[v.index()].dtype, DType::F32 | DType::I32);
        if !word || !ix.dynamic.is_empty() || ix.strides[inner] != 4 {
            continue;
        }
        let mut quad = [i; 4];
        let found = (1..4).all(|c| {
            stores.iter().enumerate().any(|(j, &(p, w, jx))| {
                let other = &k.indices[jx.index()];
                let hit = p == param
                    && k.insts[w.index()].dtype == k.insts[v.index()].dtype
                    && other.offset == ix.offset + c as i64
                    && other.strides == ix.strides
                    && other.step_stride == ix.step_stride
                    && other.dynamic.is_empty();
                if hit {
                    quad[c] = j;
                }
                hit
            })
        });
        if found && !quads.iter().any(|q: &[usize; 4]| q.contains(&i)) {
            quads.push(quad);
        }
    }
    quads
}
