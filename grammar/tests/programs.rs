//! Whole programs: the examples of the brief, DESIGN.md and SKETCHES.md (adapted where
//! the sketch uses syntax the language does not have; each adaptation is noted).

mod common;

use common::*;
use rlp_syntax::ast::*;

const BRIEF: &str = r#"use std.env.cartpole
use std.estimators.{reward_to_go}

/// Generalized advantage estimation, masked at episode ends.
pub fn gae(r: [T, N], v: [T+1, N], done: [T, N], gamma: f32 = 0.99, lambda: f32 = 0.95) -> [T, N] {
  delta = r + gamma * v[1:] * (1 - done) - v[:-1]
  scan reverse t in T (acc = 0.0) {
    acc = delta[t] + gamma * lambda * (1 - done[t]) * acc
  }
}

env    = cartpole(envs: 16, seed: 1)
policy = categorical(mlp(env.obs, [64, 64], env.actions))
q1, q2 = mlp(env.obs ++ env.act, [256, 256], 1), mlp(env.obs ++ env.act, [256, 256], 1)
eps    = linear(1.0 -> 0.05, over: 10_000)
dist   = (obs) -> { logits = net(obs); { logits: logits } }
f = x -> x ** 2; g = (a: [N], b) -> if a > b then a else -b

train iterations: 200 {
  sample  batch = rollout(env, policy, steps: 200)
  fit     q     = reward_to_go(batch.reward, batch.done, gamma: 0.99)
          y     = b.reward + 0.99 * b.not_terminated *
                  (min(t1(b.next_obs, a2), t2(b.next_obs, a2)) - exp(log_a) * pi.log_prob(a2))
  improve minimize policy_gradient(policy, batch, q - mean(q)) with opt
  improve minimize mean(x) wrt pi, log_a with adam(lr: 3e-4)
  every 500 steps after 1_000 { q_targ <- q; n[a] += 1 }
  repeat 50 { b = data.sample(256) }
  fit { a = 1
        b = 2 }
  log     return = batch.episode_return.mean(), loss = l
  polyak(t1, q1, tau: 0.005); polyak(t2, q2, tau: 0.005)
}
"#;

const BRIEF_EXPECTED: &[&str] = &[
    "(use std.env.cartpole)",
    "(use std.estimators {reward_to_go})",
    "(doc \"Generalized advantage estimation, masked at episode ends.\" pub fn gae (r:[T, N] v:[T+1, N] done:[T, N] gamma:f32=0.99 lambda:f32=0.95) -> [T, N] {(let delta (- (+ r (* (* gamma (idx v (: 1 _))) (- 1 done))) (idx v (: _ (neg 1))))) => (scan reverse t T (acc=0.0) {(let acc (+ (idx delta t) (* (* (* gamma lambda) (- 1 (idx done t))) acc)))})})",
    "(let env (call cartpole envs=16 seed=1))",
    "(let policy (call categorical (call mlp (. env obs) [64 64] (. env actions))))",
    "(let q1 q2 (tuple (call mlp (++ (. env obs) (. env act)) [256 256] 1) (call mlp (++ (. env obs) (. env act)) [256 256] 1)))",
    "(let eps (call linear (-> 1.0 0.05) over=10000))",
    "(let dist (lambda (obs) {(let logits (call net obs)) => {logits: logits}}))",
    "(let f (lambda (x) (** x 2)))",
    "(let g (lambda (a:[N] b) (if (> a b) a (neg b))))",
    concat!(
        "(train iterations 200",
        " (sample (let batch (call rollout env policy steps=200)))",
        " (fit (let q (call reward_to_go (. batch reward) (. batch done) gamma=0.99)))",
        " (let y (+ (. b reward) (* (* 0.99 (. b not_terminated)) (- (call min (call t1 (. b next_obs) a2) (call t2 (. b next_obs) a2)) (* (call exp log_a) (call (. pi log_prob) a2))))))",
        " (improve (minimize (call policy_gradient policy batch (- q (call mean q))) with opt))",
        " (improve (minimize (call mean x) wrt pi log_a with (call adam lr=0.0003)))",
        " (every 500 steps after 1000 (<- q_targ q) (+= (idx n a) 1))",
        " (repeat 50 (let b (call (. data sample) 256)))",
        " (fit (let a 1) (let b 2))",
        " (log return=(call (. (. batch episode_return) mean)) loss=l)",
        " (call polyak t1 q1 tau=0.005)",
        " (call polyak t2 q2 tau=0.005))"
    ),
];

