//! The `.rlp` syntax: the pest grammar (`rlp.pest`) and the AST with spans.
//!
//! [`parse`] turns one source file into an [`ast::Module`] or a [`ParseError`] that says
//! where and what was expected.

pub mod ast;
mod parser;

pub use parser::{MAX_BRACKET_DEPTH, MAX_EXPR_DEPTH, ParseError, line_col, parse};
pub mod format;
pub use format::format;
