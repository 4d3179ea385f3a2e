//! Source text to [`ast::Module`].
//!
//! Three steps:
//! 1. [`prescan`]: a byte-level pass that bounds bracket nesting (the only way the pest
//!    parser recurses, see `rlp.pest`) and remembers bracket pairs and unterminated
//!    strings so errors can say where a bracket was opened.
//! 2. pest, with the grammar in `rlp.pest`.
//! 3. [`Cx`]: pairs to AST. Expressions arrive as flat token sequences and are folded
//!    with precedence climbing in loops, so long operator chains never recurse; the
//!    depth of every expression tree built is tracked and bounded by [`MAX_EXPR_DEPTH`],
//!    because the AST types (and every later pass) drop, clone and walk it recursively.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest_derive::Parser;

use crate::ast::*;

#[derive(Parser)]
#[grammar = "rlp.pest"]
struct RlpParser;

/// Brackets (`(`, `[`, `{`) may nest at most this deep.
pub const MAX_BRACKET_DEPTH: usize = 128;

/// Expression trees may be at most this deep (counting every operator, call, field access,
/// index, `if`, lambda and block on the way down). Long chains such as
/// `a + a + ... + a` nest one level per operator.
pub const MAX_EXPR_DEPTH: u32 = 256;

/// A syntax error: what went wrong, where, and what would have been accepted there.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// One line, e.g. `expected one of: expression, ')'`.
    pub message: String,
    /// Where: the offending token, or an empty span at the end of the input. Always on
    /// character boundaries and within the source.
    pub span: Span,
    /// What the parser would have accepted at `span`, as words for the user
    /// (`expression`, `')'`, `end of statement`); empty for errors that are not about a
    /// missing token.
    pub expected: Vec<String>,
    /// A suggestion or extra context, e.g. where an unclosed bracket was opened.
    pub hint: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhelp: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

impl ParseError {
    fn new(message: impl Into<String>, span: Span) -> ParseError {
        ParseError {
            message: message.into(),
            span,
            expected: Vec::new(),
            hint: None,
        }
    }

    fn with_hint(mut self, hint: impl Into<String>) -> ParseError {
        self.hint = Some(hint.into());
        self
    }
}

/// 1-based line and column (in characters) of a byte offset; offsets past the end or
/// inside a character are clamped.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset);
    let before = &source[..offset];
    // "\r\n" is one line break; a lone "\r" is one too, as in the grammar.
    let mut line = 1;
    let mut line_start = 0;
    let bytes = before.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => {
                line += 1;
                line_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (line, before[line_start..].chars().count() + 1)
}

/// Up to this bracket depth, parsing runs on the caller's thread; deeper files are parsed
/// on a thread of its own with [`DEEP_STACK`] bytes of stack. pest and the conversion
/// recurse once per bracket level, and an unoptimised build needs tens of KiB per level.
const INLINE_DEPTH: usize = 8;
const DEEP_STACK: usize = 64 << 20;

/// Parses one `.rlp` file.
///
/// Never panics and never overflows the stack, on any input: brackets may nest at most
/// [`MAX_BRACKET_DEPTH`] deep and expressions at most [`MAX_EXPR_DEPTH`] deep (both are
/// reported as errors), and deeply nested files get a large stack of their own. Runs in
/// time roughly linear in the length of the source.
pub fn parse(source: &str) -> Result<Module, ParseError> {
    // Spans are u32.
    if source.len() >= u32::MAX as usize {
        return Err(ParseError::new(
            "the file is too large (4 GiB or more)",
            Span::new(0, 0),
        ));
    }
    let scan = prescan(source)?;
    if scan.max_depth <= INLINE_DEPTH {
        return guarded(|| parse_scanned(source, &scan));
    }
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("rlp-parse".into())
            .stack_size(DEEP_STACK)
            .spawn_scoped(scope, || parse_scanned(source, &scan));
        match spawned {
            Ok(thread) => thread.join().unwrap_or_else(|_| Err(panicked())),
            // No threads here (or no memory for the stack): pest's own stack check turns
            // an overflow into an error, so parsing in place is still safe.
            Err(_) => guarded(|| parse_scanned(source, &scan)),
        }
    })
}

/// Belt and braces: the conversion reports grammar/converter mismatches as errors instead
/// of panicking, but a bug must still not take the compiler down.
fn guarded(
    f: impl FnOnce() -> Result<Module, ParseError> + std::panic::UnwindSafe,
) -> Result<Module, ParseError> {
    std::panic::catch_unwind(f).unwrap_or_else(|_| Err(panicked()))
}

fn panicked() -> ParseError {
    ParseError::new(
        "internal error in the parser (please report this with the file that caused it)",
        Span::new(0, 0),
    )
}

fn parse_scanned(source: &str, scan: &Prescan) -> Result<Module, ParseError> {
    raise_call_limit(source.len());
    let module = match RlpParser::parse(Rule::module, source) {
        Ok(mut pairs) => pairs.next(),
        Err(e) => return Err(pest_error(source, scan, e)),
    };
    let cx = Cx { src: source };
    match module {
        Some(pair) => cx.module(pair),
        None => Err(cx.internal(Span::new(0, 0), "no module")),
    }
}

/// pest counts rule calls against a process-wide budget, a guard against runaway
/// backtracking. The grammar never re-parses a sub-expression, so honest parses take a
/// bounded number of calls per byte; the budget is a generous multiple of that.
///
/// The setting is global and read when a parse starts, so it only ever grows: lowering it
/// for a small file could starve a large file being parsed on another thread.
fn raise_call_limit(len: usize) {
    const BASE: usize = 1_000_000;
    const PER_BYTE: usize = 400;
    static CURRENT: Mutex<usize> = Mutex::new(0);
    let wanted = len.saturating_mul(PER_BYTE).saturating_add(BASE);
    let mut current = match CURRENT.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    if wanted > *current {
        *current = wanted;
        pest::set_call_limit(NonZeroUsize::new(wanted));
    }
}

// ---------------------------------------------------------------------------------------
// Pre-scan

/// What the byte-level scan learned about brackets and strings.
#[derive(Default)]
struct Prescan {
    /// Opening brackets never closed, in source order: (offset, bracket). A bracket
    /// inside one closed early (the `(` in `{ f( }`) is one of them.
    unclosed: Vec<(usize, u8)>,
    /// The brackets still open at the end of the scan, outermost first.
    open: Vec<(usize, u8)>,
    /// The first closing bracket that closed the wrong kind: (close offset, open offset).
    mismatch: Option<(usize, usize)>,
    /// The first closing bracket with nothing open.
    stray: Option<usize>,
    /// The first string literal without its closing quote: (start, end of its line).
    unterminated: Option<(usize, usize)>,
    /// The deepest bracket nesting.
    max_depth: usize,
}

/// Tokenises just enough (comments, strings, brackets) to match brackets. All the bytes
/// it looks at are ASCII, so it never splits a multibyte character.
fn prescan(src: &str) -> Result<Prescan, ParseError> {
    prescan_to(src, src.len())
}

