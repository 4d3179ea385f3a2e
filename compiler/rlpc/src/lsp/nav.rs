//! Hover and go-to-definition: what the name under the cursor is, and where it is
//! written.

use super::fields::{self, ExprCtx, Field};
use super::index::{self, Def, ModInfo, Origin, World, fn_signature, line_of};
use super::scope::{self, Binder, BinderKind, Found, Hit};
use crate::sema::builtins::table::Signature;
use rlp_syntax::ast::{Expr, ExprKind, Span};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What the cursor is on, resolved.
pub enum Resolved<'a> {
    /// A binding in the document (top level, local, parameter, loop variable).
    Local(Binder<'a>),
    Global(Def),
    /// A function's parameter, named by a keyword argument.
    Param(Rc<ModInfo>, String, usize),
    BuiltinParam(&'static Signature, usize),
    Field(Field),
}

/// The word (identifier) around byte offset `off`: its span.
pub fn word_at(text: &str, off: usize) -> Option<Span> {
    let b = text.as_bytes();
    let off = off.min(b.len());
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut start = off;
    while start > 0 && is_word(b[start - 1]) {
        start -= 1;
    }
    let mut end = off;
    while end < b.len() && is_word(b[end]) {
        end += 1;
    }
    (start < end && !b[start].is_ascii_digit()).then(|| Span::new(start, end))
}

/// The expression context of the document at the cursor: its module and the bindings
/// visible there.
pub fn expr_ctx(doc: &Rc<ModInfo>, found: &Found) -> ExprCtx {
    ExprCtx {
        module: doc.clone(),
        scope: found
            .scope
            .iter()
            .map(|b| (b.name.name.clone(), b.value.cloned()))
            .collect(),
    }
}

/// Resolves what `found` is on in `doc`; `word` is the identifier under the cursor in
/// the editor's text, which a stale syntax tree must agree with (a file name in a `use`
/// is not a word).
pub fn resolve<'a>(
    w: &World,
    doc: &Rc<ModInfo>,
    found: &Found<'a>,
    word: Option<&str>,
) -> Option<(Resolved<'a>, Option<Span>)> {
    let hit = found.hit.clone().filter(|h| match (hit_name(h), word) {
        (None, _) => true,
        (Some(n), Some(w)) => n == w,
        (Some(_), None) => false,
    });
    let Some(hit) = hit else {
        // No syntax for it (the text does not parse yet): the word as a plain name.
        return resolve_name(w, doc, found, word?).map(|r| (r, None));
    };
    let span = hit_span(&hit);
    let r = match hit {
        Hit::Name(id) => resolve_name(w, doc, found, &id.name)?,
        Hit::Binding(b) => Resolved::Local(b),
        Hit::FnName(f) => Resolved::Global(Def::Fn(doc.clone(), f.name.name.clone())),
        Hit::Field { base, name } => {
            let cx = expr_ctx(doc, found);
            if let ExprKind::Name(m) = &base.kind
                && found.binder(&m.name).is_none()
                && let Some(Def::Module(md)) = w.lookup(doc, &m.name)
            {
                Resolved::Global(w.member(&md, &name.name)?)
            } else {
                let fs = fields::fields_of(w, &cx, base)?;
                Resolved::Field(fs.into_iter().find(|f| f.name == name.name)?)
            }
        }
        Hit::Keyword { callee, name } => {
            let cx = expr_ctx(doc, found);
            match w.callable(&fields::callee_def(w, &cx, callee)?)? {
                Def::Fn(m, f) => {
                    let i = m
                        .fn_decl(&f)?
                        .params
                        .iter()
                        .position(|p| p.name.name == name.name)?;
                    Resolved::Param(m, f, i)
                }
                Def::Builtin(sig) => {
                    let i = sig.params.iter().position(|p| p.name == name.name)?;
                    Resolved::BuiltinParam(sig, i)
                }
                Def::Module(_) => return None,
            }
        }
        Hit::UsePath { u, index } => {
            let rlp_syntax::ast::UseTarget::Path(segs) = &u.target else {
                return None;
            };
            Resolved::Global(Def::Module(w.stdlib.get(&index::dotted(&segs[..=index]))?))
        }
        Hit::UseFile(u) => Resolved::Global(Def::Module(w.use_target(doc, u)?)),
        Hit::UseName { u, name } => {
            let m = w.use_target(doc, u)?;
            Resolved::Global(w.member(&m, &name.name)?)
        }
    };
    Some((r, Some(span)))
}

