//! Every op on its own, at lengths 0, 1, 3, 4, 5 and 17 (empty, scalar-like, below,
//! at and past a 4-lane width, and a long unaligned tail), against the interpreter.

use crate::common::*;
use rlp_ir::{BinaryOp, Distribution, Graph, Op, ReduceOp, UnaryOp};
use rlp_runtime::DType;

const LENGTHS: [usize; 6] = [0, 1, 3, 4, 5, 17];
const FLOATS: [DType; 2] = [DType::F32, DType::F64];

const UNARY_FLOAT: [UnaryOp; 10] = [
    UnaryOp::Neg,
    UnaryOp::Exp,
    UnaryOp::Log,
    UnaryOp::Sqrt,
    UnaryOp::Tanh,
    UnaryOp::Sin,
    UnaryOp::Cos,
    UnaryOp::Abs,
    UnaryOp::Sign,
    UnaryOp::Floor,
];

const ARITH: [BinaryOp; 9] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
    BinaryOp::Pow,
    BinaryOp::Max,
    BinaryOp::Min,
    BinaryOp::Atan2,
];

const COMPARE: [BinaryOp; 6] = [
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::Eq,
    BinaryOp::Ne,
];

#[test]
fn unary_float_ops() {
    let mut rng = Gen(1);
    for dtype in FLOATS {
        for op in UNARY_FLOAT {
            for n in LENGTHS {
                let g = graph(&[ty(dtype, &[n])], |g, x| vec![g.unary(op, x[0]).unwrap()]);
                let inputs = rng.inputs(&g, true);
                check(&g, &inputs);
            }
        }
    }
}

#[test]
fn unary_int_and_bool_ops() {
    let mut rng = Gen(2);
    for n in LENGTHS {
        for op in [UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Sign] {
            let g = graph(&[ty(DType::I32, &[n])], |g, x| {
                vec![g.unary(op, x[0]).unwrap()]
            });
            let inputs = rng.inputs(&g, false);
            check(&g, &inputs);
        }
        let g = graph(&[ty(DType::Bool, &[n])], |g, x| {
            vec![g.unary(UnaryOp::Not, x[0]).unwrap()]
        });
        check(&g, &rng.inputs(&g, false));
    }
    // Wrapping at the edges of i32.
    let g = graph(&[ty(DType::I32, &[3])], |g, x| {
        vec![
            g.unary(UnaryOp::Neg, x[0]).unwrap(),
            g.unary(UnaryOp::Abs, x[0]).unwrap(),
        ]
    });
    let out = check(
        &g,
        &[t(
            DType::I32,
            &[3],
            &[i32::MIN as f64, i32::MAX as f64, -7.0],
        )],
    );
    assert_eq!(out[1].to_f64_vec(), [i32::MIN as f64, i32::MAX as f64, 7.0]);
}

#[test]
fn binary_float_ops() {
    let mut rng = Gen(3);
    for dtype in FLOATS {
        for op in ARITH.into_iter().chain(COMPARE) {
            for n in LENGTHS {
                let g = graph(&[ty(dtype, &[n]), ty(dtype, &[n])], |g, x| {
                    vec![g.binary(op, x[0], x[1]).unwrap()]
                });
                let inputs = rng.inputs(&g, true);
                check(&g, &inputs);
            }
        }
    }
}

#[test]
fn max_min_follow_the_interpreter_on_nan_and_signed_zero() {
    let a = [f64::NAN, 1.0, -0.0, 0.0, 2.0, f64::NAN];
    let b = [1.0, f64::NAN, 0.0, -0.0, 2.0, f64::NAN];
    for op in [BinaryOp::Max, BinaryOp::Min] {
        let g = graph(&[ty(DType::F32, &[6]), ty(DType::F32, &[6])], |g, x| {
            vec![g.binary(op, x[0], x[1]).unwrap()]
        });
        let out = check(&g, &[t(DType::F32, &[6], &a), t(DType::F32, &[6], &b)]);
        let v = out[0].to_f64_vec();
        assert!(v[0].is_nan() && v[1].is_nan() && v[5].is_nan());
        // Ties keep the first operand: max(-0, +0) = -0.
        assert!(v[2].is_sign_negative() && v[3].is_sign_positive());
    }
}

