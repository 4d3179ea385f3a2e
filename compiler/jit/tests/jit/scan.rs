//! Scans: the one-kernel path (returns, GAE) and the host-loop path (a body with a
//! matmul), against the interpreter and against hand-computed values.

use crate::common::*;
use rlp_ir::{BinaryOp, Graph, NodeId, Op, Scan, UnaryOp};
use rlp_jit::fuse::fuse;
use rlp_jit::kernel::{KernelKind, Step};
use rlp_runtime::DType;

const F: DType = DType::F32;

/// Appends a scan over `args` and returns its projections.
pub(crate) fn scan(
    g: &mut Graph,
    body: Graph,
    length: usize,
    reverse: bool,
    n_carry: usize,
    n_seq: usize,
    args: Vec<NodeId>,
) -> Vec<NodeId> {
    let n_out = body.outputs.len();
    let s = g
        .add(
            Op::Scan(Box::new(Scan {
                length,
                reverse,
                n_carry,
                n_seq,
                body,
            })),
            args,
        )
        .unwrap();
    (0..n_out).map(|k| g.project(s, k).unwrap()).collect()
}

/// `check` (one thread, fused and not, against the interpreter), then the fused kernels
/// on three threads give the interpreter's bits too.
fn check_on_three_threads(g: &Graph, inputs: &[rlp_runtime::Tensor]) {
    let want = check(g, inputs);
    let got = jit(g, true, 3).run(inputs).unwrap();
    for (a, b) in got.iter().zip(&want) {
        same_bits(a, b).unwrap();
    }
}

