//! The estimator and loss library (`std.estimators`, `std.losses`) against reference
//! values computed independently with plain numpy loops in float64
//! (`tools/make_estimator_fixtures.py` → `fixtures/estimators.npz`).
//!
//! Fixture layout: a case `FN__label` calls the function `FN` with the tensor inputs
//! `FN__label.i0`, `.i1`, … (in parameter order), then the compile-time parameters in
//! `.p` (floats; see `int_params` for the ones that are ints), and expects `.out`
//! within `.tol` (|got - want| ≤ tol · max(1, |want|)). A case with a `.same` array
//! (the name of a twin case, as bytes) must give outputs bit-identical to its twin's at
//! the positions where `.valid` holds, and finite there: garbage (NaN, huge values) in
//! positions that must not matter.
//!
//! Every case runs on the interpreter and on the JIT. Scan estimators are also run on
//! their N columns split in two halves (chunked evaluation) and must match the whole
//! bit for bit. The gradients of representative losses are checked against central
//! finite differences in the f64 mode of the graph.

use rlp_ir::{DType, Graph, NodeId, Op, Tensor, TensorType};
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};
use std::collections::BTreeMap;
use std::path::Path;

/// Small wrappers for functions that take functions, and for gradient checks.
const WRAPPERS: &str = r#"
use std.estimators.{gae}
use std.losses.{mean_elbo, gaussian_log_prob, kl_categorical, kl_gaussian}

/// ELBO with a unit-variance Gaussian decoder centred on z.
fn elbo_gaussian_decoder(mu, log_std, noise, x) {
  mean_elbo(z -> gaussian_log_prob(x, z, zeros_like(z)), mu, log_std, noise)
}
fn mean_kl_categorical(p, q) { mean(kl_categorical(p, q)) }
fn mean_kl_gaussian(m1, s1, m2, s2) { mean(kl_gaussian(m1, s1, m2, s2)) }

/// `n_step_return` as it was written before it became a loop: one recursive call per
/// round (so it stopped at 200 rounds).
fn n_step_recursive(r, next_v, terminated, truncated, n, gamma) {
  boot = where(terminated, 0.0, next_v)
  cut = terminated or truncated
  n_step_rounds(r, boot, cut, boot[-1:], n - 1, gamma, r + gamma * boot)
}
fn n_step_rounds(r, boot, cut, last, k, gamma, g) {
  if k <= 0 then g else {
    later = concat([g[1:], last], axis: 0)
    n_step_rounds(r, boot, cut, last, k - 1, gamma, r + gamma * where(cut, boot, later))
  }
}
"#;

fn modules() -> Modules {
    let (mods, _) = Modules::load_source("wrappers.rlp", WRAPPERS)
        .map_err(|(_, d)| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>())
        .unwrap();
    mods
}

/// Which module holds `name`.
fn module_of(mods: &Modules, name: &str) -> &'static str {
    for m in ["std.estimators", "std.losses", "wrappers.rlp"] {
        if mods
            .mods
            .iter()
            .any(|x| x.name == m && x.fns.contains_key(name))
        {
            return m;
        }
    }
    panic!("no module defines `{name}`")
}

/// Positions (among the compile-time parameters) that are ints.
fn int_params(name: &str) -> &'static [usize] {
    match name {
        "n_step_return" | "n_step_recursive" => &[0],
        "expectile" => &[1],
        _ => &[],
    }
}

struct Case {
    name: String,
    func: String,
    inputs: Vec<Tensor>,
    params: Vec<f64>,
    out: Tensor,
    tol: f64,
    twin: Option<(String, Vec<bool>)>,
}

fn load_cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/estimators.npz");
    let arrays: BTreeMap<String, Tensor> = rlp_runtime::io::load_npz(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .collect();
    let mut names: Vec<String> = arrays
        .keys()
        .filter_map(|k| k.strip_suffix(".out").map(str::to_string))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let get = |s: &str| arrays.get(&format!("{name}.{s}")).cloned();
            let mut inputs = vec![];
            while let Some(t) = get(&format!("i{}", inputs.len())) {
                inputs.push(t);
            }
            let twin = get("same").map(|b| {
                let bytes: Vec<u8> = b.to_f64_vec().iter().map(|&x| x as u8).collect();
                let valid = get("valid")
                    .expect("a `.same` case has a `.valid` mask")
                    .to_f64_vec()
                    .iter()
                    .map(|&x| x != 0.0)
                    .collect();
                (String::from_utf8(bytes).unwrap(), valid)
            });
            Case {
                func: name.split("__").next().unwrap().to_string(),
                inputs,
                params: get("p").map(|p| p.to_f64_vec()).unwrap_or_default(),
                out: get("out").expect("out"),
                tol: get("tol").expect("tol").to_f64_vec()[0],
                twin,
                name,
            }
        })
        .collect()
}

