//! `parse` never panics, never overflows the stack, stays fast, and keeps error spans on
//! character boundaries inside the source — whatever the input.

mod common;

use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use rlp_syntax::{MAX_BRACKET_DEPTH, MAX_EXPR_DEPTH, parse};

const DEEP: usize = 100_000;

/// Parses on a thread with a small stack (like a test harness or rayon worker), so a
/// recursion that grows with the input shows up as a crash here.
fn parse_small_stack(src: String) -> Result<rlp_syntax::ast::Module, rlp_syntax::ParseError> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let r = parse(&src);
            if let Err(e) = &r {
                check_error_span(e, &src);
            }
            // Dropping the AST recurses too.
            r
        })
        .unwrap()
        .join()
        .expect("parser thread crashed")
}

fn deep_err(src: String) -> rlp_syntax::ParseError {
    match parse_small_stack(src) {
        Ok(_) => panic!("expected a nesting error"),
        Err(e) => e,
    }
}

/// A file an editor started with a UTF-8 byte-order mark parses as without it, with
/// spans still counted from the file's first byte.
#[test]
fn a_byte_order_mark_is_skipped() {
    let m = parse_ok("\u{feff}x = 1.0\n");
    assert_eq!(m.items.len(), 1);
    let e = parse("\u{feff}x = \n").unwrap_err();
    check_error_span(&e, "\u{feff}x = \n");
    assert!(e.span.start >= 3, "{e:?}");
    // Only at the start: elsewhere it is still a stray character.
    assert!(parse("x = 1.0\n\u{feff}y = 2.0\n").is_err());
}

#[test]
fn empty_and_blank_files() {
    for src in [
        "",
        "\n",
        "\r\n",
        "   ",
        "\t\t\n\n",
        "# only a comment",
        "# c\n\n# d\n",
        "/// a dangling doc\n",
        ";;\n;",
    ] {
        let m = parse_ok(src);
        assert!(m.items.is_empty(), "{src:?}");
    }
}

#[test]
fn deep_parens_are_rejected_at_the_bracket_that_went_too_deep() {
    for open in ["(", "[", "{"] {
        let src = format!("x = {}", open.repeat(DEEP));
        let e = deep_err(src);
        assert!(e.message.contains("nested too deeply"), "{e:?}");
        // `x = ` is 4 bytes; the bracket at index MAX_BRACKET_DEPTH (0-based) is the first too deep.
        let at = 4 + MAX_BRACKET_DEPTH;
        assert_eq!(e.span, rlp_syntax::ast::Span::new(at, at + 1));
    }
    // Closed, but still too deep.
    let src = format!("x = {}1{}", "(".repeat(DEEP), ")".repeat(DEEP));
    assert!(deep_err(src).message.contains("nested too deeply"));
    let src = format!("{}{}", "f(".repeat(DEEP), ")".repeat(DEEP));
    assert!(deep_err(src).message.contains("nested too deeply"));
    // Brackets in strings and comments do not count.
    let src = format!("x = \"{}\" # {}\n", "(".repeat(DEEP), "[".repeat(DEEP));
    parse_ok(&src);
}