/// [`prescan`] of `src[..end]` (`end` on a character boundary): its `open` brackets are
/// those open at `end`.
fn prescan_to(src: &str, end: usize) -> Result<Prescan, ParseError> {
    let b = &src.as_bytes()[..end];
    let line_end = |mut j: usize| {
        while j < b.len() && b[j] != b'\n' && b[j] != b'\r' {
            j += 1;
        }
        j
    };
    let mut out = Prescan::default();
    let mut stack: Vec<(usize, u8)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => i = line_end(i),
            b'/' if b[i..].starts_with(b"///") => i = line_end(i),
            b'"' => {
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        Some(b'"') => {
                            j += 1;
                            break;
                        }
                        Some(b'\\') if !matches!(b.get(j + 1), None | Some(b'\n' | b'\r')) => {
                            j += 2
                        }
                        Some(b'\n' | b'\r' | b'\\') | None => {
                            let end = line_end(j);
                            out.unterminated.get_or_insert((i, end));
                            j = end;
                            break;
                        }
                        Some(_) => j += 1,
                    }
                }
                i = j;
            }
            open @ (b'(' | b'[' | b'{') => {
                stack.push((i, open));
                deeper(&mut out, stack.len(), Span::new(i, i + 1))?;
                i += 1;
            }
            close @ (b')' | b']' | b'}') => {
                // An `if` still open here has no `else`: a syntax error, reported by pest.
                while stack.last().is_some_and(|&(_, open)| open == IF) {
                    stack.pop();
                }
                match stack.last() {
                    Some(&(_, open)) if partner(open) == close => {
                        stack.pop();
                    }
                    Some(&(open_at, _)) => {
                        out.mismatch.get_or_insert((i, open_at));
                        // Resynchronise: if an outer bracket matches, the ones inside it
                        // were never closed (`{ f( }`); otherwise pretend this closed the
                        // innermost.
                        let closed = stack
                            .iter()
                            .rposition(|&(_, open)| partner(open) == close)
                            .unwrap_or(stack.len() - 1);
                        let inside = stack.drain(closed..).skip(1);
                        out.unclosed.extend(inside.filter(|&(_, open)| open != IF));
                    }
                    None => {
                        out.stray.get_or_insert(i);
                    }
                }
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                // Only the keywords, not `x.if` or the key in `f(else: 1)`.
                let word = &b[i..j];
                let after_dot = src[..i].trim_end_matches([' ', '\t']).ends_with('.');
                let before_colon = src[j..].trim_start_matches([' ', '\t']).starts_with(':');
                if !after_dot && !before_colon {
                    if word == b"if" {
                        stack.push((i, IF));
                        deeper(&mut out, stack.len(), Span::new(i, j))?;
                    } else if word == b"else" && stack.last().is_some_and(|&(_, open)| open == IF) {
                        stack.pop();
                    }
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out.open = stack.into_iter().filter(|&(_, open)| open != IF).collect();
    out.unclosed.extend_from_slice(&out.open);
    out.unclosed.sort_unstable();
    Ok(out)
}

/// Marks an open `if` on the pre-scan's stack of brackets: pest recurses into its
/// condition and `then` arm, so it counts towards the nesting depth until its `else`.
const IF: u8 = b'i';

/// Records a new nesting `depth`, reached at `at`; an error if it is too deep.
fn deeper(out: &mut Prescan, depth: usize, at: Span) -> Result<(), ParseError> {
    out.max_depth = out.max_depth.max(depth);
    if depth <= MAX_BRACKET_DEPTH {
        return Ok(());
    }
    // An earlier unterminated string is the first real problem.
    if let Some((start, end)) = out.unterminated {
        return Err(unterminated_string(start, end));
    }
    Err(ParseError::new(
        format!(
            "brackets and `if`s are nested too deeply (more than {MAX_BRACKET_DEPTH} levels, \
             an enclosing block's or function body's `{{` included)"
        ),
        at,
    )
    .with_hint("split the expression into named intermediate values"))
}

fn partner(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

fn unterminated_string(start: usize, end: usize) -> ParseError {
    ParseError {
        message: "unterminated string literal".into(),
        span: Span::new(start, end),
        expected: vec!["'\"'".into()],
        hint: Some("a string must end with `\"` on the line where it starts".into()),
    }
}

// ---------------------------------------------------------------------------------------
// pest errors to ParseError

/// How an expected rule is shown, and how it combines with the others.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    /// Statements and expressions as a whole.
    Whole,
    /// Something that can only begin an expression (a literal, `(`-expression, `not`).
    /// Any one of these turns the whole set into "expression".
    ExprStart,
    /// Could begin an expression, but also stands alone (`name` in `use`, `string`).
    MaybeExpr,
    /// `{`: a record or block expression, or the body of `fn`, `train`, `every` ...
    Brace,
    /// `(`, `[`, `.`: continue an expression as a call/index/field, or open a construct.
    Postfix,
    /// The first keyword of an item, hidden when "statement" is also expected.
    ItemStart,
    /// Infix operators, `->`, `<-`, `+=` ...; several are shown as "operator".
    Operator,
    /// A specific token or construct.
    Token,
    End,
}

fn describe(rule: Rule) -> (Class, &'static str) {
    use Class::*;
    match rule {
        Rule::expr | Rule::arg | Rule::index_item => (Whole, "expression"),
        Rule::module | Rule::stage_stmt | Rule::let_stmt | Rule::expr_stmt => (Whole, "statement"),

        Rule::number
        | Rule::int
        | Rule::scan_expr
        | Rule::kw_scan
        | Rule::paren
        | Rule::list
        | Rule::record
        | Rule::prefix_op
        | Rule::if_head
        | Rule::kw_if
        | Rule::lambda_params => (ExprStart, "expression"),
        Rule::ident | Rule::word => (MaybeExpr, "name"),
        Rule::key => (MaybeExpr, "record field"),
        Rule::string => (MaybeExpr, "string"),
        Rule::lbrace | Rule::block => (Brace, "'{'"),

        Rule::lparen | Rule::call => (Postfix, "'('"),
        Rule::lbracket | Rule::index => (Postfix, "'['"),
        Rule::dot | Rule::field => (Postfix, "'.'"),

        Rule::item_kw | Rule::stmt_kw | Rule::inner_kw => (ItemStart, "statement"),
        Rule::use_item | Rule::kw_use => (ItemStart, "'use'"),
        Rule::fn_decl | Rule::kw_fn => (ItemStart, "'fn'"),
        Rule::kw_pub => (ItemStart, "'pub'"),
        Rule::train_item | Rule::kw_train => (ItemStart, "'train'"),
        Rule::kw_sample => (ItemStart, "'sample'"),
        Rule::kw_fit => (ItemStart, "'fit'"),
        Rule::kw_improve => (ItemStart, "'improve'"),
        Rule::minimize_stmt | Rule::kw_minimize => (ItemStart, "'minimize'"),
        Rule::log_stmt | Rule::kw_log => (ItemStart, "'log'"),
        Rule::every_stmt | Rule::kw_every => (ItemStart, "'every'"),
        Rule::repeat_stmt | Rule::kw_repeat => (ItemStart, "'repeat'"),
        Rule::for_stmt | Rule::kw_for => (ItemStart, "'for'"),

        Rule::infix_op => (Operator, "operator"),
        Rule::op_add => (Operator, "'+'"),
        Rule::op_sub => (Operator, "'-'"),
        Rule::op_mul => (Operator, "'*'"),
        Rule::arrow => (Operator, "'->'"),
        Rule::update_op => (Operator, "'<-'"),
        Rule::aug_add => (Operator, "'+='"),
        Rule::aug_sub => (Operator, "'-='"),
        Rule::aug_mul => (Operator, "'*='"),
        Rule::aug_div => (Operator, "'/='"),

        Rule::rparen => (Token, "')'"),
        Rule::rbracket => (Token, "']'"),
        Rule::rbrace => (Token, "'}'"),
        Rule::comma => (Token, "','"),
        Rule::colon => (Token, "':'"),
        Rule::assign => (Token, "'='"),
        Rule::kw_then => (Token, "'then'"),
        Rule::kw_else => (Token, "'else'"),
        Rule::kw_with => (Token, "'with'"),
        Rule::kw_wrt => (Token, "'wrt'"),
        Rule::kw_in => (Token, "'in'"),
        Rule::kw_after => (Token, "'after'"),
        Rule::kw_reverse => (Token, "'reverse'"),
        Rule::type_expr | Rule::tensor_type => (Token, "type"),
        Rule::dim => (Token, "dimension"),
        Rule::param => (Token, "parameter"),
        Rule::carry => (Token, "carry (`name = initial value`)"),
        Rule::log_entry => (Token, "metric (`name = value`)"),
        Rule::use_names => (Token, "'{'"),

        Rule::sep => (End, "end of statement"),
        Rule::EOI => (End, "end of input"),
        // Never expected on their own.
        _ => (Token, "token"),
    }
}

/// Turns pest's list of expected rules into a short list of words.
fn expected_words(positives: &[Rule]) -> Vec<String> {
    let described: Vec<(Class, &'static str)> = positives.iter().map(|&r| describe(r)).collect();
    let has = |class: Class| described.iter().any(|&(c, _)| c == class);
    let is_expr = has(Class::ExprStart)
        || described
            .iter()
            .any(|&(c, w)| c == Class::Whole && w == "expression");
    let is_stmt = described
        .iter()
        .any(|&(c, w)| c == Class::Whole && w == "statement");
    let operators: Vec<&str> = described
        .iter()
        .filter(|&&(c, _)| c == Class::Operator)
        .map(|&(_, w)| w)
        .collect();
    let mut words: Vec<(Class, &'static str)> = Vec::new();
    for &(class, word) in &described {
        let shown = match class {
            Class::ExprStart | Class::MaybeExpr | Class::Brace if is_expr || is_stmt => {
                (Class::Whole, "expression")
            }
            Class::Postfix if is_expr || is_stmt || !operators.is_empty() => continue,
            Class::ItemStart if is_stmt => continue,
            // `not` then nothing: '->' (as if `not` were a lambda parameter) is noise.
            Class::Operator if is_expr => continue,
            Class::Operator if operators.iter().any(|&o| o != word) => {
                (Class::Operator, "operator")
            }
            _ => (class, word),
        };
        // A statement can be an expression: say "statement" alone.
        if is_stmt && shown == (Class::Whole, "expression") {
            continue;
        }
        if shown.1 == "end of input" && described.iter().any(|&(_, w)| w == "end of statement") {
            continue;
        }
        if !words.contains(&shown) {
            words.push(shown);
        }
    }
    // Stable: within a class, pest's (grammar) order is kept.
    words.sort_by_key(|&(class, _)| match class {
        Class::Whole | Class::ExprStart => 0,
        Class::MaybeExpr | Class::ItemStart => 1,
        Class::Operator => 2,
        Class::Postfix | Class::Token | Class::Brace => 3,
        Class::End => 4,
    });
    words.into_iter().map(|(_, w)| w.to_string()).collect()
}

fn pest_error(src: &str, scan: &Prescan, e: pest::error::Error<Rule>) -> ParseError {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((p, _)) => p,
    };
    let pos = floor_char_boundary(src, pos);
    // The string cannot have been parsed past its opening quote, so the error is there
    // or earlier; only an error at or after it is the string's fault.
    if let Some((start, end)) = scan.unterminated
        && pos >= start
    {
        return unterminated_string(start, end);
    }
    let span = token_span(src, pos);
    let mut err = match e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let expected = expected_words(&positives);
            let message = match expected.len() {
                0 => format!("unexpected {}", describe_found(src, span)),
                1 => format!("expected {}", expected[0]),
                _ => format!("expected one of: {}", expected.join(", ")),
            };
            ParseError {
                message,
                span,
                expected,
                hint: None,
            }
        }
        // pest's call or stack budget ran out: no honest file gets here.
        ErrorVariant::CustomError { message } => ParseError::new(
            format!("the file is too complex to parse ({message})"),
            span,
        )
        .with_hint("split long expressions and deeply nested constructs into smaller parts"),
    };
    err.hint = hint_for(src, scan, span, &err.expected);
    err
}

