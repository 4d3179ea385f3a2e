//! Rust functions that generated code calls for what Cranelift has no instruction for.
//!
//! Why call out instead of emitting polynomial approximations: the JIT must give the
//! interpreter's results bit for bit, and the interpreter uses Rust's `f32::sin`,
//! `f64::ln`, …; calling the very same functions is the only way to round identically.
//! (f32 `exp`, `log` and `tanh`, and f64 `sin` and `cos`, are the exception: the
//! interpreter defines them as plain arithmetic, `rlp_runtime::math`, which codegen
//! emits inline — here they call that same arithmetic.)
//! Random draws compute their Philox words inline; a normal draw calls `rlp_runtime::rng`
//! for its Box–Muller transform, the one definition every backend shares.

use rlp_runtime::rng;
use std::cell::Cell;

/// The scalar types a callout's signature uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A 32-bit float.
    F32,
    /// A 64-bit float.
    F64,
    /// A 32-bit integer.
    I32,
    /// A 64-bit integer.
    I64,
}

/// One function the JIT can call: its symbol, signature and address.
pub struct Callout {
    /// The symbol generated code imports.
    pub name: &'static str,
    /// Parameter types, in order.
    pub params: &'static [Arg],
    /// The return type.
    pub ret: Arg,
    /// The `extern "C"` function's address.
    pub addr: *const u8,
}

macro_rules! math {
    ($($name:ident: $t:ty => |$($x:ident),+| $e:expr;)*) => {
        $(extern "C" fn $name($($x: $t),+) -> $t { $e })*
    };
}

math! {
    sin_f32: f32 => |x| x.sin();
    cos_f32: f32 => |x| x.cos();
    pow_f32: f32 => |x, y| x.powf(y);
    rem_f32: f32 => |x, y| rlp_runtime::math::floored_rem_f32(x, y);
    atan2_f32: f32 => |y, x| y.atan2(x);
    exp_f64: f64 => |x| x.exp();
    ln_f64: f64 => |x| x.ln();
    tanh_f64: f64 => |x| x.tanh();
    sin_f64: f64 => |x| rlp_runtime::math::sin_f64(x);
    cos_f64: f64 => |x| rlp_runtime::math::cos_f64(x);
    pow_f64: f64 => |x, y| x.powf(y);
    rem_f64: f64 => |x, y| rlp_runtime::math::floored_rem_f64(x, y);
    atan2_f64: f64 => |y, x| y.atan2(x);
}

extern "C" fn box_muller(u1: f64, u2: f64) -> f64 {
    rng::box_muller(u1, u2)
}

/// What a kernel's failed check saw: the offending value (an index, where the check has
/// one) and the scan step it failed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The value the check refused; `None` where the check tests a condition only.
    pub value: Option<i64>,
    /// The step of the scan the kernel was running; `None` outside scans.
    pub step: Option<i64>,
}

/// In a fault's `value` or `step`: nothing known.
pub const UNKNOWN: i64 = i64::MIN;

thread_local! {
    /// The last fault a kernel recorded on this thread. A kernel records it just before
    /// returning its failed check's code, and the executor takes it on the same thread
    /// right after the call, so concurrent kernels never see each other's.
    static FAULT: Cell<Option<Fault>> = const { Cell::new(None) };
}

/// Records a failed check's details and passes its return code through (a failing
/// kernel's cold path calls it, then returns the code).
extern "C" fn record_fault(code: i32, value: i64, step: i64) -> i32 {
    let known = |x: i64| (x != UNKNOWN).then_some(x);
    FAULT.with(|f| {
        f.set(Some(Fault {
            value: known(value),
            step: known(step),
        }))
    });
    code
}

/// The details the last failed kernel on this thread recorded, if any (and forgets them).
pub fn take_fault() -> Option<Fault> {
    FAULT.with(Cell::take)
}

const UNARY_F32: &[Arg] = &[Arg::F32];
const BINARY_F32: &[Arg] = &[Arg::F32, Arg::F32];
const UNARY_F64: &[Arg] = &[Arg::F64];
const BINARY_F64: &[Arg] = &[Arg::F64, Arg::F64];

/// Every callout, by symbol name (prefixed so they cannot clash with libc).
pub fn table() -> Vec<Callout> {
    let c = |name, params, ret, addr: *const u8| Callout {
        name,
        params,
        ret,
        addr,
    };
    vec![
        c("rlp_sin_f32", UNARY_F32, Arg::F32, sin_f32 as *const u8),
        c("rlp_cos_f32", UNARY_F32, Arg::F32, cos_f32 as *const u8),
        c("rlp_pow_f32", BINARY_F32, Arg::F32, pow_f32 as *const u8),
        c("rlp_rem_f32", BINARY_F32, Arg::F32, rem_f32 as *const u8),
        c(
            "rlp_atan2_f32",
            BINARY_F32,
            Arg::F32,
            atan2_f32 as *const u8,
        ),
        c("rlp_exp_f64", UNARY_F64, Arg::F64, exp_f64 as *const u8),
        c("rlp_ln_f64", UNARY_F64, Arg::F64, ln_f64 as *const u8),
        c("rlp_tanh_f64", UNARY_F64, Arg::F64, tanh_f64 as *const u8),
        c("rlp_sin_f64", UNARY_F64, Arg::F64, sin_f64 as *const u8),
        c("rlp_cos_f64", UNARY_F64, Arg::F64, cos_f64 as *const u8),
        c("rlp_pow_f64", BINARY_F64, Arg::F64, pow_f64 as *const u8),
        c("rlp_rem_f64", BINARY_F64, Arg::F64, rem_f64 as *const u8),
        c(
            "rlp_atan2_f64",
            BINARY_F64,
            Arg::F64,
            atan2_f64 as *const u8,
        ),
        c(
            "rlp_box_muller",
            BINARY_F64,
            Arg::F64,
            box_muller as *const u8,
        ),
        c(
            "rlp_record_fault",
            &[Arg::I32, Arg::I64, Arg::I64],
            Arg::I32,
            record_fault as *const u8,
        ),
    ]
}
