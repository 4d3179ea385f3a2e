//! The run directory: what `rlpc run` leaves behind, and what `rlpc run --resume` reads.
//!
//! ```text
//! runs/<name>/
//!   program.rlp      the main file's text, as compiled
//!   modules.json     the texts of the user's own modules it `use`s, by path
//!   settings.json    how it was run: file, seed, backend, --set overrides, iterations…
//!   hparams.json     settings and plain top-level bindings, flat (crate::hparams)
//!   metrics.csv      one row per iteration
//!   tensorboard/     with --tensorboard, the metrics as TensorBoard events
//!   <metric>.png     a learning curve per logged metric (x = environment steps)
//!   checkpoints/     ckpt-N.npz + ckpt-N.json every K iterations and at the end,
//!                    latest.json naming the newest (N = iterations completed)
//!   params.npz       the trained parameters (Param slots only), at the end
//! ```
//!
//! `program.rlp`, `modules.json` and `settings.json` are written before the first
//! iteration, so a run killed at any point can be resumed — and a finished one evaluated
//! — with exactly the program, modules and settings it began with, from any working
//! directory and whatever happened to the files since.

use crate::diag::SourceMap;
use crate::run::Backend;
use rlp_runtime::io::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

pub const PROGRAM: &str = "program.rlp";
pub const SETTINGS: &str = "settings.json";
pub const MODULES: &str = "modules.json";
pub const METRICS: &str = "metrics.csv";
pub const PARAMS: &str = "params.npz";
pub const CHECKPOINTS: &str = "checkpoints";

/// How a run was started: everything needed to start it again identically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The main file as given on the command line.
    pub file: PathBuf,
    /// The run's seed (`--seed`). Every random draw is keyed by it; a component's own
    /// `seed:` argument is mixed into it (see [`SEED_RULE`]).
    pub seed: u64,
    /// How the run's seed and components' `seed:` arguments combine, in words, so the
    /// run directory explains itself.
    #[serde(default)]
    pub seed_rule: String,
    pub backend: Backend,
    /// `--set NAME=VALUE` overrides, in command-line order (later ones win).
    pub set: Vec<String>,
    /// Iterations of the loop (from the program, after overrides).
    pub iterations: u64,
    /// Checkpoint period in iterations (0: only at the end).
    pub checkpoint_every: u64,
    /// The least training time, in seconds, between two checkpoints (0: none): the
    /// default period is also at most one checkpoint per half minute, so a run of many
    /// small iterations (a step-wise DQN) does not spend its time writing its buffer.
    #[serde(default)]
    pub checkpoint_min_s: f64,
    /// The rlpc that started the run.
    pub rlpc_version: String,
    /// How long compiling took, in milliseconds: the front end (parse, check, lower,
    /// differentiate) and the kernels (fusion, Cranelift). Zero in settings written
    /// before this was recorded.
    #[serde(default)]
    pub compile_ms: CompileTimes,
    /// `--tensorboard`: the metrics are also written as TensorBoard events (and are
    /// again when the run is resumed).
    #[serde(default)]
    pub tensorboard: bool,
}

/// Compile time of a run, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CompileTimes {
    pub total: f64,
    pub front_end: f64,
    pub kernels: f64,
}

/// How a run's seed and a component's `seed:` combine (also in `rlpc run --help` and
/// `docs/language.md`).
pub const SEED_RULE: &str = "every random draw (parameter initialisation, environment \
resets, action sampling, minibatch shuffles) is keyed by the run seed (--seed, default 0); \
a component's own seed: argument, such as cartpole(seed: 1), is mixed into the run seed \
rather than replacing it, so the run is determined by both: --seed 0 with seed: 1 differs \
from --seed 1 with seed: 0";

impl Settings {
    /// The overrides as `(name, value)` pairs, as the front end takes them.
    pub fn overrides(&self) -> Vec<(String, String)> {
        self.set
            .iter()
            .filter_map(|s| s.split_once('='))
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }
}

