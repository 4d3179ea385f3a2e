//! `stdlib/vi.rlp` and `stdlib/render.rlp` against independent values: the closed-form
//! Gaussian KLs against Monte-Carlo estimates computed here, the log-likelihoods against
//! plain Rust, the ELBO and the importance-weighted bound of a linear-Gaussian model
//! whose evidence log p(x) and posterior are exact (the ELBO's gap must be KL(q ‖ p(z |
//! x)), and an encoder trained by the ELBO must close it), the reparameterised gradient
//! against the score-function one, the renderer's shapes, and the example programs on
//! fixed seeds with real thresholds.

mod common;

use rlp_ir::{DType, Tensor};
use rlpc::run::{self, Backend, Trainer};

const WRAPPERS: &str = r#"
use std.vi.{elbo, gaussian_log_density, gaussian_kl_std_normal, gaussian_kl, iwae_bound,
            bernoulli_log_likelihood, std_normal_log_density}
use std.render.{render_pendulum, render_point}

fn kl(mu: [B, D], ls: [B, D]) { gaussian_kl_std_normal(mu, ls) }
fn kl2(m1: [B, D], s1: [B, D], m2: [B, D], s2: [B, D]) { gaussian_kl(m1, s1, m2, s2) }
fn bernoulli(x: [B, D], logits: [B, D]) { bernoulli_log_likelihood(x, logits) }
fn gaussian(x: [B, D], mu: [B, D], ls: [B, D]) { gaussian_log_density(x, mu, ls) }
fn prior(z: [B, D]) { std_normal_log_density(z) }

/// x = z + noise, noise ~ N(0, e^(2·noise_ls)), z ~ N(0, 1); q(z | x) = N(mu, e^(2·ls)).
fn linear_elbo(x: [B, 1], mu: [B, 1], ls: [B, 1], eps: [B, 1], noise_ls: [B, 1]) {
  elbo(z -> gaussian_log_density(x, z, noise_ls), mu, ls, eps)
}

/// The same model's importance-weighted bound from K draws per row.
fn linear_iwae(x: [B, 1], mu: [B, 1], ls: [B, 1], eps: [K, B, 1], noise_ls: [B, 1]) {
  iwae_bound(z -> gaussian_log_density(x, z, noise_ls), mu, ls, eps)
}

fn pendulum_image(theta: [N]) { render_pendulum(theta, size: 16) }
fn point_image(p: [N, 2]) { render_point(p, size: 16) }
"#;

fn run(name: &str, inputs: &[Tensor]) -> Vec<f64> {
    let g = common::function_graph("w.rlp", WRAPPERS, name, common::tensor_args(inputs), 0);
    common::run_graph(g, Backend::Jit, inputs).swap_remove(0)
}

/// Standard-normal draws (xorshift and Box–Muller), independent of the runtime's.
fn normals(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut u = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| (-2.0 * u().ln()).sqrt() * (std::f64::consts::TAU * u()).cos())
        .collect()
}

fn t(shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(DType::F64, shape, v)
}