#[test]
fn ifs_nested_in_conditions_and_then_arms_count_as_nesting() {
    // pest recurses into an `if`'s condition and `then` arm, so these are bounded like
    // brackets, at the first `if` too deep.
    for src in [
        format!(
            "x = {}1{}",
            "if a then ".repeat(DEEP),
            " else 0".repeat(DEEP)
        ),
        format!("x = {}a", "if ".repeat(DEEP)),
        format!("x = {}a", "1 + if -".repeat(DEEP)),
        format!("x = {}1", "(if a then ".repeat(DEEP)),
    ] {
        let start = Instant::now();
        let e = deep_err(src.clone());
        assert!(
            e.message.contains("nested too deeply"),
            "{}: {e:?}",
            &src[..20]
        );
        assert!(matches!(&src[e.span.range()], "if" | "("), "{e:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }
    // Up to the limit they parse, and an `if` closed by its `else` no longer counts.
    let n = MAX_BRACKET_DEPTH;
    parse_ok(&format!(
        "x = {}1{}",
        "if a then ".repeat(n),
        " else 0".repeat(n)
    ));
    parse_ok(&format!(
        "x = {}a{}",
        "if ".repeat(n),
        " then 1 else 0".repeat(n)
    ));
    let chain = format!("x = {}c", "if a then if b then 1 else 2 else ".repeat(n));
    parse_ok(&chain);
    // `x.if` and the key in `f(else: 1)` are not keywords.
    parse_ok(&format!(
        "x = {}1{}",
        "f(if: a.if, b: ".repeat(n / 2),
        ")".repeat(n / 2)
    ));
}

#[test]
fn failed_nested_ifs_are_not_parsed_again() {
    // Each `if` lacks its `then`: if a failed `if_head` were retried, the time would double
    // with every level.
    let n = MAX_BRACKET_DEPTH - 1;
    for src in [
        format!("x = {}a", "if ".repeat(n)),
        format!("x = {}a", "1 + if -".repeat(n)),
        format!("x = {}a then b", "if a then if ".repeat(n / 2)),
    ] {
        let start = Instant::now();
        let e = parse_small_stack(src.clone())
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(!e.message.contains("too complex"), "{e:?}");
        assert!(start.elapsed() < Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 1 }));
    }
}

#[test]
fn nesting_up_to_the_limit_parses() {
    // An expression's levels count its innermost value: 255 `+`s or `-`s are 256 levels.
    let e = MAX_EXPR_DEPTH as usize;
    for (ok, src) in [
        (true, format!("x = a{}", " + a".repeat(e - 1))),
        (false, format!("x = a{}", " + a".repeat(e))),
        (true, format!("x = {}a", "-".repeat(e - 1))),
        (false, format!("x = {}a", "-".repeat(e))),
    ] {
        let r = parse_small_stack(src.clone());
        assert_eq!(r.is_ok(), ok, "{:?}", r.err());
        if let Err(err) = r {
            assert!(err.message.contains("innermost value included"), "{err:?}");
        }
    }
    let n = MAX_BRACKET_DEPTH;
    for (open, close) in [("(", ")"), ("[", "]"), ("f(", ")"), ("{", "}")] {
        let src = format!("x = {}1{}", open.repeat(n), close.repeat(n));
        let r = parse_small_stack(src.clone());
        assert!(r.is_ok(), "{open}: {:?}", r.err());
    }
    let src = format!("x = {}1{}", "(".repeat(n + 1), ")".repeat(n + 1));
    assert!(deep_err(src).message.contains("nested too deeply"));
    // Mixed with operators on every level: deep trees, within the expression limit.
    let src = format!("x = {}1{}", "-(1 + ".repeat(n / 2), ")".repeat(n / 2));
    assert!(parse_small_stack(src).is_ok());
}

#[test]
fn long_operator_chains_are_bounded_not_recursed() {
    let cases = [
        format!("x = {}x", "-".repeat(DEEP)),
        format!("x = {}x", "not ".repeat(DEEP)),
        format!("x = a{}", "**a".repeat(DEEP)),
        format!("x = a{}", " + a".repeat(DEEP)),
        format!("x = a{}", " ++ a".repeat(DEEP)),
        format!("x = a{}", ".b".repeat(DEEP)),
        format!("x = f{}", "()".repeat(DEEP)),
        format!("x = a{}", "[0]".repeat(DEEP)),
        format!("x = {}x", "y -> ".repeat(DEEP)),
        format!("x = {}1", "1 -> ".repeat(DEEP)),
        format!("x = {}c", "if a then b else ".repeat(DEEP)),
        format!("x = {}c", "1 + if a then b else ".repeat(DEEP)),
        format!("x = {}c", "-if a then b else ".repeat(DEEP)),
        format!("x = {}x", "-x ** ".repeat(DEEP)),
        format!("x = a{}", " or a and not -a ** a".repeat(DEEP / 4)),
    ];
    for src in cases {
        let start = Instant::now();
        let e = deep_err(src.clone());
        assert!(
            e.message.contains("nested too deeply"),
            "{}: {e:?}",
            &src[..20]
        );
        assert!(start.elapsed() < Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 3 }));
    }
}

