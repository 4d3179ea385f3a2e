//! `dataset("file.npz", fields)`: logged transitions as read-only program state.
//!
//! The file is read while the program compiles, so its fields, row shapes and dtypes
//! are known to the checker like any other value's, and a file that does not fit the
//! program is an error pointing at the call before anything runs. Each field becomes a
//! [`SlotKind::Data`] slot: filled from the file when the trainer starts, never written,
//! never checkpointed (a resumed run reads the file again).
//!
//! The value is shaped like a replay buffer (`std.replay`): `data` (the fields, `[R, …]`
//! each), `size` and `capacity` (`R`, as ints), so `draw(ds, 256)` samples minibatches
//! from it as from a buffer. Besides the file's arrays, `data` holds `episode` and `step`
//! (`[R]` i32: which episode a row belongs to and its step within it), and the record
//! holds `episodes` and `max_length` (ints: how many episodes, the longest one's rows)
//! and `episode_start`, `episode_length` (`[E]` i32).

use super::builtins::Args;
use super::elab::{Elab, R};
use super::value::{Src, TVal, Value};
use crate::diag::{Diag, Loc};
use crate::program::SlotKind;
use rlp_ir::{DType, TensorType};
use rlp_runtime::Tensor;
use rlp_runtime::dataset::{self, Dataset};
use std::path::{Path, PathBuf};

pub fn dataset_builtin(el: &mut Elab, mut a: Args) -> R<Value> {
    let f = "dataset";
    let (path, lp) = a.need(f, "path")?;
    let spec = a.take_public("fields");
    a.done_public(f, &["path", "fields"])?;
    let paths: Vec<String> = match &path {
        Value::Str(s) => vec![s.to_string()],
        Value::List(xs) if !xs.is_empty() => xs
            .iter()
            .map(|x| match x {
                Value::Str(s) => Ok(s.to_string()),
                other => Err(path_type(other, lp)),
            })
            .collect::<R<_>>()?,
        other => return Err(path_type(other, lp)),
    };
    let base = base_dir(el, lp);
    let spec = match spec {
        Some((v, ls)) => Some((fields_spec(&v, ls)?, ls)),
        None => None,
    };
    let mut parts = Vec::with_capacity(paths.len());
    for p in &paths {
        let full = resolve(&base, p);
        el.files_read.push(full.clone());
        let mut d = Dataset::load(&full).map_err(|e| {
            Diag::new("dataset", e.to_string())
                .label(lp, "read here")
                .help("a dataset is an uncompressed `.npz` of `observations`, `actions`, `rewards`, `terminations`, … (docs/datasets.md); `rlpc collect` writes one")
        })?;
        // Only the fields asked for need to agree between the files joined.
        if let Some((want, ls)) = &spec {
            d.fields = select_fields(&d, want, *ls, lp, &format!("`{}`", full.display()))?;
        }
        parts.push((full, d));
    }
    let mut d = Dataset::concat(&parts).map_err(|e| {
        Diag::new("dataset", e.to_string())
            .label(lp, "joined here")
            .help("name the fields the program reads with `fields:` (e.g. `transitions(env)`): only those must agree")
    })?;
    let (episode, step) = d.episode_index();
    for (name, t) in [("episode", episode), ("step", step)] {
        if d.field(name).is_none() {
            d.fields.push((name.to_string(), t));
        }
    }
    let owner = if el.owner.is_empty() {
        "dataset".to_string()
    } else {
        el.owner.clone()
    };
    let mut data = Vec::with_capacity(d.fields.len());
    for (name, t) in &d.fields {
        data.push((
            name.clone(),
            data_slot(el, &format!("{owner}.{name}"), t.clone()),
        ));
    }
    let spans = d.episode_spans();
    let column = |v: Vec<i32>| {
        Tensor::I32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[v.len()]), v).unwrap())
    };
    let starts = column(spans.iter().map(|s| s.0 as i32).collect());
    let lengths = column(spans.iter().map(|s| s.1 as i32).collect());
    Ok(Value::record(vec![
        ("data".into(), Value::record(data)),
        ("size".into(), Value::Int(d.rows as i64)),
        ("capacity".into(), Value::Int(d.rows as i64)),
        ("episodes".into(), Value::Int(d.episodes() as i64)),
        (
            "max_length".into(),
            Value::Int(spans.iter().map(|s| s.1).max().unwrap_or(0) as i64),
        ),
        (
            "episode_start".into(),
            data_slot(el, &format!("{owner}.episode_start"), starts),
        ),
        (
            "episode_length".into(),
            data_slot(el, &format!("{owner}.episode_length"), lengths),
        ),
    ]))
}

