//! `stdlib/vi.rlp` against independent values: the closed-form Gaussian KL against a
//! Monte-Carlo estimate computed here, and the ELBO of a linear-Gaussian model whose
//! evidence log p(x) and posterior are exact — the ELBO's gap must be
//! KL(q ‖ p(z | x)): zero at the true posterior, positive elsewhere.

use rlp_ir::{DType, Tensor, TensorType};
use rlp_runtime::Executable;
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};

const WRAPPERS: &str = r#"
use std.vi.{elbo, gaussian_log_density, gaussian_kl_std_normal}

fn kl(mu: [B, D], ls: [B, D]) { gaussian_kl_std_normal(mu, ls) }

/// x = z + noise, noise ~ N(0, e^(2·noise_ls)), z ~ N(0, 1); q(z | x) = N(mu, e^(2·ls)).
fn linear_elbo(x: [B, 1], mu: [B, 1], ls: [B, 1], eps: [B, 1], noise_ls: [B, 1]) {
  elbo(z -> gaussian_log_density(x, z, noise_ls), mu, ls, eps)
}
"#;

fn run(name: &str, inputs: &[Tensor]) -> Vec<f64> {
    let (m, _) = Modules::load_source("w.rlp", WRAPPERS)
        .map_err(|(_, d)| d[0].message.clone())
        .unwrap();
    let args = inputs
        .iter()
        .map(|t| FnArg::Tensor(TensorType::new(DType::F64, t.shape().to_vec())))
        .collect();
    let (g, _) = lower_function(&m, "w.rlp", name, args, 0).unwrap();
    rlp_jit::compile(
        &rlpc::run::prepare(&g).unwrap(),
        &rlp_jit::JitOptions::default(),
    )
    .unwrap()
    .run(inputs)
    .unwrap()[0]
        .to_f64_vec()
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

#[test]
fn gaussian_kl_matches_a_monte_carlo_estimate() {
    let (mu, ls) = ([0.5, -1.0, 0.0, 2.0], [0.0, -0.7, 0.4, -0.2]);
    let closed = run("kl", &[t(&[4, 1], &mu), t(&[4, 1], &ls)]);
    let n = 200_000;
    let eps = normals(n, 3);
    for i in 0..4 {
        let sd = f64::exp(ls[i]);
        // log q(z) − log p(z) at z = μ + σε.
        let terms: Vec<f64> = eps
            .iter()
            .map(|e| {
                let z = mu[i] + sd * e;
                -0.5 * e * e - ls[i] + 0.5 * z * z
            })
            .collect();
        let mean = terms.iter().sum::<f64>() / n as f64;
        let var = terms.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let se = (var / n as f64).sqrt();
        assert!(
            (closed[i] - mean).abs() < 4.0 * se + 1e-9,
            "row {i}: closed form {} vs Monte Carlo {mean} ± {se}",
            closed[i]
        );
    }
}

#[test]
fn the_elbo_gap_is_the_posteriors_kl() {
    // x = z + n, z ~ N(0, 1), n ~ N(0, s²): log p(x) = log N(x; 0, 1 + s²), and the
    // posterior is N(x / (1 + s²), s² / (1 + s²)).
    let (x, s) = (1.3f64, 0.6f64);
    let v = 1.0 + s * s;
    let log_px = -0.5 * x * x / v - 0.5 * v.ln() - 0.5 * std::f64::consts::TAU.ln();
    let (post_mu, post_var) = (x / v, s * s / v);
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
                t(&[n, 1], &col(x)),
                t(&[n, 1], &col(mu)),
                t(&[n, 1], &col(ls)),
                t(&[n, 1], &eps),
                t(&[n, 1], &col(s.ln())),
            ],
        );
        let mean = per.iter().sum::<f64>() / n as f64;
        let sd = (per.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let se = sd / (n as f64).sqrt();
        // KL(N(mu, var) ‖ N(post_mu, post_var)).
        let gap = 0.5
            * ((var / post_var) + (mu - post_mu).powi(2) / post_var - 1.0 + (post_var / var).ln());
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