/// The token at `pos` for pointing at: a word, one character, or an empty span at a line
/// break or the end of the input.
fn token_span(src: &str, pos: usize) -> Span {
    let rest = &src[pos..];
    let mut chars = rest.char_indices();
    match chars.next() {
        None | Some((_, '\n' | '\r')) => Span::new(pos, pos),
        Some((_, c)) if c.is_ascii_alphanumeric() || c == '_' => {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            Span::new(pos, pos + len)
        }
        Some((_, c)) => Span::new(pos, pos + c.len_utf8()),
    }
}

fn describe_found(src: &str, span: Span) -> String {
    if span.start as usize >= src.len() {
        "end of input".into()
    } else if span.is_empty() {
        "end of line".into()
    } else {
        format!("`{}`", &src[span.range()])
    }
}

const KEYWORDS: &[&str] = &[
    "use", "fn", "pub", "train", "sample", "fit", "improve", "every", "after", "repeat", "for",
    "minimize", "wrt", "with", "scan", "reverse", "in", "if", "then", "else", "and", "or", "not",
    "true", "false",
];

fn hint_for(src: &str, scan: &Prescan, span: Span, expected: &[String]) -> Option<String> {
    let pos = span.start as usize;
    let found = &src[span.range()];
    let at = |offset: usize| {
        let (line, col) = line_col(src, offset);
        format!("line {line}, column {col}")
    };
    let bracket = |offset: usize| src.as_bytes()[offset] as char;
    if let Some((close, open)) = scan.mismatch
        && close == pos
    {
        return Some(format!(
            "this `{}` does not match the `{}` opened at {}",
            bracket(close),
            bracket(open),
            at(open)
        ));
    }
    if scan.stray == Some(pos) {
        return Some(format!(
            "this `{}` has no matching opening bracket",
            bracket(pos)
        ));
    }
    // Some bracket before the error is never closed. Counting brackets cannot tell which
    // (in `{ x = { a: 1 \n }` the record's `{` takes the block's `}`), but the parser
    // can: it was inside the innermost bracket open here if it wanted that one's closer.
    if scan.unclosed.iter().any(|&(open, _)| open < pos)
        && let Ok(here) = prescan_to(src, pos)
        && let Some(&(open, kind)) = here.open.last()
        && expected.contains(&format!("'{}'", partner(kind) as char))
    {
        return Some(format!(
            "the `{}` opened at {} is never closed",
            bracket(open),
            at(open)
        ));
    }
    if let Some(&(open, _)) = scan.unclosed.iter().rev().find(|&&(open, _)| open < pos) {
        return Some(format!(
            "the `{}` opened at {} is never closed",
            bracket(open),
            at(open)
        ));
    }
    let expects = |w: &str| expected.iter().any(|e| e == w);
    // `(a\n and b)`: a line break ends an expression unless something before it must
    // continue (an operator, an open bracket's next element), so a line cannot begin
    // with a binary operator.
    let line_start = src[..pos].trim_end_matches([' ', '\t']).ends_with('\n');
    // A `-` there is a binary minus only where no expression could start (after an
    // element, before its closer or comma); elsewhere it negates a new expression.
    let closes = ["')'", "']'", "'}'", "','"].iter().any(|w| expects(w));
    let operator = matches!(found, "and" | "or")
        || (found != "=" && found.starts_with(['+', '*', '/', '%', '@', '<', '>', '=', '!']))
        || (found.starts_with('-') && !found.starts_with("->") && closes);
    if line_start && operator {
        return Some(format!(
            "a line cannot begin with the operator `{found}`: end the line before with it instead (`a {found}` then the rest on the next line)"
        ));
    }
    if KEYWORDS.contains(&found)
        && (expects("name") || expects("expression") || expects("statement"))
    {
        return Some(format!(
            "`{found}` is a keyword and cannot be used as a name"
        ));
    }
    if found == "=" && (expects("operator") || expects("end of statement")) {
        return Some(
            "`=` binds plain names (`x = ...`, or `u, w = ...` without brackets to take a tuple apart); use `<-` to update a field or element, and `:` for keyword arguments (`f(x: 1)`)"
                .into(),
        );
    }
    if found == "<" && src[pos..].starts_with("<-") {
        return Some(
            "`<-` is the update statement; to compare with a negative number write `a < -b`".into(),
        );
    }
    // `x[::2]`, `x[1:5:2]`: a second `:` where the slice must end.
    let in_slice = src[..pos]
        .rfind('[')
        .is_some_and(|open| src[open..pos].contains(':'));
    if found == ":" && expects("']'") && in_slice {
        return Some(
            "a slice is `start:end` (either may be left out); slices with a step (`x[::2]`) are not supported".into(),
        );
    }
    // `x = else 1`, `fit fit x = 1`: a keyword was taken for a name just before.
    let before = src[..pos].trim_end_matches([' ', '\t']);
    let word = &before[before
        .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
        .len()..];
    if KEYWORDS.contains(&word) && expects("operator") {
        return Some(format!(
            "`{word}` is a keyword and cannot be used as a name"
        ));
    }
    // The words of the statement's line up to the error.
    let line = &src[src[..pos].rfind('\n').map_or(0, |i| i + 1)..pos];
    let words: Vec<&str> = line.split_whitespace().collect();
    // `every 2 {`: the period has no unit.
    if found == "{" && words.first() == Some(&"every") && expects("name") {
        return Some(
            "`every` needs a unit: write `every K steps { … }` or `every K iterations { … }`"
                .into(),
        );
    }
    // `improve if iteration > 2 { … }`: `if` taken for a statement.
    if found == "{" && expects("'then'") && words.contains(&"if") && !words.contains(&"then") {
        return Some(
            "`if` is an expression (`if c then a else b`), not a statement: to pick values \
             elementwise use `where(c, a, b)`; to run stages on a schedule put them in an \
             `every K iterations { … }` block (`every 1 iterations after 3 { … }` starts at \
             iteration 3)"
                .into(),
        );
    }
    // `sampel batch = …`, `improve minimze loss with opt`: a misspelt stage label or
    // `minimize` is read as a name, and the name after it (or the `with`) is then
    // unexpected.
    let labelled = words.first().is_some_and(|w| STAGE_LABELS.contains(w));
    let head = words.get(usize::from(labelled));
    if let Some(typo) = head
        && !KEYWORDS.contains(typo)
        && typo.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && let Some(meant) = STATEMENT_WORDS
            .iter()
            .filter(|w| typo_distance(typo, w) <= (typo.len() / 3).max(1))
            .min_by_key(|w| typo_distance(typo, w))
        && ((found.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && words.len() == 1 + usize::from(labelled))
            || (*meant == "minimize" && matches!(found, "with" | "wrt")))
    {
        return Some(format!(
            "`{typo}` is not a keyword: did you mean `{meant}`?"
        ));
    }
    if let Some(c) = found.chars().next()
        && !c.is_ascii()
        && c.is_alphanumeric()
    {
        return Some(format!(
            "names are ASCII letters, digits and `_` (`{c}` is not one): write e.g. `gamma` for `γ`"
        ));
    }
    None
}

