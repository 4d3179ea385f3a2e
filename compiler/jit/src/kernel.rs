//! The kernel IR: the target-agnostic schedule the fusion pass produces and every CPU
//! (and, later, GPU) code generator consumes.
//!
//! Why a separate IR: the graph says *what* to compute; a schedule says *where values
//! live* (which nodes get a buffer, which are only registers inside a kernel) and *in
//! which loops* they are computed. Keeping that decision in one data structure lets
//! codegen stay a straight translation and lets `rlpc explain` print the plan.
//!
//! Shape of a schedule:
//! - [`Buffer`]s: every materialised value, graph input and literal, contiguous row-major;
//! - [`Step`]s, run in order: JIT [`Kernel`]s, GEMM calls, a few native data-movement
//!   steps, and host loops for scans that do not fit one kernel;
//! - outputs: one plain buffer per graph output.
//!
//! Invariants (established by `fuse`, relied on by `codegen` and `exec`):
//! - a step only reads buffers that are inputs, literals or written by an earlier step;
//! - a step writes every element of each buffer it writes (native steps zero-fill first);
//! - the buffers a kernel writes are disjoint from the ones it reads;
//! - within a kernel, instruction `i` only uses values `< i`;
//! - every load index stays in bounds except through a [`DynTerm`], which the generated code
//!   checks against its bound before the load (a failed check returns its [`Check`] id).

use rlp_ir::{BinaryOp, Distribution, NodeId, ReduceOp, UnaryOp};
use rlp_runtime::DType;
use std::fmt;
use std::sync::Arc;

/// A buffer handle within one [`Schedule`]. Prints as `bN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufId(pub u32);

impl BufId {
    /// The position in [`Schedule::buffers`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for BufId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", self.0)
    }
}

/// Where a buffer's contents come from.
#[derive(Clone, Debug, PartialEq)]
pub enum BufferKind {
    /// The schedule's `k`-th input, provided by the caller (read-only).
    Input(usize),
    /// A constant known at compile time, row-major, converted to the buffer's dtype.
    Literal(Arc<[f64]>),
    /// Written by exactly one step of the schedule.
    Temp,
}

/// A contiguous row-major array of `len` elements of `dtype`.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// The element type.
    pub dtype: DType,
    /// The number of elements.
    pub len: usize,
    /// Where the contents come from.
    pub kind: BufferKind,
}

/// A whole compiled graph (or scan body): buffers, the steps that fill them, the outputs.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Every buffer, indexed by [`BufId`].
    pub buffers: Vec<Buffer>,
    /// `inputs[k]` is the buffer bound to graph input `k`.
    pub inputs: Vec<BufId>,
    /// The work, in the order it runs.
    pub steps: Vec<Step>,
    /// One buffer per graph output; it may be an input or appear twice.
    pub outputs: Vec<BufId>,
    /// `frees[s]`: temporaries whose last reader is step `s` (the executor recycles them).
    pub frees: Vec<Vec<BufId>>,
}

/// One unit of work in a schedule.
#[derive(Clone, Debug)]
pub enum Step {
    /// A JIT-compiled loop kernel.
    Kernel(Box<Kernel>),
    /// `out[M, N] = lhs[M, K] @ rhs[K, N]`, through the `gemm` crate on row-major
    /// operands (possibly offset within their buffers).
    MatMul(MatMul),
    /// Native data movement (cheap and rare enough not to need generated code).
    Native(Native),
    /// A scan whose body is not one kernel: the host runs the body's schedule per step.
    Scan(Box<HostScan>),
}

/// A 2-D strided operand of a [`MatMul`]: element `(r, c)` is at `offset + r*rs + c*cs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matrix {
    /// The buffer holding the matrix.
    pub buf: BufId,
    /// The element offset of `(0, 0)`.
    pub offset: usize,
    /// Row stride, in elements.
    pub rs: isize,
    /// Column stride, in elements.
    pub cs: isize,
    /// Stride from one product's matrix to the next in a batched product, in elements.
    pub bs: usize,
}

