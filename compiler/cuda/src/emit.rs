//! Kernel IR → CUDA C source: one `__global__` function per loop kernel and per native
//! data-movement step, and the plan that says which to launch for each schedule step.
//!
//! The translation is deliberately literal: one GPU thread per kernel *unit* (the same
//! units the CPU executor splits across threads), the unit's own arithmetic in the
//! kernel's instruction order, reductions and scans folded sequentially inside the
//! thread. That keeps every result the interpreter's — the order of a sum is the
//! kernel's, not the launch's — at the cost of parallelism within a unit, which large
//! RL kernels (thousands of environments, rows of a batch) rarely need.

use crate::prelude;
use rlp_ir::{BinaryOp, Distribution, ReduceOp, UnaryOp};
use rlp_jit::kernel::{
    BufId, HostScan, Index, IndexId, Kernel, KernelKind, Native, Op, Schedule, Step, ValId,
};
use rlp_runtime::DType;
use std::fmt::Write;

/// A compiled module's source and the launch plan for its schedule.
#[derive(Clone, Debug)]
pub struct Module {
    /// Prelude plus every kernel: what NVRTC (or the CPU build) compiles.
    pub source: String,
    /// Every generated function, by launch id.
    pub functions: Vec<Function>,
    /// `checks[g - 1]`: the error a failed check with global id `g` reports.
    pub checks: Vec<String>,
    /// What to run for each step of the schedule.
    pub plan: Plan,
}

/// One generated `__global__` function.
#[derive(Clone, Debug)]
pub struct Function {
    /// Its symbol.
    pub name: String,
    /// Its text alone (for `rlpc explain`).
    pub source: String,
    /// The C types of its buffer parameters (`const float*`, …), which come before the
    /// unit count (`i64`) and the status word (`int*`).
    pub params: Vec<String>,
}

/// The launches of a schedule, one entry per step.
#[derive(Clone, Debug)]
pub struct Plan {
    /// `steps[s]` runs schedule step `s`.
    pub steps: Vec<StepPlan>,
}

/// What one schedule step runs.
#[derive(Clone, Debug)]
pub enum StepPlan {
    /// Launches (and copies) in order.
    Launches(Vec<Action>),
    /// A matrix product by the device's GEMM, then an optional epilogue kernel.
    MatMul(Option<Launch>),
    /// A host loop over a nested plan.
    Scan(Box<Plan>),
}

/// One device action of a step.
#[derive(Clone, Debug)]
pub enum Action {
    /// Run a generated function.
    Launch(Launch),
    /// Copy `bytes` from `src` to `dst` unless they are the same memory.
    Copy {
        #[allow(missing_docs)]
        src: BufId,
        #[allow(missing_docs)]
        dst: BufId,
        #[allow(missing_docs)]
        bytes: usize,
    },
}

/// A launch of function `function` over `units` threads with `params` as its buffers.
#[derive(Clone, Debug)]
pub struct Launch {
    #[allow(missing_docs)]
    pub function: usize,
    #[allow(missing_docs)]
    pub params: Vec<BufId>,
    #[allow(missing_docs)]
    pub units: u64,
}

/// Emits the module for a schedule (host-loop scan bodies included).
pub fn module(schedule: &Schedule) -> Module {
    let mut e = Emitter::default();
    let plan = e.plan(schedule);
    Module {
        source: e.source(),
        functions: e.functions,
        checks: e.checks,
        plan,
    }
}

#[derive(Default)]
struct Emitter {
    functions: Vec<Function>,
    checks: Vec<String>,
}

impl Emitter {
    /// The module's source: the prelude, then every function emitted so far.
    fn source(&self) -> String {
        let mut source = prelude::prelude();
        for f in &self.functions {
            source.push('\n');
            source.push_str(&f.source);
        }
        source
    }
}

/// The C type of a value of `dtype`.
fn value_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "float",
        DType::F64 => "double",
        DType::I32 => "int",
        DType::Bool => "bool",
    }
}

/// The C type of an element of a buffer of `dtype` (bools are bytes).
fn elem_type(dtype: DType) -> &'static str {
    match dtype {
        DType::Bool => "u8",
        d => value_type(d),
    }
}