fn lower(mods: &Modules, func: &str, inputs: &[Tensor], params: &[f64]) -> Graph {
    let mut args: Vec<FnArg> = inputs
        .iter()
        .map(|t| FnArg::Tensor(TensorType::new(t.dtype(), t.shape().to_vec())))
        .collect();
    for (k, &p) in params.iter().enumerate() {
        args.push(if int_params(func).contains(&k) {
            FnArg::Int(p as i64)
        } else {
            FnArg::Float(p)
        });
    }
    let (g, outs) = lower_function(mods, module_of(mods, func), func, args, 7)
        .unwrap_or_else(|d| panic!("{func}: {}", d.message));
    assert_eq!(outs.len(), 1, "{func} has one output");
    rlpc::run::prepare(&g).unwrap_or_else(|e| panic!("{func}: {e}"))
}

/// (interpreter, JIT) results.
fn run_both(mods: &Modules, func: &str, inputs: &[Tensor], params: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let g = lower(mods, func, inputs, params);
    let interp =
        rlp_ir::interp::run(&g, inputs).unwrap_or_else(|e| panic!("{func}: interpreter: {e}"));
    let jit = rlp_jit::compile(&g, &rlp_jit::JitOptions::default())
        .unwrap_or_else(|e| panic!("{func}: jit compile: {e}"))
        .run(inputs)
        .unwrap_or_else(|e| panic!("{func}: jit: {e}"));
    (interp[0].to_f64_vec(), jit[0].to_f64_vec())
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1.0)
}

#[test]
fn estimators_and_losses_match_the_numpy_reference() {
    let mods = modules();
    let cases = load_cases();
    assert!(cases.len() > 40, "the fixture holds {} cases", cases.len());
    let mut results: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for c in &cases {
        let (interp, jit) = run_both(&mods, &c.func, &c.inputs, &c.params);
        let want = c.out.to_f64_vec();
        assert_eq!(interp.len(), want.len(), "{}: output size", c.name);
        for (backend, got) in [("interpreter", &interp), ("jit", &jit)] {
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                let valid = c.twin.as_ref().is_none_or(|(_, v)| v[i]);
                if valid {
                    assert!(
                        close(g, w, c.tol),
                        "{} on the {backend}: element {i} is {g}, want {w} (tol {})",
                        c.name,
                        c.tol
                    );
                }
            }
        }
        results.insert(c.name.clone(), (interp, jit));
    }
    // Garbage in positions that must not matter: finite and bit-identical outputs.
    let mut twins = 0;
    for c in &cases {
        let Some((twin, valid)) = &c.twin else {
            continue;
        };
        twins += 1;
        let (a, b) = (&results[&c.name], &results[twin]);
        for (backend, x, y) in [("interpreter", &a.0, &b.0), ("jit", &a.1, &b.1)] {
            for i in (0..x.len()).filter(|&i| valid[i]) {
                assert!(
                    x[i].is_finite(),
                    "{} on the {backend}: element {i} is {}",
                    c.name,
                    x[i]
                );
                assert_eq!(
                    x[i].to_bits(),
                    y[i].to_bits(),
                    "{} vs {twin} on the {backend}: element {i}",
                    c.name
                );
            }
        }
    }
    assert!(twins >= 4, "only {twins} garbage cases");
}

/// Columns `lo..hi` of axis 1 of a tensor of rank ≥ 2.
fn columns(t: &Tensor, lo: usize, hi: usize) -> Tensor {
    let s = t.shape();
    let inner: usize = s[2..].iter().product();
    let v = t.to_f64_vec();
    let mut out = vec![];
    for i in 0..s[0] {
        for j in lo..hi {
            let base = (i * s[1] + j) * inner;
            out.extend_from_slice(&v[base..base + inner]);
        }
    }
    let mut shape = s.to_vec();
    shape[1] = hi - lo;
    Tensor::from_f64(t.dtype(), &shape, &out)
}

