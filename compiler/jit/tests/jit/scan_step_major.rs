//! The step-major scan loop (steps outside, units inside, four `f32` lanes plus a scalar
//! tail): GAE-shaped scans at lengths 0, 1 and odd, unit counts below, at and off a
//! multiple of four, several dims, bool and f64 carries, on 1, 2 and 3 threads — all
//! bit-identical to the interpreter.

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, NodeId, Op, Scan};
use rlp_runtime::{DType, Tensor};

const F: DType = DType::F32;

/// GAE over `[t, shape…]`: sequences `r`, `v[0..t]`, `v[1..t+1]`, `done` (as floats),
/// `delta = r + γ·v[t+1]·(1−done) − v[t]; acc = delta + γλ·(1−done)·acc`.
pub fn gae_graph(dtype: DType, t: usize, shape: &[usize], gamma: f64, lambda: f64) -> Graph {
    let mut seq = vec![t];
    seq.extend_from_slice(shape);
    let mut vshape = vec![t + 1];
    vshape.extend_from_slice(shape);
    let e = ty(dtype, shape);
    let body = graph(
        &[
            e.clone(),
            e.clone(),
            e.clone(),
            e.clone(),
            e.clone(),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let (acc, r, v, vn, done) = (x[0], x[1], x[2], x[3], x[4]);
            let one = g.full(&e, 1.0).unwrap();
            let nd = g.binary(BinaryOp::Sub, one, done).unwrap();
            let gm = g.full(&e, gamma).unwrap();
            let gl = g.full(&e, gamma * lambda).unwrap();
            let a = g.binary(BinaryOp::Mul, gm, vn).unwrap();
            let a = g.binary(BinaryOp::Mul, a, nd).unwrap();
            let d = g.binary(BinaryOp::Add, r, a).unwrap();
            let delta = g.binary(BinaryOp::Sub, d, v).unwrap();
            let b = g.binary(BinaryOp::Mul, gl, nd).unwrap();
            let b = g.binary(BinaryOp::Mul, b, acc).unwrap();
            let next = g.binary(BinaryOp::Add, delta, b).unwrap();
            vec![next, next]
        },
    );
    graph(
        &[ty(dtype, &seq), ty(dtype, &vshape), ty(dtype, &seq)],
        |g, x| {
            let init = g.full(&e, 0.0).unwrap();
            let v0 = g.slice(x[1], 0, 0, t).unwrap();
            let v1 = g.slice(x[1], 0, 1, t + 1).unwrap();
            let s: NodeId = g
                .add(
                    Op::Scan(Box::new(Scan {
                        length: t,
                        reverse: true,
                        n_carry: 1,
                        n_seq: 4,
                        body,
                    })),
                    vec![init, x[0], v0, v1, x[2]],
                )
                .unwrap();
            vec![g.project(s, 0).unwrap(), g.project(s, 1).unwrap()]
        },
    )
}

fn inputs(g: &Graph, seed: u64) -> Vec<Tensor> {
    let mut rng = Gen(seed);
    let mut ins = rng.inputs(g, true);
    // `done` as 0/1 floats.
    let d = &g.inputs[2];
    let flags: Vec<f64> = (0..d.numel())
        .map(|_| (rng.below(5) == 0) as u8 as f64)
        .collect();
    ins[2] = t(d.dtype, &d.shape, &flags);
    ins
}

fn check_threads(g: &Graph, ins: &[Tensor]) {
    let want = check(g, ins);
    for threads in [2, 3] {
        let got = jit(g, true, threads).run(ins).unwrap();
        for (a, b) in got.iter().zip(&want) {
            same_bits(a, b).unwrap_or_else(|e| panic!("{threads} threads: {e}"));
        }
    }
}

#[test]
fn gae_is_bit_identical_at_edge_lengths_and_widths() {
    for steps in [0, 1, 2, 7] {
        for n in [1, 3, 4, 5, 9, 17] {
            let g = gae_graph(F, steps, &[n], 0.99, 0.95);
            check_threads(&g, &inputs(&g, (steps * 31 + n) as u64));
        }
    }
}

#[test]
fn gae_with_several_dims_and_f64() {
    let g = gae_graph(F, 5, &[3, 7], 0.9, 0.8);
    check_threads(&g, &inputs(&g, 11));
    let g = gae_graph(DType::F64, 6, &[11], 0.99, 0.95);
    check_threads(&g, &inputs(&g, 12));
}

#[test]
fn large_gae_is_bit_identical_across_threads() {
    // Enough work to split across threads, with a width that is not a multiple of four.
    let g = gae_graph(F, 33, &[4099], 0.99, 0.95);
    check_threads(&g, &inputs(&g, 13));
}

#[test]
fn bool_carry_scan_runs_step_major() {
    // A carried flag ("has this env ever been done") beside a float carry.
    let n = 6;
    let e = ty(F, &[n]);
    let b = ty(DType::Bool, &[n]);
    let body = graph(
        &[
            b.clone(),
            e.clone(),
            b.clone(),
            e.clone(),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let seen = g.binary(BinaryOp::Or, x[0], x[2]).unwrap();
            let zero = g.full(&e, 0.0).unwrap();
            let kept = g.select(seen, zero, x[3]).unwrap();
            let acc = g.binary(BinaryOp::Add, x[1], kept).unwrap();
            vec![seen, acc, acc]
        },
    );
    let steps = 9;
    let g = graph(
        &[ty(DType::Bool, &[steps, n]), ty(F, &[steps, n])],
        |g, x| {
            let s0 = g.full(&b, 0.0).unwrap();
            let a0 = g.full(&e, 0.0).unwrap();
            let s = g
                .add(
                    Op::Scan(Box::new(Scan {
                        length: steps,
                        reverse: false,
                        n_carry: 2,
                        n_seq: 2,
                        body,
                    })),
                    vec![s0, a0, x[0], x[1]],
                )
                .unwrap();
            (0..3).map(|k| g.project(s, k).unwrap()).collect()
        },
    );
    let ins = Gen(14).inputs(&g, true);
    check_threads(&g, &ins);
}
