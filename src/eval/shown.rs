//! How scores are shown: numbers to the digits that tell them apart,
//! the table of the model against its baselines, and the error of each
//! window's newest value.

use super::{Comparison, Score, squared};

/// `x` with four significant digits, in plain notation where that is
/// short (`0.4661`, `12.35`, `1234`), else scientific (`3.162e-4`).
pub fn significant(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || a == 0.0 {
        return format!("{x}");
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{x:.3e}");
    }
    let digits = (3 - a.log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

/// `center ± spread`, the center to as many digits as the spread needs to
/// be told apart (`101325 ± 48.21`, `2.0012e-6 ± 1.930e-8`): four decimals
/// made a current in amperes `0.0000 ± 0.0000`.
pub fn around(center: f64, spread: f64) -> String {
    let s = significant(spread);
    if !(center.is_finite() && spread.is_finite()) || spread <= 0.0 || center == 0.0 {
        return format!("{} ± {s}", significant(center));
    }
    // Two digits of the spread.
    let step = 10f64.powf(spread.log10().floor() - 1.0);
    let a = center.abs();
    if (1e-3..1e7).contains(&a) && step >= 1e-9 {
        let decimals = (-step.log10().round()).max(0.0) as usize;
        format!("{center:.decimals$} ± {s}")
    } else {
        let digits = (a / step).log10().ceil().clamp(1.0, 9.0) as usize;
        format!("{center:.digits$e} ± {s}")
    }
}

/// A t statistic as said: one decimal, or `< -1e9` where the difference
/// was the same in every stretch.
pub fn t_figure(t: f64) -> String {
    if t.abs() >= 1e9 {
        format!("{}1e9", if t < 0.0 { "< -" } else { "> " })
    } else {
        format!("{t:.1}")
    }
}

impl Comparison {
    /// The printed table (the same figures as the JSON report, and the
    /// root of each MSE: an error in the channel's own `unit`, when its
    /// column name says it, as `Vorlauf [°C]` does).
    pub fn table(&self, unit: Option<&str>) -> String {
        let on = match (self.held_out, self.never_seen) {
            (true, false) => format!("on {} held-out windows", self.windows),
            (true, true) => format!("on {} unseen windows", self.windows),
            (false, _) => "IN-SAMPLE (training rows)".to_string(),
        };
        let rmse = unit.map_or("RMSE".to_string(), |u| format!("RMSE {u}"));
        let mse = unit.map_or("MSE".to_string(), |u| format!("MSE {}", squared(u)));
        // A long unit (a logger's `Deg C`) widens its columns.
        let width = |h: &str| (h.chars().count() + 2).max(12);
        let (wr, wm) = (width(&rmse), width(&mse));
        let row = |name: &str, s: &Score| {
            format!(
                "  {name:<26} {:>wr$} {:>wm$.4e} {:>10.4}\n",
                significant(s.mse.sqrt()),
                s.mse,
                s.nmse
            )
        };
        let mut t = format!("  {on:<26} {rmse:>wr$} {mse:>wm$} {:>10}\n", "NMSE");
        t += &row("model", &self.model);
        t += &row("linear map (baseline)", &self.linear_baseline);
        t += &row("mean (baseline)", &self.mean_baseline);
        t
    }
}

/// The error of each window's last value, the newest (what a live display
/// of each translation's latest value shows: an air-quality map's current
/// hour), where it differs from the error over all values by a fifth or
/// more (the newest hour's RMSE was 6.5 µg/m³ where the table said 4.3):
/// `target` and the predictions row-major, windows of `w`.
pub fn newest_line(
    target: &[f32],
    model: &[f32],
    linear: &[f32],
    w: usize,
    unit: Option<&str>,
) -> Option<String> {
    let [newest, linear, all] = newest_rmse(target, model, linear, w)?;
    if !(newest.is_finite() && all > 0.0) || (0.8..1.25).contains(&(newest / all)) {
        return None;
    }
    let rmse = |x: f64| unit.map_or(significant(x), |u| format!("{} {u}", significant(x)));
    Some(format!(
        "newest     each window's newest value (the last, what a live display of each translation's latest value \
         shows): RMSE model {}, linear map {} (over all its values, as above: {})",
        rmse(newest),
        rmse(linear),
        rmse(all)
    ))
}

/// The RMSE of each window's newest value, the model's and the linear
/// map's, and the model's over all values (`eval --json`'s `newest`).
pub fn newest_rmse(target: &[f32], model: &[f32], linear: &[f32], w: usize) -> Option<[f64; 3]> {
    if w < 2 || target.len() < w || model.len() != target.len() || linear.len() != target.len() {
        return None;
    }
    // The root of the mean squared difference over the windows' values
    // from `from` on (`w - 1`: the newest alone).
    let rmse = |p: &[f32], from: usize| {
        let rows = p.chunks_exact(w).zip(target.chunks_exact(w));
        let (sum, n) = (rows.flat_map(|(p, t)| p[from..].iter().zip(&t[from..])))
            .fold((0f64, 0usize), |(s, n), (p, t)| {
                (s + (f64::from(*p) - f64::from(*t)).powi(2), n + 1)
            });
        (sum / n.max(1) as f64).sqrt()
    };
    Some([rmse(model, w - 1), rmse(linear, w - 1), rmse(model, 0)])
}
