//! The `.rlp` syntax: the pest grammar (`rlp.pest`) and the AST with spans.

pub mod ast;
