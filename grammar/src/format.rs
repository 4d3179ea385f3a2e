//! `rlpc fmt`: the canonical layout of a `.rlp` file.
//!
//! The printer walks the AST: one statement per line, two-space indents, single spaces
//! around binary operators, parentheses only where precedence needs them. Numeric
//! literals keep their source spelling (`1e-3`, `1_000`). Comments are not in the AST,
//! so they are collected from the text and put back: a comment on its own line before the
//! statement that follows it, a trailing comment after the statement it ends. At most one
//! blank line is kept between statements. Formatting is idempotent and preserves the
//! parse (both are tested).

use crate::ast::*;
use crate::parser::ParseError;

/// Formats `source`; an unparsable file is returned as its parse error.
pub fn format(source: &str) -> Result<String, ParseError> {
    let module = crate::parse(source)?;
    let mut p = Printer {
        src: source,
        out: String::new(),
        comments: comments(source),
        next: 0,
        indent: 0,
    };
    p.module(&module);
    Ok(p.out)
}

/// A comment in the source: where it starts, its text (from `#` or `///`), and
/// whether code precedes it on its line.
struct Comment {
    pos: usize,
    text: String,
    trailing: bool,
    doc: bool,
}

/// Finds every comment, skipping string literals.
fn comments(src: &str) -> Vec<Comment> {
    let b = src.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    let mut line_start = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == b'"' || c == b'\n' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if c == b'#' || src[i..].starts_with("///") {
            let end = src[i..].find('\n').map_or(src.len(), |k| i + k);
            let trailing = !src[line_start..i].trim().is_empty();
            let text = src[i..end].trim_end().trim_end_matches('\r').to_string();
            out.push(Comment {
                pos: i,
                doc: text.starts_with("///"),
                text,
                trailing,
            });
            i = end;
            continue;
        }
        if c == b'\n' {
            line_start = i + 1;
        }
        i += 1;
    }
    out
}

struct Printer<'s> {
    src: &'s str,
    out: String,
    comments: Vec<Comment>,
    /// The first comment not yet printed.
    next: usize,
    indent: usize,
}

/// Binding strength, loosest first; a child printed where a tighter one is needed gets
/// parentheses.
const LAMBDA: u8 = 1;
const IF: u8 = 2;
const OR: u8 = 3;
const AND: u8 = 4;
const NOT: u8 = 5;
const CMP: u8 = 6;
const CONCAT: u8 = 7;
const ADD: u8 = 8;
const MUL: u8 = 9;
const NEG: u8 = 10;
const POW: u8 = 11;
const POSTFIX: u8 = 12;
const ATOM: u8 = 13;

fn binop_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Or => OR,
        BinOp::And => AND,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => CMP,
        BinOp::Concat => CONCAT,
        BinOp::Add | BinOp::Sub => ADD,
        BinOp::Mul | BinOp::Div | BinOp::Rem | BinOp::MatMul => MUL,
        BinOp::Pow => POW,
    }
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Lambda { .. } | ExprKind::Range { .. } => LAMBDA,
        ExprKind::If { .. } => IF,
        ExprKind::Unary { op: UnOp::Not, .. } => NOT,
        ExprKind::Unary { op: UnOp::Neg, .. } => NEG,
        ExprKind::Binary { op, .. } => binop_prec(*op),
        ExprKind::Call { .. } | ExprKind::Field { .. } | ExprKind::Index { .. } => POSTFIX,
        _ => ATOM,
    }
}

