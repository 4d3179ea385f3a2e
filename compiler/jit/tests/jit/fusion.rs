//! What fuses, checked on the schedule, and that fused and unfused schedules agree.

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, Op, ReduceOp, UnaryOp};
use rlp_jit::fuse::fuse;
use rlp_jit::kernel::{KernelKind, Schedule, Step};
use rlp_runtime::DType;

/// Kernel kinds in schedule order (host loops and library steps by name).
fn kinds(s: &Schedule) -> Vec<&'static str> {
    s.steps
        .iter()
        .map(|step| match step {
            Step::Kernel(k) => k.kind_name(),
            Step::MatMul(_) => "matmul",
            Step::Native(_) => "native",
            Step::Scan(_) => "host-scan",
        })
        .collect()
}

/// `tanh(x*w + b) * select(x > 0, x, -x)` with `w`, `b` broadcast along rows.
fn fused_chain(rows: usize, cols: usize) -> Graph {
    let f = DType::F32;
    graph(
        &[ty(f, &[rows, cols]), ty(f, &[cols]), ty(f, &[cols])],
        |g, x| {
            let shape = [rows, cols];
            let w = g.broadcast(x[1], &shape).unwrap();
            let b = g.broadcast(x[2], &shape).unwrap();
            let xw = g.binary(BinaryOp::Mul, x[0], w).unwrap();
            let pre = g.binary(BinaryOp::Add, xw, b).unwrap();
            let act = g.unary(UnaryOp::Tanh, pre).unwrap();
            let zero = g.full(&ty(f, &shape), 0.0).unwrap();
            let pos = g.binary(BinaryOp::Gt, x[0], zero).unwrap();
            let neg = g.unary(UnaryOp::Neg, x[0]).unwrap();
            let abs = g.select(pos, x[0], neg).unwrap();
            vec![g.binary(BinaryOp::Mul, act, abs).unwrap()]
        },
    )
}

#[test]
fn elementwise_chain_is_one_kernel() {
    let g = fused_chain(7, 17);
    let s = fuse(&g, true).unwrap();
    assert_eq!(kinds(&s), ["elementwise"], "{s}");
    let Step::Kernel(k) = &s.steps[0] else {
        unreachable!()
    };
    // x, w and b are read; one buffer written.
    assert_eq!(k.params.iter().filter(|p| !p.write).count(), 3);
    assert_eq!(k.params.iter().filter(|p| p.write).count(), 1);
    // Unfused: one kernel per node (inputs aside).
    let unfused = fuse(&g, false).unwrap();
    assert!(unfused.steps.len() >= 10, "{unfused}");
    for rows in [0, 1, 3, 4, 5, 17] {
        let g = fused_chain(rows, 5);
        check(&g, &Gen(rows as u64).inputs(&g, true));
    }
}

#[test]
fn values_used_outside_a_group_are_stored_from_inside_it() {
    let f = DType::F64;
    let g = graph(&[ty(f, &[9])], |g, x| {
        let e = g.unary(UnaryOp::Exp, x[0]).unwrap();
        let s = g.unary(UnaryOp::Sin, e).unwrap();
        vec![e, s]
    });
    let s = fuse(&g, true).unwrap();
    assert_eq!(kinds(&s), ["elementwise"]);
    let Step::Kernel(k) = &s.steps[0] else {
        unreachable!()
    };
    let KernelKind::Map { stores } = &k.kind else {
        unreachable!()
    };
    assert_eq!(stores.len(), 2);
    check(&g, &Gen(1).inputs(&g, true));
}

#[test]
fn a_value_with_two_consumer_groups_is_materialised_once() {
    let f = DType::F32;
    let g = graph(&[ty(f, &[4, 6])], |g, x| {
        let e = g.unary(UnaryOp::Exp, x[0]).unwrap();
        let total = g.reduce(ReduceOp::Sum, e, vec![1]).unwrap();
        let total = g.reshape(total, &[4, 1]).unwrap();
        let tb = g.broadcast(total, &[4, 6]).unwrap();
        vec![g.binary(BinaryOp::Div, e, tb).unwrap()]
    });
    let s = fuse(&g, true).unwrap();
    assert_eq!(kinds(&s), ["elementwise", "reduce", "elementwise"], "{s}");
    check(&g, &Gen(2).inputs(&g, true));
}

