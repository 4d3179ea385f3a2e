//! What is at an offset of a parsed module: the syntax under the cursor and the local
//! names visible there, following the language's scoping (a function sees its
//! parameters and its own bindings, not the top level's; a block's bindings are seen by
//! the statements after them; a `train` block's stages share one scope).

use rlp_syntax::ast::{self, Expr, ExprKind, FnDecl, Ident, IndexItem, Item, Span, Stmt, StmtKind};

/// How a local name was bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinderKind {
    /// A top-level binding (`env = cartpole(envs: 16)`), or one in the `train` block.
    TopLevel,
    /// A binding inside a function or block.
    Local,
    /// A function's or a lambda's parameter.
    Param,
    /// A `scan`'s step variable or carry, or a `for` variable.
    Loop,
}

/// A name bound in the module: where, how, and to what.
#[derive(Clone, Debug)]
pub struct Binder<'a> {
    pub name: &'a Ident,
    pub kind: BinderKind,
    /// The bound expression, when there is one for this name alone.
    pub value: Option<&'a Expr>,
    /// `///` documentation of a binding.
    pub doc: Option<&'a str>,
    /// A parameter's declaration (type, default).
    pub param: Option<&'a ast::Param>,
}

/// The syntax under the cursor.
#[derive(Clone, Debug)]
pub enum Hit<'a> {
    /// A name used in an expression.
    Name(&'a Ident),
    /// A name where it is bound.
    Binding(Binder<'a>),
    /// A function's name in its declaration.
    FnName(&'a FnDecl),
    /// `base.name`, on `name`.
    Field { base: &'a Expr, name: &'a Ident },
    /// `callee(…, name: …)`, on `name`.
    Keyword { callee: &'a Expr, name: &'a Ident },
    /// A segment of `use std.a.b` (`index` counts from 0).
    UsePath { u: &'a ast::Use, index: usize },
    /// The string of `use "./file.rlp"`.
    UseFile(&'a ast::Use),
    /// A name in `use m.{name}`.
    UseName { u: &'a ast::Use, name: &'a Ident },
}

/// What [`at`] found.
pub struct Found<'a> {
    pub hit: Option<Hit<'a>>,
    /// Local and top-level names visible at the offset, innermost last.
    pub scope: Vec<Binder<'a>>,
}

impl<'a> Found<'a> {
    /// The nearest binder of `name`.
    pub fn binder(&self, name: &str) -> Option<&Binder<'a>> {
        self.scope.iter().rev().find(|b| b.name.name == name)
    }
}

fn contains(span: Span, off: usize) -> bool {
    span.start as usize <= off && off <= span.end as usize
}

struct Walker<'a> {
    off: usize,
    scope: Vec<Binder<'a>>,
    hit: Option<Hit<'a>>,
}

/// The syntax at byte offset `off` of `m` and the names visible there.
pub fn at(m: &ast::Module, off: usize) -> Found<'_> {
    let mut w = Walker {
        off,
        scope: Vec::new(),
        hit: None,
    };
    w.module(m);
    Found {
        hit: w.hit,
        scope: w.scope,
    }
}

/// Every top-level binding of `m` (the `train` block's included), in source order.
pub fn top_level(m: &ast::Module) -> Vec<Binder<'_>> {
    let mut out = Vec::new();
    for item in &m.items {
        match item {
            Item::Stmt(s) => binders_of(s, BinderKind::TopLevel, &mut out),
            Item::Train(t) => {
                for s in &t.body {
                    binders_of(s, BinderKind::TopLevel, &mut out);
                }
            }
            _ => {}
        }
    }
    out
}

