//! Expressions: one line where they fit, otherwise broken after commas (continuation
//! under the first item after the bracket), after binary operators (under the first
//! operand) and around `else`, keeping the breaks the author wrote.

use super::Printer;
use super::source::{find_char, find_word, has_newline, inner_span, width, wrapped_in_parens};
use crate::ast::*;

/// Binding strength, loosest first; a child printed where a tighter one is needed gets
/// parentheses.
pub(super) const LAMBDA: u8 = 1;
pub(super) const IF: u8 = 2;
pub(super) const OR: u8 = 3;
const AND: u8 = 4;
const NOT: u8 = 5;
const CMP: u8 = 6;
const CONCAT: u8 = 7;
const ADD: u8 = 8;
const MUL: u8 = 9;
const NEG: u8 = 10;
const POW: u8 = 11;
pub(super) const POSTFIX: u8 = 12;
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

/// One item of a bracketed, comma-separated sequence.
#[derive(Clone, Copy)]
pub(super) enum Elem<'a> {
    Expr(&'a Expr),
    Arg(&'a Arg),
    /// A record field `name: value`.
    Field(&'a Ident, &'a Expr),
    /// A scan carry `name = init`.
    Carry(&'a Ident, &'a Expr),
    Param(&'a Param),
    Index(&'a IndexItem),
    Name(&'a Ident),
}

impl Elem<'_> {
    fn span(&self) -> (usize, usize) {
        let s = match self {
            Elem::Expr(e) => e.span,
            Elem::Arg(a) => a.span.to(a.value.span),
            Elem::Field(n, e) | Elem::Carry(n, e) => n.span.to(e.span),
            Elem::Param(p) => p.span,
            Elem::Index(IndexItem::Expr(e)) => e.span,
            Elem::Index(IndexItem::Slice { span, .. }) => *span,
            Elem::Name(n) => n.span,
        };
        (s.start as usize, s.end as usize)
    }
}

/// How a sequence may be laid out when it does not fit on one line.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Shape {
    /// `f(a, b` / `c)`: continuation lines under the first item.
    Visual,
    /// A record: `{ a: 1 }`; one field per line with trailing commas when the source
    /// has a trailing comma (or breaks right after `{` in a statement that is broken).
    Record,
}

impl<'s> Printer<'s> {
    /// Prints `e` at the current column; `tail` is the width of what must follow it on
    /// its last line (a comma, closing brackets, ` with opt`).
    pub(super) fn expr(&mut self, e: &Expr, min: u8, tail: usize) {
        // Try one line, unless the author's breaks inside `e` are to be kept.
        let keep_own_breaks = self.keep_breaks && has_newline(&self.src[e.span.range()]);
        if !self.flat && !keep_own_breaks {
            let mut p = Printer::new(self.src, self.comments, true);
            p.expr(e, min, 0);
            if p.failed_at.is_none() && self.fits(width(&p.out) + tail) {
                let text = p.out;
                self.push(&text);
                return;
            }
        }
        if prec(e) < min || wrapped_in_parens(self.src, e) {
            self.push("(");
            self.expr_kind(e, tail + 1);
            self.push(")");
        } else {
            self.expr_kind(e, tail);
        }
    }

    /// The width of `e`'s first line if printed flat, and whether it all fits one line.
    fn first_line(&self, e: &Expr, min: u8) -> (usize, bool) {
        self.measure(|p| p.expr(e, min, 0))
    }

    fn expr_kind(&mut self, e: &Expr, tail: usize) {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {
                let text = &self.src[inner_span(self.src, e).range()];
                self.push(text);
            }
            ExprKind::Bool(b) => self.push(if *b { "true" } else { "false" }),
            ExprKind::Name(i) => self.push(&i.name),
            ExprKind::List(xs) => {
                let elems: Vec<Elem> = xs.iter().map(Elem::Expr).collect();
                let open = inner_span(self.src, e).start as usize;
                self.seq("[", "]", &elems, open, Shape::Visual, tail);
            }
            ExprKind::Tuple(xs) if xs.len() == 1 => {
                self.push("(");
                self.expr(&xs[0], LAMBDA, tail + 2);
                self.push(",)");
            }
            ExprKind::Tuple(xs) => {
                let elems: Vec<Elem> = xs.iter().map(Elem::Expr).collect();
                self.seq("(", ")", &elems, e.span.start as usize, Shape::Visual, tail);
            }
            ExprKind::Record(fs) => {
                let elems: Vec<Elem> = fs.iter().map(|(n, x)| Elem::Field(n, x)).collect();
                let open = inner_span(self.src, e).start as usize;
                self.seq("{", "}", &elems, open, Shape::Record, tail);
            }
            ExprKind::Unary { op, operand } => {
                let (text, min) = match op {
                    UnOp::Neg => ("-", POW),
                    UnOp::Not => ("not ", NOT),
                };
                self.push(text);
                self.expr(operand, min, tail);
            }
            ExprKind::Binary { .. } => self.chain(e, tail),
            ExprKind::Call { callee, args } => {
                self.expr(callee, POSTFIX, 1);
                let elems: Vec<Elem> = args.iter().map(Elem::Arg).collect();
                let open = find_char(
                    self.src,
                    callee.span.end as usize,
                    e.span.end as usize,
                    b'(',
                );
                self.seq("(", ")", &elems, open, Shape::Visual, tail);
            }
            ExprKind::Field { base, name } => {
                self.expr(base, POSTFIX, tail + 1 + width(&name.name));
                self.push(".");
                self.push(&name.name);
            }
            ExprKind::Index { base, indices } => {
                self.expr(base, POSTFIX, 1);
                let elems: Vec<Elem> = indices.iter().map(Elem::Index).collect();
                let open = find_char(self.src, base.span.end as usize, e.span.end as usize, b'[');
                self.seq("[", "]", &elems, open, Shape::Visual, tail);
            }
            ExprKind::If { .. } => self.if_chain(e, tail),
            ExprKind::Lambda { params, body } => {
                match params.as_slice() {
                    [p] if p.ty.is_none() && p.default.is_none() => self.push(&p.name.name),
                    _ => {
                        let elems: Vec<Elem> = params.iter().map(Elem::Param).collect();
                        let open = inner_span(self.src, e).start as usize;
                        self.seq("(", ")", &elems, open, Shape::Visual, 4);
                    }
                }
                self.push(" -> ");
                self.expr(body, LAMBDA, tail);
            }
            ExprKind::Range { from, to } => {
                self.expr(from, OR, 4);
                self.push(" -> ");
                self.expr(to, LAMBDA, tail);
            }
            ExprKind::Block(b) => self.block(b),
            ExprKind::Scan(s) => {
                self.push("scan ");
                if s.reverse {
                    self.push("reverse ");
                }
                self.push(&s.var.name);
                self.push(" in ");
                self.push(&s.length.to_string());
                self.push(" ");
                let elems: Vec<Elem> = s.carries.iter().map(|(n, x)| Elem::Carry(n, x)).collect();
                let open = find_char(
                    self.src,
                    s.length.span.end as usize,
                    e.span.end as usize,
                    b'(',
                );
                self.seq("(", ")", &elems, open, Shape::Visual, 2);
                self.push(" ");
                self.block(&s.body);
            }
        }
    }

    /// Prints one sequence item; `tail` as for [`Printer::expr`].
    pub(super) fn elem(&mut self, el: Elem, tail: usize) {
        match el {
            Elem::Expr(e) => self.expr(e, LAMBDA, tail),
            Elem::Arg(a) => {
                if let Some(n) = &a.name {
                    self.push(&n.name);
                    self.push(": ");
                }
                self.expr(&a.value, LAMBDA, tail);
            }
            Elem::Field(n, e) => {
                self.push(&n.name);
                self.push(": ");
                self.expr(e, LAMBDA, tail);
            }
            Elem::Carry(n, e) => {
                self.push(&n.name);
                self.push(" = ");
                self.expr(e, LAMBDA, tail);
            }
            Elem::Param(p) => {
                self.push(&p.name.name);
                if let Some(t) = &p.ty {
                    self.push(": ");
                    self.push(&type_text(t));
                }
                if let Some(d) = &p.default {
                    self.push(" = ");
                    self.expr(d, LAMBDA, tail);
                }
            }
            Elem::Index(IndexItem::Expr(x)) => self.expr(x, LAMBDA, tail),
            Elem::Index(IndexItem::Slice { start, end, .. }) => {
                if let Some(x) = start {
                    self.expr(x, LAMBDA, tail + 1);
                }
                self.push(":");
                if let Some(x) = end {
                    self.expr(x, LAMBDA, tail);
                }
            }
            Elem::Name(n) => self.push(&n.name),
        }
    }

    /// A bracketed, comma-separated sequence. `open_pos` is the source position of the
    /// opening bracket (to see whether the author broke the line right after it).
    pub(super) fn seq(
        &mut self,
        open: &str,
        close: &str,
        elems: &[Elem],
        open_pos: usize,
        shape: Shape,
        tail: usize,
    ) {
        self.push(open);
        let Some(first) = elems.first() else {
            self.push(close);
            return;
        };
        let (first_start, _) = first.span();
        let last_end = elems[elems.len() - 1].span().1;
        let broken_after_open =
            self.keep_breaks && has_newline(&self.src[open_pos.min(first_start)..first_start]);
        let trailing_comma = shape == Shape::Record && self.has_trailing_comma(last_end, close);
        if trailing_comma || broken_after_open {
            if self.flat {
                self.fail();
                return;
            }
            self.seq_vertical(close, elems, shape, trailing_comma, tail);
            return;
        }
        let spaced = shape == Shape::Record;
        if spaced {
            self.push(" ");
        }
        let align = self.col;
        let mut prev_end = first_start;
        let mut prev_multiline = false;
        for (i, &el) in elems.iter().enumerate() {
            let last = i + 1 == elems.len();
            let el_tail = if last {
                width(close) + usize::from(spaced) + tail
            } else {
                1
            };
            let (start, end) = el.span();
            if i > 0 {
                self.push(",");
                let author = self.keep_breaks && has_newline(&self.src[prev_end.min(start)..start]);
                let (w, whole) = self.measure(|p| p.elem(el, 0));
                let need = 1 + w + if whole { el_tail } else { 0 };
                if author || prev_multiline || !self.fits(need) {
                    self.newline_at(align);
                } else {
                    self.push(" ");
                }
            }
            let before = self.lines;
            self.elem(el, el_tail);
            prev_multiline = self.lines != before;
            prev_end = end;
        }
        if spaced {
            self.push(" ");
        }
        self.push(close);
    }

    /// One item per line, two columns in from the line that opens the sequence. A
    /// record closes on a line of its own (its last field keeps the source's trailing
    /// comma, or lack of one); a call or a list closes right after its last item.
    fn seq_vertical(
        &mut self,
        close: &str,
        elems: &[Elem],
        shape: Shape,
        trailing_comma: bool,
        tail: usize,
    ) {
        let base = self.indent;
        for (i, &el) in elems.iter().enumerate() {
            let last = i + 1 == elems.len();
            self.newline_at(base + 2);
            if !last || trailing_comma {
                self.elem(el, 1);
                self.push(",");
            } else if shape == Shape::Record {
                self.elem(el, 0);
            } else {
                self.elem(el, width(close) + tail);
            }
        }
        if shape == Shape::Record {
            self.newline_at(base);
        }
        self.push(close);
    }

    /// Whether a `,` follows the last item before the closing bracket in the source.
    fn has_trailing_comma(&self, last_end: usize, close: &str) -> bool {
        let close_pos = find_char(self.src, last_end, self.src.len(), close.as_bytes()[0]);
        self.src[last_end..close_pos].contains(',')
    }

    /// A chain of binary operators of one precedence, `a - b + c`: broken after an
    /// operator, the next operand under the first.
    fn chain(&mut self, e: &Expr, tail: usize) {
        let (operands, ops) = self.flatten_chain(e);
        let p = binop_prec(ops[0]);
        let start = self.col;
        for (i, operand) in operands.iter().enumerate() {
            let last = i + 1 == operands.len();
            let min = match ops[0] {
                BinOp::Pow if i == 0 => p + 1,
                BinOp::Pow => p,
                _ if p == CMP => p + 1,
                _ if i == 0 => p,
                _ => p + 1,
            };
            let op_tail = |k: usize| {
                if k < ops.len() {
                    1 + ops[k].symbol().len()
                } else {
                    tail
                }
            };
            if i > 0 {
                self.push(" ");
                self.push(ops[i - 1].symbol());
                let gap = operands[i - 1].span.end as usize..operand.span.start as usize;
                let author = self.keep_breaks && has_newline(&self.src[gap]);
                let (w, whole) = self.first_line(operand, min);
                let need = 1 + w + if whole { op_tail(i) } else { 0 };
                if author || !self.fits(need) {
                    self.newline_at(start);
                } else {
                    self.push(" ");
                }
            }
            self.expr(operand, min, if last { tail } else { op_tail(i) });
        }
    }

    /// The operands and operators of a left-associative chain of one precedence level
    /// (comparisons and `**` are not chained).
    fn flatten_chain<'e>(&self, e: &'e Expr) -> (Vec<&'e Expr>, Vec<BinOp>) {
        let mut rhs_rev = vec![];
        let mut ops_rev = vec![];
        let mut cur = e;
        let ExprKind::Binary { op: first_op, .. } = &e.kind else {
            unreachable!("chain of a binary expression")
        };
        let level = binop_prec(*first_op);
        while let ExprKind::Binary { op, lhs, rhs } = &cur.kind {
            rhs_rev.push(&**rhs);
            ops_rev.push(*op);
            let chains = level != CMP && level != POW;
            let same = matches!(&lhs.kind, ExprKind::Binary { op, .. } if binop_prec(*op) == level);
            if chains && same && !wrapped_in_parens(self.src, lhs) {
                cur = lhs;
            } else {
                rhs_rev.push(&**lhs);
                break;
            }
        }
        rhs_rev.reverse();
        ops_rev.reverse();
        (rhs_rev, ops_rev)
    }

    /// `if c then a else if d then b else e`: broken before an `else` (under the first
    /// `if`), or where the author broke it after `then` or `else`.
    fn if_chain(&mut self, e: &Expr, tail: usize) {
        let if_col = self.col;
        let mut cur = e;
        loop {
            let ExprKind::If {
                cond,
                then,
                otherwise,
            } = &cur.kind
            else {
                unreachable!("if_chain of an if")
            };
            let then_kw = find_word(
                self.src,
                cond.span.end as usize,
                then.span.start as usize,
                "then",
            );
            let then_broken =
                self.keep_breaks && has_newline(&self.src[then_kw + 4..then.span.start as usize]);
            // The condition leaves room for ` then` and, on the same line, the `then`
            // arm's first line.
            let cond_tail = if then_broken {
                5
            } else {
                6 + self.first_line(then, OR).0
            };
            self.push("if ");
            self.expr(cond, OR, cond_tail);
            self.push(" then");
            if then_broken {
                self.newline_at(if_col + 2);
            } else {
                self.push(" ");
            }
            self.expr(then, OR, 5);
            let (then_end, other_start) = (then.span.end as usize, otherwise.span.start as usize);
            let else_kw = find_word(self.src, then_end, other_start, "else").max(then_end);
            let author_before = self.keep_breaks && has_newline(&self.src[then_end..else_kw]);
            let after = (else_kw + 4).min(other_start);
            let author_after = self.keep_breaks && has_newline(&self.src[after..other_start]);
            let next_if = matches!(otherwise.kind, ExprKind::If { .. })
                && !wrapped_in_parens(self.src, otherwise);
            let need = if author_after {
                5
            } else if next_if {
                6 + self.if_link_width(otherwise)
            } else {
                let (w, whole) = self.first_line(otherwise, LAMBDA);
                6 + w + if whole { tail } else { 0 }
            };
            if then_broken || author_before || !self.fits(need) {
                self.newline_at(if_col);
                self.push("else");
            } else {
                self.push(" else");
            }
            if next_if {
                self.push(" ");
                cur = otherwise;
                continue;
            }
            if author_after {
                self.newline_at(if_col + if then_broken { 2 } else { 0 });
            } else {
                self.push(" ");
            }
            self.expr(otherwise, LAMBDA, tail);
            return;
        }
    }

    /// The width of `if c then a` on one line.
    fn if_link_width(&self, e: &Expr) -> usize {
        let ExprKind::If { cond, then, .. } = &e.kind else {
            return 0;
        };
        self.measure(|p| {
            p.push("if ");
            p.expr(cond, OR, 0);
            p.push(" then ");
            p.expr(then, OR, 0);
        })
        .0
    }

    /// A block expression: on one line if the author wrote it so and it fits (the
    /// caller has tried that), otherwise its statements one per line.
    pub(super) fn block(&mut self, b: &Block) {
        let one_line = !has_newline(&self.src[b.span.range()]);
        let list = super::stmts::block_entries(b);
        self.braced(&list, b.span.end as usize, self.flat && one_line, true);
    }
}

/// A written type, `[T, N] bool`.
pub(super) fn type_text(t: &TypeExpr) -> String {
    match &t.kind {
        TypeKind::Named(n) => n.name.clone(),
        TypeKind::Tensor { dims, dtype } => {
            let d = dims
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            match dtype {
                Some(i) => format!("[{d}] {}", i.name),
                None => format!("[{d}]"),
            }
        }
    }
}
