//! The subcommands' flags and handlers, one module per family; `main.rs`
//! holds the top-level parser and the dispatch.

pub(crate) mod bench;
pub(crate) mod eval;
pub(crate) mod nats;
pub(crate) mod serve;
pub(crate) mod train;
