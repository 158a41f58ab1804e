//! How a model's recordings were read: `retrain --data` records the reading
//! flags it was given, so that `eval` reads the same file, or a later one
//! from the same logger, the same way without being told again.

use pipeline::recording::join::JoinClock;
use pipeline::recording::{Column, DateOrder, Decimal, Zone, parse_delimiter};
use serde_json::{Value, json};

use super::CsvArgs;
use super::csv::StreamColumn;

fn column(c: &Column) -> Value {
    match c {
        Column::Index(i) => json!(i),
        Column::Name(n) => json!(n),
    }
}

fn column_of(v: &Value) -> Option<Column> {
    match v {
        Value::Number(n) => n.as_u64().map(|i| Column::Index(i as usize)),
        Value::String(s) => Some(Column::Name(s.clone())),
        _ => None,
    }
}

/// The time column: one (as a column, as models before two could be
/// recorded), or a date's and a time of day's (as a list).
fn time_columns(c: &[Column]) -> Value {
    match c {
        [] => Value::Null,
        [one] => column(one),
        more => more.iter().map(column).collect(),
    }
}

fn time_columns_of(v: &Value) -> Vec<Column> {
    match v {
        Value::Array(a) => a
            .iter()
            .map(column_of)
            .collect::<Option<_>>()
            .unwrap_or_default(),
        one => column_of(one).into_iter().collect(),
    }
}

/// The reading flags `retrain` was given (`null` where left out).
pub(crate) fn recorded(a: &CsvArgs) -> Value {
    json!({
        "time_column": time_columns(&a.time_column),
        "max_gap_s": a.max_gap.map(|d| d.as_secs_f64()),
        "skip_bad_rows": a.skip_bad_rows,
        "missing": a.missing,
        "delimiter": a.delimiter.map(|d| (d as char).to_string()),
        "decimal": a.decimal.map(Decimal::flag),
        "date_order": a.date_order.map(DateOrder::flag),
        "time_zone": a.time_zone.as_ref().map(Zone::name),
        "skip_lines": a.skip_lines.unwrap_or(0),
        "stream_column": a.stream_column.as_ref().and_then(StreamColumn::column).map(column),
        // `--stream-column none`: a file whose rows looked like several
        // devices' is one device's, as eval reads it again.
        "one_stream": a.stream_column == Some(StreamColumn::None),
        "rows_of": a.rows_of.as_ref().map(column),
        "resample_s": a.resample.map(|d| d.as_secs_f64()),
        "name_column": a.name_column.as_ref().map(column),
        "value_column": a.value_column.as_ref().map(column),
    })
}

/// The clock the training files' input was held on by `pipeline join`
/// (its first line), where every file says one and the same: `serve`
/// reads the input on it. Where they differ, or some say none, none, and
/// a warning that says so.
pub(crate) fn joined_clock(files: &[std::path::PathBuf]) -> (Option<JoinClock>, Option<String>) {
    let clocks: Vec<Option<JoinClock>> = files
        .iter()
        .map(|f| JoinClock::of_file(f).ok().flatten())
        .collect();
    match clocks.first() {
        Some(Some(c)) if clocks.iter().all(|o| o.is_some_and(|o| alike(&o, c))) => (Some(*c), None),
        _ if clocks.iter().all(Option::is_none) => (None, None),
        _ => {
            let said: Vec<String> = (files.iter().zip(&clocks))
                .map(|(f, c)| {
                    let clock = c.map_or("none".into(), |c| {
                        let flag = pipeline::config::duration_flag;
                        let hold = c
                            .max_gap_s
                            .map_or(String::new(), |h| format!(" --max-gap {}", flag(h)));
                        let phase = c.phase_s.map_or(String::new(), |p| {
                            format!(" its ticks {p} s into each step")
                        });
                        format!("--resample {}{hold}{phase}", flag(c.resample_s))
                    });
                    format!("{}: {clock}", f.display())
                })
                .collect();
            let warning = format!(
                "the files were joined on other clocks by pipeline join (each file's first line: \
                 {}): the model records none, so serve reads its input as it comes; give serve \
                 --resample (and --max-gap) as join printed for the files it was trained on most",
                said.join(", ")
            );
            (None, Some(warning))
        }
    }
}

