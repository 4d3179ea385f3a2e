//! The classic-control environments written in `.rlp` (`stdlib/env/`) against Gymnasium:
//! Pendulum-v1, MountainCar-v0, MountainCarContinuous-v0 and Acrobot-v1. Each committed
//! fixture (`tools/make_classic_fixtures.py`) holds several recorded episodes: initial
//! internal states, actions (continuous ones partly out of range, to exercise clipping),
//! observations, rewards and flags. All episodes of a fixture run as the environments of
//! one kernel, open loop from the recorded initial states, on the interpreter and the JIT.
//! Then each constructor is compiled inside a small program with a random policy and
//! trained for a few iterations.

use rlp_ir::{DType, Tensor, TensorType};
use rlp_runtime::Executable;
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};
use std::collections::HashMap;
use std::path::Path;

struct Env {
    module: &'static str,
    fixture: &'static str,
    /// Internal state size.
    state: usize,
    /// Continuous actions ([N, 1] f32) rather than discrete ([N] i32).
    continuous: bool,
    /// The module has an `observe` function (else the observation is `f32(state)`).
    observe: bool,
    /// Time limit.
    limit: usize,
}

const PENDULUM: Env = Env {
    module: "std.env.pendulum",
    fixture: "pendulum_v1",
    state: 2,
    continuous: true,
    observe: true,
    limit: 200,
};
const MOUNTAIN_CAR: Env = Env {
    module: "std.env.mountain_car",
    fixture: "mountain_car_v0",
    state: 2,
    continuous: false,
    observe: false,
    limit: 200,
};
const MOUNTAIN_CAR_CONTINUOUS: Env = Env {
    module: "std.env.mountain_car_continuous",
    fixture: "mountain_car_continuous_v0",
    state: 2,
    continuous: true,
    observe: false,
    limit: 999,
};
const ACROBOT: Env = Env {
    module: "std.env.acrobot",
    fixture: "acrobot_v1",
    state: 4,
    continuous: false,
    observe: true,
    limit: 500,
};

fn fixture(env: &Env) -> HashMap<String, Tensor> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../runtime/tests/fixtures/{}.npz", env.fixture));
    rlp_runtime::io::load_npz(&path)
        .expect("fixture loads")
        .into_iter()
        .collect()
}

/// `step` (and `observe`) of the env's module, lowered for `e` environments.
fn graphs(env: &Env, e: usize) -> (rlp_ir::Graph, Vec<String>, Option<rlp_ir::Graph>) {
    let mods = Modules::stdlib(&[env.module]).expect("stdlib loads");
    let state = || FnArg::Tensor(TensorType::new(DType::F64, vec![e, env.state]));
    let action = if env.continuous {
        FnArg::Tensor(TensorType::new(DType::F32, vec![e, 1]))
    } else {
        FnArg::Tensor(TensorType::new(DType::I32, vec![e]))
    };
    let (g, names) =
        lower_function(&mods, env.module, "step", vec![state(), action], 0).expect("step");
    let obs = env.observe.then(|| {
        lower_function(&mods, env.module, "observe", vec![state()], 0)
            .expect("observe")
            .0
    });
    (g, names, obs)
}

type Build = fn(rlp_ir::Graph) -> Box<dyn Executable>;

fn interp(g: rlp_ir::Graph) -> Box<dyn Executable> {
    Box::new(rlp_ir::interp::Interpreter::new(g).unwrap())
}

fn jit(g: rlp_ir::Graph) -> Box<dyn Executable> {
    rlp_jit::compile(
        &rlpc::run::prepare(&g).unwrap(),
        &rlp_jit::JitOptions::default(),
    )
    .unwrap()
}

