//! `rlpc fmt` keeps the program (the same AST, spans aside), keeps every comment, is
//! idempotent, and writes the layout the shipped files use — on every shipped `.rlp`
//! file and `rlp` code block of the docs, on snapshots of each layout rule, on tricky
//! snippets, and on random inputs.

use proptest::prelude::*;
use rlp_syntax::format::WIDTH;
use rlp_syntax::{format, parse};
use std::path::{Path, PathBuf};

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

/// Formats `src` and checks the program, the comments and idempotence; returns the
/// formatted text.
fn check(src: &str) -> String {
    let once = format(src).expect("formats");
    assert_eq!(
        shape(&once),
        shape(src),
        "formatting changed the program:\n{once}"
    );
    let twice = format(&once).unwrap();
    assert_eq!(twice, once, "not idempotent; first pass:\n{once}");
    for line in src.lines() {
        if let Some(i) = line.find('#') {
            let c = line[i..].trim_end();
            if !line[..i].contains('"') {
                assert!(once.contains(c), "lost comment `{c}`:\n{once}");
            }
        }
    }
    once
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files_ending(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy();
        if p.is_dir() && name != "target" && !name.starts_with('.') {
            files_ending(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// Every `.rlp` file in the repository: examples, stdlib, test and fuzz fixtures.
fn shipped_rlp_files() -> Vec<PathBuf> {
    let mut files = vec![];
    for dir in [
        "examples", "stdlib", "grammar", "compiler", "runtime", "fuzz", "docs", "bench",
    ] {
        files_ending(&root().join(dir), "rlp", &mut files);
    }
    files.sort();
    files
}

/// The untagged (or `rlp`) code blocks of the docs and the README; those that parse
/// are `.rlp` programs.
fn doc_blocks() -> Vec<(PathBuf, String)> {
    let mut mds = vec![root().join("README.md")];
    files_ending(&root().join("docs"), "md", &mut mds);
    let mut blocks = vec![];
    for md in mds {
        let text = std::fs::read_to_string(&md).unwrap();
        let mut open: Option<(bool, String)> = None;
        for line in text.lines() {
            match (&mut open, line.strip_prefix("```")) {
                (None, Some(tag)) => open = Some((tag.is_empty() || tag == "rlp", String::new())),
                (Some((keep, body)), Some(_)) => {
                    if *keep {
                        blocks.push((md.clone(), std::mem::take(body)));
                    }
                    open = None;
                }
                (Some((_, body)), None) => {
                    body.push_str(line);
                    body.push('\n');
                }
                (None, None) => {}
            }
        }
    }
    blocks
}

#[test]
fn every_shipped_file_keeps_its_program_and_is_a_fixed_point() {
    let files = shipped_rlp_files();
    assert!(files.len() >= 30, "found only {files:?}");
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        if parse(&src).is_ok() {
            check(&src);
        }
    }
}

#[test]
fn doc_code_blocks_keep_their_program() {
    let programs: Vec<_> = doc_blocks()
        .into_iter()
        .filter(|(_, s)| parse(s).is_ok())
        .collect();
    assert!(programs.len() >= 5, "found {programs:?}");
    for (_, src) in &programs {
        check(src);
    }
}

/// Lists the shipped files `rlpc fmt --check` rejects, with what it would change.
/// Every shipped `.rlp` file is in the canonical layout (`rlpc fmt --write FILE` fixes
/// one); the lines that would change are printed.
#[test]
fn shipped_files_are_formatted() {
    let mut changed = vec![];
    for f in shipped_rlp_files() {
        let src = std::fs::read_to_string(&f).unwrap();
        let Ok(out) = format(&src) else { continue };
        if out != src {
            println!("--- {}", f.display());
            for (a, b) in src.lines().zip(out.lines()).filter(|(a, b)| a != b) {
                println!("-{a}\n+{b}");
            }
            changed.push(f);
        }
    }
    assert!(
        changed.is_empty(),
        "{} files are not formatted: {changed:#?}",
        changed.len()
    );
}

#[test]
fn train_stages_align_keywords_and_bindings() {
    let src = "\
train iterations: 200 {
  sample batch = rollout(env, policy, steps: 200)
  fit q = reward_to_go(batch.reward, batch.done, gamma: 0.99)
      adv = (q - mean(q)) / (std(q) + 1e-8)
  improve minimize policy_gradient(policy, batch, adv) with opt
  log return = mean(env.episode_return)
}
";
    insta::assert_snapshot!(check(src));
}

#[test]
fn stage_blocks_and_updates() {
    let src = "\
train iterations: 400 {
  sample batch = rollout(env, policy, steps: 1)
  fit pulled = one_hot(batch.action[0], 4)
   n <- n + pulled
   total <- total + pulled
  improve for k in range(4) {
    minimize loss(batch) with opt
  }
  every 5 iterations { q_targ <- q }
  log return = mean(env.episode_return), progress = mean(batch.progress), timeouts = sum(f32(batch.truncated))
}
";
    insta::assert_snapshot!(check(src));
}

/// Stages inside an `every` block are laid out as in the `train` body around it: labels
/// padded to the block's own label column, the statements after a label under its first.
#[test]
fn stages_inside_every_blocks_align_like_train() {
    let src = "\
train iterations: 400 {
  sample batch = rollout(env, policy, steps: 1)
         buf <- insert(buf, batch)
         every 1 steps after 1_000 {
           improve mb = draw(buf, 64)
           y = stop(mb.reward)
           minimize mse(q(mb.obs), y) with opt
           q_targ <- polyak(q_targ, q, tau: 0.005)
         }
         every 500 steps { q_targ <- q }
  log return = mean(env.episode_return)
}
";
    insta::assert_snapshot!(check(src));
}

