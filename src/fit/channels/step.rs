//! A channel that steps to another level from one row to the next and
//! stays there, while the other channel does not move: a strain gauge
//! re-zeroed after maintenance, a sensor replaced or moved, a transmitter
//! re-ranged. The rows on either side read on two zeros that no input
//! explains; trained across them, a model learns a level it cannot place,
//! and the verdict advised "more data, longer training" while 80% of the
//! held-out error was that offset. The user knows the date: said with it.

use crate::data::median_in_place;
use crate::eval::significant;
use crate::recording::Recording;

/// A row-to-row step this many of the channel's usual steps (as a
/// standard deviation) is a jump.
const JUMP: f64 = 15.0;
/// Jumps that stay, at most, for a channel to be read as having steps
/// (one that steps often is stepwise by nature: a state, a setpoint).
const FEW: usize = 3;
/// Rows on each side a jump's level is judged on, at least.
const SIDE: usize = 12;
/// The longer view, in sides: the level after the jump must hold over it.
const LONG: usize = 20;
/// How far on a level is looked for back where it was, in long views.
const BACK: usize = 16;
/// The step, in spreads of what the line leaves on the rows before, at
/// least: a step the channel's own relation to the other strays by as a
/// rule is none (a wind turbine's power, 328 kW above its curve for a
/// while after a stop, was called re-zeroed).
const STRAYS: f64 = 6.0;

/// Each channel's jumps to a level it keeps while the other channel stays
/// where it was, said with the rows and stamps, and the `--exclude` that
/// trains on the rows since.
pub(super) fn steps(rec: &Recording, window: usize) -> Vec<String> {
    if rec.resampled.is_some() {
        return Vec::new();
    }
    let channels = super::named_channels(rec);
    let rows: Vec<(usize, [f32; 2])> = (rec.segments.iter())
        .flat_map(|s| {
            (0..s.len()).map(move |k| (s.start + k, [channels[0].1(s)[k], channels[1].1(s)[k]]))
        })
        .filter(|(_, v)| v.iter().all(|x| x.is_finite()))
        .collect();
    let side = window.max(SIDE);
    if rows.len() < 4 * side {
        return Vec::new();
    }
    let mut said = Vec::new();
    for c in 0..2 {
        let (name, other) = (channels[c].0, channels[1 - c].0);
        let v: Vec<f64> = rows.iter().map(|(_, x)| f64::from(x[c])).collect();
        let o: Vec<f64> = rows.iter().map(|(_, x)| f64::from(x[1 - c])).collect();
        let Some(usual) = usual_step(&v) else {
            continue;
        };
        // The other channel's own usual step: where it jumps too, near
        // the same row, the step is its (a setpoint, a load test's level).
        let usual_o = usual_step(&o).unwrap_or(0.0);
        // (row index, the step, the other's move, the line fitted before)
        let mut found: Vec<(usize, f64, f64, (f64, f64))> = Vec::new();
        let mut k = side;
        while k + side <= v.len() {
            let jump = v[k] - v[k - 1];
            let other_jumps = || {
                (k.saturating_sub(side).max(1)..(k + side).min(o.len()))
                    .any(|i| (o[i] - o[i - 1]).abs() >= JUMP * usual_o)
            };
            if jump.abs() < JUMP * usual || other_jumps() {
                k += 1;
                continue;
            }
            // The channel less what the other explains of it (a line
            // fitted on the rows before): a setpoint's step moves both.
            // (Not across a step found before: its offset is no slope.)
            let since = found.last().map_or(0, |f| f.0);
            let before = k.saturating_sub(LONG * side).max(since)..k;
            let (a, b) = line(&o[before.clone()], &v[before.clone()]);
            // What the line leaves, on the rows the shifts below read.
            let lo = k.saturating_sub(LONG * side);
            let hi = (k + LONG * side).min(v.len());
            let rest: Vec<f64> = (lo..hi).map(|t| v[t] - a - b * o[t]).collect();
            // How far it strays before (a power curve's bend and a
            // turbine's stops leave much; a gauge's noise little).
            let strays = spread(&rest[before.start - lo..k - lo]);
            // The median of `span` rows after less that of `span` before
            // (`of` starting at row `from`).
            let shift = |span: usize, of: &[f64], from: usize| {
                let (at, end) = (k - from, (k + span).min(from + of.len()) - from);
                median(&of[at..end]) - median(&of[k.saturating_sub(span) - from..at])
            };
            let (near, far) = (shift(side, &rest, lo), shift(LONG * side, &rest, lo));
            // It stays, near and far.
            let stays = near * jump > 0.0
                && near.abs() >= STRAYS * strays
                && near.abs() >= 0.5 * jump.abs()
                && far * jump > 0.0
                && far.abs() >= 0.5 * near.abs();
            // Nor is one whose level comes back later (a probe off for 6 s
            // at 125 Hz: longer than the long view): the first stretch of
            // the long view's length back at the level before, if any.
            let long = LONG * side;
            let level = |r: std::ops::Range<usize>| {
                median(&r.map(|t| v[t] - a - b * o[t]).collect::<Vec<_>>())
            };
            let base = level(before.clone());
            let back = (stays.then_some(())).and_then(|()| {
                // (Within BACK long views: a channel that steps often
                // is not read to its end at each.)
                let mut t = (k + long..v.len().saturating_sub(long)).step_by(long);
                (t.by_ref().take(BACK))
                    .find(|&t| (level(t..t + long) - base).abs() < 0.25 * near.abs())
            });
            match (stays, back) {
                (true, None) => {
                    found.push((k, near, shift(side, &o, 0), (a, b)));
                    k += side;
                }
                // Past the stretch: its end is no step either.
                (true, Some(t)) => k = t,
                (false, _) => k += 1,
            }
        }
        // A jump the next one undoes (to within a quarter) is a stop that
        // came back (a trip, an outage at 0): said of stretches, not here.
        // (Judged on the first one's line: the level after the second
        // against the level before the first.)
        let undoes = |i: usize, j: usize| {
            let ((ki, step, _, (a, b)), kj) = (found[i], found[j].0);
            let level = |r: std::ops::Range<usize>| {
                let rest: Vec<f64> = r.map(|t| v[t] - a - b * o[t]).collect();
                median(&rest)
            };
            // Over the longer view: 24 rows of a pulse at 125 Hz (a PPG
            // back after its probe was off) are a fifth of a beat, whose
            // median is where in the beat they lie, not the level.
            let long = LONG * side;
            let back = level(kj..(kj + long).min(v.len())) - level(ki.saturating_sub(long)..ki);
            back.abs() < 0.25 * step.abs()
        };
        let undone: Vec<bool> = (0..found.len())
            .map(|i| {
                (i + 1 < found.len() && undoes(i, i + 1))
                    || i.checked_sub(1).is_some_and(|j| undoes(j, i))
            })
            .collect();
        let mut undone = undone.into_iter();
        found.retain(|_| !undone.next().unwrap_or(false));
        if found.is_empty() || found.len() > FEW {
            continue;
        }
        for (k, near, input, _) in found {
            let (before, at) = (rows[k - 1].0, rows[k].0);
            let stamp = |row: usize| {
                let t = rec.row_times.get(row).copied().flatten()?;
                Some(super::stop::text(t, rec))
            };
            let when = match (stamp(before), stamp(at)) {
                (Some(a), Some(b)) => format!(" ({a} to {b})"),
                _ => String::new(),
            };
            let first = rows.first().and_then(|(r, _)| stamp(*r));
            let exclude = match (first, stamp(before)) {
                (Some(a), Some(b)) => format!(
                    "; to train on the rows since, --exclude '{}{a}..{b}'{}",
                    super::stop::of_file(rec),
                    super::stop::every_stream(rec)
                ),
                _ => String::new(),
            };
            said.push(format!(
                "column {name:?} steps by {} between data rows {before} and {at}{when} and stays \
                 there (its median over the {side} rows after lies {} from the {side} before, \
                 less what {other:?} explains), while {other:?} moves by {} (a row-to-row step of {name:?} is usually within \
                 ±{}): a sensor re-zeroed, replaced or moved? The rows on either side read on \
                 two zeros that the input does not explain, and a model trained across them \
                 learns neither{exclude}, or correct the offset in the rows before",
                significant(near),
                significant(near),
                significant(input),
                significant(usual),
            ));
        }
    }
    said
}

