//! Scan kernels: a whole `Scan` as one loop nest, elements outside, steps inside.
//!
//! Why: returns, GAE, TD(λ) and importance-weight products are scans whose body is a
//! few elementwise ops per environment. Run as a host loop, each step would launch
//! kernels over a handful of elements; as one kernel, each independent element `j` keeps
//! its carries in registers for all `T` steps, and elements split across threads.
//!
//! A scan fits when every carry and per-step output has one shape `P`, or `P` plus a short
//! last axis (a *wide* value: `[N, 4]` states beside `[N]` flags in an environment step),
//! and every body value is computable at an element `j` of `P` from that element alone:
//! elementwise ops, constants, `Iota`, `Random`, broadcasts of such values (evaluated at
//! the broadcast index), and views (`Transpose`, `Slice`, `Reshape`, `DynIndex`, `Gather`
//! of a view) of sequences and loop invariants. A wide value is kept as one kernel value
//! per column (slices, stacks and row broadcasts along the last axis just pick columns),
//! so a whole environment rollout becomes one loop with its state in registers. Anything
//! else (a `MatMul`, a reduction, a nested scan) sends the scan to a host loop.

use crate::kernel::{Op, ValId};
use crate::lower::{KernelBuilder, convert_const};
use crate::view::{IndexRef, View};
use rlp_ir::types::broadcastable;
use rlp_ir::{BinaryOp, Graph, NodeId, Scan};
use rlp_runtime::DType;
use std::collections::HashMap;

/// The widest last axis a wide value may have: each column is a live kernel value.
const MAX_COLUMNS: usize = 16;

/// Column `col` of `width` columns of one element of scan output `output` (a carry's
/// final value or a stacked per-step output); narrow values have one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The scan node's tuple element.
    pub output: usize,
    /// The column within the element's last axis (0 for a narrow value).
    pub col: usize,
    /// The element's number of columns (1 for a narrow value).
    pub width: usize,
}

/// A scan body lowered into a kernel builder.
pub struct Lowered {
    /// The kernel so far (finish it with [`KernelBuilder::finish_scan`]).
    pub builder: KernelBuilder,
    /// Initial kernel carries (prologue values), one per carry column.
    pub init: Vec<ValId>,
    /// Kernel carries after a step.
    pub next: Vec<ValId>,
    /// Where each kernel carry's final value is stored.
    pub finals: Vec<Column>,
    /// Per-step output columns and their values.
    pub outs: Vec<(Column, ValId)>,
}

/// How many columns a value of `shape` has over the kernel element shape `elem`: 1 for
/// `elem` itself, `w` for `elem ++ [w]` with a short `w`, else it does not fit.
fn width(shape: &[usize], elem: &[usize]) -> Option<usize> {
    if shape == elem {
        Some(1)
    } else if shape.len() == elem.len() + 1
        && shape[..elem.len()] == *elem
        && shape[elem.len()] <= MAX_COLUMNS
    {
        Some(shape[elem.len()])
    } else {
        None
    }
}

