//! `rollout`: the general primitive that runs a policy in an environment.

use super::builtins::Args;
use super::elab::{Elab, R};
use super::value::{Src, TVal, Value};
use crate::diag::{Diag, Loc};
use crate::program::{SlotId, SlotKind};
use rlp_ir::{DType, Op, TensorType};
use rlp_syntax::ast::BinOp;

/// `rollout(env, policy, steps: T, evaluation: false)`: steps every environment `T`
/// times under the policy, resetting finished episodes, and returns the batch as a record
/// of `[T, N, …]` tensors. Environment state is carried in its slots across calls. An
/// evaluation rollout's steps are not training experience, so they do not count in the
/// run's `env_steps`.
pub fn rollout(el: &mut Elab, mut a: Args) -> R<Value> {
    let call = a.call;
    let (env, lenv) = a.need("rollout", "env")?;
    let (policy, _) = a.need("rollout", "policy")?;
    let (steps, lsteps) = a.need("rollout", "steps")?;
    let evaluation = super::builtins::take_bool(&mut a, "evaluation")?;
    a.done_public("rollout", &["env", "policy", "steps", "evaluation"])?;
    let Value::Int(t_len) = steps else {
        return Err(Diag::new(
            "type-mismatch",
            format!("`steps` must be an int, found {}", steps.kind()),
        )
        .label(lsteps, "here"));
    };
    if t_len < 1 {
        return Err(Diag::new("bad-value", "`steps` must be at least 1").label(lsteps, "here"));
    }
    let env = match env {
        Value::Env(e) => e,
        Value::External(x) => {
            return external_rollout(el, &x, &policy, t_len as usize, evaluation, call);
        }
        other => {
            return Err(Diag::new(
                "type-mismatch",
                format!("`rollout` needs an environment, found {}", other.kind()),
            )
            .label(lenv, "not an environment"));
        }
    };
    let slot = |el: &Elab, s: SlotId| TVal {
        src: Src::Slot(s),
        ty: el.slots[s.0 as usize].ty.clone(),
    };
    let inits = vec![
        slot(el, env.state),
        slot(el, env.ep_len),
        slot(el, env.ep_return),
        slot(el, env.last_return),
        slot(el, env.last_length),
    ];
    let names: Vec<String> = ["state", "ep_len", "ep_return", "last_return", "last_length"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let n = env.envs;
    // The batch's fields in the order of the scan's outputs, each with its shape: one
    // tensor, or a record (tuple) of them that takes as many outputs as it has tensors.
    let mut layout: Vec<(String, Value)> = vec![];
    let envr = env.clone();
    let mut body = |el: &mut Elab, c: Vec<TVal>, _t: TVal| -> R<(Vec<TVal>, Vec<TVal>)> {
        let (s, ep_len, ep_ret, last_ret, last_len) = (
            c[0].clone(),
            c[1].clone(),
            c[2].clone(),
            c[3].clone(),
            c[4].clone(),
        );
        let observe = |el: &mut Elab, s: &TVal| -> R<TVal> {
            let o = match &envr.observe {
                Some(f) => el.call(
                    f.clone(),
                    Args {
                        pos: vec![(Value::Tensor(s.clone()), call)],
                        kw: vec![],
                        call,
                    },
                    call,
                )?,
                None => Value::Tensor(s.clone()),
            };
            let o = el.to_tensor(&o, call, None)?;
            el.cast(&o, DType::F32)
        };
        let obs = observe(el, &s)?;
        if obs.ty.shape != [n, envr.obs_dim] {
            return Err(super::builtins::observation_mismatch(
                [n, envr.obs_dim],
                &obs.ty.shape,
                envr.observe.is_some(),
                envr.call,
            )
            .label(call, "in this rollout"));
        }
        let (act, logp) = act(
            el,
            &policy,
            Value::Tensor(obs.clone()),
            &envr.fields,
            n,
            call,
        )?;
        let logp = logp.map(Value::Tensor);
        let out = el.call(
            envr.step.clone(),
            Args {
                pos: vec![
                    (Value::Tensor(s.clone()), call),
                    (Value::Tensor(act.clone()), call),
                ],
                kw: vec![],
                call,
            },
            call,
        )?;
        let get = |name: &str| {
            out.field(name).ok_or_else(|| Diag::new("type-mismatch", format!("an environment's `step` returns a record with `state`, `reward` and `terminated`; `{name}` is missing")).label(call, "in this rollout"))
        };
        let s2 = el.to_tensor(&get("state")?, call, None)?;
        step_state(el, &envr.step, &s2, &s.ty, call)?;
        let s2 = el.convert(&s2, &s.ty, call)?;
        let reward = el.to_tensor(&get("reward")?, call, Some(DType::F32))?;
        step_reward(el, &envr.step, &reward, n, call)?;
        let reward = el.cast(&reward, DType::F32)?;
        let reward = el.convert(&reward, &TensorType::new(DType::F32, vec![n]), call)?;
        check_step_fields(el, &envr.step, &out, call)?;
        let flag = TensorType::new(DType::Bool, vec![n]);
        let term = step_flag(el, &envr.step, &get("terminated")?, "terminated", call)?;
        let term = el.convert(&term, &flag, call)?;
        // A `truncated` the environment reports itself (a boundary it cuts episodes at)
        // adds to the time limit.
        let own_trunc = match out.field("truncated") {
            Some(v) => {
                let t = step_flag(el, &envr.step, &v, "truncated", call)?;
                Some(el.convert(&t, &flag, call)?)
            }
            None => None,
        };
        let one = Value::Int(1);
        let len1 = el.binary(BinOp::Add, Value::Tensor(ep_len), one, call, call, call)?;
        let ret1 = el.binary(
            BinOp::Add,
            Value::Tensor(ep_ret),
            Value::Tensor(reward.clone()),
            call,
            call,
            call,
        )?;
        let timeout = el.binary(
            BinOp::Ge,
            len1.clone(),
            Value::Int(envr.max_steps),
            call,
            call,
            call,
        )?;
        let timeout = match own_trunc {
            Some(t) => el.binary(BinOp::Or, timeout, Value::Tensor(t), call, call, call)?,
            None => timeout,
        };
        let not_term = el.unary_not(&term)?;
        // `not_terminated` as a float mask, for bootstrapped targets: made in the step
        // (a few lane operations) rather than by a pass over the stacked `terminated`
        // after it, which would write and check a whole `[T, N]` array of its own.
        let not_term_mask = el.cast(&not_term, DType::F32)?;
        let trunc = el.binary(
            BinOp::And,
            timeout,
            Value::Tensor(not_term),
            call,
            call,
            call,
        )?;
        let done = el.binary(
            BinOp::Or,
            Value::Tensor(term.clone()),
            trunc.clone(),
            call,
            call,
            call,
        )?;
        let done_t = el.to_tensor(&done, call, None)?;
        let next_obs = observe(el, &s2)?;
        let fresh = el.call(
            envr.reset.clone(),
            Args {
                pos: vec![(Value::Int(n as i64), call)],
                kw: vec![],
                call,
            },
            call,
        )?;
        let fresh = el.to_tensor(&fresh, call, None)?;
        let fresh = el.convert(&fresh, &s.ty, call)?;
        // Broadcast the per-env flag over the state's trailing dims.
        let mut dshape = vec![n];
        dshape.extend(std::iter::repeat_n(1, s.ty.rank() - 1));
        let done_s = super::builtins::reshape(el, &done_t, dshape)?;
        let s_next = super::builtins::select(
            el,
            &done_s,
            &Value::Tensor(fresh),
            &Value::Tensor(s2),
            call,
            call,
        )?;
        let zero_i = Value::Int(0);
        let ep_len2 = super::builtins::select(el, &done_t, &zero_i, &len1, call, call)?;
        let ep_ret2 = super::builtins::select(el, &done_t, &Value::Float(0.0), &ret1, call, call)?;
        let last_ret2 =
            super::builtins::select(el, &done_t, &ret1, &Value::Tensor(last_ret), call, call)?;
        let last_len2 =
            super::builtins::select(el, &done_t, &len1, &Value::Tensor(last_len), call, call)?;
        let ep_return_out =
            super::builtins::select(el, &done_t, &ret1, &Value::Float(0.0), call, call)?;
        let carries = [s_next, ep_len2, ep_ret2, last_ret2, last_len2]
            .iter()
            .map(|v| el.to_tensor(v, call, None))
            .collect::<R<Vec<_>>>()?;
        let trunc_t = el.to_tensor(&trunc, call, None)?;
        let mut ys = vec![
            obs,
            act,
            reward,
            term,
            trunc_t,
            done_t,
            next_obs,
            el.to_tensor(&ep_return_out, call, None)?,
        ];
        let mut names = vec![
            "obs",
            "action",
            "reward",
            "terminated",
            "truncated",
            "done",
            "next_obs",
            "episode_return",
        ];
        if let Some(lp) = logp {
            ys.push(el.to_tensor(&lp, call, None)?);
            names.push("log_prob");
        }
        layout = names
            .iter()
            .zip(&ys)
            .map(|(name, t)| (name.to_string(), Value::Tensor(t.clone())))
            .collect();
        // Anything else the environment's `step` reports (a bandit's `regret`, a goal
        // task's `success`, a record of diagnostics) is stacked into the batch under its
        // own name; a record's tensors are stacked one by one and the record rebuilt.
        if let Value::Record(extra) = &out {
            for (name, v) in extra.iter() {
                if ["state", "reward", "terminated", "truncated"].contains(&name.as_str()) {
                    continue;
                }
                let stacked = match stackable(el, v, call)? {
                    Ok(x) => x,
                    Err((path, found)) => {
                        return Err(unstackable(el, &envr, name, &path, &found, call));
                    }
                };
                ys.extend(super::loops::tensors(&stacked));
                layout.push((name.clone(), stacked));
            }
        }
        layout.push((
            "not_terminated".into(),
            Value::Tensor(not_term_mask.clone()),
        ));
        ys.push(not_term_mask);
        Ok((carries, ys))
    };
    let (finals, ys) = el.scan(t_len as usize, false, &names, inits, &mut body)?;
    for (s, v) in [
        env.state,
        env.ep_len,
        env.ep_return,
        env.last_return,
        env.last_length,
    ]
    .iter()
    .zip(finals.iter())
    {
        el.write_slot(*s, v)?;
    }
    if !evaluation {
        el.env_steps += t_len as u64 * n as u64;
    }
    let mut stacked = ys.into_iter().map(Value::Tensor);
    let rec: Vec<(String, Value)> = layout
        .iter()
        .map(|(name, shape)| (name.clone(), super::loops::rebuild(shape, &mut stacked)))
        .collect();
    Ok(Value::record(rec))
}

/// An extra field of `step`'s record as the batch stacks it: a tensor, or a record or
/// tuple of them (numbers and bools become tensors; so does a list of numbers, a tensor
/// literal). `Err((path, found))` names the part that cannot be stacked — a string, a
/// function, a list of tensors — and what it is.
fn stackable(el: &mut Elab, v: &Value, call: Loc) -> R<Result<Value, (String, String)>> {
    let leaf = |el: &mut Elab, v: &Value| el.to_tensor(v, call, None).map(Value::Tensor);
    Ok(Ok(match v {
        Value::Tensor(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) => leaf(el, v)?,
        Value::List(xs)
            if xs.iter().all(|x| {
                matches!(
                    x,
                    Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::List(_)
                )
            }) =>
        {
            match leaf(el, v) {
                Ok(t) => t,
                Err(_) => return Ok(Err((String::new(), v.kind()))),
            }
        }
        Value::Record(fs) => {
            let mut out = Vec::with_capacity(fs.len());
            for (name, x) in fs.iter() {
                match stackable(el, x, call)? {
                    Ok(x) => out.push((name.clone(), x)),
                    Err((path, found)) => return Ok(Err((format!(".{name}{path}"), found))),
                }
            }
            Value::record(out)
        }
        Value::Tuple(xs) => {
            let mut out = Vec::with_capacity(xs.len());
            for (i, x) in xs.iter().enumerate() {
                match stackable(el, x, call)? {
                    Ok(x) => out.push(x),
                    Err((path, found)) => return Ok(Err((format!(".{i}{path}"), found))),
                }
            }
            Value::Tuple(out.into())
        }
        Value::Fn(_) | Value::Closure(_) | Value::Builtin(_) => {
            return Ok(Err((String::new(), "a function".into())));
        }
        other => return Ok(Err((String::new(), other.kind()))),
    }))
}

/// A `step` field the batch cannot hold (a string, a function, a list of tensors): an
/// error at the field, rather than a field that silently is not there.
fn unstackable(
    el: &Elab,
    env: &super::value::EnvDef,
    name: &str,
    path: &str,
    found: &str,
    call: Loc,
) -> Diag {
    let mut d = Diag::new(
        "type-mismatch",
        format!(
            "an environment's `step` returns `{name}{path}`, {found}, which cannot be stacked into the batch: a batch field holds tensors"
        ),
    );
    if let Some(at) = returned_field(el, &env.step, name) {
        d = d.label(at, format!("`{name}` is returned here"));
    }
    d.label(env.call, "the environment's `step`")
        .label(call, "in this rollout")
        .help("return numbers, bools or tensors (or records of them) from `step`, or leave the field out")
}

/// The batch fields a rollout makes itself; an environment's `step` cannot report them.
const ROLLOUT_FIELDS: [&str; 7] = [
    "obs",
    "action",
    "done",
    "next_obs",
    "episode_return",
    "log_prob",
    "not_terminated",
];

/// Rejects a `step` record field that would be silently replaced by the rollout's own.
fn check_step_fields(el: &Elab, step: &Value, out: &Value, call: Loc) -> R<()> {
    let Value::Record(fields) = out else {
        return Ok(());
    };
    let Some((name, _)) = fields
        .iter()
        .find(|(n, _)| ROLLOUT_FIELDS.contains(&n.as_str()))
    else {
        return Ok(());
    };
    let mut d = Diag::new(
        "type-mismatch",
        format!("an environment's `step` cannot return `{name}`: the rollout computes it"),
    );
    if let Some(at) = returned_field(el, step, name) {
        d = d.label(at, "returned here");
    }
    Err(d.label(call, "in this rollout").help(
        "`step` returns `state`, `reward`, `terminated` (bool) and optionally `truncated` (bool); `done` is `terminated or truncated`",
    ))
}

/// The `state` `step` returns keeps the type `reset` gave it: a silent cast would drop
/// precision (an f64 state stored as f32) or change the shape the policy sees.
fn step_state(el: &mut Elab, step: &Value, got: &TVal, want: &TensorType, call: Loc) -> R<()> {
    if got.ty == *want {
        return Ok(());
    }
    let mut d = Diag::new(
        "type-mismatch",
        format!(
            "an environment's `state` must keep the type `reset` gives it ({want}), but `step` \
             returns {}",
            got.ty
        ),
    );
    if let Some(at) = returned_field(el, step, "state") {
        d = d.label(at, format!("this is {}", got.ty));
    }
    Err(d.label(call, "in this rollout").help(format!(
        "return `state` as {want}{}",
        if got.ty.shape == want.shape {
            format!(", e.g. `state: {}(…)`", want.dtype)
        } else {
            String::new()
        }
    )))
}

/// The `reward` `step` returns: one number per environment, `[N]` (a scalar is
/// broadcast). `[N, 1]` — a value head's shape — would otherwise fail with a bare shape
/// message at the rollout.
fn step_reward(el: &mut Elab, step: &Value, got: &TVal, n: usize, call: Loc) -> R<()> {
    if got.ty.shape.is_empty() || got.ty.shape == [n] {
        return Ok(());
    }
    let mut d = Diag::new(
        "shape-mismatch",
        format!(
            "an environment's `reward` is one number per environment, [{n}], but `step` \
             returns {}",
            got.ty
        ),
    );
    if let Some(at) = returned_field(el, step, "reward") {
        d = d.label(at, format!("this is {}", got.ty));
    }
    d = d.label(call, "in this rollout");
    if got.ty.shape == [n, 1] {
        d = d.help("drop the size-1 axis: `reward: r[:, 0]`");
    }
    Err(d)
}

/// A flag `step` returns (`terminated`, `truncated`): a bool per environment. A number
/// would be cast to bool — 0.5 counting as true — so it is rejected, at the field.
fn step_flag(el: &mut Elab, step: &Value, v: &Value, name: &str, call: Loc) -> R<TVal> {
    let dtype = match v {
        Value::Tensor(t) => Some(t.ty.dtype),
        Value::Bool(_) => Some(DType::Bool),
        _ => None,
    };
    if dtype == Some(DType::Bool) {
        return el.to_tensor(v, call, None);
    }
    let found = match v {
        Value::Tensor(t) => t.ty.to_string(),
        other => other.kind(),
    };
    let mut d = Diag::new(
        "type-mismatch",
        format!("an environment's `{name}` must be bool, but `step` returns {found}"),
    );
    if let Some(at) = returned_field(el, step, name) {
        d = d.label(at, format!("this is {found}"));
    }
    Err(d.label(call, "in this rollout").help(format!(
        "make `{name}` a comparison, e.g. `{name}: x > 0.5`"
    )))
}

/// Where a function's returned record sets `field`: found by following the tail of its
/// body (blocks, both arms of an `if`) to a record literal. None when the record is
/// built some other way (returned by a call).
fn returned_field(el: &Elab, f: &Value, field: &str) -> Option<Loc> {
    match f {
        Value::Closure(c) => tail_field(&c.body, field).map(|span| Loc::new(c.file, span)),
        Value::Fn(r) => {
            let file = el.mods.module(r.module).file;
            let tail = r.decl.body.value.as_ref()?;
            tail_field(tail, field).map(|span| Loc::new(file, span))
        }
        _ => None,
    }
}

fn tail_field(e: &rlp_syntax::ast::Expr, field: &str) -> Option<rlp_syntax::ast::Span> {
    use rlp_syntax::ast::ExprKind;
    match &e.kind {
        ExprKind::Record(fs) => fs
            .iter()
            .find(|(n, _)| n.name == field)
            .map(|(_, v)| v.span),
        ExprKind::Block(b) => b.value.as_ref().and_then(|v| tail_field(v, field)),
        ExprKind::If {
            then, otherwise, ..
        } => tail_field(then, field).or_else(|| tail_field(otherwise, field)),
        _ => None,
    }
}

impl Elab<'_> {
    pub fn unary_not(&mut self, t: &TVal) -> R<TVal> {
        let n = self.node(t)?;
        let r = self.emit(Op::Unary(rlp_ir::UnaryOp::Not), vec![n])?;
        Ok(self.tval(r))
    }
}

