//! Scalar semantics of the elementwise ops, per dtype: the exact definitions every
//! backend must reproduce bit for bit.
//!
//! Float ops compute in the operand's own type with the standard library's functions
//! (`f64::exp` for f64, never a wider type and round), one rounding per op (`a - floor(a / b) * b`
//! is a division, a floor, a multiply and a subtract: never a fused multiply-add).
//! The exceptions are f32 `exp`, `log` and `tanh`, defined by [`rlp_runtime::math`]:
//! plain-arithmetic sequences that the JIT emits inline (and vectorises) rather than
//! calling libm per element.
//! Integer arithmetic wraps on overflow; division by zero is an error the caller reports.

use ndarray::ArrayD;
use rlp_runtime::Tensor;
use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::graph::{BinaryOp, UnaryOp};

/// An element type of [`Tensor`]: moves typed arrays in and out of the enum.
pub(crate) trait Elem: Clone + Default + 'static {
    fn wrap(a: ArrayD<Self>) -> Tensor;
    /// The array of a tensor of this dtype; panics on another dtype, which a verified
    /// graph never produces.
    fn peek(t: &Tensor) -> &ArrayD<Self>;
    fn peek_mut(t: &mut Tensor) -> &mut ArrayD<Self>;
}

macro_rules! impl_elem {
    ($t:ty, $variant:ident) => {
        impl Elem for $t {
            fn wrap(a: ArrayD<$t>) -> Tensor {
                Tensor::$variant(a)
            }
            fn peek(t: &Tensor) -> &ArrayD<$t> {
                match t {
                    Tensor::$variant(a) => a,
                    other => panic!(
                        "expected a {} tensor, got {}",
                        stringify!($t),
                        other.dtype()
                    ),
                }
            }
            fn peek_mut(t: &mut Tensor) -> &mut ArrayD<$t> {
                match t {
                    Tensor::$variant(a) => a,
                    other => panic!(
                        "expected a {} tensor, got {}",
                        stringify!($t),
                        other.dtype()
                    ),
                }
            }
        }
    };
}
impl_elem!(f32, F32);
impl_elem!(f64, F64);
impl_elem!(i32, I32);
impl_elem!(bool, Bool);

/// The ordered element types (all but bool): what reductions and argmax accept.
pub(crate) trait Num: Elem + Copy + PartialOrd {
    const ZERO: Self;
    const ONE: Self;
    /// The identity of `max`: -inf for floats.
    const LOWEST: Self;
    /// The identity of `min`: +inf for floats.
    const HIGHEST: Self;
    /// Addition in the type (wrapping for integers).
    fn plus(self, other: Self) -> Self;
    fn is_nan(self) -> bool;
}

/// The larger of `a` and `b`; NaN if either is NaN; `a` on ties (so `max(-0, +0)` is
/// `-0`, and the gradient of a tie goes to `a`).
pub(crate) fn max<T: Num>(a: T, b: T) -> T {
    if a.is_nan() || a >= b { a } else { b }
}

/// The smaller of `a` and `b`; NaN if either is NaN; `a` on ties.
pub(crate) fn min<T: Num>(a: T, b: T) -> T {
    if a.is_nan() || a <= b { a } else { b }
}

/// The float types, with the math the unary and binary ops need.
pub(crate) trait Real:
    Num
    + Neg<Output = Self>
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
{
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn abs(self) -> Self;
    fn floor(self) -> Self;
    fn powf(self, e: Self) -> Self;
    fn atan2(self, x: Self) -> Self;
    /// The floored remainder (`rlp_runtime::math::floored_rem_f64`).
    fn floored_rem(self, b: Self) -> Self;
}

/// `$exp`, `$ln`, `$tanh`: the type's definitions of those three (see the module docs).
macro_rules! impl_real {
    ($t:ident, $exp:path, $ln:path, $tanh:path, $sin:path, $cos:path, $rem:path) => {
        impl Num for $t {
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            const LOWEST: $t = $t::NEG_INFINITY;
            const HIGHEST: $t = $t::INFINITY;
            fn plus(self, other: $t) -> $t {
                self + other
            }
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
        }
        impl Real for $t {
            fn exp(self) -> $t {
                $exp(self)
            }
            fn ln(self) -> $t {
                $ln(self)
            }
            fn sqrt(self) -> $t {
                $t::sqrt(self)
            }
            fn tanh(self) -> $t {
                $tanh(self)
            }
            fn sin(self) -> $t {
                $sin(self)
            }
            fn cos(self) -> $t {
                $cos(self)
            }
            fn abs(self) -> $t {
                $t::abs(self)
            }
            fn floor(self) -> $t {
                $t::floor(self)
            }
            fn powf(self, e: $t) -> $t {
                $t::powf(self, e)
            }
            fn atan2(self, x: $t) -> $t {
                $t::atan2(self, x)
            }
            fn floored_rem(self, b: $t) -> $t {
                $rem(self, b)
            }
        }
    };
}
impl_real!(
    f32,
    rlp_runtime::math::exp_f32,
    rlp_runtime::math::ln_f32,
    rlp_runtime::math::tanh_f32,
    f32::sin,
    f32::cos,
    rlp_runtime::math::floored_rem_f32
);
impl_real!(
    f64,
    f64::exp,
    f64::ln,
    f64::tanh,
    rlp_runtime::math::sin_f64,
    rlp_runtime::math::cos_f64,
    rlp_runtime::math::floored_rem_f64
);

impl Num for i32 {
    const ZERO: i32 = 0;
    const ONE: i32 = 1;
    const LOWEST: i32 = i32::MIN;
    const HIGHEST: i32 = i32::MAX;
    fn plus(self, other: i32) -> i32 {
        self.wrapping_add(other)
    }
    fn is_nan(self) -> bool {
        false
    }
}

