//! Modules as the editor sees them: the document being edited, the user's files it
//! `use`s (their open buffers when the editor has them, else the files on disk) and the
//! embedded stdlib, with module-level name lookup in the compiler's order (own functions
//! → imports → prelude → built-ins, `sema::modules`).
//!
//! This works on syntax alone, so it still answers while a file it imports has errors.

use crate::sema::builtins::table::{self, Signature};
use crate::sema::modules::{PRELUDE, STDLIB};
use rlp_syntax::ast::{self, Item, Span, UseTarget};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Where a module's text comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// An embedded stdlib module: `std.estimators`.
    Stdlib(&'static str),
    /// A file (on disk, or open in the editor).
    File(PathBuf),
    /// A buffer with no file (`untitled:`), by its URI.
    Buffer(String),
}

/// One module: its text and, when it parses, its syntax tree.
#[derive(Debug)]
pub struct ModInfo {
    pub origin: Origin,
    pub text: String,
    pub ast: Option<ast::Module>,
}

impl ModInfo {
    pub fn new(origin: Origin, text: String) -> ModInfo {
        let ast = rlp_syntax::parse(&text).ok();
        ModInfo { origin, text, ast }
    }

    /// How the module is named to the user: `std.estimators`, or the file name.
    pub fn display_name(&self) -> String {
        match &self.origin {
            Origin::Stdlib(n) => n.to_string(),
            Origin::File(p) => p
                .file_name()
                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into()),
            Origin::Buffer(u) => u.clone(),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match &self.origin {
            Origin::File(p) => Some(p),
            _ => None,
        }
    }

    pub fn items(&self) -> &[Item] {
        self.ast.as_ref().map_or(&[], |m| &m.items)
    }

    pub fn fns(&self) -> impl Iterator<Item = &ast::FnDecl> {
        self.items().iter().filter_map(|i| match i {
            Item::Fn(f) => Some(f),
            _ => None,
        })
    }

    pub fn fn_decl(&self, name: &str) -> Option<&ast::FnDecl> {
        self.fns().find(|f| f.name.name == name)
    }

    /// The leading `#` comment of the file: what the module is.
    pub fn header(&self) -> String {
        let mut out = String::new();
        for line in self.text.lines() {
            let t = line.trim_start();
            if t.starts_with("///") || !t.starts_with('#') {
                break;
            }
            let body = t.trim_start_matches('#');
            out.push_str(body.strip_prefix(' ').unwrap_or(body));
            out.push('\n');
        }
        out
    }
}

/// What a name stands for at module level.
#[derive(Clone, Debug)]
pub enum Def {
    /// A function `name` of a module.
    Fn(Rc<ModInfo>, String),
    Module(Rc<ModInfo>),
    Builtin(&'static Signature),
}

/// A `use` resolved: the name it binds in the importing module.
pub struct Import {
    pub name: String,
    pub def: Def,
}

/// The parsed stdlib, shared by every request (its text never changes).
#[derive(Default)]
pub struct Stdlib {
    mods: RefCell<HashMap<&'static str, Rc<ModInfo>>>,
}

impl Stdlib {
    pub fn get(&self, name: &str) -> Option<Rc<ModInfo>> {
        let (key, text) = STDLIB.iter().find(|(n, _)| *n == name)?;
        let mut mods = self.mods.borrow_mut();
        let m = mods
            .entry(key)
            .or_insert_with(|| Rc::new(ModInfo::new(Origin::Stdlib(key), text.to_string())));
        Some(m.clone())
    }
}

/// Resolution for one request: the stdlib, the editor's open buffers (which win over the
/// files on disk) and the user modules read so far.
pub struct World<'s> {
    pub stdlib: &'s Stdlib,
    pub open: &'s HashMap<PathBuf, String>,
    files: RefCell<HashMap<PathBuf, Rc<ModInfo>>>,
}