/// The policy must act in the environment's action space: as many logits as discrete
/// actions, or actions of the declared dimension. Caught here, a wrong head size is an
/// error at compile time instead of a silently wrong environment step.
fn check_action_space(
    n: usize,
    actions: usize,
    act_dim: Option<usize>,
    dist: &Value,
    act: &TVal,
    call: Loc,
) -> R<()> {
    if actions > 0 {
        if let Some(Value::Tensor(l)) = dist.field("logits") {
            let k = l.ty.shape.last().copied().unwrap_or(1);
            if k != actions {
                return Err(Diag::new(
                    "shape-mismatch",
                    format!("the policy gives {k} action logits but the environment has {actions} actions"),
                )
                .label(call, format!("logits are {}", l.ty))
                .help("size the policy's output by `env.actions`"));
            }
        }
        if act.ty.shape != [n] || act.ty.dtype != DType::I32 {
            return Err(Diag::new(
                "shape-mismatch",
                format!("a discrete environment takes one i32 action per environment ([{n}] i32), but the policy samples {}", act.ty),
            )
            .label(call, "in this rollout"));
        }
    } else if let Some(d) = act_dim
        && act.ty.shape != [n, d]
    {
        return Err(Diag::new(
            "shape-mismatch",
            format!(
                "the environment takes actions of shape [{n}, {d}], but the policy samples {}",
                act.ty
            ),
        )
        .label(call, "in this rollout")
        .help("size the policy's output by `env.act_dim`"));
    }
    Ok(())
}

