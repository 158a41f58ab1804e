//! `pipeline join`: two loggers' files (one channel each) made into one
//! recording on the output's clock (see [`pipeline::recording::join`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::train::CsvArgs;

// (The reading flags `join` refuses, hidden from its help.)
#[derive(Args)]
#[command(
    mut_arg("rows_of", |a| a.hide(true)),
    mut_arg("resample", |a| a.hide(true)),
    mut_arg("name_column", |a| a.hide(true)),
    mut_arg("value_column", |a| a.hide(true))
)]
pub(crate) struct JoinArgs {
    /// A file holding the input's or the output's column (or both), with a
    /// time column; repeat for each logger's files (downloads one after
    /// another are one channel, rows two of them hold kept once).
    #[arg(long, value_name = "FILE", required = true)]
    data: Vec<PathBuf>,
    /// The CSV file to write: `time,<input>,<output>`, a row per output row
    /// that has an input value recent enough.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    csv: CsvArgs,
}

/// Reads, joins, writes, and says what it did and what to run next.
pub(crate) fn join(a: &JoinArgs) -> Result<()> {
    a.csv.check()?;
    let c = &a.csv;
    let not_here = [
        (c.rows_of.is_some(), "--rows-of"),
        (c.resample.is_some(), "--resample"),
        (c.name_column.is_some(), "--name-column"),
    ];
    if let Some((_, flag)) = not_here.iter().find(|(given, _)| *given) {
        return Err(super::Usage(format!(
            "join does not take {flag}: it joins on each row's own time stamp (read the \
             joined file with it, if it needs it)"
        ))
        .into());
    }
    let same = |d: &PathBuf| {
        d == &a.out || matches!((d.canonicalize(), a.out.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    if a.data.iter().any(same) {
        return Err(super::Usage(format!(
            "--out {} is one of the --data files: write the join to another file",
            a.out.display()
        ))
        .into());
    }
    let joined = pipeline::recording::join::join(&a.data, &c.options())?;
    std::fs::write(&a.out, &joined.text)
        .with_context(|| format!("cannot write {}", a.out.display()))?;
    let (lines, warnings) = joined.said();
    for l in lines {
        eprintln!("{l}");
    }
    for w in warnings {
        eprintln!("WARNING {w}");
    }
    eprintln!("wrote {}; train on it with:", a.out.display());
    eprintln!("  {}", joined.next(&a.out));
    if let Some((serve, how)) = joined.serve(&a.out) {
        eprintln!("and serve it with the command below; {how}:");
        eprintln!("  {serve}");
    }
    Ok(())
}
