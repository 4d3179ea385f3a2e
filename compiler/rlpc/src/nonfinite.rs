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
//! This runs only on the error path, so it favours simplicity over speed and memory: it
//! re-evaluates the unoptimised graph with every node made an output.

use crate::diag::{FileId, Loc, SourceMap};
use rlp_ir::{Graph, NodeId, Origin, Tensor};
use rlp_syntax::ast::Span;

/// The node a non-finite value started at.
#[derive(Debug, Clone)]
pub struct Culprit {
    pub node: NodeId,
    /// The op's name as the IR prints it (`log`, `div`, `scan`…).
    pub op: &'static str,
    pub origin: Option<Origin>,
    /// Whether the node is a `scan`: the value was made somewhere inside its body.
    pub in_loop: bool,
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
    let start = *graph.outputs.get(output)?;
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
    let bad = |id: NodeId| value[id.index()].as_ref().is_none_or(|t| !t.all_finite());
    if !bad(start) {
        return None;
    }
    let mut cur = start;
    // A `project` of a scan with a non-finite value means the scan made it: step onto
    // the scan (counted as bad), then on through its arguments.
    while let Some(next) = g.node(cur).args.iter().copied().filter(|&a| bad(a)).min() {
        cur = next;
    }
    let node = g.node(cur);
    // A scan has no value of its own: count the elements of the projection we came by.
    let counted = value[cur.index()].as_ref().or_else(|| {
        g.ids()
            .filter(|&id| g.node(id).args.contains(&cur))
            .find_map(|id| value[id.index()].as_ref().filter(|t| !t.all_finite()))
    });
    let xs = counted.map(|t| t.to_f64_vec()).unwrap_or_default();
    Some(Culprit {
        node: cur,
        op: node.op.name(),
        origin: node.origin,
        in_loop: value[cur.index()].is_none(),
        nan: xs.iter().filter(|v| v.is_nan()).count(),
        pos_inf: xs.iter().filter(|&&v| v == f64::INFINITY).count(),
        neg_inf: xs.iter().filter(|&&v| v == f64::NEG_INFINITY).count(),
        len: xs.len(),
    })
}

impl Culprit {
    /// The source location of the node, if it has one.
    pub fn loc(&self) -> Option<Loc> {
        self.origin.map(|o| {
            Loc::new(
                FileId(o.file),
                Span {
                    start: o.start,
                    end: o.end,
                },
            )
        })
    }

    /// A multi-line explanation: the op, `file:line:col`, the source line with the
    /// expression underlined, and what the value held.
    pub fn describe(&self, sources: Option<&SourceMap>) -> String {
        let mut s = format!("the first non-finite value was made by `{}`", self.op);
        if self.in_loop {
            s.push_str(" (inside the loop's body)");
        }
        match (self.loc(), sources) {
            (Some(loc), Some(m)) => {
                s.push_str(&format!(" at {}\n", m.describe(loc)));
                s.push_str(&source_excerpt(m, loc));
            }
            _ => s.push_str(" (no source location)\n"),
        }
        let mut parts = vec![];
        for (n, what) in [(self.nan, "NaN"), (self.pos_inf, "+Inf"), (self.neg_inf, "-Inf")] {
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

/// The source line a location starts on, with `^` under the located part (on that
/// line), indented to sit under an error message.
fn source_excerpt(m: &SourceMap, loc: Loc) -> String {
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
