//! Off-policy evaluation (`std.ope`): each estimator against a plain-Rust reference on
//! small fixed episodes (interpreter and JIT), padding that must not matter, the
//! per-episode layout of a dataset, unbiasedness (and WIS's consistency) on a bandit and
//! on a small grid world whose value is known exactly, and the example programs on
//! fixed seeds.

mod common;

use rlp_ir::{DType, Tensor, TensorType};
use rlpc::run::{self, Backend, Trainer};
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};

fn modules() -> Modules {
    let (mods, _) = Modules::load_source("ope_wrappers.rlp", "use std.ope\n")
        .map_err(|(_, d)| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>())
        .unwrap();
    mods
}

/// A compile-time argument.
#[derive(Clone, Copy)]
enum P {
    Int(i64),
    Float(f64),
}

/// `std.ope.func(inputs…, params…)` on the interpreter and on the JIT, which must agree
/// bit for bit; its (single) output.
fn call(mods: &Modules, func: &str, inputs: &[Tensor], params: &[P]) -> Vec<f64> {
    let mut args: Vec<FnArg> = inputs
        .iter()
        .map(|t| FnArg::Tensor(TensorType::new(t.dtype(), t.shape().to_vec())))
        .collect();
    args.extend(params.iter().map(|p| match *p {
        P::Int(i) => FnArg::Int(i),
        P::Float(x) => FnArg::Float(x),
    }));
    let (g, outs) = lower_function(mods, "std.ope", func, args, 7)
        .unwrap_or_else(|d| panic!("{func}: {}", d.message));
    assert_eq!(outs.len(), 1, "{func} has one output");
    let g = run::prepare(&g).unwrap_or_else(|e| panic!("{func}: {e}"));
    let interp = rlp_ir::interp::run(&g, inputs).unwrap_or_else(|e| panic!("{func}: {e}"));
    let jit = rlp_jit::compile(&g, &rlp_jit::JitOptions::default())
        .unwrap_or_else(|e| panic!("{func}: jit compile: {e}"))
        .run(inputs)
        .unwrap_or_else(|e| panic!("{func}: jit: {e}"));
    let (i, j) = (interp[0].to_f64_vec(), jit[0].to_f64_vec());
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&i), bits(&j), "{func}: interpreter vs JIT");
    i
}

