use super::*;

use crate::recording::{Column, CsvOptions, Recording};

/// 2026-03-01 is 20,513 days after 1970-01-01.
const MARCH_1: f64 = 20_513.0 * 86_400.0;

#[test]
fn slashed_dates_and_12_hour_clocks() {
    let us = |t: &str| date_time(t, Some(DateOrder::MonthFirst));
    let uk = |t: &str| date_time(t, Some(DateOrder::DayFirst));
    assert_eq!(us("3/1/2026 12:10 AM"), Some(MARCH_1 + 600.0));
    assert_eq!(
        us("3/1/2026 12:10 PM"),
        Some(MARCH_1 + 12.0 * 3600.0 + 600.0)
    );
    assert_eq!(
        us("03/01/2026 1:05:30 pm"),
        Some(MARCH_1 + 13.0 * 3600.0 + 330.0)
    );
    assert_eq!(us("3/1/26 0:10"), Some(MARCH_1 + 600.0));
    // PhysioNet's absolute times: the clock first, in brackets.
    let at = uk("[00:10:00.250 01/03/2026]");
    assert_eq!(at, Some(MARCH_1 + 600.25));
    assert_eq!(slashed("[00:10:00.250 13/03/2026]"), Some((13, 3)));
    assert_eq!(uk("01/03/2026 00:10"), Some(MARCH_1 + 600.0));
    assert_eq!(uk("1/3/2026 11:59 p.m."), Some(MARCH_1 + 86_340.0));
    // What plant historians, PostgreSQL and ISO's basic form write.
    let at = |h: f64, m: f64, s: f64| Some(MARCH_1 + h * 3600.0 + m * 60.0 + s);
    assert_eq!(
        date_time("01-Mar-2026 13:05:17.5", None),
        at(13.0, 5.0, 17.5)
    );
    assert_eq!(date_time("01-MAR-26 00:10", None), at(0.0, 10.0, 0.0));
    assert_eq!(date_time("01-Mär-2026", None), at(0.0, 0.0, 0.0));
    assert!(date_time("01-OCT-2026", None).is_some());
    assert_eq!(date_time("2026-03-01 01:00:00+01", None), at(0.0, 0.0, 0.0));
    assert_eq!(
        date_time("2026-03-01 00:10:00 UTC", None),
        at(0.0, 10.0, 0.0)
    );
    assert_eq!(date_time("20260301T001000Z", None), at(0.0, 10.0, 0.0));
    assert_eq!(date_time("20260301T0010", None), at(0.0, 10.0, 0.0));
    // Dates that are none, and offsets no zone has: no time (they were
    // read as days after the month's end, or hours away).
    for none in [
        "2026-02-30 00:00",
        "2025-02-29",
        "31-Feb-2024",
        "2026-04-31T00:00:00",
        "31.06.2026 10:00",
        "+275760-01-01",
        "2026-03-01T00:00:00+99:99",
        "2026-03-01T00:00:00+15:00",
    ] {
        assert_eq!(date_time(none, None), None, "{none}");
    }
    assert!(date_time("2024-02-29", None).is_some() && date_time("2000-02-29", None).is_some());
    assert_eq!(date_time("1900-02-29", None), None);
    assert_eq!(
        date_time("2026-03-01T14:00:00+14:00", None),
        at(0.0, 0.0, 0.0)
    );
    assert_eq!(date_time("20260301T001000.5Z", None), at(0.0, 10.0, 0.5));
    assert_eq!(date_time("20260301T001000,25", None), at(0.0, 10.0, 0.25));
    // Months as German, French, Spanish, Italian and Dutch exports
    // abbreviate them, or written out.
    for (name, month) in [
        ("Jän", 1),
        ("janv.", 1),
        ("févr.", 2),
        ("Mrz", 3),
        ("mrt", 3),
        ("abr", 4),
        ("Mai", 5),
        ("mag", 5),
        ("juin", 6),
        ("juil.", 7),
        ("août", 8),
        ("ago", 8),
        ("set", 9),
        ("ott", 10),
        ("December", 12),
        ("déc.", 12),
        ("dic", 12),
    ] {
        let day = date_time(&format!("01-{name}-2026"), None);
        let want = days_from_civil(2026, month, 1) as f64 * 86_400.0;
        assert_eq!(day, Some(want), "{name}");
    }
    assert_eq!(date_time("01.Mär.2026 00:10", None), at(0.0, 10.0, 0.0));
    assert_eq!(date_time("2026-02-28 24:00", None), at(0.0, 0.0, 0.0));
    assert_eq!(date_time("2026-03-01T00:10:00,5", None), at(0.0, 10.0, 0.5));
    for bad in [
        "2026-03-01 24:01",
        "01-Mxr-2026",
        "01-jui-2026",
        "01-.-2026",
        "20260301T0010.5",
        "2026-03-01 00:10+1",
        "12:00 PM 24:00",
    ] {
        assert_eq!(date_time(bad, None), None, "{bad}");
    }
    // A year first has one order; neither is needed.
    assert_eq!(date_time("2026/03/01 00:10", None), Some(MARCH_1 + 600.0));
    // Without an order a slashed date is not read.
    assert_eq!(date_time("3/1/2026 00:10", None), None);
    // Not an offset (and no panic on a character of two bytes).
    assert_eq!(date_time("2026-03-01 00:10+1é2", None), None);
    for bad in [
        "13/1/2026 00:10",
        "3/1/2026 13:10 PM",
        "3/1/2026 0:10 AM",
        "3/1/202 00:10",
    ] {
        assert_eq!(us(bad), None, "{bad}");
    }
}

