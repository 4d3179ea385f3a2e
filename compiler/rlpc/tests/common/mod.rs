//! Shared by the learning tests.

use rlpc::program::Program;
use rlpc::run::{self, Backend, Trainer};
use std::path::Path;

/// Trains `examples/{name}` with `seed` and `--set` overrides; the named metrics after
/// the last iteration.
#[allow(dead_code)] // each test crate uses some of these helpers
pub fn final_metrics(name: &str, seed: u64, settings: &[(&str, &str)], names: &[&str]) -> Vec<f64> {
    metric_history(name, seed, settings, names)
        .into_iter()
        .map(|h| *h.last().expect("at least one iteration"))
        .collect()
}

/// `examples/{name}` compiled with `seed` and `--set` overrides (panics with the
/// rendered diagnostic when it does not compile).
#[allow(dead_code)]
pub fn example_program(name: &str, seed: u64, settings: &[(&str, &str)]) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    rlpc::front_end_with(&path, seed, &settings)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap()
        .0
}

/// Every iteration's metrics of `examples/{name}` (named `names`).
#[allow(dead_code)]
pub fn metric_history(
    name: &str,
    seed: u64,
    settings: &[(&str, &str)],
    names: &[&str],
) -> Vec<Vec<f64>> {
    let c = run::compile(example_program(name, seed, settings), Backend::Jit).unwrap();
    let mut t = Trainer::new(&c).unwrap();
    let all: Vec<String> = c.program.metrics.iter().map(|m| m.name.clone()).collect();
    let at: Vec<usize> = names
        .iter()
        .map(|n| all.iter().position(|x| x == n).unwrap())
        .collect();
    let mut history = vec![vec![]; names.len()];
    for it in 0..c.program.iterations {
        t.step(it, None).unwrap();
        let m = t.metric_values();
        for (h, &k) in history.iter_mut().zip(&at) {
            h.push(m[k]);
        }
    }
    history
}

/// Trains `examples/{name}` with `seed` and `--set` overrides; the last logged `return`.
#[allow(dead_code)]
pub fn last_return(name: &str, seed: u64, settings: &[(&str, &str)]) -> f64 {
    final_metrics(name, seed, settings, &["return"])[0]
}

/// Each iteration's metrics over `iters` iterations of the program `src` compiled with
/// `seed` for `backend` (panics with the rendered diagnostic when it does not compile).
#[allow(dead_code)]
pub fn source_metrics(src: &str, seed: u64, iters: u64, backend: Backend) -> Vec<Vec<f64>> {
    let (p, _) = rlpc::front_end_source("test.rlp", src, seed)
        .unwrap_or_else(|(d, s)| panic!("{}\n{src}", rlpc::diag::render_plain(&d, &s)));
    let c = run::compile(p, backend).expect("compiles");
    let mut tr = Trainer::new(&c).expect("init");
    (0..iters)
        .map(|it| {
            tr.step(it, None).expect("iteration runs");
            tr.metric_values()
        })
        .collect()
}

/// The function `name` of the module `src` (named `file`), lowered for `args` with `seed`
/// for its random draws (panics with the message when it does not load or lower).
#[allow(dead_code)]
pub fn function_graph(
    file: &str,
    src: &str,
    name: &str,
    args: Vec<rlpc::sema::function::FnArg>,
    seed: u64,
) -> rlp_ir::Graph {
    let (m, _) = rlpc::sema::Modules::load_source(file, src)
        .unwrap_or_else(|(_, d)| panic!("{file}: {}", d[0].message));
    rlpc::sema::function::lower_function(&m, file, name, args, seed)
        .unwrap_or_else(|d| panic!("{name}: {}", d.message))
        .0
}

/// Tensor arguments of the types of `inputs`.
#[allow(dead_code)]
pub fn tensor_args(inputs: &[rlp_ir::Tensor]) -> Vec<rlpc::sema::function::FnArg> {
    inputs
        .iter()
        .map(|t| {
            rlpc::sema::function::FnArg::Tensor(rlp_ir::TensorType::new(
                t.dtype(),
                t.shape().to_vec(),
            ))
        })
        .collect()
}

/// Every output of `g` for `inputs`, as f64s, on the JIT (`Backend::Jit`, after the
/// trainer's preparation) or the reference interpreter (`Backend::Interp`).
#[allow(dead_code)]
pub fn run_graph(g: rlp_ir::Graph, backend: Backend, inputs: &[rlp_ir::Tensor]) -> Vec<Vec<f64>> {
    use rlp_runtime::Executable;
    let outs = match backend {
        Backend::Jit => {
            rlp_jit::compile(&run::prepare(&g).unwrap(), &rlp_jit::JitOptions::default())
                .unwrap()
                .run(inputs)
        }
        Backend::Interp => rlp_ir::interp::Interpreter::new(g).unwrap().run(inputs),
        other => panic!("run_graph: no {other:?} here"),
    };
    outs.unwrap().iter().map(|t| t.to_f64_vec()).collect()
}

/// The reference interpreter and the JIT, named, for tests that run a graph on both.
#[allow(dead_code)]
pub const BOTH_BACKENDS: [(&str, Backend); 2] =
    [("interp", Backend::Interp), ("jit", Backend::Jit)];

/// Writes `src` to `file` and trains it with the `rlpc` binary (`rlpc run --quiet`) into
/// the run directory `run` beside it (panics with the binary's output when it fails).
#[allow(dead_code)]
pub fn train_file(file: &Path, src: &str) -> std::path::PathBuf {
    std::fs::write(file, src).unwrap();
    let out = file.with_file_name("run");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rlpc"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .output()
        .expect("run rlpc");
    assert!(
        o.status.success(),
        "training failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}