/// A row-to-row step's usual size, as a standard deviation (from the
/// median absolute step); `None` for a channel that mostly holds its value
/// (a sample-and-hold's changes are all jumps).
fn usual_step(v: &[f64]) -> Option<f64> {
    let mut d: Vec<f64> = v.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let moving = d.iter().filter(|&&x| x > 0.0).count();
    if 2 * moving < d.len() {
        return None;
    }
    let m = median_in_place(&mut d) / 0.6745;
    (m > 0.0).then_some(m)
}

/// The spread of `v` about its median, as a standard deviation's (the
/// median absolute deviation / 0.6745).
fn spread(v: &[f64]) -> f64 {
    let m = median(v);
    let mut d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    median_in_place(&mut d) / 0.6745
}

/// The least-squares line `y ≈ a + b·x` (`b` 0 where `x` holds still).
fn line(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|x| (x - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(x, y)| (x - mx) * (y - my)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - b * mx, b)
}

fn median(v: &[f64]) -> f64 {
    median_in_place(&mut v.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{Column, CsvOptions};

    /// A bridge's strain follows the deck's temperature; its gauge is
    /// re-zeroed (-310) two thirds of the way in: said, with the stamps
    /// and the --exclude that trains on the rows since. A trip to 0 that
    /// comes back 400 rows later, a setpoint step the input makes too, a load
    /// test's levels, and traffic spikes are not steps.
    #[test]
    fn a_gauge_re_zeroed_is_said_and_a_stop_or_a_step_of_both_is_not() {
        let write = |zero: Option<usize>, trip: bool, both: bool| {
            let mut text = String::from("t,deck,strain\n");
            let mut rng = crate::rng::Rng::new(11);
            for k in 0..3000usize {
                let mut deck = 10.0 + 5.0 * (k as f64 * std::f64::consts::TAU / 144.0).sin();
                if both && k >= 2000 {
                    deck += 15.0;
                }
                let mut strain = 120.0 - 11.0 * (deck - 10.0) + 1.5 * rng.normal();
                if k % 97 == 0 {
                    strain += 60.0; // a lorry
                }
                if zero.is_some_and(|z| k >= z) {
                    strain -= 310.0;
                }
                if trip && (1500..1900).contains(&k) {
                    strain = 0.0;
                }
                let (d, h, m) = (k / 144, (k % 144) / 6, (k % 6) * 10);
                text += &format!(
                    "2026-04-{:02} {h:02}:{m:02}:00,{deck:.3},{strain:.2}\n",
                    1 + d
                );
            }
            let opts = CsvOptions {
                input: Column::Name("deck".into()),
                output: Column::Name("strain".into()),
                time: vec![Column::Name("t".into())],
                ..Default::default()
            };
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
        };
        let said = steps(&write(Some(2000), false, false), 24);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].starts_with(
                "column \"strain\" steps by -3" 
            ) && said[0].contains(
                "between data rows 1999 and 2000 (2026-04-14T21:10:00 to 2026-04-14T21:20:00) and stays there"
            ) && said[0].contains("--exclude '2026-04-01T00:00:00..2026-04-14T21:10:00'"),
            "{said:?}"
        );
        assert!(steps(&write(None, false, false), 24).is_empty());
        let trip = steps(&write(None, true, false), 24);
        assert!(trip.is_empty(), "a trip comes back: {trip:?}");
        assert!(
            steps(&write(None, false, true), 24).is_empty(),
            "the input stepped too"
        );
        // A fingertip pulse at 125 Hz whose probe was off for 6 s (0),
        // beside a blood pressure that goes on: a stretch that came back,
        // whatever 24 rows of the beat's shape a level is read on.
        let mut text = String::from("t,ppg,abp\n");
        let mut rng = crate::rng::Rng::new(5);
        let beat = |k: usize| {
            let phase = (k % 113) as f64 / 113.0;
            let bump = |at: f64, width: f64| (-((phase - at) / width).powi(2)).exp();
            0.38 + 0.3 * (bump(0.18, 0.07) + 0.45 * bump(0.45, 0.09) + 0.9 * bump(1.18, 0.07))
        };
        // (Then 4 s of `-` cells, skipped.)
        for k in (0..6000usize).filter(|k| !(3250..3750).contains(k)) {
            let noise = 0.004 * rng.normal();
            let ppg = if (2500..3250).contains(&k) {
                0.0
            } else {
                beat(k) + noise
            };
            let abp = 60.0 + 90.0 * (beat(k.saturating_sub(5)) - 0.38) + 0.6 * rng.normal();
            text += &format!("{:.3},{ppg:.4},{abp:.2}\n", k as f64 * 0.008);
        }
        let opts = CsvOptions {
            input: Column::Name("ppg".into()),
            output: Column::Name("abp".into()),
            time: vec![Column::Name("t".into())],
            ..Default::default()
        };
        let r =
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap();
        assert!(steps(&r, 24).is_empty(), "{:?}", steps(&r, 24));
        // A load test's levels: both channels step, twice, the input
        // flat between.
        let mut text = String::from("t,load,power\n");
        let mut rng = crate::rng::Rng::new(3);
        for k in 0..4500usize {
            let load = [100.0, 250.0, 180.0][k / 1500] + rng.normal();
            let power = 0.2 * load + 5.0 + 0.3 * rng.normal();
            text += &format!("{},{load:.3},{power:.3}\n", 1_700_000_000 + 10 * k);
        }
        let opts = CsvOptions {
            input: Column::Name("load".into()),
            output: Column::Name("power".into()),
            time: vec![Column::Name("t".into())],
            ..Default::default()
        };
        let r =
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap();
        assert!(steps(&r, 24).is_empty(), "{:?}", steps(&r, 24));
        // The shipped wind turbine's power: its stops and its curve's
        // bend leave much of it unexplained by a line; no step.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/data/la-haute-borne-R80711.csv"
        );
        let opts = CsvOptions {
            input: Column::Name("wind_speed_ms".into()),
            output: Column::Name("power_kw".into()),
            time: vec![Column::Name("time_utc".into())],
            ..Default::default()
        };
        let bytes = std::fs::read(path).unwrap();
        let r = Recording::from_bytes(&bytes, std::path::Path::new(path), &opts).unwrap();
        assert!(steps(&r, 24).is_empty(), "{:?}", steps(&r, 24));
    }
}
