//! Inline random draws: the Philox4x32-10 rounds of `rlp_runtime::rng` as Cranelift IR.
//!
//! Why inline: a draw per environment step (actions, resets) made the callout the
//! largest cost of a vectorised rollout; emitted inline, the ten rounds are a few dozen
//! integer instructions, the key schedule folds to constants (the seed is known at
//! compile time), and the four words of a block serve every element that shares it
//! (the four columns of a `[N, 4]` reset are one block; in a scalar loop, four
//! consecutive uniforms or two pairs of normals). The sequence is exactly
//! `rng::uniform`'s, and a normal's words go through `rng::box_muller` itself, so
//! results equal the interpreter's bit for bit.

use super::Emitter;
use crate::kernel::{Index, IndexId, Kernel, Op, ValId};
use cranelift_codegen::ir::{InstBuilder, Value, types};
use rlp_ir::Distribution;
use rlp_runtime::DType;
use rlp_runtime::rng::{HI_MIX, M0, M1, W0, W1};

/// What identifies a Philox block within one emission scope: the draw (seed, stream,
/// counter values), the lane being computed (module `lanes`; [`ALL_LANES`] for the four
/// lanes' blocks as vectors) and the block index as an affine index.
pub(super) type BlockKey = (u64, u32, u32, u32, Option<u8>, Index);

/// The lane tag of blocks computed for all four lanes at once, one per vector lane.
pub(super) const ALL_LANES: u8 = u8::MAX;

/// A uniform draw's operands: its Philox key (seed, stream), its two counter words and
/// its element counter (an index of the kernel).
#[derive(Clone, Copy, Debug)]
pub(super) struct Uniform {
    pub seed: u64,
    pub stream: u32,
    pub c0: ValId,
    pub c1: ValId,
    pub counter: IndexId,
}

impl Uniform {
    /// The operands of `op` when it is a uniform draw.
    pub fn of(op: &Op) -> Option<Uniform> {
        Self::of_dist(op, Distribution::Uniform)
    }

    /// The operands of `op` when it is a normal draw, whose words come as a uniform
    /// draw's do (two of them per element).
    pub fn of_normal(op: &Op) -> Option<Uniform> {
        Self::of_dist(op, Distribution::Normal)
    }

    fn of_dist(op: &Op, want: Distribution) -> Option<Uniform> {
        match *op {
            Op::Random {
                dist,
                seed,
                stream,
                c0,
                c1,
                counter,
            } if dist == want => Some(Uniform {
                seed,
                stream,
                c0,
                c1,
                counter,
            }),
            _ => None,
        }
    }

    /// Whether every element's word within its Philox block is known at compile time:
    /// a counter without data-dependent terms whose strides are all multiples of four.
    pub fn static_word(&self, k: &Kernel) -> bool {
        let ix = &k.indices[self.counter.index()];
        ix.dynamic.is_empty() && ix.strides.iter().all(|s| s % 4 == 0) && ix.step_stride % 4 == 0
    }

    /// For a static-word draw: the key of its first element's block in an emission
    /// scope (computing for lane `tag`), and the element's word of that block.
    pub fn block_key(&self, k: &Kernel, tag: Option<u8>) -> (BlockKey, usize) {
        let ix = &k.indices[self.counter.index()];
        let block_index = Index {
            offset: ix.offset.div_euclid(4),
            strides: ix.strides.iter().map(|s| s / 4).collect(),
            step_stride: ix.step_stride / 4,
            dynamic: vec![],
        };
        let key = (
            self.seed,
            self.stream,
            self.c0.0,
            self.c1.0,
            tag,
            block_index,
        );
        (key, ix.offset.rem_euclid(4) as usize)
    }
}

/// The lane tags of blocks shared by a scalar map's group of four elements: a uniform
/// draw's one block, and a normal draw's two (two elements each).
const QUAD: u8 = u8::MAX - 1;
const QUAD_NORMAL: [u8; 2] = [u8::MAX - 2, u8::MAX - 3];

