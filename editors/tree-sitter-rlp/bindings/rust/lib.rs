//! The `.rlp` grammar for [tree-sitter](https://tree-sitter.github.io/).
//!
//! ```
//! let mut parser = tree_sitter::Parser::new();
//! parser.set_language(&tree_sitter_rlp::LANGUAGE.into()).unwrap();
//! let tree = parser.parse("x = 1\n", None).unwrap();
//! assert!(!tree.root_node().has_error());
//! ```
//!
//! The grammar is `grammar.js`; `src/parser.c` is generated from it by the tree-sitter
//! CLI (see `docs/editors.md`) and committed, so building this crate needs only a C
//! compiler. The queries an editor uses are exported as strings.

use tree_sitter_language::LanguageFn;

unsafe extern "C" {
    fn tree_sitter_rlp() -> *const ();
}

/// The tree-sitter [`LanguageFn`] of `.rlp`: `tree_sitter::Language::new(LANGUAGE)` or
/// `LANGUAGE.into()`.
pub const LANGUAGE: LanguageFn = unsafe { LanguageFn::from_raw(tree_sitter_rlp) };

/// The node types of the grammar (`src/node-types.json`).
pub const NODE_TYPES: &str = include_str!("../../src/node-types.json");

/// Syntax highlighting (`queries/highlights.scm`).
pub const HIGHLIGHTS_QUERY: &str = include_str!("../../queries/highlights.scm");

/// Folding ranges (`queries/folds.scm`).
pub const FOLDS_QUERY: &str = include_str!("../../queries/folds.scm");

/// Indentation, in nvim-treesitter's capture names (`queries/indents.scm`).
pub const INDENTS_QUERY: &str = include_str!("../../queries/indents.scm");

/// Syntax highlighting in Helix's scope names (`queries/helix/highlights.scm`).
pub const HELIX_HIGHLIGHTS_QUERY: &str = include_str!("../../queries/helix/highlights.scm");

/// Indentation in Helix's capture names (`queries/helix/indents.scm`).
pub const HELIX_INDENTS_QUERY: &str = include_str!("../../queries/helix/indents.scm");