#[test]
fn the_brief_example_as_one_file() {
    let m = parse_ok(BRIEF);
    let got: Vec<String> = m.items.iter().map(item).collect();
    assert_eq!(got, BRIEF_EXPECTED);
}

/// Each top-level chunk of the example (separated by blank lines or on its own line)
/// parses on its own to the same thing.
#[test]
fn the_brief_example_piece_by_piece() {
    let pieces = [
        "use std.env.cartpole",
        "use std.estimators.{reward_to_go}",
        &BRIEF[BRIEF.find("/// Generalized").unwrap()..BRIEF.find("\nenv").unwrap()],
        "env    = cartpole(envs: 16, seed: 1)",
        "policy = categorical(mlp(env.obs, [64, 64], env.actions))",
        "q1, q2 = mlp(env.obs ++ env.act, [256, 256], 1), mlp(env.obs ++ env.act, [256, 256], 1)",
        "eps    = linear(1.0 -> 0.05, over: 10_000)",
        "dist   = (obs) -> { logits = net(obs); { logits: logits } }",
        "f = x -> x ** 2",
        "g = (a: [N], b) -> if a > b then a else -b",
        &BRIEF[BRIEF.find("train").unwrap()..],
    ];
    for (piece, want) in pieces.iter().zip(BRIEF_EXPECTED) {
        assert_eq!(items(&parse_ok(piece)), *want);
    }
}

#[test]
fn the_brief_example_spans() {
    let m = parse_ok(BRIEF);
    let Item::Fn(f) = &m.items[2] else { panic!() };
    assert_eq!(&BRIEF[f.span.range()][..10], "pub fn gae");
    assert!(BRIEF[f.span.range()].ends_with("}\n}"));
    assert_eq!(&BRIEF[f.ret.as_ref().unwrap().span.range()], "[T, N]");
    let Item::Train(t) = &m.items[10] else {
        panic!()
    };
    let texts: Vec<&str> = t.body.iter().map(|s| &BRIEF[s.span.range()]).collect();
    assert_eq!(texts[0], "sample  batch = rollout(env, policy, steps: 200)");
    assert_eq!(
        texts[2],
        "y     = b.reward + 0.99 * b.not_terminated *\n                  (min(t1(b.next_obs, a2), t2(b.next_obs, a2)) - exp(log_a) * pi.log_prob(a2))"
    );
    assert_eq!(
        texts[5],
        "every 500 steps after 1_000 { q_targ <- q; n[a] += 1 }"
    );
    assert_eq!(texts[9], "polyak(t1, q1, tau: 0.005)");
    assert_eq!(texts[10], "polyak(t2, q2, tau: 0.005)");
}

const DESIGN_PIPELINE: &str = r#"
use std.env.cartpole
use std.estimators.{reward_to_go}
use std.losses.{policy_gradient}

env    = cartpole(envs: 16, seed: 1)
policy = categorical(mlp(env.obs, [64, 64], env.actions))
opt    = adam(lr: 1e-2)

train iterations: 200 {
  sample  batch = rollout(env, policy, steps: 200)
  fit     q     = reward_to_go(batch.reward, batch.done, gamma: 0.99)
  improve minimize policy_gradient(policy, batch, q - mean(q)) with opt
  log     return = batch.episode_return.mean()
}
"#;

