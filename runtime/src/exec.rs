//! The boundary between a compiled graph and the runtime that drives it.
//!
//! A backend (the reference interpreter, the Cranelift JIT, CUDA) turns one verified
//! graph into an [`Executable`]; the training loop only ever calls `run` (or `run_into`,
//! which reuses the previous call's output memory).

use crate::tensor::{DType, Tensor};

/// A failure while running compiled code: a bad input, or a runtime check that failed
/// (an index out of range, a shape that does not match what was compiled).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub message: String,
    /// Where the failing operation is written, when the backend knows: the driver turns
    /// it into `file:line:col` and the source line.
    pub origin: Option<SourceSpan>,
}

/// A byte range of one of the driver's source files (the IR's `Origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceSpan {
    /// Index into the driver's source table.
    pub file: u32,
    pub start: u32,
    pub end: u32,
    /// The program's call that led into another file's function holding the span.
    pub called_from: Option<Site>,
}

/// A byte range of one of the driver's source files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Site {
    /// Index into the driver's source table.
    pub file: u32,
    pub start: u32,
    pub end: u32,
}

impl RunError {
    pub fn new(message: impl Into<String>) -> RunError {
        RunError {
            message: message.into(),
            origin: None,
        }
    }

    /// The error with the source of the failing operation, if it has none yet.
    pub fn with_origin(mut self, origin: Option<SourceSpan>) -> RunError {
        self.origin = self.origin.or(origin);
        self
    }
}

/// One compiled graph, ready to run on host tensors.
pub trait Executable: Send + Sync {
    /// Runs the graph: `inputs[i]` feeds the graph's `Input(i)`; the result holds one
    /// tensor per graph output, in order.
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError>;

    /// Runs the graph into `outputs`, reusing their memory where the backend can.
    ///
    /// For loops that run one graph every iteration (a rollout, an advantage pass, an
    /// update): keep one `Vec` and pass it back each time, so large results are not
    /// allocated afresh per call, which for big tensors means faulting every page in again.
    ///
    /// `outputs` is either empty, and is then filled as [`run`](Executable::run) would
    /// return, or holds one tensor per graph output with exactly that output's dtype and
    /// shape (what an earlier call left there). Their contents are overwritten, never read.
    /// Anything else is an error that leaves `outputs` untouched. After a failed run,
    /// `outputs` is unchanged or empty, so it can always be passed to the next call.
    ///
    /// This default runs [`run`](Executable::run) and moves its results in; backends
    /// that own their buffers override it to write into the given memory.
    fn run_into(&self, inputs: &[Tensor], outputs: &mut Vec<Tensor>) -> Result<(), RunError> {
        let results = self.run(inputs)?;
        check_reused_outputs(outputs, results.iter().map(|t| (t.dtype(), t.shape())))?;
        *outputs = results;
        Ok(())
    }

    /// The executable as [`Any`](std::any::Any), for a [`SlotStore`](crate::resident::SlotStore)
    /// that runs its own backend's executables on the memory it holds; `None` (the
    /// default) for backends that only run on host tensors.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// [`run_into`](Executable::run_into) with the inputs lent one by one (`inputs[i]`
    /// feeds `Input(i)`), for a caller whose inputs are not one slice: a trainer's state
    /// slots, which it would otherwise move out and back around every run (a tensor is
    /// over a hundred bytes, and a step-wise program moves dozens per iteration).
    ///
    /// `None` when the backend does not take its inputs so (this default); the caller
    /// then gathers them into a slice for `run_into`.
    fn run_borrowed_into(
        &self,
        _inputs: &[&Tensor],
        _outputs: &mut Vec<Tensor>,
    ) -> Option<Result<(), RunError>> {
        None
    }

    /// Whether the last successful run of this executable saw every value of output `k`
    /// written and none of them NaN or ±Inf, so that a caller's check for non-finite
    /// values can skip reading it back (a rollout's stored batch is tens of megabytes).
    /// `false` (this default) when the backend does not know; never `true` for an output
    /// it did not watch whole. It describes the last run: a caller running one executable
    /// from several threads at once cannot tell whose.
    fn output_known_finite(&self, _k: usize) -> bool {
        false
    }
}

/// Whether two shapes are equal, compared in line: shapes have a handful of dimensions,
/// and a slice comparison's call to `memcmp` costs more than the comparison, dozens of
/// times per run of a small graph.
#[inline]
pub fn same_shape(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Checks `outputs` handed to [`Executable::run_into`] against the graph's outputs
/// `want` (dtype and shape of each, in order): empty, or one tensor of each type.
pub fn check_reused_outputs<'a>(
    outputs: &[Tensor],
    want: impl ExactSizeIterator<Item = (DType, &'a [usize])>,
) -> Result<(), RunError> {
    if outputs.is_empty() {
        return Ok(());
    }
    if outputs.len() != want.len() {
        return Err(RunError::new(format!(
            "outputs to reuse: expected {} tensors (or none), got {}",
            want.len(),
            outputs.len()
        )));
    }
    for (k, (t, (dtype, shape))) in outputs.iter().zip(want).enumerate() {
        if t.dtype() != dtype || !same_shape(t.shape(), shape) {
            return Err(RunError::new(format!(
                "output {k} to reuse: expected {}, got {}",
                type_name(dtype, shape),
                type_name(t.dtype(), t.shape())
            )));
        }
    }
    Ok(())
}

/// `f32[4,8]`, as the IR prints tensor types.
fn type_name(dtype: DType, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("{dtype}[{}]", dims.join(","))
}
