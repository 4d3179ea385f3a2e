//! The `rlpc` command line.

use clap::{Parser, Subcommand, ValueEnum};
use rlpc::diag::render_fancy;
use rlpc::run::{self, Backend, RunOptions};
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

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Jit,
    Interp,
}

#[derive(Subcommand)]
enum Cmd {
    /// Compile FILE and train it.
    Run {
        file: PathBuf,
        /// Seed for every random draw (parameters, environments, sampling).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Run directory for metrics.csv and checkpoints (default: runs/<file stem>).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
        backend: BackendArg,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Override a top-level binding: `--set lr=3e-4` (repeatable; checked against
        /// the kind of value the program binds).
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
        set: Vec<(String, String)>,
    },
    /// Check FILE and print diagnostics only (exit 1 on errors).
    Check { file: PathBuf },
    /// Print the stages and the IR of FILE.
    Explain {
        file: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    command(cli)
}

fn command(cli: Cli) -> ExitCode {
    match cli.cmd {
        Cmd::Check { file } => match rlpc::front_end(&file, 0) {
            Ok(_) => {
                eprintln!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err((diags, sources)) => {
                eprint!("{}", render_fancy(&diags, &sources));
                ExitCode::FAILURE
            }
        },
        Cmd::Explain { file, seed } => match rlpc::front_end(&file, seed) {
            Ok((p, _)) => {
                match rlpc::explain::explain(&p, &rlpc::explain::ExplainOptions { kernels: true, ..Default::default() }) { Ok(s) => print!("{s}"), Err(e) => { eprintln!("error: {e}"); return ExitCode::FAILURE; } }
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
        } => {
            let t0 = std::time::Instant::now();
            let (program, sources) = match rlpc::front_end_with(&file, seed, &set) {
                Ok(x) => x,
                Err((diags, sources)) => {
                    eprint!("{}", render_fancy(&diags, &sources));
                    return ExitCode::FAILURE;
                }
            };
            let backend = match backend {
                BackendArg::Jit => Backend::Jit,
                BackendArg::Interp => Backend::Interp,
            };
            let compiled = match run::compile(program, backend) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let out = out.unwrap_or_else(|| {
                PathBuf::from("runs").join(file.file_stem().unwrap_or_default())
            });
            if !quiet {
                let total = t0.elapsed().as_secs_f64();
                eprintln!(
                    "compiled {} in {:.1} ms (front end {:.1} ms, kernels {:.1} ms); writing {}",
                    file.display(),
                    total * 1e3,
                    (total - compiled.compile_s) * 1e3,
                    compiled.compile_s * 1e3,
                    out.display()
                );
            }
            match run::train(
                &compiled,
                &RunOptions {
                    out: Some(out.clone()),
                    quiet,
                },
                Some(&sources),
            ) {
                Ok(s) => {
                    let last = s
                        .last
                        .iter()
                        .map(|(n, v)| format!("{n} = {v:.3}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    println!(
                        "done: {} iterations, {} env steps in {:.1} s; last: {last}",
                        s.iterations, s.env_steps, s.wall_s
                    );
                    println!("metrics: {}", out.join("metrics.csv").display());
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

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() && !v.trim().is_empty() => {
            Ok((n.trim().to_string(), v.trim().to_string()))
        }
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}
