//! What the formatter reads from the source text besides the AST: comments, line breaks
//! the author wrote, parentheses the AST does not keep, keyword positions.

use crate::ast::{Expr, ExprKind, Span};

/// A comment in the source: where it starts, its text (from `#` or `///`, trailing
/// whitespace removed), and whether code precedes it on its line.
pub(super) struct Comment {
    pub pos: usize,
    pub text: String,
    pub trailing: bool,
}

/// Finds every comment, skipping string literals.
pub(super) fn comments(src: &str) -> Vec<Comment> {
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
            let end = src[i..].find(['\n', '\r']).map_or(src.len(), |k| i + k);
            let trailing = !src[line_start..i].trim().is_empty();
            let text = src[i..end].trim_end().to_string();
            out.push(Comment {
                pos: i,
                text,
                trailing,
            });
            i = end;
            continue;
        }
        if c == b'\n' || c == b'\r' {
            line_start = i + 1;
        }
        i += 1;
    }
    out
}

/// Whether the text holds a line break.
pub(super) fn has_newline(s: &str) -> bool {
    s.contains(['\n', '\r'])
}

/// Whether a gap between two statements holds an empty line.
pub(super) fn has_blank_line(gap: &str) -> bool {
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

/// Display width of a text: one column per character.
pub(super) fn width(s: &str) -> usize {
    s.chars().count()
}

/// The column of byte `pos` on its source line.
pub(super) fn column_of(src: &str, pos: usize) -> usize {
    let start = src[..pos].rfind(['\n', '\r']).map_or(0, |k| k + 1);
    width(&src[start..pos])
}

/// Whether `e`'s source is wrapped in grouping parentheses. The parser gives a
/// parenthesised expression the span of its parentheses, so the span starts with `(` and
/// ends with the `)` that closes it; the formatter keeps such parentheses even where
/// precedence does not need them.
pub(super) fn wrapped_in_parens(src: &str, e: &Expr) -> bool {
    if matches!(e.kind, ExprKind::Tuple(_)) {
        return false;
    }
    closes_at_end(&src[e.span.range()])
}

/// Whether `text` starts with `(` whose matching `)` is its last character.
fn closes_at_end(text: &str) -> bool {
    let b = text.as_bytes();
    if b.first() != Some(&b'(') || b.last() != Some(&b')') {
        return false;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(b, i),
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1 == b.len();
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The index of the closing quote of the string starting at `i`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
        if b[i] == b'\\' {
            i += 1;
        }
        i += 1;
    }
    i
}

/// `e`'s span without the grouping parentheses around it.
pub(super) fn inner_span(src: &str, e: &Expr) -> Span {
    let mut s = e.span;
    if matches!(e.kind, ExprKind::Tuple(_)) {
        return s;
    }
    while s.len() >= 2 && closes_at_end(&src[s.range()]) {
        s = Span::new(s.start as usize + 1, s.end as usize - 1);
        let t = &src[s.range()];
        let lead = t.len() - t.trim_start().len();
        let trail = t.len() - t.trim_end().len();
        s = Span::new(s.start as usize + lead, s.end as usize - trail);
    }
    s
}

/// The first position at or after `from` (and before `to`) of `ch` outside comments.
pub(super) fn find_char(src: &str, from: usize, to: usize, ch: u8) -> usize {
    let b = src.as_bytes();
    let mut i = from;
    while i < to.min(b.len()) {
        match b[i] {
            c if c == ch => return i,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    from
}

/// Where the keyword `kw` starts between `from` and `to` (outside comments); `from` if
/// it is not there.
pub(super) fn find_word(src: &str, from: usize, to: usize, kw: &str) -> usize {
    let b = src.as_bytes();
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = from;
    let to = to.min(b.len());
    while i < to {
        if b[i] == b'#' {
            while i < to && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if b[i..to].starts_with(kw.as_bytes())
            && (i == 0 || !is_word(b[i - 1]))
            && b.get(i + kw.len()).is_none_or(|&c| !is_word(c))
        {
            return i;
        }
        i += 1;
    }
    from
}
