//! Checkpoints: a program's whole state at one step, saved so that a crash at any moment
//! leaves a complete checkpoint to resume from.
//!
//! A checkpoint directory holds, for each saved step `N`:
//!
//! - `ckpt-N.npz` — the state tensors (parameters, optimizer moments, env states,
//!   buffers, counters, RNG positions…), as written by [`crate::io::save_npz`];
//! - `ckpt-N.json` — the caller's metadata (config, metric history, whatever it needs);
//!
//! and one `latest.json`, `{"step": N}`, naming the newest complete checkpoint.
//!
//! Order of a save: the `.npz`, then the `.json`, each atomically; only then is
//! `latest.json` atomically replaced; only after that are old checkpoints deleted. A crash
//! before the last rename leaves `latest.json` on the previous checkpoint, which is still
//! whole; files of the unfinished one are at worst orphans, overwritten or pruned later.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::io::{IoError, TEMP_SUFFIX, load_npz, save_npz, write_atomic};
use crate::tensor::Tensor;

/// The file naming the newest complete checkpoint.
pub const LATEST: &str = "latest.json";

/// A loaded checkpoint: its step, its state tensors by name, and its metadata.
pub type LoadedCheckpoint = (u64, Vec<(String, Tensor)>, serde_json::Value);

/// What `latest.json` holds.
#[derive(Serialize, Deserialize)]
struct Latest {
    step: u64,
}

/// The path of the tensors of the checkpoint at `step`.
pub fn npz_path(dir: &Path, step: u64) -> PathBuf {
    dir.join(format!("ckpt-{step}.npz"))
}

/// The path of the metadata of the checkpoint at `step`.
pub fn meta_path(dir: &Path, step: u64) -> PathBuf {
    dir.join(format!("ckpt-{step}.json"))
}

/// Saves the checkpoint of `step` in `dir` (created if missing), makes it the latest, then
/// deletes older checkpoints so that `keep` remain, counting this one. `keep == 0` keeps
/// them all. Returns the path of the `.npz`.
///
/// Checkpoints with a *higher* step than this one (left by a run that went further before
/// it was stopped and resumed from an earlier checkpoint) are neither counted nor deleted;
/// the resumed run overwrites them as it reaches those steps again.
///
/// A failure to delete an old checkpoint is reported as an error even though the new
/// checkpoint is already complete and latest: silently leaving files would fill the disk.
pub fn save_checkpoint(
    dir: &Path,
    step: u64,
    state: &[(String, Tensor)],
    meta: &serde_json::Value,
    keep: usize,
) -> Result<PathBuf, IoError> {
    fs::create_dir_all(dir).map_err(|e| IoError::io(dir, "create the checkpoint directory", e))?;
    let npz = npz_path(dir, step);
    save_npz(&npz, state)?;
    write_atomic(&meta_path(dir, step), &to_json(meta))?;
    let latest =
        serde_json::to_value(Latest { step }).expect("a struct of one integer is valid JSON");
    write_atomic(&dir.join(LATEST), &to_json(&latest))?;
    remove_stale_temp_files(dir);
    if keep > 0 {
        prune(dir, step, keep)?;
    }
    Ok(npz)
}

/// Loads the checkpoint `latest.json` names: its step, state tensors and metadata.
/// `Ok(None)` when there is none yet (no directory, or no `latest.json`). A `latest.json`
/// that names a missing or damaged checkpoint is an error, never a silent fallback to an
/// older one: resuming from a different step than the user expects would be worse.
/// (`rlpc run --resume` uses [`load_newest_intact`], which falls back and says so.)
pub fn load_latest(dir: &Path) -> Result<Option<LoadedCheckpoint>, IoError> {
    let latest_path = dir.join(LATEST);
    let bytes = match fs::read(&latest_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::io(&latest_path, "read", e)),
    };
    let Latest { step } = serde_json::from_slice(&bytes)
        .map_err(|e| IoError::corrupt(&latest_path, "checkpoint index", e.to_string()))?;
    let state = load_npz(&npz_path(dir, step))?;
    let meta_file = meta_path(dir, step);
    let meta_bytes = fs::read(&meta_file).map_err(|e| IoError::io(&meta_file, "read", e))?;
    let meta = serde_json::from_slice(&meta_bytes)
        .map_err(|e| IoError::corrupt(&meta_file, "checkpoint metadata (JSON)", e.to_string()))?;
    Ok(Some((step, state, meta)))
}

/// A checkpoint to resume from, found by [`load_newest_intact`], with a line for each
/// newer one passed over (or for a lost `latest.json`), for the user to read.
pub struct Resumable {
    pub checkpoint: LoadedCheckpoint,
    pub notes: Vec<String>,
}

