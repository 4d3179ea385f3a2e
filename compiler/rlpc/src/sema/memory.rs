//! What a lowered program will need of the machine's memory, checked before it runs.
//!
//! Shapes come from the source, so a typo (`zeros([100000000000])`, a scan of 10^11
//! steps, an MLP with a million inputs and units) asks for terabytes. Two checks run on
//! the lowered program, so `rlpc check` catches both:
//! 1. every tensor's size in bytes must be a number an allocation can hold (element
//!    counts and sizes are checked products, not wrapping ones) — `shape-too-large`;
//! 2. the estimate of [`estimate`] must fit the memory limit (the machine's memory, or
//!    the user's `--memory-limit` / `RLPC_MEMORY_LIMIT`) — `out-of-memory`.

use crate::diag::{Diag, FileId, Loc};
use crate::program::{Program, SlotId, SlotKind, Stage, StageKind};
use rlp_ir::{Graph, Op, Origin, TensorType, Type};
use rlp_runtime::memory::{LIMIT_VAR, format_bytes, memory_limit};
use rlp_syntax::ast::Span;

/// The memory a program may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MemoryBudget {
    /// `RLPC_MEMORY_LIMIT` when set, else the machine's total memory.
    #[default]
    Machine,
    /// At most this many bytes.
    Limit(u64),
    /// No check.
    Unlimited,
}

/// Fails with a diagnostic when a tensor of `p` cannot exist (its size overflows), or
/// when the program needs more memory than `budget` allows.
pub fn check(p: &Program, budget: MemoryBudget) -> Result<(), Diag> {
    for stage in stages(p) {
        check_shapes(&stage.graph, stage)?;
    }
    let limit = match budget {
        MemoryBudget::Machine => memory_limit().map_err(|e| {
            Diag::new("bad-value", e).help("write a size such as `64G` or `512MiB`, or `none`")
        })?,
        MemoryBudget::Limit(bytes) => Some(bytes),
        MemoryBudget::Unlimited => None,
    };
    let Some(limit) = limit else {
        return Ok(());
    };
    let need = estimate(p);
    if need.total() <= limit {
        return Ok(());
    }
    Err(too_much(p, &need, limit, budget))
}

/// The init graph, then the stages.
fn stages(p: &Program) -> impl Iterator<Item = &Stage> {
    std::iter::once(&p.init).chain(&p.stages)
}

/// `shape-too-large` at the first node (in this graph or a scan body) whose size in
/// bytes overflows.
fn check_shapes(g: &Graph, stage: &Stage) -> Result<(), Diag> {
    for node in &g.nodes {
        if let Some(ty) = tensor_types(&node.ty).find(|t| t.checked_bytes().is_none()) {
            let dims: Vec<String> = ty.shape.iter().map(usize::to_string).collect();
            return Err(Diag::new(
                "shape-too-large",
                format!(
                    "a tensor of shape [{}] has more elements than any memory can hold",
                    dims.join(", ")
                ),
            )
            .label(node_loc(node.origin, stage), format!("this is {ty}"))
            .help(format!(
                "a tensor's size in bytes must be below 2^63 (this one would be {} × {} bytes)",
                dims.join(" × "),
                ty.dtype.size_bytes()
            )));
        }
        if let Op::Scan(s) = &node.op {
            check_shapes(&s.body, stage)?;
        }
    }
    Ok(())
}

fn tensor_types(t: &Type) -> impl Iterator<Item = &TensorType> {
    match t {
        Type::Tensor(t) => std::slice::from_ref(t).iter(),
        Type::Tuple(ts) => ts.iter(),
    }
}

/// Bytes of a node's value (0 for sizes [`check_shapes`] rejects).
fn bytes_of(t: &Type) -> u64 {
    tensor_types(t)
        .map(|t| t.checked_bytes().unwrap_or(0))
        .fold(0, u64::saturating_add)
}

/// Where a node came from, or the stage when it has no source location.
fn node_loc(origin: Option<Origin>, stage: &Stage) -> Loc {
    match origin {
        Some(o) => Loc::new(
            FileId(o.file),
            Span {
                start: o.start,
                end: o.end,
            },
        ),
        None => stage.loc,
    }
}

/// An upper estimate of a program's memory, in bytes.
#[derive(Clone, Debug, Default)]
pub struct Estimate {
    /// Every slot some graph writes: parameters, optimizer moments, environment state,
    /// counters and the batches that pass between stages, all held by the trainer.
    pub state: u64,
    /// Per stage (`init` first, then [`Program::stages`] in order): the most memory its
    /// intermediates and new outputs hold at once. Summed, not maxed: an executable
    /// keeps its buffers from one run to the next.
    pub stages: Vec<u64>,
    /// The largest tensors, largest first (at most three).
    pub largest: Vec<Tensor>,
}

