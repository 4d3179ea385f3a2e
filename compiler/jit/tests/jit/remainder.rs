//! The floored remainder against numpy's `remainder` (`tools/make_remainder_fixture.py`
//! wrote the fixture): the interpreter equals numpy bit for bit, and the JIT equals the
//! interpreter elementwise (four lanes and the scalar tail), in a scan's lanes (f64 as
//! two halves), and compiled without the CPU's FMA instructions.

use crate::common::*;
use crate::scan::{is_scan_kernel, scan};
use rlp_ir::{BinaryOp, Graph};
use rlp_runtime::{DType, Tensor};

/// Lanes of the scan test: the fixture is cut into steps of this many units.
const UNITS: usize = 16;

fn fixture() -> Vec<(String, Tensor)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/remainder.npz");
    rlp_runtime::io::load_npz(std::path::Path::new(path)).expect("remainder fixture")
}

fn field<'a>(fields: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
    &fields.iter().find(|(n, _)| n == name).expect(name).1
}

/// `(a, b, numpy's a mod b)` in `dtype`.
fn cases(dtype: DType) -> (Tensor, Tensor, Tensor) {
    let f = fixture();
    let suffix = if dtype == DType::F32 { "32" } else { "64" };
    let get = |p: &str| field(&f, &format!("{p}{suffix}")).clone();
    (get("a"), get("b"), get("r"))
}

fn elementwise(dtype: DType, n: usize) -> Graph {
    graph(&[ty(dtype, &[n]), ty(dtype, &[n])], |g, x| {
        vec![g.binary(BinaryOp::Rem, x[0], x[1]).unwrap()]
    })
}

/// `r[t] = a[t] mod b[t]` over `[steps, UNITS]` sequences, a scan-lane kernel.
fn in_scan(dtype: DType, steps: usize) -> Graph {
    let body = graph(
        &[
            ty(dtype, &[UNITS]),
            ty(dtype, &[UNITS]),
            ty(dtype, &[UNITS]),
            ty(DType::I32, &[]),
        ],
        |g, x| {
            let r = g.binary(BinaryOp::Rem, x[1], x[2]).unwrap();
            let carry = g.binary(BinaryOp::Add, x[0], r).unwrap();
            vec![carry, r]
        },
    );
    graph(
        &[
            ty(dtype, &[UNITS]),
            ty(dtype, &[steps, UNITS]),
            ty(dtype, &[steps, UNITS]),
        ],
        |g, x| vec![scan(g, body, steps, false, 1, 2, x.to_vec())[1]],
    )
}

/// The first `steps × UNITS` elements of `t`, as `[steps, UNITS]`.
fn rows(t: &Tensor, steps: usize) -> Tensor {
    let v = t.to_f64_vec();
    Tensor::from_f64(t.dtype(), &[steps, UNITS], &v[..steps * UNITS])
}

#[test]
fn the_interpreter_equals_numpy_bit_for_bit() {
    for dtype in [DType::F32, DType::F64] {
        let (a, b, want) = cases(dtype);
        let g = elementwise(dtype, a.shape()[0]);
        let got = rlp_ir::interp::run(&g, &[a.clone(), b.clone()]).unwrap();
        if let Err(e) = same_bits(&got[0], &want) {
            let i: usize = e
                .strip_prefix("element ")
                .and_then(|s| s.split(':').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            panic!(
                "{dtype}: {e} for {} mod {}",
                a.to_f64_vec()[i],
                b.to_f64_vec()[i]
            );
        }
    }
}

#[test]
fn the_jit_equals_numpy_elementwise_and_in_scan_lanes() {
    for dtype in [DType::F32, DType::F64] {
        let (a, b, want) = cases(dtype);
        let got = check(&elementwise(dtype, a.shape()[0]), &[a.clone(), b.clone()]);
        same_bits(&got[0], &want).unwrap();

        let steps = a.shape()[0] / UNITS;
        let g = in_scan(dtype, steps);
        assert!(is_scan_kernel(&g));
        let zero = Tensor::from_f64(dtype, &[UNITS], &[0.0; UNITS]);
        let inputs = [zero, rows(&a, steps), rows(&b, steps)];
        let got = check(&g, &inputs);
        same_bits(&got[0], &rows(&want, steps)).unwrap();

        let opts = rlp_jit::JitOptions {
            threads: 1,
            fma: false,
            ..rlp_jit::JitOptions::default()
        };
        let portable = rlp_jit::compile(&g, &opts).unwrap().run(&inputs).unwrap();
        compare_all("without fma", &portable, &got, &g, &same_bits);
    }
}
