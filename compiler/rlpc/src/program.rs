//! The pipeline IR: what a `.rlp` program is once lowered.
//!
//! A program is a set of state **slots** (parameters, optimizer moments, environment
//! state, counters) and a list of **stages**, each one tensor graph that reads some slots
//! and writes some slots. An `init` graph computes every slot's first value; the train
//! loop then runs the stages in order once per iteration, each when its schedule says so.
//! Everything stateful is a slot, so a checkpoint is the slots, saved whole.

use crate::diag::Loc;
use rlp_ir::{Graph, TensorType};

/// Index of a slot in [`Program::slots`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// A trainable parameter (`param(…)` in a module).
    Param,
    /// Any other state that lives across iterations: optimizer moments, environment
    /// state, user state bound at top level.
    State,
    /// A value computed in one stage and read by a later one in the same iteration;
    /// not saved in checkpoints.
    Transient,
    /// Written by the runtime before each iteration: the iteration counter.
    Counter,
    /// Rows of a dataset file (`dataset(…)`): filled from [`Program::data`] when the
    /// trainer starts, read-only, not saved in checkpoints (the file is read again).
    Data,
}

#[derive(Clone, Debug)]
pub struct Slot {
    /// A stable, readable name: `policy.w0`, `opt.m.policy.w0`, `env.state`.
    pub name: String,
    pub ty: TensorType,
    pub kind: SlotKind,
    /// A NaN here means "no value yet", not a failure: an environment's
    /// `episode_return` before its first episode ends, and the transient values
    /// (metrics) computed from it ([`Program::mark_missing_values`]). The trainer's
    /// non-finite check lets NaN through here, but not ±Inf.
    pub nan_is_missing: bool,
    /// Starts as NaN rather than zero: a metric computed only by a periodic stage
    /// (`every K steps { … log … }`) has no value before that stage first runs
    /// ([`Program::keep_periodic_values`]).
    pub starts_missing: bool,
    /// For a slot made inside a library call (`mlp(…)`'s parameters): the outermost call,
    /// in the user's file — where diagnostics about the slot point.
    pub site: Option<Loc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    Init,
    Sample,
    Fit,
    Improve,
    Log,
}

impl StageKind {
    pub fn name(self) -> &'static str {
        match self {
            StageKind::Init => "init",
            StageKind::Sample => "sample",
            StageKind::Fit => "fit",
            StageKind::Improve => "improve",
            StageKind::Log => "log",
        }
    }
}

/// When a stage runs: every `period` iterations (counting from 0), once the iteration
/// is at least `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub period: u64,
    pub after: u64,
}

impl Schedule {
    pub const ALWAYS: Schedule = Schedule {
        period: 1,
        after: 0,
    };
    pub fn due(self, iteration: u64) -> bool {
        iteration >= self.after && (iteration - self.after).is_multiple_of(self.period)
    }
}

/// One graph of the loop.
#[derive(Clone, Debug)]
pub struct Stage {
    pub kind: StageKind,
    /// Where the stage is written, for errors ("NaN in stage `fit` at file:line").
    pub loc: Loc,
    pub schedule: Schedule,
    pub graph: Graph,
    /// `graph.inputs[i]` is the value of slot `reads[i]`.
    pub reads: Vec<SlotId>,
    /// `graph.outputs[i]` is the new value of slot `writes[i]`.
    pub writes: Vec<SlotId>,
    /// Environment steps this stage takes each time it runs.
    pub env_steps: u64,
    /// For a rollout of an external environment: `graph` is the policy, run once per
    /// environment step by the runtime, which exchanges actions and observations with the
    /// environment's worker processes in between.
    pub external: Option<ExternalRollout>,
    /// How the `for` and `repeat` statements of the stage were lowered, outermost
    /// first (for `rlpc explain`).
    pub loops: Vec<LoopNote>,
    /// Rows of state the stage rewrites in place, applied in order after its graph ran
    /// and its outputs were written.
    pub row_writes: Vec<RowWrite>,
}