/// One tensor of the program, for naming in the diagnostic.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub bytes: u64,
    pub ty: TensorType,
    /// The slot it becomes, if it is a stage's output.
    pub slot: Option<String>,
    pub loc: Loc,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.stages
            .iter()
            .fold(self.state, |a, &b| a.saturating_add(b))
    }
}

/// Estimates what running `p` holds in memory at most: its state plus, per stage, the
/// peak of the values alive at once as its graph runs in order (a value lives from the
/// node that makes it to its last reader). Fused kernels hold fewer intermediates than
/// that, so it errs high.
pub fn estimate(p: &Program) -> Estimate {
    let mut written: Vec<SlotId> = stages(p).flat_map(|s| s.writes.iter().copied()).collect();
    written.push(p.counter);
    written.sort();
    written.dedup();
    let state = written
        .iter()
        .map(|&s| p.slot(s).ty.checked_bytes().unwrap_or(0))
        .fold(0, u64::saturating_add);
    let mut largest = vec![];
    let stage_peaks = stages(p)
        .map(|stage| {
            // The init graph's outputs are the state; a stage's transient outputs that it
            // does not read are written into the memory of last iteration's values.
            let kept = |k: usize| {
                let s = stage.writes[k];
                stage.kind == StageKind::Init
                    || (p.slot(s).kind == SlotKind::Transient && !stage.reads.contains(&s))
            };
            let excluded: Vec<rlp_ir::NodeId> = (0..stage.graph.outputs.len())
                .filter(|&k| kept(k))
                .map(|k| stage.graph.outputs[k])
                .collect();
            collect_tensors(p, stage, &stage.graph, &mut largest);
            peak(&stage.graph, &excluded)
        })
        .collect();
    largest.sort_by(|a: &Tensor, b: &Tensor| {
        b.bytes
            .cmp(&a.bytes)
            .then(b.slot.is_some().cmp(&a.slot.is_some()))
    });
    // One tensor per source location: the same expression's copies say nothing new.
    let mut seen: Vec<Loc> = vec![];
    largest.retain(|t| {
        let new = !seen.contains(&t.loc);
        seen.push(t.loc);
        new
    });
    largest.truncate(3);
    Estimate {
        state,
        stages: stage_peaks,
        largest,
    }
}

/// Whether a node reads its first argument in place: the JIT folds broadcasts,
/// reshapes, transposes, slices and row indexing into the loads of their readers, and a
/// constant into the code, so none takes memory of its own unless it is an output.
fn is_view(op: &Op) -> bool {
    matches!(
        op,
        Op::Const(_)
            | Op::Broadcast
            | Op::Reshape
            | Op::Transpose(_)
            | Op::Slice { .. }
            | Op::DynIndex
            | Op::StopGradient
            | Op::Project(_)
    )
}

/// The most bytes alive at once while `g` runs node by node; `excluded` outputs (and
/// inputs, which are lent) take none. A scan adds its body's peak while it runs.
fn peak(g: &Graph, excluded: &[rlp_ir::NodeId]) -> u64 {
    // A view's readers keep what it reads alive (a projection: the scan's results).
    let root = |mut n: usize| {
        while is_view(&g.nodes[n].op) && !g.nodes[n].args.is_empty() {
            n = g.nodes[n].args[0].index();
        }
        n
    };
    let n = g.nodes.len();
    let mut last_use: Vec<usize> = (0..n).collect();
    for (i, node) in g.nodes.iter().enumerate() {
        for a in &node.args {
            let r = root(a.index());
            last_use[r] = last_use[r].max(i);
        }
    }
    for o in &g.outputs {
        let r = root(o.index());
        last_use[r] = n;
        last_use[o.index()] = n;
    }
    let output = |i: usize| g.outputs.iter().any(|o| o.index() == i);
    let excluded_element = |i: usize, k: usize| {
        excluded.iter().any(|e| {
            g.nodes[e.index()].op == Op::Project(k) && g.nodes[e.index()].args[0].index() == i
        })
    };
    // Nodes no output depends on, and a scan's results nothing live projects, are
    // dropped by dead-code elimination (a rollout's batch fields nothing reads).
    let mut reached = vec![false; n];
    let mut stack: Vec<usize> = g.outputs.iter().map(|o| o.index()).collect();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut reached[i], true) {
            stack.extend(g.nodes[i].args.iter().map(|a| a.index()));
        }
    }
    let projected: Vec<(usize, usize)> = (0..n)
        .filter(|&i| reached[i])
        .filter_map(|i| match g.nodes[i].op {
            Op::Project(k) => Some((g.nodes[i].args[0].index(), k)),
            _ => None,
        })
        .collect();
    let size = |i: usize| -> u64 {
        let node = &g.nodes[i];
        match (&node.op, &node.ty) {
            _ if !reached[i] => 0,
            (Op::Input(_) | Op::Project(_), _) => 0,
            (_, Type::Tuple(ts)) => ts
                .iter()
                .enumerate()
                .filter(|(k, _)| projected.contains(&(i, *k)) && !excluded_element(i, *k))
                .map(|(_, t)| t.checked_bytes().unwrap_or(0))
                .fold(0, u64::saturating_add),
            _ if excluded.iter().any(|e| e.index() == i) => 0,
            (op, _) if is_view(op) && !output(i) => 0,
            (_, ty) => bytes_of(ty),
        }
    };
    let mut dying: Vec<Vec<usize>> = vec![vec![]; n + 1];
    for (i, &l) in last_use.iter().enumerate() {
        dying[l].push(i);
    }
    let (mut live, mut most) = (0u64, 0u64);
    for (i, node) in g.nodes.iter().enumerate() {
        live = live.saturating_add(size(i));
        let inner = match &node.op {
            Op::Scan(s) => peak(&s.body, &[]),
            _ => 0,
        };
        most = most.max(live.saturating_add(inner));
        for &d in &dying[i] {
            live = live.saturating_sub(size(d));
        }
    }
    most
}

