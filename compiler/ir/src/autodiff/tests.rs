//! Gradient checks: every differentiable op, and the composites RL code is made of,
//! against central finite differences in f64; f32 gradients against the f64 ones.

use super::*;
use crate::graph::{BinaryOp::*, Distribution, ReduceOp, Scan, UnaryOp::*};
use crate::interp::run;
use crate::precision::to_f64;
use crate::verify::verify;
use rlp_runtime::{DType, Tensor, rng};
use std::ops::{Deref, DerefMut};

const EPS: f64 = 1e-6;
/// Finite differences against f64 gradients.
const FD_RTOL: f64 = 1e-3;
const FD_ATOL: f64 = 1e-6;
/// f32 gradients against f64 gradients.
const F32_RTOL: f64 = 2e-3;

/// A function to differentiate: a graph whose one output `y` may have any float
/// shape, and values for its inputs.
struct Case {
    name: String,
    graph: Graph,
    inputs: Vec<Tensor>,
}

/// Builds a case: the graph under construction plus the values of its inputs, drawn
/// from fixed seeds.
struct Builder {
    g: Graph,
    inputs: Vec<Tensor>,
}

impl Deref for Builder {
    type Target = Graph;
    fn deref(&self) -> &Graph {
        &self.g
    }
}

impl DerefMut for Builder {
    fn deref_mut(&mut self) -> &mut Graph {
        &mut self.g
    }
}

impl Builder {
    fn new() -> Builder {
        Builder {
            g: Graph::new(),
            inputs: vec![],
        }
    }

    fn tensor(&mut self, t: Tensor) -> NodeId {
        let ty = TensorType::new(t.dtype(), t.shape());
        self.inputs.push(t);
        self.g.add_input(ty)
    }

    /// An f32 input of `shape` filled by `f(stream, i)`, each input its own stream.
    fn draw(&mut self, shape: &[usize], f: impl Fn(u32, u64) -> f64) -> NodeId {
        let stream = self.inputs.len() as u32;
        let n = shape.iter().product::<usize>() as u64;
        let values: Vec<f64> = (0..n).map(|i| f(stream, i)).collect();
        self.tensor(Tensor::from_f64(DType::F32, shape, &values))
    }

    fn normal(&mut self, shape: &[usize]) -> NodeId {
        self.draw(shape, |s, i| rng::normal(7, s, 0, 0, i))
    }

    fn uniform(&mut self, shape: &[usize], lo: f64, hi: f64) -> NodeId {
        self.draw(shape, |s, i| lo + (hi - lo) * rng::uniform(7, s, 0, 0, i))
    }

    fn case(mut self, name: impl Into<String>, y: NodeId) -> Case {
        self.g.outputs = vec![y];
        Case {
            name: name.into(),
            graph: self.g,
            inputs: self.inputs,
        }
    }
}

/// `case`'s graph with the loss `sum(y * w)` appended, for fixed weights `w` that make
/// every element of `y` matter differently; returns the graph, the loss and the float
/// input nodes.
fn with_loss(case: &Case) -> (Graph, NodeId, Vec<NodeId>) {
    let mut g = case.graph.clone();
    let y = g.outputs[0];
    let ty = g.ty(y).clone();
    let w: Vec<f64> = (0..ty.numel() as u64)
        .map(|i| rng::normal(99, 0, 0, 0, i))
        .collect();
    let w = g
        .add_checked(Op::Literal(w.into()), vec![], ty.clone())
        .unwrap();
    let yw = g.binary(Mul, y, w).unwrap();
    let loss = g
        .reduce(ReduceOp::Sum, yw, (0..ty.rank()).collect())
        .unwrap();
    let wrt = g
        .ids()
        .filter(|&id| matches!(g.node(id).op, Op::Input(_)) && g.ty(id).dtype.is_float())
        .collect();
    g.outputs = vec![loss];
    (g, loss, wrt)
}

fn input_index(g: &Graph, id: NodeId) -> usize {
    let Op::Input(k) = g.node(id).op else {
        unreachable!()
    };
    k
}

fn widen(t: &Tensor) -> Tensor {
    if t.dtype() == DType::F32 {
        t.cast(DType::F64)
    } else {
        t.clone()
    }
}

/// `g` with the gradients of `loss` w.r.t. `wrt` as outputs, verified, run on `inputs`.
fn gradients(mut g: Graph, loss: NodeId, wrt: &[NodeId], inputs: &[Tensor]) -> Vec<Vec<f64>> {
    let grads = grad(&mut g, loss, wrt).unwrap();
    for (&w, &d) in wrt.iter().zip(&grads) {
        assert_eq!(g.ty(d), g.ty(w), "gradient type");
    }
    g.outputs = grads;
    verify(&g).unwrap_or_else(|e| panic!("{e}\n{g}"));
    run(&g, inputs)
        .unwrap_or_else(|e| panic!("{e}\n{g}"))
        .iter()
        .map(Tensor::to_f64_vec)
        .collect()
}

