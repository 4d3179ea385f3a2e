//! Random programs: every one the pest parser accepts must parse here without errors and
//! into the same shape. The generator writes any grammatical mix of expressions and
//! statements, with line breaks, comments and parentheses sprinkled where the language
//! allows them (and sometimes where it does not: those programs the pest parser rejects,
//! and they are skipped). The seeds are fixed, so a failure reproduces.

mod common;

use common::{describe_error, first_error, parser, shape};

/// xorshift64*: small, deterministic, good enough to pick grammar productions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const NAMES: &[&str] = &[
    "x", "y", "q_targ", "batch", "log", "env", "_t", "a1", "steps", "every_k",
];
const FIELDS: &[&str] = &["obs", "sample", "log_prob", "if", "shape", "for", "with"];
const KEYS: &[&str] = &[
    "axis", "gamma", "sample", "in", "with", "log", "steps", "keep",
];
const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "**", "@", "++", "==", "!=", "<", "<=", ">", ">=", "and", "or",
];

struct Gen {
    rng: Rng,
}

impl Gen {
    /// A line break (with a comment, sometimes) where one may go inside an expression.
    fn nl(&mut self) -> &'static str {
        match self.rng.below(12) {
            0 => "\n  ",
            1 => " # note\n  ",
            2 => "\n\n    ",
            _ => " ",
        }
    }

    fn name(&mut self) -> String {
        self.rng.pick(NAMES).to_string()
    }

    fn expr(&mut self, depth: usize) -> String {
        if depth == 0 {
            return self.atom();
        }
        let d = depth - 1;
        match self.rng.below(22) {
            0..=3 => self.atom(),
            4..=7 => {
                let op = self.rng.pick(BINARY);
                let nl = self.nl();
                format!("{} {op}{nl}{}", self.operand(d), self.operand(d))
            }
            8 => format!("-{}", self.operand(d)),
            9 => format!("not {}", self.operand(d)),
            10 => {
                let (n1, n2) = (self.nl(), self.nl());
                format!(
                    "if {}{n1}then {}{n2}else {}",
                    self.expr(d),
                    self.expr(d),
                    self.expr(d)
                )
            }
            11 => {
                let params = match self.rng.below(3) {
                    0 => self.name(),
                    1 => "()".to_string(),
                    _ => format!("({}, {} = {})", self.name(), self.name(), self.atom()),
                };
                let nl = self.nl();
                format!("{params} ->{nl}{}", self.expr(d))
            }
            12 => format!("{} -> {}", self.atom(), self.expr(d)),
            13 => {
                let args: Vec<String> = (0..self.rng.below(4))
                    .map(|_| {
                        if self.rng.chance(40) {
                            format!("{}: {}", self.rng.pick(KEYS), self.expr(d))
                        } else {
                            self.expr(d)
                        }
                    })
                    .collect();
                let nl = self.nl();
                format!(
                    "{}({}{nl})",
                    self.primary(d),
                    args.join(&format!(",{}", self.nl()))
                )
            }
            14 => format!("{}.{}", self.primary(d), self.rng.pick(FIELDS)),
            15 => {
                let items: Vec<String> = (0..1 + self.rng.below(3))
                    .map(|_| match self.rng.below(5) {
                        0 => format!("{}:", self.atom()),
                        1 => format!(":{}", self.atom()),
                        2 => ":".to_string(),
                        3 => format!("{}:{}", self.atom(), self.atom()),
                        _ => self.expr(d),
                    })
                    .collect();
                format!("{}[{}]", self.primary(d), items.join(", "))
            }
            16 => {
                let items: Vec<String> = (0..self.rng.below(4)).map(|_| self.expr(d)).collect();
                let trailing = if self.rng.chance(20) && !items.is_empty() {
                    ","
                } else {
                    ""
                };
                format!("[{}{trailing}]", items.join(&format!(",{}", self.nl())))
            }
            17 => match self.rng.below(3) {
                0 => format!("({},)", self.expr(d)),
                1 => format!("({}, {})", self.expr(d), self.expr(d)),
                _ => format!("({})", self.expr(d)),
            },
            18 => {
                let fields: Vec<String> = (0..self.rng.below(4))
                    .map(|_| format!("{}: {}", self.rng.pick(KEYS), self.expr(d)))
                    .collect();
                let open = if self.rng.chance(30) { "{\n  " } else { "{ " };
                format!("{open}{} }}", fields.join(&format!(",{}", self.nl())))
            }
            19 => {
                let body = self.block_body(d);
                format!("{{\n{body}\n}}")
            }
            20 => {
                let reverse = if self.rng.chance(50) { "reverse " } else { "" };
                let dim = self.rng.pick(&["T", "T + 1", "2 * N", "N - 1", "4"]);
                let body = self.block_body(d);
                format!(
                    "scan {reverse}t in {dim} ({} = {}) {{\n{body}\n}}",
                    self.name(),
                    self.expr(d)
                )
            }
            _ => format!("({})", self.expr(d)),
        }
    }

    /// An operand of an operator: anything but a lambda or a range, unless bracketed.
    fn operand(&mut self, depth: usize) -> String {
        let e = self.expr(depth);
        if e.contains("->") && !e.starts_with('(') {
            format!("({e})")
        } else {
            e
        }
    }

    fn primary(&mut self, depth: usize) -> String {
        match self.rng.below(4) {
            0 => format!("({})", self.expr(depth)),
            1 => format!("{}({})", self.name(), self.atom()),
            _ => self.name(),
        }
    }

    fn atom(&mut self) -> String {
        match self.rng.below(8) {
            0 => self
                .rng
                .pick(&["0", "1_000", "0.99", "1e-3", "2.5E+2"])
                .to_string(),
            1 => self
                .rng
                .pick(&["\"s\"", "\"a # b\"", "\"q\\\"\"", "\"\""])
                .to_string(),
            2 => self.rng.pick(&["true", "false"]).to_string(),
            _ => self.name(),
        }
    }

    fn block_body(&mut self, depth: usize) -> String {
        let n = 1 + self.rng.below(3);
        let stmts: Vec<String> = (0..n)
            .map(|_| format!("  {}", self.stmt(depth, false)))
            .collect();
        stmts.join(if self.rng.chance(20) { "; " } else { "\n" })
    }

    fn stmt(&mut self, depth: usize, in_train: bool) -> String {
        let d = depth.saturating_sub(1);
        match self.rng.below(if in_train { 14 } else { 11 }) {
            0..=2 => {
                let names = if self.rng.chance(20) {
                    format!("{}, {}", self.name(), self.name())
                } else {
                    self.name()
                };
                let nl = self.nl();
                format!("{names} ={nl}{}", self.expr(depth))
            }
            3 => format!("{} <- {}", self.primary(d), self.expr(depth)),
            4 => {
                let op = self.rng.pick(&["+=", "-=", "*=", "/="]);
                format!("{} {op} {}", self.name(), self.expr(depth))
            }
            5 => {
                let wrt = if self.rng.chance(50) {
                    format!("{}wrt {}, {} ", self.nl(), self.name(), self.name())
                } else {
                    String::new()
                };
                format!(
                    "minimize {} {wrt}{}with {}",
                    self.expr(d),
                    self.nl(),
                    self.name()
                )
            }
            6 => {
                let entries: Vec<String> = (0..1 + self.rng.below(3))
                    .map(|_| format!("{} = {}", self.name(), self.expr(d)))
                    .collect();
                format!("log {}", entries.join(&format!(",{}", self.nl())))
            }
            7 => {
                let after = if self.rng.chance(50) {
                    format!("after {} ", self.atom())
                } else {
                    String::new()
                };
                format!(
                    "every {} steps {after}{{\n{}\n}}",
                    self.atom(),
                    self.block_body(d)
                )
            }
            8 => format!("repeat {} {{\n{}\n}}", self.atom(), self.block_body(d)),
            9 => format!(
                "for {} in {} {{\n{}\n}}",
                self.name(),
                self.expr(d),
                self.block_body(d)
            ),
            10 => self.expr(depth),
            _ => {
                let label = self.rng.pick(&["sample", "fit", "improve"]);
                if self.rng.chance(30) {
                    format!("{label} {{\n{}\n}}", self.block_body(d))
                } else {
                    format!("{label} {}", self.stmt(depth, false))
                }
            }
        }
    }

    fn program(&mut self) -> String {
        let mut items = Vec::new();
        for _ in 0..1 + self.rng.below(4) {
            let item = match self.rng.below(6) {
                0 => self
                    .rng
                    .pick(&[
                        "use std.env.cartpole",
                        "use std.replay.{replay, draw}",
                        "use \"./m.rlp\".{f}",
                    ])
                    .to_string(),
                1 => {
                    let public = if self.rng.chance(50) { "pub " } else { "" };
                    let ret = if self.rng.chance(50) {
                        " -> [T, N] f32"
                    } else {
                        ""
                    };
                    format!(
                        "/// Doc.\n{public}fn f(a, b: [T + 1, N] bool, c: int = {}){ret} {{\n{}\n}}",
                        self.atom(),
                        self.block_body(3)
                    )
                }
                2 => {
                    let body: Vec<String> = (0..1 + self.rng.below(4))
                        .map(|_| format!("  {}", self.stmt(3, true)))
                        .collect();
                    format!(
                        "train iterations: {} {{\n{}\n}}",
                        self.atom(),
                        body.join("\n")
                    )
                }
                _ => self.stmt(3, false),
            };
            items.push(item);
        }
        items.join(if self.rng.chance(10) { ";" } else { "\n" }) + "\n"
    }
}

