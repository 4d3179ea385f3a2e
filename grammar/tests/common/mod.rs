//! Test helpers: a compact S-expression rendering of the AST (so expected shapes fit on a
//! line) and a checker that every span covers exactly its node's text.

#![allow(dead_code)]

use rlp_syntax::ast::*;
use rlp_syntax::{ParseError, parse};

pub fn parse_ok(src: &str) -> Module {
    match parse(src) {
        Ok(m) => {
            check_spans(&m, src);
            m
        }
        Err(e) => panic!("parse failed: {e:?}\n--- source ---\n{src}"),
    }
}

pub fn parse_err(src: &str) -> ParseError {
    match parse(src) {
        Ok(m) => panic!(
            "expected an error, parsed {}\n--- source ---\n{src}",
            items(&m)
        ),
        Err(e) => {
            check_error_span(&e, src);
            e
        }
    }
}

/// The error's span is inside the source and on character boundaries.
pub fn check_error_span(e: &ParseError, src: &str) {
    let (s, t) = (e.span.start as usize, e.span.end as usize);
    assert!(
        s <= t && t <= src.len(),
        "error span {s}..{t} outside source of {} bytes: {e:?}",
        src.len()
    );
    assert!(
        src.is_char_boundary(s) && src.is_char_boundary(t),
        "error span {s}..{t} splits a character: {e:?}"
    );
}

/// All items, one S-expression per item, separated by newlines.
pub fn items(m: &Module) -> String {
    m.items.iter().map(item).collect::<Vec<_>>().join("\n")
}

/// The S-expression of a file consisting of one expression statement.
pub fn expr_of(src: &str) -> String {
    let m = parse_ok(src);
    match m.items.as_slice() {
        [
            Item::Stmt(Stmt {
                kind: StmtKind::Expr(e),
                ..
            }),
        ] => expr(e),
        _ => panic!("not a single expression: {}", items(&m)),
    }
}

/// The S-expression of a file consisting of one statement.
pub fn stmt_of(src: &str) -> String {
    let m = parse_ok(src);
    match m.items.as_slice() {
        [Item::Stmt(s)] => stmt(s),
        _ => panic!("not a single statement: {}", items(&m)),
    }
}

pub fn item(i: &Item) -> String {
    match i {
        Item::Use(u) => {
            let target = match &u.target {
                UseTarget::Path(p) => p
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
                UseTarget::File { path, .. } => format!("{path:?}"),
            };
            match &u.names {
                None => format!("(use {target})"),
                Some(ns) => format!("(use {target} {{{}}})", names(ns)),
            }
        }
        Item::Fn(f) => {
            let mut s = String::from("(");
            if let Some(d) = &f.doc {
                s += &format!("doc {d:?} ");
            }
            if f.public {
                s += "pub ";
            }
            s += &format!("fn {} ({})", f.name.name, params(&f.params));
            if let Some(t) = &f.ret {
                s += &format!(" -> {}", ty(t));
            }
            s += &format!(" {})", block(&f.body));
            s
        }
        Item::Stmt(st) => stmt(st),
        Item::Train(t) => format!(
            "(train {} {}{})",
            t.unit.name,
            expr(&t.count),
            body(&t.body)
        ),
    }
}