impl<'s> World<'s> {
    pub fn new(stdlib: &'s Stdlib, open: &'s HashMap<PathBuf, String>) -> World<'s> {
        World {
            stdlib,
            open,
            files: RefCell::default(),
        }
    }

    /// The user module `rel` as `use "rel"` in a module at `from` names it.
    pub fn user_module(&self, from: Option<&Path>, rel: &str) -> Option<Rc<ModInfo>> {
        let base = from.and_then(Path::parent).unwrap_or(Path::new("."));
        let full = super::text::normalize(&base.join(rel));
        if let Some(m) = self.files.borrow().get(&full) {
            return Some(m.clone());
        }
        let text = match self.open.get(&full) {
            Some(t) => t.clone(),
            None => crate::sema::modules::read_source(&full).ok()?,
        };
        let m = Rc::new(ModInfo::new(Origin::File(full.clone()), text));
        self.files.borrow_mut().insert(full, m.clone());
        Some(m)
    }

    /// The module a `use` names, if it can be found.
    pub fn use_target(&self, from: &ModInfo, u: &ast::Use) -> Option<Rc<ModInfo>> {
        match &u.target {
            UseTarget::Path(segs) => self.stdlib.get(&dotted(segs)),
            UseTarget::File { path, .. } => self.user_module(from.path(), path),
        }
    }

    /// Every name the `use`s of `m` bind.
    pub fn imports(&self, m: &ModInfo) -> Vec<Import> {
        let mut out = Vec::new();
        for item in m.items() {
            let Item::Use(u) = item else { continue };
            let Some(target) = self.use_target(m, u) else {
                continue;
            };
            match &u.names {
                None => {
                    let name = match &u.target {
                        UseTarget::Path(segs) => {
                            segs.last().map(|s| s.name.clone()).unwrap_or_default()
                        }
                        UseTarget::File { path, .. } => Path::new(path)
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    };
                    out.push(Import {
                        name,
                        def: Def::Module(target),
                    });
                }
                Some(names) => {
                    for n in names {
                        if target.fn_decl(&n.name).is_some() {
                            out.push(Import {
                                name: n.name.clone(),
                                def: Def::Fn(target.clone(), n.name.clone()),
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// A name at module level in `m`: own functions, imports, the prelude's public
    /// functions, built-ins.
    pub fn lookup(&self, m: &Rc<ModInfo>, name: &str) -> Option<Def> {
        if m.fn_decl(name).is_some() {
            return Some(Def::Fn(m.clone(), name.to_string()));
        }
        if let Some(i) = self.imports(m).into_iter().find(|i| i.name == name) {
            return Some(i.def);
        }
        for p in PRELUDE {
            if let Some(pm) = self.stdlib.get(p)
                && pm.fn_decl(name).is_some_and(|f| f.public)
            {
                return Some(Def::Fn(pm, name.to_string()));
            }
        }
        table::signature(name).map(Def::Builtin)
    }

    /// Every module-level name visible in `m`, first the nearest (a name is listed once).
    pub fn visible(&self, m: &Rc<ModInfo>) -> Vec<(String, Def)> {
        let mut out: Vec<(String, Def)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut add = |name: String, def: Def, out: &mut Vec<(String, Def)>| {
            if seen.insert(name.clone()) {
                out.push((name, def));
            }
        };
        for f in m.fns() {
            add(
                f.name.name.clone(),
                Def::Fn(m.clone(), f.name.name.clone()),
                &mut out,
            );
        }
        for i in self.imports(m) {
            add(i.name, i.def, &mut out);
        }
        for p in PRELUDE {
            if let Some(pm) = self.stdlib.get(p) {
                for f in pm.fns().filter(|f| f.public) {
                    add(
                        f.name.name.clone(),
                        Def::Fn(pm.clone(), f.name.name.clone()),
                        &mut out,
                    );
                }
            }
        }
        for s in table::SIGNATURES {
            add(s.name.to_string(), Def::Builtin(s), &mut out);
        }
        out
    }

    /// What `module.name` is: a function of the module.
    pub fn member(&self, m: &Rc<ModInfo>, name: &str) -> Option<Def> {
        m.fn_decl(name)
            .map(|_| Def::Fn(m.clone(), name.to_string()))
    }

    /// The function a call of `def` runs: a function itself, or the function of a module
    /// named like it (`cartpole(envs: 4)` calls `std.env.cartpole`'s `cartpole`).
    pub fn callable(&self, def: &Def) -> Option<Def> {
        match def {
            Def::Fn(..) | Def::Builtin(_) => Some(def.clone()),
            Def::Module(m) => {
                let name = module_short_name(m);
                m.fn_decl(&name).map(|_| Def::Fn(m.clone(), name))
            }
        }
    }
}

/// `std.env.cartpole` → `cartpole`; a file → its stem.
pub fn module_short_name(m: &ModInfo) -> String {
    match &m.origin {
        Origin::Stdlib(n) => n.rsplit('.').next().unwrap_or("").to_string(),
        Origin::File(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        Origin::Buffer(_) => String::new(),
    }
}

pub fn dotted(segs: &[ast::Ident]) -> String {
    segs.iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

/// A function's declaration as written, on one line: `pub fn f(x: [N], k: int = 1) -> [N]`.
pub fn fn_signature(m: &ModInfo, f: &ast::FnDecl) -> String {
    signature_in(&m.text, f)
}

/// [`fn_signature`] of a declaration in the source `text`.
pub fn signature_in(text: &str, f: &ast::FnDecl) -> String {
    let start = (f.span.start as usize).min(text.len());
    let end = (f.body.span.start as usize).clamp(start, text.len());
    let head = text.get(start..end).unwrap_or("");
    let mut out = String::new();
    for line in head.lines() {
        // A comment inside a wrapped signature is not part of it.
        let code = match line.find('#') {
            Some(i) => &line[..i],
            None => line,
        };
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        if !out.is_empty() && !out.ends_with('(') && !code.starts_with(')') {
            out.push(' ');
        }
        out.push_str(code);
    }
    out
}

/// `///` documentation (the parser has taken off the `///` and one space), trimmed.
pub fn doc_text(doc: &str) -> String {
    doc.trim_end().to_string()
}

/// The span of the whole source line(s) of a span, trimmed: what "the definition line"
/// shows.
pub fn line_of(text: &str, span: Span) -> &str {
    let start = (span.start as usize).min(text.len());
    let from = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let to = text[start..].find('\n').map_or(text.len(), |i| start + i);
    text[from..to].trim()
}

/// The first stdlib modules' names below `prefix` (`["std", "env"]` → `cartpole`, …):
/// what may follow `use std.env.`.
pub fn stdlib_children(prefix: &[String]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for (name, _) in STDLIB {
        let segs: Vec<&str> = name.split('.').collect();
        if segs.len() <= prefix.len() || segs[..prefix.len()] != *prefix {
            continue;
        }
        let next = segs[prefix.len()].to_string();
        // `true`: a module itself (else only a path leading to modules).
        let is_module = segs.len() == prefix.len() + 1;
        match out.iter_mut().find(|(n, _)| *n == next) {
            Some(e) => e.1 |= is_module,
            None => out.push((next, is_module)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdlib_lookup_follows_the_prelude() {
        let stdlib = Stdlib::default();
        let open = HashMap::new();
        let w = World::new(&stdlib, &open);
        let m = Rc::new(ModInfo::new(
            Origin::Buffer("untitled:a".into()),
            "use std.estimators.{gae}\nuse std.env.cartpole\nx = relu(1.0)\n".into(),
        ));
        assert!(
            matches!(w.lookup(&m, "relu"), Some(Def::Fn(pm, _)) if pm.origin == Origin::Stdlib("std.core"))
        );
        assert!(
            matches!(w.lookup(&m, "gae"), Some(Def::Fn(pm, _)) if pm.origin == Origin::Stdlib("std.estimators"))
        );
        assert!(matches!(w.lookup(&m, "cartpole"), Some(Def::Module(_))));
        assert!(matches!(w.lookup(&m, "rollout"), Some(Def::Builtin(_))));
        assert!(w.lookup(&m, "nothing_at_all").is_none());
        let cp = w.lookup(&m, "cartpole").unwrap();
        assert!(matches!(w.callable(&cp), Some(Def::Fn(_, n)) if n == "cartpole"));
    }

    #[test]
    fn signatures_are_one_line() {
        let m = ModInfo::new(
            Origin::Buffer("x".into()),
            "/// doc\npub fn f(a: [N],  # the input\n         b: int = 2) -> [N] {\n  a\n}\n"
                .into(),
        );
        let f = m.fn_decl("f").unwrap();
        assert_eq!(fn_signature(&m, f), "pub fn f(a: [N], b: int = 2) -> [N]");
        assert_eq!(doc_text(f.doc.as_deref().unwrap()), "doc");
    }

    #[test]
    fn use_paths_complete_by_segment() {
        let top = stdlib_children(&["std".to_string()]);
        assert!(top.contains(&("estimators".to_string(), true)));
        assert!(top.contains(&("env".to_string(), false)));
        let env = stdlib_children(&["std".to_string(), "env".to_string()]);
        assert!(env.contains(&("cartpole".to_string(), true)));
    }
}