#[test]
fn top_level_bindings_align_in_groups() {
    let src = "\
lr = 3e-3
env = cartpole(envs: 16)
policy = categorical(mlp(env.obs, [64, 64], env.actions))

# A comment starts a new group.
iters = 100
n = zeros([256, 4])   # keeps its column
total = zeros([256, 4])   # keeps its column
";
    insta::assert_snapshot!(check(src));
}

#[test]
fn long_calls_break_under_the_first_argument() {
    let src = "\
adv = gae(batch.reward, v, next_v, batch.terminated, batch.truncated, gamma: 0.99, lambda: 0.95, extra: more_things)

# Kept as the author wrapped it: joined, it would not fit.
env = gridworld(grid: [[4, 0, 0, 1],
                       [0, 1, 0, 2],
                       [0, 0, 0, 0]],
                envs: 64, seed: 0, max_steps: 20, step_reward: -0.05, slip: 0.1, coords: true)

# Joined: it fits.
short = f(a,
          b)

thetaacc = (gravity * sintheta - costheta * temp) / (length * (4.0 / 3.0 - masspole * (costheta * costheta) / total_mass))
code = c -> if c == \"#\" then 1 else if c == \"G\" then 2 else if c == \"H\" then 3 else if c == \"S\" then 4 else 0
";
    insta::assert_snapshot!(check(src));
}

#[test]
fn long_signatures_break_under_the_first_parameter() {
    let src = "\
/// Doc comments stay.
pub fn gae(r: [T, N], v: [T, N], next_v: [T, N], terminated: [T, N] bool, truncated: [T, N] bool, gamma: float = 0.99, lambda: float = 0.95) -> [T, N] {
  delta = r + gamma * where(terminated, 0.0, next_v) - v
  delta
}

pub fn sigmoid(x) { 1 / (1 + exp(-x)) }
";
    insta::assert_snapshot!(check(src));
}