/// A float unary op. `sign` is -1 or 1 away from zero and returns its argument at
/// ±0 and NaN.
pub(crate) fn real_unary<T: Real>(op: UnaryOp) -> fn(T) -> T {
    match op {
        UnaryOp::Neg => |x: T| -x,
        UnaryOp::Exp => T::exp,
        UnaryOp::Log => T::ln,
        UnaryOp::Sqrt => T::sqrt,
        UnaryOp::Tanh => T::tanh,
        UnaryOp::Sin => T::sin,
        UnaryOp::Cos => T::cos,
        UnaryOp::Abs => T::abs,
        UnaryOp::Sign => |x: T| {
            if x > T::ZERO {
                T::ONE
            } else if x < T::ZERO {
                -T::ONE
            } else {
                x
            }
        },
        UnaryOp::Floor => T::floor,
        UnaryOp::Not => unreachable!("not on a float (rejected by the verifier)"),
    }
}

/// An i32 unary op (`neg`, `abs` wrap at `i32::MIN`).
pub(crate) fn int_unary(op: UnaryOp) -> fn(i32) -> i32 {
    match op {
        UnaryOp::Neg => i32::wrapping_neg,
        UnaryOp::Abs => i32::wrapping_abs,
        UnaryOp::Sign => i32::signum,
        _ => unreachable!("{op:?} on i32 (rejected by the verifier)"),
    }
}

/// A float arithmetic op.
pub(crate) fn real_arith<T: Real>(op: BinaryOp) -> fn(T, T) -> T {
    match op {
        BinaryOp::Add => |a: T, b: T| a + b,
        BinaryOp::Sub => |a: T, b: T| a - b,
        BinaryOp::Mul => |a: T, b: T| a * b,
        BinaryOp::Div => |a: T, b: T| a / b,
        BinaryOp::Rem => T::floored_rem,
        BinaryOp::Pow => T::powf,
        BinaryOp::Max => max,
        BinaryOp::Min => min,
        BinaryOp::Atan2 => T::atan2,
        _ => unreachable!("{op:?} is not float arithmetic"),
    }
}

/// An i32 arithmetic op; `b` is non-zero for `div` and `rem` (the caller checks).
/// Division truncates toward zero; `rem` is floored (takes the sign of `b`).
pub(crate) fn int_arith(op: BinaryOp) -> fn(i32, i32) -> i32 {
    match op {
        BinaryOp::Add => i32::wrapping_add,
        BinaryOp::Sub => i32::wrapping_sub,
        BinaryOp::Mul => i32::wrapping_mul,
        BinaryOp::Div => i32::wrapping_div,
        BinaryOp::Rem => |a: i32, b: i32| {
            let r = a.wrapping_rem(b);
            if r != 0 && (r < 0) != (b < 0) {
                r + b
            } else {
                r
            }
        },
        BinaryOp::Max => max,
        BinaryOp::Min => min,
        _ => unreachable!("{op:?} is not i32 arithmetic"),
    }
}

/// A comparison (IEEE: every comparison with NaN is false except `ne`).
pub(crate) fn compare<T: PartialOrd>(op: BinaryOp) -> fn(&T, &T) -> bool {
    match op {
        BinaryOp::Lt => T::lt,
        BinaryOp::Le => T::le,
        BinaryOp::Gt => T::gt,
        BinaryOp::Ge => T::ge,
        BinaryOp::Eq => T::eq,
        BinaryOp::Ne => T::ne,
        _ => unreachable!("{op:?} is not a comparison"),
    }
}

/// A logical op on bools.
pub(crate) fn logical(op: BinaryOp) -> fn(bool, bool) -> bool {
    match op {
        BinaryOp::And => |a, b| a && b,
        BinaryOp::Or => |a, b| a || b,
        _ => unreachable!("{op:?} is not logical"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_min_propagate_nan_and_prefer_the_first_on_ties() {
        assert!(max(f32::NAN, 1.0).is_nan());
        assert!(max(1.0, f32::NAN).is_nan());
        assert!(min(f64::NAN, 1.0).is_nan());
        assert!(min(1.0, f64::NAN).is_nan());
        assert!(max(-0.0f32, 0.0).is_sign_negative());
        assert!(min(0.0f32, -0.0).is_sign_positive());
        assert_eq!(max(2, 3), 3);
    }

    #[test]
    fn integer_division_truncates_and_rem_is_floored() {
        let (div, rem) = (int_arith(BinaryOp::Div), int_arith(BinaryOp::Rem));
        assert_eq!(
            [div(7, 2), div(-7, 2), div(7, -2), div(-7, -2)],
            [3, -3, -3, 3]
        );
        assert_eq!(
            [rem(7, 3), rem(-7, 3), rem(7, -3), rem(-7, -3), rem(6, -3)],
            [1, 2, -2, -1, 0]
        );
        assert_eq!(div(i32::MIN, -1), i32::MIN);
    }

    #[test]
    fn float_rem_is_floored() {
        let rem = real_arith::<f64>(BinaryOp::Rem);
        assert_eq!(
            [rem(7.5, 2.0), rem(-7.5, 2.0), rem(7.5, -2.0)],
            [1.5, 0.5, -0.5]
        );
    }

    #[test]
    fn sign_is_zero_at_zero() {
        let sign = real_unary::<f32>(UnaryOp::Sign);
        assert_eq!([sign(-3.0), sign(0.0), sign(2.5)], [-1.0, 0.0, 1.0]);
        assert!(sign(f32::NAN).is_nan());
        assert_eq!(int_unary(UnaryOp::Sign)(-4), -1);
    }
}