/// A matrix product step.
#[derive(Clone, Debug)]
pub struct MatMul {
    /// The element type (`F32` or `F64`).
    pub dtype: DType,
    /// Independent products (the leading axis of a batched product; 1 for a plain one),
    /// each `[M, K] @ [K, N]`, the results stacked contiguously.
    pub batch: usize,
    /// Rows of `lhs` and `out`.
    pub m: usize,
    /// Columns of `lhs`, rows of `rhs`.
    pub k: usize,
    /// Columns of `rhs` and `out`.
    pub n: usize,
    /// The left operand.
    pub lhs: Matrix,
    /// The right operand.
    pub rhs: Matrix,
    /// The contiguous `[M, N]` result.
    pub out: BufId,
    /// The `MatMul` node.
    pub node: NodeId,
    /// An elementwise kernel over the result (bias, activation…) that reads the result
    /// only at its own point: it runs on each block of rows right after the product of
    /// those rows (in each product of a batched one), while they are still in cache,
    /// instead of as a separate pass over the whole result.
    pub epilogue: Option<Box<Kernel>>,
}

/// Rows per block of a matrix product with an epilogue: large enough that the blocked
/// products equal the whole one bit for bit (`gemm` only changes its algorithm for a
/// single row — and, for a single *column*, sums in an order that depends on the row
/// count, so a one-column product is never blocked), small enough that a block of results
/// stays in cache for the epilogue.
pub const EPILOGUE_ROWS: usize = 256;

impl MatMul {
    /// The row ranges a product with an epilogue runs in: one range up to
    /// [`EPILOGUE_ROWS`] rows (or for a one-column product), else near-equal blocks of
    /// about that many (never a lone row). A product large enough to be worth threads
    /// ([`SPLIT_MIN_MACS`]) is cut into at least `parts` blocks of at least
    /// [`SPLIT_MIN_ROWS`] rows, so a batch of 256 rows is not left to one thread; the
    /// blocks change where rows are computed, never how (see [`EPILOGUE_ROWS`]).
    pub fn row_blocks(&self, parts: usize) -> Vec<(usize, usize)> {
        // A value head (`n = 1`): gemm's result depends on how many rows it is given.
        if self.n == 1 {
            return vec![(0, self.m)];
        }
        let mut blocks = self.m.div_ceil(EPILOGUE_ROWS).max(1);
        if self.m.saturating_mul(self.n).saturating_mul(self.k) >= SPLIT_MIN_MACS {
            blocks = blocks.max(parts.min(self.m / SPLIT_MIN_ROWS));
        }
        let per = self.m.div_ceil(blocks).max(1);
        (0..blocks)
            .map(|b| (b * per, ((b + 1) * per).min(self.m)))
            .filter(|(a, e)| a < e)
            .collect()
    }

    /// The blocks of a product with an epilogue, every product of a batched one:
    /// `(product, first row, end row)`; `parts` as in [`MatMul::row_blocks`].
    pub fn blocks(&self, parts: usize) -> Vec<(usize, usize, usize)> {
        let rows = self.row_blocks(parts);
        (0..self.batch)
            .flat_map(|b| rows.iter().map(move |&(r0, r1)| (b, r0, r1)))
            .collect()
    }
}

/// Multiply-adds from which a product with an epilogue is cut into one block per thread
/// (the same size from which a product without one uses `gemm`'s threads).
pub const SPLIT_MIN_MACS: usize = 1 << 22;

/// The fewest rows in a block cut for threads: each block packs the right-hand operand
/// again, which a few rows would not repay.
pub const SPLIT_MIN_ROWS: usize = 32;

