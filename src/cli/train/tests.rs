//! `retrain`'s and `publish`'s reading of a recording's flags.

use super::*;
use pipeline::recording::{Column, CsvOptions, Recording};

fn csv(input: Option<&str>, output: Option<&str>) -> CsvArgs {
    let col = |c: &str| c.parse::<Column>().ok();
    CsvArgs {
        input: input.and_then(col),
        output: output.and_then(col),
        delimiter: None,
        skip_bad_rows: true,
        missing: Vec::new(),
        decimal: None,
        time_column: Vec::new(),
        max_gap: None,
        date_order: None,
        time_zone: None,
        skip_lines: None,
        stream_column: None,
        rows_of: None,
        resample: None,
        name_column: None,
        value_column: None,
        unbounded_holds: false,
        exclude: Vec::new(),
    }
}

/// `publish` sends the input column only: a bad cell in another column
/// (`--output`'s, or column 1 by default) skips no row.
#[test]
fn publish_reads_the_input_column_only() {
    let text = b"a,b\n0,10\n1,x\n2,12\n";
    for args in [csv(Some("a"), Some("b")), csv(None, None)] {
        let opts = args.input_only().options();
        assert_eq!(opts.output, opts.input);
        let r = Recording::from_bytes(text, Path::new("r.csv"), &opts);
        let r = r.map_err(|e| e.to_string());
        assert_eq!(r.map(|r| r.skipped), Ok(0));
    }
    assert_eq!(
        csv(None, None).input_only().options().input,
        CsvOptions::default().input
    );
}

/// `publish --start-seq 0 --count 2` reads the rows it sends: a bad cell
/// after them is skipped (no --skip-bad-rows needed), one among them is
/// refused as ever.
#[test]
fn a_bad_cell_in_a_row_publish_will_not_send_stops_nothing() {
    let text = b"a\n0\n1\nx\n3\n";
    let read = |rows: std::ops::Range<usize>| {
        let opts = CsvOptions {
            used_rows: Some(rows),
            skip_bad_rows: false,
            ..csv(Some("a"), None).input_only().options()
        };
        Recording::from_bytes(text, Path::new("r.csv"), &opts).map_err(|e| e.to_string())
    };
    assert_eq!(read(0..2).map(|r| (r.rows, r.skipped)), Ok((3, 1)));
    let e = read(0..3).unwrap_err();
    assert!(e.contains("line 4") && e.contains("--skip-bad-rows"), "{e}");
}

#[test]
fn one_column_as_both_channels_is_warned_about() {
    let read = |args: CsvArgs| {
        Recording::from_bytes(b"a,b\n1,2\n", Path::new("r.csv"), &args.options())
            .map_err(|e| e.to_string())
    };
    let same = read(csv(Some("a"), Some("0"))).map(|r| identity_warning(&r));
    assert!(
        same.as_ref()
            .is_ok_and(|w| w.as_deref().is_some_and(|w| w.contains("the identity"))),
        "{same:?}"
    );
    let apart = read(csv(Some("a"), Some("b"))).map(|r| identity_warning(&r));
    assert_eq!(apart, Ok(None));
}

/// The help lists every time format the reader takes.
#[test]
fn time_column_help_lists_the_formats() {
    use clap::CommandFactory;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        csv: CsvArgs,
    }
    let cmd = Cli::command();
    let help = cmd
        .get_arguments()
        .find(|a| a.get_id() == "time_column")
        .and_then(|a| a.get_long_help().or(a.get_help()))
        .map(ToString::to_string)
        .unwrap_or_default();
    for format in [
        "epoch milliseconds, microseconds or nanoseconds",
        "ISO 8601",
        "offset",
        "DD.MM.YYYY hh:mm:ss",
    ] {
        assert!(help.contains(format), "{format}: {help}");
    }
}

