//! `rlpc fmt`: the canonical layout of a `.rlp` file.
//!
//! The printer walks the AST and writes the layout the stdlib and examples use (the
//! rules are listed in `docs/language.md`, "Layout"):
//!
//! - two-space indents, single spaces around binary operators, parentheses where
//!   precedence needs them or the author wrote them; literals keep their spelling;
//! - consecutive one-name bindings at top level and in a `train` block line up their
//!   `=` (and `<-`); in a `train` block the stage keywords (`sample`, `fit`, `improve`,
//!   `log`) are padded to one column and the statements that continue a stage start
//!   in that column;
//! - a statement that fits in [`WIDTH`] columns is printed on one line; one that does
//!   not keeps the line breaks its author wrote (re-indented) and breaks further where a
//!   line would still be too long: after a comma, with the next item under the first
//!   one after the bracket; after a binary operator, under the first operand; before
//!   `else` and `with`;
//! - blocks written on one line stay on one line if they fit; records with a trailing
//!   comma are laid out one field per line; statements written on one line after `;`
//!   stay there if they fit;
//! - comments are kept verbatim, own-line ones before what follows them, trailing ones
//!   at their column; a statement with a comment inside it is kept as written; runs of
//!   blank lines become one.
//!
//! Formatting is idempotent and preserves the parse; both are tested on every shipped
//! `.rlp` file and on random inputs.

mod exprs;
mod source;
mod stmts;

use crate::parser::ParseError;
use source::{Comment, width};

/// The line width the formatter fills to.
pub const WIDTH: usize = 100;

/// Formats `source`; an unparsable file is returned as its parse error.
pub fn format(source: &str) -> Result<String, ParseError> {
    let module = crate::parse(source)?;
    let comments = source::comments(source);
    let mut p = Printer::new(source, &comments, false);
    p.module(&module);
    Ok(p.finish())
}

/// Writes the layout into one string, tracking the column so that width decisions can
/// be made as it goes.
struct Printer<'s> {
    src: &'s str,
    comments: &'s [Comment],
    /// The first comment not yet printed.
    next: usize,
    out: String,
    /// Characters on the current output line.
    col: usize,
    /// Leading spaces of the current output line: blocks opened on it indent from here.
    indent: usize,
    /// Line breaks written so far (tells whether something printed spanned lines).
    lines: usize,
    /// The statement being printed does not fit on one line, so the author's line
    /// breaks in it are kept.
    keep_breaks: bool,
    /// Measuring mode: everything on one line, no comments; `failed` records where
    /// something needed a line break.
    flat: bool,
    failed_at: Option<usize>,
}

impl<'s> Printer<'s> {
    fn new(src: &'s str, comments: &'s [Comment], flat: bool) -> Printer<'s> {
        Printer {
            src,
            comments,
            next: if flat { comments.len() } else { 0 },
            out: String::new(),
            col: 0,
            indent: 0,
            lines: 0,
            keep_breaks: false,
            flat,
            failed_at: None,
        }
    }

    fn finish(mut self) -> String {
        while self.out.ends_with(['\n', ' ']) {
            self.out.pop();
        }
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out
    }

    /// Renders what `f` prints on one line: the text (up to the first place that needs
    /// a line break) and whether all of it fitted on that line.
    fn measure(&self, f: impl FnOnce(&mut Printer<'s>)) -> (usize, bool) {
        let mut p = Printer::new(self.src, self.comments, true);
        f(&mut p);
        match p.failed_at {
            Some(at) => (width(&p.out[..at]), false),
            None => (width(&p.out), true),
        }
    }

    /// Whether `w` more columns fit on the current line.
    fn fits(&self, w: usize) -> bool {
        self.flat || self.col + w <= WIDTH
    }

    /// Appends text without line breaks.
    fn push(&mut self, s: &str) {
        self.out.push_str(s);
        self.col += width(s);
    }

    fn spaces(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
        self.col += n;
    }

    /// In measuring mode, notes that a line break is needed here.
    fn fail(&mut self) {
        if self.failed_at.is_none() {
            self.failed_at = Some(self.out.len());
        }
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn trim_line_end(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
    }

    /// Ends the current line and starts the next at column `col`.
    fn newline_at(&mut self, col: usize) {
        if self.flat {
            self.fail();
            return;
        }
        self.end_line();
        self.spaces(col);
        self.indent = col;
    }

    /// Starts a line at `col`, unless one is already started there.
    fn line_at(&mut self, col: usize) {
        if self.at_line_start() {
            self.col = 0;
            self.spaces(col);
            self.indent = col;
        } else {
            self.newline_at(col);
        }
    }

    fn end_line(&mut self) {
        self.trim_line_end();
        self.out.push('\n');
        self.col = 0;
        self.indent = 0;
        self.lines += 1;
    }

    /// Leaves one empty line (never two, never at the top of the file).
    fn blank_line(&mut self) {
        if !self.at_line_start() {
            self.end_line();
        }
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }
}
