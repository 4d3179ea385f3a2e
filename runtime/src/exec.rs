//! The boundary between a compiled graph and the runtime that drives it.
//!
//! A backend (the reference interpreter, the Cranelift JIT, CUDA) turns one verified
//! graph into an [`Executable`]; the training loop only ever calls `run`.

use crate::tensor::Tensor;

/// A failure while running compiled code: a bad input, or a runtime check that failed
/// (an index out of range, a shape that does not match what was compiled).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub message: String,
}

impl RunError {
    pub fn new(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
        }
    }
}

/// One compiled graph, ready to run on host tensors.
pub trait Executable: Send + Sync {
    /// Runs the graph: `inputs[i]` feeds the graph's `Input(i)`; the result holds one
    /// tensor per graph output, in order.
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError>;
}