#[test]
fn binary_int_and_bool_ops() {
    let mut rng = Gen(4);
    let int_ops = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Max,
        BinaryOp::Min,
    ];
    for n in LENGTHS {
        for op in int_ops.into_iter().chain(COMPARE) {
            let g = graph(&[ty(DType::I32, &[n]), ty(DType::I32, &[n])], |g, x| {
                vec![g.binary(op, x[0], x[1]).unwrap()]
            });
            check(&g, &rng.inputs(&g, false));
        }
        for op in [BinaryOp::Div, BinaryOp::Rem] {
            let g = graph(&[ty(DType::I32, &[n]), ty(DType::I32, &[n])], |g, x| {
                vec![g.binary(op, x[0], x[1]).unwrap()]
            });
            let a = rng.tensor(&ty(DType::I32, &[n]), false);
            // Divisors away from zero (zero is an error, tested in `errors`).
            let b: Vec<f64> = (0..n)
                .map(|i| [-3.0, -2.0, -1.0, 1.0, 2.0, 4.0][(i + rng.below(6) as usize) % 6])
                .collect();
            check(&g, &[a, t(DType::I32, &[n], &b)]);
        }
        for op in [BinaryOp::And, BinaryOp::Or, BinaryOp::Eq, BinaryOp::Ne] {
            let g = graph(&[ty(DType::Bool, &[n]), ty(DType::Bool, &[n])], |g, x| {
                vec![g.binary(op, x[0], x[1]).unwrap()]
            });
            check(&g, &rng.inputs(&g, false));
        }
    }
    // Wrapping arithmetic and i32::MIN / -1.
    let g = graph(&[ty(DType::I32, &[2]), ty(DType::I32, &[2])], |g, x| {
        vec![
            g.binary(BinaryOp::Add, x[0], x[1]).unwrap(),
            g.binary(BinaryOp::Mul, x[0], x[1]).unwrap(),
            g.binary(BinaryOp::Div, x[0], x[1]).unwrap(),
            g.binary(BinaryOp::Rem, x[0], x[1]).unwrap(),
        ]
    });
    let out = check(
        &g,
        &[
            t(DType::I32, &[2], &[i32::MIN as f64, -7.0]),
            t(DType::I32, &[2], &[-1.0, 3.0]),
        ],
    );
    assert_eq!(out[2].to_f64_vec(), [i32::MIN as f64, -2.0]);
    assert_eq!(out[3].to_f64_vec(), [0.0, 2.0]);
}

#[test]
fn select_and_casts() {
    let mut rng = Gen(5);
    let dtypes = [DType::F32, DType::F64, DType::I32, DType::Bool];
    for n in LENGTHS {
        for dtype in dtypes {
            let g = graph(
                &[ty(DType::Bool, &[n]), ty(dtype, &[n]), ty(dtype, &[n])],
                |g, x| vec![g.select(x[0], x[1], x[2]).unwrap()],
            );
            check(&g, &rng.inputs(&g, true));
            for to in dtypes {
                let g = graph(&[ty(dtype, &[n])], |g, x| {
                    let c = g.add_typed(Op::Cast, vec![x[0]], ty(to, &[n]));
                    vec![c]
                });
                check(&g, &rng.inputs(&g, true));
            }
        }
    }
    // Saturation and NaN → 0 when casting to i32.
    let g = graph(&[ty(DType::F32, &[4])], |g, x| {
        vec![g.cast(x[0], DType::I32).unwrap()]
    });
    let out = check(&g, &[t(DType::F32, &[4], &[1e10, -1e10, f64::NAN, -2.7])]);
    assert_eq!(
        out[0].to_f64_vec(),
        [i32::MAX as f64, i32::MIN as f64, 0.0, -2.0]
    );
}

