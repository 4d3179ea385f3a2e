//! The TextMate grammar, `editors/textmate/rlp.tmLanguage.json` (used by the VS Code
//! extension in `editors/vscode`).
//!
//! Its regexes are Oniguruma's; they are compiled here with `fancy-regex` in its
//! Oniguruma mode, which covers the features the grammar uses (look-around, classes,
//! anchors). A small tokenizer that follows the TextMate rules (the leftmost match wins,
//! ties go to the earlier pattern and to a scope's `end`; `begin`/`end` nest across
//! lines) then checks what a few lines are scoped as, and that every program in the
//! repository closes every scope it opens.

mod common;

use fancy_regex::{Regex, RegexBuilder};
use serde_json::Value;
use std::collections::BTreeMap;

fn grammar_json() -> Value {
    let path = common::repo_root().join("editors/textmate/rlp.tmLanguage.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn compile(pattern: &str, at: &str) -> Regex {
    RegexBuilder::new(pattern)
        .oniguruma_mode(true)
        .build()
        .unwrap_or_else(|e| panic!("{at}: the regex {pattern:?} does not compile: {e}"))
}

// ---------------------------------------------------------------------------------------
// The grammar as rules

/// Scope names by capture group.
type Captures = BTreeMap<usize, String>;

enum Rule {
    Match {
        regex: Regex,
        name: Option<String>,
        captures: Captures,
    },
    Scope {
        begin: Regex,
        end: Regex,
        name: Option<String>,
        begin_captures: Captures,
        end_captures: Captures,
        /// The rules tried inside, includes expanded.
        patterns: Vec<usize>,
    },
}

/// A pattern as written: a rule, an include, or a list of patterns.
#[derive(Clone)]
enum Pattern {
    Rule(usize),
    Include(String),
    List(Vec<Pattern>),
}

struct Grammar {
    rules: Vec<Rule>,
    top: Vec<usize>,
    scope_names: Vec<String>,
}

#[derive(Default)]
struct Builder {
    rules: Vec<Rule>,
    /// The patterns inside each scope rule, as written.
    inside: BTreeMap<usize, Vec<Pattern>>,
    scope_names: Vec<String>,
}

impl Builder {
    fn captures(&mut self, v: Option<&Value>, at: &str) -> Captures {
        let mut out = Captures::new();
        if let Some(Value::Object(m)) = v {
            for (k, c) in m {
                let i: usize = k.parse().unwrap_or_else(|_| panic!("{at}: capture {k:?}"));
                let name = c["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{at}: capture {k} has no name"));
                self.scope_names.push(name.to_string());
                out.insert(i, name.to_string());
            }
        }
        out
    }

    fn list(&mut self, list: &Value, at: &str) -> Vec<Pattern> {
        let list = list
            .as_array()
            .unwrap_or_else(|| panic!("{at}: patterns is not a list"));
        list.iter()
            .enumerate()
            .map(|(i, p)| self.pattern(p, &format!("{at}/patterns[{i}]")))
            .collect()
    }

    fn pattern(&mut self, p: &Value, at: &str) -> Pattern {
        if let Some(target) = p.get("include").and_then(Value::as_str) {
            return Pattern::Include(target.to_string());
        }
        let name = p.get("name").and_then(Value::as_str).map(str::to_string);
        if let Some(n) = &name {
            self.scope_names.push(n.clone());
        }
        if let Some(m) = p.get("match").and_then(Value::as_str) {
            let regex = compile(m, at);
            let captures = self.captures(p.get("captures"), at);
            self.rules.push(Rule::Match {
                regex,
                name,
                captures,
            });
            return Pattern::Rule(self.rules.len() - 1);
        }
        if let Some(b) = p.get("begin").and_then(Value::as_str) {
            let e = p
                .get("end")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{at}: `begin` without `end`"));
            let begin = compile(b, at);
            let end = compile(e, at);
            let begin_captures = self.captures(p.get("beginCaptures").or(p.get("captures")), at);
            let end_captures = self.captures(p.get("endCaptures").or(p.get("captures")), at);
            let inside = match p.get("patterns") {
                Some(list) => self.list(list, at),
                None => Vec::new(),
            };
            self.rules.push(Rule::Scope {
                begin,
                end,
                name,
                begin_captures,
                end_captures,
                patterns: Vec::new(),
            });
            let id = self.rules.len() - 1;
            self.inside.insert(id, inside);
            return Pattern::Rule(id);
        }
        if let Some(list) = p.get("patterns") {
            return Pattern::List(self.list(list, at));
        }
        panic!("{at}: a pattern with none of include, match, begin, patterns");
    }
}

