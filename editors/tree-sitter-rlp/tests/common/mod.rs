//! What the tests share: the repository's `.rlp` files and a parser for them.

#![allow(dead_code)]

pub mod shape;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (this crate is `editors/tree-sitter-rlp`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Every `.rlp` file in the repository, relative to its root, sorted: the files git
/// tracks, or, outside a git checkout, every `.rlp` file under the root but `target/`.
pub fn rlp_files() -> Vec<PathBuf> {
    let root = repo_root();
    let git = Command::new("git")
        .args(["ls-files", "-z", "--", "*.rlp"])
        .current_dir(&root)
        .output();
    let mut files: Vec<PathBuf> = match git {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect(),
        _ => {
            let mut found = Vec::new();
            walk(&root, &root, &mut found);
            found
        }
    };
    files.sort();
    files
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && name != ".git" && name != "node_modules" {
                walk(root, &path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rlp") {
            found.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

/// A parser for `.rlp`.
pub fn parser() -> tree_sitter::Parser {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_rlp::LANGUAGE.into())
        .expect("the generated parser's ABI is one the tree-sitter crate can load");
    parser
}

/// The first ERROR or MISSING node of a tree, in document order.
pub fn first_error(node: tree_sitter::Node) -> Option<tree_sitter::Node> {
    if !node.has_error() {
        return None;
    }
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        if let Some(e) = first_error(child) {
            return Some(e);
        }
    }
    // `has_error` with no erroneous child: the node itself.
    Some(node)
}

/// "line:column: ERROR/MISSING `x`, in `the line`" for a failed parse.
pub fn describe_error(source: &str, node: tree_sitter::Node) -> String {
    let p = node.start_position();
    let what = if node.is_missing() {
        format!("MISSING {}", node.kind())
    } else if node.is_error() {
        "ERROR".to_string()
    } else {
        format!("error inside {}", node.kind())
    };
    let line = source.lines().nth(p.row).unwrap_or("");
    let text: String = source[node.byte_range()].chars().take(40).collect();
    format!(
        "{}:{}: {what} at {text:?}\n    {line}\n    {}^",
        p.row + 1,
        p.column + 1,
        " ".repeat(p.column)
    )
}
