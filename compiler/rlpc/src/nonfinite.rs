//! Tracing a NaN or Inf back to the source expression that made it.
//!
//! The trainer checks every slot a stage writes; that names the slot and the stage,
//! which is rarely where the problem is (a NaN loss usually starts at a `log` or a
//! division several lines up). When a check fails, the stage's graph is evaluated again
//! on the same inputs with the reference interpreter, keeping every intermediate value,
//! and the non-finite output is followed backwards through non-finite arguments to the
//! node that produced a non-finite value from finite ones. That node's op and `origin`
//! are the answer.
//!
//! Walking back from the bad output (rather than taking the first non-finite node in
//! the graph) matters: programs legitimately build infinities that never reach an
//! output, such as a `-inf` mask fed to a `max`.
//!
//! When the walk ends at a `scan` (a loop: rollouts, returns), the scan is replayed
//! step by step and the walk continues inside its body at the first step that went bad.
//!
//! This runs only on the error path, so it favours simplicity over speed and memory: it
//! re-evaluates the unoptimised graph with every node made an output.

use crate::diag::{FileId, Loc, SourceMap};
use rlp_ir::{Graph, NodeId, Op, Origin, Scan, Tensor};
use rlp_syntax::ast::Span;

/// The node a non-finite value started at.
#[derive(Debug, Clone)]
pub struct Culprit {
    pub node: NodeId,
    /// The op's name as the IR prints it (`log`, `div`, `exp`…).
    pub op: &'static str,
    pub origin: Option<Origin>,
    /// When the node is inside loop bodies: the step of each enclosing `scan`, outermost
    /// first, with the scan's origin.
    pub loops: Vec<(usize, Option<Origin>)>,
    /// How many elements of its value are NaN, +Inf and -Inf, and how many it has.
    pub nan: usize,
    pub pos_inf: usize,
    pub neg_inf: usize,
    pub len: usize,
}

/// Finds where the non-finite value in output `output` of `graph` comes from, given the
/// inputs the stage ran on. `None` when the interpreter does not reproduce the value
/// (or fails): the caller then reports the stage alone.
pub fn locate(graph: &Graph, inputs: &[Tensor], output: usize) -> Option<Culprit> {
    trace(graph, inputs, &[output])
}

/// Evaluates `graph` keeping every tensor value, then walks back from the first of
/// `outputs` that is non-finite. A walk that ends at a `scan` (non-finite results from
/// finite arguments) continues inside its body, step by step.
fn trace(graph: &Graph, inputs: &[Tensor], outputs: &[usize]) -> Option<Culprit> {
    let mut g = graph.clone();
    let tensor_nodes: Vec<NodeId> = g
        .ids()
        .filter(|&id| g.node(id).ty.as_tensor().is_some())
        .collect();
    g.outputs = tensor_nodes.clone();
    let values = rlp_ir::interp::run(&g, inputs).ok()?;
    // `None` for tuple-valued nodes (scans), which only `project` reads.
    let mut value: Vec<Option<Tensor>> = vec![None; g.nodes.len()];
    for (id, v) in tensor_nodes.into_iter().zip(values) {
        value[id.index()] = Some(v);
    }
    // An input is never the culprit: a stage's inputs were checked when they were written
    // (a NaN there means "no value yet", as an episode return before its first episode
    // ends), and a scan body's inputs are carries and slices its own trace accounts for.
    let bad = |id: NodeId| {
        !matches!(g.node(id).op, Op::Input(_))
            && value[id.index()].as_ref().is_none_or(|t| !t.all_finite())
    };
    let start = outputs
        .iter()
        .filter_map(|&k| graph.outputs.get(k).copied())
        .find(|&id| bad(id))?;
    // Follow the earliest non-finite argument until none is. A `project` of a scan
    // steps onto the scan (which has no value of its own, so counts as bad).
    let (mut cur, mut came_from) = (start, start);
    while let Some(next) = g.node(cur).args.iter().copied().filter(|&a| bad(a)).min() {
        (came_from, cur) = (cur, next);
    }
    let node = g.node(cur);
    if let (Op::Scan(scan), Op::Project(k)) = (&node.op, &g.node(came_from).op) {
        let args: Vec<Tensor> = node
            .args
            .iter()
            .map(|a| value[a.index()].clone())
            .collect::<Option<_>>()?;
        if let Some(mut inner) = trace_scan(scan, &args, *k) {
            inner.loops[0].1 = node.origin;
            return Some(inner);
        }
    }
    let xs = value[cur.index()]
        .as_ref()
        .or(value[came_from.index()].as_ref())
        .map(|t| t.to_f64_vec())
        .unwrap_or_default();
    Some(Culprit {
        node: cur,
        op: node.op.name(),
        origin: node.origin,
        loops: vec![],
        nan: xs.iter().filter(|v| v.is_nan()).count(),
        pos_inf: xs.iter().filter(|&&v| v == f64::INFINITY).count(),
        neg_inf: xs.iter().filter(|&&v| v == f64::NEG_INFINITY).count(),
        len: xs.len(),
    })
}