#[test]
fn long_chains_within_the_limit_parse() {
    let n = MAX_EXPR_DEPTH as usize - 1;
    parse_ok(&format!("x = a{}", " + a".repeat(n)));
    parse_ok(&format!("x = {}x", "-".repeat(n)));
    parse_ok(&format!("x = a{}", "**a".repeat(n)));
    parse_ok(&format!("x = {}c", "if a then b else ".repeat(n)));
    parse_ok(&format!("x = {}c", "a * if a then b else ".repeat(n / 2)));
    parse_ok(&format!("x = a{}", ".b".repeat(n)));
    assert!(parse(&format!("x = a{}", " + a".repeat(n + 1))).is_err());
}

#[test]
fn many_statements_and_long_lists_are_fine() {
    // Sequences are vectors, not nesting.
    let src = "x = 1\n".repeat(DEEP);
    assert_eq!(parse_ok(&src).items.len(), DEEP);
    let src = format!("x = [{}0]", "1, ".repeat(DEEP));
    parse_ok(&src);
    let src = format!("f({}0)", "a: 1, ".repeat(DEEP));
    parse_ok(&src);
    let src = format!("train steps: 1 {{\n{}}}", "  fit x = 1\n".repeat(DEEP / 10));
    parse_ok(&src);
}

fn time_limit() -> Duration {
    if cfg!(debug_assertions) {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(2)
    }
}

/// Input sizes: the full megabyte in release builds, less in (slow) debug builds.
fn megabyte() -> usize {
    if cfg!(debug_assertions) {
        1 << 18
    } else {
        1 << 20
    }
}

#[test]
fn a_megabyte_line() {
    let n = megabyte();
    let cases = [
        format!("# {}", "x".repeat(n)),
        format!("x = \"{}\"", "é".repeat(n / 2)),
        format!("x = [{}1]", "1, ".repeat(n / 3)),
        format!("{}x = 1", "a = 1; ".repeat(n / 7)),
        format!("x = {}", "a".repeat(n)),
    ];
    for src in cases {
        let start = Instant::now();
        let r = parse_small_stack(src.clone());
        assert!(r.is_ok(), "{:?}", r.err());
        assert!(start.elapsed() < time_limit(), "{:?}", start.elapsed());
    }
    // And failing ones: the error is found fast and points inside the line.
    for src in [
        format!("x = {} +", "a + ".repeat(n / 4)),
        format!("x = f({}", "a, ".repeat(n / 3)),
        format!("x = \"{}", "a".repeat(n)),
    ] {
        let start = Instant::now();
        let e = parse(&src).expect_err("fails");
        check_error_span(&e, &src);
        assert!(start.elapsed() < time_limit());
    }
}

#[test]
fn crlf_tabs_and_lone_cr_are_newlines_and_whitespace() {
    let lf = "use std.env.cartpole\n\n/// Doc.\nfn f(a,\n  b) -> [T,\n N] {\n\ty = a +\n\t  b\n\ty\n}\nx = f(1,\n 2)  # c\n";
    let crlf = lf.replace('\n', "\r\n");
    let cr = lf.replace('\n', "\r");
    let a = items(&parse_ok(lf));
    assert_eq!(a, items(&parse_ok(&crlf)));
    assert_eq!(a, items(&parse_ok(&cr)));
    assert!(a.contains("doc \"Doc.\""), "{a}");
    // Spans are byte offsets into the CRLF text.
    let m = parse_ok(&crlf);
    let rlp_syntax::ast::Item::Stmt(s) = &m.items[2] else {
        panic!()
    };
    assert_eq!(&crlf[s.span.range()], "x = f(1,\r\n 2)");
}

