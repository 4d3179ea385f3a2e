//! The tree-sitter grammar against the repository's programs and the pest parser.
//!
//! The pest grammar (`grammar/src/rlp.pest`, crate `rlp-syntax`) is the authority: every
//! `.rlp` file it accepts must parse here without an ERROR or MISSING node, and into the
//! same shape (the same statements, and expressions grouped the same way: precedence,
//! `if`, lambdas, ranges). A file it rejects is a syntax-error fixture and is skipped,
//! except under the folders whose programs are all meant to run.

mod common;

use common::shape;
use common::{describe_error, first_error, parser, repo_root, rlp_files};
use std::collections::{BTreeMap, BTreeSet};
use tree_sitter::{Query, QueryCursor, StreamingIterator};

/// Folders of programs that must all be valid: a file here that the pest parser
/// rejects fails the test instead of being skipped.
const MUST_BE_VALID: &[&str] = &["examples/", "stdlib/", "bench/"];

struct Source {
    path: String,
    text: String,
    module: Result<rlp_syntax::ast::Module, rlp_syntax::ParseError>,
}

fn sources() -> Vec<Source> {
    let root = repo_root();
    let files = rlp_files();
    assert!(
        files.len() >= 50,
        "found only {} .rlp files under {}: is this the repository?",
        files.len(),
        root.display()
    );
    files
        .into_iter()
        .map(|rel| {
            let text = std::fs::read_to_string(root.join(&rel))
                .unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
            let module = rlp_syntax::parse(&text);
            Source {
                path: rel.to_string_lossy().replace('\\', "/"),
                text,
                module,
            }
        })
        .collect()
}

