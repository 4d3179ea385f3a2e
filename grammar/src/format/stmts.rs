//! Items and statements: one per line, blank lines and comments where the author put
//! them, `=` aligned in groups of bindings, stage keywords in a column in `train`.

use super::Printer;
use super::exprs::{Elem, IF, LAMBDA, POSTFIX, Shape, type_text};
use super::source::{column_of, find_char, find_word, has_blank_line, has_newline, width};
use crate::ast::*;

/// Something printed on a line of its own in a statement list.
#[derive(Clone, Copy)]
pub(super) enum Entry<'a> {
    Item(&'a Item),
    Stmt(&'a Stmt),
    /// The value at the end of a block.
    Value(&'a Expr),
}

impl Entry<'_> {
    fn span(&self) -> (usize, usize) {
        let s = match *self {
            Entry::Item(Item::Use(u)) => u.span,
            Entry::Item(Item::Fn(f)) => f.span,
            Entry::Item(Item::Stmt(s)) | Entry::Stmt(s) => s.span,
            Entry::Item(Item::Train(t)) => t.span,
            Entry::Value(e) => e.span,
        };
        (s.start as usize, s.end as usize)
    }

    fn stmt(&self) -> Option<&Stmt> {
        match *self {
            Entry::Item(Item::Stmt(s)) | Entry::Stmt(s) => Some(s),
            _ => None,
        }
    }

    /// A stage statement or `log`: starts at the label column of a `train` block.
    fn labelled(&self) -> bool {
        self.stmt()
            .is_some_and(|s| matches!(s.kind, StmtKind::Stage { .. } | StmtKind::Log { .. }))
    }
}

/// The kind of statement list, which decides alignment.
#[derive(Clone, Copy, PartialEq)]
enum List {
    /// The file's items: bindings align their `=`.
    Top,
    /// A `train` body: labels padded to `label` columns, bindings aligned.
    Train { label: usize },
    /// Any other body (functions, lambdas, loops): no alignment.
    Block,
}

impl<'s> Printer<'s> {
    pub(super) fn module(&mut self, m: &Module) {
        let entries: Vec<Entry> = m.items.iter().map(Entry::Item).collect();
        self.entries(&entries, 0, List::Top, self.src.len() + 1);
    }

    /// Prints a statement list at `indent`, with the comments up to `end` (the end of
    /// the list's enclosing braces).
    fn entries(&mut self, list: &[Entry], indent: usize, kind: List, end: usize) {
        let verbatim: Vec<bool> = list.iter().map(|e| self.has_inner_comment(e)).collect();
        let joined = self.joins(list, indent, kind, &verbatim);
        let pads = self.pads(list, kind, &joined, &verbatim);
        let mut prev_end: Option<usize> = None;
        for (i, en) in list.iter().enumerate() {
            let (start, stop) = en.span();
            let col = match kind {
                List::Train { label } if !en.labelled() => indent + label,
                _ => indent,
            };
            if joined[i] {
                self.push("; ");
            } else {
                self.blank_before(prev_end, start);
                self.comments_before(start, col);
                self.line_at(col);
            }
            if verbatim[i] {
                self.verbatim(start, stop);
            } else {
                self.entry(*en, pads[i], kind);
            }
            match list.get(i + 1) {
                Some(_) if joined[i + 1] => {}
                Some(next) => self.trailing_after(stop, next.span().0),
                None => self.trailing_after(stop, end),
            }
            prev_end = Some(stop);
        }
        self.blank_before(prev_end, end.min(self.src.len()));
        self.comments_before(end, indent);
        if kind != List::Top && self.out.ends_with("\n\n") {
            self.out.pop();
        }
    }

    /// A blank line where the source has one between `prev_end` and the comments or
    /// statement before `start`.
    fn blank_before(&mut self, prev_end: Option<usize>, start: usize) {
        let Some(p) = prev_end else { return };
        let upto = self.first_comment_or(start);
        if upto > p && has_blank_line(&self.src[p..upto]) {
            self.blank_line();
        }
    }

    /// Where the own-line comments before `pos` begin.
    fn first_comment_or(&self, pos: usize) -> usize {
        self.comments[self.next..]
            .iter()
            .take_while(|c| c.pos < pos)
            .find(|c| !c.trailing)
            .map_or(pos, |c| c.pos)
    }

    /// Prints the comments before `pos`, each on its own line at `col`, keeping a blank
    /// line that follows one.
    fn comments_before(&mut self, pos: usize, col: usize) {
        while let Some(c) = self.comments.get(self.next).filter(|c| c.pos < pos) {
            self.next += 1;
            self.line_at(col);
            self.push(&c.text);
            self.end_line();
            let end = c.pos + c.text.len();
            let upto = self
                .comments
                .get(self.next)
                .map_or(pos, |n| n.pos.min(pos))
                .min(self.src.len());
            if upto > end && has_blank_line(&self.src[end..upto]) {
                self.blank_line();
            }
        }
    }

    /// A comment after the code that ends at `end`, on the same source line and before
    /// `limit`: it keeps its column, or its distance from the code if the code now
    /// reaches past that column.
    fn trailing_after(&mut self, end: usize, limit: usize) {
        let line_end = self.src[end..]
            .find(['\n', '\r'])
            .map_or(self.src.len(), |k| end + k);
        let Some(c) = self.comments.get(self.next) else {
            return;
        };
        if !(c.trailing && c.pos >= end && c.pos < line_end && c.pos < limit) {
            return;
        }
        let code_end = self.src[..c.pos].trim_end().len();
        let gap = width(&self.src[code_end..c.pos]).max(1);
        let at = column_of(self.src, c.pos).max(self.col + gap);
        self.spaces(at - self.col);
        self.push(&c.text);
        self.next += 1;
    }

    /// Copies a statement that has a comment inside it as written, shifted to the
    /// current column.
    fn verbatim(&mut self, start: usize, stop: usize) {
        let shift = self.col as isize - column_of(self.src, start) as isize;
        for (i, line) in self.src[start..stop].split('\n').enumerate() {
            let line = line.trim_end();
            if i == 0 {
                self.push(line);
                continue;
            }
            let text = line.trim_start();
            let lead = width(line) - width(text);
            if text.is_empty() {
                self.end_line();
            } else {
                self.newline_at((lead as isize + shift).max(0) as usize);
                self.push(text);
            }
        }
        while self.comments.get(self.next).is_some_and(|c| c.pos < stop) {
            self.next += 1;
        }
    }

    /// Whether a comment lies inside the entry outside the bodies of its blocks (those
    /// are printed statement by statement, with their comments).
    fn has_inner_comment(&self, en: &Entry) -> bool {
        let (start, stop) = en.span();
        let mut bodies = vec![];
        match *en {
            Entry::Item(Item::Fn(f)) => bodies.push(f.body.span.range()),
            Entry::Item(Item::Train(t)) => bodies.push(t.count.span.end as usize..stop),
            Entry::Item(Item::Stmt(s)) | Entry::Stmt(s) => stmt_bodies(s, &mut bodies),
            Entry::Value(e) => expr_bodies(e, &mut bodies),
            Entry::Item(Item::Use(_)) => {}
        }
        self.comments[self.next..]
            .iter()
            .take_while(|c| c.pos < stop)
            .any(|c| c.pos >= start && !bodies.iter().any(|b| b.contains(&c.pos)))
    }

    /// Which entries stay on the line of the one before (`a = 1; b = 2` in the
    /// source, and the line still fits).
    fn joins(&self, list: &[Entry], indent: usize, kind: List, verbatim: &[bool]) -> Vec<bool> {
        let mut joined = vec![false; list.len()];
        let mut line = None;
        for (i, en) in list.iter().enumerate() {
            let (w, whole) = self.measure(|p| p.entry(*en, 0, kind));
            let start = en.span().0;
            if i > 0 && !verbatim[i] && !verbatim[i - 1] {
                let prev_end = list[i - 1].span().1;
                let same_line = !has_newline(&self.src[prev_end.min(start)..start]);
                if let Some(used) =
                    line.filter(|&u: &usize| same_line && whole && u + 2 + w <= super::WIDTH)
                {
                    joined[i] = true;
                    line = Some(used + 2 + w);
                    continue;
                }
            }
            let col = match kind {
                List::Train { label } if !en.labelled() => indent + label,
                _ => indent,
            };
            line = whole.then_some(col + w);
        }
        joined
    }

    /// The width each entry's left-hand side is padded to: consecutive bindings (with
    /// no blank line or own-line comment between them) align their `=`.
    fn pads(&self, list: &[Entry], kind: List, joined: &[bool], verbatim: &[bool]) -> Vec<usize> {
        let lhs: Vec<Option<usize>> = list
            .iter()
            .enumerate()
            .map(|(i, en)| {
                let alone =
                    !verbatim[i] && !joined[i] && !joined.get(i + 1).copied().unwrap_or(false);
                let s = match (kind, en) {
                    (List::Top, Entry::Item(Item::Stmt(s))) => s,
                    (List::Train { .. }, Entry::Stmt(s)) => match &s.kind {
                        StmtKind::Stage { body, .. } if body.len() == 1 => &body[0],
                        _ => s,
                    },
                    _ => return None,
                };
                if alone { self.lhs_width(s) } else { None }
            })
            .collect();
        let mut pads = vec![0; list.len()];
        let mut i = 0;
        while i < list.len() {
            if lhs[i].is_none() {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < list.len()
                && lhs[j].is_some()
                && !self.separates(list[j - 1].span().1, list[j].span().0)
            {
                j += 1;
            }
            let w = (i..j).filter_map(|k| lhs[k]).max().unwrap_or(0);
            pads[i..j].fill(w);
            i = j;
        }
        pads
    }

    /// Whether a blank line or an own-line comment lies between two statements.
    fn separates(&self, prev_end: usize, start: usize) -> bool {
        has_blank_line(&self.src[prev_end.min(start)..start])
            || self
                .comments
                .iter()
                .any(|c| !c.trailing && c.pos >= prev_end && c.pos < start)
    }

    /// The width of a binding's left-hand side, for alignment; `None` for statements
    /// that are not bindings.
    fn lhs_width(&self, s: &Stmt) -> Option<usize> {
        match &s.kind {
            StmtKind::Let { names, .. } => Some(width(&names_text(names))),
            StmtKind::Update { place, .. } => {
                let (w, whole) = self.measure(|p| p.expr(place, POSTFIX, 0));
                whole.then_some(w)
            }
            _ => None,
        }
    }

    /// One entry, deciding first whether it fits on one line (then the author's line
    /// breaks in it are joined) or not (then they are kept).
    fn entry(&mut self, en: Entry, pad: usize, kind: List) {
        if !self.flat && !matches!(en, Entry::Item(Item::Fn(_) | Item::Train(_))) {
            let (w, whole) = self.measure(|p| p.entry(en, pad, kind));
            self.keep_breaks = !(whole && self.fits(w));
        }
        let label = match kind {
            List::Train { label } => label,
            _ => 0,
        };
        match en {
            Entry::Item(Item::Use(u)) => self.use_decl(u),
            Entry::Item(Item::Fn(f)) => self.fn_decl(f),
            Entry::Item(Item::Train(t)) => self.train(t),
            Entry::Item(Item::Stmt(s)) | Entry::Stmt(s) => self.stmt(s, pad, label),
            Entry::Value(e) => self.expr(e, 0, 0),
        }
    }

    fn use_decl(&mut self, u: &Use) {
        self.push("use ");
        let target_end = match &u.target {
            UseTarget::Path(p) => {
                let names: Vec<&str> = p.iter().map(|i| i.name.as_str()).collect();
                self.push(&names.join("."));
                p.last().map_or(u.span.start, |i| i.span.end)
            }
            UseTarget::File { span, .. } => {
                let text = &self.src[span.range()];
                self.push(text);
                span.end
            }
        };
        if let Some(ns) = &u.names {
            self.push(".");
            let elems: Vec<Elem> = ns.iter().map(Elem::Name).collect();
            let open = find_char(self.src, target_end as usize, u.span.end as usize, b'{');
            self.seq("{", "}", &elems, open, Shape::Visual, 0);
        }
    }

    fn fn_decl(&mut self, f: &FnDecl) {
        if !self.flat {
            let (w, whole) = self.measure(|p| p.signature(f));
            self.keep_breaks = !(whole && self.fits(w + 2));
        }
        let base = self.indent;
        self.signature(f);
        self.push(" ");
        // The body indents from the `fn` line, however the signature was broken.
        self.indent = base;
        let body = block_entries(&f.body);
        let end = f.body.span.end as usize;
        let one_line = !has_newline(&self.src[f.body.span.range()]);
        let inline = one_line && {
            let (w, whole) = self.measure(|p| p.braced(&body, end, true, false));
            whole && self.fits(w)
        };
        self.braced(&body, end, inline, false);
    }

    /// `pub fn name(params) -> type`; parameters continue under the first one.
    fn signature(&mut self, f: &FnDecl) {
        if f.public {
            self.push("pub ");
        }
        self.push("fn ");
        self.push(&f.name.name);
        let ret = f
            .ret
            .as_ref()
            .map(|t| format!(" -> {}", type_text(t)))
            .unwrap_or_default();
        let elems: Vec<Elem> = f.params.iter().map(Elem::Param).collect();
        let open = find_char(
            self.src,
            f.name.span.end as usize,
            f.body.span.start as usize,
            b'(',
        );
        self.seq("(", ")", &elems, open, Shape::Visual, width(&ret) + 2);
        self.push(&ret);
    }

    fn train(&mut self, t: &Train) {
        self.keep_breaks = false;
        self.push("train ");
        self.push(&t.unit.name);
        self.push(": ");
        self.expr(&t.count, 0, 2);
        self.push(" ");
        let body: Vec<Entry> = t.body.iter().map(Entry::Stmt).collect();
        let end = t.span.end as usize;
        if !has_newline(&self.src[t.span.range()]) {
            let (w, whole) = self.measure(|p| p.braced(&body, end, true, false));
            if whole && self.fits(w) {
                self.braced(&body, end, true, false);
                return;
            }
        }
        self.push("{");
        let label = label_width(&t.body);
        let base = self.indent;
        self.entries(&body, base + 2, List::Train { label }, end);
        self.line_at(base);
        self.push("}");
    }

    /// A statement; `pad` is the width its left-hand side is padded to, `label` the
    /// column stage keywords are padded to (0 outside `train`).
    fn stmt(&mut self, s: &Stmt, pad: usize, label: usize) {
        let base = self.indent;
        match &s.kind {
            StmtKind::Let { names, value, .. } => {
                let lhs = names_text(names);
                self.push(&lhs);
                self.spaces(pad.saturating_sub(width(&lhs)));
                self.push(" = ");
                match &value.kind {
                    ExprKind::Tuple(items) if names.len() > 1 => {
                        let elems: Vec<Elem> = items.iter().map(Elem::Expr).collect();
                        self.seq("", "", &elems, value.span.start as usize, Shape::Visual, 0);
                    }
                    _ => self.expr(value, 0, 0),
                }
            }
            StmtKind::Update { place, value } => {
                let before = self.col;
                self.expr(place, POSTFIX, 3);
                self.spaces(pad.saturating_sub(self.col - before));
                self.push(" <- ");
                self.expr(value, 0, 0);
            }
            StmtKind::AugAssign { place, op, value } => {
                self.expr(place, POSTFIX, 4);
                self.push(&format!(" {}= ", op.symbol()));
                self.expr(value, 0, 0);
            }
            StmtKind::Minimize { loss, wrt, with } => self.minimize(loss, wrt, with),
            StmtKind::Log { entries } => {
                self.label("log", label);
                self.log(entries);
            }
            StmtKind::Expr(e) => self.expr(e, 0, 0),
            StmtKind::Stage { kind, body, .. } => {
                self.label(stage_word(*kind), label);
                match body.as_slice() {
                    [one] if !matches!(one.kind, StmtKind::Stage { .. }) => {
                        self.stmt(one, pad, label)
                    }
                    _ => self.stmt_body(s, body, base),
                }
            }
            StmtKind::Every {
                period,
                unit,
                after,
                body,
            } => {
                self.push("every ");
                self.expr(period, 0, 0);
                self.push(" ");
                self.push(&unit.name);
                if let Some(a) = after {
                    self.push(" after ");
                    self.expr(a, 0, 0);
                }
                self.push(" ");
                self.stmt_body(s, body, base);
            }
            StmtKind::Repeat { count, body } => {
                self.push("repeat ");
                self.expr(count, 0, 2);
                self.push(" ");
                self.stmt_body(s, body, base);
            }
            StmtKind::For { var, iter, body } => {
                self.push("for ");
                self.push(&var.name);
                self.push(" in ");
                self.expr(iter, 0, 2);
                self.push(" ");
                self.stmt_body(s, body, base);
            }
        }
    }

    /// A stage keyword (or `log`) padded to the label column.
    fn label(&mut self, word: &str, label: usize) {
        self.push(word);
        self.spaces(label.saturating_sub(word.len()).max(1));
    }

    /// `minimize LOSS [wrt a, b] with OPT`, broken before `with` (under the loss) when
    /// it does not fit.
    fn minimize(&mut self, loss: &Expr, wrt: &[Expr], with: &Expr) {
        self.push("minimize ");
        let loss_col = self.col;
        let (with_w, _) = self.measure(|p| p.expr(with, IF, 0));
        let wrt_w = if wrt.is_empty() {
            0
        } else {
            self.measure(|p| p.wrt(wrt)).0
        };
        self.expr(loss, IF, wrt_w + 6 + with_w);
        self.wrt(wrt);
        let last_end = wrt.last().map_or(loss.span.end, |w| w.span.end) as usize;
        let with_start = with.span.start as usize;
        let with_kw = find_word(self.src, last_end, with_start, "with").max(last_end);
        let author = self.keep_breaks && has_newline(&self.src[last_end..with_kw]);
        if author || !self.fits(6 + with_w) {
            self.newline_at(loss_col);
            self.push("with ");
        } else {
            self.push(" with ");
        }
        self.expr(with, IF, 0);
    }

    fn wrt(&mut self, wrt: &[Expr]) {
        if wrt.is_empty() {
            return;
        }
        self.push(" wrt ");
        for (i, w) in wrt.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.expr(w, LAMBDA + 1, 0);
        }
    }

    /// `log a = x, b = y` on one line if it fits, else one entry per line with the `=`
    /// aligned.
    fn log(&mut self, entries: &[(Ident, Expr)]) {
        let flat = |p: &mut Printer| {
            for (i, (n, v)) in entries.iter().enumerate() {
                if i > 0 {
                    p.push(", ");
                }
                p.push(&n.name);
                p.push(" = ");
                p.expr(v, LAMBDA, 0);
            }
        };
        let (w, whole) = self.measure(flat);
        if whole && self.fits(w) {
            flat(self);
            return;
        }
        let col = self.col;
        let names = entries
            .iter()
            .map(|(n, _)| width(&n.name))
            .max()
            .unwrap_or(0);
        for (i, (n, v)) in entries.iter().enumerate() {
            if i > 0 {
                self.push(",");
                self.newline_at(col);
            }
            self.push(&n.name);
            self.spaces(names - width(&n.name));
            self.push(" = ");
            self.expr(v, LAMBDA, usize::from(i + 1 < entries.len()));
        }
    }

    /// The braced body of `every`, `repeat`, `for` or a stage: on one line if the
    /// author wrote the statement on one line and it fits.
    fn stmt_body(&mut self, s: &Stmt, body: &[Stmt], base: usize) {
        let one_line = !has_newline(&self.src[s.span.range()]);
        let inline = one_line && (self.flat || !self.keep_breaks);
        let entries: Vec<Entry> = body.iter().map(Entry::Stmt).collect();
        self.indent = base;
        // A block of stages (an `every` inside `train`) lays them out as `train` does.
        let kind = match label_width(body) {
            0 => List::Block,
            label => List::Train { label },
        };
        self.braced_as(&entries, s.span.end as usize, inline, false, kind);
    }

    /// `{ a; b }` on one line (`inline`), or `{`, the statements one level in, `}`.
    /// `value_block`: a block expression, where `{}` would read as a record.
    pub(super) fn braced(&mut self, list: &[Entry], end: usize, inline: bool, value_block: bool) {
        self.braced_as(list, end, inline, value_block, List::Block);
    }

    /// [`Printer::braced`] with the statements laid out as a list of `kind`.
    fn braced_as(
        &mut self,
        list: &[Entry],
        end: usize,
        inline: bool,
        value_block: bool,
        kind: List,
    ) {
        if list.is_empty() {
            self.push(if value_block { "{;}" } else { "{}" });
            return;
        }
        self.push("{");
        if inline {
            self.push(" ");
            for (i, en) in list.iter().enumerate() {
                if i > 0 {
                    self.push("; ");
                }
                match en {
                    Entry::Stmt(s) => self.stmt(s, 0, 0),
                    Entry::Value(e) => self.expr(e, 0, 0),
                    Entry::Item(_) => {}
                }
            }
            self.push(" }");
            return;
        }
        if self.flat {
            self.fail();
            return;
        }
        let base = self.indent;
        let keep = self.keep_breaks;
        self.entries(list, base + 2, kind, end);
        self.keep_breaks = keep;
        self.line_at(base);
        self.push("}");
    }
}

/// A block's statements and value as entries.
pub(super) fn block_entries(b: &Block) -> Vec<Entry<'_>> {
    let mut list: Vec<Entry> = b.stmts.iter().map(Entry::Stmt).collect();
    if let Some(v) = &b.value {
        list.push(Entry::Value(v));
    }
    list
}

