//! The reference interpreter: the oracle every backend and every gradient is tested
//! against.
//!
//! It evaluates a graph node by node over ndarray host tensors, with each op written
//! in the most direct way (`scalar.rs` holds the per-element definitions, `kernels.rs`
//! the array code). It favours being obviously right over being fast.
//!
//! Runtime failures (bad inputs, an index out of range, an integer division by zero)
//! are [`RunError`]s that name the node, its op and its source span; inside a scan they
//! also give the step.
//!
//! # The semantics a backend must match
//! Where `graph.rs` leaves a choice open, this is the definition:
//! - float ops compute in the operand's type with the standard library's functions
//!   (`f32::powf`, `f64::exp`, …), one rounding per op, never a fused multiply-add
//!   (`rem` is `a - floor(a / b) * b`: four roundings); f32 `exp`, `log` and `tanh`
//!   are `rlp_runtime::math`'s plain-arithmetic definitions instead (≤ 2 ulp), which
//!   the JIT emits inline;
//! - `max`/`min`: NaN if either operand is NaN; the first operand on ties (so
//!   `max(-0.0, 0.0)` is `-0.0`);
//! - `sign`: -1 or 1 away from zero; its argument itself at ±0 and NaN;
//! - i32 `add`, `sub`, `mul`, `neg`, `abs` wrap; `div` truncates (`i32::MIN / -1` wraps
//!   to `i32::MIN`); `rem` is floored; `div` or `rem` by zero is a runtime error;
//! - `cast` is Rust's `as`: float → i32 truncates toward zero and saturates, NaN gives 0;
//!   to bool is `!= 0` (NaN gives true); from bool gives 0 or 1;
//! - `sum` folds each output element from 0 over its inputs in row-major order of the
//!   reduced axes, in the dtype (`((0 + x0) + x1) + …`); `reduce_max`/`reduce_min` fold
//!   from -inf/+inf (`i32::MIN`/`MAX`) with `max`/`min` above, so NaN propagates and
//!   an empty reduction gives the identity;
//! - `argmax`: the first maximum; NaN counts as the largest, so the first NaN wins;
//! - `matmul`: the `gemm` crate with `Parallelism::None` — its blocked, FMA-using
//!   accumulation order, not a naive dot product (a JIT calling gemm matches bit for
//!   bit; anything else compares with a tolerance);
//! - `random`: element `i` (row-major) is `rng::uniform`/`rng::normal(seed, stream, c0,
//!   c1, i)` rounded to the dtype;
//! - `gather`/`dyn_index` out of range: a runtime error naming the index; `one_hot` out
//!   of range: a zero row;
//! - `scan`: see [`Scan`]; per-step outputs of a zero-length scan are empty stacks.

mod kernels;
pub(crate) mod scalar;

use ndarray::Axis;
use rlp_runtime::{Executable, RunError, Tensor};

use crate::graph::{Graph, NodeId, Op, Scan, Type};
use crate::verify::{VerifyError, verify};

pub(crate) use kernels::apply;

/// Verifies `g`, checks `inputs` against its input types and evaluates it.
pub fn run(g: &Graph, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
    verify(g).map_err(|e| RunError::new(format!("invalid graph: {e}")))?;
    check_inputs(g, inputs)?;
    eval(g, &inputs.iter().collect::<Vec<_>>())
}

/// A verified graph, run by interpretation.
#[derive(Debug, Clone)]
pub struct Interpreter {
    graph: Graph,
}

impl Interpreter {
    /// Verifies `graph` once; [`Executable::run`] then only checks the inputs.
    pub fn new(graph: Graph) -> Result<Interpreter, VerifyError> {
        verify(&graph)?;
        Ok(Interpreter { graph })
    }

    /// The graph this interpreter runs.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

impl Executable for Interpreter {
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>, RunError> {
        check_inputs(&self.graph, inputs)?;
        eval(&self.graph, &inputs.iter().collect::<Vec<_>>())
    }
}

fn check_inputs(g: &Graph, inputs: &[Tensor]) -> Result<(), RunError> {
    if inputs.len() != g.inputs.len() {
        return Err(RunError::new(format!(
            "expected {} inputs, got {}",
            g.inputs.len(),
            inputs.len()
        )));
    }
    for (k, (t, ty)) in inputs.iter().zip(&g.inputs).enumerate() {
        if t.dtype() != ty.dtype || t.shape() != ty.shape.as_slice() {
            return Err(RunError::new(format!(
                "input {k}: expected {ty}, got {}{:?}",
                t.dtype(),
                t.shape()
            )));
        }
    }
    Ok(())
}

/// A node's value.
enum Value {
    Tensor(Tensor),
    /// A scan's results, read by `Project`.
    Tuple(Vec<Tensor>),
}

impl Value {
    fn tensor(&self) -> &Tensor {
        match self {
            Value::Tensor(t) => t,
            Value::Tuple(_) => unreachable!("a tuple used as a tensor (rejected by the verifier)"),
        }
    }
}

/// Evaluates a verified graph on inputs of the right types.
fn eval(g: &Graph, inputs: &[&Tensor]) -> Result<Vec<Tensor>, RunError> {
    let mut values: Vec<Value> = Vec::with_capacity(g.nodes.len());
    for id in g.ids() {
        let value = eval_node(g, id, &values, inputs).map_err(|f| locate(g, id, f))?;
        values.push(value);
    }
    Ok(g.outputs
        .iter()
        .map(|o| values[o.index()].tensor().clone())
        .collect())
}

/// `failure` prefixed with the node and its op; the error's origin is the innermost
/// known one (the op inside a scan's body that failed, else the node).
fn locate(g: &Graph, id: NodeId, failure: Failure) -> RunError {
    let node = g.node(id);
    RunError::new(format!("{id} ({}): {}", node.op.name(), failure.message))
        .with_origin(failure.origin)
        .with_origin(node.origin.map(Into::into))
}

/// Why a node could not be evaluated; `origin`: where, if inside a scan's body.
struct Failure {
    message: String,
    origin: Option<rlp_runtime::SourceSpan>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            origin: None,
        }
    }
}