/// The names a statement binds for the statements after it.
fn binders_of<'a>(s: &'a Stmt, kind: BinderKind, out: &mut Vec<Binder<'a>>) {
    match &s.kind {
        StmtKind::Let { names, value, doc } => {
            // `a, b = x, y` binds each name to its own value.
            let parts: Option<&Vec<Expr>> = match &value.kind {
                ExprKind::Tuple(xs) if xs.len() == names.len() && names.len() > 1 => Some(xs),
                _ => None,
            };
            for (i, n) in names.iter().enumerate() {
                let value = match parts {
                    Some(xs) => xs.get(i),
                    None if names.len() == 1 => Some(value),
                    None => None,
                };
                out.push(Binder {
                    name: n,
                    kind,
                    value,
                    doc: doc.as_deref(),
                    param: None,
                });
            }
        }
        // Stages are labels: their bindings belong to the enclosing block.
        StmtKind::Stage { body, .. } => {
            for s in body {
                binders_of(s, kind, out);
            }
        }
        _ => {}
    }
}

fn param_binder(p: &ast::Param) -> Binder<'_> {
    Binder {
        name: &p.name,
        kind: BinderKind::Param,
        value: None,
        doc: None,
        param: Some(p),
    }
}

impl<'a> Walker<'a> {
    fn module(&mut self, m: &'a ast::Module) {
        for item in &m.items {
            match item {
                Item::Use(u) => {
                    if contains(u.span, self.off) {
                        self.use_item(u);
                        return;
                    }
                }
                Item::Fn(f) => {
                    if contains(f.span, self.off) {
                        self.function(f);
                        return;
                    }
                }
                Item::Stmt(s) => {
                    if contains(s.span, self.off) {
                        self.stmt(s, BinderKind::TopLevel);
                        return;
                    }
                    if (s.span.end as usize) < self.off {
                        binders_of(s, BinderKind::TopLevel, &mut self.scope);
                    }
                }
                Item::Train(t) => {
                    if contains(t.span, self.off) {
                        if contains(t.count.span, self.off) {
                            self.expr(&t.count);
                        } else {
                            self.stmts(&t.body, BinderKind::TopLevel);
                        }
                        return;
                    }
                }
            }
        }
    }

    fn use_item(&mut self, u: &'a ast::Use) {
        match &u.target {
            ast::UseTarget::Path(segs) => {
                if let Some(index) = segs.iter().position(|s| contains(s.span, self.off)) {
                    self.hit = Some(Hit::UsePath { u, index });
                    return;
                }
            }
            ast::UseTarget::File { span, .. } => {
                if contains(*span, self.off) {
                    self.hit = Some(Hit::UseFile(u));
                    return;
                }
            }
        }
        if let Some(name) = u
            .names
            .iter()
            .flatten()
            .find(|n| contains(n.span, self.off))
        {
            self.hit = Some(Hit::UseName { u, name });
        }
    }

    fn function(&mut self, f: &'a FnDecl) {
        // A function body sees its parameters, not the top level's bindings.
        self.scope.clear();
        if contains(f.name.span, self.off) {
            self.hit = Some(Hit::FnName(f));
            return;
        }
        if self.params(&f.params) {
            return;
        }
        if contains(f.body.span, self.off) {
            self.block(&f.body, BinderKind::Local);
        }
    }

    /// Parameters: a hit on one, or all of them in scope. True when the offset was in them.
    fn params(&mut self, ps: &'a [ast::Param]) -> bool {
        for p in ps {
            if contains(p.span, self.off) {
                if contains(p.name.span, self.off) {
                    self.hit = Some(Hit::Binding(param_binder(p)));
                } else if let Some(d) = &p.default
                    && contains(d.span, self.off)
                {
                    self.expr(d);
                }
                return true;
            }
        }
        self.scope.extend(ps.iter().map(param_binder));
        false
    }

    fn block(&mut self, b: &'a ast::Block, kind: BinderKind) {
        if self.stmts(&b.stmts, kind) {
            return;
        }
        if let Some(v) = &b.value
            && contains(v.span, self.off)
        {
            self.expr(v);
        }
    }