/// Data movement done by plain Rust on contiguous buffers.
#[derive(Clone, Debug)]
pub enum Native {
    /// `out[c, r] = src[offset + r·cols + c]`: a row-major `[rows, cols]` block written
    /// transposed, in cache-sized tiles (a matrix operand laid out by columns, as the
    /// backward products' `Wᵀ` and `Xᵀ` are, read one column at a time would miss the
    /// cache on every element).
    #[allow(missing_docs)]
    Transpose {
        src: BufId,
        offset: usize,
        out: BufId,
        rows: usize,
        cols: usize,
    },
    /// `out` is `src` padded with zeros along `axis` (`outer` rows of `inner` elements are
    /// copied to offset `before_elems` within rows of `out_inner` elements).
    #[allow(missing_docs)]
    Pad {
        src: BufId,
        out: BufId,
        outer: usize,
        inner: usize,
        out_inner: usize,
        before_elems: usize,
    },
    /// `out` is the concatenation of `srcs` along an axis: each source contributes rows of
    /// `inner[i]` elements, one per outer index, to rows of `sum(inner)` elements.
    #[allow(missing_docs)]
    Concat {
        srcs: Vec<BufId>,
        out: BufId,
        outer: usize,
        inner: Vec<usize>,
    },
    /// `out = x`, then row `idx[m]` of `out` set to (or, when `accumulate`, increased by)
    /// row `m` of `src`, for `m` in order.
    #[allow(missing_docs)]
    PutRows {
        x: BufId,
        idx: BufId,
        src: BufId,
        out: BufId,
        rows: usize,
        per: usize,
        idx_len: usize,
        accumulate: bool,
        node: NodeId,
    },
    /// Running sums of `outer` rows of `len` elements, in order (from the end when
    /// `reverse`).
    #[allow(missing_docs)]
    CumSum {
        x: BufId,
        out: BufId,
        outer: usize,
        len: usize,
        reverse: bool,
    },
    /// `out[s, q]` = how many of `sorted[s, 0..len]` are `<= v[s, q]` (by bisection), for
    /// `outer` rows of `queries` values of `dtype`.
    #[allow(missing_docs)]
    SearchSorted {
        sorted: BufId,
        v: BufId,
        out: BufId,
        outer: usize,
        len: usize,
        queries: usize,
        dtype: DType,
    },
    /// `out[s, 0..k]`: the positions of the `k` largest of `x[s, 0..len]`, largest
    /// first, for `rows` rows of `dtype` (`rlp_runtime::order`).
    #[allow(missing_docs)]
    TopK {
        x: BufId,
        out: BufId,
        rows: usize,
        len: usize,
        k: usize,
        dtype: DType,
    },
    /// `out[s, d] = (idx[s] == d) as dtype` for `rows` indices and `depth` columns.
    #[allow(missing_docs)]
    OneHot {
        idx: BufId,
        out: BufId,
        rows: usize,
        depth: usize,
    },
}

/// A scan run by the host: the carries and outputs live in buffers of this schedule;
/// each step binds the body's inputs and runs `body`.
#[derive(Clone, Debug)]
pub struct HostScan {
    /// Steps.
    pub length: usize,
    /// Visit `t` from `length - 1` down to 0.
    pub reverse: bool,
    /// Carried values (the first `n_carry` arguments and outputs).
    pub n_carry: usize,
    /// Sequences (the next `n_seq` arguments), sliced along axis 0 each step.
    pub n_seq: usize,
    /// The scan node's arguments: initial carries, sequences, invariants (plain buffers).
    pub args: Vec<BufId>,
    /// One buffer per tuple element: final carries, then stacked per-step outputs.
    pub outs: Vec<BufId>,
    /// The body's own schedule (inputs: carries, slices, invariants, `t`).
    pub body: Schedule,
    /// The `Scan` node.
    pub node: NodeId,
}

/// A loop kernel: the same instructions evaluated at every point of an iteration space.
///
/// The space's dims are the kernel's own (after transposing for reductions: kept dims
/// first, then reduced dims). The *units* the executor splits across threads are the
/// row-major flat indices of the parallel dims: all dims of a map kernel, the kept dims of
/// a reduction, the element dims of a scan kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// A stable name, `k<step>_<kind>`, used for symbols and in `explain` output.
    pub name: String,
    /// The buffers the kernel touches, in argument order.
    pub params: Vec<Param>,
    /// The iteration space.
    pub space: Vec<usize>,
    /// The loop structure and what leaves the kernel.
    pub kind: KernelKind,
    /// All affine indices the instructions use (loads, coordinates, random counters).
    pub indices: Vec<Index>,
    /// The instruction arena; see [`KernelKind`] for which run where.
    pub insts: Vec<Inst>,
    /// Runtime checks: a failing check returns `id + 1` from the kernel.
    pub checks: Vec<Check>,
    /// The graph nodes computed by this kernel (for `explain`).
    pub nodes: Vec<NodeId>,
    /// A function the CPU executor applies in place to each range of units of a map
    /// kernel's output right after the kernel writes it (set by `post`, never by `fuse`).
    pub post: Option<PostOp>,
}