const DESIGN_GAE: &str = r#"
/// Generalized advantage estimation, masked at episode ends.
fn gae(r: [T, N], v: [T+1, N], done: [T, N], gamma: f32, lambda: f32) -> [T, N] {
  delta = r + gamma * v[1:] * (1 - done) - v[:-1]
  scan reverse t in T (acc = 0.0) {
    acc = delta[t] + gamma * lambda * (1 - done[t]) * acc
  }
}
"#;

const VALUE_BASED_SKETCH: &str = r#"
use std.env.cartpole
use std.estimators.{double_q_target}
use std.losses.{huber}
use std.explore.{epsilon_greedy}

env    = cartpole(envs: 1, seed: 0)
q      = mlp(env.obs, [128, 128], env.actions)
q_targ = copy(q)
buffer = replay(capacity: 50_000)
eps    = linear(1.0 -> 0.05, over: 10_000)
opt    = adam(lr: 1e-3)

train steps: 100_000 {
  sample buffer += step(env, epsilon_greedy(q, eps))
  every 1 step after 1_000 {
    fit     b = buffer.sample(128)
            y = double_q_target(q, q_targ, b, gamma: 0.99)
    improve minimize huber(q(b.obs)[b.action] - stop(y)) with opt
  }
  every 500 steps { q_targ <- q }
  log return = env.episode_return
}
"#;

const ACTOR_CRITIC_SKETCH: &str = r#"
env     = pendulum(envs: 1, seed: 0)
pi      = tanh_gaussian(mlp(env.obs, [256, 256], 2 * env.act_dim), low: env.act_low, high: env.act_high)
q1, q2  = mlp(env.obs ++ env.act, [256, 256], 1), mlp(env.obs ++ env.act, [256, 256], 1)
t1, t2  = copy(q1), copy(q2)
log_a   = param(0.0)
buffer  = replay(capacity: 1_000_000)

train steps: 20_000 {
  sample buffer += step(env, pi)
  every 1 step after 1_000 {
    fit b   = buffer.sample(256)
        a2  = pi(b.next_obs).rsample()                       # reparameterised
        y   = b.reward + 0.99 * b.not_terminated *
              (min(t1(b.next_obs, a2), t2(b.next_obs, a2)) - exp(log_a) * pi.log_prob(a2))
    improve minimize mse(q1(b.obs, b.action), stop(y)) + mse(q2(b.obs, b.action), stop(y)) with adam(lr: 3e-4)
    improve a = pi(b.obs).rsample()
            minimize mean(stop(exp(log_a)) * pi.log_prob(a) - min(q1(b.obs, a), q2(b.obs, a))) wrt pi with adam(lr: 3e-4)
            minimize mean(-log_a * stop(pi.log_prob(a) - env.act_dim)) wrt log_a with adam(lr: 3e-4)
    polyak(t1, q1, tau: 0.005); polyak(t2, q2, tau: 0.005)
  }
}
"#;

const MODEL_BASED_SKETCH: &str = r#"
use std.plan.{cem}
env   = pendulum(envs: 1, seed: 0)
model = ensemble(5, mlp(env.obs ++ env.act, [200, 200], env.obs_dim))  # predicts Δs
data  = replay(capacity: 100_000)

train iterations: 15 {
  sample data += rollout(env, if iteration == 0 then random(env) else
                 mpc(cem(horizon: 15, samples: 500, elites: 50, iters: 5,
                         objective: (s, a) -> model.mean_rollout_reward(s, a, env.reward))), steps: 200)
  fit    repeat 50 { b = data.sample(256)
                     minimize mse(model(b.obs ++ b.action), b.next_obs - b.obs) with adam(lr: 1e-3) }
  log    return = data.last_episode_return
}
"#;

// Adapted: the sketch's `eval episodes: 10 on cartpole(envs: 10) with greedy(q)` is not
// syntax of the language; it is written as an ordinary call here.
const OFFLINE_SKETCH: &str = r#"
data = dataset("runs/cartpole_mixed.npz")          # obs, action, reward, next_obs, terminated
q    = mlp(data.obs_dim, [256, 256], data.actions); q_targ = copy(q)

