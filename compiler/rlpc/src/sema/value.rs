//! Compile-time values of the elaborator.
//!
//! The front end runs the program's top level at compile time, the way a tracer does:
//! numbers, lists, records, functions and modules are ordinary values; tensor
//! expressions become nodes of the graph being built ([`TVal`]).

use super::modules::ModId;
use crate::program::SlotId;
use rlp_ir::{NodeId, TensorType};
use rlp_syntax::ast;
use std::cell::RefCell;
use std::rc::Rc;

/// Where a tensor value lives: a node of a graph under construction, or a state slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    Node { graph: u32, id: NodeId },
    Slot(SlotId),
}

/// A tensor value with its static type.
#[derive(Clone, Debug)]
pub struct TVal {
    pub src: Src,
    pub ty: TensorType,
}

/// A lexical scope: variables, and the enclosing scope.
#[derive(Debug, Default)]
pub struct Frame {
    pub vars: RefCell<Vec<(String, Value)>>,
    pub parent: Option<Rc<Frame>>,
    /// The module whose items are visible from here.
    pub module: ModId,
}

impl Frame {
    pub fn child(parent: &Rc<Frame>) -> Rc<Frame> {
        Rc::new(Frame {
            vars: RefCell::default(),
            parent: Some(parent.clone()),
            module: parent.module,
        })
    }
    pub fn root(module: ModId) -> Rc<Frame> {
        Rc::new(Frame {
            vars: RefCell::default(),
            parent: None,
            module,
        })
    }
    pub fn get(&self, name: &str) -> Option<Value> {
        if let Some((_, v)) = self.vars.borrow().iter().rev().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        self.parent.as_ref().and_then(|p| p.get(name))
    }
    pub fn set(&self, name: &str, value: Value) {
        let mut vars = self.vars.borrow_mut();
        match vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => vars.push((name.to_string(), value)),
        }
    }
    /// All visible names, innermost first (for suggestions).
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.vars.borrow().iter().map(|(n, _)| n.clone()).collect();
        if let Some(p) = &self.parent {
            out.extend(p.names());
        }
        out
    }
}

/// A lambda with the scope it closes over.
#[derive(Debug)]
pub struct Closure {
    pub params: Vec<ast::Param>,
    pub body: ast::Expr,
    pub frame: Rc<Frame>,
    pub file: crate::diag::FileId,
}

/// A named function of a module.
#[derive(Debug, Clone)]
pub struct FnRef {
    pub module: ModId,
    pub decl: Rc<ast::FnDecl>,
}

/// An environment instance: its functions and the slots holding its state.
#[derive(Debug)]
pub struct EnvDef {
    pub envs: usize,
    pub obs_dim: usize,
    pub actions: usize,
    pub max_steps: i64,
    pub reset: Value,
    pub step: Value,
    pub observe: Option<Value>,
    /// The `environment(…)` call, where errors about what it declares point.
    pub call: crate::diag::Loc,
    pub state: SlotId,
    pub ep_len: SlotId,
    pub ep_return: SlotId,
    pub last_return: SlotId,
    pub last_length: SlotId,
    pub fields: Vec<(String, Value)>,
}

/// An external environment: its index in the program's list, what its workers said it
/// looks like, and the slots the runtime keeps its observations and statistics in.
#[derive(Debug)]
pub struct ExternalDef {
    pub index: usize,
    pub envs: usize,
    pub obs_shape: Vec<usize>,
    pub obs: SlotId,
    pub ep_len: SlotId,
    pub ep_return: SlotId,
    pub last_return: SlotId,
    pub last_length: SlotId,
    pub fields: Vec<(String, Value)>,
}

/// An optimizer: how to make per-parameter state, and how to update.
#[derive(Debug)]
pub struct OptDef {
    pub init: Value,
    pub update: Value,
    /// Per-parameter state slots created on first use, keyed by parameter slot.
    pub states: RefCell<Vec<(SlotId, Value)>>,
    /// The step counter slot (f32 scalar), created on first use.
    pub count: RefCell<Option<SlotId>>,
    pub name: String,
    /// When positive, the gradients of one `minimize` are scaled together so their
    /// global norm is at most this before the update (Pascanu et al. 2013).
    pub max_grad_norm: f64,
}

#[derive(Clone, Debug)]
pub enum Value {
    Unit,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(Rc<str>),
    List(Rc<[Value]>),
    Tuple(Rc<[Value]>),
    Record(Rc<[(String, Value)]>),
    Tensor(TVal),
    Fn(FnRef),
    Closure(Rc<Closure>),
    Builtin(super::builtins::Builtin),
    Module(ModId),
    Env(Rc<EnvDef>),
    /// An environment stepped by worker processes (`gym(…)`).
    External(Rc<ExternalDef>),
    Optimizer(Rc<OptDef>),
    /// `a -> b` outside a lambda: schedules.
    Range(f64, f64),
}

impl Value {
    /// A short description of the kind of value, for error messages.
    pub fn kind(&self) -> String {
        match self {
            Value::Unit => "nothing".into(),
            Value::Int(_) => "an int".into(),
            Value::Float(_) => "a float".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Str(_) => "a string".into(),
            Value::List(l) => format!("a list of {}", l.len()),
            Value::Tuple(t) => format!("a tuple of {}", t.len()),
            Value::Record(_) => "a record".into(),
            Value::Tensor(t) => format!("a tensor {}", t.ty),
            Value::Fn(f) => format!("the function `{}`", f.decl.name.name),
            Value::Closure(_) => "a function".into(),
            Value::Builtin(b) => format!("the built-in `{}`", b.name()),
            Value::Module(_) => "a module".into(),
            Value::Env(_) | Value::External(_) => "an environment".into(),
            Value::Optimizer(_) => "an optimizer".into(),
            Value::Range(..) => "a range".into(),
        }
    }

    pub fn is_callable(&self) -> bool {
        matches!(
            self,
            Value::Fn(_) | Value::Closure(_) | Value::Builtin(_) | Value::Module(_)
        )
    }

    pub fn record(fields: Vec<(String, Value)>) -> Value {
        Value::Record(fields.into())
    }

    pub fn field(&self, name: &str) -> Option<Value> {
        match self {
            Value::Record(fs) => fs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
            Value::External(e) => e
                .fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone()),
            Value::Env(e) => e
                .fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone()),
            Value::Optimizer(o) => match name {
                "init" => Some(o.init.clone()),
                "update" => Some(o.update.clone()),
                _ => None,
            },
            _ => None,
        }
    }
}
