//! `rlpc fmt` keeps the program (the same AST, spans aside), keeps every comment, and is
//! idempotent — on every stdlib module and example, on tricky snippets, and on random
//! token soups that happen to parse.

use proptest::prelude::*;
use rlp_syntax::{format, parse};
use std::path::Path;

/// The AST's debug form without spans: what must survive formatting.
fn shape(src: &str) -> String {
    let dbg = format!("{:?}", parse(src).expect("parses"));
    let mut out = String::new();
    let mut rest = dbg.as_str();
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        let j = rest[i..].find('}').unwrap();
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

fn check(src: &str) {
    let once = format(src).expect("formats");
    assert_eq!(
        shape(&once),
        shape(src),
        "formatting changed the program:\n{once}"
    );
    let twice = format(&once).unwrap();
    assert_eq!(twice, once, "not idempotent");
    for line in src.lines() {
        if let Some(i) = line.find('#') {
            let c = line[i..].trim_end();
            if !line[..i].contains('"') {
                assert!(once.contains(c), "lost comment `{c}`:\n{once}");
            }
        }
    }
}

fn rlp_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rlp_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rlp") {
            out.push(p);
        }
    }
}

#[test]
fn stdlib_and_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![];
    rlp_files(&root.join("stdlib"), &mut files);
    rlp_files(&root.join("examples"), &mut files);
    assert!(files.len() >= 5);
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        check(&src);
    }
}

#[test]
fn tricky_snippets() {
    for src in [
        "x = -(-y) ** 2 - -z\n",
        "y = (a - b) - (c - d) * (e + f) / g ** h ** i\n",
        "z = not (a < b) and (c or d)\n",
        "f = x -> y -> x + y\ng = (a: [T+1, N] f64, b = 2) -> if a > b then a else -b\n",
        "e = linear(1.0 -> 0.05, over: 10_000)\n",
        "t = (1,)\nu = (a, b)\nv, w = 1, 2\n",
        "r = { a: 1, b: { c: [1, 2.5e-3], d: \"q\\\"s\" } }\n",
        "# leading\n\n/// doc\npub fn f(x: [T, N], y: [T, N] bool) -> [T, N] { # trailing\n  # inside\n  x + y  # after\n}\n\n# tail\n",
        "s = scan reverse t in T - 1 (acc = 0.0, b = 1) {\n  acc = r[t] + acc\n  b = b\n}\n",
        "train iterations: 10 {\n  sample batch = rollout(env, policy, steps: 8)\n  fit {\n    a = 1\n    b = 2\n  }\n  improve minimize mean(x) wrt pi, q with adam(lr: 3e-4)\n  every 5 steps after 100 { q_targ <- q; n[a] += 1 }\n  repeat 2 { b = 1 }\n  log r = 1, l = 2\n}\n",
        "m = q(b.obs)[b.action]\nn = v[1:] - v[:-1] + x[:, 0]\n",
        "g = (x) -> {\n  y = x * 2\n  { y: y }\n}\n",
    ] {
        check(src);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_soups_that_parse_keep_their_meaning(picks in proptest::collection::vec(0usize..28, 1..40)) {
        const TOKENS: [&str; 28] = ["x", "y", " = ", "+", "-", "*", "**", "(", ")", "[", "]", ",", "\n", "1", "2.5",
            " and ", " or ", "not ", " < ", ":", "->", "f(", "{", "}", ".a", "# c\n", " if x then y else ", "z"];
        let src: String = picks.iter().map(|&i| TOKENS[i]).collect();
        if parse(&src).is_ok() {
            check(&src);
        }
    }
}
