//! Shuffling and minibatches: `permutation` is a permutation, `take` picks rows, and
//! `minibatches` covers every sample exactly once — on both backends.

use rlp_ir::{DType, TensorType};
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};

const WRAPPERS: &str = r#"
fn perm(n: int) { permutation(n) }
fn rows(x: [B, F], i: [M] i32) { take(x, i) }
fn parts(obs: [T, N, 2], reward: [T, N]) {
  mbs = minibatches({ obs: obs, reward: reward }, 3)
  map(mb -> mb.reward, mbs)
}
"#;

fn run_both(g: &rlp_ir::Graph, inputs: &[rlp_ir::Tensor]) -> Vec<Vec<f64>> {
    let g = rlpc::run::prepare(g).unwrap();
    let a = rlp_ir::interp::run(&g, inputs).unwrap();
    let b = rlp_jit::compile(&g, &rlp_jit::JitOptions::default())
        .unwrap()
        .run(inputs)
        .unwrap();
    assert_eq!(a, b, "interpreter and JIT differ");
    a.iter().map(|t| t.to_f64_vec()).collect()
}

fn mods() -> Modules {
    Modules::load_source("wrappers.rlp", WRAPPERS)
        .map_err(|(_, d)| d[0].message.clone())
        .unwrap()
        .0
}

#[test]
fn permutations_are_permutations() {
    let m = mods();
    for n in [1usize, 2, 7, 100, 1000] {
        for seed in 0..3 {
            let (g, _) =
                lower_function(&m, "wrappers.rlp", "perm", vec![FnArg::Int(n as i64)], seed)
                    .unwrap();
            let mut p = run_both(&g, &[]).remove(0);
            if n == 100 && seed == 0 {
                assert!(
                    p.iter().enumerate().any(|(i, &v)| v != i as f64),
                    "not shuffled"
                );
            }
            p.sort_by(f64::total_cmp);
            assert_eq!(
                p,
                (0..n).map(|i| i as f64).collect::<Vec<_>>(),
                "n = {n}, seed {seed}"
            );
        }
    }
}

#[test]
fn take_picks_rows() {
    let m = mods();
    let (g, _) = lower_function(
        &m,
        "wrappers.rlp",
        "rows",
        vec![
            FnArg::Tensor(TensorType::new(DType::F32, vec![4, 3])),
            FnArg::Tensor(TensorType::new(DType::I32, vec![5])),
        ],
        0,
    )
    .unwrap();
    let x = rlp_ir::Tensor::from_f64(
        DType::F32,
        &[4, 3],
        &(0..12).map(|v| v as f64).collect::<Vec<_>>(),
    );
    let i = rlp_ir::Tensor::from_f64(DType::I32, &[5], &[3.0, 0.0, 0.0, 2.0, 1.0]);
    let out = run_both(&g, &[x, i]).remove(0);
    assert_eq!(
        out,
        vec![
            9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 6.0, 7.0, 8.0, 3.0, 4.0, 5.0
        ]
    );
}

#[test]
fn minibatches_cover_every_sample_once() {
    let m = mods();
    let (t, n) = (4, 3);
    let (g, names) = lower_function(
        &m,
        "wrappers.rlp",
        "parts",
        vec![
            FnArg::Tensor(TensorType::new(DType::F32, vec![t, n, 2])),
            FnArg::Tensor(TensorType::new(DType::F32, vec![t, n])),
        ],
        5,
    )
    .unwrap();
    assert_eq!(names.len(), 3);
    let obs = rlp_ir::Tensor::zeros(DType::F32, &[t, n, 2]);
    let reward = rlp_ir::Tensor::from_f64(
        DType::F32,
        &[t, n],
        &(0..t * n).map(|v| v as f64).collect::<Vec<_>>(),
    );
    let mut all: Vec<f64> = run_both(&g, &[obs, reward]).concat();
    assert_eq!(all.len(), t * n);
    all.sort_by(f64::total_cmp);
    assert_eq!(all, (0..t * n).map(|v| v as f64).collect::<Vec<_>>());
}
