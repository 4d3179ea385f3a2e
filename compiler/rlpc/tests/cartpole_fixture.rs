//! The CartPole kernel against Gymnasium's CartPole-v1: the committed fixture
//! (`tools/make_cartpole_fixture.py`) holds 6 episodes of recorded initial states,
//! actions, observations and flags. All 6 run as 6 environments of one kernel.

use rlp_ir::{DType, Tensor, TensorType};
use rlp_runtime::Executable;
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};
use std::collections::HashMap;
use std::path::Path;

fn fixture() -> HashMap<String, Tensor> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runtime/tests/fixtures/cartpole_v1.npz");
    rlp_runtime::io::load_npz(&path)
        .expect("fixture loads")
        .into_iter()
        .collect()
}

/// Distance in ulps between two finite f64s, through their ordered bits.
fn ulps(a: f64, b: f64) -> u64 {
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 { i64::MIN - i } else { i }
    };
    key(a).abs_diff(key(b))
}

/// Replays the fixture; returns (steps, steps whose observation is bit-identical, steps
/// whose f64 state is bit-identical, the largest state distance in ulps).
fn replay(exe: &dyn Executable, names: &[String]) -> (usize, usize, usize, u64) {
    let fx = fixture();
    let lengths: Vec<usize> = fx["length"]
        .to_f64_vec()
        .iter()
        .map(|&l| l as usize)
        .collect();
    let e = lengths.len();
    let tmax = fx["actions"].shape()[1];
    let actions = fx["actions"].to_f64_vec();
    let obs = fx["obs"].to_f64_vec();
    let states = fx["state_f64"].to_f64_vec();
    let (mut exact_obs, mut exact_state, mut max_ulps) = (0, 0, 0);
    let term = fx["terminated"].to_f64_vec();
    let reward = fx["reward"].to_f64_vec();
    let mut state = fx["init_state_f64"].clone();
    let idx = |n: &str| {
        names
            .iter()
            .position(|x| x == n)
            .unwrap_or_else(|| panic!("no output {n} in {names:?}"))
    };
    let (si, ri, ti) = (idx("state"), idx("reward"), idx("terminated"));
    let mut checked = 0;
    for t in 0..*lengths.iter().max().unwrap() {
        // Episodes already over step with action 0; their results are ignored.
        let a: Vec<f64> = (0..e).map(|k| actions[k * tmax + t].max(0.0)).collect();
        let out = exe
            .run(&[state.clone(), Tensor::from_f64(DType::I32, &[e], &a)])
            .expect("step runs");
        let s2 = out[si].to_f64_vec();
        let r = out[ri].to_f64_vec();
        let d = out[ti].to_f64_vec();
        for k in 0..e {
            if t >= lengths[k] {
                continue;
            }
            let (mut obs_same, mut state_ulps) = (true, 0);
            for j in 0..4 {
                state_ulps = state_ulps.max(ulps(s2[k * 4 + j], states[(k * tmax + t) * 4 + j]));
                let got = s2[k * 4 + j] as f32;
                let want = obs[(k * tmax + t) * 4 + j] as f32;
                obs_same &= got.to_bits() == want.to_bits();
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "episode {k} step {t} component {j}: {got} vs gymnasium {want}"
                );
            }
            assert_eq!(d[k], term[k * tmax + t], "episode {k} step {t}: terminated");
            assert_eq!(
                r[k] as f32,
                reward[k * tmax + t] as f32,
                "episode {k} step {t}: reward"
            );
            checked += 1;
            exact_obs += obs_same as usize;
            exact_state += (state_ulps == 0) as usize;
            max_ulps = max_ulps.max(state_ulps);
        }
        state = out[si].clone();
    }
    assert!(checked >= 1000, "only {checked} steps compared");
    eprintln!(
        "MEASURE cartpole: {checked} steps, observations bit-identical {exact_obs}, \
         states bit-identical {exact_state}, max state distance {max_ulps} ulps"
    );
    (checked, exact_obs, exact_state, max_ulps)
}

fn step_graph() -> (rlp_ir::Graph, Vec<String>) {
    let mods = Modules::stdlib(&["std.env.cartpole"]).expect("stdlib loads");
    let e = fixture()["length"].len();
    lower_function(
        &mods,
        "std.env.cartpole",
        "step",
        vec![
            FnArg::Tensor(TensorType::new(DType::F64, vec![e, 4])),
            FnArg::Tensor(TensorType::new(DType::I32, vec![e])),
        ],
        0,
    )
    .expect("step lowers")
}

#[test]
fn interpreter_reproduces_gymnasium() {
    let (g, names) = step_graph();
    let exe = rlp_ir::interp::Interpreter::new(g).unwrap();
    assert_bit_identical(replay(&exe, &names));
}

#[test]
fn jit_reproduces_gymnasium() {
    let (g, names) = step_graph();
    let exe = rlp_jit::compile(
        &rlpc::run::prepare(&g).unwrap(),
        &rlp_jit::JitOptions::default(),
    )
    .unwrap();
    assert_bit_identical(replay(exe.as_ref(), &names));
}

/// What `docs/envs/cartpole.md` claims: every observation and every f64 state of the
/// fixture identical to Gymnasium's, bit for bit.
fn assert_bit_identical((steps, exact_obs, exact_state, max_ulps): (usize, usize, usize, u64)) {
    assert_eq!(
        (exact_obs, exact_state, max_ulps),
        (steps, steps, 0),
        "of {steps} steps"
    );
}
