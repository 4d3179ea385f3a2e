//! `f32` `exp`, `ln` and `tanh`, and `f64` `sin` and `cos`, from plain IEEE arithmetic:
//! the definitions every backend shares bit for bit.
//!
//! Why not `f32::exp` & co.: those call libm once per element, which a JIT cannot
//! vectorise and cannot reproduce without calling the very same function. These are
//! written as a fixed sequence of single-rounding `f32` operations (add, sub, mul, div),
//! integer operations on the bit patterns (add, sub, and, or, arithmetic shift),
//! comparisons and selects — never a fused multiply-add and no `f64` intermediates — so
//! that the JIT (`rlp-jit`, `codegen/math.rs`) emits exactly the same sequence, scalar
//! or four lanes at a time, and rounds identically. Every constant the sequences use is
//! a `pub const` here, and the JIT takes them from here. Change a function only together
//! with its JIT emitter.
//!
//! Algorithms (the polynomials are Cephes' single-precision minimax fits):
//! - [`exp_f32`]: clamp to [-104, 88.8] (beyond, the result is 0 or +inf anyway);
//!   `n = round(x·log2 e)` with the 1.5·2²³ trick; `r = x − n·ln2` in two Cody–Waite
//!   steps; `exp(r) ≈ 1 + r + r²·P(r)` (degree 5); scale by 2ⁿ as two exponent-built
//!   powers of two, so that subnormal results are rounded once and 2¹²⁸ needs no
//!   special case.
//! - [`ln_f32`]: subnormals scaled by 2²⁵; `x = m·2ᵉ` with `m ∈ [√½, √2)` from the bits;
//!   `f = m − 1`; `ln(1+f) ≈ f − f²/2 + f³·P(f)` (degree 8) plus `e·ln2` in two parts;
//!   then the special values (0 → −inf, negative → NaN, +inf, NaN) by select.
//! - [`tanh_f32`]: on `a = |x|`: `a + a·a²·P(a²)` (degree 4) below 0.625, else
//!   `1 − 2/(exp(2a) + 1)` with [`exp_f32`] (with `a` clamped at 9.1, past which the
//!   result is exactly 1, so that the `exp` needs neither its clamps nor its split
//!   scaling — the same values as the plain composition, bit for bit, tested); the sign
//!   of `x` is or-ed back in, so `tanh(−0) = −0` and large inputs saturate to exactly ±1.
//!
//! Measured accuracy against `f64` references (tests below: every f32 in the tested
//! ranges with a stride, plus random bit patterns): `exp` ≤ 1 ulp, `ln` ≤ 1 ulp,
//! `tanh` ≤ 2 ulp (see `docs/bench/math.md` for the exact figures).

/// log2(e).
pub const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5·2²³: adding it rounds an `f32` of magnitude below 2²² to an integer, which then
/// sits in the low mantissa bits.
pub const ROUND_MAGIC: f32 = 12_582_912.0;
/// The high part of ln 2 (few mantissa bits, so `n·LN2_HI` is exact).
pub const LN2_HI: f32 = 0.693_359_4;
/// ln 2 − [`LN2_HI`].
pub const LN2_LO: f32 = -2.121_944_4e-4;
/// Above this, `exp` is +inf (ln(f32::MAX) ≈ 88.72284).
pub const EXP_HI: f32 = 88.8;
/// Below this, `exp` is 0 (ln of half the smallest subnormal ≈ −103.97).
pub const EXP_LO: f32 = -104.0;
/// `exp(r) ≈ 1 + r + r²·P(r)`, highest degree first.
#[allow(clippy::excessive_precision)] // the published coefficients, as written
pub const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_2e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5.000_000_1e-1,
];

/// √½: mantissas below it are doubled.
pub const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 2²⁵: the scale that makes subnormals normal.
pub const SUBNORMAL_SCALE: f32 = 33_554_432.0;
/// `ln(1+f) ≈ f − f²/2 + f³·P(f)`, highest degree first.
#[allow(clippy::excessive_precision)] // the published coefficients, as written
pub const LOG_P: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_4e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];

