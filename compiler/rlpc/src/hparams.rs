//! `hparams.json`: a run's settings and hyperparameters as one flat JSON object, for
//! experiment trackers and sweep tools to ingest without knowing rlpc.
//!
//! ```json
//! { "gamma": 0.99, "hidden": [64, 64], "lr": 0.003,
//!   "run.backend": "jit", "run.file": "examples/ppo_cartpole.rlp",
//!   "run.iterations": 200, "run.seed": 0 }
//! ```
//!
//! The program's keys are its top-level bindings that hold plain data (numbers, bools,
//! strings and lists of them: the bindings `--set` can override), with their values as
//! resolved, overrides applied ([`crate::program::Program::hyperparameters`]). The run's
//! own keys start with `run.`, which no binding's name can contain. `settings.json`
//! stays the record a run is resumed from; this file is derived from it and the program
//! and is rewritten whenever the run starts or resumes. The same map is the hparams
//! summary of the TensorBoard events ([`crate::tensorboard`]).

use crate::program::Program;
use crate::rundir::Settings;
use std::path::Path;

/// The file's name in the run directory.
pub const HPARAMS: &str = "hparams.json";

/// The flat map: the run's `run.*` keys (the file and backend only when `settings`
/// says them), then the program's plain top-level bindings.
pub fn collect(settings: Option<&Settings>, program: &Program) -> Vec<(String, serde_json::Value)> {
    let mut out = vec![];
    if let Some(s) = settings {
        out.push(("run.file".into(), s.file.display().to_string().into()));
        let backend = serde_json::to_value(s.backend).unwrap_or(serde_json::Value::Null);
        out.push(("run.backend".into(), backend));
    }
    out.push(("run.seed".into(), program.seed.into()));
    out.push(("run.iterations".into(), program.iterations.into()));
    out.extend(program.hyperparameters.iter().cloned());
    out
}

/// Writes `hparams` as `dir/hparams.json`, atomically (a temporary file renamed).
pub fn write(dir: &Path, hparams: &[(String, serde_json::Value)]) -> Result<(), String> {
    let map: serde_json::Map<String, serde_json::Value> = hparams.iter().cloned().collect();
    let mut json = serde_json::to_vec_pretty(&map).expect("JSON values serialize");
    json.push(b'\n');
    rlp_runtime::io::write_atomic(&dir.join(HPARAMS), &json).map_err(|e| e.to_string())
}
