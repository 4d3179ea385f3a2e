//! `rlpc explain`: what a program became — its slots, each stage's graph after any
//! pass of the optimiser (with how its `for`/`repeat` statements were lowered: scan
//! nodes or unrolled, and why), and the kernels the JIT fuses it into (or, with
//! `--backend cuda`, the CUDA source generated for each).

use crate::program::{LoopLowering, Program};
use std::fmt::Write;

/// Which graphs to show.
#[derive(Clone, Debug, Default)]
pub struct ExplainOptions {
    /// Show each stage's graph after this pass: `lower` (as the front end built it,
    /// gradients included) or a pass of `rlp_ir::opt::PASSES`. `None`: after the last.
    pub after: Option<String>,
    /// Show the graph after every pass.
    pub every_pass: bool,
    /// Show the fused kernels.
    pub kernels: bool,
    /// Show each kernel as the CUDA backend's generated source instead of one line.
    pub cuda_source: bool,
}

/// The names `--after` accepts, in pipeline order.
pub fn pass_names() -> Vec<&'static str> {
    std::iter::once("lower")
        .chain(rlp_ir::opt::PASSES.iter().map(|(n, _)| *n))
        .collect()
}

pub fn explain(p: &Program, opts: &ExplainOptions) -> Result<String, String> {
    let names = pass_names();
    let after = opts.after.as_deref().unwrap_or(names[names.len() - 1]);
    if !names.contains(&after) {
        return Err(format!(
            "unknown pass `{after}`; passes: {}",
            names.join(", ")
        ));
    }
    let mut s = String::new();
    let _ = writeln!(s, "train {}: {}", p.unit, p.iterations);
    let _ = writeln!(s, "slots:");
    for (i, slot) in p.slots.iter().enumerate() {
        let _ = writeln!(s, "  ${i} {} : {} ({:?})", slot.name, slot.ty, slot.kind);
    }
    for st in std::iter::once(&p.init).chain(&p.stages) {
        let name = |r: &crate::program::SlotId| p.slot(*r).name.clone();
        let _ = writeln!(
            s,
            "\n== stage {} (every {} after {}): reads [{}] writes [{}]",
            st.kind.name(),
            st.schedule.period,
            st.schedule.after,
            st.reads.iter().map(name).collect::<Vec<_>>().join(", "),
            st.writes.iter().map(name).collect::<Vec<_>>().join(", ")
        );
        for w in &st.row_writes {
            let _ = writeln!(
                s,
                "-- then rows of {} rewritten in place: row {} {} {}",
                name(&w.slot),
                name(&w.index),
                if w.add { "+=" } else { "=" },
                name(&w.rows)
            );
        }
        if let Some(x) = &st.external {
            let e = &p.externals[x.env];
            let _ = writeln!(
                s,
                "-- external rollout of `{}` ({} envs on {} workers) for {} steps: the graph below is the policy, run once per step",
                e.id, e.envs, e.workers, x.steps
            );
        }
        if !st.loops.is_empty() {
            let _ = writeln!(s, "-- loops");
        }
        for l in &st.loops {
            let pad = "  ".repeat(l.depth + 1);
            let _ = writeln!(s, "{pad}{} `{}`", l.at, l.header);
            let _ = match &l.lowering {
                LoopLowering::Loop { carries, sequences } => writeln!(
                    s,
                    "{pad}  a scan node of {} steps: carries [{}], {} stacked sequence{}",
                    l.iterations,
                    carries.join(", "),
                    sequences,
                    if *sequences == 1 { "" } else { "s" }
                ),
                LoopLowering::Unrolled(why) => {
                    writeln!(s, "{pad}  unrolled {} times: {why}", l.iterations)
                }
            };
        }
        let mut g = st.graph.clone();
        for pass in &names {
            if *pass != "lower" {
                let f = rlp_ir::opt::PASSES
                    .iter()
                    .find(|(n, _)| n == pass)
                    .expect("a pass")
                    .1;
                g = f(&g);
            }
            if opts.every_pass || *pass == after {
                let _ = writeln!(s, "-- after {pass}: {} nodes", g.nodes.len());
                let _ = write!(s, "{g}");
            }
            if !opts.every_pass && *pass == after {
                break;
            }
        }
        if opts.kernels {
            let g = rlp_ir::opt::optimize(&st.graph);
            if opts.cuda_source {
                let _ = writeln!(s, "-- CUDA source");
                let _ = write!(s, "{}", rlp_cuda::explain(&g)?);
            } else {
                let _ = writeln!(s, "-- kernels");
                let _ = write!(
                    s,
                    "{}",
                    rlp_jit::kernels_summary(&g, &rlp_jit::JitOptions::default())
                );
            }
        }
    }
    Ok(s)
}
