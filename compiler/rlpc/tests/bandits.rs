//! `std.bandit` (`stdlib/bandit.rlp`): the posterior updates against their closed forms,
//! the Gamma and Beta samplers' moments against theirs, fresh draws in every iteration,
//! the information-directed rule on hand-made posterior draws, and the shape of the
//! example programs' regret: logarithmic for UCB1 and Thompson sampling, linear for a
//! fixed ε.

mod common;

use rlp_ir::{DType, Tensor, TensorType};
use rlp_runtime::Executable;
use rlpc::run::{self, Backend, Trainer};
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};
use std::path::Path;

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

const BACKENDS: [(&str, Build); 2] = [("interp", interp), ("jit", jit)];

/// Wrappers taking tensors, since a test can pass only tensors and numbers.
const SRC: &str = "use std.bandit.{beta_update, gaussian_update, sample_gamma, sample_beta}\n\
    use std.bandit.{ids_variance, lai_robbins_constant}\n\
    pub fn beta(alpha: [N, K], beta: [N, K], a: [N] i32, r: [N]) {\n\
      beta_update({ alpha: alpha, beta: beta }, a, r)\n\
    }\n\
    pub fn gauss(mean: [N, K], precision: [N, K], a: [N] i32, r: [N]) {\n\
      gaussian_update({ mean: mean, precision: precision }, a, r, noise_var: 0.25)\n\
    }\n\
    pub fn gamma(a: [N]) { sample_gamma(a) }\n\
    pub fn gamma_twice(a: [N]) { (sample_gamma(a), sample_gamma(a)) }\n\
    pub fn beta_draws(a: [N], b: [N]) { sample_beta(a, b) }\n\
    pub fn ids(theta: [N, M, K]) { ids_variance(theta) }\n\
    pub fn lai_robbins() { lai_robbins_constant([0.1, 0.5, 0.55, 0.9]) + zeros([1]) }\n";

fn mods() -> Modules {
    Modules::load_source("bandit_test.rlp", SRC)
        .map_err(|(_, d)| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>())
        .unwrap()
        .0
}

fn t(d: DType, shape: &[usize]) -> FnArg {
    FnArg::Tensor(TensorType::new(d, shape.to_vec()))
}

/// Lowers `bandit_test.rlp`'s `name(args…)`, builds it and runs it on `inputs`.
fn run_fn(
    mods: &Modules,
    name: &str,
    args: Vec<FnArg>,
    inputs: &[Tensor],
    b: Build,
) -> Vec<Vec<f64>> {
    let (g, _) = lower_function(mods, "bandit_test.rlp", name, args, 0)
        .unwrap_or_else(|d| panic!("{name}: {}", d.message));
    let out = b(g).run(inputs).expect("runs");
    out.iter().map(|x| x.to_f64_vec()).collect()
}

/// A small deterministic generator for test inputs (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

// ---------------------------------------------------------------- posterior updates

/// Pulls and 0/1 rewards applied one at a time give the counts: alpha = 1 + successes,
/// beta = 1 + failures of each arm, counted here independently.
#[test]
fn beta_update_counts_successes_and_failures() {
    let mods = mods();
    let (n, k, steps) = (6, 3, 25);
    let mut rng = Rng(0x5eed);
    for (bn, b) in BACKENDS {
        let mut alpha = vec![1.0; n * k];
        let mut beta = vec![1.0; n * k];
        let (mut wins, mut losses) = (vec![0.0; n * k], vec![0.0; n * k]);
        for _ in 0..steps {
            let a: Vec<f64> = (0..n).map(|_| (rng.next() * k as f64).floor()).collect();
            let r: Vec<f64> = (0..n).map(|_| (rng.next() < 0.4) as i32 as f64).collect();
            for i in 0..n {
                let j = i * k + a[i] as usize;
                if r[i] == 1.0 {
                    wins[j] += 1.0;
                } else {
                    losses[j] += 1.0;
                }
            }
            let inputs = [
                Tensor::from_f64(DType::F32, &[n, k], &alpha),
                Tensor::from_f64(DType::F32, &[n, k], &beta),
                Tensor::from_f64(DType::I32, &[n], &a),
                Tensor::from_f64(DType::F32, &[n], &r),
            ];
            let args = vec![
                t(DType::F32, &[n, k]),
                t(DType::F32, &[n, k]),
                t(DType::I32, &[n]),
                t(DType::F32, &[n]),
            ];
            let out = run_fn(&mods, "beta", args, &inputs, b);
            (alpha, beta) = (out[0].clone(), out[1].clone());
        }
        for j in 0..n * k {
            assert_eq!(alpha[j], 1.0 + wins[j], "{bn}: alpha of arm {j}");
            assert_eq!(beta[j], 1.0 + losses[j], "{bn}: beta of arm {j}");
        }
    }
}

