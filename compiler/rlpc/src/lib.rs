//! rlpc: the compiler driver for `.rlp` reinforcement-learning pipelines.
//!
//! Steps, one public function per boundary:
//! 1. [`sema::Modules::load_main`] — read and parse the file and everything it `use`s
//!    (pest grammar in `rlp-syntax`);
//! 2. [`sema::lower`] — resolve, check dtypes and symbolic shapes, and lower to the
//!    pipeline IR ([`program::Program`]): state slots and one tensor graph per stage,
//!    gradients appended by `rlp_ir::autodiff`;
//! 3. [`run::compile`] — optimise and verify each graph, then compile it with a
//!    backend (Cranelift JIT from `rlp-jit`, or the reference interpreter);
//! 4. [`run::Trainer`] — run the loop: stages, metrics, checkpoints.

pub mod diag;
pub mod eval;
pub mod exec;
pub mod explain;
pub mod hparams;
pub mod lsp;
pub mod nonfinite;
pub mod plot;
pub mod program;
pub mod render;
pub mod run;
pub mod rundir;
pub mod sema;
pub mod stdlib_doc;
pub mod tensorboard;

use diag::{Diag, SourceMap};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// This compiler's version (what a run directory's `settings.json` records).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

type FrontEnd = Result<(program::Program, SourceMap), (Vec<Diag>, SourceMap)>;

/// Loads and lowers a file: the front half of the compiler.
pub fn front_end(path: &Path, seed: u64) -> FrontEnd {
    with_stack(|| {
        let (mods, main) = sema::Modules::load_main(path).map_err(|(m, d)| (d, m.sources))?;
        match sema::lower(&mods, main, seed) {
            Ok(p) => Ok((p, mods.sources)),
            Err(d) => Err((vec![d], mods.sources)),
        }
    })
}

/// [`front_end`] with `--set NAME=VALUE` overrides of top-level bindings.
pub fn front_end_with(path: &Path, seed: u64, settings: &[(String, String)]) -> FrontEnd {
    front_end_opts(path, seed, settings, sema::Options::default())
}

/// [`front_end_with`] with lowering options.
pub fn front_end_opts(
    path: &Path,
    seed: u64,
    settings: &[(String, String)],
    opts: sema::Options,
) -> FrontEnd {
    front_end_loading(|| sema::Modules::load_main(path), seed, settings, opts)
}

/// [`front_end_opts`] of `text` as if it were the file at `path` (relative `use`s and
/// data files resolve from `path`'s directory).
pub fn front_end_text_opts(
    path: &Path,
    text: &str,
    seed: u64,
    settings: &[(String, String)],
    opts: sema::Options,
) -> FrontEnd {
    front_end_saved(path, text, HashMap::new(), seed, settings, opts)
}

/// [`front_end_text_opts`] with the texts of the user modules it `use`s given
/// (`rundir::load_modules`), instead of read from disk: a run resumed or evaluated
/// compiles exactly what it ran.
pub fn front_end_saved(
    path: &Path,
    text: &str,
    modules: HashMap<PathBuf, String>,
    seed: u64,
    settings: &[(String, String)],
    opts: sema::Options,
) -> FrontEnd {
    front_end_loading(
        || sema::Modules::load_text_at(path, text, modules),
        seed,
        settings,
        opts,
    )
}

type Loaded = Result<(sema::Modules, sema::modules::ModId), (sema::Modules, Vec<Diag>)>;

fn front_end_loading(
    load: impl FnOnce() -> Loaded + Send,
    seed: u64,
    settings: &[(String, String)],
    opts: sema::Options,
) -> FrontEnd {
    with_stack(|| {
        let (mut mods, main) = load().map_err(|(m, d)| (d, m.sources))?;
        let overrides = if settings.is_empty() {
            None
        } else {
            match mods.add_overrides(settings) {
                Ok(m) => Some(m),
                Err(d) => return Err((vec![d], mods.sources)),
            }
        };
        match sema::lower_opts(&mods, main, seed, overrides, opts) {
            Ok(p) => Ok((p, mods.sources)),
            Err(d) => Err((vec![d], mods.sources)),
        }
    })
}

/// [`front_end_opts`] for source text that is no file (the Python bindings compile
/// strings): `--set` overrides and lowering options.
pub fn front_end_source_with(
    name: &str,
    text: &str,
    seed: u64,
    settings: &[(String, String)],
    opts: sema::Options,
) -> FrontEnd {
    front_end_loading(
        || sema::Modules::load_source(name, text),
        seed,
        settings,
        opts,
    )
}

