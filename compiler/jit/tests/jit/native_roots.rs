//! Native root ops (`post.rs`): a map kernel or matrix-product epilogue whose stored
//! value is `tanh(e)` or `exp(e)` stores `e` and the executor maps the function over
//! the written range with `rlp_runtime::wide` — bit-identical to the interpreter at
//! every length around the size threshold, split across threads, and in blocked
//! epilogues; and left alone where the function's value is used twice.

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, NodeId, Op, UnaryOp};
use rlp_jit::JitOptions;
use rlp_jit::exec::JitExecutable;
use rlp_jit::kernel::{PostUnary, Schedule, Step};
use rlp_runtime::{DType, Executable, Tensor};

const F: DType = DType::F32;

/// The CPU executor's schedule for `g` (with the native root ops it chose) and the
/// executable, with `threads` threads.
fn executable(g: &Graph, threads: usize) -> JitExecutable {
    let schedule = rlp_jit::fuse::fuse(g, true).unwrap();
    let shapes = g.outputs.iter().map(|&o| g.ty(o).shape.clone()).collect();
    let opts = JitOptions {
        threads,
        ..JitOptions::default()
    };
    JitExecutable::new(g.inputs.clone(), shapes, schedule, &opts).unwrap()
}

/// The native root ops of a schedule's kernels and epilogues, in step order.
fn posts(s: &Schedule) -> Vec<PostUnary> {
    let mut v = vec![];
    rlp_jit::kernel::for_each_kernel(s, &mut |k| v.extend(k.post.map(|p| p.op)));
    v
}

/// The interpreter, the default checks (fused and unfused, one thread) and the fused
/// JIT on `threads` threads agree bit for bit; returns the native root ops used.
fn check_threads(g: &Graph, inputs: &[Tensor], threads: usize) -> Vec<PostUnary> {
    let want = check(g, inputs);
    let exe = executable(g, threads);
    let got = exe.run(inputs).unwrap();
    compare_all(&format!("{threads} threads"), &got, &want, g, &same_bits);
    posts(exe.schedule())
}

/// `f(x·a + b)` over `[n]`.
fn affine_then(f: UnaryOp, n: usize) -> Graph {
    graph(&[ty(F, &[n]), ty(F, &[n])], |g, x| {
        let two = g.full(&ty(F, &[n]), 1.5).unwrap();
        let xa = g.binary(BinaryOp::Mul, x[0], two).unwrap();
        let pre = g.binary(BinaryOp::Add, xa, x[1]).unwrap();
        vec![g.unary(f, pre).unwrap()]
    })
}

#[test]
fn map_roots_match_around_the_threshold() {
    let mut rng = Gen(41);
    for (f, native) in [
        (UnaryOp::Tanh, PostUnary::Tanh),
        (UnaryOp::Exp, PostUnary::Exp),
    ] {
        for n in [1, 5, 31, 32, 33, 47, 64, 100, 1027] {
            let g = affine_then(f, n);
            for specials in [false, true] {
                let used = check_threads(&g, &rng.inputs(&g, specials), 1);
                let expect = if n >= 32 { vec![native] } else { vec![] };
                assert_eq!(used, expect, "{f:?} over {n}");
            }
        }
    }
}

#[test]
fn split_map_roots_match() {
    // Past the parallel threshold: each thread's chunk gets its own native pass.
    let mut rng = Gen(42);
    let n = 100_003;
    let g = affine_then(UnaryOp::Tanh, n);
    for threads in [2, 3] {
        let used = check_threads(&g, &rng.inputs(&g, true), threads);
        assert_eq!(used, vec![PostUnary::Tanh]);
    }
}

fn dense(g: &mut Graph, x: NodeId, w: NodeId, b: NodeId) -> NodeId {
    let y = g.add(Op::MatMul, vec![x, w]).unwrap();
    let shape = g.ty(y).shape.clone();
    let bb = g.broadcast(b, &shape).unwrap();
    g.binary(BinaryOp::Add, y, bb).unwrap()
}

#[test]
fn epilogue_roots_match_in_every_block() {
    // 600 rows: three blocks of 200 rows, each followed by its epilogue and its native
    // `tanh`; 128 and 3 rows: one block.
    let mut rng = Gen(43);
    for rows in [3, 128, 600] {
        let g = graph(
            &[ty(F, &[rows, 16]), ty(F, &[16, 64]), ty(F, &[64])],
            |g, x| {
                let h = dense(g, x[0], x[1], x[2]);
                vec![g.unary(UnaryOp::Tanh, h).unwrap()]
            },
        );
        for threads in [1, 2] {
            let used = check_threads(&g, &rng.inputs(&g, false), threads);
            assert_eq!(used, vec![PostUnary::Tanh], "{rows} rows");
            let exe = executable(&g, threads);
            let epilogue = exe.schedule().steps.iter().any(|s| match s {
                Step::MatMul(m) => m.epilogue.as_ref().is_some_and(|k| k.post.is_some()),
                _ => false,
            });
            assert!(
                epilogue,
                "the tanh is the product's epilogue\n{}",
                exe.schedule()
            );
        }
    }
}

#[test]
fn a_root_used_twice_stays_inline() {
    // `y = tanh(x)` is stored and also feeds `y·y`: the kernel keeps computing it.
    let mut rng = Gen(44);
    let n = 200;
    let g = graph(&[ty(F, &[n])], |g, x| {
        let y = g.unary(UnaryOp::Tanh, x[0]).unwrap();
        let yy = g.binary(BinaryOp::Mul, y, y).unwrap();
        vec![y, yy]
    });
    let used = check_threads(&g, &rng.inputs(&g, true), 1);
    assert_eq!(used, vec![]);
}
