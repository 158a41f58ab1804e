//! A regular logger's rows read on a clock (an hourly export in long
//! format): its rows are readings, not changes, so a value is not held
//! across an outage (as a change is until the next, however long): where
//! no `--max-gap` is given, one of three of its steps ends a hold. Told
//! by its rows: at one step (but for outages), and some repeating the
//! value before (a recording of changes has no row where none changed; a
//! sensor changing at every tick of its own looks regular too).

/// Steps within this fraction of the median are the median's.
const SAME: f64 = 0.01;

/// The step a channel's rows come at, where they are regular: at least
/// nine in ten of its steps (`times`: each stream's, sorted) the median.
pub(super) fn step(times: &[Vec<f64>]) -> Option<f64> {
    let mut steps: Vec<f64> = (times.iter())
        .flat_map(|t| t.windows(2).map(|w| w[1] - w[0]))
        .filter(|&s| s > 0.0)
        .collect();
    if steps.len() < 10 {
        return None;
    }
    steps.sort_by(f64::total_cmp);
    let median = steps[steps.len() / 2];
    let same = (steps.iter())
        .filter(|&&s| (s - median).abs() <= SAME * median)
        .count();
    (10 * same >= 9 * steps.len()).then_some(median)
}

/// One stream's rows of a channel, in time order: time, value or none.
pub(super) type Rows = Vec<(f64, Option<f64>)>;

/// Whether a channel's rows (each stream's, in time order: time, value or
/// none) repeat the value before at another time: at least 3, and one in a
/// thousand.
pub(super) fn repeats(rows: &[Vec<(f64, Option<f64>)>]) -> bool {
    let (n, of) = rows.iter().fold((0, 0), |(n, of), r| {
        let again = (r.windows(2))
            .filter(|w| w[0].1.is_some() && w[0].1 == w[1].1 && w[0].0 != w[1].0)
            .count();
        (n + again, of + r.len())
    });
    n >= 3 && 1000 * n >= of
}

/// The steps both channels' rows (each stream's, in time order: time,
/// value or none) come at, where they are a logger's: regular, and some
/// repeating the value before.
pub(super) fn logger(rows: [Vec<Rows>; 2]) -> Option<(f64, f64)> {
    let times = |rows: &[Rows]| -> Vec<Vec<f64>> {
        (rows.iter())
            .map(|r| r.iter().map(|(t, _)| *t).collect())
            .collect()
    };
    let steps = step(&times(&rows[0])).zip(step(&times(&rows[1])))?;
    (repeats(&rows[0]) || repeats(&rows[1])).then_some(steps)
}

/// The hold for rows of both channels regular at `steps` on a clock of
/// `every` (seconds): three of the slower's steps, and two ticks at least
/// (a shorter hold reads nothing of some rows).
pub(super) fn hold(steps: [f64; 2], every: f64) -> f64 {
    (3.0 * steps[0].max(steps[1])).max(2.0 * every)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_at_one_step_but_for_outages_are_a_loggers() {
        let hourly: Vec<f64> = (0..100)
            .filter(|h| !(40..58).contains(h))
            .map(|h| h as f64 * 3600.0)
            .collect();
        assert_eq!(step(&[hourly]), Some(3600.0));
        // Changes at no rate (a Home Assistant sensor's).
        let changes: Vec<f64> = (0..100).map(|i| (i * i % 97) as f64 * 61.0).collect();
        let mut changes = changes;
        changes.sort_by(f64::total_cmp);
        assert_eq!(step(&[changes]), None);
        assert_eq!(step(&[vec![0.0, 1.0, 2.0]]), None, "too few to tell");
        assert_eq!(hold([3600.0, 60.0], 60.0), 10_800.0);
        let rows = |values: &[f64]| {
            let r = values.iter().enumerate().map(|(i, v)| (i as f64, Some(*v)));
            vec![r.collect::<Vec<_>>()]
        };
        assert!(repeats(&rows(&[1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0])));
        assert!(!repeats(&rows(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])));
        // The same row twice (an attribute's update, the state as it was).
        let same = vec![vec![(0.0, Some(1.0)), (0.0, Some(1.0)), (1.0, Some(2.0))]; 3];
        assert!(!repeats(&same));
        assert_eq!(hold([60.0, 60.0], 3600.0), 7200.0);
    }
}