#[test]
fn random_programs_parse_as_the_pest_parser_parses_them() {
    let mut parser = parser();
    let (mut accepted, mut rejected) = (0, 0);
    let mut failures = Vec::new();
    // RLP_RANDOM_PROGRAMS=100000 tries more.
    let count: u64 = std::env::var("RLP_RANDOM_PROGRAMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1500);
    for seed in 1..=count {
        let mut g = Gen {
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
        };
        let source = g.program();
        let Ok(module) = rlp_syntax::parse(&source) else {
            rejected += 1;
            continue;
        };
        accepted += 1;
        let tree = parser.parse(&source, None).unwrap();
        if let Some(node) = first_error(tree.root_node()) {
            failures.push(format!(
                "seed {seed}:{}\n{source}",
                describe_error(&source, node)
            ));
            continue;
        }
        let expected = shape::of_module(&module);
        let got = shape::Tree { source: &source }.of_source_file(tree.root_node());
        if expected != got {
            let i = (0..expected.len().max(got.len()))
                .find(|&i| expected.get(i) != got.get(i))
                .unwrap();
            failures.push(format!(
                "seed {seed}: shape line {}: pest {:?}, tree-sitter {:?}\n{source}",
                i + 1,
                expected.get(i),
                got.get(i)
            ));
        }
    }
    eprintln!("{accepted} random programs accepted by pest and compared, {rejected} rejected");
    assert!(
        accepted * 2 >= count as usize,
        "only {accepted} of {count} random programs are valid: fix the generator"
    );
    assert!(
        failures.is_empty(),
        "{} of {accepted} programs differ; the first ones:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