fn names(ns: &[Ident]) -> String {
    ns.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn params(ps: &[Param]) -> String {
    ps.iter()
        .map(|p| {
            let mut s = p.name.name.clone();
            if let Some(t) = &p.ty {
                s += &format!(":{}", ty(t));
            }
            if let Some(d) = &p.default {
                s += &format!("={}", expr(d));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn ty(t: &TypeExpr) -> String {
    match &t.kind {
        TypeKind::Named(i) => i.name.clone(),
        TypeKind::Tensor { dims, dtype } => {
            let ds = dims.iter().map(dim).collect::<Vec<_>>().join(", ");
            match dtype {
                Some(d) => format!("[{ds}] {}", d.name),
                None => format!("[{ds}]"),
            }
        }
    }
}

pub fn dim(d: &DimExpr) -> String {
    let mut s = String::new();
    for (i, t) in d.terms.iter().enumerate() {
        let c = if i == 0 { t.coeff } else { t.coeff.abs() };
        if i > 0 {
            s += if t.coeff < 0 { "-" } else { "+" };
        }
        match &t.symbol {
            None => s += &c.to_string(),
            Some(sym) if c == 1 => s += &sym.name,
            Some(sym) if c == -1 => s += &format!("-{}", sym.name),
            Some(sym) => s += &format!("{c}*{}", sym.name),
        }
    }
    s
}

fn body(stmts: &[Stmt]) -> String {
    stmts.iter().map(|s| format!(" {}", stmt(s))).collect()
}

pub fn block(b: &Block) -> String {
    let mut s = String::from("{");
    s += &b.stmts.iter().map(stmt).collect::<Vec<_>>().join(" ");
    if let Some(v) = &b.value {
        if !b.stmts.is_empty() {
            s += " ";
        }
        s += &format!("=> {}", expr(v));
    }
    s + "}"
}

pub fn stmt(s: &Stmt) -> String {
    match &s.kind {
        StmtKind::Let {
            names: ns,
            value,
            doc,
        } => {
            let d = doc
                .as_ref()
                .map(|d| format!("doc {d:?} "))
                .unwrap_or_default();
            format!("({d}let {} {})", names(ns), expr(value))
        }
        StmtKind::Update { place, value } => format!("(<- {} {})", expr(place), expr(value)),
        StmtKind::AugAssign { place, op, value } => {
            format!("({}= {} {})", op.symbol(), expr(place), expr(value))
        }
        StmtKind::Minimize { loss, wrt, with } => {
            let w = if wrt.is_empty() {
                String::new()
            } else {
                format!(
                    " wrt {}",
                    wrt.iter().map(expr).collect::<Vec<_>>().join(" ")
                )
            };
            format!("(minimize {}{w} with {})", expr(loss), expr(with))
        }
        StmtKind::Expr(e) => expr(e),
        StmtKind::Stage { kind, body: b, .. } => {
            let k = match kind {
                StageKind::Sample => "sample",
                StageKind::Fit => "fit",
                StageKind::Improve => "improve",
            };
            format!("({k}{})", body(b))
        }
        StmtKind::Log { entries } => {
            format!(
                "(log {})",
                entries
                    .iter()
                    .map(|(n, e)| format!("{}={}", n.name, expr(e)))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        StmtKind::Every {
            period,
            unit,
            after,
            body: b,
        } => {
            let a = after
                .as_ref()
                .map(|a| format!(" after {}", expr(a)))
                .unwrap_or_default();
            format!("(every {} {}{a}{})", expr(period), unit.name, body(b))
        }
        StmtKind::Repeat { count, body: b } => format!("(repeat {}{})", expr(count), body(b)),
        StmtKind::For { var, iter, body: b } => {
            format!("(for {} {}{})", var.name, expr(iter), body(b))
        }
    }
}

pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(i) => i.to_string(),
        ExprKind::Float(x) => format!("{x:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::List(xs) => format!("[{}]", xs.iter().map(expr).collect::<Vec<_>>().join(" ")),
        ExprKind::Tuple(xs) => format!(
            "(tuple {})",
            xs.iter().map(expr).collect::<Vec<_>>().join(" ")
        ),
        ExprKind::Record(fs) => {
            format!(
                "{{{}}}",
                fs.iter()
                    .map(|(n, e)| format!("{}: {}", n.name, expr(e)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        ExprKind::Unary { op, operand } => {
            let o = match op {
                UnOp::Neg => "neg",
                UnOp::Not => "not",
            };
            format!("({o} {})", expr(operand))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.symbol(), expr(lhs), expr(rhs))
        }
        ExprKind::Call { callee, args } => {
            let mut s = format!("(call {}", expr(callee));
            for a in args {
                match &a.name {
                    Some(n) => s += &format!(" {}={}", n.name, expr(&a.value)),
                    None => s += &format!(" {}", expr(&a.value)),
                }
            }
            s + ")"
        }
        ExprKind::Field { base, name } => format!("(. {} {})", expr(base), name.name),
        ExprKind::Index { base, indices } => {
            let mut s = format!("(idx {}", expr(base));
            for i in indices {
                match i {
                    IndexItem::Expr(e) => s += &format!(" {}", expr(e)),
                    IndexItem::Slice { start, end, .. } => {
                        let a = start.as_ref().map(expr).unwrap_or_else(|| "_".into());
                        let b = end.as_ref().map(expr).unwrap_or_else(|| "_".into());
                        s += &format!(" (: {a} {b})");
                    }
                }
            }
            s + ")"
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => format!("(if {} {} {})", expr(cond), expr(then), expr(otherwise)),
        ExprKind::Lambda { params: ps, body } => {
            format!("(lambda ({}) {})", params(ps), expr(body))
        }
        ExprKind::Range { from, to } => format!("(-> {} {})", expr(from), expr(to)),
        ExprKind::Block(b) => block(b),
        ExprKind::Scan(s) => {
            let carries = s
                .carries
                .iter()
                .map(|(n, e)| format!("{}={}", n.name, expr(e)))
                .collect::<Vec<_>>()
                .join(" ");
            format!(
                "(scan{} {} {} ({carries}) {})",
                if s.reverse { " reverse" } else { "" },
                s.var.name,
                dim(&s.length),
                block(&s.body)
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// Span checks

/// Every node's span is inside the source, on character boundaries, not padded with
/// whitespace, and inside its parent's span; idents' spans hold exactly their name.
pub fn check_spans(m: &Module, src: &str) {
    let c = Checker { src };
    for i in &m.items {
        match i {
            Item::Use(u) => {
                let outer = c.node(u.span, None, "use");
                if let UseTarget::Path(p) = &u.target {
                    p.iter().for_each(|i| c.ident(i, outer));
                }
                if let UseTarget::File { span, .. } = &u.target {
                    c.node(*span, Some(outer), "use file");
                }
                u.names.iter().flatten().for_each(|i| c.ident(i, outer));
            }
            Item::Fn(f) => {
                let outer = c.node(f.span, None, "fn");
                c.ident(&f.name, outer);
                f.params.iter().for_each(|p| c.param(p, outer));
                if let Some(t) = &f.ret {
                    c.ty(t, outer);
                }
                c.block(&f.body, outer);
            }
            Item::Stmt(s) => c.stmt(s, None),
            Item::Train(t) => {
                let outer = c.node(t.span, None, "train");
                c.ident(&t.unit, outer);
                c.expr(&t.count, Some(outer));
                t.body.iter().for_each(|s| c.stmt(s, Some(outer)));
            }
        }
    }
}

struct Checker<'s> {
    src: &'s str,
}

impl Checker<'_> {
    fn node(&self, span: Span, parent: Option<Span>, what: &str) -> Span {
        let (s, e) = (span.start as usize, span.end as usize);
        assert!(s < e && e <= self.src.len(), "{what}: bad span {s}..{e}");
        assert!(
            self.src.is_char_boundary(s) && self.src.is_char_boundary(e),
            "{what}: span {s}..{e} splits a char"
        );
        let text = &self.src[s..e];
        assert_eq!(
            text.trim(),
            text,
            "{what}: span {s}..{e} has surrounding whitespace: {text:?}"
        );
        if let Some(p) = parent {
            assert!(
                p.start <= span.start && span.end <= p.end,
                "{what}: span {s}..{e} outside parent {p:?}: {text:?}"
            );
        }
        span
    }

    fn ident(&self, i: &Ident, parent: Span) {
        self.node(i.span, Some(parent), "ident");
        assert_eq!(&self.src[i.span.range()], i.name, "ident span text");
    }

    fn param(&self, p: &Param, parent: Span) {
        let outer = self.node(p.span, Some(parent), "param");
        self.ident(&p.name, outer);
        if let Some(t) = &p.ty {
            self.ty(t, outer);
        }
        if let Some(d) = &p.default {
            self.expr(d, Some(outer));
        }
    }

    fn ty(&self, t: &TypeExpr, parent: Span) {
        let outer = self.node(t.span, Some(parent), "type");
        match &t.kind {
            TypeKind::Named(i) => self.ident(i, outer),
            TypeKind::Tensor { dims, dtype } => {
                dims.iter().for_each(|d| self.dim(d, outer));
                if let Some(d) = dtype {
                    self.ident(d, outer);
                }
            }
        }
    }

    fn dim(&self, d: &DimExpr, parent: Span) {
        let outer = self.node(d.span, Some(parent), "dim");
        d.terms
            .iter()
            .filter_map(|t| t.symbol.as_ref())
            .for_each(|i| self.ident(i, outer));
    }

    fn block(&self, b: &Block, parent: Span) {
        let outer = self.node(b.span, Some(parent), "block");
        assert!(
            self.src[b.span.range()].starts_with('{') && self.src[b.span.range()].ends_with('}')
        );
        b.stmts.iter().for_each(|s| self.stmt(s, Some(outer)));
        if let Some(v) = &b.value {
            self.expr(v, Some(outer));
        }
    }

    fn stmt(&self, s: &Stmt, parent: Option<Span>) {
        let o = Some(self.node(s.span, parent, "stmt"));
        match &s.kind {
            StmtKind::Let { names, value, .. } => {
                names.iter().for_each(|n| self.ident(n, s.span));
                self.expr(value, o);
            }
            StmtKind::Update { place, value } | StmtKind::AugAssign { place, value, .. } => {
                self.expr(place, o);
                self.expr(value, o);
            }
            StmtKind::Minimize { loss, wrt, with } => {
                self.expr(loss, o);
                wrt.iter().for_each(|w| self.expr(w, o));
                self.expr(with, o);
            }
            StmtKind::Expr(e) => {
                self.expr(e, o);
                assert_eq!(e.span, s.span, "expression statement span");
            }
            StmtKind::Stage {
                kind_span, body, ..
            } => {
                self.node(*kind_span, o, "stage keyword");
                body.iter().for_each(|b| self.stmt(b, o));
            }
            StmtKind::Log { entries } => entries.iter().for_each(|(n, e)| {
                self.ident(n, s.span);
                self.expr(e, o);
            }),
            StmtKind::Every {
                period,
                unit,
                after,
                body,
            } => {
                self.expr(period, o);
                self.ident(unit, s.span);
                if let Some(a) = after {
                    self.expr(a, o);
                }
                body.iter().for_each(|b| self.stmt(b, o));
            }
            StmtKind::Repeat { count, body } => {
                self.expr(count, o);
                body.iter().for_each(|b| self.stmt(b, o));
            }
            StmtKind::For { var, iter, body } => {
                self.ident(var, s.span);
                self.expr(iter, o);
                body.iter().for_each(|b| self.stmt(b, o));
            }
        }
    }

    fn expr(&self, e: &Expr, parent: Option<Span>) {
        let outer = self.node(e.span, parent, "expr");
        let o = Some(outer);
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) => {}
            ExprKind::Name(i) => {
                // `(x)` keeps the parentheses' span.
                if !self.src[e.span.range()].starts_with('(') {
                    assert_eq!(i.span, e.span);
                }
                self.ident(i, outer);
            }
            ExprKind::List(xs) | ExprKind::Tuple(xs) => xs.iter().for_each(|x| self.expr(x, o)),
            ExprKind::Record(fs) => fs.iter().for_each(|(n, x)| {
                self.ident(n, outer);
                self.expr(x, o);
            }),
            ExprKind::Unary { operand, .. } => self.expr(operand, o),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs, o);
                self.expr(rhs, o);
            }
            ExprKind::Call { callee, args } => {
                self.expr(callee, o);
                for a in args {
                    self.node(a.span, o, "arg");
                    if let Some(n) = &a.name {
                        self.ident(n, a.span);
                    }
                    self.expr(&a.value, Some(a.span));
                }
            }
            ExprKind::Field { base, name } => {
                self.expr(base, o);
                self.ident(name, outer);
            }
            ExprKind::Index { base, indices } => {
                self.expr(base, o);
                for i in indices {
                    match i {
                        IndexItem::Expr(x) => self.expr(x, o),
                        IndexItem::Slice { start, end, span } => {
                            self.node(*span, o, "slice");
                            start
                                .iter()
                                .chain(end.iter())
                                .for_each(|x| self.expr(x, Some(*span)));
                        }
                    }
                }
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond, o);
                self.expr(then, o);
                self.expr(otherwise, o);
            }
            ExprKind::Lambda { params, body } => {
                params.iter().for_each(|p| self.param(p, outer));
                self.expr(body, o);
            }
            ExprKind::Range { from, to } => {
                self.expr(from, o);
                self.expr(to, o);
            }
            ExprKind::Block(b) => {
                assert_eq!(b.span, e.span);
                self.block(b, outer);
            }
            ExprKind::Scan(s) => {
                self.ident(&s.var, outer);
                self.dim(&s.length, outer);
                s.carries.iter().for_each(|(n, x)| {
                    self.ident(n, outer);
                    self.expr(x, o);
                });
                self.block(&s.body, outer);
            }
        }
    }
}
