//! Syntax errors point at the offending token and say what was expected.

mod common;

use common::*;
use rlp_syntax::ast::Span;

/// The error for `src`, with the offending text (`^` marks an empty span).
fn err_at(src: &str) -> (rlp_syntax::ParseError, String) {
    let e = parse_err(src);
    let text = if e.span.is_empty() {
        "^".to_string()
    } else {
        src[e.span.range()].to_string()
    };
    (e, text)
}

#[test]
fn missing_expression_at_end_of_input() {
    let (e, at) = err_at("x = ");
    assert_eq!(e.message, "expected expression");
    assert_eq!(e.expected, ["expression"]);
    assert_eq!(e.span, Span::new(4, 4));
    assert_eq!(at, "^");
    let (e, _) = err_at("x = 1 +");
    assert_eq!(e.message, "expected expression");
    assert_eq!(e.span, Span::new(7, 7));
}

#[test]
fn unclosed_call_says_where_it_was_opened() {
    let src = "x = f(a,";
    let (e, _) = err_at(src);
    assert_eq!(e.message, "expected one of: expression, ')'");
    assert_eq!(e.span, Span::new(8, 8));
    assert_eq!(
        e.hint.as_deref(),
        Some("the `(` opened at line 1, column 6 is never closed")
    );

    let src = "x = f(a, b\ny = 2\n";
    let (e, at) = err_at(src);
    assert_eq!(at, "y");
    assert!(e.expected.contains(&"')'".to_string()), "{e:?}");
    assert_eq!(
        e.hint.as_deref(),
        Some("the `(` opened at line 1, column 6 is never closed")
    );
}

#[test]
fn the_innermost_unclosed_bracket_is_named_not_the_block_around_it() {
    for (line, col) in [("  x = f(1, 2", 8), ("  x = [1, 2", 7), ("  x = { a: 1", 7)] {
        for src in [
            format!("train steps: 1 {{\n  fit {{\n{line}\n  y = 3\n  }}\n}}\n"),
            format!("fn g() {{\n{line}\n  y = 3\n}}\n"),
        ] {
            let (e, at) = err_at(&src);
            assert_eq!(at, "y", "{src}");
            let opened = if src.starts_with("fn") { 2 } else { 3 };
            assert_eq!(
                e.hint,
                Some(format!(
                    "the `{}` opened at line {opened}, column {col} is never closed",
                    &line[col - 1..col]
                )),
                "{src}"
            );
        }
    }
    // A bracket that is closed gets no such hint: a missing comma is just that.
    let (e, at) = err_at("x = {\n  a: 1\n  b: 2\n}\n");
    assert_eq!((at.as_str(), e.hint), ("b", None));
}

#[test]
fn mismatched_and_stray_brackets() {
    let (e, at) = err_at("x = [1, 2)");
    assert_eq!(at, ")");
    assert!(e.expected.contains(&"']'".to_string()), "{e:?}");
    assert_eq!(
        e.hint.as_deref(),
        Some("this `)` does not match the `[` opened at line 1, column 5")
    );

    let (e, at) = err_at("x = 1)");
    assert_eq!(at, ")");
    assert_eq!(
        e.hint.as_deref(),
        Some("this `)` has no matching opening bracket")
    );

    let (e, at) = err_at("fn f() {\n  x = 1\n");
    assert_eq!(at, "^");
    assert_eq!(e.span, Span::new(17, 17));
    assert_eq!(
        e.hint.as_deref(),
        Some("the `{` opened at line 1, column 8 is never closed")
    );
}

#[test]
fn two_expressions_in_a_row() {
    let (e, at) = err_at("x = 1 2");
    assert_eq!(at, "2");
    assert_eq!(
        e.message,
        "expected one of: operator, ',', end of statement"
    );
    let (e, at) = err_at("f(a b)");
    assert_eq!(at, "b");
    assert!(
        e.message.starts_with("expected one of: operator, ')', ','"),
        "{e:?}"
    );
    let (_, at) = err_at("train steps: 10 {\n  fit a = 1 b\n}");
    assert_eq!(at, "b");
}