#[test]
fn chunked_evaluation_equals_unchunked() {
    let mods = modules();
    let sequence_fns = [
        "reward_to_go",
        "episode_return",
        "gae",
        "td_lambda",
        "n_step_return",
        "cumulative_importance",
        "doubly_robust",
    ];
    let mut checked = 0;
    for c in load_cases() {
        if !sequence_fns.contains(&c.func.as_str()) {
            continue;
        }
        let n = c.inputs[0].shape()[1];
        if n < 2 {
            continue;
        }
        let (whole_i, whole_j) = run_both(&mods, &c.func, &c.inputs, &c.params);
        let whole = Tensor::from_f64(DType::F64, c.out.shape(), &whole_i);
        let whole_j = Tensor::from_f64(DType::F64, c.out.shape(), &whole_j);
        for (lo, hi) in [(0, n / 2), (n / 2, n)] {
            let part: Vec<Tensor> = c.inputs.iter().map(|t| columns(t, lo, hi)).collect();
            let (pi, pj) = run_both(&mods, &c.func, &part, &c.params);
            let (wi, wj) = (columns(&whole, lo, hi), columns(&whole_j, lo, hi));
            for (x, y) in pi.iter().zip(wi.to_f64_vec()) {
                assert_eq!(
                    x.to_bits(),
                    y.to_bits(),
                    "{} interpreter chunk {lo}..{hi}",
                    c.name
                );
            }
            for (x, y) in pj.iter().zip(wj.to_f64_vec()) {
                assert_eq!(x.to_bits(), y.to_bits(), "{} jit chunk {lo}..{hi}", c.name);
            }
        }
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} chunked cases");
}

/// Fixed pseudo-random values in [-1, 1) (xorshift).
fn randoms(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect()
}

/// Reverse-mode gradients of a scalar loss (f64 mode of the graph) against central
/// finite differences through the interpreter. `ints` are (input, depth) of index
/// inputs; `stopped` the inputs the loss holds fixed with `stop`, whose autodiff
/// gradient must be exactly zero.
fn gradient_check(
    func: &str,
    shapes: &[Vec<usize>],
    ints: &[(usize, usize)],
    params: &[f64],
    stopped: &[usize],
) {
    let mods = modules();
    let tys: Vec<TensorType> = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let dt = if ints.iter().any(|&(i, _)| i == k) {
                DType::I32
            } else {
                DType::F32
            };
            TensorType::new(dt, s.clone())
        })
        .collect();
    let mut args: Vec<FnArg> = tys.iter().cloned().map(FnArg::Tensor).collect();
    args.extend(params.iter().map(|&p| FnArg::Float(p)));
    let (g, _) = lower_function(&mods, module_of(&mods, func), func, args, 3)
        .unwrap_or_else(|d| panic!("{func}: {}", d.message));
    let mut g = rlp_ir::precision::to_f64(&g);
    let loss = g.outputs[0];
    let input_nodes: Vec<(usize, NodeId)> = g
        .ids()
        .filter_map(|id| match g.node(id).op {
            Op::Input(k) if tys[k].dtype.is_float() => Some((k, id)),
            _ => None,
        })
        .collect();
    let wrt: Vec<NodeId> = input_nodes.iter().map(|&(_, id)| id).collect();
    let grads = rlp_ir::autodiff::grad(&mut g, loss, &wrt).unwrap();
    g.outputs = std::iter::once(loss).chain(grads).collect();
    let g = rlpc::run::prepare(&g).unwrap();
    let forward = {
        let mut f = g.clone();
        f.outputs.truncate(1);
        rlpc::run::prepare(&f).unwrap()
    };
    let mut inputs: Vec<Tensor> = tys
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let n = t.numel();
            let r = randoms(0x1234_5678 + 977 * k as u64, n);
            let vals: Vec<f64> = match ints.iter().find(|&&(i, _)| i == k) {
                Some(&(_, depth)) => r
                    .iter()
                    .map(|x| ((x + 1.0) / 2.0 * depth as f64).floor())
                    .collect(),
                None => r.iter().map(|x| x * 1.5).collect(),
            };
            let dt = if t.dtype.is_float() {
                DType::F64
            } else {
                t.dtype
            };
            Tensor::from_f64(dt, &t.shape, &vals)
        })
        .collect();
    let out = rlp_ir::interp::run(&g, &inputs).unwrap();
    let h = 1e-6;
    for (slot, &(k, _)) in input_nodes.iter().enumerate() {
        let analytic = out[1 + slot].to_f64_vec();
        let base = inputs[k].to_f64_vec();
        if stopped.contains(&k) {
            assert!(
                analytic.iter().all(|&g| g == 0.0),
                "{func}: input {k} is held fixed by `stop` but has gradient {analytic:?}"
            );
            continue;
        }
        for i in 0..base.len() {
            let mut eval = |delta: f64| {
                let mut v = base.clone();
                v[i] += delta;
                inputs[k] = Tensor::from_f64(DType::F64, &shapes[k], &v);
                rlp_ir::interp::run(&forward, &inputs).unwrap()[0].to_f64_vec()[0]
            };
            let numeric = (eval(h) - eval(-h)) / (2.0 * h);
            inputs[k] = Tensor::from_f64(DType::F64, &shapes[k], &base);
            assert!(
                (numeric - analytic[i]).abs() <= 1e-6 * numeric.abs().max(1.0),
                "{func}: d/d input {k}[{i}]: autodiff {} vs finite differences {numeric}",
                analytic[i]
            );
        }
    }
}