/// Creates `dir` for a fresh run and writes `program.rlp` and `settings.json`.
///
/// Outputs a previous run left in `dir` that this run would otherwise mix with its own
/// are removed: its checkpoints (so `--resume` can never pick up another run's state
/// before this one's first checkpoint) and its `params.npz`. Other files are left alone.
pub fn start(dir: &Path, source: &str, settings: &Settings) -> Result<(), String> {
    fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the run directory `{}`: {e}", dir.display()))?;
    remove_previous_outputs(dir)?;
    write_atomic(&dir.join(PROGRAM), source.as_bytes()).map_err(|e| e.to_string())?;
    let mut json = serde_json::to_vec_pretty(settings).expect("settings serialize to JSON");
    json.push(b'\n');
    write_atomic(&dir.join(SETTINGS), &json).map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes `modules.json`: the text of every user module the program in `main` read (each
/// file in `sources` but the main file, the stdlib and `--set`), by the path its `use`
/// resolved to — the key the loader looks texts up by ([`load_modules`]).
pub fn save_modules(dir: &Path, sources: &SourceMap, main: &Path) -> Result<(), String> {
    let main = main.display().to_string();
    let modules: BTreeMap<&str, &str> = sources
        .files()
        .filter(|(name, _)| *name != main && !name.starts_with('<'))
        .map(|(name, text)| (name, &**text))
        .collect();
    let mut json = serde_json::to_vec_pretty(&modules).expect("texts serialize to JSON");
    json.push(b'\n');
    write_atomic(&dir.join(MODULES), &json).map_err(|e| e.to_string())
}

/// The module texts [`save_modules`] wrote, keyed as the loader resolves `use "…"` paths
/// (`Modules::load_text_at`'s stand-ins for files); empty for a run directory made before
/// modules were saved, whose modules are read from disk as they were then.
pub fn load_modules(dir: &Path) -> Result<HashMap<PathBuf, String>, String> {
    let path = dir.join(MODULES);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
    };
    let texts: BTreeMap<String, String> = serde_json::from_slice(&bytes)
        .map_err(|e| format!("`{}` is not valid module texts: {e}", path.display()))?;
    Ok(texts
        .into_iter()
        .map(|(k, v)| (crate::sema::modules::fold_dots(Path::new(&k)), v))
        .collect())
}

/// Reads back what [`start`] wrote: the program text and the settings.
pub fn load(dir: &Path) -> Result<(String, Settings), String> {
    if !dir.is_dir() {
        return Err(format!("`{}` is not a run directory", dir.display()));
    }
    let read = |name: &str| {
        let path = dir.join(name);
        fs::read(&path).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                format!(
                    "`{}` is missing: `{}` was not made by `rlpc run`, or is damaged",
                    path.display(),
                    dir.display()
                )
            } else {
                format!("cannot read `{}`: {e}", path.display())
            }
        })
    };
    let program_path = dir.join(PROGRAM);
    let source = String::from_utf8(read(PROGRAM)?)
        .map_err(|_| format!("`{}` is not UTF-8 text", program_path.display()))?;
    let settings_path = dir.join(SETTINGS);
    let settings = serde_json::from_slice(&read(SETTINGS)?).map_err(|e| {
        format!(
            "`{}` is not valid run settings: {e}",
            settings_path.display()
        )
    })?;
    Ok((source, settings))
}

fn remove_previous_outputs(dir: &Path) -> Result<(), String> {
    let remove = |path: PathBuf| match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!(
            "cannot remove `{}` left by an earlier run: {e}",
            path.display()
        )),
    };
    remove(dir.join(PARAMS))?;
    let ckpts = dir.join(CHECKPOINTS);
    let Ok(entries) = fs::read_dir(&ckpts) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name == rlp_runtime::checkpoint::LATEST
            || name
                .strip_prefix("ckpt-")
                .and_then(|s| s.strip_suffix(".npz").or_else(|| s.strip_suffix(".json")))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if ours {
            remove(entry.path())?;
        }
    }
    Ok(())
}
