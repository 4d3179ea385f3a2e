//! `rlpc check` on hostile input: always a message and exit code 1, never a panic
//! (exit 101), a stack overflow (a signal) or a hang.

use std::process::Command;

fn check_bytes(name: &str, bytes: &[u8]) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("rlpc-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rlpc"))
        .arg("check")
        .arg(&path)
        .output()
        .expect("rlpc runs");
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{name}: rlpc was killed by a signal: {:?}", out.status));
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn rejects(name: &str, bytes: &[u8], expect: &str) {
    let (code, err) = check_bytes(name, bytes);
    assert_eq!(code, 1, "{name}: exit code {code}, stderr:\n{err}");
    assert!(
        err.contains(expect),
        "{name}: expected `{expect}` in:\n{err}"
    );
}

#[test]
fn empty_file() {
    rejects("empty.rlp", b"", "no `train` block");
}

#[test]
fn binary_file() {
    rejects(
        "binary.rlp",
        &[0x7f, b'E', b'L', b'F', 0, 1, 2, 3, 0xff, 0xfe],
        "binary file",
    );
}

#[test]
fn invalid_utf8() {
    rejects("latin1.rlp", b"x = 1 # caf\xe9\n", "not valid UTF-8");
}

#[test]
fn deep_brackets() {
    let src = format!("x = {}1{}\n", "(".repeat(100_000), ")".repeat(100_000));
    rejects("deep.rlp", src.as_bytes(), "rlp::");
}

#[test]
fn deep_lists() {
    let src = format!("x = {}\n", "[".repeat(100_000));
    rejects("lists.rlp", src.as_bytes(), "rlp::");
}

#[test]
fn long_operator_chain() {
    let src = format!(
        "x = {}1\ntrain iterations: 1 {{ log a = 1.0 }}\n",
        "1 + ".repeat(100_000)
    );
    rejects("chain.rlp", src.as_bytes(), "rlp::");
}

#[test]
fn long_unary_chain() {
    let src = format!("x = {}1\n", "-".repeat(100_000));
    rejects("unary.rlp", src.as_bytes(), "rlp::");
}

#[test]
fn megabyte_line() {
    let src = format!("x = \"{}\n", "a".repeat(1 << 20));
    rejects("line.rlp", src.as_bytes(), "rlp::");
}

#[test]
fn crlf_tabs_and_multibyte_are_fine() {
    let src = "use std.env.cartpole\r\n# θ, ẋ — état\r\nenv\t= cartpole(envs: 2)\r\npolicy = categorical(mlp(env.obs, [8], env.actions))\r\ntrain iterations: 1 {\r\n\tsample batch = rollout(env, policy, steps: 4)\r\n\tlog r = mean(batch.reward)\r\n}\r\n";
    let (code, err) = check_bytes("crlf.rlp", src.as_bytes());
    assert_eq!(code, 0, "{err}");
}

#[test]
fn error_after_multibyte_points_at_the_right_place() {
    let src = "# é\nx = yy\ntrain iterations: 1 { log a = 1.0 }\n";
    rejects("mb.rlp", src.as_bytes(), "mb.rlp:2:5");
}

#[test]
fn random_bytes_never_crash() {
    // A fixed-seed xorshift stream: reproducible without a dependency.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let tokens: [&[u8]; 16] = [
        b"(",
        b")",
        b"[",
        b"]",
        b"{",
        b"}",
        b"x",
        b" = ",
        b"\n",
        b"1.5",
        b"scan",
        b"train",
        b"fn",
        b",",
        b"->",
        b"\xce\xb8",
    ];
    for case in 0..40 {
        let mut src = vec![];
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            src.extend_from_slice(tokens[(x % 16) as usize]);
        }
        let (code, err) = check_bytes(&format!("fuzz{case}.rlp"), &src);
        assert!(code == 1 || code == 0, "case {case}: exit {code}\n{err}");
        assert!(
            code == 0 || err.contains("rlp::"),
            "case {case}: no diagnostic:\n{err}"
        );
    }
}

/// The fuzz target's seed corpus (`fuzz/corpus/check`), and deterministic mutations of
/// every file in it (truncations, deleted and duplicated spans, swapped bytes), through
/// the same entry point the cargo-fuzz target uses: never a panic or an internal error.
#[test]
fn fuzz_corpus_and_its_mutations_never_crash_the_front_end() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/check");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the seed corpus is missing");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    let mut cases = 0;
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let bytes = src.as_bytes();
        let mut variants = vec![src.clone()];
        for _ in 0..25 {
            let (a, b) = (next(bytes.len()), next(bytes.len()));
            let (lo, hi) = (a.min(b), a.max(b));
            let mut v = bytes.to_vec();
            match next(4) {
                0 => v.truncate(lo),
                1 => {
                    v.drain(lo..hi.min(lo + 40));
                }
                2 => {
                    let chunk = v[lo..hi.min(lo + 40)].to_vec();
                    v.splice(hi..hi, chunk);
                }
                _ => {
                    let last = v.len().saturating_sub(1);
                    v.swap(lo.min(last), hi.min(last));
                }
            }
            if let Ok(s) = String::from_utf8(v) {
                variants.push(s);
            }
        }
        for v in variants {
            cases += 1;
            if let Err((diags, _)) = rlpc::front_end_source("fuzz.rlp", &v, 0) {
                assert!(
                    diags.iter().all(|d| d.code != "internal"),
                    "internal error on a mutation of {}:\n{v}",
                    f.display()
                );
            }
        }
    }
    assert!(cases > 100);
}

/// Output piped into a reader that stops early (`rlpc explain … | head`) ends the
/// process quietly, never with a panic about a broken pipe.
#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::process::Stdio;
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/dqn_cartpole.rlp");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rlpc"))
        .args(["explain", "--all-passes"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rlpc runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

/// The `file:line:col` of a diagnostic counts characters, as editors do: a `λ` and two
/// `𝛾` (2 and 4 bytes each) before the label on its line move it by three columns, not
/// by the ten bytes they take.
#[test]
fn columns_count_characters_not_bytes() {
    let src = "use std.env.cartpole\nenv = cartpole(envs: 2)\ns = \"λ𝛾𝛾\"; y = undefined_thing\n\
               train iterations: 1 { log a = 1.0 }\n";
    let (code, out) = check_bytes("columns.rlp", src.as_bytes());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("columns.rlp:3:16]"), "{out}");
}
