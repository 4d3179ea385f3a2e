//! The tensor graph: an SSA arena of typed nodes.
//!
//! Invariants (checked by [`crate::verify`]):
//! - nodes are in topological order: every argument of node `i` has an id `< i`;
//! - every node's `ty` is what [`crate::types::infer`] gives for its op and arguments;
//! - `Input(k)` nodes have `k < inputs.len()` and type `inputs[k]`;
//! - only `Scan` nodes have tuple types, and only `Project` reads them.
//!
//! Binary and select ops take operands of one shape: broadcasting is explicit
//! (`Broadcast` nodes), which keeps every backend and every adjoint simple.

use rlp_runtime::DType;
use std::sync::Arc;

/// A node handle. Prints as `%N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// The type of a tensor value: element type and concrete shape (rank 0 is a scalar).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorType {
    pub fn new(dtype: DType, shape: impl Into<Vec<usize>>) -> TensorType {
        TensorType {
            dtype,
            shape: shape.into(),
        }
    }
    pub fn scalar(dtype: DType) -> TensorType {
        TensorType {
            dtype,
            shape: vec![],
        }
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    /// The size of a tensor of this type in bytes; `None` when the element count or the
    /// size overflows, or exceeds `isize::MAX` (more than any allocation can hold).
    pub fn checked_bytes(&self) -> Option<u64> {
        let bytes = self
            .shape
            .iter()
            .try_fold(self.dtype.size_bytes() as u64, |n, &d| {
                n.checked_mul(d as u64)
            })?;
        (bytes <= isize::MAX as u64).then_some(bytes)
    }
}

impl std::fmt::Display for TensorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{d}")?;
        }
        f.write_str("]")
    }
}

/// A node's type: one tensor, or (for `Scan` only) a tuple of tensors.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Tensor(TensorType),
    Tuple(Vec<TensorType>),
}

impl Type {
    /// The tensor type; panics on a tuple (a verifier-guaranteed programming error).
    pub fn tensor(&self) -> &TensorType {
        match self {
            Type::Tensor(t) => t,
            Type::Tuple(_) => panic!("tuple-typed node used as a tensor"),
        }
    }
    pub fn as_tensor(&self) -> Option<&TensorType> {
        match self {
            Type::Tensor(t) => Some(t),
            Type::Tuple(_) => None,
        }
    }
}

/// Where in the program a node came from, for runtime errors ("NaN produced by …").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Origin {
    /// Index into the driver's source table.
    pub file: u32,
    pub start: u32,
    pub end: u32,
    /// For a node written in another file than the program's call that led to it (the
    /// body of a stdlib or library function): that outermost call, so an error can show
    /// the user's own line as well as the library's.
    pub called_from: Option<Site>,
}

pub use rlp_runtime::Site;

impl From<Origin> for rlp_runtime::SourceSpan {
    fn from(o: Origin) -> Self {
        rlp_runtime::SourceSpan {
            file: o.file,
            start: o.start,
            end: o.end,
            called_from: o.called_from,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Tanh,
    Sin,
    Cos,
    Abs,
    /// -1, 0 or 1 (0 at 0).
    Sign,
    Floor,
    /// Logical not; bool only.
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// Float division; for i32, division truncating toward zero.
    Div,
    /// Floored modulo: `a - floor(a / b) * b` (the sign of `b`, as in Python).
    Rem,
    Pow,
    Max,
    Min,
    /// `atan2(a, b)`.
    Atan2,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    /// Logical and/or; bool only.
    And,
    Or,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne
        )
    }
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Distribution {
    /// Uniform on the open interval (0, 1).
    Uniform,
    /// Standard normal.
    Normal,
}

/// A sequential loop over `length` steps with carried state.
///
/// The node's arguments are `[carries…, sequences…, invariants…]`: `n_carry` initial
/// carries, `n_seq` tensors sliced along axis 0 (each of length `length`), then any number
/// of loop-invariant tensors. The body graph's inputs are
/// `[carries…, sequence slices…, invariants…, t]` where `t` is an `i32` scalar holding the
/// index of the step along axis 0 (counting down for a reverse scan). Its outputs are
/// `[new carries…, per-step outputs…]`; each new carry has its carry's type.
///
/// The node's type is the tuple `[final carries…, stacked per-step outputs…]`, each
/// stacked output with a leading axis of `length` in index order (not visit order).
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    pub length: usize,
    pub reverse: bool,
    pub n_carry: usize,
    pub n_seq: usize,
    pub body: Graph,
}