/// An elementwise `f32` function with a native slice form (`rlp_runtime::wide`), the
/// same values as the kernel instruction it replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostUnary {
    /// `rlp_runtime::math::tanh_f32`.
    Tanh,
    /// `rlp_runtime::math::exp_f32`.
    Exp,
}

/// `out[u] ← op(out[u])` for the units `u` of each call of a map kernel, where `out` is
/// the `f32` buffer of `params[param]` (stored at the unit's flat index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostOp {
    /// The written parameter.
    pub param: usize,
    /// The function.
    pub op: PostUnary,
}

/// A buffer a kernel reads or writes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Param {
    /// The buffer.
    pub buf: BufId,
    /// Its element type.
    pub dtype: DType,
    /// Whether the kernel writes it (it then never reads it).
    pub write: bool,
}

/// A value in a kernel's instruction arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValId(pub u32);

impl ValId {
    /// The position in [`Kernel::insts`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A handle to one of [`Kernel::indices`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IndexId(pub u32);

impl IndexId {
    /// The position in [`Kernel::indices`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a kernel does with its instructions.
#[derive(Clone, Debug)]
pub enum KernelKind {
    /// All instructions run at every point; `stores[i] = (param, value)` writes the value at
    /// the point's flat index.
    #[allow(missing_docs)]
    Map { stores: Vec<(usize, ValId)> },
    /// The first `n_kept` dims are parallel; the rest are reduced in row-major order,
    /// sequentially, one accumulator per unit: `out[unit] = fold(op, value over reduced)`.
    #[allow(missing_docs)]
    Reduce {
        op: ReduceOp,
        n_kept: usize,
        value: ValId,
        out: usize,
    },
    /// Like `Reduce` over exactly one (the last) dim: the index of the first maximum.
    #[allow(missing_docs)]
    ArgMax {
        n_kept: usize,
        value: ValId,
        out: usize,
    },
    /// A sequential loop per unit: `prologue` runs once, then `body` runs for each step
    /// `t` (counting down when `reverse`); see [`ScanKernel`].
    Scan(ScanKernel),
}

/// The loop of a scan kernel. Every space dim is parallel (one unit per element).
#[derive(Clone, Debug)]
pub struct ScanKernel {
    /// Steps.
    pub length: usize,
    /// Visit `t` from `length - 1` down to 0.
    pub reverse: bool,
    /// Instructions run once per unit before the loop (loop invariants, initial carries).
    pub prologue: Vec<ValId>,
    /// Instructions run each step; they may use prologue values.
    pub body: Vec<ValId>,
    /// `init[k]`: the initial value of carry `k` (a prologue value).
    pub init: Vec<ValId>,
    /// `next[k]`: carry `k` after a step (a body or prologue value, or an [`Op::Carry`]).
    pub next: Vec<ValId>,
    /// Per-step outputs: `(param, value, index)`; the index moves with the step.
    pub step_stores: Vec<(usize, ValId, IndexId)>,
    /// Final carries: carry `k` is stored to param `final_stores[k].0` at its index.
    pub final_stores: Vec<(usize, IndexId)>,
    /// Whether every store is at `unit` (finals) or `t * units + unit` (per step), so a
    /// unit's carries can live in their final-store buffers between steps.
    pub dense: bool,
}

/// An affine element index: `offset + Σ coord[d]·strides[d] + t·step_stride + Σ dyn`.
///
/// Used for memory offsets (in elements), for coordinates (`Iota`) and for the flat
/// counter of random draws. `strides` has one entry per space dim.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Index {
    /// The constant term.
    pub offset: i64,
    /// One coefficient per space dim.
    pub strides: Vec<i64>,
    /// Coefficient of the scan step index (0 outside scan kernels).
    pub step_stride: i64,
    /// Data-dependent terms, each checked.
    pub dynamic: Vec<DynTerm>,
}

/// A data-dependent index term: `value · stride`, where `value` (an `i32` kernel value)
/// must lie in `0..bound` or the kernel fails with `check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DynTerm {
    /// The `i32` index value.
    pub value: ValId,
    /// Its coefficient.
    pub stride: i64,
    /// The index must be below this (and not negative).
    pub bound: u64,
    /// The check that fails otherwise.
    pub check: usize,
}

