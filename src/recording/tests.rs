//! The CSV reader: delimiters, quoting, names, bad cells, skipped rows,
//! the chronological split and windows.

use super::*;

fn read(text: &str, opts: &CsvOptions) -> Result<Recording> {
    Recording::from_bytes(text.as_bytes(), Path::new("rec.csv"), opts)
}

/// Why reading `text` fails.
fn refused(text: &str, opts: &CsvOptions) -> String {
    read(text, opts).unwrap_err().to_string()
}

fn by_name(i: &str, o: &str) -> CsvOptions {
    CsvOptions {
        input: Column::Name(i.into()),
        output: Column::Name(o.into()),
        ..Default::default()
    }
}

#[test]
fn picks_columns_by_name_among_many() {
    let text = "time,label,acc_x,acc_y,temp\n\
                2024-01-01T00:00:00,a,1000.5,-3,21\n\
                2024-01-01T00:00:01,\"b, quoted\",1001.5,-4,21\n";
    let r = read(text, &by_name("acc_y", "ACC_X")).unwrap();
    assert_eq!(r.segments[0].input, vec![-3.0, -4.0]);
    assert_eq!(r.segments[0].output, vec![1000.5, 1001.5]);
    assert_eq!(
        (r.input_name.as_str(), r.output_name.as_str()),
        ("acc_y", "acc_x")
    );
    assert!(r.header);
    assert_eq!(r.delimiter, ',');
}

#[test]
fn header_is_optional_with_indices() {
    let r = read("1,2\n3,4\n", &CsvOptions::default()).unwrap();
    assert!(!r.header);
    assert_eq!(r.rows, 2);
    let r = read("in,out\n1,2\n3,4\n", &CsvOptions::default()).unwrap();
    assert!(r.header);
    assert_eq!(r.segments[0].input, vec![1.0, 3.0]);
}

#[test]
fn sniffs_semicolons_tabs_and_decimal_commas_and_strips_a_bom() {
    let text = "\u{feff}t;in;out\n0;1,5;2,25\n1;3,5;4\n";
    let r = read(text, &by_name("in", "out")).unwrap();
    assert_eq!(r.delimiter, ';');
    assert_eq!(r.segments[0].input, vec![1.5, 3.5]);
    assert_eq!(r.segments[0].output, vec![2.25, 4.0]);
    let r = read("a\tb\n1\t2\n", &by_name("a", "b")).unwrap();
    assert_eq!(r.delimiter, '\t');
    // Given explicitly, a comma with decimal points.
    let opts = CsvOptions {
        delimiter: Some(b','),
        ..by_name("a", "b")
    };
    assert_eq!(
        read("a,b\n1.5,2\n", &opts).unwrap().segments[0].input,
        vec![1.5]
    );
}

/// Excel's `sep=;` line names the delimiter (it was taken for a header
/// of one field); line numbers in errors stay the file's.
#[test]
fn an_excel_sep_line_names_the_delimiter() {
    let text = "sep=;\r\nt;in;out\r\n0;1,5;2,25\r\n1;3,5;4\r\n";
    let r = read(text, &by_name("in", "out")).unwrap();
    assert_eq!(r.delimiter, ';');
    assert_eq!(r.segments[0].input, vec![1.5, 3.5]);
    assert_eq!(r.segments[0].output, vec![2.25, 4.0]);
    let e = refused("sep=;\nt;in;out\n0;1,5;2\n1;x;4\n", &by_name("in", "out"));
    assert!(e.contains("line 4:") && e.contains("\"in\""), "{e}");
    let e = refused("sep=;\r\nt;in;out\r\n0;1;2\r\n", &by_name("x", "out"));
    assert!(
        e.contains("line 2: no column named \"x\""),
        "the header's line: {e}"
    );
    // It beats sniffing (which would split these lines at `;`).
    let r = read("sep=,\na;b,c\nx;y,3\n", &by_name("c", "c")).unwrap();
    assert_eq!((r.delimiter, r.segments[0].input.clone()), (',', vec![3.0]));
}

