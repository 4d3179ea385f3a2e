//! Every stdlib function that maps tensors to tensors, lowered on its own and run on
//! fixed-seed random inputs by the JIT and by the interpreter: they must agree to a
//! relative 1e-5 (in practice they are bit-identical). Functions that take modules or
//! optimizers are reached through small wrappers, and the whole training update is
//! compared in `training.rs`.

use rlp_ir::{DType, Tensor, TensorType};
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};

const WRAPPERS: &str = r#"
use std.estimators.{reward_to_go}
use std.losses.{mse, policy_gradient}
use std.env.cartpole

fn dist_parts(logits: [B, K], a: [B] i32) {
  d = categorical_logits(logits)
  (d.sample(), d.log_prob(a), d.entropy(), d.mode())
}
fn adam_step(p: [K], g: [K], m: [K], v: [K]) {
  opt = adam(lr: 0.01)
  opt.update(p, g, { m: m, v: v }, 3.0)
}
fn sgd_step(p: [K], g: [K]) { sgd(lr: 0.1).update(p, g, {}, 1.0) }
fn pg_loss(logits: [T, N, K], a: [T, N] i32, adv: [T, N]) {
  policy_gradient(x -> categorical_logits(x), { obs: logits, action: a }, adv)
}
fn env_step(s: [N, 4] f64, a: [N] i32) { cartpole.step(s, a) }
fn env_reset() { cartpole.reset(8) }

/// A scan whose carries are a record and a tuple and whose value is a nested record.
fn scan_records(x: [T, N]) {
  scan t in T (acc = { sum: zeros([N]), count: 0.0 }, pair = (zeros([N]), ones([N]))) {
    acc = { sum: acc.sum + x[t], count: acc.count + 1.0 }
    pair = (pair[1], pair[0] + x[t])
    { running: { sum: acc.sum, mean: acc.sum / acc.count }, pair: pair, twice: 2.0 * x[t] }
  }
}
/// Without a value: the carries, stacked (a tuple of the two).
fn scan_record_carries(x: [T, N]) {
  scan reverse t in T (acc = { sum: zeros([N]), last: x[0] }, n = 0) {
    acc = { sum: acc.sum + x[t], last: x[t] }
    n = n + 1
  }
}
"#;

/// Deterministic pseudo-random inputs (no dependency): values in [-2, 2), ints in 0..k.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn tensor(&mut self, ty: &TensorType, k: usize) -> Tensor {
        let n = ty.numel();
        let vals: Vec<f64> = (0..n)
            .map(|_| match ty.dtype {
                DType::I32 => (self.next() * k as f64).floor(),
                DType::Bool => f64::from(self.next() < 0.3),
                _ => self.next() * 4.0 - 2.0,
            })
            .collect();
        Tensor::from_f64(ty.dtype, &ty.shape, &vals)
    }
}

