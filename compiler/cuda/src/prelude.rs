//! The prelude every generated module starts with: scalar types, bit casts, the shared
//! math sequences, integer and float semantics, and the counter-based random numbers.
//!
//! Why generated rather than a fixed header: the f32 `exp`/`ln`/`tanh` and f64
//! `sin`/`cos` must be `rlp_runtime::math`'s operation sequences with its constants, so
//! the constants are printed from there (as the JIT takes them from there) and the
//! polynomials unrolled into single-rounding steps. NVRTC compiles with
//! `--fmad=false` and the CPU build with `-ffp-contract=off`, so no multiply-add is
//! fused behind our back; the f64 trigonometry asks for its fused steps by name (`fma`).
//!
//! Where results can differ from the interpreter on a GPU (never in the CPU build, which
//! calls the same libm as Rust): f32 `sin`/`cos`/`pow`/`atan2` and f64
//! `exp`/`log`/`tanh`/`pow`/`atan2`, and the `log`/`cos` inside normal draws, come from
//! CUDA's libdevice, which is within an ulp or two of glibc but not always equal to it.

use rlp_runtime::{math as m, rng};
use std::fmt::Write;

/// A finite f32 as a C literal that parses back to the same value.
pub fn f32_literal(x: f32) -> String {
    if x.is_nan() {
        return "rlp_bits_f32(0x7fc00000u)".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "RLP_INF_F32"
        } else {
            "(-RLP_INF_F32)"
        }
        .into();
    }
    let s = format!("{x:?}");
    let s = if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    };
    format!("{s}f")
}

/// A finite f64 as a C literal that parses back to the same value.
pub fn f64_literal(x: f64) -> String {
    if x.is_nan() {
        return "rlp_bits_f64(0x7ff8000000000000ull)".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "RLP_INF_F64"
        } else {
            "(-RLP_INF_F64)"
        }
        .into();
    }
    let s = format!("{x:?}");
    if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// `acc = p[0]; acc = acc*x + p[i]…` as C statements on `f32` (a multiply then an add
/// per step, as `math::horner`).
fn horner_f32(out: &mut String, acc: &str, p: &[f32], x: &str) {
    let _ = writeln!(out, "  float {acc} = {};", f32_literal(p[0]));
    for &c in &p[1..] {
        let _ = writeln!(out, "  {acc} = {acc} * {x} + {};", f32_literal(c));
    }
}

/// The prelude's source text.
pub fn prelude() -> String {
    let mut s = String::from(HEADER);
    // exp
    let _ = write!(
        s,
        "RLP_DEV float rlp_exp_f32(float x) {{
  x = x > {hi} ? {hi} : x;
  x = x < {lo} ? {lo} : x;
  float t = x * {log2e} + {magic};
  float n = t - {magic};
  int ni = (int)(rlp_f32_bits(t) - rlp_f32_bits({magic}));
  float r = x - n * {ln2hi};
  r = r - n * {ln2lo};
  float z = r * r;
",
        hi = f32_literal(m::EXP_HI),
        lo = f32_literal(m::EXP_LO),
        log2e = f32_literal(m::LOG2E),
        magic = f32_literal(m::ROUND_MAGIC),
        ln2hi = f32_literal(m::LN2_HI),
        ln2lo = f32_literal(m::LN2_LO),
    );
    horner_f32(&mut s, "p", &m::EXP_P, "r");
    s.push_str(
        "  float y = p * z + r + 1.0f;
  int n1 = ni >> 1;
  int n2 = (int)((u32)ni - (u32)n1);
  return y * rlp_pow2_f32(n1) * rlp_pow2_f32(n2);
}

",
    );
    // ln
    let _ = write!(
        s,
        "RLP_DEV float rlp_ln_f32(float x) {{
  bool sub = x < 1.17549435e-38f;
  float xs = sub ? x * {scale} : x;
  int bias = sub ? 126 + 25 : 126;
  int ix = (int)rlp_f32_bits(xs);
  int e = (int)((u32)(ix >> 23) - (u32)bias);
  float mm = rlp_bits_f32((u32)((ix & 0x007fffff) | 0x3f000000));
  bool low = mm < {sqrt_half};
  e = low ? (int)((u32)e - 1u) : e;
  float f = low ? mm + mm - 1.0f : mm - 1.0f;
  float ef = rlp_bits_f32((u32)((int)rlp_f32_bits({magic}) + e)) - {magic};
  float z = f * f;
",
        scale = f32_literal(m::SUBNORMAL_SCALE),
        sqrt_half = f32_literal(m::SQRT_HALF),
        magic = f32_literal(m::ROUND_MAGIC),
    );
    horner_f32(&mut s, "p", &m::LOG_P, "f");
    let _ = write!(
        s,
        "  float y = p * f * z;
  y = y + ef * {ln2lo};
  y = y - 0.5f * z;
  float r = f + y;
  r = r + ef * {ln2hi};
  r = x == RLP_INF_F32 ? RLP_INF_F32 : r;
  r = x == 0.0f ? -RLP_INF_F32 : r;
  r = x < 0.0f ? rlp_bits_f32(0x7fc00000u) : r;
  return x != x ? x : r;
}}