fn suffix(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F64 => "f64",
        DType::I32 => "i32",
        DType::Bool => "bool",
    }
}

fn constant(dtype: DType, c: f64) -> String {
    match dtype {
        DType::F32 => prelude::f32_literal(c as f32),
        DType::F64 => prelude::f64_literal(c),
        DType::I32 => match c as i32 {
            i32::MIN => "(-2147483647 - 1)".into(),
            i => i.to_string(),
        },
        DType::Bool => if c != 0.0 { "true" } else { "false" }.into(),
    }
}

impl Emitter {
    fn plan(&mut self, schedule: &Schedule) -> Plan {
        let dtype = |b: BufId| schedule.buffers[b.index()].dtype;
        let steps = schedule
            .steps
            .iter()
            .map(|step| match step {
                Step::Kernel(k) => StepPlan::Launches(vec![Action::Launch(self.kernel(k))]),
                Step::MatMul(m) => StepPlan::MatMul(m.epilogue.as_ref().map(|k| self.kernel(k))),
                Step::Native(n) => StepPlan::Launches(self.native(n, &dtype)),
                Step::Scan(s) => StepPlan::Scan(Box::new(self.scan(s))),
            })
            .collect();
        Plan { steps }
    }

    fn scan(&mut self, s: &HostScan) -> Plan {
        self.plan(&s.body)
    }

    fn push(&mut self, stem: &str, params: &[(&str, bool)], source: String) -> usize {
        let id = self.functions.len();
        let name = format!("f{id}_{stem}");
        let source = source.replace("@NAME@", &name);
        self.functions.push(Function {
            name,
            source,
            params: params
                .iter()
                .map(|(t, write)| format!("{}{t}*", if *write { "" } else { "const " }))
                .collect(),
        });
        id
    }

    /// A grid-stride function with these buffer parameters around `body`.
    fn simple(&mut self, stem: &str, params: &[(&str, bool)], body: &str) -> usize {
        self.push(stem, params, signature(params, body))
    }

    fn check(&mut self, message: String) -> usize {
        self.checks.push(message);
        self.checks.len()
    }

    // ---- loop kernels ----

    fn kernel(&mut self, k: &Kernel) -> Launch {
        let units = k.units() as u64;
        let params = k.params.iter().map(|p| p.buf).collect();
        let k = k.coalesced();
        let check_base = self.checks.len();
        for c in &k.checks {
            self.check(c.describe(None, None));
        }
        let source = KernelWriter::new(&k, check_base).write();
        let types: Vec<(&str, bool)> = k
            .params
            .iter()
            .map(|p| (elem_type(p.dtype), p.write))
            .collect();
        let function = self.push(&k.name, &types, source);
        Launch {
            function,
            params,
            units,
        }
    }

    // ---- native steps ----

