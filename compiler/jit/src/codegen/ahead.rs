//! Uniform draws four steps ahead in lanes scans: the Philox blocks of steps `t..t + 4`
//! computed together, one step per vector lane.
//!
//! Why: a four-unit group draws one Philox block per step (its four words serve the four
//! units), and scalar Philox is ten dependent rounds of multiplies, about a third of a
//! small environment's step. When a draw's counters depend only on the step and on
//! values fixed for the whole scan (an action drawn at counter `iteration · T + t`), the
//! blocks of four consecutive steps are independent: their rounds run in `I32X4` lanes,
//! a quarter of the instructions, and a 4×4 transpose turns them into each step's four
//! words. The words are exactly `rng::philox`'s, so results are unchanged.
//!
//! Only draws whose block index does not move with the step qualify, and a group runs
//! this loop only when that block is aligned (its first unit's counter a multiple of
//! four); any other group runs the per-step loop.

use super::Emitter;
use super::random::Uniform;
use crate::kernel::{Kernel, Op, ScanKernel, ValId};
use cranelift_codegen::ir::{InstBuilder, Value, types};
use rlp_runtime::DType;
use rlp_runtime::rng::{M0, M1};

/// A uniform draw of a scan body computed ahead.
#[derive(Clone, Debug)]
pub(super) struct Draw {
    pub id: ValId,
    pub u: Uniform,
    /// The body instructions computing `c0` and `c1` (in body order), re-evaluated at
    /// each of the four steps.
    pub cone: Vec<ValId>,
}

/// The draws of `s`'s body that can be computed ahead: uniform, with a four-lane form
/// (the counter steps by one along the units, no data-dependent terms), a block index
/// that does not move with the step, not deferred (`deferred`, module `lazy`), and
/// counters computed from constants, the step and prologue values only.
pub(super) fn draws(k: &Kernel, s: &ScanKernel, deferred: &[bool]) -> Vec<Draw> {
    let inner = k.space.len() - 1;
    let mut in_prologue = vec![false; k.insts.len()];
    for &v in &s.prologue {
        in_prologue[v.index()] = true;
    }
    let mut out = vec![];
    for &v in &s.body {
        let Some(u) = Uniform::of(&k.insts[v.index()].op) else {
            continue;
        };
        let ix = &k.indices[u.counter.index()];
        let lane_form = ix.dynamic.is_empty() && ix.strides[inner] == 1 && ix.step_stride == 0;
        let dtype = k.insts[v.index()].dtype;
        if deferred[v.index()] || !lane_form || !matches!(dtype, DType::F32 | DType::F64) {
            continue;
        }
        let mut cone = vec![];
        if step_computable(k, u.c0, &in_prologue, &mut cone)
            && step_computable(k, u.c1, &in_prologue, &mut cone)
        {
            let order = |x: &ValId| s.body.iter().position(|b| b == x);
            cone.sort_by_key(order);
            out.push(Draw { id: v, u, cone });
        }
    }
    out
}

/// Whether `v` is a function of constants, the step and prologue values; collects the
/// body instructions on the way into `cone`.
fn step_computable(k: &Kernel, v: ValId, in_prologue: &[bool], cone: &mut Vec<ValId>) -> bool {
    if in_prologue[v.index()] || cone.contains(&v) {
        return true;
    }
    let ok = match &k.insts[v.index()].op {
        Op::Const(_) | Op::Step => true,
        Op::Unary(_, a) | Op::Cast(a) => step_computable(k, *a, in_prologue, cone),
        Op::Binary(_, a, b) => {
            step_computable(k, *a, in_prologue, cone) && step_computable(k, *b, in_prologue, cone)
        }
        Op::Select(c, a, b) => [c, a, b]
            .iter()
            .all(|x| step_computable(k, **x, in_prologue, cone)),
        _ => false,
    };
    if ok {
        cone.push(v);
    }
    ok
}

impl Emitter<'_, '_> {
    /// The four words of `d`'s block at each of the steps `steps` (one `I32X4` per
    /// step): the counters evaluated at each step, the ten rounds on four lanes, then a
    /// transpose. The block's first counter (`index(d.u.counter)`) is a multiple of four.
    pub(super) fn draw_ahead(&mut self, d: &Draw, steps: [Value; 4]) -> [Value; 4] {
        let saved_step = self.step;
        let (mut c0s, mut c1s) = (Vec::with_capacity(4), Vec::with_capacity(4));
        for &t in &steps {
            self.step = Some(t);
            for &v in &d.cone {
                self.lanes[v.index()] = None;
            }
            // `sin`/`cos` are cached by argument, which now has another value.
            self.trig.clear();
            for &v in &d.cone {
                self.lane_inst(v);
            }
            let c0 = self.one(d.u.c0);
            let c1 = self.one(d.u.c1);
            c0s.push(self.b.ins().extractlane(c0, 0));
            c1s.push(self.b.ins().extractlane(c1, 0));
        }
        // The body evaluates the cone again at its own step.
        for &v in &d.cone {
            self.lanes[v.index()] = None;
        }
        self.step = saved_step;
        let c0v = self.vector_of(types::I32X4, &c0s);
        let c1v = self.vector_of(types::I32X4, &c1s);
        let at = self.index(d.u.counter);
        let block = self.b.ins().ushr_imm_u(at, 2);
        let (lo, high) = self.block_words(d.u.stream, block);
        let lo = self.b.ins().splat(types::I32X4, lo);
        let high = self.b.ins().splat(types::I32X4, high);
        let words = self.philox_lanes(d.u.seed, [lo, c0v, c1v, high]);
        self.transpose4(words)
    }

    /// Four Philox blocks at once, one per `I32X4` lane: `c` holds each lane's counter
    /// words, the result each lane's block words (word `j` of every block in vector `j`).
    pub(super) fn philox_lanes(&mut self, seed: u64, c: [Value; 4]) -> [Value; 4] {
        let (m0, m1) = (self.splat_word(M0), self.splat_word(M1));
        let mulhilo = |e: &mut Self, m: u32, x: Value| {
            let m = if m == M0 { m0 } else { m1 };
            e.mulhilo_lanes(m, x)
        };
        let xor_key = |e: &mut Self, x: Value, k: u32| {
            let k = e.splat_word(k);
            e.b.ins().bxor(x, k)
        };
        self.philox_rounds(seed, c, &mulhilo, &xor_key)
    }

    pub(super) fn splat_word(&mut self, w: u32) -> Value {
        let x = self.b.ins().iconst(types::I32, i64::from(w as i32));
        self.b.ins().splat(types::I32X4, x)
    }

    /// The high and low words of the 64-bit products `m · x`, lane by lane, from two
    /// widening multiplies (lanes 0–1 and 2–3).
    fn mulhilo_lanes(&mut self, m: Value, x: Value) -> (Value, Value) {
        let little = super::lanes::little();
        let lo_x = self.b.ins().uwiden_low(x);
        let lo_m = self.b.ins().uwiden_low(m);
        let hi_x = self.b.ins().uwiden_high(x);
        let hi_m = self.b.ins().uwiden_high(m);
        let p01 = self.b.ins().imul(lo_x, lo_m);
        let p23 = self.b.ins().imul(hi_x, hi_m);
        let p01 = self.b.ins().bitcast(types::I32X4, little, p01);
        let p23 = self.b.ins().bitcast(types::I32X4, little, p23);
        let hi = self.shuffle_words(p01, p23, [1, 3, 5, 7]);
        let lo = self.shuffle_words(p01, p23, [0, 2, 4, 6]);
        (hi, lo)
    }
}