/// The rules a list of patterns stands for, in order, includes expanded.
fn expand(
    patterns: &[Pattern],
    repository: &BTreeMap<String, Pattern>,
    top: &[Pattern],
    depth: usize,
    out: &mut Vec<usize>,
) {
    assert!(
        depth < 32,
        "the grammar's includes form a cycle without a scope in it"
    );
    for p in patterns {
        match p {
            Pattern::Rule(r) => out.push(*r),
            Pattern::List(list) => expand(list, repository, top, depth + 1, out),
            Pattern::Include(target) if target == "$self" || target == "$base" => {
                expand(top, repository, top, depth + 1, out)
            }
            Pattern::Include(target) => {
                let key = target
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("include {target:?} is not a repository entry"));
                let entry = repository
                    .get(key)
                    .unwrap_or_else(|| panic!("include {target:?}: no such repository entry"));
                expand(std::slice::from_ref(entry), repository, top, depth + 1, out);
            }
        }
    }
}

fn grammar() -> Grammar {
    let json = grammar_json();
    let mut b = Builder::default();
    let mut repository = BTreeMap::new();
    if let Some(entries) = json.get("repository").and_then(Value::as_object) {
        for (k, v) in entries {
            repository.insert(k.clone(), b.pattern(v, &format!("repository/{k}")));
        }
    }
    let top = b.list(&json["patterns"], "patterns");
    let mut rules = b.rules;
    for (id, inside) in &b.inside {
        let mut expanded = Vec::new();
        expand(inside, &repository, &top, 0, &mut expanded);
        if let Rule::Scope { patterns, .. } = &mut rules[*id] {
            *patterns = expanded;
        }
    }
    let mut top_rules = Vec::new();
    expand(&top, &repository, &top, 0, &mut top_rules);
    Grammar {
        rules,
        top: top_rules,
        scope_names: b.scope_names,
    }
}

// ---------------------------------------------------------------------------------------
// A TextMate tokenizer, enough for this grammar

/// One token: its text and its scopes, outermost first.
#[derive(Debug, Clone)]
struct Token {
    line: usize,
    text: String,
    scopes: Vec<String>,
}

struct Tokenizer<'g> {
    g: &'g Grammar,
    /// The open `begin`/`end` scopes, innermost last.
    stack: Vec<usize>,
}

impl Tokenizer<'_> {
    fn scopes(&self) -> Vec<String> {
        self.stack
            .iter()
            .filter_map(|&r| match &self.g.rules[r] {
                Rule::Scope { name, .. } => name.clone(),
                Rule::Match { .. } => None,
            })
            .collect()
    }

    fn emit(out: &mut Vec<Token>, line: usize, text: &str, scopes: Vec<String>) {
        if !text.is_empty() {
            out.push(Token {
                line,
                text: text.to_string(),
                scopes,
            });
        }
    }

    /// Tokens of `m`'s text with `name` and its capture groups on top of `base`.
    fn emit_match(
        out: &mut Vec<Token>,
        line_no: usize,
        line: &str,
        caps: &fancy_regex::Captures<str>,
        base: Vec<String>,
        captures: &Captures,
    ) {
        let whole = caps.get(0).unwrap();
        let mut pos = whole.start();
        for (&i, name) in captures {
            if i == 0 {
                continue;
            }
            if let Some(g) = caps.get(i)
                && g.start() >= pos
            {
                Self::emit(out, line_no, &line[pos..g.start()], base.clone());
                let mut s = base.clone();
                s.push(name.clone());
                Self::emit(out, line_no, g.as_str(), s);
                pos = g.end();
            }
        }
        let mut rest = base;
        if let Some(n) = captures.get(&0) {
            rest.push(n.clone());
        }
        Self::emit(out, line_no, &line[pos..whole.end()], rest);
    }

    fn line(&mut self, line_no: usize, line: &str, out: &mut Vec<Token>) {
        let mut pos = 0;
        let mut guard = 0;
        loop {
            guard += 1;
            assert!(
                guard < 10_000,
                "line {line_no}: the tokenizer does not advance: {line:?}"
            );
            let patterns: &[usize] = match self.stack.last() {
                Some(&r) => match &self.g.rules[r] {
                    Rule::Scope { patterns, .. } => patterns,
                    Rule::Match { .. } => unreachable!(),
                },
                None => &self.g.top,
            };
            // The leftmost match; a tie goes to the scope's end, then to the earliest rule.
            let mut best: Option<(usize, Option<usize>, fancy_regex::Captures<str>)> = None;
            if let Some(&r) = self.stack.last()
                && let Rule::Scope { end, .. } = &self.g.rules[r]
                && let Some(c) = end.captures_from_pos(line, pos).unwrap()
            {
                best = Some((c.get(0).unwrap().start(), None, c));
            }
            for &r in patterns {
                let re = match &self.g.rules[r] {
                    Rule::Match { regex, .. } => regex,
                    Rule::Scope { begin, .. } => begin,
                };
                if let Some(c) = re.captures_from_pos(line, pos).unwrap() {
                    let start = c.get(0).unwrap().start();
                    if best.as_ref().is_none_or(|b| start < b.0) {
                        best = Some((start, Some(r), c));
                    }
                }
            }
            let Some((start, rule, caps)) = best else {
                Self::emit(out, line_no, &line[pos..], self.scopes());
                return;
            };
            Self::emit(out, line_no, &line[pos..start], self.scopes());
            let end = caps.get(0).unwrap().end();
            match rule {
                None => {
                    let Rule::Scope { end_captures, .. } =
                        &self.g.rules[*self.stack.last().unwrap()]
                    else {
                        unreachable!()
                    };
                    Self::emit_match(out, line_no, line, &caps, self.scopes(), end_captures);
                    self.stack.pop();
                }
                Some(r) => match &self.g.rules[r] {
                    Rule::Match { name, captures, .. } => {
                        let mut s = self.scopes();
                        s.extend(name.clone());
                        Self::emit_match(out, line_no, line, &caps, s, captures);
                        if end == start {
                            // An empty match: step over one character.
                            let next = line[pos..].chars().next().map_or(1, char::len_utf8);
                            Self::emit(
                                out,
                                line_no,
                                &line[end..(end + next).min(line.len())],
                                self.scopes(),
                            );
                            pos = end + next;
                            if pos >= line.len() {
                                return;
                            }
                            continue;
                        }
                    }
                    Rule::Scope { begin_captures, .. } => {
                        self.stack.push(r);
                        Self::emit_match(out, line_no, line, &caps, self.scopes(), begin_captures);
                    }
                },
            }
            pos = end;
            if pos >= line.len() {
                // An `end` that matches at the end of the line (a string's `$`) still
                // gets its chance.
                if let Some(&r) = self.stack.last()
                    && let Rule::Scope { end, .. } = &self.g.rules[r]
                    && let Some(c) = end.captures_from_pos(line, pos).unwrap()
                    && c.get(0).unwrap().start() == pos
                {
                    self.stack.pop();
                }
                return;
            }
        }
    }
}