fn path_type(v: &Value, at: Loc) -> Diag {
    Diag::new(
        "type-mismatch",
        format!(
            "`dataset` takes a file name or a list of them, found {}",
            v.kind()
        ),
    )
    .label(at, "here")
}

/// The directory relative file names are read from: the calling program file's.
fn base_dir(el: &Elab, at: Loc) -> PathBuf {
    let file = Path::new(el.mods.sources.name(at.file));
    match file.parent() {
        // A saved run is compiled from its program's absolute path, which may be gone.
        Some(p) if file.is_file() || file.is_absolute() => p.to_path_buf(),
        _ => PathBuf::new(),
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// One field a `fields:` record asks for: its name, row shape and dtype, and for a
/// discrete action the number of values it takes (`0..n`), when the spec gives one.
type FieldSpec = (String, Vec<usize>, DType, Option<i64>);

/// The fields a `fields:` record asks for (`(row shape, dtype)` pairs, such as
/// `transitions(env)`, whose `action` of a discrete environment is `([], "i32", n)`),
/// by name.
fn fields_spec(spec: &Value, ls: Loc) -> R<Vec<FieldSpec>> {
    let Value::Record(want) = spec else {
        return Err(Diag::new(
            "type-mismatch",
            format!(
                "`fields` is a record of (row shape, dtype) pairs such as `transitions(env)`, found {}",
                spec.kind()
            ),
        )
        .label(ls, "here"));
    };
    want.iter()
        .map(|(name, w)| {
            let (shape, dtype, values) = field_spec(w).ok_or_else(|| {
                Diag::new(
                    "type-mismatch",
                    format!("field `{name}` of `fields` is {}, not a (row shape, dtype) pair such as ([4], \"f32\")", w.kind()),
                )
                .label(ls, "here")
            })?;
            Ok((name.clone(), shape, dtype, values))
        })
        .collect()
}

/// The fields `want` of `d`, checked against the file (`shown` names it).
fn select_fields(
    d: &Dataset,
    want: &[FieldSpec],
    ls: Loc,
    lp: Loc,
    shown: &str,
) -> R<Vec<(String, Tensor)>> {
    let mut out = Vec::with_capacity(want.len());
    for (name, shape, dtype, values) in want {
        let (shape, dtype) = (shape.clone(), *dtype);
        let stored = dataset::file_name(name);
        let Some(t) = d.field(name) else {
            let have: Vec<&str> = d
                .fields
                .iter()
                .map(|(n, _)| dataset::file_name(n))
                .collect();
            return Err(Diag::new(
                "dataset",
                format!("{shown} has no array `{stored}`, which the program's field `{name}` is read from"),
            )
            .label(lp, "this file")
            .label(ls, format!("`{name}` asked for here"))
            .help(format!("its arrays: {}", have.join(", "))));
        };
        let rows = &t.shape()[1..];
        if t.dtype() != dtype || rows != shape.as_slice() {
            return Err(Diag::new(
                "dataset",
                format!(
                    "{shown}: array `{stored}` has rows of {} {rows:?}, but the program's `{name}` is {dtype} {shape:?}",
                    t.dtype()
                ),
            )
            .label(lp, "this file")
            .label(ls, format!("`{name}` asked for here"))
            .help("the data was recorded from a different environment, or the program expects another action space"));
        }
        if let (Some(n), Tensor::I32(a)) = (values, t) {
            let per_row = rows.iter().product::<usize>().max(1);
            if let Some((i, v)) = a
                .iter()
                .enumerate()
                .find(|(_, v)| !(0..*n).contains(&(**v as i64)))
            {
                return Err(Diag::new(
                    "dataset",
                    format!(
                        "{shown}: row {} of array `{stored}` holds {v}, but the program's `{name}` takes values 0 to {}",
                        i / per_row,
                        n - 1
                    ),
                )
                .label(lp, "this file")
                .label(ls, format!("`{name}` asked for here"))
                .help("the data was recorded from an environment with other actions, or the file is damaged"));
            }
        }
        out.push((name.clone(), t.clone()));
    }
    Ok(out)
}

fn field_spec(v: &Value) -> Option<(Vec<usize>, DType, Option<i64>)> {
    let Value::Tuple(xs) = v else { return None };
    let (shape, dtype, values) = match &xs[..] {
        [shape, Value::Str(dtype)] => (shape, dtype, None),
        [shape, Value::Str(dtype), Value::Int(n)] if *n >= 1 => (shape, dtype, Some(*n)),
        _ => return None,
    };
    let Value::List(dims) = shape else {
        return None;
    };
    let dims = dims
        .iter()
        .map(|d| match d {
            Value::Int(i) if *i >= 0 => Some(*i as usize),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let dtype = match &**dtype {
        "f32" => DType::F32,
        "f64" => DType::F64,
        "i32" => DType::I32,
        "bool" => DType::Bool,
        _ => return None,
    };
    Some((dims, dtype, values))
}

/// A read-only slot holding `t` from the start.
fn data_slot(el: &mut Elab, name: &str, t: Tensor) -> Value {
    let ty = TensorType::new(t.dtype(), t.shape().to_vec());
    let slot = el.new_slot(name, ty.clone(), SlotKind::Data);
    el.data.push((slot, t));
    Value::Tensor(TVal {
        src: Src::Slot(slot),
        ty,
    })
}

/// `pretrained(module, "runs/x", name: "policy")`: `module` with its parameters replaced
/// by those a finished run saved (`params.npz` in a run directory, or that file itself),
/// frozen: they become [`SlotKind::Data`] slots, read but never trained or checkpointed.
/// The module's parameter `owner.w0` is read from the file's `name.w0`, `name` being
/// the top-level binding the run made it under (by default the one this call is bound
/// to). Write the module fresh in the call — its parameters are the ones frozen.
pub fn pretrained_builtin(el: &mut Elab, mut a: Args) -> R<Value> {
    let f = "pretrained";
    let (m, lm) = a.need(f, "module")?;
    let (path, lp) = a.need(f, "path")?;
    let name = a.take_public("name");
    a.done_public(f, &["module", "path", "name"])?;
    let Value::Str(path) = path else {
        return Err(Diag::new(
            "type-mismatch",
            format!(
                "`path` is a run directory or its params.npz, found {}",
                path.kind()
            ),
        )
        .label(lp, "here"));
    };
    let prefix = match name {
        None => el.owner.clone(),
        Some((Value::Str(s), _)) => s.to_string(),
        Some((v, l)) => {
            return Err(Diag::new(
                "type-mismatch",
                format!(
                    "`name` is the binding the run saved the module under, a string; found {}",
                    v.kind()
                ),
            )
            .label(l, "here"));
        }
    };
    let mut file = resolve(&base_dir(el, lp), &path);
    if file.is_dir() {
        file = file.join("params.npz");
    }
    el.files_read.push(file.clone());
    let saved = rlp_runtime::io::load_npz(&file)
        .map_err(|e| Diag::new("pretrained", e.to_string()).label(lp, "read here"))?;
    let params = super::params::collect_params(el, &m);
    let params: Vec<_> = params
        .into_iter()
        .filter(|p| el.slots[p.0 as usize].kind == SlotKind::Param)
        .collect();
    if params.is_empty() {
        return Err(Diag::new(
            "not-state",
            format!("{} has no parameters to load", m.kind()),
        )
        .label(lm, "no parameters"));
    }
    for p in params {
        let slot = &el.slots[p.0 as usize];
        let field = slot
            .name
            .split_once('.')
            .map_or(slot.name.as_str(), |(_, f)| f);
        let want = format!("{prefix}.{field}");
        let Some((_, t)) = saved.iter().find(|(n, _)| *n == want) else {
            let mut have: Vec<&str> = saved.iter().map(|(n, _)| n.as_str()).collect();
            have.sort_unstable();
            return Err(Diag::new(
                "pretrained",
                format!("`{}` has no parameter `{want}`", file.display()),
            )
            .label(lp, "this run")
            .label(lm, format!("`{}` is read from it", slot.name))
            .help(format!(
                "name the binding the run saved the module under with `name:`; the file holds {}",
                have.join(", ")
            )));
        };
        if t.dtype() != slot.ty.dtype || t.shape() != slot.ty.shape.as_slice() {
            return Err(Diag::new(
                "pretrained",
                format!(
                    "`{}`: `{want}` is {} {:?}, but the module's `{}` is {} {:?}",
                    file.display(),
                    t.dtype(),
                    t.shape(),
                    slot.name,
                    slot.ty.dtype,
                    slot.ty.shape
                ),
            )
            .label(lm, "this module")
            .help("write the module as the run's program did: the same layers and sizes"));
        }
        let t = t.clone();
        el.slots[p.0 as usize].kind = SlotKind::Data;
        el.data.push((p, t));
        // The fresh module's initial value is not wanted: the init graph stops writing
        // the slot, which then holds the file's values from the start.
        let init = match el.init.as_mut() {
            Some(c) => c,
            None => el.ctxs.first_mut().expect("init ctx"),
        };
        init.writes.retain(|s| *s != p);
        init.slot_vals.remove(&p);
    }
    Ok(m)
}