impl Printer<'_> {
    fn pad(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
    }

    fn line(&mut self, s: &str) {
        self.pad();
        self.out.push_str(s);
        self.out.push('\n');
    }

    /// Prints the own-line comments before `pos` (doc comments the AST holds are
    /// skipped: the item prints them itself).
    fn comments_before(&mut self, pos: usize, skip_docs: bool) {
        while self.next < self.comments.len() && self.comments[self.next].pos < pos {
            let c = &self.comments[self.next];
            self.next += 1;
            if skip_docs && c.doc && !c.trailing && self.doc_run_reaches(c.pos, pos) {
                continue;
            }
            let (text, end) = (c.text.clone(), c.pos + c.text.len());
            self.line(&text);
            // Keep a blank line that separates this comment from what follows.
            let upto = self
                .comments
                .get(self.next)
                .map_or(pos, |n| n.pos.min(pos))
                .min(self.src.len());
            if upto > end && has_blank_line(&self.src[end..upto]) {
                self.out.push('\n');
            }
        }
    }

    /// Whether only `///` lines and whitespace lie between `from` and `to` (a doc
    /// comment attached to the item at `to`).
    fn doc_run_reaches(&self, from: usize, to: usize) -> bool {
        self.src[from..to].lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with("///")
        }) && !self.src[from..to].contains("\n\n")
    }

    /// A trailing comment on the line where `end` is.
    fn trailing_after(&mut self, end: usize) {
        let line_end = self.src[end..]
            .find('\n')
            .map_or(self.src.len(), |k| end + k);
        if self.next < self.comments.len() {
            let c = &self.comments[self.next];
            if c.trailing && c.pos >= end && c.pos < line_end {
                let text = c.text.clone();
                self.next += 1;
                if self.out.ends_with('\n') {
                    self.out.pop();
                }
                self.out.push_str("  ");
                self.out.push_str(&text);
                self.out.push('\n');
            }
        }
    }

    /// A blank line where the source had one between two statements.
    fn blank_between(&mut self, prev_end: Option<usize>, start: usize) {
        if let Some(e) = prev_end {
            let gap = &self.src[e.min(start)..start];
            if has_blank_line(gap) && !self.out.ends_with("\n\n") && !self.out.is_empty() {
                self.out.push('\n');
            }
        }
    }

    fn module(&mut self, m: &Module) {
        let mut prev: Option<usize> = None;
        for item in &m.items {
            let span = item_span(item);
            self.blank_between(prev, first_comment_or(self, span.start as usize));
            self.comments_before(span.start as usize, true);
            match item {
                Item::Use(u) => {
                    let s = self.use_decl(u);
                    self.line(&s);
                }
                Item::Fn(f) => self.fn_decl(f),
                Item::Stmt(s) => self.stmt(s),
                Item::Train(t) => {
                    let head = format!("train {}: {} {{", t.unit.name, self.expr(&t.count, 0));
                    self.line(&head);
                    self.body(&t.body, t.span.end as usize);
                    self.line("}");
                }
            }
            self.trailing_after(span.end as usize);
            prev = Some(span.end as usize);
        }
        self.comments_before(self.src.len() + 1, false);
    }

    fn use_decl(&self, u: &Use) -> String {
        let target = match &u.target {
            UseTarget::Path(p) => p
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join("."),
            UseTarget::File { path, .. } => quote(path),
        };
        match &u.names {
            None => format!("use {target}"),
            Some(ns) => format!(
                "use {target}.{{{}}}",
                ns.iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn doc(&mut self, doc: &Option<String>) {
        if let Some(d) = doc {
            for l in d.lines() {
                let s = if l.is_empty() {
                    "///".to_string()
                } else {
                    format!("/// {l}")
                };
                self.line(&s);
            }
        }
    }

    fn fn_decl(&mut self, f: &FnDecl) {
        self.doc(&f.doc);
        let ret = f
            .ret
            .as_ref()
            .map(|t| format!(" -> {}", self.ty(t)))
            .unwrap_or_default();
        let head = format!(
            "{}fn {}({}){ret} {{",
            if f.public { "pub " } else { "" },
            f.name.name,
            self.params(&f.params)
        );
        self.line(&head);
        self.block_body(&f.body);
        self.line("}");
    }

    fn params(&self, ps: &[Param]) -> String {
        ps.iter()
            .map(|p| {
                let mut s = p.name.name.clone();
                if let Some(t) = &p.ty {
                    s.push_str(&format!(": {}", self.ty(t)));
                }
                if let Some(d) = &p.default {
                    s.push_str(&format!(" = {}", self.expr(d, 0)));
                }
                s
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn ty(&self, t: &TypeExpr) -> String {
        match &t.kind {
            TypeKind::Named(n) => n.name.clone(),
            TypeKind::Tensor { dims, dtype } => {
                let d = dims.iter().map(dim).collect::<Vec<_>>().join(", ");
                match dtype {
                    Some(i) => format!("[{d}] {}", i.name),
                    None => format!("[{d}]"),
                }
            }
        }
    }

    /// The statements and value of a block, one level in.
    fn block_body(&mut self, b: &Block) {
        self.indent += 1;
        let mut prev = None;
        for s in &b.stmts {
            self.blank_between(prev, first_comment_or(self, s.span.start as usize));
            self.comments_before(s.span.start as usize, false);
            self.stmt(s);
            self.trailing_after(s.span.end as usize);
            prev = Some(s.span.end as usize);
        }
        if let Some(v) = &b.value {
            self.blank_between(prev, first_comment_or(self, v.span.start as usize));
            self.comments_before(v.span.start as usize, false);
            let s = self.expr(v, 0);
            self.multiline(&s);
            self.trailing_after(v.span.end as usize);
        }
        self.comments_before(b.span.end as usize, false);
        self.indent -= 1;
    }

    /// Statements of a `train`/`every`/`repeat`/stage body, one level in.
    fn body(&mut self, stmts: &[Stmt], end: usize) {
        self.indent += 1;
        let mut prev = None;
        for s in stmts {
            self.blank_between(prev, first_comment_or(self, s.span.start as usize));
            self.comments_before(s.span.start as usize, false);
            self.stmt(s);
            self.trailing_after(s.span.end as usize);
            prev = Some(s.span.end as usize);
        }
        self.comments_before(end, false);
        self.indent -= 1;
    }

    fn stmt(&mut self, s: &Stmt) {
        match &s.kind {
            StmtKind::Stage { kind, body, .. } => {
                let k = match kind {
                    StageKind::Sample => "sample",
                    StageKind::Fit => "fit",
                    StageKind::Improve => "improve",
                };
                if body.len() == 1 && !matches!(body[0].kind, StmtKind::Stage { .. }) {
                    // `fit x = …`: the label, then the statement on the same line.
                    let mark = self.out.len();
                    self.stmt(&body[0]);
                    let printed = self.out.split_off(mark);
                    let inner = printed.trim_start();
                    self.pad();
                    self.out.push_str(&format!("{k} {inner}"));
                } else {
                    self.line(&format!("{k} {{"));
                    self.body(body, s.span.end as usize);
                    self.line("}");
                }
            }
            StmtKind::Every {
                period,
                unit,
                after,
                body,
            } => {
                let after = after
                    .as_ref()
                    .map(|a| format!(" after {}", self.expr(a, 0)))
                    .unwrap_or_default();
                let head = format!("every {} {}{after} {{", self.expr(period, 0), unit.name);
                self.line(&head);
                self.body(body, s.span.end as usize);
                self.line("}");
            }
            StmtKind::Repeat { count, body } => {
                let head = format!("repeat {} {{", self.expr(count, 0));
                self.line(&head);
                self.body(body, s.span.end as usize);
                self.line("}");
            }
            StmtKind::For { var, iter, body } => {
                let head = format!("for {} in {} {{", var.name, self.expr(iter, 0));
                self.line(&head);
                self.body(body, s.span.end as usize);
                self.line("}");
            }
            StmtKind::Let { names, value, doc } => {
                self.doc(doc);
                let lhs = names
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let rhs = match &value.kind {
                    ExprKind::Tuple(items) if names.len() > 1 => items
                        .iter()
                        .map(|e| self.expr(e, LAMBDA))
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => self.expr(value, 0),
                };
                self.multiline(&format!("{lhs} = {rhs}"));
            }
            StmtKind::Update { place, value } => {
                let s = format!("{} <- {}", self.expr(place, POSTFIX), self.expr(value, 0));
                self.multiline(&s);
            }
            StmtKind::AugAssign { place, op, value } => {
                let s = format!(
                    "{} {}= {}",
                    self.expr(place, POSTFIX),
                    op.symbol(),
                    self.expr(value, 0)
                );
                self.multiline(&s);
            }
            StmtKind::Minimize { loss, wrt, with } => {
                let wrt = if wrt.is_empty() {
                    String::new()
                } else {
                    format!(
                        " wrt {}",
                        wrt.iter()
                            .map(|w| self.expr(w, LAMBDA + 1))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let s = format!(
                    "minimize {}{wrt} with {}",
                    self.expr(loss, IF),
                    self.expr(with, IF)
                );
                self.multiline(&s);
            }
            StmtKind::Log { entries } => {
                let s = format!(
                    "log {}",
                    entries
                        .iter()
                        .map(|(n, e)| format!("{} = {}", n.name, self.expr(e, LAMBDA)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                self.multiline(&s);
            }
            StmtKind::Expr(e) => {
                let s = self.expr(e, 0);
                self.multiline(&s);
            }
        }
    }

    /// Prints text that may span lines (blocks inside lambdas), indenting its
    /// continuation lines.
    fn multiline(&mut self, s: &str) {
        let mut first = true;
        for l in s.lines() {
            if first {
                self.line(l);
                first = false;
            } else {
                self.pad();
                self.out.push_str(l);
                self.out.push('\n');
            }
        }
    }

    /// An expression as text, parenthesised if it binds looser than `min`.
    fn expr(&self, e: &Expr, min: u8) -> String {
        let s = self.expr_inner(e);
        if prec(e) < min { format!("({s})") } else { s }
    }

    fn expr_inner(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) => self.src[e.span.range()].to_string(),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Str(s) => quote(s),
            ExprKind::Name(i) => i.name.clone(),
            ExprKind::List(xs) => format!("[{}]", self.list(xs)),
            ExprKind::Tuple(xs) if xs.len() == 1 => format!("({},)", self.expr(&xs[0], LAMBDA)),
            ExprKind::Tuple(xs) => format!("({})", self.list(xs)),
            ExprKind::Record(fs) => self.record(fs),
            ExprKind::Unary {
                op: UnOp::Neg,
                operand,
            } => format!("-{}", self.expr(operand, POW)),
            ExprKind::Unary {
                op: UnOp::Not,
                operand,
            } => format!("not {}", self.expr(operand, NOT)),
            ExprKind::Binary { op, lhs, rhs } => {
                let p = binop_prec(*op);
                let (l, r) = match op {
                    BinOp::Pow => (p + 1, p),
                    _ if p == CMP => (p + 1, p + 1),
                    _ => (p, p + 1),
                };
                format!(
                    "{} {} {}",
                    self.expr(lhs, l),
                    op.symbol(),
                    self.expr(rhs, r)
                )
            }
            ExprKind::Call { callee, args } => {
                let a = args
                    .iter()
                    .map(|a| match &a.name {
                        Some(n) => format!("{}: {}", n.name, self.expr(&a.value, LAMBDA)),
                        None => self.expr(&a.value, LAMBDA),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{}({a})", self.expr(callee, POSTFIX))
            }
            ExprKind::Field { base, name } => format!("{}.{}", self.expr(base, POSTFIX), name.name),
            ExprKind::Index { base, indices } => {
                let items = indices
                    .iter()
                    .map(|i| match i {
                        IndexItem::Expr(x) => self.expr(x, LAMBDA),
                        IndexItem::Slice { start, end, .. } => format!(
                            "{}:{}",
                            start
                                .as_ref()
                                .map(|x| self.expr(x, LAMBDA))
                                .unwrap_or_default(),
                            end.as_ref()
                                .map(|x| self.expr(x, LAMBDA))
                                .unwrap_or_default()
                        ),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{}[{items}]", self.expr(base, POSTFIX))
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                format!(
                    "if {} then {} else {}",
                    self.expr(cond, OR),
                    self.expr(then, OR),
                    self.expr(otherwise, IF)
                )
            }
            ExprKind::Lambda { params, body } => {
                let ps = match params.as_slice() {
                    [p] if p.ty.is_none() && p.default.is_none() => p.name.name.clone(),
                    _ => format!("({})", self.params(params)),
                };
                format!("{ps} -> {}", self.expr(body, LAMBDA))
            }
            ExprKind::Range { from, to } => {
                format!("{} -> {}", self.expr(from, IF), self.expr(to, LAMBDA))
            }
            ExprKind::Block(b) => self.block_text(b, &[]),
            ExprKind::Scan(s) => {
                let carries = s
                    .carries
                    .iter()
                    .map(|(n, x)| format!("{} = {}", n.name, self.expr(x, LAMBDA)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let head = format!(
                    "scan {}{} in {} ({carries}) ",
                    if s.reverse { "reverse " } else { "" },
                    s.var.name,
                    dim(&s.length)
                );
                format!("{head}{}", self.block_text(&s.body, &[]))
            }
        }
    }

    fn list(&self, xs: &[Expr]) -> String {
        xs.iter()
            .map(|x| self.expr(x, LAMBDA))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn record(&self, fs: &[(Ident, Expr)]) -> String {
        if fs.is_empty() {
            return "{}".into();
        }
        let parts: Vec<String> = fs
            .iter()
            .map(|(n, x)| format!("{}: {}", n.name, self.expr(x, LAMBDA)))
            .collect();
        let one = format!("{{ {} }}", parts.join(", "));
        if one.len() <= 80 && !one.contains('\n') {
            return one;
        }
        let mut s = "{\n".to_string();
        for p in parts {
            for (k, l) in p.lines().enumerate() {
                s.push_str("  ");
                s.push_str(l);
                if k + 1 == p.lines().count() {
                    s.push(',');
                }
                s.push('\n');
            }
        }
        s.push('}');
        s
    }

    /// A block expression as text (nested printing: comments inside it stay with the
    /// enclosing statement, printed before it).
    fn block_text(&self, b: &Block, _: &[()]) -> String {
        let mut inner = Printer {
            src: self.src,
            out: String::new(),
            comments: vec![],
            next: 0,
            indent: 1,
        };
        for s in &b.stmts {
            inner.stmt(s);
        }
        if let Some(v) = &b.value {
            let s = inner.expr(v, 0);
            inner.multiline(&s);
        }
        format!("{{\n{}}}", inner.out)
    }
}

/// Where the comments before `pos` begin (so a blank line goes above them, not between
/// them and their statement).
fn first_comment_or(p: &Printer, pos: usize) -> usize {
    p.comments[p.next..]
        .iter()
        .take_while(|c| c.pos < pos)
        .find(|c| !c.trailing)
        .map_or(pos, |c| c.pos)
}

/// Whether a gap between two statements holds an empty line.
fn has_blank_line(gap: &str) -> bool {
    let mut seen_newline = false;
    for c in gap.chars() {
        match c {
            '\n' if seen_newline => return true,
            '\n' => seen_newline = true,
            ' ' | '\t' | '\r' => {}
            _ => seen_newline = false,
        }
    }
    false
}

fn item_span(i: &Item) -> Span {
    match i {
        Item::Use(u) => u.span,
        Item::Fn(f) => f.span,
        Item::Stmt(s) => s.span,
        Item::Train(t) => t.span,
    }
}

fn dim(d: &DimExpr) -> String {
    d.to_string()
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