/// Whether two files' clocks are one (monthly joins of the same loggers
/// differ by a bridge's jitter): the same step within a thousandth, hold
/// within a hundredth, and ticks within a hundredth of a step of each
/// other's place in it.
fn alike(a: &JoinClock, b: &JoinClock) -> bool {
    let near = |x: f64, y: f64, by: f64| (x - y).abs() <= by * x.abs().max(y.abs());
    let holds = match (a.max_gap_s, b.max_gap_s) {
        (Some(x), Some(y)) => near(x, y, 0.01),
        (x, y) => x == y,
    };
    let step = a.resample_s;
    let (p, q) = (a.phase_s.unwrap_or(0.0), b.phase_s.unwrap_or(0.0));
    let apart = (p - q).rem_euclid(step).min((q - p).rem_euclid(step));
    near(a.resample_s, b.resample_s, 0.001) && holds && apart <= 0.01 * step
}

/// The hold regular loggers' rows were read with (`held`: each
/// recording's), where every one was: a recording of changes among them is
/// held without bound, and so is the model's input served.
pub(crate) fn logger_hold(held: impl Iterator<Item = Option<f64>>) -> Option<std::time::Duration> {
    let held: Option<Vec<f64>> = held.collect();
    (held?.into_iter())
        .reduce(f64::max)
        .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
}