fn names_text(names: &[Ident]) -> String {
    names
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn stage_word(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Sample => "sample",
        StageKind::Fit => "fit",
        StageKind::Improve => "improve",
    }
}

/// The source ranges of the statement lists inside `s` (printed with their comments).
fn stmt_bodies(s: &Stmt, out: &mut Vec<std::ops::Range<usize>>) {
    let end = s.span.end as usize;
    let mut exprs: Vec<&Expr> = vec![];
    match &s.kind {
        StmtKind::Let { value, .. } | StmtKind::Expr(value) => exprs.push(value),
        StmtKind::Update { place, value } | StmtKind::AugAssign { place, value, .. } => {
            exprs.extend([place, value])
        }
        StmtKind::Minimize { loss, wrt, with } => {
            exprs.push(loss);
            exprs.extend(wrt);
            exprs.push(with);
        }
        StmtKind::Log { entries } => exprs.extend(entries.iter().map(|(_, e)| e)),
        StmtKind::Stage {
            body, kind_span, ..
        } => match body.as_slice() {
            [one] if !matches!(one.kind, StmtKind::Stage { .. }) => stmt_bodies(one, out),
            _ => out.push(kind_span.end as usize..end),
        },
        StmtKind::Every {
            period,
            unit,
            after,
            ..
        } => {
            let head = after.as_ref().map_or(unit.span.end, |a| a.span.end);
            out.push(head as usize..end);
            exprs.push(period);
        }
        StmtKind::Repeat { count, .. } => out.push(count.span.end as usize..end),
        StmtKind::For { iter, .. } => out.push(iter.span.end as usize..end),
    }
    for e in exprs {
        expr_bodies(e, out);
    }
}