    fn native(&mut self, n: &Native, dtype: &dyn Fn(BufId) -> DType) -> Vec<Action> {
        let launch = |function, params: Vec<BufId>, units: usize| {
            Action::Launch(Launch {
                function,
                params,
                units: units as u64,
            })
        };
        match n {
            &Native::Transpose {
                src,
                offset,
                out,
                rows,
                cols,
            } => {
                let t = elem_type(dtype(out));
                let body = format!(
                    "    i64 r = u % {rows}, c = u / {rows};\n    \
                     p1[u] = p0[{offset} + r * {cols} + c];\n"
                );
                let f = self.simple("transpose", &[(t, false), (t, true)], &body);
                vec![launch(f, vec![src, out], rows * cols)]
            }
            &Native::Pad {
                src,
                out,
                outer,
                inner,
                out_inner,
                before_elems,
            } => {
                let t = elem_type(dtype(out));
                let body = format!(
                    "    i64 o = u / {out_inner}, j = u % {out_inner} - {before_elems};\n    \
                     p1[u] = (j >= 0 && j < {inner}) ? p0[o * {inner} + j] : ({t})0;\n"
                );
                let f = self.simple("pad", &[(t, false), (t, true)], &body);
                vec![launch(f, vec![src, out], outer * out_inner)]
            }
            Native::Concat {
                srcs,
                out,
                outer,
                inner,
            } => {
                let t = elem_type(dtype(*out));
                let row: usize = inner.iter().sum();
                let mut body = format!("    i64 o = u / {row}, j = u % {row};\n    ");
                let mut at = 0;
                for (i, &len) in inner.iter().enumerate() {
                    let _ = write!(
                        body,
                        "if (j < {}) {{ p{}[u] = p{i}[o * {len} + j - {at}]; }} else ",
                        at + len,
                        srcs.len()
                    );
                    at += len;
                }
                body.push_str("{}\n");
                let mut types: Vec<(&str, bool)> = srcs.iter().map(|_| (t, false)).collect();
                types.push((t, true));
                let f = self.simple("concat", &types, &body);
                let mut params = srcs.clone();
                params.push(*out);
                vec![launch(f, params, outer * row)]
            }
            &Native::OneHot {
                idx,
                out,
                rows,
                depth,
            } => {
                let t = elem_type(dtype(out));
                let body = format!(
                    "    i64 r = u / {depth}, d = u % {depth};\n    \
                     p1[u] = ({t})(p0[r] == d ? 1 : 0);\n"
                );
                let f = self.simple("one_hot", &[("int", false), (t, true)], &body);
                vec![launch(f, vec![idx, out], rows * depth)]
            }
            &Native::PutRows {
                x,
                idx,
                src,
                out,
                rows,
                per,
                idx_len,
                accumulate,
                node,
            } => {
                let d = dtype(out);
                let t = elem_type(d);
                let op = if accumulate { "add_rows" } else { "put_rows" };
                let g = self.check(format!(
                    "{node} ({op}): a row index is out of range 0..{rows}"
                ));
                let body = format!(
                    "    if (p0[u] < 0 || p0[u] >= {rows}) {{ rlp_fail(status, {g}); return; }}\n"
                );
                let check = self.simple("row_check", &[("int", false)], &body);
                // One thread per column, rows in order: repeated indices resolve as on the
                // CPU (the last write wins; sums add in order).
                let write = if accumulate {
                    let add = match d {
                        DType::I32 => "rlp_add_i32(p2[at], p1[from])".to_string(),
                        _ => "p2[at] + p1[from]".to_string(),
                    };
                    format!("p2[at] = {add};")
                } else {
                    "p2[at] = p1[from];".to_string()
                };
                let body = format!(
                    "    for (i64 m = 0; m < {idx_len}; m++) {{\n      int r = p0[m];\n      \
                     if (r < 0 || r >= {rows}) continue;\n      \
                     i64 at = (i64)r * {per} + u, from = m * {per} + u;\n      {write}\n    }}\n"
                );
                let put = self.simple(op, &[("int", false), (t, false), (t, true)], &body);
                vec![
                    launch(check, vec![idx], idx_len),
                    Action::Copy {
                        src: x,
                        dst: out,
                        bytes: rows * per * d.size_bytes(),
                    },
                    launch(put, vec![idx, src, out], per),
                ]
            }
            &Native::CumSum {
                x,
                out,
                outer,
                len,
                reverse,
            } => {
                let d = dtype(out);
                let (t, v) = (elem_type(d), value_type(d));
                let add = if d == DType::I32 {
                    "rlp_add_i32(acc, p0[at])"
                } else {
                    "acc + p0[at]"
                };
                let at = if reverse {
                    format!("u * {len} + ({len} - 1 - i)")
                } else {
                    format!("u * {len} + i")
                };
                let body = format!(
                    "    {v} acc = 0;\n    for (i64 i = 0; i < {len}; i++) {{\n      \
                     i64 at = {at};\n      acc = i == 0 ? p0[at] : {add};\n      p1[at] = acc;\n    }}\n"
                );
                let f = self.simple("cumsum", &[(t, false), (t, true)], &body);
                vec![launch(f, vec![x, out], outer)]
            }
            &Native::SearchSorted {
                sorted,
                v,
                out,
                outer,
                len,
                queries,
                dtype: d,
            } => {
                let t = elem_type(d);
                // `rlp_runtime::order::count_le`, probe for probe (it defines the result on
                // unsorted rows too).
                let body = format!(
                    "    const {t}* row = p0 + (u / {queries}) * {len};\n    {t} x = p1[u];\n    \
                     i64 size = {len}, base = 0;\n    while (size > 1) {{\n      \
                     i64 half = size / 2, mid = base + half;\n      \
                     if (row[mid] <= x) base = mid;\n      size -= half;\n    }}\n    \
                     p2[u] = (int)(size == 0 ? 0 : base + (row[base] <= x ? 1 : 0));\n"
                );
                let f = self.simple(
                    "search_sorted",
                    &[(t, false), (t, false), ("int", true)],
                    &body,
                );
                vec![launch(f, vec![sorted, v, out], outer * queries)]
            }
            &Native::TopK {
                x,
                out,
                rows,
                len,
                k,
                dtype: d,
            } => {
                let t = elem_type(d);
                // Rank keys under IEEE total order as signed integers (a NaN above +inf,
                // -0 below +0), ties to the lower position: the k best by repeated
                // selection of the best element ranked below the previous one.
                let key = match d {
                    DType::F32 => {
                        "i64 key(float v) { int b = (int)rlp_f32_bits(v); return (i64)(b ^ (int)(((u32)(b >> 31)) >> 1)); }"
                    }
                    DType::F64 => {
                        "i64 key(double v) { i64 b = (i64)rlp_f64_bits(v); return b ^ (i64)(((u64)(b >> 63)) >> 1); }"
                    }
                    _ => "i64 key(int v) { return (i64)v; }",
                };
                let key = key.replace("i64 key(", "RLP_DEV i64 @NAME@_key(");
                let body = format!(
                    "    const {t}* row = p0 + u * {len};\n    i64 pk = 0, pi = -1;\n    \
                     for (i64 j = 0; j < {k}; j++) {{\n      i64 bk = 0, bi = -1;\n      \
                     for (i64 i = 0; i < {len}; i++) {{\n        i64 ki = @NAME@_key(row[i]);\n        \
                     bool below = pi < 0 || ki < pk || (ki == pk && i > pi);\n        \
                     bool better = bi < 0 || ki > bk || (ki == bk && i < bi);\n        \
                     if (below && better) {{ bk = ki; bi = i; }}\n      }}\n      \
                     p1[u * {k} + j] = (int)bi;\n      pk = bk; pi = bi;\n    }}\n"
                );
                let source = format!("{key}\n{}", signature(&[(t, false), ("int", true)], &body));
                let f = self.push("top_k", &[(t, false), ("int", true)], source);
                vec![launch(f, vec![x, out], rows)]
            }
        }
    }
}

