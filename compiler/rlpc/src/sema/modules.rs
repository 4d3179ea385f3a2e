//! Modules: the embedded stdlib, the user's files, `use`, and the prelude.
//!
//! Name lookup in a module goes: local scopes → the module's own functions → its
//! imports → the prelude modules → built-ins. Function bodies resolve names when they
//! are called, so modules may refer to each other freely.

use super::value::{FnRef, Value};
use crate::diag::{Diag, FileId, Loc, SourceMap, did_you_mean};
use rlp_syntax::ast::{self, Item, UseTarget};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The stdlib, embedded in the binary: (module path, source).
pub const STDLIB: &[(&str, &str)] = &[
    ("std.core", include_str!("../../../../stdlib/core.rlp")),
    ("std.nn", include_str!("../../../../stdlib/nn.rlp")),
    ("std.dist", include_str!("../../../../stdlib/dist.rlp")),
    ("std.optim", include_str!("../../../../stdlib/optim.rlp")),
    ("std.data", include_str!("../../../../stdlib/data.rlp")),
    ("std.linalg", include_str!("../../../../stdlib/linalg.rlp")),
    (
        "std.estimators",
        include_str!("../../../../stdlib/estimators.rlp"),
    ),
    ("std.losses", include_str!("../../../../stdlib/losses.rlp")),
    ("std.replay", include_str!("../../../../stdlib/replay.rlp")),
    ("std.plan", include_str!("../../../../stdlib/plan.rlp")),
    ("std.model", include_str!("../../../../stdlib/model.rlp")),
    (
        "std.explore",
        include_str!("../../../../stdlib/explore.rlp"),
    ),
    ("std.dp", include_str!("../../../../stdlib/dp.rlp")),
    ("std.bandit", include_str!("../../../../stdlib/bandit.rlp")),
    ("std.vi", include_str!("../../../../stdlib/vi.rlp")),
    ("std.render", include_str!("../../../../stdlib/render.rlp")),
    ("std.ope", include_str!("../../../../stdlib/ope.rlp")),
    (
        "std.env.cartpole",
        include_str!("../../../../stdlib/env/cartpole.rlp"),
    ),
    (
        "std.env.pendulum",
        include_str!("../../../../stdlib/env/pendulum.rlp"),
    ),
    (
        "std.env.mountain_car",
        include_str!("../../../../stdlib/env/mountain_car.rlp"),
    ),
    (
        "std.env.mountain_car_continuous",
        include_str!("../../../../stdlib/env/mountain_car_continuous.rlp"),
    ),
    (
        "std.env.acrobot",
        include_str!("../../../../stdlib/env/acrobot.rlp"),
    ),
    (
        "std.env.bandit",
        include_str!("../../../../stdlib/env/bandit.rlp"),
    ),
    (
        "std.env.gridworld",
        include_str!("../../../../stdlib/env/gridworld.rlp"),
    ),
    (
        "std.env.point_mass",
        include_str!("../../../../stdlib/env/point_mass.rlp"),
    ),
    (
        "std.env.chain",
        include_str!("../../../../stdlib/env/chain.rlp"),
    ),
];

/// Modules whose public functions every module sees without a `use`.
pub const PRELUDE: &[&str] = &[
    "std.core",
    "std.nn",
    "std.dist",
    "std.optim",
    "std.data",
    "std.linalg",
];

/// The stdlib module outside the prelude whose `pub fn` is named `name`, if one is: for
/// the help of an unknown name (`mse` → `use std.losses.{mse}`).
pub fn stdlib_home(name: &str) -> Option<&'static str> {
    let decl = format!("pub fn {name}(");
    STDLIB
        .iter()
        .filter(|(m, _)| !PRELUDE.contains(m))
        .find(|(_, text)| text.lines().any(|l| l.starts_with(&decl)))
        .map(|(m, _)| *m)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ModId(pub u32);

#[derive(Debug)]
pub struct Module {
    pub name: String,
    pub file: FileId,
    pub ast: Rc<ast::Module>,
    pub fns: HashMap<String, Rc<ast::FnDecl>>,
    pub imports: HashMap<String, Value>,
}

impl Module {
    /// The name a call of the module itself looks up (`cartpole(…)` calls
    /// `std.env.cartpole`'s `cartpole`; `vtrace(…)` after `use "./vtrace.rlp"` calls the
    /// file's `vtrace`): the last segment of a stdlib path, a file's stem.
    pub fn call_name(&self) -> &str {
        match self.name.strip_suffix(".rlp") {
            Some(path) => Path::new(path)
                .file_name()
                .and_then(|s| s.to_str())
                .unwrap_or(path),
            None => self.name.rsplit('.').next().unwrap_or(""),
        }
    }
}

