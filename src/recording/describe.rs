//! How a recording is described to its user (how it was read, its
//! sampling interval, its channels' units), and its channels' samples.

use super::{DateOrder, Encoding, Recording, Segment, time};
use crate::error::Error;

impl Recording {
    /// Why a file gave no data rows: most rows refused for their time cell
    /// (some may have had a bad value too, which is found first) point at
    /// the time column, and an example of it is the one to quote (it holds
    /// `label_time`); otherwise at the channels.
    pub(super) fn no_rows(&self, time_skips: usize, label_time: Option<&str>) -> Error {
        let time_fault = 2 * time_skips > self.skipped;
        let example = (self.skipped_examples.iter())
            .find(|e| !time_fault || label_time.is_some_and(|l| e.contains(l)))
            .or(self.skipped_examples.first())
            .map_or("", String::as_str);
        let why = if let Some(note) = &self.topics_note {
            format!(" ({} skipped for empty or bad cells): {note}", self.skipped)
        } else if self.skipped > 0 {
            format!(
                " ({} skipped for bad cells, such as {example}; {} the right column{}?)",
                self.skipped,
                if time_fault {
                    "is --time-column"
                } else {
                    "are --input and --output"
                },
                if time_fault { "" } else { "s" }
            )
        } else {
            String::new()
        };
        Error::Data(format!("{}: no data rows{why}", self.source()))
    }