/// Sequential Normal updates (known noise variance 0.25) equal the batch posterior:
/// precision 1/v0 + n/σ², mean (m0/v0 + Σx/σ²) / precision, from the prior N(m0, v0).
#[test]
fn gaussian_update_matches_the_batch_posterior() {
    let mods = mods();
    let (n, k, steps, noise_var) = (5, 4, 30, 0.25);
    let (m0, v0) = (0.3, 2.0);
    let mut rng = Rng(42);
    for (bn, b) in BACKENDS {
        let mut mean = vec![m0; n * k];
        let mut precision = vec![1.0 / v0; n * k];
        let (mut count, mut sum) = (vec![0.0; n * k], vec![0.0; n * k]);
        for _ in 0..steps {
            let a: Vec<f64> = (0..n).map(|_| (rng.next() * k as f64).floor()).collect();
            let r: Vec<f64> = (0..n).map(|_| 4.0 * rng.next() - 1.0).collect();
            for i in 0..n {
                let j = i * k + a[i] as usize;
                count[j] += 1.0;
                // The value the f32 input holds.
                sum[j] += r[i] as f32 as f64;
            }
            let inputs = [
                Tensor::from_f64(DType::F32, &[n, k], &mean),
                Tensor::from_f64(DType::F32, &[n, k], &precision),
                Tensor::from_f64(DType::I32, &[n], &a),
                Tensor::from_f64(DType::F32, &[n], &r),
            ];
            let args = vec![
                t(DType::F32, &[n, k]),
                t(DType::F32, &[n, k]),
                t(DType::I32, &[n]),
                t(DType::F32, &[n]),
            ];
            let out = run_fn(&mods, "gauss", args, &inputs, b);
            (mean, precision) = (out[0].clone(), out[1].clone());
        }
        for j in 0..n * k {
            let p = 1.0 / v0 + count[j] / noise_var;
            let m = (m0 / v0 + sum[j] / noise_var) / p;
            assert!(
                close(precision[j], p, 1e-5),
                "{bn} arm {j}: precision {} vs {p}",
                precision[j]
            );
            assert!(
                close(mean[j], m, 1e-4),
                "{bn} arm {j}: mean {} vs {m}",
                mean[j]
            );
        }
        assert!(count.iter().all(|&c| c > 0.0), "every arm was updated");
    }
}

// ---------------------------------------------------------------- samplers

/// The sample mean and variance of `xs`, and the standard errors of each (the
/// variance's from the sample's fourth central moment).
fn moments(xs: &[f64]) -> (f64, f64, f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
    let m4 = xs.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
    (m, var, (var / n).sqrt(), ((m4 - var * var) / n).sqrt())
}

fn check_moments(what: &str, xs: &[f64], mean: f64, var: f64) {
    let (m, v, se_m, se_v) = moments(xs);
    eprintln!("{what}: mean {m:.5} ({mean:.5}), var {v:.5} ({var:.5})");
    assert!(
        xs.iter().all(|x| x.is_finite() && *x >= 0.0),
        "{what}: a draw is negative or not finite"
    );
    assert!(
        (m - mean).abs() < 5.0 * se_m,
        "{what}: mean {m} vs {mean} (se {se_m})"
    );
    assert!(
        (v - var).abs() < 5.0 * se_v,
        "{what}: variance {v} vs {var} (se {se_v})"
    );
}

/// Gamma(a) has mean a and variance a: 100k draws for shapes below 1 (boosted), at 1
/// and large, within 5 standard errors, on both backends.
#[test]
fn gamma_draws_have_the_closed_form_moments() {
    let mods = mods();
    let n = 100_000;
    for (bn, b) in BACKENDS {
        for a in [0.2, 0.5, 1.0, 2.5, 30.0] {
            let inputs = [Tensor::from_f64(DType::F32, &[n], &vec![a; n])];
            let xs = &run_fn(&mods, "gamma", vec![t(DType::F32, &[n])], &inputs, b)[0];
            check_moments(&format!("{bn} Gamma({a})"), xs, a, a);
        }
    }
}

/// Beta(a, b) has mean a / (a + b) and variance ab / ((a + b)² (a + b + 1)).
#[test]
fn beta_draws_have_the_closed_form_moments() {
    let mods = mods();
    let n = 100_000;
    for (bn, b) in BACKENDS {
        for (p, q) in [(0.5, 0.5), (1.0, 1.0), (2.0, 5.0), (40.0, 3.0)] {
            let inputs = [
                Tensor::from_f64(DType::F32, &[n], &vec![p; n]),
                Tensor::from_f64(DType::F32, &[n], &vec![q; n]),
            ];
            let args = vec![t(DType::F32, &[n]), t(DType::F32, &[n])];
            let xs = &run_fn(&mods, "beta_draws", args, &inputs, b)[0];
            assert!(xs.iter().all(|&x| x <= 1.0), "{bn}: a Beta draw above 1");
            let s = p + q;
            check_moments(
                &format!("{bn} Beta({p}, {q})"),
                xs,
                p / s,
                p * q / (s * s * (s + 1.0)),
            );
        }
    }
}

