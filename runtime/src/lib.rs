//! The rlpc runtime: what a compiled pipeline needs to run, and nothing of the compiler.
//!
//! - [`tensor`]: host tensors of the four dtypes.
//! - [`exec`]: the [`exec::Executable`] boundary every backend implements.
//! - [`resident`]: slots a backend keeps in its own memory between stages.
//! - [`rng`]: the counter-based random numbers every backend draws from.
//! - [`io`]: atomic file writes and `.npy` / `.npz` tensor files.
//! - [`math`]: `f32` exp / ln / tanh as plain arithmetic every backend reproduces;
//!   [`wide`]: the same over slices, as many lanes at a time as the CPU has.
//! - [`memory`]: the machine's memory, sizes in human units, allocations that fail
//!   with an error.
//! - [`metrics`]: the `metrics.csv` of a run.
//! - [`order`]: the ranking `top_k` gives on every backend.
//! - [`dataset`]: logged transitions in `.npz` files, for programs that learn from data.
//! - [`checkpoint`]: a run's state saved so that a crash always leaves one to resume from.

pub mod checkpoint;
pub mod dataset;
pub mod exec;
pub mod external;
pub mod io;
pub mod math;
pub mod memory;
pub mod metrics;
pub mod order;
pub mod resident;
pub mod rng;
pub mod tensor;
pub mod wide;

pub use exec::{Executable, RunError, Site, SourceSpan};
pub use tensor::{DType, Tensor};
