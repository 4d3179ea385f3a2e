//! Semantic analysis: resolve names, check types and symbolic shapes, and lower the
//! program to the pipeline IR ([`crate::program::Program`]).
//!
//! The only reader of the AST. Its entry point is [`lower`].

pub mod builtins;
pub mod data;
pub mod elab;
pub mod function;
pub mod inplace;
pub mod library;
pub mod loops;
pub mod memory;
pub mod modules;
pub mod overrides;
pub mod params;
pub mod rollout;
pub mod shapes;
pub mod train;
pub mod value;

pub use modules::Modules;
pub use train::{lower, lower_opts, lower_with};

/// How the front end lowers a program.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Unroll every `for` and `repeat` statement instead of lowering the ones that
    /// allow it to loops ([`loops`]): for checking that both give the same results.
    pub unroll_loops: bool,
    /// Keep writing transient slots no stage or metric reads
    /// ([`crate::program::Program::prune_unread_transients`] otherwise drops them), for
    /// tools that read them from the trainer (evaluation reads its rollout's batch).
    pub keep_unread: bool,
    /// The memory the lowered program may need ([`memory::check`]).
    pub memory: memory::MemoryBudget,
}