/// Two calls in one function draw different numbers (each call site its own stream),
/// and the same call draws different numbers in successive iterations of a program.
#[test]
fn draws_differ_between_calls_and_iterations() {
    let mods = mods();
    let n = 1000;
    let inputs = [Tensor::from_f64(DType::F32, &[n], &vec![2.0; n])];
    let out = run_fn(
        &mods,
        "gamma_twice",
        vec![t(DType::F32, &[n])],
        &inputs,
        jit,
    );
    let same = out[0].iter().zip(&out[1]).filter(|(x, y)| x == y).count();
    assert!(same < 10, "{same} of {n} draws equal in two calls");

    let src = "use std.bandit.{sample_beta}\n\
               x = zeros([64])\n\
               train iterations: 3 {\n\
               fit x <- sample_beta(full([64], 2.0), full([64], 3.0))\n\
               log first = x[0], second = x[1]\n\
               }\n";
    let rows = common::source_metrics(src, 0, 3, Backend::Jit);
    assert!(rows[0] != rows[1] && rows[1] != rows[2], "{rows:?}");
}

// ---------------------------------------------------------------- rules

/// Information-directed sampling on hand-made posterior draws. Bandit 0: every draw
/// says arm 1 is best, so it has no expected regret and is pulled. Bandit 1: arm 0 is
/// certainly worth 0.5 (no information, regret 0.25 on average), arm 1 is 0 or 1 with
/// equal chance (regret 0.25, and it decides which arm is best), arm 2 certainly 0.1:
/// arm 1 is pulled. Bandit 2: ties in regret go to the more informative arm as well.
#[test]
fn ids_pulls_the_informative_or_the_certain_arm() {
    let mods = mods();
    let (n, m, k) = (3, 4, 3);
    #[rustfmt::skip]
    let theta: Vec<f64> = vec![
        // bandit 0: arm 1 best in every draw
        0.2, 0.9, 0.1,   0.3, 0.8, 0.1,   0.1, 0.7, 0.2,   0.2, 0.9, 0.0,
        // bandit 1
        0.5, 0.0, 0.1,   0.5, 1.0, 0.1,   0.5, 0.0, 0.1,   0.5, 1.0, 0.1,
        // bandit 2: arm 2 is arm 1 of bandit 1, arm 0 a constant 0.5, arm 1 worse
        0.5, 0.0, 0.0,   0.5, 0.0, 1.0,   0.5, 0.0, 0.0,   0.5, 0.0, 1.0,
    ];
    let inputs = [Tensor::from_f64(DType::F32, &[n, m, k], &theta)];
    for (bn, b) in BACKENDS {
        let a = &run_fn(&mods, "ids", vec![t(DType::F32, &[n, m, k])], &inputs, b)[0];
        assert_eq!(a, &vec![1.0, 1.0, 2.0], "{bn}");
    }
}

/// Σ Δ / KL(μ, μ*) for arms 0.1, 0.5, 0.55 against 0.9, computed here.
#[test]
fn lai_robbins_constant_matches_the_sum() {
    let kl = |p: f64, q: f64| p * (p / q).ln() + (1.0 - p) * ((1.0 - p) / (1.0 - q)).ln();
    let want: f64 = [0.1, 0.5, 0.55]
        .iter()
        .map(|&p| (0.9 - p) / kl(p, 0.9))
        .sum();
    let out = run_fn(&mods(), "lai_robbins", vec![], &[], interp);
    assert!(close(out[0][0], want, 1e-5), "{} vs {want}", out[0][0]);
}

// ---------------------------------------------------------------- regret growth

/// The `cumulative_regret` column of an example run for `pulls` iterations, with
/// settings overridden as `rlpc run --set` would.
fn cumulative_regret(example: &str, pulls: u64, settings: &[(&str, &str)]) -> Vec<f64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(example);
    let mut set: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    set.push(("pulls".into(), pulls.to_string()));
    let (p, _) = rlpc::front_end_with(&path, 0, &set)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let j = p
        .metrics
        .iter()
        .position(|m| m.name == "cumulative_regret")
        .expect("a cumulative_regret metric");
    let c = run::compile(p, Backend::Jit).unwrap();
    let mut tr = Trainer::new(&c).unwrap();
    (0..pulls)
        .map(|it| {
            tr.step(it, None).unwrap();
            tr.metric_values()[j]
        })
        .collect()
}

