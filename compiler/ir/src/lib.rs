//! The tensor graph IR and everything that works on it without knowing a target.
//!
//! Steps, in the order the driver runs them:
//! 1. the front end builds a [`Graph`] (one per pipeline stage), with the shorthands
//!    of `build.rs` (`g.binary(…)`, `g.full(…)`, `g.inline(…)`, …);
//! 2. [`autodiff::grad`] appends the reverse-mode gradient of a loss;
//! 3. [`opt::optimize`] simplifies: constant folding, CSE, DCE;
//! 4. [`verify::verify`] checks the invariants written on [`graph`];
//! 5. a backend runs it: [`interp`] here (the oracle), the JIT in `rlp-jit`.
//!
//! Beside the steps: `Display` on [`Graph`] is the text form (`print.rs`, for
//! snapshots and `rlpc explain`), and [`precision::to_f64`] the f64 twin of a graph
//! that gradient checks run.

pub mod graph;
pub mod types;

pub mod autodiff;
mod build;
pub mod interp;
pub mod opt;
pub mod precision;
mod print;
pub mod verify;

pub use graph::{
    BinaryOp, Distribution, Graph, Node, NodeId, Op, Origin, ReduceOp, Scan, Site, TensorType,
    Type, UnaryOp,
};
pub use rlp_runtime::{DType, Tensor};
