//! The elaborator: runs a program's compile-time part and builds its tensor graphs.
//!
//! Expressions over numbers, lists, records and functions are evaluated here; tensor
//! expressions emit IR nodes into the graph on top of the context stack (a stage graph,
//! with scan bodies stacked above it). Shapes and dtypes are checked as each node is
//! emitted, so every error points at the source before anything runs.

use super::builtins::{Args, Builtin};
use super::modules::{ModId, Modules};
use super::shapes::{DimEnv, check_value};
use super::value::{Closure, Frame, Src, TVal, Value};
use crate::diag::{Diag, FileId, Loc, did_you_mean};
use crate::program::{Slot, SlotId, SlotKind};
use rlp_ir::{BinaryOp, DType, Graph, NodeId, Op, Origin, TensorType, UnaryOp};
use rlp_syntax::ast::{self, BinOp, ExprKind, IndexItem, StmtKind, UnOp};
use std::collections::HashMap;
use std::rc::Rc;

/// Deepest call nesting before a program is judged to recurse without end.
const MAX_CALL_DEPTH: usize = 200;
/// Deepest expression nesting the elaborator follows (a long `a + b + …` chain nests).
const MAX_EXPR_DEPTH: usize = 5_000;

/// What an input of the graph under construction stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The value of a slot: a stage graph's input, or in a loop body the slot's value
    /// at the start of the step (a carry when the body writes the slot).
    Slot(SlotId),
    /// A scan body's carry (in a loop body: a name the body rebinds).
    Carry,
    /// A scan body's slice of an outer sequence (outer node id).
    Seq(NodeId),
    /// A scan body's loop-invariant capture of an outer node.
    Inv(NodeId),
    /// A scan body's step index.
    Step,
}

/// What kind of graph a context builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtxKind {
    /// A stage (or the init graph): its inputs are slots, its outputs the slots it wrote.
    Stage,
    /// The body of a `scan` expression: state cannot be updated in it.
    Scan,
    /// The body of a `for`/`repeat` statement lowered as a loop (`super::loops`): it
    /// reads and writes slots like a stage; the slots it writes become its carries.
    Loop,
}

/// One graph under construction.
#[derive(Clone)]
pub struct Ctx {
    pub id: u32,
    pub kind: CtxKind,
    pub graph: Graph,
    pub roles: Vec<Role>,
    /// For stage graphs: the current value of each slot read or written.
    pub slot_vals: HashMap<SlotId, NodeId>,
    /// Slots written, in first-write order.
    pub writes: Vec<SlotId>,
    /// Parameters overwritten by `<-` in this graph (a target network made a copy of
    /// another): a `minimize` without `wrt` leaves them out, though their value is the
    /// other network's.
    pub copied: Vec<SlotId>,
    lifted: HashMap<NodeId, NodeId>,
    seqs: HashMap<NodeId, NodeId>,
    rng: Option<(NodeId, NodeId)>,
    /// For scan bodies: the loop variable and the length.
    pub scan: Option<(NodeId, usize)>,
    /// A stage graph that is the `init` graph (no iteration counter yet).
    pub is_init: bool,
    /// Unrolled loops running in this graph, outermost first: `(length, index)`. Random
    /// draws made in them use `c1 = (c1 · length + index)…`, as a loop's draws do.
    pub unrolled: Vec<(usize, usize)>,
    /// The counters adjusted for `unrolled` (cleared when it changes).
    unrolled_rng: Option<(NodeId, NodeId)>,
    /// For loop bodies: gradient checks that wait for the body's writes to be known
    /// (`super::loops::check_deferred`).
    pub deferred: Vec<(SlotId, Vec<SlotId>)>,
}

pub struct Elab<'a> {
    pub mods: &'a Modules,
    pub slots: Vec<Slot>,
    pub ctxs: Vec<Ctx>,
    next_graph: u32,
    pub next_stream: u32,
    /// One past the highest stream handed out: the next stream of an unrolled loop's
    /// iterations restarts at the loop's first, so draws made in the init graph from
    /// inside one (state created on first use) take theirs from here.
    pub stream_mark: u32,
    pub seed: u64,
    depth: usize,
    /// The call sites of the calls under way, outermost first: a `require` reports at
    /// the call of the function it is in.
    pub call_sites: Vec<Loc>,
    /// The names of the functions those calls run, for warnings: `` `clip` ``, or for a
    /// function-valued field, its name (`` `log_prob` ``); and whether it is a built-in.
    call_names: Vec<(String, bool)>,
    /// The latest comparisons of two numbers known at compile time (a few), each with the
    /// values of its sides (`` `n` is 10000, `buf.capacity` is 4000 ``): a failed
    /// `require` shows those written inside its condition (both of a range check's).
    last_compare: Vec<(Loc, String)>,
    /// Warnings so far, each once (a body traced twice warns once).
    pub warnings: Vec<Diag>,
    /// The data files read so far (`dataset`, `pretrained`), as resolved.
    pub files_read: Vec<std::path::PathBuf>,
    expr_depth: usize,
    /// The expression being elaborated; nodes are tagged with it.
    pub loc: Loc,
    pub counter: SlotId,
    /// Environment steps taken by the stage being built.
    pub env_steps: u64,
    /// Name prefix for parameters created now (the top-level binding being evaluated).
    pub owner: String,
    /// The init graph while a stage is being built (swapped in by [`Elab::in_init`]).
    pub init: Option<Ctx>,
    /// Whether statements like `minimize`, `<-` and stages are allowed here.
    pub in_train: bool,
    /// External environments declared so far.
    pub externals: Vec<crate::program::ExternalEnvDecl>,
    /// External rollouts met in the stage being built: they run before it.
    pub pending: Vec<crate::program::Stage>,
    /// Lowering options.
    pub opts: super::Options,
    /// Optimizer state made on first use, in order: what a loop body may create
    /// (`super::loops`), and what undoing a traced loop body restores.
    pub opt_log: Vec<OptLog>,
    /// Slots created as optimizer state (by `minimize`, on first use).
    pub opt_slots: Vec<SlotId>,
    /// Set while optimizer state is being created.
    pub making_opt_state: bool,
    /// How each loop was lowered, by the id of the stage graph it is in.
    pub loop_notes: Vec<(u32, crate::program::LoopNote)>,
    /// What the [`SlotKind::Data`] slots made so far hold (`dataset(…)`).
    pub data: Vec<(SlotId, rlp_ir::Tensor)>,
}

/// An optimizer's first-use state before a `minimize` added to it.
pub struct OptLog {
    pub opt: Rc<super::value::OptDef>,
    pub states: usize,
    pub count: Option<SlotId>,
}

pub type R<T> = Result<T, Diag>;