/// The labels that open a stage of a `train` block.
const STAGE_LABELS: &[&str] = &["sample", "fit", "improve", "log"];

/// The words that begin a statement followed by more than a name (`sample batch = …`,
/// `minimize loss with opt`, `every 4 steps { … }`): a misspelling of one of these is
/// what [`hint_for`] suggests it for.
const STATEMENT_WORDS: &[&str] = &[
    "sample", "fit", "improve", "log", "minimize", "every", "repeat", "train",
];

/// Insertions, deletions, substitutions and swaps of neighbouring characters that turn
/// `a` into `b` (optimal string alignment), for suggesting a misspelt keyword.
fn typo_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for j in 0..=b.len() {
        d[0][j] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let mut best = (d[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]))
                .min(d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

// ---------------------------------------------------------------------------------------
// Pairs to AST

type PResult<T> = Result<T, ParseError>;

/// An expression and the depth of its tree (a leaf is 1).
type Deep<T> = (T, u32);

struct Cx<'s> {
    src: &'s str,
}

/// The span of a pair without trailing whitespace.
///
/// pest lets a rule that ends in an optional or repeated part (`a ~ b?`) keep the spaces
/// it skipped before trying that part, so a pair's own end can be padded with spaces and
/// tabs (never with more: comments and line breaks are only consumed by explicit rules).
fn span_of(p: &Pair<Rule>) -> Span {
    let span = p.as_span();
    let text = span.as_str().trim_end_matches([' ', '\t']);
    Span::new(span.start(), span.start() + text.len())
}

/// The children of a pair, consumed in order with checks instead of panics.
struct Kids<'i> {
    pairs: Pairs<'i, Rule>,
    parent: Span,
}

impl<'i> Kids<'i> {
    fn of(p: Pair<'i, Rule>) -> Kids<'i> {
        let parent = Span::new(p.as_span().start(), p.as_span().end());
        Kids {
            pairs: p.into_inner(),
            parent,
        }
    }

    fn next(&mut self) -> Option<Pair<'i, Rule>> {
        self.pairs.next()
    }

    /// The next child, which must exist.
    fn need(&mut self) -> PResult<Pair<'i, Rule>> {
        self.pairs
            .next()
            .ok_or_else(|| internal(self.parent, "missing child"))
    }

    /// The next child, which must be `rule`.
    fn want(&mut self, rule: Rule) -> PResult<Pair<'i, Rule>> {
        let p = self.need()?;
        if p.as_rule() == rule {
            Ok(p)
        } else {
            Err(internal(span_of(&p), "unexpected child"))
        }
    }

    /// The next child if it is `rule`.
    fn eat(&mut self, rule: Rule) -> Option<Pair<'i, Rule>> {
        if self.pairs.peek().is_some_and(|p| p.as_rule() == rule) {
            self.pairs.next()
        } else {
            None
        }
    }

    fn peek_rule(&self) -> Option<Rule> {
        self.pairs.peek().map(|p| p.as_rule())
    }
}

/// The rules that are a statement.
fn is_stmt(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::stage_stmt
            | Rule::minimize_stmt
            | Rule::log_stmt
            | Rule::every_stmt
            | Rule::repeat_stmt
            | Rule::for_stmt
            | Rule::let_stmt
            | Rule::expr_stmt
    )
}

fn internal(span: Span, what: &str) -> ParseError {
    ParseError::new(
        format!("internal error in the parser: {what} (please report this)"),
        span,
    )
}

fn too_deep(span: Span) -> ParseError {
    ParseError::new(
        format!(
            "this expression is nested too deeply (more than {MAX_EXPR_DEPTH} levels, \
             its innermost value included)"
        ),
        span,
    )
    .with_hint("split it into several named intermediate values")
}

/// `depth`, if allowed; `at` is where to point when it is not.
fn check_depth(depth: u32, at: Span) -> PResult<u32> {
    if depth > MAX_EXPR_DEPTH {
        Err(too_deep(at))
    } else {
        Ok(depth)
    }
}

/// The first byte of a span that starts with an ASCII character (a bracket, `.`, a name):
/// what to point at for a construct that may be long.
fn head(span: Span) -> Span {
    Span {
        start: span.start,
        end: (span.start + 1).min(span.end),
    }
}

/// A prefix of an expression that wraps everything to its right: `if c then a else`,
/// `params ->`, `from ->`.
enum Head {
    If {
        kw: Span,
        cond: Deep<Expr>,
        then: Deep<Expr>,
    },
    Lambda {
        params: Deep<Vec<Param>>,
        span: Span,
        arrow: Span,
    },
    Range {
        from: Deep<Expr>,
        arrow: Span,
    },
}

/// A head still open while an `expr` is folded, with the tokens of its body so far (the
/// outermost has no head: it is the expression itself).
struct Open<'i> {
    head: Option<Head>,
    tokens: Vec<Pair<'i, Rule>>,
}

/// An operator waiting for its operands during precedence climbing.
#[derive(Clone, Copy)]
enum Pending {
    Prefix(UnOp, Span),
    Infix(BinOp, Span),
}

impl Pending {
    fn precedence(self) -> u8 {
        match self {
            Pending::Prefix(UnOp::Not, _) => 3,
            Pending::Prefix(UnOp::Neg, _) => 8,
            Pending::Infix(op, _) => binop_precedence(op),
        }
    }
}

fn binop_precedence(op: BinOp) -> u8 {
    use BinOp::*;
    match op {
        Or => 1,
        And => 2,
        // `not` is 3.
        Eq | Ne | Lt | Le | Gt | Ge => 4,
        Concat => 5,
        Add | Sub => 6,
        Mul | Div | Rem | MatMul => 7,
        // unary minus is 8: `-x ** 2` is `-(x ** 2)`.
        Pow => 9,
    }
}

fn is_comparison(op: BinOp) -> bool {
    use BinOp::*;
    matches!(op, Eq | Ne | Lt | Le | Gt | Ge)
}

/// The operator an `infix_op` token spells.
fn binop_of(text: &str) -> Option<BinOp> {
    Some(match text {
        "or" => BinOp::Or,
        "and" => BinOp::And,
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "<=" => BinOp::Le,
        ">=" => BinOp::Ge,
        "<" => BinOp::Lt,
        ">" => BinOp::Gt,
        "++" => BinOp::Concat,
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "**" => BinOp::Pow,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "%" => BinOp::Rem,
        "@" => BinOp::MatMul,
        _ => return None,
    })
}

impl<'s> Cx<'s> {
    fn internal(&self, span: Span, what: &str) -> ParseError {
        internal(span, what)
    }