/// Central differences of the f64 loss w.r.t. every element of input `k`.
fn finite_differences(g: &Graph, inputs: &[Tensor], k: usize) -> Vec<f64> {
    let loss_at = |values: &[f64]| {
        let mut inputs = inputs.to_vec();
        inputs[k] = Tensor::from_f64(DType::F64, inputs[k].shape(), values);
        run(g, &inputs).unwrap()[0].scalar_f64().unwrap()
    };
    let x = inputs[k].to_f64_vec();
    (0..x.len())
        .map(|i| {
            let (mut plus, mut minus) = (x.clone(), x.clone());
            plus[i] += EPS;
            minus[i] -= EPS;
            (loss_at(&plus) - loss_at(&minus)) / (2.0 * EPS)
        })
        .collect()
}

/// Checks `case`'s gradients: f64 against finite differences, f32 against f64.
fn check(case: &Case) {
    let exact = check_differences(case);
    check_single_precision(case, &exact);
}

/// Checks the f64 gradients of every float input against central differences, and
/// returns them.
fn check_differences(case: &Case) -> Vec<Vec<f64>> {
    let (g, loss, wrt) = with_loss(case);
    let g64 = to_f64(&g);
    let inputs64: Vec<Tensor> = case.inputs.iter().map(widen).collect();
    let exact = gradients(g64.clone(), loss, &wrt, &inputs64);
    for (&w, d64) in wrt.iter().zip(&exact) {
        let k = input_index(&g, w);
        let what = format!("{}: d loss / d input {k}", case.name);
        assert!(
            d64.iter().all(|v| v.is_finite()),
            "{what}: not finite: {d64:?}"
        );
        let fd = finite_differences(&g64, &inputs64, k);
        for (i, (&a, &f)) in d64.iter().zip(&fd).enumerate() {
            assert!(
                (a - f).abs() <= FD_ATOL + FD_RTOL * a.abs().max(f.abs()),
                "{what}[{i}]: autodiff {a}, differences {f}"
            );
        }
    }
    exact
}

/// Checks the f32 gradients against the f64 ones.
fn check_single_precision(case: &Case, exact: &[Vec<f64>]) {
    let (g, loss, wrt) = with_loss(case);
    let single = gradients(g, loss, &wrt, &case.inputs);
    for (k, (d32, d64)) in single.iter().zip(exact).enumerate() {
        let what = format!("{}: d loss / d float input {k}", case.name);
        assert!(
            d32.iter().all(|v| v.is_finite()),
            "{what}: not finite: {d32:?}"
        );
        let scale = d64.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (i, (&s, &a)) in d32.iter().zip(d64).enumerate() {
            assert!(
                (s - a).abs() <= F32_RTOL * (a.abs() + 1e-2 * scale) + 1e-6,
                "{what}[{i}]: f32 {s}, f64 {a}"
            );
        }
    }
}

fn unary_cases() -> Vec<Case> {
    let mut cases = vec![];
    for op in [Neg, Exp, Tanh, Sin, Cos, Abs, Log, Sqrt] {
        let mut b = Builder::new();
        let x = if matches!(op, Log | Sqrt) {
            b.uniform(&[3, 4], 0.5, 2.0)
        } else {
            b.normal(&[3, 4])
        };
        let y = b.unary(op, x).unwrap();
        cases.push(b.case(format!("{op:?}"), y));
    }
    // Piecewise-constant ops contribute nothing: d/dx (x·sign(x) + floor(3x)) = sign(x).
    let mut b = Builder::new();
    let x = b.normal(&[3, 4]);
    let s = b.unary(Sign, x).unwrap();
    let xs = b.binary(Mul, x, s).unwrap();
    let x3 = b.binary_scalar(Mul, x, 3.0).unwrap();
    let f = b.unary(Floor, x3).unwrap();
    let y = b.binary(Add, xs, f).unwrap();
    cases.push(b.case("sign and floor", y));
    cases
}

fn binary_cases() -> Vec<Case> {
    let mut cases = vec![];
    for op in [Add, Sub, Mul, Div, Rem, Pow, Max, Min, Atan2] {
        let mut b = Builder::new();
        let (x, y) = match op {
            Div => (b.normal(&[3, 4]), b.uniform(&[3, 4], 0.5, 2.0)),
            Rem => (b.uniform(&[3, 4], -3.0, 3.0), b.uniform(&[3, 4], 0.5, 2.0)),
            Pow => (b.uniform(&[3, 4], 0.5, 2.0), b.normal(&[3, 4])),
            _ => (b.normal(&[3, 4]), b.normal(&[3, 4])),
        };
        let out = b.binary(op, x, y).unwrap();
        cases.push(b.case(format!("{op:?}"), out));
    }
    // The same node on both sides: contributions add up.
    let mut b = Builder::new();
    let x = b.normal(&[3]);
    let y = b.binary(Mul, x, x).unwrap();
    cases.push(b.case("x * x", y));
    cases
}