/// Below this `|x|`, `tanh` uses its polynomial.
pub const TANH_SMALL: f32 = 0.625;
/// `tanh(a) ≈ a + a·a²·P(a²)`, highest degree first.
#[allow(clippy::excessive_precision)] // the published coefficients, as written
pub const TANH_P: [f32; 5] = [
    -5.704_988_7e-3,
    2.063_908_9e-2,
    -5.373_971_6e-2,
    1.333_144_2e-1,
    -3.333_328_2e-1,
];

/// From here on `tanh` is exactly ±1 in `f32` (`2/(e^{2a}+1)` is below half an ulp of 1
/// for `a` above ≈ 9.011), so `tanh` clamps `|x|` here before its `exp`.
pub const TANH_BIG: f32 = 9.1;

/// The sign bit of an `f32`.
pub const SIGN: u32 = 0x8000_0000;

/// `p[0]·x^(k-1) + … + p[k-1]` by Horner's rule: a multiply then an add per step.
#[inline(always)]
fn horner(p: &[f32], x: f32) -> f32 {
    let mut acc = p[0];
    for &c in &p[1..] {
        acc = acc * x + c;
    }
    acc
}

/// `2^n` for `n` in [-126, 127], built from its exponent bits.
#[inline(always)]
fn pow2(n: i32) -> f32 {
    f32::from_bits((n.wrapping_add(127) << 23) as u32)
}

/// `e^x` in `f32` (≤ 1 ulp measured; see the module docs for the algorithm).
#[inline]
pub fn exp_f32(x: f32) -> f32 {
    // Comparisons are false for NaN, which therefore flows through unchanged.
    let x = if x > EXP_HI { EXP_HI } else { x };
    let x = if x < EXP_LO { EXP_LO } else { x };
    let (y, ni) = exp_core(x);
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    y * pow2(n1) * pow2(n2)
}

/// An exact `i32 → f32` for |e| < 2²²: the integer placed in [`ROUND_MAGIC`]'s mantissa.
#[inline(always)]
fn small_int_to_f32(e: i32) -> f32 {
    f32::from_bits((ROUND_MAGIC.to_bits() as i32).wrapping_add(e) as u32) - ROUND_MAGIC
}

/// `ln x` in `f32` (≤ 1 ulp measured; see the module docs for the algorithm).
#[inline]
pub fn ln_f32(x: f32) -> f32 {
    let sub = x < f32::MIN_POSITIVE;
    let xs = if sub { x * SUBNORMAL_SCALE } else { x };
    let bias: i32 = if sub { 126 + 25 } else { 126 };
    let ix = xs.to_bits() as i32;
    // x = m·2^e with m in [0.5, 1).
    let e = (ix >> 23).wrapping_sub(bias);
    let m = f32::from_bits(((ix & 0x007f_ffff) | 0x3f00_0000) as u32);
    let low = m < SQRT_HALF;
    let e = if low { e.wrapping_sub(1) } else { e };
    let f = if low { m + m - 1.0 } else { m - 1.0 };
    let ef = small_int_to_f32(e);
    let z = f * f;
    let y = horner(&LOG_P, f) * f * z;
    let y = y + ef * LN2_LO;
    let y = y - 0.5 * z;
    let r = f + y;
    let r = r + ef * LN2_HI;
    let r = if x == f32::INFINITY { f32::INFINITY } else { r };
    let r = if x == 0.0 { f32::NEG_INFINITY } else { r };
    let r = if x < 0.0 { f32::NAN } else { r };
    if x.is_nan() { x } else { r }
}

/// `tanh x` in `f32` (≤ 2 ulp measured; see the module docs for the algorithm).
#[inline]
pub fn tanh_f32(x: f32) -> f32 {
    let bits = x.to_bits();
    let a = f32::from_bits(bits & !SIGN);
    let z = a * a;
    let small = horner(&TANH_P, z) * z * a + a;
    // NaN compares false and flows through.
    let c = if a > TANH_BIG { TANH_BIG } else { a };
    let e = exp_below_19(c + c);
    let big = 1.0 - 2.0 / (e + 1.0);
    let r = if a < TANH_SMALL { small } else { big };
    f32::from_bits(r.to_bits() | (bits & SIGN))
}

