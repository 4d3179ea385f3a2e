//! Shared helpers: graph building, deterministic inputs, and the differential check
//! (interpreter vs JIT fused vs JIT unfused).

use rlp_ir::{Graph, NodeId, TensorType};
use rlp_jit::{JitOptions, compile};
use rlp_runtime::{DType, Executable, Tensor};

pub fn ty(dtype: DType, shape: &[usize]) -> TensorType {
    TensorType::new(dtype, shape)
}

/// A graph with the given inputs whose outputs `body` builds from the input nodes.
pub fn graph(
    inputs: &[TensorType],
    body: impl FnOnce(&mut Graph, &[NodeId]) -> Vec<NodeId>,
) -> Graph {
    let mut g = Graph::new();
    let ins: Vec<NodeId> = inputs.iter().map(|t| g.add_input(t.clone())).collect();
    g.outputs = body(&mut g, &ins);
    g
}

/// A small deterministic generator (SplitMix64), so tests need no extra crates.
pub struct Gen(pub u64);

impl Gen {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A tensor of moderate values: floats in [-3, 3) with occasional specials (±0, ±inf,
    /// NaN) when `specials`, ints in -5..=5, bools half true.
    pub fn tensor(&mut self, t: &TensorType, specials: bool) -> Tensor {
        let values: Vec<f64> = (0..t.numel())
            .map(|_| match t.dtype {
                DType::F32 | DType::F64 => {
                    if specials && self.below(12) == 0 {
                        [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN]
                            [self.below(5) as usize]
                    } else {
                        self.uniform(-3.0, 3.0)
                    }
                }
                DType::I32 => self.below(11) as f64 - 5.0,
                DType::Bool => self.below(2) as f64,
            })
            .collect();
        Tensor::from_f64(t.dtype, &t.shape, &values)
    }

    /// Inputs for every graph input.
    pub fn inputs(&mut self, g: &Graph, specials: bool) -> Vec<Tensor> {
        g.inputs.iter().map(|t| self.tensor(t, specials)).collect()
    }
}

pub fn t(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
    Tensor::from_f64(dtype, shape, values)
}

pub fn jit(g: &Graph, fuse: bool, threads: usize) -> Box<dyn Executable> {
    compile(
        g,
        &JitOptions {
            threads,
            fuse,
            ..JitOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("compile failed: {e}\n{g}"))
}

/// Element-wise equality of two tensors: same dtype and shape, floats equal bit for bit
/// (any NaN equals any NaN).
pub fn same_bits(a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.dtype() != b.dtype() || a.shape() != b.shape() {
        return Err(format!(
            "{}{:?} vs {}{:?}",
            a.dtype(),
            a.shape(),
            b.dtype(),
            b.shape()
        ));
    }
    let bad = match (a, b) {
        (Tensor::F32(x), Tensor::F32(y)) => x
            .iter()
            .zip(y)
            .position(|(p, q)| p.to_bits() != q.to_bits() && !(p.is_nan() && q.is_nan())),
        (Tensor::F64(x), Tensor::F64(y)) => x
            .iter()
            .zip(y)
            .position(|(p, q)| p.to_bits() != q.to_bits() && !(p.is_nan() && q.is_nan())),
        (Tensor::I32(x), Tensor::I32(y)) => x.iter().zip(y).position(|(p, q)| p != q),
        (Tensor::Bool(x), Tensor::Bool(y)) => x.iter().zip(y).position(|(p, q)| p != q),
        _ => unreachable!(),
    };
    match bad {
        None => Ok(()),
        Some(i) => Err(format!(
            "element {i}: {} vs {}",
            a.to_f64_vec()[i],
            b.to_f64_vec()[i]
        )),
    }
}

pub fn compare_all(
    what: &str,
    got: &[Tensor],
    want: &[Tensor],
    g: &Graph,
    eq: &dyn Fn(&Tensor, &Tensor) -> Result<(), String>,
) {
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        if let Err(e) = eq(a, b) {
            panic!("{what}: output {k} differs from the interpreter: {e}\n{g}");
        }
    }
}

/// Runs `g` on `inputs` with the interpreter and with the JIT (fused and unfused), and
/// asserts all three agree bit for bit. Returns the interpreter's outputs.
pub fn check(g: &Graph, inputs: &[Tensor]) -> Vec<Tensor> {
    check_with(g, inputs, &same_bits)
}

/// [`check`] with a custom equality.
fn check_with(
    g: &Graph,
    inputs: &[Tensor],
    eq: &dyn Fn(&Tensor, &Tensor) -> Result<(), String>,
) -> Vec<Tensor> {
    let want =
        rlp_ir::interp::run(g, inputs).unwrap_or_else(|e| panic!("interpreter failed: {e}\n{g}"));
    for fuse in [true, false] {
        let got = jit(g, fuse, 1)
            .run(inputs)
            .unwrap_or_else(|e| panic!("jit (fuse {fuse}) failed: {e}\n{g}"));
        compare_all(&format!("fuse {fuse}"), &got, &want, g, eq);
    }
    want
}

/// Both the interpreter and the JIT (fused and not) fail; returns the JIT's message.
pub fn check_fails(g: &Graph, inputs: &[Tensor]) -> String {
    let interp = rlp_ir::interp::run(g, inputs);
    assert!(interp.is_err(), "the interpreter should fail on\n{g}");
    let mut message = String::new();
    for fuse in [true, false] {
        match jit(g, fuse, 1).run(inputs) {
            Ok(_) => panic!("jit (fuse {fuse}) should fail on\n{g}"),
            Err(e) => message = e.message,
        }
    }
    message
}
