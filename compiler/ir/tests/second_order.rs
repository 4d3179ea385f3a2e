//! Gradients of gradients: the Hessian-vector product obtained by differentiating
//! `grad(f) · v` matches central finite differences of the gradient (f64). This is what
//! Fisher-vector products (natural gradients) are built from.

use rlp_ir::autodiff::grad;
use rlp_ir::interp::run;
use rlp_ir::{BinaryOp, DType, Graph, NodeId, Op, ReduceOp, Tensor, TensorType, UnaryOp};

/// f(w) = sum(tanh(x @ w) * y) + sum(w * w * w) with x, y fixed; returns (graph, w, f).
fn build(g: &mut Graph) -> (NodeId, NodeId, NodeId) {
    let x = g.add_input(TensorType::new(DType::F64, vec![5, 3]));
    let w = g.add_input(TensorType::new(DType::F64, vec![3, 4]));
    let y = g.add_input(TensorType::new(DType::F64, vec![5, 4]));
    let xw = g.add(Op::MatMul, vec![x, w]).unwrap();
    let t = g.unary(UnaryOp::Tanh, xw).unwrap();
    let ty = g.binary(BinaryOp::Mul, t, y).unwrap();
    let s1 = g.reduce(ReduceOp::Sum, ty, vec![0, 1]).unwrap();
    let w2 = g.binary(BinaryOp::Mul, w, w).unwrap();
    let w3 = g.binary(BinaryOp::Mul, w2, w).unwrap();
    let s2 = g.reduce(ReduceOp::Sum, w3, vec![0, 1]).unwrap();
    let f = g.binary(BinaryOp::Add, s1, s2).unwrap();
    (w, f, x)
}

fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect()
}

#[test]
fn hessian_vector_product_matches_finite_differences() {
    // Graph 1: the gradient of f at w.
    let mut g1 = Graph::new();
    let (w, f, _) = build(&mut g1);
    let dw = grad(&mut g1, f, &[w]).unwrap()[0];
    g1.outputs = vec![dw];
    // Graph 2: the gradient of grad(f)·v with respect to w: H v.
    let mut g2 = Graph::new();
    let (w2, f2, _) = build(&mut g2);
    let v = g2.add_input(TensorType::new(DType::F64, vec![3, 4]));
    let d = grad(&mut g2, f2, &[w2]).unwrap()[0];
    let dv = g2.binary(BinaryOp::Mul, d, v).unwrap();
    let s = g2.reduce(ReduceOp::Sum, dv, vec![0, 1]).unwrap();
    let hv = grad(&mut g2, s, &[w2]).unwrap()[0];
    g2.outputs = vec![hv];

    let x = Tensor::from_f64(DType::F64, &[5, 3], &values(15, 1));
    let wv = values(12, 2);
    let y = Tensor::from_f64(DType::F64, &[5, 4], &values(20, 3));
    let vv = values(12, 4);
    let got = run(
        &g2,
        &[
            x.clone(),
            Tensor::from_f64(DType::F64, &[3, 4], &wv),
            y.clone(),
            Tensor::from_f64(DType::F64, &[3, 4], &vv),
        ],
    )
    .unwrap()[0]
        .to_f64_vec();
    let eps = 1e-6;
    let at = |sign: f64| {
        let shifted: Vec<f64> = wv
            .iter()
            .zip(&vv)
            .map(|(a, b)| a + sign * eps * b)
            .collect();
        run(
            &g1,
            &[
                x.clone(),
                Tensor::from_f64(DType::F64, &[3, 4], &shifted),
                y.clone(),
            ],
        )
        .unwrap()[0]
            .to_f64_vec()
    };
    let (plus, minus) = (at(1.0), at(-1.0));
    for k in 0..12 {
        let want = (plus[k] - minus[k]) / (2.0 * eps);
        assert!(
            (got[k] - want).abs() <= 1e-6 + 1e-5 * want.abs(),
            "element {k}: autodiff {} vs finite differences {want}",
            got[k]
        );
    }
}