#[test]
fn constants_literals_iota_and_stop() {
    for n in LENGTHS {
        let g = graph(&[ty(DType::F32, &[n])], |g, x| {
            let c = g.full(&ty(DType::F32, &[n]), 0.1).unwrap();
            let s = g.add(Op::StopGradient, vec![x[0]]).unwrap();
            let lit = g.add_typed(
                Op::Literal((0..n).map(|i| i as f64 * 0.5 - 1.0).collect()),
                vec![],
                ty(DType::F32, &[n]),
            );
            let sum = g.binary(BinaryOp::Add, s, c).unwrap();
            let iota = g.iota(&[2, n], 1).unwrap();
            let iota0 = g.iota(&[n, 3], 0).unwrap();
            let scalar = g.constant(DType::I32, 7.0);
            vec![sum, lit, iota, iota0, scalar, c]
        });
        let inputs = Gen(6).inputs(&g, false);
        check(&g, &inputs);
    }
}

#[test]
fn data_movement() {
    let mut rng = Gen(7);
    for n in LENGTHS {
        let g = graph(&[ty(DType::F32, &[2, n, 3])], |g, x| {
            let tr = g.transpose(x[0], vec![2, 0, 1]).unwrap();
            let tr2 = g.transpose(x[0], vec![1, 2, 0]).unwrap();
            let rs = g.reshape(x[0], &[2 * n * 3]).unwrap();
            let rs2 = g.reshape(tr, &[3 * 2, n]).unwrap(); // not a view: copies first
            let sl = g.slice(x[0], 1, n / 2, n).unwrap();
            let sl2 = g.slice(x[0], 2, 1, 3).unwrap();
            let pad = g.pad(x[0], 1, 2, 1).unwrap();
            let pad0 = g.pad(x[0], 0, 0, 3).unwrap();
            let cat = g.add(Op::Concat { axis: 1 }, vec![x[0], sl, x[0]]).unwrap();
            let cat2 = g.add(Op::Concat { axis: 2 }, vec![sl2, x[0]]).unwrap();
            vec![tr, tr2, rs, rs2, sl, sl2, pad, pad0, cat, cat2]
        });
        check(&g, &rng.inputs(&g, false));
    }
}

/// Columns of wider tensors read along a row (a pixel grid's `x` and `y` from an
/// `[n, 2]`, a transposed `[3, n]`) step by 2 or `n` elements: the four-lane map reads
/// them element by element, and must agree with the scalar loop, tails included.
#[test]
fn strided_columns_in_vector_maps() {
    let mut rng = Gen(81);
    for n in LENGTHS.into_iter().chain([8, 33]) {
        let g = graph(
            &[
                ty(DType::F32, &[n, 2]),
                ty(DType::F32, &[3, n]),
                ty(DType::F32, &[5, 1]),
            ],
            |g, x| {
                let col = |g: &mut Graph, c| {
                    let s = g.slice(x[0], 1, c, c + 1).unwrap();
                    let r = g.reshape(s, &[1, n]).unwrap();
                    g.broadcast(r, &[5, n]).unwrap()
                };
                let (cx, cy) = (col(g, 0), col(g, 1));
                let z = g.broadcast(x[2], &[5, n]).unwrap();
                let d = g.binary(BinaryOp::Sub, cx, z).unwrap();
                let d2 = g.binary(BinaryOp::Mul, d, d).unwrap();
                let e2 = g.binary(BinaryOp::Mul, cy, cy).unwrap();
                let r2 = g.binary(BinaryOp::Add, d2, e2).unwrap();
                let r = g.unary(UnaryOp::Sqrt, r2).unwrap();
                let e = g.unary(UnaryOp::Exp, r).unwrap();
                let t = g.transpose(x[1], vec![1, 0]).unwrap();
                let th = g.unary(UnaryOp::Tanh, t).unwrap();
                let m = g.binary(BinaryOp::Max, th, t).unwrap();
                vec![e, m]
            },
        );
        check(&g, &rng.inputs(&g, true));
    }
}

