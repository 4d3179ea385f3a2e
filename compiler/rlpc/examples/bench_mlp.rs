//! MLP forward + backward throughput: the compiled graph (written in `.rlp`,
//! differentiated by the compiler, fused and JIT-compiled) against a straightforward
//! ndarray implementation of the same network and loss, measured in the same run.
//!
//!     cargo run --release -p rlpc --example bench_mlp [-- --batch 4096 --reps 20]
//!
//! Network 64 → 256 → 256 → 2 with tanh, mean squared error against targets; one
//! "step" is the loss and the gradients of all six parameters.

use ndarray::{Array2, Axis};
use rlp_ir::{DType, Tensor, TensorType};
use rlpc::sema::Modules;
use rlpc::sema::function::{FnArg, lower_function};
use std::time::Instant;

const PROGRAM: &str = r#"
fn mlp_loss(x: [B, I], y: [B, O], w0: [I, H], b0: [H], w1: [H, H], b1: [H], w2: [H, O], b2: [O]) {
  h0 = tanh(x @ w0 + b0)
  h1 = tanh(h0 @ w1 + b1)
  d = h1 @ w2 + b2 - y
  mean(d * d)
}
"#;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (b, i, h, o) = (arg("--batch", 4096), 64, 256, 2);
    let reps = arg("--reps", 20);
    let f = |s: &[usize]| TensorType::new(DType::F32, s.to_vec());
    let shapes = [
        vec![b, i],
        vec![b, o],
        vec![i, h],
        vec![h],
        vec![h, h],
        vec![h],
        vec![h, o],
        vec![o],
    ];
    let (mods, _) = Modules::load_source("bench.rlp", PROGRAM)
        .map_err(|(_, d)| d[0].message.clone())
        .unwrap();
    let (mut g, _) = lower_function(
        &mods,
        "bench.rlp",
        "mlp_loss",
        shapes.iter().map(|s| FnArg::Tensor(f(s))).collect(),
        0,
    )
    .unwrap();
    let loss = g.outputs[0];
    let params: Vec<_> = (2..8)
        .map(|k| {
            g.ids()
                .find(|&n| g.node(n).op == rlp_ir::Op::Input(k))
                .unwrap()
        })
        .collect();
    let grads = rlp_ir::autodiff::grad(&mut g, loss, &params).unwrap();
    g.outputs.extend(grads);
    let t0 = Instant::now();
    let exe = rlp_jit::compile(
        &rlpc::run::prepare(&g).unwrap(),
        &rlp_jit::JitOptions::default(),
    )
    .unwrap();
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;

    // Deterministic inputs.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * 0.2
    };
    let inputs: Vec<Tensor> = shapes
        .iter()
        .map(|s| {
            Tensor::from_f64(
                DType::F32,
                s,
                &(0..s.iter().product::<usize>())
                    .map(|_| next())
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let arrays: Vec<Array2<f32>> = inputs
        .iter()
        .map(|t| match t {
            Tensor::F32(a) => {
                let s = a.shape();
                let (r, c) = if s.len() == 2 {
                    (s[0], s[1])
                } else {
                    (1, s[0])
                };
                a.clone().into_shape_with_order((r, c)).unwrap()
            }
            _ => unreachable!(),
        })
        .collect();

    // Check the two agree before timing them.
    let jit_out = exe.run(&inputs).unwrap();
    let (nd_loss, nd_grads) = ndarray_step(&arrays);
    let jl = jit_out[0].scalar_f64().unwrap();
    assert!(
        (jl - nd_loss as f64).abs() <= 1e-4 * jl.abs().max(1.0),
        "loss {jl} vs ndarray {nd_loss}"
    );
    for (k, (j, n)) in jit_out[1..].iter().zip(&nd_grads).enumerate() {
        let jv = j.to_f64_vec();
        let max = n.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        for (a, bv) in jv.iter().zip(n.iter()) {
            assert!(
                (a - *bv as f64).abs() <= 1e-3 * max.max(1e-6),
                "gradient {k}: {a} vs ndarray {bv}"
            );
        }
    }

    let time = |f: &mut dyn FnMut()| {
        f();
        (0..3)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..reps {
                    f();
                }
                t.elapsed().as_secs_f64() / reps as f64
            })
            .fold(f64::INFINITY, f64::min)
    };
    let jit_s = time(&mut || {
        exe.run(&inputs).unwrap();
    });
    let nd_s = time(&mut || {
        std::hint::black_box(ndarray_step(&arrays));
    });
    let flops = 2.0 * 3.0 * b as f64 * (i * h + h * h + h * o) as f64; // forward + backward matmuls
    println!("MLP {i}→{h}→{h}→{o}, batch {b}, forward+backward, best of 3 × {reps} reps");
    println!(
        "  rlpc JIT : {:8.3} ms/step  {:6.1} GFLOP/s  {:9.0} samples/s  (compile {compile_ms:.1} ms)",
        jit_s * 1e3,
        flops / jit_s / 1e9,
        b as f64 / jit_s
    );
    println!(
        "  ndarray  : {:8.3} ms/step  {:6.1} GFLOP/s  {:9.0} samples/s",
        nd_s * 1e3,
        flops / nd_s / 1e9,
        b as f64 / nd_s
    );
    println!("  ratio    : {:.2}× ndarray", nd_s / jit_s);
}

/// The same network and loss, forward and backward by hand with ndarray.
fn ndarray_step(p: &[Array2<f32>]) -> (f32, Vec<Array2<f32>>) {
    let (x, y, w0, b0, w1, b1, w2, b2) = (&p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &p[7]);
    let n = x.nrows() as f32;
    let h0 = (x.dot(w0) + b0).mapv(f32::tanh);
    let h1 = (h0.dot(w1) + b1).mapv(f32::tanh);
    let d = h1.dot(w2) + b2 - y;
    let loss = d.mapv(|v| v * v).sum() / (n * d.ncols() as f32);
    let g_out = d.mapv(|v| 2.0 * v / (n * 2.0));
    let g_w2 = h1.t().dot(&g_out);
    let g_b2 = g_out.sum_axis(Axis(0)).insert_axis(Axis(0));
    let g_h1 = g_out.dot(&w2.t()) * h1.mapv(|t| 1.0 - t * t);
    let g_w1 = h0.t().dot(&g_h1);
    let g_b1 = g_h1.sum_axis(Axis(0)).insert_axis(Axis(0));
    let g_h0 = g_h1.dot(&w1.t()) * h0.mapv(|t| 1.0 - t * t);
    let g_w0 = x.t().dot(&g_h0);
    let g_b0 = g_h0.sum_axis(Axis(0)).insert_axis(Axis(0));
    (loss, vec![g_w0, g_b0, g_w1, g_b1, g_w2, g_b2])
}
