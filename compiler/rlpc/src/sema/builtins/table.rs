//! The signatures of the built-ins: one table, read by the checker's messages (a
//! wrong argument shows the signature) and by `rlpc doc builtins`, which writes
//! `docs/builtins.md` from it. A test fails when a built-in the elaborator accepts has
//! no row here, and when `docs/builtins.md` is not what this table generates.

use std::fmt;

/// What a built-in is for; the reference is grouped by family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Elementwise math, reductions, creation, casts, shapes and indexing.
    Tensor,
    /// Random tensors (counter-based: the same whatever the backend or thread count).
    Random,
    /// Program state: trainable parameters and optimizers.
    State,
    /// Working with the parameters of modules: their values and gradients.
    Module,
    /// Environments and collecting experience from them.
    Environment,
    /// Compile-time values: ints, lists, strings.
    Data,
}

impl Family {
    /// Every family, in the order of the reference.
    pub const ALL: [Family; 6] = [
        Family::Tensor,
        Family::Random,
        Family::State,
        Family::Module,
        Family::Environment,
        Family::Data,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Family::Tensor => "Tensor",
            Family::Random => "Random",
            Family::State => "State",
            Family::Module => "Module",
            Family::Environment => "Environment",
            Family::Data => "Data",
        }
    }

    pub fn doc(self) -> &'static str {
        match self {
            Family::Tensor => {
                "Elementwise math, reductions, creation, casts, shapes and indexing. Numbers known at compile time stay numbers where that makes sense (`exp(0.0)` is a float)."
            }
            Family::Random => {
                "Random tensors, drawn by index from a counter-based generator keyed by the run's seed and the statement, so a run is the same whatever the backend or thread count."
            }
            Family::State => "Program state that persists across iterations and is checkpointed.",
            Family::Module => {
                "The parameters of modules (a module is any value holding parameters)."
            }
            Family::Environment => "Environments and collecting experience from them.",
            Family::Data => "Compile-time values: ints, lists and strings.",
        }
    }
}

/// One parameter: `name: kind` or `name: kind = default`.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    /// What it takes, in words: `tensor`, `int`, `shape`, `int | list`, `fn`, ...
    pub kind: &'static str,
    /// The default as written in `.rlp`; `None` when the argument is required.
    pub default: Option<&'static str>,
    /// Only by name (`dtype: "f64"`), never by position.
    pub keyword_only: bool,
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.kind)?;
        match self.default {
            Some(d) => write!(f, " = {d}"),
            None => Ok(()),
        }
    }
}

/// The parameters as written in a signature: keyword-only ones after a `*`, as in Python.
fn write_params(f: &mut impl fmt::Write, params: &[Param]) -> fmt::Result {
    let mut starred = false;
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        if p.keyword_only && !starred {
            f.write_str("*, ")?;
            starred = true;
        }
        write!(f, "{p}")?;
    }
    Ok(())
}

/// The signature of one built-in.
#[derive(Clone, Copy, Debug)]
pub struct Signature {
    pub name: &'static str,
    pub family: Family,
    pub params: &'static [Param],
    /// What it returns, in words.
    pub returns: &'static str,
    /// One line.
    pub doc: &'static str,
}

impl fmt::Display for Signature {
    /// `uniform(shape: shape, low: number = 0.0, …) -> tensor`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        write_params(f, self.params)?;
        write!(f, ") -> {}", self.returns)
    }
}

/// The signature of the built-in `name`.
pub fn signature(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.name == name)
}

/// A required parameter.
const fn req(name: &'static str, kind: &'static str) -> Param {
    Param {
        name,
        kind,
        default: None,
        keyword_only: false,
    }
}

/// An optional parameter, by position or name.
const fn opt(name: &'static str, kind: &'static str, default: &'static str) -> Param {
    Param {
        name,
        kind,
        default: Some(default),
        keyword_only: false,
    }
}

