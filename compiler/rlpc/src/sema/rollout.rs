//! `rollout`: the general primitive that runs a policy in an environment.

use super::builtins::Args;
use super::elab::{Elab, R};
use super::value::{Src, TVal, Value};
use crate::diag::{Diag, Loc};
use crate::program::SlotId;
use rlp_ir::{DType, Op, TensorType};
use rlp_syntax::ast::BinOp;

/// `rollout(env, policy, steps: T)`: steps every environment `T` times under the
/// policy, resetting finished episodes, and returns the batch as a record of `[T, N, …]`
/// tensors. Environment state is carried in its slots across calls.
pub fn rollout(el: &mut Elab, mut a: Args) -> R<Value> {
    let call = a.call;
    let (env, lenv) = a.need("rollout", "env")?;
    let (policy, _) = a.need("rollout", "policy")?;
    let (steps, lsteps) = a.need("rollout", "steps")?;
    a.done_public("rollout", &["env", "policy", "steps"])?;
    let Value::Env(env) = env else {
        return Err(Diag::new(
            "type-mismatch",
            format!("`rollout` needs an environment, found {}", env.kind()),
        )
        .label(lenv, "not an environment"));
    };
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
    let mut fields: Vec<String> = vec![];
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
        let dist = el.call(
            policy.clone(),
            Args {
                pos: vec![(Value::Tensor(obs.clone()), call)],
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
        let act = el.call(
            sample,
            Args {
                pos: vec![],
                kw: vec![],
                call,
            },
            call,
        )?;
        let act = el.to_tensor(&act, call, None)?;
        check_action_space(&envr, &dist, &act, call)?;
        let logp = match dist.field("log_prob") {
            Some(f) => Some(el.call(
                f,
                Args {
                    pos: vec![(Value::Tensor(act.clone()), call)],
                    kw: vec![],
                    call,
                },
                call,
            )?),
            None => None,
        };
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
        let s2 = el.convert(&s2, &s.ty, call)?;
        let reward = el.to_tensor(&get("reward")?, call, Some(DType::F32))?;
        let reward = el.cast(&reward, DType::F32)?;
        let reward = el.convert(&reward, &TensorType::new(DType::F32, vec![n]), call)?;
        let term = el.to_tensor(&get("terminated")?, call, None)?;
        let term = el.convert(&term, &TensorType::new(DType::Bool, vec![n]), call)?;
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
        let not_term = el.unary_not(&term)?;
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
        fields = [
            "obs",
            "action",
            "reward",
            "terminated",
            "truncated",
            "done",
            "next_obs",
            "episode_return",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(lp) = logp {
            ys.push(el.to_tensor(&lp, call, None)?);
            fields.push("log_prob".into());
        }
        // Anything else the environment's `step` reports (a bandit's `regret`, a goal
        // task's `success`) is stacked into the batch under its own name.
        if let Value::Record(extra) = &out {
            for (name, v) in extra.iter() {
                if !["state", "reward", "terminated"].contains(&name.as_str())
                    && !fields.contains(name)
                {
                    if let Ok(t) = el.to_tensor(v, call, None) {
                        ys.push(t);
                        fields.push(name.clone());
                    }
                }
            }
        }
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
    el.env_steps += t_len as u64 * n as u64;
    let mut rec: Vec<(String, Value)> = fields
        .into_iter()
        .zip(ys.into_iter().map(Value::Tensor))
        .collect();
    // `not_terminated` as a float mask, for bootstrapped targets.
    let term = rec
        .iter()
        .find(|(n, _)| n == "terminated")
        .map(|(_, v)| v.clone())
        .unwrap();
    if let Value::Tensor(t) = term {
        let nt = el.unary_not(&t)?;
        let nt = el.cast(&nt, DType::F32)?;
        rec.push(("not_terminated".into(), Value::Tensor(nt)));
    }
    let _ = Op::Const(0.0);
    Ok(Value::record(rec))
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
fn check_action_space(env: &super::value::EnvDef, dist: &Value, act: &TVal, call: Loc) -> R<()> {
    let n = env.envs;
    if env.actions > 0 {
        if let Some(Value::Tensor(l)) = dist.field("logits") {
            let k = l.ty.shape.last().copied().unwrap_or(1);
            if k != env.actions {
                return Err(Diag::new(
                    "shape-mismatch",
                    format!("the policy gives {k} action logits but the environment has {} actions", env.actions),
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
    } else if let Some(Value::Int(d)) = env.fields.iter().find(|(k, _)| k == "act_dim").map(|(_, v)| v.clone()) {
        if act.ty.shape != [n, d as usize] {
            return Err(Diag::new(
                "shape-mismatch",
                format!("the environment takes actions of shape [{n}, {d}], but the policy samples {}", act.ty),
            )
            .label(call, "in this rollout")
            .help("size the policy's output by `env.act_dim`"));
        }
    }
    Ok(())
}