/// Lowers `scan` into one kernel, or `None` when it does not fit (see the module doc).
/// `args` are the views of the scan node's arguments; `outer` reads an outer node (the
/// scalar index of a dynamic view among `args`) at the point.
pub fn lower(
    scan: &Scan,
    args: &[View],
    dtypes: &[DType],
    outer: &mut dyn FnMut(&mut KernelBuilder, NodeId) -> Option<ValId>,
) -> Option<Lowered> {
    let body = &scan.body;
    // The kernel element: the lowest-rank carry or per-step output shape.
    let shapes: Vec<&[usize]> = (0..scan.n_carry)
        .map(|k| body.inputs[k].shape.as_slice())
        .chain(body.outputs.iter().map(|&o| body.ty(o).shape.as_slice()))
        .collect();
    let elem_shape = shapes.iter().min_by_key(|s| s.len())?.to_vec();
    let widths: Vec<usize> = shapes
        .iter()
        .map(|s| width(s, &elem_shape))
        .collect::<Option<_>>()?;
    let mut kb = KernelBuilder::identity(&elem_shape);
    kb.set_steps(scan.length);
    // Outer dynamic indices are outer nodes; resolve them now, before body node ids
    // (a different namespace) can appear in the same views.
    let mut resolved = Vec::with_capacity(args.len());
    for view in args {
        let mut v = view.clone();
        for d in &mut v.dynamic {
            if let IndexRef::Node(n) = d.index {
                d.index = IndexRef::Val(outer(&mut kb, n)?);
            }
        }
        resolved.push(v);
    }
    let rank = elem_shape.len();
    let mut init = vec![];
    let mut finals = vec![];
    let mut first_column = Vec::with_capacity(scan.n_carry);
    for k in 0..scan.n_carry {
        first_column.push(init.len());
        for col in 0..widths[k] {
            let view = if body.inputs[k].shape == elem_shape {
                resolved[k].clone()
            } else {
                resolved[k].slice(rank, col, col + 1).reshape(&elem_shape)?
            };
            init.push(kb.read(&view, dtypes[k], &mut |_, _| None)?);
            finals.push(Column {
                output: k,
                col,
                width: widths[k],
            });
        }
    }
    let mut state = Body {
        scan,
        body,
        elem: elem_shape,
        args: resolved,
        first_column,
        places: vec![None; body.nodes.len()],
        loaded: HashMap::new(),
        step: None,
    };
    // Place every needed body node in order: operands are always placed first, so there
    // is no recursion however long the body is.
    for (i, need) in needed(body).into_iter().enumerate() {
        if need {
            let id = NodeId(i as u32);
            let place = state.place(&mut kb, id)?;
            state.places[i] = Some(place);
            kb.note(id);
        }
    }
    let mut next = Vec::with_capacity(init.len());
    let mut outs = vec![];
    for (i, &o) in body.outputs.iter().enumerate() {
        let width = widths[scan.n_carry + i];
        for col in 0..width {
            let v = if width == 1 && body.ty(o).shape == state.elem {
                state.value(&mut kb, o)?
            } else {
                state.column(&mut kb, o, col, width)?
            };
            if i < scan.n_carry {
                next.push(v)
            } else {
                let output = i;
                outs.push((Column { output, col, width }, v))
            }
        }
    }
    Some(Lowered {
        builder: kb,
        init,
        next,
        finals,
        outs,
    })
}

/// The body nodes the outputs depend on.
fn needed(body: &Graph) -> Vec<bool> {
    let mut need = vec![false; body.nodes.len()];
    for o in &body.outputs {
        need[o.index()] = true;
    }
    for i in (0..body.nodes.len()).rev() {
        if need[i] {
            for a in &body.nodes[i].args {
                need[a.index()] = true;
            }
        }
    }
    need
}

/// Where a body node's element comes from.
#[derive(Clone, Debug)]
enum Place {
    /// A view of an outer buffer (a sequence, an invariant, or a view of one), loaded
    /// where it is used.
    View(View),
    /// A value computed in the kernel, of a shape that broadcasts to the element shape.
    Val(ValId),
    /// A wide value computed in the kernel (shape: the element shape plus a last axis),
    /// one value per column.
    Cols(Vec<ValId>),
}

/// Lowering state for one scan body.
struct Body<'a> {
    scan: &'a Scan,
    body: &'a Graph,
    /// The kernel's element shape.
    elem: Vec<usize>,
    /// The scan's arguments as views with resolved dynamic indices.
    args: Vec<View>,
    /// The first kernel carry of each scan carry (wide carries take one per column).
    first_column: Vec<usize>,
    places: Vec<Option<Place>>,
    /// Loads of view-placed nodes, by node and column (`None`: a narrow read).
    loaded: HashMap<(NodeId, Option<usize>), ValId>,
    step: Option<ValId>,
}

/// What a body `Input(k)` is.
enum BodyInput {
    Carry(usize),
    Sequence,
    Invariant,
    Step,
}