/// The same as [`front_end`] for source text (tests and tools).
pub fn front_end_source(name: &str, text: &str, seed: u64) -> FrontEnd {
    with_stack(|| {
        let (mods, main) =
            sema::Modules::load_source(name, text).map_err(|(m, d)| (d, m.sources))?;
        match sema::lower(&mods, main, seed) {
            Ok(p) => Ok((p, mods.sources)),
            Err(d) => Err((vec![d], mods.sources)),
        }
    })
}

/// What `rlpc check` found in a file without errors.
pub enum Checked {
    /// A program, lowered.
    Program(program::Program),
    /// A library (functions only): what was checked and what was skipped.
    Library(sema::library::LibraryReport),
}

type CheckResult = Result<(Checked, SourceMap), (Vec<Diag>, SourceMap)>;

/// `rlpc check`: a program is lowered as by [`front_end`]; a library module (only `use`s
/// and functions) has each of its declared functions checked alone
/// ([`sema::library`]), so it can be checked before any program uses it.
pub fn check_file(path: &Path, seed: u64, opts: sema::Options) -> CheckResult {
    with_stack(|| {
        let (mods, main) = sema::Modules::load_main(path).map_err(|(m, d)| (d, m.sources))?;
        check_loaded(mods, main, seed, opts)
    })
}

/// [`check_file`] with `--set NAME=VALUE` overrides: the program as a run with them
/// would compile it (a library has no bindings to override, so `settings` must be
/// empty for one).
pub fn check_file_with(
    path: &Path,
    seed: u64,
    settings: &[(String, String)],
    opts: sema::Options,
) -> CheckResult {
    if settings.is_empty() {
        return check_file(path, seed, opts);
    }
    front_end_opts(path, seed, settings, opts).map(|(p, sources)| (Checked::Program(p), sources))
}

/// [`check_file`] for source text (tests and tools).
pub fn check_source(name: &str, text: &str, seed: u64) -> CheckResult {
    with_stack(|| {
        let (mods, main) =
            sema::Modules::load_source(name, text).map_err(|(m, d)| (d, m.sources))?;
        check_loaded(mods, main, seed, sema::Options::default())
    })
}

/// [`check_file`] for the text of the file `path` as an editor holds it (the language
/// server): its relative `use`s and data files resolve from `path`'s directory, and the
/// files it uses are read from `unsaved` (by path, `.` and `..` folded) when there.
pub fn check_text_at(
    path: &Path,
    text: &str,
    unsaved: &std::collections::HashMap<std::path::PathBuf, String>,
    seed: u64,
) -> CheckResult {
    with_stack(|| {
        let (mods, main) = sema::Modules::load_text_at(path, text, unsaved.clone())
            .map_err(|(m, d)| (d, m.sources))?;
        check_loaded(mods, main, seed, sema::Options::default())
    })
}

fn check_loaded(
    mods: sema::Modules,
    main: sema::modules::ModId,
    seed: u64,
    opts: sema::Options,
) -> CheckResult {
    if !sema::library::is_library(&mods, main) {
        return match sema::lower_opts(&mods, main, seed, None, opts) {
            Ok(p) => Ok((Checked::Program(p), mods.sources)),
            Err(d) => Err((vec![d], mods.sources)),
        };
    }
    let mut report = sema::library::check_library(&mods, main, seed);
    if report.errors.is_empty() {
        Ok((Checked::Library(report), mods.sources))
    } else {
        Err((std::mem::take(&mut report.errors), mods.sources))
    }
}

/// [`front_end_source`] with lowering options.
pub fn front_end_source_opts(name: &str, text: &str, seed: u64, opts: sema::Options) -> FrontEnd {
    with_stack(|| {
        let (mods, main) =
            sema::Modules::load_source(name, text).map_err(|(m, d)| (d, m.sources))?;
        match sema::lower_opts(&mods, main, seed, None, opts) {
            Ok(p) => Ok((p, mods.sources)),
            Err(d) => Err((vec![d], mods.sources)),
        }
    })
}

/// Runs the front end on a thread with a large stack: it recurses over the syntax
/// tree, so only its explicit nesting limits (which give diagnostics) bound a program.
fn with_stack<T: Send>(
    f: impl FnOnce() -> Result<T, (Vec<Diag>, SourceMap)> + Send,
) -> Result<T, (Vec<Diag>, SourceMap)> {
    std::thread::scope(|s| {
        let h = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn_scoped(s, f)
            .expect("spawn the front-end thread");
        h.join().unwrap_or_else(|_| Err((vec![Diag::new("internal", "internal compiler error: the front end stopped unexpectedly; please report the input")], SourceMap::default())))
    })
}