/// Mean and standard error.
fn mean_se(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

const HALF_LOG_TAU: f64 = 0.918_938_533_204_672_7;

#[test]
fn gaussian_kl_matches_a_monte_carlo_estimate() {
    let (mu, ls) = ([0.5, -1.0, 0.0, 2.0], [0.0, -0.7, 0.4, -0.2]);
    let (mu2, ls2) = ([0.0, 0.3, -0.5, 1.0], [0.2, 0.1, -0.3, 0.5]);
    let closed = run("kl", &[t(&[4, 1], &mu), t(&[4, 1], &ls)]);
    let closed2 = run(
        "kl2",
        &[
            t(&[4, 1], &mu),
            t(&[4, 1], &ls),
            t(&[4, 1], &mu2),
            t(&[4, 1], &ls2),
        ],
    );
    let n = 200_000;
    let eps = normals(n, 3);
    for i in 0..4 {
        let sd = f64::exp(ls[i]);
        // log q(z) − log p(z) at z = μ + σε, for p = N(0, 1) and p = N(μ₂, σ₂²).
        let (std_terms, terms2): (Vec<f64>, Vec<f64>) = eps
            .iter()
            .map(|e| {
                let z = mu[i] + sd * e;
                let log_q = -0.5 * e * e - ls[i];
                let z2 = (z - mu2[i]) / f64::exp(ls2[i]);
                (log_q + 0.5 * z * z, log_q + 0.5 * z2 * z2 + ls2[i])
            })
            .unzip();
        for (what, got, terms) in [
            ("N(0, 1)", closed[i], std_terms),
            ("N(μ₂, σ₂²)", closed2[i], terms2),
        ] {
            let (mean, se) = mean_se(&terms);
            assert!(
                (got - mean).abs() < 4.0 * se + 1e-9,
                "row {i}, KL to {what}: closed form {got} vs Monte Carlo {mean} ± {se}"
            );
        }
    }
    // KL(q ‖ q) = 0, and KL to N(0, 1) is the special case of the general form.
    let same = run(
        "kl2",
        &[
            t(&[4, 1], &mu),
            t(&[4, 1], &ls),
            t(&[4, 1], &mu),
            t(&[4, 1], &ls),
        ],
    );
    assert!(same.iter().all(|v| v.abs() < 1e-12), "{same:?}");
    let zeros = [0.0; 4];
    let general = run(
        "kl2",
        &[
            t(&[4, 1], &mu),
            t(&[4, 1], &ls),
            t(&[4, 1], &zeros),
            t(&[4, 1], &zeros),
        ],
    );
    for (a, b) in general.iter().zip(&closed) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}

#[test]
fn log_likelihoods_match_plain_rust() {
    // Bernoulli: Σ x·l − log(1 + eˡ), finite for logits far beyond exp's range.
    let x = [0.0, 1.0, 0.3, 0.9, 0.0, 1.0];
    let l = [-2.0, 1.5, 0.0, 800.0, -800.0, 40.0];
    let got = run("bernoulli", &[t(&[2, 3], &x), t(&[2, 3], &l)]);
    let reference = |x: f64, l: f64| {
        // log σ(l) = −log(1 + e^−l), log(1 − σ(l)) = −log(1 + e^l), each stable.
        let log1pexp = |v: f64| {
            if v > 0.0 {
                v + (-v).exp().ln_1p()
            } else {
                v.exp().ln_1p()
            }
        };
        -x * log1pexp(-l) - (1.0 - x) * log1pexp(l)
    };
    for row in 0..2 {
        let want: f64 = (0..3)
            .map(|j| reference(x[row * 3 + j], l[row * 3 + j]))
            .sum();
        assert!(
            got[row].is_finite() && (got[row] - want).abs() < 1e-9 * (1.0 + want.abs()),
            "row {row}: {} vs {want}",
            got[row]
        );
    }
    // Gaussian: Σ −½((x − μ)/σ)² − log σ − ½ log 2π; the prior is the case μ = 0, σ = 1.
    let (xs, mus, lss) = (
        [0.3, -1.2, 2.0, 0.0],
        [0.0, 0.5, 1.0, -0.4],
        [0.0, -0.5, 0.7, 0.1],
    );
    let got = run(
        "gaussian",
        &[t(&[2, 2], &xs), t(&[2, 2], &mus), t(&[2, 2], &lss)],
    );
    let prior = run("prior", &[t(&[2, 2], &xs)]);
    for row in 0..2 {
        let mut want = 0.0;
        let mut want_prior = 0.0;
        for j in 0..2 {
            let k = row * 2 + j;
            let z = (xs[k] - mus[k]) / lss[k].exp();
            want += -0.5 * z * z - lss[k] - HALF_LOG_TAU;
            want_prior += -0.5 * xs[k] * xs[k] - HALF_LOG_TAU;
        }
        assert!((got[row] - want).abs() < 1e-12, "{} vs {want}", got[row]);
        assert!((prior[row] - want_prior).abs() < 1e-12);
    }
}

/// The scalar linear-Gaussian model x = z + n, z ~ N(0, 1), n ~ N(0, s²), at one x:
/// log p(x) = log N(x; 0, 1 + s²), and the posterior N(x / (1 + s²), s² / (1 + s²)).
struct Scalar {
    x: f64,
    s: f64,
}

impl Scalar {
    fn log_px(&self) -> f64 {
        let v = 1.0 + self.s * self.s;
        -0.5 * self.x * self.x / v - 0.5 * v.ln() - HALF_LOG_TAU
    }
    fn posterior(&self) -> (f64, f64) {
        let v = 1.0 + self.s * self.s;
        (self.x / v, self.s * self.s / v)
    }
    /// KL(N(mu, var) ‖ posterior): the ELBO's exact gap.
    fn gap(&self, mu: f64, var: f64) -> f64 {
        let (pm, pv) = self.posterior();
        0.5 * ((var / pv) + (mu - pm).powi(2) / pv - 1.0 + (pv / var).ln())
    }
}

#[test]
fn the_elbo_gap_is_the_posteriors_kl() {
    let m = Scalar { x: 1.3, s: 0.6 };
    let log_px = m.log_px();
    let (post_mu, post_var) = m.posterior();
    let n = 200_000;
    let eps = normals(n, 5);
    for (mu, var) in [
        (post_mu, post_var),
        (post_mu + 0.8, post_var * 2.5),
        (-0.4, 1.0),
    ] {
        let ls = 0.5 * var.ln();
        let col = |c: f64| vec![c; n];
        let per = run(
            "linear_elbo",
            &[
                t(&[n, 1], &col(m.x)),
                t(&[n, 1], &col(mu)),
                t(&[n, 1], &col(ls)),
                t(&[n, 1], &eps),
                t(&[n, 1], &col(m.s.ln())),
            ],
        );
        let (mean, se) = mean_se(&per);
        let gap = m.gap(mu, var);
        assert!(
            mean <= log_px + 4.0 * se,
            "the ELBO {mean} exceeds log p(x) {log_px}"
        );
        assert!(
            (log_px - mean - gap).abs() < 4.0 * se + 1e-9,
            "q = N({mu}, {var}): gap {} vs KL {gap} (± {se})",
            log_px - mean
        );
    }
}

#[test]
fn the_importance_weighted_bound_rises_toward_log_px_with_k() {
    // A poor q (mean off by 0.8, variance 2.5× the posterior's): gap 1.5 nats.
    let m = Scalar { x: 1.3, s: 0.6 };
    let log_px = m.log_px();
    let (post_mu, post_var) = m.posterior();
    let (mu, var) = (post_mu + 0.8, post_var * 2.5);
    let elbo = log_px - m.gap(mu, var);
    let draws = 262_144;
    let mut bounds = vec![];
    for (k, seed) in [(1usize, 11u64), (8, 12), (64, 13)] {
        let b = draws / k;
        let col = |c: f64| vec![c; b];
        let per = run(
            "linear_iwae",
            &[
                t(&[b, 1], &col(m.x)),
                t(&[b, 1], &col(mu)),
                t(&[b, 1], &col(0.5 * var.ln())),
                t(&[k, b, 1], &normals(k * b, seed)),
                t(&[b, 1], &col(m.s.ln())),
            ],
        );
        let (mean, se) = mean_se(&per);
        assert!(
            mean <= log_px + 4.0 * se,
            "K = {k}: the bound {mean} ± {se} exceeds log p(x) {log_px}"
        );
        bounds.push((k, mean, se));
    }
    eprintln!("log p(x) = {log_px:.4}, ELBO = {elbo:.4}; bounds (K, mean, se): {bounds:.4?}");
    // K = 1 is the ELBO (its KL estimated from the draw): the same expectation.
    let (_, m1, se1) = bounds[0];
    assert!(
        (m1 - elbo).abs() < 4.0 * se1,
        "K = 1: {m1} ± {se1} vs the ELBO {elbo}"
    );
    for w in bounds.windows(2) {
        let ((k0, a, sa), (k1, b, sb)) = (w[0], w[1]);
        assert!(
            b - a > 4.0 * (sa * sa + sb * sb).sqrt(),
            "K = {k1} ({b} ± {sb}) is not above K = {k0} ({a} ± {sa})"
        );
    }
    let (_, m64, _) = bounds[2];
    assert!(
        log_px - m64 < 0.1 * (log_px - elbo),
        "K = 64 closes {:.3} of the gap {:.3}",
        m64 - elbo,
        log_px - elbo
    );
}

/// Compiles a program from source (seed 0) and trains it; every iteration's metrics,
/// and the trainer's final slots by name.
fn train_source(src: &str, metrics: &[&str]) -> (Vec<Vec<f64>>, Vec<(String, Vec<f64>)>) {
    let (p, _) = rlpc::front_end_source("vi_test.rlp", src, 0)
        .map_err(|(d, s)| rlpc::diag::render_plain(&d, &s))
        .unwrap();
    let c = run::compile(p, Backend::Jit).unwrap();
    let mut t = Trainer::new(&c).unwrap();
    let names: Vec<String> = c.program.metrics.iter().map(|m| m.name.clone()).collect();
    let at: Vec<usize> = metrics
        .iter()
        .map(|n| names.iter().position(|x| x == n).unwrap())
        .collect();
    let mut history = vec![vec![]; metrics.len()];
    for it in 0..c.program.iterations {
        t.step(it, None).unwrap();
        let m = t.metric_values();
        for (h, &k) in history.iter_mut().zip(&at) {
            h.push(m[k]);
        }
    }
    let slots = c
        .program
        .slots
        .iter()
        .zip(&t.slots)
        .map(|(s, v)| (s.name.clone(), v.to_f64_vec()))
        .collect();
    (history, slots)
}

fn slot<'a>(slots: &'a [(String, Vec<f64>)], name: &str) -> &'a [f64] {
    &slots
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = slots.iter().map(|(n, _)| n.as_str()).collect();
            panic!("no slot `{name}` among {names:?}")
        })
        .1
}