    /// A word used as it is (a field or keyword-argument name).
    fn ident(&self, p: &Pair<Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: span_of(p),
        }
    }

    /// A name that is bound or referred to: anything but a keyword (the grammar lets
    /// keywords through, see `ident` in `rlp.pest`).
    fn name(&self, p: &Pair<Rule>) -> PResult<Ident> {
        let text = p.as_str();
        if KEYWORDS.contains(&text) {
            let span = span_of(p);
            return Err(ParseError::new(
                format!("`{text}` is a keyword and cannot be used as a name"),
                span,
            )
            .with_hint("choose another name"));
        }
        Ok(Ident {
            name: text.to_string(),
            span: span_of(p),
        })
    }

    /// The name in `name:` (an atomic token, so the name is cut out of its text).
    fn key(&self, p: Pair<Rule>) -> PResult<Ident> {
        let name = p
            .as_str()
            .trim_end_matches(':')
            .trim_end_matches([' ', '\t']);
        let start = p.as_span().start();
        Ok(Ident {
            name: name.to_string(),
            span: Span::new(start, start + name.len()),
        })
    }

    // ---- items ----

    fn module(&self, pair: Pair<Rule>) -> PResult<Module> {
        let mut items = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::use_item => items.push(Item::Use(self.use_item(p)?)),
                Rule::fn_decl => items.push(Item::Fn(self.fn_decl(p)?)),
                Rule::train_item => items.push(Item::Train(self.train_item(p)?)),
                rule if is_stmt(rule) => {
                    let (mut stmt, _) = self.stmt(p)?;
                    if let StmtKind::Let { doc, .. } = &mut stmt.kind {
                        *doc = doc_above(self.src, stmt.span.start as usize);
                    }
                    items.push(Item::Stmt(stmt));
                }
                Rule::sep | Rule::EOI => {}
                _ => return Err(self.internal(span_of(&p), "unexpected item")),
            }
        }
        Ok(Module { items })
    }

    fn use_item(&self, pair: Pair<Rule>) -> PResult<Use> {
        let span = span_of(&pair);
        let mut path = Vec::new();
        let mut file = None;
        let mut names = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => path.push(self.name(&p)?),
                Rule::string => {
                    file = Some(UseTarget::File {
                        path: self.string(&p)?,
                        span: span_of(&p),
                    })
                }
                Rule::use_names => {
                    names = Some(
                        p.into_inner()
                            .filter(|n| n.as_rule() == Rule::ident)
                            .map(|n| self.name(&n))
                            .collect::<PResult<_>>()?,
                    )
                }
                _ => {}
            }
        }
        let target = file.unwrap_or(UseTarget::Path(path));
        Ok(Use {
            target,
            names,
            span,
        })
    }

    fn fn_decl(&self, pair: Pair<Rule>) -> PResult<FnDecl> {
        let span = span_of(&pair);
        let mut kids = Kids::of(pair);
        let public = kids.eat(Rule::kw_pub).is_some();
        kids.want(Rule::kw_fn)?;
        let name = self.name(&kids.want(Rule::ident)?)?;
        let mut params = Vec::new();
        let mut ret = None;
        let mut body = None;
        while let Some(p) = kids.next() {
            match p.as_rule() {
                Rule::param => params.push(self.param(p)?.0),
                Rule::type_expr => ret = Some(self.type_expr(p)?),
                Rule::block => body = Some(self.block(p)?.0),
                _ => {}
            }
        }
        let body = body.ok_or_else(|| self.internal(span, "function without a body"))?;
        let doc = doc_above(self.src, span.start as usize);
        Ok(FnDecl {
            doc,
            public,
            name,
            params,
            ret,
            body,
            span,
        })
    }

    fn train_item(&self, pair: Pair<Rule>) -> PResult<Train> {
        let span = span_of(&pair);
        let mut kids = Kids::of(pair);
        kids.want(Rule::kw_train)?;
        let unit = self.name(&kids.want(Rule::ident)?)?;
        kids.want(Rule::colon)?;
        let (count, _) = self.expr(kids.want(Rule::expr)?)?;
        let (body, _) = self.block_stmts(kids.want(Rule::block)?)?;
        Ok(Train {
            unit,
            count,
            body,
            span,
        })
    }

    fn param(&self, pair: Pair<Rule>) -> PResult<Deep<Param>> {
        let span = span_of(&pair);
        let mut kids = Kids::of(pair);
        let name = self.name(&kids.want(Rule::ident)?)?;
        let mut ty = None;
        let mut default = None;
        let mut depth = 1;
        while let Some(p) = kids.next() {
            match p.as_rule() {
                Rule::type_expr => ty = Some(self.type_expr(p)?),
                Rule::expr => {
                    let (e, d) = self.expr(p)?;
                    depth = d;
                    default = Some(e);
                }
                _ => {}
            }
        }
        Ok((
            Param {
                name,
                ty,
                default,
                span,
            },
            depth,
        ))
    }

    // ---- types ----

    fn type_expr(&self, pair: Pair<Rule>) -> PResult<TypeExpr> {
        let span = span_of(&pair);
        let inner = Kids::of(pair).need()?;
        let kind = match inner.as_rule() {
            Rule::ident => TypeKind::Named(self.name(&inner)?),
            Rule::tensor_type => {
                let mut dims = Vec::new();
                let mut dtype = None;
                for p in inner.into_inner() {
                    match p.as_rule() {
                        Rule::dim => dims.push(self.dim(p)?),
                        Rule::ident => dtype = Some(self.name(&p)?),
                        _ => {}
                    }
                }
                TypeKind::Tensor { dims, dtype }
            }
            _ => return Err(self.internal(span, "unexpected type")),
        };
        Ok(TypeExpr { kind, span })
    }

    /// `T + 1`, `2 * N - 1`: a flat run of ints, names, `*`, `+` and `-`.
    fn dim(&self, pair: Pair<Rule>) -> PResult<DimExpr> {
        let span = span_of(&pair);
        let mut terms = Vec::new();
        let mut sign: i64 = 1;
        let mut coeff: i64 = 1;
        let mut symbol = None;
        let mut term_start = span;
        let overflow = |at: Span| ParseError::new("dimension constant is too large", at);
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::int => {
                    let n = self.int_value(&p)?;
                    coeff = coeff.checked_mul(n).ok_or_else(|| overflow(span_of(&p)))?;
                }
                Rule::ident => symbol = Some(self.name(&p)?),
                Rule::op_add | Rule::op_sub => {
                    let c = coeff
                        .checked_mul(sign)
                        .ok_or_else(|| overflow(term_start))?;
                    terms.push(DimTerm {
                        coeff: c,
                        symbol: symbol.take(),
                    });
                    sign = if p.as_rule() == Rule::op_sub { -1 } else { 1 };
                    coeff = 1;
                    term_start = span_of(&p);
                }
                _ => {}
            }
        }
        let c = coeff
            .checked_mul(sign)
            .ok_or_else(|| overflow(term_start))?;
        terms.push(DimTerm { coeff: c, symbol });
        Ok(DimExpr { terms, span })
    }

    // ---- statements ----

    /// A `{ ... }` block as an expression: a trailing bare expression is its value.
    fn block(&self, pair: Pair<Rule>) -> PResult<Deep<Block>> {
        let span = span_of(&pair);
        let (mut stmts, depth) = self.block_stmts(pair)?;
        let value = match stmts.last() {
            Some(Stmt {
                kind: StmtKind::Expr(_),
                ..
            }) => match stmts.pop() {
                Some(Stmt {
                    kind: StmtKind::Expr(e),
                    ..
                }) => Some(Box::new(e)),
                _ => None,
            },
            _ => None,
        };
        Ok((Block { stmts, value, span }, depth))
    }

    /// A `{ ... }` block as a statement list (`train`, `every`, `repeat`, stage bodies).
    fn block_stmts(&self, pair: Pair<Rule>) -> PResult<Deep<Vec<Stmt>>> {
        let mut stmts = Vec::new();
        let mut depth = 1;
        for p in pair.into_inner() {
            if is_stmt(p.as_rule()) {
                let (s, d) = self.stmt(p)?;
                depth = depth.max(d);
                stmts.push(s);
            }
        }
        Ok((stmts, depth))
    }

    /// A statement pair (see [`is_stmt`]); the depth is that of its deepest expression.
    fn stmt(&self, pair: Pair<Rule>) -> PResult<Deep<Stmt>> {
        let span = span_of(&pair);
        let rule = pair.as_rule();
        let mut kids = Kids::of(pair);
        let mut depth = 1;
        let expr = |p: Pair<Rule>, depth: &mut u32| -> PResult<Expr> {
            let (e, d) = self.expr(p)?;
            *depth = (*depth).max(d);
            Ok(e)
        };
        let kind = match rule {
            Rule::stage_stmt => {
                let kw = kids.need()?;
                let kind = match kw.as_rule() {
                    Rule::kw_sample => StageKind::Sample,
                    Rule::kw_fit => StageKind::Fit,
                    _ => StageKind::Improve,
                };
                let inner = kids.need()?;
                let body = if inner.as_rule() == Rule::block {
                    let (stmts, d) = self.block_stmts(inner)?;
                    depth = d;
                    stmts
                } else {
                    let (s, d) = self.stmt(inner)?;
                    depth = d;
                    vec![s]
                };
                StmtKind::Stage {
                    kind,
                    kind_span: span_of(&kw),
                    body,
                }
            }
            Rule::minimize_stmt => {
                kids.want(Rule::kw_minimize)?;
                let loss = expr(kids.want(Rule::expr)?, &mut depth)?;
                let mut wrt = Vec::new();
                if kids.eat(Rule::kw_wrt).is_some() {
                    while kids.peek_rule() != Some(Rule::kw_with) {
                        let p = kids.need()?;
                        if p.as_rule() == Rule::expr {
                            wrt.push(expr(p, &mut depth)?);
                        }
                    }
                }
                kids.want(Rule::kw_with)?;
                let with = expr(kids.want(Rule::expr)?, &mut depth)?;
                StmtKind::Minimize { loss, wrt, with }
            }
            Rule::log_stmt => {
                let mut entries = Vec::new();
                while let Some(p) = kids.next() {
                    if p.as_rule() == Rule::log_entry {
                        let mut entry = Kids::of(p);
                        let name = self.name(&entry.want(Rule::ident)?)?;
                        entry.want(Rule::assign)?;
                        entries.push((name, expr(entry.want(Rule::expr)?, &mut depth)?));
                    }
                }
                StmtKind::Log { entries }
            }
            Rule::every_stmt => {
                kids.want(Rule::kw_every)?;
                let period = expr(kids.want(Rule::expr)?, &mut depth)?;
                let unit = self.name(&kids.want(Rule::ident)?)?;
                let after = match kids.eat(Rule::kw_after) {
                    Some(_) => Some(expr(kids.want(Rule::expr)?, &mut depth)?),
                    None => None,
                };
                let (body, d) = self.block_stmts(kids.want(Rule::block)?)?;
                depth = depth.max(d);
                StmtKind::Every {
                    period,
                    unit,
                    after,
                    body,
                }
            }
            Rule::repeat_stmt => {
                kids.want(Rule::kw_repeat)?;
                let count = expr(kids.want(Rule::expr)?, &mut depth)?;
                let (body, d) = self.block_stmts(kids.want(Rule::block)?)?;
                depth = depth.max(d);
                StmtKind::Repeat { count, body }
            }
            Rule::for_stmt => {
                kids.want(Rule::kw_for)?;
                let var = self.name(&kids.want(Rule::ident)?)?;
                kids.want(Rule::kw_in)?;
                let iter = expr(kids.want(Rule::expr)?, &mut depth)?;
                let (body, d) = self.block_stmts(kids.want(Rule::block)?)?;
                depth = depth.max(d);
                StmtKind::For { var, iter, body }
            }
            Rule::let_stmt => {
                let mut names = Vec::new();
                let mut values = Vec::new();
                while let Some(p) = kids.next() {
                    match p.as_rule() {
                        Rule::ident => names.push(self.name(&p)?),
                        Rule::expr => values.push(self.expr(p)?),
                        _ => {}
                    }
                }
                let value = self.tuple_of(values, span)?;
                depth = value.1;
                StmtKind::Let {
                    names,
                    value: value.0,
                    doc: None,
                }
            }
            Rule::expr_stmt => {
                let (place, d) = self.expr(kids.want(Rule::expr)?)?;
                depth = d;
                match kids.next() {
                    None => StmtKind::Expr(place),
                    Some(op) => {
                        let value = expr(kids.want(Rule::expr)?, &mut depth)?;
                        let op_span = span_of(&op);
                        if !matches!(
                            place.kind,
                            ExprKind::Name(_)
                                | ExprKind::Field { .. }
                                | ExprKind::Index { .. }
                                | ExprKind::Call { .. }
                        ) {
                            return Err(ParseError::new(
                                format!(
                                    "the left side of `{}` must be a name, a field or an element",
                                    op.as_str()
                                ),
                                place.span,
                            )
                            .with_hint(
                                "for example `q_targ <- q`, `env.state <- s` or `n[a] += 1`",
                            ));
                        }
                        match op.as_rule() {
                            Rule::update_op => StmtKind::Update { place, value },
                            Rule::aug_add => StmtKind::AugAssign {
                                place,
                                op: BinOp::Add,
                                value,
                            },
                            Rule::aug_sub => StmtKind::AugAssign {
                                place,
                                op: BinOp::Sub,
                                value,
                            },
                            Rule::aug_mul => StmtKind::AugAssign {
                                place,
                                op: BinOp::Mul,
                                value,
                            },
                            Rule::aug_div => StmtKind::AugAssign {
                                place,
                                op: BinOp::Div,
                                value,
                            },
                            _ => {
                                return Err(self.internal(op_span, "unexpected statement operator"));
                            }
                        }
                    }
                }
            }
            _ => return Err(self.internal(span, "unexpected statement")),
        };
        Ok((Stmt { kind, span }, depth))
    }

    /// One expression, or several (`a, b = x, y`) as a tuple spanning them.
    fn tuple_of(&self, mut values: Vec<Deep<Expr>>, at: Span) -> PResult<Deep<Expr>> {
        if values.len() <= 1 {
            return values
                .pop()
                .ok_or_else(|| self.internal(at, "binding without a value"));
        }
        let span = values[0].0.span.to(values[values.len() - 1].0.span);
        let depth = check_depth(
            values.iter().map(|v| v.1).max().unwrap_or(0) + 1,
            head(span),
        )?;
        let items = values.into_iter().map(|v| v.0).collect();
        Ok((
            Expr {
                kind: ExprKind::Tuple(items),
                span,
            },
            depth,
        ))
    }

    // ---- expressions ----

    /// An `expr` pair: a flat run of operator-expression tokens and heads (`if c then a
    /// else`, `params ->`, `from ->`), each head wrapping everything after it to the end
    /// of the expression. Folded with a stack of open heads, innermost last, each with the
    /// tokens of its body so far; the closed body of a head is the last operand of the
    /// head around it (`1 + if c then a else b` is `1 + (if c then a else b)`).
    fn expr(&self, pair: Pair<Rule>) -> PResult<Deep<Expr>> {
        let mut open: Vec<Open> = vec![Open {
            head: None,
            tokens: Vec::new(),
        }];
        let mut lambda = None;
        for p in pair.into_inner() {
            let innermost = open.len() - 1;
            match p.as_rule() {
                Rule::if_head => open.push(Open {
                    head: Some(self.if_head(p)?),
                    tokens: Vec::new(),
                }),
                Rule::lambda_params => lambda = Some(p),
                Rule::arrow => {
                    let arrow = span_of(&p);
                    let head = match lambda.take() {
                        Some(l) => {
                            let span = span_of(&l);
                            Head::Lambda {
                                params: self.lambda_params(l)?,
                                span,
                                arrow,
                            }
                        }
                        // A range: everything since the innermost head is its start.
                        None => Head::Range {
                            from: self
                                .operation(std::mem::take(&mut open[innermost].tokens), None)?,
                            arrow,
                        },
                    };
                    open.push(Open {
                        head: Some(head),
                        tokens: Vec::new(),
                    });
                }
                _ => open[innermost].tokens.push(p),
            }
        }
        let mut tail = None;
        while let Some(Open { head, tokens }) = open.pop() {
            let body = self.operation(tokens, tail)?;
            tail = Some(match head {
                Some(head) => self.wrap(head, body)?,
                None => body,
            });
        }
        tail.ok_or_else(|| self.internal(Span::default(), "empty expression"))
    }

    /// A head around its body.
    fn wrap(&self, head: Head, (body, body_depth): Deep<Expr>) -> PResult<Deep<Expr>> {
        Ok(match head {
            Head::If { kw, cond, then } => {
                let span = kw.to(body.span);
                let depth = check_depth(cond.1.max(then.1).max(body_depth) + 1, kw)?;
                let kind = ExprKind::If {
                    cond: Box::new(cond.0),
                    then: Box::new(then.0),
                    otherwise: Box::new(body),
                };
                (Expr { kind, span }, depth)
            }
            Head::Lambda {
                params,
                span,
                arrow,
            } => {
                let depth = check_depth(params.1.max(body_depth) + 1, arrow)?;
                let span = span.to(body.span);
                let kind = ExprKind::Lambda {
                    params: params.0,
                    body: Box::new(body),
                };
                (Expr { kind, span }, depth)
            }
            Head::Range { from, arrow } => {
                let span = from.0.span.to(body.span);
                let depth = check_depth(from.1.max(body_depth) + 1, arrow)?;
                let kind = ExprKind::Range {
                    from: Box::new(from.0),
                    to: Box::new(body),
                };
                (Expr { kind, span }, depth)
            }
        })
    }

    /// `if cond then value else`: the condition and the `then` arm are `expr` pairs.
    fn if_head(&self, pair: Pair<Rule>) -> PResult<Head> {
        let mut kw = None;
        let mut arms = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_if => kw = Some(span_of(&p)),
                Rule::expr => arms.push(p),
                _ => {}
            }
        }
        let kw = kw.ok_or_else(|| self.internal(Span::default(), "`if` without `if`"))?;
        let mut arms = arms.into_iter();
        let (Some(cond), Some(then), None) = (arms.next(), arms.next(), arms.next()) else {
            return Err(self.internal(kw, "`if` without two arms"));
        };
        Ok(Head::If {
            kw,
            cond: self.expr(cond)?,
            then: self.expr(then)?,
        })
    }

    fn lambda_params(&self, pair: Pair<Rule>) -> PResult<Deep<Vec<Param>>> {
        let mut params = Vec::new();
        let mut depth = 0;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => {
                    let name = self.name(&p)?;
                    let span = name.span;
                    params.push(Param {
                        name,
                        ty: None,
                        default: None,
                        span,
                    });
                }
                Rule::param => {
                    let (param, d) = self.param(p)?;
                    depth = depth.max(d);
                    params.push(param);
                }
                _ => {}
            }
        }
        Ok((params, depth))
    }

    /// Precedence climbing over a flat run of prefix operators, operands (a primary and
    /// its postfix operations) and infix operators; `last`, if given, is the final
    /// operand, already folded (an `if` or lambda in operand position). Iterative, so
    /// chains of any length cost no stack; each node built checks the depth limit.
    fn operation(
        &self,
        mut tokens: Vec<Pair<Rule>>,
        mut last: Option<Deep<Expr>>,
    ) -> PResult<Deep<Expr>> {
        if tokens.is_empty()
            && let Some(only) = last.take()
        {
            return Ok(only);
        }
        if tokens.len() == 1
            && last.is_none()
            && let Some(only) = tokens.pop()
        {
            return self.primary(only);
        }
        let mut values: Vec<Deep<Expr>> = Vec::new();
        let mut ops: Vec<Pending> = Vec::new();
        let mut tokens = tokens.into_iter().peekable();
        loop {
            // An operand: prefix operators, a primary, postfix operations.
            let primary = loop {
                let Some(p) = tokens.next() else { break None };
                match (p.as_rule(), p.as_str()) {
                    (Rule::prefix_op, "not") => ops.push(Pending::Prefix(UnOp::Not, span_of(&p))),
                    (Rule::prefix_op, _) => ops.push(Pending::Prefix(UnOp::Neg, span_of(&p))),
                    _ => break Some(p),
                }
            };
            let Some(primary) = primary else {
                // The tokens ran out where an operand belongs: the folded last one.
                let operand = last
                    .take()
                    .ok_or_else(|| self.internal(Span::default(), "missing operand"))?;
                values.push(operand);
                break;
            };
            let mut operand = self.primary(primary)?;
            while let Some(p) =
                tokens.next_if(|p| matches!(p.as_rule(), Rule::call | Rule::field | Rule::index))
            {
                operand = self.postfix(operand, p)?;
            }
            values.push(operand);

            // An infix operator, or the end.
            let Some(p) = tokens.next() else { break };
            let op_span = span_of(&p);
            let op = binop_of(p.as_str())
                .ok_or_else(|| self.internal(op_span, "expected an operator"))?;
            let prec = binop_precedence(op);
            while let Some(&top) = ops.last() {
                let top_prec = top.precedence();
                let reduce = match top {
                    Pending::Infix(top_op, _) if top_prec == prec => {
                        if is_comparison(op) && is_comparison(top_op) {
                            return Err(ParseError::new(
                                "comparison operators cannot be chained",
                                op_span,
                            )
                            .with_hint("write `a < b and b < c`, or parenthesise one comparison"));
                        }
                        // `**` is the only right-associative operator.
                        op != BinOp::Pow
                    }
                    _ => top_prec > prec,
                };
                if !reduce {
                    break;
                }
                ops.pop();
                self.reduce(top, &mut values)?;
            }
            ops.push(Pending::Infix(op, op_span));
        }
        while let Some(op) = ops.pop() {
            self.reduce(op, &mut values)?;
        }
        match (values.pop(), values.is_empty(), last) {
            (Some(v), true, None) => Ok(v),
            _ => Err(self.internal(Span::default(), "unbalanced operators")),
        }
    }

    fn reduce(&self, op: Pending, values: &mut Vec<Deep<Expr>>) -> PResult<()> {
        let missing = || self.internal(Span::default(), "missing operand");
        let node = match op {
            Pending::Prefix(op, op_span) => {
                let (operand, d) = values.pop().ok_or_else(missing)?;
                let span = op_span.to(operand.span);
                (
                    Expr {
                        kind: ExprKind::Unary {
                            op,
                            operand: Box::new(operand),
                        },
                        span,
                    },
                    check_depth(d + 1, op_span)?,
                )
            }
            Pending::Infix(op, op_span) => {
                let (rhs, dr) = values.pop().ok_or_else(missing)?;
                let (lhs, dl) = values.pop().ok_or_else(missing)?;
                let span = lhs.span.to(rhs.span);
                let depth = check_depth(dl.max(dr) + 1, op_span)?;
                (
                    Expr {
                        kind: ExprKind::Binary {
                            op,
                            lhs: Box::new(lhs),
                            rhs: Box::new(rhs),
                        },
                        span,
                    },
                    depth,
                )
            }
        };
        values.push(node);
        Ok(())
    }

    fn postfix(&self, (base, base_depth): Deep<Expr>, pair: Pair<Rule>) -> PResult<Deep<Expr>> {
        let op_span = span_of(&pair);
        let span = base.span.to(op_span);
        let base = Box::new(base);
        let mut depth = base_depth;
        let kind = match pair.as_rule() {
            Rule::call => {
                let mut args = Vec::new();
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::arg {
                        let arg_span = span_of(&p);
                        let mut kids = Kids::of(p);
                        let name = match kids.eat(Rule::key) {
                            Some(k) => Some(self.key(k)?),
                            None => None,
                        };
                        let (value, d) = self.expr(kids.want(Rule::expr)?)?;
                        depth = depth.max(d);
                        args.push(Arg {
                            name,
                            value,
                            span: arg_span,
                        });
                    }
                }
                ExprKind::Call { callee: base, args }
            }
            Rule::field => {
                let name = self.ident(
                    &Kids::of(pair)
                        .pairs
                        .find(|p| p.as_rule() == Rule::word)
                        .ok_or_else(|| self.internal(op_span, "field without a name"))?,
                );
                ExprKind::Field { base, name }
            }
            Rule::index => {
                let mut indices = Vec::new();
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::index_item {
                        let item_span = span_of(&p);
                        let mut start = None;
                        let mut end = None;
                        let mut colon = false;
                        for q in p.into_inner() {
                            match q.as_rule() {
                                Rule::colon => colon = true,
                                Rule::expr => {
                                    let (e, d) = self.expr(q)?;
                                    depth = depth.max(d);
                                    if colon {
                                        end = Some(e)
                                    } else {
                                        start = Some(e)
                                    }
                                }
                                _ => {}
                            }
                        }
                        indices.push(match (colon, start) {
                            (false, Some(e)) => IndexItem::Expr(e),
                            (_, start) => IndexItem::Slice {
                                start,
                                end,
                                span: item_span,
                            },
                        });
                    }
                }
                ExprKind::Index { base, indices }
            }
            _ => return Err(self.internal(op_span, "unexpected postfix operation")),
        };
        Ok((Expr { kind, span }, check_depth(depth + 1, head(op_span))?))
    }

    fn primary(&self, pair: Pair<Rule>) -> PResult<Deep<Expr>> {
        let span = span_of(&pair);
        let leaf = |kind| Ok((Expr { kind, span }, 1));
        match pair.as_rule() {
            Rule::number if !pair.as_str().contains(['.', 'e', 'E']) => {
                leaf(ExprKind::Int(self.int_value(&pair)?))
            }
            Rule::number => {
                let text: String = pair.as_str().chars().filter(|&c| c != '_').collect();
                match text.parse::<f64>() {
                    Ok(x) if x.is_finite() => leaf(ExprKind::Float(x)),
                    _ => Err(ParseError::new("float literal is out of range", span)),
                }
            }
            Rule::string => leaf(ExprKind::Str(self.string(&pair)?)),
            Rule::ident => match pair.as_str() {
                "true" => leaf(ExprKind::Bool(true)),
                "false" => leaf(ExprKind::Bool(false)),
                _ => leaf(ExprKind::Name(self.name(&pair)?)),
            },
            Rule::paren => {
                let mut items = Vec::new();
                let mut trailing_comma = false;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::expr => {
                            items.push(self.expr(p)?);
                            trailing_comma = false;
                        }
                        Rule::comma => trailing_comma = true,
                        _ => {}
                    }
                }
                if items.len() == 1 && !trailing_comma {
                    // Parentheses only group: the inner expression, with their span.
                    let (mut e, d) = items
                        .pop()
                        .ok_or_else(|| self.internal(span, "empty parentheses"))?;
                    e.span = span;
                    Ok((e, d))
                } else {
                    let depth =
                        check_depth(items.iter().map(|i| i.1).max().unwrap_or(0) + 1, head(span))?;
                    Ok((
                        Expr {
                            kind: ExprKind::Tuple(items.into_iter().map(|i| i.0).collect()),
                            span,
                        },
                        depth,
                    ))
                }
            }
            Rule::list => {
                let items = pair
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::expr)
                    .map(|p| self.expr(p))
                    .collect::<PResult<Vec<_>>>()?;
                let depth =
                    check_depth(items.iter().map(|i| i.1).max().unwrap_or(0) + 1, head(span))?;
                Ok((
                    Expr {
                        kind: ExprKind::List(items.into_iter().map(|i| i.0).collect()),
                        span,
                    },
                    depth,
                ))
            }
            Rule::record => {
                let mut fields = Vec::new();
                let mut depth = 0;
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::field_init {
                        let mut kids = Kids::of(p);
                        let name = self.key(kids.want(Rule::key)?)?;
                        let (value, d) = self.expr(kids.want(Rule::expr)?)?;
                        depth = depth.max(d);
                        fields.push((name, value));
                    }
                }
                Ok((
                    Expr {
                        kind: ExprKind::Record(fields),
                        span,
                    },
                    check_depth(depth + 1, head(span))?,
                ))
            }
            Rule::block => {
                let (block, d) = self.block(pair)?;
                Ok((
                    Expr {
                        kind: ExprKind::Block(block),
                        span,
                    },
                    check_depth(d + 1, head(span))?,
                ))
            }
            Rule::scan_expr => {
                let mut kids = Kids::of(pair);
                kids.want(Rule::kw_scan)?;
                let reverse = kids.eat(Rule::kw_reverse).is_some();
                let var = self.name(&kids.want(Rule::ident)?)?;
                kids.want(Rule::kw_in)?;
                let length = self.dim(kids.want(Rule::dim)?)?;
                let mut carries = Vec::new();
                let mut depth = 0;
                let mut body = None;
                while let Some(p) = kids.next() {
                    match p.as_rule() {
                        Rule::carry => {
                            let mut c = Kids::of(p);
                            let name = self.name(&c.want(Rule::ident)?)?;
                            c.want(Rule::assign)?;
                            let (init, d) = self.expr(c.want(Rule::expr)?)?;
                            depth = depth.max(d);
                            carries.push((name, init));
                        }
                        Rule::block => {
                            let (b, d) = self.block(p)?;
                            depth = depth.max(d);
                            body = Some(b);
                        }
                        _ => {}
                    }
                }
                let body = body.ok_or_else(|| self.internal(span, "scan without a body"))?;
                let scan = Scan {
                    reverse,
                    var,
                    length,
                    carries,
                    body,
                };
                Ok((
                    Expr {
                        kind: ExprKind::Scan(Box::new(scan)),
                        span,
                    },
                    check_depth(depth + 1, head(span))?,
                ))
            }
            _ => Err(self.internal(span, "unexpected primary")),
        }
    }

    // ---- literals ----

    fn int_value(&self, p: &Pair<Rule>) -> PResult<i64> {
        let text = p.as_str();
        let parsed = if text.contains('_') {
            text.replace('_', "").parse::<i64>()
        } else {
            text.parse::<i64>()
        };
        parsed.map_err(|_| {
            ParseError::new(
                format!("integer literal is too large (the largest is {})", i64::MAX),
                span_of(p),
            )
        })
    }

    /// The value of a string literal (quotes included in `p`).
    fn string(&self, p: &Pair<Rule>) -> PResult<String> {
        let text = p.as_str();
        let start = p.as_span().start();
        let inner = text.get(1..text.len().saturating_sub(1)).unwrap_or("");
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, '0')) => out.push('\0'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, other)) => {
                    let at = Span::new(start + 1 + i, start + 1 + i + 1 + other.len_utf8());
                    return Err(ParseError::new(
                        format!("unknown escape `\\{other}` in string"),
                        at,
                    )
                    .with_hint("the escapes are `\\n`, `\\t`, `\\r`, `\\0`, `\\\"` and `\\\\`"));
                }
                None => return Err(self.internal(span_of(p), "dangling backslash")),
            }
        }
        Ok(out)
    }
}

