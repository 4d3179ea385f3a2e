//! Compiling a lowered program and running its training loop.
//!
//! Each stage graph is optimised, verified and handed to a backend; the trainer then
//! keeps every slot's tensor on the host and runs the stages in order, once per
//! iteration, checking every value a stage writes for NaN/Inf (and, when one is found,
//! tracing it to its source expression with [`crate::nonfinite`]). On the CUDA backend
//! the slots live in device memory instead, with host copies made on demand
//! ([`resident`]). [`train`] adds the run directory: metrics, plots, checkpoints and
//! resumption.

mod resident;

use crate::diag::SourceMap;
use crate::program::{BatchField, ExternalRollout, Program, SlotKind, Stage};
use crate::rundir;
use rlp_ir::{Graph, Tensor, TensorType};
use rlp_runtime::Executable;
use rlp_runtime::checkpoint;
use rlp_runtime::metrics::MetricsWriter;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which backend runs the graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Cranelift JIT with fusion (the default).
    Jit,
    /// The reference interpreter (slow; the oracle).
    Interp,
    /// The CUDA backend on GPU 0 (NVRTC-compiled kernels, cuBLAS products).
    Cuda,
    /// The CUDA backend's source compiled for this CPU as C++ (tests and debugging:
    /// the GPU semantics without a GPU).
    #[serde(rename = "cuda-cpu")]
    CudaCpu,
}

/// A program with every stage compiled.
pub struct Compiled {
    pub program: Program,
    init: Box<dyn Executable>,
    stages: Vec<Box<dyn Executable>>,
    /// Seconds from the start of `compile` to the last kernel ready.
    pub compile_s: f64,
    /// Where a trainer keeps the slots: `Some` on the CUDA backend (in that device's
    /// memory, [`resident`]), `None` on the host.
    resident: Option<rlp_cuda::Target>,
    /// External environments being started in the background since `compile` began,
    /// one per [`Program::externals`]; the first trainer takes them.
    starting: std::sync::Mutex<Vec<Option<Starting>>>,
}

impl Drop for Compiled {
    /// Waits for environments still starting and stops their workers: none outlive
    /// the program they were started for.
    fn drop(&mut self) {
        let starting = match self.starting.get_mut() {
            Ok(s) => std::mem::take(s),
            Err(poisoned) => std::mem::take(poisoned.into_inner()),
        };
        for h in starting.into_iter().flatten() {
            let _ = h.join();
        }
    }
}

/// An external environment starting on a thread of its own.
type Starting = std::thread::JoinHandle<Result<rlp_runtime::external::ExternalEnv, String>>;

/// Starts the workers of an external environment of a program run with seed
/// `program_seed` (Python's start-up and imports take a good part of a second).
fn start_external(
    decl: &crate::program::ExternalEnvDecl,
    program_seed: u64,
) -> Result<rlp_runtime::external::ExternalEnv, String> {
    let seed = program_seed.wrapping_mul(1_000_003).wrapping_add(decl.seed);
    let opts = rlp_runtime::external::ExternalOptions::default();
    rlp_runtime::external::ExternalEnv::start(&decl.id, decl.envs, decl.workers, seed, &opts)
        .map_err(|e| format!("environment `{}`: {e}", decl.id))
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
        Backend::Cuda => rlp_cuda::compile(&g, rlp_cuda::Target::Gpu),
        Backend::CudaCpu => rlp_cuda::compile(&g, rlp_cuda::Target::Cpu),
    }
}

/// Checks that `backend` can run on this machine before anything is compiled (the
/// CUDA backend needs the driver, NVRTC and cuBLAS; their absence is an error for the
/// user, not a panic).
pub fn backend_available(backend: Backend) -> Result<(), String> {
    match backend {
        Backend::Cuda => rlp_cuda::gpu::available(),
        Backend::CudaCpu if !rlp_cuda::host::compiler_available() => Err(
            "the cuda-cpu backend compiles its kernels with a C++ compiler (`c++`, or $CXX); none was found".into(),
        ),
        _ => Ok(()),
    }
}

/// Compiles every stage of `program` with `backend`. The workers of its external
/// environments start meanwhile, in the background.
pub fn compile(program: Program, backend: Backend) -> Result<Compiled, String> {
    let t0 = Instant::now();
    backend_available(backend)?;
    let starting = program
        .externals
        .iter()
        .map(|decl| {
            let (decl, seed) = (decl.clone(), program.seed);
            Some(std::thread::spawn(move || start_external(&decl, seed)))
        })
        .collect();
    let init = build(&program.init.graph, backend)?;
    let stages = program
        .stages
        .iter()
        .map(|s| build(&s.graph, backend))
        .collect::<Result<Vec<_>, _>>()?;
    // External environments step on the host: their programs keep the slots there.
    let resident = match backend {
        _ if !program.externals.is_empty() => None,
        Backend::Cuda => Some(rlp_cuda::Target::Gpu),
        Backend::CudaCpu => Some(rlp_cuda::Target::Cpu),
        Backend::Jit | Backend::Interp => None,
    };
    Ok(Compiled {
        program,
        init,
        stages,
        compile_s: t0.elapsed().as_secs_f64(),
        resident,
        starting: std::sync::Mutex::new(starting),
    })
}

impl Compiled {
    /// Whether trainers of this program keep their slots in device memory.
    pub fn slots_resident(&self) -> bool {
        self.resident.is_some()
    }

    /// Makes trainers of this program keep their slots on the host even on the CUDA
    /// backend: every stage call then uploads its inputs and downloads its outputs
    /// (for comparing the two).
    pub fn keep_slots_on_host(&mut self) {
        self.resident = None;
    }
}

/// What a finished (or stopped) run reports.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Iterations completed, counting those before a resume.
    pub iterations: u64,
    pub env_steps: u64,
    /// Seconds of training, counting those before a resume.
    pub wall_s: f64,
    /// The metrics of the last iteration, by name.
    pub last: Vec<(String, f64)>,
    /// The checkpoint step (iterations completed) the run resumed from.
    pub resumed_from: Option<u64>,
    /// Whether all of the program's iterations ran (false after `stop_after`).
    pub finished: bool,
}

