//! `rlpc._rlpc`: the native half of the Python package `rlpc` (`python/rlpc/__init__.py`
//! is the other half: it turns Python values into what these functions take, and picks
//! the shape of what they return).
//!
//! Everything slow — compiling, training, running a function, reading `.npz` files —
//! runs with the interpreter detached (other Python threads go on meanwhile); a training
//! run attaches again once per iteration, to check for Ctrl-C and to call the callback.
//! Arrays leave Rust without a copy: each result tensor's buffer is handed to NumPy,
//! which frees it when the array goes. Arrays going in are copied once, into the tensors
//! the runtime owns.

use numpy::{IntoPyArray, PyReadonlyArrayDyn};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList};
use rlp_ir::Tensor;
use rlpc::diag::{Diag, SourceMap, render_plain};
use rlpc::program::SlotKind;
use rlpc::run::{self, Backend, IterationEnd, RunOptions};
use rlpc::rundir;
use std::path::{Path, PathBuf};
use std::time::Instant;

create_exception!(
    rlpc,
    RlpcError,
    PyException,
    "An error from rlpc: a run that failed, a function that could not be run, a run directory that cannot be read."
);
create_exception!(
    rlpc,
    CompileError,
    RlpcError,
    "A program that does not compile. The message is the compiler's diagnostics, rendered as `rlpc check` prints them; `codes` lists their error codes (docs/errors.md)."
);

/// Where a program came from.
enum Origin {
    File(PathBuf),
    Source(String),
}

/// Why compiling failed: diagnostics (with their codes), or anything else.
enum Failure {
    Diags(String, Vec<&'static str>),
    Other(String),
}

impl Failure {
    fn from_diags(diags: &[Diag], sources: &SourceMap) -> Failure {
        Failure::Diags(
            render_plain(diags, sources),
            diags.iter().map(|d| d.code).collect(),
        )
    }

    fn into_py(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Diags(text, codes) => {
                let err = CompileError::new_err(text.trim_end().to_string());
                // Extra data on the exception; failing to attach it only loses the codes.
                let _ = err.value(py).setattr("codes", codes);
                err
            }
            Failure::Other(msg) => RlpcError::new_err(clean(&msg)),
        }
    }
}

/// A message without terminal colour codes (some messages come rendered for a terminal).
fn clean(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in `@`..=`~`.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out.trim_end().to_string()
}

fn backend_of(name: &str) -> PyResult<Backend> {
    Ok(match name {
        "jit" => Backend::Jit,
        "interp" => Backend::Interp,
        "cuda" => Backend::Cuda,
        "cuda-cpu" => Backend::CudaCpu,
        _ => {
            return Err(PyValueError::new_err(format!(
                "backend `{name}`: expected \"jit\", \"interp\", \"cuda\" or \"cuda-cpu\""
            )));
        }
    })
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Jit => "jit",
        Backend::Interp => "interp",
        Backend::Cuda => "cuda",
        Backend::CudaCpu => "cuda-cpu",
    }
}

/// A compiled, shape-checked program, ready to train (`Program.run`).
#[pyclass(frozen, module = "rlpc", name = "Program")]
struct Program {
    compiled: run::Compiled,
    sources: SourceMap,
    origin: Origin,
    /// The main file's text as compiled (what the run directory's `program.rlp` holds).
    text: String,
    seed: u64,
    set: Vec<(String, String)>,
    backend: Backend,
    warnings: String,
    compile_ms: rundir::CompileTimes,
}