#[test]
fn every_valid_rlp_file_in_the_repository_parses_without_errors() {
    let mut parser = parser();
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    let mut parsed = 0;
    for src in sources() {
        if let Err(e) = &src.module {
            let (line, col) = rlp_syntax::line_col(&src.text, e.span.start as usize);
            let why = format!("{}:{line}:{col}: {}", src.path, e.message);
            if MUST_BE_VALID.iter().any(|d| src.path.starts_with(d)) {
                failures.push(format!("{why}\n    (rejected by the pest parser too)"));
            } else {
                skipped.push(why);
            }
            continue;
        }
        let tree = parser
            .parse(&src.text, None)
            .expect("parsing is not cancelled");
        if let Some(node) = first_error(tree.root_node()) {
            failures.push(format!("{}:{}", src.path, describe_error(&src.text, node)));
        }
        parsed += 1;
    }
    eprintln!(
        "{parsed} files parsed; {} skipped as syntax-error fixtures",
        skipped.len()
    );
    for s in &skipped {
        eprintln!("  skipped {s}");
    }
    assert!(
        failures.is_empty(),
        "{} file(s) do not parse:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn trees_have_the_shape_the_pest_parser_gives() {
    let mut parser = parser();
    let mut failures = Vec::new();
    let (mut files, mut lines) = (0, 0);
    for src in sources() {
        let Ok(module) = &src.module else { continue };
        let tree = parser
            .parse(&src.text, None)
            .expect("parsing is not cancelled");
        if tree.root_node().has_error() {
            continue; // reported by the test above
        }
        let expected = shape::of_module(module);
        let got = shape::Tree { source: &src.text }.of_source_file(tree.root_node());
        if std::env::var_os("RLP_SHAPE_DUMP")
            .is_some_and(|f| src.path.ends_with(&*f.to_string_lossy()))
        {
            eprintln!("{}", got.join("\n"));
        }
        if let Some(diff) = first_difference(&expected, &got) {
            failures.push(format!("{}: {diff}", src.path));
        }
        files += 1;
        lines += expected.len();
    }
    eprintln!("{files} files compared, {lines} lines of shape");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Where two shapes part: the lines around the first that differs.
fn first_difference(expected: &[String], got: &[String]) -> Option<String> {
    let i = (0..expected.len().max(got.len())).find(|&i| expected.get(i) != got.get(i))?;
    let around = |v: &[String]| v[i.saturating_sub(2)..(i + 3).min(v.len())].join("\n      ");
    Some(format!(
        "line {} of the shape differs\n  pest:\n      {}\n  tree-sitter:\n      {}",
        i + 1,
        around(expected),
        around(got)
    ))
}

/// Parses `source` with both parsers and checks that they agree.
fn agree(source: &str) {
    let module = rlp_syntax::parse(source)
        .unwrap_or_else(|e| panic!("pest rejects {source:?}: {}", e.message));
    let tree = parser().parse(source, None).unwrap();
    if let Some(node) = first_error(tree.root_node()) {
        panic!(
            "{source:?}:{}\n{}",
            describe_error(source, node),
            tree.root_node().to_sexp()
        );
    }
    let expected = shape::of_module(&module);
    let got = shape::Tree { source }.of_source_file(tree.root_node());
    assert_eq!(expected, got, "in {source:?}");
}

/// Checks that both parsers reject `source`.
fn both_reject(source: &str) {
    assert!(
        rlp_syntax::parse(source).is_err(),
        "pest accepts {source:?}"
    );
    let tree = parser().parse(source, None).unwrap();
    assert!(
        tree.root_node().has_error(),
        "tree-sitter accepts {source:?}: {}",
        tree.root_node().to_sexp()
    );
}

#[test]
fn line_breaks_end_statements_only_where_one_can_end() {
    // A line break after a complete expression ends the statement...
    agree("a\n- b\n");
    agree("f\n(x)\n");
    agree("x = 1\ny = 2");
    // ... and not after an operator, `=`, `->`, a comma, an opening bracket, `then`,
    // `else`, or before `then`, `else`, `wrt`, `with`, a closing bracket or a comma.
    agree("x = a +\n  b\n");
    agree("x =\n  1\n");
    agree("f = x ->\n  x\n");
    agree("y = f(a,\n  b,\n)\n");
    agree("y = f(\n  a\n  , b\n)\n");
    agree("y = [\n  1,\n  2\n]\n");
    agree("x = if c\n  then a\n  else if d then b\n  else e\n");
    agree("fn f(a,\n  b) -> [T,\n N] f32\n{\n  a\n}\n");
    agree("train iterations: 3 {\n  improve minimize loss\n    wrt q, p\n    with opt\n}\n");
    agree(
        "train iterations: 3\n{\n  every 2 steps\n  after 1\n  {\n    log a = 1,\n      b = 2\n  }\n}\n",
    );
    // Blank lines, comments and `;` between statements.
    agree("\n\n# c\nx = 1 # trailing\n\n\n   # own line\ny = 2; z = 3;\n");
    agree("fn f() {\n\n  # c\n  a = 1; b = 2\n\n  a\n\n}\n");
    agree("x = 1\r\ny = [1,\r\n 2]\r\n");
    agree("x = 1");
    agree("");
    // Two expressions on one line are an error.
    both_reject("a b\n");
    both_reject("x = (1 +)\n");
    both_reject("f(a b)\n");
}

#[test]
fn operators_group_as_the_language_reference_says() {
    agree("x = a or b and not c == d ++ e + f * g ** h ** i\n");
    agree("x = -a ** 2 * -b\n");
    agree("x = a - b - c / d / e % f @ g\n");
    agree("x = not a and b\n");
    agree("x = 1 + if c then a else b * 2\n");
    agree("x = if a then if b then 1 else 0 else 2\n");
    agree("x = -if c then 1 else 2\n");
    agree("x = f(if c then 1 else 2, k: 3)\n");
    agree("x = a < -b\n");
    agree("x = q(mb.obs)[mb.action].shape[0]\n");
    agree("x = a[1:, :-1, :, t, 2:3]\n");
}

#[test]
fn lambdas_ranges_tuples_records_and_blocks() {
    agree("f = x -> x + 1\n");
    agree("f = (a, b) -> a\n");
    agree("f = (a: [T, N], b = 1,) -> a\n");
    agree("f = () -> 1\n");
    agree("f = x -> y -> x + y\n");
    agree("f = if c then g else x -> x\n");
    agree("t = (a, b)\nu = (a,)\nv = (a)\n");
    agree("s = linear(1.0 -> 0.05, over: 10)\n");
    agree("e = {}\nf = {\n}\ng = {\n  a\n}\n");
    agree("train iterations: 1 {\n  sample {\n  }\n  fit {}\n  {}\n  {\n  }\n}\n");
    agree("r = {\n  a: 1,\n  sample: () -> 2,\n  log: 3,\n}\n");
    agree("r = { obs: o, reward: -r }\n");
    agree("b = x -> {\n  y = x\n  { v: y }\n}\n");
    agree("v = scan reverse t in T + 1 (acc = zeros([N]), n = 0) {\n  acc = acc + r[t]\n}\n");
    agree("a, b = 1, 2\n");
    agree("pub fn relu(x) { max(x, 0.0) }\nfn g(x: int = -1) -> int { x }\n");
    agree("fn empty() {}\n");
}

#[test]
fn keywords_are_names_after_a_dot_and_before_a_colon() {
    agree("x = d.sample()\ny = f(with: 1, in: 2, if: 3)\n");
    agree("z = { for: 1, true: 2 }\nw = a.if\n");
    // `log` is also the function `log`, and may be bound.
    agree("fn f(x) {\n  log(x) + 1\n}\n");
    agree("log = 1\n");
    agree("train iterations: 1 {\n  log ret = log(x), len = 2\n}\n");
}

#[test]
fn statements_of_a_train_block() {
    agree(
        "train iterations: 200 {\n\
         \x20 sample  batch = rollout(env, policy, steps: 200)\n\
         \x20         buf <- insert(buf, batch)\n\
         \x20 fit     q     = reward_to_go(batch.reward, batch.done, gamma: 0.99)\n\
         \x20 improve minimize policy_gradient(policy, batch, q - mean(q)) with opt\n\
         \x20 improve for e in range(4) {\n    x += e\n  }\n\
         \x20 fit { a = 1; b = 2 }\n\
         \x20 repeat 3 { q_targ <- q }\n\
         \x20 log     return = nanmean(env.episode_return)\n\
         }\n",
    );
}

#[test]
fn strings_comments_and_doc_comments() {
    agree("x = \"#\"\ny = \"a \\\" b # c\" # comment\n");
    agree("/// Doc.\n/// More.\npub fn f() { 1 } /// not a doc comment\n");
    agree("x = a /// b\n");
    agree("use std.env.cartpole\nuse std.replay.{replay, draw,}\nuse \"./mine.rlp\".{f}\n");
}

// ---------------------------------------------------------------------------------------
// Queries

fn query(source: &str, name: &str) -> Query {
    Query::new(&tree_sitter_rlp::LANGUAGE.into(), source)
        .unwrap_or_else(|e| panic!("queries/{name}.scm does not compile: {e}"))
}

#[test]
fn the_queries_compile() {
    query(tree_sitter_rlp::HIGHLIGHTS_QUERY, "highlights");
    query(tree_sitter_rlp::FOLDS_QUERY, "folds");
    query(tree_sitter_rlp::INDENTS_QUERY, "indents");
    query(tree_sitter_rlp::HELIX_HIGHLIGHTS_QUERY, "helix/highlights");
    query(tree_sitter_rlp::HELIX_INDENTS_QUERY, "helix/indents");
}

/// Every pattern of every query matches somewhere in the repository's programs, so none
/// is a typo that matches nothing.
#[test]
fn every_query_pattern_matches_something() {
    let mut parser = parser();
    let trees: Vec<(String, tree_sitter::Tree)> = sources()
        .into_iter()
        .filter(|s| s.module.is_ok())
        .map(|s| {
            let tree = parser.parse(&s.text, None).unwrap();
            (s.text, tree)
        })
        .collect();
    for (name, source) in [
        ("highlights", tree_sitter_rlp::HIGHLIGHTS_QUERY),
        ("folds", tree_sitter_rlp::FOLDS_QUERY),
        ("indents", tree_sitter_rlp::INDENTS_QUERY),
        ("helix/highlights", tree_sitter_rlp::HELIX_HIGHLIGHTS_QUERY),
        ("helix/indents", tree_sitter_rlp::HELIX_INDENTS_QUERY),
    ] {
        let q = query(source, name);
        let mut matched = BTreeSet::new();
        for (text, tree) in &trees {
            let mut cursor = QueryCursor::new();
            let mut matches = cursor.matches(&q, tree.root_node(), text.as_bytes());
            while let Some(m) = matches.next() {
                matched.insert(m.pattern_index);
            }
        }
        let unmatched: Vec<String> = (0..q.pattern_count())
            .filter(|i| !matched.contains(i))
            .map(|i| {
                let start = q.start_byte_for_pattern(i);
                let line = source[..start].lines().count() + 1;
                let text = source[start..].lines().next().unwrap_or("");
                format!("queries/{name}.scm:{line}: {text}")
            })
            .collect();
        assert!(
            unmatched.is_empty(),
            "patterns that match nothing:\n{}",
            unmatched.join("\n")
        );
    }
}

/// The captures of a few nodes, as an editor would see them.
#[test]
fn highlights_name_what_they_should() {
    let source = "/// Doc.\npub fn f(x: [T, N] bool, k = 2) -> int {\n  \
                  y = scan t in T (a = 0) { a + x[t] }\n  y.sum(axis: -1)\n}\n\
                  train iterations: 10 {\n  sample b = rollout(env, p, steps: 1) # c\n  \
                  every 5 steps { log r = \"s\\n\" }\n}\n";
    let tree = parser().parse(source, None).unwrap();
    assert!(
        !tree.root_node().has_error(),
        "{}",
        tree.root_node().to_sexp()
    );
    let q = query(tree_sitter_rlp::HIGHLIGHTS_QUERY, "highlights");
    let seen = first_captures(&q, &tree, source);
    // The capture of `text` where it last occurs inside the first `context`.
    let capture = |context: &str, text: &str| -> String {
        let at = source.find(context).unwrap() + context.rfind(text).unwrap();
        seen.get(&(at, at + text.len()))
            .cloned()
            .unwrap_or_else(|| format!("nothing for {text:?} in {context:?}"))
    };
    for (context, text, expected) in [
        ("/// Doc.", "/// Doc.", "comment.documentation"),
        ("# c", "# c", "comment"),
        ("pub", "pub", "keyword.function"),
        ("fn f", "fn", "keyword.function"),
        ("fn f", "f", "function"),
        ("(x:", "x", "variable.parameter"),
        ("] bool", "bool", "type"),
        ("-> int", "int", "type"),
        ("[T, N]", "T", "constant"),
        ("scan t", "scan", "keyword"),
        ("y = scan", "y", "variable"),
        ("y.sum", "sum", "function.method.call"),
        ("axis:", "axis", "variable.parameter"),
        ("train", "train", "keyword"),
        ("iterations", "iterations", "property"),
        ("sample", "sample", "label"),
        ("rollout", "rollout", "function.call"),
        ("every", "every", "keyword.repeat"),
        ("5 steps", "steps", "keyword.repeat"),
        ("log r", "log", "keyword"),
        ("log r", "r", "property"),
        ("10", "10", "number"),
        ("\\n", "\\n", "string.escape"),
        ("->", "->", "operator"),
    ] {
        assert_eq!(capture(context, text), expected, "{text:?} in {context:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Editing

/// The point (row, column in bytes) of byte `offset`.
fn point_at(text: &str, offset: usize) -> tree_sitter::Point {
    let before = &text[..offset];
    let row = before.matches('\n').count();
    let column = offset - before.rfind('\n').map_or(0, |i| i + 1);
    tree_sitter::Point { row, column }
}

fn edit(
    tree: &mut tree_sitter::Tree,
    old: &str,
    new: &str,
    start: usize,
    old_end: usize,
    new_end: usize,
) {
    tree.edit(&tree_sitter::InputEdit {
        start_byte: start,
        old_end_byte: old_end,
        new_end_byte: new_end,
        start_position: point_at(old, start),
        old_end_position: point_at(old, old_end),
        new_end_position: point_at(new, new_end),
    });
}

/// What an editor does on every keystroke: edit the old tree, reparse with it. Where the
/// edited text is valid, the result must be the tree a fresh parse gives (the scanner
/// keeps no state, but the line breaks it turns into separators depend on the parse
/// state around them); and undoing the edit must give back the original tree, also when
/// the edit broke the program. (With errors, tree-sitter's recovery may pick different
/// trees incrementally and afresh, so those are not compared.)
#[test]
fn incremental_reparses_give_the_trees_of_fresh_parses() {
    let mut parser = parser();
    let edits: &[&str] = &[
        "\n", "", " + ", "(", "}", "\n\n", "# c\n", "x", "->", "\"", "{", "; y = 1",
    ];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut random = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let sources: Vec<Source> = sources()
        .into_iter()
        .filter(|s| s.module.is_ok() && (s.path.starts_with("stdlib/") || s.path.contains("dqn")))
        .collect();
    assert!(!sources.is_empty());
    let (mut valid, mut broken) = (0, 0);
    for src in &sources {
        let text = &src.text;
        let original = parser.parse(text, None).unwrap();
        let original_sexp = original.root_node().to_sexp();
        for _ in 0..40 {
            // Replace up to 3 bytes at a character boundary with one of `edits`.
            let mut start = random(text.len() + 1);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + random(4)).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let insert = edits[random(edits.len())];
            let new_end = start + insert.len();
            let edited = format!("{}{insert}{}", &text[..start], &text[end..]);
            let at = format!(
                "{}: replacing bytes {start}..{end} with {insert:?}",
                src.path
            );

            let mut tree = original.clone();
            edit(&mut tree, text, &edited, start, end, new_end);
            let mut incremental = parser.parse(&edited, Some(&tree)).unwrap();
            let fresh = parser.parse(&edited, None).unwrap();
            if fresh.root_node().has_error() {
                broken += 1;
            } else {
                valid += 1;
                assert_eq!(
                    incremental.root_node().to_sexp(),
                    fresh.root_node().to_sexp(),
                    "{at}"
                );
            }

            // Undo.
            edit(&mut incremental, &edited, text, start, new_end, end);
            let undone = parser.parse(text, Some(&incremental)).unwrap();
            assert_eq!(
                undone.root_node().to_sexp(),
                original_sexp,
                "{at}, then undoing it"
            );
        }
    }
    eprintln!("{valid} edits kept the program valid, {broken} broke it; all reparsed and undone");
}

/// The first capture of each node: what the tree-sitter CLI and Helix highlight it as.
fn first_captures(
    q: &Query,
    tree: &tree_sitter::Tree,
    text: &str,
) -> BTreeMap<(usize, usize), String> {
    let names = q.capture_names();
    let mut seen = BTreeMap::new();
    let mut cursor = QueryCursor::new();
    let mut captures = cursor.captures(q, tree.root_node(), text.as_bytes());
    while let Some((m, i)) = captures.next() {
        let c = m.captures[*i];
        let key = (c.node.start_byte(), c.node.end_byte());
        seen.entry(key)
            .or_insert_with(|| names[c.index as usize].to_string());
    }
    seen
}

/// `queries/helix/highlights.scm` highlights the same nodes as `queries/highlights.scm`,
/// with Helix's name for each of nvim-treesitter's.
#[test]
fn helix_highlights_are_the_same_captures_in_helix_names() {
    let helix_name = |nvim: &str| -> String {
        match nvim {
            "comment.documentation" => "comment.line.documentation",
            "comment" => "comment.line",
            "number" => "constant.numeric",
            "boolean" => "constant.builtin.boolean",
            "string.escape" => "constant.character.escape",
            "keyword.import" => "keyword.control.import",
            "keyword.repeat" => "keyword.control.repeat",
            "keyword.conditional" => "keyword.control.conditional",
            "function.method.call" => "function.method",
            "function.call" => "function",
            "property" => "variable.other.member",
            "module" => "namespace",
            other => other,
        }
        .to_string()
    };
    let nvim = query(tree_sitter_rlp::HIGHLIGHTS_QUERY, "highlights");
    let helix = query(tree_sitter_rlp::HELIX_HIGHLIGHTS_QUERY, "helix/highlights");
    let mut parser = parser();
    let mut compared = 0;
    for src in sources().into_iter().filter(|s| s.module.is_ok()) {
        let tree = parser.parse(&src.text, None).unwrap();
        let expected: BTreeMap<_, _> = first_captures(&nvim, &tree, &src.text)
            .into_iter()
            .map(|(k, v)| (k, helix_name(&v)))
            .collect();
        let got = first_captures(&helix, &tree, &src.text);
        if let Some((k, v)) = expected.iter().find(|(k, v)| got.get(k) != Some(v)) {
            panic!(
                "{}: {:?} is {v} in highlights.scm but {:?} in helix/highlights.scm",
                src.path,
                &src.text[k.0..k.1],
                got.get(k)
            );
        }
        assert_eq!(expected.len(), got.len(), "{}", src.path);
        compared += expected.len();
    }
    assert!(compared > 10_000, "only {compared} captures compared");
}
