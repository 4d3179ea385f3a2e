//! The shape of a program, written the same way from the pest parser's AST
//! (`rlp_syntax::ast`) and from a tree-sitter tree, so that the two parsers can be
//! compared: one line per statement or item header and per outermost expression, in
//! source order. Expressions are S-expressions (`(+ a (* b c))`) that show how
//! operators, `if`, lambdas and ranges were grouped; literals are `#` and `str`, types
//! and dimensions are left out. Blocks inside an expression are `{}` there, and their
//! statements follow the expression's line.

use rlp_syntax::ast;
use tree_sitter::Node;

// ---------------------------------------------------------------------------------------
// From the pest AST

pub fn of_module(m: &ast::Module) -> Vec<String> {
    let mut out = Vec::new();
    for item in &m.items {
        match item {
            ast::Item::Use(u) => {
                let target = match &u.target {
                    ast::UseTarget::Path(p) => p
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                    ast::UseTarget::File { .. } => "file".to_string(),
                };
                let names = u.names.as_ref().map(|n| {
                    n.iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                out.push(format!("use {target} {{{}}}", names.unwrap_or_default()));
            }
            ast::Item::Fn(f) => {
                let params: Vec<&str> = f.params.iter().map(|p| p.name.name.as_str()).collect();
                out.push(format!(
                    "fn{} {}({})",
                    if f.public { " pub" } else { "" },
                    f.name.name,
                    params.join(" ")
                ));
                for p in &f.params {
                    if let Some(d) = &p.default {
                        root(d, &mut out);
                    }
                }
                block(&f.body, &mut out);
            }
            ast::Item::Train(t) => {
                out.push(format!("train {}", t.unit.name));
                root(&t.count, &mut out);
                stmts(&t.body, &mut out);
            }
            ast::Item::Stmt(s) => stmt(s, &mut out),
        }
    }
    out
}

fn block(b: &ast::Block, out: &mut Vec<String>) {
    stmts(&b.stmts, out);
    if let Some(v) = &b.value {
        out.push("expr".to_string());
        root(v, out);
    }
}

fn stmts(ss: &[ast::Stmt], out: &mut Vec<String>) {
    for s in ss {
        stmt(s, out);
    }
}

fn stmt(s: &ast::Stmt, out: &mut Vec<String>) {
    use ast::StmtKind as K;
    match &s.kind {
        K::Let { names, value, .. } => {
            let names: Vec<&str> = names.iter().map(|i| i.name.as_str()).collect();
            out.push(format!("let {}", names.join(" ")));
            root(value, out);
        }
        K::Update { place, value } => {
            out.push("update <-".to_string());
            root(place, out);
            root(value, out);
        }
        K::AugAssign { place, op, value } => {
            out.push(format!("update {}=", op.symbol()));
            root(place, out);
            root(value, out);
        }
        K::Minimize { loss, wrt, with } => {
            out.push("minimize".to_string());
            root(loss, out);
            for w in wrt {
                root(w, out);
            }
            root(with, out);
        }
        K::Expr(e) => {
            out.push("expr".to_string());
            root(e, out);
        }
        K::Stage { kind, body, .. } => {
            let label = match kind {
                ast::StageKind::Sample => "sample",
                ast::StageKind::Fit => "fit",
                ast::StageKind::Improve => "improve",
            };
            out.push(format!("stage {label}"));
            stmts(body, out);
        }
        K::Log { entries } => {
            let names: Vec<&str> = entries.iter().map(|(i, _)| i.name.as_str()).collect();
            out.push(format!("log {}", names.join(" ")));
            for (_, e) in entries {
                root(e, out);
            }
        }
        K::Every {
            period,
            unit,
            after,
            body,
        } => {
            out.push(format!("every {}", unit.name));
            root(period, out);
            if let Some(a) = after {
                root(a, out);
            }
            stmts(body, out);
        }
        K::Repeat { count, body } => {
            out.push("repeat".to_string());
            root(count, out);
            stmts(body, out);
        }
        K::For { var, iter, body } => {
            out.push(format!("for {}", var.name));
            root(iter, out);
            stmts(body, out);
        }
    }
}

/// An outermost expression: its line, then the statements of the blocks inside it.
fn root(e: &ast::Expr, out: &mut Vec<String>) {
    let mut blocks = Vec::new();
    out.push(format!("  {}", expr(e, &mut blocks)));
    for b in blocks {
        block(b, out);
    }
}

/// `e` as an S-expression; the blocks inside it are added to `blocks`, in source order.
fn expr<'a>(e: &'a ast::Expr, blocks: &mut Vec<&'a ast::Block>) -> String {
    use ast::ExprKind as K;
    let list = |xs: &'a [ast::Expr], blocks: &mut Vec<&'a ast::Block>| {
        xs.iter()
            .map(|x| expr(x, blocks))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match &e.kind {
        K::Int(_) | K::Float(_) => "#".to_string(),
        K::Bool(b) => b.to_string(),
        K::Str(_) => "str".to_string(),
        K::Name(i) => i.name.clone(),
        K::List(xs) => format!("[{}]", list(xs, blocks)),
        K::Tuple(xs) => format!("(tuple {})", list(xs, blocks)),
        K::Record(fields) => {
            let fs: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{}", k.name, expr(v, blocks)))
                .collect();
            format!("{{{}}}", fs.join(" "))
        }
        K::Unary { op, operand } => {
            let op = match op {
                ast::UnOp::Neg => "neg",
                ast::UnOp::Not => "not",
            };
            format!("({op} {})", expr(operand, blocks))
        }
        K::Binary { op, lhs, rhs } => {
            let l = expr(lhs, blocks);
            let r = expr(rhs, blocks);
            format!("({} {l} {r})", op.symbol())
        }
        K::Call { callee, args } => {
            let f = expr(callee, blocks);
            let args: Vec<String> = args
                .iter()
                .map(|a| match &a.name {
                    Some(k) => format!("{}={}", k.name, expr(&a.value, blocks)),
                    None => expr(&a.value, blocks),
                })
                .collect();
            format!("(call {f} {})", args.join(" "))
        }
        K::Field { base, name } => format!("(. {} {})", expr(base, blocks), name.name),
        K::Index { base, indices } => {
            let b = expr(base, blocks);
            let items: Vec<String> = indices
                .iter()
                .map(|i| match i {
                    ast::IndexItem::Expr(x) => expr(x, blocks),
                    ast::IndexItem::Slice { start, end, .. } => {
                        let s = start.as_ref().map_or("_".to_string(), |x| expr(x, blocks));
                        let e = end.as_ref().map_or("_".to_string(), |x| expr(x, blocks));
                        format!("(: {s} {e})")
                    }
                })
                .collect();
            format!("(idx {b} {})", items.join(" "))
        }
        K::If {
            cond,
            then,
            otherwise,
        } => {
            let c = expr(cond, blocks);
            let t = expr(then, blocks);
            let o = expr(otherwise, blocks);
            format!("(if {c} {t} {o})")
        }
        K::Lambda { params, body } => {
            let ps: Vec<String> = params
                .iter()
                .map(|p| match &p.default {
                    Some(d) => format!("{}={}", p.name.name, expr(d, blocks)),
                    None => p.name.name.clone(),
                })
                .collect();
            format!("(fn ({}) {})", ps.join(" "), expr(body, blocks))
        }
        K::Range { from, to } => {
            let f = expr(from, blocks);
            format!("(range {f} {})", expr(to, blocks))
        }
        K::Block(b) => {
            blocks.push(b);
            "{}".to_string()
        }
        K::Scan(s) => {
            let carries: Vec<String> = s
                .carries
                .iter()
                .map(|(k, v)| format!("{}={}", k.name, expr(v, blocks)))
                .collect();
            blocks.push(&s.body);
            format!(
                "(scan{} {} ({}) {{}})",
                if s.reverse { " reverse" } else { "" },
                s.var.name,
                carries.join(" ")
            )
        }
    }
}

// ---------------------------------------------------------------------------------------
// From a tree-sitter tree

pub struct Tree<'s> {
    pub source: &'s str,
}

impl<'s> Tree<'s> {
    fn text(&self, n: Node) -> &'s str {
        &self.source[n.byte_range()]
    }

    fn named_children<'t>(n: Node<'t>) -> Vec<Node<'t>> {
        let mut c = n.walk();
        n.named_children(&mut c).filter(|c| !c.is_extra()).collect()
    }

    fn fields<'t>(n: Node<'t>, name: &str) -> Vec<Node<'t>> {
        let mut c = n.walk();
        n.children_by_field_name(name, &mut c).collect()
    }

    fn field<'t>(n: Node<'t>, name: &str) -> Node<'t> {
        n.child_by_field_name(name)
            .unwrap_or_else(|| panic!("{} without {name}: {}", n.kind(), n.to_sexp()))
    }

    pub fn of_source_file(&self, root: Node) -> Vec<String> {
        let mut out = Vec::new();
        for item in Self::named_children(root) {
            self.item(item, &mut out);
        }
        out
    }

    fn item(&self, n: Node, out: &mut Vec<String>) {
        match n.kind() {
            "use_declaration" => {
                let path = Self::field(n, "path");
                let target = if path.kind() == "string" {
                    "file".to_string()
                } else {
                    self.text(path)
                        .split('.')
                        .map(str::trim)
                        .collect::<Vec<_>>()
                        .join(".")
                };
                let names = n.child_by_field_name("names").map(|l| {
                    Self::named_children(l)
                        .into_iter()
                        .map(|i| self.text(i))
                        .collect::<Vec<_>>()
                        .join(" ")
                });
                out.push(format!("use {target} {{{}}}", names.unwrap_or_default()));
            }
            "function_declaration" => {
                let params = Self::named_children(Self::field(n, "parameters"));
                let names: Vec<&str> = params
                    .iter()
                    .map(|p| self.text(Self::field(*p, "name")))
                    .collect();
                out.push(format!(
                    "fn{} {}({})",
                    if n.child_by_field_name("visibility").is_some() {
                        " pub"
                    } else {
                        ""
                    },
                    self.text(Self::field(n, "name")),
                    names.join(" ")
                ));
                for p in &params {
                    if let Some(d) = p.child_by_field_name("default") {
                        self.root(d, out);
                    }
                }
                self.block(Self::field(n, "body"), out);
            }
            "train_declaration" => {
                out.push(format!("train {}", self.text(Self::field(n, "setting"))));
                self.root(Self::field(n, "value"), out);
                self.block(Self::field(n, "body"), out);
            }
            _ => self.stmt(n, out),
        }
    }

    fn block(&self, n: Node, out: &mut Vec<String>) {
        assert_eq!(n.kind(), "block");
        for s in Self::named_children(n) {
            self.stmt(s, out);
        }
    }

    fn stmt(&self, n: Node, out: &mut Vec<String>) {
        match n.kind() {
            "let_statement" => {
                let names: Vec<&str> = Self::fields(n, "name")
                    .into_iter()
                    .map(|i| self.text(i))
                    .collect();
                out.push(format!("let {}", names.join(" ")));
                let values = Self::fields(n, "value");
                if values.len() == 1 {
                    self.root(values[0], out);
                } else {
                    // Several values make a tuple.
                    let mut blocks = Vec::new();
                    let items: Vec<String> =
                        values.iter().map(|v| self.expr(*v, &mut blocks)).collect();
                    out.push(format!("  (tuple {})", items.join(" ")));
                    for b in blocks {
                        self.block(b, out);
                    }
                }
            }
            "update_statement" => {
                out.push(format!("update {}", self.text(Self::field(n, "operator"))));
                self.root(Self::field(n, "target"), out);
                self.root(Self::field(n, "value"), out);
            }
            "minimize_statement" => {
                out.push("minimize".to_string());
                self.root(Self::field(n, "loss"), out);
                for w in Self::fields(n, "wrt") {
                    self.root(w, out);
                }
                self.root(Self::field(n, "optimizer"), out);
            }
            "expression_statement" => {
                out.push("expr".to_string());
                self.root(Self::named_children(n)[0], out);
            }
            "stage_statement" => {
                out.push(format!("stage {}", self.text(Self::field(n, "label"))));
                let body = Self::field(n, "body");
                if body.kind() == "block" {
                    self.block(body, out);
                } else {
                    self.stmt(body, out);
                }
            }
            "log_statement" => {
                let entries = Self::named_children(n);
                let names: Vec<&str> = entries
                    .iter()
                    .map(|e| self.text(Self::field(*e, "name")))
                    .collect();
                out.push(format!("log {}", names.join(" ")));
                for e in entries {
                    self.root(Self::field(e, "value"), out);
                }
            }
            "every_statement" => {
                out.push(format!("every {}", self.text(Self::field(n, "unit"))));
                self.root(Self::field(n, "period"), out);
                if let Some(a) = n.child_by_field_name("after") {
                    self.root(a, out);
                }
                self.block(Self::field(n, "body"), out);
            }
            "repeat_statement" => {
                out.push("repeat".to_string());
                self.root(Self::field(n, "count"), out);
                self.block(Self::field(n, "body"), out);
            }
            "for_statement" => {
                out.push(format!("for {}", self.text(Self::field(n, "variable"))));
                self.root(Self::field(n, "iterable"), out);
                self.block(Self::field(n, "body"), out);
            }
            other => panic!("unexpected statement {other}: {}", n.to_sexp()),
        }
    }

    fn root(&self, n: Node, out: &mut Vec<String>) {
        let mut blocks = Vec::new();
        out.push(format!("  {}", self.expr(n, &mut blocks)));
        for b in blocks {
            self.block(b, out);
        }
    }

    fn expr<'t>(&self, n: Node<'t>, blocks: &mut Vec<Node<'t>>) -> String {
        let kids = Self::named_children(n);
        let list = |xs: &[Node<'t>], blocks: &mut Vec<Node<'t>>| {
            xs.iter()
                .map(|x| self.expr(*x, blocks))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match n.kind() {
            "number" => "#".to_string(),
            "string" => "str".to_string(),
            "boolean" | "identifier" => self.text(n).to_string(),
            "parenthesized_expression" => self.expr(kids[0], blocks),
            "tuple" => format!("(tuple {})", list(&kids, blocks)),
            "list" => format!("[{}]", list(&kids, blocks)),
            "record" => {
                let fs: Vec<String> = kids
                    .iter()
                    .map(|f| {
                        let k = self.text(Self::field(*f, "name"));
                        format!("{k}:{}", self.expr(Self::field(*f, "value"), blocks))
                    })
                    .collect();
                format!("{{{}}}", fs.join(" "))
            }
            "unary_expression" => {
                let op = match self.text(Self::field(n, "operator")) {
                    "-" => "neg",
                    other => other,
                };
                format!("({op} {})", self.expr(Self::field(n, "operand"), blocks))
            }
            "binary_expression" => {
                let l = self.expr(Self::field(n, "left"), blocks);
                let r = self.expr(Self::field(n, "right"), blocks);
                format!("({} {l} {r})", self.text(Self::field(n, "operator")))
            }
            "call" => {
                let f = self.expr(Self::field(n, "function"), blocks);
                let args: Vec<String> = Self::named_children(Self::field(n, "arguments"))
                    .into_iter()
                    .map(|a| {
                        let v = self.expr(Self::field(a, "value"), blocks);
                        match a.child_by_field_name("name") {
                            Some(k) => format!("{}={v}", self.text(k)),
                            None => v,
                        }
                    })
                    .collect();
                format!("(call {f} {})", args.join(" "))
            }
            "field_expression" => {
                let b = self.expr(Self::field(n, "value"), blocks);
                format!("(. {b} {})", self.text(Self::field(n, "field")))
            }
            "index_expression" => {
                let b = self.expr(Self::field(n, "value"), blocks);
                let items: Vec<String> = Self::fields(n, "index")
                    .into_iter()
                    .map(|i| {
                        if i.kind() == "slice" {
                            let s = i
                                .child_by_field_name("start")
                                .map_or("_".to_string(), |x| self.expr(x, blocks));
                            let e = i
                                .child_by_field_name("end")
                                .map_or("_".to_string(), |x| self.expr(x, blocks));
                            format!("(: {s} {e})")
                        } else {
                            self.expr(i, blocks)
                        }
                    })
                    .collect();
                format!("(idx {b} {})", items.join(" "))
            }
            "if_expression" => {
                let c = self.expr(Self::field(n, "condition"), blocks);
                let t = self.expr(Self::field(n, "consequence"), blocks);
                let o = self.expr(Self::field(n, "alternative"), blocks);
                format!("(if {c} {t} {o})")
            }
            "lambda" => {
                let ps: Vec<String> = Self::named_children(Self::field(n, "parameters"))
                    .into_iter()
                    .map(|p| {
                        let name = self.text(Self::field(p, "name"));
                        match p.child_by_field_name("default") {
                            Some(d) => format!("{name}={}", self.expr(d, blocks)),
                            None => name.to_string(),
                        }
                    })
                    .collect();
                let body = self.expr(Self::field(n, "body"), blocks);
                format!("(fn ({}) {body})", ps.join(" "))
            }
            "range" => {
                let f = self.expr(Self::field(n, "start"), blocks);
                format!("(range {f} {})", self.expr(Self::field(n, "end"), blocks))
            }
            "block" => {
                blocks.push(n);
                "{}".to_string()
            }
            "scan_expression" => {
                let carries: Vec<String> = Self::named_children(Self::field(n, "carries"))
                    .into_iter()
                    .map(|c| {
                        let k = self.text(Self::field(c, "name"));
                        format!("{k}={}", self.expr(Self::field(c, "value"), blocks))
                    })
                    .collect();
                blocks.push(Self::field(n, "body"));
                format!(
                    "(scan{} {} ({}) {{}})",
                    if n.child_by_field_name("reverse").is_some() {
                        " reverse"
                    } else {
                        ""
                    },
                    self.text(Self::field(n, "variable")),
                    carries.join(" ")
                )
            }
            other => panic!("unexpected expression {other}: {}", n.to_sexp()),
        }
    }
}