train steps: 50_000 {
  fit     b    = data.sample(256)
          y    = b.reward + 0.99 * b.not_terminated * max(q_targ(b.next_obs), axis: -1)
          cql  = mean(logsumexp(q(b.obs), axis: -1) - q(b.obs)[b.action])
  improve minimize mse(q(b.obs)[b.action], stop(y)) + 1.0 * cql with adam(lr: 3e-4)
  every 1 step { polyak(q_targ, q, tau: 0.005) }
  every 5_000 steps { evaluate(greedy(q), cartpole(envs: 10), episodes: 10) }
}
"#;

const BANDITS: &str = r#"
env = bernoulli_bandit(arms: [0.1, 0.5, 0.55, 0.9], envs: 256, seed: 0)
n, s = zeros(env.arms), zeros(env.arms)             # per-env state, carried across steps
train steps: 5_000 {
  sample a = argmax(s / max(n, 1) + sqrt(2 * log(step + 1) / max(n, 1e-9)))
         r = env.pull(a)
  fit    n[a] += 1; s[a] += r
  log    regret = env.regret
}
"#;

const VAE: &str = r#"
enc = gaussian(mlp(env.obs, [128], 2 * 16)); dec = gaussian(mlp(16, [128], 2 * env.obs_dim))
fit b = buffer.sample(256)
    z = enc(b.obs).rsample()
    minimize -mean(dec(z).log_prob(b.obs)) + mean(kl(enc(b.obs), normal(0, 1))) with adam(lr: 1e-3)
improve minimize huber(q(stop(enc(b.obs).mean))[b.action] - stop(y)) with adam(lr: 1e-3)
"#;

#[test]
fn design_programs() {
    let m = parse_ok(DESIGN_PIPELINE);
    assert_eq!(m.items.len(), 7);
    let Item::Train(t) = &m.items[6] else {
        panic!()
    };
    assert_eq!(
        t.body.iter().map(stmt).collect::<Vec<_>>(),
        [
            "(sample (let batch (call rollout env policy steps=200)))",
            "(fit (let q (call reward_to_go (. batch reward) (. batch done) gamma=0.99)))",
            "(improve (minimize (call policy_gradient policy batch (- q (call mean q))) with opt))",
            "(log return=(call (. (. batch episode_return) mean)))",
        ]
    );
    let m = parse_ok(DESIGN_GAE);
    let Item::Fn(f) = &m.items[0] else { panic!() };
    assert_eq!(
        f.doc.as_deref(),
        Some("Generalized advantage estimation, masked at episode ends.")
    );
    assert!(!f.public);
    assert!(matches!(
        f.body.value.as_deref(),
        Some(Expr {
            kind: ExprKind::Scan(_),
            ..
        })
    ));
}

#[test]
fn value_based_sketch() {
    let m = parse_ok(VALUE_BASED_SKETCH);
    let Item::Train(t) = m.items.last().unwrap() else {
        panic!()
    };
    assert_eq!(
        t.body.iter().map(stmt).collect::<Vec<_>>(),
        [
            "(sample (+= buffer (call step env (call epsilon_greedy q eps))))",
            "(every 1 step after 1000 (fit (let b (call (. buffer sample) 128))) (let y (call double_q_target q q_targ b gamma=0.99)) (improve (minimize (call huber (- (idx (call q (. b obs)) (. b action)) (call stop y))) with opt)))",
            "(every 500 steps (<- q_targ q))",
            "(log return=(. env episode_return))",
        ]
    );
}