/// Fixed pseudo-random values in [0, 1) (xorshift).
fn randoms(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// Small episodes laid out [T, N] (row-major, index t·N + n), as f64 and as tensors.
struct Episodes {
    t: usize,
    n: usize,
    r: Vec<f64>,
    rho: Vec<f64>,
    q: Vec<f64>,
    v: Vec<f64>,
    valid: Vec<bool>,
}

impl Episodes {
    /// Columns of lengths `lengths` (at most `t`); values rounded to f32.
    fn new(t: usize, lengths: &[usize], seed: u64) -> Episodes {
        let n = lengths.len();
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32 as f64).collect::<Vec<_>>();
        let u = |k: u64| randoms(seed * 31 + k, t * n);
        Episodes {
            t,
            n,
            r: f32s(u(1).iter().map(|x| 2.0 * x - 1.0).collect()),
            rho: f32s(u(2).iter().map(|x| 0.2 + 2.3 * x).collect()),
            q: f32s(u(3).iter().map(|x| 1.5 * x - 0.5).collect()),
            v: f32s(u(4).iter().map(|x| 1.5 * x - 0.5).collect()),
            valid: (0..t * n).map(|i| i / n < lengths[i % n]).collect(),
        }
    }

    fn tensor(&self, x: &[f64]) -> Tensor {
        Tensor::from_f64(DType::F32, &[self.t, self.n], x)
    }

    fn valid_tensor(&self) -> Tensor {
        let v: Vec<f64> = self.valid.iter().map(|&b| f64::from(u8::from(b))).collect();
        Tensor::from_f64(DType::Bool, &[self.t, self.n], &v)
    }

    /// The same episodes with `junk` at every padded step of r, rho, q and v.
    fn padded_with(&self, junk: f64) -> Episodes {
        let fill = |x: &[f64]| {
            x.iter()
                .zip(&self.valid)
                .map(|(&x, &ok)| if ok { x } else { junk })
                .collect()
        };
        Episodes {
            r: fill(&self.r),
            rho: fill(&self.rho),
            q: fill(&self.q),
            v: fill(&self.v),
            valid: self.valid.clone(),
            ..*self
        }
    }

    fn at(&self, x: &[f64], t: usize, n: usize) -> f64 {
        x[t * self.n + n]
    }

    /// w[t][n] = ρ[0]…ρ[t] over valid steps (1 at padding), as `cumulative_ratios`.
    fn weights(&self) -> Vec<Vec<f64>> {
        let mut w = vec![vec![0.0; self.n]; self.t];
        for n in 0..self.n {
            let mut c = 1.0;
            for t in 0..self.t {
                if self.valid[t * self.n + n] {
                    c *= self.at(&self.rho, t, n);
                }
                w[t][n] = c;
            }
        }
        w
    }

    fn returns(&self, gamma: f64) -> Vec<f64> {
        (0..self.n)
            .map(|n| {
                (0..self.t)
                    .filter(|&t| self.valid[t * self.n + n])
                    .map(|t| gamma.powi(t as i32) * self.at(&self.r, t, n))
                    .sum()
            })
            .collect()
    }

    fn is_terms(&self, gamma: f64) -> Vec<f64> {
        let w = self.weights();
        let g = self.returns(gamma);
        (0..self.n).map(|n| w[self.t - 1][n] * g[n]).collect()
    }

    fn wis(&self, gamma: f64) -> f64 {
        let w = &self.weights()[self.t - 1];
        let g = self.returns(gamma);
        w.iter().zip(&g).map(|(w, g)| w * g).sum::<f64>() / w.iter().sum::<f64>()
    }

    fn pdis_terms(&self, gamma: f64) -> Vec<f64> {
        let w = self.weights();
        (0..self.n)
            .map(|n| {
                (0..self.t)
                    .filter(|&t| self.valid[t * self.n + n])
                    .map(|t| gamma.powi(t as i32) * w[t][n] * self.at(&self.r, t, n))
                    .sum()
            })
            .collect()
    }

    fn wpdis(&self, gamma: f64) -> f64 {
        let w = self.weights();
        (0..self.t)
            .map(|t| {
                let total: f64 = w[t].iter().sum();
                let paid: f64 = (0..self.n)
                    .filter(|&n| self.valid[t * self.n + n])
                    .map(|n| w[t][n] * self.at(&self.r, t, n))
                    .sum();
                gamma.powi(t as i32) * paid / total
            })
            .sum()
    }

    /// Doubly robust in its unrolled form (Jiang & Li 2016, Thomas & Brunskill 2016):
    /// Σ_t γ^t (w[t-1] V̂[t] + w[t] (r[t] − Q̂[t])), w[-1] = 1 — not the recursion.
    fn dr_terms(&self, gamma: f64) -> Vec<f64> {
        let w = self.weights();
        (0..self.n)
            .map(|n| {
                (0..self.t)
                    .filter(|&t| self.valid[t * self.n + n])
                    .map(|t| {
                        let before = if t == 0 { 1.0 } else { w[t - 1][n] };
                        let (r, q, v) = (
                            self.at(&self.r, t, n),
                            self.at(&self.q, t, n),
                            self.at(&self.v, t, n),
                        );
                        gamma.powi(t as i32) * (before * v + w[t][n] * (r - q))
                    })
                    .sum()
            })
            .collect()
    }

    /// Weighted doubly robust (Thomas & Brunskill 2016, eq. 8), weights normalised per
    /// step over all episodes, w̃[-1] = 1/N.
    fn wdr(&self, gamma: f64) -> f64 {
        let w = self.weights();
        let norm: Vec<Vec<f64>> = w
            .iter()
            .map(|row| {
                let s: f64 = row.iter().sum();
                row.iter().map(|x| x / s).collect()
            })
            .collect();
        let mut total = 0.0;
        for t in 0..self.t {
            for n in (0..self.n).filter(|&n| self.valid[t * self.n + n]) {
                let before = if t == 0 {
                    1.0 / self.n as f64
                } else {
                    norm[t - 1][n]
                };
                let (r, q, v) = (
                    self.at(&self.r, t, n),
                    self.at(&self.q, t, n),
                    self.at(&self.v, t, n),
                );
                total += gamma.powi(t as i32) * (norm[t][n] * (r - q) + before * v);
            }
        }
        total
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn assert_close(func: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{func}: output size");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 2e-5 * w.abs().max(1.0),
            "{func}: element {i} is {g}, want {w}"
        );
    }
}