/// Checks the fixture's own time-limit bookkeeping: every episode ends on its last step,
/// by termination before the limit or by truncation exactly at it.
fn check_fixture_flags(env: &Env, fx: &HashMap<String, Tensor>) -> (usize, usize) {
    let lengths: Vec<usize> = fx["length"]
        .to_f64_vec()
        .iter()
        .map(|&l| l as usize)
        .collect();
    let tmax = fx["terminated"].shape()[1];
    assert_eq!(tmax, env.limit);
    let term = fx["terminated"].to_f64_vec();
    let trunc = fx["truncated"].to_f64_vec();
    let (mut n_term, mut n_trunc) = (0, 0);
    for (k, &n) in lengths.iter().enumerate() {
        for t in 0..tmax {
            let last = t + 1 == n;
            let (te, tr) = (term[k * tmax + t] != 0.0, trunc[k * tmax + t] != 0.0);
            assert_eq!(
                tr,
                last && n == env.limit && !te,
                "episode {k} step {t}: truncated"
            );
            if !last {
                assert!(!te, "episode {k} step {t}: terminated before the end");
            }
        }
        if term[k * tmax + n - 1] != 0.0 {
            assert!(n < env.limit);
            n_term += 1;
        } else {
            n_trunc += 1;
        }
    }
    (n_term, n_trunc)
}

/// How closely a replay matched Gymnasium: steps compared, steps whose whole
/// observation / state / reward were bit-identical, and the largest distances in ulps
/// (of f32 for observations, f64 for states and rewards).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Exactness {
    steps: usize,
    exact_obs: usize,
    exact_state: usize,
    exact_reward: usize,
    max_obs_ulps: u64,
    max_state_ulps: u64,
    max_reward_ulps: u64,
}

impl Exactness {
    /// Every observation, state and reward bit-identical.
    fn bit_identical(&self) -> bool {
        self.exact_obs == self.steps
            && self.exact_state == self.steps
            && self.exact_reward == self.steps
    }
}

/// Distance in ulps between two finite floats of one type, through their ordered bits.
fn ulps_f64(a: f64, b: f64) -> u64 {
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 { i64::MIN - i } else { i }
    };
    key(a).abs_diff(key(b))
}

fn ulps_f32(a: f32, b: f32) -> u64 {
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i32::MIN - i } else { i }
    };
    key(a).abs_diff(key(b)) as u64
}

