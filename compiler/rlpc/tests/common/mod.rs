//! Shared by the learning tests.

use rlpc::run::{self, Backend, RunOptions};
use std::path::Path;

/// Trains `examples/{name}` with `seed` and `--set` overrides; the last logged `return`.
pub fn last_return(name: &str, seed: u64, settings: &[(&str, &str)]) -> f64 {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (p, sources) = rlpc::front_end_with(&path, seed, &settings)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let c = run::compile(p, Backend::Jit).unwrap();
    let summary = run::train(
        &c,
        &RunOptions {
            out: None,
            quiet: true,
            ..RunOptions::default()
        },
        Some(&sources),
    )
    .unwrap();
    summary.last.iter().find(|(n, _)| n == "return").unwrap().1
}