/// [`exp_f32`] for `x` in [0, 19) (or NaN), where its clamps never act and `n ≤ 28`, so
/// one power of two scales exactly as its two do: the same value, fewer operations.
#[inline(always)]
fn exp_below_19(x: f32) -> f32 {
    let (y, ni) = exp_core(x);
    y * pow2(ni)
}

/// The middle of [`exp_f32`]: `(e^r, n)` with `x = n·ln2 + r`, before scaling by `2ⁿ`.
#[inline(always)]
fn exp_core(x: f32) -> (f32, i32) {
    let t = x * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND_MAGIC.to_bits() as i32);
    let r = x - n * LN2_HI;
    let r = r - n * LN2_LO;
    let z = r * r;
    (horner(&EXP_P, r) * z + r + 1.0, ni)
}

// ---- f64 sine and cosine ----
//
// Unlike the f32 functions above, these evaluate their polynomials with fused
// multiply-adds: one rounding per Horner step and half the latency of a multiply and an
// add. A fused multiply-add rounds the same wherever it runs, so the JIT's `fma` (one
// instruction, or a libm call per lane on a CPU without FMA) matches `mul_add` here.

/// Up to this magnitude the three-part reduction below is exact (|k| < 2^19, so `k·PIO2_1`
/// and `k·PIO2_2` have at most 53 significant bits); beyond it, and for NaN and ±inf,
/// [`sin_f64`] and [`cos_f64`] are Rust's `f64::sin`/`f64::cos`.
pub const TRIG_LIMIT: f64 = 823_549.0;
/// 2/π.
pub const FRAC_2_PI: f64 = std::f64::consts::FRAC_2_PI;
/// π/2 truncated to 33 significant bits.
pub const PIO2_1: f64 = 1.570_796_326_734_125_6;
/// The next 33 bits of π/2.
pub const PIO2_2: f64 = 6.077_100_506_303_966e-11;
/// The rest of π/2, rounded.
pub const PIO2_3: f64 = 2.022_266_248_795_950_6e-21;
/// sin(r) ≈ r + r·z·S(z) on |r| ≤ π/4, z = r²: the coefficients of S, lowest degree
/// first. A minimax fit of the relative error with the first fixed at −1/6, made by
/// `tools/fit_trig.py` (predicted error 5.4·10⁻¹⁸, a twentieth of an ulp).
#[allow(clippy::excessive_precision)] // the fit's output, as printed
pub const SIN_F64: [f64; 6] = [
    -0.16666666666666666,
    0.008333333333328733,
    -0.0001984126983392485,
    2.755731490760328e-06,
    -2.5050924946632745e-08,
    1.5905448347808785e-10,
];
/// cos(r) ≈ 1 + z·C(z) on |r| ≤ π/4: the coefficients of C, lowest degree first, the
/// first fixed at −1/2 (`tools/fit_trig.py`; predicted error 5.7·10⁻²⁰).
#[allow(clippy::excessive_precision)] // the fit's output, as printed
pub const COS_F64: [f64; 7] = [
    -0.5,
    0.041666666666666595,
    -0.0013888888888873342,
    2.480158728900208e-05,
    -2.7557314217038866e-07,
    2.0875705396031307e-09,
    -1.1358749240136345e-11,
];

/// `x = k·π/2 + r` with |r| ≤ π/4: returns `(r, k mod 4)` (the quadrant as an `f64`).
/// (A zero result is always +0: `sin(-0)` gives +0.)
#[inline(always)]
pub fn reduce_pio2(x: f64) -> (f64, f64) {
    let k = (x * FRAC_2_PI).round_ties_even();
    let r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    let q = k - 4.0 * (k * 0.25).floor();
    (r, q)
}