/// `gym(id: "CartPole-v1", envs: 8, workers: 2, seed: 0)`: an environment stepped by
/// worker processes (`docs/external-envs.md`). Its spaces are declared in the call
/// (`obs: [4], actions: 2`, or `obs: [3], act_dim: 1, act_low: -2.0, act_high: 2.0`,
/// and `max_steps:`), so compiling needs no worker; they are checked against the
/// environment's own when its workers start. Without them, one worker is started now
/// to read them, so shapes are still checked before training.
pub fn gym(el: &mut Elab, mut a: Args) -> R<Value> {
    let f = "gym";
    let call = a.call;
    let (id, lid) = a.need(f, "id")?;
    let Value::Str(id) = id else {
        return Err(
            Diag::new("type-mismatch", "`id` is a string such as \"CartPole-v1\"")
                .label(lid, "here"),
        );
    };
    let mut int = |name: &str, default: i64| -> R<i64> {
        match a.take_public(name) {
            None => Ok(default),
            Some((Value::Int(i), _)) if i >= 0 => Ok(i),
            Some((v, l)) => Err(Diag::new(
                "type-mismatch",
                format!("`{name}` must be a non-negative int, found {}", v.kind()),
            )
            .label(l, "here")),
        }
    };
    let envs = int("envs", 1)?.max(1) as usize;
    let workers = int("workers", 1)?.clamp(1, envs as i64) as usize;
    let seed = int("seed", 0)? as u64;
    let obs = a.take_public("obs");
    let actions = a.take_public("actions");
    let act_dim = a.take_public("act_dim");
    let act_low = a.take_public("act_low");
    let act_high = a.take_public("act_high");
    let max_steps = a.take_public("max_steps");
    a.done_public(
        f,
        &[
            "id",
            "envs",
            "workers",
            "seed",
            "obs",
            "actions",
            "act_dim",
            "act_low",
            "act_high",
            "max_steps",
        ],
    )?;
    let declared = obs.is_some()
        || actions.is_some()
        || act_dim.is_some()
        || act_low.is_some()
        || act_high.is_some()
        || max_steps.is_some();
    let (spec, max_steps_known) = if declared {
        let spaces = DeclaredSpaces {
            obs,
            actions,
            act_dim,
            act_low,
            act_high,
            max_steps,
        };
        spaces.spec(call)?
    } else {
        let spec = rlp_runtime::external::ExternalEnv::probe(&id, &rlp_runtime::external::ExternalOptions::default()).map_err(|e| {
            Diag::new("external-env", format!("cannot start environment `{id}`: {e}"))
                .label(call, "started here")
                .help("external environments need Python with gymnasium (`pip install gymnasium`); set RLPC_PYTHON to choose the interpreter, or declare the spaces (`obs: [4], actions: 2`) to compile without it")
        })?;
        (spec, true)
    };
    let index = el.externals.len();
    el.externals.push(crate::program::ExternalEnvDecl {
        id: id.to_string(),
        envs,
        workers,
        seed,
        spec: spec.clone(),
        declared,
        max_steps_known,
    });
    let owner = if el.owner.is_empty() {
        "env".to_string()
    } else {
        el.owner.clone()
    };
    let mut obs_shape = vec![envs];
    obs_shape.extend(&spec.obs_shape);
    let (obs, ep_len, ep_return, last_return, last_length) = el.in_init(|el| {
        let mk = |el: &mut Elab, name: &str, d: DType, shape: Vec<usize>| -> R<SlotId> {
            let s = el.new_slot(
                &format!("{owner}.{name}"),
                TensorType::new(d, shape.clone()),
                SlotKind::State,
            );
            let z = super::builtins::filled(el, d, &shape, 0.0);
            el.write_slot(s, &z)?;
            Ok(s)
        };
        Ok((
            mk(el, "obs", DType::F32, obs_shape.clone())?,
            mk(el, "episode_length_so_far", DType::I32, vec![envs])?,
            mk(el, "episode_return_so_far", DType::F32, vec![envs])?,
            super::builtins::no_return_yet(el, &format!("{owner}.episode_return"), envs)?,
            mk(el, "episode_length", DType::I32, vec![envs])?,
        ))
    })?;
    let slot_val = |el: &Elab, s: SlotId| {
        Value::Tensor(TVal {
            src: Src::Slot(s),
            ty: el.slots[s.0 as usize].ty.clone(),
        })
    };
    let mut fields = vec![
        ("envs".to_string(), Value::Int(envs as i64)),
        (
            "obs".to_string(),
            Value::Int(spec.obs_shape.iter().product::<usize>() as i64),
        ),
        (
            "obs_shape".to_string(),
            Value::List(
                spec.obs_shape
                    .iter()
                    .map(|&d| Value::Int(d as i64))
                    .collect::<Vec<_>>()
                    .into(),
            ),
        ),
        (
            "max_steps".to_string(),
            Value::Int(spec.max_steps.map_or(0, |m| m as i64)),
        ),
        ("episode_return".to_string(), slot_val(el, last_return)),
        ("episode_length".to_string(), slot_val(el, last_length)),
    ];
    match &spec.action {
        rlp_runtime::external::ActionSpace::Discrete(n) => {
            fields.push(("actions".to_string(), Value::Int(*n as i64)))
        }
        rlp_runtime::external::ActionSpace::Box { shape, low, high } => {
            fields.push((
                "act_dim".to_string(),
                Value::Int(shape.iter().product::<usize>() as i64),
            ));
            let list = |v: &[f32]| {
                Value::List(
                    v.iter()
                        .map(|&x| Value::Float(x as f64))
                        .collect::<Vec<_>>()
                        .into(),
                )
            };
            let lo = if low.iter().all(|&x| x == low[0]) && !low.is_empty() {
                Value::Float(low[0] as f64)
            } else {
                list(low)
            };
            let hi = if high.iter().all(|&x| x == high[0]) && !high.is_empty() {
                Value::Float(high[0] as f64)
            } else {
                list(high)
            };
            fields.push(("act_low".to_string(), lo));
            fields.push(("act_high".to_string(), hi));
        }
    }
    let space = super::builtins::action_space_fields(&fields);
    fields.extend(space);
    Ok(Value::External(std::rc::Rc::new(
        super::value::ExternalDef {
            index,
            envs,
            obs_shape: spec.obs_shape.clone(),
            obs,
            ep_len,
            ep_return,
            last_return,
            last_length,
            fields,
        },
    )))
}

