//! `rlpc exec FILE:FUNCTION --arg NAME=VALUE … --out PATH`: one function, run on
//! `.npy` inputs. For debugging estimators and for checking them against references
//! computed elsewhere.

use crate::diag::{Diag, SourceMap, render_fancy};
use crate::run::Backend;
use crate::sema::Modules;
use crate::sema::function::{FnArg, lower_function_named};
use rlp_ir::{Tensor, TensorType};
use std::path::Path;

/// An argument as given on the command line: a `.npy` file or a number.
pub enum ArgValue {
    Tensor(Tensor),
    Int(i64),
    Float(f64),
}

impl ArgValue {
    /// `PATH.npy` loads a tensor; anything else must be a number.
    pub fn parse(text: &str) -> Result<ArgValue, String> {
        if text.ends_with(".npy") {
            return rlp_runtime::io::load_npy(Path::new(text))
                .map(ArgValue::Tensor)
                .map_err(|e| e.to_string());
        }
        if let Ok(i) = text.parse::<i64>() {
            return Ok(ArgValue::Int(i));
        }
        text.parse::<f64>()
            .map(ArgValue::Float)
            .map_err(|_| format!("`{text}` is neither a .npy path nor a number"))
    }
}

/// Why [`exec`] failed: the function does not compile for these arguments (the
/// checker's diagnostics), or something else (a file, a runtime check).
pub enum ExecError {
    Compile(Vec<Diag>, SourceMap),
    Other(String),
}

impl ExecError {
    /// The error as the command line prints it.
    pub fn render(&self) -> String {
        match self {
            ExecError::Compile(d, sources) => render(d, sources),
            ExecError::Other(msg) => msg.clone(),
        }
    }
}

impl From<String> for ExecError {
    fn from(msg: String) -> ExecError {
        ExecError::Other(msg)
    }
}

/// [`exec_checked`] with its error rendered.
pub fn exec(
    file: &Path,
    function: &str,
    args: Vec<(String, ArgValue)>,
    backend: Backend,
) -> Result<Vec<(String, Tensor)>, String> {
    exec_checked(file, function, args, backend).map_err(|e| e.render())
}

/// Runs `function` of the module in `file` on named arguments; returns the named outputs
/// (`out` for a single tensor, field names for a record, `0`, `1`, … for a tuple).
pub fn exec_checked(
    file: &Path,
    function: &str,
    args: Vec<(String, ArgValue)>,
    backend: Backend,
) -> Result<Vec<(String, Tensor)>, ExecError> {
    let (mods, main) =
        Modules::load_main(file).map_err(|(m, d)| ExecError::Compile(d, m.sources.clone()))?;
    let module = &mods.module(main);
    module.fns.get(function).ok_or_else(|| {
        let mut names: Vec<&str> = module.fns.keys().map(|s| s.as_str()).collect();
        names.sort();
        format!(
            "`{}` has no function `{function}`; it defines: {}",
            file.display(),
            names.join(", ")
        )
    })?;
    // Arguments by name, as keyword arguments in source: graph inputs in the order given,
    // parameters left out take their defaults, an unknown name is the usual diagnostic.
    let mut inputs = vec![];
    let named = args
        .into_iter()
        .map(|(n, v)| {
            let arg = match v {
                ArgValue::Tensor(t) => {
                    let ty = TensorType::new(t.dtype(), t.shape().to_vec());
                    inputs.push(t);
                    FnArg::Tensor(ty)
                }
                ArgValue::Int(i) => FnArg::Int(i),
                ArgValue::Float(f) => FnArg::Float(f),
            };
            (n, arg)
        })
        .collect();
    let key = module.name.clone();
    let (graph, names) = lower_function_named(&mods, &key, function, named, 0)
        .map_err(|d| ExecError::Compile(vec![d], mods.sources.clone()))?;
    let g = crate::run::prepare(&graph)?;
    // A runtime error names the line of the op that failed, as `rlpc run`'s do.
    let located = |e: rlp_runtime::RunError| crate::run::run_error(&e, Some(&mods.sources));
    let outs = match backend {
        Backend::Interp => rlp_ir::interp::run(&g, &inputs).map_err(located)?,
        Backend::Jit => {
            let exe =
                rlp_jit::compile(&g, &rlp_jit::JitOptions::default()).map_err(|e| e.to_string())?;
            exe.run(&inputs).map_err(located)?
        }
        Backend::Cuda | Backend::CudaCpu => {
            crate::run::backend_available(backend)?;
            let target = if backend == Backend::Cuda {
                rlp_cuda::Target::Gpu
            } else {
                rlp_cuda::Target::Cpu
            };
            let exe = rlp_cuda::compile(&g, target)?;
            exe.run(&inputs).map_err(located)?
        }
    };
    Ok(names.into_iter().zip(outs).collect())
}

/// Writes the outputs: one tensor to `.npy`, or all of them to `.npz`.
pub fn write_outputs(path: &Path, outs: &[(String, Tensor)]) -> Result<(), String> {
    if path.extension().is_some_and(|e| e == "npz") {
        return rlp_runtime::io::save_npz(path, outs).map_err(|e| e.to_string());
    }
    match outs {
        [(_, t)] => rlp_runtime::io::save_npy(path, t).map_err(|e| e.to_string()),
        _ => Err(format!(
            "the function returns {} tensors ({}); write them to a .npz",
            outs.len(),
            outs.iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn render(d: &[Diag], sources: &SourceMap) -> String {
    render_fancy(d, sources)
}