#[test]
fn multibyte_text_keeps_spans_on_char_boundaries() {
    let src = "# ñandú ✓ 🦀\nx = \"héllo ✓ 🦀\"  # 🦀🦀\ny = x ++ \"ü\"\n";
    let m = parse_ok(src);
    assert_eq!(items(&m), "(let x \"héllo ✓ 🦀\")\n(let y (++ x \"ü\"))");
    // An error at a multibyte character covers exactly that character.
    let src = "x = 1 + é";
    let e = parse_err(src);
    assert_eq!(&src[e.span.range()], "é");
    let src = "x = 🦀";
    let e = parse_err(src);
    assert_eq!(&src[e.span.range()], "🦀");
    let src = "ü";
    let e = parse_err(src);
    assert_eq!(&src[e.span.range()], "ü");
    // Found by proptest: a multibyte character just before the error.
    for src in ["A<#𘠀", "x = aé b", "x = 1 é 2", "é\n)"] {
        parse_err(src);
    }
}

#[test]
fn error_at_end_of_input_is_empty_and_in_bounds() {
    for src in [
        "x = ",
        "x = f(",
        "fn f(",
        "train steps: 1 {",
        "x = [1,\n",
        "x = \"é",
        "é",
    ] {
        let e = parse_err(src);
        assert!(e.span.end as usize <= src.len());
    }
    let e = parse_err("x = (1 +");
    assert_eq!(e.span, rlp_syntax::ast::Span::new(8, 8));
}

// ---------------------------------------------------------------------------------------
// Property tests

/// Pieces of `.rlp` text, so random programs get deep into the grammar.
const PIECES: &[&str] = &[
    "x", "y", "f", "1", "2.5", "1e-3", "\"s\"", "\"", "(", ")", "[", "]", "{", "}", ",", ":", ";",
    ".", "=", "==", "<", "<-", "+=", "-", "+", "*", "**", "/", "@", "%", "++", "->", "\n", "\r\n",
    " ", "\t", "#c\n", "/// d\n", "if", "then", "else", "and", "or", "not", "scan", "reverse",
    "in", "fn", "pub", "use", "train", "steps", "sample", "fit", "improve", "minimize", "wrt",
    "with", "log", "every", "after", "repeat", "true", "é", "🦀", "\\", "_",
];

fn piece_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|ps| ps.join(" "))
}

fn piece_soup_tight() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|ps| ps.concat())
}

