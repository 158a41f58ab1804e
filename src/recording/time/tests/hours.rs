//! A date and an hour's number in two columns.

use super::*;

/// An hourly export's `Date,Hour`: the hour's number is the time of day
/// (0–23, or 1–24 "hour ending", 24 the next midnight).
#[test]
fn an_hours_number_beside_the_date_is_its_time_of_day() {
    for first in [0, 1] {
        let mut text = String::from("Date,Hour,x,y\n");
        for day in 1..=3 {
            for h in first..first + 24 {
                // Day 2's 10:00 to 15:00 missing: a gap of 6 h.
                if !(day == 2 && (10..=15).contains(&h)) {
                    text.push_str(&format!("2026-01-0{day},{h},{h},{}\n", 2 * h));
                }
            }
        }
        let r = read(&text, &["Date", "Hour"]).unwrap();
        assert_eq!((r.rows, r.time_step), (66, Some(3600.0)), "from {first}");
        assert_eq!(r.time_gaps, 1, "{:?}", r.time_gap_examples);
        let lens: Vec<usize> = r.segments.iter().map(|s| s.len()).collect();
        assert_eq!(lens, [34 - first, 32 + first]);
    }
    // Not an hour: a time of day is still read as one, a count is refused.
    assert_eq!(super::hour_number(b" 07 "), Some(7.0));
    assert_eq!(super::hour_number(b"26"), None);
    assert_eq!(super::hour_number(b"7.5"), None);
    let text = "Date,Count,x,y\n2026-01-01,140,1,2\n2026-01-01,141,1,2\n";
    assert!(read(text, &["Date", "Count"]).is_err());
    // Half-hour settlement periods (1 to 48) are no hours, from the first.
    let mut text = String::from("Date,Period,x,y\n");
    for p in 1..=48 {
        text.push_str(&format!("2026-01-01,{p},1,2\n"));
    }
    let e = read(&text, &["Date", "Period"]).unwrap_err().to_string();
    assert!(
        e.contains("line 2") && e.contains("not all from 0 to 24 as hours' numbers are"),
        "{e}"
    );
}