fn compare(mods: &Modules, module: &str, name: &str, args: Vec<TensorType>, k: usize) {
    let (g, outs) = lower_function(
        mods,
        module,
        name,
        args.iter().cloned().map(FnArg::Tensor).collect(),
        11,
    )
    .unwrap_or_else(|d| panic!("{name}: {}", d.message));
    let mut rng = Gen(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    let inputs: Vec<Tensor> = g.inputs.iter().map(|t| rng.tensor(t, k)).collect();
    let prepared = rlpc::run::prepare(&g).unwrap();
    let want = rlp_ir::interp::run(&prepared, &inputs)
        .unwrap_or_else(|e| panic!("{name}: interpreter: {e}"));
    let jit = rlp_jit::compile(&prepared, &rlp_jit::JitOptions::default()).unwrap();
    let got = jit
        .run(&inputs)
        .unwrap_or_else(|e| panic!("{name}: jit: {e}"));
    assert_eq!(want.len(), outs.len());
    for ((w, g), o) in want.iter().zip(&got).zip(&outs) {
        assert_eq!(w.dtype(), g.dtype(), "{name}.{o}");
        assert_eq!(w.shape(), g.shape(), "{name}.{o}");
        for (a, b) in w.to_f64_vec().iter().zip(g.to_f64_vec()) {
            let same = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-5 * a.abs().max(1.0);
            assert!(same, "{name}.{o}: interpreter {a} vs jit {b}");
        }
    }
}

fn f32s(shape: &[usize]) -> TensorType {
    TensorType::new(DType::F32, shape.to_vec())
}

#[test]
fn every_stdlib_function_agrees_on_both_backends() {
    let (mods, _) = Modules::load_source("wrappers.rlp", WRAPPERS)
        .map_err(|(_, d)| d[0].message.clone())
        .unwrap();
    for f in [
        "sigmoid",
        "relu",
        "softplus",
        "log_softmax",
        "softmax",
        "std",
    ] {
        compare(&mods, "std.core", f, vec![f32s(&[5, 7])], 0);
    }
    compare(&mods, "std.core", "logsumexp", vec![f32s(&[3, 17])], 0);
    compare(
        &mods,
        "std.core",
        "clip",
        vec![f32s(&[9]), f32s(&[]), f32s(&[])],
        0,
    );
    compare(
        &mods,
        "std.core",
        "mean_where",
        vec![f32s(&[4, 5]), TensorType::new(DType::Bool, vec![4, 5])],
        0,
    );
    compare(
        &mods,
        "std.estimators",
        "reward_to_go",
        vec![f32s(&[33, 5]), TensorType::new(DType::Bool, vec![33, 5])],
        0,
    );
    compare(
        &mods,
        "std.losses",
        "mse",
        vec![f32s(&[6, 3]), f32s(&[6, 3])],
        0,
    );
    compare(
        &mods,
        "wrappers.rlp",
        "dist_parts",
        vec![f32s(&[16, 3]), TensorType::new(DType::I32, vec![16])],
        3,
    );
    compare(&mods, "wrappers.rlp", "adam_step", vec![f32s(&[10]); 4], 0);
    compare(&mods, "wrappers.rlp", "sgd_step", vec![f32s(&[10]); 2], 0);
    compare(
        &mods,
        "wrappers.rlp",
        "pg_loss",
        vec![
            f32s(&[5, 4, 2]),
            TensorType::new(DType::I32, vec![5, 4]),
            f32s(&[5, 4]),
        ],
        2,
    );
    compare(
        &mods,
        "wrappers.rlp",
        "env_step",
        vec![
            TensorType::new(DType::F64, vec![8, 4]),
            TensorType::new(DType::I32, vec![8]),
        ],
        2,
    );
    compare(&mods, "wrappers.rlp", "env_reset", vec![], 0);
}

/// Records and tuples as scan carries and values: stacked leaf by leaf, rebuilt around
/// the stacks, the same on both backends, and the values a loop in Rust gives.
#[test]
fn scans_carry_and_stack_records_and_tuples() {
    let (mods, _) = Modules::load_source("wrappers.rlp", WRAPPERS)
        .map_err(|(_, d)| d[0].message.clone())
        .unwrap();
    let (t, n) = (5, 3);
    compare(
        &mods,
        "wrappers.rlp",
        "scan_records",
        vec![f32s(&[t, n])],
        0,
    );
    compare(
        &mods,
        "wrappers.rlp",
        "scan_record_carries",
        vec![f32s(&[t, n])],
        0,
    );

    let (g, outs) = lower_function(
        &mods,
        "wrappers.rlp",
        "scan_records",
        vec![FnArg::Tensor(f32s(&[t, n]))],
        0,
    )
    .unwrap_or_else(|d| panic!("{}", d.message));
    assert_eq!(
        outs,
        ["running.sum", "running.mean", "pair.0", "pair.1", "twice"]
    );
    let xs: Vec<f64> = (0..t * n).map(|k| k as f64 * 0.5 - 3.0).collect();
    let x = Tensor::from_f64(DType::F32, &[t, n], &xs);
    let got = rlp_ir::interp::run(&rlpc::run::prepare(&g).unwrap(), &[x]).unwrap();
    for o in &got {
        assert_eq!(o.shape(), [t, n]);
    }
    let (mut sum, mut pair) = (vec![0.0; n], (vec![0.0; n], vec![1.0; n]));
    for s in 0..t {
        let row = &xs[s * n..(s + 1) * n];
        let next = (0..n).map(|j| pair.0[j] + row[j]).collect();
        pair = (pair.1, next);
        for j in 0..n {
            sum[j] += row[j];
            let at = |k: usize| got[k].to_f64_vec()[s * n + j];
            assert_eq!(at(0), sum[j], "running.sum[{s}, {j}]");
            assert!(
                (at(1) - sum[j] / (s + 1) as f64).abs() < 1e-5,
                "running.mean[{s}, {j}]"
            );
            assert_eq!((at(2), at(3)), (pair.0[j], pair.1[j]), "pair[{s}, {j}]");
            assert_eq!(at(4), 2.0 * row[j], "twice[{s}, {j}]");
        }
    }
}