/// What a slot holds while its tensor is lent to a running stage.
fn placeholder() -> Tensor {
    Tensor::full(rlp_ir::DType::F32, &[0], 0.0)
}

/// Default checkpoint period, in iterations.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 50;

/// Without `--checkpoint-every`, at least this many seconds of training pass between
/// checkpoints (a checkpoint holds every replay buffer: tens of megabytes).
pub const DEFAULT_CHECKPOINT_MIN_S: f64 = 30.0;
/// Checkpoints kept on disk by default (the newest ones).
pub const DEFAULT_KEEP_CHECKPOINTS: usize = 3;

/// Options for a run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run directory: `metrics.csv`, plots, checkpoints, `params.npz` (see
    /// [`crate::rundir`]). `None` writes nothing.
    pub out: Option<PathBuf>,
    pub quiet: bool,
    /// Save a checkpoint (and redraw the plots) every this many iterations; 0 saves only
    /// at the end. A checkpoint is always saved at the end.
    pub checkpoint_every: u64,
    /// With a period, also at least this many seconds of training between two
    /// checkpoints (0: the period alone decides).
    pub checkpoint_min_s: f64,
    /// Checkpoints kept (the newest); 0 keeps all.
    pub keep_checkpoints: usize,
    /// Continue from the latest checkpoint in `out` instead of starting from `init`.
    pub resume: bool,
    /// Stop after this many iterations (counted from 0, not from the resume point)
    /// without the end-of-run outputs, as if the process had been killed there. For
    /// testing resumption.
    pub stop_after: Option<u64>,
    /// Also write the metrics as TensorBoard events to `out/tensorboard`
    /// ([`crate::tensorboard`]).
    pub tensorboard: bool,
    /// How long `metrics.csv` rows may be held before they are written together
    /// ([`MetricsWriter::hold_rows`]), in seconds; 0 writes each row before the
    /// iteration's hook is called (as a hook that reads the file needs).
    pub metrics_hold_s: f64,
    /// How the run was started, for the `run.file` and `run.backend` of `hparams.json`
    /// ([`crate::hparams`]), which is written into `out` when the run starts or resumes.
    pub settings: Option<rundir::Settings>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            out: None,
            quiet: false,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
            checkpoint_min_s: 0.0,
            keep_checkpoints: DEFAULT_KEEP_CHECKPOINTS,
            resume: false,
            stop_after: None,
            tensorboard: false,
            metrics_hold_s: DEFAULT_METRICS_HOLD_S,
            settings: None,
        }
    }
}

/// The loop's state: one tensor per slot.
pub struct Trainer<'c> {
    c: &'c Compiled,
    /// One tensor per slot. With the slots resident on a device ([`Trainer::slots_resident`])
    /// these are host copies, current only after [`Trainer::sync_host`]; read single
    /// values through [`Trainer::metric_values`], [`Trainer::state`] or
    /// [`Trainer::params`], which download what is newer.
    pub slots: Vec<Tensor>,
    /// External environments, started when first stepped.
    externals: Vec<Option<rlp_runtime::external::ExternalEnv>>,
    /// Per stage (by index in [`Program::stages`]), the values its last run displaced
    /// from the slots it writes: memory for its next run's outputs, so a stage that
    /// rewrites state (parameters, moments, environment state) every iteration writes
    /// into pages already mapped instead of fresh ones. Owned tensors: nothing else can
    /// refer to them, so reusing them never aliases a live value.
    displaced: Vec<Vec<Option<Tensor>>>,
    /// Empty tensors that hold a slot's place while its value is lent to a stage, kept
    /// for the next stage: a fresh one costs ndarray's shape machinery, dozens of times
    /// per iteration in a step-wise program.
    placeholders: Vec<Tensor>,
    /// On the CUDA backend, the slots in device memory; `slots` then holds host copies,
    /// current only where the store says so ([`resident`]).
    store: Option<Box<dyn rlp_runtime::resident::SlotStore>>,
}

