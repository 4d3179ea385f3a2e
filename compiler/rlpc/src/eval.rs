//! `rlpc eval`: run the saved policy of a run directory and report episode returns.
//!
//! The run's program (`program.rlp`) is compiled again with its `train` block replaced
//! by an evaluation loop written as `.rlp` text ([`eval_source`]):
//!
//! ```text
//! __eval_policy = obs -> { __eval_d = POLICY(obs); { sample: __eval_d.mode } }
//! train iterations: 1 {
//!   sample __eval_batch = rollout(ENV, __eval_policy, steps: ENV.max_steps)
//!   log return = nanmean(ENV.episode_return)
//! }
//! ```
//!
//! (with `--stochastic` the rollout uses `POLICY` itself, so actions are sampled).
//! The rollouts run with the iteration counter where the run's training ended (its last
//! checkpoint's iteration, then one more per rollout), so whatever the program computes
//! from `iteration` — an ε-greedy policy's `linear_schedule` — has its trained value,
//! not its first. The top-level bindings are the same as in training, so the Param slots have the same
//! names and are loaded from `params.npz` ([`crate::run::Trainer::restore_params`]);
//! the other state training left (a value table or normaliser statistics the policy
//! reads) from the run's last checkpoint
//! ([`crate::run::Trainer::restore_state_where`]); the environments' state and the
//! random streams come from the init graph with the run's seed, so episodes start fresh.
//!
//! **What is measured.** Each round is one rollout of `max_steps` steps of all `N`
//! environments; the environments keep their state between rounds, as in training.
//! Because an episode is truncated after `max_steps` steps, every environment finishes
//! at least one episode per round, so `ceil(K / N)` rounds give every environment at
//! least `ceil(K / N)` complete episodes. The `K` returns reported are the first
//! complete episode of environments `0..N`, then the second of each, and so on until
//! `K` are taken — so short episodes are not favoured over long ones.

use crate::diag::render_fancy;
use crate::program::SlotKind;
use crate::run::{self, Backend, Trainer};
use crate::rundir;
use rlp_ir::{DType, Tensor};
use rlp_runtime::dataset::Dataset;
use rlp_syntax::ast::{ExprKind, Item, StmtKind, UseTarget};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Episodes to report (at least 1).
    pub episodes: usize,
    /// Sample actions from the policy's distribution instead of taking its mode.
    pub stochastic: bool,
    /// The top-level binding holding the policy (`obs -> distribution`).
    pub policy: String,
    /// The top-level binding holding the environment.
    pub env: String,
    /// Act on the mode, but take a uniformly random action with this probability
    /// (`std.explore.epsilon_random_policy`; `rlpc collect --epsilon`).
    pub epsilon: Option<f64>,
    /// The first episode will be drawn (`rlpc eval --frames/--gif`): refuse an environment
    /// with no renderer before evaluating, not after.
    pub render: bool,
    /// The value of the iteration counter (`iteration`) while the policy acts, and so of
    /// anything computed from it, such as a `linear_schedule`'s ε. `None`: for a run
    /// directory, the iteration its training ended at (its last checkpoint's), so a
    /// schedule reads its final value; for [`evaluate_program`], 0.
    pub iteration: Option<u64>,
}

impl Default for EvalOptions {
    fn default() -> EvalOptions {
        EvalOptions {
            episodes: 10,
            stochastic: false,
            policy: "policy".into(),
            env: "env".into(),
            epsilon: None,
            render: false,
            iteration: None,
        }
    }
}

