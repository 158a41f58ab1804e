//! The subcommands' flags and handlers, one module per family; `main.rs`
//! holds the top-level parser and the dispatch.

pub(crate) mod bench;
pub(crate) mod eval;
pub(crate) mod info;
pub(crate) mod join;
pub(crate) mod nats;
pub(crate) mod serve;
pub(crate) mod tail;
pub(crate) mod train;

/// A command line that cannot run as given, though clap accepted it (a
/// flag another one makes necessary): exit status 2, as clap's own errors.
#[derive(Debug)]
pub(crate) struct Usage(pub(crate) String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}