/// `p(z)` for coefficients lowest degree first, by Horner's rule with one fused
/// multiply-add per step (one rounding each, as the JIT's `fma` rounds).
#[inline(always)]
fn horner_fma(coeffs: &[f64], z: f64) -> f64 {
    let (&last, rest) = coeffs.split_last().expect("a polynomial has coefficients");
    rest.iter().rev().fold(last, |p, &c| p.mul_add(z, c))
}

/// sin(r) on |r| ≤ π/4: `r + (r·z)·S(z)`, `z = r²`.
#[inline(always)]
pub fn sin_kernel(r: f64) -> f64 {
    let z = r * r;
    (r * z).mul_add(horner_fma(&SIN_F64, z), r)
}

/// cos(r) on |r| ≤ π/4: `1 + z·C(z)`, `z = r²`.
#[inline(always)]
pub fn cos_kernel(r: f64) -> f64 {
    let z = r * r;
    z.mul_add(horner_fma(&COS_F64, z), 1.0)
}

/// `(sin x, cos x)` in `f64` (within 1 ulp of `f64::sin`/`f64::cos` on the tests'
/// sweeps): a plain arithmetic sequence with fused multiply-adds that the JIT emits
/// lane-wise (`rlp-jit`'s `codegen/lanes.rs`), so both agree bit for bit.
#[inline]
pub fn sin_cos_f64(x: f64) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the FMA instructions.
        return unsafe { sin_cos_with_fma(x) };
    }
    sin_cos_body(x)
}

/// [`sin_cos_body`] compiled with the FMA instructions: each `mul_add` is then one
/// instruction rather than a call into libm (the same bits either way: a fused
/// multiply-add rounds once wherever it runs).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn sin_cos_with_fma(x: f64) -> (f64, f64) {
    sin_cos_body(x)
}

#[inline(always)]
fn sin_cos_body(x: f64) -> (f64, f64) {
    // Large arguments, ±inf and NaN: libm.
    if x.abs() > TRIG_LIMIT || x.is_nan() {
        return (x.sin(), x.cos());
    }
    let (r, q) = reduce_pio2(x);
    let (s, c) = (sin_kernel(r), cos_kernel(r));
    let odd = q == 1.0 || q == 3.0;
    let (vs, vc) = if odd { (c, s) } else { (s, c) };
    let sin = if q >= 2.0 { -vs } else { vs };
    let cos = if q == 1.0 || q == 2.0 { -vc } else { vc };
    (sin, cos)
}

/// `sin x` in `f64`; see [`sin_cos_f64`].
#[inline]
pub fn sin_f64(x: f64) -> f64 {
    sin_cos_f64(x).0
}

/// `cos x` in `f64`; see [`sin_cos_f64`].
#[inline]
pub fn cos_f64(x: f64) -> f64 {
    sin_cos_f64(x).1
}

/// The floored remainder `a mod b` (the sign of `b`, as Python's `%` and numpy's
/// `remainder`), defined as numpy defines it: the exact truncated remainder (`fmod`),
/// moved to `b`'s sign by adding `b` (one rounding), and a zero signed as `b`.
/// `a - floor(a / b) · b` in separate steps is not this: the product rounds, and near a
/// multiple of `b` the quotient can round up to the next integer (5.7e-14 off on
/// [-1000, 1000] in f64).
macro_rules! floored_rem {
    ($name:ident, $fast:ident, $fast_body:ident, $t:ident, $limit:expr) => {
        #[inline]
        pub fn $name(a: $t, b: $t) -> $t {
            let m = a % b;
            if m == 0.0 {
                $t::copysign(0.0, b)
            } else if (m < 0.0) != (b < 0.0) {
                m + b
            } else {
                m
            }
        }

        /// The floored remainder the way the JIT computes it where the quotient's
        /// floor is exact and `b` finite: there it equals the definition bit for bit.
        /// The quotient, rounded, is the true floor or one more; with the floor
        /// `a - q·b` is the exact remainder and one fused multiply-add rounds it once
        /// as numpy's final addition does; one too many shows as the wrong sign and is
        /// taken back. Elsewhere it falls back to the definition, as the JIT does.
        #[inline]
        pub fn $fast(a: $t, b: $t) -> $t {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("fma") {
                #[target_feature(enable = "fma")]
                fn with_fma(a: $t, b: $t) -> $t {
                    $fast_body(a, b)
                }
                // SAFETY: the CPU has the FMA instructions.
                return unsafe { with_fma(a, b) };
            }
            $fast_body(a, b)
        }

        #[inline(always)]
        fn $fast_body(a: $t, b: $t) -> $t {
            let q = (a / b).floor();
            if !(q.abs() < $limit && b.abs() < $t::INFINITY) {
                return $name(a, b);
            }
            let mut r = (-q).mul_add(b, a);
            if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                r = (1.0 - q).mul_add(b, a);
            }
            if r == 0.0 { $t::copysign(0.0, b) } else { r }
        }
    };
}