/// `slot[index[m]] = rows[m]` (or `+=`, with `add`) for `m` in order: what a stage makes of
/// `state <- put(state, index, rows)` (`sema::inplace`). The graph computes only the
/// index and the rows, into two transient slots it writes; the trainer then rewrites
/// those rows of the state where it lies, so inserting a batch into a million-row buffer
/// costs the batch, not the buffer.
#[derive(Clone, Debug)]
pub struct RowWrite {
    /// The state written: not among the stage's `writes`.
    pub slot: SlotId,
    /// A transient `[M] i32` the stage writes.
    pub index: SlotId,
    /// A transient `[M, …]` the stage writes, the slot's rows' shape and dtype.
    pub rows: SlotId,
    pub add: bool,
    /// Where the `put` is written, for a row index out of range.
    pub origin: Option<rlp_ir::Origin>,
}

/// How a `for` or `repeat` statement inside a stage was lowered (`sema::loops`).
#[derive(Clone, Debug)]
pub struct LoopNote {
    /// `file:line:col` of the statement.
    pub at: String,
    /// The statement's first line (`for mb in minibatches(data, 4) {`).
    pub header: String,
    /// How many loops of the stage it is nested in.
    pub depth: usize,
    pub iterations: usize,
    pub lowering: LoopLowering,
}

#[derive(Clone, Debug)]
pub enum LoopLowering {
    /// One `Scan` node of the stage (or of the enclosing loop's body).
    Loop {
        /// What it carries from one iteration to the next: the slots the body writes,
        /// then the names it rebinds.
        carries: Vec<String>,
        /// Per-item tensors stacked along a leading axis, one slice per iteration.
        sequences: usize,
    },
    /// The body elaborated once per iteration, and why.
    Unrolled(String),
}

/// An environment outside the program (a Gymnasium environment, a user's simulator),
/// stepped by worker processes over the protocol of `docs/external-envs.md`.
#[derive(Clone, Debug)]
pub struct ExternalEnvDecl {
    /// The environment id the workers create (`CartPole-v1`).
    pub id: String,
    pub envs: usize,
    pub workers: usize,
    pub seed: u64,
    /// The spaces the program was compiled against, checked against the environment's
    /// own when its workers start.
    pub spec: rlp_runtime::external::EnvSpec,
    /// Whether the program declared `spec` in `gym(…)` (else a worker reported it at
    /// compile time).
    pub declared: bool,
    /// Whether `spec.max_steps` is known (declared or reported); else it is not checked.
    pub max_steps_known: bool,
}

impl ExternalEnvDecl {
    /// `Err` with a message naming the environment and both specs when `real` (what
    /// its workers report) is not the spec the program was compiled against.
    pub fn check(&self, real: &rlp_runtime::external::EnvSpec) -> Result<(), String> {
        // A Box action space of any shape is a flat vector of its size to a program.
        let flat = |s: &rlp_runtime::external::EnvSpec| {
            let mut s = s.clone();
            if let rlp_runtime::external::ActionSpace::Box { shape, .. } = &mut s.action {
                *shape = vec![shape.iter().product()];
            }
            s
        };
        let mut want = flat(&self.spec);
        if !self.max_steps_known {
            want.max_steps = real.max_steps;
        }
        if want == flat(real) {
            return Ok(());
        }
        let source = if self.declared {
            "the program declares"
        } else {
            "the program was compiled for"
        };
        Err(format!(
            "environment `{}`: {source} {}, but the environment has {}; {}",
            self.id,
            show_spec(&self.spec, self.max_steps_known),
            show_spec(real, true),
            if self.declared {
                "correct the spaces in `gym(…)`, or leave them out to read them from the environment when compiling"
            } else {
                "recompile the program"
            }
        ))
    }
}

