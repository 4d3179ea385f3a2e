//! The inline f32 `exp`, `log` and `tanh` (`rlp_runtime::math`, emitted by codegen's
//! `math` module): bit-identical to the interpreter on special values, on random bit
//! patterns and on dense sweeps, through the four-lane path, its scalar tail and the
//! purely scalar path (a kernel that cannot vectorise).

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, UnaryOp};
use rlp_runtime::math::{exp_f32, ln_f32, tanh_f32};
use rlp_runtime::{DType, Tensor};

const F: DType = DType::F32;
const OPS: [UnaryOp; 3] = [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Tanh];
const LENGTHS: [usize; 6] = [0, 1, 3, 4, 5, 17];

/// Values at and around every special case of the three functions.
fn specials() -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        1.0,
        -1.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        88.72283,
        88.72284,
        88.8,
        89.0,
        -87.33655,
        -87.5,
        -103.0,
        -103.97,
        -104.0,
        -110.0,
        0.625,
        -0.625,
        0.624_999_94,
        9.0,
        9.1,
        -9.1,
        1e-30,
        -1e-30,
        std::f32::consts::FRAC_1_SQRT_2,
        std::f32::consts::FRAC_1_SQRT_2,
        std::f32::consts::SQRT_2,
    ];
    let more: Vec<f32> = v
        .iter()
        .flat_map(|&x| [x.next_up(), x.next_down()])
        .collect();
    v.extend(more);
    v
}

/// `n` random bit patterns (every class: subnormals, NaNs, infinities) and `n` values
/// uniform in [-120, 120).
fn random(rng: &mut Gen, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n)
        .map(|_| f32::from_bits(rng.next_u64() as u32))
        .collect();
    v.extend((0..n).map(|_| rng.uniform(-120.0, 120.0) as f32));
    v
}

fn tensor(xs: &[f32]) -> Tensor {
    Tensor::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[xs.len()]), xs.to_vec()).unwrap())
}

/// `op(x)` alone: a map kernel with a four-lane form.
fn vector_graph(op: UnaryOp, n: usize) -> Graph {
    graph(&[ty(F, &[n])], |g, x| vec![g.unary(op, x[0]).unwrap()])
}

/// `op(x)` next to a `sin` (a callout), so the fused kernel runs the scalar loop; the
/// unfused run of the same graph gives `op` its own four-lane kernel.
fn scalar_graph(op: UnaryOp, n: usize) -> Graph {
    graph(&[ty(F, &[n])], |g, x| {
        let y = g.unary(op, x[0]).unwrap();
        let s = g.unary(UnaryOp::Sin, x[0]).unwrap();
        let z = g.full(&ty(F, &[n]), 0.0).unwrap();
        let s0 = g.binary(BinaryOp::Mul, s, z).unwrap();
        vec![y, g.binary(BinaryOp::Add, y, s0).unwrap()]
    })
}

#[test]
fn special_values_at_every_length() {
    let sp = specials();
    for op in OPS {
        for n in LENGTHS {
            // Slide a window over the specials so each lands in every lane position.
            for start in 0..sp.len() {
                let xs: Vec<f32> = (0..n).map(|k| sp[(start + k) % sp.len()]).collect();
                for g in [vector_graph(op, n), scalar_graph(op, n)] {
                    check(&g, &[tensor(&xs)]);
                }
            }
        }
    }
}

#[test]
fn random_inputs_at_every_length() {
    let mut rng = Gen(7);
    for op in OPS {
        for n in LENGTHS {
            for _ in 0..20 {
                let xs = random(&mut rng, n);
                let xs = &xs[..n];
                for g in [vector_graph(op, n), scalar_graph(op, n)] {
                    check(&g, &[tensor(xs)]);
                }
            }
        }
    }
}

#[test]
fn many_inputs_match_the_interpreter_and_runtime_math() {
    let mut rng = Gen(11);
    let mut xs = random(&mut rng, 100_000);
    xs.extend(specials());
    // A dense sweep of [-12, 12] and of (0, 100] for log.
    xs.extend((0..=240_000).map(|k| -12.0 + k as f32 * 1e-4));
    xs.extend((1..=100_000).map(|k| k as f32 * 1e-3));
    xs.push(1.5); // an odd length: a scalar tail
    let input = tensor(&xs);
    for (op, f) in [
        (UnaryOp::Exp, exp_f32 as fn(f32) -> f32),
        (UnaryOp::Log, ln_f32),
        (UnaryOp::Tanh, tanh_f32),
    ] {
        let n = xs.len();
        for g in [vector_graph(op, n), scalar_graph(op, n)] {
            let out = check(&g, std::slice::from_ref(&input));
            let want = tensor(&xs.iter().map(|&x| f(x)).collect::<Vec<_>>());
            same_bits(&out[0], &want).unwrap_or_else(|e| panic!("{op:?}: {e}"));
        }
    }
}

#[test]
fn fused_activation_matches() {
    // tanh(x·w + b), exp(-x)·log(x²+1): chains with the math inside a fused kernel.
    let mut rng = Gen(3);
    for n in LENGTHS {
        let g = graph(&[ty(F, &[n]), ty(F, &[n]), ty(F, &[n])], |g, x| {
            let xw = g.binary(BinaryOp::Mul, x[0], x[1]).unwrap();
            let pre = g.binary(BinaryOp::Add, xw, x[2]).unwrap();
            let act = g.unary(UnaryOp::Tanh, pre).unwrap();
            let nx = g.unary(UnaryOp::Neg, x[0]).unwrap();
            let e = g.unary(UnaryOp::Exp, nx).unwrap();
            let sq = g.binary(BinaryOp::Mul, x[0], x[0]).unwrap();
            let one = g.full(&ty(F, &[n]), 1.0).unwrap();
            let sq1 = g.binary(BinaryOp::Add, sq, one).unwrap();
            let l = g.unary(UnaryOp::Log, sq1).unwrap();
            vec![act, g.binary(BinaryOp::Mul, e, l).unwrap()]
        });
        for specials in [false, true] {
            let inputs = rng.inputs(&g, specials);
            check(&g, &inputs);
        }
    }
}