/// Every comparison and logical op builds the mask of a select.
fn select_cases() -> Vec<Case> {
    let mut b = Builder::new();
    let (x, y, z) = (b.normal(&[3, 4]), b.normal(&[3, 4]), b.normal(&[3, 4]));
    let lt = b.binary(Lt, x, y).unwrap();
    let le = b.binary(Le, y, z).unwrap();
    let gt = b.binary(Gt, x, z).unwrap();
    let ge = b.binary(Ge, z, y).unwrap();
    let eq = b.binary(Eq, x, y).unwrap();
    let ne = b.binary(Ne, x, y).unwrap();
    let not_lt = b.unary(Not, lt).unwrap();
    let a = b.binary(And, not_lt, le).unwrap();
    let o = b.binary(Or, a, gt).unwrap();
    let o = b.binary(And, o, ge).unwrap();
    let o = b.binary(Or, o, eq).unwrap();
    let mask = b.binary(And, o, ne).unwrap();
    let xz = b.binary(Mul, x, z).unwrap();
    let ey = b.unary(Exp, y).unwrap();
    let out = b.select(mask, xz, ey).unwrap();
    let mut cases = vec![b.case("select with every comparison", out)];

    // log(x) is NaN where x < 0, in the branch select does not take.
    let mut b = Builder::new();
    let x = b.normal(&[3, 4]);
    let zero = b.full(&TensorType::new(DType::F32, [3, 4]), 0.0).unwrap();
    let pos = b.binary(Gt, x, zero).unwrap();
    let log = b.unary(Log, x).unwrap();
    let sq = b.binary(Mul, x, x).unwrap();
    let out = b.select(pos, log, sq).unwrap();
    cases.push(b.case("select with NaN in the other branch", out));
    cases
}

fn cast_cases() -> Vec<Case> {
    let mut b = Builder::new();
    let x = b.normal(&[3, 4]);
    let wide = b.cast(x, DType::F64).unwrap();
    let sq = b.binary(Mul, wide, wide).unwrap();
    let narrow = b.cast(sq, DType::F32).unwrap();
    // A detour through i32 carries no gradient.
    let x3 = b.binary_scalar(Mul, x, 3.0).unwrap();
    let int = b.cast(x3, DType::I32).unwrap();
    let back = b.cast(int, DType::F32).unwrap();
    let xb = b.binary(Mul, x, back).unwrap();
    let out = b.binary(Add, narrow, xb).unwrap();
    vec![b.case("cast", out)]
}

fn broadcast_cases() -> Vec<Case> {
    let shapes: [(&[usize], &[usize]); 6] = [
        (&[], &[3, 4]),
        (&[4], &[3, 4]),
        (&[3, 1], &[3, 4]),
        (&[3, 1, 2], &[3, 5, 2]),
        (&[1, 2], &[3, 5, 2]),
        (&[1], &[1]),
    ];
    shapes
        .iter()
        .map(|&(from, to)| {
            let mut b = Builder::new();
            let p = b.normal(from);
            let x = b.normal(to);
            let pb = b.broadcast(p, to).unwrap();
            let pb = if from == to {
                b.add_checked(Op::Broadcast, vec![p], TensorType::new(DType::F32, to))
                    .unwrap()
            } else {
                pb
            };
            let out = b.binary(Mul, pb, x).unwrap();
            b.case(format!("broadcast {from:?} to {to:?}"), out)
        })
        .collect()
}

fn layout_cases() -> Vec<Case> {
    let mut cases = vec![];
    let mut b = Builder::new();
    let x = b.normal(&[3, 4]);
    let y = b.reshape(x, &[2, 6]).unwrap();
    cases.push(b.case("reshape", y));

    let mut b = Builder::new();
    let x = b.normal(&[2, 3, 4]);
    let y = b.transpose(x, vec![2, 0, 1]).unwrap();
    cases.push(b.case("transpose", y));

    let mut b = Builder::new();
    let x = b.normal(&[5, 3]);
    let y = b.slice(x, 0, 1, 4).unwrap();
    cases.push(b.case("slice", y));

    let mut b = Builder::new();
    let x = b.normal(&[3, 4]);
    let y = b.pad(x, 1, 2, 1).unwrap();
    cases.push(b.case("pad", y));

    let mut b = Builder::new();
    let (x, y) = (b.normal(&[2, 3]), b.normal(&[1, 3]));
    let out = b.add(Op::Concat { axis: 0 }, vec![x, y, x]).unwrap();
    cases.push(b.case("concat", out));
    cases
}

fn reduce_cases() -> Vec<Case> {
    let specs: [(ReduceOp, &[usize]); 6] = [
        (ReduceOp::Sum, &[1]),
        (ReduceOp::Sum, &[0, 2]),
        (ReduceOp::Sum, &[0, 1, 2]),
        (ReduceOp::Max, &[1]),
        (ReduceOp::Min, &[0, 2]),
        (ReduceOp::Max, &[0, 1, 2]),
    ];
    specs
        .iter()
        .map(|&(op, axes)| {
            let mut b = Builder::new();
            let x = b.normal(&[2, 3, 4]);
            let y = b.reduce(op, x, axes.to_vec()).unwrap();
            b.case(format!("{op:?} over {axes:?}"), y)
        })
        .collect()
}