/// Whether `s` can be written as a name in a program.
pub fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug, Default)]
pub struct Modules {
    pub sources: SourceMap,
    pub mods: Vec<Module>,
    by_key: HashMap<String, ModId>,
    /// Where each imported name was bound, and from which module: for the error when a
    /// second `use` binds the same name again.
    import_sites: HashMap<(ModId, String), (Loc, String)>,
    prelude: Vec<ModId>,
    /// Texts that stand in for files on disk (an editor's unsaved buffers), by path with
    /// `.` and `..` folded ([`fold_dots`]).
    pub unsaved: HashMap<PathBuf, String>,
}

impl Modules {
    /// Loads the prelude, then the user's main file with everything it uses.
    pub fn load_main(path: &Path) -> Result<(Modules, ModId), (Modules, Vec<Diag>)> {
        match read_source(path) {
            Ok(text) => Self::load_main_text(path, text),
            Err(msg) => {
                let mut m = Modules::default();
                match m.load_prelude() {
                    Ok(()) => Err((m, vec![Diag::new("io", msg)])),
                    Err(d) => Err((m, vec![d])),
                }
            }
        }
    }

    /// Loads the prelude, then `text` as the main file at `path`: its relative `use`s and
    /// data files resolve from `path`'s directory (a run resumed from the text it saved
    /// after the file itself changed).
    pub fn load_main_text(
        path: &Path,
        text: String,
    ) -> Result<(Modules, ModId), (Modules, Vec<Diag>)> {
        Self::load_text_at(path, &text, HashMap::new())
    }

    /// Loads the prelude and a program given as text (tests, `rlpc check -`).
    pub fn load_source(name: &str, text: &str) -> Result<(Modules, ModId), (Modules, Vec<Diag>)> {
        let mut m = Modules::default();
        if let Err(d) = m.load_prelude() {
            return Err((m, vec![d]));
        }
        match m.load_text(name, text.to_string(), None) {
            Ok(id) => Ok((m, id)),
            Err(d) => Err((m, vec![d])),
        }
    }

    /// Loads the prelude and `text` as the file `path` holds it in an editor (maybe
    /// unsaved): named, and resolving its relative `use`s, as [`Modules::load_main`] would;
    /// a file it uses is read from `unsaved` when there.
    #[allow(clippy::result_large_err)] // as `load_main`: the modules read so far go with the errors
    pub fn load_text_at(
        path: &Path,
        text: &str,
        unsaved: HashMap<PathBuf, String>,
    ) -> Result<(Modules, ModId), (Modules, Vec<Diag>)> {
        let mut m = Modules {
            unsaved,
            ..Modules::default()
        };
        if let Err(d) = m.load_prelude() {
            return Err((m, vec![d]));
        }
        match m.load_text(
            &path.display().to_string(),
            text.to_string(),
            Some(path.to_path_buf()),
        ) {
            Ok(id) => Ok((m, id)),
            Err(d) => Err((m, vec![d])),
        }
    }

    fn load_prelude(&mut self) -> Result<(), Diag> {
        for name in PRELUDE {
            let id = self.load_std(name, None)?;
            self.prelude.push(id);
        }
        Ok(())
    }

    /// Loads `--set NAME=VALUE` settings as a module of bindings named `<--set>`.
    pub fn add_overrides(&mut self, settings: &[(String, String)]) -> Result<ModId, Diag> {
        let text: String = settings
            .iter()
            .map(|(n, v)| format!("{n} = {v}\n"))
            .collect();
        self.load_text("<--set>", text, None)
    }

    pub fn module(&self, id: ModId) -> &Module {
        &self.mods[id.0 as usize]
    }

