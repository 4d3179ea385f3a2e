//! Scan kernels: a whole `Scan` as one loop nest, elements outside, steps inside.
//!
//! Why: returns, GAE, TD(λ) and importance-weight products are scans whose body is a
//! few elementwise ops per environment. Run as a host loop, each step would launch
//! kernels over a handful of elements; as one kernel, each independent element `j` keeps
//! its carries in registers for all `T` steps, and elements split across threads.
//!
//! A scan fits when every carry and per-step output has one shape `P` and every body
//! value is computable at an element `j` of `P` from that element alone: elementwise
//! ops, constants, `Iota`, `Random`, broadcasts of such values (evaluated at the
//! broadcast index), and views (`Transpose`, `Slice`, `Reshape`, `DynIndex`, `Gather` of
//! a view) of sequences and loop invariants. Anything else (a `MatMul`, a reduction, a
//! nested scan) sends the scan to a host loop.

use crate::kernel::{Op, ValId};
use crate::lower::{KernelBuilder, convert_const};
use crate::view::{IndexRef, View};
use rlp_ir::types::broadcastable;
use rlp_ir::{Graph, NodeId, Scan};
use rlp_runtime::DType;
use std::collections::HashMap;

/// A scan body lowered into a kernel builder.
pub struct Lowered {
    /// The kernel so far (finish it with [`KernelBuilder::finish_scan`]).
    pub builder: KernelBuilder,
    /// Initial carries (prologue values).
    pub init: Vec<ValId>,
    /// Carries after a step.
    pub next: Vec<ValId>,
    /// Per-step outputs.
    pub outs: Vec<ValId>,
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
    let n_out = body.outputs.len();
    let elem_shape = if scan.n_carry > 0 {
        body.inputs[0].shape.clone()
    } else {
        body.ty(*body.outputs.first()?).shape.clone()
    };
    let fits = |shape: &[usize]| shape == elem_shape.as_slice();
    if !(0..scan.n_carry).all(|k| fits(&body.inputs[k].shape))
        || !body.outputs.iter().all(|&o| fits(&body.ty(o).shape))
    {
        return None;
    }
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
    let mut init = Vec::with_capacity(scan.n_carry);
    for k in 0..scan.n_carry {
        init.push(kb.read(&resolved[k], dtypes[k], &mut |_, _| None)?);
    }
    let mut state = Body {
        scan,
        body,
        args: resolved,
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
    let mut next = Vec::with_capacity(scan.n_carry);
    let mut outs = Vec::with_capacity(n_out - scan.n_carry);
    for (i, &o) in body.outputs.iter().enumerate() {
        let v = state.value(&mut kb, o)?;
        if i < scan.n_carry {
            next.push(v)
        } else {
            outs.push(v)
        }
    }
    Some(Lowered {
        builder: kb,
        init,
        next,
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
    /// A value computed in the kernel.
    Val(ValId),
}

/// Lowering state for one scan body.
struct Body<'a> {
    scan: &'a Scan,
    body: &'a Graph,
    /// The scan's arguments as views with resolved dynamic indices.
    args: Vec<View>,
    places: Vec<Option<Place>>,
    /// Loads of view-placed nodes, by node.
    loaded: HashMap<NodeId, ValId>,
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

    /// How node `n` is computed, given its operands' places.
    fn place(&mut self, kb: &mut KernelBuilder, n: NodeId) -> Option<Place> {
        let body: &Graph = self.body;
        let node = body.node(n);
        // Tuple-typed nodes (nested scans) never fit.
        let ty = node.ty.as_tensor()?;
        let arg_view = |this: &Self| match &this.places[node.args[0].index()] {
            Some(Place::View(v)) => Some(v.clone()),
            _ => None,
        };
        let place = match &node.op {
            rlp_ir::Op::Input(k) => match self.input_kind(*k) {
                BodyInput::Carry(c) => Place::Val(kb.push(Op::Carry(c), ty.dtype)),
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
            rlp_ir::Op::Broadcast => match self.places[node.args[0].index()].clone()? {
                Place::View(v) => Place::View(v.broadcast(&ty.shape)),
                Place::Val(v) => Place::Val(v),
            },
            rlp_ir::Op::Transpose(perm) => Place::View(arg_view(self)?.transpose(perm)),
            rlp_ir::Op::Slice { axis, start, end } => {
                Place::View(arg_view(self)?.slice(*axis, *start, *end))
            }
            rlp_ir::Op::Reshape => Place::View(arg_view(self)?.reshape(&ty.shape)?),
            rlp_ir::Op::DynIndex => {
                Place::View(arg_view(self)?.index(IndexRef::Node(node.args[1]), n))
            }
            rlp_ir::Op::Unary(_)
            | rlp_ir::Op::Binary(_)
            | rlp_ir::Op::Select
            | rlp_ir::Op::Cast
            | rlp_ir::Op::StopGradient => {
                let mut operands = Vec::with_capacity(node.args.len());
                for &a in &node.args {
                    operands.push(self.value(kb, a)?);
                }
                Place::Val(kb.pointwise(n, node, &operands)?)
            }
            rlp_ir::Op::Iota { axis } => Place::Val(kb.iota(&ty.shape, *axis)),
            rlp_ir::Op::Random { dist, seed, stream } => {
                let c0 = self.value(kb, node.args[0])?;
                let c1 = self.value(kb, node.args[1])?;
                Place::Val(kb.random(&ty.shape, *dist, *seed, *stream, c0, c1, ty.dtype))
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
        Some(place)
    }

    /// The element of placed node `n` at the kernel's element (loading a view once).
    fn value(&mut self, kb: &mut KernelBuilder, n: NodeId) -> Option<ValId> {
        match self.places[n.index()].clone()? {
            Place::Val(v) => Some(v),
            Place::View(view) => {
                if let Some(&v) = self.loaded.get(&n) {
                    return Some(v);
                }
                if !broadcastable(&view.shape, kb.logical()) {
                    return None;
                }
                let dtype = self.body.ty(n).dtype;
                let v = kb.read(&view, dtype, &mut |kb, m| self.value(kb, m))?;
                self.loaded.insert(n, v);
                Some(v)
            }
        }
    }
}