/// A runtime check's description, for the error message.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The op that checks (`gather`, `dyn_index`, `div`…).
    pub op: &'static str,
    /// The node that checks (in the graph that holds it).
    pub node: NodeId,
    /// What went wrong.
    pub message: String,
    /// Where the node is written, once [`Kernel::locate_checks`] has looked it up.
    pub origin: Option<rlp_ir::Origin>,
}

impl Check {
    /// The error message for a failure that saw `value` at scan step `step` (each where
    /// the kernel knew it), worded as the interpreter words it: `at step 4: %6
    /// (dyn_index): index 5 is out of range 0..5`.
    pub fn describe(&self, value: Option<i64>, step: Option<i64>) -> String {
        let what = match (value, self.message.strip_prefix("index ")) {
            (Some(v), Some(rest)) => format!("index {v} is {rest}"),
            _ => self.message.clone(),
        };
        let at = step.map(|t| format!("at step {t}: ")).unwrap_or_default();
        format!("{at}{} ({}): {what}", self.node, self.op)
    }
}

impl Kernel {
    /// Fills in where each runtime check's node is written, from `graph`, the graph
    /// every one of its checks' nodes belongs to (not a scan body's nodes).
    pub fn locate_checks(&mut self, graph: &rlp_ir::Graph) {
        for c in &mut self.checks {
            c.origin = graph.node(c.node).origin;
        }
    }

    /// [`Self::locate_checks`] for a scan kernel: the checks in `outer_checks` belong
    /// to nodes of `outer` (the scan's arguments), the rest to nodes of `body`.
    pub fn locate_scan_checks(
        &mut self,
        outer: &rlp_ir::Graph,
        body: &rlp_ir::Graph,
        outer_checks: &[usize],
    ) {
        for (i, c) in self.checks.iter_mut().enumerate() {
            let graph = if outer_checks.contains(&i) {
                outer
            } else {
                body
            };
            c.origin = graph.node(c.node).origin;
        }
    }
}

/// One instruction: an operation and its result type.
#[derive(Clone, Debug, PartialEq)]
pub struct Inst {
    /// The operation.
    pub op: Op,
    /// The result type.
    pub dtype: DType,
}

/// A kernel instruction. Operands are earlier values.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Read `params[param]` at the index.
    #[allow(missing_docs)]
    Load { param: usize, index: IndexId },
    /// A constant, already converted to the result dtype's range.
    Const(f64),
    /// The index's value as `i32` (for `Iota`).
    Coord(IndexId),
    /// A unary op with the IR's semantics for the result dtype.
    Unary(UnaryOp, ValId),
    /// Operands have one dtype; comparisons give `Bool`.
    Binary(BinaryOp, ValId, ValId),
    /// `cond ? a : b`.
    Select(ValId, ValId, ValId),
    /// Convert the operand to the result dtype, with the IR's `Cast` semantics.
    Cast(ValId),
    /// One counter-based draw; `c0`, `c1` are `i32` values, the element counter the index.
    #[allow(missing_docs)]
    Random {
        dist: Distribution,
        seed: u64,
        stream: u32,
        c0: ValId,
        c1: ValId,
        counter: IndexId,
    },
    /// The current value of carry `k` (scan kernels only).
    Carry(usize),
    /// The scan step index `t` as `i32` (scan kernels only).
    Step,
    /// Fails the kernel with `check` unless the bool value is true; yields it. The third
    /// operand, where there is one, is the value the failure reports (an index).
    Assert(ValId, usize, Option<ValId>),
}

