//! The tutorials' programs, read from the docs themselves (`docs/tutorial-env.md`,
//! `docs/tutorial-extend.md`): copied into files as a reader would, they check, are in
//! the canonical layout of `rlpc fmt`, and the environment tutorial's program learns what
//! the text says it does.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rlpc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rlpc"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run rlpc")
}

/// The `.rlp` code blocks of a doc (fenced blocks without a language that define a
/// function, build something or train: not the quoted diagnostics), in order.
fn rlp_blocks(doc: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(doc);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut blocks = vec![];
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```") => current = Some(String::new()),
            (None, l) if l.starts_with("```") => current = Some("\u{0}".into()),
            (Some(_), "```") => {
                let b = current.take().unwrap();
                if !b.starts_with('\u{0}')
                    && (b.contains("fn ") || b.contains(" = ") || b.contains("train "))
                    && !b.contains("rlp::")
                {
                    blocks.push(b);
                }
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tutorials")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn checks_and_is_formatted(dir: &Path, file: &str) {
    let o = rlpc(&["check", file], dir);
    assert!(
        o.status.success(),
        "{file}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = rlpc(&["fmt", "--check", file], dir);
    assert!(
        o.status.success(),
        "{file} is not in `rlpc fmt`'s layout:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_environment_tutorial_works_as_written() {
    let blocks = rlp_blocks("tutorial-env.md");
    assert_eq!(blocks.len(), 3, "{blocks:#?}");
    let d = scratch("env");
    std::fs::write(
        d.join("corridor.rlp"),
        format!("{}\n{}", blocks[0], blocks[1]),
    )
    .unwrap();
    std::fs::write(d.join("train.rlp"), &blocks[2]).unwrap();
    checks_and_is_formatted(&d, "corridor.rlp");
    checks_and_is_formatted(&d, "train.rlp");
    // "reaches the optimal 0.94 (six moves at −0.01, then +1) in every environment".
    let o = rlpc(&["run", "train.rlp", "--quiet"], &d);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(d.join("runs/train/metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|c| *c == "return").unwrap();
    let last: f64 = csv
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(col)
        .unwrap()
        .parse()
        .unwrap();
    assert!((last - 0.94).abs() < 1e-3, "last return {last}");
}

#[test]
fn the_estimator_tutorial_works_as_written() {
    let blocks = rlp_blocks("tutorial-extend.md");
    assert_eq!(blocks.len(), 2, "{blocks:#?}");
    let d = scratch("extend");
    std::fs::write(d.join("my_estimators.rlp"), &blocks[0]).unwrap();
    std::fs::write(d.join("train.rlp"), &blocks[1]).unwrap();
    checks_and_is_formatted(&d, "my_estimators.rlp");
    checks_and_is_formatted(&d, "train.rlp");
}
