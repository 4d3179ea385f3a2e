//! Inline `f32` `exp`, `ln` and `tanh`: `rlp_runtime::math`'s operation sequences,
//! emitted as Cranelift IR on scalars or on `F32X4` lanes.
//!
//! Why inline: a callout per element keeps a kernel scalar and costs a call; these
//! sequences are plain IEEE arithmetic, so each lane rounds exactly as the interpreter's
//! Rust code does — provided the sequence is the same, operation for operation, with the
//! same constants (taken from `rlp_runtime::math`) and never a fused multiply-add. Keep
//! every function here in step with its counterpart there.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;
use rlp_runtime::math as m;

/// Emits the sequences on `F32` scalars or, when `vector`, on `F32X4` lanes.
pub(super) struct MathEmitter<'b, 'f> {
    pub b: &'b mut FunctionBuilder<'f>,
    pub vector: bool,
}

impl MathEmitter<'_, '_> {
    fn fty(&self) -> Type {
        if self.vector {
            types::F32X4
        } else {
            types::F32
        }
    }

    fn ity(&self) -> Type {
        if self.vector {
            types::I32X4
        } else {
            types::I32
        }
    }

    fn f(&mut self, c: f32) -> Value {
        let x = self.b.ins().f32const(c);
        if self.vector {
            self.b.ins().splat(types::F32X4, x)
        } else {
            x
        }
    }

    fn i(&mut self, c: i32) -> Value {
        let x = self.b.ins().iconst(types::I32, i64::from(c));
        if self.vector {
            self.b.ins().splat(types::I32X4, x)
        } else {
            x
        }
    }

    fn bits(&mut self, x: Value) -> Value {
        let t = self.ity();
        self.b.ins().bitcast(t, MemFlagsData::new(), x)
    }

    fn float(&mut self, x: Value) -> Value {
        let t = self.fty();
        self.b.ins().bitcast(t, MemFlagsData::new(), x)
    }

    fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }

    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }

    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }

    fn cmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(cc, a, b)
    }

    /// `c ? a : b` on integer values (`c` from [`Self::cmp`]), without a branch.
    fn sel_int(&mut self, c: Value, a: Value, b: Value) -> Value {
        if self.vector {
            self.b.ins().bitselect(c, a, b)
        } else {
            self.b.ins().select(c, a, b)
        }
    }

    /// `c ? a : b` on float values, selecting bit patterns (a `cmov`, not a jump).
    fn sel(&mut self, c: Value, a: Value, b: Value) -> Value {
        let (ai, bi) = (self.bits(a), self.bits(b));
        let r = self.sel_int(c, ai, bi);
        self.float(r)
    }

    /// `p[0]·x^(k-1) + … + p[k-1]`, as `math::horner`.
    fn horner(&mut self, p: &[f32], x: Value) -> Value {
        let mut acc = self.f(p[0]);
        for &c in &p[1..] {
            let t = self.mul(acc, x);
            let c = self.f(c);
            acc = self.add(t, c);
        }
        acc
    }

    /// `2^n` from the exponent bits, as `math::pow2`.
    fn pow2(&mut self, n: Value) -> Value {
        let bias = self.i(127);
        let e = self.b.ins().iadd(n, bias);
        let sh = self.b.ins().iconst(types::I32, 23);
        let e = self.b.ins().ishl(e, sh);
        self.float(e)
    }

    /// `math::exp_f32`.
    pub fn exp(&mut self, x: Value) -> Value {
        let hi = self.f(m::EXP_HI);
        let c = self.cmp(FloatCC::GreaterThan, x, hi);
        let x = self.sel(c, hi, x);
        let lo = self.f(m::EXP_LO);
        let c = self.cmp(FloatCC::LessThan, x, lo);
        let x = self.sel(c, lo, x);
        let (y, ni) = self.exp_core(x);
        let one_i = self.b.ins().iconst(types::I32, 1);
        let n1 = self.b.ins().sshr(ni, one_i);
        let n2 = self.b.ins().isub(ni, n1);
        let s1 = self.pow2(n1);
        let s2 = self.pow2(n2);
        let y = self.mul(y, s1);
        self.mul(y, s2)
    }

    /// The middle of `math::exp_f32`: `(e^r, n)` with `x = n·ln2 + r`, before scaling.
    fn exp_core(&mut self, x: Value) -> (Value, Value) {
        let log2e = self.f(m::LOG2E);
        let magic = self.f(m::ROUND_MAGIC);
        let t = self.mul(x, log2e);
        let t = self.add(t, magic);
        let n = self.sub(t, magic);
        let tb = self.bits(t);
        let mb = self.i(m::ROUND_MAGIC.to_bits() as i32);
        let ni = self.b.ins().isub(tb, mb);
        let ln2_hi = self.f(m::LN2_HI);
        let ln2_lo = self.f(m::LN2_LO);
        let p = self.mul(n, ln2_hi);
        let r = self.sub(x, p);
        let p = self.mul(n, ln2_lo);
        let r = self.sub(r, p);
        let z = self.mul(r, r);
        let p = self.horner(&m::EXP_P, r);
        let y = self.mul(p, z);
        let y = self.add(y, r);
        let one = self.f(1.0);
        (self.add(y, one), ni)
    }

    /// `math::ln_f32`.
    pub fn ln(&mut self, x: Value) -> Value {
        let min_pos = self.f(f32::MIN_POSITIVE);
        let sub = self.cmp(FloatCC::LessThan, x, min_pos);
        let scale = self.f(m::SUBNORMAL_SCALE);
        let scaled = self.mul(x, scale);
        let xs = self.sel(sub, scaled, x);
        let (b_sub, b_norm) = (self.i(126 + 25), self.i(126));
        let bias = self.sel_int(sub, b_sub, b_norm);
        let ix = self.bits(xs);
        let sh = self.b.ins().iconst(types::I32, 23);
        let e = self.b.ins().sshr(ix, sh);
        let e = self.b.ins().isub(e, bias);
        let mask = self.i(0x007f_ffff);
        let half = self.i(0x3f00_0000);
        let mi = self.b.ins().band(ix, mask);
        let mi = self.b.ins().bor(mi, half);
        let mf = self.float(mi);
        let sqrt_half = self.f(m::SQRT_HALF);
        let low = self.cmp(FloatCC::LessThan, mf, sqrt_half);
        let one_i = self.i(1);
        let e1 = self.b.ins().isub(e, one_i);
        let e = self.sel_int(low, e1, e);
        let one = self.f(1.0);
        let m2 = self.add(mf, mf);
        let f_low = self.sub(m2, one);
        let f_high = self.sub(mf, one);
        let f = self.sel(low, f_low, f_high);
        // math::small_int_to_f32
        let mb = self.i(m::ROUND_MAGIC.to_bits() as i32);
        let eb = self.b.ins().iadd(mb, e);
        let ef = self.float(eb);
        let magic = self.f(m::ROUND_MAGIC);
        let ef = self.sub(ef, magic);
        let z = self.mul(f, f);
        let p = self.horner(&m::LOG_P, f);
        let y = self.mul(p, f);
        let y = self.mul(y, z);
        let ln2_lo = self.f(m::LN2_LO);
        let t = self.mul(ef, ln2_lo);
        let y = self.add(y, t);
        let half = self.f(0.5);
        let t = self.mul(half, z);
        let y = self.sub(y, t);
        let r = self.add(f, y);
        let ln2_hi = self.f(m::LN2_HI);
        let t = self.mul(ef, ln2_hi);
        let r = self.add(r, t);
        let inf = self.f(f32::INFINITY);
        let c = self.cmp(FloatCC::Equal, x, inf);
        let r = self.sel(c, inf, r);
        let zero = self.f(0.0);
        let c = self.cmp(FloatCC::Equal, x, zero);
        let ninf = self.f(f32::NEG_INFINITY);
        let r = self.sel(c, ninf, r);
        let c = self.cmp(FloatCC::LessThan, x, zero);
        let nan = self.f(f32::NAN);
        let r = self.sel(c, nan, r);
        let c = self.cmp(FloatCC::Unordered, x, x);
        self.sel(c, x, r)
    }

    /// `math::tanh_f32`.
    pub fn tanh(&mut self, x: Value) -> Value {
        let bits = self.bits(x);
        let abs_mask = self.i(!m::SIGN as i32);
        let sign_mask = self.i(m::SIGN as i32);
        let ab = self.b.ins().band(bits, abs_mask);
        let sign = self.b.ins().band(bits, sign_mask);
        let a = self.float(ab);
        let z = self.mul(a, a);
        let p = self.horner(&m::TANH_P, z);
        let s = self.mul(p, z);
        let s = self.mul(s, a);
        let small = self.add(s, a);
        let big = self.f(m::TANH_BIG);
        let c = self.cmp(FloatCC::GreaterThan, a, big);
        let a_big = self.sel(c, big, a);
        let a2 = self.add(a_big, a_big);
        let e = self.exp_below_19(a2);
        let one = self.f(1.0);
        let two = self.f(2.0);
        let d = self.add(e, one);
        let q = self.b.ins().fdiv(two, d);
        let big = self.sub(one, q);
        let lim = self.f(m::TANH_SMALL);
        let c = self.cmp(FloatCC::LessThan, a, lim);
        let r = self.sel(c, small, big);
        let rb = self.bits(r);
        let rb = self.b.ins().bor(rb, sign);
        self.float(rb)
    }

    /// `math::exp_below_19`: [`Self::exp`] without its clamps, scaled by one power of two.
    fn exp_below_19(&mut self, x: Value) -> Value {
        let (y, ni) = self.exp_core(x);
        let s = self.pow2(ni);
        self.mul(y, s)
    }
}