#[test]
fn reductions_absorb_their_producers() {
    let f = DType::F32;
    let g = graph(&[ty(f, &[5, 7, 3])], |g, x| {
        let sq = g.binary(BinaryOp::Mul, x[0], x[0]).unwrap();
        let e = g.unary(UnaryOp::Exp, sq).unwrap();
        let s = g.reduce(ReduceOp::Sum, e, vec![0, 2]).unwrap();
        let m = g.reduce(ReduceOp::Max, x[0], vec![1]).unwrap();
        let a = g.add(Op::ArgMax { axis: 2 }, vec![sq]).unwrap();
        // An output inside a reduction's producer chain is computed by its own kernel.
        let c = g.unary(UnaryOp::Cos, x[0]).unwrap();
        let sc = g.reduce(ReduceOp::Min, c, vec![0, 1, 2]).unwrap();
        vec![s, m, a, sc, c]
    });
    let s = fuse(&g, true).unwrap();
    // `sq` feeds two groups, so it is materialised; `exp` fuses into the sum.
    assert_eq!(
        kinds(&s),
        [
            "elementwise",
            "reduce",
            "reduce",
            "argmax",
            "elementwise",
            "reduce"
        ],
        "{s}"
    );
    check(&g, &Gen(3).inputs(&g, true));
}

#[test]
fn views_fold_into_loads() {
    let f = DType::F32;
    let g = graph(&[ty(f, &[6, 4]), ty(f, &[4])], |g, x| {
        let t = g.transpose(x[0], vec![1, 0]).unwrap();
        let s = g.slice(t, 1, 1, 5).unwrap();
        let r = g.reshape(s, &[2, 2, 4]).unwrap();
        let b = g.broadcast(x[1], &[2, 2, 4]).unwrap();
        let rb = g.reshape(b, &[4, 4]).unwrap();
        let r2 = g.reshape(r, &[4, 4]).unwrap();
        vec![g.binary(BinaryOp::Add, r2, rb).unwrap()]
    });
    let s = fuse(&g, true).unwrap();
    assert_eq!(kinds(&s), ["elementwise"], "{s}");
    check(&g, &Gen(4).inputs(&g, false));
}

#[test]
fn summary_names_fused_nodes() {
    let g = fused_chain(2, 3);
    let text = rlp_jit::kernels_summary(&g, &rlp_jit::JitOptions::default());
    assert!(text.starts_with("k0_map elementwise [2,3]:"), "{text}");
    assert!(text.contains("%5") && text.contains("-> b3"), "{text}");
}

#[test]
fn a_long_chain_is_one_kernel_without_deep_recursion() {
    // Lowering walks nodes in order: no stack depth proportional to the chain.
    let n = 4000;
    let g = graph(&[ty(DType::F64, &[5])], |g, x| {
        let mut v = x[0];
        for i in 0..n {
            let op = if i % 2 == 0 {
                BinaryOp::Mul
            } else {
                BinaryOp::Add
            };
            v = g.binary_scalar(op, v, 0.5 + (i % 7) as f64 * 0.1).unwrap();
        }
        vec![v]
    });
    let s = fuse(&g, true).unwrap();
    assert_eq!(kinds(&s), ["elementwise"]);
    let inputs = Gen(5).inputs(&g, false);
    let want = rlp_ir::interp::run(&g, &inputs).unwrap();
    same_bits(&jit(&g, true, 1).run(&inputs).unwrap()[0], &want[0]).unwrap();
}

/// A product with no epilogue, large enough to be cut into a block of rows per thread
/// (and a batched one, whose products run side by side): the same bits as the
/// interpreter's single `gemm` call, with a plain product's layouts (`Xᵀ`, `Wᵀ`).
#[test]
fn large_plain_products_split_by_rows_agree_with_one_product() {
    let f = DType::F32;
    let mut rng = Gen(67);
    for (batch, rows, k, n) in [
        (1, 256, 256, 96),
        (1, 64, 256, 256),
        (1, 100, 300, 200),
        (3, 128, 128, 128),
    ] {
        let shape = |r: usize, c: usize| {
            if batch == 1 {
                vec![r, c]
            } else {
                vec![batch, r, c]
            }
        };
        let g = graph(&[ty(f, &shape(rows, k)), ty(f, &shape(k, n))], |g, x| {
            vec![g.add(Op::MatMul, vec![x[0], x[1]]).unwrap()]
        });
        let s = fuse(&g, true).unwrap();
        assert_eq!(kinds(&s), ["matmul"], "{batch}x{rows}x{k}x{n}: {s}");
        let inputs = rng.inputs(&g, false);
        let want = check(&g, &inputs);
        for threads in [2, 3] {
            let got = jit(&g, true, threads).run(&inputs).unwrap();
            same_bits(&got[0], &want[0]).unwrap();
        }
    }
}