    /// Every sample of the input channel (all segments, in order).
    pub fn input(&self) -> impl Iterator<Item = f32> + '_ {
        self.segments.iter().flat_map(|s| s.input.iter().copied())
    }

    /// Every sample of the output channel.
    pub fn output(&self) -> impl Iterator<Item = f32> + '_ {
        self.segments.iter().flat_map(|s| s.output.iter().copied())
    }

    /// The data rows read, skipped ones counted.
    pub fn data_rows(&self) -> usize {
        self.rows + self.skipped
    }

    /// The rows read and kept: not left out by `--exclude` (in no segment).
    pub fn kept_rows(&self) -> usize {
        self.rows - self.excluded.min(self.rows)
    }

    /// One channel by data row: `None` where the row was skipped.
    pub fn by_row(&self, channel: fn(&Segment) -> &[f32]) -> Vec<Option<f32>> {
        let mut rows = vec![None; self.data_rows()];
        for s in &self.segments {
            for (slot, v) in rows[s.start..].iter_mut().zip(channel(s)) {
                *slot = Some(*v);
            }
        }
        rows
    }

    /// Its local stamps read in `zone` (`--time-zone`): no clock change
    /// shifts them. Stamps with offsets, or numbers, take none (said).
    pub(super) fn read_in(&mut self, zone: Option<&super::Zone>) {
        if let Some(z) = zone {
            self.time_zone = Some(z.name().to_string());
            self.time_zone_unused = !self.time_local;
            // A column of local standard time (an air-quality reference's
            // `Time (LST)`) read in a zone that moves its clocks: half the
            // year an hour off.
            let name = self.time_name.as_deref().unwrap_or_default().to_lowercase();
            let standard = name
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == "lst")
                || name.contains("standard time");
            if let Some(s) = z.standard().filter(|_| standard && self.time_local) {
                let said = format!(
                    "says local standard time, which no clock change moves, but {} changes its \
                     clocks in summer (its stamps would be read an hour off half the year): \
                     name the standard offset, --time-zone {}",
                    z.name(),
                    s.name()
                );
                self.time_doubt = Some(match self.time_doubt.take() {
                    Some(d) => format!("{d}; it {said}"),
                    None => said,
                });
            }
            self.zone = self.time_local.then(|| z.clone());
            self.time_local = false;
        }
    }

    /// A row's time as a stamp `--exclude` reads back: ISO 8601, local
    /// stamps read in a zone on its wall clock with its offset then (as the
    /// file shows them), other instants in UTC (`Z`), local stamps without
    /// a zone as written. A time since a start (a cycler's `Test_Time(s)`,
    /// a monitor's `0:00.008`) is no date: written as the file writes it,
    /// seconds or `h:mm:ss.fff`, not as a day in 1970.
    pub fn stamp(&self, seconds: f64) -> String {
        // (Not a date before 1990: a river's record from 1975.)
        let since = (0.0..crate::window::SINCE_START_F).contains(&seconds);
        match (since, self.time_clock, self.time_numbers) {
            (true, true, _) => return since_start(seconds, true),
            (true, false, Some(unit)) => return since_start(seconds / unit, false),
            _ => {}
        }
        match &self.zone {
            Some(z) => z.stamp(seconds),
            None => super::time::iso(seconds, self.time_zone.is_some() || !self.time_local),
        }
    }

    /// Its times count from its own start (numbers or clock times that are
    /// no time since the epoch), not dates (a river's record from 1975).
    pub fn timed_from_start(&self) -> bool {
        (self.time_clock || self.time_numbers.is_some())
            && (self.row_times.iter().flatten().next())
                .is_some_and(|&t| t < crate::window::SINCE_START_F)
    }

    /// A row's time in a sentence: its stamp, after the time column's name
    /// where it is a number of seconds since a start (`Test_Time(s) 43486`,
    /// not a bare number).
    pub fn time_text(&self, seconds: f64) -> String {
        let stamp = self.stamp(seconds);
        match &self.time_name {
            Some(name) if self.time_numbers.is_some() && stamp.parse::<f64>().is_ok() => {
                format!("{name} {stamp}")
            }
            _ => stamp,
        }
    }

    /// How the file was read, for a report: `';'-separated, decimal comma,
    /// times without a zone, read as UTC, Windows-1252` (the encoding only
    /// when not UTF-8).
    pub fn read_as(&self) -> String {
        let mut parts = vec![match self.delimiter {
            '\t' => "tab-separated".to_string(),
            d => format!("{d:?}-separated"),
        }];
        parts.extend(self.decimal.map(|d| d.to_string()));
        parts.extend(self.date_order.map(|o| {
            match o {
                DateOrder::DayFirst => "dates day/month/year",
                DateOrder::MonthFirst => "dates month/day/year",
            }
            .to_string()
        }));
        if self.input_unit.is_some() || self.output_unit.is_some() {
            parts.extend(self.units_from.map(str::to_string));
        }
        // `publish` stamps its messages, and the model its span, so: a
        // local time's hour off where the reader does not know it.
        if self.time_local {
            parts.push("times without a zone, read as UTC (--time-zone names theirs)".into());
        }
        match (&self.time_zone, self.time_zone_unused) {
            (Some(z), false) => parts.push(format!("times in {z}")),
            (Some(z), true) => parts.push(format!(
                "--time-zone {z} unused: the stamps carry their offsets, or are numbers"
            )),
            (None, _) => {}
        }
        if self.encoding != Encoding::Utf8.name() {
            parts.push(self.encoding.to_string());
        }
        parts.join(", ")
    }

    /// Rows of a several devices' file that name no device, skipped
    /// (`--skip-bad-rows`): no stream's recording has them; only a time column
    /// shows which device lost a row.
    pub fn unnamed_note(&self) -> Option<String> {
        let n = self.unnamed_rows;
        let column = self.stream_column.as_deref()?;
        (n > 0).then(|| {
            format!(
                "{n} row(s) name no device in column {column:?} (the first on line {}): skipped, \
                 as no device's rows; {}",
                self.first_unnamed_line.unwrap_or_default(),
                if self.time_name.is_some() {
                    "a device's row lost so is a step in its time column, as any missing row \
                     (a step over --max-gap splits its windows)"
                } else {
                    "without a time column nothing shows which device lost a row, and its \
                     windows may span it (--time-column shows it)"
                }
            )
        })
    }

    /// The input channel's unit, as [`Self::output_unit`] finds it.
    pub fn input_unit(&self) -> Option<&str> {
        (self.input_unit.as_deref()).or_else(|| crate::eval::unit_of(&self.input_name))
    }

    /// The output channel's unit: the file's units row's, else what its
    /// name ends with (`Flow [m³/h]`).
    pub fn output_unit(&self) -> Option<&str> {
        (self.output_unit.as_deref()).or_else(|| crate::eval::unit_of(&self.output_name))
    }

    /// A channel's name for a figure's axis, with its unit when the file
    /// gives it in a row of its own.
    pub fn label(name: &str, unit: Option<&String>) -> String {
        match unit {
            Some(u) => format!("{name} ({u})"),
            None => name.to_string(),
        }
    }

    /// The time column's sampling interval and late samples, for a data
    /// line: `a row every 10 ms; 173 late or missing samples kept`.
    pub fn cadence(&self) -> Option<String> {
        let step = time::span(self.time_step?);
        let mut said = match self.late_steps {
            0 => format!("a row every {step}"),
            n => format!(
                "a row every {step}; {n} step(s) of 1.5 rows or more kept (late or missing \
                 samples: windows span them; --max-gap splits there)"
            ),
        };
        if let (n, Some(first)) = (self.repeated_times, self.first_repeat) {
            said.push_str(&format!(
                "; {n} row(s) at the time of the row before (the first: data row {first}), kept \
                 as samples, as `serve` takes a repeated ts: if the export wrote rows twice, \
                 drop the copies"
            ));
        }
        Some(said)
    }

    /// Said where this recording's rows are further apart (or closer) in
    /// time than the training rows were (`trained`: seconds per row): a
    /// window of `window` rows then spans another length of time than the
    /// model learnt from, and its translations mean little.
    /// With `max_gap` (seconds), the gap at which `serve` restarts a
    /// stream's windows for this model by default: a recording whose rows
    /// come further apart would give no window at all when served, though
    /// `eval` scores it.
    pub fn other_rate(&self, trained: f64, window: usize, max_gap: Option<f64>) -> Option<String> {
        let step = self.time_step?;
        if trained.is_nan() || trained <= 0.0 || (step / trained - 1.0).abs() <= 0.01 {
            return None;
        }
        let w = window as f64;
        let served = max_gap.filter(|&g| step > g).map_or(String::new(), |g| {
            format!(
                "; served, it would give no translation at all: `serve` restarts a stream's \
                 window where its samples' ts jump by more than {} (the gap this model's \
                 training recording was split at), and every row here is further apart (a \
                 route's max_gap in the configuration sets another)",
                time::span(g)
            )
        });
        Some(format!(
            "a row every {} where the model was trained on a row every {}: a window of {window} \
             rows spans {} here against {} in training; read it on the training clock \
             (--resample {}, which publish and tail take too){served}",
            time::span(step),
            time::span(trained),
            time::span(step * w),
            time::span(trained * w),
            super::resample::flag_span(trained),
        ))
    }
}