impl Scan {
    /// Number of per-step outputs of the body.
    pub fn n_out(&self) -> usize {
        self.body.outputs.len() - self.n_carry
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// The graph's `k`-th input.
    Input(usize),
    /// A rank-0 constant, converted to the node's dtype.
    Const(f64),
    /// A small literal tensor, row-major, converted to the node's dtype.
    Literal(Arc<[f64]>),
    Unary(UnaryOp),
    /// Both operands have the node's shape. Comparisons give `Bool`.
    Binary(BinaryOp),
    /// `select(cond, a, b)`: `cond` is `Bool`; all three have one shape.
    Select,
    /// Convert to the node's dtype (float → int truncates toward zero; to bool: `!= 0`).
    Cast,
    /// Numpy broadcasting to the node's shape: the argument's dims align to the right and
    /// each is 1 or equal to the output's.
    Broadcast,
    /// Same elements, row-major, the node's shape.
    Reshape,
    /// `out.shape[i] = in.shape[perm[i]]`.
    Transpose(Vec<usize>),
    /// Reduce over `axes` (sorted, distinct), which disappear from the shape.
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
    },
    /// Index of the first maximum along `axis`, which disappears; `I32`.
    ArgMax {
        axis: usize,
    },
    /// `[M, K] @ [K, N] -> [M, N]`, or batched, `[B, M, K] @ [B, K, N] -> [B, M, N]`
    /// (one product per leading index: an ensemble's members), floats only.
    MatMul,
    /// `x[.., start..end, ..]` along `axis`.
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    /// Zero padding along `axis`: `before` zeros, the argument, `after` zeros.
    Pad {
        axis: usize,
        before: usize,
        after: usize,
    },
    /// Concatenate the arguments along `axis`; other dims equal.
    Concat {
        axis: usize,
    },
    /// `x: [S…, K]`, `idx: [S…] i32` → `[S…]`, `out[s] = x[s, idx[s]]`.
    /// An index outside `0..K` is a runtime error.
    Gather,
    /// `x: [B, R…]`, `idx: [M] i32` → `[M, R…]`, `out[m] = x[idx[m]]`: rows picked by
    /// index, O(M·R) whatever `B` is. An index outside `0..B` is a runtime error.
    TakeRows,
    /// `x: [B, R…]`, `idx: [M] i32`, `rows: [M, R…]` → `[B, R…]`: `x` with row `idx[m]`
    /// replaced by `rows[m]` for `m` in order (of two writes to one row the later wins),
    /// or with `rows[m]` added to it when `accumulate` (in order of `m`). An index outside
    /// `0..B` is a runtime error. A stage that only rewrites rows of a slot applies the
    /// writes to the slot in place (O(M·R), see the trainer).
    PutRows {
        accumulate: bool,
    },
    /// Running sums along the last axis, inclusive (`out[.., k] = Σ_{j ≤ k} x[.., j]`,
    /// added in order), or from the end when `reverse` (`Σ_{j ≥ k}`, added from the end).
    CumSum {
        reverse: bool,
    },
    /// `sorted: [S…, K]`, `v: [S…, Q]` → `[S…, Q] i32`: for each value, how many
    /// elements of its row of `sorted` are `<= v`: the first position whose element
    /// exceeds `v` (inverse-CDF sampling from running sums). Found by bisection, so a row
    /// that is not ascending gives some position in `0..=K`, the same on every backend.
    SearchSorted,
    /// `x: [S…, K]` → `[S…, k] i32`: the positions of each row's `k` largest values,
    /// largest first (ties: lower position first; NaN ranks above +∞), as
    /// `rlp_runtime::order` defines. The values are then a gather at these positions,
    /// which carries the gradient.
    TopK {
        k: usize,
    },
    /// `idx: [S…] i32` → `[S…, depth]` of the node's dtype: 1 where the last index equals
    /// `idx`, else 0 (an out-of-range index gives a zero row).
    OneHot {
        depth: usize,
    },
    /// `x: [L, R…]`, `t: i32 scalar` → `x[t]: [R…]`. Out of range is a runtime error.
    DynIndex,
    /// The index along `axis` at every position, `I32`, the node's shape.
    Iota {
        axis: usize,
    },
    /// Counter-based random numbers of the node's (float) type; arguments `c0`, `c1`
    /// (i32 scalars). See `rlp_runtime::rng` for the exact definition.
    Random {
        dist: Distribution,
        seed: u64,
        stream: u32,
    },
    /// Identity forward; blocks gradients.
    StopGradient,
    Scan(Box<Scan>),
    /// Element `k` of a tuple-typed (scan) node.
    Project(usize),
}