    /// Statements in order: the one holding the offset is walked, the ones before it add
    /// their names. True when one held the offset.
    fn stmts(&mut self, ss: &'a [Stmt], kind: BinderKind) -> bool {
        for s in ss {
            if contains(s.span, self.off) {
                self.stmt(s, kind);
                return true;
            }
            if (s.span.end as usize) < self.off {
                binders_of(s, kind, &mut self.scope);
            } else {
                break;
            }
        }
        false
    }

    fn stmt(&mut self, s: &'a Stmt, kind: BinderKind) {
        match &s.kind {
            StmtKind::Let { names, value, doc } => {
                if let Some(n) = names.iter().find(|n| contains(n.span, self.off)) {
                    self.hit = Some(Hit::Binding(Binder {
                        name: n,
                        kind,
                        value: (names.len() == 1).then_some(value),
                        doc: doc.as_deref(),
                        param: None,
                    }));
                } else {
                    self.expr(value);
                }
            }
            StmtKind::Update { place, value } | StmtKind::AugAssign { place, value, .. } => {
                self.first(&[place, value]);
            }
            StmtKind::Minimize { loss, wrt, with } => {
                let mut all: Vec<&Expr> = vec![loss];
                all.extend(wrt.iter());
                all.push(with);
                self.first(&all);
            }
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::Stage { body, .. } => {
                self.stmts(body, kind);
            }
            StmtKind::Log { entries } => {
                let vals: Vec<&Expr> = entries.iter().map(|(_, e)| e).collect();
                self.first(&vals);
            }
            StmtKind::Every {
                period,
                after,
                body,
                ..
            } => {
                let mut heads: Vec<&Expr> = vec![period];
                heads.extend(after.iter());
                if !self.first(&heads) {
                    self.stmts(body, kind);
                }
            }
            StmtKind::Repeat { count, body } => {
                if !self.first(&[count]) {
                    self.stmts(body, kind);
                }
            }
            StmtKind::For { var, iter, body } => {
                if contains(var.span, self.off) {
                    self.hit = Some(Hit::Binding(Binder {
                        name: var,
                        kind: BinderKind::Loop,
                        value: None,
                        doc: None,
                        param: None,
                    }));
                } else if !self.first(&[iter]) {
                    self.scope.push(Binder {
                        name: var,
                        kind: BinderKind::Loop,
                        value: None,
                        doc: None,
                        param: None,
                    });
                    self.stmts(body, kind);
                }
            }
        }
    }