impl Kernel {
    /// The number of parallel units (what `start..end` ranges over).
    pub fn units(&self) -> usize {
        let n_par = match &self.kind {
            KernelKind::Map { .. } | KernelKind::Scan(_) => self.space.len(),
            KernelKind::Reduce { n_kept, .. } | KernelKind::ArgMax { n_kept, .. } => *n_kept,
        };
        self.space[..n_par].iter().product()
    }

    /// Scalar operations per unit, roughly: used to decide whether to split across threads.
    pub fn work_per_unit(&self) -> usize {
        let inner: usize = match &self.kind {
            KernelKind::Map { .. } => 1,
            KernelKind::Reduce { n_kept, .. } | KernelKind::ArgMax { n_kept, .. } => {
                self.space[*n_kept..].iter().product()
            }
            KernelKind::Scan(s) => s.length,
        };
        inner.max(1)
    }

    /// A one-word description of the kernel's loop structure.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            KernelKind::Map { .. } => "elementwise",
            KernelKind::Reduce { .. } => "reduce",
            KernelKind::ArgMax { .. } => "argmax",
            KernelKind::Scan(_) => "scan",
        }
    }
}

impl Kernel {
    /// The same kernel over fewer, longer dims: size-1 dims are dropped and neighbouring
    /// dims merged when every index steps over them as one (row-major order, and so
    /// results, unchanged). Codegen runs this first so most loops are one long run.
    ///
    /// Afterwards a map kernel has at least one dim and a reduction at least one
    /// reduced dim (possibly of size 1); an argmax keeps its single reduced dim.
    pub fn coalesced(&self) -> Kernel {
        let rank = self.space.len();
        // Dims are only merged within a class: all, or kept and reduced apart.
        let (classes, keep_reduced): (Vec<(usize, usize)>, bool) = match &self.kind {
            KernelKind::Map { .. } | KernelKind::Scan(_) => (vec![(0, rank)], false),
            KernelKind::Reduce { n_kept, .. } => (vec![(0, *n_kept), (*n_kept, rank)], false),
            KernelKind::ArgMax { n_kept, .. } => (vec![(0, *n_kept), (*n_kept, rank)], true),
        };
        let mut space = vec![];
        let mut strides: Vec<Vec<i64>> = vec![vec![]; self.indices.len()];
        let mut class_len = vec![];
        for (c, &(lo, hi)) in classes.iter().enumerate() {
            let start = space.len();
            for d in lo..hi {
                let keep_size_one = keep_reduced && c == 1;
                if self.space[d] == 1 && !keep_size_one {
                    continue;
                }
                let merges =
                    space.len() > start
                        && self.indices.iter().zip(&strides).all(|(ix, s)| {
                            *s.last().unwrap() == ix.strides[d] * self.space[d] as i64
                        });
                if merges && !keep_size_one {
                    *space.last_mut().unwrap() *= self.space[d];
                    for (ix, s) in self.indices.iter().zip(&mut strides) {
                        *s.last_mut().unwrap() = ix.strides[d];
                    }
                } else {
                    space.push(self.space[d]);
                    for (ix, s) in self.indices.iter().zip(&mut strides) {
                        s.push(ix.strides[d]);
                    }
                }
            }
            let needs_one = match &self.kind {
                KernelKind::Map { .. } => true,
                KernelKind::Reduce { .. } | KernelKind::ArgMax { .. } => c == 1,
                KernelKind::Scan(_) => false,
            };
            if space.len() == start && needs_one {
                space.push(1);
                for s in &mut strides {
                    s.push(0);
                }
            }
            class_len.push(space.len() - start);
        }
        let mut k = self.clone();
        k.space = space;
        for (ix, s) in k.indices.iter_mut().zip(strides) {
            ix.strides = s;
        }
        match &mut k.kind {
            KernelKind::Reduce { n_kept, .. } | KernelKind::ArgMax { n_kept, .. } => {
                *n_kept = class_len[0]
            }
            KernelKind::Map { .. } | KernelKind::Scan(_) => {}
        }
        k
    }
}

/// Visits every kernel of a schedule, including those of host-loop scan bodies.
pub fn for_each_kernel<'a>(schedule: &'a Schedule, f: &mut dyn FnMut(&'a Kernel)) {
    for step in &schedule.steps {
        match step {
            Step::Kernel(k) => f(k),
            Step::Scan(s) => for_each_kernel(&s.body, f),
            Step::MatMul(m) => {
                if let Some(k) = &m.epilogue {
                    f(k)
                }
            }
            Step::Native(_) => {}
        }
    }
}

