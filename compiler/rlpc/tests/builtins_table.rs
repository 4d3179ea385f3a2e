//! The table of built-in signatures (`sema::builtins::table`) is complete, and
//! `docs/builtins.md` is what it generates.

use rlpc::sema::builtins::Builtin;
use rlpc::sema::builtins::table::{SIGNATURES, reference_markdown, signature};
use std::path::Path;

#[test]
fn every_builtin_the_elaborator_accepts_has_a_signature() {
    let missing: Vec<&str> = Builtin::names()
        .iter()
        .copied()
        .filter(|n| signature(n).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "built-ins without a row in compiler/rlpc/src/sema/builtins/table.rs: {missing:?}"
    );
    for sig in SIGNATURES {
        assert!(
            Builtin::by_name(sig.name).is_some(),
            "`{}` is in the table but is not a built-in",
            sig.name
        );
        assert_eq!(
            SIGNATURES.iter().filter(|s| s.name == sig.name).count(),
            1,
            "`{}` has two rows",
            sig.name
        );
        let mut names: Vec<&str> = sig.params.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            sig.params.len(),
            "`{}` repeats a parameter",
            sig.name
        );
        assert!(
            !sig.doc.is_empty() && !sig.doc.contains('\n'),
            "`{}`: one line of doc",
            sig.name
        );
    }
}

#[test]
fn signatures_read_like_calls() {
    let sig = signature("uniform").map(|s| s.to_string());
    assert_eq!(
        sig.as_deref(),
        Some(
            "uniform(shape: shape, low: tensor | number = 0.0, high: tensor | number = 1.0, *, dtype: str = \"f32\", seed: int = 0) -> tensor"
        )
    );
}

#[test]
fn docs_builtins_md_is_generated_from_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/builtins.md");
    let want = reference_markdown();
    if std::env::var_os("RLPC_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/builtins.md is out of date with compiler/rlpc/src/sema/builtins/table.rs; \
         regenerate it with `cargo run --release -p rlpc -- doc builtins > docs/builtins.md` \
         (or run this test with RLPC_UPDATE_DOCS=1)"
    );
}

/// `docs/stdlib.md` is what `rlpc doc stdlib` generates from the stdlib's source, and
/// every public stdlib function in it has documentation.
#[test]
fn docs_stdlib_md_is_generated_from_the_stdlib() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/stdlib.md");
    let want = rlpc::stdlib_doc::reference_markdown();
    if std::env::var_os("RLPC_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/stdlib.md is out of date with stdlib/; regenerate it with \
         `cargo run --release -p rlpc -- doc stdlib > docs/stdlib.md` \
         (or run this test with RLPC_UPDATE_DOCS=1)"
    );
    let undocumented: Vec<&str> = want
        .split("\n### ")
        .skip(1)
        .filter(|section| section.trim_end().ends_with("```"))
        .map(|section| section.lines().next().unwrap_or(""))
        .collect();
    assert!(
        undocumented.is_empty(),
        "public stdlib functions without a `///` comment: {undocumented:?}"
    );
}

/// Every diagnostic code the compiler emits has a row in `docs/errors.md`, which
/// promises to list them all.
#[test]
fn every_diagnostic_code_is_in_the_error_reference() {
    fn sources(dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = vec![];
    sources(&root.join("src"), &mut texts);
    let reference = std::fs::read_to_string(root.join("../../docs/errors.md")).unwrap();
    let mut codes = std::collections::BTreeSet::new();
    for text in &texts {
        for opener in ["Diag::new(", "Diag::warning("] {
            for (at, _) in text.match_indices(opener) {
                let rest = text[at + opener.len()..].trim_start();
                if let Some(quoted) = rest.strip_prefix('"') {
                    let code = &quoted[..quoted.find('"').unwrap()];
                    if !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    {
                        codes.insert(code.to_string());
                    }
                }
            }
        }
    }
    assert!(codes.len() > 20, "found only {codes:?}");
    let missing: Vec<&String> = codes
        .iter()
        .filter(|c| !reference.contains(&format!("`{c}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "codes missing from docs/errors.md: {missing:?}"
    );
}