/// (function, inputs it takes: r, rho, q, v, valid in that order, the gamma, expected).
fn cases(e: &Episodes, gamma: f64) -> Vec<(&'static str, Vec<Tensor>, Vec<f64>)> {
    let (r, rho, q, v, valid) = (
        e.tensor(&e.r),
        e.tensor(&e.rho),
        e.tensor(&e.q),
        e.tensor(&e.v),
        e.valid_tensor(),
    );
    let basic = || vec![r.clone(), rho.clone(), valid.clone()];
    let model = || vec![r.clone(), rho.clone(), q.clone(), v.clone(), valid.clone()];
    let flat_w: Vec<f64> = e.weights().concat();
    vec![
        (
            "cumulative_ratios",
            vec![rho.clone(), valid.clone()],
            flat_w,
        ),
        (
            "discounted_returns",
            vec![r.clone(), valid.clone()],
            e.returns(gamma),
        ),
        ("is_terms", basic(), e.is_terms(gamma)),
        ("is_estimate", basic(), vec![mean(&e.is_terms(gamma))]),
        ("wis_estimate", basic(), vec![e.wis(gamma)]),
        ("pdis_terms", basic(), e.pdis_terms(gamma)),
        ("pdis_estimate", basic(), vec![mean(&e.pdis_terms(gamma))]),
        ("wpdis_estimate", basic(), vec![e.wpdis(gamma)]),
        ("dr_terms", model(), e.dr_terms(gamma)),
        ("dr_estimate", model(), vec![mean(&e.dr_terms(gamma))]),
        ("wdr_estimate", model(), vec![e.wdr(gamma)]),
    ]
}

#[test]
fn estimators_match_a_plain_rust_reference() {
    let mods = modules();
    let mut checked = 0;
    for (t, lengths, seed) in [
        (5, vec![5, 1, 3, 2], 1),
        (4, vec![4, 4, 4], 2),
        (1, vec![1, 1, 1, 1, 1], 3),
        (7, vec![2, 7, 5, 1, 6, 3], 4),
    ] {
        let e = Episodes::new(t, &lengths, seed);
        for gamma in [0.9, 1.0, 0.0] {
            for (func, inputs, want) in cases(&e, gamma) {
                let params = if func == "cumulative_ratios" {
                    vec![]
                } else {
                    vec![P::Float(gamma)]
                };
                let got = call(&mods, func, &inputs, &params);
                assert_close(&format!("{func} (T = {t}, γ = {gamma})"), &got, &want);
                checked += 1;
            }
        }
    }
    assert!(checked >= 100, "{checked} cases");
}

/// NaN and huge values at padded steps leave every estimate bit-identical and finite.
#[test]
fn padded_steps_do_not_matter() {
    let mods = modules();
    let e = Episodes::new(6, &[6, 2, 4, 1, 3], 9);
    for junk in [f64::NAN, 1e30, -7.0] {
        let g = e.padded_with(junk);
        for ((func, clean, _), (_, dirty, _)) in cases(&e, 0.9).into_iter().zip(cases(&g, 0.9)) {
            let params = if func == "cumulative_ratios" {
                vec![]
            } else {
                vec![P::Float(0.9)]
            };
            let a = call(&mods, func, &clean, &params);
            let b = call(&mods, func, &dirty, &params);
            if func == "cumulative_ratios" {
                // Defined at padded steps too (the episode's whole weight).
                assert!(b.iter().all(|x| x.is_finite()), "{func} with {junk}");
            }
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(
                    y.is_finite(),
                    "{func} with {junk} at padding: element {i} is {y}"
                );
                assert_eq!(x.to_bits(), y.to_bits(), "{func} with {junk}: element {i}");
            }
        }
    }
}