#[test]
fn the_order_of_day_and_month_is_what_the_dates_show() {
    let order = |cells: &[&str]| {
        let mut e = OrderEvidence::default();
        for (i, c) in cells.iter().enumerate() {
            e.look(|| i as u64 + 2, c.as_bytes());
        }
        e.decide()
    };
    let us = order(&["3/12/2026 11:50 PM", "3/13/2026 12:00 AM"]);
    assert_eq!(us, Ok(Some(DateOrder::MonthFirst)));
    let uk = order(&["12/03/2026 23:50", "13/03/2026 00:00"]);
    assert_eq!(uk, Ok(Some(DateOrder::DayFirst)));
    assert_eq!(order(&["2026-03-01", "2026/03/13", "12.5"]), Ok(None));
    let short = order(&["3/1/2026", "3/2/2026"]).unwrap_err();
    assert!(
        short.contains("--date-order") && short.contains("line 2"),
        "{short}"
    );
    let mut e = OrderEvidence::default();
    e.look(|| 7, b"3/13/2026");
    let why = e.contradicts(DateOrder::DayFirst).unwrap();
    assert!(
        why.contains("month first (line 7") && why.contains("--date-order dmy"),
        "{why}"
    );
    assert_eq!(e.contradicts(DateOrder::MonthFirst), None);
    let both = order(&["13/3/2026", "3/13/2026"]).unwrap_err();
    assert!(both.contains("line 2") && both.contains("line 3"), "{both}");
}

fn read(text: &str) -> crate::error::Result<Recording> {
    let opts = CsvOptions {
        input: Column::Name("x".into()),
        output: Column::Name("y".into()),
        time: vec![Column::Name("t".into())],
        ..Default::default()
    };
    Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts)
}

/// A US spreadsheet's `3/12/2026 11:50 PM`: month first, as a day past
/// the 12th shows; a file whose dates cannot tell is refused with the
/// flag that says, and read with it.
#[test]
fn slashed_dates_are_read_in_the_order_the_file_shows() {
    let rows = [
        "3/12/2026 11:40 PM",
        "3/12/2026 11:50 PM",
        "3/13/2026 12:00 AM",
    ];
    let mut text = String::from("t,x,y\n");
    for (i, t) in rows.iter().enumerate() {
        text += &format!("{t},{i},{i}\n");
    }
    let r = read(&text).unwrap();
    assert_eq!(r.date_order, Some(DateOrder::MonthFirst));
    assert_eq!((r.time_step, r.time_gaps), (Some(600.0), 0));
    assert!(r.read_as().contains("month/day/year"), "{}", r.read_as());
    let short = "t,x,y\n3/1/2026 0:10,1,1\n3/1/2026 0:20,2,2\n";
    let e = read(short).unwrap_err().to_string();
    assert!(
        e.contains("--date-order dmy") && e.contains("line 2"),
        "{e}"
    );
    let opts = CsvOptions {
        input: Column::Name("x".into()),
        output: Column::Name("y".into()),
        time: vec![Column::Name("t".into())],
        date_order: Some(DateOrder::DayFirst),
        ..Default::default()
    };
    let r = Recording::from_bytes(short.as_bytes(), std::path::Path::new("r.csv"), &opts);
    assert_eq!(r.unwrap().time_step, None); // one step: no median
}