#[test]
fn bad_cells_name_line_and_column() {
    let err = |text: &str, opts: &CsvOptions| refused(text, opts);
    let ab = by_name("a", "b");
    let e = err("a,b,c\n1,2,3\n4,x,6\n", &ab);
    assert!(
        e.contains("rec.csv: line 3:") && e.contains("column \"b\" (index 1)"),
        "{e}"
    );
    assert!(e.contains("\"x\" is not a number"), "{e}");
    // (text, what the error says after naming line 3)
    for (text, says) in [
        ("a,b\n1,2\n3,\n", "empty cell"),
        ("a,b\n1,2\n3\n", "missing"),
        ("a,b\n1,2\nnan,1\n", "not a finite number"),
    ] {
        let e = err(text, &ab);
        assert!(e.contains("line 3:") && e.contains(says), "{e}");
    }
    let e = err("a,b\n1,2\n", &by_name("a", "zz"));
    assert!(
        e.contains("no column named \"zz\"") && e.contains("\"a\", \"b\""),
        "{e}"
    );
    let index5 = CsvOptions {
        output: Column::Index(5),
        ..Default::default()
    };
    let e = err("1,2\n", &index5);
    assert!(e.contains("no column 5"), "{e}");
    // A quoted field spanning lines: the error names the line the record starts on.
    let e = err("a,b\n\"1\n\",2\nq,3\n", &ab);
    assert!(e.contains("line 4:"), "{e}");
}

#[test]
fn skipped_rows_are_counted_and_split_segments() {
    let opts = CsvOptions {
        skip_bad_rows: true,
        ..by_name("a", "b")
    };
    let r = read("a,b\n1,1\n2,2\n3,oops\n,4\n5,5\n# a comment\n6,6\n", &opts).unwrap();
    assert_eq!(r.skipped, 2);
    assert_eq!(r.rows, 4);
    assert_eq!(r.segments.len(), 2);
    assert_eq!(r.segments[0].input, vec![1.0, 2.0]);
    assert_eq!(r.segments[1].input, vec![5.0, 6.0]);
    assert!(
        r.skipped_examples[0].starts_with("line 4:"),
        "{:?}",
        r.skipped_examples
    );
    // Windows never join the two segments.
    let w = windows(&r.segments, 2).unwrap();
    assert_eq!(w.len(), 2);
    assert_eq!(w.input_row(1), &[5.0, 6.0]);
    // By data row (the comment is not one), skipped rows kept as holes:
    // what `publish --data` numbers its samples by.
    assert_eq!((r.segments[0].start, r.segments[1].start), (0, 4));
    assert_eq!(r.data_rows(), 6);
    let some = |v: &[f32]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
    let mut want = some(&[1.0, 2.0, 0.0, 0.0, 5.0, 6.0]);
    (want[2], want[3]) = (None, None);
    assert_eq!(r.by_row(|s| &s.input), want);
    // The held-out part starts at data row 5 (a quarter of the 4 rows
    // kept is one: 6).
    let (_, v) = r.split(0.25);
    assert_eq!((v[0].start, v[0].input.as_slice()), (5, &[6.0][..]));
}

/// `publish --data` reads one column, `tail --truth --data` another:
/// each skips its own bad rows, and row N is still row N in both.
#[test]
fn columns_read_apart_keep_the_files_row_numbers() {
    let text = "a,b\n0,10\nx,11\n2,12\n3,\n4,14\n";
    let only = |c: &str| CsvOptions {
        skip_bad_rows: true,
        ..by_name(c, c)
    };
    let a = read(text, &only("a")).unwrap().by_row(|s| &s.input);
    let b = read(text, &only("b")).unwrap().by_row(|s| &s.input);
    assert_eq!(a, [Some(0.0), None, Some(2.0), Some(3.0), Some(4.0)]);
    assert_eq!(b, [Some(10.0), Some(11.0), Some(12.0), None, Some(14.0)]);
}