fn tokenize(g: &Grammar, source: &str) -> (Vec<Token>, Vec<String>) {
    let mut t = Tokenizer {
        g,
        stack: Vec::new(),
    };
    let mut out = Vec::new();
    for (i, line) in source.lines().enumerate() {
        t.line(i + 1, line, &mut out);
    }
    let open = t.scopes();
    (out, open)
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn the_grammar_is_json_with_the_rlp_scope_and_every_regex_compiles() {
    let json = grammar_json();
    assert_eq!(json["scopeName"], "source.rlp");
    assert!(
        json["fileTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "rlp")
    );
    // Compiles every regex and resolves every include, or panics saying which.
    let g = grammar();
    assert!(!g.top.is_empty());
    for required in [
        "comment.line.number-sign.rlp",
        "comment.line.documentation.rlp",
        "string.quoted.double.rlp",
        "constant.character.escape.rlp",
        "constant.numeric.integer.rlp",
        "constant.numeric.float.rlp",
        "constant.language.boolean.rlp",
        "keyword.control.import.rlp",
        "keyword.control.conditional.rlp",
        "keyword.control.loop.rlp",
        "keyword.control.stage.rlp",
        "keyword.operator.logical.rlp",
        "storage.type.function.rlp",
        "entity.name.function.rlp",
        "variable.parameter.rlp",
        "support.type.rlp",
    ] {
        assert!(
            g.scope_names.iter().any(|s| s == required),
            "no rule gives {required}"
        );
    }
}

/// The innermost scope of the `nth` token whose text is `text`.
fn scope_of(tokens: &[Token], text: &str, nth: usize) -> String {
    tokens
        .iter()
        .filter(|t| t.text.trim() == text)
        .nth(nth)
        .map(|t| t.scopes.last().cloned().unwrap_or_default())
        .unwrap_or_else(|| panic!("no token {text:?} #{nth}: {tokens:#?}"))
}

#[test]
fn lines_are_scoped_as_expected() {
    let g = grammar();
    let source = r#"/// Discounted reward-to-go.
pub fn rtg(r: [T, N], done: [T, N] bool, gamma: float = 0.99) -> [T, N] {
  scan reverse t in T (acc = zeros([N])) {
    acc = r[t] + gamma * where(done[t], 0.0, acc)   # a comment
  }
}
use std.estimators.{gae}
x = f32(y)[:, 1:] ++ d.sample(n: 1_000)
r = { sample: () -> 1, log_prob: a -> log(a) }
s = "a \" # b"
train iterations: 200 {
  sample batch = rollout(env, policy, steps: 200)
  improve minimize if a and not b then l1 else l2 with opt
  every 64 steps after 250 {
    fit q_targ <- q
  }
  log return = nanmean(env.episode_return), t = true
}
"#;
    let (tokens, open) = tokenize(&g, source);
    assert!(open.is_empty(), "scopes left open: {open:?}");
    let expect = [
        (
            "Discounted reward-to-go.",
            0,
            "comment.line.documentation.rlp",
        ),
        ("pub", 0, "storage.modifier.rlp"),
        ("fn", 0, "storage.type.function.rlp"),
        ("rtg", 0, "entity.name.function.rlp"),
        ("r", 0, "variable.parameter.rlp"),
        ("done", 0, "variable.parameter.rlp"),
        ("bool", 0, "support.type.rlp"),
        ("float", 0, "support.type.rlp"),
        ("0.99", 0, "constant.numeric.float.rlp"),
        ("scan", 0, "keyword.control.loop.rlp"),
        ("reverse", 0, "keyword.control.loop.rlp"),
        ("zeros", 0, "entity.name.function.call.rlp"),
        ("a comment", 0, "comment.line.number-sign.rlp"),
        ("use", 0, "keyword.control.import.rlp"),
        ("std.estimators", 0, "entity.name.namespace.rlp"),
        ("f32", 0, "entity.name.function.call.rlp"),
        ("++", 0, "keyword.operator.arithmetic.rlp"),
        ("sample", 0, "entity.name.function.member.rlp"),
        ("n", 0, "variable.parameter.rlp"),
        ("1_000", 0, "constant.numeric.integer.rlp"),
        ("sample", 1, "variable.other.property.rlp"),
        ("log_prob", 0, "variable.other.property.rlp"),
        ("->", 0, "storage.type.function.arrow.rlp"),
        ("log", 0, "entity.name.function.call.rlp"),
        ("\\\"", 0, "constant.character.escape.rlp"),
        ("# b", 0, "string.quoted.double.rlp"),
        ("train", 0, "keyword.control.train.rlp"),
        ("iterations", 0, "variable.other.property.rlp"),
        ("sample", 2, "keyword.control.stage.rlp"),
        ("improve", 0, "keyword.control.stage.rlp"),
        ("minimize", 0, "keyword.control.rlp"),
        ("if", 0, "keyword.control.conditional.rlp"),
        ("not", 0, "keyword.operator.logical.rlp"),
        ("with", 0, "keyword.control.rlp"),
        ("every", 0, "keyword.control.loop.rlp"),
        ("steps", 1, "keyword.other.unit.rlp"),
        ("after", 0, "keyword.control.loop.rlp"),
        ("fit", 0, "keyword.control.stage.rlp"),
        ("<-", 0, "keyword.operator.update.rlp"),
        ("log", 1, "keyword.control.log.rlp"),
        ("true", 0, "constant.language.boolean.rlp"),
    ];
    let mut wrong = Vec::new();
    for (text, nth, scope) in expect {
        let got = scope_of(&tokens, text, nth);
        if got != scope {
            wrong.push(format!("{text:?} #{nth}: {got}, expected {scope}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every program in the repository closes every scope it opens (no bracket, string or
/// `every` header runs on past its end), and no keyword-looking word of real code is
/// left without a scope.
#[test]
fn every_program_in_the_repository_closes_its_scopes() {
    let g = grammar();
    let root = common::repo_root();
    let mut failures = Vec::new();
    for rel in common::rlp_files() {
        let text = std::fs::read_to_string(root.join(&rel)).unwrap();
        if rlp_syntax::parse(&text).is_err() {
            continue; // a syntax-error fixture
        }
        let (tokens, open) = tokenize(&g, &text);
        if !open.is_empty() {
            failures.push(format!("{}: left open: {open:?}", rel.display()));
        }
        for t in &tokens {
            let word = t.text.trim();
            if ["fn", "train", "use", "scan", "minimize", "repeat"].contains(&word)
                && t.scopes
                    .iter()
                    .all(|s| !s.starts_with("comment") && !s.starts_with("string"))
                && !t
                    .scopes
                    .last()
                    .is_some_and(|s| s.contains("keyword") || s.contains("storage"))
            {
                failures.push(format!(
                    "{}:{}: {word:?} scoped {:?}",
                    rel.display(),
                    t.line,
                    t.scopes
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