#[test]
fn errors_on_later_lines_point_there() {
    let src = "env = cartpole(envs: 16)\n\ntrain steps: 10 {\n  sample batch = rollout(env,, policy)\n}\n";
    let (e, at) = err_at(src);
    assert_eq!(at, ",");
    assert_eq!(rlp_syntax::line_col(src, e.span.start as usize), (4, 30));
    assert_eq!(e.message, "expected one of: expression, ')'");
}

#[test]
fn missing_keywords() {
    let (e, at) = err_at("x = if a then b");
    assert_eq!(at, "^");
    assert_eq!(e.message, "expected one of: operator, 'else'");
    let (e, _) = err_at("x = if a b else c");
    assert!(e.expected.contains(&"'then'".to_string()), "{e:?}");
    // An `if` is an operand like any other, so one left unfinished there says what it lacks.
    let (e, at) = err_at("x = 1 + if a then b");
    assert_eq!(
        (e.message.as_str(), at.as_str()),
        ("expected one of: operator, 'else'", "^")
    );
    let (e, at) = err_at("x = if a then if b then 1 else 0");
    assert_eq!(
        (e.message.as_str(), at.as_str()),
        ("expected one of: operator, 'else'", "^")
    );
    let (e, at) = err_at("x = a.b + if");
    assert_eq!(
        (e.message.as_str(), at.as_str()),
        ("expected expression", "^")
    );
    let (e, at) = err_at("x = f(-if)");
    assert_eq!(
        (e.message.as_str(), at.as_str()),
        ("expected expression", ")")
    );
    let (e, _) = err_at("minimize loss");
    assert_eq!(e.message, "expected one of: operator, 'wrt', 'with'");
    let (e, at) = err_at("every 5 steps");
    assert_eq!(at, "^");
    assert_eq!(e.message, "expected one of: 'after', '{'");
    let (e, at) = err_at("scan t T (a = 0) { a }");
    assert_eq!(at, "T");
    assert_eq!(e.message, "expected 'in'");
    let (e, at) = err_at("fn f { }");
    assert_eq!(at, "{");
    assert_eq!(e.message, "expected '('");
    let (e, at) = err_at("pub x = 1");
    assert_eq!(at, "x");
    assert_eq!(e.message, "expected 'fn'");
}

#[test]
fn keywords_are_not_names() {
    let (e, at) = err_at("in = 3");
    assert_eq!(at, "in");
    assert_eq!(e.message, "`in` is a keyword and cannot be used as a name");
    let (e, at) = err_at("fn with(x) {}");
    assert_eq!(at, "with");
    assert_eq!(
        e.message,
        "`with` is a keyword and cannot be used as a name"
    );
    let (_, at) = err_at("x = f(then)");
    assert_eq!(at, "then");
    assert_eq!(parse_err("x = not").message, "expected expression");
    for src in [
        "a, else = 1, 2",
        "fit = 1",
        "f = (x, in) -> x",
        "every 1 after { }",
        "if = 3",
    ] {
        let e = parse_err(src);
        assert!(e.message.contains("is a keyword"), "{src}: {e:?}");
    }
    // Soft: `log` is only special at the start of a statement.
    assert!(rlp_syntax::parse("log = log(x)").is_ok());
}

#[test]
fn bad_places_and_bindings() {
    let (e, at) = err_at("env.state = 3");
    assert_eq!(at, "=");
    assert!(e.hint.as_deref().unwrap().contains("<-"), "{e:?}");
    let (e, at) = err_at("a + b <- c");
    assert_eq!(at, "a + b");
    assert!(e.message.contains("left side of `<-`"), "{e:?}");
    let (e, at) = err_at("f(a<-b)");
    assert_eq!(at, "<");
    assert!(e.hint.as_deref().unwrap().contains("a < -b"), "{e:?}");
}

#[test]
fn chained_comparison_points_at_the_second_operator() {
    let (e, at) = err_at("ok = 0 <= x < 1");
    assert_eq!(at, "<");
    assert_eq!(e.span, Span::new(12, 13));
    assert_eq!(e.message, "comparison operators cannot be chained");
}