#[test]
fn broadcast_from_rank_zero_and_middle_dims() {
    let mut rng = Gen(8);
    for n in LENGTHS {
        let g = graph(
            &[
                ty(DType::F32, &[]),
                ty(DType::F32, &[3, 1, n]),
                ty(DType::F32, &[3, 5, n]),
            ],
            |g, x| {
                let s = g.broadcast(x[0], &[3, 5, n]).unwrap();
                let m = g.broadcast(x[1], &[3, 5, n]).unwrap();
                let a = g.binary(BinaryOp::Mul, s, x[2]).unwrap();
                let b = g.binary(BinaryOp::Sub, a, m).unwrap();
                // Middle-dim broadcast of a leading-dim-less value, and a pure broadcast output.
                let row = g.slice(x[2], 0, 0, 1).unwrap();
                let row = g.reshape(row, &[5, n]).unwrap();
                let r = g.broadcast(row, &[2, 5, n]).unwrap();
                vec![b, r, m]
            },
        );
        check(&g, &rng.inputs(&g, true));
    }
}

#[test]
fn reductions_over_first_last_middle_and_all_axes() {
    let mut rng = Gen(9);
    for dtype in [DType::F32, DType::F64, DType::I32] {
        for n in LENGTHS {
            for axes in [vec![0], vec![2], vec![1], vec![0, 2], vec![0, 1, 2], vec![]] {
                for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
                    let g = graph(&[ty(dtype, &[3, n, 4])], |g, x| {
                        vec![g.reduce(op, x[0], axes.clone()).unwrap()]
                    });
                    check(&g, &rng.inputs(&g, true));
                }
            }
        }
    }
}

#[test]
fn argmax_first_maximum_and_nan() {
    let mut rng = Gen(10);
    for dtype in [DType::F32, DType::F64, DType::I32] {
        for n in LENGTHS.into_iter().filter(|&n| n > 0) {
            for axis in 0..3 {
                let g = graph(&[ty(dtype, &[2, n, 3])], |g, x| {
                    vec![g.add(Op::ArgMax { axis }, vec![x[0]]).unwrap()]
                });
                check(&g, &rng.inputs(&g, true));
            }
        }
    }
    let g = graph(&[ty(DType::F32, &[3, 4])], |g, x| {
        vec![g.add(Op::ArgMax { axis: 1 }, vec![x[0]]).unwrap()]
    });
    let rows = [
        1.0,
        3.0,
        3.0,
        2.0,
        1.0,
        f64::NAN,
        5.0,
        f64::NAN,
        f64::NAN,
        0.0,
        9.0,
        9.0,
    ];
    let out = check(&g, &[t(DType::F32, &[3, 4], &rows)]);
    assert_eq!(out[0].to_f64_vec(), [1.0, 1.0, 0.0]);
}

/// A value head: a one-column product with an elementwise epilogue over more rows than
/// one epilogue block. `gemm` sums a one-column product in an order that depends on how
/// many rows it is handed, so the epilogue must not split its rows (PPO's critic on a
/// 128 × 8 batch diverged from the interpreter in the last bits before this).
#[test]
fn one_column_products_with_an_epilogue_over_many_rows() {
    for (m, k) in [(1024, 64), (300, 7), (257, 256)] {
        let g = graph(
            &[
                ty(DType::F32, &[m, k]),
                ty(DType::F32, &[k, 1]),
                ty(DType::F32, &[m, 1]),
            ],
            |g, x| {
                let p = g.add(Op::MatMul, vec![x[0], x[1]]).unwrap();
                let s = g.binary(BinaryOp::Add, p, x[2]).unwrap();
                vec![g.unary(UnaryOp::Tanh, s).unwrap()]
            },
        );
        check(&g, &Gen(m as u64).inputs(&g, false));
    }
}

#[test]
fn matmul_including_transposed_operands() {
    let mut rng = Gen(11);
    for dtype in FLOATS {
        for (m, k, n) in [
            (0, 3, 2),
            (2, 0, 3),
            (1, 1, 1),
            (3, 4, 5),
            (17, 5, 4),
            (4, 17, 3),
            // Transposed in 16×16 tiles: partial tiles on both edges, and whole ones.
            (33, 37, 19),
            (20, 16, 48),
        ] {
            let g = graph(&[ty(dtype, &[m, k]), ty(dtype, &[n, k])], |g, x| {
                let rt = g.transpose(x[1], vec![1, 0]).unwrap();
                let p = g.add(Op::MatMul, vec![x[0], rt]).unwrap();
                let lt = g.transpose(x[0], vec![1, 0]).unwrap();
                let back = g.transpose(lt, vec![1, 0]).unwrap();
                let q = g.add(Op::MatMul, vec![back, rt]).unwrap();
                vec![p, q]
            });
            // Same library, same packing: exact.
            check(&g, &rng.inputs(&g, false));
        }
    }
}