fn compile_program(
    origin: Origin,
    seed: u64,
    set: Vec<(String, String)>,
    backend: Backend,
) -> Result<Program, Failure> {
    let t0 = Instant::now();
    let opts = rlpc::sema::Options::default();
    let (front, text) = match &origin {
        Origin::File(path) => {
            let front = rlpc::front_end_opts(path, seed, &set, opts);
            // Read again only once it compiled (the front end reports unreadable files).
            let text = match &front {
                Ok(_) => std::fs::read_to_string(path).map_err(|e| {
                    Failure::Other(format!("cannot read `{}`: {e}", path.display()))
                })?,
                Err(_) => String::new(),
            };
            (front, text)
        }
        Origin::Source(text) => (
            rlpc::front_end_source_with("<string>", text, seed, &set, opts),
            text.clone(),
        ),
    };
    let (program, sources) = front.map_err(|(d, s)| Failure::from_diags(&d, &s))?;
    let warnings = if program.warnings.is_empty() {
        String::new()
    } else {
        render_plain(&program.warnings, &sources)
            .trim_end()
            .to_string()
    };
    let compiled = run::compile(program, backend).map_err(Failure::Other)?;
    let total = t0.elapsed().as_secs_f64() * 1e3;
    let kernels = compiled.compile_s * 1e3;
    Ok(Program {
        compiled,
        sources,
        origin,
        text,
        seed,
        set,
        backend,
        warnings,
        compile_ms: rundir::CompileTimes {
            total,
            front_end: total - kernels,
            kernels,
        },
    })
}

/// `compile(file=None, source=None, *, seed=0, set=[], backend="jit")`: exactly one of
/// `file` and `source`; `set` as `(name, rlp value text)` pairs.
#[pyfunction]
#[pyo3(signature = (file=None, source=None, *, seed=0, set=Vec::new(), backend="jit"))]
fn compile(
    py: Python<'_>,
    file: Option<PathBuf>,
    source: Option<String>,
    seed: u64,
    set: Vec<(String, String)>,
    backend: &str,
) -> PyResult<Program> {
    let backend = backend_of(backend)?;
    let origin = match (file, source) {
        (Some(f), None) => Origin::File(f),
        (None, Some(s)) => Origin::Source(s),
        _ => return Err(PyValueError::new_err("give either a file or source text")),
    };
    py.detach(|| compile_program(origin, seed, set, backend))
        .map_err(|f| f.into_py(py))
}

/// A JSON value (a hyperparameter) as the Python value it spells.
fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into_pyobject(py)?.into_any(),
            None => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let d = PyDict::new(py);
            for (k, item) in map {
                d.set_item(k, json_to_py(py, item)?)?;
            }
            d.into_any()
        }
    })
}

#[pymethods]
impl Program {
    /// Loop iterations the program runs (`train iterations: N`, after `set`).
    #[getter]
    fn iterations(&self) -> u64 {
        self.compiled.program.iterations
    }

