//! Completion: what may be typed at the cursor. The context (after a `.`, inside a
//! call's parentheses, in a `use`) is read from the tokens before the cursor, so it works
//! on text that does not parse yet; the names come from the syntax tree.

use super::fields::{self, ExprCtx};
use super::index::{self, Def, ModInfo, World, fn_signature, line_of, stdlib_children};
use super::nav;
use super::scope::{BinderKind, Found};
use crate::sema::builtins::table::Signature;
use lsp_types::{
    CompletionItem, CompletionItemKind, Documentation, InsertTextFormat, MarkupContent, MarkupKind,
};
use std::collections::HashSet;
use std::rc::Rc;

/// The language's keywords.
pub const KEYWORDS: &[&str] = &[
    "use",
    "fn",
    "pub",
    "train",
    "iterations",
    "steps",
    "sample",
    "fit",
    "improve",
    "minimize",
    "wrt",
    "with",
    "log",
    "every",
    "after",
    "repeat",
    "for",
    "in",
    "scan",
    "reverse",
    "if",
    "then",
    "else",
    "and",
    "or",
    "not",
    "true",
    "false",
];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Punct(u8),
    /// A string, number or other literal.
    Lit,
    /// A line break outside brackets: the end of a statement.
    Newline,
}

/// What the cursor is completing.
#[derive(Debug, PartialEq)]
pub enum Ctx {
    /// In a comment or a string: nothing.
    Nothing,
    /// `use std.env.` — the next segment after these.
    UsePath(Vec<String>),
    /// `use std.estimators.{` — a function of that module.
    UseNames(Vec<String>),
    /// `a.b.` — a field or member of that (empty: of something that is not a name).
    Member(Vec<String>),
    /// `f(x).`, `xs[0].` — a field of what that expression (its source text) gives.
    MemberOf(String),
    /// A name; inside `f(…` also `f`'s keyword arguments.
    Plain(Option<CallCtx>),
}

/// The call the cursor is in.
#[derive(Debug, PartialEq)]
pub struct CallCtx {
    /// `f` or `module.f`.
    pub callee: Vec<String>,
    /// Whether an argument starts at the cursor (after `(` or `,`).
    pub arg_start: bool,
    /// The keyword arguments already given.
    pub given: Vec<String>,
    /// How many arguments before the cursor are positional (they take the first
    /// parameters, which then need no keyword).
    pub positional: usize,
}