/// x = W z + b + σ n in 3 dimensions from a 2-dimensional z, W with orthogonal columns
/// (so the exact posterior is a diagonal Gaussian, which the encoder can represent),
/// data drawn once; a linear encoder trained by the one-sample ELBO (`std.vi.elbo`,
/// Adam). Logged: the ELBO estimated with 64 draws per point, and the ELBO in closed
/// form (E_q log p(x | z) = log N(x; W μ + b, σ²) − Σ_j ‖W_j‖² s_j² / 2σ²).
const LINEAR_GAUSSIAN: &str = r#"
use std.vi.{diagonal_gaussian, elbo, gaussian_log_density, gaussian_kl_std_normal}

n       = 256
sigma   = 0.5
wt      = reshape(f32([0.6666667, 1.3333334, 1.3333334, 0.6666667, 0.33333334, -0.6666667]), [2, 3])
b       = f32([0.5, -1.0, 0.25])
x       = normal([n, 2]) @ wt + b + sigma * normal([n, 3])
encoder = linear(3, 4)
opt     = adam(lr: 0.03)

fn exact_elbo(x, mu, log_std, wt, b, sigma) {
  rec = gaussian_log_density(x, mu @ wt + b, log(sigma)) -
        sum(exp(2.0 * log_std) * sum(wt * wt, axis: -1), axis: -1) / (2.0 * sigma * sigma)
  rec - gaussian_kl_std_normal(mu, log_std)
}