/// Ops with integer results or no float inputs, inside differentiable expressions.
fn index_cases() -> Vec<Case> {
    let mut cases = vec![];
    let mut b = Builder::new();
    let x = b.normal(&[3, 4]);
    let am = b.add(Op::ArgMax { axis: 1 }, vec![x]).unwrap();
    let hot = b.one_hot(am, 4, DType::F32).unwrap();
    let y = b.binary(Mul, hot, x).unwrap();
    cases.push(b.case("argmax and one_hot", y));

    let mut b = Builder::new();
    let x = b.normal(&[3, 4]);
    let idx = b
        .add_checked(
            Op::Literal([2.0, 0.0, 3.0].into()),
            vec![],
            TensorType::new(DType::I32, [3]),
        )
        .unwrap();
    let y = b.add(Op::Gather, vec![x, idx]).unwrap();
    cases.push(b.case("gather", y));

    let mut b = Builder::new();
    let x = b.normal(&[5, 3]);
    let t = b.tensor(Tensor::from_f64(DType::I32, &[], &[2.0]));
    let y = b.add(Op::DynIndex, vec![x, t]).unwrap();
    cases.push(b.case("dyn_index", y));

    // Row 3 is picked twice: its gradient is the sum of both.
    let mut b = Builder::new();
    let x = b.normal(&[5, 2]);
    let idx = b.tensor(Tensor::from_f64(DType::I32, &[4], &[3.0, 0.0, 3.0, 4.0]));
    let y = b.add(Op::TakeRows, vec![x, idx]).unwrap();
    cases.push(b.case("take_rows", y));

    // Row 1 is written twice: only the later write reaches the result.
    for accumulate in [false, true] {
        let mut b = Builder::new();
        let x = b.normal(&[4, 3]);
        let idx = b.tensor(Tensor::from_f64(DType::I32, &[3], &[1.0, 3.0, 1.0]));
        let rows = b.normal(&[3, 3]);
        let y = b
            .add(Op::PutRows { accumulate }, vec![x, idx, rows])
            .unwrap();
        cases.push(b.case(&format!("put_rows accumulate={accumulate}"), y));
    }

    for reverse in [false, true] {
        let mut b = Builder::new();
        let x = b.normal(&[2, 5]);
        let y = b.add(Op::CumSum { reverse }, vec![x]).unwrap();
        cases.push(b.case(&format!("cumsum reverse={reverse}"), y));
    }

    // Which bin each value falls in, times the values: a gradient through the values.
    let mut b = Builder::new();
    let edges = b
        .add_checked(
            Op::Literal([-1.0, 0.0, 0.5, 1.0].into()),
            vec![],
            TensorType::new(DType::F32, [4]),
        )
        .unwrap();
    let v = b.normal(&[4]);
    let bin = b.add(Op::SearchSorted, vec![edges, v]).unwrap();
    let bin = b.cast(bin, DType::F32).unwrap();
    let y = b.binary(Mul, bin, v).unwrap();
    cases.push(b.case("search_sorted", y));

    let mut b = Builder::new();
    let x = b.normal(&[3, 4]);
    let i = b.iota(&[3, 4], 1).unwrap();
    let i = b.cast(i, DType::F32).unwrap();
    let (c0, c1) = (b.constant(DType::I32, 1.0), b.constant(DType::I32, 2.0));
    let ty = TensorType::new(DType::F32, [3, 4]);
    let u = b
        .add_checked(
            Op::Random {
                dist: Distribution::Uniform,
                seed: 3,
                stream: 1,
            },
            vec![c0, c1],
            ty.clone(),
        )
        .unwrap();
    let n = b
        .add_checked(
            Op::Random {
                dist: Distribution::Normal,
                seed: 3,
                stream: 2,
            },
            vec![c0, c1],
            ty,
        )
        .unwrap();
    let xi = b.binary(Mul, x, i).unwrap();
    let xu = b.binary(Mul, xi, u).unwrap();
    let y = b.binary(Add, xu, n).unwrap();
    cases.push(b.case("iota and random", y));
    cases
}

fn matmul_case() -> Case {
    let mut b = Builder::new();
    let (x, w) = (b.normal(&[3, 4]), b.normal(&[4, 2]));
    let y = b.add(Op::MatMul, vec![x, w]).unwrap();
    b.case("matmul", y)
}

/// Three independent products at once (an ensemble's layer): each member's gradient
/// must come only from its own product.
fn batched_matmul_case() -> Case {
    let mut b = Builder::new();
    let (x, w) = (b.normal(&[3, 2, 4]), b.normal(&[3, 4, 5]));
    let y = b.add(Op::MatMul, vec![x, w]).unwrap();
    b.case("batched matmul", y)
}

/// The 3 largest of each row of 6, as `top_k`'s values are built: positions from
/// `TopK` (no gradient of their own), the values gathered there, so the gradient
/// reaches exactly the picked elements.
fn top_k_values_case() -> Case {
    let mut b = Builder::new();
    let x = b.normal(&[4, 6]);
    let idx = b.add(Op::TopK { k: 3 }, vec![x]).unwrap();
    let x1 = b.reshape(x, &[4, 1, 6]).unwrap();
    let wide = b.broadcast(x1, &[4, 3, 6]).unwrap();
    let y = b.add(Op::Gather, vec![wide, idx]).unwrap();
    b.case("top-k values", y)
}

