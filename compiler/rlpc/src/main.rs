//! The `rlpc` command line.

use clap::{Parser, Subcommand, ValueEnum};
use rlpc::diag::{SourceMap, render_fancy};
use rlpc::run::{self, Backend, RunOptions};
use rlpc::rundir;
use rlpc::sema::memory::MemoryBudget;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rlpc",
    version,
    about = "Compile and run declarative reinforcement-learning pipelines (.rlp)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// What `rlpc doc` prints.
#[derive(Clone, Copy, ValueEnum)]
enum DocTopic {
    /// The built-ins reference (`docs/builtins.md`), from the checker's table.
    Builtins,
    /// The standard library reference (`docs/stdlib.md`), from the stdlib's own source.
    Stdlib,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Jit,
    Interp,
    Cuda,
    CudaCpu,
}

/// `rlpc plot --x`.
#[derive(Clone, Copy, ValueEnum)]
enum XArg {
    EnvSteps,
    Iterations,
    WallS,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile FILE and train it, or continue an interrupted run with `--resume DIR`.
    Run {
        /// The `.rlp` program to train.
        #[arg(required_unless_present = "resume")]
        file: Option<PathBuf>,
        /// The run's seed, which keys every random draw (parameters, environments,
        /// sampling). A component's own `seed:` argument (`cartpole(seed: 1)`) is mixed
        /// into it, not used instead: `--seed 0` with `seed: 1` differs from `--seed 1`
        /// with `seed: 0`. Saved in settings.json.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Run directory for metrics.csv, plots, checkpoints and params.npz
        /// (default: runs/<file stem>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where the kernels run: `jit` compiles them with Cranelift (the default);
        /// `interp` evaluates the same graphs with the reference interpreter (slow; the
        /// oracle the JIT is tested against, giving the same results bit for bit);
        /// `cuda` runs them on an NVIDIA GPU; `cuda-cpu` runs the CUDA backend's
        /// generated source compiled for this CPU (its semantics without a GPU).
        #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
        backend: BackendArg,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Override a top-level binding: `--set lr=3e-4` (repeatable, once per name;
        /// VALUE is a number, bool, string or list, or arithmetic on them such as
        /// `2*64`; checked against the kind of value the program binds).
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
        set: Vec<(String, String)>,
        /// Save a checkpoint and redraw the plots every K iterations (0: only at the end).
        /// Default: every 50 iterations, but at most once per 30 s of training.
        #[arg(long, value_name = "K")]
        checkpoint_every: Option<u64>,
        /// Continue the run in DIR from its latest checkpoint, with the program and
        /// settings saved there.
        #[arg(long, value_name = "DIR",
              conflicts_with_all = ["file", "seed", "out", "backend", "set", "checkpoint_every",
                                    "tensorboard"])]
        resume: Option<PathBuf>,
        /// Also write the metrics as TensorBoard events into DIR/tensorboard
        /// (`tensorboard --logdir DIR`); saved in settings.json, so `--resume` keeps it.
        #[arg(long)]
        tensorboard: bool,
        /// Train at most N iterations in this session, then stop with a checkpoint,
        /// params.npz and plots; `rlpc run --resume DIR` continues to the program's count.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        iterations: Option<u64>,
        /// Stop after K iterations as if killed (no final checkpoint): for testing resume.
        #[arg(long, value_name = "K", hide = true)]
        stop_after: Option<u64>,
        /// The memory the program may need (`64G`, `512MiB`, `none`; default: the
        /// machine's, or RLPC_MEMORY_LIMIT); more is an error before anything runs.
        #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit,
              conflicts_with = "resume")]
        memory_limit: Option<MemoryBudget>,
    },
    /// Evaluate the saved policy of the run directory DIR: episode returns with
    /// deterministic (mode) actions, or sampled ones with `--stochastic`.
    Eval {
        /// A run directory made by `rlpc run` (holds program.rlp, settings.json, params.npz).
        dir: PathBuf,
        /// Episodes to report.
        #[arg(long, value_name = "K", default_value_t = 10)]
        episodes: usize,
        /// Sample actions from the policy instead of taking the distribution's mode.
        #[arg(long)]
        stochastic: bool,
        /// The top-level binding holding the policy.
        #[arg(long, value_name = "NAME", default_value = "policy")]
        policy: String,
        /// The top-level binding holding the environment.
        #[arg(long, value_name = "NAME", default_value = "env")]
        env: String,
        /// Write a PNG per observation of the first environment's first episode here
        /// (classic-control environments).
        #[arg(long, value_name = "OUTDIR")]
        frames: Option<PathBuf>,
        /// Write the same frames as an animated GIF.
        #[arg(long, value_name = "FILE")]
        gif: Option<PathBuf>,
    },
    /// Record episodes of a finished run's policy as a dataset (`docs/datasets.md`): an
    /// uncompressed `.npz` of observations, actions, rewards, terminations, truncations,
    /// next observations (and the behaviour log-probabilities when the policy has them),
    /// one row per transition, episode by episode. Acts on the mode unless told otherwise.
    Collect {
        /// A run directory made by `rlpc run`.
        dir: PathBuf,
        /// Episodes to record.
        #[arg(long, value_name = "K", default_value_t = 10)]
        episodes: usize,
        /// Sample actions from the policy's distribution.
        #[arg(long, conflicts_with = "epsilon")]
        stochastic: bool,
        /// Take a uniformly random action with probability E (a dataset of mixed quality).
        #[arg(long, value_name = "E")]
        epsilon: Option<f64>,
        /// The top-level binding holding the policy.
        #[arg(long, value_name = "NAME", default_value = "policy")]
        policy: String,
        /// The top-level binding holding the environment.
        #[arg(long, value_name = "NAME", default_value = "env")]
        env: String,
        /// The dataset file to write (atomically).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check FILE and print diagnostics only, the memory estimate included (exit 1 on
    /// errors). A file of functions only (a library) has each function with declared
    /// parameters checked alone.
    Check {
        file: PathBuf,
        /// The memory the program may need (`64G`, `512MiB`, `none`; default: the
        /// machine's, or RLPC_MEMORY_LIMIT).
        #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
        memory_limit: Option<MemoryBudget>,
        /// Override a top-level binding, as `rlpc run --set` does (repeatable): check
        /// the variant a run would compile.
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
        set: Vec<(String, String)>,
    },
    /// Print a generated reference: `rlpc doc builtins > docs/builtins.md`, `rlpc doc stdlib > docs/stdlib.md`.
    Doc {
        #[arg(value_enum)]
        topic: DocTopic,
    },
    /// Print the slots, each stage's graph and the fused kernels of FILE.
    Explain {
        file: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Show the graphs after this pass (`lower`, `fold`, `cse`, `dce`; default: the last).
        #[arg(long, value_name = "PASS")]
        after: Option<String>,
        /// Show the graphs after every pass.
        #[arg(long, conflicts_with = "after")]
        all_passes: bool,
        /// Leave out the fused kernels.
        #[arg(long)]
        no_kernels: bool,
        /// `cuda` (or `cuda-cpu`): show each kernel's generated CUDA source.
        #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
        backend: BackendArg,
        /// Override a top-level binding, as `rlpc run --set` does (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
        set: Vec<(String, String)>,
    },
    /// Format FILE in the canonical layout (comments kept). Prints it, or with
    /// `--write` replaces the file; `--check` exits 1 if it is not formatted.
    Fmt {
        file: PathBuf,
        #[arg(long, conflicts_with = "check")]
        write: bool,
        #[arg(long)]
        check: bool,
    },
    /// Overlay metrics of several runs in one PNG: `rlpc plot --out regret.png --log-x
    /// --x iterations runs/ucb:cumulative_regret=UCB1 runs/ts:cumulative_regret=Thompson`.
    Plot {
        /// Curves, each `PATH:METRIC[=LABEL]`: a column of PATH (a run directory or a
        /// metrics.csv), labelled LABEL in the legend.
        #[arg(required = true)]
        curves: Vec<String>,
        /// The PNG to write.
        #[arg(long, value_name = "FILE.png")]
        out: PathBuf,
        /// The x axis: `env-steps`, `iterations` (iterations done: the iteration
        /// column plus one) or `wall-s`.
        #[arg(long, value_enum, default_value_t = XArg::EnvSteps)]
        x: XArg,
        /// A logarithmic x axis (points at x ≤ 0 left out).
        #[arg(long)]
        log_x: bool,
        /// A logarithmic y axis (points at y ≤ 0 left out).
        #[arg(long)]
        log_y: bool,
        /// The x axis' label (default: what `--x` is).
        #[arg(long)]
        x_label: Option<String>,
        /// The picture's title.
        #[arg(long, default_value = "")]
        title: String,
        /// The y axis' label (default: the metrics' names).
        #[arg(long)]
        y_label: Option<String>,
        /// Draw the curve with this LABEL dashed, in black (a reference such as a
        /// lower bound); repeatable.
        #[arg(long, value_name = "LABEL")]
        dashed: Vec<String>,
    },
    /// Serve the Language Server Protocol on stdin/stdout for editors: diagnostics,
    /// hover, go-to-definition, completion and formatting (`docs/lsp.md`).
    Lsp,
    /// Run one function on .npy inputs: `rlpc exec FILE:FUNCTION --arg r=r.npy
    /// --arg gamma=0.99 --out out.npy` (a .npz output holds several tensors).
    Exec {
        /// `FILE:FUNCTION`.
        target: String,
        #[arg(long = "arg", value_name = "NAME=PATH.npy|NUMBER", value_parser = parse_setting)]
        args: Vec<(String, String)>,
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
        backend: BackendArg,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Commands that only print: a closed pipe ends them quietly. Training commands keep
    // Rust's default (SIGPIPE ignored), so a dead environment worker's pipe is an error
    // they report, not a signal that kills them.
    if matches!(
        cli.cmd,
        Cmd::Check { .. } | Cmd::Doc { .. } | Cmd::Explain { .. } | Cmd::Fmt { .. }
    ) {
        restore_sigpipe();
    }
    command(cli)
}

fn command(cli: Cli) -> ExitCode {
    match cli.cmd {
        Cmd::Check {
            file,
            memory_limit,
            set,
        } => match rlpc::check_file_with(
            &file,
            0,
            &set,
            rlpc::sema::Options {
                memory: memory_limit.unwrap_or_default(),
                ..Default::default()
            },
        ) {
            Ok((rlpc::Checked::Program(p), sources)) => {
                eprint!("{}", render_fancy(&p.warnings, &sources));
                eprintln!("{}: ok — {}", file.display(), rlpc::program::summary(&p));
                ExitCode::SUCCESS
            }
            Ok((rlpc::Checked::Library(report), _)) => {
                for (name, why) in &report.skipped {
                    eprintln!("note: `{name}` not checked: {why}");
                }
                eprintln!("{}: ok — {}", file.display(), report.summary());
                ExitCode::SUCCESS
            }
            Err((diags, sources)) => {
                eprint!("{}", render_fancy(&diags, &sources));
                ExitCode::FAILURE
            }
        },
        Cmd::Eval {
            dir,
            episodes,
            stochastic,
            policy,
            env,
            frames,
            gif,
        } => {
            let opts = rlpc::eval::EvalOptions {
                episodes,
                stochastic,
                policy,
                env,
                epsilon: None,
                render: frames.is_some() || gif.is_some(),
                iteration: None,
            };
            match eval(&dir, &opts, frames.as_deref(), gif.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Collect {
            dir,
            episodes,
            stochastic,
            epsilon,
            policy,
            env,
            out,
        } => {
            let opts = rlpc::eval::EvalOptions {
                episodes,
                stochastic,
                policy,
                env,
                epsilon,
                render: false,
                iteration: None,
            };
            match collect(&dir, &opts, &out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Fmt { file, write, check } => fmt(&file, write, check),
        Cmd::Lsp => ExitCode::from(rlpc::lsp::run().clamp(0, 255) as u8),
        Cmd::Doc { topic } => {
            print!(
                "{}",
                match topic {
                    DocTopic::Builtins => rlpc::sema::builtins::table::reference_markdown(),
                    DocTopic::Stdlib => rlpc::stdlib_doc::reference_markdown(),
                }
            );
            ExitCode::SUCCESS
        }
        Cmd::Plot {
            curves,
            out,
            x,
            log_x,
            log_y,
            title,
            x_label,
            y_label,
            dashed,
        } => {
            let x = match x {
                XArg::EnvSteps => rlpc::plot::XAxis::EnvSteps,
                XArg::Iterations => rlpc::plot::XAxis::Iterations,
                XArg::WallS => rlpc::plot::XAxis::WallSeconds,
            };
            let axes = rlpc::plot::OverlayOptions {
                title,
                x,
                log_x,
                log_y,
                x_desc: x_label,
                y_desc: y_label.unwrap_or_default(),
            };
            match plot(&curves, &out, axes, &dashed) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Exec {
            target,
            args,
            out,
            backend,
        } => exec(&target, args, &out, backend),
        Cmd::Explain {
            file,
            seed,
            after,
            all_passes,
            no_kernels,
            backend,
            set,
        } => match rlpc::front_end_with(&file, seed, &set) {
            Ok((p, _)) => {
                match rlpc::explain::explain(
                    &p,
                    &rlpc::explain::ExplainOptions {
                        after,
                        every_pass: all_passes,
                        kernels: !no_kernels,
                        cuda_source: matches!(backend, BackendArg::Cuda | BackendArg::CudaCpu),
                    },
                ) {
                    Ok(s) => print!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
                ExitCode::SUCCESS
            }
            Err((diags, sources)) => {
                eprint!("{}", render_fancy(&diags, &sources));
                ExitCode::FAILURE
            }
        },
        Cmd::Run {
            file,
            seed,
            out,
            backend,
            quiet,
            set,
            checkpoint_every,
            resume,
            iterations,
            stop_after,
            memory_limit,
            tensorboard,
        } => {
            let started = match (resume, file) {
                (Some(dir), _) => resume_run(dir),
                (None, Some(file)) => {
                    let backend = match backend {
                        b => backend_of(b),
                    };
                    let out = out.unwrap_or_else(|| {
                        PathBuf::from("runs").join(file.file_stem().unwrap_or_default())
                    });
                    let memory = memory_limit.unwrap_or_default();
                    new_run(
                        file,
                        out,
                        seed,
                        backend,
                        set,
                        checkpoint_every,
                        memory,
                        tensorboard,
                    )
                }
                (None, None) => unreachable!("clap requires FILE unless --resume is given"),
            };
            let Some(Started {
                compiled,
                sources,
                opts,
                label,
                compile_ms,
                run_dir,
            }) = started
            else {
                return ExitCode::FAILURE;
            };
            // From here a Ctrl-C is caught and acted on where it leaves the run directory
            // whole: before it is written, after it is started, or after an iteration.
            interrupt::catch();
            // The state first, then the run directory: a program that does not fit in
            // memory leaves no run behind.
            let trainer = match run::Trainer::with_sources(&compiled, Some(&sources)) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let opts = RunOptions {
                quiet,
                stop_after,
                ..opts
            };
            let out = opts
                .out
                .clone()
                .expect("a CLI run always has a run directory");
            if interrupt::requested() {
                eprintln!("interrupted before the run started; nothing was written");
                return ExitCode::from(130);
            }
            let fresh = run_dir.is_some();
            if let Some((source, settings)) = run_dir
                && let Err(e) = rundir::start(&out, &source, &settings)
                    .and_then(|()| rundir::save_modules(&out, &sources, &settings.file))
            {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            if interrupt::requested() {
                if fresh {
                    eprintln!(
                        "interrupted before the first iteration; nothing was trained (`{}` \
                         holds only the program and its settings)",
                        out.display()
                    );
                } else {
                    eprintln!("interrupted before resuming; nothing was trained");
                }
                return ExitCode::from(130);
            }
            if !quiet {
                eprintln!("{label}; writing {}", out.display());
            }
            let total = compiled.program.iterations;
            let mut done = 0;
            let mut within_cap = |_: &run::IterationEnd| {
                done += 1;
                iterations.is_none_or(|n| done < n) && !interrupt::requested()
            };
            match run::train_with(trainer, &opts, Some(&sources), &mut within_cap) {
                Ok(s) => {
                    // "; last: a = …, b = …", or nothing for a program that logs nothing.
                    let last = match &s.last[..] {
                        [] => String::new(),
                        metrics => format!(
                            "; last: {}",
                            metrics
                                .iter()
                                .map(|(n, v)| format!("{n} = {v:.3}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    let left = total - s.resumed_from.unwrap_or(0);
                    if let Some(n) = iterations
                        && n > left
                        && s.finished
                    {
                        eprintln!(
                            "note: `--iterations {n}` asked for more than the {left} \
                             iterations the program had left; it ran those"
                        );
                    }
                    if s.resumed_from == Some(total) {
                        println!(
                            "the run had already finished its {total} iterations; its \
                             outputs are rewritten, nothing was trained"
                        );
                    } else if !s.finished && interrupt::requested() {
                        println!(
                            "interrupted after {} iterations, with a checkpoint; resume with \
                             `rlpc run --resume {}`",
                            s.iterations,
                            out.display()
                        );
                        println!("run directory: {}", out.display());
                        return ExitCode::from(130);
                    } else if s.finished {
                        println!(
                            "done: {} iterations, {} env steps in {:.1} s (compiled in \
                             {compile_ms:.1} ms){last}",
                            s.iterations, s.env_steps, s.wall_s
                        );
                    } else {
                        println!(
                            "stopped after {} iterations; resume with `rlpc run --resume {}`",
                            s.iterations,
                            out.display()
                        );
                    }
                    println!("run directory: {}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// A compiled program ready to train, with the options that go with its run directory.
struct Started {
    compiled: run::Compiled,
    sources: SourceMap,
    opts: RunOptions,
    /// What was compiled and how long it took, for the first line of output.
    label: String,
    /// Milliseconds from reading the file to compiled kernels, for the last line.
    compile_ms: f64,
    /// For a new run, what its directory starts with (`program.rlp`, `settings.json`),
    /// written once the program's state is allocated.
    run_dir: Option<(String, rundir::Settings)>,
}

/// The compile time since `t0`, split into front end and kernels.
fn compile_times(t0: std::time::Instant, compiled: &run::Compiled) -> rundir::CompileTimes {
    let total = t0.elapsed().as_secs_f64() * 1e3;
    let kernels = compiled.compile_s * 1e3;
    rundir::CompileTimes {
        total,
        front_end: total - kernels,
        kernels,
    }
}

/// Compiles `file` and prepares what the run directory `out` starts with
/// (`program.rlp`, `settings.json`). Errors are printed; `None` means exit 1.
#[allow(clippy::too_many_arguments)]
fn new_run(
    file: PathBuf,
    out: PathBuf,
    seed: u64,
    backend: Backend,
    set: Vec<(String, String)>,
    checkpoint_every: Option<u64>,
    memory: MemoryBudget,
    tensorboard: bool,
) -> Option<Started> {
    let checkpoint_min_s = match checkpoint_every {
        Some(_) => 0.0,
        None => run::DEFAULT_CHECKPOINT_MIN_S,
    };
    let checkpoint_every = checkpoint_every.unwrap_or(run::DEFAULT_CHECKPOINT_EVERY);
    let t0 = std::time::Instant::now();
    let (compiled, sources) = compile(&file, seed, &set, backend, memory)?;
    let compile_ms = compile_times(t0, &compiled);
    let label = format!(
        "compiled {} in {:.1} ms (front end {:.1} ms, kernels {:.1} ms)",
        file.display(),
        compile_ms.total,
        compile_ms.front_end,
        compile_ms.kernels,
    );
    // The front end has just read the file; read it again to save exactly that text.
    let source = std::fs::read_to_string(&file)
        .map_err(|e| eprintln!("error: cannot read `{}`: {e}", file.display()))
        .ok()?;
    let settings = rundir::Settings {
        iterations: compiled.program.iterations,
        program_dir: Some(rundir::absolute_dir_of(&file)),
        data_files: rundir::data_files(&compiled.program),
        file,
        seed,
        backend,
        set: set.iter().map(|(n, v)| format!("{n}={v}")).collect(),
        checkpoint_every,
        checkpoint_min_s,
        rlpc_version: env!("CARGO_PKG_VERSION").to_string(),
        seed_rule: rundir::SEED_RULE.to_string(),
        compile_ms,
        tensorboard,
    };
    Some(Started {
        run_dir: Some((source, settings.clone())),
        compiled,
        sources,
        opts: RunOptions {
            out: Some(out),
            checkpoint_every,
            checkpoint_min_s,
            tensorboard,
            settings: Some(settings),
            ..RunOptions::default()
        },
        label,
        compile_ms: compile_ms.total,
    })
}

/// Recompiles the program saved in the run directory `dir` with its saved settings.
///
/// It compiles the saved text (`dir/program.rlp`) as if it were the original file, so
/// relative `use "./…"` imports and data files resolve from the original directory as
/// they did, even when the file has been edited since (the saved text is what ran).
fn resume_run(dir: PathBuf) -> Option<Started> {
    let (source, settings) = rundir::load(&dir)
        .map_err(|e| eprintln!("error: {e}"))
        .ok()?;
    let modules = rundir::load_modules(&dir)
        .map_err(|e| eprintln!("error: {e}"))
        .ok()?;
    // From the program's own directory (recorded absolute), so its relative paths
    // resolve as they did whatever the working directory is now.
    let file = settings.program_path();
    for warning in settings.changed_data() {
        eprintln!(
            "warning: {warning}; the resumed run reads it as it is now, so it is no longer \
             bit-identical to an uninterrupted one"
        );
    }
    let t0 = std::time::Instant::now();
    let (compiled, sources) = compile_text(
        &file,
        Some((&source, modules)),
        settings.seed,
        &settings.overrides(),
        settings.backend,
        MemoryBudget::Machine,
    )?;
    let compile_ms = compile_times(t0, &compiled).total;
    if compiled.program.iterations != settings.iterations {
        eprintln!(
            "error: `{}` runs {} iterations but `{}` says {}",
            file.display(),
            compiled.program.iterations,
            dir.join(rundir::SETTINGS).display(),
            settings.iterations
        );
        return None;
    }
    Some(Started {
        compiled,
        sources,
        opts: RunOptions {
            out: Some(dir.clone()),
            checkpoint_every: settings.checkpoint_every,
            checkpoint_min_s: settings.checkpoint_min_s,
            resume: true,
            tensorboard: settings.tensorboard,
            settings: Some(settings.clone()),
            ..RunOptions::default()
        },
        label: format!("resuming {} (seed {})", file.display(), settings.seed),
        compile_ms,
        run_dir: None,
    })
}

/// Front end and kernels; errors printed.
fn compile(
    file: &std::path::Path,
    seed: u64,
    set: &[(String, String)],
    backend: Backend,
    memory: MemoryBudget,
) -> Option<(run::Compiled, SourceMap)> {
    compile_text(file, None, seed, set, backend, memory)
}

/// [`compile`] of `text` (when given) as if it were `file`'s contents.
fn compile_text(
    file: &std::path::Path,
    text: Option<(&str, HashMap<PathBuf, String>)>,
    seed: u64,
    set: &[(String, String)],
    backend: Backend,
    memory: MemoryBudget,
) -> Option<(run::Compiled, SourceMap)> {
    let opts = rlpc::sema::Options {
        memory,
        ..Default::default()
    };
    let front = match text {
        Some((text, modules)) => rlpc::front_end_saved(file, text, modules, seed, set, opts),
        None => rlpc::front_end_opts(file, seed, set, opts),
    };
    let (program, sources) = front
        .map_err(|(diags, sources)| eprint!("{}", render_fancy(&diags, &sources)))
        .ok()?;
    eprint!("{}", render_fancy(&program.warnings, &sources));
    let compiled = run::compile(program, backend)
        .map_err(|e| eprintln!("error: {e}"))
        .ok()?;
    Some((compiled, sources))
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
            Ok((n.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

/// `--memory-limit SIZE`: a size (`64G`, `512MiB`, bytes) or `none`.
fn parse_memory_limit(s: &str) -> Result<MemoryBudget, String> {
    Ok(match rlp_runtime::memory::parse_limit(s)? {
        Some(bytes) => MemoryBudget::Limit(bytes),
        None => MemoryBudget::Unlimited,
    })
}

fn backend_of(b: BackendArg) -> Backend {
    match b {
        BackendArg::Jit => Backend::Jit,
        BackendArg::Interp => Backend::Interp,
        BackendArg::Cuda => Backend::Cuda,
        BackendArg::CudaCpu => Backend::CudaCpu,
    }
}

fn fmt(file: &std::path::Path, write: bool, check: bool) -> ExitCode {
    let text = match rlpc::sema::modules::read_source(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rlp_syntax::format(&text) {
        Ok(f) if check => {
            if f == text {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "{} is not formatted (run `rlpc fmt --write {}`)",
                    file.display(),
                    file.display()
                );
                ExitCode::FAILURE
            }
        }
        Ok(f) if write => match rlp_runtime::io::write_atomic(file, f.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Ok(f) => {
            print!("{f}");
            ExitCode::SUCCESS
        }
        Err(_) => match rlpc::front_end(file, 0) {
            // A file that does not parse: show the diagnostic the compiler gives.
            Err((diags, sources)) => {
                eprint!("{}", render_fancy(&diags, &sources));
                ExitCode::FAILURE
            }
            Ok(_) => ExitCode::FAILURE,
        },
    }
}

fn exec(
    target: &str,
    args: Vec<(String, String)>,
    out: &std::path::Path,
    backend: BackendArg,
) -> ExitCode {
    let Some((file, function)) = target.rsplit_once(':') else {
        eprintln!("error: `{target}` is not FILE:FUNCTION");
        return ExitCode::FAILURE;
    };
    let mut parsed = vec![];
    for (name, value) in args {
        match rlpc::exec::ArgValue::parse(&value) {
            Ok(v) => parsed.push((name, v)),
            Err(e) => {
                eprintln!("error: --arg {name}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let result = rlpc::exec::exec(
        std::path::Path::new(file),
        function,
        parsed,
        backend_of(backend),
    )
    .and_then(|outs| rlpc::exec::write_outputs(out, &outs).map(|()| outs));
    match result {
        Ok(outs) => {
            for (n, t) in &outs {
                eprintln!("{n}: {} {:?}", t.dtype(), t.shape());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn collect(
    dir: &std::path::Path,
    opts: &rlpc::eval::EvalOptions,
    out: &std::path::Path,
) -> Result<(), String> {
    if let Some(e) = opts.epsilon
        && !(0.0..=1.0).contains(&e)
    {
        return Err(format!("--epsilon {e}: a probability is between 0 and 1"));
    }
    let (report, data) = rlpc::eval::collect(dir, opts)?;
    data.save(out).map_err(|e| e.to_string())?;
    let how = match (opts.epsilon, opts.stochastic) {
        (Some(e), _) => format!("mode, random with probability {e}"),
        (None, true) => format!("stochastic, at iteration {}", report.iteration),
        (None, false) => "mode".to_string(),
    };
    println!(
        "{}: {} episode{} ({how}), {} transitions; return {:.2} ± {:.2} (min {:.2}, max {:.2})",
        out.display(),
        report.returns.len(),
        if report.returns.len() == 1 { "" } else { "s" },
        data.rows,
        report.mean(),
        report.std(),
        report.min(),
        report.max()
    );
    Ok(())
}

fn eval(
    dir: &std::path::Path,
    opts: &rlpc::eval::EvalOptions,
    frames: Option<&std::path::Path>,
    gif: Option<&std::path::Path>,
) -> Result<(), String> {
    let r = rlpc::eval::evaluate(dir, opts)?;
    let mode = if opts.stochastic {
        format!("stochastic (sampled) actions at iteration {}", r.iteration)
    } else {
        "deterministic (mode) actions".to_string()
    };
    println!(
        "evaluated {} with {mode}: {} episode{} of `{}` in `{}` ({} environments, {} rollout{} of {} steps)",
        dir.display(),
        r.returns.len(),
        if r.returns.len() == 1 { "" } else { "s" },
        opts.policy,
        opts.env,
        r.envs,
        r.rounds,
        if r.rounds == 1 { "" } else { "s" },
        r.steps
    );
    println!(
        "return: mean {:.3} \u{b1} {:.3} (std), min {:.3}, max {:.3}",
        r.mean(),
        r.std(),
        r.min(),
        r.max()
    );
    let mean_len = r.lengths.iter().sum::<u64>() as f64 / r.lengths.len().max(1) as f64;
    println!("episode length: mean {mean_len:.1}");
    if frames.is_some() || gif.is_some() {
        let scene = rlpc::render::Scene::choose(
            r.env_constructor.as_deref(),
            r.first_episode_obs.first().map_or(0, |o| o.len()),
            &opts.env,
        )?;
        if let Some(out) = frames {
            let written = rlpc::render::write_frames(out, scene, &r.first_episode_obs)?;
            println!("{} frames written to {}", written.len(), out.display());
        }
        if let Some(file) = gif {
            rlpc::render::write_gif(file, scene, &r.first_episode_obs)?;
            println!("animation written to {}", file.display());
        }
    }
    Ok(())
}

/// `rlpc plot`: reads each curve, draws them together and writes the PNG. An empty
/// y label becomes the metrics' names.
fn plot(
    specs: &[String],
    out: &std::path::Path,
    mut opts: rlpc::plot::OverlayOptions,
    dashed: &[String],
) -> Result<(), String> {
    // Checked first: writing would fail only at the final rename, with the OS's
    // "Not a directory", which names the wrong problem.
    if out.is_dir() || out.as_os_str().to_string_lossy().ends_with('/') {
        return Err(format!(
            "`--out {}` is a directory: give the path of the PNG file to write, e.g. `--out {}`",
            out.display(),
            out.join("plot.png").display()
        ));
    }
    let mut curves = vec![];
    let mut metrics: Vec<String> = vec![];
    for spec in specs {
        let mut c = rlpc::plot::read_curve(spec, opts.x)?;
        c.dashed = dashed.contains(&c.label);
        let metric = spec.split('=').next().and_then(|t| t.rsplit_once(':'));
        if let Some((_, m)) = metric.filter(|(_, m)| !metrics.iter().any(|n| n == m)) {
            metrics.push(m.to_string());
        }
        curves.push(c);
    }
    if let Some(d) = dashed
        .iter()
        .find(|d| !curves.iter().any(|c| &c.label == *d))
    {
        let labels: Vec<&str> = curves.iter().map(|c| c.label.as_str()).collect();
        return Err(format!(
            "`--dashed {d}`: no curve is labelled `{d}` (the labels: {})",
            labels.join(", ")
        ));
    }
    if opts.y_desc.is_empty() {
        opts.y_desc = metrics.join(", ");
    }
    for w in rlpc::plot::overlay_warnings(&curves, &opts) {
        eprintln!("warning: {w}");
    }
    let png = rlpc::plot::render_overlay(&curves, &opts)?;
    rlp_runtime::io::write_atomic(out, &png).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Ctrl-C during `rlpc run`: the first one lets the iteration under way finish, then
/// the run stops as `--iterations` stops it — a checkpoint, `params.npz` and the plots
/// written, resumable with `--resume` — and exits with 130; a second one kills the
/// process at once (the default disposition is restored when the first arrives).
mod interrupt {
    use std::sync::atomic::{AtomicBool, Ordering};

    static REQUESTED: AtomicBool = AtomicBool::new(false);

    pub fn requested() -> bool {
        REQUESTED.load(Ordering::Relaxed)
    }

    #[cfg(unix)]
    extern "C" fn on_sigint(_: libc::c_int) {
        REQUESTED.store(true, Ordering::Relaxed);
        // SAFETY: `signal` is async-signal-safe; restoring the default disposition.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
        }
    }

    /// Installs the handler (on Unix; elsewhere Ctrl-C keeps its default effect).
    pub fn catch() {
        #[cfg(unix)]
        // SAFETY: installing a handler that only stores to an atomic and calls `signal`.
        unsafe {
            libc::signal(
                libc::SIGINT,
                on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Lets a closed pipe end the process quietly, as it does `cat` or `grep`: Rust ignores
/// SIGPIPE, so `rlpc explain … | head` would otherwise panic on its next write to stdout.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
