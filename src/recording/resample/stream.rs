//! One stream's changes, a change's value as a cell gives it, and the
//! unit its rows say.

/// The unit a channel's rows say: the one they all say, else none.
#[derive(Debug, Clone, Default)]
pub(super) enum UnitSeen {
    #[default]
    Unsaid,
    One(String),
    /// Two of those its rows say (a unit changed within the export).
    Several(String, String),
}

impl UnitSeen {
    pub fn see(&mut self, unit: &str) {
        if unit.is_empty() {
            return;
        }
        *self = match std::mem::take(self) {
            Self::Unsaid => Self::One(unit.to_string()),
            Self::One(u) if u == unit => Self::One(u),
            Self::One(u) => Self::Several(u, unit.to_string()),
            several => several,
        };
    }

    pub fn unit(&self) -> Option<String> {
        match self {
            Self::One(u) => Some(u.clone()),
            _ => None,
        }
    }

    /// What the data line says of a channel `name` whose rows say several.
    pub fn said(&self, name: &str) -> String {
        match self {
            Self::Several(a, b) => format!(
                "; {name:?}'s rows say several units ({a:?}, {b:?}, …): none is taken as its own \
                 (a unit changed within the export? its values are read as they stand)"
            ),
            _ => String::new(),
        }
    }
}

/// One stream's changes (a device's, with `--stream-column`).
pub(super) struct Stream {
    pub name: Option<String>,
    /// (time, channel, value or none: a word).
    pub changes: Vec<(f64, usize, Option<f64>)>,
    pub first: f64,
    pub last: f64,
    /// Each channel's last time in file order.
    pub last_in_file: [Option<f64>; 2],
}

impl Stream {
    /// The time goes back (or stays) at `t` for channel `ch`, where an
    /// earlier row read `v` (its changes, in file order, still in time
    /// order there): a row repeated in an export written twice.
    pub fn again(&self, t: f64, ch: usize, v: Option<f64>) -> bool {
        if self.last_in_file[ch].is_none_or(|last| t > last) {
            return false;
        }
        let from = self.changes.partition_point(|c| c.0 < t);
        (self.changes[from..].iter())
            .take_while(|c| c.0 == t)
            .any(|c| c.1 == ch && c.2.map(f64::to_bits) == v.map(f64::to_bits))
    }

    /// Its first tick and how many, on a clock of `every` (seconds): from
    /// its first row's time to its last's.
    pub fn ticks(&self, every: f64) -> (f64, f64) {
        let start = (self.first / every).ceil() * every;
        (
            start,
            (((self.last - start) / every).floor() + 1.0).max(0.0),
        )
    }

    /// Each tick's time and the values held there (a change is held until
    /// the next, at most `max_gap`; a word holds none), its changes in
    /// time order.
    pub fn each_tick(
        &self,
        every: f64,
        max_gap: Option<f64>,
        mut f: impl FnMut(f64, Option<f64>, Option<f64>),
    ) {
        let (start, ticks) = self.ticks(every);
        // Each channel's latest change: its time, and its value.
        let mut latest: [Option<(f64, Option<f64>)>; 2] = [None; 2];
        let mut next = 0;
        for i in 0..ticks as u64 {
            let tick = start + i as f64 * every;
            while let Some(&(t, ch, v)) = self.changes.get(next).filter(|c| c.0 <= tick) {
                latest[ch] = Some((t, v));
                next += 1;
            }
            let held = |l: Option<(f64, Option<f64>)>| match l {
                Some((t, v)) if max_gap.is_none_or(|g| tick - t <= g) => v,
                _ => None,
            };
            f(tick, held(latest[0]), held(latest[1]));
        }
    }

    pub fn new(name: Option<String>) -> Self {
        Self {
            name,
            changes: Vec::new(),
            first: f64::INFINITY,
            last: f64::NEG_INFINITY,
            last_in_file: [None; 2],
        }
    }
}

/// A value cell: its number, `None` for a word a sensor says instead of one
/// (`unavailable`, `unknown`, `ON`) or a `--missing` code, or why it is
/// neither (a typo: `12..5`). `comma`: the decimal separator given
/// (`--decimal`); else a lone comma in a file not separated by commas is
/// one, and of a point and a comma the last.
pub(super) fn value_of(
    cell: &[u8],
    comma: Option<bool>,
    delimiter: u8,
    missing: &[f32],
) -> std::result::Result<Option<f64>, String> {
    let text = String::from_utf8_lossy(cell);
    let text = text.trim().trim_matches('"').trim();
    let comma = comma.unwrap_or_else(|| match (text.rfind(','), text.rfind('.')) {
        (Some(c), Some(p)) => c > p,
        (Some(_), None) => delimiter != b',' && text.matches(',').count() == 1,
        _ => false,
    });
    // Read as the reader reads a cell of that convention (its grouping too).
    let decimal = if comma {
        super::super::Decimal::Comma
    } else {
        super::super::Decimal::Point
    };
    let convention = super::super::numbers::Convention {
        decimal,
        shown_by: String::new(),
    };
    match super::super::numbers::number_f64(text, &convention) {
        Ok(v) if v.is_finite() && !missing.contains(&(v as f32)) => Ok(Some(v)),
        Ok(_) => Ok(None),
        Err(_) if text.bytes().any(|b| b.is_ascii_digit()) => {
            Err(format!("{text:?} is not a number"))
        }
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::UnitSeen;

    /// A channel's unit is the one all its rows say; rows that say
    /// several (ppb here, µg/m³ there) say none, and empty cells nothing.
    #[test]
    fn a_channels_unit_is_the_one_its_rows_say() {
        let seen = |units: &[&str]| {
            let mut u = UnitSeen::default();
            units.iter().for_each(|x| u.see(x));
            u.unit()
        };
        assert_eq!(seen(&["µg/m³", "", "µg/m³"]), Some("µg/m³".into()));
        assert_eq!(seen(&["ppb", "µg/m³"]), None);
        let mut u = UnitSeen::default();
        ["µg/m³", "mg/m³", "ppb"].iter().for_each(|x| u.see(x));
        assert!(
            u.said("pm10")
                .contains(r#""pm10"'s rows say several units ("µg/m³", "mg/m³", …)"#)
        );
        assert_eq!(seen(&["", ""]), None);
    }
}
