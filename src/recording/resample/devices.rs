//! Several devices' rows in one export of changes (an air-quality
//! portal's long export: a row per station, parameter and hour): a
//! channel then has two rows at one time with other values, and read as
//! one, each tick takes whichever device's row came last. Said, with the
//! column that tells the devices apart (`--stream-column`).

use std::collections::HashMap;

use super::super::streams::cell;

/// Rows of a channel whose time and value are kept to find two of one
/// time (each row's place and a hash of its value: no row is kept whole).
const KEPT: usize = 1_000_000;
/// Pairs of rows of one time looked at to find what tells them apart.
const PAIRS: usize = 200;

/// Each channel's rows by time (bounded), and the pairs of rows of one
/// time with other values found among them (their places among the data
/// rows), to find what tells them apart.
#[derive(Default)]
pub(super) struct Twice {
    seen: HashMap<(usize, usize, u64), (u64, usize)>,
    pairs: Vec<(usize, usize)>,
}

impl Twice {
    /// Data row `row` of channel `ch` of stream `s` (`(s, ch)`) at `t`,
    /// its value cell `value`.
    pub fn row(&mut self, (s, ch): (usize, usize), t: f64, value: &[u8], row: usize) {
        if self.pairs.len() >= PAIRS {
            return;
        }
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            value.hash(&mut h);
            h.finish()
        };
        let (seen, key) = (&mut self.seen, (s, ch, t.to_bits()));
        match seen.get(&key) {
            Some(&(before, at)) if before != hash => self.pairs.push((at, row)),
            Some(_) => {}
            None if seen.len() < 2 * KEPT => {
                seen.insert(key, (hash, row));
            }
            None => {}
        }
    }

    /// The columns (not `chosen`) whose cells differ between nearly every
    /// pair of rows of one time and take few values (names or numbers of
    /// devices, not a pressure reading's; `rows`: the file's data rows,
    /// read again for the pairs'): what names the devices.
    pub fn columns(
        &self,
        rows: impl Iterator<Item = csv::ByteRecord>,
        names: &[String],
        chosen: &[usize],
    ) -> Vec<String> {
        let wanted: HashMap<usize, ()> = (self.pairs.iter())
            .flat_map(|&(a, b)| [(a, ()), (b, ())])
            .collect();
        let kept: HashMap<usize, csv::ByteRecord> = (rows.enumerate())
            .filter(|(i, _)| wanted.contains_key(i))
            .collect();
        let pairs: Vec<(&csv::ByteRecord, &csv::ByteRecord)> = (self.pairs.iter())
            .filter_map(|(a, b)| Some((kept.get(a)?, kept.get(b)?)))
            .collect();
        let Some((a, _)) = pairs.first() else {
            return Vec::new();
        };
        let few = (pairs.len() / 4).max(2);
        (0..a.len())
            .filter(|c| !chosen.contains(c))
            .filter(|&c| {
                let differ = (pairs.iter())
                    .filter(|(a, b)| cell(a, c) != cell(b, c) && !cell(a, c).is_empty())
                    .count();
                let values: std::collections::HashSet<&[u8]> = (pairs.iter())
                    .flat_map(|(a, b)| [cell(a, c), cell(b, c)])
                    .collect();
                10 * differ >= 9 * pairs.len() && values.len() <= few
            })
            .map(|c| names.get(c).cloned().unwrap_or_else(|| c.to_string()))
            .take(3)
            .collect()
    }
}

/// Whether a stream's changes of one channel (time, value or none) are
/// several devices': more than 1% of them (and 3) come at a time another
/// has, with another value, over more than an hour of times (an hour that
/// comes twice is a daylight-saving fall-back's, said as such): how many.
pub(super) fn repeated(changes: &[(f64, Option<f64>)]) -> Option<usize> {
    let mut sorted: Vec<(f64, Option<f64>)> = changes.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let times: Vec<f64> = (sorted.windows(2))
        .filter(|w| w[0].0 == w[1].0 && w[0].1 != w[1].1)
        .map(|w| w[0].0)
        .collect();
    let n = times.len();
    let span = times.last().zip(times.first()).map_or(0.0, |(l, f)| l - f);
    (n > 3 && 100 * n > changes.len() && span > 3600.0).then_some(n)
}

/// Why a channel whose rows repeat their times cannot be read as one
/// device's, and what reads it: `n` of its `of` changes at a time it has
/// already, the columns that tell such rows apart (one at least), the
/// stream read and the column named (where a stream's own rows repeat).
pub(super) fn why(
    name: &str,
    n: usize,
    of: usize,
    columns: &[String],
    within: Option<(&str, &str)>,
) -> String {
    let (c, all) = (
        columns.first().map_or("COL", String::as_str),
        columns.join(", "),
    );
    let (within, apart) = match within {
        Some((stream, column)) => (
            format!(" in the rows of stream {stream:?} alone"),
            format!(
                "Is {column:?} the column naming each row's device? The columns that differ \
                 between two rows of one time: {all} (--stream-column {c})"
            ),
        ),
        None => (
            String::new(),
            format!(
                "--stream-column {c} reads each device's rows as a recording of its own (the \
                 columns that differ between two rows of one time: {all})"
            ),
        ),
    };
    format!(
        "{name:?} has {n} of its {of} rows{within} at a time it has another row at, with another \
         value: rows of several devices in one export? Read as one, each tick would take \
         whichever device's row came last. {apart}; --stream-column none reads them as one \
         device's all the same"
    )
}
