//! PNG line charts (training curves, translated vs. true signal), drawn with
//! plotters' bitmap backend and an embedded DejaVu Sans, so a machine without
//! fonts installed still gets labelled pictures. The picture is drawn in
//! memory and written by the `png` crate: plotters' own encoder would bring
//! the whole `image` crate (JPEG, BMP, …) into every build.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::{Error, Result};

static FONT: &[u8] = include_bytes!("plot/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The font is compiled in and known to parse; if it somehow did not,
        // text would be missing from the picture, which the error below reports.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One line on a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend entry; `None` keeps it out of the legend.
    pub label: Option<String>,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    pub dashed: bool,
    pub width: u32,
}

impl Line {
    pub fn new(label: impl Into<Option<String>>, points: Vec<(f64, f64)>, color: RGBColor) -> Self {
        Self {
            label: label.into(),
            points,
            color,
            dashed: false,
            width: 2,
        }
    }

    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// Colours used across our pictures.
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
pub const RED: RGBColor = RGBColor(214, 39, 40);
pub const GREY: RGBColor = RGBColor(120, 120, 120);
pub const GREEN: RGBColor = RGBColor(44, 160, 44);

/// A chart's labels and axes.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Logarithmic y axis (all y must be positive).
    pub log_y: bool,
}

/// Points in a line above which it is drawn a pixel wide (about half the
/// chart's width in pixels).
const DENSE_POINTS: usize = 400;

/// Draws `lines` into a 1000×600 PNG at `path`.
pub fn line_chart(path: &Path, chart: &Chart, lines: &[Line]) -> Result<()> {
    render(path, (1000, 600), |root| draw_on(root, chart, lines))
}

