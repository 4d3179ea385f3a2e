//! The rlpc runtime: what a compiled pipeline needs to run, and nothing of the compiler.
//!
//! - [`tensor`]: host tensors of the four dtypes.
//! - [`exec`]: the [`exec::Executable`] boundary every backend implements.
//! - [`rng`]: the counter-based random numbers every backend draws from.

pub mod exec;
pub mod rng;
pub mod tensor;

pub use exec::{Executable, RunError};
pub use tensor::{DType, Tensor};