fn hit_name<'a>(h: &Hit<'a>) -> Option<&'a str> {
    Some(match h {
        Hit::Name(id) => &id.name,
        Hit::Binding(b) => &b.name.name,
        Hit::FnName(f) => &f.name.name,
        Hit::Field { name, .. } | Hit::Keyword { name, .. } | Hit::UseName { name, .. } => {
            &name.name
        }
        Hit::UsePath { u, index } => match &u.target {
            rlp_syntax::ast::UseTarget::Path(segs) => &segs[*index].name,
            _ => return None,
        },
        // The file string is not a word; compared by the caller's word anyway.
        Hit::UseFile(_) => return None,
    })
}

fn hit_span(h: &Hit) -> Span {
    match h {
        Hit::Name(id) => id.span,
        Hit::Binding(b) => b.name.span,
        Hit::FnName(f) => f.name.span,
        Hit::Field { name, .. } | Hit::Keyword { name, .. } | Hit::UseName { name, .. } => {
            name.span
        }
        Hit::UsePath { u, index } => match &u.target {
            rlp_syntax::ast::UseTarget::Path(segs) => segs[*index].span,
            rlp_syntax::ast::UseTarget::File { span, .. } => *span,
        },
        Hit::UseFile(u) => match &u.target {
            rlp_syntax::ast::UseTarget::File { span, .. } => *span,
            rlp_syntax::ast::UseTarget::Path(_) => u.span,
        },
    }
}

fn resolve_name<'a>(
    w: &World,
    doc: &Rc<ModInfo>,
    found: &Found<'a>,
    name: &str,
) -> Option<Resolved<'a>> {
    if let Some(b) = found.binder(name) {
        return Some(Resolved::Local(b.clone()));
    }
    w.lookup(doc, name).map(Resolved::Global)
}

/// Where a module's text is as a file: the document, a user's file, or the stdlib
/// copy under `stdlib_dir`.
pub enum FileRef {
    Path(PathBuf),
    Uri(String),
}

pub fn module_file(m: &ModInfo, stdlib_dir: Option<&Path>) -> Option<FileRef> {
    match &m.origin {
        Origin::Stdlib(n) => Some(FileRef::Path(super::stdlib_files::module_file(
            stdlib_dir?,
            n,
        ))),
        Origin::File(p) => Some(FileRef::Path(p.clone())),
        Origin::Buffer(u) => Some(FileRef::Uri(u.clone())),
    }
}

/// Where a resolved name is defined: a module and a span in it.
pub fn definition(doc: &Rc<ModInfo>, r: &Resolved) -> Option<(Rc<ModInfo>, Span)> {
    match r {
        Resolved::Local(b) => Some((doc.clone(), b.name.span)),
        Resolved::Global(Def::Fn(m, name)) => Some((m.clone(), m.fn_decl(name)?.name.span)),
        Resolved::Global(Def::Module(m)) => Some((m.clone(), Span::new(0, 0))),
        Resolved::Global(Def::Builtin(_)) | Resolved::BuiltinParam(..) => None,
        Resolved::Param(m, f, i) => Some((m.clone(), m.fn_decl(f)?.params.get(*i)?.name.span)),
        Resolved::Field(f) => f.loc.clone(),
    }
}

fn code_block(s: &str) -> String {
    format!("```rlp\n{s}\n```")
}

/// A source snippet for a hover: at most `max` characters of `span`'s text.
fn snippet(text: &str, span: Span, max: usize) -> String {
    let s = text.get(span.range()).unwrap_or("");
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > max {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut} …")
    } else {
        one_line
    }
}