#[test]
fn actor_critic_sketch() {
    let m = parse_ok(ACTOR_CRITIC_SKETCH);
    assert_eq!(
        items(&m).lines().nth(3).unwrap(),
        "(let t1 t2 (tuple (call copy q1) (call copy q2)))"
    );
    let Item::Train(t) = m.items.last().unwrap() else {
        panic!()
    };
    let StmtKind::Every { body, .. } = &t.body[1].kind else {
        panic!()
    };
    let got: Vec<String> = body.iter().map(stmt).collect();
    assert_eq!(got.len(), 9);
    assert_eq!(
        got[1],
        "(let a2 (call (. (call pi (. b next_obs)) rsample)))"
    );
    assert_eq!(
        got[4],
        "(improve (let a (call (. (call pi (. b obs)) rsample))))"
    );
    assert_eq!(
        got[6],
        "(minimize (call mean (* (neg log_a) (call stop (- (call (. pi log_prob) a) (. env act_dim))))) wrt log_a with (call adam lr=0.0003))"
    );
}

#[test]
fn model_based_cem() {
    let m = parse_ok(MODEL_BASED_SKETCH);
    let Item::Train(t) = m.items.last().unwrap() else {
        panic!()
    };
    let got: Vec<String> = t.body.iter().map(stmt).collect();
    assert_eq!(
        got[0],
        "(sample (+= data (call rollout env (if (== iteration 0) (call random env) (call mpc (call cem horizon=15 samples=500 elites=50 iters=5 objective=(lambda (s a) (call (. model mean_rollout_reward) s a (. env reward)))))) steps=200)))"
    );
    assert_eq!(
        got[1],
        "(fit (repeat 50 (let b (call (. data sample) 256)) (minimize (call mse (call model (++ (. b obs) (. b action))) (- (. b next_obs) (. b obs))) with (call adam lr=0.001))))"
    );
}

#[test]
fn offline_sketch() {
    let m = parse_ok(OFFLINE_SKETCH);
    assert_eq!(m.items.len(), 4);
    assert_eq!(
        item(&m.items[0]),
        "(let data (call dataset \"runs/cartpole_mixed.npz\"))"
    );
    let Item::Train(t) = &m.items[3] else {
        panic!()
    };
    assert_eq!(
        stmt(&t.body[1]),
        "(let y (+ (. b reward) (* (* 0.99 (. b not_terminated)) (call max (call q_targ (. b next_obs)) axis=(neg 1)))))"
    );
}

#[test]
fn bandits() {
    let m = parse_ok(BANDITS);
    let Item::Train(t) = m.items.last().unwrap() else {
        panic!()
    };
    let got: Vec<String> = t.body.iter().map(stmt).collect();
    assert_eq!(
        got,
        [
            "(sample (let a (call argmax (+ (/ s (call max n 1)) (call sqrt (/ (* 2 (call log (+ step 1))) (call max n 1e-9)))))))",
            "(let r (call (. env pull) a))",
            "(fit (+= (idx n a) 1))",
            "(+= (idx s a) r)",
            "(log regret=(. env regret))",
        ]
    );
}

#[test]
fn vae() {
    let m = parse_ok(VAE);
    let got: Vec<String> = m.items.iter().map(item).collect();
    assert_eq!(got.len(), 6);
    assert_eq!(
        got[4],
        "(minimize (+ (neg (call mean (call (. (call dec z) log_prob) (. b obs)))) (call mean (call kl (call enc (. b obs)) (call normal 0 1)))) with (call adam lr=0.001))"
    );
}

#[test]
fn all_programs_as_one_file_and_with_crlf() {
    let all = [
        BRIEF,
        DESIGN_PIPELINE,
        DESIGN_GAE,
        VALUE_BASED_SKETCH,
        ACTOR_CRITIC_SKETCH,
        MODEL_BASED_SKETCH,
        OFFLINE_SKETCH,
        BANDITS,
        VAE,
    ]
    .join("\n");
    let n = parse_ok(&all).items.len();
    assert!(n > 50);
    assert_eq!(
        items(&parse_ok(&all.replace('\n', "\r\n"))),
        items(&parse_ok(&all))
    );
}
