//! Compiling a lowered program and running its training loop.
//!
//! Each stage graph is optimised, verified and handed to a backend; the trainer then
//! keeps every slot's tensor on the host and runs the stages in order, once per
//! iteration, checking every value a stage writes for NaN/Inf.

use crate::diag::SourceMap;
use crate::program::{Program, SlotKind, Stage};
use rlp_ir::{Graph, Tensor};
use rlp_runtime::Executable;
use rlp_runtime::metrics::MetricsWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which backend runs the graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Cranelift JIT with fusion (the default).
    Jit,
    /// The reference interpreter (slow; the oracle).
    Interp,
}

/// A program with every stage compiled.
pub struct Compiled {
    pub program: Program,
    init: Box<dyn Executable>,
    stages: Vec<Box<dyn Executable>>,
    /// Seconds from the start of `compile` to the last kernel ready.
    pub compile_s: f64,
}

/// The graph a backend receives: optimised and verified.
pub fn prepare(g: &Graph) -> Result<Graph, String> {
    let g = rlp_ir::opt::optimize(g);
    rlp_ir::verify::verify(&g)
        .map_err(|e| format!("internal error: the optimised graph is invalid: {e}"))?;
    Ok(g)
}

fn build(g: &Graph, backend: Backend) -> Result<Box<dyn Executable>, String> {
    let g = prepare(g)?;
    match backend {
        Backend::Interp => Ok(Box::new(
            rlp_ir::interp::Interpreter::new(g).map_err(|e| e.to_string())?,
        )),
        Backend::Jit => {
            rlp_jit::compile(&g, &rlp_jit::JitOptions::default()).map_err(|e| e.to_string())
        }
    }
}

/// Compiles every stage of `program` with `backend`.
pub fn compile(program: Program, backend: Backend) -> Result<Compiled, String> {
    let t0 = Instant::now();
    let init = build(&program.init.graph, backend)?;
    let stages = program
        .stages
        .iter()
        .map(|s| build(&s.graph, backend))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Compiled {
        program,
        init,
        stages,
        compile_s: t0.elapsed().as_secs_f64(),
    })
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    pub iterations: u64,
    pub env_steps: u64,
    pub wall_s: f64,
    /// The metrics of the last iteration, by name.
    pub last: Vec<(String, f64)>,
}

/// Options for a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run directory: `metrics.csv` and friends. `None` writes nothing.
    pub out: Option<PathBuf>,
    pub quiet: bool,
}

/// The loop's state: one tensor per slot.
pub struct Trainer<'c> {
    c: &'c Compiled,
    pub slots: Vec<Tensor>,
}

impl<'c> Trainer<'c> {
    /// Fresh state: every slot zero, then the init graph.
    pub fn new(c: &'c Compiled) -> Result<Trainer<'c>, String> {
        let slots = c
            .program
            .slots
            .iter()
            .map(|s| Tensor::zeros(s.ty.dtype, &s.ty.shape))
            .collect();
        let mut t = Trainer { c, slots };
        t.run_stage(&c.program.init, c.init.as_ref(), None)?;
        Ok(t)
    }

    fn run_stage(
        &mut self,
        stage: &Stage,
        exe: &dyn Executable,
        sources: Option<&SourceMap>,
    ) -> Result<(), String> {
        let inputs: Vec<Tensor> = stage
            .reads
            .iter()
            .map(|s| self.slots[s.0 as usize].clone())
            .collect();
        let outs = exe
            .run(&inputs)
            .map_err(|e| format!("stage `{}` failed: {e}", stage.kind.name()))?;
        for (s, t) in stage.writes.iter().zip(outs) {
            if !t.all_finite() {
                let where_ = sources
                    .map(|m| format!(" ({})", m.describe(stage.loc)))
                    .unwrap_or_default();
                return Err(format!(
                    "non-finite value (NaN or Inf) in `{}`, written by stage `{}`{where_}",
                    self.c.program.slot(*s).name,
                    stage.kind.name()
                ));
            }
            self.slots[s.0 as usize] = t;
        }
        Ok(())
    }

    /// Runs iteration `it`: the stages due, in order. Returns the env steps taken.
    pub fn step(&mut self, it: u64, sources: Option<&SourceMap>) -> Result<u64, String> {
        let p = &self.c.program;
        self.slots[p.counter.0 as usize] = Tensor::full(rlp_ir::DType::I32, &[], it as f64);
        let mut steps = 0;
        for (stage, exe) in p.stages.iter().zip(&self.c.stages) {
            if stage.schedule.due(it) {
                self.run_stage(stage, exe.as_ref(), sources)
                    .map_err(|e| format!("iteration {it}: {e}"))?;
                steps += stage.env_steps;
            }
        }
        Ok(steps)
    }

    pub fn metric_values(&self) -> Vec<f64> {
        self.c
            .program
            .metrics
            .iter()
            .map(|m| {
                self.slots[m.slot.0 as usize]
                    .scalar_f64()
                    .unwrap_or(f64::NAN)
            })
            .collect()
    }

    /// The persistent state, by slot name (what a checkpoint holds).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.c
            .program
            .slots
            .iter()
            .zip(&self.slots)
            .filter(|(s, _)| s.kind != SlotKind::Transient)
            .map(|(s, t)| (s.name.clone(), t.clone()))
            .collect()
    }
}

/// Runs the whole loop with a progress bar and `metrics.csv`.
pub fn train(
    c: &Compiled,
    opts: &RunOptions,
    sources: Option<&SourceMap>,
) -> Result<Summary, String> {
    let p = &c.program;
    let names: Vec<&str> = p.metrics.iter().map(|m| m.name.as_str()).collect();
    let mut writer = match &opts.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the run directory `{}`: {e}", dir.display()))?;
            Some(
                MetricsWriter::create(&dir.join("metrics.csv"), &names)
                    .map_err(|e| e.to_string())?,
            )
        }
        None => None,
    };
    let bar = progress_bar(p.iterations, opts.quiet);
    let t0 = Instant::now();
    let mut trainer = Trainer::new(c)?;
    let mut env_steps = 0u64;
    let mut last = vec![];
    for it in 0..p.iterations {
        env_steps += trainer.step(it, sources)?;
        let values = trainer.metric_values();
        let wall = t0.elapsed().as_secs_f64();
        if let Some(w) = writer.as_mut() {
            w.write_row(it, env_steps, wall, &values)
                .map_err(|e| e.to_string())?;
        }
        last = names
            .iter()
            .map(|n| n.to_string())
            .zip(values.iter().copied())
            .collect();
        if let Some(b) = &bar {
            b.set_position(it + 1);
            b.set_message(
                last.iter()
                    .map(|(n, v)| format!("{n} {v:.2}"))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    if let Some(dir) = &opts.out {
        save_final(dir, &trainer, p.iterations)?;
    }
    Ok(Summary {
        iterations: p.iterations,
        env_steps,
        wall_s: t0.elapsed().as_secs_f64(),
        last,
    })
}

fn save_final(dir: &Path, t: &Trainer, step: u64) -> Result<(), String> {
    let meta = serde_json::json!({ "iteration": step });
    rlp_runtime::checkpoint::save_checkpoint(&dir.join("checkpoints"), step, &t.state(), &meta, 3)
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn progress_bar(n: u64, quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet {
        return None;
    }
    let b = indicatif::ProgressBar::new(n);
    let style = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} it  eta {eta}  {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    b.set_style(style);
    Some(b)
}