    /// Walks the first expression holding the offset; true if there was one.
    fn first(&mut self, es: &[&'a Expr]) -> bool {
        match es.iter().find(|e| contains(e.span, self.off)) {
            Some(e) => {
                self.expr(e);
                true
            }
            None => false,
        }
    }

    fn expr(&mut self, e: &'a Expr) {
        match &e.kind {
            ExprKind::Name(id) => {
                if contains(id.span, self.off) {
                    self.hit = Some(Hit::Name(id));
                }
            }
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) => {}
            ExprKind::List(xs) | ExprKind::Tuple(xs) => {
                let all: Vec<&Expr> = xs.iter().collect();
                self.first(&all);
            }
            ExprKind::Record(fields) => {
                let vals: Vec<&Expr> = fields.iter().map(|(_, v)| v).collect();
                self.first(&vals);
            }
            ExprKind::Unary { operand, .. } => self.expr_if(operand),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.first(&[lhs, rhs]);
            }
            ExprKind::Call { callee, args } => {
                if contains(callee.span, self.off) {
                    self.expr(callee);
                    return;
                }
                for a in args {
                    if contains(a.span, self.off) {
                        match &a.name {
                            Some(n) if contains(n.span, self.off) => {
                                self.hit = Some(Hit::Keyword { callee, name: n });
                            }
                            _ => self.expr_if(&a.value),
                        }
                        return;
                    }
                }
            }
            ExprKind::Field { base, name } => {
                if contains(name.span, self.off) {
                    self.hit = Some(Hit::Field { base, name });
                } else {
                    self.expr_if(base);
                }
            }
            ExprKind::Index { base, indices } => {
                let mut all: Vec<&Expr> = vec![base];
                for i in indices {
                    match i {
                        IndexItem::Expr(x) => all.push(x),
                        IndexItem::Slice { start, end, .. } => {
                            all.extend(start.iter());
                            all.extend(end.iter());
                        }
                    }
                }
                self.first(&all);
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.first(&[cond, then, otherwise]);
            }
            ExprKind::Lambda { params, body } => {
                if !self.params(params) {
                    self.expr_if(body);
                }
            }
            ExprKind::Range { from, to } => {
                self.first(&[from, to]);
            }
            ExprKind::Block(b) => self.block(b, BinderKind::Local),
            ExprKind::Scan(s) => self.scan(s),
        }
    }

    fn expr_if(&mut self, e: &'a Expr) {
        if contains(e.span, self.off) {
            self.expr(e);
        }
    }

    fn scan(&mut self, s: &'a ast::Scan) {
        let loop_binder = |name: &'a Ident, value: Option<&'a Expr>| Binder {
            name,
            kind: BinderKind::Loop,
            value,
            doc: None,
            param: None,
        };
        if contains(s.var.span, self.off) {
            self.hit = Some(Hit::Binding(loop_binder(&s.var, None)));
            return;
        }
        for (name, init) in &s.carries {
            if contains(name.span, self.off) {
                self.hit = Some(Hit::Binding(loop_binder(name, Some(init))));
                return;
            }
            if contains(init.span, self.off) {
                self.expr(init);
                return;
            }
        }
        self.scope.push(loop_binder(&s.var, None));
        for (name, init) in &s.carries {
            self.scope.push(loop_binder(name, Some(init)));
        }
        if contains(s.body.span, self.off) {
            self.block(&s.body, BinderKind::Local);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(src: &str, marker: &str) -> (ast::Module, usize) {
        let m = rlp_syntax::parse(src).unwrap_or_else(|e| panic!("{e}"));
        (m, src.find(marker).unwrap_or_else(|| panic!("{marker}")))
    }

    #[test]
    fn function_bodies_see_their_parameters_and_earlier_bindings() {
        let src = "top = 1\nfn f(a, b: int = 2) {\n  c = a + b\n  d = c * 2\n  d\n}\n";
        let (m, off) = found(src, "c * 2");
        let f = at(&m, off);
        assert!(matches!(f.hit, Some(Hit::Name(id)) if id.name == "c"));
        let names: Vec<&str> = f.scope.iter().map(|b| b.name.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn train_stages_share_a_scope_and_lambdas_bind_parameters() {
        let src = "env = 1\ntrain iterations: 2 {\n  sample batch = 3\n  fit q = map(x -> x + batch, [1])\n}\n";
        let (m, off) = found(src, "x + batch");
        let f = at(&m, off);
        assert!(matches!(f.hit, Some(Hit::Name(id)) if id.name == "x"));
        assert_eq!(f.binder("x").map(|b| b.kind), Some(BinderKind::Param));
        assert_eq!(
            f.binder("batch").map(|b| b.kind),
            Some(BinderKind::TopLevel)
        );
        assert!(f.binder("env").is_some());
        assert!(f.binder("q").is_none());
    }

    #[test]
    fn keywords_fields_and_uses_are_told_apart() {
        let src = "use std.env.cartpole\nenv = cartpole(envs: 4)\nn = env.obs\n";
        let (m, off) = found(src, "envs:");
        assert!(matches!(at(&m, off).hit, Some(Hit::Keyword { name, .. }) if name.name == "envs"));
        let (m, off) = found(src, "obs");
        assert!(matches!(at(&m, off).hit, Some(Hit::Field { name, .. }) if name.name == "obs"));
        let (m, off) = found(src, "cartpole\n");
        assert!(matches!(
            at(&m, off).hit,
            Some(Hit::UsePath { index: 2, .. })
        ));
    }
}
