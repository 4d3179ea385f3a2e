//! The continuous policy heads of `stdlib/dist.rlp` against independent formulas: the
//! Gaussian and tanh-squashed Gaussian log-densities (change of variables), samples
//! inside the action bounds, and the sample moments.

mod common;

use rlp_ir::{DType, Tensor, TensorType};
use rlpc::run::Backend;
use rlpc::sema::function::FnArg;

const WRAPPERS: &str = r#"
fn squashed(o: [N, 2], a: [N, 1]) {
  d = tanh_gaussian(x -> x, 1, -2.0, 2.0)(o)
  (d.log_prob(a), d.sample(), d.mode())
}
fn squashed_draw(o: [N, 2]) {
  d = tanh_gaussian(x -> x, 1, -2.0, 2.0)(o).sample_log_prob()
  (d.action, d.log_prob)
}
fn plain_draw(mu: [N, 1], log_std: [N, 1]) {
  d = gaussian_mean_log_std(mu, log_std)
  s = d.sample_log_prob()
  (s.log_prob, d.log_prob(s.action))
}
fn plain(mu: [N, 1], log_std: [N, 1], a: [N, 1]) {
  d = gaussian_mean_log_std(mu, log_std)
  (d.log_prob(a), d.sample())
}
"#;

fn run(name: &str, args: Vec<TensorType>, inputs: &[Tensor]) -> Vec<Vec<f64>> {
    let args = args.into_iter().map(FnArg::Tensor).collect();
    common::run_graph(
        common::function_graph("w.rlp", WRAPPERS, name, args, 3),
        Backend::Jit,
        inputs,
    )
}

fn normal_logpdf(x: f64, mu: f64, log_std: f64) -> f64 {
    let z = (x - mu) / log_std.exp();
    -0.5 * z * z - log_std - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

#[test]
fn tanh_gaussian_density_bounds_and_mode() {
    let n = 4000;
    let (mus, lss, acts): (Vec<f64>, Vec<f64>, Vec<f64>) = (
        (0..n).map(|i| ((i % 7) as f64 - 3.0) * 0.3).collect(),
        (0..n).map(|i| ((i % 5) as f64 - 2.0) * 0.4).collect(),
        (0..n).map(|i| ((i % 11) as f64 - 5.0) * 0.35).collect(),
    );
    let o: Vec<f64> = (0..n).flat_map(|i| [mus[i], lss[i]]).collect();
    let out = run(
        "squashed",
        vec![
            TensorType::new(DType::F32, vec![n, 2]),
            TensorType::new(DType::F32, vec![n, 1]),
        ],
        &[
            Tensor::from_f64(DType::F32, &[n, 2], &o),
            Tensor::from_f64(DType::F32, &[n, 1], &acts),
        ],
    );
    let (lp, sample, mode) = (&out[0], &out[1], &out[2]);
    for i in 0..n {
        // a = 2 tanh(u): u = atanh(a / 2), |da/du| = 2 (1 - tanh(u)^2).
        let y = acts[i] / 2.0;
        let u = y.atanh();
        let want = normal_logpdf(u, mus[i], lss[i]) - (2.0 * (1.0 - y * y)).ln();
        assert!(
            (lp[i] - want).abs() < 2e-3 * want.abs().max(1.0),
            "sample {i}: {} vs {want}",
            lp[i]
        );
        assert!(
            sample[i] > -2.0 && sample[i] < 2.0,
            "sample {i} out of bounds: {}",
            sample[i]
        );
        assert!((mode[i] - 2.0 * mus[i].tanh()).abs() < 1e-5);
    }
}

#[test]
fn gaussian_density_and_sample_moments() {
    let n = 20000;
    let mu = vec![0.7; n];
    let ls = vec![(0.5f64).ln(); n];
    let a: Vec<f64> = (0..n).map(|i| (i % 13) as f64 * 0.2 - 1.0).collect();
    let t = |v: &[f64]| Tensor::from_f64(DType::F32, &[n, 1], v);
    let ty = TensorType::new(DType::F32, vec![n, 1]);
    let out = run(
        "plain",
        vec![ty.clone(), ty.clone(), ty],
        &[t(&mu), t(&ls), t(&a)],
    );
    for i in 0..n {
        let want = normal_logpdf(a[i], mu[i], ls[i]);
        assert!((out[0][i] - want).abs() < 1e-4 * want.abs().max(1.0));
    }
    let m = out[1].iter().sum::<f64>() / n as f64;
    let var = out[1].iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
    assert!((m - 0.7).abs() < 0.02, "sample mean {m}");
    assert!((var.sqrt() - 0.5).abs() < 0.02, "sample std {}", var.sqrt());
}

/// `sample_log_prob` of the squashed Gaussian: the density of its own draw agrees with
/// the change of variables computed back from the action, and stays finite (and
/// large) where the tanh saturates and inverting the action no longer can.
#[test]
fn squashed_draw_carries_its_exact_log_density() {
    let n = 4000;
    let (mus, lss): (Vec<f64>, Vec<f64>) = (
        (0..n)
            .map(|i| {
                if i < n / 2 {
                    ((i % 7) as f64 - 3.0) * 0.3
                } else {
                    20.0
                }
            })
            .collect(),
        (0..n)
            .map(|i| {
                if i < n / 2 {
                    ((i % 5) as f64 - 2.0) * 0.3
                } else {
                    -2.0
                }
            })
            .collect(),
    );
    let o: Vec<f64> = (0..n).flat_map(|i| [mus[i], lss[i]]).collect();
    let out = run(
        "squashed_draw",
        vec![TensorType::new(DType::F32, vec![n, 2])],
        &[Tensor::from_f64(DType::F32, &[n, 2], &o)],
    );
    let (act, lp) = (&out[0], &out[1]);
    let mut compared = 0;
    for i in 0..n {
        assert!(
            act[i].abs() <= 2.0 && lp[i].is_finite(),
            "draw {i}: {} {}",
            act[i],
            lp[i]
        );
        let y = act[i] / 2.0;
        if i < n / 2 && y.abs() < 0.99 {
            let u = y.atanh();
            let want = normal_logpdf(u, mus[i], lss[i]) - (2.0 * (1.0 - y * y)).ln();
            assert!(
                (lp[i] - want).abs() < 5e-3 * want.abs().max(1.0),
                "draw {i}: {} vs {want}",
                lp[i]
            );
            compared += 1;
        }
        if i >= n / 2 {
            // u ≈ 20: log N(u) ≈ 2 - 0.92 - ε²/2, log|da/du| = log 2 + log(1 - tanh²u) ≈ -37.9.
            assert!(lp[i] > 30.0, "saturated draw {i}: {}", lp[i]);
        }
    }
    assert!(compared > n / 3, "only {compared} draws compared");
}

/// The Gaussian's `sample_log_prob` is `log_prob` of the action it drew.
#[test]
fn gaussian_draw_log_density_matches_log_prob() {
    let n = 1000;
    let t = |v: f64| Tensor::from_f64(DType::F32, &[n, 1], &vec![v; n]);
    let ty = TensorType::new(DType::F32, vec![n, 1]);
    let out = run("plain_draw", vec![ty.clone(), ty], &[t(0.3), t(-0.7)]);
    for i in 0..n {
        assert!((out[0][i] - out[1][i]).abs() < 1e-4 * out[1][i].abs().max(1.0));
    }
}