/// `observations [4], 2 discrete actions, episodes of at most 500 steps`.
pub fn show_spec(s: &rlp_runtime::external::EnvSpec, with_max_steps: bool) -> String {
    use rlp_runtime::external::ActionSpace;
    let dims = |d: &[usize]| {
        format!(
            "[{}]",
            d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut out = format!("observations {}", dims(&s.obs_shape));
    match &s.action {
        ActionSpace::Discrete(n) => out.push_str(&format!(", {n} discrete actions")),
        ActionSpace::Box { shape, low, high } => {
            let bound = |v: &[f32]| {
                if !v.is_empty() && v.iter().all(|x| *x == v[0]) {
                    format!("{}", v[0])
                } else {
                    format!(
                        "[{}]",
                        v.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            };
            out.push_str(&format!(
                ", actions {} in [{}, {}]",
                dims(shape),
                bound(low),
                bound(high)
            ));
        }
    }
    if with_max_steps {
        match s.max_steps {
            Some(m) => out.push_str(&format!(", episodes of at most {m} steps")),
            None => out.push_str(", no episode step limit"),
        }
    }
    out
}

/// What one external rollout reads and writes. The policy graph reads the current
/// observations (`obs`) and the step index (`step`) and writes `action` (and
/// `log_prob`); after `steps` steps the runtime writes the stacked batch fields and the
/// episode statistics.
#[derive(Clone, Debug)]
pub struct ExternalRollout {
    /// Index into [`Program::externals`].
    pub env: usize,
    pub steps: usize,
    pub obs: SlotId,
    pub step: SlotId,
    pub action: SlotId,
    pub log_prob: Option<SlotId>,
    /// `[T, N, …]` outputs, by field.
    pub batch: Vec<(BatchField, SlotId)>,
    pub ep_return: SlotId,
    pub ep_len: SlotId,
    pub last_return: SlotId,
    pub last_length: SlotId,
}

/// The fields of a rollout's batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchField {
    Obs,
    Action,
    Reward,
    Terminated,
    Truncated,
    Done,
    NextObs,
    EpisodeReturn,
    LogProb,
    NotTerminated,
}

impl BatchField {
    pub const ALL: [BatchField; 10] = [
        BatchField::Obs,
        BatchField::Action,
        BatchField::Reward,
        BatchField::Terminated,
        BatchField::Truncated,
        BatchField::Done,
        BatchField::NextObs,
        BatchField::EpisodeReturn,
        BatchField::LogProb,
        BatchField::NotTerminated,
    ];
    /// The field's name in the batch record (the same as `rollout` of a `.rlp` env).
    pub fn name(self) -> &'static str {
        match self {
            BatchField::Obs => "obs",
            BatchField::Action => "action",
            BatchField::Reward => "reward",
            BatchField::Terminated => "terminated",
            BatchField::Truncated => "truncated",
            BatchField::Done => "done",
            BatchField::NextObs => "next_obs",
            BatchField::EpisodeReturn => "episode_return",
            BatchField::LogProb => "log_prob",
            BatchField::NotTerminated => "not_terminated",
        }
    }
}

/// A logged metric: the slot that holds it after the stages ran.
#[derive(Clone, Debug)]
pub struct Metric {
    pub name: String,
    pub slot: SlotId,
    /// The name in its `log` entry.
    pub at: Loc,
}

/// A whole lowered program.
#[derive(Clone, Debug)]
pub struct Program {
    pub slots: Vec<Slot>,
    /// Computes the first value of every non-transient slot; reads only the counter.
    pub init: Stage,
    pub stages: Vec<Stage>,
    pub metrics: Vec<Metric>,
    /// Number of loop iterations (`train iterations: N` / `train steps: N`).
    pub iterations: u64,
    /// `iterations` or `steps`, as written.
    pub unit: String,
    /// The counter slot holding the iteration index.
    pub counter: SlotId,
    /// External environments, started by the runtime when first stepped.
    pub externals: Vec<ExternalEnvDecl>,
    pub seed: u64,
    /// What the front end warned about (the program is fine to run); `check` and `run`
    /// print them.
    pub warnings: Vec<crate::diag::Diag>,
    /// The contents of the [`SlotKind::Data`] slots, read from their files at compile time.
    pub data: Vec<(SlotId, rlp_ir::Tensor)>,
    /// The top-level bindings that hold plain data (numbers, bools, strings and lists of
    /// them: what `--set` may override), by name in binding order, as resolved (after
    /// overrides): the program's hyperparameters, for `hparams.json` ([`crate::hparams`]).
    pub hyperparameters: Vec<(String, serde_json::Value)>,
    /// The data files the program read while it compiled (`dataset`, `pretrained`), as
    /// resolved, in the order read: a run records them to notice when one changes.
    pub files_read: Vec<std::path::PathBuf>,
}

impl Program {
    pub fn slot(&self, id: SlotId) -> &Slot {
        &self.slots[id.0 as usize]
    }

    /// Marks the transient slots (metrics included) whose value is computed from a
    /// slot where NaN means "no value yet": `mean(env.episode_return)` is NaN before
    /// any episode ended for the same reason. Stages run in order and a transient is
    /// read only after it is written in the same iteration, so one pass in order sees
    /// every dependency.
    pub fn mark_missing_values(&mut self) {
        for k in 0..=self.stages.len() {
            let stage = if k == 0 {
                &self.init
            } else {
                &self.stages[k - 1]
            };
            if stage.external.is_some() {
                continue;
            }
            let marked: Vec<bool> = stage
                .reads
                .iter()
                .map(|s| self.slots[s.0 as usize].nan_is_missing)
                .collect();
            if !marked.contains(&true) {
                continue;
            }
            let reach = reaches_from_inputs(&stage.graph, &marked);
            let writes: Vec<SlotId> = stage
                .writes
                .iter()
                .zip(&stage.graph.outputs)
                .filter(|(_, out)| reach[out.index()])
                .map(|(s, _)| *s)
                .collect();
            for s in writes {
                let slot = &mut self.slots[s.0 as usize];
                if slot.kind == SlotKind::Transient {
                    slot.nan_is_missing = true;
                }
            }
        }
    }

    /// Keeps across iterations — in checkpoints, so a resumed run logs what an
    /// uninterrupted one does — the values a periodic stage (`every K steps`) computes
    /// and something reads when that stage has not run: a metric (logged every
    /// iteration), a stage on another schedule, or one earlier in the iteration. Those
    /// slots become state; a float metric among them starts as NaN ("no value yet", a
    /// gap in the plot) instead of a zero that looks like a measurement.
    pub fn keep_periodic_values(&mut self) {
        let metrics: Vec<SlotId> = self.metrics.iter().map(|m| m.slot).collect();
        for (k, stage) in self.stages.iter().enumerate() {
            if stage.schedule == Schedule::ALWAYS {
                continue;
            }
            for s in &stage.writes {
                let readers: Vec<&Stage> = self
                    .stages
                    .iter()
                    .enumerate()
                    .filter(|(j, other)| {
                        other.reads.contains(s) && (other.schedule != stage.schedule || *j <= k)
                    })
                    .map(|(_, other)| other)
                    .collect();
                let read_elsewhere = !readers.is_empty();
                // Logged here, or only by `log` stages elsewhere (`log x = x` outside the
                // block that computes `x`): either way a value for the plot, not an input.
                let logged = metrics.contains(s)
                    || (read_elsewhere && readers.iter().all(|r| r.kind == StageKind::Log));
                let slot = &mut self.slots[s.0 as usize];
                if slot.kind != SlotKind::Transient || !(read_elsewhere || logged) {
                    continue;
                }
                slot.kind = SlotKind::State;
                if logged && slot.ty.dtype.is_float() {
                    slot.starts_missing = true;
                    slot.nan_is_missing = true;
                }
            }
        }
    }

    /// Stops writing the transient slots nothing reads — no stage, no metric: their
    /// stages drop those outputs, so the graphs stop computing them (a rollout whose
    /// observations no stage reads neither casts nor stores them). The slots stay, so
    /// ids are unchanged, but are never written. Stages of external rollouts are left
    /// alone (the runtime fills their batch).
    pub fn prune_unread_transients(&mut self) {
        let mut read: Vec<SlotId> = self.metrics.iter().map(|m| m.slot).collect();
        read.extend(self.stages.iter().flat_map(|s| s.reads.iter().copied()));
        read.extend(
            self.stages
                .iter()
                .flat_map(|s| s.row_writes.iter().flat_map(|w| [w.index, w.rows])),
        );
        let slots = &self.slots;
        let unread =
            |s: &SlotId| slots[s.0 as usize].kind == SlotKind::Transient && !read.contains(s);
        for stage in &mut self.stages {
            if stage.external.is_some() || !stage.writes.iter().any(unread) {
                continue;
            }
            let (writes, outputs) = stage
                .writes
                .iter()
                .zip(&stage.graph.outputs)
                .filter(|(s, _)| !unread(s))
                .map(|(&s, &o)| (s, o))
                .unzip();
            stage.writes = writes;
            stage.graph.outputs = outputs;
        }
        self.stages
            .retain(|s| !s.writes.is_empty() || s.external.is_some() || s.env_steps > 0);
    }
}

/// One line about a checked program: its parameters, state and stages.
pub fn summary(p: &Program) -> String {
    let count = |k: SlotKind| p.slots.iter().filter(move |s| s.kind == k);
    let params: usize = count(SlotKind::Param).map(|s| s.ty.numel()).sum();
    format!(
        "{} parameter tensors ({params} values), {} state tensors, {} stages, {} {}",
        count(SlotKind::Param).count(),
        count(SlotKind::State).count(),
        p.stages.len(),
        p.iterations,
        p.unit
    )
}

/// Which nodes of `g` depend on one of the inputs `from` marks (through any argument:
/// a scan depends on all of its inputs).
///
/// Through a scan, element by element: a carry or per-step output is reached only when
/// its own computation reads a reached argument (or a reached carry), so a rollout whose
/// episode-return carry starts as NaN marks that carry and what is computed from it,
/// not every field of the batch it stacks.
fn reaches_from_inputs(g: &rlp_ir::Graph, from: &[bool]) -> Vec<bool> {
    let mut reach = vec![false; g.nodes.len()];
    // The reach of each element of a scan node's tuple, by the scan's node index.
    let mut elements: std::collections::HashMap<usize, Vec<bool>> = Default::default();
    for (i, node) in g.nodes.iter().enumerate() {
        reach[i] = match &node.op {
            rlp_ir::Op::Input(k) => from.get(*k).copied().unwrap_or(false),
            rlp_ir::Op::Scan(scan) => {
                let args: Vec<bool> = node.args.iter().map(|a| reach[a.index()]).collect();
                let out = scan_reach(scan, &args);
                let any = out.iter().any(|&r| r);
                elements.insert(i, out);
                any
            }
            rlp_ir::Op::Project(k) => match elements.get(&node.args[0].index()) {
                Some(out) => out.get(*k).copied().unwrap_or(true),
                None => reach[node.args[0].index()],
            },
            _ => node.args.iter().any(|a| reach[a.index()]),
        };
    }
    reach
}

/// Which elements of a scan's tuple (`[final carries…, stacked outputs…]`) are reached,
/// given which of its arguments (`[carries…, sequences…, invariants…]`) are: the body's
/// reach, with a carry that the body reaches fed back until nothing changes.
fn scan_reach(scan: &rlp_ir::Scan, args: &[bool]) -> Vec<bool> {
    // Body inputs: the arguments in order (a sequence's slice stands for the sequence),
    // then the step index, which nothing marks.
    let mut inputs: Vec<bool> = args.to_vec();
    inputs.push(false);
    loop {
        let body = reaches_from_inputs(&scan.body, &inputs);
        let out: Vec<bool> = scan.body.outputs.iter().map(|o| body[o.index()]).collect();
        let mut changed = false;
        for k in 0..scan.n_carry {
            if out[k] && !inputs[k] {
                inputs[k] = true;
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
}