/// `acc = r[t] + gamma * (1 - done[t]) * acc`, backwards over `T` steps of `N` envs;
/// `y` is the stacked returns followed by the final carry.
fn discounted_returns(steps: usize) -> Case {
    const N: usize = 3;
    let f = |s: &[usize]| TensorType::new(DType::F32, s);
    let mut body = Graph::new();
    let acc = body.add_input(f(&[N]));
    let r = body.add_input(f(&[N]));
    let done = body.add_input(f(&[N]));
    let gamma = body.add_input(f(&[]));
    body.add_input(TensorType::scalar(DType::I32));
    let one = body.full(&f(&[N]), 1.0).unwrap();
    let live = body.binary(Sub, one, done).unwrap();
    let gamma = body.broadcast(gamma, &[N]).unwrap();
    let discount = body.binary(Mul, gamma, live).unwrap();
    let future = body.binary(Mul, discount, acc).unwrap();
    let new = body.binary(Add, r, future).unwrap();
    body.outputs = vec![new, new];

    let mut b = Builder::new();
    let init = b.normal(&[N]);
    let r = b.normal(&[steps, N]);
    let done: Vec<f64> = (0..steps * N)
        .map(|i| if i % 4 == 1 { 1.0 } else { 0.0 })
        .collect();
    let done = b.tensor(Tensor::from_f64(DType::F32, &[steps, N], &done));
    let gamma = b.uniform(&[], 0.8, 0.99);
    let scan = Scan {
        length: steps,
        reverse: true,
        n_carry: 1,
        n_seq: 2,
        body,
    };
    let s = b
        .add(Op::Scan(Box::new(scan)), vec![init, r, done, gamma])
        .unwrap();
    let last = b.project(s, 0).unwrap();
    let returns = b.project(s, 1).unwrap();
    let last = b.reshape(last, &[1, N]).unwrap();
    let y = b.add(Op::Concat { axis: 0 }, vec![returns, last]).unwrap();
    b.case(format!("discounted returns over {steps} steps"), y)
}

/// `h = tanh(h * a + x[t] * k); s = s + h * h`, forwards, emitting `h` each step.
fn two_carries() -> Case {
    const N: usize = 4;
    let f = |s: &[usize]| TensorType::new(DType::F32, s);
    let mut body = Graph::new();
    let h = body.add_input(f(&[N]));
    let s = body.add_input(f(&[N]));
    let x = body.add_input(f(&[N]));
    let a = body.add_input(f(&[N]));
    let k = body.add_input(f(&[]));
    body.add_input(TensorType::scalar(DType::I32));
    let ha = body.binary(Mul, h, a).unwrap();
    let k = body.broadcast(k, &[N]).unwrap();
    let xk = body.binary(Mul, x, k).unwrap();
    let pre = body.binary(Add, ha, xk).unwrap();
    let h2 = body.unary(Tanh, pre).unwrap();
    let hh = body.binary(Mul, h2, h2).unwrap();
    let s2 = body.binary(Add, s, hh).unwrap();
    body.outputs = vec![h2, s2, h2];

    let mut b = Builder::new();
    let (h0, s0, xs, a, k) = (
        b.normal(&[N]),
        b.normal(&[N]),
        b.normal(&[6, N]),
        b.normal(&[N]),
        b.normal(&[]),
    );
    let scan = Scan {
        length: 6,
        reverse: false,
        n_carry: 2,
        n_seq: 1,
        body,
    };
    let sc = b
        .add(Op::Scan(Box::new(scan)), vec![h0, s0, xs, a, k])
        .unwrap();
    let hs = b.project(sc, 2).unwrap();
    let s_last = b.project(sc, 1).unwrap();
    let s_last = b.reshape(s_last, &[1, N]).unwrap();
    let y = b.add(Op::Concat { axis: 0 }, vec![hs, s_last]).unwrap();
    b.case("forward scan with two carries", y)
}

/// `c = c * table[t] + x[t]`: the step index reads an invariant.
fn indexed_invariant() -> Case {
    let f = |s: &[usize]| TensorType::new(DType::F32, s);
    let mut body = Graph::new();
    let c = body.add_input(f(&[2]));
    let x = body.add_input(f(&[2]));
    let table = body.add_input(f(&[5, 2]));
    let t = body.add_input(TensorType::scalar(DType::I32));
    let row = body.add(Op::DynIndex, vec![table, t]).unwrap();
    let cr = body.binary(Mul, c, row).unwrap();
    let c2 = body.binary(Add, cr, x).unwrap();
    body.outputs = vec![c2];

    let mut b = Builder::new();
    let (c0, xs, table) = (b.normal(&[2]), b.normal(&[5, 2]), b.normal(&[5, 2]));
    let scan = Scan {
        length: 5,
        reverse: false,
        n_carry: 1,
        n_seq: 1,
        body,
    };
    let s = b
        .add(Op::Scan(Box::new(scan)), vec![c0, xs, table])
        .unwrap();
    let y = b.project(s, 0).unwrap();
    b.case("scan indexing an invariant by t", y)
}

/// An outer forward scan whose body runs an inner reverse scan.
fn nested_scans() -> Case {
    let f = |s: &[usize]| TensorType::new(DType::F32, s);
    let mut inner = Graph::new();
    let acc = inner.add_input(f(&[2]));
    let row = inner.add_input(f(&[2]));
    let v = inner.add_input(f(&[2]));
    inner.add_input(TensorType::scalar(DType::I32));
    let half = inner.binary_scalar(Mul, acc, 0.5).unwrap();
    let rv = inner.binary(Mul, row, v).unwrap();
    let acc2 = inner.binary(Add, half, rv).unwrap();
    inner.outputs = vec![acc2];

    let mut outer = Graph::new();
    let v = outer.add_input(f(&[2]));
    let xt = outer.add_input(f(&[4, 2]));
    outer.add_input(TensorType::scalar(DType::I32));
    let zero = outer.full(&f(&[2]), 0.0).unwrap();
    let scan = Scan {
        length: 4,
        reverse: true,
        n_carry: 1,
        n_seq: 1,
        body: inner,
    };
    let s = outer
        .add(Op::Scan(Box::new(scan)), vec![zero, xt, v])
        .unwrap();
    let total = outer.project(s, 0).unwrap();
    let v2 = outer.unary(Tanh, total).unwrap();
    outer.outputs = vec![v2, v2];

    let mut b = Builder::new();
    let (v0, xs) = (b.normal(&[2]), b.normal(&[3, 4, 2]));
    let scan = Scan {
        length: 3,
        reverse: false,
        n_carry: 1,
        n_seq: 1,
        body: outer,
    };
    let s = b.add(Op::Scan(Box::new(scan)), vec![v0, xs]).unwrap();
    let y = b.project(s, 1).unwrap();
    b.case("nested scans", y)
}

