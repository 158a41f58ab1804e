//! A channel named that is not in a file given but in another: two
//! loggers' files, one channel each. The reader's "did you mean" offered
//! the closest name in the file, the other channel (air for soil); what a
//! recording is, and where the column is, is what the user needs.

/// Where a read of `path` failed for want of column `c` that another of
/// `files` names in its first lines: said, with what a recording is and
/// the `pipeline join` that makes one of them.
pub(super) fn note(
    c: &crate::recording::Column,
    why: &str,
    path: &std::path::Path,
    files: &[std::path::PathBuf],
    opts: &crate::recording::CsvOptions,
) -> Option<String> {
    let crate::recording::Column::Name(name) = c else {
        return None;
    };
    if !why.contains(&format!("no column named {name:?}")) {
        return None;
    }
    let other = files.iter().filter(|f| f.as_path() != path).find(|f| {
        let head = crate::recording::file_bytes(f).unwrap_or_default();
        let head = String::from_utf8_lossy(&head[..head.len().min(8192)]).into_owned();
        head.contains(name.as_str())
    })?;
    Some(format!(
        ". {name:?} is a column of {}: each --data file is a recording of both channels, \
         the input's and the output's, on one clock; two loggers' files (one channel each) are \
         joined on their time stamps first: {}",
        other.display(),
        join_command(files, opts)
    ))
}

/// The reader's guess (` (did you mean "…"?)`) dropped from `why`: the
/// closest name in this file is the other channel, the column is found.
pub(super) fn no_guess(why: &mut String) {
    if let Some(at) = why.find(" (did you mean ")
        && let Some(end) = why[at..].find("?)")
    {
        why.replace_range(at..at + end + 2, "");
    }
}

/// `pipeline join` of `files` with the reading flags `opts` holds.
fn join_command(files: &[std::path::PathBuf], opts: &crate::recording::CsvOptions) -> String {
    let word = |s: &str| crate::recording::shell_word(s);
    let column = |c: &crate::recording::Column| match c {
        crate::recording::Column::Name(n) => word(n),
        crate::recording::Column::Index(i) => i.to_string(),
    };
    let mut cmd = String::from("pipeline join");
    for f in files {
        cmd += &format!(" --data {}", word(&f.display().to_string()));
    }
    cmd += &format!(
        " --input {} --output {}",
        column(&opts.input),
        column(&opts.output)
    );
    for t in &opts.time {
        cmd += &format!(" --time-column {}", column(t));
    }
    if opts.time.is_empty() {
        cmd += " --time-column TIME";
    }
    if let Some(zone) = &opts.time_zone {
        cmd += &format!(" --time-zone {}", word(zone.name()));
    }
    if opts.skip_lines > 0 {
        cmd += &format!(" --skip-lines {}", opts.skip_lines);
    }
    if opts.skip_bad_rows {
        cmd += " --skip-bad-rows";
    }
    // The other reading flags given, as given (join reads a file they do
    // not fit with its own settings).
    for m in &opts.missing {
        cmd += &format!(" --missing {m}");
    }
    if let Some(o) = opts.date_order {
        cmd += &format!(" --date-order {}", o.flag());
    }
    if let Some(d) = opts.delimiter {
        let d = if d == b'\t' {
            "tab".to_string()
        } else {
            word(&(d as char).to_string())
        };
        cmd += &format!(" --delimiter {d}");
    }
    if let Some(d) = opts.decimal {
        cmd += &format!(" --decimal {}", d.flag());
    }
    if let Some(g) = opts.max_gap {
        cmd += &format!(" --max-gap {g}s");
    }
    for e in &opts.exclude {
        cmd += &format!(" --exclude {}", word(&format!("{}..{}", e.from, e.to)));
    }
    cmd + " --out joined.csv"
}

#[cfg(test)]
mod tests {
    use crate::recording::{Column, CsvOptions};

    /// Two loggers' files, one channel each: the error says where the
    /// other channel is, and what a recording is.
    #[test]
    fn a_channel_in_another_file_is_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let air = dir.path().join("air.csv");
        let soil = dir.path().join("soil.csv");
        let rows = |name: &str| {
            let mut t = format!("t,{name}\n");
            for i in 0..100 {
                t += &format!("{i},{i}\n");
            }
            t
        };
        std::fs::write(&air, rows("temp (S/N 1)")).unwrap();
        std::fs::write(&soil, rows("temp (S/N 2)")).unwrap();
        let csv = CsvOptions {
            input: Column::Name("temp (S/N 1)".into()),
            output: Column::Name("temp (S/N 2)".into()),
            ..Default::default()
        };
        let e = crate::fit::prepare(&[air.clone(), soil.clone()], &csv, 0.2, 24)
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("did you mean"), "{e}");
        // The reading flags given go with it.
        let given = CsvOptions {
            missing: vec![-9999.0],
            max_gap: Some(1800.0),
            decimal: Some(crate::recording::Decimal::Comma),
            exclude: vec![
                crate::recording::Exclude::parse("2026-01-01 00:00..2026-01-02 00:00").unwrap(),
            ],
            time: vec![Column::Name("Zeit".into())],
            ..csv.clone()
        };
        let cmd = super::join_command(std::slice::from_ref(&air), &given);
        assert!(
            cmd.ends_with(
                " --time-column Zeit --missing -9999 --decimal comma --max-gap 1800s \
                 --exclude '2026-01-01 00:00..2026-01-02 00:00' --out joined.csv"
            ),
            "{cmd}"
        );
        assert!(
            e.contains("no column named \"temp (S/N 2)\"")
                && e.contains(&format!("\"temp (S/N 2)\" is a column of {}", soil.display()))
                && e.contains(&format!(
                    "joined on their time stamps first: pipeline join --data {} --data {} \
                     --input 'temp (S/N 1)' --output 'temp (S/N 2)' --time-column TIME --out joined.csv",
                    crate::recording::shell_word(&dir.path().join("air.csv").display().to_string()),
                    crate::recording::shell_word(&soil.display().to_string())
                )),
            "{e}"
        );
    }
}
