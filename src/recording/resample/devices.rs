//! Several devices' rows in one export of changes (an air-quality
//! portal's long export: a row per station, parameter and hour): a
//! channel then has two rows at one time with other values, and read as
//! one, each tick takes whichever device's row came last. Said, with the
//! column that tells the devices apart (`--stream-column`).

use std::collections::HashMap;

use super::super::streams::cell;

/// Rows of a channel kept to find what tells two rows of one time apart.
const KEPT: usize = 20_000;
/// Pairs of rows of one time looked at for that.
const PAIRS: usize = 200;

/// Each channel's rows by time, for the hint (bounded), and the pairs of
/// rows of one time with other values found among them.
#[derive(Default)]
pub(super) struct Twice {
    seen: [HashMap<u64, csv::ByteRecord>; 2],
    pairs: Vec<(csv::ByteRecord, csv::ByteRecord)>,
}

impl Twice {
    /// Row `r` of channel `ch` at `t`, its value in column `value`.
    pub fn row(&mut self, ch: usize, t: f64, r: &csv::ByteRecord, value: usize) {
        if self.pairs.len() >= PAIRS {
            return;
        }
        let seen = &mut self.seen[ch];
        match seen.get(&t.to_bits()) {
            Some(before) if cell(before, value) != cell(r, value) => {
                self.pairs.push((before.clone(), r.clone()));
            }
            Some(_) => {}
            None if seen.len() < KEPT => {
                seen.insert(t.to_bits(), r.clone());
            }
            None => {}
        }
    }

    /// The columns (not `chosen`) whose cells differ between nearly every
    /// pair of rows of one time: what names the devices, with a few of
    /// their values.
    pub fn columns(&self, names: &[String], chosen: &[usize]) -> Vec<String> {
        let Some((a, _)) = self.pairs.first() else {
            return Vec::new();
        };
        (0..a.len())
            .filter(|c| !chosen.contains(c))
            .filter(|&c| {
                let differ = (self.pairs.iter())
                    .filter(|(a, b)| cell(a, c) != cell(b, c) && !cell(a, c).is_empty())
                    .count();
                10 * differ >= 9 * self.pairs.len()
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
/// already, the columns that tell such rows apart, the stream read (where
/// a column was named and a stream's own rows repeat).
pub(super) fn why(
    name: &str,
    n: usize,
    of: usize,
    columns: &[String],
    within: Option<&str>,
) -> String {
    let within = within.map_or(String::new(), |s| {
        format!(" in the rows of stream {s:?} alone")
    });
    let apart = match columns.first() {
        Some(c) => format!(
            "--stream-column {c} reads each device's rows as a recording of its own (the \
             columns that differ between two rows of one time: {})",
            columns.join(", ")
        ),
        None => "--stream-column COL, the column naming each row's device, reads each \
                 device's rows as a recording of its own"
            .into(),
    };
    format!(
        "{name:?} has {n} of its {of} rows{within} at a time it has another row at, with another \
         value: rows of several devices in one export? Read as one, each tick would take \
         whichever device's row came last. {apart}; --stream-column none reads them as one \
         device's all the same"
    )
}