impl<'a> Elab<'a> {
    pub fn new(mods: &'a Modules, seed: u64) -> Elab<'a> {
        let mut e = Elab {
            mods,
            slots: vec![],
            ctxs: vec![],
            next_graph: 0,
            next_stream: 0,
            stream_mark: 0,
            seed,
            depth: 0,
            call_sites: vec![],
            call_names: vec![],
            last_compare: vec![],
            warnings: vec![],
            files_read: vec![],
            expr_depth: 0,
            loc: Loc::default(),
            counter: SlotId(0),
            env_steps: 0,
            owner: String::new(),
            init: None,
            in_train: false,
            externals: vec![],
            pending: vec![],
            opts: super::Options::default(),
            opt_log: vec![],
            opt_slots: vec![],
            making_opt_state: false,
            loop_notes: vec![],
            data: vec![],
        };
        e.counter = e.new_slot(
            "iteration",
            TensorType::scalar(DType::I32),
            SlotKind::Counter,
        );
        e
    }

    // ----- slots and contexts -------------------------------------------------------

    pub fn new_slot(&mut self, name: &str, ty: TensorType, kind: SlotKind) -> SlotId {
        let mut unique = name.to_string();
        let mut k = 1;
        while self.slots.iter().any(|s| s.name == unique) {
            k += 1;
            unique = format!("{name}#{k}");
        }
        self.slots.push(Slot {
            name: unique,
            ty,
            kind,
            nan_is_missing: false,
            starts_missing: false,
            site: self.call_sites.first().copied(),
        });
        let id = SlotId(self.slots.len() as u32 - 1);
        if self.making_opt_state {
            self.opt_slots.push(id);
        }
        id
    }

    pub fn push_ctx(&mut self, is_init: bool) {
        let id = self.next_graph;
        self.next_graph += 1;
        self.ctxs.push(Ctx {
            id,
            kind: CtxKind::Stage,
            graph: Graph::new(),
            roles: vec![],
            slot_vals: HashMap::new(),
            writes: vec![],
            copied: vec![],
            lifted: HashMap::new(),
            seqs: HashMap::new(),
            rng: None,
            scan: None,
            is_init,
            unrolled: vec![],
            unrolled_rng: None,
            deferred: vec![],
        });
    }

    fn top(&mut self) -> &mut Ctx {
        self.ctxs.last_mut().expect("a graph context")
    }

    /// Runs `f` with the init graph as the current graph (to create state with an
    /// initial value while a stage is being built).
    pub fn in_init<T>(&mut self, f: impl FnOnce(&mut Elab<'a>) -> R<T>) -> R<T> {
        let Some(init) = self.init.take() else {
            return f(self); // already building the init graph
        };
        let saved = std::mem::take(&mut self.ctxs);
        self.ctxs.push(init);
        // Inside an unrolled loop's later iterations the stream numbers restart; the
        // init graph's draws take fresh ones.
        let (stream, restarted) = (self.next_stream, self.next_stream < self.stream_mark);
        self.next_stream = self.stream_mark;
        let out = f(self);
        if restarted {
            self.next_stream = stream;
        }
        let init = self.ctxs.pop().expect("init ctx");
        self.ctxs = saved;
        self.init = Some(init);
        out
    }

    fn origin(&self) -> Option<Origin> {
        let called_from = (self.call_sites.first())
            .filter(|site| site.file != self.loc.file)
            .map(|site| rlp_ir::Site {
                file: site.file.0,
                start: site.span.start,
                end: site.span.end,
            });
        Some(Origin {
            file: self.loc.file.0,
            start: self.loc.span.start,
            end: self.loc.span.end,
            called_from,
        })
    }

    /// Emits a node whose type follows from its arguments.
    pub fn emit(&mut self, op: Op, args: Vec<NodeId>) -> R<NodeId> {
        let origin = self.origin();
        let loc = self.loc;
        let g = &mut self.top().graph;
        let id = g.add(op, args).map_err(|e| {
            Diag::new("internal", format!("ill-typed node: {e}")).label(loc, "while compiling this")
        })?;
        g.nodes[id.index()].origin = origin;
        Ok(id)
    }

    /// Emits a node with an explicit result type.
    pub fn emit_typed(&mut self, op: Op, args: Vec<NodeId>, ty: TensorType) -> NodeId {
        let origin = self.origin();
        let g = &mut self.top().graph;
        let id = g.add_typed(op, args, ty);
        g.nodes[id.index()].origin = origin;
        id
    }

    /// The type of a node of the current graph.
    pub fn top_ty(&mut self, id: NodeId) -> TensorType {
        self.top().graph.ty(id).clone()
    }

    pub fn tval(&mut self, id: NodeId) -> TVal {
        let ty = self.top().graph.ty(id).clone();
        TVal {
            src: Src::Node {
                graph: self.top().id,
                id,
            },
            ty,
        }
    }

    /// The node holding `tv` in the current graph, capturing it from an enclosing
    /// graph or reading its slot as needed.
    pub fn node(&mut self, tv: &TVal) -> R<NodeId> {
        let level = self.ctxs.len() - 1;
        self.node_at(level, tv)
    }

    fn node_at(&mut self, level: usize, tv: &TVal) -> R<NodeId> {
        match tv.src {
            Src::Node { graph, id } if self.ctxs[level].id == graph => Ok(id),
            Src::Slot(s) if self.ctxs[level].kind != CtxKind::Scan => Ok(self.read_slot(level, s)),
            _ if level == 0 => Err(Diag::new("stage-value", "this value was computed in another stage or graph and is not available here")
                .label(self.loc, "used here")
                .help("bind it to a name in an earlier stage of the same iteration, or make it state at top level")),
            _ => {
                let outer = self.node_at(level - 1, tv)?;
                Ok(self.lift(level, outer, tv.ty.clone()))
            }
        }
    }

    fn lift(&mut self, level: usize, outer: NodeId, ty: TensorType) -> NodeId {
        if let Some(&n) = self.ctxs[level].lifted.get(&outer) {
            return n;
        }
        let ctx = &mut self.ctxs[level];
        let n = ctx.graph.add_input(ty);
        ctx.roles.push(Role::Inv(outer));
        ctx.lifted.insert(outer, n);
        n
    }

    /// The current value of a slot in the stage or loop graph at `level`.
    pub fn read_slot(&mut self, level: usize, s: SlotId) -> NodeId {
        let ty = self.slots[s.0 as usize].ty.clone();
        let ctx = &mut self.ctxs[level];
        if let Some(&n) = ctx.slot_vals.get(&s) {
            return n;
        }
        let n = ctx.graph.add_input(ty);
        ctx.roles.push(Role::Slot(s));
        ctx.slot_vals.insert(s, n);
        n
    }

    /// Whether the current graph is a stage or a loop body (reads and writes slots).
    pub fn top_owns_slots(&self) -> bool {
        self.ctxs.last().is_some_and(|c| c.kind != CtxKind::Scan)
    }

    /// Sets the value of slot `s` in the current stage or loop graph.
    pub fn write_slot(&mut self, s: SlotId, v: &TVal) -> R<()> {
        if !self.top_owns_slots() {
            return Err(Diag::new(
                "state-in-loop",
                "state cannot be updated inside a `scan` body",
            )
            .label(self.loc, "updated here"));
        }
        if self.slots[s.0 as usize].kind == SlotKind::Data {
            return Err(Diag::new(
                "read-only",
                format!(
                    "`{}` is a dataset's rows, which a program reads but does not write",
                    self.slots[s.0 as usize].name
                ),
            )
            .label(self.loc, "written here")
            .help(
                "copy the rows into state of your own first: `mine = zeros(…)`, then `mine <- …`",
            ));
        }
        let want = self.slots[s.0 as usize].ty.clone();
        let v = self.convert(v, &want, self.loc)?;
        let n = self.node(&v)?;
        let ctx = self.top();
        ctx.slot_vals.insert(s, n);
        if !ctx.writes.contains(&s) {
            ctx.writes.push(s);
        }
        Ok(())
    }

    /// Closes the base graph: its inputs are the slots it read, its outputs the slots
    /// it wrote.
    pub fn finish_stage(&mut self) -> (Graph, Vec<SlotId>, Vec<SlotId>) {
        let mut ctx = self.ctxs.pop().expect("stage ctx");
        let reads = ctx
            .roles
            .iter()
            .map(|r| {
                if let Role::Slot(s) = r {
                    *s
                } else {
                    unreachable!("stage graphs read only slots")
                }
            })
            .collect();
        let writes = ctx.writes.clone();
        ctx.graph.outputs = writes.iter().map(|s| ctx.slot_vals[s]).collect();
        (ctx.graph, reads, writes)
    }

    /// A fresh random stream and the counters of the current graph.
    pub fn rng(&mut self) -> R<(u32, NodeId, NodeId)> {
        let stream = self.next_stream;
        self.next_stream += 1;
        self.stream_mark = self.stream_mark.max(self.next_stream);
        let (c0, c1) = self.counters(self.ctxs.len() - 1)?;
        Ok((stream, c0, c1))
    }

    /// Makes the current graph draw its random numbers at counters `(c0, c1)`.
    pub fn set_counters(&mut self, c0: NodeId, c1: NodeId) {
        self.top().rng = Some((c0, c1));
    }

    /// Sets which iteration of which unrolled loops the graph at `level` is in.
    pub fn set_unrolled(&mut self, level: usize, unrolled: Vec<(usize, usize)>) {
        let ctx = &mut self.ctxs[level];
        ctx.unrolled = unrolled;
        ctx.unrolled_rng = None;
    }

    fn counters(&mut self, level: usize) -> R<(NodeId, NodeId)> {
        let (c0, c1) = self.base_counters(level)?;
        if self.ctxs[level].unrolled.is_empty() {
            return Ok((c0, c1));
        }
        if let Some(c) = self.ctxs[level].unrolled_rng {
            return Ok(c);
        }
        let i32s = TensorType::scalar(DType::I32);
        let mut c1 = c1;
        for (len, k) in self.ctxs[level].unrolled.clone() {
            let g = &mut self.ctxs[level].graph;
            let l = g.add_typed(Op::Const(len as f64), vec![], i32s.clone());
            let m = g.add(Op::Binary(BinaryOp::Mul), vec![c1, l]).unwrap();
            let k = g.add_typed(Op::Const(k as f64), vec![], i32s.clone());
            c1 = g.add(Op::Binary(BinaryOp::Add), vec![m, k]).unwrap();
        }
        self.ctxs[level].unrolled_rng = Some((c0, c1));
        Ok((c0, c1))
    }

    fn base_counters(&mut self, level: usize) -> R<(NodeId, NodeId)> {
        if let Some(c) = self.ctxs[level].rng {
            return Ok(c);
        }
        let i32s = TensorType::scalar(DType::I32);
        let c = if level == 0 {
            let c0 = if self.ctxs[0].is_init {
                self.ctxs[0]
                    .graph
                    .add_typed(Op::Const(-1.0), vec![], i32s.clone())
            } else {
                self.read_slot(0, self.counter)
            };
            let c1 = self.ctxs[0].graph.add_typed(Op::Const(0.0), vec![], i32s);
            (c0, c1)
        } else {
            let (o0, o1) = self.counters(level - 1)?;
            let i0 = self.lift(level, o0, i32s.clone());
            let i1 = self.lift(level, o1, i32s.clone());
            let (t, len) = self.ctxs[level].scan.expect("scan ctx");
            let g = &mut self.ctxs[level].graph;
            // c1 = outer_c1 * length + t keeps nested loops' counters distinct.
            let l = g.add_typed(Op::Const(len as f64), vec![], i32s);
            let m = g.add(Op::Binary(BinaryOp::Mul), vec![i1, l]).unwrap();
            let c1 = g.add(Op::Binary(BinaryOp::Add), vec![m, t]).unwrap();
            (i0, c1)
        };
        self.ctxs[level].rng = Some(c);
        Ok(c)
    }

    // ----- scans --------------------------------------------------------------------

    /// Builds a scan. `body` gets the carries and the step index and returns the new
    /// carries and the per-step outputs. A carry whose type the body changes (a scalar
    /// `0.0` that becomes `[N]`) is widened and the body built again.
    pub fn scan(
        &mut self,
        length: usize,
        reverse: bool,
        names: &[String],
        mut inits: Vec<TVal>,
        body: &mut dyn FnMut(&mut Elab<'a>, Vec<TVal>, TVal) -> R<(Vec<TVal>, Vec<TVal>)>,
    ) -> R<(Vec<TVal>, Vec<TVal>)> {
        let loc = self.loc;
        for attempt in 0..3 {
            self.push_ctx(false);
            self.top().kind = CtxKind::Scan;
            let mut carries = vec![];
            for init in &inits {
                let n = self.top().graph.add_input(init.ty.clone());
                self.top().roles.push(Role::Carry);
                carries.push(self.tval(n));
            }
            let t = self.top().graph.add_input(TensorType::scalar(DType::I32));
            self.top().roles.push(Role::Step);
            self.top().scan = Some((t, length));
            let tv = self.tval(t);
            let result = body(self, carries, tv);
            let (new, ys) = match result {
                Ok(r) => r,
                Err(d) => {
                    self.ctxs.pop();
                    return Err(d);
                }
            };
            // Widen carries whose type the body changed, then try again.
            let mut widened = false;
            for (i, n) in new.iter().enumerate() {
                if n.ty != inits[i].ty {
                    let target = widen(&inits[i].ty, &n.ty).ok_or_else(|| {
                        Diag::new(
                            "carry-type",
                            format!(
                                "scan carry `{}` starts as {} but the loop body makes it {}",
                                names.get(i).map_or("?", |s| s),
                                inits[i].ty,
                                n.ty
                            ),
                        )
                        .label(loc, "in this scan")
                        .help("give the carry an initial value of the type the body produces")
                    });
                    let target = match target {
                        Ok(t) => t,
                        Err(d) => {
                            self.ctxs.pop();
                            return Err(d);
                        }
                    };
                    if target != inits[i].ty {
                        widened = true;
                        inits[i].ty = target; // re-made below in the outer graph
                    }
                }
            }
            if widened && attempt < 2 {
                self.ctxs.pop();
                for (i, init) in inits.iter_mut().enumerate() {
                    if let Some(n) = new.get(i) {
                        let _ = n;
                    }
                    let want = init.ty.clone();
                    let orig = TVal {
                        src: init.src,
                        ty: self.type_of_src(init)?,
                    };
                    *init = self.convert(&orig, &want, loc)?;
                }
                continue;
            }
            // Convert the new carries to the carry types (dtype promotion, broadcast).
            let mut outs = vec![];
            for (i, n) in new.iter().enumerate() {
                let c = self.convert(n, &inits[i].ty, loc)?;
                outs.push(self.node(&c)?);
            }
            for y in &ys {
                outs.push(self.node(y)?);
            }
            let ctx = self.ctxs.pop().expect("scan ctx");
            // The scan node belongs to the construct that made it, not to the last
            // expression of its body.
            self.loc = loc;
            return self.close_scan(ctx, length, reverse, &inits, outs);
        }
        unreachable!("scan widening converges in two rounds")
    }

    fn type_of_src(&mut self, tv: &TVal) -> R<TensorType> {
        Ok(match tv.src {
            Src::Slot(s) => self.slots[s.0 as usize].ty.clone(),
            Src::Node { .. } => {
                let n = self.node(tv)?;
                self.top().graph.ty(n).clone()
            }
        })
    }

    fn close_scan(
        &mut self,
        ctx: Ctx,
        length: usize,
        reverse: bool,
        inits: &[TVal],
        outs: Vec<NodeId>,
    ) -> R<(Vec<TVal>, Vec<TVal>)> {
        let n_carry = inits.len();
        // Reorder the body's inputs to [carries, sequences, invariants, step].
        let rank = |r: &Role| match r {
            Role::Carry => 0,
            Role::Seq(_) => 1,
            Role::Inv(_) => 2,
            Role::Step => 3,
            Role::Slot(_) => unreachable!("scan bodies read no slots"),
        };
        let mut order: Vec<usize> = (0..ctx.roles.len()).collect();
        order.sort_by_key(|&k| (rank(&ctx.roles[k]), k));
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let mut body = ctx.graph;
        body.inputs = order.iter().map(|&k| body.inputs[k].clone()).collect();
        for node in &mut body.nodes {
            if let Op::Input(k) = &mut node.op {
                *k = new_index[*k];
            }
        }
        body.outputs = outs;
        let mut args = vec![];
        for init in inits {
            args.push(self.node(init)?);
        }
        let n_seq = ctx
            .roles
            .iter()
            .filter(|r| matches!(r, Role::Seq(_)))
            .count();
        for &k in &order {
            match ctx.roles[k] {
                Role::Seq(o) | Role::Inv(o) => args.push(o),
                _ => {}
            }
        }
        let scan = rlp_ir::Scan {
            length,
            reverse,
            n_carry,
            n_seq,
            body,
        };
        let node = self.emit(Op::Scan(Box::new(scan)), args)?;
        let n_out = match &self.top().graph.node(node).ty {
            rlp_ir::Type::Tuple(ts) => ts.len(),
            _ => unreachable!(),
        };
        let mut projected = vec![];
        for k in 0..n_out {
            let p = self.emit(Op::Project(k), vec![node])?;
            projected.push(self.tval(p));
        }
        let ys = projected.split_off(n_carry);
        Ok((projected, ys))
    }

    // ----- conversions ----------------------------------------------------------------

    /// A compile-time number or tensor as a tensor value of `dtype` (numbers) or its
    /// own dtype (tensors).
    pub fn to_tensor(&mut self, v: &Value, loc: Loc, dtype: Option<DType>) -> R<TVal> {
        let (x, d) = match v {
            Value::Tensor(t) => return Ok(t.clone()),
            Value::Int(i) => {
                let d = dtype.unwrap_or(DType::I32);
                check_fits(d, &[*i as f64], loc)?;
                (*i as f64, d)
            }
            Value::Float(f) => {
                let d = dtype.filter(|d| d.is_float()).unwrap_or(DType::F32);
                check_fits(d, &[*f], loc)?;
                (*f, d)
            }
            Value::Bool(b) => (if *b { 1.0 } else { 0.0 }, DType::Bool),
            Value::List(items) => return self.list_tensor(items, loc, dtype),
            other => {
                return Err(Diag::new(
                    "type-mismatch",
                    format!("expected a tensor or a number, found {}", other.kind()),
                )
                .label(loc, "this is not a tensor"));
            }
        };
        let n = self.emit_typed(Op::Const(x), vec![], TensorType::scalar(d));
        Ok(self.tval(n))
    }

    /// A list of numbers, or nested lists of them (`[[1, 0], [0, 1]]`, a matrix) with
    /// every list at one depth of one length, as a literal tensor of that shape.
    fn list_tensor(&mut self, items: &[Value], loc: Loc, dtype: Option<DType>) -> R<TVal> {
        let mut vals = vec![];
        let mut float = false;
        let mut shape = vec![items.len()];
        flatten_literal(items, 1, &mut shape, &mut vals, &mut float).map_err(|problem| {
            Diag::new("type-mismatch", format!("a tensor literal {problem}"))
                .label(loc, "in this list")
                .help("a tensor literal is numbers, or lists of numbers nested to one depth with equal lengths at each depth (`[[1.0, 0.0], [0.0, 1.0]]`)")
        })?;
        let d = dtype.unwrap_or(if float { DType::F32 } else { DType::I32 });
        check_fits(d, &vals, loc)?;
        let n = self.emit_typed(Op::Literal(vals.into()), vec![], TensorType::new(d, shape));
        Ok(self.tval(n))
    }

    /// Converts `v` to exactly type `want`: dtype promotion then broadcasting.
    pub fn convert(&mut self, v: &TVal, want: &TensorType, loc: Loc) -> R<TVal> {
        let mut v = v.clone();
        if v.ty.dtype != want.dtype {
            v = self.cast(&v, want.dtype)?;
        }
        if v.ty.shape != want.shape {
            if !rlp_ir::types::broadcastable(&v.ty.shape, &want.shape) {
                return Err(Diag::new(
                    "shape-mismatch",
                    format!(
                        "expected shape {} but found {}",
                        show_shape(&want.shape),
                        show_shape(&v.ty.shape)
                    ),
                )
                .label(loc, format!("this is {}", v.ty)));
            }
            let n = self.node(&v)?;
            let b = self.emit_typed(Op::Broadcast, vec![n], want.clone());
            v = self.tval(b);
        }
        Ok(v)
    }

    pub fn cast(&mut self, v: &TVal, d: DType) -> R<TVal> {
        if v.ty.dtype == d {
            return Ok(v.clone());
        }
        let n = self.node(v)?;
        let c = self.emit_typed(Op::Cast, vec![n], TensorType::new(d, v.ty.shape.clone()));
        Ok(self.tval(c))
    }

    /// Brings two tensors to one dtype and shape for a binary op.
    pub fn unify(&mut self, a: &TVal, b: &TVal, la: Loc, lb: Loc, arith: bool) -> R<(TVal, TVal)> {
        let d = promote(a.ty.dtype, b.ty.dtype, arith);
        let shape = rlp_ir::types::broadcast_shapes(&a.ty.shape, &b.ty.shape);
        if let Some(out) = &shape {
            self.check_outer_product(a, b, out, la, lb);
        }
        let shape = shape.ok_or_else(|| {
            Diag::new(
                "shape-mismatch",
                format!(
                    "shapes {} and {} do not broadcast",
                    show_shape(&a.ty.shape),
                    show_shape(&b.ty.shape)
                ),
            )
            .label(la, format!("this is {}", a.ty))
            .label(lb, format!("this is {}", b.ty))
            .help("dimensions are matched from the right; each pair must be equal or one of them 1")
        })?;
        let t = TensorType::new(d, shape);
        Ok((self.convert(a, &t, la)?, self.convert(b, &t, lb)?))
    }

    /// Warns when broadcasting gives *both* operands an axis they did not have and
    /// their ranks differ: `[T, N, 1] - [T, N]` is `[T, N, N]` when T = N, the mark of a
    /// forgotten `[:, :, 0]`. An outer product written on purpose gives the operands
    /// the same rank (`[A, 1] * [1, B]`) or makes the size-1 axis with `reshape`.
    fn check_outer_product(&mut self, a: &TVal, b: &TVal, out: &[usize], la: Loc, lb: Loc) {
        let (sa, sb) = (&a.ty.shape, &b.ty.shape);
        if sa.len() == sb.len()
            || !gains_axis(sa, out)
            || !gains_axis(sb, out)
            || self.is_reshaped(a)
            || self.is_reshaped(b)
        {
            return;
        }
        // Inside a library function, the function whose body broadcasts is named: the
        // user's arguments gave it those shapes.
        let body = self.call_names.iter().rev().find(|(_, builtin)| !builtin);
        let within = match (self.call_sites.first(), body) {
            (Some(user), Some((f, _))) if user.file != la.file => format!("in {f}, "),
            _ => String::new(),
        };
        let d = Diag::warning(
            "outer-broadcast",
            format!(
                "{within}broadcasting {} with {} makes {}: each operand gains an axis it did not have",
                show_shape(sa),
                show_shape(sb),
                show_shape(out)
            ),
        )
        .label(la, format!("this is {}", show_shape(sa)))
        .label(lb, format!("this is {}", show_shape(sb)))
        .help("if an axis should not be there (a value head's `[:, :, 0]`), index or reduce it away; for an outer product on purpose, give both operands the same rank, e.g. `x[:, None] * y[None, :]` or `reshape(x, [A, 1]) * reshape(y, [1, B])`");
        self.warn(d);
    }

    /// Whether `v` was made by a reshape that added axes (`reshape(x, [A, 1])`: its
    /// size-1 axes are deliberate). A reshape that drops axes, as indexing `x[:, 0]`
    /// does, makes none, so its result is checked like any other.
    fn is_reshaped(&self, v: &TVal) -> bool {
        let Src::Node { graph, id } = v.src else {
            return false;
        };
        self.ctxs
            .iter()
            .chain(self.init.as_ref())
            .find(|c| c.id == graph)
            .is_some_and(|c| {
                let node = c.graph.node(id);
                matches!(node.op, Op::Reshape)
                    && node.args.first().is_none_or(|&a| {
                        c.graph.node(a).ty.tensor().rank() < node.ty.tensor().rank()
                    })
            })
    }

    /// Records a warning once, with the calls that led to it from the user's file (as
    /// an error raised in the stdlib shows them).
    pub fn warn(&mut self, mut d: Diag) {
        for (&site, (name, _)) in self.call_sites.iter().zip(&self.call_names).rev() {
            if !d.labels.iter().any(|l| l.loc.file == site.file) {
                d = d.label(site, format!("in {name}, called here"));
            }
        }
        let same = |w: &Diag| {
            w.message == d.message
                && w.labels.first().map(|l| l.loc) == d.labels.first().map(|l| l.loc)
        };
        if !self.warnings.iter().any(same) {
            self.warnings.push(d);
        }
    }

    // ----- statements and expressions -------------------------------------------------

    pub fn file(&self, fr: &Frame) -> FileId {
        self.mods.module(fr.module).file
    }

    pub fn at(&self, fr: &Frame, span: ast::Span) -> Loc {
        Loc::new(self.file(fr), span)
    }

    /// Elaborates a block's statements in `fr`, then its value.
    pub fn block(&mut self, b: &ast::Block, fr: &Rc<Frame>) -> R<Value> {
        for s in &b.stmts {
            self.stmt(s, fr)?;
        }
        match &b.value {
            Some(e) => self.expr(e, fr),
            None => Ok(Value::Unit),
        }
    }

    /// Elaborates a statement outside a `train` block (functions, top level).
    pub fn stmt(&mut self, s: &ast::Stmt, fr: &Rc<Frame>) -> R<()> {
        self.loc = self.at(fr, s.span);
        match &s.kind {
            StmtKind::Let { names, value, .. } => {
                let v = self.expr(value, fr)?;
                self.bind(names, v, fr, self.at(fr, value.span))
            }
            StmtKind::Expr(e) => self.expr(e, fr).map(|_| ()),
            StmtKind::For { var, iter, body } if !self.in_train => {
                for item in super::train::for_items(self, iter, fr)? {
                    fr.set(&var.name, item);
                    for st in body {
                        self.stmt(st, fr)?;
                    }
                }
                Ok(())
            }
            _ if self.in_train => super::train::train_stmt(self, s, fr),
            _ => Err(Diag::new(
                "misplaced",
                "this statement only makes sense inside a `train` block",
            )
            .label(self.at(fr, s.span), "not allowed here")
            .help("stages, `minimize`, `log`, `every` and state updates go inside `train { … }`")),
        }
    }

    pub fn bind(&mut self, names: &[ast::Ident], v: Value, fr: &Rc<Frame>, loc: Loc) -> R<()> {
        if names.len() == 1 {
            fr.set(&names[0].name, v);
            return Ok(());
        }
        let items = match &v {
            Value::Tuple(t) | Value::List(t) => t.clone(),
            other => {
                return Err(Diag::new(
                    "type-mismatch",
                    format!(
                        "{} names on the left but the right is {}",
                        names.len(),
                        other.kind()
                    ),
                )
                .label(loc, "not a tuple"));
            }
        };
        if items.len() != names.len() {
            return Err(Diag::new(
                "arity",
                format!(
                    "{} names on the left but {} values on the right",
                    names.len(),
                    items.len()
                ),
            )
            .label(loc, format!("{} values", items.len())));
        }
        for (n, v) in names.iter().zip(items.iter()) {
            fr.set(&n.name, v.clone());
        }
        Ok(())
    }

    pub fn expr(&mut self, e: &ast::Expr, fr: &Rc<Frame>) -> R<Value> {
        let loc = self.at(fr, e.span);
        self.loc = loc;
        self.expr_depth += 1;
        if self.expr_depth > MAX_EXPR_DEPTH {
            self.expr_depth = 0;
            return Err(Diag::new(
                "too-deep",
                format!("expressions nest deeper than {MAX_EXPR_DEPTH}"),
            )
            .label(loc, "here")
            .help("split it into named steps"));
        }
        let out = self.expr_inner(e, fr, loc);
        self.expr_depth = self.expr_depth.saturating_sub(1);
        out
    }

    fn expr_inner(&mut self, e: &ast::Expr, fr: &Rc<Frame>, loc: Loc) -> R<Value> {
        let v = match &e.kind {
            ExprKind::Int(i) => Value::Int(*i),
            ExprKind::Float(f) => Value::Float(*f),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Str(s) => Value::Str(s.as_str().into()),
            ExprKind::Name(id) => self.lookup(&id.name, fr, loc)?,
            ExprKind::List(items) => Value::List(self.exprs(items, fr)?.into()),
            ExprKind::Tuple(items) => Value::Tuple(self.exprs(items, fr)?.into()),
            ExprKind::Record(fields) => {
                let mut out = vec![];
                for (n, x) in fields {
                    out.push((n.name.clone(), self.expr(x, fr)?));
                }
                Value::record(out)
            }
            ExprKind::Unary { op, operand } => {
                let v = self.expr(operand, fr)?;
                self.loc = loc;
                self.unary(*op, v, loc)?
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(lhs, fr)?;
                if let (BinOp::And | BinOp::Or, Value::Bool(x)) = (op, &a) {
                    // Compile-time short circuit.
                    if (*op == BinOp::And) != *x {
                        return Ok(Value::Bool(*x));
                    }
                }
                let b = self.expr(rhs, fr)?;
                self.loc = loc;
                self.binary(*op, a, b, self.at(fr, lhs.span), self.at(fr, rhs.span), loc)?
            }
            ExprKind::Call { callee, args } => self.call_expr(callee, args, fr, loc)?,
            ExprKind::Field { base, name } => {
                let b = self.expr(base, fr)?;
                self.field(&b, name, self.at(fr, name.span))?
            }
            ExprKind::Index { base, indices } => {
                let b = self.expr(base, fr)?;
                self.index(b, indices, fr, loc)?
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond, fr)?;
                match c {
                    Value::Bool(true) => self.expr(then, fr)?,
                    Value::Bool(false) => self.expr(otherwise, fr)?,
                    Value::Tensor(t) => {
                        let a = self.expr(then, fr)?;
                        let b = self.expr(otherwise, fr)?;
                        self.loc = loc;
                        super::builtins::select(self, &t, &a, &b, self.at(fr, cond.span), loc)?
                    }
                    other => {
                        return Err(Diag::new(
                            "type-mismatch",
                            format!("`if` needs a bool condition, found {}", other.kind()),
                        )
                        .label(self.at(fr, cond.span), "condition"));
                    }
                }
            }
            ExprKind::Lambda { params, body } => Value::Closure(Rc::new(Closure {
                params: params.clone(),
                body: (**body).clone(),
                frame: fr.clone(),
                file: self.file(fr),
            })),
            ExprKind::Range { from, to } => {
                let a = self.expr(from, fr)?;
                let b = self.expr(to, fr)?;
                match (num(&a), num(&b)) {
                    (Some(x), Some(y)) => Value::Range(x, y),
                    _ => {
                        return Err(Diag::new(
                            "type-mismatch",
                            "a range `a -> b` needs two numbers",
                        )
                        .label(loc, "here"));
                    }
                }
            }
            ExprKind::Block(b) => {
                let inner = Frame::child(fr);
                self.block(b, &inner)?
            }
            ExprKind::Scan(s) => self.scan_expr(s, fr, loc)?,
        };
        Ok(v)
    }

    fn exprs(&mut self, es: &[ast::Expr], fr: &Rc<Frame>) -> R<Vec<Value>> {
        es.iter().map(|e| self.expr(e, fr)).collect()
    }

    pub fn lookup(&mut self, name: &str, fr: &Rc<Frame>, loc: Loc) -> R<Value> {
        if let Some(v) = fr.get(name) {
            return Ok(v);
        }
        if let Some(v) = self.mods.lookup(fr.module, name) {
            return Ok(v);
        }
        if name == super::modules::COUNTER {
            // The loop counter is visible everywhere, closures included.
            let ty = self.slots[self.counter.0 as usize].ty.clone();
            return Ok(Value::Tensor(TVal {
                src: Src::Slot(self.counter),
                ty,
            }));
        }
        if let Some(b) = Builtin::by_name(name) {
            return Ok(Value::Builtin(b));
        }
        let mut cands = fr.names();
        cands.extend(self.mods.visible_names(fr.module));
        cands.extend(Builtin::names().iter().map(|s| s.to_string()));
        let mut d =
            Diag::new("unknown-name", format!("unknown name `{name}`")).label(loc, "not defined");
        let binding = self.top_level_binding(fr, name);
        if let Some(at) = binding.filter(|at| at.file == loc.file && at.span.start > loc.span.start)
        {
            d = d
                .label(at, "bound here, below its use")
                .help(format!("bind `{name}` before the line that uses it"));
        } else if let Some(at) = binding {
            // Bound above yet not found: reached from a `fn` body, which sees its
            // parameters, its own bindings, the module's functions and what it `use`s —
            // not the file's top-level bindings.
            d = d
                .label(at, "a top-level binding, which a `fn` body does not see")
                .help(format!(
                    "pass `{name}` as a parameter, or write the function as a lambda binding \
                     (`f = x -> …`), which sees the bindings above it"
                ));
        } else if let Some(m) = super::modules::stdlib_home(name) {
            d = d.help(format!(
                "`{name}` is in `{m}`: add `use {m}.{{{name}}}` at the top of the file"
            ));
        } else if let Some(s) = did_you_mean(name, cands.iter().map(|s| s.as_str())) {
            d = d.help(format!("did you mean `{s}`?"));
        }
        Err(d)
    }

    /// Where `name` is bound at the top level of the frame's module, if it is.
    fn top_level_binding(&self, fr: &Rc<Frame>, name: &str) -> Option<Loc> {
        let m = self.mods.module(fr.module);
        m.ast
            .bindings()
            .find(|n| n.name == name)
            .map(|n| Loc::new(m.file, n.span))
    }

    fn field(&mut self, b: &Value, name: &ast::Ident, loc: Loc) -> R<Value> {
        if let Some(v) = b.field(&name.name) {
            return Ok(v);
        }
        if let Value::Module(m) = b
            && let Some(f) = self.mods.module(*m).fns.get(&name.name)
        {
            return Ok(Value::Fn(super::value::FnRef {
                module: *m,
                decl: f.clone(),
            }));
        }
        if matches!(b, Value::Int(_) | Value::Float(_) | Value::Bool(_)) && name.name == "shape" {
            return Ok(Value::List(Vec::new().into())); // a number is a scalar
        }
        if let Value::Tensor(t) = b
            && name.name == "shape"
        {
            return Ok(Value::List(
                t.ty.shape
                    .iter()
                    .map(|&d| Value::Int(d as i64))
                    .collect::<Vec<_>>()
                    .into(),
            ));
        }
        if let Value::Tensor(t) = b
            && name.name == "dtype"
        {
            return Ok(Value::Str(t.ty.dtype.name().into()));
        }
        let fields: Vec<String> = match b {
            Value::Record(fs) => fs.iter().map(|(n, _)| n.clone()).collect(),
            Value::Env(e) => e.fields.iter().map(|(n, _)| n.clone()).collect(),
            _ => vec![],
        };
        let mut d = Diag::new(
            "unknown-field",
            format!("{} has no field `{}`", b.kind(), name.name),
        )
        .label(loc, "no such field");
        if let Some(s) = did_you_mean(&name.name, fields.iter().map(|s| s.as_str())) {
            d = d.help(format!("did you mean `{s}`?"));
        } else if !fields.is_empty() {
            d = d.help(format!("its fields: {}", fields.join(", ")));
        }
        Err(d)
    }

    /// `x.f(…)` where `x` has no field `f` and no function `f` is in scope: says what `x`
    /// is and which fields it has, rather than only that the name `f` is unknown.
    fn no_method(&self, b: &Value, name: &ast::Ident, lb: Loc, ln: Loc, unknown: Diag) -> Diag {
        if unknown.code != "unknown-name" {
            return unknown;
        }
        let base = self.mods.sources.snippet(lb).to_string();
        let n = &name.name;
        let fields: Vec<String> = match b {
            Value::Record(fs) => fs.iter().map(|(f, _)| f.clone()).collect(),
            Value::Env(e) => e.fields.iter().map(|(f, _)| f.clone()).collect(),
            _ => vec![],
        };
        let d = Diag::new(
            "unknown-field",
            format!(
                "`{base}` is {} with no field `{n}`, and there is no function `{n}` to call on it",
                b.kind()
            ),
        )
        .label(ln, "no such field or function")
        .label(lb, b.kind());
        if let Some(f) = did_you_mean(n, fields.iter().map(|s| s.as_str())) {
            d.help(format!("did you mean `{base}.{f}`?"))
        } else if !fields.is_empty() {
            d.help(format!("its fields: {}", fields.join(", ")))
        } else if matches!(b, Value::Closure(_) | Value::Fn(_) | Value::Builtin(_)) {
            let also = unknown
                .help
                .map(|h| format!("; or, {h}"))
                .unwrap_or_default();
            d.help(format!(
                "a function has no fields: call it (`{base}(x)`) and take fields of what it gives{also}"
            ))
        } else {
            match unknown.help {
                Some(h) => d.help(h),
                None => d,
            }
        }
    }

    fn call_expr(
        &mut self,
        callee: &ast::Expr,
        args: &[ast::Arg],
        fr: &Rc<Frame>,
        loc: Loc,
    ) -> R<Value> {
        // `x.f(args)`: a field holding a function, else `f(x, args)` (method syntax for
        // any function whose first parameter is `x`).
        let mut pos = vec![];
        let f = if let ExprKind::Field { base, name } = &callee.kind {
            let b = self.expr(base, fr)?;
            match b.field(&name.name) {
                Some(v) => v,
                None if matches!(b, Value::Module(_)) => {
                    self.field(&b, name, self.at(fr, name.span))?
                }
                None => {
                    let lb = self.at(fr, base.span);
                    let ln = self.at(fr, name.span);
                    let f = self.lookup(&name.name, fr, ln);
                    let f = f.map_err(|d| self.no_method(&b, name, lb, ln, d))?;
                    pos.push((b, lb));
                    f
                }
            }
        } else {
            self.expr(callee, fr)?
        };
        let mut kw = vec![];
        for a in args {
            let v = self.expr(&a.value, fr)?;
            let l = self.at(fr, a.value.span);
            match &a.name {
                Some(n) => kw.push((n.clone(), v, l, self.at(fr, n.span))),
                None => pos.push((v, l)),
            }
        }
        self.loc = loc;
        self.call(f, Args { pos, kw, call: loc }, self.at(fr, callee.span))
    }

    /// Calls any callable value.
    pub fn call(&mut self, f: Value, args: Args, callee_loc: Loc) -> R<Value> {
        self.depth += 1;
        if self.depth > MAX_CALL_DEPTH {
            self.depth -= 1;
            return Err(Diag::new(
                "recursion",
                format!("calls nest deeper than {MAX_CALL_DEPTH}"),
            )
            .label(args.call, "while calling this")
            .help("a recursive function needs a base case that stops it"));
        }
        let site = args.call;
        let name = match &f {
            Value::Fn(r) => format!("`{}`", r.decl.name.name),
            Value::Builtin(b) => format!("`{}`", b.name()),
            _ => "a function".to_string(),
        };
        let called = match &f {
            Value::Closure(_) => callee_name(self.mods.sources.snippet(callee_loc))
                .map_or_else(|| name.clone(), |n| format!("`{n}`")),
            _ => name.clone(),
        };
        // A call made up by the library check sits at the function's own name.
        let at_own_name = matches!(&f, Value::Fn(r)
            if self.mods.module(r.module).file == site.file && r.decl.name.span == site.span);
        self.call_sites.push(site);
        self.call_names
            .push((called.clone(), matches!(f, Value::Builtin(_))));
        let out = self.call_inner(f, args, callee_loc);
        self.call_sites.pop();
        self.call_names.pop();
        self.depth -= 1;
        // An error raised inside another file (the stdlib, a user module) also points at
        // the call that led there, so the user sees their own line.
        // So does one raised in a function of the user's own file, when none of its
        // labels is inside the call: which of several calls failed is the question.
        out.map_err(|d| {
            let in_call = |l: &crate::diag::Label| {
                l.loc.file == site.file
                    && site.span.start <= l.loc.span.start
                    && l.loc.span.end <= site.span.end
            };
            let elsewhere = !d.labels.iter().any(|l| l.loc.file == site.file);
            let users_own = !self.mods.sources.is_stdlib(site.file);
            if site == Loc::default()
                || at_own_name
                || d.labels.iter().any(in_call)
                || !(elsewhere || users_own)
            {
                d
            } else {
                d.label(site, format!("in {called}, called here"))
            }
        })
    }

    fn call_inner(&mut self, f: Value, args: Args, callee_loc: Loc) -> R<Value> {
        let call_loc = args.call;
        match f {
            Value::Builtin(b) => b.call(self, args),
            Value::Fn(fr) => {
                let decl = fr.decl.clone();
                let frame = Frame::root(fr.module);
                let shown = format!("`{}`", decl.name.name);
                self.bind_params(&decl.params, args, &frame, &shown, Some(fr.module))?;
                let v = self.block(&decl.body, &frame)?;
                if let Some(ret) = &decl.ret {
                    let mut dims = DimEnv::from_frame(&frame);
                    let file = self.mods.module(fr.module).file;
                    return check_value(
                        self,
                        ret,
                        v,
                        &mut dims,
                        call_loc,
                        file,
                        "the return value",
                    );
                }
                Ok(v)
            }
            Value::Closure(c) => {
                let frame = Frame::child(&c.frame);
                // A lambda has no name of its own; the binding it was called through does.
                let shown = callee_name(self.mods.sources.snippet(callee_loc))
                    .map_or_else(|| "this function".to_string(), |n| format!("`{n}`"));
                self.bind_params(&c.params, args, &frame, &shown, None)?;
                self.expr(&c.body, &frame)
            }
            Value::Module(m) => {
                let name = self.mods.module(m).call_name().to_string();
                match self.mods.module(m).fns.get(&name) {
                    Some(d) => self.call_inner(
                        Value::Fn(super::value::FnRef {
                            module: m,
                            decl: d.clone(),
                        }),
                        args,
                        callee_loc,
                    ),
                    None => Err(Diag::new(
                        "not-callable",
                        format!(
                            "module `{}` has no function `{name}` to call",
                            self.mods.module(m).name
                        ),
                    )
                    .label(callee_loc, "called here")),
                }
            }
            other => Err(Diag::new(
                "not-callable",
                format!("{} is not a function", other.kind()),
            )
            .label(callee_loc, "called here")),
        }
    }

    /// Binds call arguments to parameters in `frame`: positional, then keyword, then
    /// defaults; checks declared types and binds the dimension symbols they name.
    /// `fname` is how messages name the function (already quoted).
    fn bind_params(
        &mut self,
        params: &[ast::Param],
        args: Args,
        frame: &Rc<Frame>,
        fname: &str,
        module: Option<ModId>,
    ) -> R<()> {
        let file = module
            .map(|m| self.mods.module(m).file)
            .unwrap_or(self.loc.file);
        let call = args.call;
        if args.pos.len() > params.len() {
            let extra = &args.pos[params.len()].1;
            return Err(Diag::new(
                "arity",
                format!(
                    "{fname} takes {} but {} were given",
                    plural(params.len(), "argument"),
                    args.pos.len()
                ),
            )
            .label(*extra, "unexpected argument")
            .label(call, "in this call"));
        }
        let mut given: Vec<Option<(Value, Loc)>> = vec![None; params.len()];
        for (i, (v, l)) in args.pos.into_iter().enumerate() {
            given[i] = Some((v, l));
        }
        for (name, v, l, nl) in args.kw {
            let Some(i) = params.iter().position(|p| p.name.name == name.name) else {
                let mut d = Diag::new(
                    "unknown-keyword",
                    format!("{fname} has no parameter `{}`", name.name),
                )
                .label(nl, "unknown keyword");
                let cands = params.iter().map(|p| p.name.name.as_str());
                if let Some(s) = did_you_mean(&name.name, cands) {
                    d = d.help(format!("did you mean `{s}`?"));
                } else {
                    d = d.help(format!(
                        "its parameters: {}",
                        params
                            .iter()
                            .map(|p| p.name.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                return Err(d);
            };
            if given[i].is_some() {
                return Err(
                    Diag::new("arity", format!("`{}` is given twice", name.name))
                        .label(nl, "given again here"),
                );
            }
            given[i] = Some((v, l));
        }
        let mut dims = DimEnv::default();
        for (p, g) in params.iter().zip(given) {
            let (v, l) = match g {
                Some(x) => x,
                None => match &p.default {
                    Some(d) => {
                        let v = self.expr(d, frame)?;
                        (v, call)
                    }
                    None => {
                        return Err(Diag::new(
                            "arity",
                            format!("{fname} needs the argument `{}`", p.name.name),
                        )
                        .label(call, format!("`{}` missing", p.name.name))
                        .label(Loc::new(file, p.span), "declared here"));
                    }
                },
            };
            let v = match &p.ty {
                Some(t) => check_value(
                    self,
                    t,
                    v,
                    &mut dims,
                    l,
                    file,
                    &format!("argument `{}`", p.name.name),
                )?,
                None => v,
            };
            frame.set(&p.name.name, v);
        }
        dims.bind_into(frame);
        Ok(())
    }

    fn unary(&mut self, op: UnOp, v: Value, loc: Loc) -> R<Value> {
        match (op, &v) {
            (UnOp::Neg, Value::Int(i)) => i.checked_neg().map(Value::Int).ok_or_else(|| {
                Diag::new(
                    "bad-value",
                    format!("`-({i})` does not fit in a 64-bit int"),
                )
                .label(loc, "overflows")
                .help("compile-time ints are 64-bit; write a float for a larger number")
            }),
            (UnOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
            (UnOp::Not, Value::Bool(b)) => Ok(Value::Bool(!b)),
            (_, Value::Tensor(t)) => {
                let (uop, ok) = match op {
                    UnOp::Neg => (UnaryOp::Neg, t.ty.dtype != DType::Bool),
                    UnOp::Not => (UnaryOp::Not, t.ty.dtype == DType::Bool),
                };
                if !ok {
                    return Err(Diag::new(
                        "type-mismatch",
                        format!(
                            "cannot apply `{}` to {}",
                            if op == UnOp::Neg { "-" } else { "not" },
                            t.ty
                        ),
                    )
                    .label(loc, "here"));
                }
                let n = self.node(t)?;
                let r = self.emit(Op::Unary(uop), vec![n])?;
                Ok(Value::Tensor(self.tval(r)))
            }
            _ => Err(Diag::new(
                "type-mismatch",
                format!(
                    "cannot apply `{}` to {}",
                    if op == UnOp::Neg { "-" } else { "not" },
                    v.kind()
                ),
            )
            .label(loc, "here")),
        }
    }

    pub fn binary(
        &mut self,
        op: BinOp,
        a: Value,
        b: Value,
        la: Loc,
        lb: Loc,
        loc: Loc,
    ) -> R<Value> {
        check_divisor(op, &a, &b, lb, loc)?;
        check_int_overflow(op, &a, &b, loc)?;
        if let Some(v) = fold(op, &a, &b) {
            if matches!(
                op,
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge | BinOp::Eq | BinOp::Ne
            ) {
                let side = |el: &Elab, v: &Value, l: Loc| {
                    let text = el.mods.sources.snippet(l);
                    match v {
                        Value::Int(i) if text != i.to_string() => Some(format!("`{text}` is {i}")),
                        Value::Float(f) if text.parse::<f64>().is_err() => {
                            Some(format!("`{text}` is {f}"))
                        }
                        _ => None,
                    }
                };
                let sides: Vec<String> = [side(self, &a, la), side(self, &b, lb)]
                    .into_iter()
                    .flatten()
                    .collect();
                if !sides.is_empty() {
                    if self.last_compare.len() >= 8 {
                        self.last_compare.remove(0);
                    }
                    self.last_compare.push((loc, sides.join(", ")));
                }
            }
            return Ok(v);
        }
        match (op, &a, &b) {
            (BinOp::Concat, Value::List(x), Value::List(y)) => {
                return Ok(Value::List(
                    x.iter().chain(y.iter()).cloned().collect::<Vec<_>>().into(),
                ));
            }
            (BinOp::Concat, Value::Int(x), Value::Int(y)) => return Ok(Value::Int(x + y)), // feature sizes: env.obs ++ env.act
            _ => {}
        }
        let is_tensorish = |v: &Value| {
            matches!(
                v,
                Value::Tensor(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
            )
        };
        if !is_tensorish(&a) || !is_tensorish(&b) {
            let (bad, l) = if is_tensorish(&a) { (&b, lb) } else { (&a, la) };
            return Err(Diag::new(
                "type-mismatch",
                format!("`{}` cannot take {}", op.symbol(), bad.kind()),
            )
            .label(l, "this operand")
            .label(loc, "in this expression"));
        }
        // Numbers adopt the other side's dtype.
        let hint = |v: &Value| {
            if let Value::Tensor(t) = v {
                Some(t.ty.dtype)
            } else {
                None
            }
        };
        let (ha, hb) = (hint(&a), hint(&b));
        let ta = self.to_tensor(&a, la, hb.filter(|d| *d != DType::Bool))?;
        let tb = self.to_tensor(&b, lb, ha.filter(|d| *d != DType::Bool))?;
        super::builtins::tensor_binary(self, op, &ta, &tb, la, lb, loc).map(Value::Tensor)
    }

    fn index(&mut self, b: Value, items: &[IndexItem], fr: &Rc<Frame>, loc: Loc) -> R<Value> {
        match &b {
            Value::List(xs) | Value::Tuple(xs) => {
                if items.len() != 1 {
                    return Err(Diag::new("index", "a list takes one index").label(loc, "here"));
                }
                match &items[0] {
                    IndexItem::Expr(e) if self.is_new_axis(e, fr) => Err(Diag::new(
                        "index",
                        "`None` in an index adds an axis to a tensor; a list has no axes",
                    )
                    .label(self.at(fr, e.span), "here")
                    .help("make the list a tensor first, e.g. `f32(xs)[None]`")),
                    IndexItem::Expr(e) => {
                        let i = self.expr(e, fr)?;
                        let Value::Int(i) = i else {
                            return Err(Diag::new(
                                "type-mismatch",
                                format!("a list index must be an int, found {}", i.kind()),
                            )
                            .label(self.at(fr, e.span), "index"));
                        };
                        let k = if i < 0 { xs.len() as i64 + i } else { i };
                        xs.get(k as usize)
                            .filter(|_| k >= 0)
                            .cloned()
                            .ok_or_else(|| {
                                Diag::new(
                                    "index",
                                    format!("index {i} is out of range for {} items", xs.len()),
                                )
                                .label(self.at(fr, e.span), "out of range")
                            })
                    }
                    IndexItem::Slice { start, end, .. } => {
                        let s = self.opt_int(start, fr)?;
                        let e = self.opt_int(end, fr)?;
                        let (s, e) = slice_bounds(s, e, xs.len());
                        Ok(Value::List(xs[s..e].to_vec().into()))
                    }
                }
            }
            Value::Tensor(t) => {
                let mut idx = vec![];
                for it in items {
                    idx.push(match it {
                        // `None` (unless bound) inserts an axis of length 1, as in numpy.
                        IndexItem::Expr(e) if self.is_new_axis(e, fr) => {
                            super::builtins::Ix::NewAxis(self.at(fr, e.span))
                        }
                        IndexItem::Expr(e) => {
                            super::builtins::Ix::At(self.expr(e, fr)?, self.at(fr, e.span))
                        }
                        IndexItem::Slice { start, end, span } => super::builtins::Ix::Range(
                            self.opt_int(start, fr)?,
                            self.opt_int(end, fr)?,
                            self.at(fr, *span),
                        ),
                    });
                }
                self.loc = loc;
                super::builtins::index_tensor(self, t, idx, loc).map(Value::Tensor)
            }
            other => Err(Diag::new(
                "type-mismatch",
                format!("{} cannot be indexed", other.kind()),
            )
            .label(loc, "here")),
        }
    }

    /// Whether an index item is the bare name `None` with no binding of that name in
    /// sight: a new axis of length 1.
    fn is_new_axis(&self, e: &ast::Expr, fr: &Rc<Frame>) -> bool {
        matches!(&e.kind, ExprKind::Name(n) if n.name == "None")
            && fr.get("None").is_none()
            && self.mods.lookup(fr.module, "None").is_none()
    }

    fn opt_int(&mut self, e: &Option<ast::Expr>, fr: &Rc<Frame>) -> R<Option<i64>> {
        match e {
            None => Ok(None),
            Some(e) => match self.expr(e, fr)? {
                Value::Int(i) => Ok(Some(i)),
                other => Err(Diag::new(
                    "type-mismatch",
                    format!(
                        "slice bounds must be ints known at compile time, found {}",
                        other.kind()
                    ),
                )
                .label(self.at(fr, e.span), "bound")),
            },
        }
    }

    /// Captures `outer[t]` inside a scan body as a sliced sequence input when `t` is
    /// the loop variable, so the loop reads its step's slice instead of indexing.
    pub fn seq_slice(&mut self, outer: &TVal, t: &TVal) -> R<Option<TVal>> {
        let level = self.ctxs.len() - 1;
        let Some((var, len)) = self.ctxs[level].scan else {
            return Ok(None);
        };
        let is_var =
            matches!(t.src, Src::Node { graph, id } if graph == self.ctxs[level].id && id == var);
        let outside = !matches!(outer.src, Src::Node { graph, .. } if graph == self.ctxs[level].id);
        if !is_var || !outside || outer.ty.rank() == 0 || outer.ty.shape[0] != len {
            return Ok(None);
        }
        let o = self.node_at(level - 1, outer)?;
        if let Some(&n) = self.ctxs[level].seqs.get(&o) {
            return Ok(Some(self.tval(n)));
        }
        let ty = TensorType::new(outer.ty.dtype, outer.ty.shape[1..].to_vec());
        let ctx = &mut self.ctxs[level];
        let n = ctx.graph.add_input(ty);
        ctx.roles.push(Role::Seq(o));
        ctx.seqs.insert(o, n);
        Ok(Some(self.tval(n)))
    }

    fn scan_expr(&mut self, s: &ast::Scan, fr: &Rc<Frame>, loc: Loc) -> R<Value> {
        let length = super::shapes::eval_dim(&s.length, fr, self.file(fr))?;
        if length < 0 {
            return Err(
                Diag::new("shape-mismatch", format!("scan length is {length}"))
                    .label(self.at(fr, s.length.span), "negative"),
            );
        }
        // Carries and outputs may be records and tuples of tensors: the scan carries
        // and stacks their leaves, and the structure is rebuilt around them.
        let mut inits = vec![];
        let mut leaf_names = vec![];
        let mut layouts = vec![];
        for (n, e) in &s.carries {
            let v = self.expr(e, fr)?;
            let layout = self.flatten(&v, self.at(fr, e.span), &mut inits)?;
            layout.leaf_names(&n.name, &mut leaf_names);
            layouts.push((n.name.clone(), layout));
        }
        self.loc = loc;
        let body = &s.body;
        let var = s.var.name.clone();
        let value_loc = body.value.as_ref().map(|v| self.at(fr, v.span));
        let mut y_layout = None;
        let mut f = |el: &mut Elab<'a>, carries: Vec<TVal>, t: TVal| -> R<(Vec<TVal>, Vec<TVal>)> {
            let inner = Frame::child(fr);
            let mut leaves = carries.into_iter();
            for (n, layout) in &layouts {
                inner.set(n, layout.rebuild(&mut leaves));
            }
            inner.set(&var, Value::Tensor(t));
            let v = el.block(body, &inner)?;
            let mut new = vec![];
            for (n, layout) in &layouts {
                let v = inner.get(n).unwrap();
                let got = el.flatten(&v, el.loc, &mut new)?;
                if &got != layout {
                    return Err(Diag::new(
                        "carry-type",
                        format!(
                            "scan carry `{n}` starts as {} but the loop body makes it {}",
                            layout.describe(),
                            got.describe()
                        ),
                    )
                    .label(loc, "in this scan")
                    .help("a carry keeps its fields (or tuple items) from step to step"));
                }
            }
            match value_loc {
                Some(vl) => {
                    let mut ys = vec![];
                    y_layout = Some(el.flatten(&v, vl, &mut ys)?);
                    Ok((new, ys))
                }
                None => Ok((new.clone(), new)),
            }
        };
        let (_, ys) = self.scan(length as usize, s.reverse, &leaf_names, inits, &mut f)?;
        let layout = match y_layout {
            Some(l) => l,
            None if layouts.len() == 1 => layouts.pop().unwrap().1,
            None => Layout::Tuple(layouts.into_iter().map(|(_, l)| l).collect()),
        };
        Ok(layout.rebuild(&mut ys.into_iter()))
    }

    /// The tensors at the leaves of a record or tuple value (numbers become scalars),
    /// appended to `out`; its structure is returned.
    fn flatten(&mut self, v: &Value, loc: Loc, out: &mut Vec<TVal>) -> R<Layout> {
        Ok(match v {
            Value::Record(fs) => {
                let mut fields = vec![];
                for (n, x) in fs.iter() {
                    fields.push((n.clone(), self.flatten(x, loc, out)?));
                }
                Layout::Record(fields)
            }
            Value::Tuple(xs) => {
                let mut items = vec![];
                for x in xs.iter() {
                    items.push(self.flatten(x, loc, out)?);
                }
                Layout::Tuple(items)
            }
            _ => {
                out.push(self.to_tensor(v, loc, None).map_err(|d| {
                    d.help("a scan carries and stacks tensors, and records or tuples of them")
                })?);
                Layout::Leaf
            }
        })
    }
}

/// Where the tensors of a value sit in its records and tuples (a scan's carries and
/// outputs).
#[derive(Clone, Debug, PartialEq)]
enum Layout {
    Leaf,
    Record(Vec<(String, Layout)>),
    Tuple(Vec<Layout>),
}

impl Layout {
    /// The value with the next tensors of `leaves` at the leaves.
    fn rebuild(&self, leaves: &mut impl Iterator<Item = TVal>) -> Value {
        match self {
            Layout::Leaf => Value::Tensor(leaves.next().expect("a leaf per tensor")),
            Layout::Record(fs) => Value::record(
                fs.iter()
                    .map(|(n, l)| (n.clone(), l.rebuild(leaves)))
                    .collect(),
            ),
            Layout::Tuple(xs) => Value::Tuple(
                xs.iter()
                    .map(|l| l.rebuild(leaves))
                    .collect::<Vec<_>>()
                    .into(),
            ),
        }
    }

    /// `c`, `c.x`, `c.1.y`: a name per leaf, for messages about one carry.
    fn leaf_names(&self, at: &str, out: &mut Vec<String>) {
        match self {
            Layout::Leaf => out.push(at.to_string()),
            Layout::Record(fs) => fs
                .iter()
                .for_each(|(n, l)| l.leaf_names(&format!("{at}.{n}"), out)),
            Layout::Tuple(xs) => xs
                .iter()
                .enumerate()
                .for_each(|(k, l)| l.leaf_names(&format!("{at}.{k}"), out)),
        }
    }

    fn describe(&self) -> String {
        match self {
            Layout::Leaf => "a tensor".into(),
            Layout::Record(fs) => format!(
                "a record {{{}}}",
                fs.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Layout::Tuple(xs) => format!("a tuple of {}", xs.len()),
        }
    }
}

/// `require(cond, message)`: a check made while compiling. When `cond` (a bool known at
/// compile time) is false, compiling stops with `message`, reported at the call of the
/// function the `require` is in — the caller passed what the function cannot take.
pub fn require(el: &mut Elab, mut a: Args) -> R<Value> {
    let f = "require";
    let (cond, lc) = a.need(f, "cond")?;
    let (msg, lm) = a.need(f, "message")?;
    a.done_public(f, &["cond", "message"])?;
    let Value::Str(msg) = msg else {
        return Err(Diag::new(
            "type-mismatch",
            format!("`require`'s message must be a string, found {}", msg.kind()),
        )
        .label(lm, "here"));
    };
    let ok = match cond {
        Value::Bool(b) => b,
        other => {
            return Err(Diag::new(
                "type-mismatch",
                format!(
                    "`require` checks a bool known at compile time, found {}",
                    other.kind()
                ),
            )
            .label(lc, "this condition")
            .help("tensor values are known only when the graph runs; compare ints, shapes or other compile-time values"));
        }
    };
    // The comparisons made while evaluating this condition (and any before it).
    let compares = std::mem::take(&mut el.last_compare);
    if ok {
        return Ok(Value::Unit);
    }
    // The innermost call site is the `require` itself; the one before it called the
    // function holding it.
    let here = el.call_sites.last().copied().unwrap_or(lc);
    let caller = el.call_sites.iter().rev().nth(1).copied();
    let mut d = Diag::new("require", msg.to_string());
    let mut sides: Vec<String> = vec![];
    for (at, s) in compares {
        let inside =
            at.file == lc.file && at.span.start >= lc.span.start && at.span.end <= lc.span.end;
        if inside && !sides.contains(&s) {
            sides.push(s);
        }
    }
    if !sides.is_empty() {
        d = d.help(format!("here {}", sides.join(", ")));
    }
    Err(match caller {
        Some(c) => d.label(c, "this call").label(here, "required here"),
        None => d.label(here, "required here"),
    })
}

/// The smallest type both `a` can be converted to and that equals `b`'s shape.
fn widen(a: &TensorType, b: &TensorType) -> Option<TensorType> {
    if !rlp_ir::types::broadcastable(&a.shape, &b.shape) {
        return None;
    }
    let d = promote(a.dtype, b.dtype, true);
    if d != b.dtype && b.dtype != DType::Bool {
        return Some(TensorType::new(d, b.shape.clone()));
    }
    Some(TensorType::new(d, b.shape.clone()))
}

/// The name after the last `.` of a callee's source text (`policy(o).log_prob` →
/// `log_prob`), if it is one.
/// The name a lambda was called through: `norm` for `norm(x)`, `loss` for
/// `cfg.loss(x)`; `None` for any other callee expression.
fn callee_name(callee: &str) -> Option<&str> {
    let n = callee.rsplit_once('.').map_or(callee, |(_, n)| n);
    let ok = n
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(n)
}

/// Whether broadcasting `shape` to `out` gives it an axis of size > 1 it did not have
/// (absent, or 1).
fn gains_axis(shape: &[usize], out: &[usize]) -> bool {
    let pad = out.len() - shape.len();
    out.iter()
        .enumerate()
        .any(|(k, &o)| o > 1 && (k < pad || shape[k - pad] == 1))
}

/// The dtype two operands meet at: bool < i32 < f32 < f64.
pub fn promote(a: DType, b: DType, arith: bool) -> DType {
    let rank = |d: DType| match d {
        DType::Bool => 0,
        DType::I32 => 1,
        DType::F32 => 2,
        DType::F64 => 3,
    };
    let d = if rank(a) >= rank(b) { a } else { b };
    if arith && d == DType::Bool {
        DType::F32
    } else {
        d
    }
}

pub fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// A division or remainder by a zero known at compile time: between numbers it has no
/// value (compile-time numbers follow Python), and an integer tensor's remainder by it
/// would fail when the graph runs, so both are errors here, at the expression. (A
/// tensor divided by zero in floats is ±Inf or NaN, as IEEE says.)
fn check_divisor(op: BinOp, a: &Value, b: &Value, lb: Loc, loc: Loc) -> R<()> {
    if !matches!(op, BinOp::Div | BinOp::Rem) || num(b) != Some(0.0) {
        return Ok(());
    }
    let int_rem = op == BinOp::Rem
        && matches!(a, Value::Tensor(t) if matches!(t.ty.dtype, DType::I32 | DType::Bool));
    if num(a).is_none() && !int_rem {
        return Ok(());
    }
    let what = if op == BinOp::Div {
        "division"
    } else {
        "remainder"
    };
    Err(Diag::new("bad-value", format!("{what} by zero"))
        .label(lb, "this is 0")
        .label(loc, format!("this {what} has no value"))
        .help("a divisor known when compiling must not be 0"))
}

/// A number made an `i32` tensor must be an i32, and a finite one made an `f32` tensor
/// must stay finite: one outside the range is an error at the number, not a value
/// wrapped, clamped or turned into an infinity when the graph runs.
fn check_fits(d: DType, vals: &[f64], loc: Loc) -> R<()> {
    let range = f64::from(i32::MIN)..=f64::from(i32::MAX);
    let int = vals.iter().find(|v| d == DType::I32 && !range.contains(*v));
    if let Some(v) = int {
        return Err(Diag::new(
            "bad-value",
            format!("{v} does not fit in an i32 tensor (from -2147483648 to 2147483647)"),
        )
        .label(loc, "this number is made an i32")
        .help("make it a float (`3e9`), or the tensor f32 (`f32(…)`)"));
    }
    let float = vals
        .iter()
        .find(|v| d == DType::F32 && v.is_finite() && (**v as f32).is_infinite());
    match float {
        None => Ok(()),
        Some(v) => Err(Diag::new(
            "bad-value",
            format!("{v:e} does not fit in an f32 tensor (largest magnitude 3.4e38)"),
        )
        .label(loc, "this number is made an f32")
        .help("make the tensor f64 (`f64(…)`), or scale the number down")),
    }
}

/// Compile-time ints are 64-bit: a sum, difference, product or power of two of them
/// (or `++` of feature sizes) that does not fit is an error at the expression, never a
/// value wrapped around or left to the graph's 32-bit ints.
fn check_int_overflow(op: BinOp, a: &Value, b: &Value, loc: Loc) -> R<()> {
    let (Value::Int(x), Value::Int(y)) = (a, b) else {
        return Ok(());
    };
    let fits = match op {
        BinOp::Add | BinOp::Concat => x.checked_add(*y).is_some(),
        BinOp::Sub => x.checked_sub(*y).is_some(),
        BinOp::Mul => x.checked_mul(*y).is_some(),
        BinOp::Pow if *y >= 0 => int_pow(*x, *y).is_some(),
        _ => true,
    };
    if fits {
        return Ok(());
    }
    // A negative base of a power is shown in brackets, as `-3 ** 41` means `-(3 ** 41)`.
    let base = if op == BinOp::Pow && *x < 0 {
        format!("({x})")
    } else {
        x.to_string()
    };
    Err(Diag::new(
        "bad-value",
        format!("`{base} {} {y}` does not fit in a 64-bit int", op.symbol()),
    )
    .label(loc, "overflows")
    .help("compile-time ints are 64-bit; write a float (`1e30`, `2.0 ** 70`) for a larger number"))
}

/// `x ** y` for `y ≥ 0` when it fits in an `i64` (any power of 0, 1 or −1 does).
fn int_pow(x: i64, y: i64) -> Option<i64> {
    match x {
        0 => Some(i64::from(y == 0)),
        1 => Some(1),
        -1 => Some(if y % 2 == 0 { 1 } else { -1 }),
        _ => x.checked_pow(u32::try_from(y).ok()?),
    }
}

/// `x % y` floored, as Python's and the tensors' `%` (the sign of `y`), for `y ≠ 0`;
/// never overflows (`i64::MIN % -1` is 0).
fn floored_rem(x: i64, y: i64) -> i64 {
    if y == -1 {
        return 0;
    }
    let r = x % y;
    if r != 0 && (r < 0) != (y < 0) {
        r + y
    } else {
        r
    }
}

/// Compile-time arithmetic on numbers and bools.
fn fold(op: BinOp, a: &Value, b: &Value) -> Option<Value> {
    use Value::{Bool, Float, Int};
    Some(match (a, b) {
        (Int(x), Int(y)) => match op {
            BinOp::Add => Int(x.checked_add(*y)?),
            BinOp::Sub => Int(x.checked_sub(*y)?),
            BinOp::Mul => Int(x.checked_mul(*y)?),
            BinOp::Div => Float(*x as f64 / *y as f64),
            BinOp::Rem if *y != 0 => Int(floored_rem(*x, *y)),
            BinOp::Pow if *y >= 0 => Int(int_pow(*x, *y)?),
            BinOp::Pow => Float((*x as f64).powf(*y as f64)),
            BinOp::Eq => Bool(x == y),
            BinOp::Ne => Bool(x != y),
            BinOp::Lt => Bool(x < y),
            BinOp::Le => Bool(x <= y),
            BinOp::Gt => Bool(x > y),
            BinOp::Ge => Bool(x >= y),
            _ => return None,
        },
        (Value::List(_), Value::List(_)) | (Value::Tuple(_), Value::Tuple(_))
            if matches!(op, BinOp::Eq | BinOp::Ne) =>
        {
            Bool(same_value(a, b)? == (op == BinOp::Eq))
        }
        (Value::Str(x), Value::Str(y)) => match op {
            BinOp::Eq => Bool(x == y),
            BinOp::Ne => Bool(x != y),
            BinOp::Concat | BinOp::Add => Value::Str(format!("{x}{y}").into()),
            _ => return None,
        },
        (Bool(x), Bool(y)) => match op {
            BinOp::And => Bool(*x && *y),
            BinOp::Or => Bool(*x || *y),
            BinOp::Eq => Bool(x == y),
            BinOp::Ne => Bool(x != y),
            _ => return None,
        },
        _ => {
            let (x, y) = (num(a)?, num(b)?);
            match op {
                BinOp::Add => Float(x + y),
                BinOp::Sub => Float(x - y),
                BinOp::Mul => Float(x * y),
                BinOp::Div => Float(x / y),
                BinOp::Rem => Float(rlp_runtime::math::floored_rem_f64(x, y)),
                BinOp::Pow => Float(x.powf(y)),
                BinOp::Eq => Bool(x == y),
                BinOp::Ne => Bool(x != y),
                BinOp::Lt => Bool(x < y),
                BinOp::Le => Bool(x <= y),
                BinOp::Gt => Bool(x > y),
                BinOp::Ge => Bool(x >= y),
                _ => return None,
            }
        }
    })
}

/// Compile-time equality of numbers, bools, strings and lists or tuples of them
/// (shapes: `x.shape == y.shape`); None for values without one (tensors, functions).
fn same_value(a: &Value, b: &Value) -> Option<bool> {
    use Value::{Bool, List, Str, Tuple};
    Some(match (a, b) {
        (List(x), List(y)) | (Tuple(x), Tuple(y)) => {
            if x.len() != y.len() {
                return Some(false);
            }
            for (p, q) in x.iter().zip(y.iter()) {
                if !same_value(p, q)? {
                    return Some(false);
                }
            }
            true
        }
        (Str(x), Str(y)) => x == y,
        (Bool(x), Bool(y)) => x == y,
        _ => num(a)? == num(b)?,
    })
}

/// Python-style slice bounds: negatives count from the end; clamped to `0..len`.
pub fn slice_bounds(start: Option<i64>, end: Option<i64>, len: usize) -> (usize, usize) {
    let n = len as i64;
    let fix = |v: i64| if v < 0 { (n + v).max(0) } else { v.min(n) };
    let s = start.map_or(0, fix);
    let e = end.map_or(n, fix);
    (s as usize, e.max(s) as usize)
}

pub fn show_shape(s: &[usize]) -> String {
    format!(
        "[{}]",
        s.iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `1 argument`, `2 arguments`.
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Appends the numbers of `items` (the lists at `depth`, 1 being the outermost) to
/// `vals` in row-major order, recording each depth's length in `shape` the first time
/// it is seen and refusing a list of another length there (or a mix of numbers and
/// lists). The error says what is wrong.
fn flatten_literal(
    items: &[Value],
    depth: usize,
    shape: &mut Vec<usize>,
    vals: &mut Vec<f64>,
    float: &mut bool,
) -> Result<(), String> {
    for it in items {
        match it {
            Value::Int(i) if shape.len() == depth => vals.push(*i as f64),
            Value::Float(f) if shape.len() == depth => {
                *float = true;
                vals.push(*f)
            }
            Value::List(inner)
                if shape.len() > depth || vals.is_empty() && depth == shape.len() =>
            {
                if shape.len() == depth {
                    shape.push(inner.len());
                } else if shape[depth] != inner.len() {
                    return Err(format!(
                        "has lists of {} and of {} elements at one depth",
                        shape[depth],
                        inner.len()
                    ));
                }
                flatten_literal(inner, depth + 1, shape, vals, float)?;
            }
            Value::Int(_) | Value::Float(_) | Value::List(_) => {
                return Err("mixes numbers and lists at one depth".into());
            }
            other => return Err(format!("holds numbers only, not {}", other.kind())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{floored_rem, int_pow};

    /// Python's `%` and `**` on ints, at the edges (values from CPython).
    #[test]
    fn compile_time_int_remainder_and_power_follow_python() {
        for (x, y, want) in [
            (7, 3, 1),
            (7, -3, -2),
            (-7, 3, 2),
            (-7, -3, -1),
            (6, -3, 0),
            (i64::MIN, -1, 0),
            (i64::MIN, 7, 6),
            (i64::MAX, -2, -1),
        ] {
            assert_eq!(floored_rem(x, y), want, "{x} % {y}");
        }
        assert_eq!(int_pow(1, 64), Some(1));
        assert_eq!(int_pow(-1, 65), Some(-1));
        assert_eq!(int_pow(0, 0), Some(1));
        assert_eq!(int_pow(0, 1 << 40), Some(0));
        assert_eq!(int_pow(2, 62), Some(1 << 62));
        assert_eq!(int_pow(2, 63), None);
        assert_eq!(int_pow(-2, 63), Some(i64::MIN));
        assert_eq!(int_pow(3, 1 << 40), None);
    }
}