#[test]
fn comments_blocks_and_records() {
    let src = "\
# leading


/// doc
fn f(x) {   # after the brace
  # own line
  y = x  # trailing
  m = obs -> {
    logits: x,
    mode: () -> argmax(x, axis: -1),
  }
  z = g(a,   # inside a call: kept as written
        b)
  if y then { y } else z
}
# tail
";
    insta::assert_snapshot!(check(src));
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
        "b = {;}\nc = if p then x else (y, z) -> y\nd = (if p then 1 else 2) -> 3\n",
        "x = 1; y = 2\nz = ((a + b))\nw = (f)(x)\n",
        "p = {\n  a: 1\n}\nq = [\n  1, 2]\n",
        "train iterations: 1 { log a = 1.0 }\ntrain iterations: 2 {}\n",
    ] {
        check(src);
    }
}

/// A condition that only just fits leaves no room for ` then a` after it: it breaks, so
/// that no line overflows (found by `wide_programs_keep_their_meaning`).
#[test]
fn a_long_if_condition_leaves_room_for_its_then_arm() {
    let src = "waaa___aa = v\nw = (if (if va_ then 100 else { v_a___a: v_a_aa_aa, v______: v_a, v_aa: vaaaaaa_a }) then v__ else v)\n";
    let out = check(src);
    for line in out.lines() {
        assert!(
            line.chars().count() <= WIDTH,
            "overlong line:\n{line}\nin\n{out}"
        );
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

    /// Well-formed programs with long names, calls, lists, records and operator chains,
    /// with line breaks at random legal places: long lines get broken, and the result
    /// is a fixed point with the same AST.
    #[test]
    fn wide_programs_keep_their_meaning(src in program()) {
        let out = check(&src);
        for line in out.lines() {
            // A line may only overflow where nothing could break it: a single long item.
            if line.chars().count() > WIDTH {
                prop_assert!(!line.trim_start().contains(", "), "overlong line:\n{line}\nin\n{out}");
            }
        }
    }
}

/// A random expression as text, with `\n` after some commas and operators.
fn expr_text() -> impl Strategy<Value = String> {
    let name = "v[a-z_]{0,11}";
    let leaf = prop_oneof![
        name.prop_map(String::from),
        (0u32..1000).prop_map(|n| n.to_string())
    ];
    leaf.prop_recursive(4, 40, 6, move |inner| {
        let sep = prop_oneof![4 => Just(", "), 1 => Just(",\n")];
        let op = prop_oneof![Just(" + "), Just(" * "), Just(" -\n"), Just(" / ")];
        prop_oneof![
            (
                name,
                proptest::collection::vec((inner.clone(), sep.clone()), 0..6)
            )
                .prop_map(|(f, args)| {
                    let body: String = args.iter().map(|(a, s)| format!("{a}{s}")).collect();
                    format!("{f}({})", body.trim_end_matches([',', ' ', '\n']))
                }),
            proptest::collection::vec((inner.clone(), sep.clone()), 1..5).prop_map(|xs| {
                let body: String = xs.iter().map(|(a, s)| format!("{a}{s}")).collect();
                format!("[{}]", body.trim_end_matches([',', ' ', '\n']))
            }),
            proptest::collection::vec((name, inner.clone()), 1..4).prop_map(|fs| {
                let body: Vec<String> = fs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a}{o}{b}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("(if {c} then {a} else {b})")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

/// A program of bindings, a function and a train block built from [`expr_text`].
fn program() -> impl Strategy<Value = String> {
    // `with` and `wrt` are keywords.
    let name = || "w[a-z_]{0,8}".prop_filter("a name", |n| !matches!(n.as_str(), "with" | "wrt"));
    let binding = || (name(), expr_text()).prop_map(|(n, e)| format!("{n} = {e}\n"));
    (
        proptest::collection::vec(binding(), 1..4),
        expr_text(),
        proptest::collection::vec(binding(), 1..3),
        expr_text(),
    )
        .prop_map(|(top, body, stage, loss)| {
            let stage: String = stage.iter().map(|b| format!("  fit {b}")).collect();
            format!(
                "{}\nfn f(alpha_parameter, beta_parameter, gamma: float = 0.99, delta_parameter: [T, N] bool) {{\n  {body}\n}}\n\ntrain iterations: 10 {{\n{stage}  improve minimize {loss} with opt\n  log r = 1\n}}\n",
                top.concat()
            )
        })
}