    /// Loads `std.a.b` from the embedded stdlib.
    fn load_std(&mut self, name: &str, used_at: Option<Loc>) -> Result<ModId, Diag> {
        if let Some(&id) = self.by_key.get(name) {
            return Ok(id);
        }
        let Some((_, text)) = STDLIB.iter().find(|(n, _)| *n == name) else {
            let mut d = Diag::new(
                "missing-module",
                format!("there is no stdlib module `{name}`"),
            );
            if let Some(loc) = used_at {
                d = d.label(loc, "not in the stdlib");
            }
            let names = STDLIB.iter().map(|(n, _)| *n);
            let help = match did_you_mean(name, names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "stdlib modules: {}",
                    STDLIB
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(d.help(help));
        };
        let path = format!(
            "{}/{}.rlp",
            crate::diag::STDLIB_FILES,
            name.trim_start_matches("std.").replace('.', "/")
        );
        let id = self.load_text_keyed(name, &path, text.to_string(), None)?;
        Ok(id)
    }

    fn load_text(
        &mut self,
        name: &str,
        text: String,
        path: Option<PathBuf>,
    ) -> Result<ModId, Diag> {
        let key = path
            .as_ref()
            .map(|p| fold_dots(p).display().to_string())
            .unwrap_or_else(|| name.to_string());
        self.load_text_keyed(&key, name, text, path)
    }

    fn load_text_keyed(
        &mut self,
        key: &str,
        display: &str,
        text: String,
        path: Option<PathBuf>,
    ) -> Result<ModId, Diag> {
        let file = self.sources.add(display, text);
        let parsed = rlp_syntax::parse(self.sources.text(file)).map_err(|e| parse_diag(file, e))?;
        let id = ModId(self.mods.len() as u32);
        let mut fns = HashMap::new();
        for item in &parsed.items {
            if let Item::Fn(f) = item {
                if f.name.name == COUNTER {
                    // Closures would call it where the `train` block reads the counter.
                    return Err(names_the_counter(Loc::new(file, f.name.span), "a function"));
                }
                if fns.contains_key(&f.name.name) {
                    return Err(Diag::new(
                        "duplicate",
                        format!("`{}` is defined twice", f.name.name),
                    )
                    .label(Loc::new(file, f.name.span), "second definition"));
                }
                fns.insert(f.name.name.clone(), Rc::new(f.clone()));
            }
        }
        self.mods.push(Module {
            name: key.to_string(),
            file,
            ast: Rc::new(parsed),
            fns,
            imports: HashMap::new(),
        });
        self.by_key.insert(key.to_string(), id);
        let uses: Vec<ast::Use> = self.mods[id.0 as usize]
            .ast
            .items
            .iter()
            .filter_map(|i| {
                if let Item::Use(u) = i {
                    Some(u.clone())
                } else {
                    None
                }
            })
            .collect();
        for u in uses {
            self.resolve_use(id, &u, path.as_deref())?;
        }
        Ok(id)
    }

    fn resolve_use(&mut self, into: ModId, u: &ast::Use, from: Option<&Path>) -> Result<(), Diag> {
        let file = self.module(into).file;
        let (target, default_name) = match &u.target {
            UseTarget::Path(segs) => {
                let name = segs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                let loc = Loc::new(
                    file,
                    segs.first().unwrap().span.to(segs.last().unwrap().span),
                );
                if segs[0].name != "std" {
                    return Err(
                        Diag::new("missing-module", format!("unknown module `{name}`"))
                            .label(loc, "module paths start with `std`")
                            .help("to use your own file, write `use \"./file.rlp\"`"),
                    );
                }
                (
                    self.load_std(&name, Some(loc))?,
                    segs.last().unwrap().name.clone(),
                )
            }
            UseTarget::File { path, span } => {
                let loc = Loc::new(file, *span);
                let base = from.and_then(Path::parent).unwrap_or(Path::new("."));
                // Folded, so that one file reached by two spellings (`./a.rlp`,
                // `sub/../a.rlp`) is one module, and a file that imports itself finds
                // itself rather than loading again under a longer name.
                let full = fold_dots(&base.join(path));
                let key = full.display().to_string();
                let id = match self.by_key.get(&key) {
                    Some(&id) => id,
                    None => {
                        let text = match self.unsaved.get(&fold_dots(&full)) {
                            Some(t) => t.clone(),
                            None => read_source(&full)
                                .map_err(|m| Diag::new("io", m).label(loc, "imported here"))?,
                        };
                        self.load_text(&key, text, Some(full.clone()))?
                    }
                };
                let stem = full
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default();
                (id, stem)
            }
        };
        match &u.names {
            None => {
                let loc = match &u.target {
                    UseTarget::Path(segs) => Loc::new(
                        file,
                        segs.first().unwrap().span.to(segs.last().unwrap().span),
                    ),
                    UseTarget::File { span, .. } => Loc::new(file, *span),
                };
                if !is_name(&default_name) {
                    let fns: Vec<&str> = {
                        let mut v: Vec<&str> =
                            self.module(target).fns.keys().map(|s| s.as_str()).collect();
                        v.sort_unstable();
                        v
                    };
                    let path = match &u.target {
                        UseTarget::File { path, .. } => path.clone(),
                        UseTarget::Path(_) => default_name.clone(),
                    };
                    return Err(Diag::new(
                        "unnamed-module",
                        format!(
                            "the file name `{default_name}` is not a name, so this module \
                             cannot be reached by it"
                        ),
                    )
                    .label(loc, "imported here under no usable name")
                    .help(format!(
                        "import its functions by name: `use \"{path}\".{{{}}}`, or rename \
                         the file to a name (letters, digits and `_`, not starting with a digit)",
                        fns.join(", ")
                    )));
                }
                self.bind_import(into, default_name, Value::Module(target), loc, target)?;
            }
            Some(names) => {
                for n in names {
                    let Some(f) = self.module(target).fns.get(&n.name).cloned() else {
                        let cands: Vec<&str> =
                            self.module(target).fns.keys().map(|s| s.as_str()).collect();
                        let mut d = Diag::new(
                            "unknown-name",
                            format!("module `{}` has no `{}`", self.module(target).name, n.name),
                        )
                        .label(Loc::new(file, n.span), "not found there");
                        if let Some(s) = did_you_mean(&n.name, cands) {
                            d = d.help(format!("did you mean `{s}`?"));
                        }
                        return Err(d);
                    };
                    let value = Value::Fn(FnRef {
                        module: target,
                        decl: f,
                    });
                    self.bind_import(into, n.name.clone(), value, Loc::new(file, n.span), target)?;
                }
            }
        }
        Ok(())
    }

    /// Binds `name` in module `into` to what a `use` at `loc` imports from `from`. A name
    /// that an earlier `use` bound to something else is an error: with two sources for one
    /// name, which one a call means would depend on the order of the `use` lines.
    fn bind_import(
        &mut self,
        into: ModId,
        name: String,
        value: Value,
        loc: Loc,
        from: ModId,
    ) -> Result<(), Diag> {
        let from_name = self.module(from).name.clone();
        let key = (into, name.clone());
        if let Some((first_loc, first_from)) = self.import_sites.get(&key)
            && *first_from != from_name
        {
            return Err(Diag::new(
                "duplicate-import",
                format!("`{name}` is imported twice: from `{first_from}` and from `{from_name}`"),
            )
            .label(
                loc,
                format!("second import of `{name}`, from `{from_name}`"),
            )
            .label(
                *first_loc,
                format!("first imported here, from `{first_from}`"),
            )
            .help(format!(
                "import `{name}` from one module only; to use both, import the module \
                     itself (`use std.x` or `use \"./file.rlp\"`) and call `module.{name}`"
            )));
        }
        self.import_sites.insert(key, (loc, from_name));
        self.mods[into.0 as usize].imports.insert(name, value);
        Ok(())
    }

    /// Looks a name up at module level (own functions, imports, prelude).
    pub fn lookup(&self, module: ModId, name: &str) -> Option<Value> {
        let m = self.module(module);
        if let Some(f) = m.fns.get(name) {
            return Some(Value::Fn(FnRef {
                module,
                decl: f.clone(),
            }));
        }
        if let Some(v) = m.imports.get(name) {
            return Some(v.clone());
        }
        for &p in &self.prelude {
            if let Some(f) = self.module(p).fns.get(name).filter(|f| f.public) {
                return Some(Value::Fn(FnRef {
                    module: p,
                    decl: f.clone(),
                }));
            }
        }
        None
    }

    /// Every module-level name visible from `module`, for suggestions.
    pub fn visible_names(&self, module: ModId) -> Vec<String> {
        let m = self.module(module);
        let mut out: Vec<String> = m.fns.keys().chain(m.imports.keys()).cloned().collect();
        for &p in &self.prelude {
            out.extend(
                self.module(p)
                    .fns
                    .iter()
                    .filter(|(_, f)| f.public)
                    .map(|(n, _)| n.clone()),
            );
        }
        out
    }
}

/// The loop counter's name, visible everywhere (closures included).
pub const COUNTER: &str = "iteration";

/// A top-level value or a function named [`COUNTER`] (`what`): closures defined at top
/// level would read it while the `train` block reads the counter — one name, two meanings.
pub fn names_the_counter(at: Loc, what: &str) -> Diag {
    Diag::new(
        "reserved-name",
        format!("`{COUNTER}` is the training loop's counter"),
    )
    .label(at, format!("{what} of the counter's name"))
    .help(format!(
        "`{COUNTER}` is visible everywhere, closures included; pick another name"
    ))
}

/// `path` with `.` and `..` folded away, without asking the file system: one name for a
/// file reached along two paths. A path that folds to nothing (`./`, `a/..`) is `.`, the
/// directory it names, never an empty path (which no file operation can name).
pub fn fold_dots(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Reads a source file: a clear message for a missing, unreadable, binary or huge file.
pub fn read_source(path: &Path) -> Result<String, String> {
    const MAX: u64 = 16 << 20;
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!(
            "`{}` is a directory, not a .rlp file",
            path.display()
        ));
    }
    if meta.len() > MAX {
        return Err(format!(
            "`{}` is {} bytes; source files are limited to {MAX} bytes",
            path.display(),
            meta.len()
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if bytes.contains(&0) {
        return Err(format!(
            "`{}` is a binary file, not .rlp source",
            path.display()
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{}` is not valid UTF-8 (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

fn parse_diag(file: FileId, e: rlp_syntax::ParseError) -> Diag {
    let label = if e.expected.is_empty() {
        String::new()
    } else {
        format!("expected {}", e.expected.join(", "))
    };
    let mut d = Diag::new("parse", e.message).label(Loc::new(file, e.span), label);
    if let Some(h) = e.hint {
        d = d.help(h);
    }
    d
}
