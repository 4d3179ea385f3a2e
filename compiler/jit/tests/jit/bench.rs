//! Quick throughput measurements (ignored by default; run with
//! `cargo test --release -p rlp-jit --test jit -- --ignored --nocapture bench`).

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, NodeId, Op, Scan, UnaryOp};
use rlp_runtime::{DType, Executable, Tensor};
use std::time::Instant;

const F: DType = DType::F32;

/// Best-of-`reps` seconds per run.
fn time(exe: &dyn Executable, inputs: &[Tensor], reps: usize) -> f64 {
    exe.run(inputs).unwrap();
    (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            exe.run(inputs).unwrap();
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn report(name: &str, elems: usize, g: &Graph, inputs: &[Tensor], reps: usize) {
    let interp = rlp_ir::interp::Interpreter::new(g.clone()).unwrap();
    let ti = time(&interp, inputs, reps.min(3));
    for (label, fuse, threads) in [
        ("fused, 1 thread", true, 1),
        ("fused, 2 threads", true, 2),
        ("unfused, 1 thread", false, 1),
    ] {
        let tj = time(jit(g, fuse, threads).as_ref(), inputs, reps);
        println!(
            "{name} [{label}]: {:.1} M elem/s ({:.3} ms), interpreter {:.1} M elem/s ({:.3} ms), speed-up {:.1}x",
            elems as f64 / tj / 1e6,
            tj * 1e3,
            elems as f64 / ti / 1e6,
            ti * 1e3,
            ti / tj
        );
    }
}

#[test]
#[ignore]
fn bench_fused_elementwise() {
    let n = 1 << 20;
    let shape = [n / 64, 64];
    let g = graph(&[ty(F, &shape), ty(F, &[64]), ty(F, &[64])], |g, x| {
        let w = g.broadcast(x[1], &shape).unwrap();
        let b = g.broadcast(x[2], &shape).unwrap();
        let xw = g.binary(BinaryOp::Mul, x[0], w).unwrap();
        let pre = g.binary(BinaryOp::Add, xw, b).unwrap();
        let act = g.unary(UnaryOp::Tanh, pre).unwrap();
        let zero = g.full(&ty(F, &shape), 0.0).unwrap();
        let pos = g.binary(BinaryOp::Gt, x[0], zero).unwrap();
        let neg = g.unary(UnaryOp::Neg, x[0]).unwrap();
        let abs = g.select(pos, x[0], neg).unwrap();
        vec![g.binary(BinaryOp::Mul, act, abs).unwrap()]
    });
    let inputs = Gen(1).inputs(&g, false);
    report("tanh(x*w+b)*|x|", n, &g, &inputs, 10);
    // Without a callout: pure arithmetic.
    let g = graph(&[ty(F, &[n]), ty(F, &[n])], |g, x| {
        let a = g.binary(BinaryOp::Mul, x[0], x[1]).unwrap();
        let b = g.binary(BinaryOp::Add, a, x[0]).unwrap();
        let c = g.binary(BinaryOp::Max, b, x[1]).unwrap();
        vec![g.binary(BinaryOp::Sub, c, a).unwrap()]
    });
    let inputs = Gen(2).inputs(&g, false);
    report("max(x*y+x, y) - x*y", n, &g, &inputs, 10);
}

#[test]
#[ignore]
fn bench_discounted_returns_scan() {
    let (t, n) = (2048, 64);
    let body = graph(
        &[
            ty(F, &[n]),
            ty(F, &[n]),
            ty(DType::Bool, &[n]),
            ty(F, &[]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let zero = g.full(&ty(F, &[n]), 0.0).unwrap();
            let kept = g.select(x[2], zero, x[0]).unwrap();
            let gb = g.broadcast(x[3], &[n]).unwrap();
            let disc = g.binary(BinaryOp::Mul, gb, kept).unwrap();
            let ret = g.binary(BinaryOp::Add, x[1], disc).unwrap();
            vec![ret, ret]
        },
    );
    let g = graph(
        &[ty(F, &[t, n]), ty(DType::Bool, &[t, n]), ty(F, &[])],
        |g, x| {
            let init = g.full(&ty(F, &[n]), 0.0).unwrap();
            let s: NodeId = g
                .add(
                    Op::Scan(Box::new(Scan {
                        length: t,
                        reverse: true,
                        n_carry: 1,
                        n_seq: 2,
                        body,
                    })),
                    vec![init, x[0], x[1], x[2]],
                )
                .unwrap();
            vec![g.project(s, 1).unwrap()]
        },
    );
    let mut inputs = Gen(3).inputs(&g, false);
    inputs[2] = t_scalar(0.99);
    report("discounted returns [2048, 64]", t * n, &g, &inputs, 10);
}

fn t_scalar(v: f64) -> Tensor {
    t(F, &[], &[v])
}

#[test]
#[ignore]
fn bench_small_graph_overhead() {
    // A policy step at RL sizes: log-softmax + gather over [16, 4].
    let (b, a) = (16, 4);
    let g = graph(&[ty(F, &[b, a]), ty(DType::I32, &[b])], |g, x| {
        let m = g.reduce(rlp_ir::ReduceOp::Max, x[0], vec![1]).unwrap();
        let m = g.reshape(m, &[b, 1]).unwrap();
        let mb = g.broadcast(m, &[b, a]).unwrap();
        let z = g.binary(BinaryOp::Sub, x[0], mb).unwrap();
        let e = g.unary(UnaryOp::Exp, z).unwrap();
        let s = g.reduce(rlp_ir::ReduceOp::Sum, e, vec![1]).unwrap();
        let ls = g.unary(UnaryOp::Log, s).unwrap();
        let ls = g.reshape(ls, &[b, 1]).unwrap();
        let lsb = g.broadcast(ls, &[b, a]).unwrap();
        let logp = g.binary(BinaryOp::Sub, z, lsb).unwrap();
        vec![g.add(Op::Gather, vec![logp, x[1]]).unwrap()]
    });
    let inputs = vec![
        Gen(4).tensor(&ty(F, &[b, a]), false),
        t(DType::I32, &[b], &[1.0; 16]),
    ];
    let interp = rlp_ir::interp::Interpreter::new(g.clone()).unwrap();
    let exe = jit(&g, true, 1);
    let reps = 2000;
    let per_run = |e: &dyn Executable| {
        let t0 = Instant::now();
        for _ in 0..reps {
            e.run(&inputs).unwrap();
        }
        t0.elapsed().as_secs_f64() / reps as f64
    };
    let (tj, ti) = (per_run(exe.as_ref()), per_run(&interp));
    println!(
        "log-prob [16, 4]: jit {:.2} us/run, interpreter {:.2} us/run",
        tj * 1e6,
        ti * 1e6
    );
}