fn eval_node(
    g: &Graph,
    id: NodeId,
    values: &[Value],
    inputs: &[&Tensor],
) -> Result<Value, Failure> {
    let node = g.node(id);
    let args: Vec<&Tensor> = match node.op {
        Op::Project(_) => vec![],
        _ => node
            .args
            .iter()
            .map(|a| values[a.index()].tensor())
            .collect(),
    };
    if !matches!(node.op, Op::Input(_) | Op::Project(_)) {
        probe_memory(&node.ty)?;
    }
    let value = match &node.op {
        Op::Input(k) => Value::Tensor(inputs[*k].clone()),
        Op::Project(k) => match &values[node.args[0].index()] {
            Value::Tuple(ts) => Value::Tensor(ts[*k].clone()),
            Value::Tensor(_) => unreachable!("project of a tensor (rejected by the verifier)"),
        },
        Op::Scan(scan) => Value::Tuple(eval_scan(scan, &node.ty, &args)?),
        op => Value::Tensor(apply(op, node.ty.tensor(), &args)?.into_standard()),
    };
    Ok(value)
}

/// Values at least this large are allocated once, fallibly, before the op makes them.
const PROBE_BYTES: u64 = 64 << 20;

/// Errs when the memory for a large value of type `ty` cannot be had: ndarray's own
/// allocations abort the process on failure, so a value too large for the machine is
/// asked for here first (and given back at once), making the failure an error.
fn probe_memory(ty: &Type) -> Result<(), String> {
    let types = match ty {
        Type::Tensor(t) => std::slice::from_ref(t),
        Type::Tuple(ts) => ts.as_slice(),
    };
    for t in types {
        let bytes = t.checked_bytes().unwrap_or(u64::MAX);
        if bytes >= PROBE_BYTES {
            let len = usize::try_from(bytes).unwrap_or(usize::MAX);
            let probe = rlp_runtime::memory::try_zeroed::<u8>(len)
                .map_err(|e| format!("out of memory: {e} for {t}"))?;
            // Kept opaque, or the compiler may drop an allocation nothing reads.
            drop(std::hint::black_box(probe));
        }
    }
    Ok(())
}

/// Runs the body once per step, visiting `t = 0..length` (or `length-1` down to `0`
/// when reversed), and stacks each step's outputs at index `t`.
fn eval_scan(scan: &Scan, ty: &Type, args: &[&Tensor]) -> Result<Vec<Tensor>, Failure> {
    let Type::Tuple(out_types) = ty else {
        unreachable!("a scan has a tuple type")
    };
    let (n_carry, n_seq) = (scan.n_carry, scan.n_seq);
    let (seqs, invariants) = args[n_carry..].split_at(n_seq);
    let mut carries: Vec<Tensor> = args[..n_carry].iter().map(|&t| t.clone()).collect();
    let mut stacked: Vec<Tensor> = out_types[n_carry..]
        .iter()
        .map(|t| Tensor::zeros(t.dtype, &t.shape))
        .collect();
    let steps: Vec<usize> = if scan.reverse {
        (0..scan.length).rev().collect()
    } else {
        (0..scan.length).collect()
    };
    for t in steps {
        let slices: Vec<Tensor> = seqs.iter().map(|s| kernels::index_axis0(s, t)).collect();
        let index = Tensor::I32(ndarray::arr0(t as i32).into_dyn());
        let inputs: Vec<&Tensor> = carries
            .iter()
            .chain(&slices)
            .chain(invariants.iter().copied())
            .chain([&index])
            .collect();
        let mut outs = eval(&scan.body, &inputs).map_err(|e| Failure {
            message: format!("at step {t}: {}", e.message),
            origin: e.origin,
        })?;
        let per_step = outs.split_off(n_carry);
        carries = outs;
        for (dst, src) in stacked.iter_mut().zip(&per_step) {
            set_row(dst, t, src);
        }
    }
    carries.extend(stacked);
    Ok(carries)
}

/// `dst[t] = src` along axis 0.
fn set_row(dst: &mut Tensor, t: usize, src: &Tensor) {
    use scalar::Elem;
    fn set<T: Elem>(dst: &mut Tensor, t: usize, src: &Tensor) {
        T::peek_mut(dst)
            .index_axis_mut(Axis(0), t)
            .assign(T::peek(src));
    }
    match src {
        Tensor::F32(_) => set::<f32>(dst, t, src),
        Tensor::F64(_) => set::<f64>(dst, t, src),
        Tensor::I32(_) => set::<i32>(dst, t, src),
        Tensor::Bool(_) => set::<bool>(dst, t, src),
    }
}

#[cfg(test)]
mod tests;
