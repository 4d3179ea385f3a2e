//! Semantic analysis: resolve names, check types and symbolic shapes, and lower the
//! program to the pipeline IR ([`crate::program::Program`]).
//!
//! The only reader of the AST. Its entry point is [`lower`].

pub mod builtins;
pub mod elab;
pub mod function;
pub mod modules;
pub mod overrides;
pub mod params;
pub mod rollout;
pub mod shapes;
pub mod train;
pub mod value;

pub use modules::Modules;
pub use train::{lower, lower_with};