/// Seconds since a start as a time column writes them: a number
/// (`43486.25`), or elapsed `h:mm:ss[.fff]` for a column of clock times
/// (`clock`), to the millisecond.
fn since_start(seconds: f64, clock: bool) -> String {
    let ms = (seconds * 1000.0).round() as i64;
    let fraction = match ms % 1000 {
        0 => String::new(),
        f => format!(".{f:03}"),
    };
    if !clock {
        let fraction = fraction.trim_end_matches('0');
        return format!("{}{fraction}", ms / 1000);
    }
    let s = ms / 1000;
    format!("{}:{:02}:{:02}{fraction}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::since_start;

    #[test]
    fn a_time_since_a_start_is_written_as_its_column_writes_it() {
        // Each as --exclude reads it back.
        for (t, clock, text) in [
            (43486.0, false, "43486"),
            (43486.25, false, "43486.25"),
            (0.008, false, "0.008"),
            (3725.008, true, "1:02:05.008"),
            (90061.0, true, "25:01:01"),
        ] {
            assert_eq!(since_start(t, clock), text);
            let back = if clock {
                super::super::dates::elapsed(text)
            } else {
                text.parse().ok()
            };
            assert!(back.is_some_and(|b: f64| (b - t).abs() < 1e-9), "{text}");
        }
    }

    /// A stamp in the unit the column's name gives (`t_ms`: ms, as
    /// `--exclude` reads it there), and a date before 1990 as a date.
    #[test]
    fn a_stamp_is_in_its_columns_unit_and_an_old_date_stays_one() {
        use crate::recording::{Column, CsvOptions, Recording};
        let read = |text: &str, time: &str| {
            let opts = CsvOptions {
                input: Column::Name("x".into()),
                output: Column::Name("y".into()),
                time: vec![Column::Name(time.into())],
                ..Default::default()
            };
            Recording::from_bytes(text.as_bytes(), std::path::Path::new("r.csv"), &opts).unwrap()
        };
        let mut ms = String::from("t_ms,x,y\n");
        let mut river = String::from("date,x,y\n");
        for k in 0..40 {
            ms += &format!("{},{k},{k}\n", 250 * k);
            if k < 30 {
                river += &format!("1975-06-{:02},{k},{k}\n", 1 + k);
            }
        }
        let r = read(&ms, "t_ms");
        assert_eq!(
            (r.stamp(1.5), r.time_text(1.5)),
            ("1500".into(), "t_ms 1500".into())
        );
        assert!(r.timed_from_start());
        let r = read(&river, "date");
        assert!(r.stamp(r.row_times[3].unwrap()).starts_with("1975-06-04"));
        assert!(!r.timed_from_start());
    }
}