/// The root-mean-square residual of the least-squares fit y ≈ a·f(t) + b, t = 1, 2, …
fn fit_rms(y: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let xs: Vec<f64> = (1..=y.len()).map(|t| f(t as f64)).collect();
    let n = y.len() as f64;
    let (mx, my) = (xs.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = xs.iter().zip(y).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    let a = sxy / sxx;
    let b = my - a * mx;
    (xs.iter()
        .zip(y)
        .map(|(x, y)| (a * x + b - y).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

/// How a cumulative regret curve grows: regret(T) / regret(T / 10) (10 for a line
/// through 0, ln T / ln(T / 10) for a logarithm through 0); the growth of the last half
/// over that of the quarter before, [R(T) − R(T/2)] / [R(T/2) − R(T/4)], which no
/// constant offset changes (2 for a line, 1 for a logarithm); and the residuals of the
/// logarithmic and linear fits from T / 10 on (past the first pulls of each arm).
struct Growth {
    ratio: f64,
    doubling: f64,
    log_rms: f64,
    lin_rms: f64,
}

fn growth(regret: &[f64]) -> Growth {
    let t = regret.len();
    let at = |k: usize| regret[k - 1];
    let tail = &regret[t / 10..];
    let off = (t / 10) as f64;
    Growth {
        ratio: at(t) / at(t / 10),
        doubling: (at(t) - at(t / 2)) / (at(t / 2) - at(t / 4)),
        log_rms: fit_rms(tail, |s| (s + off).ln()),
        lin_rms: fit_rms(tail, |s| s + off),
    }
}

fn report(what: &str, r: &[f64], g: &Growth) {
    eprintln!(
        "{what}: regret(200) {:.2}, regret(2000) {:.2}, ratio {:.2}, doubling {:.2}; fit rms log {:.3}, linear {:.3}",
        r[199], r[1999], g.ratio, g.doubling, g.log_rms, g.lin_rms
    );
}

/// UCB1 and Thompson sampling (256 bandits, 2,000 pulls): the regret of the last
/// thousand pulls is about that of the five hundred before (a logarithm's 1, a line's
/// 2), regret(2000) / regret(200) is far below a line's 10, and a·ln t + b fits the
/// curve several times better than a line.
#[test]
fn ucb_and_thompson_regret_grows_logarithmically() {
    for example in ["bandit_ucb.rlp", "bandit_thompson.rlp"] {
        let regret = cumulative_regret(example, 2000, &[]);
        let g = growth(&regret);
        report(example, &regret, &g);
        assert!(g.doubling < 1.3, "{example}: doubling {}", g.doubling);
        assert!(g.ratio < 3.0, "{example}: regret ratio {}", g.ratio);
        assert!(
            g.log_rms < 0.3 * g.lin_rms,
            "{example}: log fit {} vs linear {}",
            g.log_rms,
            g.lin_rms
        );
    }
}

/// ε-greedy with a fixed ε = 0.1 keeps pulling bad arms at a constant rate: the last
/// thousand pulls cost twice the five hundred before, and a line fits better than a
/// logarithm. (regret(2000) / regret(200) is below 10 only by the regret of the first
/// pulls, when every arm is tried once.)
#[test]
fn fixed_epsilon_regret_grows_linearly() {
    let regret = cumulative_regret("bandit_epsilon_fixed.rlp", 2000, &[]);
    let g = growth(&regret);
    report("epsilon 0.1", &regret, &g);
    assert!((g.doubling - 2.0).abs() < 0.2, "doubling {}", g.doubling);
    assert!(g.ratio > 5.0, "ratio {}", g.ratio);
    assert!(
        g.lin_rms < 0.3 * g.log_rms,
        "linear fit {} vs log {}",
        g.lin_rms,
        g.log_rms
    );
}
/// Information-directed sampling (64 bandits, 16 draws per arm, 1,000 pulls) and
/// Gaussian Thompson sampling (256 bandits) learn: their regret grows far slower than
/// linearly.
#[test]
fn ids_and_gaussian_thompson_regret_flattens() {
    let cases: [(&str, &[(&str, &str)]); 2] = [
        ("bandit_ids.rlp", &[("bandits", "64"), ("draws", "16")]),
        ("bandit_thompson_gaussian.rlp", &[]),
    ];
    for (example, set) in cases {
        let regret = cumulative_regret(example, 1000, set);
        let ratio = regret[999] / regret[99];
        eprintln!(
            "{example}: regret(100) {:.2}, regret(1000) {:.2}",
            regret[99], regret[999]
        );
        assert!(ratio < 3.0, "{example}: regret ratio {ratio}");
    }
}