fn fmt_shape(f: &mut fmt::Formatter<'_>, shape: &[usize]) -> fmt::Result {
    f.write_str("[")?;
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{d}")?;
    }
    f.write_str("]")
}

fn fmt_nodes(f: &mut fmt::Formatter<'_>, nodes: &[NodeId]) -> fmt::Result {
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{n}")?;
    }
    Ok(())
}

/// One line for a kernel: name, loop kind, space, nodes, written buffers.
fn write_kernel(f: &mut fmt::Formatter<'_>, k: &Kernel) -> fmt::Result {
    write!(f, "{} {} ", k.name, k.kind_name())?;
    fmt_shape(f, &k.space)?;
    f.write_str(": ")?;
    fmt_nodes(f, &k.nodes)?;
    let outs: Vec<String> = k
        .params
        .iter()
        .filter(|p| p.write)
        .map(|p| p.buf.to_string())
        .collect();
    write!(f, " -> {}", outs.join(" "))?;
    if let Some(p) = k.post {
        write!(f, ", then {:?} in place", p.op)?;
    }
    writeln!(f)
}

impl Schedule {
    /// Writes the schedule one step per line, nested scan bodies indented.
    fn write_indented(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        let pad = "  ".repeat(indent);
        for step in &self.steps {
            f.write_str(&pad)?;
            match step {
                Step::Kernel(k) => write_kernel(f, k)?,
                Step::MatMul(m) => {
                    writeln!(
                        f,
                        "matmul {}{}x{}x{} {}: {} -> {}",
                        if m.batch == 1 {
                            String::new()
                        } else {
                            format!("{}*", m.batch)
                        },
                        m.m,
                        m.k,
                        m.n,
                        m.dtype,
                        m.node,
                        m.out
                    )?;
                    if let Some(k) = &m.epilogue {
                        write!(f, "{pad}  epilogue per {} rows: ", EPILOGUE_ROWS)?;
                        write_kernel(f, k)?;
                    }
                }
                Step::Native(n) => match n {
                    Native::Pad { src, out, .. } => writeln!(f, "pad {src} -> {out}")?,
                    Native::Transpose {
                        src,
                        out,
                        rows,
                        cols,
                        ..
                    } => writeln!(f, "transpose {src} [{rows},{cols}] -> {out}")?,
                    Native::Concat { srcs, out, .. } => {
                        let s: Vec<String> = srcs.iter().map(|b| b.to_string()).collect();
                        writeln!(f, "concat {} -> {out}", s.join(" "))?
                    }
                    Native::OneHot {
                        idx, out, depth, ..
                    } => writeln!(f, "one_hot {idx} depth {depth} -> {out}")?,
                    Native::PutRows {
                        x,
                        idx,
                        src,
                        out,
                        accumulate,
                        ..
                    } => {
                        let op = if *accumulate { "add_rows" } else { "put_rows" };
                        writeln!(f, "{op} {x} {idx} {src} -> {out}")?
                    }
                    Native::CumSum {
                        x, out, reverse, ..
                    } => {
                        let dir = if *reverse { " reverse" } else { "" };
                        writeln!(f, "cumsum{dir} {x} -> {out}")?
                    }
                    Native::TopK { x, out, k, .. } => writeln!(f, "top_k {k} {x} -> {out}")?,
                    Native::SearchSorted { sorted, v, out, .. } => {
                        writeln!(f, "search_sorted {sorted} {v} -> {out}")?
                    }
                },
                Step::Scan(s) => {
                    let outs: Vec<String> = s.outs.iter().map(|b| b.to_string()).collect();
                    writeln!(
                        f,
                        "host-loop scan {}{} x{}: -> {}",
                        s.node,
                        if s.reverse { " reverse" } else { "" },
                        s.length,
                        outs.join(" ")
                    )?;
                    s.body.write_indented(f, indent + 1)?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_indented(f, 0)
    }
}
