//! Lowering one function to a standalone graph: its tensor arguments become graph
//! inputs, its tensor results (flattened from records and tuples, in order) outputs.
//! For `rlpc exec`, for testing stdlib functions against reference values, and for
//! differential tests of the backends on every stdlib function.

use super::builtins::Args;
use super::elab::Elab;
use super::modules::Modules;
use super::value::Value;
use crate::diag::{Diag, Loc};
use rlp_ir::{Graph, TensorType};

/// An argument: a tensor input of this type, or a compile-time value.
pub enum FnArg {
    Tensor(TensorType),
    Int(i64),
    Float(f64),
}

/// Lowers `module.name(args…)` to a graph. Returns the graph and the names of its
/// outputs (`state`, `reward`, … for a record; `0`, `1`, … for a tuple).
pub fn lower_function(
    mods: &Modules,
    module: &str,
    name: &str,
    args: Vec<FnArg>,
    seed: u64,
) -> Result<(Graph, Vec<String>), Diag> {
    lower_call(mods, module, name, args, vec![], seed)
}

/// [`lower_function`] with every argument passed by name, as a keyword argument in
/// source: parameters left out take their defaults, whatever their position.
pub fn lower_function_named(
    mods: &Modules,
    module: &str,
    name: &str,
    args: Vec<(String, FnArg)>,
    seed: u64,
) -> Result<(Graph, Vec<String>), Diag> {
    lower_call(mods, module, name, vec![], args, seed)
}

fn lower_call(
    mods: &Modules,
    module: &str,
    name: &str,
    args: Vec<FnArg>,
    named: Vec<(String, FnArg)>,
    seed: u64,
) -> Result<(Graph, Vec<String>), Diag> {
    let (id, m) = mods
        .mods
        .iter()
        .enumerate()
        .find(|(_, m)| m.name == module)
        .ok_or_else(|| Diag::new("missing-module", format!("no module `{module}` is loaded")))?;
    let decl = m.fns.get(name).cloned().ok_or_else(|| {
        Diag::new(
            "unknown-name",
            format!("module `{module}` has no function `{name}`"),
        )
    })?;
    let mut el = Elab::new(mods, seed);
    // Random draws in the function use fixed counters: no iteration counter input.
    el.push_ctx(true);
    let loc = Loc::new(m.file, decl.name.span);
    // Graph inputs in argument order.
    let value = |el: &mut Elab, a: FnArg| match a {
        FnArg::Tensor(t) => {
            let n = el.ctxs[0].graph.add_input(t);
            Value::Tensor(el.tval(n))
        }
        FnArg::Int(i) => Value::Int(i),
        FnArg::Float(f) => Value::Float(f),
    };
    let pos = args.into_iter().map(|a| (value(&mut el, a), loc)).collect();
    let kw = named
        .into_iter()
        .map(|(n, a)| {
            let ident = rlp_syntax::ast::Ident {
                name: n,
                span: decl.name.span,
            };
            (ident, value(&mut el, a), loc, loc)
        })
        .collect();
    let f = Value::Fn(super::value::FnRef {
        module: super::modules::ModId(id as u32),
        decl,
    });
    let out = el.call(f, Args { pos, kw, call: loc }, loc)?;
    let mut names = vec![];
    let mut nodes = vec![];
    flatten(&mut el, &out, "", &mut names, &mut nodes)?;
    let mut ctx = el.ctxs.pop().expect("ctx");
    ctx.graph.outputs = nodes;
    Ok((ctx.graph, names))
}

fn flatten(
    el: &mut Elab,
    v: &Value,
    prefix: &str,
    names: &mut Vec<String>,
    nodes: &mut Vec<rlp_ir::NodeId>,
) -> Result<(), Diag> {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Tensor(t) => {
            nodes.push(el.node(t)?);
            names.push(if prefix.is_empty() {
                "out".into()
            } else {
                prefix.to_string()
            });
        }
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
            let t = el.to_tensor(v, el.loc, None)?;
            nodes.push(el.node(&t)?);
            names.push(if prefix.is_empty() {
                "out".into()
            } else {
                prefix.to_string()
            });
        }
        Value::Record(fs) => {
            for (k, x) in fs.iter() {
                flatten(el, x, &join(k), names, nodes)?;
            }
        }
        Value::Tuple(xs) | Value::List(xs) => {
            for (i, x) in xs.iter().enumerate() {
                flatten(el, x, &join(&i.to_string()), names, nodes)?;
            }
        }
        _ => {} // functions in a result record (distributions) have no tensor value
    }
    Ok(())
}

impl Modules {
    /// Loads just the prelude and the named stdlib modules (for tests and tools).
    pub fn stdlib(extra: &[&str]) -> Result<Modules, Diag> {
        let src: String = extra.iter().map(|m| format!("use {m}\n")).collect();
        let (m, _) = Modules::load_source(crate::diag::STDLIB_FILES, &src)
            .map_err(|(_, d)| d.into_iter().next().unwrap())?;
        Ok(m)
    }
}