    /// The seed it was compiled with.
    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    /// The backend its kernels were compiled for.
    #[getter]
    fn backend(&self) -> &'static str {
        backend_name(self.backend)
    }

    /// The file it was compiled from, or None for source text.
    #[getter]
    fn file(&self) -> Option<PathBuf> {
        match &self.origin {
            Origin::File(p) => Some(p.clone()),
            Origin::Source(_) => None,
        }
    }

    /// The names of the metrics each iteration logs, in order.
    #[getter]
    fn metrics(&self) -> Vec<String> {
        let p = &self.compiled.program;
        p.metrics.iter().map(|m| m.name.clone()).collect()
    }

    /// The trainable parameters: name -> (shape, dtype).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for s in &self.compiled.program.slots {
            if s.kind == SlotKind::Param {
                let shape = pyo3::types::PyTuple::new(py, &s.ty.shape)?;
                d.set_item(&s.name, (shape, s.ty.dtype.name()))?;
            }
        }
        Ok(d)
    }

    /// The top-level bindings that hold plain data, after `set` (what `hparams.json` holds).
    #[getter]
    fn hyperparameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (name, v) in &self.compiled.program.hyperparameters {
            d.set_item(name, json_to_py(py, v)?)?;
        }
        Ok(d)
    }

    /// The compiler's warnings, rendered ("" when there are none).
    #[getter]
    fn warnings(&self) -> &str {
        &self.warnings
    }

    /// Milliseconds spent compiling: {"total", "front_end", "kernels"}.
    #[getter]
    fn compile_ms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("total", self.compile_ms.total)?;
        d.set_item("front_end", self.compile_ms.front_end)?;
        d.set_item("kernels", self.compile_ms.kernels)?;
        Ok(d)
    }

    /// What `rlpc check` says about it: parameter and state counts, stages, iterations.
    fn summary(&self) -> String {
        rlpc::program::summary(&self.compiled.program)
    }

    fn __repr__(&self) -> String {
        let what = match &self.origin {
            Origin::File(p) => format!("{:?}", p.display().to_string()),
            Origin::Source(_) => "<string>".to_string(),
        };
        format!(
            "<rlpc.Program {what}: {}; backend {}>",
            self.summary(),
            backend_name(self.backend)
        )
    }

    /// `run(out=None, *, iterations=None, callback=None, checkpoint_every=None,
    /// tensorboard=False, progress=False)`: trains the program into the run directory
    /// `out`; see `rlpc.run`.
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments
    #[pyo3(signature = (out=None, *, iterations=None, callback=None, checkpoint_every=None, tensorboard=false, progress=false))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        out: Option<PathBuf>,
        iterations: Option<u64>,
        callback: Option<Py<PyAny>>,
        checkpoint_every: Option<u64>,
        tensorboard: bool,
        progress: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        if iterations == Some(0) {
            return Err(PyValueError::new_err("iterations must be at least 1"));
        }
        let out = match (out, &self.origin) {
            (Some(o), _) => o,
            (None, Origin::File(p)) => {
                let stem = p.file_stem().map_or("run".into(), |s| s.to_owned());
                Path::new("runs").join(stem)
            }
            (None, Origin::Source(_)) => {
                return Err(PyValueError::new_err(
                    "a program compiled from source text needs a run directory: run(out=...)",
                ));
            }
        };
        let (checkpoint_min_s, checkpoint_every) = match checkpoint_every {
            Some(k) => (0.0, k),
            None => (run::DEFAULT_CHECKPOINT_MIN_S, run::DEFAULT_CHECKPOINT_EVERY),
        };
        let file = match &self.origin {
            Origin::File(p) => p.clone(),
            // `rlpc run --resume` compiles the saved program.rlp under this name.
            Origin::Source(_) => PathBuf::from("<string>"),
        };
        let settings = rundir::Settings {
            file,
            seed: self.seed,
            seed_rule: rundir::SEED_RULE.to_string(),
            backend: self.backend,
            set: self.set.iter().map(|(n, v)| format!("{n}={v}")).collect(),
            iterations: self.compiled.program.iterations,
            checkpoint_every,
            checkpoint_min_s,
            rlpc_version: rlpc::VERSION.to_string(),
            compile_ms: self.compile_ms,
            tensorboard,
            program_dir: match &self.origin {
                Origin::File(p) => Some(rundir::absolute_dir_of(p)),
                Origin::Source(_) => None,
            },
            data_files: rundir::data_files(&self.compiled.program),
        };
        let opts = RunOptions {
            out: Some(out.clone()),
            quiet: !progress,
            checkpoint_every,
            checkpoint_min_s,
            tensorboard,
            settings: Some(settings.clone()),
            // The callback is documented to find its iteration's row in `metrics.csv`.
            metrics_hold_s: if callback.is_some() {
                0.0
            } else {
                run::DEFAULT_METRICS_HOLD_S
            },
            ..RunOptions::default()
        };
        // An exception from the callback, or Ctrl-C: raised once the run has stopped.
        let mut interrupt: Option<PyErr> = None;
        let result = py.detach(|| {
            // The state first, then the run directory, as the command line does: a
            // program that does not fit in memory leaves no run behind.
            let trainer = run::Trainer::new(&self.compiled)?;
            rundir::start(&out, &self.text, &settings)?;
            rundir::save_modules(&out, &self.sources, &settings.file)?;
            let mut hook = |e: &IterationEnd| -> bool {
                let go_on = Python::attach(|py| {
                    if let Err(err) = py.check_signals() {
                        interrupt = Some(err);
                        return false;
                    }
                    let Some(cb) = &callback else { return true };
                    let called = (|| {
                        let metrics = PyDict::new(py);
                        for (n, v) in e.metrics {
                            metrics.set_item(n, *v)?;
                        }
                        let r = cb.call1(py, (e.iteration, metrics))?;
                        // None (no return statement) goes on; False (or 0) stops.
                        Ok::<bool, PyErr>(r.is_none(py) || r.is_truthy(py)?)
                    })();
                    called.unwrap_or_else(|err| {
                        interrupt = Some(err);
                        false
                    })
                });
                go_on && iterations.is_none_or(|k| e.iteration + 1 < k)
            };
            run::train_with(trainer, &opts, Some(&self.sources), &mut hook)
        });
        if let Some(err) = interrupt {
            return Err(err);
        }
        let s = result.map_err(|e| RlpcError::new_err(clean(&e)))?;
        let d = PyDict::new(py);
        d.set_item("iterations", s.iterations)?;
        d.set_item("env_steps", s.env_steps)?;
        d.set_item("wall_s", s.wall_s)?;
        let last = PyDict::new(py);
        for (n, v) in &s.last {
            last.set_item(n, *v)?;
        }
        d.set_item("metrics", last)?;
        d.set_item("finished", s.finished)?;
        d.set_item("run_dir", out)?;
        d.set_item("compile_ms", self.compile_ms(py)?)?;
        Ok(d)
    }
}