/// `a` with the reading flags the model was trained with where `a` leaves
/// them out, and those taken, as flags (to say so).
pub(crate) fn as_trained(a: &CsvArgs, metrics: Option<&Value>) -> (CsvArgs, Vec<String>) {
    let mut a = a.clone();
    let mut taken = Vec::new();
    let Some(r) = metrics.and_then(|m| m.get("reading")) else {
        return (a, taken);
    };
    let trained = time_columns_of(&r["time_column"]);
    if a.time_column.is_empty() && !trained.is_empty() {
        taken.extend(trained.iter().map(|c| format!("--time-column {c}")));
        a.time_column = trained.clone();
        // Only with the column it was measured on.
        if a.max_gap.is_none()
            && let Some(s) = r["max_gap_s"]
                .as_f64()
                .filter(|s| s.is_finite() && *s > 0.0)
        {
            taken.push(format!("--max-gap {s}s"));
            a.max_gap = std::time::Duration::try_from_secs_f64(s).ok();
        }
    }
    // The order of day and month goes with the date column it was read in.
    let order = r["date_order"]
        .as_str()
        .and_then(|o| DateOrder::parse(o).ok());
    if let Some(o) = order
        && a.date_order.is_none()
        && !trained.is_empty()
        && a.time_column == trained
    {
        taken.push(format!("--date-order {}", o.flag()));
        a.date_order = Some(o);
    }
    // So does the zone its stamps were read in.
    let zone = r["time_zone"].as_str().and_then(|z| Zone::parse(z).ok());
    if let Some(z) = zone
        && a.time_zone.is_none()
        && !trained.is_empty()
        && a.time_column == trained
    {
        taken.push(format!("--time-zone {}", z.name()));
        a.time_zone = Some(z);
    }
    // Missing-value codes are the logger's: taken unless others are given.
    let codes = r["missing"].as_array().map(|m| {
        m.iter()
            .filter_map(|v| v.as_f64().map(|v| v as f32))
            .collect::<Vec<_>>()
    });
    if let Some(codes) = codes.filter(|c| !c.is_empty() && a.missing.is_empty()) {
        taken.extend(codes.iter().map(|c| format!("--missing {c}")));
        a.missing = codes;
    }
    // The logger's preamble: the same lines in a later export.
    if let Some(n) = r["skip_lines"].as_u64().filter(|&n| n > 0)
        && a.skip_lines.is_none()
    {
        taken.push(format!("--skip-lines {n}"));
        a.skip_lines = Some(n as usize);
    }
    // Several devices in one export: the same column names them later.
    if a.stream_column.is_none()
        && let Some(c) = column_of(&r["stream_column"])
    {
        taken.push(format!("--stream-column {c}"));
        a.stream_column = Some(StreamColumn::Column(c));
    }
    if a.stream_column.is_none() && r["one_stream"].as_bool() == Some(true) {
        taken.push("--stream-column none".into());
        a.stream_column = Some(StreamColumn::None);
    }
    // Several topics' rows: the same topic's clock.
    if a.rows_of.is_none()
        && let Some(c) = column_of(&r["rows_of"])
    {
        taken.push(format!("--rows-of {c}"));
        a.rows_of = Some(c);
    }
    // A recording of changes: the same clock, and rows of channels named
    // in the same columns.
    if a.resample.is_none()
        && let Some(d) = (r["resample_s"].as_f64())
            .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
    {
        taken.push(format!("--resample {}s", d.as_secs_f64()));
        a.resample = Some(d);
    }
    // Trained before a regular logger's rows were held three steps at most
    // (no `changes_per_tick` recorded): read as it was, each value held
    // until its next change.
    let before_holds = metrics.is_some_and(|m| m["changes_per_tick"].is_null());
    if a.max_gap.is_none() && r["resample_s"].is_number() && before_holds {
        a.unbounded_holds = true;
    }
    if a.name_column.is_none()
        && let (Some(n), Some(v)) = (column_of(&r["name_column"]), column_of(&r["value_column"]))
    {
        taken.push(format!("--name-column {n} --value-column {v}"));
        (a.name_column, a.value_column) = (Some(n), Some(v));
    }
    if !a.skip_bad_rows && r["skip_bad_rows"].as_bool() == Some(true) {
        taken.push("--skip-bad-rows".into());
        a.skip_bad_rows = true;
    }
    // The delimiter and decimal separator go together (`;` with commas):
    // either given, neither is taken.
    if a.delimiter.is_some() || a.decimal.is_some() {
        return (a, taken);
    }
    if let Some(d) = r["delimiter"]
        .as_str()
        .and_then(|d| parse_delimiter(d).ok())
    {
        let name = if d == b'\t' {
            "tab".into()
        } else {
            format!("'{}'", d as char)
        };
        taken.push(format!("--delimiter {name}"));
        a.delimiter = Some(d);
    }
    if let Some(d) = r["decimal"].as_str().and_then(|d| Decimal::parse(d).ok()) {
        taken.push(format!("--decimal {}", d.flag()));
        a.decimal = Some(d);
    }
    (a, taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> CsvArgs {
        CsvArgs {
            input: None,
            output: None,
            delimiter: None,
            skip_bad_rows: false,
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

    #[test]
    fn the_flags_a_model_was_trained_with_are_taken_where_left_out() {
        let trained = CsvArgs {
            delimiter: Some(b'\t'),
            skip_bad_rows: true,
            missing: vec![-9999.0, -999.9],
            decimal: Some(Decimal::Comma),
            time_column: vec![Column::Name("Zeit".into())],
            max_gap: Some(std::time::Duration::from_secs(300)),
            date_order: Some(DateOrder::MonthFirst),
            time_zone: Some(Zone::parse("Europe/Berlin").unwrap()),
            skip_lines: Some(4),
            stream_column: Some(StreamColumn::Column(Column::Name("turbine".into()))),
            rows_of: Some(Column::Name("/motor3/pwm_cmd".into())),
            ..args()
        };
        let metrics = json!({ "reading": recorded(&trained) });
        let (got, taken) = as_trained(&args(), Some(&metrics));
        assert_eq!(got.options(), trained.options());
        assert_eq!(
            taken,
            [
                "--time-column \"Zeit\"",
                "--max-gap 300s",
                "--date-order mdy",
                "--time-zone Europe/Berlin",
                "--missing -9999",
                "--missing -999.9",
                "--skip-lines 4",
                "--stream-column \"turbine\"",
                "--rows-of \"/motor3/pwm_cmd\"",
                "--skip-bad-rows",
                "--delimiter tab",
                "--decimal comma"
            ]
        );
        // `--skip-lines 0` says the file has no preamble: not taken.
        let bare = CsvArgs {
            skip_lines: Some(0),
            ..args()
        };
        let (got, taken) = as_trained(&bare, Some(&metrics));
        assert_eq!(got.skip_lines, Some(0));
        assert!(!taken.iter().any(|t| t.contains("skip-lines")), "{taken:?}");
        // Given flags win; a gap measured on another time column is not taken.
        let given = CsvArgs {
            time_column: vec![Column::Index(0)],
            delimiter: Some(b';'),
            ..args()
        };
        let (got, _) = as_trained(&given, Some(&metrics));
        assert_eq!(got.time_column, [Column::Index(0)]);
        assert_eq!((got.max_gap, got.delimiter), (None, Some(b';')));
        // Nor an order of day and month, or a zone, read in another column.
        assert_eq!((got.date_order, got.time_zone), (None, None));
        // A delimiter given takes no decimal separator from training.
        assert_eq!(got.decimal, None);
        // A date's and a time of day's columns are taken together.
        let split = CsvArgs {
            time_column: vec![Column::Name("Datum".into()), Column::Index(1)],
            ..args()
        };
        let metrics = json!({ "reading": recorded(&split) });
        assert_eq!(metrics["reading"]["time_column"], json!(["Datum", 1]));
        let (got, taken) = as_trained(&args(), Some(&metrics));
        assert_eq!(got.time_column, split.time_column);
        assert_eq!(taken, ["--time-column \"Datum\"", "--time-column 1"]);
        // `none` is taken as given.
        let one = CsvArgs {
            stream_column: Some(StreamColumn::None),
            ..args()
        };
        let metrics = json!({ "reading": recorded(&one) });
        let (got, taken) = as_trained(&args(), Some(&metrics));
        assert_eq!(got.stream_column, Some(StreamColumn::None));
        assert_eq!(taken, ["--stream-column none"]);
        // A model from before this was recorded: nothing taken.
        let (got, taken) = as_trained(&args(), Some(&json!({ "input": "a" })));
        assert_eq!((got.options(), taken.len()), (args().options(), 0));
    }

    /// A model trained on a clock before a regular logger's rows were held
    /// three steps at most (no `changes_per_tick`) is read as it was, each
    /// value held until its next change; one trained since, or with a
    /// `--max-gap`, as it records.
    #[test]
    fn a_model_from_before_logger_holds_is_read_with_unbounded_holds() {
        let on_clock = CsvArgs {
            time_column: vec![Column::Name("t".into())],
            resample: Some(std::time::Duration::from_secs(3600)),
            ..args()
        };
        let before = json!({ "reading": recorded(&on_clock) });
        let since = json!({ "reading": recorded(&on_clock), "changes_per_tick": 1.0 });
        let held = CsvArgs {
            max_gap: Some(std::time::Duration::from_secs(10_800)),
            ..on_clock.clone()
        };
        let bounded = json!({ "reading": recorded(&held) });
        assert!(as_trained(&args(), Some(&before)).0.unbounded_holds);
        assert!(!as_trained(&args(), Some(&since)).0.unbounded_holds);
        assert!(!as_trained(&args(), Some(&bounded)).0.unbounded_holds);
        assert!(
            !as_trained(&args(), Some(&json!({ "reading": recorded(&args()) })))
                .0
                .unbounded_holds
        );
    }

    /// A hold is recorded only where every recording was read with one.
    #[test]
    fn a_logger_hold_is_every_recordings_or_none() {
        let secs = std::time::Duration::from_secs;
        let hold = |h: &[Option<f64>]| logger_hold(h.iter().copied());
        assert_eq!(hold(&[Some(10_800.0), Some(180.0)]), Some(secs(10_800)));
        assert_eq!(hold(&[Some(10_800.0), None]), None);
        assert_eq!(hold(&[]), None);
    }

    /// Files `join` joined on one clock give the model that clock; files
    /// on other clocks, or some on none, give it none, said.
    #[test]
    fn the_clock_files_were_joined_on_is_recorded_where_they_agree() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, step: Option<f64>| {
            let line = step.map_or(String::new(), |s| {
                JoinClock {
                    resample_s: s,
                    max_gap_s: Some(1.5 * s),
                    phase_s: None,
                }
                .line(1.0)
            });
            let path = dir.path().join(name);
            std::fs::write(&path, format!("{line}time,a,b\n0,1,2\n")).unwrap();
            path
        };
        let (a, b) = (file("a.csv", Some(3.0)), file("b.csv", Some(3.0)));
        let (c, d) = (file("c.csv", Some(6.0)), file("d.csv", None));
        let three = JoinClock {
            resample_s: 3.0,
            max_gap_s: Some(4.5),
            phase_s: None,
        };
        assert_eq!(joined_clock(&[a.clone(), b.clone()]), (Some(three), None));
        // Another month's join of the same loggers: ticks a few ms apart.
        let jitter = dir.path().join("j.csv");
        let line = JoinClock {
            phase_s: Some(0.004),
            ..three
        }
        .line(1.0);
        std::fs::write(&jitter, format!("{line}time,a,b\n0,1,2\n")).unwrap();
        assert_eq!(joined_clock(&[a.clone(), jitter]), (Some(three), None));
        assert_eq!(joined_clock(std::slice::from_ref(&d)), (None, None));
        let (none, said) = joined_clock(&[a.clone(), c]);
        let said = said.unwrap();
        assert!(
            none.is_none() && said.contains("a.csv: --resample 3s --max-gap 4500ms, "),
            "{said}"
        );
        assert!(
            said.contains("c.csv: --resample 6s --max-gap 9s): the model records none"),
            "{said}"
        );
        let (none, said) = joined_clock(&[a, d]);
        assert!(none.is_none() && said.unwrap().contains("d.csv: none)"));
    }
}