/// `mean(-log_softmax(logits)[a] * adv)` with a max-shifted log-softmax.
fn policy_gradient() -> Case {
    let mut b = Builder::new();
    let logits = b.normal(&[4, 3]);
    let actions = b.tensor(Tensor::from_f64(DType::I32, &[4], &[2.0, 0.0, 1.0, 2.0]));
    let adv = b.normal(&[4]);
    let max = b.reduce(ReduceOp::Max, logits, vec![1]).unwrap();
    let max = b.reshape(max, &[4, 1]).unwrap();
    let max = b.broadcast(max, &[4, 3]).unwrap();
    let z = b.binary(Sub, logits, max).unwrap();
    let e = b.unary(Exp, z).unwrap();
    let s = b.reduce(ReduceOp::Sum, e, vec![1]).unwrap();
    let ls = b.unary(Log, s).unwrap();
    let ls = b.reshape(ls, &[4, 1]).unwrap();
    let ls = b.broadcast(ls, &[4, 3]).unwrap();
    let logp = b.binary(Sub, z, ls).unwrap();
    let picked = b.add(Op::Gather, vec![logp, actions]).unwrap();
    let weighted = b.binary(Mul, picked, adv).unwrap();
    let total = b.reduce(ReduceOp::Sum, weighted, vec![0]).unwrap();
    let mean = b.binary_scalar(Div, total, 4.0).unwrap();
    let loss = b.unary(Neg, mean).unwrap();
    b.case("policy gradient", loss)
}

/// `mean((tanh(x W1 + b1) W2 + b2 - target)^2)`.
fn mlp() -> Case {
    let mut b = Builder::new();
    let x = b.normal(&[5, 3]);
    let (w1, b1, w2, b2) = (
        b.normal(&[3, 4]),
        b.normal(&[4]),
        b.normal(&[4, 2]),
        b.normal(&[2]),
    );
    let target = b.normal(&[5, 2]);
    let h = b.add(Op::MatMul, vec![x, w1]).unwrap();
    let b1 = b.broadcast(b1, &[5, 4]).unwrap();
    let h = b.binary(Add, h, b1).unwrap();
    let h = b.unary(Tanh, h).unwrap();
    let o = b.add(Op::MatMul, vec![h, w2]).unwrap();
    let b2 = b.broadcast(b2, &[5, 2]).unwrap();
    let o = b.binary(Add, o, b2).unwrap();
    let err = b.binary(Sub, o, target).unwrap();
    let sq = b.binary(Mul, err, err).unwrap();
    let total = b.reduce(ReduceOp::Sum, sq, vec![0, 1]).unwrap();
    let mean = b.binary_scalar(Div, total, 10.0).unwrap();
    b.case("mlp", mean)
}

fn cases() -> Vec<Case> {
    let mut cases = vec![];
    cases.extend(unary_cases());
    cases.extend(binary_cases());
    cases.extend(select_cases());
    cases.extend(cast_cases());
    cases.extend(broadcast_cases());
    cases.extend(layout_cases());
    cases.extend(reduce_cases());
    cases.extend(index_cases());
    cases.push(matmul_case());
    cases.push(batched_matmul_case());
    cases.push(top_k_values_case());
    cases.extend([0, 1, 5].map(discounted_returns));
    cases.extend([
        two_carries(),
        indexed_invariant(),
        nested_scans(),
        policy_gradient(),
        mlp(),
    ]);
    cases
}

macro_rules! gradient_tests {
    ($($name:ident: $cases:expr;)*) => {$(
        #[test]
        fn $name() {
            for case in $cases {
                check(&case);
            }
        }
    )*};
}

gradient_tests! {
    unary_ops: unary_cases();
    binary_ops: binary_cases();
    select_and_masks: select_cases();
    casts: cast_cases();
    broadcasts: broadcast_cases();
    layout_ops: layout_cases();
    reductions: reduce_cases();
    index_ops: index_cases();
    matmul: [matmul_case()];
    reverse_scan_discounted_returns: [0, 1, 5].map(discounted_returns);
    forward_scan_two_carries: [two_carries()];
    scan_indexing_an_invariant: [indexed_invariant()];
    nested_scan: [nested_scans()];
    policy_gradient_loss: [policy_gradient()];
    mlp_mean_loss: [mlp()];
}