/// An optional parameter given only by name.
const fn kw(name: &'static str, kind: &'static str, default: &'static str) -> Param {
    Param {
        keyword_only: true,
        ..opt(name, kind, default)
    }
}

const X: &[Param] = &[req("x", "tensor | number")];
const REDUCE: &[Param] = &[
    req("x", "tensor"),
    opt("axis", "int | list", "all axes"),
    kw("keep", "bool", "false"),
];
const MIN_MAX: &[Param] = &[
    req("x", "tensor | number"),
    opt("y", "tensor | number", "none"),
    kw("axis", "int | list", "all axes"),
    kw("keep", "bool", "false"),
];
const FILLED: &[Param] = &[req("shape", "shape"), kw("dtype", "str", "\"f32\"")];
const CAST: &[Param] = &[req("x", "tensor | number")];
const JOIN: &[Param] = &[req("xs", "list of tensors"), opt("axis", "int", "-1")];

use Family::*;

/// Every built-in, grouped by family (one row per line: kept as written by rustfmt).
#[rustfmt::skip]
pub const SIGNATURES: &[Signature] = &[
    // ---- tensor: elementwise ----
    Signature { name: "exp", family: Tensor, params: X, returns: "tensor | float", doc: "e to the power `x`, elementwise." },
    Signature { name: "log", family: Tensor, params: X, returns: "tensor | float", doc: "Natural logarithm, elementwise." },
    Signature { name: "sqrt", family: Tensor, params: X, returns: "tensor | float", doc: "Square root, elementwise." },
    Signature { name: "tanh", family: Tensor, params: X, returns: "tensor | float", doc: "Hyperbolic tangent, elementwise." },
    Signature { name: "sin", family: Tensor, params: X, returns: "tensor | float", doc: "Sine, elementwise." },
    Signature { name: "cos", family: Tensor, params: X, returns: "tensor | float", doc: "Cosine, elementwise." },
    Signature { name: "abs", family: Tensor, params: X, returns: "tensor | float", doc: "Absolute value, elementwise (keeps an int dtype)." },
    Signature { name: "sign", family: Tensor, params: X, returns: "tensor | float", doc: "-1, 0 or 1, elementwise (keeps an int dtype)." },
    Signature { name: "floor", family: Tensor, params: X, returns: "tensor | float", doc: "Rounds down, elementwise." },
    Signature { name: "atan2", family: Tensor, params: &[req("y", "tensor | number"), req("x", "tensor | number")], returns: "tensor", doc: "The angle of the point (`x`, `y`), elementwise, broadcasting." },
    Signature { name: "where", family: Tensor, params: &[req("cond", "bool | bool tensor"), req("a", "any"), req("b", "any")], returns: "tensor | any", doc: "`a` where `cond` holds, else `b`: elementwise for a tensor condition, a compile-time choice for a bool." },
    Signature { name: "stop", family: Tensor, params: &[req("x", "tensor | number")], returns: "tensor", doc: "`x`, with no gradient flowing back through it." },
    // ---- tensor: reductions ----
    Signature { name: "sum", family: Tensor, params: REDUCE, returns: "tensor", doc: "Sum over `axis` (all axes when absent); `keep` leaves the reduced axes as 1s. An i32 tensor sums to i32 (exact; wraps past 2^31), anything else to f32." },
    Signature { name: "mean", family: Tensor, params: REDUCE, returns: "tensor", doc: "Mean over `axis` (all axes when absent); `keep` leaves the reduced axes as 1s." },
    Signature { name: "min", family: Tensor, params: MIN_MAX, returns: "tensor | number", doc: "With `y`: the elementwise minimum; without: the minimum over `axis`." },
    Signature { name: "max", family: Tensor, params: MIN_MAX, returns: "tensor | number", doc: "With `y`: the elementwise maximum; without: the maximum over `axis`." },
    Signature { name: "argmax", family: Tensor, params: &[req("x", "tensor"), opt("axis", "int", "-1")], returns: "i32 tensor", doc: "The index of the largest element along `axis`." },
    // ---- tensor: creation and casts ----
    Signature { name: "zeros", family: Tensor, params: FILLED, returns: "tensor", doc: "A tensor of zeros." },
    Signature { name: "ones", family: Tensor, params: FILLED, returns: "tensor", doc: "A tensor of ones." },
    Signature { name: "full", family: Tensor, params: &[req("shape", "shape"), req("value", "number"), kw("dtype", "str", "\"f32\"")], returns: "tensor", doc: "A tensor filled with `value`." },
    Signature { name: "zeros_like", family: Tensor, params: &[req("x", "tensor")], returns: "tensor", doc: "Zeros of the shape and dtype of `x`." },
    Signature { name: "indices", family: Tensor, params: &[req("n", "int")], returns: "i32 tensor [n]", doc: "0, 1, ..., n-1." },
    Signature { name: "one_hot", family: Tensor, params: &[req("index", "i32 tensor"), req("depth", "int")], returns: "f32 tensor [..., depth]", doc: "1.0 at each index along a new last axis of size `depth`, else 0.0. An index outside 0..depth gives a row of zeros (`take` of an identity's rows is the checked form)." },
    Signature { name: "f32", family: Tensor, params: CAST, returns: "f32 tensor", doc: "Converts to f32." },
    Signature { name: "f64", family: Tensor, params: CAST, returns: "f64 tensor", doc: "Converts to f64." },
    Signature { name: "i32", family: Tensor, params: CAST, returns: "i32 tensor", doc: "Converts to i32 (truncating)." },
    // ---- tensor: shapes and indexing ----
    Signature { name: "stack", family: Tensor, params: JOIN, returns: "tensor", doc: "Stacks equal-shaped tensors along a new axis." },
    Signature { name: "concat", family: Tensor, params: JOIN, returns: "tensor", doc: "Joins tensors along an existing axis." },
    Signature { name: "reshape", family: Tensor, params: &[req("x", "tensor"), req("shape", "shape")], returns: "tensor", doc: "The same elements in a new shape (the element count must agree; one size may be `-1`, inferred: `reshape(x, [-1, 4])`)." },
    Signature { name: "transpose", family: Tensor, params: &[req("x", "tensor"), opt("axes", "list of ints", "reversed")], returns: "tensor", doc: "The axes permuted: axis `i` of the result is axis `axes[i]` of `x` (all reversed by default)." },
    Signature { name: "take", family: Tensor, params: &[req("x", "tensor [B, ...]"), req("index", "i32 [M]")], returns: "tensor [M, ...]", doc: "Rows of `x` picked by `index` (a gather along the first axis), O(M) whatever the size of `x`." },
    Signature { name: "put", family: Tensor, params: &[req("x", "tensor [B, ...]"), req("index", "i32 [M]"), req("rows", "tensor [M, ...]"), kw("add", "bool", "false")], returns: "tensor [B, ...]", doc: "`x` with row `index[m]` set to row `m` of `rows`, in order (a later write to a row wins), or increased by it with `add`. `state <- put(state, i, r)` rewrites only those rows of the state, in place." },
    Signature { name: "cumsum", family: Tensor, params: &[req("x", "tensor"), kw("reverse", "bool", "false")], returns: "tensor", doc: "Running sums along the last axis, added in order (from the end with `reverse`)." },
    Signature { name: "search_sorted", family: Tensor, params: &[req("sorted", "tensor [..., K]"), req("values", "tensor")], returns: "i32 tensor", doc: "For each value, how many elements of `sorted` are at most it: with running sums of weights, the index drawn by a uniform value (proportional sampling). `sorted` is `[K]` (values any shape) or `[S..., K]` (values `[S..., Q]`)." },
    Signature { name: "top_k", family: Tensor, params: &[req("x", "tensor [..., K]"), req("k", "int")], returns: "{ values: [..., k], indices: [..., k] i32 }", doc: "Each row's `k` largest elements along the last axis, largest first (ties: the lower position first; NaN ranks above inf), and their positions. Gradients flow to the picked values." },
    Signature { name: "argsort", family: Tensor, params: &[req("x", "tensor [..., K]"), kw("descending", "bool", "false")], returns: "i32 tensor [..., K]", doc: "The positions that sort each row along the last axis (ascending unless `descending`; ties keep their order)." },
    Signature { name: "sort", family: Tensor, params: &[req("x", "tensor [..., K]"), kw("descending", "bool", "false")], returns: "tensor [..., K]", doc: "Each row sorted along the last axis (ascending unless `descending`); gradients flow to the elements where they land." },
    // ---- random ----
    Signature { name: "uniform", family: Random, params: &[req("shape", "shape"), opt("low", "tensor | number", "0.0"), opt("high", "tensor | number", "1.0"), kw("dtype", "str", "\"f32\""), kw("seed", "int", "0")], returns: "tensor", doc: "Uniform draws in [`low`, `high`)." },
    Signature { name: "normal", family: Random, params: &[req("shape", "shape"), opt("mean", "tensor | number", "0.0"), opt("std", "tensor | number", "1.0"), kw("dtype", "str", "\"f32\""), kw("seed", "int", "0")], returns: "tensor", doc: "Normal draws with mean `mean` and standard deviation `std`." },
    // ---- state ----
    Signature { name: "param", family: State, params: &[req("shape", "shape"), kw("init", "str", "\"uniform\""), kw("scale", "number", "1.0"), kw("name", "str", "\"p\"")], returns: "tensor", doc: "A trainable parameter, initialised once (`init`: \"uniform\", \"normal\" or \"zeros\")." },
    Signature { name: "optimizer", family: State, params: &[req("init", "fn(p) -> state"), req("update", "fn(p, g, state, t) -> (p2, state2)"), kw("max_grad_norm", "number", "0.0")], returns: "optimizer", doc: "An optimizer written in `.rlp`, for `minimize ... with` (see `stdlib/optim.rlp`); with `max_grad_norm` > 0 the gradients of each `minimize` are first scaled together to a global norm of at most that." },
    // ---- module ----
    Signature { name: "parameters", family: Module, params: &[req("module", "module | list")], returns: "list of tensors", doc: "The current values of the parameters of `module`, in a fixed order." },
    Signature { name: "copy", family: Module, params: &[req("module", "module")], returns: "module", doc: "A module like `module` over new parameters that start at its initial values (a target network: `q_targ = copy(q)`)." },
    Signature { name: "pretrained", family: Module, params: &[req("module", "module"), req("path", "str"), opt("name", "str", "the binding")], returns: "module", doc: "`module` with the parameters a finished run saved (a run directory or its `params.npz`), frozen: read, never trained or checkpointed. `name` is the binding the run made the module under; write the module fresh in the call, as the run's program did (`docs/datasets.md`)." },
    Signature { name: "grad", family: Module, params: &[req("loss", "f32 scalar"), req("wrt", "module | list")], returns: "list of tensors", doc: "The gradient of `loss` with respect to the parameters of `wrt`, in the order of `parameters`." },
    // ---- environment ----
    Signature { name: "environment", family: Environment, params: &[req("envs", "int"), req("max_steps", "int"), req("obs", "int"), req("reset", "fn"), req("step", "fn"), kw("actions", "int", "none"), kw("act_dim", "int", "none"), kw("act_low", "number", "none"), kw("act_high", "number", "none"), kw("observe", "fn", "none")], returns: "environment", doc: "An environment written in `.rlp`, stepped as a vectorised kernel; its state lives in slots." },
    Signature { name: "gym", family: Environment, params: &[req("id", "str"), opt("envs", "int", "1"), opt("workers", "int", "1"), opt("seed", "int", "0"), opt("obs", "shape", "asked of the env"), opt("actions", "int", "asked of the env"), opt("act_dim", "int", "asked of the env"), opt("act_low", "number", "asked of the env"), opt("act_high", "number", "asked of the env"), opt("max_steps", "int", "asked of the env")], returns: "environment", doc: "An external (Gymnasium) environment stepped by worker processes (`docs/external-envs.md`)." },
    Signature { name: "dataset", family: Environment, params: &[req("path", "str or [str]"), opt("fields", "record", "every array")], returns: "{data, size, capacity, episodes, max_length, episode_start, episode_length}", doc: "Logged transitions from an `.npz` file (several are joined), read at compile time and checked against `fields` (e.g. `transitions(env)`); read-only state shaped like a replay buffer, so `draw(ds, n)` samples it (`docs/datasets.md`)." },
    Signature { name: "rollout", family: Environment, params: &[req("env", "environment"), req("policy", "policy"), req("steps", "int"), opt("evaluation", "bool", "false")], returns: "record of [T, N, ...] tensors", doc: "Steps every environment `steps` times under `policy`, resetting finished episodes. An `evaluation` rollout's steps do not count in `env_steps`." },
    // ---- data ----
    Signature { name: "len", family: Data, params: &[req("x", "list | tuple | tensor")], returns: "int", doc: "The length of a list or tuple, or the first dimension of a tensor." },
    Signature { name: "range", family: Data, params: &[req("n", "int")], returns: "list of ints", doc: "The list 0, 1, ..., n-1." },
    Signature { name: "int", family: Data, params: &[req("x", "number")], returns: "int", doc: "A compile-time number rounded down to an int (for tensors use `i32`)." },
    Signature { name: "map", family: Data, params: &[req("f", "fn"), req("xs", "list | tuple | record"), opt("ys", "list | tuple | record", "none")], returns: "list | tuple | record", doc: "`f` applied to each element (each field of a record); with `ys`, `f(x, y)` of paired elements: by position, or for records by field name (`ys` may have more fields)." },
    Signature { name: "split", family: Data, params: &[req("text", "str"), req("sep", "str")], returns: "list of str", doc: "`text` cut at each `sep`." },
    Signature { name: "values", family: Data, params: &[req("record", "record")], returns: "list", doc: "The values of a record's fields, in order." },
    Signature { name: "chars", family: Data, params: &[req("text", "str")], returns: "list of str", doc: "The characters of `text`." },
    Signature { name: "require", family: Data, params: &[req("cond", "bool"), req("message", "str")], returns: "nothing", doc: "A compile-time check: when `cond` is false, an error with `message` at the call of the function that holds the `require` (so a stdlib function's precondition points at the user's code)." },
];