fn expr_text(m: &ModInfo, e: &Expr) -> String {
    snippet(&m.text, e.span, 160)
}

/// The hover text (markdown) for a resolved name; `value` is what the checker made of a
/// top-level binding, when it knows.
pub fn hover(doc: &Rc<ModInfo>, r: &Resolved, value: Option<&serde_json::Value>) -> String {
    match r {
        Resolved::Local(b) => {
            let mut s = match (b.kind, b.param) {
                (BinderKind::Param, Some(p)) => {
                    format!(
                        "{}\n\nparameter",
                        code_block(&snippet(&doc.text, p.span, 200))
                    )
                }
                (BinderKind::Loop, _) => match b.value {
                    Some(v) => format!(
                        "{}\n\nloop carry",
                        code_block(&format!("{} = {}", b.name.name, expr_text(doc, v)))
                    ),
                    None => format!("{}\n\nloop variable", code_block(&b.name.name)),
                },
                _ => code_block(line_of(&doc.text, b.name.span)),
            };
            if let Some(v) = value {
                s.push_str(&format!("\n\nvalue: `{v}`"));
            }
            if let Some(d) = b.doc {
                s.push_str("\n\n");
                s.push_str(&index::doc_text(d));
            }
            s
        }
        Resolved::Global(Def::Fn(m, name)) => match m.fn_decl(name) {
            Some(f) => {
                let mut s = format!(
                    "{}\n\n*{}*",
                    code_block(&fn_signature(m, f)),
                    m.display_name()
                );
                if let Some(d) = &f.doc {
                    s.push_str("\n\n");
                    s.push_str(&index::doc_text(d));
                }
                s
            }
            None => String::new(),
        },
        Resolved::Global(Def::Module(m)) => {
            let mut s = code_block(&format!("module {}", m.display_name()));
            let h = m.header();
            if !h.trim().is_empty() {
                s.push_str("\n\n");
                s.push_str(h.trim_end());
            }
            s
        }
        Resolved::Global(Def::Builtin(sig)) => builtin_hover(sig),
        Resolved::Param(m, f, i) => match m.fn_decl(f).and_then(|d| Some((d, d.params.get(*i)?))) {
            Some((d, p)) => format!(
                "{}\n\nparameter of `{}`\n\n{}",
                code_block(&snippet(&m.text, p.span, 200)),
                d.name.name,
                code_block(&fn_signature(m, d))
            ),
            None => String::new(),
        },
        Resolved::BuiltinParam(sig, i) => format!(
            "{}\n\nparameter of the built-in `{}`\n\n{}",
            code_block(&sig.params[*i].to_string()),
            sig.name,
            code_block(&sig.to_string())
        ),
        Resolved::Field(f) => {
            let what = match (&f.value, &f.loc) {
                (Some(v), Some((m, _))) => format!("{}: {}", f.name, expr_text(m, v)),
                _ => f.name.clone(),
            };
            let mut s = format!("{}\n\nfield", code_block(&what));
            if !f.detail.is_empty() {
                s.push_str(&format!(" — {}", f.detail));
            }
            s
        }
    }
}

pub fn builtin_hover(sig: &Signature) -> String {
    format!(
        "{}\n\nbuilt-in ({})\n\n{}",
        code_block(&sig.to_string()),
        sig.family.title().to_lowercase(),
        sig.doc
    )
}

/// The top-level bindings and functions of a document, for the outline.
pub fn outline(m: &ModInfo) -> Vec<(String, bool, Span, Span)> {
    let mut out = Vec::new();
    let Some(ast) = &m.ast else { return out };
    for item in &ast.items {
        if let rlp_syntax::ast::Item::Fn(f) = item {
            out.push((f.name.name.clone(), true, f.span, f.name.span));
        }
    }
    for b in scope::top_level(ast) {
        let full = b.value.map_or(b.name.span, |v| b.name.span.to(v.span));
        out.push((b.name.name.clone(), false, full, b.name.span));
    }
    out.sort_by_key(|o| o.2.start);
    out
}
