//! Shared by the learning tests.

use rlpc::run::{self, Backend, Trainer};
use std::path::Path;

/// Trains `examples/{name}` with `seed` and `--set` overrides; the named metrics after
/// the last iteration.
#[allow(dead_code)] // each test crate uses some of these helpers
pub fn final_metrics(name: &str, seed: u64, settings: &[(&str, &str)], names: &[&str]) -> Vec<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (p, _) = rlpc::front_end_with(&path, seed, &settings)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let c = run::compile(p, Backend::Jit).unwrap();
    let mut t = Trainer::new(&c).unwrap();
    for it in 0..c.program.iterations {
        t.step(it, None).unwrap();
    }
    let all: Vec<String> = c.program.metrics.iter().map(|m| m.name.clone()).collect();
    let m = t.metric_values();
    names
        .iter()
        .map(|n| m[all.iter().position(|x| x == n).unwrap()])
        .collect()
}

/// Trains `examples/{name}` with `seed` and `--set` overrides; the last logged `return`.
#[allow(dead_code)]
pub fn last_return(name: &str, seed: u64, settings: &[(&str, &str)]) -> f64 {
    final_metrics(name, seed, settings, &["return"])[0]
}
