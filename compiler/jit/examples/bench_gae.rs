//! GAE scan throughput beside a memory-bandwidth bound measured in the same run.
//!
//! `cargo run --release -p rlp-jit --example bench_gae [-- --threads N] [-- --quick]`
//!
//! GAE (reverse scan over `[T, N]`): `delta = r + γ·v[t+1]·(1−done) − v[t];
//! acc = delta + γλ·(1−done)·acc`, with `r`, `done` `[T, N]` and `v` `[T+1, N]` (`f32`).
//! Each element reads `r`, `v`, `done` and writes the advantage: ~16 B, ~20 B counting
//! `v[t+1]` (usually a cache hit) or the write's read-for-ownership. The bound: a large
//! `memcpy` of the same bytes, as GB/s of traffic (read + write), divided by 20 B per
//! element.
//!
//! Like for like: GAE runs with `run_into`, writing into the output memory of the
//! previous call (as a training loop would), and the copy writes into a destination
//! touched beforehand; the two are timed alternately, best of each. "fresh" is `run`,
//! which allocates its output every call (at 1024×16384 that is 64 MiB of page faults).
//! Set `RLP_JIT_ELEMENT_MAJOR_SCANS=1` to time the old element-major scan loop.

use rlp_ir::{BinaryOp, Graph, NodeId, Op, Scan, TensorType};
use rlp_jit::{JitOptions, compile, kernels_summary};
use rlp_runtime::{DType, Tensor};
use std::time::Instant;

const BYTES_PER_ELEMENT: f64 = 20.0;

fn gae_graph(t: usize, n: usize, gamma: f64, lambda: f64) -> Graph {
    let f = DType::F32;
    let e = TensorType::new(f, [n]);
    let mut body = Graph::new();
    let x: Vec<NodeId> = (0..5).map(|_| body.add_input(e.clone())).collect();
    body.add_input(TensorType::scalar(DType::I32));
    let (acc, r, v, vn, done) = (x[0], x[1], x[2], x[3], x[4]);
    let b = &mut body;
    let one = b.full(&e, 1.0).unwrap();
    let nd = b.binary(BinaryOp::Sub, one, done).unwrap();
    let gm = b.full(&e, gamma).unwrap();
    let gl = b.full(&e, gamma * lambda).unwrap();
    let a = b.binary(BinaryOp::Mul, gm, vn).unwrap();
    let a = b.binary(BinaryOp::Mul, a, nd).unwrap();
    let d = b.binary(BinaryOp::Add, r, a).unwrap();
    let delta = b.binary(BinaryOp::Sub, d, v).unwrap();
    let c = b.binary(BinaryOp::Mul, gl, nd).unwrap();
    let c = b.binary(BinaryOp::Mul, c, acc).unwrap();
    let next = b.binary(BinaryOp::Add, delta, c).unwrap();
    body.outputs = vec![next, next];

    let mut g = Graph::new();
    let r = g.add_input(TensorType::new(f, [t, n]));
    let v = g.add_input(TensorType::new(f, [t + 1, n]));
    let done = g.add_input(TensorType::new(f, [t, n]));
    let init = g.full(&e, 0.0).unwrap();
    let v0 = g.slice(v, 0, 0, t).unwrap();
    let v1 = g.slice(v, 0, 1, t + 1).unwrap();
    let s = g
        .add(
            Op::Scan(Box::new(Scan {
                length: t,
                reverse: true,
                n_carry: 1,
                n_seq: 4,
                body,
            })),
            vec![init, r, v0, v1, done],
        )
        .unwrap();
    g.outputs = vec![g.project(s, 1).unwrap()];
    g
}

fn inputs(t: usize, n: usize) -> Vec<Tensor> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let r: Vec<f64> = (0..t * n).map(|_| next() * 2.0 - 1.0).collect();
    let v: Vec<f64> = (0..(t + 1) * n).map(|_| next() * 2.0 - 1.0).collect();
    let d: Vec<f64> = (0..t * n).map(|_| (next() < 0.02) as u8 as f64).collect();
    vec![
        Tensor::from_f64(DType::F32, &[t, n], &r),
        Tensor::from_f64(DType::F32, &[t + 1, n], &v),
        Tensor::from_f64(DType::F32, &[t, n], &d),
    ]
}