impl Body<'_> {
    fn input_kind(&self, k: usize) -> BodyInput {
        let s = self.scan;
        if k < s.n_carry {
            BodyInput::Carry(k)
        } else if k < s.n_carry + s.n_seq {
            BodyInput::Sequence
        } else if k + 1 < self.body.inputs.len() {
            BodyInput::Invariant
        } else {
            BodyInput::Step
        }
    }

    fn step(&mut self, kb: &mut KernelBuilder) -> ValId {
        *self
            .step
            .get_or_insert_with(|| kb.push(Op::Step, DType::I32))
    }

    /// The number of columns of a wide `shape`, if it is one.
    fn wide(&self, shape: &[usize]) -> Option<usize> {
        (shape.len() == self.elem.len() + 1 && shape[..self.elem.len()] == *self.elem)
            .then(|| shape[self.elem.len()])
            .filter(|&w| w <= MAX_COLUMNS)
    }

    /// How node `n` is computed, given its operands' places.
    fn place(&mut self, kb: &mut KernelBuilder, n: NodeId) -> Option<Place> {
        let body: &Graph = self.body;
        let node = body.node(n);
        // Tuple-typed nodes (nested scans) never fit.
        let ty = node.ty.as_tensor()?;
        let wide = self.wide(&ty.shape);
        let arg_shape = |i: usize| body.ty(node.args[i]).shape.as_slice();
        let arg_place = |this: &Self| this.places[node.args[0].index()].clone();
        let arg_view = |this: &Self| match &this.places[node.args[0].index()] {
            Some(Place::View(v)) => Some(v.clone()),
            _ => None,
        };
        let place = match &node.op {
            rlp_ir::Op::Input(k) => match self.input_kind(*k) {
                BodyInput::Carry(c) => {
                    let first = self.first_column[c];
                    match wide {
                        Some(w) if ty.shape != self.elem => Place::Cols(
                            (0..w)
                                .map(|i| kb.push(Op::Carry(first + i), ty.dtype))
                                .collect(),
                        ),
                        _ => Place::Val(kb.push(Op::Carry(first), ty.dtype)),
                    }
                }
                BodyInput::Step => Place::Val(self.step(kb)),
                BodyInput::Sequence => {
                    let t = self.step(kb);
                    Place::View(self.args[*k].index(IndexRef::Val(t), n))
                }
                BodyInput::Invariant => Place::View(self.args[*k].clone()),
            },
            rlp_ir::Op::Const(c) => {
                Place::View(View::constant(convert_const(*c, ty.dtype), &ty.shape))
            }
            // Broadcasting a computed value: its element at the broadcast index.
            rlp_ir::Op::Broadcast => match arg_place(self)? {
                Place::View(v) => Place::View(v.broadcast(&ty.shape)),
                Place::Val(v) => match wide {
                    Some(w) if arg_shape(0).iter().all(|&d| d == 1) => Place::Cols(vec![v; w]),
                    Some(_) => return None,
                    None => Place::Val(v),
                },
                Place::Cols(vs) => match (wide, vs.len()) {
                    (Some(w), 1) => Place::Cols(vec![vs[0]; w]),
                    (Some(w), m) if m == w => Place::Cols(vs),
                    _ => return None,
                },
            },
            rlp_ir::Op::Transpose(perm) => Place::View(arg_view(self)?.transpose(perm)),
            rlp_ir::Op::Slice { axis, start, end } => match arg_place(self)? {
                Place::View(v) => Place::View(v.slice(*axis, *start, *end)),
                Place::Cols(vs) if *axis == self.elem.len() => {
                    Place::Cols(vs[*start..*end].to_vec())
                }
                _ => return None,
            },
            rlp_ir::Op::Reshape => match arg_place(self)? {
                Place::View(v) => Place::View(v.reshape(&ty.shape)?),
                // `[P] -> [P, 1]` and back only name the one column.
                Place::Val(v) if wide == Some(1) && arg_shape(0) == self.elem => {
                    Place::Cols(vec![v])
                }
                Place::Val(v) if ty.numel() == 1 => Place::Val(v),
                Place::Cols(vs) if vs.len() == 1 && ty.shape == self.elem => Place::Val(vs[0]),
                _ => return None,
            },
            rlp_ir::Op::Concat { axis } if wide.is_some() && *axis == self.elem.len() => {
                let mut cols = vec![];
                for (i, &a) in node.args.iter().enumerate() {
                    let w = self.wide(arg_shape(i))?;
                    for c in 0..w {
                        cols.push(self.column(kb, a, c, w)?);
                    }
                }
                Place::Cols(cols)
            }
            rlp_ir::Op::DynIndex => {
                Place::View(arg_view(self)?.index(IndexRef::Node(node.args[1]), n))
            }
            rlp_ir::Op::Unary(_)
            | rlp_ir::Op::Binary(_)
            | rlp_ir::Op::Select
            | rlp_ir::Op::Cast
            | rlp_ir::Op::StopGradient => match wide {
                Some(w) => {
                    let mut cols = Vec::with_capacity(w);
                    for c in 0..w {
                        let mut operands = Vec::with_capacity(node.args.len());
                        for &a in &node.args {
                            operands.push(self.column(kb, a, c, w)?);
                        }
                        cols.push(kb.pointwise(n, node, &operands)?);
                    }
                    Place::Cols(cols)
                }
                None => {
                    let mut operands = Vec::with_capacity(node.args.len());
                    for &a in &node.args {
                        operands.push(self.value(kb, a)?);
                    }
                    Place::Val(kb.pointwise(n, node, &operands)?)
                }
            },
            rlp_ir::Op::Iota { axis } => match wide {
                Some(w) if *axis == self.elem.len() => Place::Cols(
                    (0..w)
                        .map(|c| kb.push(Op::Const(c as f64), DType::I32))
                        .collect(),
                ),
                Some(w) => Place::Cols(vec![kb.iota(&self.elem, *axis); w]),
                None => Place::Val(kb.iota(&ty.shape, *axis)),
            },
            rlp_ir::Op::Random { dist, seed, stream } => {
                let c0 = self.value(kb, node.args[0])?;
                let c1 = self.value(kb, node.args[1])?;
                match wide {
                    Some(w) => Place::Cols(
                        (0..w)
                            .map(|c| {
                                kb.random_column(
                                    &ty.shape, c, *dist, *seed, *stream, c0, c1, ty.dtype,
                                )
                            })
                            .collect(),
                    ),
                    None => {
                        Place::Val(kb.random(&ty.shape, *dist, *seed, *stream, c0, c1, ty.dtype))
                    }
                }
            }
            // The sum, product, max or min of a wide value's columns, in the order the
            // reference interpreter folds them.
            rlp_ir::Op::Reduce { op, axes }
                if axes.as_slice() == [self.elem.len()]
                    && matches!(self.places[node.args[0].index()], Some(Place::Cols(_))) =>
            {
                let Some(Place::Cols(vs)) = self.places[node.args[0].index()].clone() else {
                    unreachable!()
                };
                let int = ty.dtype == DType::I32;
                let (combine, identity) = match op {
                    rlp_ir::ReduceOp::Sum => (BinaryOp::Add, 0.0),
                    rlp_ir::ReduceOp::Max if int => (BinaryOp::Max, f64::from(i32::MIN)),
                    rlp_ir::ReduceOp::Min if int => (BinaryOp::Min, f64::from(i32::MAX)),
                    rlp_ir::ReduceOp::Max => (BinaryOp::Max, f64::NEG_INFINITY),
                    rlp_ir::ReduceOp::Min => (BinaryOp::Min, f64::INFINITY),
                };
                let mut acc = kb.push(Op::Const(convert_const(identity, ty.dtype)), ty.dtype);
                for &v in &vs {
                    acc = kb.push(Op::Binary(combine, acc, v), ty.dtype);
                }
                Place::Val(acc)
            }
            rlp_ir::Op::Gather => {
                let x = arg_view(self)?;
                let idx = self.value(kb, node.args[1])?;
                Place::Val(kb.gather(&x, idx, ty.dtype, n, &mut |kb, m| self.value(kb, m))?)
            }
            _ => return None,
        };
        // A computed value is one element per kernel element: its shape must broadcast.
        if matches!(place, Place::Val(_)) && !broadcastable(&ty.shape, kb.logical()) {
            return None;
        }
        if let Place::Cols(cols) = &place
            && wide != Some(cols.len())
        {
            return None;
        }
        Some(place)
    }

    /// The element of placed node `n` at the kernel's element (loading a view once).
    fn value(&mut self, kb: &mut KernelBuilder, n: NodeId) -> Option<ValId> {
        match self.places[n.index()].clone()? {
            Place::Val(v) => Some(v),
            Place::Cols(_) => None,
            Place::View(view) => {
                if let Some(&v) = self.loaded.get(&(n, None)) {
                    return Some(v);
                }
                if !broadcastable(&view.shape, kb.logical()) {
                    return None;
                }
                let dtype = self.body.ty(n).dtype;
                let v = kb.read(&view, dtype, &mut |kb, m| self.value(kb, m))?;
                self.loaded.insert((n, None), v);
                Some(v)
            }
        }
    }

    /// Column `col` of placed node `n` read as an operand of a wide value with `width`
    /// columns (numpy broadcasting: a single column or a single element repeats).
    fn column(
        &mut self,
        kb: &mut KernelBuilder,
        n: NodeId,
        col: usize,
        width: usize,
    ) -> Option<ValId> {
        let shape = &self.body.ty(n).shape;
        match self.places[n.index()].clone()? {
            Place::Cols(vs) if vs.len() == 1 => Some(vs[0]),
            Place::Cols(vs) => vs.get(col).copied(),
            Place::Val(v) if shape.iter().all(|&d| d == 1) => Some(v),
            Place::Val(_) => None,
            Place::View(view) => {
                if let Some(&v) = self.loaded.get(&(n, Some(col))) {
                    return Some(v);
                }
                let mut full = self.elem.clone();
                full.push(width);
                if !broadcastable(&view.shape, &full) {
                    return None;
                }
                let rank = self.elem.len();
                let one = view
                    .broadcast(&full)
                    .slice(rank, col, col + 1)
                    .reshape(&self.elem)?;
                let dtype = self.body.ty(n).dtype;
                let v = kb.read(&one, dtype, &mut |kb, m| self.value(kb, m))?;
                self.loaded.insert((n, Some(col)), v);
                Some(v)
            }
        }
    }
}