/// The spaces a `gym(…)` call declares.
struct DeclaredSpaces {
    obs: Option<(Value, Loc)>,
    actions: Option<(Value, Loc)>,
    act_dim: Option<(Value, Loc)>,
    act_low: Option<(Value, Loc)>,
    act_high: Option<(Value, Loc)>,
    max_steps: Option<(Value, Loc)>,
}

impl DeclaredSpaces {
    /// The spec they declare, and whether it includes the episode limit.
    fn spec(self, call: Loc) -> R<(rlp_runtime::external::EnvSpec, bool)> {
        use rlp_runtime::external::{ActionSpace, EnvSpec};
        let positive = |name: &str, v: &Value, l: Loc| -> R<usize> {
            match v {
                Value::Int(i) if *i >= 1 => Ok(*i as usize),
                other => Err(Diag::new(
                    "type-mismatch",
                    format!("`{name}` must be a positive int, found {}", other.kind()),
                )
                .label(l, "here")),
            }
        };
        let Some((obs, lo)) = &self.obs else {
            return Err(Diag::new(
                "arity",
                "`gym` declares its spaces with `obs:` and `actions:` (or `act_dim:`) together",
            )
            .label(call, "`obs` missing")
            .help("e.g. `gym(id: \"CartPole-v1\", obs: [4], actions: 2)`, or give none of them to read the spaces from the environment when compiling"));
        };
        let obs_shape = match obs {
            Value::List(xs) if !xs.is_empty() => xs
                .iter()
                .map(|x| positive("obs", x, *lo))
                .collect::<R<Vec<_>>>()?,
            Value::List(_) => vec![],
            v => vec![positive("obs", v, *lo)?],
        };
        let action = match (&self.actions, &self.act_dim) {
            (Some((v, l)), None) => {
                if let Some((_, l2)) = self.act_low.as_ref().or(self.act_high.as_ref()) {
                    return Err(Diag::new(
                        "arity",
                        "`act_low` and `act_high` bound continuous actions (`act_dim:`), not discrete ones",
                    )
                    .label(*l2, "here"));
                }
                ActionSpace::Discrete(positive("actions", v, *l)?)
            }
            (None, Some((v, l))) => {
                let d = positive("act_dim", v, *l)?;
                let bound = |b: &Option<(Value, Loc)>, name: &str, unbounded: f32| -> R<Vec<f32>> {
                    let num = |x: &Value, l: Loc| match x {
                        Value::Int(i) => Ok(*i as f32),
                        Value::Float(f) => Ok(*f as f32),
                        other => Err(Diag::new(
                            "type-mismatch",
                            format!("`{name}` holds numbers, found {}", other.kind()),
                        )
                        .label(l, "here")),
                    };
                    match b {
                        None => Ok(vec![unbounded; d]),
                        Some((Value::List(xs), l)) if xs.len() == d => {
                            xs.iter().map(|x| num(x, *l)).collect()
                        }
                        Some((Value::List(xs), l)) => Err(Diag::new(
                            "shape-mismatch",
                            format!(
                                "`{name}` has {} numbers for {d} action dimensions",
                                xs.len()
                            ),
                        )
                        .label(*l, "here")),
                        Some((x, l)) => Ok(vec![num(x, *l)?; d]),
                    }
                };
                ActionSpace::Box {
                    shape: vec![d],
                    low: bound(&self.act_low, "act_low", f32::NEG_INFINITY)?,
                    high: bound(&self.act_high, "act_high", f32::INFINITY)?,
                }
            }
            (Some(_), Some((_, l))) => {
                return Err(Diag::new(
                    "arity",
                    "`actions` (discrete) and `act_dim` (continuous) exclude each other",
                )
                .label(*l, "here"));
            }
            (None, None) => {
                return Err(Diag::new(
                    "arity",
                    "`gym` declares its spaces with `obs:` and `actions:` (or `act_dim:`) together",
                )
                .label(call, "`actions` or `act_dim` missing")
                .help("`actions: N` for N discrete actions; `act_dim: D` (with `act_low:`, `act_high:`) for continuous ones"));
            }
        };
        let max_steps = match &self.max_steps {
            Some((v, l)) => Some(positive("max_steps", v, *l)? as u64),
            None => None,
        };
        let known = max_steps.is_some();
        Ok((
            EnvSpec {
                obs_shape,
                action,
                max_steps,
            },
            known,
        ))
    }
}