/// A dense layer `tanh(x @ w + b)`: the bias and activation run as the product's
/// epilogue, row block by row block, and agree bit for bit with the interpreter and the
/// unfused schedule (one product of every row) at sizes of one block, of several
/// blocks with a short last one, and with threads.
#[test]
fn bias_and_activation_run_as_the_matmul_epilogue() {
    let f = DType::F32;
    let layer = |rows: usize, k: usize, n: usize| {
        graph(&[ty(f, &[rows, k]), ty(f, &[k, n]), ty(f, &[n])], |g, x| {
            let xw = g.add(Op::MatMul, vec![x[0], x[1]]).unwrap();
            let b = g.broadcast(x[2], &[rows, n]).unwrap();
            let pre = g.binary(BinaryOp::Add, xw, b).unwrap();
            vec![g.unary(UnaryOp::Tanh, pre).unwrap()]
        })
    };
    let mut rng = Gen(61);
    for (rows, k, n) in [
        (1, 4, 8),
        (7, 5, 3),
        (256, 16, 32),
        (257, 16, 32),
        (600, 64, 48),
        // Thirteen blocks over two or three threads: chunks of blocks past the end.
        (3300, 8, 8),
        // Large enough to be cut into a block per thread below EPILOGUE_ROWS rows.
        (256, 256, 96),
        (64, 256, 256),
        (100, 256, 256),
    ] {
        let g = layer(rows, k, n);
        let s = fuse(&g, true).unwrap();
        assert_eq!(kinds(&s), ["matmul"], "{rows}x{k}x{n}: {s}");
        let Step::MatMul(m) = &s.steps[0] else {
            unreachable!()
        };
        assert!(m.epilogue.is_some());
        assert!(m.row_blocks(3).iter().all(|(a, b)| b - a > 1 || rows == 1));
        let inputs = rng.inputs(&g, false);
        let want = check(&g, &inputs);
        for threads in [2, 3] {
            let got = jit(&g, true, threads).run(&inputs).unwrap();
            same_bits(&got[0], &want[0]).unwrap();
        }
    }
    // A batched product (an ensemble's layer) runs the same epilogue per block of
    // rows of each member's product.
    for (e, rows, k, n) in [(3, 5, 4, 6), (2, 300, 16, 8)] {
        let g = graph(
            &[ty(f, &[e, rows, k]), ty(f, &[e, k, n]), ty(f, &[e, 1, n])],
            |g, x| {
                let xw = g.add(Op::MatMul, vec![x[0], x[1]]).unwrap();
                let b = g.broadcast(x[2], &[e, rows, n]).unwrap();
                let pre = g.binary(BinaryOp::Add, xw, b).unwrap();
                vec![g.unary(UnaryOp::Tanh, pre).unwrap()]
            },
        );
        let s = fuse(&g, true).unwrap();
        assert_eq!(kinds(&s), ["matmul"], "{e}x{rows}x{k}x{n}: {s}");
        let inputs = rng.inputs(&g, false);
        let want = check(&g, &inputs);
        for threads in [2, 3] {
            let got = jit(&g, true, threads).run(&inputs).unwrap();
            same_bits(&got[0], &want[0]).unwrap();
        }
    }
    // A consumer that reads the product at another point (a transpose) is not an
    // epilogue: it needs rows of other blocks.
    let g = graph(&[ty(f, &[8, 8]), ty(f, &[8, 8])], |g, x| {
        let xw = g.add(Op::MatMul, vec![x[0], x[1]]).unwrap();
        let t = g.transpose(xw, vec![1, 0]).unwrap();
        vec![g.unary(UnaryOp::Tanh, t).unwrap()]
    });
    let s = fuse(&g, true).unwrap();
    assert!(
        matches!(&s.steps[0], Step::MatMul(m) if m.epilogue.is_none()),
        "{s}"
    );
    check(&g, &rng.inputs(&g, false));
}