/// The `///` lines directly above the item starting at `start`, without the `///` and
/// one following space, joined with newlines. The item must begin its line.
fn doc_above(src: &str, start: usize) -> Option<String> {
    let b = src.as_bytes();
    let mut line_start = start;
    while line_start > 0 && matches!(b[line_start - 1], b' ' | b'\t') {
        line_start -= 1;
    }
    let mut lines = Vec::new();
    // Walk up one line at a time while the line above is a doc line.
    while line_start > 0 {
        let content_end = match b[line_start - 1] {
            b'\n' if line_start >= 2 && b[line_start - 2] == b'\r' => line_start - 2,
            b'\n' | b'\r' => line_start - 1,
            // Something else precedes the item on its line.
            _ => break,
        };
        let mut content_start = content_end;
        while content_start > 0 && !matches!(b[content_start - 1], b'\n' | b'\r') {
            content_start -= 1;
        }
        let line = src[content_start..content_end].trim_start_matches([' ', '\t']);
        let Some(text) = line.strip_prefix("///") else {
            break;
        };
        lines.push(text.strip_prefix(' ').unwrap_or(text));
        line_start = content_start;
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_and_every_kind_of_line_break() {
        let src = "ab\ncé\r\nx\ry";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 2), (1, 3));
        assert_eq!(line_col(src, 3), (2, 1));
        assert_eq!(line_col(src, 4), (2, 2));
        // Inside `é`: clamped to its start.
        assert_eq!(line_col(src, 6), (2, 3));
        assert_eq!(line_col(src, 8), (3, 1));
        assert_eq!(line_col(src, 10), (4, 1));
        assert_eq!(line_col(src, 1000), (4, 2));
    }

    #[test]
    fn prescan_matches_brackets_outside_strings_and_comments() {
        let scan = prescan("f(\"(\", [x]) # (\n/// [\ny = {").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(scan.unclosed, [(26, b'{')]);
        assert_eq!(scan.mismatch, None);
        assert_eq!(scan.stray, None);
        assert_eq!(scan.max_depth, 2);
        let scan = prescan("(]\n)").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(scan.mismatch, Some((1, 0)));
        assert_eq!(scan.stray, Some(3));
        let scan = prescan("x = \"ab\\\"c\nd\"").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(scan.unterminated, Some((4, 10)));
    }

    #[test]
    fn prescan_rejects_deep_brackets_at_the_first_one_too_deep() {
        let src = "[".repeat(MAX_BRACKET_DEPTH + 5);
        let e = prescan(&src).err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(e.span, Span::new(MAX_BRACKET_DEPTH, MAX_BRACKET_DEPTH + 1));
        assert!(prescan(&"[".repeat(MAX_BRACKET_DEPTH)).is_ok());
    }

    #[test]
    fn doc_above_reads_contiguous_doc_lines() {
        let src = "x = 1\n/// a\n  ///  b\n///\nfn f() {}";
        let at = src.find("fn").unwrap_or(0);
        assert_eq!(doc_above(src, at).as_deref(), Some("a\n b\n"));
        assert_eq!(doc_above(src, 0), None);
        let src = "/// a\nx = 1; y = 2";
        assert_eq!(doc_above(src, src.find('y').unwrap_or(0)), None);
        let src = "/// a\r\n\r\nfn f() {}";
        assert_eq!(doc_above(src, src.find("fn").unwrap_or(0)), None);
    }

    #[test]
    fn token_span_covers_a_word_or_one_character() {
        let src = "ab_1 + é\n";
        assert_eq!(token_span(src, 0), Span::new(0, 4));
        assert_eq!(token_span(src, 5), Span::new(5, 6));
        assert_eq!(token_span(src, 7), Span::new(7, 9));
        assert_eq!(token_span(src, 9), Span::new(9, 9));
        assert_eq!(token_span(src, 10), Span::new(10, 10));
    }

    #[test]
    fn expected_words_collapse_into_what_a_user_would_say() {
        let words = |rules: &[Rule]| expected_words(rules).join(", ");
        assert_eq!(
            words(&[
                Rule::number,
                Rule::ident,
                Rule::lparen,
                Rule::lbrace,
                Rule::rparen
            ]),
            "expression, ')'"
        );
        assert_eq!(
            words(&[
                Rule::infix_op,
                Rule::lparen,
                Rule::dot,
                Rule::comma,
                Rule::sep,
                Rule::EOI
            ]),
            "operator, ',', end of statement"
        );
        assert_eq!(
            words(&[Rule::let_stmt, Rule::ident, Rule::item_kw, Rule::kw_fn]),
            "statement"
        );
        assert_eq!(words(&[Rule::ident, Rule::string]), "name, string");
        assert_eq!(words(&[Rule::arrow, Rule::lbrace]), "'->', '{'");
        assert_eq!(words(&[Rule::EOI]), "end of input");
    }

    #[test]
    fn binary_operators_round_trip_through_their_symbols() {
        use BinOp::*;
        for op in [
            Add, Sub, Mul, Div, Rem, Pow, MatMul, Concat, Eq, Ne, Lt, Le, Gt, Ge, And, Or,
        ] {
            assert_eq!(binop_of(op.symbol()), Some(op));
        }
    }
}