floored_rem!(
    floored_rem_f32,
    floored_rem_fast_f32,
    floored_rem_fast_f32_body,
    f32,
    16_777_216.0
);
floored_rem!(
    floored_rem_f64,
    floored_rem_fast_f64,
    floored_rem_fast_f64_body,
    f64,
    9_007_199_254_740_992.0
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in ulps between `got` and the exact `want`, measured in units of the
    /// spacing of `f32`s at `want` (subnormal spacing below the normal range).
    fn ulps(got: f32, want: f64) -> f64 {
        if want.is_nan() {
            return if got.is_nan() { 0.0 } else { f64::INFINITY };
        }
        let r = want as f32; // within half an ulp of `want` (or overflowed to inf)
        if r.is_infinite() || got.is_infinite() {
            return if got == r { 0.0 } else { f64::INFINITY };
        }
        let a = r.abs();
        let spacing = if a < f32::MIN_POSITIVE {
            f32::from_bits(1) as f64
        } else {
            // The spacing just above a power of two is the larger one: use the spacing
            // of the binade `want` lies in.
            let e = (a.to_bits() >> 23) as i32 - 127;
            let w = want.abs();
            let e = if w < (2f64).powi(e) { e - 1 } else { e };
            (2f64).powi(e - 23)
        };
        (f64::from(got) - want).abs() / spacing
    }

    /// Every `step`-th f32 from `lo` to `hi` (by bit pattern, over positive and
    /// negative ranges), plus pseudo-random bit patterns.
    fn inputs(lo: f32, hi: f32, step: u32) -> Vec<f32> {
        let mut v = Vec::new();
        let mut x = lo;
        while x <= hi {
            v.push(x);
            let b = x.to_bits();
            x = if x < 0.0 {
                if b <= SIGN + step {
                    0.0
                } else {
                    f32::from_bits(b - step)
                }
            } else {
                f32::from_bits(b + step)
            };
        }
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let y = f32::from_bits(s as u32);
            if y >= lo && y <= hi {
                v.push(y);
            }
        }
        v
    }

    fn max_ulps(f: fn(f32) -> f32, r: fn(f64) -> f64, xs: &[f32]) -> (f64, f32) {
        let mut worst = (0.0, 0.0);
        for &x in xs {
            let u = ulps(f(x), r(f64::from(x)));
            if u > worst.0 {
                worst = (u, x);
            }
        }
        worst
    }

    #[test]
    fn exp_is_within_one_ulp() {
        let xs = inputs(-104.0, 89.0, 97);
        let (u, at) = max_ulps(exp_f32, f64::exp, &xs);
        println!("exp_f32: max {u:.3} ulp at {at:e} over {} inputs", xs.len());
        assert!(u <= 1.0, "exp: {u} ulp at {at:e}");
    }

    #[test]
    fn ln_is_within_one_ulp() {
        let xs = inputs(0.0, f32::MAX, 97);
        let (u, at) = max_ulps(ln_f32, f64::ln, &xs);
        println!("ln_f32: max {u:.3} ulp at {at:e} over {} inputs", xs.len());
        assert!(u <= 1.0, "ln: {u} ulp at {at:e}");
    }

    #[test]
    fn tanh_is_within_two_ulps() {
        let xs = inputs(-20.0, 20.0, 31);
        let (u, at) = max_ulps(tanh_f32, f64::tanh, &xs);
        println!(
            "tanh_f32: max {u:.3} ulp at {at:e} over {} inputs",
            xs.len()
        );
        assert!(u <= 2.0, "tanh: {u} ulp at {at:e}");
    }

    /// `tanh_f32` takes shortcuts (the clamp at [`TANH_BIG`], an `exp` without clamps and
    /// with one scaling) that must not change a single value: it equals the plain
    /// composition with [`exp_f32`] on every 3rd non-negative f32 up to 2⁷ and on every
    /// 4099th beyond (checked once on all 2³² bit patterns, NaNs included).
    #[test]
    fn tanh_shortcuts_change_no_value() {
        let plain = |x: f32| {
            let bits = x.to_bits();
            let a = f32::from_bits(bits & !SIGN);
            let z = a * a;
            let small = horner(&TANH_P, z) * z * a + a;
            let big = 1.0 - 2.0 / (exp_f32(a + a) + 1.0);
            let r = if a < TANH_SMALL { small } else { big };
            f32::from_bits(r.to_bits() | (bits & SIGN))
        };
        let limit = 128f32.to_bits();
        let mut b = 0u32;
        while b <= 0x7fff_ffff {
            let x = f32::from_bits(b);
            let (got, want) = (tanh_f32(x), plain(x));
            assert!(
                got.to_bits() == want.to_bits(),
                "tanh({x:e}) = {got:e}, the plain composition gives {want:e}"
            );
            b = b.saturating_add(if b < limit { 3 } else { 4099 });
            if b == u32::MAX {
                break;
            }
        }
    }

    #[test]
    fn special_values() {
        let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        let cases: [(fn(f32) -> f32, f32, f32); 30] = [
            (exp_f32, 0.0, 1.0),
            (exp_f32, -0.0, 1.0),
            (exp_f32, f32::INFINITY, f32::INFINITY),
            (exp_f32, f32::NEG_INFINITY, 0.0),
            (exp_f32, f32::NAN, f32::NAN),
            (exp_f32, 88.8, f32::INFINITY),
            (exp_f32, 89.0, f32::INFINITY),
            (exp_f32, 1e30, f32::INFINITY),
            (exp_f32, -104.0, 0.0),
            (exp_f32, -1e30, 0.0),
            (exp_f32, 1.0, std::f32::consts::E),
            (ln_f32, 1.0, 0.0),
            (ln_f32, 0.0, f32::NEG_INFINITY),
            (ln_f32, -0.0, f32::NEG_INFINITY),
            (ln_f32, -1.0, f32::NAN),
            (ln_f32, -1e-40, f32::NAN),
            (ln_f32, f32::NEG_INFINITY, f32::NAN),
            (ln_f32, f32::INFINITY, f32::INFINITY),
            (ln_f32, f32::NAN, f32::NAN),
            (ln_f32, 2.0, std::f32::consts::LN_2),
            (tanh_f32, 0.0, 0.0),
            (tanh_f32, -0.0, -0.0),
            (tanh_f32, f32::INFINITY, 1.0),
            (tanh_f32, f32::NEG_INFINITY, -1.0),
            (tanh_f32, 10.0, 1.0),
            (tanh_f32, -10.0, -1.0),
            (tanh_f32, 1e30, 1.0),
            (tanh_f32, -1e30, -1.0),
            (tanh_f32, f32::NAN, f32::NAN),
            (tanh_f32, 1e-30, 1e-30),
        ];
        for (i, (f, x, want)) in cases.into_iter().enumerate() {
            assert!(
                same(f(x), want),
                "case {i}: f({x:e}) = {:e}, want {want:e}",
                f(x)
            );
        }
        // Largest finite exp, smallest subnormal results, exp of the ln of subnormals.
        assert!(exp_f32(88.72283).is_finite());
        assert!(exp_f32(-103.0) > 0.0);
        assert!(exp_f32(-87.5) < f32::MIN_POSITIVE && exp_f32(-87.5) > 0.0);
        assert!((ln_f32(f32::from_bits(1)) - (-103.278_93)).abs() < 1e-4);
        assert!(tanh_f32(-1e-30).to_bits() == (-1e-30f32).to_bits());
    }

    /// The FMA-compiled copy and the portable body (whose `mul_add` calls libm's `fma`)
    /// agree bit for bit: a CPU without FMA gets the same values.
    #[test]
    fn f64_sin_cos_with_and_without_fma_instructions_agree() {
        for i in -300_000..=300_000 {
            let x = i as f64 * 3.7e-5 + 1e-9;
            let (a, b) = (super::sin_cos_f64(x), super::sin_cos_body(x));
            assert_eq!(a.0.to_bits(), b.0.to_bits(), "sin {x}");
            assert_eq!(a.1.to_bits(), b.1.to_bits(), "cos {x}");
        }
    }

    /// The f64 sine and cosine stay within 1 ulp of the platform's on a dense sweep of
    /// angles up to 20, and within 2 ulp on a sparse sweep up to the reduction limit
    /// (where the three-part reduction's last part starts to show); special values.
    #[test]
    fn f64_sin_cos_are_within_an_ulp_or_two() {
        fn ulps(a: f64, b: f64) -> u64 {
            // Same-signed values: the distance of their bit patterns; across zero, the
            // sum of both distances to it.
            let key = |x: f64| {
                let b = x.to_bits() as i64;
                if b < 0 { i64::MIN - b } else { b }
            };
            key(a).abs_diff(key(b))
        }
        let worst = |xs: &mut dyn Iterator<Item = f64>| {
            xs.map(|x| {
                let (s, c) = super::sin_cos_f64(x);
                ulps(s, x.sin()).max(ulps(c, x.cos()))
            })
            .max()
            .unwrap()
        };
        let dense = worst(&mut (-200_000..=200_000).map(|i| i as f64 * 1e-4));
        assert!(dense <= 1, "worst {dense} ulp below 20");
        let sparse = worst(&mut (0..100_000).map(|i| (i as f64 * 8.2354) - 411_770.0));
        assert!(sparse <= 2, "worst {sparse} ulp up to the reduction limit");
        assert!(super::sin_f64(f64::NAN).is_nan() && super::cos_f64(f64::INFINITY).is_nan());
        assert_eq!(super::sin_f64(1e9), 1e9f64.sin());
    }

    /// The JIT's steps equal the definition (numpy's) wherever they apply: random
    /// operands of many magnitudes and both signs, and operands within a few ulps of a
    /// multiple of the divisor, where a rounded quotient is one too large.
    #[test]
    fn floored_remainder_fast_steps_equal_the_definition() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut unit = || (next() >> 11) as f64 / (1u64 << 53) as f64;
        for _ in 0..400_000 {
            let b = (unit() * 2.0 - 1.0) * 10f64.powi((unit() * 8.0) as i32 - 4);
            let a = (unit() * 2.0 - 1.0) * 10f64.powi((unit() * 10.0) as i32 - 3);
            let near = (a / b).round() * b;
            let steps = (unit() * 5.0) as i32 - 2;
            let mut c = near;
            for _ in 0..steps.abs() {
                c = if steps > 0 {
                    c.next_up()
                } else {
                    c.next_down()
                };
            }
            for (x, y) in [(a, b), (c, b)] {
                let (want, got) = (floored_rem_f64(x, y), floored_rem_fast_f64(x, y));
                assert_eq!(
                    want.to_bits(),
                    got.to_bits(),
                    "f64 {x} mod {y}: {got} vs {want}"
                );
                let (x, y) = (x as f32, y as f32);
                let (want, got) = (floored_rem_f32(x, y), floored_rem_fast_f32(x, y));
                assert_eq!(
                    want.to_bits(),
                    got.to_bits(),
                    "f32 {x} mod {y}: {got} vs {want}"
                );
            }
        }
    }
}