/// Loads the newest checkpoint in `dir` that can be read whole, for resuming a run.
///
/// Unlike [`load_latest`], a damaged or missing newest checkpoint is not the end: the
/// next older one is tried, and each one passed over gets a note ("checkpoint 80 is
/// unreadable (…); resuming from 60"). The candidates are the step `latest.json` names
/// and every older `ckpt-N.npz`; when `latest.json` is missing or unreadable, every
/// `ckpt-N.npz` in the directory (a note says so). Checkpoints newer than the one
/// `latest.json` names belong to an abandoned stretch of a run that was resumed from an
/// earlier step, and are not candidates.
///
/// `Ok(None)` when there is no checkpoint at all; when there are some but none is
/// readable, the error of the newest one.
pub fn load_newest_intact(dir: &Path) -> Result<Option<Resumable>, IoError> {
    let mut notes = Vec::new();
    let latest_path = dir.join(LATEST);
    let named = match fs::read(&latest_path) {
        Ok(bytes) => match serde_json::from_slice::<Latest>(&bytes) {
            Ok(Latest { step }) => Some(step),
            Err(e) => {
                notes.push(format!(
                    "`{}` is unreadable ({e}); looking for checkpoints in the directory",
                    latest_path.display()
                ));
                None
            }
        },
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(IoError::io(&latest_path, "read", e)),
    };
    let mut steps: BTreeSet<u64> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name();
                let name = name.to_str()?;
                name.ends_with(".npz").then(|| checkpoint_step(name))?
            })
            .collect(),
        Err(e) if e.kind() == ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => return Err(IoError::io(dir, "list the checkpoint directory", e)),
    };
    match named {
        Some(step) => {
            steps.retain(|&s| s <= step);
            steps.insert(step);
        }
        None if steps.is_empty() => return Ok(None),
        None if notes.is_empty() => notes.push(format!(
            "`{}` is missing; found {} checkpoint(s) in the directory",
            latest_path.display(),
            steps.len()
        )),
        None => {}
    }
    let mut first_error = None;
    let mut failed: Vec<(u64, String)> = Vec::new();
    for &step in steps.iter().rev() {
        match load_step(dir, step) {
            Ok(checkpoint) => {
                for (bad, e) in failed {
                    notes.push(format!(
                        "checkpoint {bad} is unreadable ({e}); resuming from {step}"
                    ));
                }
                return Ok(Some(Resumable { checkpoint, notes }));
            }
            Err(e) => {
                failed.push((step, e.to_string()));
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.expect("at least one candidate step"))
}

/// Loads the checkpoint of `step`: its tensors and metadata.
fn load_step(dir: &Path, step: u64) -> Result<LoadedCheckpoint, IoError> {
    let state = load_npz(&npz_path(dir, step))?;
    let meta_file = meta_path(dir, step);
    let meta_bytes = fs::read(&meta_file).map_err(|e| IoError::io(&meta_file, "read", e))?;
    let meta = serde_json::from_slice(&meta_bytes)
        .map_err(|e| IoError::corrupt(&meta_file, "checkpoint metadata (JSON)", e.to_string()))?;
    Ok((step, state, meta))
}

fn to_json(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes =
        serde_json::to_vec_pretty(value).expect("a serde_json::Value always serializes");
    bytes.push(b'\n');
    bytes
}

/// The step of a file named `ckpt-<step>.npz` or `ckpt-<step>.json`, in the exact form
/// [`npz_path`] writes (so `ckpt-007.npz` or a user's `ckpt-best.npz` is never touched).
fn checkpoint_step(name: &str) -> Option<u64> {
    let stem = name.strip_prefix("ckpt-")?;
    let digits = stem
        .strip_suffix(".npz")
        .or_else(|| stem.strip_suffix(".json"))?;
    let step: u64 = digits.parse().ok()?;
    (step.to_string() == digits).then_some(step)
}

/// Deletes checkpoints older than `current` beyond the newest `keep - 1` of them.
fn prune(dir: &Path, current: u64, keep: usize) -> Result<(), IoError> {
    let entries =
        fs::read_dir(dir).map_err(|e| IoError::io(dir, "list the checkpoint directory", e))?;
    let older: BTreeSet<u64> = entries
        .filter_map(|entry| checkpoint_step(entry.ok()?.file_name().to_str()?))
        .filter(|&step| step < current)
        .collect();
    for &step in older.iter().rev().skip(keep - 1) {
        for path in [npz_path(dir, step), meta_path(dir, step)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(IoError::io(&path, "delete the old checkpoint", e)),
            }
        }
    }
    Ok(())
}

/// Removes temporary files that a killed process left behind while saving into `dir`
/// (`.ckpt-*.tmp`, `.latest.json.*.tmp`). Files of this process are left alone, in case
/// another of its threads is saving right now. Best effort: a leftover is only clutter.
fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let own_pid = std::process::id().to_string();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(TEMP_SUFFIX) else {
            continue;
        };
        // `.<target>.<pid>.<counter>`
        let mut parts = stem.rsplitn(3, '.');
        let (Some(_counter), Some(pid), Some(target)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let target = target.strip_prefix('.').unwrap_or(target);
        let ours = target == LATEST || checkpoint_step(target).is_some();
        if ours && pid != own_pid {
            let _ = fs::remove_file(entry.path());
        }
    }
}