/// A random composition of smooth elementwise ops over three `[3]` inputs: each
/// instruction `(op, a, b)` applies op `op` to earlier values `a` and `b` (taken modulo
/// the number of values so far).
fn random_composition(program: &[(u8, usize, usize)]) -> Case {
    let mut b = Builder::new();
    let mut values: Vec<NodeId> = (0..3).map(|_| b.uniform(&[3], -1.0, 1.0)).collect();
    for &(op, x, y) in program {
        let (x, y) = (values[x % values.len()], values[y % values.len()]);
        let v = match op % 7 {
            0 => b.binary(Add, x, y),
            1 => b.binary(Sub, x, y),
            2 => b.binary(Mul, x, y),
            3 => b.unary(Tanh, x),
            4 => b.unary(Sin, x),
            5 => b.unary(Cos, x),
            _ => b.unary(Neg, x),
        };
        values.push(v.unwrap());
    }
    let last = *values.last().unwrap();
    b.case(format!("{program:?}"), last)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn random_compositions_match_finite_differences(
        program in proptest::collection::vec((0u8..7, 0usize..16, 0usize..16), 1..10),
    ) {
        check_differences(&random_composition(&program));
    }
}

/// `sum(x * stop(x))`: the gradient is `x`, not `2x`.
fn stop_graph() -> (Graph, NodeId, NodeId) {
    let mut g = Graph::new();
    let x = g.add_input(TensorType::new(DType::F64, [3]));
    let s = g.add(Op::StopGradient, vec![x]).unwrap();
    let xs = g.binary(Mul, x, s).unwrap();
    let loss = g.reduce(ReduceOp::Sum, xs, vec![0]).unwrap();
    (g, loss, x)
}

#[test]
fn stop_blocks_the_gradient() {
    let (mut g, loss, x) = stop_graph();
    let d = grad(&mut g, loss, &[x]).unwrap();
    g.outputs = d;
    let xv = Tensor::from_f64(DType::F64, &[3], &[1.0, -2.0, 3.0]);
    assert_eq!(run(&g, std::slice::from_ref(&xv)).unwrap()[0], xv);
}

/// The gradient w.r.t. an input the loss ignores is zeros of its type.
#[test]
fn an_unused_input_gets_zeros() {
    let mut g = Graph::new();
    let x = g.add_input(TensorType::new(DType::F32, [2]));
    let unused = g.add_input(TensorType::new(DType::F32, [2, 2]));
    let loss = g.reduce(ReduceOp::Sum, x, vec![0]).unwrap();
    let d = grad(&mut g, loss, &[unused]).unwrap();
    g.outputs = d;
    let out = run(
        &g,
        &[
            Tensor::zeros(DType::F32, &[2]),
            Tensor::zeros(DType::F32, &[2, 2]),
        ],
    )
    .unwrap();
    assert_eq!(out[0], Tensor::zeros(DType::F32, &[2, 2]));
}

/// Gradient graphs contain nothing for values off the path from `wrt` to the loss.
#[test]
fn only_the_active_path_is_differentiated() {
    let mut g = Graph::new();
    let x = g.add_input(TensorType::new(DType::F32, [2]));
    let c = g.add_input(TensorType::new(DType::F32, [2]));
    let e = g.unary(Exp, c).unwrap();
    let t = g.unary(Tanh, e).unwrap();
    let xt = g.binary(Add, x, t).unwrap();
    let loss = g.reduce(ReduceOp::Sum, xt, vec![0]).unwrap();
    let before = g.nodes.len();
    grad(&mut g, loss, &[x]).unwrap();
    let added: Vec<&str> = g.nodes[before..].iter().map(|n| n.op.name()).collect();
    assert_eq!(added, ["const", "broadcast"], "{g}");
}

#[test]
fn max_ties_go_to_the_first_operand_and_reduce_max_ties_split() {
    let mut g = Graph::new();
    let a = g.add_input(TensorType::new(DType::F64, [3]));
    let b = g.add_input(TensorType::new(DType::F64, [3]));
    let m = g.binary(Max, a, b).unwrap();
    let r = g.reduce(ReduceOp::Max, a, vec![0]).unwrap();
    let sm = g.reduce(ReduceOp::Sum, m, vec![0]).unwrap();
    let loss = g.binary(Add, sm, r).unwrap();
    g.outputs = grad(&mut g, loss, &[a, b]).unwrap();
    let av = Tensor::from_f64(DType::F64, &[3], &[1.0, 3.0, 3.0]);
    let bv = Tensor::from_f64(DType::F64, &[3], &[1.0, 5.0, 0.0]);
    let out = run(&g, &[av, bv]).unwrap();
    assert_eq!(out[0].to_f64_vec(), [1.0, 0.5, 1.5]);
    assert_eq!(out[1].to_f64_vec(), [0.0, 1.0, 0.0]);
}

/// Differentiating twice through one scan reuses the carries the first pass emitted.
#[test]
fn a_scan_differentiated_twice_emits_its_carries_once() {
    let case = discounted_returns(4);
    let (mut g, loss, wrt) = with_loss(&case);
    let d1 = grad(&mut g, loss, &wrt).unwrap();
    let scan = g
        .ids()
        .find(|&i| matches!(g.node(i).op, Op::Scan(_)))
        .unwrap();
    let ty = g.node(scan).ty.clone();
    let d2 = grad(&mut g, loss, &wrt).unwrap();
    assert_eq!(g.node(scan).ty, ty);
    g.outputs = d1.into_iter().chain(d2).collect();
    verify(&g).unwrap();
    let out = run(&g, &case.inputs).unwrap();
    let (first, second) = out.split_at(wrt.len());
    assert_eq!(first, second);
}