/// The element counters of a scalar map kernel's uniform draws whose four consecutive
/// elements along the row can share one Philox block: each steps by one along the
/// innermost dim with no data-dependent term, and its word is not already known at
/// compile time. Why: each element otherwise computes the whole block (ten rounds) to
/// use one of its four words — the row indices of a replay draw are such a loop.
pub(super) fn quad_counters(k: &Kernel) -> Vec<IndexId> {
    let Some(inner) = k.space.len().checked_sub(1) else {
        return vec![];
    };
    if k.space[inner] < 4 {
        return vec![];
    }
    let steps_by_one = |u: &Uniform| {
        let ix = &k.indices[u.counter.index()];
        ix.dynamic.is_empty() && ix.step_stride == 0 && ix.strides[inner] == 1
    };
    let uniforms = (k.insts.iter())
        .filter_map(|inst| Uniform::of(&inst.op))
        .filter(|u| steps_by_one(u) && !u.static_word(k));
    let normals = (k.insts.iter())
        .filter_map(|inst| Uniform::of_normal(&inst.op))
        .filter(steps_by_one);
    let mut counters: Vec<IndexId> = uniforms.chain(normals).map(|u| u.counter).collect();
    counters.sort_by_key(|c| c.index());
    counters.dedup();
    counters
}

/// Whether a cached block is one a group of four shares.
pub(super) fn shared_by_quad(key: &BlockKey) -> bool {
    matches!(key.4, Some(t) if t == QUAD || QUAD_NORMAL.contains(&t))
}

impl Emitter<'_, '_> {
    /// The four words of block `block` (`i64`) of the draw `(seed, stream, c0, c1)`
    /// (`i32` counters).
    pub(super) fn philox_block(
        &mut self,
        seed: u64,
        stream: u32,
        c0: Value,
        c1: Value,
        block: Value,
    ) -> [Value; 4] {
        let (lo, high) = self.block_words(stream, block);
        let mulhilo = |e: &mut Self, m: u32, x: Value| {
            let wide = e.b.ins().uextend(types::I64, x);
            let p = e.b.ins().imul_imm_s(wide, i64::from(m));
            let hi = e.b.ins().ushr_imm_u(p, 32);
            (
                e.b.ins().ireduce(types::I32, hi),
                e.b.ins().ireduce(types::I32, p),
            )
        };
        let xor_key = |e: &mut Self, x: Value, k: u32| e.b.ins().bxor_imm_s(x, i64::from(k as i32));
        self.philox_rounds(seed, [lo, c0, c1, high], &mulhilo, &xor_key)
    }

    /// The first and last counter words of block `block` (`i64`) of stream `stream`: the
    /// block's low 32 bits, and its high 32 bits mixed with the stream.
    pub(super) fn block_words(&mut self, stream: u32, block: Value) -> (Value, Value) {
        let b = &mut self.b;
        let lo = b.ins().ireduce(types::I32, block);
        let high = b.ins().ushr_imm_u(block, 32);
        let high = b.ins().ireduce(types::I32, high);
        let high = b.ins().imul_imm_s(high, i64::from(HI_MIX as i32));
        let high = b.ins().bxor_imm_s(high, i64::from(stream as i32));
        (lo, high)
    }