/// A tensor as a NumPy array that takes over its buffer (no copy).
fn to_numpy(py: Python<'_>, t: Tensor) -> Py<PyAny> {
    match t {
        Tensor::F32(a) => a.into_pyarray(py).into_any().unbind(),
        Tensor::F64(a) => a.into_pyarray(py).into_any().unbind(),
        Tensor::I32(a) => a.into_pyarray(py).into_any().unbind(),
        Tensor::Bool(a) => a.into_pyarray(py).into_any().unbind(),
    }
}

fn named_arrays(py: Python<'_>, ts: Vec<(String, Tensor)>) -> Vec<(String, Py<PyAny>)> {
    ts.into_iter().map(|(n, t)| (n, to_numpy(py, t))).collect()
}

/// An argument of `exec`: a Python int or float, or a NumPy array of float32, float64,
/// int32 or bool (copied into a tensor; any layout).
fn arg_value(name: &str, v: &Bound<'_, PyAny>) -> PyResult<rlpc::exec::ArgValue> {
    use rlpc::exec::ArgValue;
    if v.is_instance_of::<PyBool>() {
        let b: bool = v.extract()?;
        return Ok(ArgValue::Tensor(Tensor::Bool(ndarray::arr0(b).into_dyn())));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(ArgValue::Int(v.extract()?));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(ArgValue::Float(v.extract()?));
    }
    if let Ok(a) = v.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        return Ok(ArgValue::Tensor(Tensor::F32(a.as_array().to_owned())));
    }
    if let Ok(a) = v.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        return Ok(ArgValue::Tensor(Tensor::F64(a.as_array().to_owned())));
    }
    if let Ok(a) = v.extract::<PyReadonlyArrayDyn<'_, i32>>() {
        return Ok(ArgValue::Tensor(Tensor::I32(a.as_array().to_owned())));
    }
    if let Ok(a) = v.extract::<PyReadonlyArrayDyn<'_, bool>>() {
        return Ok(ArgValue::Tensor(Tensor::Bool(a.as_array().to_owned())));
    }
    Err(PyTypeError::new_err(format!(
        "argument `{name}`: expected an int, a float or a NumPy array of float32, float64, \
         int32 or bool, not {}",
        v.get_type().name()?
    )))
}