fn check_any(src: &str) {
    match parse(src) {
        Ok(m) => check_spans(&m, src),
        Err(e) => {
            check_error_span(&e, src);
            assert!(!e.message.is_empty());
            assert!(!e.message.contains("internal error"), "{e:?} for {src:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(src in any::<String>()) {
        check_any(&src);
    }

    #[test]
    fn random_ascii_never_panics(src in "[ -~\n\r\t]{0,200}") {
        check_any(&src);
    }

    #[test]
    fn random_token_soup_never_panics(src in piece_soup()) {
        check_any(&src);
    }

    #[test]
    fn random_tight_token_soup_never_panics(src in piece_soup_tight()) {
        check_any(&src);
    }

    /// Mutating a real program (cutting or duplicating a slice) must still be handled.
    #[test]
    fn mutated_programs_never_panic(a in 0usize..2000, b in 0usize..2000, dup in any::<bool>()) {
        let src = include_str!("programs.rs");
        let (mut a, mut b) = (a.min(src.len()), b.min(src.len()));
        if a > b { std::mem::swap(&mut a, &mut b); }
        while !src.is_char_boundary(a) { a -= 1; }
        while !src.is_char_boundary(b) { b -= 1; }
        let mutated = if dup { format!("{}{}{}", &src[..b], &src[a..b], &src[b..]) } else { format!("{}{}", &src[..a], &src[b..]) };
        check_any(&mutated);
    }
}

// ---------------------------------------------------------------------------------------
// Precedence, checked by printing random operator trees with as few parentheses as the
// precedence rules allow, then parsing them back.

#[derive(Debug, Clone)]
enum Tree {
    Leaf(&'static str),
    Neg(Box<Tree>),
    Not(Box<Tree>),
    Bin(&'static str, Box<Tree>, Box<Tree>),
}

const BINOPS: &[&str] = &[
    "or", "and", "==", "!=", "<", "<=", ">", ">=", "++", "+", "-", "*", "/", "%", "@", "**",
];

fn prec(op: &str) -> u8 {
    match op {
        "or" => 1,
        "and" => 2,
        "==" | "!=" | "<" | "<=" | ">" | ">=" => 4,
        "++" => 5,
        "+" | "-" => 6,
        "**" => 9,
        _ => 7,
    }
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop::sample::select(&["a", "b", "1", "2.5", "f(x)", "v[0]", "p.q"][..])
        .prop_map(Tree::Leaf);
    leaf.prop_recursive(6, 64, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Tree::Neg(Box::new(t))),
            inner.clone().prop_map(|t| Tree::Not(Box::new(t))),
            (prop::sample::select(BINOPS), inner.clone(), inner).prop_map(|(o, l, r)| Tree::Bin(
                o,
                Box::new(l),
                Box::new(r)
            )),
        ]
    })
}

impl Tree {
    fn prec(&self) -> u8 {
        match self {
            Tree::Leaf(_) => 10,
            Tree::Neg(_) => 8,
            Tree::Not(_) => 3,
            Tree::Bin(op, ..) => prec(op),
        }
    }

    /// The S-expression the parser should produce.
    fn sexpr(&self) -> String {
        match self {
            Tree::Leaf(s) => match *s {
                "f(x)" => "(call f x)".into(),
                "v[0]" => "(idx v 0)".into(),
                "p.q" => "(. p q)".into(),
                s => s.into(),
            },
            Tree::Neg(t) => format!("(neg {})", t.sexpr()),
            Tree::Not(t) => format!("(not {})", t.sexpr()),
            Tree::Bin(op, l, r) => format!("({op} {} {})", l.sexpr(), r.sexpr()),
        }
    }

    /// Source text with minimal parentheses.
    fn source(&self) -> String {
        fn wrap(t: &Tree, needs: bool) -> String {
            if needs {
                format!("({})", t.source())
            } else {
                t.source()
            }
        }
        match self {
            Tree::Leaf(s) => s.to_string(),
            Tree::Neg(t) => {
                // The operand of unary minus is a power or tighter; a nested prefix
                // operator is fine too.
                let needs = t.prec() < 8 && !matches!(**t, Tree::Not(_));
                let inner = wrap(t, needs || matches!(**t, Tree::Not(_)));
                format!("-{inner}")
            }
            Tree::Not(t) => format!("not {}", wrap(t, t.prec() < 3)),
            Tree::Bin(op, l, r) => {
                let p = prec(op);
                let cmp = p == 4;
                let (lneeds, rneeds) = if *op == "**" {
                    // Right-assoc; its left operand must be postfix-level (a leading
                    // minus would take the whole power).
                    (l.prec() <= 9, r.prec() < 8 || matches!(**r, Tree::Not(_)))
                } else {
                    (
                        l.prec() < p || (cmp && l.prec() == p),
                        r.prec() <= p || matches!(**r, Tree::Not(_)),
                    )
                };
                format!("{} {op} {}", wrap(l, lneeds), wrap(r, rneeds))
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn precedence_round_trips(t in tree()) {
        let src = t.source();
        prop_assert_eq!(expr_of(&src), t.sexpr(), "source: {}", src);
    }
}