    /// The ten rounds of `rng::philox` on the counter words `c`, scalars or `I32X4` lanes
    /// alike: `mulhilo(m, x)` gives the high and low words of `m · x`, `xor_key(x, k)` is
    /// `x ^ k` for a round key `k`.
    pub(super) fn philox_rounds(
        &mut self,
        seed: u64,
        mut c: [Value; 4],
        mulhilo: &dyn Fn(&mut Self, u32, Value) -> (Value, Value),
        xor_key: &dyn Fn(&mut Self, Value, u32) -> Value,
    ) -> [Value; 4] {
        let (mut k0, mut k1) = (seed as u32, (seed >> 32) as u32);
        for _ in 0..10 {
            let (hi0, lo0) = mulhilo(self, M0, c[0]);
            let (hi1, lo1) = mulhilo(self, M1, c[2]);
            let x0 = self.b.ins().bxor(hi1, c[1]);
            let x0 = xor_key(self, x0, k0);
            let x2 = self.b.ins().bxor(hi0, c[3]);
            let x2 = xor_key(self, x2, k1);
            c = [x0, lo1, x2, lo0];
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        c
    }

    /// `rng::unit` of an `i32` word, as `dtype` (`F32` rounds the `f64` once).
    pub(super) fn unit_from_word(&mut self, word: Value, dtype: DType) -> Value {
        let b = &mut self.b;
        let top = b.ins().ushr_imm_u(word, 8);
        let x = b.ins().fcvt_from_uint(types::F64, top);
        let half = b.ins().f64const(0.5);
        let x = b.ins().fadd(x, half);
        let scale = b.ins().f64const(1.0 / 16_777_216.0);
        let u = b.ins().fmul(x, scale);
        if dtype == DType::F64 {
            u
        } else {
            b.ins().fdemote(types::F32, u)
        }
    }

    /// Word `sel` (an `i64` in `0..4`) of `words`, without a branch.
    pub(super) fn pick_word(&mut self, words: [Value; 4], sel: Value) -> Value {
        let b = &mut self.b;
        let low = b.ins().band_imm_u(sel, 1);
        let high = b.ins().band_imm_u(sel, 2);
        let w01 = b.ins().select(low, words[1], words[0]);
        let w23 = b.ins().select(low, words[3], words[2]);
        b.ins().select(high, w23, w01)
    }

    /// A uniform draw at element counter `u.counter`. When the counter's block and word
    /// are affine with a word known at compile time, the block is computed once per
    /// emission scope and shared by the draws that use it.
    pub(super) fn uniform_scalar(&mut self, u: Uniform, dtype: DType) -> Value {
        let (c0v, c1v) = (self.val(u.c0), self.val(u.c1));
        if let Some(j) = self.quad
            && self.quad_counters.contains(&u.counter)
        {
            // The group's first element starts a block (checked before the group runs),
            // so element `j` of the group is word `j`.
            let ix = self.k.indices[u.counter.index()].clone();
            let key = (u.seed, u.stream, u.c0.0, u.c1.0, Some(QUAD), ix);
            let words = self.cached_block(key, u, (c0v, c1v), i64::from(j), 2);
            return self.unit_from_word(words[usize::from(j)], dtype);
        }
        if u.static_word(self.k) {
            let (key, word) = u.block_key(self.k, self.lane_tag);
            let words = self.cached_block(key, u, (c0v, c1v), 0, 2);
            return self.unit_from_word(words[word], dtype);
        }
        let at = self.index(u.counter);
        let block = self.b.ins().ushr_imm_u(at, 2);
        let words = self.philox_block(u.seed, u.stream, c0v, c1v, block);
        let sel = self.b.ins().band_imm_u(at, 3);
        let word = self.pick_word(words, sel);
        self.unit_from_word(word, dtype)
    }

    /// The block under `key` in this emission scope, computed on first use as block
    /// `(counter − back) >> shift` of the draw `u` (counters `c`).
    fn cached_block(
        &mut self,
        key: BlockKey,
        u: Uniform,
        c: (Value, Value),
        back: i64,
        shift: i64,
    ) -> [Value; 4] {
        if let Some(w) = self.blocks.get(&key) {
            return *w;
        }
        let at = self.index(u.counter);
        let first = if back == 0 {
            at
        } else {
            self.b.ins().iadd_imm_s(at, -back)
        };
        let block = self.b.ins().ushr_imm_u(first, shift);
        let w = self.philox_block(u.seed, u.stream, c.0, c.1, block);
        self.blocks.insert(key, w);
        w
    }

    /// A standard normal draw at element counter `u.counter`: words `2(i % 2)` and
    /// `2(i % 2) + 1` of block `i / 2`, inline, through `rng::box_muller`. In a group of
    /// four (its first element's counter a multiple of four) the two blocks of the
    /// group are computed once.
    pub(super) fn normal_scalar(&mut self, u: Uniform, dtype: DType) -> Value {
        let (c0v, c1v) = (self.val(u.c0), self.val(u.c1));
        let (w1, w2) = match self.quad {
            Some(j) if self.quad_counters.contains(&u.counter) => {
                let ix = self.k.indices[u.counter.index()].clone();
                let half = usize::from(j / 2);
                let key = (
                    u.seed,
                    u.stream,
                    u.c0.0,
                    u.c1.0,
                    Some(QUAD_NORMAL[half]),
                    ix,
                );
                let words = self.cached_block(key, u, (c0v, c1v), 0, 1);
                let pair = 2 * usize::from(j % 2);
                (words[pair], words[pair + 1])
            }
            _ => {
                let at = self.index(u.counter);
                let block = self.b.ins().ushr_imm_u(at, 1);
                let words = self.philox_block(u.seed, u.stream, c0v, c1v, block);
                let odd = self.b.ins().band_imm_u(at, 1);
                let w1 = self.b.ins().select(odd, words[2], words[0]);
                let w2 = self.b.ins().select(odd, words[3], words[1]);
                (w1, w2)
            }
        };
        let u1 = self.unit_from_word(w1, DType::F64);
        let u2 = self.unit_from_word(w2, DType::F64);
        let x = self.call("rlp_box_muller", &[u1, u2]);
        if dtype == DType::F64 {
            x
        } else {
            self.b.ins().fdemote(types::F32, x)
        }
    }
}