fn bounds(lines: &[Line], log_y: bool) -> Option<((f64, f64), (f64, f64))> {
    let pts = lines
        .iter()
        .flat_map(|l| l.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0));
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    let mut any = false;
    for &(x, y) in pts {
        any = true;
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !any {
        return None;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if log_y {
        // Down to a power of ten: plotters labels a log axis from its first
        // power of ten up, so a loss levelling off at 3e-3 on an axis from
        // 2e-3 had no label below 1e-2.
        // (A hair below it: `powi` may land a hair above, and then the
        // label went to the next power up.)
        y0 = 10f64.powi((y0 / 1.5).log10().floor() as i32) * (1.0 - 1e-9);
        y1 *= 1.5;
    } else {
        // A margin by the span, whatever the unit: a fixed floor of 1e-6
        // flattened a current of 2e-6 ± 5e-8 A into one line. A flat line
        // (or one flat to f64) gets a margin by its size.
        let (span, size) = (y1 - y0, y0.abs().max(y1.abs()));
        let pad = if span > size * 1e-9 {
            span * 0.08
        } else if size > 0.0 {
            size * 0.05
        } else {
            1.0
        };
        y0 -= pad;
        y1 += pad;
    }
    Some(((x0, x1), (y0, y1)))
}

/// A line's points in runs drawn apart: a point whose y is not finite (a
/// value missing, as a recording's skipped row) ends a run, so that no
/// segment is drawn across the hole; on a log axis, y ≤ 0 is left out.
fn runs(points: &[(f64, f64)], log_y: bool) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut run = Vec::new();
    for &(x, y) in points {
        if !y.is_finite() {
            if !run.is_empty() {
                out.push(std::mem::take(&mut run));
            }
        } else if !log_y || y > 0.0 {
            run.push((x, y));
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

/// Tick labels for an axis over `lo..hi`: as many decimals as a tenth of
/// the span needs (a valve at 0.001 ± 0.0003 reads `0.00104`, not `0.001`
/// on every tick), no trailing zeros; scientific below 1e-3, or where plain
/// figures would take more than 10 digits.
fn axis_labels(lo: f64, hi: f64) -> impl Fn(&f64) -> String {
    let step = ((hi - lo) / 10.0).abs().max(f64::MIN_POSITIVE);
    let big = lo.abs().max(hi.abs());
    let decimals = (-step.log10().floor()).clamp(0.0, 12.0) as usize;
    let whole = big.log10().floor().max(0.0) as usize + 1;
    let scientific = big < 1e-3 || whole + decimals > 10;
    let digits = if scientific {
        // Significant digits past the first for steps of `step` at `big`.
        (big / step).log10().ceil().clamp(1.0, 9.0) as usize
    } else {
        decimals
    };
    move |v: &f64| {
        if scientific {
            // Zero as the ticks' arithmetic leaves it (`-8.5e-22` on an
            // axis in steps of 1e-7) reads 0.
            return if v.abs() < step * 1e-6 {
                "0".into()
            } else {
                format!("{v:.digits$e}")
            };
        }
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        if s == "-0" { "0".into() } else { s.into() }
    }
}

/// Draws two charts stacked in one 1000×900 PNG (e.g. a signal above what
/// was made of it, when their units differ), under one title.
pub fn stacked_charts(
    path: &Path,
    title: &str,
    top: (&Chart, &[Line]),
    bottom: (&Chart, &[Line]),
) -> Result<()> {
    render(path, (1000, 900), |root| {
        let root = root
            .titled(title, ("sans-serif", 24))
            .map_err(|e| e.to_string())?;
        let (a, b) = root.split_vertically(300);
        draw_on(&a, top.0, top.1)?;
        draw_on(&b, bottom.0, bottom.1)
    })
}

/// Paints a `size` picture with `paint` in memory, then writes it to `path`
/// as a PNG (8-bit RGB); any failure is an [`Error::Plot`] naming `path`.
fn render(
    path: &Path,
    size: (u32, u32),
    paint: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> std::result::Result<(), String>,
) -> Result<()> {
    paint_png(path, size, paint).map_err(|reason| Error::Plot {
        path: path.to_path_buf(),
        reason,
    })
}

fn paint_png(
    path: &Path,
    size: (u32, u32),
    paint: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    register_font();
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let backend =
            BitMapBackend::with_buffer_and_format(&mut rgb, size).map_err(|e| e.to_string())?;
        let root = backend.into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        paint(&root)?;
        root.present().map_err(|e| e.to_string())?;
    }
    write_png(path, size, &rgb).map_err(|e| e.to_string())
}

fn write_png(
    path: &Path,
    (w, h): (u32, u32),
    rgb: &[u8],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // What plotters' encoder (through `image`) used: a third the size of
    // the PNG the defaults write for these flat-coloured charts.
    encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(())
}

fn draw_on<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    lines: &[Line],
) -> std::result::Result<(), String> {
    let ((x0, x1), (y0, y1)) =
        bounds(lines, chart.log_y).ok_or_else(|| "nothing to plot".to_string())?;
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(chart.title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(80);

    macro_rules! finish {
        ($ctx:expr) => {{
            let mut ctx = $ctx;
            let log_y = chart.log_y;
            let y_ticks = axis_labels(y0, y1);
            let y_fmt = move |v: &f64| {
                if log_y {
                    format!("{v:.0e}")
                } else {
                    y_ticks(v)
                }
            };
            ctx.configure_mesh()
                .x_label_formatter(&axis_labels(x0, x1))
                .y_label_formatter(&y_fmt)
                .x_desc(chart.x_label)
                .y_desc(chart.y_label)
                .label_style(("sans-serif", 15))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(|e| e.to_string())?;
            for line in lines {
                let mut runs = runs(&line.points, chart.log_y);
                // plotters fills a line wider than a pixel as one polygon
                // around the whole path, and a dense zigzag (thousands of
                // windows' noise) makes that polygon spike far outside the
                // chart, across title and labels; a pixel-wide line is drawn
                // segment by segment. Dense, the two look alike.
                let dense = runs.iter().map(Vec::len).sum::<usize>() > DENSE_POINTS;
                let style =
                    ShapeStyle::from(&line.color).stroke_width(if dense { 1 } else { line.width });
                let rest = runs.split_off(1.min(runs.len()));
                let first = runs.pop().unwrap_or_default();
                for pts in rest {
                    if let [point] = pts[..] {
                        // A value alone between two holes: a dot, where a
                        // line of one point would draw nothing.
                        let dot = Circle::new(point, line.width + 1, style.filled());
                        ctx.draw_series(std::iter::once(dot))
                            .map_err(|e| e.to_string())?;
                    } else if line.dashed {
                        ctx.draw_series(DashedLineSeries::new(pts, 8, 6, style))
                            .map_err(|e| e.to_string())?;
                    } else {
                        ctx.draw_series(LineSeries::new(pts, style))
                            .map_err(|e| e.to_string())?;
                    }
                }
                // The first run (empty for a line without points) carries
                // the legend entry.
                let anno = if line.dashed {
                    ctx.draw_series(DashedLineSeries::new(first, 8, 6, style))
                        .map_err(|e| e.to_string())?
                } else {
                    ctx.draw_series(LineSeries::new(first, style))
                        .map_err(|e| e.to_string())?
                };
                if let Some(label) = &line.label {
                    let color = line.color;
                    anno.label(label.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                    });
                }
            }
            if lines.iter().any(|l| l.label.is_some()) {
                ctx.configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 16))
                    .position(SeriesLabelPosition::UpperRight)
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
        }};
    }
    if chart.log_y {
        finish!(
            builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(|e| e.to_string())?
        );
    } else {
        finish!(
            builder
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| e.to_string())?
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing value (NaN) splits a line: no segment across the hole.
    #[test]
    fn a_line_breaks_where_a_value_is_missing() {
        let pts = [
            (0.0, 1.0),
            (1.0, 2.0),
            (2.0, f64::NAN),
            (3.0, 4.0),
            (4.0, f64::NAN),
        ];
        assert_eq!(
            runs(&pts, false),
            [vec![(0.0, 1.0), (1.0, 2.0)], vec![(3.0, 4.0)]]
        );
        assert!(runs(&[(0.0, f64::NAN)], false).is_empty());
        assert_eq!(runs(&[(0.0, -1.0), (1.0, 3.0)], true), [vec![(1.0, 3.0)]]);
    }

    /// Neighbouring ticks never read alike, at any scale.
    #[test]
    fn tick_labels_tell_ticks_apart() {
        for (lo, hi) in [
            (0.00068, 0.00142),
            (0.0, 0.0014),
            (-0.5, 0.5),
            (20.0, 80.0),
            (24_000.0, 76_000.0),
            (2.5e7, 2.5e7 + 3.0),
            (0.0, 3.0e6),
            (1e-7, 5e-7),
        ] {
            let f = axis_labels(lo, hi);
            let labels: Vec<String> = (0..=10)
                .map(|i| f(&(lo + (hi - lo) * i as f64 / 10.0)))
                .collect();
            for w in labels.windows(2) {
                assert_ne!(w[0], w[1], "{lo}..{hi}: {labels:?}");
            }
            assert!(labels.iter().all(|l| l.len() <= 12), "{labels:?}");
        }
        assert_eq!(axis_labels(20.0, 80.0)(&50.0), "50");
        assert_eq!(axis_labels(0.0, 1.0)(&0.5), "0.5");
    }

    /// A dense noisy line stays inside the chart: drawn two pixels wide it
    /// was one polygon whose spikes crossed the title and the axis labels
    /// (a 3-million-row recording's overview).
    #[test]
    fn a_dense_zigzag_stays_inside_its_chart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.png");
        let mut rng = crate::rng::Rng::new(5);
        let pts: Vec<(f64, f64)> = (0..4000)
            .map(|i| (i as f64 * 150.0, rng.normal()))
            .collect();
        let chart = Chart {
            title: "t",
            x_label: "x",
            y_label: "y",
            log_y: false,
        };
        line_chart(&path, &chart, &[Line::new(None, pts, RED)]).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut rgb = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut rgb).unwrap();
        let (w, h) = (info.width as usize, info.height as usize);
        let red = |x: usize, y: usize| rgb[(y * w + x) * 3..(y * w + x) * 3 + 3] == [214, 39, 40];
        // Above the plot (title, margin) and below it (the x labels' rows).
        let outside = (0..w).flat_map(|x| (0..30).chain(h - 30..h).map(move |y| (x, y)));
        assert_eq!(
            outside.filter(|&(x, y)| red(x, y)).count(),
            0,
            "red outside the chart"
        );
        let inside = (0..w).flat_map(|x| (100..h - 100).map(move |y| (x, y)));
        assert!(
            inside.filter(|&(x, y)| red(x, y)).count() > 10_000,
            "the line is drawn"
        );
    }

    /// An axis fits its data at any scale: a channel of 2e-6 ± 5e-8 fills
    /// its chart; a flat one, and a flat zero, still get a margin; zero
    /// reads 0 whatever rounding left of it.
    #[test]
    fn a_small_signal_fills_its_axis() {
        let tiny = Line::new(None, vec![(0.0, 1.95e-6), (1.0, 2.05e-6)], RED);
        let (_, (y0, y1)) = bounds(std::slice::from_ref(&tiny), false).unwrap();
        assert!(y0 > 1.9e-6 && y1 < 2.1e-6, "{y0}..{y1}");
        for flat in [2e-6, 2.5e7, 0.0] {
            let line = Line::new(None, vec![(0.0, flat), (1.0, flat)], RED);
            let (_, (y0, y1)) = bounds(std::slice::from_ref(&line), false).unwrap();
            assert!(y0 < flat && flat < y1, "{flat}: {y0}..{y1}");
        }
        assert_eq!(axis_labels(-5e-7, 5e-7)(&-8.5e-22), "0");
        assert_eq!(axis_labels(-5e-7, 5e-7)(&1e-7), "1.0e-7");
    }

    /// A log axis starts at a power of ten, where plotters' labels start.
    #[test]
    fn a_log_axis_reaches_down_to_a_labelled_power_of_ten() {
        let loss = Line::new(None, vec![(0.0, 6e-2), (1.0, 3e-3)], RED);
        let (_, (y0, y1)) = bounds(std::slice::from_ref(&loss), true).unwrap();
        assert!(y0 <= 1e-3 && y0 > 0.999e-3, "{y0}");
        assert!(y1 > 6e-2);
        let (_, (y0, _)) = bounds(&[Line::new(None, vec![(0.0, 5.0)], RED)], true).unwrap();
        assert!(y0 <= 1.0 && y0 > 0.999, "{y0}");
    }

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.png");
        let pts: Vec<(f64, f64)> = (1..50).map(|i| (i as f64, 1.0 / i as f64)).collect();
        let chart = Chart {
            title: "t",
            x_label: "x",
            y_label: "y",
            log_y: true,
        };
        line_chart(
            &path,
            &chart,
            &[Line::new("loss".to_string(), pts.clone(), RED)],
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(
            line_chart(&path, &chart, &[]).is_err(),
            "empty chart is an error"
        );
        let neg = vec![Line::new(None, vec![(0.0, -1.0)], RED)];
        assert!(
            line_chart(&path, &chart, &neg).is_err(),
            "log of negatives only"
        );
    }
}