#[test]
fn rejects_bad_requests() {
    let mut g = Graph::new();
    let x = g.add_input(TensorType::new(DType::F32, [2]));
    let i = g.add_input(TensorType::new(DType::I32, []));
    let s = g.reduce(ReduceOp::Sum, x, vec![0]).unwrap();
    assert!(matches!(
        grad(&mut g, x, &[x]),
        Err(AutodiffError::LossNotScalar { .. })
    ));
    assert!(matches!(
        grad(&mut g, i, &[x]),
        Err(AutodiffError::LossNotScalar { .. })
    ));
    assert!(matches!(
        grad(&mut g, s, &[i]),
        Err(AutodiffError::NotFloat { .. })
    ));
    assert!(matches!(
        grad(&mut g, s, &[NodeId(99)]),
        Err(AutodiffError::NoSuchNode(_))
    ));
    assert!(matches!(
        vjp(&mut g, &[(s, x)], &[x]),
        Err(AutodiffError::CotangentType { .. })
    ));
    g.nodes[2].args[0] = NodeId(5);
    assert!(matches!(
        grad(&mut g, s, &[x]),
        Err(AutodiffError::Invalid(_))
    ));
}

/// Gradient nodes point at the source of the forward node they differentiate.
#[test]
fn gradient_nodes_inherit_the_source_span() {
    let mut g = Graph::new();
    let x = g.add_input(TensorType::new(DType::F32, [2]));
    let e = g.unary(Exp, x).unwrap();
    let span = crate::graph::Origin {
        file: 1,
        start: 4,
        end: 9,
        called_from: None,
    };
    g.nodes[e.index()].origin = Some(span);
    let loss = g.reduce(ReduceOp::Sum, e, vec![0]).unwrap();
    let d = grad(&mut g, loss, &[x]).unwrap()[0];
    assert_eq!(g.node(d).op, Op::Binary(Mul));
    assert_eq!(g.node(d).origin, Some(span));
}

/// A distinct number for every op variant. There is no wildcard: a new variant fails
/// to compile here; give it the next number, raise [`KINDS`], and add a case using it.
fn kind(op: &Op) -> usize {
    use crate::graph::UnaryOp;
    match op {
        Op::Input(_) => 0,
        Op::Const(_) => 1,
        Op::Literal(_) => 2,
        Op::Unary(u) => match u {
            UnaryOp::Neg => 3,
            UnaryOp::Exp => 4,
            UnaryOp::Log => 5,
            UnaryOp::Sqrt => 6,
            UnaryOp::Tanh => 7,
            UnaryOp::Sin => 8,
            UnaryOp::Cos => 9,
            UnaryOp::Abs => 10,
            UnaryOp::Sign => 11,
            UnaryOp::Floor => 12,
            UnaryOp::Not => 13,
        },
        Op::Binary(b) => match b {
            Add => 14,
            Sub => 15,
            Mul => 16,
            Div => 17,
            Rem => 18,
            Pow => 19,
            Max => 20,
            Min => 21,
            Atan2 => 22,
            Lt => 23,
            Le => 24,
            Gt => 25,
            Ge => 26,
            Eq => 27,
            Ne => 28,
            And => 29,
            Or => 30,
        },
        Op::Select => 31,
        Op::Cast => 32,
        Op::Broadcast => 33,
        Op::Reshape => 34,
        Op::Transpose(_) => 35,
        Op::Reduce { op, .. } => match op {
            ReduceOp::Sum => 36,
            ReduceOp::Max => 37,
            ReduceOp::Min => 38,
        },
        Op::ArgMax { .. } => 39,
        Op::MatMul => 40,
        Op::Slice { .. } => 41,
        Op::Pad { .. } => 42,
        Op::Concat { .. } => 43,
        Op::Gather => 44,
        Op::OneHot { .. } => 45,
        Op::DynIndex => 46,
        Op::Iota { .. } => 47,
        Op::Random { dist, .. } => match dist {
            Distribution::Uniform => 48,
            Distribution::Normal => 49,
        },
        Op::StopGradient => 50,
        Op::Scan(_) => 51,
        Op::Project(_) => 52,
        Op::TakeRows => 53,
        Op::PutRows { accumulate } => 54 + usize::from(*accumulate),
        Op::CumSum { .. } => 56,
        Op::SearchSorted => 57,
        Op::TopK { .. } => 58,
    }
}

const KINDS: usize = 59;

fn collect_kinds(g: &Graph, seen: &mut [bool]) {
    for node in &g.nodes {
        seen[kind(&node.op)] = true;
        if let Op::Scan(scan) = &node.op {
            collect_kinds(&scan.body, seen);
        }
    }
}

/// Every op appears in a graph whose gradient is checked.
#[test]
fn every_op_is_differentiated_in_some_case() {
    let mut seen = vec![false; KINDS];
    for case in cases() {
        collect_kinds(&case.graph, &mut seen);
    }
    collect_kinds(&stop_graph().0, &mut seen);
    let missing: Vec<usize> = (0..KINDS).filter(|&k| !seen[k]).collect();
    assert!(
        missing.is_empty(),
        "op kinds without a gradient case: {missing:?}"
    );
}
