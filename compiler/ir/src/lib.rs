//! The tensor graph IR and everything that works on it without knowing a target.
//!
//! Steps, in the order the driver runs them:
//! 1. the front end builds a [`Graph`] (one per pipeline stage);
//! 2. [`autodiff::grad`] appends the reverse-mode gradient of a loss;
//! 3. [`opt`] simplifies: constant folding, CSE, DCE;
//! 4. [`verify::verify`] checks the invariants written on [`graph`];
//! 5. a backend runs it: [`interp`] here (the oracle), the JIT in `rlp-jit`.

pub mod graph;
pub mod types;

pub use graph::{BinaryOp, Distribution, Graph, Node, NodeId, Op, Origin, ReduceOp, Scan, TensorType, Type, UnaryOp};
pub use rlp_runtime::{DType, Tensor};