/// The context of the cursor at byte offset `off` of `text`, and where the word being
/// typed starts.
pub fn context(text: &str, off: usize) -> (Ctx, usize) {
    let mut off = off.min(text.len());
    while !text.is_char_boundary(off) {
        off -= 1;
    }
    let b = text.as_bytes();
    let mut toks: Vec<(Tok, usize, usize)> = Vec::new();
    // Open brackets: (byte, index of the token).
    let mut stack: Vec<(u8, usize)> = Vec::new();
    let mut stmt_start = 0usize;
    let mut i = 0;
    while i < off {
        let c = b[i];
        match c {
            b'\n' => {
                if stack.is_empty() {
                    toks.push((Tok::Newline, i, i + 1));
                    stmt_start = toks.len();
                }
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                if i >= off {
                    return (Ctx::Nothing, off);
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if i >= off {
                    return (Ctx::Nothing, off);
                }
                if b[i] == b'"' {
                    i += 1;
                }
                toks.push((Tok::Lit, start, i));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                toks.push((Tok::Ident(text[start..i].to_string()), start, i));
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
                        || (matches!(b[i], b'+' | b'-') && matches!(b[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                toks.push((Tok::Lit, start, i));
            }
            b'(' | b'[' | b'{' => {
                stack.push((c, toks.len()));
                toks.push((Tok::Punct(c), i, i + 1));
                i += 1;
            }
            b')' | b']' | b'}' => {
                stack.pop();
                toks.push((Tok::Punct(c), i, i + 1));
                i += 1;
            }
            c if c.is_ascii() => {
                toks.push((Tok::Punct(c), i, i + 1));
                i += 1;
            }
            _ => {
                // Other characters (in identifiers they are not allowed): skip the whole
                // character.
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    // The word being typed ends at the cursor.
    let mut word_start = off;
    if let Some((Tok::Ident(_), s, e)) = toks.last()
        && *e == off
    {
        word_start = *s;
        toks.pop();
    } else if let Some((Tok::Lit, _, e)) = toks.last()
        && *e == off
    {
        return (Ctx::Nothing, off);
    }
    let last = toks.last().map(|t| &t.0);
    let stmt = &toks[stmt_start.min(toks.len())..];
    let is_use = matches!(stmt.first(), Some((Tok::Ident(k), _, _)) if k == "use");
    if is_use {
        if let Some(&(b'{', open)) = stack.last()
            && open > stmt_start
            && open > 0
            && toks[open - 1].0 == Tok::Punct(b'.')
        {
            return (Ctx::UseNames(chain_before(&toks, open - 1)), word_start);
        }
        return match last {
            Some(Tok::Punct(b'.')) => (
                Ctx::UsePath(chain_before(&toks, toks.len() - 1)),
                word_start,
            ),
            Some(Tok::Ident(k)) if k == "use" => (Ctx::UsePath(Vec::new()), word_start),
            _ => (Ctx::Nothing, word_start),
        };
    }
    if last == Some(&Tok::Punct(b'.')) {
        let chain = chain_before(&toks, toks.len() - 1);
        if chain.is_empty()
            && let Some(from) = postfix_start(&toks, toks.len() - 1)
        {
            let expr = &text[toks[from].1..toks[toks.len() - 2].2];
            return (Ctx::MemberOf(expr.to_string()), word_start);
        }
        return (Ctx::Member(chain), word_start);
    }
    let call = match stack.last() {
        Some(&(b'(', open)) if open > 0 => {
            let callee = chain_before(&toks, open);
            let first = open - callee.len() * 2 + 1;
            let declared = first >= 1 && matches!(&toks[first - 1].0, Tok::Ident(k) if k == "fn");
            (!callee.is_empty() && !declared).then(|| {
                let arg_start = matches!(last, Some(Tok::Punct(b'(' | b',')));
                // `name:` at the call's own depth, and the arguments finished before
                // the cursor that have none (positional).
                let mut given = Vec::new();
                let (mut depth, mut positional, mut keyword) = (0i32, 0, false);
                for (j, (t, _, _)) in toks.iter().enumerate().skip(open + 1) {
                    match t {
                        Tok::Punct(b'(' | b'[' | b'{') => depth += 1,
                        Tok::Punct(b')' | b']' | b'}') => depth -= 1,
                        Tok::Punct(b',') if depth == 0 => {
                            positional += usize::from(!keyword && given.is_empty());
                            keyword = false;
                        }
                        Tok::Ident(n)
                            if depth == 0
                                && toks.get(j + 1).map(|t| &t.0) == Some(&Tok::Punct(b':')) =>
                        {
                            given.push(n.clone());
                            keyword = true;
                        }
                        _ => {}
                    }
                }
                given.extend(keywords_after(text, off));
                CallCtx {
                    callee,
                    arg_start,
                    given,
                    positional,
                }
            })
        }
        _ => None,
    };
    (Ctx::Plain(call), word_start)
}

/// The `name:` keyword arguments written after the cursor at `off`, up to the close of
/// the call the cursor is in (the rest of the word under the cursor left out): a keyword
/// given later in the call is not offered again.
fn keywords_after(text: &str, off: usize) -> Vec<String> {
    let b = text.as_bytes();
    let mut i = off;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        i += 1;
    }
    let (mut depth, mut out) = (0i32, vec![]);
    while i < b.len() {
        match b[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth < 0 {
                    break;
                }
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let mut j = i;
                while j < b.len() && matches!(b[j], b' ' | b'\t') {
                    j += 1;
                }
                if depth == 0 && b.get(j) == Some(&b':') {
                    out.push(text[start..i].to_string());
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Where the postfix expression ending just before token `end` starts: names joined by
/// `.`, each optionally followed by balanced `( … )` or `[ … ]` groups (`f(x).g[0]`).
/// `None` when no such expression ends there.
fn postfix_start(toks: &[(Tok, usize, usize)], end: usize) -> Option<usize> {
    let mut j = end;
    loop {
        // Trailing groups: `(…)`, `[…]`.
        while j > 0 && matches!(toks[j - 1].0, Tok::Punct(b')' | b']')) {
            let mut depth = 0i32;
            loop {
                j = j.checked_sub(1)?;
                match toks[j].0 {
                    Tok::Punct(b')' | b']' | b'}') => depth += 1,
                    Tok::Punct(b'(' | b'[' | b'{') => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
        }
        match toks.get(j.checked_sub(1)?)?.0 {
            Tok::Ident(_) => j -= 1,
            _ => return None,
        }
        if j > 0 && toks[j - 1].0 == Tok::Punct(b'.') {
            j -= 1;
        } else {
            return (j < end).then_some(j);
        }
    }
}

/// The dotted name `a.b.c` whose last token is just before token `end` (empty when
/// the chain starts with something other than a name, as in `f(x).b`).
fn chain_before(toks: &[(Tok, usize, usize)], end: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut j = end;
    while j > 0 {
        match &toks[j - 1].0 {
            Tok::Ident(n) => {
                out.push(n.clone());
                j -= 1;
            }
            // A `.` was consumed and no name precedes it.
            _ if !out.is_empty() => return Vec::new(),
            _ => break,
        }
        if j > 0 && toks[j - 1].0 == Tok::Punct(b'.') {
            j -= 1;
        } else {
            break;
        }
    }
    out.reverse();
    out
}

fn markdown(s: String) -> Option<Documentation> {
    Some(Documentation::MarkupContent(MarkupContent {
        kind: MarkupKind::Markdown,
        value: s,
    }))
}

fn fn_item(m: &ModInfo, name: &str) -> CompletionItem {
    let f = m.fn_decl(name);
    CompletionItem {
        label: name.to_string(),
        kind: Some(CompletionItemKind::FUNCTION),
        detail: f.map(|f| fn_signature(m, f)),
        documentation: f
            .and_then(|f| f.doc.as_deref())
            .map(|d| format!("*{}*\n\n{}", m.display_name(), index::doc_text(d)))
            .and_then(markdown),
        ..Default::default()
    }
}

fn builtin_item(sig: &'static Signature) -> CompletionItem {
    CompletionItem {
        label: sig.name.to_string(),
        kind: Some(CompletionItemKind::FUNCTION),
        detail: Some(sig.to_string()),
        documentation: markdown(format!("built-in: {}", sig.doc)),
        ..Default::default()
    }
}

fn def_item(name: &str, def: &Def) -> CompletionItem {
    match def {
        Def::Fn(m, f) => CompletionItem {
            label: name.to_string(),
            ..fn_item(m, f)
        },
        Def::Builtin(sig) => builtin_item(sig),
        Def::Module(m) => CompletionItem {
            label: name.to_string(),
            kind: Some(CompletionItemKind::MODULE),
            detail: Some(format!("module {}", m.display_name())),
            documentation: Some(m.header())
                .filter(|h| !h.trim().is_empty())
                .and_then(markdown),
            ..Default::default()
        },
    }
}

/// The keyword arguments of `def` not yet given, as `name: ` items listed first.
fn keyword_items(def: &Def, given: &[String], positional: usize) -> Vec<CompletionItem> {
    let params: Vec<(String, String)> = match def {
        Def::Fn(m, f) => match m.fn_decl(f) {
            Some(d) => d
                .params
                .iter()
                .map(|p| {
                    let text = m.text.get(p.span.range()).unwrap_or(&p.name.name);
                    (
                        p.name.name.clone(),
                        text.split_whitespace().collect::<Vec<_>>().join(" "),
                    )
                })
                .collect(),
            None => Vec::new(),
        },
        Def::Builtin(sig) => sig
            .params
            .iter()
            .map(|p| (p.name.to_string(), p.to_string()))
            .collect(),
        Def::Module(_) => Vec::new(),
    };
    params
        .into_iter()
        .skip(positional)
        .filter(|(n, _)| !given.contains(n))
        .enumerate()
        .map(|(i, (name, text))| CompletionItem {
            label: format!("{name}:"),
            kind: Some(CompletionItemKind::FIELD),
            detail: Some(text),
            filter_text: Some(name.clone()),
            insert_text: Some(format!("{name}: ")),
            insert_text_format: Some(InsertTextFormat::PLAIN_TEXT),
            sort_text: Some(format!("0{i:03}")),
            ..Default::default()
        })
        .collect()
}

/// The completion items at the cursor. `doc` is the document's module (its syntax tree
/// maybe older than the text), `found` what is at the cursor in that tree, `text` and
/// `off` the editor's text and cursor.
pub fn complete(
    w: &World,
    doc: &Rc<ModInfo>,
    found: &Found,
    text: &str,
    off: usize,
) -> Vec<CompletionItem> {
    let (ctx, _) = context(text, off);
    match ctx {
        Ctx::Nothing => Vec::new(),
        Ctx::UsePath(segs) => {
            if segs.is_empty() {
                return vec![CompletionItem {
                    label: "std".into(),
                    kind: Some(CompletionItemKind::MODULE),
                    detail: Some("the standard library".into()),
                    ..Default::default()
                }];
            }
            stdlib_children(&segs)
                .into_iter()
                .map(|(name, is_module)| {
                    let full = format!("{}.{name}", segs.join("."));
                    let header = w.stdlib.get(&full).map(|m| m.header()).unwrap_or_default();
                    CompletionItem {
                        label: name,
                        kind: Some(if is_module {
                            CompletionItemKind::MODULE
                        } else {
                            CompletionItemKind::FOLDER
                        }),
                        detail: Some(full),
                        documentation: Some(header).filter(|h| !h.is_empty()).and_then(markdown),
                        ..Default::default()
                    }
                })
                .collect()
        }
        Ctx::UseNames(segs) => {
            let m = if segs.first().map(String::as_str) == Some("std") {
                w.stdlib.get(&segs.join("."))
            } else {
                None
            };
            match m {
                Some(m) => m
                    .fns()
                    .filter(|f| f.public)
                    .map(|f| fn_item(&m, &f.name.name))
                    .collect(),
                None => Vec::new(),
            }
        }
        Ctx::Member(chain) => member_items(w, doc, found, &chain),
        Ctx::MemberOf(expr) => expr_member_items(w, doc, found, &expr),
        Ctx::Plain(call) => {
            let mut items = Vec::new();
            if let Some(c) = &call
                && c.arg_start
                && let Some(def) = callee(w, doc, found, &c.callee)
            {
                items.extend(keyword_items(&def, &c.given, c.positional));
            }
            let mut seen: HashSet<String> = HashSet::new();
            for b in found.scope.iter().rev() {
                if !seen.insert(b.name.name.clone()) {
                    continue;
                }
                let detail = match (b.kind, b.param) {
                    (BinderKind::Param, Some(p)) => {
                        doc.text.get(p.span.range()).map(str::to_string)
                    }
                    _ => Some(line_of(&doc.text, b.name.span).to_string()),
                };
                items.push(CompletionItem {
                    label: b.name.name.clone(),
                    kind: Some(CompletionItemKind::VARIABLE),
                    detail,
                    documentation: b.doc.map(index::doc_text).and_then(markdown),
                    sort_text: Some(format!("1{}", b.name.name)),
                    ..Default::default()
                });
            }
            for (name, def) in w.visible(doc) {
                if seen.insert(name.clone()) {
                    items.push(def_item(&name, &def));
                }
            }
            for k in KEYWORDS {
                if seen.insert(k.to_string()) {
                    items.push(CompletionItem {
                        label: k.to_string(),
                        kind: Some(CompletionItemKind::KEYWORD),
                        ..Default::default()
                    });
                }
            }
            items
        }
    }
}

/// What a dotted callee (`f`, `module.f`) calls.
fn callee(w: &World, doc: &Rc<ModInfo>, found: &Found, chain: &[String]) -> Option<Def> {
    let def = match chain {
        [name] => {
            if found.binder(name).is_some() {
                return None;
            }
            w.lookup(doc, name)?
        }
        [m, f] => {
            if found.binder(m).is_some() {
                return None;
            }
            match w.lookup(doc, m)? {
                Def::Module(md) => w.member(&md, f)?,
                _ => return None,
            }
        }
        _ => return None,
    };
    w.callable(&def)
}

/// After `a.b.`: a module's functions, or the fields of a record the syntax shows.
fn member_items(
    w: &World,
    doc: &Rc<ModInfo>,
    found: &Found,
    chain: &[String],
) -> Vec<CompletionItem> {
    let Some(first) = chain.first() else {
        return tensor_fields();
    };
    if found.binder(first).is_none()
        && let Some(Def::Module(m)) = w.lookup(doc, first)
    {
        if chain.len() == 1 {
            return m
                .fns()
                .filter(|f| f.public)
                .map(|f| fn_item(&m, &f.name.name))
                .collect();
        }
        return Vec::new();
    }
    expr_member_items(w, doc, found, &chain.join("."))
}

/// A tensor's fields.
fn tensor_fields() -> Vec<CompletionItem> {
    ["shape", "dtype"]
        .iter()
        .map(|n| CompletionItem {
            label: n.to_string(),
            kind: Some(CompletionItemKind::PROPERTY),
            detail: Some(match *n {
                "shape" => "a tensor's shape (a list of ints)".to_string(),
                _ => "a tensor's dtype (\"f32\", …)".to_string(),
            }),
            ..Default::default()
        })
        .collect()
}

/// After `EXPR.` (`a.b`, `f(x)`): the fields of what the expression gives, from the
/// syntax; a tensor's when it gives nothing the syntax shows.
fn expr_member_items(
    w: &World,
    doc: &Rc<ModInfo>,
    found: &Found,
    expr: &str,
) -> Vec<CompletionItem> {
    // The expression parsed on its own.
    let Ok(parsed) = rlp_syntax::parse(&format!("__x = {expr}\n")) else {
        return Vec::new();
    };
    let Some(rlp_syntax::ast::Item::Stmt(s)) = parsed.items.first() else {
        return Vec::new();
    };
    let rlp_syntax::ast::StmtKind::Let { value, .. } = &s.kind else {
        return Vec::new();
    };
    let cx: ExprCtx = nav::expr_ctx(doc, found);
    match fields::fields_with_ctx(w, &cx, value) {
        Some((fs, _)) => fs
            .into_iter()
            .map(|f| {
                let detail = match (&f.value, &f.loc) {
                    (Some(v), Some((m, _))) => m
                        .text
                        .get(v.span.range())
                        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
                        .map(|t| {
                            if t.chars().count() > 80 {
                                format!("{} …", t.chars().take(80).collect::<String>())
                            } else {
                                t
                            }
                        }),
                    _ => Some(f.detail.clone()),
                };
                CompletionItem {
                    label: f.name,
                    kind: Some(CompletionItemKind::FIELD),
                    detail,
                    ..Default::default()
                }
            })
            .collect(),
        None => tensor_fields(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(src: &str) -> Ctx {
        let off = src.find('|').unwrap_or(src.len());
        let text = src.replace('|', "");
        context(&text, off).0
    }

    #[test]
    fn contexts_are_read_from_the_tokens() {
        assert_eq!(ctx("x = a.b.|"), Ctx::Member(vec!["a".into(), "b".into()]));
        assert_eq!(ctx("x = a.b.c|"), Ctx::Member(vec!["a".into(), "b".into()]));
        assert_eq!(ctx("x = f(1).|"), Ctx::MemberOf("f(1)".into()));
        assert_eq!(
            ctx("use std.env.|"),
            Ctx::UsePath(vec!["std".into(), "env".into()])
        );
        assert_eq!(ctx("use |"), Ctx::UsePath(vec![]));
        assert_eq!(
            ctx("use std.estimators.{gae, re|"),
            Ctx::UseNames(vec!["std".into(), "estimators".into()])
        );
        assert_eq!(ctx("x = 1 # a comment |"), Ctx::Nothing);
        assert_eq!(ctx("x = \"abc|"), Ctx::Nothing);
        assert_eq!(ctx("x = 1.5|"), Ctx::Nothing);
        assert_eq!(
            ctx("env = cartpole(envs: 4,\n   se|"),
            Ctx::Plain(Some(CallCtx {
                callee: vec!["cartpole".into()],
                arg_start: true,
                given: vec!["envs".into()],
                positional: 0,
            }))
        );
        assert_eq!(
            ctx("x = m.f(g(1), |"),
            Ctx::Plain(Some(CallCtx {
                callee: vec!["m".into(), "f".into()],
                arg_start: true,
                given: vec![],
                positional: 1,
            }))
        );
        assert_eq!(
            ctx("x = f(a + |"),
            Ctx::Plain(Some(CallCtx {
                callee: vec!["f".into()],
                arg_start: false,
                given: vec![],
                positional: 0,
            }))
        );
        assert_eq!(
            ctx("x = reward_to_go(batch.reward, batch.done, |"),
            Ctx::Plain(Some(CallCtx {
                callee: vec!["reward_to_go".into()],
                arg_start: true,
                given: vec![],
                positional: 2,
            }))
        );
        assert_eq!(
            ctx("d = policy(batch.obs).|"),
            Ctx::MemberOf("policy(batch.obs)".into())
        );
        assert_eq!(
            ctx("y = m.f(g(1))[0].|"),
            Ctx::MemberOf("m.f(g(1))[0]".into())
        );
        assert_eq!(ctx("y = (a + b).|"), Ctx::Member(vec![]));
        assert_eq!(ctx("fn f(a, |"), Ctx::Plain(None));
        assert_eq!(ctx("x = (a, |"), Ctx::Plain(None));
        // Keywords written after the cursor, in this call only (not in a nested call,
        // a string, or the next statement), count as given.
        assert_eq!(
            ctx("env = cartpole(envs: 4, | seed: g(max_steps: 2), note: \"a: b\")\ny = h(k: 1)"),
            Ctx::Plain(Some(CallCtx {
                callee: vec!["cartpole".into()],
                arg_start: true,
                given: vec!["envs".into(), "seed".into(), "note".into()],
                positional: 0,
            }))
        );
    }
}