train iterations: 600 {
  improve q = diagonal_gaussian(encoder(x), 2)
          l = elbo(z -> gaussian_log_density(x, z @ wt + b, log(sigma)), q.mu, q.log_std,
                   normal([64, n, 2]))
          minimize -mean(l) with opt
  log     elbo = mean(l), exact = mean(exact_elbo(x, q.mu, q.log_std, wt, b, sigma))
}
"#;

/// log N(x; b, W Wᵀ + σ² I) for 3-vectors, by a Cholesky factor.
fn log_evidence(x: &[f64], wt: &[f64; 6], b: &[f64; 3], sigma: f64) -> f64 {
    let mut c = [[0.0f64; 3]; 3];
    for (i, row) in c.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..2).map(|k| wt[k * 3 + i] * wt[k * 3 + j]).sum::<f64>()
                + if i == j { sigma * sigma } else { 0.0 };
        }
    }
    let mut l = [[0.0f64; 3]; 3];
    for i in 0..3 {
        for j in 0..=i {
            let s = c[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            l[i][j] = if i == j { s.sqrt() } else { s / l[j][j] };
        }
    }
    // Solve L y = x − b; log p = −½‖y‖² − Σ log L_ii − 3/2 log 2π.
    let mut y = [0.0f64; 3];
    for i in 0..3 {
        y[i] = (x[i] - b[i] - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
    }
    -0.5 * y.iter().map(|v| v * v).sum::<f64>()
        - (0..3).map(|i| l[i][i].ln()).sum::<f64>()
        - 3.0 * HALF_LOG_TAU
}

#[test]
fn an_encoder_trained_by_the_elbo_closes_the_gap_on_a_linear_gaussian_model() {
    let (h, slots) = train_source(LINEAR_GAUSSIAN, &["elbo", "exact"]);
    let wt = [
        0.6666667f32,
        1.3333334,
        1.3333334,
        0.6666667,
        0.33333334,
        -0.6666667,
    ]
    .map(f64::from);
    let b = [0.5f32, -1.0, 0.25].map(f64::from);
    let x = slot(&slots, "x");
    let log_px = x
        .chunks(3)
        .map(|r| log_evidence(r, &wt, &b, 0.5))
        .sum::<f64>()
        / (x.len() / 3) as f64;
    let (mc, exact) = (&h[0], &h[1]);
    // The bound holds at every step (the closed form has no sampling noise; f32 sums).
    for (i, e) in exact.iter().enumerate() {
        assert!(
            *e <= log_px + 1e-4,
            "step {i}: ELBO {e} > log p(x) {log_px}"
        );
    }
    // The 64-draw estimate agrees with the closed form (the estimator is unbiased).
    let diffs: Vec<f64> = mc.iter().zip(exact).map(|(a, b)| a - b).collect();
    let (d, se) = mean_se(&diffs[300..]);
    assert!(d.abs() < 4.0 * se + 1e-4, "Monte Carlo − exact: {d} ± {se}");
    let first = log_px - exact[0];
    let last = log_px - exact[exact.len() - 1];
    eprintln!("log p(x) = {log_px:.4}; gap {first:.4} at the start, {last:.5} after 600 steps");
    assert!(first > 10.0, "the untrained encoder's gap is {first}");
    assert!(last < 0.005, "the trained encoder's gap is {last}");
    assert!(last < first / 1000.0);
}

/// For q = N(μ, σ²) per coordinate and f(z) = sin z + z²/4, the gradient of E_q f with
/// respect to (μ, log σ), estimated each iteration from 4,096 fresh draws twice: through
/// the reparameterised sample, and by the score function f(z) ∇ log q(z) (no baseline).
const GRADIENTS: &str = r#"
use std.vi.{reparameterise, gaussian_log_density}

m  = 4096
mu = param([3], init: "uniform", scale: 1.0, name: "mu")
ls = param([3], init: "uniform", scale: 0.5, name: "ls")

fn f(z) { sin(z) + 0.25 * z * z }

train iterations: 100 {
  fit eps = normal([m, 3])
      z   = reparameterise(mu, ls, eps)
      rep = grad(mean(sum(f(z), axis: -1)), wrt: [mu, ls])
      zs  = reshape(stop(z), [m, 3, 1])
      lq  = gaussian_log_density(zs, reshape(mu, [1, 3, 1]), reshape(ls, [1, 3, 1]))
      sf  = grad(mean(sum(stop(f(zs[:, :, 0])) * lq, axis: -1)), wrt: [mu, ls])
  log rm0 = rep[0][0], rm1 = rep[0][1], rm2 = rep[0][2],
      rs0 = rep[1][0], rs1 = rep[1][1], rs2 = rep[1][2],
      sm0 = sf[0][0], sm1 = sf[0][1], sm2 = sf[0][2],
      ss0 = sf[1][0], ss1 = sf[1][1], ss2 = sf[1][2]
}
"#;

#[test]
fn reparameterised_and_score_function_gradients_agree_in_expectation() {
    let names = [
        "rm0", "rm1", "rm2", "rs0", "rs1", "rs2", "sm0", "sm1", "sm2", "ss0", "ss1", "ss2",
    ];
    let (h, slots) = train_source(GRADIENTS, &names);
    let (mu, ls) = (
        slot(&slots, "mu.mu0").to_vec(),
        slot(&slots, "ls.ls0").to_vec(),
    );
    for j in 0..3 {
        let (m, s2) = (mu[j], (2.0 * ls[j]).exp());
        let damp = (-0.5 * s2).exp();
        // E f = sin μ e^(−σ²/2) + (μ² + σ²)/4.
        let want = [m.cos() * damp + 0.5 * m, -s2 * m.sin() * damp + 0.5 * s2];
        for (p, what) in [(0, "μ"), (1, "log σ")] {
            let (rep, rep_se) = mean_se(&h[p * 3 + j]);
            let (sf, sf_se) = mean_se(&h[6 + p * 3 + j]);
            let both = (rep_se * rep_se + sf_se * sf_se).sqrt();
            eprintln!(
                "∂/∂{what}[{j}]: exact {:.5}, reparameterised {rep:.5} ± {rep_se:.5}, score {sf:.5} ± {sf_se:.5}",
                want[p]
            );
            assert!(
                (rep - sf).abs() < 4.0 * both,
                "∂/∂{what}[{j}]: the estimators disagree"
            );
            assert!(
                (rep - want[p]).abs() < 4.0 * rep_se + 1e-6,
                "∂/∂{what}[{j}]: reparameterised"
            );
            assert!(
                (sf - want[p]).abs() < 4.0 * sf_se,
                "∂/∂{what}[{j}]: score function"
            );
            assert!(
                rep_se < sf_se,
                "the reparameterised estimate should vary less"
            );
        }
    }
}

#[test]
fn rendered_shapes_sit_where_the_state_says() {
    let grid: Vec<(f64, f64)> = (0..256)
        .map(|i| {
            let (r, c) = ((i / 16) as f64, (i % 16) as f64);
            ((c + 0.5) / 8.0 - 1.0, 1.0 - (r + 0.5) / 8.0)
        })
        .collect();
    let centroid = |img: &[f64]| {
        let m: f64 = img.iter().sum();
        let cx = img.iter().zip(&grid).map(|(p, g)| p * g.0).sum::<f64>() / m;
        let cy = img.iter().zip(&grid).map(|(p, g)| p * g.1).sum::<f64>() / m;
        (cx, cy, m)
    };
    let thetas = [0.0, 0.7, -2.0, 3.0, std::f64::consts::FRAC_PI_2];
    let imgs = run("pendulum_image", &[t(&[5], &thetas)]);
    let mut masses = vec![];
    for (k, th) in thetas.iter().enumerate() {
        let img = &imgs[k * 256..(k + 1) * 256];
        assert!(img.iter().all(|p| *p > 0.0 && *p < 1.0));
        let (cx, cy, m) = centroid(img);
        // The rod points at (−sin θ, cos θ) from the centre (θ = 0 upright).
        let angle = f64::atan2(-cx, cy);
        let err = (angle - th + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU)
            - std::f64::consts::PI;
        assert!(err.abs() < 0.05, "θ = {th}: centroid at angle {angle}");
        assert!(
            (cx * cx + cy * cy).sqrt() > 0.25,
            "θ = {th}: centroid too near the pivot"
        );
        masses.push(m);
    }
    // A rotated rod covers about the same area.
    let (lo, hi) = masses
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), m| (a.min(*m), b.max(*m)));
    assert!(hi / lo < 1.1, "{masses:?}");
    let pos = [0.5, -0.25, -0.6, 0.6];
    let imgs = run("point_image", &[t(&[2, 2], &pos)]);
    for k in 0..2 {
        let (cx, cy, _) = centroid(&imgs[k * 256..(k + 1) * 256]);
        assert!(
            (cx - pos[2 * k]).abs() < 0.03 && (cy - pos[2 * k + 1]).abs() < 0.03,
            "disk at ({}, {}) drawn at ({cx}, {cy})",
            pos[2 * k],
            pos[2 * k + 1]
        );
    }
}