/// One timing of `f`, in seconds.
fn time(mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    f();
    t0.elapsed().as_secs_f64()
}

/// A large-copy baseline: `bytes` from one buffer into another, both allocated and
/// touched once up front, so that, like GAE writing into reused outputs, no call faults
/// a page in.
struct Copy {
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl Copy {
    fn new(bytes: usize) -> Copy {
        let mut c = Copy {
            src: vec![1u8; bytes],
            dst: vec![0u8; bytes],
        };
        c.run();
        c
    }

    fn run(&mut self) {
        self.dst.copy_from_slice(&self.src);
        std::hint::black_box(&mut self.dst);
    }

    /// Traffic (read + write) in GB/s for a copy taking `secs`.
    fn gbps(&self, secs: f64) -> f64 {
        2.0 * self.src.len() as f64 / secs / 1e9
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let quick = args.iter().any(|a| a == "--quick");
    let opts = JitOptions {
        threads,
        ..JitOptions::default()
    };
    let g = gae_graph(4, 8, 0.99, 0.95);
    println!("schedule:\n{}", kernels_summary(&g, &opts));
    println!(
        "threads: {} ({}), element-major scans forced: {}",
        threads,
        rayon::current_num_threads(),
        std::env::var_os("RLP_JIT_ELEMENT_MAJOR_SCANS").is_some()
    );
    println!(
        "{:>12} {:>10} {:>9} {:>10} {:>10} {:>8} {:>11} {:>7}",
        "T x N", "M elem/s", "us/call", "copy GB/s", "bound M/s", "% bound", "fresh M/s", "interp"
    );
    let sizes: &[(usize, usize)] = if quick {
        &[(128, 1024), (128, 4)]
    } else {
        &[(128, 1024), (2048, 64), (1024, 16384), (128, 4)]
    };
    for &(t, n) in sizes {
        let g = gae_graph(t, n, 0.99, 0.95);
        let ins = inputs(t, n);
        let exe = compile(&g, &opts).unwrap();
        let elems = t * n;
        let reps = (20_000_000 / elems.max(1)).clamp(10, 2000);
        // As a training loop runs it: one output vector kept and passed back every call,
        // so the 64 MiB result at 1024x16384 is written into memory already mapped.
        let mut outs = vec![];
        exe.run_into(&ins, &mut outs).unwrap();
        let mut copy = Copy::new(((elems as f64 * BYTES_PER_ELEMENT) / 2.0) as usize);
        // Interleaved, best of each: load from other processes hits both alike.
        let (mut kernel, mut memcpy) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..reps {
            kernel = kernel.min(time(|| exe.run_into(&ins, &mut outs).unwrap()));
            memcpy = memcpy.min(time(|| copy.run()));
        }
        let gbps = copy.gbps(memcpy);
        drop(copy);
        // For reference: `run`, which returns freshly allocated outputs every call.
        let mut fresh = f64::INFINITY;
        for _ in 0..reps.min(50) {
            fresh = fresh.min(time(|| {
                std::hint::black_box(exe.run(&ins).unwrap());
            }));
        }
        let bound = gbps * 1e9 / BYTES_PER_ELEMENT;
        let rate = elems as f64 / kernel;
        // Check against the interpreter once per size (bit-identical).
        let want = rlp_ir::interp::run(&g, &ins).unwrap();
        let same = outs[0].to_f64_vec() == want[0].to_f64_vec();
        println!(
            "{:>12} {:>10.1} {:>9.2} {:>10.2} {:>10.1} {:>7.0}% {:>11.1} {:>7}",
            format!("{t}x{n}"),
            rate / 1e6,
            kernel * 1e6,
            gbps,
            bound / 1e6,
            100.0 * rate / bound,
            elems as f64 / fresh / 1e6,
            if same { "same" } else { "DIFFERS" }
        );
    }
}
