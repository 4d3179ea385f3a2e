//! `rlpc check` on a library (a file of functions, no `train` block): each function
//! with declared parameters is checked alone, with its dimension symbols bound to
//! placeholder sizes; generic functions are skipped with a note.

use rlpc::diag::render_plain;
use std::path::Path;
use std::process::Command;

/// A library whose `td_error` subtracts `[T+1, N]` from `[T, N]`, and whose `scale`
/// returns the wrong shape for its declaration; `ident` is generic.
const BAD_LIB: &str = "\
/// One-step TD errors.
pub fn td_error(r: [T, N], v: [T+1, N], gamma: float = 0.99) -> [T, N] {
  r + gamma * v[1:] - v
}

fn ident(x) { x }

pub fn scale(x: [N, D], k: float) -> [N] {
  k * x
}

pub fn fine(x: [N, D], w: [D, K]) -> [N, K] {
  x @ w
}
";

fn check_text(src: &str) -> Result<String, String> {
    match rlpc::check_source("lib.rlp", src, 0) {
        Ok((rlpc::Checked::Library(report), _)) => Ok(format!(
            "{}\nskipped: {:?}",
            report.summary(),
            report.skipped
        )),
        Ok((rlpc::Checked::Program(_), _)) => Ok("a program".into()),
        Err((diags, sources)) => Err(render_plain(&diags, &sources)),
    }
}

#[test]
fn shape_errors_inside_library_functions_are_reported() {
    let report = check_text(BAD_LIB).expect_err("the library has two shape errors");
    insta::assert_snapshot!(report);
}

#[test]
fn a_good_library_checks_clean_and_says_what_it_skipped() {
    let good = "pub fn fine(x: [N, D], w: [D, K]) -> [N, K] { x @ w }\nfn ident(x) { x }\n";
    assert_eq!(
        check_text(good).unwrap(),
        "library: 1 function checked, 1 skipped\nskipped: [(\"ident\", \"parameter `x` has no declared type\")]"
    );
}

#[test]
fn every_stdlib_module_checks_clean_as_a_library() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stdlib");
    let mut files = vec![];
    for dir in [root.clone(), root.join("env")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rlp") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "{files:?}");
    let mut checked = 0;
    for path in files {
        match rlpc::check_file(&path, 0, Default::default()) {
            Ok((rlpc::Checked::Library(r), _)) => checked += r.checked.len(),
            Ok((rlpc::Checked::Program(_), _)) => panic!("{}: not a library", path.display()),
            Err((d, s)) => panic!("{}:\n{}", path.display(), render_plain(&d, &s)),
        }
    }
    assert!(checked > 30, "only {checked} functions checked");
}

/// Runs `rlpc ARGS… FILE` on `src` written to a temporary file.
fn rlpc(args: &[&str], name: &str, src: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("rlpc-library-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, src).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rlpc"))
        .args(args)
        .arg(&path)
        .output()
        .expect("rlpc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_checks_a_library_but_does_not_run_one() {
    let good = "pub fn fine(x: [N, D], w: [D, K]) -> [N, K] { x @ w }\nfn ident(x) { x }\n";
    let (code, err) = rlpc(&["check"], "good_lib.rlp", good);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("note: `ident` not checked: parameter `x` has no declared type"),
        "{err}"
    );
    assert!(
        err.contains("ok — library: 1 function checked, 1 skipped"),
        "{err}"
    );

    let (code, err) = rlpc(&["check"], "bad_lib.rlp", BAD_LIB);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad_lib.rlp:3"), "{err}");

    let (code, err) = rlpc(&["run"], "good_lib.rlp", good);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no `train` block"), "{err}");
}
