//! `--exclude FROM..TO`: a stretch of a recording left out by its time (a
//! planned shutdown, a commissioning week, a calibration), as rows skipped
//! for a bad cell are: windows never span it, and the rows on either side
//! are read as they are. A stop trained on sets the scaling, the linear
//! map and the model's error, and the user knows when it was.

use super::{CsvOptions, Recording, Segment};

/// One stretch to leave out, as given: its first and last stamp, written
/// as the file's time column writes them, and the file it is of, where
/// named (`p1.csv@5:30.000..5:32.500`: times since each file's start name
/// a stretch of every file otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct Exclude {
    pub from: String,
    pub to: String,
    pub file: Option<String>,
}

impl Exclude {
    /// `FROM..TO` (`2026-10-27 08:00..2026-10-27 14:00`), or
    /// `FILE@FROM..TO` for one of several files.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (file, stretch) = match text.rsplit_once('@') {
            Some((f, s)) if !f.trim().is_empty() => (Some(f.trim().to_string()), s),
            _ => (None, text),
        };
        let mut said = Self::stretch(stretch)?;
        said.file = file;
        Ok(said)
    }

    fn stretch(text: &str) -> Result<Self, String> {
        let (from, to) = text.split_once("..").ok_or_else(|| {
            format!(
                "{text:?}: a stretch is FROM..TO, two time stamps as the time column writes them"
            )
        })?;
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() {
            return Err(format!("{text:?}: FROM..TO needs both stamps"));
        }
        Ok(Self {
            from: from.into(),
            to: to.into(),
            file: None,
        })
    }

    /// Whether it is of the file at `path` (one it names by its path, or
    /// by its name alone), or of every file.
    pub fn of(&self, path: &std::path::Path) -> bool {
        self.file.as_deref().is_none_or(|f| {
            let f = std::path::Path::new(f.strip_prefix("./").unwrap_or(f));
            path == f || path.ends_with(f)
        })
    }

    /// The stretch as given.
    pub fn flag(&self) -> String {
        let file = self
            .file
            .as_ref()
            .map_or(String::new(), |f| format!("{f}@"));
        format!("{file}{}..{}", self.from, self.to)
    }
}

/// What to say of `--exclude` over several files: a stretch naming a file
/// none of them is (an error), or one naming no file that left rows out of
/// several whose times count from each one's start (five minutes into
/// every patient's export, for one patient's flush).
pub fn across_files(excludes: &[Exclude], files: &[&Recording]) -> Result<Option<String>, String> {
    if let Some(e) =
        (excludes.iter()).find(|e| e.file.is_some() && !files.iter().any(|r| e.of(&r.path)))
    {
        let names: Vec<String> = files
            .iter()
            .map(|r| format!("{:?}", r.path.display().to_string()))
            .collect();
        return Err(format!(
            "--exclude {:?} names no file read (they are {})",
            e.flag(),
            names.join(", ")
        ));
    }
    let hit: Vec<&&Recording> = (files.iter())
        .filter(|r| r.excluded > 0 && r.timed_from_start())
        .collect();
    let shared: Vec<&Exclude> = excludes.iter().filter(|e| e.file.is_none()).collect();
    if hit.len() < 2 || shared.is_empty() {
        return Ok(None);
    }
    let counts: Vec<String> = (hit.iter())
        .map(|r| format!("{} {}", r.source(), r.excluded))
        .collect();
    let first = hit[0]
        .path
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into());
    Ok(Some(format!(
        "--exclude left rows out of {} files ({}): their times count from each file's start, so a \
         stretch is read in every one; for one file's, name it (--exclude '{first}@{}..{}')",
        hit.len(),
        counts.join(", "),
        shared[0].from,
        shared[0].to
    )))
}

/// The stretches `opts.exclude` gives, as `[from, to]` in seconds (their
/// stamps read by `seconds`, and in `opts.time_zone`, as the rows' stamps
/// are). Read before the rows: a row with a bad cell inside one is left
/// out, not refused (a thermocouple open all the day a user excludes).
pub(super) fn ranges(
    opts: &CsvOptions,
    path: &std::path::Path,
    seconds: impl Fn(&[u8]) -> Result<f64, String>,
) -> crate::error::Result<Vec<(f64, f64)>> {
    let mine: Vec<&Exclude> = opts.exclude.iter().filter(|e| e.of(path)).collect();
    let path = path.display().to_string();
    let fail = |why: String| crate::error::Error::Data(format!("{path}: {why}"));
    if !opts.exclude.is_empty() && opts.time.is_empty() {
        return Err(fail(
            "--exclude leaves out rows by their time: name the time column (--time-column)".into(),
        ));
    }
    let mut ranges = Vec::with_capacity(opts.exclude.len());
    for s in mine {
        let read = |t: &str| {
            let at =
                seconds(t.as_bytes()).map_err(|why| fail(format!("--exclude {t:?}: {why}")))?;
            let wall =
                (opts.time_zone.as_ref()).filter(|_| super::time::local_text(t.as_bytes(), None));
            Ok::<f64, crate::error::Error>(wall.map_or(at, |z| z.to_utc(at, None)))
        };
        let (from, to) = (read(&s.from)?, read(&s.to)?);
        if to < from {
            return Err(fail(format!(
                "--exclude {}..{}: it ends before it begins",
                s.from, s.to
            )));
        }
        ranges.push((from, to));
    }
    Ok(ranges)
}