impl Op {
    /// A short name for printing and error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input(_) => "input",
            Op::Const(_) => "const",
            Op::Literal(_) => "literal",
            Op::Unary(u) => match u {
                UnaryOp::Neg => "neg",
                UnaryOp::Exp => "exp",
                UnaryOp::Log => "log",
                UnaryOp::Sqrt => "sqrt",
                UnaryOp::Tanh => "tanh",
                UnaryOp::Sin => "sin",
                UnaryOp::Cos => "cos",
                UnaryOp::Abs => "abs",
                UnaryOp::Sign => "sign",
                UnaryOp::Floor => "floor",
                UnaryOp::Not => "not",
            },
            Op::Binary(b) => match b {
                BinaryOp::Add => "add",
                BinaryOp::Sub => "sub",
                BinaryOp::Mul => "mul",
                BinaryOp::Div => "div",
                BinaryOp::Rem => "rem",
                BinaryOp::Pow => "pow",
                BinaryOp::Max => "max",
                BinaryOp::Min => "min",
                BinaryOp::Atan2 => "atan2",
                BinaryOp::Lt => "lt",
                BinaryOp::Le => "le",
                BinaryOp::Gt => "gt",
                BinaryOp::Ge => "ge",
                BinaryOp::Eq => "eq",
                BinaryOp::Ne => "ne",
                BinaryOp::And => "and",
                BinaryOp::Or => "or",
            },
            Op::Select => "select",
            Op::Cast => "cast",
            Op::Broadcast => "broadcast",
            Op::Reshape => "reshape",
            Op::Transpose(_) => "transpose",
            Op::Reduce {
                op: ReduceOp::Sum, ..
            } => "sum",
            Op::Reduce {
                op: ReduceOp::Max, ..
            } => "reduce_max",
            Op::Reduce {
                op: ReduceOp::Min, ..
            } => "reduce_min",
            Op::ArgMax { .. } => "argmax",
            Op::MatMul => "matmul",
            Op::Slice { .. } => "slice",
            Op::Pad { .. } => "pad",
            Op::Concat { .. } => "concat",
            Op::Gather => "gather",
            Op::TakeRows => "take_rows",
            Op::PutRows { accumulate: false } => "put_rows",
            Op::PutRows { accumulate: true } => "add_rows",
            Op::CumSum { .. } => "cumsum",
            Op::SearchSorted => "search_sorted",
            Op::TopK { .. } => "top_k",
            Op::OneHot { .. } => "one_hot",
            Op::DynIndex => "dyn_index",
            Op::Iota { .. } => "iota",
            Op::Random {
                dist: Distribution::Uniform,
                ..
            } => "uniform",
            Op::Random {
                dist: Distribution::Normal,
                ..
            } => "normal",
            Op::StopGradient => "stop",
            Op::Scan(_) => "scan",
            Op::Project(_) => "project",
        }
    }

    /// Elementwise ops: each output element depends only on the same-position elements
    /// of the arguments (the fusion pass groups chains of these).
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Unary(_) | Op::Binary(_) | Op::Select | Op::Cast | Op::StopGradient | Op::Const(_)
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    pub args: Vec<NodeId>,
    pub ty: Type,
    pub origin: Option<Origin>,
}

/// A function from input tensors to output tensors.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Graph {
    pub inputs: Vec<TensorType>,
    pub nodes: Vec<Node>,
    /// Tensor-typed nodes returned, in order.
    pub outputs: Vec<NodeId>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The tensor type of a tensor-typed node.
    pub fn ty(&self, id: NodeId) -> &TensorType {
        self.nodes[id.index()].ty.tensor()
    }

    /// Appends a node whose type is inferred from its op and arguments.
    pub fn add(&mut self, op: Op, args: Vec<NodeId>) -> Result<NodeId, crate::types::TypeError> {
        let ty = crate::types::infer(self, &op, &args)?;
        Ok(self.push(Node {
            op,
            args,
            ty,
            origin: None,
        }))
    }

    /// Appends a node whose type is given (ops whose result type is a parameter:
    /// `Const`, `Literal`, `Cast`, `Broadcast`, `Reshape`, `Iota`, `Random`, `OneHot`).
    /// The verifier checks it.
    pub fn add_typed(&mut self, op: Op, args: Vec<NodeId>, ty: TensorType) -> NodeId {
        self.push(Node {
            op,
            args,
            ty: Type::Tensor(ty),
            origin: None,
        })
    }

    pub fn push(&mut self, node: Node) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node);
        id
    }

    /// Appends a new graph input of type `ty` and the `Input` node that reads it.
    pub fn add_input(&mut self, ty: TensorType) -> NodeId {
        let k = self.inputs.len();
        self.inputs.push(ty.clone());
        self.add_typed(Op::Input(k), vec![], ty)
    }

    pub fn ids(&self) -> impl Iterator<Item = NodeId> + use<> {
        (0..self.nodes.len() as u32).map(NodeId)
    }
}