impl<'c> Trainer<'c> {
    /// Fresh state: every slot zero, then the init graph. Slots the init graph computes
    /// start empty (it writes them before anything reads them), so the state is not held
    /// twice while it is initialised. An allocation that fails is an error.
    pub fn new(c: &'c Compiled) -> Result<Trainer<'c>, String> {
        Trainer::with_sources(c, None)
    }

    /// [`Trainer::new`], with the program's sources so that an error in the init graph
    /// (an index out of range, a non-finite value in a top-level binding) names the
    /// line that made it.
    pub fn with_sources(
        c: &'c Compiled,
        sources: Option<&SourceMap>,
    ) -> Result<Trainer<'c>, String> {
        let init = &c.program.init;
        let store = match c.resident {
            Some(target) => Some(resident::slot_store(c, target)?),
            None => None,
        };
        let slots = c
            .program
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let id = crate::program::SlotId(i as u32);
                if s.kind == SlotKind::Data
                    || (init.writes.contains(&id) && !init.reads.contains(&id))
                {
                    return Ok(placeholder());
                }
                if s.starts_missing {
                    return Ok(Tensor::full(s.ty.dtype, &s.ty.shape, f64::NAN));
                }
                // Resident slots start as zeros on the device, with no host copy yet.
                if store.is_some() {
                    return Ok(placeholder());
                }
                Tensor::try_zeros(s.ty.dtype, &s.ty.shape)
                    .map_err(|e| format!("out of memory for `{}` ({}): {e}", s.name, s.ty))
            })
            .collect::<Result<_, String>>()?;
        let externals = c.program.externals.iter().map(|_| None).collect();
        let displaced = c
            .program
            .stages
            .iter()
            .map(|s| s.writes.iter().map(|_| None).collect())
            .collect();
        let mut t = Trainer {
            c,
            slots,
            externals,
            displaced,
            placeholders: vec![],
            store,
        };
        // Datasets first: top-level bindings computed from their rows (a per-episode
        // layout) are part of the init graph.
        for (s, rows) in &c.program.data {
            t.slots[s.0 as usize] = rows.clone();
        }
        t.run_stage(init, c.init.as_ref(), sources, None)?;
        Ok(t)
    }

    /// Runs `stage` (index `index` in the program's stages, or `None` for `init`) and
    /// writes its outputs into their slots, or changes nothing and returns the error.
    fn run_stage(
        &mut self,
        stage: &Stage,
        exe: &dyn Executable,
        sources: Option<&SourceMap>,
        index: Option<usize>,
    ) -> Result<(), String> {
        if let Some(mut store) = self.store.take() {
            let done = self.run_stage_resident(store.as_mut(), stage, exe, sources);
            self.store = Some(store);
            return done;
        }
        // Outputs first: they come from slots the stage does not read.
        let mut outs = match index {
            Some(i) => self.reused_outputs(stage, i),
            None => vec![],
        };
        // Inputs lent where the backend takes them so, else moved out of their slots.
        let lent = {
            let refs: Vec<&Tensor> = stage
                .reads
                .iter()
                .map(|s| &self.slots[s.0 as usize])
                .collect();
            exe.run_borrowed_into(&refs, &mut outs)
        };
        let (inputs, ran) = match lent {
            Some(ran) => (None, ran),
            None => {
                let inputs = self.take_inputs(stage);
                let ran = exe.run_into(&inputs, &mut outs);
                (Some(inputs), ran)
            }
        };
        let ran = ran.map_err(|e| stage_error(stage, &e, sources));
        // Check everything before writing anything: a failed stage leaves the state as
        // it was before the stage, which is what the culprit search re-runs from.
        let p = &self.c.program;
        // NaN where it means "no value yet" is fine; ±Inf never is. An output the
        // backend watched being written finite is not read back.
        let ok = |(k, (t, s)): (usize, (&Tensor, &crate::program::SlotId))| {
            exe.output_known_finite(k)
                || t.all_finite()
                || (p.slot(*s).nan_is_missing && no_infinities(t))
        };
        let bad = |x| !ok(x);
        let checked = ran
            .and_then(
                |()| match outs.iter().zip(&stage.writes).enumerate().position(bad) {
                    Some(k) => Err(match &inputs {
                        Some(inputs) => self.non_finite_error(stage, inputs, k, sources),
                        None => {
                            let inputs: Vec<Tensor> = (stage.reads.iter())
                                .map(|s| self.slots[s.0 as usize].clone())
                                .collect();
                            self.non_finite_error(stage, &inputs, k, sources)
                        }
                    }),
                    None => Ok(()),
                },
            )
            .and_then(|()| self.check_row_writes(stage, &outs, sources));
        if let Some(inputs) = inputs {
            self.put_back(stage, inputs);
        }
        checked?;
        for (k, (s, t)) in stage.writes.iter().zip(outs).enumerate() {
            let old = std::mem::replace(&mut self.slots[s.0 as usize], t);
            if let Some(i) = index {
                self.displaced[i][k] = Some(old);
            }
        }
        self.apply_row_writes(stage)
    }

    /// An error naming the state and the stage when a row index of one of the stage's
    /// row writes (`state <- put(state, index, rows)`) is out of range.
    fn check_row_writes(
        &self,
        stage: &Stage,
        outs: &[Tensor],
        sources: Option<&SourceMap>,
    ) -> Result<(), String> {
        let p = &self.c.program;
        let rows_of = |w: &crate::program::RowWrite| p.slot(w.slot).ty.shape.first().copied();
        for (j, w) in stage.row_writes.iter().enumerate() {
            let Some(k) = stage.writes.iter().position(|s| *s == w.index) else {
                continue;
            };
            // The fields of a record share one index: checked once per row count.
            let earlier = &stage.row_writes[..j];
            if earlier
                .iter()
                .any(|e| e.index == w.index && rows_of(e) == rows_of(w))
            {
                continue;
            }
            let rows = rows_of(w).unwrap_or(0);
            Tensor::check_row_index(&outs[k], rows)
                .map_err(|e| self.row_index_error(stage, w, &e, sources))?;
        }
        Ok(())
    }

    /// The message for a row index out of range in row write `w` of `stage`.
    fn row_index_error(
        &self,
        stage: &Stage,
        w: &crate::program::RowWrite,
        e: &str,
        sources: Option<&SourceMap>,
    ) -> String {
        let p = &self.c.program;
        let mut msg = format!(
            "stage `{}` failed: `put` into `{}`: {e}",
            stage.kind.name(),
            p.slot(w.slot).name
        );
        if let Some(m) = sources {
            msg.push_str(&format!("\n  in the stage at {}", m.describe(stage.loc)));
            if let Some(o) = w.origin {
                let loc = crate::nonfinite::to_loc(o);
                msg.push_str(&format!("\n  the `put` at {}\n", m.describe(loc)));
                msg.push_str(&crate::nonfinite::source_excerpt(m, loc));
            }
        }
        msg
    }

    /// Writes the rows of the stage's row writes into their state, in place.
    fn apply_row_writes(&mut self, stage: &Stage) -> Result<(), String> {
        for w in &stage.row_writes {
            let at = [w.slot.0 as usize, w.index.0 as usize, w.rows.0 as usize];
            // Borrowed where it lies when the three slots are distinct (as lowering makes
            // them), rather than moved out and back.
            let done = match self.slots.get_disjoint_mut(at) {
                Ok([target, index, rows]) => target.put_rows(index, rows, w.add),
                Err(_) => {
                    let hold = self.placeholder();
                    let mut target = std::mem::replace(&mut self.slots[at[0]], hold);
                    let done = target.put_rows(&self.slots[at[1]], &self.slots[at[2]], w.add);
                    let hold = std::mem::replace(&mut self.slots[at[0]], target);
                    self.placeholders.push(hold);
                    done
                }
            };
            done.map_err(|e| {
                let name = &self.c.program.slot(w.slot).name;
                format!(
                    "stage `{}` failed: `put` into `{name}`: {e}",
                    stage.kind.name()
                )
            })?;
        }
        Ok(())
    }

    /// The values of the slots `stage` reads, moved out of their slots (not copied: a
    /// fit stage reads the whole batch); [`Trainer::put_back`] returns them.
    fn take_inputs(&mut self, stage: &Stage) -> Vec<Tensor> {
        let mut inputs: Vec<Tensor> = Vec::with_capacity(stage.reads.len());
        for (i, s) in stage.reads.iter().enumerate() {
            let t = match stage.reads[..i].iter().position(|r| r == s) {
                Some(j) => inputs[j].clone(),
                None => {
                    let hold = self.placeholder();
                    std::mem::replace(&mut self.slots[s.0 as usize], hold)
                }
            };
            inputs.push(t);
        }
        inputs
    }

    /// An empty tensor to hold a slot's place (see `placeholders`).
    fn placeholder(&mut self) -> Tensor {
        self.placeholders.pop().unwrap_or_else(placeholder)
    }

    /// Returns the inputs [`Trainer::take_inputs`] took to their slots.
    fn put_back(&mut self, stage: &Stage, inputs: Vec<Tensor>) {
        for (i, (s, t)) in stage.reads.iter().zip(inputs).enumerate() {
            if !stage.reads[..i].contains(s) {
                let hold = std::mem::replace(&mut self.slots[s.0 as usize], t);
                self.placeholders.push(hold);
            }
        }
    }

    /// Memory for the outputs of stage `i` to be written into ([`Executable::run_into`]),
    /// so that once warm a stage maps no fresh pages (a rollout writes tens of megabytes
    /// of batch per iteration, and fresh allocations fault every page in again):
    /// - a transient slot it writes but does not read (last iteration's batch, dead until
    ///   this stage rewrites it) lends its own tensor, taken out of the slot;
    /// - any other output gets what the stage's last run displaced from that slot;
    /// - on the first run, the rest are new (untouched) zeros. Empty when nothing is
    ///   there to reuse, or when memory for the rest cannot be had (the executable then
    ///   allocates, and reports a failure itself).
    fn reused_outputs(&mut self, stage: &Stage, i: usize) -> Vec<Tensor> {
        let p = &self.c.program;
        let dead = |s: &crate::program::SlotId| {
            p.slot(*s).kind == SlotKind::Transient && !stage.reads.contains(s)
        };
        let fits = |t: &Tensor, ty: &TensorType| {
            t.dtype() == ty.dtype && rlp_runtime::exec::same_shape(t.shape(), &ty.shape)
        };
        let reusable = |k: usize, s: &crate::program::SlotId| {
            let ty = &p.slot(*s).ty;
            (dead(s) && fits(&self.slots[s.0 as usize], ty))
                || self.displaced[i][k].as_ref().is_some_and(|t| fits(t, ty))
        };
        if !stage.writes.iter().enumerate().any(|(k, s)| reusable(k, s)) {
            return vec![];
        }
        let mut outs = Vec::with_capacity(stage.writes.len());
        for (k, s) in stage.writes.iter().enumerate() {
            let ty = &p.slot(*s).ty;
            let current = &mut self.slots[s.0 as usize];
            // What does not fit is the placeholder the last run displaced from a dead
            // slot: it holds the slot's place again, rather than a fresh one.
            let (kept, hold) = match self.displaced[i][k].take() {
                Some(t) if fits(&t, ty) => (Some(t), None),
                other => (None, other.filter(|t| t.len() == 0)),
            };
            let t = if dead(s) && fits(current, ty) {
                let hold = hold
                    .or_else(|| self.placeholders.pop())
                    .unwrap_or_else(placeholder);
                std::mem::replace(current, hold)
            } else if let Some(t) = kept {
                t
            } else {
                match Tensor::try_zeros(ty.dtype, &ty.shape) {
                    Ok(t) => t,
                    Err(_) => return vec![],
                }
            };
            outs.push(t);
        }
        outs
    }

    /// The message for a non-finite value in output `k` of `stage`: the slot and the
    /// stage, then the node that made the value, found by re-running the stage.
    fn non_finite_error(
        &self,
        stage: &Stage,
        inputs: &[Tensor],
        k: usize,
        sources: Option<&SourceMap>,
    ) -> String {
        let where_ = sources
            .map(|m| format!(" ({})", m.describe(stage.loc)))
            .unwrap_or_default();
        let mut msg = format!(
            "non-finite value (NaN or Inf) in `{}`, written by stage `{}`{where_}",
            self.c.program.slot(stage.writes[k]).name,
            stage.kind.name()
        );
        match crate::nonfinite::locate(&stage.graph, inputs, k) {
            Some(culprit) => {
                msg.push_str("\n  ");
                msg.push_str(&culprit.describe(sources));
            }
            None => msg.push_str(
                "\n  (the reference interpreter did not reproduce it, so no expression is named)",
            ),
        }
        msg
    }

    /// Runs iteration `it`: the stages due, in order. Returns the env steps taken.
    pub fn step(&mut self, it: u64, sources: Option<&SourceMap>) -> Result<u64, String> {
        let p = &self.c.program;
        // In place: a fresh scalar tensor per iteration is an allocation and ndarray's
        // shape machinery, in a loop that may run 100,000 iterations a second.
        match &mut self.slots[p.counter.0 as usize] {
            Tensor::I32(a) if a.ndim() == 0 => a.fill(it as f64 as i32),
            slot => *slot = Tensor::full(rlp_ir::DType::I32, &[], it as f64),
        }
        if let Some(store) = &mut self.store {
            store.host_wrote(p.counter.0 as usize);
        }
        let mut steps = 0;
        for (i, (stage, exe)) in p.stages.iter().zip(&self.c.stages).enumerate() {
            if stage.schedule.due(it) {
                match &stage.external {
                    Some(x) => self.run_external(stage, i, exe.as_ref(), x, sources),
                    None => self.run_stage(stage, exe.as_ref(), sources, Some(i)),
                }
                .map_err(|e| format!("iteration {it}: {e}"))?;
                steps += stage.env_steps;
            }
        }
        Ok(steps)
    }

    /// An external rollout: the policy graph once per step, the environment's workers
    /// in between, then the stacked batch and the episode statistics into their slots.
    fn run_external(
        &mut self,
        stage: &Stage,
        index: usize,
        exe: &dyn Executable,
        x: &ExternalRollout,
        sources: Option<&SourceMap>,
    ) -> Result<(), String> {
        use rlp_ir::DType;
        let p = &self.c.program;
        let decl = &p.externals[x.env];
        let slot = |s: crate::program::SlotId| s.0 as usize;
        if self.externals[x.env].is_none() {
            let started = self
                .c
                .starting
                .lock()
                .ok()
                .and_then(|mut s| s.get_mut(x.env).and_then(Option::take));
            let mut env = match started {
                Some(h) => h.join().unwrap_or_else(|_| {
                    Err(format!("environment `{}`: its start-up panicked", decl.id))
                })?,
                None => start_external(decl, p.seed)?,
            };
            // The spaces the program was compiled against must be the environment's.
            decl.check(env.spec())?;
            self.slots[slot(x.obs)] = env
                .reset()
                .map_err(|e| format!("environment `{}`: {e}", decl.id))?;
            for s in [x.ep_return, x.ep_len] {
                let ty = &p.slot(s).ty;
                self.slots[slot(s)] = Tensor::zeros(ty.dtype, &ty.shape);
            }
            self.externals[x.env] = Some(env);
        }
        let n = decl.envs;
        let mut ep_ret: Vec<f32> = self.slots[slot(x.ep_return)]
            .to_f64_vec()
            .iter()
            .map(|&v| v as f32)
            .collect();
        let mut ep_len: Vec<f64> = self.slots[slot(x.ep_len)].to_f64_vec();
        let mut last_ret: Vec<f64> = self.slots[slot(x.last_return)].to_f64_vec();
        let mut last_len: Vec<f64> = self.slots[slot(x.last_length)].to_f64_vec();
        let mut cols: Vec<(BatchField, Vec<f64>)> =
            x.batch.iter().map(|(f, _)| (*f, Vec::new())).collect();
        let mut push = |f: BatchField, v: &[f64]| {
            if let Some((_, c)) = cols.iter_mut().find(|(g, _)| *g == f) {
                c.extend_from_slice(v);
            }
        };
        for t in 0..x.steps {
            self.slots[slot(x.step)] = Tensor::full(DType::I32, &[], t as f64);
            self.run_stage(stage, exe, sources, Some(index))?;
            let action = self.slots[slot(x.action)].clone();
            let env = self.externals[x.env].as_mut().expect("started above");
            let r = env
                .step(&action)
                .map_err(|e| format!("environment `{}`, step {t} of the rollout: {e}", decl.id))?;
            if !r.reward.all_finite() || !r.obs.all_finite() || !r.final_obs.all_finite() {
                return Err(format!(
                    "environment `{}` returned a non-finite reward or observation at step {t} of the rollout",
                    decl.id
                ));
            }
            let reward = r.reward.to_f64_vec();
            let term = r.terminated.to_f64_vec();
            let trunc = r.truncated.to_f64_vec();
            let mut done = vec![0.0; n];
            let mut finished = vec![0.0; n];
            for e in 0..n {
                ep_ret[e] += reward[e] as f32;
                ep_len[e] += 1.0;
                if term[e] != 0.0 || trunc[e] != 0.0 {
                    done[e] = 1.0;
                    finished[e] = ep_ret[e] as f64;
                    last_ret[e] = ep_ret[e] as f64;
                    last_len[e] = ep_len[e];
                    ep_ret[e] = 0.0;
                    ep_len[e] = 0.0;
                }
            }
            push(BatchField::Obs, &self.slots[slot(x.obs)].to_f64_vec());
            push(BatchField::Action, &action.to_f64_vec());
            if let Some(lp) = x.log_prob {
                push(BatchField::LogProb, &self.slots[slot(lp)].to_f64_vec());
            }
            push(BatchField::Reward, &reward);
            push(BatchField::Terminated, &term);
            push(BatchField::Truncated, &trunc);
            push(BatchField::Done, &done);
            push(BatchField::NextObs, &r.final_obs.to_f64_vec());
            push(BatchField::EpisodeReturn, &finished);
            push(
                BatchField::NotTerminated,
                &term.iter().map(|&v| 1.0 - v).collect::<Vec<_>>(),
            );
            self.slots[slot(x.obs)] = r.obs;
        }
        for ((_, values), (_, s)) in cols.iter().zip(&x.batch) {
            let ty = &p.slot(*s).ty;
            self.slots[slot(*s)] = Tensor::from_f64(ty.dtype, &ty.shape, values);
        }
        let put = |slots: &mut Vec<Tensor>, s: crate::program::SlotId, v: &[f64]| {
            let ty = &p.slot(s).ty;
            slots[slot(s)] = Tensor::from_f64(ty.dtype, &ty.shape, v);
        };
        put(
            &mut self.slots,
            x.ep_return,
            &ep_ret.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        );
        put(&mut self.slots, x.ep_len, &ep_len);
        put(&mut self.slots, x.last_return, &last_ret);
        put(&mut self.slots, x.last_length, &last_len);
        Ok(())
    }

    pub fn metric_values(&self) -> Vec<f64> {
        self.c
            .program
            .metrics
            .iter()
            .map(|m| {
                self.host_value(m.slot.0 as usize)
                    .ok()
                    .and_then(|t| t.scalar_f64())
                    .unwrap_or(f64::NAN)
            })
            .collect()
    }

    /// The persistent state, by slot name (what a checkpoint holds): not the datasets,
    /// which are read from their files again. Panics if device memory cannot be read
    /// ([`Trainer::try_state`] returns the error).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.try_state().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The trainable parameters, by slot name (what `params.npz` holds). Panics if
    /// device memory cannot be read ([`Trainer::try_params`] returns the error).
    pub fn params(&self) -> Vec<(String, Tensor)> {
        self.try_params().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Trainer::state`], or the error reading it from the device.
    pub fn try_state(&self) -> Result<Vec<(String, Tensor)>, String> {
        self.named(|k| !matches!(k, SlotKind::Transient | SlotKind::Data))
    }

    /// [`Trainer::params`], or the error reading them from the device.
    pub fn try_params(&self) -> Result<Vec<(String, Tensor)>, String> {
        self.named(|k| k == SlotKind::Param)
    }

    fn named(&self, keep: impl Fn(SlotKind) -> bool) -> Result<Vec<(String, Tensor)>, String> {
        self.c
            .program
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| keep(s.kind))
            .map(|(i, s)| Ok((s.name.clone(), self.host_value(i)?.into_owned())))
            .collect()
    }

    /// Replaces every Param slot with the tensor of the same name in `saved` (read from
    /// `file`, which errors name), leaving all other state as the init graph made it.
    /// Every Param slot must be there with its dtype and shape; tensors in `saved` that
    /// the program has no Param slot for (a value network an evaluation does not use)
    /// are ignored.
    pub fn restore_params(
        &mut self,
        saved: &[(String, Tensor)],
        file: &Path,
    ) -> Result<(), String> {
        let by_name: HashMap<&str, &Tensor> = saved.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (i, slot) in self.c.program.slots.iter().enumerate() {
            if slot.kind != SlotKind::Param {
                continue;
            }
            let t = saved_slot(file, slot, by_name.get(slot.name.as_str()).copied(), "file")?;
            self.set_on_host(i, t.clone());
        }
        Ok(())
    }

    /// Replaces each `State` slot that `saved` (a checkpoint, read from `file`, which
    /// errors name) has a tensor of the same name for, other than those `skip` names,
    /// leaving every other slot as it is: what `rlpc eval` and `rlpc collect` carry over
    /// from a finished run besides its parameters (a value table, normaliser statistics).
    /// A tensor of the slot's name with another dtype or shape is an error.
    pub fn restore_state_where(
        &mut self,
        saved: &[(String, Tensor)],
        file: &Path,
        skip: impl Fn(&str) -> bool,
    ) -> Result<(), String> {
        let by_name: HashMap<&str, &Tensor> = saved.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (i, slot) in self.c.program.slots.iter().enumerate() {
            if slot.kind != SlotKind::State || skip(&slot.name) {
                continue;
            }
            let Some(&found) = by_name.get(slot.name.as_str()) else {
                continue;
            };
            let t = saved_slot(file, slot, Some(found), "checkpoint")?;
            self.set_on_host(i, t.clone());
        }
        Ok(())
    }

    /// Replaces the persistent state with `saved` (read from `file`, which errors name).
    /// Every non-transient slot must be there with its dtype and shape, and nothing else:
    /// anything less means the checkpoint belongs to a different program.
    pub fn restore(&mut self, saved: &[(String, Tensor)], file: &Path) -> Result<(), String> {
        let mut by_name: HashMap<&str, &Tensor> =
            saved.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (i, slot) in self.c.program.slots.iter().enumerate() {
            if matches!(slot.kind, SlotKind::Transient | SlotKind::Data) {
                continue;
            }
            let t = saved_slot(file, slot, by_name.remove(slot.name.as_str()), "checkpoint")?;
            self.set_on_host(i, t.clone());
        }
        let mut extra: Vec<&str> = by_name.into_keys().collect();
        if !extra.is_empty() {
            extra.sort_unstable();
            return Err(format!(
                "`{}`: the checkpoint has `{}`, which the program does not; \
                 it was saved by a different program",
                file.display(),
                extra.join("`, `")
            ));
        }
        Ok(())
    }
}

/// Where a run stands, as saved in each checkpoint's metadata alongside the slots.
struct Progress {
    /// Iterations completed: the next one to run.
    iteration: u64,
    env_steps: u64,
    wall_s: f64,
}

impl Progress {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "wall_s": self.wall_s,
        })
    }

    fn from_json(meta: &serde_json::Value, file: &Path) -> Result<Progress, String> {
        let field = |k: &str| {
            meta.get(k).ok_or_else(|| {
                format!("`{}`: the checkpoint metadata has no `{k}`", file.display())
            })
        };
        let int = |k: &str| {
            field(k)?
                .as_u64()
                .ok_or_else(|| format!("`{}`: `{k}` is not a non-negative integer", file.display()))
        };
        Ok(Progress {
            iteration: int("iteration")?,
            env_steps: int("env_steps")?,
            // Only the wall clock column depends on it: a missing one is not worth failing.
            wall_s: field("wall_s").ok().and_then(|v| v.as_f64()).unwrap_or(0.0),
        })
    }
}

/// The saved tensor for `slot`, if it is there with the slot's dtype and shape; the
/// error names the file (`what` says which kind) and says why it does not fit.
fn saved_slot<'t>(
    file: &Path,
    slot: &crate::program::Slot,
    found: Option<&'t Tensor>,
    what: &str,
) -> Result<&'t Tensor, String> {
    let t = found.ok_or_else(|| {
        format!(
            "`{}`: the {what} has no `{}` ({}), which the program needs; it was saved by a different program",
            file.display(),
            slot.name,
            slot.ty
        )
    })?;
    if t.dtype() != slot.ty.dtype || t.shape() != slot.ty.shape.as_slice() {
        return Err(format!(
            "`{}`: `{}` is {} in the {what} but {} in the program",
            file.display(),
            slot.name,
            TensorType::new(t.dtype(), t.shape()),
            slot.ty
        ));
    }
    Ok(t)
}

/// Runs the whole loop with a progress bar and, with a run directory, `metrics.csv`,
/// periodic checkpoints with plots, and at the end a last checkpoint, the plots and
/// `params.npz` (see [`crate::rundir`]). With `opts.resume` it continues the run in
/// `opts.out` from its latest checkpoint; the result is bit-identical to a run that was
/// never interrupted, because every random draw is keyed by the iteration counter and
/// everything else that changes is a slot in the checkpoint.
///
/// On an error (a NaN, a full disk) the run stops; checkpoints already written are left
/// as they are, so the last good one can be resumed from or inspected.
pub fn train(
    c: &Compiled,
    opts: &RunOptions,
    sources: Option<&SourceMap>,
) -> Result<Summary, String> {
    train_from(Trainer::with_sources(c, sources)?, opts, sources)
}

/// [`train`] from a trainer made with [`Trainer::new`]: the command line makes it
/// first, so a program whose state cannot be allocated stops before its run directory
/// is written.
pub fn train_from(
    trainer: Trainer,
    opts: &RunOptions,
    sources: Option<&SourceMap>,
) -> Result<Summary, String> {
    train_with(trainer, opts, sources, &mut |_| true)
}

/// What [`train_with`]'s hook sees after each iteration.
#[derive(Debug, Clone, Copy)]
pub struct IterationEnd<'a> {
    /// The iteration just completed (counted from 0).
    pub iteration: u64,
    /// Environment steps so far, counting those before a resume.
    pub env_steps: u64,
    /// Seconds of training so far, counting those before a resume.
    pub wall_s: f64,
    /// The iteration's logged metrics, by name.
    pub metrics: &'a [(String, f64)],
}

/// [`train_from`] with a hook called after every iteration (after its metrics are
/// written). The hook returning `false` ends the run there, early but cleanly: unlike
/// [`RunOptions::stop_after`] the end-of-run outputs are written (a checkpoint after the
/// last iteration run, which `--resume` continues from, the plots and `params.npz`),
/// and the summary says `finished: false`.
pub fn train_with(
    mut trainer: Trainer,
    opts: &RunOptions,
    sources: Option<&SourceMap>,
    on_iteration: &mut dyn FnMut(&IterationEnd) -> bool,
) -> Result<Summary, String> {
    let c = trainer.c;
    let p = &c.program;
    let names: Vec<&str> = p.metrics.iter().map(|m| m.name.as_str()).collect();
    let mut at = Progress {
        iteration: 0,
        env_steps: 0,
        wall_s: 0.0,
    };
    let mut resumed_from = None;
    let mut board = None;
    let mut writer = match &opts.out {
        None if opts.resume => return Err("resuming needs a run directory".into()),
        None => None,
        Some(dir) => {
            rundir::create_dir(dir, "run directory")?;
            // Before training, so that a file in its way stops the run now rather than
            // at the first checkpoint, after the training it would have saved.
            rundir::create_dir(&dir.join(rundir::CHECKPOINTS), "checkpoint directory")?;
            let csv = dir.join(rundir::METRICS);
            if opts.resume {
                at = resume_into(&mut trainer, dir)?;
                resumed_from = Some(at.iteration);
            }
            let hparams = crate::hparams::collect(opts.settings.as_ref(), p);
            crate::hparams::write(dir, &hparams)?;
            if opts.tensorboard {
                let w = crate::tensorboard::EventWriter::open(dir, p, !opts.resume, &hparams)?;
                board = Some(w);
            }
            let mut w = match at.iteration {
                0 => MetricsWriter::create(&csv, &names),
                n => MetricsWriter::resume(&csv, &names, n - 1),
            }
            .map_err(|e| e.to_string())?;
            // One `write` per period rather than per iteration (flushed before every
            // checkpoint and plot, and at the end): see `rlp_runtime::metrics`.
            let hold = std::time::Duration::try_from_secs_f64(opts.metrics_hold_s.max(0.0))
                .unwrap_or(std::time::Duration::MAX);
            w.hold_rows(hold).map_err(|e| e.to_string())?;
            Some(w)
        }
    };
    let end = opts
        .stop_after
        .map_or(p.iterations, |k| k.min(p.iterations));
    let bar = progress_bar(p.iterations, at.iteration, opts.quiet);
    let t0 = Instant::now();
    let wall0 = at.wall_s;
    let mut last_checkpoint = resumed_from;
    let mut last_save = Instant::now();
    let mut last = vec![];
    let mut stopped = false;
    for it in at.iteration..end {
        let steps = trainer.step(it, sources).map_err(|e| {
            if let Some(b) = &bar {
                b.abandon();
            }
            stopped_message(e, opts.out.as_deref(), last_checkpoint)
        })?;
        at = Progress {
            iteration: it + 1,
            env_steps: at.env_steps + steps,
            wall_s: wall0 + t0.elapsed().as_secs_f64(),
        };
        let values = trainer.metric_values();
        if let Some(w) = writer.as_mut() {
            w.write_row(it, at.env_steps, at.wall_s, &values)
                .map_err(|e| e.to_string())?;
        }
        if let Some(b) = board.as_mut() {
            b.log(it, at.env_steps, &values)?;
        }
        last = names
            .iter()
            .map(|n| n.to_string())
            .zip(values.iter().copied())
            .collect();
        if let Some(b) = &bar {
            b.set_position(it + 1);
            b.set_message(format_metrics(&last));
        }
        let go_on = on_iteration(&IterationEnd {
            iteration: it,
            env_steps: at.env_steps,
            wall_s: at.wall_s,
            metrics: &last,
        });
        if !go_on {
            stopped = true;
            break;
        }
        let due = opts.checkpoint_every > 0
            && at.iteration.is_multiple_of(opts.checkpoint_every)
            && last_save.elapsed().as_secs_f64() >= opts.checkpoint_min_s;
        if let Some(dir) = &opts.out
            && due
            && at.iteration < p.iterations
        {
            flush_metrics(&mut writer)?;
            save_checkpoint(dir, &trainer, &at, opts.keep_checkpoints)?;
            crate::plot::write_learning_curves(dir, &dir.join(rundir::METRICS))?;
            last_checkpoint = Some(at.iteration);
            last_save = Instant::now();
        }
    }
    let finished = end == p.iterations && !stopped;
    if let Some(b) = bar {
        if finished {
            b.finish();
        } else {
            b.abandon();
        }
    }
    flush_metrics(&mut writer)?;
    if (finished || stopped)
        && let Some(dir) = &opts.out
    {
        // An already-finished run that is resumed only rewrites its outputs; one its
        // hook stopped gets them where it stopped, and `--resume` continues from there.
        save_checkpoint(dir, &trainer, &at, opts.keep_checkpoints)?;
        rlp_runtime::io::save_npz(&dir.join(rundir::PARAMS), &trainer.try_params()?)
            .map_err(|e| e.to_string())?;
        crate::plot::write_learning_curves(dir, &dir.join(rundir::METRICS))?;
    }
    Ok(Summary {
        iterations: at.iteration,
        env_steps: at.env_steps,
        wall_s: at.wall_s,
        last,
        resumed_from,
        finished,
    })
}

/// Default [`RunOptions::metrics_hold_s`]: a `write` per 0.1 s rather than per
/// iteration, which in a step-wise program costs about a microsecond of each few.
pub const DEFAULT_METRICS_HOLD_S: f64 = 0.1;

/// Writes the metrics rows being held, so the file is whole for a checkpoint or a plot.
fn flush_metrics(writer: &mut Option<MetricsWriter>) -> Result<(), String> {
    writer
        .as_mut()
        .map_or(Ok(()), |w| w.flush().map_err(|e| e.to_string()))
}

/// Loads the latest checkpoint of the run in `dir` into `trainer`.
fn resume_into(trainer: &mut Trainer, dir: &Path) -> Result<Progress, String> {
    let ckpts = dir.join(rundir::CHECKPOINTS);
    let found = checkpoint::load_newest_intact(&ckpts)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "`{}` has no checkpoint to resume from (the run stopped before its first one)",
                ckpts.display()
            )
        })?;
    for note in &found.notes {
        eprintln!("warning: {note}");
    }
    let (step, state, meta) = found.checkpoint;
    let npz = checkpoint::npz_path(&ckpts, step);
    let at = Progress::from_json(&meta, &checkpoint::meta_path(&ckpts, step))?;
    let total = trainer.c.program.iterations;
    if at.iteration != step || step > total {
        return Err(format!(
            "`{}`: the checkpoint is after iteration {}, which does not fit a run of {total}",
            npz.display(),
            at.iteration
        ));
    }
    trainer.restore(&state, &npz)?;
    Ok(at)
}

/// `e`, plus where the last good checkpoint is, so the user knows what survived.
fn stopped_message(e: String, out: Option<&Path>, last_checkpoint: Option<u64>) -> String {
    match (out, last_checkpoint) {
        (Some(dir), Some(step)) => format!(
            "{e}\nthe last good checkpoint, after {step} iterations, is kept: {}",
            checkpoint::npz_path(&dir.join(rundir::CHECKPOINTS), step).display()
        ),
        _ => e,
    }
}

fn save_checkpoint(dir: &Path, t: &Trainer, at: &Progress, keep: usize) -> Result<(), String> {
    checkpoint::save_checkpoint(
        &dir.join(rundir::CHECKPOINTS),
        at.iteration,
        &t.try_state()?,
        &at.to_json(),
        keep,
    )
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// `stage `NAME` failed: …` for an error running `stage`, with where the failing op is
/// written when the backend knows it, and the machine's memory when it ran out.
fn stage_error(stage: &Stage, e: &rlp_runtime::RunError, sources: Option<&SourceMap>) -> String {
    format!(
        "stage `{}` failed: {}",
        stage.kind.name(),
        run_error(e, sources)
    )
}

/// A runtime error with where the failing op is written when the backend knows it, and
/// the machine's memory when it ran out.
pub(crate) fn run_error(e: &rlp_runtime::RunError, sources: Option<&SourceMap>) -> String {
    let mut msg = e.to_string();
    if let (Some(m), Some(o)) = (sources, e.origin) {
        let loc = crate::nonfinite::to_loc(rlp_ir::Origin {
            file: o.file,
            start: o.start,
            end: o.end,
            called_from: o.called_from,
        });
        msg.push_str(&format!("\n  at {}\n", m.describe(loc)));
        msg.push_str(&crate::nonfinite::source_excerpt(m, loc));
        if let Some(site) = o.called_from {
            msg.push_str(&crate::nonfinite::called_from(m, site));
        }
    }
    if e.message.starts_with("out of memory") {
        msg.push_str(&format!(
            "\n  (this machine has {}; `rlpc check` estimates what a program needs)",
            rlp_runtime::memory::machine_memory().map_or(
                "an unknown amount of memory".into(),
                rlp_runtime::memory::format_bytes
            )
        ));
    }
    msg
}

/// Whether `t` holds no ±Inf (NaN allowed): the check for slots where NaN means "no
/// value yet", which are small (one value per environment, or a metric).
fn no_infinities(t: &Tensor) -> bool {
    t.to_f64_vec().iter().all(|v| !v.is_infinite())
}

/// `return 187.3  loss 0.0123`: each metric with about four significant digits; a NaN
/// (no value yet, as a return before any episode ended) as `return –`.
fn format_metrics(metrics: &[(String, f64)]) -> String {
    metrics
        .iter()
        .map(|(n, v)| {
            let a = v.abs();
            if v.is_nan() {
                format!("{n} –")
            } else if a != 0.0 && !(1e-3..1e5).contains(&a) {
                format!("{n} {v:.3e}")
            } else {
                let decimals = if a == 0.0 {
                    0
                } else {
                    (3 - a.log10().floor() as i32).clamp(0, 4) as usize
                };
                format!("{n} {v:.decimals$}")
            }
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// A bar over all of the program's iterations, starting at `start` when resuming (the
/// ETA counts only the iterations this process runs).
fn progress_bar(n: u64, start: u64, quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet {
        return None;
    }
    let b = indicatif::ProgressBar::new(n);
    let style = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} it  {rate}  eta {eta}  {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .with_key(
        "rate",
        move |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            // indicatif's own rate of a finished bar counts the resumed-over iterations.
            let rate = if s.is_finished() {
                (s.pos() - start.min(s.pos())) as f64 / s.elapsed().as_secs_f64().max(1e-9)
            } else {
                s.per_sec()
            };
            let _ = write!(w, "{rate:.1} it/s");
        },
    )
    .progress_chars("=> ");
    b.set_style(style);
    // Through the estimator, then restart its clock: the rate and ETA count only the
    // iterations this process runs.
    b.set_position(start);
    b.reset_eta();
    Some(b)
}

#[cfg(test)]
mod tests {
    use super::format_metrics;

    /// A NaN metric (no episode has ended yet) shows as a dash on the progress bar.
    #[test]
    fn progress_shows_a_missing_value_as_a_dash() {
        let m = [
            ("return".to_string(), f64::NAN),
            ("loss".to_string(), 0.0123),
        ];
        assert_eq!(format_metrics(&m), "return –  loss 0.0123");
    }
}