#[test]
fn split_is_chronological_and_never_straddles() {
    let text: String = (0..10).map(|i| format!("{i},{}\n", 10 * i)).collect();
    let r = read(&text, &CsvOptions::default()).unwrap();
    let (t, v) = r.split(0.2);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].input, (0..8).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(v[0].input, vec![8.0, 9.0]);
    let wt = windows(&t, 3).unwrap();
    let wv = windows(&v, 2).unwrap();
    assert_eq!(wt.len(), 6);
    // Every training window ends before the first validation sample.
    assert!(wt.input.iter().all(|&x| x < 8.0));
    assert_eq!(wv.len(), 1);
    let (t, v) = r.split(0.0);
    assert_eq!((t[0].len(), v.len()), (10, 0));
}

#[test]
fn delimiter_flag_values() {
    assert_eq!(parse_delimiter("tab"), Ok(b'\t'));
    assert_eq!(parse_delimiter(";"), Ok(b';'));
    assert!(parse_delimiter("ab").is_err());
}

#[test]
fn a_name_two_columns_share_is_refused_not_guessed() {
    let text = "time,temp,temp,p\n0,1,2,3\n1,4,5,6\n";
    let e = refused(text, &by_name("temp", "p"));
    assert!(
        e.contains("2 columns are named \"temp\" (0-based 1, 2)") && e.contains("--input 1"),
        "{e}"
    );
    // By index, either can be read.
    let opts = CsvOptions {
        input: Column::Index(2),
        output: Column::Index(3),
        ..Default::default()
    };
    let r = read(text, &opts).unwrap();
    assert_eq!(r.segments[0].input, vec![2.0, 5.0]);
}

/// A column that shows no convention of its own (whole thousands, as
/// `publish --input p` reads alone) takes the one the other columns agree
/// on, read only then; columns that mix both tell nothing.
#[test]
fn other_columns_decide_only_when_the_chosen_ones_cannot() {
    let text = "p;t\n1.013;54,90\n1.020;55,10\n";
    let r = read(text, &by_name("p", "p")).unwrap();
    assert_eq!(r.segments[0].input, vec![1013.0, 1020.0]);
    assert_eq!(r.decimal, Some(Decimal::Comma));
    // The chosen columns decide when they can, whatever the others show.
    let r = read("p;t\n1,5;54.90\n2,25;55.10\n", &by_name("p", "p")).unwrap();
    assert_eq!(r.segments[0].input, vec![1.5, 2.25]);
    // Others that disagree among themselves: no convention from them.
    let text = "p;t;u\n1.013;54,90;3.25\n1.020;55,10;4.5\n";
    let e = refused(text, &by_name("p", "p"));
    assert!(e.contains("1.013"), "{e}");
}

