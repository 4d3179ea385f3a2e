//! Results do not depend on the thread count.

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, ReduceOp, UnaryOp};
use rlp_runtime::DType;

fn big_elementwise(n: usize) -> Graph {
    graph(&[ty(DType::F32, &[n]), ty(DType::F32, &[n])], |g, x| {
        let e = g.unary(UnaryOp::Tanh, x[0]).unwrap();
        let m = g.binary(BinaryOp::Mul, e, x[1]).unwrap();
        let s = g.unary(UnaryOp::Exp, m).unwrap();
        vec![g.binary(BinaryOp::Sub, s, x[0]).unwrap()]
    })
}

fn assert_thread_independent(g: &Graph, inputs: &[rlp_runtime::Tensor]) {
    let one = jit(g, true, 1).run(inputs).unwrap();
    let two = jit(g, true, 2).run(inputs).unwrap();
    let three = jit(g, true, 3).run(inputs).unwrap();
    for ((a, b), c) in one.iter().zip(&two).zip(&three) {
        same_bits(a, b).unwrap();
        same_bits(a, c).unwrap();
    }
}

#[test]
fn large_elementwise_kernel_is_bit_identical_on_1_2_and_3_threads() {
    // Over the parallel threshold, with a length that does not divide evenly.
    let n = (1 << 18) + 13;
    let g = big_elementwise(n);
    let inputs = Gen(41).inputs(&g, true);
    assert_thread_independent(&g, &inputs);
    // And equal to the interpreter.
    let want = rlp_ir::interp::run(&g, &inputs).unwrap();
    same_bits(&jit(&g, true, 2).run(&inputs).unwrap()[0], &want[0]).unwrap();
}

#[test]
fn large_vectorised_kernel_is_bit_identical_across_threads() {
    // Four-lane code with scalar tails at every chunk boundary.
    let n = (1 << 18) + 7;
    let g = graph(&[ty(DType::F32, &[n]), ty(DType::F32, &[n])], |g, x| {
        let a = g.binary(BinaryOp::Mul, x[0], x[1]).unwrap();
        let b = g.binary(BinaryOp::Add, a, x[0]).unwrap();
        let c = g.binary(BinaryOp::Max, b, x[1]).unwrap();
        let d = g.unary(UnaryOp::Sqrt, c).unwrap();
        vec![g.binary(BinaryOp::Sub, d, a).unwrap()]
    });
    let inputs = Gen(43).inputs(&g, true);
    assert_thread_independent(&g, &inputs);
    check(&g, &inputs);
}

#[test]
fn large_reduction_is_bit_identical_across_threads() {
    let g = graph(&[ty(DType::F32, &[4099, 33])], |g, x| {
        let e = g.unary(UnaryOp::Exp, x[0]).unwrap();
        vec![
            g.reduce(ReduceOp::Sum, e, vec![1]).unwrap(),
            g.reduce(ReduceOp::Sum, x[0], vec![0]).unwrap(),
        ]
    });
    let inputs = Gen(42).inputs(&g, false);
    assert_thread_independent(&g, &inputs);
    check(&g, &inputs);
}

#[test]
fn large_matmul_is_bit_identical_across_threads_and_to_the_interpreter() {
    // Large enough for the multi-threaded GEMM path, with sizes that split unevenly.
    for (m, k, n) in [(513, 300, 257), (4096, 64, 256), (37, 1031, 129)] {
        let g = graph(
            &[ty(DType::F32, &[m, k]), ty(DType::F32, &[k, n])],
            |g, x| vec![g.add(rlp_ir::Op::MatMul, vec![x[0], x[1]]).unwrap()],
        );
        let inputs = Gen(7 + m as u64).inputs(&g, false);
        assert_thread_independent(&g, &inputs);
        let want = rlp_ir::interp::run(&g, &inputs).unwrap();
        same_bits(&jit(&g, true, 2).run(&inputs).unwrap()[0], &want[0]).unwrap();
    }
}

/// Draws in scalar loops share Philox blocks between four elements whose first starts
/// one (a uniform draw's one block, a normal draw's two); rows of odd length and thread chunks that start mid-block run
/// element by element until the next block starts. Same bits whatever the split.
#[test]
fn draws_sharing_blocks_are_bit_identical_across_threads() {
    for dtype in [DType::F32, DType::F64] {
        for shape in [vec![3, 100_003], vec![70_001, 5], vec![262_147]] {
            let g = graph(&[ty(DType::I32, &[]), ty(DType::I32, &[])], |g, x| {
                let draw = |g: &mut Graph, dist, stream| {
                    g.add_typed(
                        rlp_ir::Op::Random {
                            dist,
                            seed: 9,
                            stream,
                        },
                        vec![x[0], x[1]],
                        ty(dtype, &shape),
                    )
                };
                use rlp_ir::Distribution::{Normal, Uniform};
                let (u, v, n) = (draw(g, Uniform, 1), draw(g, Uniform, 2), draw(g, Normal, 3));
                // `floor` keeps the kernel scalar, as index draws are.
                let f = g.unary(UnaryOp::Floor, u).unwrap();
                let s = g.binary(BinaryOp::Add, f, v).unwrap();
                vec![g.binary(BinaryOp::Add, s, n).unwrap(), u, n]
            });
            let inputs = [t(DType::I32, &[], &[3.0]), t(DType::I32, &[], &[-1.0])];
            assert_thread_independent(&g, &inputs);
            check(&g, &inputs);
        }
    }
}