/// Replays every episode of the fixture through `step` and compares observations,
/// rewards and `terminated` at every step, returning how exactly they matched.
fn replay(env: &Env, build: Build) -> Exactness {
    let fx = fixture(env);
    let (n_term, n_trunc) = check_fixture_flags(env, &fx);
    if env.module != PENDULUM.module {
        assert!(n_term > 0, "the fixture covers termination");
    }
    assert!(n_trunc > 0, "the fixture covers truncation");
    let lengths: Vec<usize> = fx["length"]
        .to_f64_vec()
        .iter()
        .map(|&l| l as usize)
        .collect();
    let e = lengths.len();
    let tmax = env.limit;
    let o_dim = fx["obs"].shape()[2];
    let actions = fx["actions"].to_f64_vec();
    let obs = fx["obs"].to_f64_vec();
    let states = fx["state_f64"].to_f64_vec();
    let term = fx["terminated"].to_f64_vec();
    let reward = fx["reward"].to_f64_vec();
    let (g, names, og) = graphs(env, e);
    let step = build(g);
    let observe = og.map(build);
    let idx = |n: &str| names.iter().position(|x| x == n).unwrap();
    let (si, ri, ti) = (idx("state"), idx("reward"), idx("terminated"));
    let mut state = fx["init_state_f64"].clone();
    let (mut checked, mut max_obs_err, mut max_state_err) = (0, 0f64, 0f64);
    let mut x = Exactness::default();
    for t in 0..*lengths.iter().max().unwrap() {
        // Episodes already over keep stepping with a valid action; results ignored.
        let a = if env.continuous {
            let a: Vec<f64> = (0..e).map(|k| actions[k * tmax + t]).collect();
            Tensor::from_f64(DType::F32, &[e, 1], &a)
        } else {
            let a: Vec<f64> = (0..e).map(|k| actions[k * tmax + t].max(0.0)).collect();
            Tensor::from_f64(DType::I32, &[e], &a)
        };
        let out = step.run(&[state.clone(), a]).expect("step runs");
        let s2 = out[si].to_f64_vec();
        let o = match &observe {
            Some(f) => f.run(&[out[si].clone()]).expect("observe runs")[0].to_f64_vec(),
            None => s2.iter().map(|&x| x as f32 as f64).collect(),
        };
        let r = out[ri].to_f64_vec();
        let d = out[ti].to_f64_vec();
        for k in 0..e {
            if t >= lengths[k] {
                continue;
            }
            let (mut obs_ulps, mut state_ulps) = (0, 0);
            for j in 0..o_dim {
                let got = o[k * o_dim + j] as f32;
                let want = obs[(k * tmax + t) * o_dim + j] as f32;
                obs_ulps = obs_ulps.max(ulps_f32(got, want));
                let err = ((got - want).abs() / want.abs().max(1.0)) as f64;
                max_obs_err = max_obs_err.max(err);
                assert!(
                    err <= 2.4e-7, // two f32 ulps; measured: bit-exact
                    "{} episode {k} step {t} observation {j}: {got} vs gymnasium {want}",
                    env.module
                );
            }
            for j in 0..env.state {
                let got = s2[k * env.state + j];
                let want = states[(k * tmax + t) * env.state + j];
                state_ulps = state_ulps.max(ulps_f64(got, want));
                let err = (got - want).abs() / want.abs().max(1.0);
                max_state_err = max_state_err.max(err);
                assert!(
                    // f64 sin/cos are rlpc's own (≤ 2 ulp from libm): Acrobot's RK4 drifts
                    // to 3.1e-11 over the fixture; the others stay bit-exact.
                    err <= 1e-10,
                    "{} episode {k} step {t} state {j}: {got} vs gymnasium {want}",
                    env.module
                );
            }
            assert_eq!(
                d[k],
                term[k * tmax + t],
                "{} episode {k} step {t}: terminated",
                env.module
            );
            let want = reward[k * tmax + t];
            let reward_ulps = ulps_f64(r[k], want);
            x.steps += 1;
            x.exact_obs += (obs_ulps == 0) as usize;
            x.exact_state += (state_ulps == 0) as usize;
            x.exact_reward += (reward_ulps == 0) as usize;
            x.max_obs_ulps = x.max_obs_ulps.max(obs_ulps);
            x.max_state_ulps = x.max_state_ulps.max(state_ulps);
            x.max_reward_ulps = x.max_reward_ulps.max(reward_ulps);
            assert!(
                (r[k] - want).abs() <= 1e-12 * want.abs().max(1.0),
                "{} episode {k} step {t}: reward {} vs gymnasium {want}",
                env.module,
                r[k]
            );
            checked += 1;
        }
        state = out[si].clone();
    }
    eprintln!(
        "{}: {checked} steps, max relative error: observation {max_obs_err:.2e}, \
         f64 state {max_state_err:.2e}; {x:?}",
        env.module
    );
    assert!(checked >= 1000, "only {checked} steps compared");
    x
}

/// Replays on both backends, which must agree exactly in how they match.
fn replay_both(env: &Env) -> Exactness {
    let x = replay(env, interp);
    assert_eq!(
        replay(env, jit),
        x,
        "{}: the JIT and the interpreter",
        env.module
    );
    x
}

#[test]
fn pendulum_matches_gymnasium() {
    // docs/envs/pendulum.md: observations bit for bit; the f64 state and the reward may
    // differ in the last bits where rlpc's sin/cos and libm's round differently.
    let x = replay_both(&PENDULUM);
    eprintln!("MEASURE pendulum {x:?}");
    assert_eq!((x.exact_obs, x.max_obs_ulps), (x.steps, 0), "{x:?}");
}

#[test]
fn mountain_car_matches_gymnasium() {
    // docs/envs/mountain_car.md: observations and rewards bit for bit; the f64 velocity
    // may differ in its last bits (cos).
    let x = replay_both(&MOUNTAIN_CAR);
    eprintln!("MEASURE mountain_car {x:?}");
    assert_eq!(
        (x.exact_obs, x.exact_reward, x.max_obs_ulps),
        (x.steps, x.steps, 0),
        "{x:?}"
    );
}