/// `ret[t] = r[t] + gamma * (done[t] ? 0 : ret[t+1])`, reverse over `[t, n]`.
fn discounted_returns(t: usize, n: usize) -> Graph {
    let body = graph(
        &[
            ty(F, &[n]),
            ty(F, &[n]),
            ty(DType::Bool, &[n]),
            ty(F, &[]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let (acc, r, done, gamma) = (x[0], x[1], x[2], x[3]);
            let zero = g.full(&ty(F, &[n]), 0.0).unwrap();
            let kept = g.select(done, zero, acc).unwrap();
            let gb = g.broadcast(gamma, &[n]).unwrap();
            let disc = g.binary(BinaryOp::Mul, gb, kept).unwrap();
            let ret = g.binary(BinaryOp::Add, r, disc).unwrap();
            vec![ret, ret]
        },
    );
    graph(
        &[ty(F, &[t, n]), ty(DType::Bool, &[t, n]), ty(F, &[])],
        |g, x| {
            let init = g.full(&ty(F, &[n]), 0.0).unwrap();
            let outs = scan(g, body, t, true, 1, 2, vec![init, x[0], x[1], x[2]]);
            vec![outs[1], outs[0]]
        },
    )
}

pub(crate) fn is_scan_kernel(g: &Graph) -> bool {
    let s = fuse(g, true).unwrap();
    s.steps
        .iter()
        .any(|st| matches!(st, Step::Kernel(k) if matches!(k.kind, KernelKind::Scan(_))))
}

fn is_host_loop(g: &Graph, fused: bool) -> bool {
    fuse(g, fused)
        .unwrap()
        .steps
        .iter()
        .any(|st| matches!(st, Step::Scan(_)))
}

#[test]
fn discounted_returns_run_as_one_kernel() {
    let g = discounted_returns(200, 16);
    assert!(is_scan_kernel(&g));
    assert!(is_host_loop(&g, false));
    let mut rng = Gen(31);
    let done: Vec<f64> = (0..200 * 16)
        .map(|_| f64::from(rng.below(10) == 0))
        .collect();
    let inputs = vec![
        rng.tensor(&ty(F, &[200, 16]), false),
        t(DType::Bool, &[200, 16], &done),
        t(F, &[], &[0.99]),
    ];
    check(&g, &inputs);
    for (len, n) in [(0, 3), (1, 1), (3, 4), (5, 17)] {
        let g = discounted_returns(len, n);
        let mut inputs = rng.inputs(&g, false);
        inputs[2] = t(F, &[], &[0.9]);
        check(&g, &inputs);
    }
}

#[test]
fn discounted_returns_by_hand() {
    let g = discounted_returns(4, 1);
    let r = t(F, &[4, 1], &[1.0, 1.0, 1.0, 1.0]);
    let done = t(DType::Bool, &[4, 1], &[0.0, 1.0, 0.0, 0.0]);
    let out = check(&g, &[r, done, t(F, &[], &[0.5])]);
    // done[1] cuts the return at step 1: ret = [1 + .5·1, 1, 1 + .5·1, 1]; the final
    // carry is ret[0].
    assert_eq!(out[0].to_f64_vec(), [1.5, 1.0, 1.5, 1.0]);
    assert_eq!(out[1].to_f64_vec(), [1.5]);
}

/// GAE with the value function as a loop invariant read at `t` and `t + 1`.
fn gae(t: usize, n: usize) -> Graph {
    let (gamma, lambda) = (0.99, 0.95);
    let body = graph(
        &[
            ty(F, &[n]),
            ty(F, &[n]),
            ty(F, &[n]),
            ty(F, &[t + 1, n]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let (adv, r, notdone, v, step) = (x[0], x[1], x[2], x[3], x[4]);
            let one = g.constant(DType::I32, 1.0);
            let next = g.binary(BinaryOp::Add, step, one).unwrap();
            let v_t = g.add(Op::DynIndex, vec![v, step]).unwrap();
            let v_next = g.add(Op::DynIndex, vec![v, next]).unwrap();
            let gv = g.binary_scalar(BinaryOp::Mul, v_next, gamma).unwrap();
            let gvm = g.binary(BinaryOp::Mul, gv, notdone).unwrap();
            let rg = g.binary(BinaryOp::Add, r, gvm).unwrap();
            let delta = g.binary(BinaryOp::Sub, rg, v_t).unwrap();
            let gl = g
                .binary_scalar(BinaryOp::Mul, notdone, gamma * lambda)
                .unwrap();
            let carried = g.binary(BinaryOp::Mul, gl, adv).unwrap();
            let a = g.binary(BinaryOp::Add, delta, carried).unwrap();
            vec![a, a]
        },
    );
    graph(
        &[ty(F, &[t, n]), ty(F, &[t, n]), ty(F, &[t + 1, n])],
        |g, x| {
            let init = g.full(&ty(F, &[n]), 0.0).unwrap();
            let outs = scan(g, body, t, true, 1, 2, vec![init, x[0], x[1], x[2]]);
            vec![outs[1]]
        },
    )
}

#[test]
fn gae_reads_invariants_at_computed_indices() {
    let g = gae(50, 8);
    assert!(is_scan_kernel(&g));
    let mut rng = Gen(32);
    let notdone: Vec<f64> = (0..50 * 8).map(|_| f64::from(rng.below(8) != 0)).collect();
    let inputs = vec![
        rng.tensor(&ty(F, &[50, 8]), false),
        t(F, &[50, 8], &notdone),
        rng.tensor(&ty(F, &[51, 8]), false),
    ];
    check(&g, &inputs);
}

#[test]
fn gae_with_constant_values_matches_the_closed_form() {
    // r = 1, V = 0, no terminations: A[t] = Σ_{k≥t} (γλ)^{k-t}.
    let g = gae(3, 1);
    let out = check(
        &g,
        &[
            t(F, &[3, 1], &[1.0; 3]),
            t(F, &[3, 1], &[1.0; 3]),
            t(F, &[4, 1], &[0.0; 4]),
        ],
    );
    let gl = (0.99f32 * 0.95) as f64;
    let want = [1.0 + gl * (1.0 + gl), 1.0 + gl, 1.0];
    for (a, b) in out[0].to_f64_vec().iter().zip(want) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn forward_scan_with_several_carries_and_no_carry() {
    // Running sum and running max, forward; and a carry-less map over steps.
    let n = 5;
    let body = graph(
        &[ty(F, &[n]), ty(F, &[n]), ty(F, &[n]), ty(DType::I32, &[])],
        |g, x| {
            let s = g.binary(BinaryOp::Add, x[0], x[2]).unwrap();
            let m = g.binary(BinaryOp::Max, x[1], x[2]).unwrap();
            let tf = g.cast(x[3], F).unwrap();
            let tb = g.broadcast(tf, &[n]).unwrap();
            let o = g.binary(BinaryOp::Mul, s, tb).unwrap();
            vec![s, m, o]
        },
    );
    let map_body = graph(&[ty(F, &[n]), ty(DType::I32, &[])], |g, x| {
        vec![g.unary(UnaryOp::Exp, x[0]).unwrap()]
    });
    let g = graph(&[ty(F, &[7, n])], |g, x| {
        let z = g.full(&ty(F, &[n]), 0.0).unwrap();
        let lo = g.full(&ty(F, &[n]), f64::NEG_INFINITY).unwrap();
        let mut outs = scan(g, body, 7, false, 2, 1, vec![z, lo, x[0]]);
        outs.extend(scan(g, map_body, 7, false, 0, 1, vec![x[0]]));
        outs
    });
    assert!(is_scan_kernel(&g));
    check(&g, &Gen(33).inputs(&g, true));
}

/// `h[t] = tanh(h[t-1] @ W + x[t])`: a body with a matmul runs as a host loop.
#[test]
fn rnn_body_with_matmul_runs_as_a_host_loop() {
    let (steps, b, h) = (6, 3, 4);
    let body = graph(
        &[
            ty(F, &[b, h]),
            ty(F, &[b, h]),
            ty(F, &[h, h]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let hw = g.add(Op::MatMul, vec![x[0], x[2]]).unwrap();
            let pre = g.binary(BinaryOp::Add, hw, x[1]).unwrap();
            let next = g.unary(UnaryOp::Tanh, pre).unwrap();
            vec![next, next]
        },
    );
    let g = graph(
        &[ty(F, &[b, h]), ty(F, &[steps, b, h]), ty(F, &[h, h])],
        |g, x| scan(g, body, steps, false, 1, 1, vec![x[0], x[1], x[2]]),
    );
    assert!(is_host_loop(&g, true));
    check(&g, &Gen(34).inputs(&g, false));
}

#[test]
fn nested_scans_run() {
    let n = 3;
    let inner = graph(&[ty(F, &[n]), ty(F, &[n]), ty(DType::I32, &[])], |g, x| {
        let s = g.binary(BinaryOp::Add, x[0], x[1]).unwrap();
        vec![s]
    });
    let outer_body = graph(
        &[ty(F, &[n]), ty(F, &[4, n]), ty(DType::I32, &[])],
        |g, x| {
            let outs = scan(g, inner.clone(), 4, true, 1, 1, vec![x[0], x[1]]);
            let h = g.unary(UnaryOp::Sin, outs[0]).unwrap();
            vec![h, h]
        },
    );
    let g = graph(&[ty(F, &[n]), ty(F, &[5, 4, n])], |g, x| {
        scan(g, outer_body, 5, false, 1, 1, vec![x[0], x[1]])
    });
    check(&g, &Gen(35).inputs(&g, false));
}

/// An environment-like step: an `f64[n, 4]` state beside `i32[n]` and `f32[n]` carries,
/// columns sliced out, a row broadcast, a `[n, 4]` random draw, a stack by position,
/// a concatenation and a row sum along the last axis. Runs as one scan kernel with the
/// wide values kept per column, bit-identical to the interpreter.
fn wide_step(steps: usize, n: usize) -> Graph {
    use rlp_ir::{Distribution, ReduceOp};
    let f64t = DType::F64;
    let body = graph(
        &[
            ty(f64t, &[n, 4]),
            ty(DType::I32, &[n]),
            ty(F, &[n]),
            ty(F, &[n, 2]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let (s, count, ret, push) = (x[0], x[1], x[2], x[3]);
            let col = |g: &mut Graph, c: usize| {
                let sl = g.slice(s, 1, c, c + 1).unwrap();
                g.reshape(sl, &[n]).unwrap()
            };
            let (a, b, th, w) = (col(g, 0), col(g, 1), col(g, 2), col(g, 3));
            let sin = g.unary(UnaryOp::Sin, th).unwrap();
            let cos = g.unary(UnaryOp::Cos, th).unwrap();
            let a2 = g.binary(BinaryOp::Add, a, sin).unwrap();
            let b2 = g.binary(BinaryOp::Mul, b, cos).unwrap();
            let th2 = g.binary_scalar(BinaryOp::Add, th, 0.1).unwrap();
            let w2 = g.binary(BinaryOp::Sub, w, a).unwrap();
            // Stack by position: select over an iota along the last axis.
            let pos = g.iota(&[n, 4], 1).unwrap();
            let mut stacked = {
                let r = g.reshape(w2, &[n, 1]).unwrap();
                g.broadcast(r, &[n, 4]).unwrap()
            };
            for (c, v) in [(2, th2), (1, b2), (0, a2)] {
                let r = g.reshape(v, &[n, 1]).unwrap();
                let bv = g.broadcast(r, &[n, 4]).unwrap();
                let k = g.constant(DType::I32, c as f64);
                let kb = g.broadcast(k, &[n, 4]).unwrap();
                let is = g.binary(BinaryOp::Eq, pos, kb).unwrap();
                stacked = g.select(is, bv, stacked).unwrap();
            }
            // Reset rows whose counter hit 3 to a fresh draw.
            let three = g.constant(DType::I32, 3.0);
            let three = g.broadcast(three, &[n]).unwrap();
            let done = g.binary(BinaryOp::Ge, count, three).unwrap();
            let draw = g.add_typed(
                Op::Random {
                    dist: Distribution::Uniform,
                    seed: 7,
                    stream: 3,
                },
                vec![x[4], x[4]],
                ty(f64t, &[n, 4]),
            );
            let d = g.reshape(done, &[n, 1]).unwrap();
            let d = g.broadcast(d, &[n, 4]).unwrap();
            let next = g.select(d, draw, stacked).unwrap();
            let one = g.constant(DType::I32, 1.0);
            let one = g.broadcast(one, &[n]).unwrap();
            let inc = g.binary(BinaryOp::Add, count, one).unwrap();
            let zero = g.full(&ty(DType::I32, &[n]), 0.0).unwrap();
            let count2 = g.select(done, zero, inc).unwrap();
            // Per-step outputs: the observation (f32, wide), [push, obs] concatenated,
            // and a row sum.
            let obs = g.cast(next, F).unwrap();
            let both = g.add(Op::Concat { axis: 1 }, vec![push, obs]).unwrap();
            let row = g
                .add(
                    Op::Reduce {
                        op: ReduceOp::Sum,
                        axes: vec![1],
                    },
                    vec![obs],
                )
                .unwrap();
            // A per-environment draw (four lanes share a block when aligned) and an
            // integer counter cast to f32 join the return; the flag is an output too.
            let u = g.add_typed(
                Op::Random {
                    dist: Distribution::Uniform,
                    seed: 9,
                    stream: 4,
                },
                vec![x[4], x[4]],
                ty(F, &[n]),
            );
            let cf = g.cast(count2, F).unwrap();
            let ret2 = g.binary(BinaryOp::Add, ret, row).unwrap();
            let ret2 = g.binary(BinaryOp::Add, ret2, u).unwrap();
            let ret2 = g.binary(BinaryOp::Add, ret2, cf).unwrap();
            // `inc` is the kept side of one select and the reset side of another with
            // the same condition (a deferred reset must not swallow it).
            let other = g.select(done, inc, zero).unwrap();
            vec![next, count2, ret2, obs, both, row, done, other]
        },
    );
    graph(
        &[
            ty(f64t, &[n, 4]),
            ty(DType::I32, &[n]),
            ty(F, &[n]),
            ty(F, &[steps, n, 2]),
        ],
        |g, x| scan(g, body, steps, false, 3, 1, vec![x[0], x[1], x[2], x[3]]),
    )
}

#[test]
fn wide_values_beside_narrow_ones_run_as_one_scan_kernel() {
    let mut rng = Gen(35);
    for (steps, n) in [(9, 1), (9, 3), (7, 4), (12, 5), (10, 17), (0, 2)] {
        let g = wide_step(steps, n);
        assert!(is_scan_kernel(&g), "steps {steps}, n {n}");
        let mut inputs = rng.inputs(&g, false);
        let counts: Vec<f64> = (0..n).map(|_| rng.below(4) as f64).collect();
        inputs[1] = t(DType::I32, &[n], &counts);
        if n == 17 {
            // Angles beyond the inline reduction's range and a NaN: those groups of four
            // take the lane-by-lane path.
            let mut state = inputs[0].to_f64_vec();
            state[2] = 1e7;
            state[4 * 9 + 2] = f64::NAN;
            inputs[0] = t(DType::F64, &[n, 4], &state);
        }
        check(&g, &inputs);
    }
    // Three threads split 61 units into chunks of eight (the executor starts chunks at
    // multiples of four); groups that start off a Philox block boundary are covered by
    // `draws_computed_ahead_match_the_interpreter`.
    let g = wide_step(700, 61);
    let inputs = rng.inputs(&g, false);
    check_on_three_threads(&g, &inputs);
}

/// 256 units or more run in blocks of 64 groups advancing step by step
/// (their carries in a stack area between steps): one block, blocks with a tail of groups and of single units, and three
/// threads whose chunks start inside a block, all give the interpreter's bits.
#[test]
fn blocks_of_groups_match_the_interpreter() {
    let mut rng = Gen(37);
    for (steps, n) in [(9, 256), (1, 256), (11, 514), (6, 771)] {
        let g = wide_step(steps, n);
        assert!(is_scan_kernel(&g), "steps {steps}, n {n}");
        let mut inputs = rng.inputs(&g, false);
        let counts: Vec<f64> = (0..n).map(|_| rng.below(4) as f64).collect();
        inputs[1] = t(DType::I32, &[n], &counts);
        check(&g, &inputs);
    }
    let g = wide_step(23, 1100);
    let inputs = rng.inputs(&g, false);
    check_on_three_threads(&g, &inputs);
}

/// A lanes scan vouches for the outputs it writes whole: each is known finite after a
/// run that stored no NaN or ±Inf, and only then (a NaN in one environment's state makes
/// its observations non-finite, and they are not vouched for).
#[test]
fn a_lanes_scan_vouches_only_for_finite_outputs_it_wrote_whole() {
    for threads in [1, 3] {
        vouching(threads);
    }
}

fn vouching(threads: usize) {
    let mut rng = Gen(38);
    let n = 300;
    let g = wide_step(9, n);
    let exe = jit(&g, true, threads);
    let mut inputs = rng.inputs(&g, false);
    // No environment resets before its fourth step, so a NaN put in its state shows.
    inputs[1] = t(DType::I32, &[n], &vec![0.0; n]);
    let outs = exe.run(&inputs).unwrap();
    let known: Vec<bool> = (0..outs.len())
        .map(|k| exe.output_known_finite(k))
        .collect();
    // The final state (f64), the return (f32) and the stacked observations (f32).
    for k in [0, 2, 3] {
        assert!(
            known[k],
            "output {k} is written whole by the scan: {known:?}"
        );
    }
    let mut state = inputs[0].to_f64_vec();
    state[4 * 7 + 1] = f64::NAN;
    inputs[0] = t(DType::F64, &[n, 4], &state);
    let outs = exe.run(&inputs).unwrap();
    for (k, out) in outs.iter().enumerate() {
        if exe.output_known_finite(k) {
            assert!(out.all_finite(), "output {k} is vouched for but holds NaN");
        }
    }
    assert!(!outs[3].all_finite() && !exe.output_known_finite(3));
    // Nothing is known of the next run's outputs before it has run cleanly.
    state[4 * 7 + 1] = 0.5;
    inputs[0] = t(DType::F64, &[n, 4], &state);
    exe.run(&inputs).unwrap();
    assert!(exe.output_known_finite(3));
}

/// The same step compiled without the CPU's FMA instructions, as on a CPU that lacks
/// them (Cranelift then calls libm's `fma` per lane): the `sin`/`cos` polynomials still
/// give the interpreter's bits.
#[test]
fn trig_without_fma_instructions_matches_the_interpreter() {
    let g = wide_step(40, 9);
    let inputs = Gen(36).inputs(&g, false);
    let want = rlp_ir::interp::run(&g, &inputs).unwrap();
    let opts = rlp_jit::JitOptions {
        threads: 1,
        fma: false,
        ..rlp_jit::JitOptions::default()
    };
    let got = rlp_jit::compile(&g, &opts).unwrap().run(&inputs).unwrap();
    compare_all("without fma", &got, &want, &g, &same_bits);
}

/// A scan body over `[2, n]` with three uniform draws, all computable four steps ahead:
/// `f32` at counters `(3t + 1, 7)` and `(t, t)`, `f64` at `(t, |1000 sin t|)`.
/// Each row adds its own bias (a loop invariant broadcast along the row, so the two dims
/// stay apart):
/// when `n` is not a multiple of four, the second row's groups of four start off a
/// Philox block boundary and take the per-step path.
fn draws_ahead(steps: usize, n: usize, reverse: bool) -> Graph {
    use rlp_ir::Distribution;
    let body = graph(
        &[ty(F, &[2, n]), ty(F, &[2, 1]), ty(DType::I32, &[])],
        |g, x| {
            let (carry, bias, t) = (x[0], x[1], x[2]);
            let uniform = |g: &mut Graph, stream: u32, c0, c1, dtype| {
                g.add_typed(
                    Op::Random {
                        dist: Distribution::Uniform,
                        seed: 3,
                        stream,
                    },
                    vec![c0, c1],
                    ty(dtype, &[2, n]),
                )
            };
            let three = g.constant(DType::I32, 3.0);
            let one = g.constant(DType::I32, 1.0);
            let seven = g.constant(DType::I32, 7.0);
            let t3 = g.binary(BinaryOp::Mul, t, three).unwrap();
            let c0 = g.binary(BinaryOp::Add, t3, one).unwrap();
            let a = uniform(g, 1, c0, seven, F);
            let b = uniform(g, 2, t, t, F);
            // A counter through `sin` (its lane form branches on the argument's size).
            let tf = g.cast(t, DType::F64).unwrap();
            let wave = g.unary(UnaryOp::Sin, tf).unwrap();
            let wave = g.binary_scalar(BinaryOp::Mul, wave, 1000.0).unwrap();
            let wave = g.unary(UnaryOp::Abs, wave).unwrap();
            let wave = g.cast(wave, DType::I32).unwrap();
            let c = uniform(g, 3, t, wave, DType::F64);
            let c = g.cast(c, F).unwrap();
            let row = g.broadcast(bias, &[2, n]).unwrap();
            let sum = g.binary(BinaryOp::Add, carry, a).unwrap();
            let sum = g.binary(BinaryOp::Add, sum, b).unwrap();
            let sum = g.binary(BinaryOp::Add, sum, c).unwrap();
            let sum = g.binary(BinaryOp::Add, sum, row).unwrap();
            vec![sum, a, b, c]
        },
    );
    graph(&[ty(F, &[2, n]), ty(F, &[2, 1])], |g, x| {
        scan(g, body, steps, reverse, 1, 0, vec![x[0], x[1]])
    })
}

/// Draws computed four steps ahead (and the per-step path beside them) give the
/// interpreter's bits: step counts that are and are not multiples of four, both
/// directions, aligned and unaligned rows, group tails, and three threads.
#[test]
fn draws_computed_ahead_match_the_interpreter() {
    let mut rng = Gen(41);
    for reverse in [false, true] {
        for (steps, n) in [(1, 4), (3, 8), (4, 7), (5, 13), (9, 64), (13, 5)] {
            let g = draws_ahead(steps, n, reverse);
            assert!(
                is_scan_kernel(&g),
                "steps {steps}, n {n}:\n{}",
                fuse(&g, true).unwrap()
            );
            let inputs = rng.inputs(&g, false);
            check_on_three_threads(&g, &inputs);
        }
    }
}

/// A scan body over `[n]` units with row draws, each column sliced out and summed into
/// an `f32[n]` carry: whole Philox blocks per unit, `f64[n, 4]` (a word per column) at
/// counters `(t, 5)` and `f32[n, 8]` (two blocks per unit) at `(2, t)`; and rows that
/// share or straddle blocks, `f32[n, 2]` at `(t, t)` and `f64[n, 3]` at `(5, t)`.
fn row_draws(steps: usize, n: usize) -> Graph {
    use rlp_ir::Distribution;
    let body = graph(&[ty(F, &[n]), ty(DType::I32, &[])], |g, x| {
        let (carry, t) = (x[0], x[1]);
        let uniform = |g: &mut Graph, stream: u32, c0, c1, dtype, width| {
            g.add_typed(
                Op::Random {
                    dist: Distribution::Uniform,
                    seed: 5,
                    stream,
                },
                vec![c0, c1],
                ty(dtype, &[n, width]),
            )
        };
        let five = g.constant(DType::I32, 5.0);
        let two = g.constant(DType::I32, 2.0);
        let wide = uniform(g, 1, t, five, DType::F64, 4);
        let wider = uniform(g, 2, two, t, F, 8);
        // Blocks shared by two units, and units straddling blocks.
        let pairs = uniform(g, 3, t, t, F, 2);
        let threes = uniform(g, 4, five, t, DType::F64, 3);
        let mut sum = carry;
        for (draw, width) in [(wide, 4), (wider, 8), (pairs, 2), (threes, 3)] {
            for c in 0..width {
                let col = g.slice(draw, 1, c, c + 1).unwrap();
                let col = g.reshape(col, &[n]).unwrap();
                let col = g.cast(col, F).unwrap();
                // Weighted by column, so a column given another's word shows.
                let col = g.binary_scalar(BinaryOp::Mul, col, (c + 1) as f64).unwrap();
                sum = g.binary(BinaryOp::Add, sum, col).unwrap();
            }
        }
        let first = g.slice(wide, 1, 1, 2).unwrap();
        let first = g.reshape(first, &[n]).unwrap();
        vec![sum, first]
    });
    graph(&[ty(F, &[n])], |g, x| {
        scan(g, body, steps, false, 1, 0, vec![x[0]])
    })
}

/// Row draws four units at a time (one vector Philox for the four units' blocks, words
/// picked per lane where rows are not whole blocks) give the interpreter's bits, with
/// group tails and three threads.
#[test]
fn row_draws_match_the_interpreter() {
    let mut rng = Gen(43);
    for (steps, n) in [(1, 4), (3, 8), (5, 7), (6, 13)] {
        let g = row_draws(steps, n);
        assert!(is_scan_kernel(&g), "steps {steps}, n {n}");
        let inputs = rng.inputs(&g, false);
        check_on_three_threads(&g, &inputs);
    }
}

/// A scan body with floored remainders of both float types and an `i32 → f64` cast:
/// `x' = (x + f64(k)) % d`, `y' = (y · 3.1) % e`, `k' = k - 1`, with `d` and `e` loop
/// invariants of either sign.
fn remainders(steps: usize, n: usize) -> Graph {
    let f64t = DType::F64;
    let body = graph(
        &[
            ty(f64t, &[n]),
            ty(F, &[n]),
            ty(DType::I32, &[n]),
            ty(f64t, &[n]),
            ty(F, &[n]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let (xs, ys, ks, d, e) = (x[0], x[1], x[2], x[3], x[4]);
            let kf = g.cast(ks, f64t).unwrap();
            let sum = g.binary(BinaryOp::Add, xs, kf).unwrap();
            let x2 = g.binary(BinaryOp::Rem, sum, d).unwrap();
            let scaled = g.binary_scalar(BinaryOp::Mul, ys, 3.1).unwrap();
            let y2 = g.binary(BinaryOp::Rem, scaled, e).unwrap();
            let one = g.constant(DType::I32, 1.0);
            let one = g.broadcast(one, &[n]).unwrap();
            let k2 = g.binary(BinaryOp::Sub, ks, one).unwrap();
            vec![x2, y2, k2, x2]
        },
    );
    graph(
        &[
            ty(f64t, &[n]),
            ty(F, &[n]),
            ty(DType::I32, &[n]),
            ty(f64t, &[n]),
            ty(F, &[n]),
        ],
        |g, x| scan(g, body, steps, false, 3, 0, x.to_vec()),
    )
}

/// Floored remainders and `i32 → f64` casts four units at a time give the interpreter's
/// bits, specials (±0, ±inf, NaN) included.
#[test]
fn remainders_and_int_casts_in_lanes_match_the_interpreter() {
    let mut rng = Gen(47);
    for (steps, n) in [(1, 4), (5, 9), (7, 16)] {
        let g = remainders(steps, n);
        assert!(is_scan_kernel(&g), "steps {steps}, n {n}");
        let inputs = rng.inputs(&g, true);
        check_on_three_threads(&g, &inputs);
    }
}

/// A reset-like scan body whose deferred region (selects on one condition fed by a
/// random draw) holds a select whose kept operand is another of its selects:
/// `inner = c ? u : x`, `outer = c ? 2u : inner`, with `c` set for some units at some
/// steps and for none at others.
fn nested_selects(steps: usize, n: usize) -> Graph {
    use rlp_ir::Distribution;
    let body = graph(
        &[ty(F, &[n]), ty(DType::I32, &[n]), ty(DType::I32, &[])],
        |g, x| {
            let (xs, count, t) = (x[0], x[1], x[2]);
            let u = g.add_typed(
                Op::Random {
                    dist: Distribution::Uniform,
                    seed: 11,
                    stream: 5,
                },
                vec![t, t],
                ty(F, &[n]),
            );
            let three = g.constant(DType::I32, 3.0);
            let three = g.broadcast(three, &[n]).unwrap();
            let c = g.binary(BinaryOp::Ge, count, three).unwrap();
            let inner = g.select(c, u, xs).unwrap();
            let twice = g.binary_scalar(BinaryOp::Mul, u, 2.0).unwrap();
            let outer = g.select(c, twice, inner).unwrap();
            let one = g.constant(DType::I32, 1.0);
            let one = g.broadcast(one, &[n]).unwrap();
            let inc = g.binary(BinaryOp::Add, count, one).unwrap();
            let zero = g.full(&ty(DType::I32, &[n]), 0.0).unwrap();
            let count2 = g.select(c, zero, inc).unwrap();
            let next = g.binary_scalar(BinaryOp::Add, outer, 0.5).unwrap();
            vec![next, count2, inner, outer]
        },
    );
    graph(&[ty(F, &[n]), ty(DType::I32, &[n])], |g, x| {
        scan(g, body, steps, false, 2, 0, vec![x[0], x[1]])
    })
}

#[test]
fn nested_selects_in_a_deferred_region_match_the_interpreter() {
    let mut rng = Gen(53);
    for (steps, n) in [(6, 4), (9, 8), (7, 13)] {
        let g = nested_selects(steps, n);
        assert!(is_scan_kernel(&g), "steps {steps}, n {n}");
        let mut inputs = rng.inputs(&g, false);
        let counts: Vec<f64> = (0..n).map(|_| rng.below(5) as f64).collect();
        inputs[1] = t(DType::I32, &[n], &counts);
        check_on_three_threads(&g, &inputs);
    }
}