/// `exec(file, function, args, backend="jit")`: the function's named outputs, as
/// `rlpc exec` names them (`out`, record fields, or `0`, `1`, … for a tuple).
#[pyfunction]
#[pyo3(signature = (file, function, args, backend="jit"))]
fn exec(
    py: Python<'_>,
    file: PathBuf,
    function: String,
    args: Vec<(String, Bound<'_, PyAny>)>,
    backend: &str,
) -> PyResult<Vec<(String, Py<PyAny>)>> {
    let backend = backend_of(backend)?;
    let args = args
        .iter()
        .map(|(n, v)| Ok((n.clone(), arg_value(n, v)?)))
        .collect::<PyResult<Vec<_>>>()?;
    let outs = py
        .detach(|| rlpc::exec::exec_checked(&file, &function, args, backend))
        .map_err(|e| match e {
            rlpc::exec::ExecError::Compile(d, sources) => {
                Failure::from_diags(&d, &sources).into_py(py)
            }
            rlpc::exec::ExecError::Other(msg) => RlpcError::new_err(clean(&msg)),
        })?;
    Ok(named_arrays(py, outs))
}

/// The names of the trainable parameters of the program saved in run directory `dir`
/// (its front end alone, on the saved text as `rlpc run --resume` compiles it).
fn param_names(dir: &Path) -> Result<Vec<String>, String> {
    let (source, settings) = rundir::load(dir)?;
    let modules = rundir::load_modules(dir)?;
    let opts = rlpc::sema::Options::default();
    let (p, _) = rlpc::front_end_saved(
        &settings.file,
        &source,
        modules,
        settings.seed,
        &settings.overrides(),
        opts,
    )
    .map_err(|(d, s)| {
        format!(
            "cannot recompile the program of `{}` to tell its parameters from the rest of \
             the checkpoint:\n{}",
            dir.display(),
            render_plain(&d, &s)
        )
    })?;
    Ok(p.slots
        .iter()
        .filter(|s| s.kind == SlotKind::Param)
        .map(|s| s.name.clone())
        .collect())
}

/// The parameters in a run directory: `params.npz` when `checkpoint` is None and it is
/// there, else those of checkpoint `checkpoint` (-1: the latest).
fn read_params(dir: &Path, checkpoint: Option<i64>) -> Result<Vec<(String, Tensor)>, String> {
    if !dir.is_dir() {
        return Err(format!("`{}` is not a run directory", dir.display()));
    }
    let params = dir.join(rundir::PARAMS);
    if checkpoint.is_none() && params.is_file() {
        return rlp_runtime::io::load_npz(&params).map_err(|e| e.to_string());
    }
    let ckpts = dir.join(rundir::CHECKPOINTS);
    let state = match checkpoint {
        Some(step) if step >= 0 => {
            let npz = rlp_runtime::checkpoint::npz_path(&ckpts, step as u64);
            if !npz.is_file() {
                return Err(format!("`{}` has no checkpoint {step}", ckpts.display()));
            }
            rlp_runtime::io::load_npz(&npz).map_err(|e| e.to_string())?
        }
        _ => match rlp_runtime::checkpoint::load_latest(&ckpts).map_err(|e| e.to_string())? {
            Some((_, state, _)) => state,
            None => {
                return Err(format!(
                    "`{}` has neither `{}` nor a checkpoint",
                    dir.display(),
                    rundir::PARAMS
                ));
            }
        },
    };
    let names = param_names(dir)?;
    let mut state: Vec<Option<(String, Tensor)>> = state.into_iter().map(Some).collect();
    names
        .iter()
        .map(|n| {
            state
                .iter_mut()
                .find(|e| e.as_ref().is_some_and(|(k, _)| k == n))
                .and_then(Option::take)
                .ok_or_else(|| format!("the checkpoint has no parameter `{n}`"))
        })
        .collect()
}

/// `load_params(run_dir, checkpoint=None)`: (name, array) pairs in the file's order.
#[pyfunction]
#[pyo3(signature = (run_dir, checkpoint=None))]
fn load_params(
    py: Python<'_>,
    run_dir: PathBuf,
    checkpoint: Option<i64>,
) -> PyResult<Vec<(String, Py<PyAny>)>> {
    let params = py
        .detach(|| read_params(&run_dir, checkpoint))
        .map_err(|e| RlpcError::new_err(clean(&e)))?;
    Ok(named_arrays(py, params))
}

#[pymodule]
fn _rlpc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", rlpc::VERSION)?;
    m.add("RlpcError", m.py().get_type::<RlpcError>())?;
    m.add("CompileError", m.py().get_type::<CompileError>())?;
    m.add_class::<Program>()?;
    m.add_function(wrap_pyfunction!(compile, m)?)?;
    m.add_function(wrap_pyfunction!(exec, m)?)?;
    m.add_function(wrap_pyfunction!(load_params, m)?)?;
    Ok(())
}