/// A rollout of an external environment: the policy becomes a graph of its own, run by
/// the runtime once per step between exchanges with the workers; the batch and the
/// episode statistics arrive in slots. It runs before the rest of its stage.
fn external_rollout(
    el: &mut Elab,
    x: &super::value::ExternalDef,
    policy: &Value,
    steps: usize,
    evaluation: bool,
    call: Loc,
) -> R<Value> {
    use crate::program::{BatchField, ExternalRollout, Stage, StageKind};
    if el.ctxs.len() != 1 {
        return Err(Diag::new(
            "misplaced",
            "a rollout of an external environment cannot run inside a scan",
        )
        .label(call, "here"));
    }
    let n = x.envs;
    let owner = if el.owner.is_empty() {
        "rollout".to_string()
    } else {
        el.owner.clone()
    };
    let step = el.new_slot(
        &format!("{owner}.step"),
        TensorType::scalar(DType::I32),
        SlotKind::Counter,
    );
    // The policy graph, built in a context of its own.
    let saved = std::mem::take(&mut el.ctxs);
    let saved_steps = el.env_steps;
    el.push_ctx(false);
    let built = (|| -> R<(SlotId, Option<SlotId>)> {
        let c0 = el.node(&TVal {
            src: Src::Slot(el.counter),
            ty: TensorType::scalar(DType::I32),
        })?;
        let c1 = el.node(&TVal {
            src: Src::Slot(step),
            ty: TensorType::scalar(DType::I32),
        })?;
        el.set_counters(c0, c1);
        let obs = Value::Tensor(TVal {
            src: Src::Slot(x.obs),
            ty: el.slots[x.obs.0 as usize].ty.clone(),
        });
        let (act, lp) = act(el, policy, obs, &x.fields, n, call)?;
        let a_slot = el.new_slot(
            &format!("{owner}.action_now"),
            act.ty.clone(),
            SlotKind::Transient,
        );
        el.write_slot(a_slot, &act)?;
        let lp = match lp {
            Some(lp) => {
                let s = el.new_slot(
                    &format!("{owner}.log_prob_now"),
                    lp.ty.clone(),
                    SlotKind::Transient,
                );
                el.write_slot(s, &lp)?;
                Some(s)
            }
            None => None,
        };
        Ok((a_slot, lp))
    })();
    let (graph, reads, writes) = el.finish_stage();
    el.ctxs = saved;
    el.env_steps = saved_steps;
    let (action, log_prob) = built?;
    // The batch: one transient slot per field, written by the runtime.
    let stacked = |el: &Elab, s: SlotId| {
        let t = &el.slots[s.0 as usize].ty;
        let mut shape = vec![steps];
        shape.extend(&t.shape);
        TensorType::new(t.dtype, shape)
    };
    let per_env = |d: DType| TensorType::new(d, vec![steps, n]);
    let mut batch = vec![];
    let mut record = vec![];
    for field in BatchField::ALL {
        let ty = match field {
            BatchField::Obs | BatchField::NextObs => stacked(el, x.obs),
            BatchField::Action => stacked(el, action),
            BatchField::LogProb => match log_prob {
                Some(s) => stacked(el, s),
                None => continue,
            },
            BatchField::Reward | BatchField::EpisodeReturn | BatchField::NotTerminated => {
                per_env(DType::F32)
            }
            BatchField::Terminated | BatchField::Truncated | BatchField::Done => {
                per_env(DType::Bool)
            }
        };
        let s = el.new_slot(
            &format!("{owner}.{}", field.name()),
            ty.clone(),
            SlotKind::Transient,
        );
        batch.push((field, s));
        record.push((
            field.name().to_string(),
            Value::Tensor(TVal {
                src: Src::Slot(s),
                ty,
            }),
        ));
    }
    el.pending.push(Stage {
        kind: StageKind::Sample,
        loc: call,
        schedule: crate::program::Schedule::ALWAYS,
        graph,
        reads,
        writes,
        env_steps: if evaluation { 0 } else { (steps * n) as u64 },
        loops: vec![],
        external: Some(ExternalRollout {
            env: x.index,
            steps,
            obs: x.obs,
            step,
            action,
            log_prob,
            batch,
            ep_return: x.ep_return,
            ep_len: x.ep_len,
            last_return: x.last_return,
            last_length: x.last_length,
        }),
        row_writes: vec![],
    });
    Ok(Value::record(record))
}