RLP_DEV float rlp_tanh_f32(float x) {{
  u32 bits = rlp_f32_bits(x);
  float a = rlp_bits_f32(bits & 0x7fffffffu);
  float z = a * a;
",
        ln2lo = f32_literal(m::LN2_LO),
        ln2hi = f32_literal(m::LN2_HI),
    );
    horner_f32(&mut s, "p", &m::TANH_P, "z");
    let _ = write!(
        s,
        "  float small = p * z * a + a;
  float e = rlp_exp_f32(a + a);
  float big = 1.0f - 2.0f / (e + 1.0f);
  float r = a < {small} ? small : big;
  return rlp_bits_f32(rlp_f32_bits(r) | (bits & 0x80000000u));
}}

",
        small = f32_literal(m::TANH_SMALL),
    );
    // f64 sin/cos: reduce, two fused-multiply-add polynomials, fix the quadrant.
    let poly = |name: &str, c: &[f64]| {
        let (last, rest) = c.split_last().expect("coefficients");
        let mut p = format!(
            "RLP_DEV double {name}(double z) {{\n  double p = {};\n",
            f64_literal(*last)
        );
        for &k in rest.iter().rev() {
            let _ = writeln!(p, "  p = fma(p, z, {});", f64_literal(k));
        }
        p.push_str("  return p;\n}\n\n");
        p
    };
    s.push_str(&poly("rlp_sin_poly", &m::SIN_F64));
    s.push_str(&poly("rlp_cos_poly", &m::COS_F64));
    let _ = write!(
        s,
        "RLP_DEV double rlp_trig_f64(double x, bool want_sin) {{
  if (fabs(x) > {limit} || x != x) return want_sin ? sin(x) : cos(x);
  double k = rint(x * {two_pi});
  double r = ((x - k * {p1}) - k * {p2}) - k * {p3};
  double q = k - 4.0 * floor(k * 0.25);
  double z = r * r;
  double sn = fma(r * z, rlp_sin_poly(z), r);
  double cs = fma(z, rlp_cos_poly(z), 1.0);
  bool odd = q == 1.0 || q == 3.0;
  double vs = odd ? cs : sn;
  double vc = odd ? sn : cs;
  if (want_sin) return q >= 2.0 ? -vs : vs;
  return (q == 1.0 || q == 2.0) ? -vc : vc;
}}

",
        limit = f64_literal(m::TRIG_LIMIT),
        two_pi = f64_literal(m::FRAC_2_PI),
        p1 = f64_literal(m::PIO2_1),
        p2 = f64_literal(m::PIO2_2),
        p3 = f64_literal(m::PIO2_3),
    );
    // Philox-4x32-10, keyed as `rlp_runtime::rng`.
    let _ = write!(
        s,
        "struct rlp_words {{ u32 w[4]; }};

RLP_DEV rlp_words rlp_philox(u64 seed, u32 stream, int c0, int c1, u64 block) {{
  u32 c[4] = {{(u32)block, (u32)c0, (u32)c1, ((u32)(block >> 32) * 0x{hi_mix:08x}u) ^ stream}};
  u32 k0 = (u32)seed, k1 = (u32)(seed >> 32);
  for (int i = 0; i < 10; i++) {{
    u64 p0 = (u64)0x{m0:08x}u * c[0];
    u64 p1 = (u64)0x{m1:08x}u * c[2];
    u32 n0 = (u32)(p1 >> 32) ^ c[1] ^ k0;
    u32 n2 = (u32)(p0 >> 32) ^ c[3] ^ k1;
    c[0] = n0; c[1] = (u32)p1; c[2] = n2; c[3] = (u32)p0;
    k0 += 0x{w0:08x}u; k1 += 0x{w1:08x}u;
  }}
  rlp_words r;
  for (int i = 0; i < 4; i++) r.w[i] = c[i];
  return r;
}}

",
        hi_mix = rng::HI_MIX,
        m0 = rng::M0,
        m1 = rng::M1,
        w0 = rng::W0,
        w1 = rng::W1,
    );
    s.push_str(FOOTER);
    s
}

/// Types, bit casts and the platform hooks; the CPU build's shim defines `RLP_CPU` and
/// its own versions of the hooks first.
const HEADER: &str = r#"// ---- rlpc prelude ----
#ifndef RLP_CPU
#define RLP_DEV static __device__ __forceinline__
#define RLP_GLOBAL extern "C" __global__
typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned char u8;
RLP_DEV float rlp_bits_f32(u32 b) { return __uint_as_float(b); }
RLP_DEV u32 rlp_f32_bits(float x) { return __float_as_uint(x); }
RLP_DEV double rlp_bits_f64(u64 b) { return __longlong_as_double((long long)b); }
RLP_DEV u64 rlp_f64_bits(double x) { return (u64)__double_as_longlong(x); }
RLP_DEV void rlp_fail(int* status, int id) { atomicCAS(status, 0, id); }
#define RLP_UNITS(u, n) for (i64 u = (i64)blockIdx.x * blockDim.x + threadIdx.x; u < (n); u += (i64)gridDim.x * blockDim.x)
#endif
#define RLP_INF_F32 rlp_bits_f32(0x7f800000u)
#define RLP_INF_F64 rlp_bits_f64(0x7ff0000000000000ull)