#[test]
fn the_vae_learns_pendulum_images() {
    // Seed 0, 400 minibatches of 128: the ELBO per image starts near −180 nats; the
    // best reconstruction these soft images allow is about −29.6.
    let h = common::metric_history(
        "vae_pendulum_images.rlp",
        0,
        &[("iters", "400")],
        &["elbo", "kl", "best_reconstruction"],
    );
    let last = |v: &Vec<f64>| v[v.len() - 50..].iter().sum::<f64>() / 50.0;
    let (start, end, kl, best) = (h[0][0], last(&h[0]), last(&h[1]), last(&h[2]));
    eprintln!("ELBO {start:.2} → {end:.2} (KL {kl:.2}, best reconstruction {best:.2})");
    assert!(start < -150.0, "{start}");
    assert!(end > -42.0, "the ELBO reached only {end} in 400 steps");
    assert!(kl > 1.0, "the latent carries {kl} nats: posterior collapse");
    assert!(
        end < best,
        "the ELBO {end} cannot exceed the best reconstruction {best}"
    );
}

#[test]
fn the_conditional_vae_generates_the_requested_angles() {
    // 1,001 minibatches; generated images are scored at iteration 1,000.
    let h = common::metric_history(
        "cvae_pendulum_angle.rlp",
        0,
        &[("iters", "1001")],
        &["generated_in_bucket", "kl"],
    );
    let (hit, kl) = (h[0][1000], h[1][1000]);
    eprintln!("generated in the requested arc: {hit:.3} (chance 0.125); KL {kl:.2}");
    assert!(hit > 0.75, "{hit}");
}

#[test]
fn the_representation_program_runs_in_each_mode() {
    // A smoke test: a few updates after the random-policy steps, with a short VAE
    // pretraining; the learning curves are in docs/vi.md.
    for mode in ["\"state\"", "\"pixels\"", "\"latent\""] {
        let m = common::final_metrics(
            "vae_representation_pendulum.rlp",
            0,
            &[("obs_mode", mode), ("iters", "1100"), ("vae_steps", "300")],
            &["greedy", "vae_elbo", "alpha"],
        );
        assert!(m[0].is_finite() && m[0] < 0.0, "{mode}: greedy {}", m[0]);
        assert!(m[2] < 1.0, "{mode}: the temperature never moved");
        if mode == "\"latent\"" {
            assert!(m[1] > -60.0, "the VAE's ELBO is {} after 300 steps", m[1]);
        } else {
            assert_eq!(m[1], 0.0);
        }
    }
}