/// The identities the doc comments state: DR with Q̂ = V̂ = 0 is PDIS, WDR with a zero
/// model is WPDIS, and with all ratios 1 every estimator is the mean discounted return.
#[test]
fn estimators_reduce_to_each_other() {
    let mods = modules();
    let e = Episodes::new(6, &[6, 2, 4, 1, 3], 5);
    let zero = vec![0.0; e.t * e.n];
    let (r, rho, z, valid) = (
        e.tensor(&e.r),
        e.tensor(&e.rho),
        e.tensor(&zero),
        e.valid_tensor(),
    );
    let g = [P::Float(0.9)];
    let model = [r.clone(), rho.clone(), z.clone(), z.clone(), valid.clone()];
    let basic = [r.clone(), rho.clone(), valid.clone()];
    assert_close(
        "dr_terms(Q̂ = 0) = pdis_terms",
        &call(&mods, "dr_terms", &model, &g),
        &call(&mods, "pdis_terms", &basic, &g),
    );
    assert_close(
        "wdr_estimate(Q̂ = 0) = wpdis_estimate",
        &call(&mods, "wdr_estimate", &model, &g),
        &call(&mods, "wpdis_estimate", &basic, &g),
    );
    let ones = e.tensor(&vec![1.0; e.t * e.n]);
    let on_policy = [r.clone(), ones.clone(), valid.clone()];
    let returns = vec![mean(&e.returns(0.9))];
    for func in [
        "is_estimate",
        "wis_estimate",
        "pdis_estimate",
        "wpdis_estimate",
    ] {
        assert_close(
            &format!("{func} with ρ = 1"),
            &call(&mods, func, &on_policy, &g),
            &returns,
        );
    }
}

#[test]
fn first_episodes_and_discounts() {
    let mods = modules();
    // Columns: done at 1 then 3; never; at 0; at 4 (the last step).
    let (t, n) = (5, 4);
    let done_at = [vec![1, 3], vec![], vec![0], vec![4]];
    let mut done = vec![0.0; t * n];
    for (col, steps) in done_at.iter().enumerate() {
        for &s in steps {
            done[s * n + col] = 1.0;
        }
    }
    let got = call(
        &mods,
        "first_episodes",
        &[Tensor::from_f64(DType::Bool, &[t, n], &done)],
        &[],
    );
    let first_end = [1, t - 1, 0, 4];
    let want: Vec<f64> = (0..t * n)
        .map(|i| f64::from(u8::from(i / n <= first_end[i % n])))
        .collect();
    assert_eq!(got, want);
    for gamma in [0.0, 0.5, 1.0] {
        let got = call(&mods, "step_discounts", &[], &[P::Int(4), P::Float(gamma)]);
        let want: Vec<f64> = (0..4).map(|k| (gamma as f32).powi(k) as f64).collect();
        assert_eq!(got, want, "γ = {gamma}");
    }
}

#[test]
fn fqe_target_and_estimate() {
    let mods = modules();
    let (b, a) = (5, 3);
    let r: Vec<f64> = randoms(11, b).iter().map(|x| (*x as f32) as f64).collect();
    let q: Vec<f64> = randoms(12, b * a)
        .iter()
        .map(|x| (*x as f32) as f64)
        .collect();
    let mut pi: Vec<f64> = randoms(13, b * a).iter().map(|x| x + 0.1).collect();
    for row in pi.chunks_mut(a) {
        let s: f64 = row.iter().sum();
        row.iter_mut().for_each(|p| *p = ((*p / s) as f32) as f64);
    }
    let term = [0.0, 1.0, 0.0, 0.0, 1.0];
    let value = |s: usize| (0..a).map(|k| pi[s * a + k] * q[s * a + k]).sum::<f64>();
    let want: Vec<f64> = (0..b)
        .map(|s| r[s] + if term[s] != 0.0 { 0.0 } else { 0.9 * value(s) })
        .collect();
    let inputs = [
        Tensor::from_f64(DType::F32, &[b], &r),
        Tensor::from_f64(DType::F32, &[b, a], &q),
        Tensor::from_f64(DType::F32, &[b, a], &pi),
        Tensor::from_f64(DType::Bool, &[b], &term),
    ];
    let got = call(&mods, "fqe_target", &inputs, &[P::Float(0.9)]);
    assert_close("fqe_target", &got, &want);
    let got = call(&mods, "fqe_estimate", &inputs[1..3], &[]);
    assert_close(
        "fqe_estimate",
        &got,
        &[(0..b).map(value).sum::<f64>() / b as f64],
    );
}