#[test]
fn batched_matmul_including_transposed_and_sliced_operands() {
    let mut rng = Gen(13);
    for dtype in FLOATS {
        for (b, m, k, n) in [
            (1, 2, 3, 4),
            (5, 1, 3, 2),
            (3, 17, 5, 4),
            (4, 0, 3, 2),
            (2, 3, 0, 2),
        ] {
            let g = graph(&[ty(dtype, &[b, m, k]), ty(dtype, &[b, n, k])], |g, x| {
                // The backward products' layouts: a right operand transposed per member.
                let rt = g.transpose(x[1], vec![0, 2, 1]).unwrap();
                let p = g.add(Op::MatMul, vec![x[0], rt]).unwrap();
                // Members taken from the middle of a larger tensor.
                let both = g.add(Op::Concat { axis: 0 }, vec![x[0], x[0]]).unwrap();
                let mid = g.slice(both, 0, b / 2, b / 2 + b).unwrap();
                let q = g.add(Op::MatMul, vec![mid, rt]).unwrap();
                vec![p, q]
            });
            check(&g, &rng.inputs(&g, false));
        }
    }
}

#[test]
fn batched_matmul_members_are_the_plain_products() {
    let mut rng = Gen(14);
    let (b, m, k, n) = (3, 4, 5, 6);
    let g = graph(
        &[ty(DType::F32, &[b, m, k]), ty(DType::F32, &[b, k, n])],
        |g, x| {
            let p = g.add(Op::MatMul, vec![x[0], x[1]]).unwrap();
            let mut outs = vec![p];
            for e in 0..b {
                let take = |g: &mut Graph, v, rows: usize, cols: usize| {
                    let s = g.slice(v, 0, e, e + 1).unwrap();
                    g.reshape(s, &[rows, cols]).unwrap()
                };
                let (xe, we) = (take(g, x[0], m, k), take(g, x[1], k, n));
                outs.push(g.add(Op::MatMul, vec![xe, we]).unwrap());
            }
            outs
        },
    );
    let out = check(&g, &rng.inputs(&g, false));
    let all = out[0].to_f64_vec();
    for e in 0..b {
        assert_eq!(
            &all[e * m * n..(e + 1) * m * n],
            out[1 + e].to_f64_vec().as_slice()
        );
    }
}

#[test]
fn top_k_with_ties_and_specials_matches_the_interpreter() {
    let mut rng = Gen(15);
    for dtype in [DType::F32, DType::F64, DType::I32] {
        for n in LENGTHS.into_iter().filter(|&n| n > 0) {
            for k in [1, n.div_ceil(2), n] {
                // Ints in -5..=5 tie often; floats carry ±0, ±inf and NaN.
                let g = graph(&[ty(dtype, &[3, n])], |g, x| {
                    let top = g.add(Op::TopK { k }, vec![x[0]]).unwrap();
                    // Top-k of a sliced (strided) view, as CEM's returns are.
                    let col = g.slice(x[0], 1, 0, 1).unwrap();
                    let col = g.reshape(col, &[1, 3]).unwrap();
                    let top_col = g.add(Op::TopK { k: 2 }, vec![col]).unwrap();
                    vec![top, top_col]
                });
                let out = check(&g, &rng.inputs(&g, true));
                assert_eq!(out[0].shape(), [3, k]);
            }
        }
    }
}

#[test]
fn top_k_picks_the_largest_in_order() {
    let g = graph(&[ty(DType::F32, &[2, 5])], |g, x| {
        vec![g.add(Op::TopK { k: 3 }, vec![x[0]]).unwrap()]
    });
    let x = t(
        DType::F32,
        &[2, 5],
        &[
            0.5,
            2.0,
            -1.0,
            2.0,
            1.0,
            f64::NAN,
            0.0,
            f64::INFINITY,
            -0.0,
            3.0,
        ],
    );
    let out = check(&g, &[x]);
    // Ties by position; NaN above +inf; +0 above -0.
    assert_eq!(out[0].to_f64_vec(), [1.0, 3.0, 4.0, 0.0, 2.0, 4.0]);
}

