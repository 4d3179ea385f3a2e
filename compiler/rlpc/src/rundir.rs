//! The run directory: what `rlpc run` leaves behind, and what `rlpc run --resume` reads.
//!
//! ```text
//! runs/<name>/
//!   program.rlp      the main file's text, as compiled
//!   modules.json     the texts of the user's own modules it `use`s, by path
//!   settings.json    how it was run: file, seed, backend, --set overrides, iterations,
//!                    the program's directory (absolute), the data files it read…
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
    /// The directory of the program file, absolute: relative paths in the program
    /// (`use "./…"`, `dataset("…")`, `pretrained(…, "…")`) are read from it when the run
    /// is resumed or evaluated, whatever the working directory. `None` in settings
    /// written before it was recorded (those resolve `file` from the working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_dir: Option<PathBuf>,
    /// The data files the program read while it compiled (`dataset(…)`,
    /// `pretrained(…)`), each with its size and a checksum when the run started: a
    /// resumed run reads them again, and one that changed since is warned about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_files: Vec<DataFile>,
}

/// A file a program read, as it was when the run started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFile {
    /// Absolute.
    pub path: PathBuf,
    pub bytes: u64,
    /// CRC-32C of the contents, as 8 hex digits.
    pub crc32c: String,
}

impl DataFile {
    /// `path`'s size and checksum now.
    pub fn read(path: &Path) -> Result<DataFile, String> {
        let bytes = fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        Ok(DataFile {
            path: path.to_path_buf(),
            bytes: bytes.len() as u64,
            crc32c: format!("{:08x}", crc32c::crc32c(&bytes)),
        })
    }

    /// Why the file is not as recorded (changed, or gone), if it is not.
    pub fn changed(&self) -> Option<String> {
        match DataFile::read(&self.path) {
            Err(e) => Some(e),
            Ok(now) if now.bytes != self.bytes => Some(format!(
                "it had {} bytes when the run started and has {} now",
                self.bytes, now.bytes
            )),
            Ok(now) if now.crc32c != self.crc32c => Some(format!(
                "its contents changed since the run started (CRC-32C {} then, {} now)",
                self.crc32c, now.crc32c
            )),
            Ok(_) => None,
        }
    }
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
    /// The program file as compiled when resuming or evaluating: in `program_dir` when
    /// that is recorded, so relative paths resolve from the program's directory.
    pub fn program_path(&self) -> PathBuf {
        match (&self.program_dir, self.file.file_name()) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => self.file.clone(),
        }
    }

    /// Warnings for the data files that are not as they were when the run started.
    pub fn changed_data(&self) -> Vec<String> {
        self.data_files
            .iter()
            .filter_map(|f| {
                f.changed()
                    .map(|why| format!("the data file `{}` changed: {why}", f.path.display()))
            })
            .collect()
    }

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
/// The outputs a previous run left in `dir` are removed first, so that an interrupted
/// start never leaves a mix of the two runs: its checkpoints (so `--resume` can never
/// pick up another run's state before this one's first checkpoint), `params.npz`,
/// `metrics.csv`, the learning curve of each metric `metrics.csv` names, `hparams.json`,
/// `modules.json` and the TensorBoard event files. Only those names are removed; other
/// files are left alone.
pub fn start(dir: &Path, source: &str, settings: &Settings) -> Result<(), String> {
    create_dir(dir, "run directory")?;
    remove_previous_outputs(dir)?;
    write_atomic(&dir.join(PROGRAM), source.as_bytes()).map_err(|e| e.to_string())?;
    let mut json = serde_json::to_vec_pretty(settings).expect("settings serialize to JSON");
    json.push(b'\n');
    write_atomic(&dir.join(SETTINGS), &json).map_err(|e| e.to_string())?;
    Ok(())
}

/// Creates the directory `path` (and its parents) if it is not there; `what` names it in
/// the error, which says so plainly when something that is not a directory (a file) is
/// in the way.
pub fn create_dir(path: &Path, what: &str) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| {
        if path.exists() && !path.is_dir() {
            format!(
                "cannot create the {what} `{}`: a file of that name is in the way (move it, \
                 or choose another run directory with --out)",
                path.display()
            )
        } else {
            format!("cannot create the {what} `{}`: {e}", path.display())
        }
    })
}

/// Writes `modules.json`: the text of every user module the program in `main` read (each
/// file in `sources` but the main file, the stdlib and `--set`), by the path its `use`
/// resolved to — the key the loader looks texts up by ([`load_modules`]).
///
/// The paths are made absolute (from the working directory, which they were resolved
/// from), as the program is compiled from its absolute path ([`Settings::program_path`])
/// when resumed or evaluated; those of a program given as text (`<string>`) are kept.
pub fn save_modules(dir: &Path, sources: &SourceMap, main: &Path) -> Result<(), String> {
    let main = main.display().to_string();
    let cwd = std::env::current_dir().unwrap_or_default();
    let modules: BTreeMap<String, &str> = sources
        .files()
        .filter(|(name, _)| *name != main && !name.starts_with('<'))
        .map(|(name, text)| {
            // A program given as text (`<string>`) is compiled under that name again,
            // its modules resolved as they were.
            if main.starts_with('<') {
                return (name.to_string(), &**text);
            }
            let path = crate::sema::modules::fold_dots(&cwd.join(name));
            (path.display().to_string(), &**text)
        })
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

/// Each file `program` read while it compiled, with its size and checksum now (a file
/// that cannot be read again is left out: it was read a moment ago, and the run goes on).
pub fn data_files(program: &crate::program::Program) -> Vec<DataFile> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut out: Vec<DataFile> = vec![];
    for path in &program.files_read {
        let path = crate::sema::modules::fold_dots(&cwd.join(path));
        if out.iter().all(|f| f.path != path)
            && let Ok(f) = DataFile::read(&path)
        {
            out.push(f);
        }
    }
    out
}

/// The directory of the program file `file` (as given on the command line), absolute,
/// with `.` and `..` folded: what [`Settings::program_dir`] records.
pub fn absolute_dir_of(file: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    let full = crate::sema::modules::fold_dots(&cwd.join(file));
    full.parent().map(Path::to_path_buf).unwrap_or(full)
}

/// The iteration the run in `dir` has reached: that of the checkpoint `latest.json`
/// names (a finished run's last checkpoint is written with its `params.npz`); `None`
/// when there is none.
pub fn final_iteration(dir: &Path) -> Option<u64> {
    let bytes = fs::read(dir.join(CHECKPOINTS).join(rlp_runtime::checkpoint::LATEST)).ok()?;
    let latest: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    latest.get("step")?.as_u64()
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
    // The plots first, while `metrics.csv` still names them.
    if let Ok((columns, _)) = rlp_runtime::metrics::read_metrics_csv(&dir.join(METRICS)) {
        for name in columns
            .iter()
            .skip(rlp_runtime::metrics::FIXED_COLUMNS.len())
        {
            remove(dir.join(crate::plot::plot_file_name(name)))?;
        }
    }
    for name in [METRICS, crate::hparams::HPARAMS, MODULES] {
        remove(dir.join(name))?;
    }
    for events in
        crate::tensorboard::event_files(&dir.join(crate::tensorboard::DIR)).unwrap_or_default()
    {
        remove(events)?;
    }
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
