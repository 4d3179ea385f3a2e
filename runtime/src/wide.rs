//! In-place maps of [`crate::math`]'s `f32` functions over slices, as many lanes at a
//! time as the CPU has: 16 with AVX-512, 8 with AVX2, else the baseline's 4.
//!
//! Why this is bit-identical to calling the scalar function per element: each of
//! `tanh_f32` and `exp_f32` is a fixed sequence of single-rounding IEEE operations
//! (add, sub, mul, div, integer bit operations, compares and selects; never a fused
//! multiply-add), and every one of them rounds the same in a vector lane as in a scalar
//! register. The loops below are plain Rust over the scalar functions; only the target
//! features they are compiled with differ, so LLVM vectorises each to its width. LLVM
//! never contracts a multiply and an add into a fused multiply-add without fast-math
//! flags, which Rust does not emit, even where the feature (here implied by AVX-512)
//! is enabled; the tests check every path against the scalar function bit for bit.
//!
//! Why at all: the JIT (Cranelift) has four-lane vectors only, and a `tanh` needs more
//! constants than its 16 vector registers hold; a backend hands the large elementwise
//! `tanh`s and `exp`s it writes to these functions instead (`rlp-jit`'s native root
//! ops).

use crate::math::{exp_f32, tanh_f32};
use std::sync::atomic::{AtomicU8, Ordering};

/// Which compiled form of the slice loops runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// The baseline target (SSE2 on x86-64): four lanes.
    Plain,
    /// AVX2: eight lanes.
    Avx2,
    /// AVX-512 (F): sixteen lanes.
    Avx512,
}

impl Width {
    /// Every width, narrowest first.
    pub const ALL: [Width; 3] = [Width::Plain, Width::Avx2, Width::Avx512];