/// `--time-column` twice names a date's column and a time of day's, in that
/// order; `--max-gap` goes with either.
#[test]
fn the_time_column_flag_takes_a_date_and_a_time_of_day() {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        csv: CsvArgs,
    }
    let parse = |args: &[&str]| {
        Cli::try_parse_from(std::iter::once("retrain").chain(args.iter().copied()))
            .map(|c| c.csv.options())
    };
    let two = parse(&[
        "--time-column",
        "Datum",
        "--time-column",
        "2",
        "--max-gap",
        "1h",
    ]);
    let two = two.map_err(|e| e.to_string());
    assert_eq!(
        two.as_ref().map(|o| (o.time.clone(), o.max_gap)),
        Ok((
            vec![Column::Name("Datum".into()), Column::Index(2)],
            Some(3600.0)
        ))
    );
    // A gap without a time column (none given, none trained with): refused
    // by the reader, which `eval` reaches after taking training's column.
    let gap_only = parse(&["--max-gap", "1h"]).map_err(|e| e.to_string());
    let read = gap_only.and_then(|o| {
        Recording::from_bytes(b"a,b\n1,2\n", Path::new("r.csv"), &o).map_err(|e| e.to_string())
    });
    assert!(read.is_err_and(|e| e.contains("--max-gap needs a time column")));
    assert!(parse(&[]).is_ok_and(|o| o.time.is_empty()));
    // A gap without its unit (5 hours? 5 rows?) is refused, not taken as seconds.
    let bare = parse(&["--time-column", "t", "--max-gap", "5"]).map_err(|e| e.to_string());
    assert!(bare.is_err_and(|e| e.contains("has no unit")));
    // Missing-value codes, negative as they mostly are.
    let codes = parse(&["--missing", "-9999", "--missing", "-999.9"]).map(|o| o.missing);
    assert_eq!(codes.map_err(|e| e.to_string()), Ok(vec![-9999.0, -999.9]));
    assert!(parse(&["--missing", "NaN"]).is_err());
    // One column named twice: said so (it read "… + …: is not a time").
    let twice = Cli::try_parse_from(["retrain", "--time-column", "t", "--time-column", "t"]);
    let said = twice.unwrap().csv.check().unwrap_err().0;
    assert!(said.contains("--time-column names \"t\" twice"), "{said}");
}

/// `--validate 0,1` as a decimal comma writes it (it was "invalid float
/// literal"); out of range, said so.
#[test]
fn a_fraction_reads_a_decimal_comma() {
    assert_eq!(super::csv::fraction("0,1"), Ok(0.1));
    assert_eq!(super::csv::fraction("0.25"), Ok(0.25));
    assert!(super::csv::fraction("1,5").unwrap_err().contains("[0, 1)"));
    assert!(super::csv::fraction("0,1,2").is_err());
}

/// A window no model file may have is refused before training (it was
/// refused when the trained model was saved).
#[test]
fn a_window_over_the_limit_is_refused_at_once() {
    assert_eq!(super::window_len("24"), Ok(24));
    assert!(
        super::window_len("20000")
            .unwrap_err()
            .contains("at most 10000")
    );
    assert!(super::window_len("0").is_err());
    // One sample has nothing to learn from: the recipe's bound, at once.
    assert_eq!(super::window_len("1"), Err("must be at least 2".into()));
    assert_eq!(super::window_len("2"), Ok(2));
}

/// `--missing` takes a finite number; a text is said to be a bad cell
/// already (`--skip-bad-rows`), not only refused.
#[test]
fn a_missing_code_is_a_number_and_a_text_is_a_bad_cell_already() {
    assert_eq!(missing_code(" -9999 "), Ok(-9999.0));
    let text = missing_code("#N/A").unwrap_err();
    assert!(
        text.contains("a bad cell already") && text.contains("--skip-bad-rows"),
        "{text}"
    );
    let nan = missing_code("NaN").unwrap_err();
    assert!(nan.contains("not a finite number"), "{nan}");
}
