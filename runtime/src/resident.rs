//! Slots kept in a backend's own memory between stages.
//!
//! By default the trainer holds every slot as a host [`Tensor`] and hands a stage its
//! inputs as host tensors ([`Executable::run_into`]). A backend with memory of its own
//! (a GPU) offers a [`SlotStore`] instead: each slot lives in that memory, a stage reads
//! its input slots where they lie and its outputs are written there, and the host sees
//! a slot only when it asks for one (a logged metric, a checkpoint, an error message).
//!
//! The trainer keeps a host copy of every slot beside the store; the store tracks which
//! copy is newer. A slot the host writes (the iteration counter, a restored checkpoint,
//! a dataset) is marked with [`SlotStore::host_wrote`] and goes up before the next stage
//! that reads it; a slot a stage writes is newer in the store until the trainer
//! downloads it.

use crate::exec::{Executable, RunError};
use crate::tensor::Tensor;

/// Bytes moved between the host and a backend's memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Host to device.
    pub uploaded: u64,
    /// Device to host.
    pub downloaded: u64,
}

/// What [`SlotStore::run`] found.
#[derive(Clone, Debug)]
pub enum Checked {
    /// Every check passed; the outputs are in their slots.
    Written,
    /// Output `k` (the first such) holds a value the check does not allow.
    NonFinite(usize),
    /// Row indices `j` (of `row_indices`) are out of range: their values, downloaded.
    OutOfRange(usize, Tensor),
}

/// A program's slots in a backend's memory, addressed by slot index.
pub trait SlotStore: Send {
    /// Runs `exe` (an executable of this store's backend) with its input `i` read from
    /// slot `reads[i]` in place; a slot whose host copy in `host` is newer is uploaded
    /// first. Before anything is written, the outputs are checked where they were
    /// computed: every floating-point output for NaN or ±Inf (only ±Inf where
    /// `allow_nan[k]`), then each `(k, n)` of `row_indices` for an `i32` output `k`
    /// with a value outside `0..n` (the rows a [`SlotStore::put_rows`] will write). A
    /// failed check writes nothing. Otherwise output `k` becomes slot `writes[k]`. On
    /// an error nothing is written either.
    fn run(
        &mut self,
        exe: &dyn Executable,
        host: &[Tensor],
        reads: &[usize],
        writes: &[usize],
        allow_nan: &[bool],
        row_indices: &[(usize, usize)],
    ) -> Result<Checked, RunError>;

    /// Rewrites rows of slot `target` where it lies: row `index[m]` becomes (with `add`:
    /// is increased by) row `m` of slot `rows`, in order of `m`
    /// ([`Tensor::put_rows`]). Indices out of range are an error (after which rows in
    /// range may have been written: check them first, in [`SlotStore::run`]).
    fn put_rows(
        &mut self,
        host: &[Tensor],
        target: usize,
        index: usize,
        rows: usize,
        add: bool,
    ) -> Result<(), RunError>;

    /// Sets `slot` to zeros where it lies (the host copy need not hold a value: the
    /// store's is newer).
    fn zeros(&mut self, slot: usize) -> Result<(), RunError>;

    /// Whether the store holds a newer value of `slot` than the host copy.
    fn device_newer(&self, slot: usize) -> bool;

    /// The store's value of `slot`, downloaded (the host copy is the caller's to update;
    /// then it calls [`SlotStore::host_current`]).
    fn download(&self, slot: usize) -> Result<Tensor, RunError>;

    /// The host copy of `slot` now equals the store's.
    fn host_current(&mut self, slot: usize);

    /// The host copy of `slot` was written: the store's is stale until uploaded again.
    fn host_wrote(&mut self, slot: usize);
}