#[test]
fn thousands_separators_follow_the_files_decimal_convention() {
    // German Excel: decimal commas in one column, whole hectopascals
    // grouped with a point in the other ("1.013" is 1013, not 1.013).
    let text = "Zeit;Temp;Druck\n0;54,9;1.013\n1;55,25;998\n2;56;1.010,5\n";
    let r = read(text, &by_name("Temp", "Druck")).unwrap();
    assert_eq!(r.segments[0].output, vec![1013.0, 998.0, 1010.5]);
    assert_eq!(r.decimal, Some(Decimal::Comma));
    assert_eq!(r.read_as(), "';'-separated, decimal comma");
    // English, quoted thousands in a comma-separated file.
    let text = "t,in,out\n0,\"1,013.5\",2.25\n1,3,\"2,000\"\n";
    let r = read(text, &by_name("in", "out")).unwrap();
    assert_eq!(r.segments[0].input, vec![1013.5, 3.0]);
    assert_eq!(r.segments[0].output, vec![2.25, 2000.0]);
    // A point that cannot group thousands in a decimal-comma file.
    let e = read("a;b\n1,5;2\n1.5;3\n", &by_name("a", "b"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2:") && e.contains("line 3:") && e.contains("mix decimal points"),
        "{e}"
    );
    let e = read("a;b\n1,5;2\n1.50;3\n", &by_name("a", "b"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("mix"), "{e}");
    let e = read("a;b\n1,5;2\n1234.567,5;3\n", &by_name("a", "b"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 3:") && e.contains("'.' may only group thousands"),
        "{e}"
    );
    // Nothing unambiguous in a ';'-separated file, where decimal commas
    // are the custom: "1.013" could be 1013 as well as 1.013, so ask.
    let e = read("a;b\n1.013;2,125\n", &by_name("a", "b"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 2:") && e.contains("\"1.013\"") && e.contains("--decimal point"),
        "{e}"
    );
    let e = refused("a\tb\n12\t3\n1,013\t2\n", &by_name("a", "b"));
    assert!(
        e.contains("line 3:") && e.contains("--decimal point"),
        "{e}"
    );
    // One cell that could not group thousands settles it ("0.125").
    let r = read("a;b\n1.013;2\n0.125;3\n", &by_name("a", "b")).unwrap();
    assert_eq!(r.segments[0].input, vec![1.013, 0.125]);
    assert_eq!(r.decimal, Some(Decimal::Point));
    let r = read("a;b\n1.013;2\n1.010,5;3\n", &by_name("a", "b")).unwrap();
    assert_eq!(r.segments[0].input, vec![1013.0, 1010.5]);
    // A ','-separated file writes decimal points: read as before.
    let r = read("a,b\n1.013,2\n", &by_name("a", "b")).unwrap();
    assert_eq!(r.segments[0].input, vec![1.013]);
    assert_eq!(r.decimal, None);
}

#[test]
fn line_numbers_are_right_after_crlf_line_ends() {
    for end in ["\n", "\r\n"] {
        let text = ["a,b", "1,2", "3,4", "5,x", ""].join(end);
        let e = refused(&text, &by_name("a", "b"));
        assert!(e.contains("line 4:"), "{end:?}: {e}");
    }
}

#[test]
fn utf16_and_windows_1252_exports_are_read_by_their_names() {
    let text = "Zeit\tRücklauf °C\tDruck\n0\t1,5\t2\n1\t2,5\t3\n";
    for (bytes, encoding) in encoding::exports(text) {
        let encoding = encoding.name();
        let r = Recording::from_bytes(&bytes, Path::new("x.csv"), &by_name("Rücklauf °C", "Druck"))
            .unwrap();
        assert_eq!(r.segments[0].input, vec![1.5, 2.5]);
        assert_eq!(r.encoding, encoding);
        assert_eq!(r.input_name, "Rücklauf °C");
        assert_eq!(
            r.read_as().ends_with(encoding),
            encoding != "UTF-8",
            "{}",
            r.read_as()
        );
    }
}

#[test]
fn a_time_stamp_in_the_default_column_asks_for_the_right_columns() {
    let text = "time,in,out\n2024-01-01T00:00:00,1,2\n2024-01-01T00:00:01,3,4\n";
    let e = refused(text, &CsvOptions::default());
    assert!(
        e.contains("line 2:") && e.contains("--input and --output"),
        "{e}"
    );
    let opts = CsvOptions {
        skip_bad_rows: true,
        ..Default::default()
    };
    let e = refused(text, &opts);
    assert!(
        e.contains("no data rows (2 skipped") && e.contains("right columns"),
        "{e}"
    );
}

#[test]
fn lines_above_the_header_are_named_in_the_error() {
    let text =
        "Gerät;Datenlogger 7\nIntervall;10 s\nZeit;Vorlauf;Rücklauf\n0;1,5;2\n1;2,5;3\n2;3;4\n";
    let e = refused(text, &by_name("Vorlauf", "Rücklauf"));
    assert!(
        e.contains("delimiter ';', sniffed")
            && e.contains("from line 3: if the 2 line(s) above it are not data")
            && e.contains("--skip-lines 2 (or start each with '#'"),
        "{e}"
    );
    // The header's names below the preamble are values of its columns:
    // no long format is proposed for them.
    assert!(!e.contains("long format"), "{e}");
    let commented = format!("#{}", text.replacen('\n', "\n#", 1));
    let r = read(&commented, &by_name("Vorlauf", "Rücklauf")).unwrap();
    assert_eq!(r.segments[0].input, vec![1.5, 2.5, 3.0]);
    // Skipped as told, a blank line under the preamble too; a bad row is
    // named by the file's own line.
    let opts = CsvOptions {
        skip_lines: 3,
        ..by_name("Vorlauf", "Rücklauf")
    };
    let blank = text.replacen("s\nZeit", "s\n\nZeit", 1);
    assert_eq!(
        read(&blank, &opts).unwrap().segments[0].input,
        vec![1.5, 2.5, 3.0]
    );
    assert!(refused(&format!("{blank}3;x;5\n"), &opts).contains("line 8:"));
}

#[test]
fn a_trailing_delimiter_on_data_rows_still_sniffs() {
    // Some exports end every data row with the delimiter (one more field
    // than the header): the header's fewer fields are not a different
    // delimiter.
    let text = "Zeit;Vorlauf;Rücklauf\n0;54,90;56,74;\n1;55,97;55,70;\n";
    let r = read(text, &by_name("Vorlauf", "Rücklauf")).unwrap();
    assert_eq!(r.delimiter, ';');
    assert_eq!(r.segments[0].output, vec![56.74, 55.70]);
}

/// An unquoted `1,234.5` in a `,`-separated file splits into two cells and
/// shifts every cell after it: the row is refused (or skipped and counted),
/// never read with its cells shifted. Empty trailing fields shift nothing.
#[test]
fn a_row_with_more_fields_than_the_header_is_refused() {
    let text = "t,valve,flow\n0,0.001,50000\n1,1,234.5,97435.4\n2,0.002,60000\n";
    let e = refused(text, &by_name("valve", "flow"));
    assert!(
        e.contains("line 3: the row has 4 fields, the header 3: a ',' inside a cell"),
        "{e}"
    );
    let skip = CsvOptions {
        skip_bad_rows: true,
        ..by_name("valve", "flow")
    };
    let r = read(text, &skip).unwrap();
    assert_eq!((r.rows, r.skipped), (2, 1));
    assert_eq!(r.input().collect::<Vec<_>>(), vec![0.001, 0.002]);
    // Without a header, the first row sets the width.
    let e = read("1,2\n3,4,5\n", &CsvOptions::default()).unwrap_err();
    assert!(e.to_string().contains("the first row 2"), "{e}");
    // Trailing delimiters, and a short row whose columns are there, read.
    let r = read("t,a,b\n0,1,2,\n1,3,4,,\n2,5,6\n", &by_name("a", "b")).unwrap();
    assert_eq!(r.output().collect::<Vec<_>>(), vec![2.0, 4.0, 6.0]);
    let r = read("a,b,note\n1,2,x\n3,4\n", &by_name("a", "b")).unwrap();
    assert_eq!(r.rows, 2);
}

/// A file whose every cell is ambiguous (`"1,000"`: a thousand, or one)
/// asks for `--decimal`, and reads either way when told.
#[test]
fn decimal_flag_settles_a_file_no_cell_settles() {
    let text = "rpm,count\n\"1,000\",\"3,000\"\n\"2,000\",\"4,500\"\n";
    let e = refused(text, &by_name("rpm", "count"));
    assert!(e.contains("say which with --decimal point"), "{e}");
    let told = |d| CsvOptions {
        decimal: Some(d),
        ..by_name("rpm", "count")
    };
    let r = read(text, &told(Decimal::Point)).unwrap();
    assert_eq!(r.output().collect::<Vec<_>>(), vec![3000.0, 4500.0]);
    assert_eq!(r.decimal, Some(Decimal::Point));
    let r = read(text, &told(Decimal::Comma)).unwrap();
    assert_eq!(r.input().collect::<Vec<_>>(), vec![1.0, 2.0]);
    // Told wrong, a cell that shows the other convention is refused by name.
    let opts = CsvOptions {
        decimal: Some(Decimal::Point),
        ..by_name("a", "b")
    };
    let e = refused("a,b\n\"54,90\",1\n", &opts);
    assert!(e.contains("--decimal point"), "{e}");
}

/// A name asked of a file without a header row says there is none.
#[test]
fn a_name_in_a_file_without_a_header_says_there_is_none() {
    let e = refused("1700000000,0,0.5\n1700000060,1,0.6\n", &by_name("a", "b"));
    assert!(e.contains("the file has no header row"), "{e}");
    assert!(e.contains("0 to 2"), "{e}");
}

/// With a time column, rows are split where time jumps (a logger stopped
/// for 5 h) or goes back (a clock set back), and a late sample is no gap;
/// rows stay numbered as in the file. A bad time cell is a bad row.
#[test]
fn a_time_column_splits_the_rows_at_gaps_in_time() {
    let mut text = String::from("time,x,y\n");
    let stamps = [
        "00:00", "00:01", "00:02", "00:04", "05:04", "05:05", "05:06", "04:06", "04:07",
    ];
    for (i, hm) in stamps.iter().enumerate() {
        text += &format!("2026-03-01T{hm}:00,{i},{i}\n");
    }
    let opts = CsvOptions {
        time: vec![Column::Name("time".into())],
        ..by_name("x", "y")
    };
    let r = read(&text, &opts).unwrap();
    let segments: Vec<(usize, usize)> = r.segments.iter().map(|s| (s.start, s.len())).collect();
    assert_eq!(segments, [(0, 4), (4, 3), (7, 2)]);
    assert_eq!(r.time_gaps, 2);
    assert_eq!(r.time_name.as_deref(), Some("time"));
    assert_eq!(
        r.time_gap_examples[0],
        "data row 4: 5.0 h after the row before, 2026-03-01T00:04:00 to 2026-03-01T05:04:00"
    );
    assert!(
        r.time_gap_examples[1].starts_with("data row 7: the time goes back 1.0 h, ")
            && !r.time_gap_examples[1].contains("clock reset"),
        "{:?}",
        r.time_gap_examples
    );
    // A larger --max-gap keeps the 5 h together; the clock set back still splits.
    let wide = CsvOptions {
        max_gap: Some(6.0 * 3600.0),
        ..opts.clone()
    };
    assert_eq!(read(&text, &wide).unwrap().time_gaps, 1);
    // Without the time column, one segment, as before.
    assert_eq!(read(&text, &by_name("x", "y")).unwrap().segments.len(), 1);
    // A time cell that is not a time is a bad row.
    let bad = text.replacen("2026-03-01T00:02:00", "soon", 1);
    let e = refused(&bad, &opts);
    assert!(
        e.contains("line 4: column \"time\" (index 0): \"soon\" is not a time"),
        "{e}"
    );
}

/// A cell refused because no cell decides the decimal separator is not a
/// bad row: `--skip-bad-rows` would drop every value ≥ 1000 silently.
#[test]
fn an_undecided_decimal_separator_stops_even_skipping_bad_rows() {
    let text = "a;b\n1.013;1\n998;2\n1.020;3\n";
    let skip = CsvOptions {
        skip_bad_rows: true,
        ..by_name("a", "b")
    };
    let e = refused(text, &skip);
    assert!(
        e.contains("line 2:")
            && e.contains("column \"a\" (index 0)")
            && e.contains("\"1.013\"")
            && e.contains("--decimal point (or comma)"),
        "{e}"
    );
    // A bad cell in the same file is still skipped once the flag decides.
    let told = CsvOptions {
        decimal: Some(Decimal::Comma),
        ..skip
    };
    let r = read("a;b\n1.013;1\nx;2\n1.020;3\n", &told).unwrap();
    assert_eq!(r.input().collect::<Vec<_>>(), vec![1013.0, 1020.0]);
    assert_eq!(r.skipped, 1);
}

/// Without names, a first row whose cell is a number either way is data.
#[test]
fn an_undecided_first_row_is_not_a_header() {
    let r = read("1.013;1\n2,5;2\n", &CsvOptions::default()).unwrap();
    assert!(!r.header);
    assert_eq!(r.input().collect::<Vec<_>>(), vec![1013.0, 2.5]);
}

/// `publish --input p` reads one column; it reads it as `retrain` does,
/// from the rest of the file when the column itself shows nothing.
#[test]
fn the_rest_of_the_file_decides_when_the_chosen_columns_do_not() {
    let text = "t;p;temp\n0;1.013;54,90\n1;998;55,10\n2;1.020;56,00\n";
    let r = read(text, &by_name("p", "p")).unwrap();
    assert_eq!(r.input().collect::<Vec<_>>(), vec![1013.0, 998.0, 1020.0]);
    assert_eq!(r.decimal, Some(Decimal::Comma));
    let both = read(text, &by_name("p", "temp")).unwrap();
    assert_eq!(
        both.input().collect::<Vec<_>>(),
        vec![1013.0, 998.0, 1020.0]
    );
    // The chosen columns come first: here they show decimal points.
    let r = read("p;q;temp\n1.013;0.5;54,90\n", &by_name("p", "q")).unwrap();
    assert_eq!(r.input().collect::<Vec<_>>(), vec![1.013]);
    // Other columns that mix both tell nothing.
    let e = refused("p;a;b\n1.013;54,90;1.5\n998;1;2\n", &by_name("p", "p"));
    assert!(e.contains("--decimal point"), "{e}");
    // Nor do cells that are not numbers (an address, a version).
    let r = read("host,p\n10.0.0.1,1.013\n", &by_name("p", "p")).unwrap();
    assert_eq!(r.input().collect::<Vec<_>>(), vec![1.013]);
    // Nor does the time column (epoch seconds with a fraction).
    let text = "time;p\n1700000000.5;1.013\n1700000001.5;1.020\n";
    let timed = CsvOptions {
        time: vec![Column::Name("time".into())],
        ..by_name("p", "p")
    };
    let e = refused(text, &timed);
    assert!(e.contains("--decimal point"), "{e}");
}

/// A time column in seconds with decimal commas, in a file whose values
/// show them: read, and its gap found (it was refused as not a time).
#[test]
fn a_time_column_in_seconds_with_decimal_commas() {
    let text = "t;x\n0,5;1,5\n1,0;2,5\n1,5;3,5\n90,0;4,5\n90,5;5,5\n";
    let opts = CsvOptions {
        time: vec![Column::Name("t".into())],
        ..by_name("x", "x")
    };
    let r = read(text, &opts).unwrap();
    let segments: Vec<usize> = r.segments.iter().map(|s| s.len()).collect();
    assert_eq!((segments, r.time_gaps), (vec![3, 2], 1));
}

/// A newest-first export goes back in time on every row: refused, not
/// read as one gapless run (nor split at every row with --max-gap).
#[test]
fn a_newest_first_file_is_refused() {
    let mut text = String::from("time,x\n");
    for i in (0..6).rev() {
        text += &format!("2026-03-01T00:0{i}:00,{i}\n");
    }
    for max_gap in [None, Some(120.0)] {
        let opts = CsvOptions {
            time: vec![Column::Name("time".into())],
            max_gap,
            ..by_name("x", "x")
        };
        let e = read(&text, &opts).unwrap_err();
        assert!(matches!(e, Error::Data(_)), "{e:?}");
        assert!(
            e.to_string().contains(
                "\"time\" goes back on 5 of 5 rows: the file looks newest first; sort it \
                 oldest first"
            ),
            "{e}"
        );
    }
}

/// A bad time cell on the first row points at --time-column, not at the
/// channels.
#[test]
fn a_bad_first_time_cell_names_the_time_column_flag() {
    let text = "time,x,y\nsoon,1,2\n2026-03-01T00:01:00,3,4\n";
    let opts = CsvOptions {
        time: vec![Column::Name("x".into())],
        ..by_name("y", "y")
    };
    // Column "x" holds 1, 3: seconds, so it reads; "time" does not.
    assert!(read(text, &opts).is_ok());
    let opts = CsvOptions {
        time: vec![Column::Name("time".into())],
        ..by_name("x", "y")
    };
    let e = refused(text, &opts);
    assert!(
        e.contains("line 2:") && e.contains("--time-column") && !e.contains("--input and"),
        "{e}"
    );
    let skip = CsvOptions {
        skip_bad_rows: true,
        ..opts
    };
    let e = refused("time,x,y\nsoon,1,2\nlater,3,4\n", &skip);
    assert!(
        e.contains("no data rows (2 skipped") && e.contains("is --time-column the right column?"),
        "{e}"
    );
}

#[test]
fn the_channels_columns_are_recorded() {
    let r = read("a,b,c\n1,2,3\n", &by_name("c", "a")).unwrap();
    assert_eq!((r.input_index, r.output_index), (2, 0));
}