/// Whether time `t` lies within one of `ranges` (bounds included).
pub(super) fn within(ranges: &[(f64, f64)], t: f64) -> bool {
    ranges.iter().any(|&(a, b)| t >= a && t <= b)
}

/// Leaves out `rec`'s rows whose time lies within any of `ranges` (see
/// [`ranges`]), splitting the segments there, and counts them
/// (`rec.excluded`).
pub(super) fn apply(rec: &mut Recording, ranges: &[(f64, f64)]) -> crate::error::Result<()> {
    if ranges.is_empty() {
        return Ok(());
    }
    let times = &rec.row_times;
    let inside =
        |row: usize| (times.get(row).copied().flatten()).is_some_and(|t| within(ranges, t));
    let mut kept = Vec::with_capacity(rec.segments.len());
    let mut excluded = 0;
    for s in std::mem::take(&mut rec.segments) {
        let mut from = None;
        let part = |from: usize, to: usize| Segment {
            start: s.start + from,
            input: s.input[from..to].to_vec(),
            output: s.output[from..to].to_vec(),
        };
        for k in 0..s.len() {
            match (inside(s.start + k), from) {
                (true, Some(f)) => {
                    excluded += 1;
                    kept.push(part(f, k));
                    from = None;
                }
                (true, None) => excluded += 1,
                (false, None) => from = Some(k),
                (false, Some(_)) => {}
            }
        }
        if let Some(f) = from {
            kept.push(part(f, s.len()));
        }
    }
    rec.segments = kept;
    rec.excluded = excluded;
    if excluded > 0 && excluded >= rec.rows {
        return Err(crate::error::Error::Data(format!(
            "{}: --exclude left out every one of its {} rows",
            rec.path.display(),
            rec.rows
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::Column;

    fn read(text: &str, exclude: &[&str], zone: Option<&str>) -> crate::error::Result<Recording> {
        let opts = CsvOptions {
            input: Column::Name("x".into()),
            output: Column::Name("y".into()),
            time: vec![Column::Name("t".into())],
            exclude: exclude.iter().map(|e| Exclude::parse(e).unwrap()).collect(),
            time_zone: zone.map(|z| crate::recording::Zone::parse(z).unwrap()),
            ..Default::default()
        };
        Recording::from_bytes(text.as_bytes(), std::path::Path::new("rec.csv"), &opts)
    }

    /// A stretch given by its stamps, bounds included, is left out as
    /// skipped rows are: the rows around it in segments of their own,
    /// counted; local stamps read in the zone named, as the rows'.
    #[test]
    fn a_stretch_of_time_is_left_out_by_its_stamps() {
        let mut text = String::from("t,x,y\n");
        for m in 0..100 {
            text += &format!("2026-10-27 {:02}:{:02}:00,{m},{m}\n", 8 + m / 60, m % 60);
        }
        let r = read(&text, &["2026-10-27 08:40..2026-10-27 08:49:00"], None).unwrap();
        assert_eq!(r.excluded, 10);
        let spans: Vec<(usize, usize)> = r.segments.iter().map(|s| (s.start, s.len())).collect();
        assert_eq!(spans, [(0, 40), (50, 50)]);
        assert_eq!(r.segments[1].input[0], 50.0);
        // The held-out part is 20% of the rows kept, not of those read.
        let (train, valid) = r.split(0.2);
        let len = |p: &[Segment]| p.iter().map(Segment::len).sum::<usize>();
        assert_eq!((len(&train), len(&valid)), (72, 18));
        // Two stretches, one past the end; in Berlin's time, the bounds
        // read in it as the rows are (read as UTC, they would leave out
        // none of the rows, an hour later).
        let r = read(
            &text,
            &[
                "2026-10-27 08:00..2026-10-27 08:04",
                "2026-10-27 09:30..2026-10-27 23:00",
            ],
            None,
        )
        .unwrap();
        assert_eq!(r.excluded, 5 + 10);
        let zoned = read(
            &text,
            &["2026-10-27 08:40..2026-10-27 08:49"],
            Some("Europe/Berlin"),
        )
        .unwrap();
        assert_eq!(zoned.excluded, 10, "{zoned:?}");
        // Said clearly: a stamp that is none, one that ends before it
        // begins, no time column.
        let bad = read(&text, &["2026-10-27 08:40..yesterday"], None).unwrap_err();
        assert!(bad.to_string().contains("--exclude \"yesterday\""), "{bad}");
        let all = read(&text, &["2026-10-27 07:00..2026-10-27 10:00"], None).unwrap_err();
        assert!(
            all.to_string()
                .contains("left out every one of its 100 rows"),
            "{all}"
        );
        let back = read(&text, &["2026-10-27 08:40..2026-10-27 08:00"], None).unwrap_err();
        assert!(
            back.to_string().contains("it ends before it begins"),
            "{back}"
        );
        assert!(Exclude::parse("2026-10-27").is_err());
        let opts = CsvOptions {
            exclude: vec![Exclude::parse("1..2").unwrap()],
            ..Default::default()
        };
        let none = Recording::from_bytes(b"1,2\n3,4\n", std::path::Path::new("r.csv"), &opts);
        assert!(
            none.unwrap_err()
                .to_string()
                .contains("name the time column")
        );
    }

    /// A row with a bad cell (a thermocouple open) inside a stretch left
    /// out is left out with it, not refused; one outside still is.
    #[test]
    fn a_bad_cell_inside_a_stretch_left_out_is_left_out() {
        let mut text = String::from("t,x,y\n");
        for m in 0..60 {
            let x = if (20..25).contains(&m) {
                "NAN".into()
            } else {
                m.to_string()
            };
            text += &format!("2026-03-08 08:{m:02}:00,{x},{m}\n");
        }
        let e = read(&text, &[], None).unwrap_err();
        assert!(e.to_string().contains("line 22"), "{e}");
        let r = read(&text, &["2026-03-08 08:18..2026-03-08 08:29"], None).unwrap();
        assert_eq!((r.rows, r.skipped, r.excluded_skipped), (55, 5, 5));
        assert_eq!(r.excluded, 7, "the stretch's good rows");
        assert!(r.skipped_examples.is_empty(), "{r:?}");
        let spans: Vec<(usize, usize)> = r.segments.iter().map(|s| (s.start, s.len())).collect();
        assert_eq!(spans, [(0, 18), (30, 30)]);
        let e = read(&text, &["2026-03-08 08:21..2026-03-08 08:29"], None).unwrap_err();
        assert!(e.to_string().contains("line 22"), "{e}");
    }
}

#[cfg(test)]
mod files {
    use super::*;
    use crate::recording::Column;

    /// Two bedside exports, each timed from its own start: a stretch naming
    /// no file is read in both (warned), one naming a file only in it, one
    /// naming a file not read refused.
    #[test]
    fn a_stretch_of_one_file_of_several_names_it() {
        let mut text = String::from("t,x,y\n");
        for k in 0..400 {
            text += &format!("{}.{:03},{k},{k}\n", k / 125, k % 125 * 8);
        }
        let read = |name: &str, exclude: &[&str]| {
            let opts = CsvOptions {
                input: Column::Name("x".into()),
                output: Column::Name("y".into()),
                time: vec![Column::Name("t".into())],
                exclude: exclude.iter().map(|e| Exclude::parse(e).unwrap()).collect(),
                ..Default::default()
            };
            let path = std::path::PathBuf::from(format!("data/{name}"));
            Recording::from_bytes(text.as_bytes(), &path, &opts).unwrap()
        };
        let both = ["1.000..1.496"];
        let (a, b) = (read("p1.csv", &both), read("p2.csv", &both));
        assert_eq!((a.excluded, b.excluded), (63, 63));
        let excludes: Vec<Exclude> = both.iter().map(|e| Exclude::parse(e).unwrap()).collect();
        let w = across_files(&excludes, &[&a, &b]).unwrap().unwrap();
        assert!(
            w.contains("left rows out of 2 files (data/p1.csv 63, data/p2.csv 63)")
                && w.contains("--exclude 'p1.csv@1.000..1.496'"),
            "{w}"
        );
        let one = ["p1.csv@1.000..1.496"];
        let (a, b) = (read("p1.csv", &one), read("p2.csv", &one));
        assert_eq!((a.excluded, b.excluded), (63, 0));
        let excludes: Vec<Exclude> = one.iter().map(|e| Exclude::parse(e).unwrap()).collect();
        assert_eq!(across_files(&excludes, &[&a, &b]), Ok(None));
        let other = [Exclude::parse("data/p9.csv@1..2").unwrap()];
        let e = across_files(&other, &[&a, &b]).unwrap_err();
        assert!(e.contains("names no file read"), "{e}");
        assert_eq!(other[0].flag(), "data/p9.csv@1..2");
    }
}