/// Replays a scan whose arguments are finite, one step at a time, and traces the first
/// step whose body makes a non-finite carry or per-step output `k` (the result the
/// caller came by; a non-finite carry is checked too, since it feeds every later step).
fn trace_scan(scan: &Scan, args: &[Tensor], k: usize) -> Option<Culprit> {
    let (n_carry, n_seq) = (scan.n_carry, scan.n_seq);
    let (seqs, invariants) = args[n_carry..].split_at(n_seq);
    let mut carries: Vec<Tensor> = args[..n_carry].to_vec();
    let steps: Box<dyn Iterator<Item = usize>> = if scan.reverse {
        Box::new((0..scan.length).rev())
    } else {
        Box::new(0..scan.length)
    };
    for t in steps {
        let mut inputs = carries.clone();
        inputs.extend(seqs.iter().map(|s| row(s, t)));
        inputs.extend(invariants.iter().cloned());
        inputs.push(Tensor::I32(ndarray::arr0(t as i32).into_dyn()));
        let outs = rlp_ir::interp::run(&scan.body, &inputs).ok()?;
        let finite = |i: usize| outs.get(i).is_none_or(Tensor::all_finite);
        // Output `k`, and every carry that turns non-finite at this step (one that came
        // in non-finite — a "no value yet" NaN carried along — is not news).
        let watched: Vec<usize> = std::iter::once(k)
            .filter(|&i| !finite(i))
            .chain((0..n_carry).filter(|&i| !finite(i) && carries[i].all_finite()))
            .collect();
        if !watched.is_empty() {
            let mut c = trace(&scan.body, &inputs, &watched)?;
            c.loops.insert(0, (t, None));
            return Some(c);
        }
        carries = outs[..n_carry].to_vec();
    }
    None
}

/// `t[i]` along axis 0.
fn row(t: &Tensor, i: usize) -> Tensor {
    use ndarray::Axis;
    match t {
        Tensor::F32(a) => Tensor::F32(a.index_axis(Axis(0), i).to_owned()),
        Tensor::F64(a) => Tensor::F64(a.index_axis(Axis(0), i).to_owned()),
        Tensor::I32(a) => Tensor::I32(a.index_axis(Axis(0), i).to_owned()),
        Tensor::Bool(a) => Tensor::Bool(a.index_axis(Axis(0), i).to_owned()),
    }
}

impl Culprit {
    /// The source location of the node, if it has one.
    pub fn loc(&self) -> Option<Loc> {
        self.origin.map(to_loc)
    }

    /// A multi-line explanation: the op, `file:line:col`, the source line with the
    /// expression underlined, and what the value held.
    pub fn describe(&self, sources: Option<&SourceMap>) -> String {
        let mut s = format!("the first non-finite value was made by `{}`", self.op);
        match (self.loc(), sources) {
            (Some(loc), Some(m)) => {
                s.push_str(&format!(" at {}\n", m.describe(loc)));
                s.push_str(&source_excerpt(m, loc));
            }
            _ => s.push_str(" (no source location)\n"),
        }
        if let (Some(site), Some(m)) = (self.origin.and_then(|o| o.called_from), sources) {
            s.push_str(&called_from(m, site));
        }
        for (step, origin) in self.loops.iter().rev() {
            s.push_str(&format!("  in step {step} of the loop"));
            match (origin.map(to_loc), sources) {
                (Some(loc), Some(m)) => s.push_str(&format!(" at {}\n", m.describe(loc))),
                _ => s.push('\n'),
            }
        }
        let mut parts = vec![];
        for (n, what) in [
            (self.nan, "NaN"),
            (self.pos_inf, "+Inf"),
            (self.neg_inf, "-Inf"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if !parts.is_empty() {
            s.push_str(&format!(
                "  it held {} in {} element{}, from finite inputs",
                parts.join(", "),
                self.len,
                if self.len == 1 { "" } else { "s" }
            ));
        }
        s
    }
}

pub(crate) fn to_loc(o: Origin) -> Loc {
    Loc::new(
        FileId(o.file),
        Span {
            start: o.start,
            end: o.end,
        },
    )
}

/// `  called from file:line:col` and the user's call underlined: where a program's call
/// led into the library function an error is located in.
pub(crate) fn called_from(m: &SourceMap, site: rlp_ir::Site) -> String {
    let loc = Loc::new(
        FileId(site.file),
        Span {
            start: site.start,
            end: site.end,
        },
    );
    format!(
        "  called from {}\n{}",
        m.describe(loc),
        source_excerpt(m, loc)
    )
}

/// The source line a location starts on, with `^` under the located part (on that
/// line), indented to sit under an error message.
pub(crate) fn source_excerpt(m: &SourceMap, loc: Loc) -> String {
    let text = m.text(loc.file);
    let at = (loc.span.start as usize).min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = &text[line_start..line_end];
    let end = (loc.span.end as usize).clamp(at, line_end);
    // Tabs stay tabs so the carets line up under the expression.
    let lead: String = text[line_start..at]
        .chars()
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let width = text[at..end].chars().count().max(1);
    format!("    | {line}\n    | {lead}{}\n", "^".repeat(width))
}