RLP_DEV float rlp_pow2_f32(int n) { return rlp_bits_f32(((u32)n + 127u) << 23); }

"#;

/// Integer, float and random helpers that need no generated constants.
const FOOTER: &str = r#"RLP_DEV double rlp_unit(u32 w) { return ((double)(w >> 8) + 0.5) * (1.0 / 16777216.0); }

RLP_DEV double rlp_uniform(u64 seed, u32 stream, int c0, int c1, u64 index) {
  rlp_words w = rlp_philox(seed, stream, c0, c1, index >> 2);
  return rlp_unit(w.w[index & 3]);
}

RLP_DEV double rlp_normal(u64 seed, u32 stream, int c0, int c1, u64 index) {
  rlp_words w = rlp_philox(seed, stream, c0, c1, index >> 1);
  int pair = 2 * (int)(index & 1);
  double u1 = rlp_unit(w.w[pair]), u2 = rlp_unit(w.w[pair + 1]);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

RLP_DEV float rlp_max_f32(float a, float b) { return (a != a || a >= b) ? a : b; }
RLP_DEV float rlp_min_f32(float a, float b) { return (a != a || a <= b) ? a : b; }
RLP_DEV double rlp_max_f64(double a, double b) { return (a != a || a >= b) ? a : b; }
RLP_DEV double rlp_min_f64(double a, double b) { return (a != a || a <= b) ? a : b; }
RLP_DEV int rlp_max_i32(int a, int b) { return a >= b ? a : b; }
RLP_DEV int rlp_min_i32(int a, int b) { return a <= b ? a : b; }
RLP_DEV float rlp_sign_f32(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); }
RLP_DEV double rlp_sign_f64(double x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x); }
RLP_DEV int rlp_sign_i32(int x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }
RLP_DEV float rlp_rem_f32(float a, float b) {
  float m = fmodf(a, b);
  if (m == 0.0f) return copysignf(0.0f, b);
  return ((m < 0.0f) != (b < 0.0f)) ? m + b : m;
}
RLP_DEV double rlp_rem_f64(double a, double b) {
  double m = fmod(a, b);
  if (m == 0.0) return copysign(0.0, b);
  return ((m < 0.0) != (b < 0.0)) ? m + b : m;
}
RLP_DEV int rlp_add_i32(int a, int b) { return (int)((u32)a + (u32)b); }
RLP_DEV int rlp_sub_i32(int a, int b) { return (int)((u32)a - (u32)b); }
RLP_DEV int rlp_mul_i32(int a, int b) { return (int)((u32)a * (u32)b); }
RLP_DEV int rlp_neg_i32(int a) { return (int)(0u - (u32)a); }
RLP_DEV int rlp_abs_i32(int a) { return a < 0 ? rlp_neg_i32(a) : a; }
// x / 0 and x % 0 are 0; MIN / -1 wraps to MIN; the remainder takes the divisor's sign.
RLP_DEV int rlp_div_i32(int a, int b) { return b == 0 ? 0 : (b == -1 ? rlp_neg_i32(a) : a / b); }
RLP_DEV int rlp_rem_i32(int a, int b) {
  if (b == 0 || b == -1) return 0;
  int r = a % b;
  return (r != 0 && ((r ^ b) < 0)) ? r + b : r;
}
// Saturating, NaN to 0 (Rust's `as`).
RLP_DEV int rlp_f64_to_i32(double x) {
  return x != x ? 0 : (x <= -2147483648.0 ? (-2147483647 - 1) : (x >= 2147483647.0 ? 2147483647 : (int)x));
}
RLP_DEV float rlp_sin_f32(float x) { return sinf(x); }
RLP_DEV float rlp_cos_f32(float x) { return cosf(x); }
RLP_DEV double rlp_sin_f64(double x) { return rlp_trig_f64(x, true); }
RLP_DEV double rlp_cos_f64(double x) { return rlp_trig_f64(x, false); }
// A plain product for operand layouts cuBLAS cannot take (neither stride 1): one
// thread per result element, `k` in order. `out[b][i][j] = Σ a[b][i][l] · w[b][l][j]`.
#define RLP_GEMM(T, NAME) \
RLP_GLOBAL void NAME(const T* a, const T* w, T* out, i64 m, i64 nn, i64 k, i64 ars, i64 acs, \
                     i64 abs_, i64 wrs, i64 wcs, i64 wbs, i64 n, int* status) { \
  RLP_UNITS(u, n) { \
    i64 j = u % nn, i = (u / nn) % m, b = u / (nn * m); \
    T acc = 0; \
    for (i64 l = 0; l < k; l++) acc = acc + a[b * abs_ + i * ars + l * acs] * w[b * wbs + l * wrs + j * wcs]; \
    out[u] = acc; \
  } \
}
RLP_GEMM(float, rlp_gemm_f32)
RLP_GEMM(double, rlp_gemm_f64)
// ---- end of prelude ----
"#;