/// The result of an evaluation.
#[derive(Debug, Clone)]
pub struct EvalReport {
    /// The `K` episode returns, in the order described in the module documentation.
    pub returns: Vec<f64>,
    /// The length (steps) of each of those episodes.
    pub lengths: Vec<u64>,
    /// Environments stepped together.
    pub envs: usize,
    /// Rollouts run, each of `steps` steps.
    pub rounds: u64,
    pub steps: usize,
    /// The name of the function that built the environment (`cartpole`), if the
    /// environment binding is a plain call.
    pub env_constructor: Option<String>,
    /// Observations of environment 0's first episode: the one before each step, then
    /// the last one (before the reset).
    pub first_episode_obs: Vec<Vec<f64>>,
    /// Actions of environment 0's first episode, one per step.
    pub first_episode_actions: Vec<Vec<f64>>,
    /// The iteration counter's value while the policy acted (the first rollout's; the
    /// `k`-th rollout runs at this plus `k`).
    pub iteration: u64,
}

impl EvalReport {
    pub fn mean(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len().max(1) as f64
    }
    /// Population standard deviation (ddof 0).
    pub fn std(&self) -> f64 {
        let m = self.mean();
        (self.returns.iter().map(|r| (r - m) * (r - m)).sum::<f64>()
            / self.returns.len().max(1) as f64)
            .sqrt()
    }
    pub fn min(&self) -> f64 {
        self.returns.iter().copied().fold(f64::INFINITY, f64::min)
    }
    pub fn max(&self) -> f64 {
        self.returns
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The evaluation program: `source` with its `train` block cut out and the evaluation
/// loop appended, with the environment's constructor name when known. Errors
/// when `opts.policy` or `opts.env` is not a top-level binding of `source`.
pub fn eval_source(source: &str, file: &Path, opts: &EvalOptions) -> Result<EvalSource, String> {
    let module = rlp_syntax::parse(source)
        .map_err(|e| format!("`{}` does not parse: {e}", file.display()))?;
    let mut names: Vec<String> = vec![];
    let mut imported: Vec<String> = vec![];
    let mut constructor: Option<String> = None;
    let mut cut = vec![];
    for item in &module.items {
        match item {
            Item::Train(t) => cut.push(t.span),
            Item::Stmt(s) => {
                if let StmtKind::Let {
                    names: ns, value, ..
                } = &s.kind
                {
                    for n in ns {
                        names.push(n.name.clone());
                        if n.name == opts.env && ns.len() == 1 {
                            constructor = callee_name(&value.kind);
                        }
                    }
                }
            }
            Item::Use(u) => {
                if let Some(ns) = &u.names {
                    imported.extend(ns.iter().map(|n| n.name.clone()));
                } else if let UseTarget::Path(p) = &u.target
                    && let Some(last) = p.last()
                {
                    imported.push(last.name.clone());
                }
            }
            Item::Fn(_) => {}
        }
    }
    for (what, name) in [("policy", &opts.policy), ("environment", &opts.env)] {
        if !is_ident(name) {
            return Err(format!("`{name}` is not a name (--{})", flag(what)));
        }
        if !names.contains(name) && !imported.contains(name) {
            let mut known = names.clone();
            known.sort();
            known.dedup();
            return Err(format!(
                "`{}` has no top-level binding `{name}` for the {what} (choose one with --{}; \
                 its bindings are: {})",
                file.display(),
                flag(what),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
    }
    let mut text = String::with_capacity(source.len() + 400);
    let mut at = 0;
    for span in cut {
        text.push_str(&source[at..span.start as usize]);
        at = span.end as usize;
    }
    text.push_str(&source[at..]);
    let generated = text.len();
    let (policy, env) = (&opts.policy, &opts.env);
    let used_policy = if let Some(eps) = opts.epsilon {
        text.push_str(&format!(
            "\nuse std.explore.{{epsilon_random_policy}}\n__eval_policy = epsilon_random_policy({policy}, {env}, {eps:?})\n"
        ));
        "__eval_policy".to_string()
    } else if opts.stochastic {
        policy.clone()
    } else {
        text.push_str(&format!(
            "\n__eval_policy = obs -> {{ __eval_d = {policy}(obs); \
             {{ sample: __eval_d.mode }} }}\n"
        ));
        "__eval_policy".to_string()
    };
    text.push_str(&format!(
        "\ntrain iterations: 1 {{\n  sample __eval_batch = rollout({env}, {used_policy}, steps: {env}.max_steps)\n  log __eval_return = nanmean({env}.episode_return)\n}}\n"
    ));
    Ok(EvalSource {
        text,
        constructor,
        generated,
    })
}

/// The evaluation program's text ([`eval_source`]).
pub struct EvalSource {
    pub text: String,
    /// The environment's constructor name, when known.
    pub constructor: Option<String>,
    /// Where the appended evaluation loop starts in `text`: an error there is about
    /// the `--policy` / `--env` bindings, not about a line the user wrote.
    pub generated: usize,
}

fn flag(what: &str) -> &'static str {
    if what == "policy" { "policy" } else { "env" }
}

fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `cartpole` for `cartpole(envs: 4)` or `std.env.cartpole(…)`.
fn callee_name(e: &ExprKind) -> Option<String> {
    let ExprKind::Call { callee, .. } = e else {
        return None;
    };
    match &callee.kind {
        ExprKind::Name(i) => Some(i.name.clone()),
        ExprKind::Field { name, .. } => Some(name.name.clone()),
        _ => None,
    }
}

/// Evaluates the run in `dir` (see the module documentation).
pub fn evaluate(dir: &Path, opts: &EvalOptions) -> Result<EvalReport, String> {
    let run = SavedRun::load(dir)?;
    play(
        &run.source,
        &run.base,
        &dir.join(rundir::PROGRAM),
        &run.modules,
        run.seed,
        &run.overrides,
        &run.params,
        &run.params_path,
        run.state.as_ref(),
        &run.at(opts),
        false,
    )
    .map(|(r, _)| r)
}

/// Records `opts.episodes` episodes of the run in `dir`'s policy as a dataset
/// (`rlpc collect`): the same episodes, in the same order, as [`evaluate`] reports.
pub fn collect(dir: &Path, opts: &EvalOptions) -> Result<(EvalReport, Dataset), String> {
    let run = SavedRun::load(dir)?;
    let (report, data) = play(
        &run.source,
        &run.base,
        &dir.join(rundir::PROGRAM),
        &run.modules,
        run.seed,
        &run.overrides,
        &run.params,
        &run.params_path,
        run.state.as_ref(),
        &run.at(opts),
        true,
    )?;
    Ok((report, data.expect("recorded")))
}

/// What evaluating a finished run needs from its directory.
struct SavedRun {
    source: String,
    /// The file relative imports resolve from.
    base: PathBuf,
    /// The user modules it `use`s, as they were when it ran (`rundir::load_modules`).
    modules: HashMap<PathBuf, String>,
    seed: u64,
    overrides: Vec<(String, String)>,
    params: Vec<(String, Tensor)>,
    params_path: PathBuf,
    /// The iteration training ended at ([`rundir::final_iteration`]).
    iteration: u64,
    /// The state of the run's last checkpoint and its file, when there is one.
    state: Option<(Vec<(String, Tensor)>, PathBuf)>,
}

impl SavedRun {
    /// `opts`, acting at the iteration the run ended at unless they say otherwise.
    fn at(&self, opts: &EvalOptions) -> EvalOptions {
        EvalOptions {
            iteration: Some(opts.iteration.unwrap_or(self.iteration)),
            ..opts.clone()
        }
    }

    fn load(dir: &Path) -> Result<SavedRun, String> {
        let (source, settings) = rundir::load(dir)?;
        let params_path = dir.join(rundir::PARAMS);
        if !params_path.is_file() {
            return Err(format!(
                "`{}` is missing: the run has not finished (only a finished `rlpc run` saves \
             its parameters)",
                params_path.display()
            ));
        }
        let params = rlp_runtime::io::load_npz(&params_path).map_err(|e| e.to_string())?;
        let iteration = rundir::final_iteration(dir).unwrap_or(settings.iterations);
        // The state training left besides the parameters (a value table that the
        // policy reads, an observation normaliser's statistics): the last checkpoint's,
        // saved with `params.npz` when the run ended.
        let ckpts = dir.join(rundir::CHECKPOINTS);
        let state = rlp_runtime::checkpoint::load_latest(&ckpts)
            .map_err(|e| e.to_string())?
            .map(|(step, state, _)| (state, rlp_runtime::checkpoint::npz_path(&ckpts, step)));
        // The saved text is compiled as the file it was trained from, at its absolute
        // path when the run recorded its directory, so that relative `use "./…"`
        // imports and `dataset(…)` paths resolve as they did in training, whatever the
        // working directory (as `rlpc run --resume` does).
        Ok(SavedRun {
            source,
            base: settings.program_path(),
            iteration,
            modules: rundir::load_modules(dir)?,
            seed: settings.seed,
            overrides: settings.overrides(),
            params,
            params_path,
            state,
        })
    }
}

/// Evaluates `source` (the text of the program file `file`, whose directory relative
/// imports are resolved from) with the parameters `params` (read from `params_file`,
/// which errors name). The same as [`evaluate`] without a run directory.
pub fn evaluate_program(
    source: &str,
    file: &Path,
    seed: u64,
    overrides: &[(String, String)],
    params: &[(String, Tensor)],
    params_file: &Path,
    opts: &EvalOptions,
) -> Result<EvalReport, String> {
    play(
        source,
        file,
        file,
        &HashMap::new(),
        seed,
        overrides,
        params,
        params_file,
        None,
        opts,
        false,
    )
    .map(|(r, _)| r)
}

/// Runs the evaluation; with `record`, also keeps every transition of the episodes
/// reported, as a dataset. `source` is compiled as `file` (relative imports resolve from
/// it); errors in the text name `shown` (a run directory's saved `program.rlp`).
#[allow(clippy::too_many_arguments)]
fn play(
    source: &str,
    file: &Path,
    shown: &Path,
    modules: &HashMap<PathBuf, String>,
    seed: u64,
    overrides: &[(String, String)],
    params: &[(String, Tensor)],
    params_file: &Path,
    state: Option<&(Vec<(String, Tensor)>, PathBuf)>,
    opts: &EvalOptions,
    record: bool,
) -> Result<(EvalReport, Option<Dataset>), String> {
    if opts.episodes == 0 {
        return Err("--episodes must be at least 1".into());
    }
    let EvalSource {
        text,
        constructor,
        generated,
    } = eval_source(source, shown, opts)?;
    // The batch is read from the trainer's slots, not by a stage: keep it.
    let keep = crate::sema::Options {
        keep_unread: true,
        ..Default::default()
    };
    // Compiled as `file` itself, so relative imports and dataset paths resolve from its
    // directory.
    let (program, sources) =
        crate::front_end_saved(file, &text, modules.clone(), seed, overrides, keep).map_err(
            |(diags, sources)| {
                let in_generated = |d: &crate::diag::Diag| {
                    d.labels.first().is_some_and(|l| {
                        l.loc.span.start as usize >= generated
                            && sources.text(l.loc.file).as_ref() == text.as_str()
                    })
                };
                match diags.iter().find(|d| in_generated(d)) {
                    // The quoted lines would be code the user never wrote.
                    Some(d) => format!(
                        "`{}` cannot act in `{}`: {} (`rlpc {}` calls the --policy \
                         binding on a batch of observations and acts on the `.mode` of the \
                         distribution it returns, or its `.sample` with --stochastic; the \
                         --env binding must be an environment)",
                        opts.policy,
                        opts.env,
                        d.message,
                        if record { "collect" } else { "eval" }
                    ),
                    None => format!(
                        "the evaluation program does not compile:\n{}",
                        render_fancy(&diags, &sources)
                    ),
                }
            },
        )?;
    let compiled = run::compile(program, Backend::Jit)?;
    let mut trainer = Trainer::with_sources(&compiled, Some(&sources))?;
    if let Some((saved, file)) = state {
        // Everything but the environments, which start fresh episodes (their slots are
        // named after their binding: `env.state`, `env.episode_return`, …).
        let envs: Vec<String> = compiled
            .program
            .slots
            .iter()
            .filter_map(|s| s.name.strip_suffix(".episode_return_so_far"))
            .map(|owner| format!("{owner}."))
            .collect();
        trainer.restore_state_where(saved, file, |name| {
            envs.iter().any(|prefix| name.starts_with(prefix.as_str()))
        })?;
    }
    trainer.restore_params(params, params_file)?;
    let slot = |field: &str| {
        let name = format!("tmp.__eval_batch.{field}");
        compiled
            .program
            .slots
            .iter()
            .position(|s| s.name == name && s.kind == SlotKind::Transient)
            .ok_or_else(|| format!("internal error: the evaluation rollout has no `{name}`"))
    };
    let (obs_s, act_s, ret_s, done_s, next_s) = (
        slot("obs")?,
        slot("action")?,
        slot("episode_return")?,
        slot("done")?,
        slot("next_obs")?,
    );
    let shape = compiled.program.slots[ret_s].ty.shape.clone();
    let (steps, envs) = (shape[0], shape[1].max(1));
    let obs_shape = &compiled.program.slots[obs_s].ty.shape;
    let obs_w: usize = obs_shape[2..].iter().product();
    let act_w: usize = compiled.program.slots[act_s].ty.shape[2..].iter().product();
    if opts.render {
        crate::render::Scene::choose(constructor.as_deref(), obs_w, &opts.env)?;
    }
    let per_env = opts.episodes.div_ceil(envs);
    let rounds = per_env as u64;
    // Per environment: the (return, length) of each complete episode, in order.
    let mut episodes: Vec<Vec<(f64, u64)>> = vec![vec![]; envs];
    let mut running = vec![0u64; envs];
    let mut first_obs = vec![];
    let mut first_act = vec![];
    let mut recording = true;
    let mut recorder = if record {
        let mut fields = vec![];
        for name in [
            "obs",
            "action",
            "reward",
            "next_obs",
            "terminated",
            "truncated",
            "log_prob",
        ] {
            // A deterministic policy has no log-probability to record.
            match slot(name) {
                Ok(s) => fields.push((name, s)),
                Err(e) if name != "log_prob" => return Err(e),
                Err(_) if opts.stochastic || opts.epsilon.is_some() => eprintln!(
                    "note: the policy gives no log-probability of its actions (it is \
                     deterministic, or samples them without a density, as an ε-greedy or \
                     noise-adding policy does), so the dataset has no `log_probs`"
                ),
                Err(_) => {}
            }
        }
        Some(Recorder::new(&compiled.program, fields, envs))
    } else {
        None
    };
    let first = opts.iteration.unwrap_or(0);
    for it in first..first + rounds {
        trainer.step(it, None)?;
        if let Some(r) = &mut recorder {
            r.round(&trainer, steps, &trainer.slots[done_s].to_f64_vec());
        }
        let ret = trainer.slots[ret_s].to_f64_vec();
        let done = trainer.slots[done_s].to_f64_vec();
        let (obs, act, next) = if recording {
            (
                trainer.slots[obs_s].to_f64_vec(),
                trainer.slots[act_s].to_f64_vec(),
                trainer.slots[next_s].to_f64_vec(),
            )
        } else {
            (vec![], vec![], vec![])
        };
        for t in 0..steps {
            if recording {
                let o = (t * envs) * obs_w;
                first_obs.push(obs[o..o + obs_w].to_vec());
                let a = (t * envs) * act_w;
                first_act.push(act[a..a + act_w.max(1)].to_vec());
                if done[t * envs] != 0.0 {
                    first_obs.push(next[o..o + obs_w].to_vec());
                    recording = false;
                }
            }
            for e in 0..envs {
                running[e] += 1;
                if done[t * envs + e] != 0.0 {
                    episodes[e].push((ret[t * envs + e], running[e]));
                    running[e] = 0;
                }
            }
        }
    }
    let mut returns = vec![];
    let mut lengths = vec![];
    'take: for j in 0..per_env {
        for eps in &episodes {
            if returns.len() == opts.episodes {
                break 'take;
            }
            let Some(&(r, l)) = eps.get(j) else {
                return Err(format!(
                    "internal error: an environment finished fewer than {per_env} episodes \
                     in {rounds} rollouts of {steps} steps"
                ));
            };
            returns.push(r);
            lengths.push(l);
        }
    }
    let data = match recorder {
        Some(r) => Some(r.dataset(opts.episodes, per_env)?),
        None => None,
    };
    let report = EvalReport {
        returns,
        lengths,
        envs,
        rounds,
        steps,
        env_constructor: constructor,
        first_episode_obs: first_obs,
        first_episode_actions: first_act,
        iteration: first,
    };
    Ok((report, data))
}

/// The transitions of each environment's episodes, kept while `collect` runs.
struct Recorder {
    /// The batch fields recorded: name, slot, elements per row, dtype and row shape.
    fields: Vec<(&'static str, usize, usize, DType, Vec<usize>)>,
    /// Per environment: the episode under way, one flat list of values per field.
    running: Vec<Vec<Vec<f64>>>,
    /// Per environment: its finished episodes, in order.
    finished: Vec<Vec<Vec<Vec<f64>>>>,
}

impl Recorder {
    fn new(
        p: &crate::program::Program,
        slots: Vec<(&'static str, usize)>,
        envs: usize,
    ) -> Recorder {
        let fields: Vec<_> = slots
            .into_iter()
            .map(|(name, s)| {
                let ty = &p.slots[s].ty;
                let row = ty.shape[2..].to_vec();
                (name, s, row.iter().product(), ty.dtype, row)
            })
            .collect();
        let empty = vec![vec![]; fields.len()];
        Recorder {
            running: vec![empty; envs],
            finished: vec![vec![]; envs],
            fields,
        }
    }

    /// Takes the `[steps, envs, …]` batch of the round that just ran.
    fn round(&mut self, trainer: &Trainer, steps: usize, done: &[f64]) {
        let envs = self.running.len();
        let values: Vec<Vec<f64>> = self
            .fields
            .iter()
            .map(|f| trainer.slots[f.1].to_f64_vec())
            .collect();
        for t in 0..steps {
            for e in 0..envs {
                for (k, f) in self.fields.iter().enumerate() {
                    let at = (t * envs + e) * f.2;
                    self.running[e][k].extend_from_slice(&values[k][at..at + f.2]);
                }
                if done[t * envs + e] != 0.0 {
                    let ep =
                        std::mem::replace(&mut self.running[e], vec![vec![]; self.fields.len()]);
                    self.finished[e].push(ep);
                }
            }
        }
    }

    /// The first `episodes` episodes in the order `evaluate` reports them: the first of
    /// each environment, then the second of each, …
    fn dataset(self, episodes: usize, per_env: usize) -> Result<Dataset, String> {
        let mut chosen = vec![];
        'take: for j in 0..per_env {
            for eps in &self.finished {
                if chosen.len() == episodes {
                    break 'take;
                }
                chosen.push(&eps[j]);
            }
        }
        let mut arrays = vec![];
        for (k, (name, _, width, dtype, row)) in self.fields.iter().enumerate() {
            let values: Vec<f64> = chosen.iter().flat_map(|ep| ep[k].iter().copied()).collect();
            let rows = values.len() / (*width).max(1);
            let shape: Vec<usize> = std::iter::once(rows).chain(row.iter().copied()).collect();
            arrays.push((
                rlp_runtime::dataset::file_name(name).to_string(),
                Tensor::from_f64(*dtype, &shape, &values),
            ));
        }
        Dataset::from_arrays(Path::new("the recording"), arrays).map_err(|e| e.to_string())
    }
}