/// One decision of the policy: `policy(obs).sample()`, checked against the action space
/// the environment's `fields` declare, and its log-probability when the distribution
/// has one. Continuous actions (an environment with `act_dim`) are f32.
fn act(
    el: &mut Elab,
    policy: &Value,
    obs: Value,
    fields: &[(String, Value)],
    n: usize,
    call: Loc,
) -> R<(TVal, Option<TVal>)> {
    let int_field = |name: &str| {
        fields.iter().find(|(k, _)| k == name).and_then(|(_, v)| {
            if let Value::Int(i) = v {
                Some(*i as usize)
            } else {
                None
            }
        })
    };
    let dist = el.call(
        policy.clone(),
        Args {
            pos: vec![(obs, call)],
            kw: vec![],
            call,
        },
        call,
    )?;
    let sample = dist.field("sample").ok_or_else(|| {
        Diag::new(
            "type-mismatch",
            format!(
                "the policy must return a distribution with `sample`, found {}",
                dist.kind()
            ),
        )
        .label(call, "in this rollout")
    })?;
    let a = el.call(
        sample,
        Args {
            pos: vec![],
            kw: vec![],
            call,
        },
        call,
    )?;
    let a = el.to_tensor(&a, call, None)?;
    let actions = int_field("actions").unwrap_or(0);
    check_action_space(n, actions, int_field("act_dim"), &dist, &a, call)?;
    let a = if int_field("act_dim").is_some() {
        el.cast(&a, DType::F32)?
    } else {
        a
    };
    let logp = match dist.field("log_prob") {
        Some(f) => {
            let lp = el.call(
                f,
                Args {
                    pos: vec![(Value::Tensor(a.clone()), call)],
                    kw: vec![],
                    call,
                },
                call,
            )?;
            Some(el.to_tensor(&lp, call, None)?)
        }
        None => None,
    };
    Ok((a, logp))
}
