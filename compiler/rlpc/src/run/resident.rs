//! The trainer with its slots in device memory (the CUDA backend).
//!
//! A [`SlotStore`] holds every slot on the device; the trainer's `slots` are host
//! copies, each current only while the store says so. A stage reads and writes the
//! store's memory in place; what crosses to the host per stage is the runtime-check
//! status word and one word per floating-point value the stage wrote (the non-finite
//! check runs on the device). Slots come down only when the host needs them: a metric
//! being logged, a checkpoint or `params.npz`, and the rare paths — a non-finite value
//! being traced to its expression (the stage's inputs, which the failed stage left as
//! they were) and a row index out of range (the indices). The host writes a slot (the
//! iteration counter, a restored checkpoint, a dataset) by replacing its host copy and
//! telling the store, which uploads it before the next stage that reads it.

use super::{Stage, Trainer, stage_error};
use crate::diag::SourceMap;
use rlp_runtime::resident::{Checked, SlotStore};
use rlp_runtime::{Executable, Tensor};
use std::borrow::Cow;

/// A store for the slots of `c` on `target`, every slot but the datasets, those the
/// init graph computes and those that start missing already zero on the device (as the
/// host path starts them).
pub(super) fn slot_store(
    c: &super::Compiled,
    target: rlp_cuda::Target,
) -> Result<Box<dyn SlotStore>, String> {
    let p = &c.program;
    let types: Vec<_> = p
        .slots
        .iter()
        .map(|s| (s.ty.dtype, s.ty.shape.clone()))
        .collect();
    let mut store = rlp_cuda::slot_store(target, &types)?;
    for (i, s) in p.slots.iter().enumerate() {
        let id = crate::program::SlotId(i as u32);
        let computed = p.init.writes.contains(&id) && !p.init.reads.contains(&id);
        // Slots that start missing (NaN) go up from the host copy when first read.
        if s.kind != crate::program::SlotKind::Data && !computed && !s.starts_missing {
            store
                .zeros(i)
                .map_err(|e| format!("out of memory for `{}` ({}): {e}", s.name, s.ty))?;
        }
    }
    Ok(store)
}

impl Trainer<'_> {
    /// [`Trainer::run_stage`] on the store: the stage's outputs are checked on the
    /// device and written into their slots' device memory, then its row writes are
    /// applied there. On a non-finite value nothing is written and the stage's inputs
    /// come down for the culprit search, so the error is the host path's, word for word.
    pub(super) fn run_stage_resident(
        &mut self,
        store: &mut dyn SlotStore,
        stage: &Stage,
        exe: &dyn Executable,
        sources: Option<&SourceMap>,
    ) -> Result<(), String> {
        let p = &self.c.program;
        let index = |s: &crate::program::SlotId| s.0 as usize;
        let reads: Vec<usize> = stage.reads.iter().map(index).collect();
        let writes: Vec<usize> = stage.writes.iter().map(index).collect();
        let allow_nan: Vec<bool> = stage
            .writes
            .iter()
            .map(|s| p.slot(*s).nan_is_missing)
            .collect();
        // Row indices are checked with the stage's outputs, before anything is written,
        // so a failed `put` leaves the state as it was (as on the host).
        let position = |s: &crate::program::SlotId| stage.writes.iter().position(|w| w == s);
        let row_indices: Vec<(usize, usize)> = stage
            .row_writes
            .iter()
            .filter_map(|w| {
                let rows = p.slot(w.slot).ty.shape.first().copied().unwrap_or(0);
                Some((position(&w.index)?, rows))
            })
            .collect();
        let checked = store
            .run(exe, &self.slots, &reads, &writes, &allow_nan, &row_indices)
            .map_err(|e| stage_error(stage, &e, sources))?;
        match checked {
            Checked::Written => {}
            Checked::NonFinite(k) => {
                let inputs = reads
                    .iter()
                    .map(|&s| download(store, &self.slots, s))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| stage_error(stage, &e, sources))?;
                return Err(self.non_finite_error(stage, &inputs, k, sources));
            }
            Checked::OutOfRange(j, index) => {
                let w = stage
                    .row_writes
                    .iter()
                    .filter(|w| position(&w.index).is_some())
                    .nth(j)
                    .expect("one check per row write whose index the stage writes");
                let n = p.slot(w.slot).ty.shape.first().copied().unwrap_or(0);
                let why = Tensor::check_row_index(&index, n)
                    .err()
                    .unwrap_or_else(|| "a row index is out of range".into());
                return Err(self.row_index_error(stage, w, &why, sources));
            }
        }
        for w in &stage.row_writes {
            let (slot, idx, rows) = (index(&w.slot), index(&w.index), index(&w.rows));
            if let Err(e) = store.put_rows(&self.slots, slot, idx, rows, w.add) {
                // Name the index as the host path does, from the indices themselves.
                let n = p.slot(w.slot).ty.shape.first().copied().unwrap_or(0);
                let found = download(store, &self.slots, idx)
                    .map_err(|e| e.message)
                    .and_then(|t| Tensor::check_row_index(&t, n));
                return Err(match found {
                    Err(why) => self.row_index_error(stage, w, &why, sources),
                    Ok(()) => format!(
                        "stage `{}` failed: `put` into `{}`: {e}",
                        stage.kind.name(),
                        p.slot(w.slot).name
                    ),
                });
            }
        }
        Ok(())
    }

    /// The value of slot `i` on the host: its host copy where that is current, else
    /// downloaded from the device.
    pub(super) fn host_value(&self, i: usize) -> Result<Cow<'_, Tensor>, String> {
        match &self.store {
            Some(store) if store.device_newer(i) => store
                .download(i)
                .map(Cow::Owned)
                .map_err(|e| format!("reading `{}`: {e}", self.c.program.slots[i].name)),
            _ => Ok(Cow::Borrowed(&self.slots[i])),
        }
    }

    /// Replaces slot `i` with `t`, written on the host.
    pub(super) fn set_on_host(&mut self, i: usize, t: Tensor) {
        self.slots[i] = t;
        if let Some(store) = &mut self.store {
            store.host_wrote(i);
        }
    }

    /// Brings every host copy up to date with the device (one download per slot a stage
    /// wrote since the last time); afterwards `slots` holds the whole state. Nothing to
    /// do when the slots are on the host.
    pub fn sync_host(&mut self) -> Result<(), String> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        for i in 0..self.slots.len() {
            if store.device_newer(i) {
                self.slots[i] = store
                    .download(i)
                    .map_err(|e| format!("reading `{}`: {e}", self.c.program.slots[i].name))?;
                store.host_current(i);
            }
        }
        Ok(())
    }

    /// Whether this trainer's slots live in device memory.
    pub fn slots_resident(&self) -> bool {
        self.store.is_some()
    }
}

/// Slot `s`'s current value: its host copy, or the device's where that is newer.
fn download(
    store: &dyn SlotStore,
    host: &[Tensor],
    s: usize,
) -> Result<Tensor, rlp_runtime::RunError> {
    if store.device_newer(s) {
        store.download(s)
    } else {
        Ok(host[s].clone())
    }
}