/// The built-ins reference, `docs/builtins.md`, as generated from [`SIGNATURES`].
pub fn reference_markdown() -> String {
    let mut s = String::from(
        "# Built-ins\n\n\
         <!-- Generated from compiler/rlpc/src/sema/builtins/table.rs by `rlpc doc builtins`; do not edit. -->\n\n\
         The primitives `.rlp` code (the stdlib included) is written with. Everything else is\n\
         `.rlp`: see `stdlib/`. A parameter with `= …` may be left out; any parameter may be\n\
         given by name (`uniform([3], high: 2.0)`), and those after `*` only by name.\n",
    );
    for family in Family::ALL {
        s.push_str(&format!("\n## {}\n\n{}\n\n", family.title(), family.doc()));
        s.push_str("| built-in | returns | |\n| --- | --- | --- |\n");
        for sig in SIGNATURES.iter().filter(|s| s.family == family) {
            let mut params = String::new();
            // Writing to a String cannot fail.
            let _ = write_params(&mut params, sig.params);
            let sig_text = format!("{}({params})", sig.name).replace('|', "\\|");
            s.push_str(&format!(
                "| `{sig_text}` | {} | {} |\n",
                sig.returns.replace('|', "\\|"),
                sig.doc.replace('|', "\\|")
            ));
        }
    }
    s
}