#[test]
fn loss_gradients_match_finite_differences() {
    gradient_check("huber", &[vec![4, 3], vec![4, 3]], &[], &[0.7], &[]);
    gradient_check("expectile_loss", &[vec![5, 2]], &[], &[0.8], &[]);
    gradient_check(
        "conservative_penalty",
        &[vec![6, 4], vec![6]],
        &[(1, 4)],
        &[],
        &[],
    );
    let v12 = || vec![vec![12]; 3];
    gradient_check("clipped_surrogate", &v12(), &[], &[0.2], &[1, 2]);
    gradient_check(
        "importance_weighted_pg",
        &vec![vec![3, 4]; 3],
        &[],
        &[],
        &[1, 2],
    );
    gradient_check(
        "advantage_weighted_nll",
        &[vec![7], vec![7]],
        &[],
        &[0.5, 2.0],
        &[1],
    );
    gradient_check(
        "mean_kl_categorical",
        &[vec![3, 5], vec![3, 5]],
        &[],
        &[],
        &[],
    );
    gradient_check("mean_kl_gaussian", &vec![vec![3, 2]; 4], &[], &[], &[]);
    gradient_check("elbo_gaussian_decoder", &vec![vec![4, 3]; 4], &[], &[], &[]);
}

/// The n-step return is a loop of n rounds: bit-identical to the recursive form it
/// replaced, right for any n ≥ 1 (200 rounds used to exceed the call depth), and for
/// n beyond the rollout's length equal to n = T (every step already bootstraps at the
/// end of the rollout or its episode).
#[test]
fn n_step_return_is_a_loop_for_any_n() {
    let mods = modules();
    let (t, n_env) = (7, 3);
    let f = |seed| Tensor::from_f64(DType::F32, &[t, n_env], &randoms(seed, t * n_env));
    let flag = |seed, p: f64| {
        let bits: Vec<f64> = randoms(seed, t * n_env)
            .iter()
            .map(|&x| f64::from(u8::from(x < 2.0 * p - 1.0)))
            .collect();
        Tensor::from_f64(DType::Bool, &[t, n_env], &bits)
    };
    let inputs = [f(1), f(2), flag(3, 0.15), flag(4, 0.15)];
    let bits = |xs: &[f64]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let by_n = |func: &str, n: usize| {
        let (i, j) = run_both(&mods, func, &inputs, &[n as f64, 0.9]);
        assert_eq!(bits(&i), bits(&j), "{func} n = {n}: interpreter vs JIT");
        bits(&i)
    };
    for n in 1..=t + 2 {
        assert_eq!(
            by_n("n_step_return", n),
            by_n("n_step_recursive", n),
            "n = {n}"
        );
    }
    assert_eq!(by_n("n_step_return", 200), by_n("n_step_recursive", t));
}