/// The source ranges of the blocks inside `e`.
fn expr_bodies(e: &Expr, out: &mut Vec<std::ops::Range<usize>>) {
    match &e.kind {
        ExprKind::Block(b) => out.push(b.span.range()),
        ExprKind::Scan(s) => {
            out.push(s.body.span.range());
            for (_, x) in &s.carries {
                expr_bodies(x, out);
            }
        }
        ExprKind::List(xs) | ExprKind::Tuple(xs) => xs.iter().for_each(|x| expr_bodies(x, out)),
        ExprKind::Record(fs) => fs.iter().for_each(|(_, x)| expr_bodies(x, out)),
        ExprKind::Unary { operand, .. } => expr_bodies(operand, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr_bodies(lhs, out);
            expr_bodies(rhs, out);
        }
        ExprKind::Call { callee, args } => {
            expr_bodies(callee, out);
            args.iter().for_each(|a| expr_bodies(&a.value, out));
        }
        ExprKind::Field { base, .. } => expr_bodies(base, out),
        ExprKind::Index { base, indices } => {
            expr_bodies(base, out);
            for i in indices {
                match i {
                    IndexItem::Expr(x) => expr_bodies(x, out),
                    IndexItem::Slice { start, end, .. } => start
                        .iter()
                        .chain(end.iter())
                        .for_each(|x| expr_bodies(x, out)),
                }
            }
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            expr_bodies(cond, out);
            expr_bodies(then, out);
            expr_bodies(otherwise, out);
        }
        ExprKind::Lambda { params, body } => {
            params
                .iter()
                .filter_map(|p| p.default.as_ref())
                .for_each(|d| expr_bodies(d, out));
            expr_bodies(body, out);
        }
        ExprKind::Range { from, to } => {
            expr_bodies(from, out);
            expr_bodies(to, out);
        }
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Str(_) => {}
        ExprKind::Name(_) => {}
    }
}

/// The column width of the stage labels in a statement list (the longest stage keyword
/// or `log`, plus a space), 0 when it has none.
fn label_width(body: &[Stmt]) -> usize {
    body.iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Stage { kind, .. } => Some(stage_word(*kind).len() + 1),
            StmtKind::Log { .. } => Some(4),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}