#[test]
fn mountain_car_continuous_matches_gymnasium() {
    // docs/envs/mountain_car_continuous.md: everything bit for bit.
    let x = replay_both(&MOUNTAIN_CAR_CONTINUOUS);
    eprintln!("MEASURE mountain_car_continuous {x:?}");
    assert!(x.bit_identical(), "{x:?}");
}

#[test]
fn acrobot_matches_gymnasium() {
    // docs/envs/acrobot.md: the chaotic double pendulum amplifies last-bit differences
    // of sin/cos in the f64 state, yet every observation is within one f32 ulp.
    let x = replay_both(&ACROBOT);
    eprintln!("MEASURE acrobot {x:?}");
    assert!(x.max_obs_ulps <= 1, "{x:?}");
}

/// A program around `ctor` with a uniformly random policy written in `.rlp`.
fn program(module: &str, ctor: &str, action: &str) -> String {
    format!(
        "use std.env.{module}\n\
         env = {ctor}(envs: 8, seed: 3)\n\
         policy = obs -> {{ sample: () -> {action} }}\n\
         train iterations: 3 {{\n\
         sample batch = rollout(env, policy, steps: 260)\n\
         log ret = nanmean(env.episode_return), r = mean(batch.reward), o = mean(batch.next_obs)\n\
         }}\n"
    )
}

fn train(src: &str, backend: rlpc::run::Backend) -> Vec<f64> {
    let (p, _) = rlpc::front_end_source("env.rlp", src, 7)
        .unwrap_or_else(|(d, s)| panic!("{}\n{src}", rlpc::diag::render_plain(&d, &s)));
    let c = rlpc::run::compile(p, backend).expect("compiles");
    let mut tr = rlpc::run::Trainer::new(&c).expect("init");
    let mut steps = 0;
    for it in 0..3 {
        steps += tr.step(it, None).expect("iteration runs");
    }
    assert_eq!(steps, 3 * 8 * 260);
    let m = tr.metric_values();
    // `ret` has a value once some environment has finished an episode (a long episode
    // limit may outlast the random policy's 780 steps); until then it is NaN.
    let finished = tr
        .state()
        .iter()
        .find(|(n, _)| n == "env.episode_length")
        .map(|(_, t)| t.to_f64_vec().iter().any(|&l| l > 0.0))
        .expect("env.episode_length");
    assert_eq!(m[0].is_finite(), finished, "ret: {m:?}\n{src}");
    assert!(m[1..].iter().all(|v| v.is_finite()), "{m:?}\n{src}");
    m
}

#[test]
fn constructors_train_with_a_random_policy() {
    let discrete = "i32(floor(uniform([8], low: 0.0, high: 3.0)))";
    let cases = [
        (
            "pendulum",
            "pendulum",
            "uniform([8, 1], low: -3.0, high: 3.0)",
        ),
        ("mountain_car", "mountain_car", discrete),
        (
            "mountain_car_continuous",
            "mountain_car_continuous",
            "uniform([8, 1], low: -1.5, high: 1.5)",
        ),
        ("acrobot", "acrobot", discrete),
    ];
    for (module, ctor, action) in cases {
        let src = program(module, ctor, action);
        let a = train(&src, rlpc::run::Backend::Jit);
        let b = train(&src, rlpc::run::Backend::Interp);
        eprintln!("{module}: metrics {a:?}");
        for (x, y) in a.iter().zip(&b) {
            let both_missing = x.is_nan() && y.is_nan();
            assert!(
                both_missing || (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                "{module}: {a:?} vs {b:?}"
            );
        }
        // Pendulum episodes end only by the time limit; 260 steps finish one per env.
        let ret = a[0];
        match module {
            "pendulum" => assert!(ret < 0.0 && ret > -16.3 * 200.0, "{ret}"),
            "mountain_car" => assert_eq!(ret, -200.0),
            "acrobot" => assert!((-500.0..=0.0).contains(&ret), "{ret}"),
            _ => {}
        }
    }
}