/// `episodes(ds)` at top level (computed by the init graph, so the dataset's rows must
/// be there before it runs): step t of episode e at [t, e], the last row repeated at
/// padded steps, `valid` where t < the episode's length; an episode cut off by the end
/// of the file (no termination or truncation) is an episode too.
#[test]
fn episodes_lays_a_dataset_out_by_episode() {
    let dir = std::env::temp_dir().join(format!("rlpc-ope-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("eps.npz");
    let lengths = [2usize, 4, 1, 3];
    let rows: usize = lengths.iter().sum();
    let mut term = vec![0.0; rows];
    let mut trunc = vec![0.0; rows];
    term[1] = 1.0; // episode 0 terminates
    trunc[5] = 1.0; // episode 1 is truncated
    term[6] = 1.0; // episode 2; episode 3 runs to the end of the file
    let obs: Vec<f64> = (0..rows * 2).map(|i| i as f64).collect();
    let reward: Vec<f64> = (0..rows).map(|i| 10.0 + i as f64).collect();
    let action: Vec<f64> = (0..rows).map(|i| (i % 3) as f64).collect();
    let arrays = [
        (
            "observations",
            Tensor::from_f64(DType::F32, &[rows, 2], &obs),
        ),
        ("actions", Tensor::from_f64(DType::I32, &[rows], &action)),
        ("rewards", Tensor::from_f64(DType::F32, &[rows], &reward)),
        (
            "next_observations",
            Tensor::from_f64(DType::F32, &[rows, 2], &obs),
        ),
        (
            "terminations",
            Tensor::from_f64(DType::Bool, &[rows], &term),
        ),
        (
            "truncations",
            Tensor::from_f64(DType::Bool, &[rows], &trunc),
        ),
    ];
    let named: Vec<(String, Tensor)> = arrays
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    rlp_runtime::io::save_npz(&file, &named).unwrap();
    let src = format!(
        "use std.ope.{{episodes}}\n\
         ds = dataset(\"{}\")\n\
         ep = episodes(ds)\n\
         train iterations: 1 {{\n  log n = sum(f32(ep.valid)), r = sum(ep.data.reward), o = sum(ep.data.obs), a = sum(f32(ep.data.action))\n}}\n",
        file.display()
    );
    let (p, _) = rlpc::front_end_source("layout.rlp", &src, 0)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let c = run::compile(p, Backend::Jit).unwrap();
    let t = Trainer::new(&c).unwrap();
    let slot = |name: &str| {
        let names: Vec<&str> = c.program.slots.iter().map(|s| s.name.as_str()).collect();
        let i = names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no slot `{name}` among {names:?}"));
        (t.slots[i].shape().to_vec(), t.slots[i].to_f64_vec())
    };
    let (e, t_max) = (lengths.len(), 4);
    let starts = [0usize, 2, 6, 7];
    let row = |t: usize, k: usize| starts[k] + t.min(lengths[k] - 1);
    let (shape, valid) = slot("ep.valid");
    assert_eq!(shape, vec![t_max, e]);
    let want: Vec<f64> = (0..t_max * e)
        .map(|i| f64::from(u8::from(i / e < lengths[i % e])))
        .collect();
    assert_eq!(valid, want);
    let (shape, r) = slot("ep.data.reward");
    assert_eq!(shape, vec![t_max, e]);
    let want: Vec<f64> = (0..t_max * e).map(|i| reward[row(i / e, i % e)]).collect();
    assert_eq!(r, want);
    let (shape, o) = slot("ep.data.obs");
    assert_eq!(shape, vec![t_max, e, 2]);
    let want: Vec<f64> = (0..t_max * e * 2)
        .map(|i| obs[row(i / 2 / e, i / 2 % e) * 2 + i % 2])
        .collect();
    assert_eq!(o, want);
    let (_, a) = slot("ep.data.action");
    let want: Vec<f64> = (0..t_max * e).map(|i| action[row(i / e, i % e)]).collect();
    assert_eq!(a, want);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Mean and standard error of the mean.
fn mean_se(x: &[f64]) -> (f64, f64) {
    let m = mean(x);
    let var = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64;
    (m, (var / x.len() as f64).sqrt())
}

/// On a bandit, each iteration a new data set of 20 uniformly random pulls: over 2,000
/// data sets IS and DR average to the exact value within 4 standard errors; WIS is
/// biased at 20 pulls, and its error shrinks with 2,000 pulls (consistent).
#[test]
fn bandit_estimates_are_unbiased_and_wis_is_consistent() {
    let names = ["is", "wis", "dr", "dm", "exact"];
    let h = common::metric_history("ope_bandit.rlp", 0, &[], &names);
    let exact = h[4][0];
    assert!((exact - 0.73).abs() < 1e-6, "exact {exact}");
    for (k, name) in [(0, "is"), (2, "dr")] {
        let (m, se) = mean_se(&h[k]);
        assert!(
            (m - exact).abs() <= 4.0 * se,
            "{name}: {m} ± {se} over {} data sets vs {exact}",
            h[k].len()
        );
    }
    // DR's model is fit on earlier data sets: less spread than IS.
    let spread = |x: &[f64]| mean_se(x).1;
    assert!(spread(&h[2]) < 0.7 * spread(&h[0]), "dr no better than is");
    let (small, _) = mean_se(&h[1]);
    let big = common::metric_history(
        "ope_bandit.rlp",
        1,
        &[("pulls", "2000"), ("iters", "20")],
        &["wis"],
    );
    let (large, se) = mean_se(&big[0]);
    assert!(
        (large - exact).abs() < 0.005,
        "wis over 2000 pulls: {large} ± {se}"
    );
    assert!(
        (large - exact).abs() < (small - exact).abs(),
        "wis bias at 20 pulls {} vs at 2000 {}",
        small - exact,
        large - exact
    );
}

/// On the grid world, 20,000 behaviour episodes (100 data sets of the default 200):
/// IS, PDIS and DR with the exact model average to the exact 30-step value within 4
/// standard errors, WIS and WPDIS are close, and on-policy episodes agree with the
/// exact value (so the model and the environment are the same MDP).
#[test]
fn gridworld_estimates_are_unbiased() {
    let names = [
        "is",
        "pdis",
        "dr_exact",
        "is_se",
        "pdis_se",
        "dr_exact_se",
        "wis",
        "wpdis",
        "exact",
        "mc",
        "mc_se",
    ];
    let h = common::metric_history(
        "ope_gridworld_sampled.rlp",
        3,
        &[("episodes", "20000"), ("iters", "1")],
        &names,
    );
    let m: Vec<f64> = h.iter().map(|x| x[0]).collect();
    let exact = m[8];
    for k in 0..3 {
        assert!(
            (m[k] - exact).abs() <= 4.0 * m[k + 3],
            "{}: {} ± {} vs {exact}",
            names[k],
            m[k],
            m[k + 3]
        );
    }
    assert!(
        m[5] < 0.3 * m[4],
        "dr with the exact model: se {} vs pdis {}",
        m[5],
        m[4]
    );
    for k in [6, 7] {
        assert!(
            (m[k] - exact).abs() < 0.01,
            "{}: {} vs {exact}",
            names[k],
            m[k]
        );
    }
    assert!(
        (m[9] - exact).abs() <= 4.0 * m[10],
        "mc {} ± {} vs {exact}",
        m[9],
        m[10]
    );
}

/// The example programs on seed 0 (see docs/ope.md for the spread over seeds).
#[test]
fn examples_estimate_the_gridworld_value() {
    let names = [
        "is", "wis", "pdis", "wpdis", "fqe", "dr", "wdr", "exact", "mc", "mc_se",
    ];
    for program in ["ope_gridworld.rlp", "ope_gridworld_sampled.rlp"] {
        let m = common::final_metrics(program, 0, &[], &names);
        let exact = m[7];
        assert!((exact - 0.4394).abs() < 1e-3, "{program}: exact {exact}");
        assert!(
            (m[8] - exact).abs() <= 4.0 * m[9],
            "{program}: mc {} vs {exact}",
            m[8]
        );
        // Tolerances: about two of each estimator's standard deviations over seeds of
        // ope_gridworld_sampled.rlp (docs/ope.md); FQE and DR within 0.03.
        let tol = [0.1, 0.06, 0.12, 0.06, 0.03, 0.03, 0.03];
        for k in 0..7 {
            assert!(
                (m[k] - exact).abs() <= tol[k],
                "{program}: {} = {} vs exact {exact} (tolerance {})",
                names[k],
                m[k],
                tol[k]
            );
        }
    }
}