#[test]
fn literal_errors() {
    let (e, at) = err_at("x = 99_999_999_999_999_999_999");
    assert_eq!(at, "99_999_999_999_999_999_999");
    assert!(e.message.contains("too large"));
    let (e, at) = err_at("x = \"abc\ny = 1");
    assert_eq!(at, "\"abc");
    assert_eq!(e.message, "unterminated string literal");
    let (e, at) = err_at("x = \"a\\qb\"");
    assert_eq!(at, "\\q");
    assert!(e.message.contains("unknown escape"));
    let (e, _) = err_at("x = 1e999");
    assert!(e.message.contains("out of range"));
    let (e, at) = err_at("x = \"é\\é\"");
    assert_eq!(at, "\\é");
    assert!(e.message.contains("unknown escape"));
}

#[test]
fn unexpected_characters() {
    let (e, at) = err_at("x = a $ b");
    assert_eq!(at, "$");
    assert!(e.message.starts_with("expected"));
    let (_, at) = err_at("x = λ");
    assert_eq!(at, "λ");
    let (e, at) = err_at(")");
    assert_eq!(at, ")");
    assert_eq!(e.message, "expected statement");
    let (e, at) = err_at("x = ()");
    assert_eq!(at, "^");
    assert_eq!(e.message, "expected '->'");
}

/// A continuation line that begins with an operator: the hint says where to break.
#[test]
fn a_line_cannot_begin_with_an_operator() {
    for (src, op) in [
        ("y = (x > 0.0\n     and x < 1.0)\n", "and"),
        ("y = f(a\n  + b)\n", "+"),
        ("y = [a\n  or b]\n", "or"),
        ("y = max(a * 2.0\n        - 3.0, 0.0)\n", "-"),
    ] {
        let (e, at) = err_at(src);
        assert_eq!(at, op, "{src}");
        assert_eq!(
            e.hint.as_deref(),
            Some(format!(
                "a line cannot begin with the operator `{op}`: end the line before with it instead (`a {op}` then the rest on the next line)"
            ).as_str()),
            "{src}"
        );
    }
    // Broken after the operator, the same expressions parse.
    parse_ok("y = (x > 0.0 and\n     x < 1.0)\ny = f(a +\n  b)\n");
}

/// A slice with a step points at its second `:` and says steps are not supported.
#[test]
fn a_slice_step_is_explained() {
    for src in ["y = x[::2]\n", "y = x[1:5:2]\n"] {
        let (e, at) = err_at(src);
        assert_eq!(at, ":", "{src}");
        assert!(
            e.hint
                .as_deref()
                .unwrap_or_default()
                .contains("not supported"),
            "{src}: {e:?}"
        );
    }
}

#[test]
fn display_includes_the_hint() {
    let e = parse_err("x = (1");
    let shown = e.to_string();
    assert!(
        shown.starts_with("expected one of: operator, ')', ','"),
        "{shown}"
    );
    assert!(
        shown.contains("\nhelp: the `(` opened at line 1, column 5 is never closed"),
        "{shown}"
    );
}

/// Three slips of a new user, each with a hint that says what to write instead.
#[test]
fn every_without_a_unit_if_as_a_statement_and_non_ascii_names_are_explained() {
    let (e, at) = err_at("train iterations: 4 {\n  every 2 {\n    log a = 1.0\n  }\n}\n");
    assert_eq!(at, "{");
    let hint = e.hint.unwrap_or_default();
    assert!(
        hint.contains("`every K steps { … }` or `every K iterations { … }`"),
        "{hint}"
    );
    let (e, at) =
        err_at("train iterations: 4 {\n  fit if iteration > 2 {\n    log a = 1.0\n  }\n}\n");
    assert_eq!(at, "{");
    let hint = e.hint.unwrap_or_default();
    assert!(hint.contains("`if` is an expression"), "{hint}");
    assert!(hint.contains("where(c, a, b)"), "{hint}");
    assert!(hint.contains("every K iterations"), "{hint}");
    let (e, at) = err_at("γ = 0.99\n");
    assert_eq!(at, "γ");
    let hint = e.hint.unwrap_or_default();
    assert!(hint.contains("ASCII letters, digits and `_`"), "{hint}");
    // A real `if` expression with a missing `then` gets no such hint.
    let e = parse_err("x = if a b\n");
    assert!(!e.hint.unwrap_or_default().contains("not a statement"));
}