    /// Whether this CPU can run the width.
    pub fn available(self) -> bool {
        match self {
            Width::Plain => true,
            #[cfg(target_arch = "x86_64")]
            Width::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Width::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest width this CPU runs (detected once, then cached).
    pub fn detected() -> Width {
        static CACHED: AtomicU8 = AtomicU8::new(u8::MAX);
        let w = CACHED.load(Ordering::Relaxed);
        if let Some(&width) = Width::ALL.get(w as usize) {
            return width;
        }
        let i = (0..Width::ALL.len())
            .rev()
            .find(|&i| Width::ALL[i].available())
            .unwrap_or(0);
        CACHED.store(i as u8, Ordering::Relaxed);
        Width::ALL[i]
    }
}

/// `x ← tanh_f32(x)` for every element, at the CPU's widest [`Width`].
pub fn tanh_f32_slice(xs: &mut [f32]) {
    tanh_f32_slice_at(Width::detected(), xs)
}

/// `x ← exp_f32(x)` for every element, at the CPU's widest [`Width`].
pub fn exp_f32_slice(xs: &mut [f32]) {
    exp_f32_slice_at(Width::detected(), xs)
}

/// Defines `$at(width, xs)`, which maps `$f` over `xs` with the loop compiled for
/// `width` (the plain loop where the CPU lacks it), and its per-width loops.
macro_rules! slice_map {
    ($at:ident, $f:ident, $plain:ident, $avx2:ident, $avx512:ident) => {
        /// The slice map compiled for `width`; a width the CPU cannot run falls back to
        /// the plain loop (the same values either way).
        pub fn $at(width: Width, xs: &mut [f32]) {
            match width {
                #[cfg(target_arch = "x86_64")]
                Width::Avx512 if width.available() => {
                    // SAFETY: the CPU has AVX-512 F (checked just above).
                    unsafe { $avx512(xs) }
                }
                #[cfg(target_arch = "x86_64")]
                Width::Avx2 if width.available() => {
                    // SAFETY: the CPU has AVX2 (checked just above).
                    unsafe { $avx2(xs) }
                }
                _ => $plain(xs),
            }
        }

        fn $plain(xs: &mut [f32]) {
            for x in xs {
                *x = $f(*x);
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2(xs: &mut [f32]) {
            for x in xs {
                *x = $f(*x);
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        fn $avx512(xs: &mut [f32]) {
            for x in xs {
                *x = $f(*x);
            }
        }
    };
}

slice_map!(
    tanh_f32_slice_at,
    tanh_f32,
    tanh_plain,
    tanh_avx2,
    tanh_avx512
);
slice_map!(exp_f32_slice_at, exp_f32, exp_plain, exp_avx2, exp_avx512);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 4099th bit pattern (a prime stride, so all exponents and many mantissa
    /// patterns), plus the edges: ±0, ±inf, NaNs, the smallest and largest subnormals
    /// and normals, and the functions' own thresholds on either side. The length is odd,
    /// so every path also runs a tail shorter than its vector.
    fn sweep() -> Vec<f32> {
        let mut xs: Vec<f32> = (0..=u32::MAX).step_by(4099).map(f32::from_bits).collect();
        let edges = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7fc0_1234),
            f32::from_bits(0xff80_0001),
            f32::from_bits(1),
            f32::from_bits(0x8000_0001),
            f32::from_bits(0x007f_ffff),
            f32::from_bits(0x807f_ffff),
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            crate::math::TANH_SMALL,
            -crate::math::TANH_SMALL,
            crate::math::TANH_BIG,
            -crate::math::TANH_BIG,
            crate::math::EXP_HI,
            crate::math::EXP_LO,
            88.72284,
            -103.97,
        ];
        for e in edges {
            xs.extend([e, f32::from_bits(e.to_bits().wrapping_add(1))]);
            xs.push(f32::from_bits(e.to_bits().wrapping_sub(1)));
        }
        if xs.len().is_multiple_of(2) {
            xs.push(0.5);
        }
        xs
    }

    fn check(name: &str, f: fn(f32) -> f32, slice: &dyn Fn(&mut [f32])) {
        let xs = sweep();
        let mut ys = xs.clone();
        slice(&mut ys);
        for (&x, &y) in xs.iter().zip(&ys) {
            assert_eq!(
                y.to_bits(),
                f(x).to_bits(),
                "{name}({x:e} = {:#010x}): slice gives {y:e}, scalar {:e}",
                x.to_bits(),
                f(x)
            );
        }
        // Short slices and every tail length.
        for n in 0..40 {
            let mut ys = xs[1000..1000 + n].to_vec();
            slice(&mut ys);
            for (&x, &y) in xs[1000..].iter().zip(&ys) {
                assert_eq!(y.to_bits(), f(x).to_bits(), "{name}, length {n}");
            }
        }
    }

    #[test]
    fn tanh_slice_equals_tanh_f32_bit_for_bit_at_every_width() {
        check("tanh (detected)", tanh_f32, &|xs| tanh_f32_slice(xs));
        for w in Width::ALL {
            println!("tanh at {w:?}: available {}", w.available());
            check(&format!("tanh at {w:?}"), tanh_f32, &|xs| {
                tanh_f32_slice_at(w, xs)
            });
        }
    }

    #[test]
    fn exp_slice_equals_exp_f32_bit_for_bit_at_every_width() {
        check("exp (detected)", exp_f32, &|xs| exp_f32_slice(xs));
        for w in Width::ALL {
            check(&format!("exp at {w:?}"), exp_f32, &|xs| {
                exp_f32_slice_at(w, xs)
            });
        }
    }

    #[test]
    fn the_detected_width_is_available() {
        let w = Width::detected();
        assert!(w.available());
        assert_eq!(Width::detected(), w, "cached");
        // Nothing wider is available.
        let i = Width::ALL.iter().position(|&x| x == w).unwrap();
        assert!(Width::ALL[i + 1..].iter().all(|x| !x.available()));
    }
}