/// Every tensor `g` (and its scan bodies) makes, with its size and where it is made.
fn collect_tensors(p: &Program, stage: &Stage, g: &Graph, out: &mut Vec<Tensor>) {
    let is_stage_graph = std::ptr::eq(g, &stage.graph);
    for (i, node) in g.nodes.iter().enumerate() {
        let output = g.outputs.iter().any(|o| o.index() == i);
        if matches!(node.op, Op::Input(_)) || (is_view(&node.op) && !output) {
            continue;
        }
        let slot = if is_stage_graph {
            g.outputs
                .iter()
                .position(|o| o.index() == i)
                .map(|k| p.slot(stage.writes[k]))
        } else {
            None
        };
        // A slot made inside a library call is reported at that call in the user's file.
        let loc = slot
            .and_then(|s| s.site)
            .unwrap_or_else(|| node_loc(node.origin, stage));
        for ty in tensor_types(&node.ty) {
            out.push(Tensor {
                bytes: ty.checked_bytes().unwrap_or(0),
                ty: ty.clone(),
                slot: slot.map(|s| s.name.clone()),
                loc,
            });
        }
        if let Op::Scan(s) = &node.op {
            collect_tensors(p, stage, &s.body, out);
        }
    }
}

/// `out-of-memory`: the total and its parts, the largest tensors labelled where they
/// are made, and how to override the limit.
fn too_much(p: &Program, need: &Estimate, limit: u64, budget: MemoryBudget) -> Diag {
    let mut parts = vec![(need.state, "state and batches".to_string())];
    let names = stages(p).map(|s| format!("stage `{}`", s.kind.name()));
    let mut by_stage: Vec<(u64, String)> = need.stages.iter().copied().zip(names).collect();
    by_stage.sort_by(|a, b| b.0.cmp(&a.0));
    parts.extend(by_stage.into_iter().filter(|(b, _)| *b > 0).take(2));
    let parts: Vec<String> = parts
        .iter()
        .map(|(b, name)| format!("{name} {}", format_bytes(*b)))
        .collect();
    let has = match budget {
        MemoryBudget::Limit(_) => format!("the memory limit is {}", format_bytes(limit)),
        _ if std::env::var_os(LIMIT_VAR).is_some() => {
            format!("the memory limit ({LIMIT_VAR}) is {}", format_bytes(limit))
        }
        _ => format!("this machine has {}", format_bytes(limit)),
    };
    let mut d = Diag::new(
        "out-of-memory",
        format!(
            "this program needs ~{} of memory ({}), but {has}",
            format_bytes(need.total()),
            parts.join(", ")
        ),
    );
    // The largest, and others only where they are a good part of the total.
    let worth = |k: usize, t: &Tensor| k == 0 || t.bytes >= need.total() / 10;
    for (k, t) in need
        .largest
        .iter()
        .enumerate()
        .filter(|(k, t)| worth(*k, t))
    {
        let what = match &t.slot {
            Some(name) => format!("`{name}` is {} = {}", t.ty, format_bytes(t.bytes)),
            None => format!("{} = {}", t.ty, format_bytes(t.bytes)),
        };
        let lead = if k == 0 { "the largest tensor: " } else { "" };
        d = d.label(t.loc, format!("{lead}{what}"));
    }
    d.help(format!(
        "make the largest tensors smaller (fewer environments, steps or units); if the \
         estimate is wrong for this machine, raise the limit with `--memory-limit SIZE` \
         or {LIMIT_VAR}=SIZE (`none` turns the check off)"
    ))
}