/// A grid-stride function over `u` with the given buffer parameters (`(type, writes)`).
fn signature(params: &[(&str, bool)], body: &str) -> String {
    let mut s = String::from("RLP_GLOBAL void @NAME@(");
    for (i, (t, write)) in params.iter().enumerate() {
        let c = if *write { "" } else { "const " };
        let _ = write!(s, "{c}{t}* __restrict__ p{i}, ");
    }
    let _ = write!(
        s,
        "i64 n, int* status) {{\n  RLP_UNITS(u, n) {{\n{body}  }}\n}}\n"
    );
    s
}

/// Writes one loop kernel.
struct KernelWriter<'k> {
    k: &'k Kernel,
    check_base: usize,
    out: String,
    /// Names of the space's coordinates (`c0`, …).
    coords: Vec<String>,
}

impl<'k> KernelWriter<'k> {
    fn new(k: &'k Kernel, check_base: usize) -> Self {
        KernelWriter {
            k,
            check_base,
            out: String::new(),
            coords: (0..k.space.len()).map(|d| format!("c{d}")).collect(),
        }
    }

    fn write(mut self) -> String {
        let k = self.k;
        let _ = writeln!(
            self.out,
            "// {} {:?}: {}",
            k.kind_name(),
            k.space,
            k.nodes
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let params: Vec<(&str, bool)> = k
            .params
            .iter()
            .map(|p| (elem_type(p.dtype), p.write))
            .collect();
        let mut head = String::from("RLP_GLOBAL void @NAME@(");
        for (i, (t, write)) in params.iter().enumerate() {
            let c = if *write { "" } else { "const " };
            let _ = write!(head, "{c}{t}* __restrict__ p{i}, ");
        }
        head.push_str("i64 n, int* status) {\n  RLP_UNITS(u, n) {\n");
        self.out.push_str(&head);
        let n_par = match &k.kind {
            KernelKind::Map { .. } | KernelKind::Scan(_) => k.space.len(),
            KernelKind::Reduce { n_kept, .. } | KernelKind::ArgMax { n_kept, .. } => *n_kept,
        };
        self.decompose("u", 0, n_par, "    ");
        match &k.kind {
            KernelKind::Map { stores } => {
                self.out.push_str("    i64 t = 0; (void)t;\n");
                let all: Vec<ValId> = (0..k.insts.len()).map(|i| ValId(i as u32)).collect();
                self.insts(&all, "    ");
                for &(param, v) in stores {
                    let val = self.store_value(param, v);
                    let _ = writeln!(self.out, "    p{param}[u] = {val};");
                }
            }
            KernelKind::Reduce {
                op,
                value,
                out,
                n_kept,
            } => {
                let d = k.insts[value.index()].dtype;
                let ident = match (op, d) {
                    (ReduceOp::Sum, _) => constant(d, 0.0),
                    (ReduceOp::Max, DType::I32) => constant(d, f64::from(i32::MIN)),
                    (ReduceOp::Min, DType::I32) => constant(d, f64::from(i32::MAX)),
                    (ReduceOp::Max, _) => constant(d, f64::NEG_INFINITY),
                    (ReduceOp::Min, _) => constant(d, f64::INFINITY),
                };
                let inner: usize = k.space[*n_kept..].iter().product();
                let _ = writeln!(
                    self.out,
                    "    {} acc = {ident};\n    for (i64 r = 0; r < {inner}; r++) {{\n      i64 t = 0; (void)t;",
                    value_type(d)
                );
                self.decompose("r", *n_kept, k.space.len(), "      ");
                let all: Vec<ValId> = (0..k.insts.len()).map(|i| ValId(i as u32)).collect();
                self.insts(&all, "      ");
                let v = format!("v{}", value.0);
                let combined = match (op, d) {
                    (ReduceOp::Sum, DType::I32) => format!("rlp_add_i32(acc, {v})"),
                    (ReduceOp::Sum, _) => format!("acc + {v}"),
                    (ReduceOp::Max, _) => format!("rlp_max_{}(acc, {v})", suffix(d)),
                    (ReduceOp::Min, _) => format!("rlp_min_{}(acc, {v})", suffix(d)),
                };
                let _ = writeln!(self.out, "      acc = {combined};\n    }}");
                let _ = writeln!(self.out, "    p{out}[u] = acc;");
            }
            KernelKind::ArgMax { value, out, n_kept } => {
                let d = k.insts[value.index()].dtype;
                let inner: usize = k.space[*n_kept..].iter().product();
                let _ = writeln!(
                    self.out,
                    "    {} best = 0; int at = 0;\n    for (i64 r = 0; r < {inner}; r++) {{\n      i64 t = 0; (void)t;",
                    value_type(d)
                );
                self.decompose("r", *n_kept, k.space.len(), "      ");
                let all: Vec<ValId> = (0..k.insts.len()).map(|i| ValId(i as u32)).collect();
                self.insts(&all, "      ");
                let v = format!("v{}", value.0);
                // The first maximum; a NaN counts as larger than anything (the first wins).
                let take = if d.is_float() {
                    format!("r == 0 || (best == best && ({v} != {v} || {v} > best))")
                } else {
                    format!("r == 0 || {v} > best")
                };
                let _ = writeln!(
                    self.out,
                    "      if ({take}) {{ best = {v}; at = (int)r; }}\n    }}\n    p{out}[u] = at;"
                );
            }
            KernelKind::Scan(s) => {
                self.out.push_str("    i64 t = 0;\n");
                self.insts(&s.prologue, "    ");
                for (c, init) in s.init.iter().enumerate() {
                    let d = k.insts[init.index()].dtype;
                    let _ = writeln!(self.out, "    {} carry{c} = v{};", value_type(d), init.0);
                }
                let _ = writeln!(
                    self.out,
                    "    for (i64 step = 0; step < {len}; step++) {{\n      t = {t};",
                    len = s.length,
                    t = if s.reverse {
                        format!("{} - 1 - step", s.length)
                    } else {
                        "step".into()
                    }
                );
                self.insts(&s.body, "      ");
                for &(param, v, index) in &s.step_stores {
                    let val = self.store_value(param, v);
                    let ix = self.index(index);
                    let _ = writeln!(self.out, "      p{param}[{ix}] = {val};");
                }
                for (c, next) in s.next.iter().enumerate() {
                    let d = k.insts[next.index()].dtype;
                    let _ = writeln!(self.out, "      {} next{c} = v{};", value_type(d), next.0);
                }
                for c in 0..s.next.len() {
                    let _ = writeln!(self.out, "      carry{c} = next{c};");
                }
                self.out.push_str("    }\n");
                for (c, &(param, index)) in s.final_stores.iter().enumerate() {
                    let ix = self.index(index);
                    let val = if k.params[param].dtype == DType::Bool {
                        format!("(u8)carry{c}")
                    } else {
                        format!("carry{c}")
                    };
                    let _ = writeln!(self.out, "    p{param}[{ix}] = {val};");
                }
            }
        }
        self.out.push_str("  }\n}\n");
        self.out
    }

    fn store_value(&self, param: usize, v: ValId) -> String {
        if self.k.params[param].dtype == DType::Bool {
            format!("(u8)v{}", v.0)
        } else {
            format!("v{}", v.0)
        }
    }

    /// Declares the coordinates of dims `lo..hi` from the flat index `flat`.
    fn decompose(&mut self, flat: &str, lo: usize, hi: usize, pad: &str) {
        let mut rest = flat.to_string();
        for d in (lo..hi).rev() {
            let size = self.k.space[d];
            if d == lo {
                let _ = writeln!(self.out, "{pad}i64 {} = {rest};", self.coords[d]);
            } else {
                let _ = writeln!(self.out, "{pad}i64 {} = {rest} % {size};", self.coords[d]);
                rest = format!("({rest} / {size})");
            }
        }
        if lo == hi {
            let _ = writeln!(self.out, "{pad}(void){flat};");
        }
    }

    /// The index's value as an `i64` expression (dynamic terms checked by the caller).
    fn index(&self, id: IndexId) -> String {
        let ix: &Index = &self.k.indices[id.index()];
        let mut terms = vec![];
        if ix.offset != 0 {
            terms.push(ix.offset.to_string());
        }
        for (d, &s) in ix.strides.iter().enumerate() {
            match s {
                0 => {}
                1 => terms.push(self.coords[d].clone()),
                s => terms.push(format!("{} * {s}", self.coords[d])),
            }
        }
        if ix.step_stride != 0 {
            terms.push(format!("t * {}", ix.step_stride));
        }
        for dt in &ix.dynamic {
            terms.push(format!("(i64)v{} * {}", dt.value.0, dt.stride));
        }
        if terms.is_empty() {
            "0".into()
        } else {
            format!("({})", terms.join(" + "))
        }
    }

    /// Bounds checks of the index's dynamic terms.
    fn checks_of(&mut self, id: IndexId, pad: &str) {
        let ix = &self.k.indices[id.index()];
        for dt in &ix.dynamic {
            let _ = writeln!(
                self.out,
                "{pad}if ((u64)(i64)v{} >= {}ull) {{ rlp_fail(status, {}); return; }}",
                dt.value.0,
                dt.bound,
                self.check_base + dt.check + 1
            );
        }
    }

    fn insts(&mut self, list: &[ValId], pad: &str) {
        for &v in list {
            self.inst(v, pad);
        }
    }

    fn inst(&mut self, id: ValId, pad: &str) {
        let k = self.k;
        let inst = &k.insts[id.index()];
        let d = inst.dtype;
        let ty = value_type(d);
        let val = |v: ValId| format!("v{}", v.0);
        let dtype_of = |v: ValId| k.insts[v.index()].dtype;
        let expr = match &inst.op {
            &Op::Load { param, index } => {
                self.checks_of(index, pad);
                let ix = self.index(index);
                if k.params[param].dtype == DType::Bool {
                    format!("(p{param}[{ix}] != 0)")
                } else {
                    format!("p{param}[{ix}]")
                }
            }
            &Op::Const(c) => constant(d, c),
            &Op::Coord(index) => format!("(int){}", self.index(index)),
            &Op::Unary(op, a) => unary(op, d, &val(a)),
            &Op::Binary(op, a, b) => binary(op, dtype_of(a), &val(a), &val(b)),
            &Op::Select(c, a, b) => format!("{} ? {} : {}", val(c), val(a), val(b)),
            &Op::Cast(a) => cast(dtype_of(a), d, &val(a)),
            &Op::Random {
                dist,
                seed,
                stream,
                c0,
                c1,
                counter,
            } => {
                self.checks_of(counter, pad);
                let f = match dist {
                    Distribution::Uniform => "rlp_uniform",
                    Distribution::Normal => "rlp_normal",
                };
                format!(
                    "({ty}){f}({seed}ull, {stream}u, {}, {}, (u64){})",
                    val(c0),
                    val(c1),
                    self.index(counter)
                )
            }
            &Op::Carry(c) => format!("carry{c}"),
            Op::Step => "(int)t".into(),
            &Op::Assert(cond, check, _) => {
                let _ = writeln!(
                    self.out,
                    "{pad}if (!{}) {{ rlp_fail(status, {}); return; }}",
                    val(cond),
                    self.check_base + check + 1
                );
                val(cond)
            }
        };
        let _ = writeln!(self.out, "{pad}{ty} v{} = {expr};", id.0);
    }
}

fn unary(op: UnaryOp, d: DType, a: &str) -> String {
    let f = match (d, op) {
        (DType::Bool, UnaryOp::Not) => return format!("!{a}"),
        (DType::I32, UnaryOp::Neg) => "rlp_neg_i32",
        (DType::I32, UnaryOp::Abs) => "rlp_abs_i32",
        (DType::I32, UnaryOp::Sign) => "rlp_sign_i32",
        (_, UnaryOp::Neg) => return format!("-{a}"),
        (DType::F32, UnaryOp::Exp) => "rlp_exp_f32",
        (DType::F32, UnaryOp::Log) => "rlp_ln_f32",
        (DType::F32, UnaryOp::Sqrt) => "sqrtf",
        (DType::F32, UnaryOp::Tanh) => "rlp_tanh_f32",
        (DType::F32, UnaryOp::Sin) => "rlp_sin_f32",
        (DType::F32, UnaryOp::Cos) => "rlp_cos_f32",
        (DType::F32, UnaryOp::Abs) => "fabsf",
        (DType::F32, UnaryOp::Sign) => "rlp_sign_f32",
        (DType::F32, UnaryOp::Floor) => "floorf",
        (DType::F64, UnaryOp::Exp) => "exp",
        (DType::F64, UnaryOp::Log) => "log",
        (DType::F64, UnaryOp::Sqrt) => "sqrt",
        (DType::F64, UnaryOp::Tanh) => "tanh",
        (DType::F64, UnaryOp::Sin) => "rlp_sin_f64",
        (DType::F64, UnaryOp::Cos) => "rlp_cos_f64",
        (DType::F64, UnaryOp::Abs) => "fabs",
        (DType::F64, UnaryOp::Sign) => "rlp_sign_f64",
        (DType::F64, UnaryOp::Floor) => "floor",
        (d, op) => unreachable!("{op:?} on {d} (rejected by the verifier)"),
    };
    format!("{f}({a})")
}

fn binary(op: BinaryOp, d: DType, a: &str, b: &str) -> String {
    let infix = |o: &str| format!("{a} {o} {b}");
    match op {
        BinaryOp::Lt => infix("<"),
        BinaryOp::Le => infix("<="),
        BinaryOp::Gt => infix(">"),
        BinaryOp::Ge => infix(">="),
        BinaryOp::Eq => infix("=="),
        BinaryOp::Ne => infix("!="),
        BinaryOp::And => infix("&&"),
        BinaryOp::Or => infix("||"),
        _ if d == DType::I32 => {
            let f = match op {
                BinaryOp::Add => "add",
                BinaryOp::Sub => "sub",
                BinaryOp::Mul => "mul",
                BinaryOp::Div => "div",
                BinaryOp::Rem => "rem",
                BinaryOp::Max => "max",
                BinaryOp::Min => "min",
                _ => unreachable!("{op:?} on i32"),
            };
            format!("rlp_{f}_i32({a}, {b})")
        }
        BinaryOp::Add => infix("+"),
        BinaryOp::Sub => infix("-"),
        BinaryOp::Mul => infix("*"),
        BinaryOp::Div => infix("/"),
        BinaryOp::Rem => format!("rlp_rem_{}({a}, {b})", suffix(d)),
        BinaryOp::Max => format!("rlp_max_{}({a}, {b})", suffix(d)),
        BinaryOp::Min => format!("rlp_min_{}({a}, {b})", suffix(d)),
        BinaryOp::Pow if d == DType::F32 => format!("powf({a}, {b})"),
        BinaryOp::Pow => format!("pow({a}, {b})"),
        BinaryOp::Atan2 if d == DType::F32 => format!("atan2f({a}, {b})"),
        BinaryOp::Atan2 => format!("atan2({a}, {b})"),
    }
}

fn cast(from: DType, to: DType, a: &str) -> String {
    match (from, to) {
        _ if from == to => a.to_string(),
        (DType::F32 | DType::F64, DType::I32) => format!("rlp_f64_to_i32((double){a})"),
        (DType::F32 | DType::F64 | DType::I32, DType::Bool) => format!("({a} != 0)"),
        (DType::Bool, DType::I32) => format!("(int){a}"),
        (DType::Bool, _) => format!("({})(int){a}", value_type(to)),
        (_, _) => format!("({}){a}", value_type(to)),
    }
}

/// The launch ids of [`finite_check_module`]'s functions: `[f32, f64]` × `[NaN or Inf,
/// Inf only]`.
pub const FINITE_CHECKS: [[usize; 2]; 2] = [[0, 1], [2, 3]];
/// The launch id of [`finite_check_module`]'s range check: `x: i32[n]`, `bound: i32[1]`,
/// fails unless every `x` is in `0..bound`.
pub const RANGE_CHECK: usize = 4;

/// Functions that look for non-finite values in a buffer: each sets its status word to
/// 1 if any element is NaN or ±Inf (or, in the `infinite` variants, ±Inf), so a check
/// over every value a stage wrote brings back one word per value instead of the values;
/// and one that checks row indices against their bound the same way.
pub fn finite_check_module() -> Module {
    let mut e = Emitter::default();
    for (t, exp, mag) in [
        ("float", "0x7f800000u", "0x7fffffffu"),
        ("double", "0x7ff0000000000000ull", "0x7fffffffffffffffull"),
    ] {
        let bits = if t == "float" {
            "rlp_f32_bits"
        } else {
            "rlp_f64_bits"
        };
        let nonfinite =
            format!("    if (({bits}(p0[u]) & {exp}) == {exp}) {{ rlp_fail(status, 1); }}\n");
        let infinite =
            format!("    if (({bits}(p0[u]) & {mag}) == {exp}) {{ rlp_fail(status, 1); }}\n");
        e.simple(&format!("nonfinite_{t}"), &[(t, false)], &nonfinite);
        e.simple(&format!("infinite_{t}"), &[(t, false)], &infinite);
    }
    e.simple(
        "in_range",
        &[("int", false), ("int", false)],
        "    if (p0[u] < 0 || p0[u] >= p1[0]) { rlp_fail(status, 1); }\n",
    );
    Module {
        source: e.source(),
        functions: e.functions,
        checks: vec!["a non-finite value".into()],
        plan: Plan { steps: vec![] },
    }
}