#[test]
fn gather_one_hot_and_dyn_index() {
    let mut rng = Gen(12);
    for n in LENGTHS.into_iter().filter(|&n| n > 0) {
        let g = graph(
            &[
                ty(DType::F32, &[4, n]),
                ty(DType::I32, &[4]),
                ty(DType::I32, &[]),
            ],
            |g, x| {
                let gathered = g.add(Op::Gather, vec![x[0], x[1]]).unwrap();
                let oh = g.one_hot(x[1], n, DType::F32).unwrap();
                let ohi = g.one_hot(x[1], 3, DType::I32).unwrap();
                let row = g.add(Op::DynIndex, vec![x[0], x[2]]).unwrap();
                vec![gathered, oh, ohi, row]
            },
        );
        let idx: Vec<f64> = (0..4).map(|_| rng.below(n as u64) as f64).collect();
        let inputs = vec![
            rng.tensor(&ty(DType::F32, &[4, n]), false),
            t(DType::I32, &[4], &idx),
            t(DType::I32, &[], &[3.0]),
        ];
        check(&g, &inputs);
    }
    // One-hot of out-of-range indices gives zero rows (not an error).
    let g = graph(&[ty(DType::I32, &[3])], |g, x| {
        vec![g.one_hot(x[0], 2, DType::F64).unwrap()]
    });
    let out = check(&g, &[t(DType::I32, &[3], &[-1.0, 1.0, 2.0])]);
    assert_eq!(out[0].to_f64_vec(), [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
}

/// Rows picked and written by index (repeated indices included), running sums and
/// bisection, in every dtype they take, in graphs where they feed and are fed by fused
/// kernels.
#[test]
fn row_ops_cumsum_and_search_sorted_match_the_interpreter() {
    let mut rng = Gen(13);
    for dtype in [DType::F32, DType::F64, DType::I32] {
        for (b, m, f) in [(1, 1, 1), (5, 3, 2), (7, 9, 3), (64, 16, 5)] {
            let g = graph(
                &[
                    ty(dtype, &[b, f]),
                    ty(DType::I32, &[m]),
                    ty(dtype, &[m, f]),
                    ty(dtype, &[m, 4]),
                ],
                |g, x| {
                    let doubled = g.binary(BinaryOp::Add, x[0], x[0]).unwrap();
                    let taken = g.add(Op::TakeRows, vec![doubled, x[1]]).unwrap();
                    let put = Op::PutRows { accumulate: false };
                    let put = g.add(put, vec![x[0], x[1], x[2]]).unwrap();
                    let add = Op::PutRows { accumulate: true };
                    let added = g.add(add, vec![doubled, x[1], x[2]]).unwrap();
                    let sums = g.add(Op::CumSum { reverse: false }, vec![x[0]]).unwrap();
                    let rev = g.add(Op::CumSum { reverse: true }, vec![x[0]]).unwrap();
                    let sorted = g.add(Op::CumSum { reverse: false }, vec![taken]).unwrap();
                    let wide = g.broadcast(sorted, &[m, f]).unwrap();
                    let found = g.add(Op::SearchSorted, vec![wide, x[2]]).unwrap();
                    let found4 = g.add(Op::SearchSorted, vec![x[3], x[3]]).unwrap();
                    vec![taken, put, added, sums, rev, found, found4]
                },
            );
            let idx: Vec<f64> = (0..m).map(|_| rng.below(b as u64) as f64).collect();
            let mut inputs = rng.inputs(&g, false);
            inputs[1] = t(DType::I32, &[m], &idx);
            check(&g, &inputs);
        }
    }
}

/// Sums, maxima and first maxima over gathered rows whose last dim is short enough to
/// be folded column by column in line (1 to 8) or not (9, 13): the same elements in
/// the same order as the interpreter, every unit count, and an index out of range still
/// stops the kernel.
#[test]
fn folds_over_gathered_short_rows_match_the_interpreter() {
    let mut rng = Gen(14);
    for f in [1, 2, 3, 4, 8, 9, 13] {
        for m in [1, 3, 64] {
            let g = graph(&[ty(DType::F32, &[50, f]), ty(DType::I32, &[m])], |g, x| {
                let rows = g.add(Op::TakeRows, vec![x[0], x[1]]).unwrap();
                let sq = g.binary(BinaryOp::Mul, rows, rows).unwrap();
                let all = g.reduce(ReduceOp::Sum, sq, vec![0, 1]).unwrap();
                let per_row = g.reduce(ReduceOp::Max, rows, vec![1]).unwrap();
                let per_col = g.reduce(ReduceOp::Sum, rows, vec![0]).unwrap();
                let first = g.add(Op::ArgMax { axis: 1 }, vec![rows]).unwrap();
                vec![all, per_row, per_col, first]
            });
            let idx: Vec<f64> = (0..m).map(|_| rng.below(50) as f64).collect();
            let mut inputs = rng.inputs(&g, true);
            inputs[1] = t(DType::I32, &[m], &idx);
            check(&g, &inputs);
            let mut bad = idx.clone();
            bad[m - 1] = 50.0;
            inputs[1] = t(DType::I32, &[m], &bad);
            let message = check_fails(&g, &inputs);
            assert!(message.contains("out of range 0..50"), "{message}");
        }
    }
}

/// Reductions over the leading (batch) axis of an `[n, h]`, as a bias gradient sums a
/// batch: with sixteen or more columns they fold sixteen units at a time in four
/// vectors, then four, then one; every unit keeps its scalar order.
#[test]
fn batch_axis_folds_in_groups_match_the_interpreter() {
    let mut rng = Gen(15);
    for (n, h) in [(32, 16), (33, 21), (64, 64), (40, 17), (31, 40)] {
        let g = graph(&[ty(DType::F32, &[n, h])], |g, x| {
            let sum = g.reduce(ReduceOp::Sum, x[0], vec![0]).unwrap();
            let max = g.reduce(ReduceOp::Max, x[0], vec![0]).unwrap();
            let e = g.unary(UnaryOp::Exp, x[0]).unwrap();
            let sq = g.binary(BinaryOp::Mul, e, x[0]).unwrap();
            let min = g.reduce(ReduceOp::Min, sq, vec![0]).unwrap();
            vec![sum, max, min]
        });
        check(&g, &rng.inputs(&g, true));
    }
}

#[test]
fn random_uniform_and_normal_match_the_interpreter() {
    for dtype in FLOATS {
        for n in LENGTHS {
            for dist in [Distribution::Uniform, Distribution::Normal] {
                let g = graph(&[ty(DType::I32, &[]), ty(DType::I32, &[])], |g, x| {
                    let r = g.add_typed(
                        Op::Random {
                            dist,
                            seed: 42,
                            stream: 3,
                        },
                        vec![x[0], x[1]],
                        ty(dtype, &[3, n]),
                    );
                    let r2 = g.add_typed(
                        Op::Random {
                            dist,
                            seed: 42,
                            stream: 4,
                        },
                        vec![x[0], x[1]],
                        ty(dtype, &[n]),
                    );
                    // Fused into arithmetic, and broadcast (read at other positions).
                    let b = g.broadcast(r2, &[3, n]).unwrap();
                    let s = g.binary(BinaryOp::Add, r, b).unwrap();
                    vec![r, s]
                });
                let out = check(
                    &g,
                    &[t(DType::I32, &[], &[5.0]), t(DType::I32, &[], &[-2.0])],
                );
                if dist == Distribution::Uniform && n > 0 {
                    let first = rlp_runtime::rng::uniform(42, 3, 5, -2, 0);
                    let want = if dtype == DType::F32 {
                        first as f32 as f64
                    } else {
                        first
                    };
                    assert_eq!(out[0].to_f64_vec()[0], want);
                }
            }
        }
    }
}

/// Long folds over many units, where a reduction folds four units side by side: sums
/// and extrema over the last one or two axes (each unit in its own order),
/// the first maximum and NaN rules of `argmax`, and unit counts with a tail.
#[test]
fn long_reductions_over_many_units() {
    let mut rng = Gen(11);
    for dtype in [DType::F32, DType::F64, DType::I32] {
        for units in [4, 7] {
            for (shape, axes) in [
                (vec![units, 300], vec![1]),
                (vec![units, 3, 100], vec![1, 2]),
            ] {
                for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
                    let g = graph(&[ty(dtype, &shape)], |g, x| {
                        vec![g.reduce(op, x[0], axes.clone()).unwrap()]
                    });
                    check(&g, &rng.inputs(&g, true));
                }
            }
            let g = graph(&[ty(dtype, &[units, 257])], |g, x| {
                vec![g.add(Op::ArgMax { axis: 1 }, vec![x[0]]).unwrap()]
            });
            check(&g, &rng.inputs(&g, true));
        }
    }
}

/// Reductions of fused `f32` expressions, which fold four units per vector with each
/// lane gathering its unit's elements: inline `exp`/`log`/`tanh`, NaN-propagating
/// extrema, operands broadcast along the units (one load for all lanes) or along the
/// folded axis, over the first, a middle and the last axis, with unit-count tails.
#[test]
fn fused_f32_reductions_fold_units_in_lanes_like_the_interpreter() {
    let mut rng = Gen(12);
    for units in [4, 5, 9, 33] {
        for (shape, axes) in [
            (vec![units, 17], vec![1]),
            (vec![17, units], vec![0]),
            (vec![3, units, 6], vec![0, 2]),
        ] {
            let folded: Vec<usize> = shape
                .iter()
                .enumerate()
                .map(|(i, &d)| if axes.contains(&i) { d } else { 1 })
                .collect();
            let kept: Vec<usize> = shape
                .iter()
                .enumerate()
                .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
                .collect();
            for op in [ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min] {
                let g = graph(
                    &[
                        ty(DType::F32, &shape),
                        ty(DType::F32, &folded),
                        ty(DType::F32, &kept),
                    ],
                    |g, x| {
                        let along = g.broadcast(x[1], &shape).unwrap();
                        let per_unit = g.broadcast(x[2], &shape).unwrap();
                        let e = g.unary(UnaryOp::Exp, x[0]).unwrap();
                        let t = g.unary(UnaryOp::Tanh, along).unwrap();
                        let l = g.unary(UnaryOp::Log, per_unit).unwrap();
                        let a = g.binary(BinaryOp::Mul, e, t).unwrap();
                        let m = g.binary(BinaryOp::Max, a, l).unwrap();
                        vec![g.reduce(op, m, axes.clone()).unwrap()]
                    },
                );
                check(&g, &rng.inputs(&g, true));
            }
        }
    }
}

/// Rows of three large tables drawn with one index (a replay draw): the executor
/// prefetches all of them before the first gather runs (module `warm`). Same results
/// as the interpreter, and an index out of range is still the kernel's error.
#[test]
fn rows_of_large_tables_drawn_together_match_the_interpreter() {
    let rows = 1 << 18;
    let mut rng = Gen(16);
    let g = graph(
        &[
            ty(DType::F32, &[rows, 4]),
            ty(DType::F32, &[rows]),
            ty(DType::I32, &[rows]),
            ty(DType::I32, &[64]),
        ],
        |g, x| {
            let take = |g: &mut Graph, t| g.add(Op::TakeRows, vec![t, x[3]]).unwrap();
            let (a, b, c) = (take(g, x[0]), take(g, x[1]), take(g, x[2]));
            vec![
                g.reduce(ReduceOp::Sum, a, vec![0, 1]).unwrap(),
                g.reduce(ReduceOp::Max, b, vec![0]).unwrap(),
                g.reduce(ReduceOp::Sum, c, vec![0]).unwrap(),
            ]
        },
    );
    let mut inputs = rng.inputs(&g, true);
    let idx: Vec<f64> = (0..64).map(|_| rng.below(rows as u64) as f64).collect();
    inputs[3] = t(DType::I32, &[64], &idx);
    check(&g, &inputs);
    for bad in [-1.0, rows as f64] {
        let mut idx = idx.clone();
        idx[17] = bad;
        inputs[3] = t(DType::I32, &[64], &idx);
        let message = check_fails(&g, &inputs);
        assert!(
            message.contains(&format!("out of range 0..{rows}")),
            "{message}"
        );
    }
}
