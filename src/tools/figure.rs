//! `tail --plot`: one stream's translations against its input and truth.

use super::Signal;
use crate::error::{Error, Result};
use crate::plot::{self, Chart, Line};
use crate::wire::Translation;

/// Input, translation and truth of one stream: the translations of the
/// first few windows that do not overlap (every W-th), laid end to end.
pub(super) fn plot_stream(
    path: &std::path::Path,
    windows: &[Translation],
    signal: Option<&Signal>,
    y_label: &str,
) -> Result<()> {
    let Some(first) = windows.first() else {
        return Err(Error::Plot {
            path: path.to_path_buf(),
            reason: "no translation arrived".into(),
        });
    };
    // A model trained on a recording has no curve of its own: without the
    // recording (`signal`: its or the pair's), the translation alone.
    let signal = signal.cloned();
    let w = first.values.len() as u64;
    let start = first.seq;
    let mut translated = Vec::new();
    let mut next = start;
    // Eight windows (192 samples for W = 24): a few periods stay readable.
    for t in windows {
        if next >= start + 8 * w {
            break;
        }
        if t.seq == next {
            for (k, v) in t.values.iter().enumerate() {
                translated.push(((t.seq + k as u64) as f64, *v as f64));
            }
            next += w;
        }
    }
    let end = next.max(start + w);
    // A skipped row's missing value breaks the line (NaN): none is drawn
    // across it.
    let curve = |signal: &Signal, f: fn(&Signal, u64) -> Option<f32>| -> Vec<(f64, f64)> {
        (start..end)
            .map(|s| (s as f64, f(signal, s).map_or(f64::NAN, f64::from)))
            .collect()
    };
    let title = format!(
        "{}: stream {}, seq {start}..{end}, translated live through NATS",
        first.pair, first.stream
    );
    let mut lines = Vec::with_capacity(3);
    // A recording's input is in other units than its output: only a pair's
    // curves share an axis.
    if let Some(s @ Signal::Pair(_)) = &signal {
        lines.push(Line::new(
            "input (published)".to_string(),
            curve(s, Signal::input_at),
            plot::BLUE,
        ));
    }
    if let Some(s) = &signal {
        lines
            .push(Line::new("truth".to_string(), curve(s, Signal::output_at), plot::GREY).dashed());
    }
    lines.push(Line::new(
        "translation (non-overlapping windows)".to_string(),
        translated,
        plot::RED,
    ));
    plot::line_chart(
        path,
        &Chart {
            title: &title,
            x_label: "sample (seq)",
            y_label,
            log_y: false,
        },
        &lines,
    )
}
