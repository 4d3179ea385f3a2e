//! Learning curves: one PNG per logged metric, plotted against environment steps.
//!
//! The curves are drawn from `metrics.csv` itself rather than from in-memory history, so
//! a resumed run plots its whole history and the picture always matches the file. Text
//! is rendered with a TTF shipped in the crate (`assets/DejaVuSans.ttf`) through
//! plotters' `ab_glyph` backend: no system font library is needed, and the output is
//! the same on every machine. Each PNG is encoded in memory and replaced atomically,
//! so a run killed mid-plot leaves the previous picture, never half a file.
//!
//! `rlpc plot` overlays metrics of several runs in one picture ([`render_overlay`]),
//! optionally on a logarithmic x axis: regret curves of bandit programs, for instance.

use plotters::prelude::*;
use rlp_runtime::io::write_atomic;
use rlp_runtime::metrics::{FIXED_COLUMNS, read_metrics_csv};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// DejaVu Sans (Bitstream Vera license, see `assets/DejaVuSans-LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Image size in pixels.
const SIZE: (u32, u32) = (900, 540);

/// The column plotted on the x axis.
const X_COLUMN: &str = "env_steps";

/// Makes the shipped font plotters' `sans-serif`, once per process.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "the bundled font DejaVuSans.ttf could not be loaded".to_string())
        })
        .clone()
}

/// The file name of a metric's plot: its name with anything but letters, digits, `_`,
/// `-` and `.` replaced, so a name can never escape the run directory.
pub fn plot_file_name(metric: &str) -> String {
    let safe: String = metric
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}.png", safe.trim_start_matches('.'))
}

/// Reads `csv` and writes `<metric>.png` into `dir` for every metric column. Returns the
/// paths written.
pub fn write_learning_curves(dir: &Path, csv: &Path) -> Result<Vec<PathBuf>, String> {
    let (columns, rows) = read_metrics_csv(csv).map_err(|e| e.to_string())?;
    let x_col = columns
        .iter()
        .position(|c| c == X_COLUMN)
        .ok_or_else(|| format!("`{}` has no `{X_COLUMN}` column", csv.display()))?;
    let axis = run_axis(&rows, x_col);
    let mut written = vec![];
    for (col, name) in columns.iter().enumerate().skip(FIXED_COLUMNS.len()) {
        let points: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| match axis {
                XAxis::EnvSteps => (r[x_col], r[col]),
                _ => (r[0] + 1.0, r[col]),
            })
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        let png = render_against(name, &points, axis)?;
        let path = dir.join(plot_file_name(name));
        write_atomic(&path, &png).map_err(|e| e.to_string())?;
        written.push(path);
    }
    Ok(written)
}

/// A run's own plots are against environment steps when every iteration takes some
/// (a training rollout each iteration), and otherwise — training on a dataset, a model,
/// or a rollout every K iterations — against iterations, where environment steps would
/// stack many points on one x (or all of them on 0).
fn run_axis(rows: &[Vec<f64>], x_col: usize) -> XAxis {
    let mut previous = 0.0;
    for r in rows {
        if r[x_col] <= previous {
            return XAxis::Iterations;
        }
        previous = r[x_col];
    }
    XAxis::EnvSteps
}

/// One learning curve as PNG bytes: the raw values in a light colour and, when there
/// are enough of them, a moving average on top (RL curves are noisy).
pub fn render(metric: &str, points: &[(f64, f64)]) -> Result<Vec<u8>, String> {
    render_against(metric, points, XAxis::EnvSteps)
}

/// [`render`] with `x` named on the x axis.
fn render_against(metric: &str, points: &[(f64, f64)], x: XAxis) -> Result<Vec<u8>, String> {
    register_font()?;
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw(metric, points, x, &mut rgb)
        .map_err(|e| format!("cannot draw the plot of `{metric}`: {e}"))?;
    encode_png(&rgb, w, h).map_err(|e| format!("cannot encode the plot of `{metric}`: {e}"))
}

fn draw(
    metric: &str,
    points: &[(f64, f64)],
    x: XAxis,
    rgb: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (x0, x1) = padded_range(points.iter().map(|p| p.0), 0.0);
    let (y0, y1) = padded_range(points.iter().map(|p| p.1), 0.05);
    let mut chart = ChartBuilder::on(&root)
        .caption(metric, ("sans-serif", 26))
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(x.describe())
        .y_desc(metric)
        .x_label_formatter(&|v| si(*v))
        .y_label_formatter(&|v| short(*v))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    let smoothed = moving_average(points);
    let dark = RGBColor(31, 90, 180);
    let raw_colour = if smoothed.is_some() {
        RGBColor(160, 190, 230)
    } else {
        dark
    };
    let raw = chart.draw_series(LineSeries::new(
        points.iter().copied(),
        raw_colour.stroke_width(1),
    ))?;
    // With two lines the legend says which is which; a lone line needs none.
    if let Some((s, window)) = smoothed {
        raw.label("each logged value").legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 20, y)], raw_colour.stroke_width(1))
        });
        chart
            .draw_series(LineSeries::new(s, dark.stroke_width(2)))?
            .label(format!("moving average of {window}"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], dark.stroke_width(2))
            });
        chart
            .configure_series_labels()
            .position(legend_corner(points, (y0 + y1) / 2.0))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 15))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// The right-hand corner the curve's last quarter stays away from: the bottom for a
/// curve that ends high (a return), the top for one that ends low (a loss).
fn legend_corner(points: &[(f64, f64)], mid: f64) -> SeriesLabelPosition {
    let tail = &points[points.len() * 3 / 4..];
    let mean = tail.iter().map(|p| p.1).sum::<f64>() / tail.len().max(1) as f64;
    if mean >= mid {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    }
}

/// A trailing moving average over about a twentieth of the points, and that window;
/// `None` when there are too few points for smoothing to say anything.
fn moving_average(points: &[(f64, f64)]) -> Option<(Vec<(f64, f64)>, usize)> {
    let window = points.len() / 20;
    if window < 2 {
        return None;
    }
    let mut sum = 0.0;
    let mut out = Vec::with_capacity(points.len());
    for (i, &(x, y)) in points.iter().enumerate() {
        sum += y;
        if i >= window {
            sum -= points[i - window].1;
        }
        out.push((x, sum / (i + 1).min(window) as f64));
    }
    Some((out, window))
}

/// The min and max of `values`, widened by `pad` of the span on each side; a unit
/// range around a single value (or around 0 with no values) so the axis is never empty.
fn padded_range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo > hi {
        return (0.0, 1.0);
    }
    if lo == hi {
        let d = (lo.abs() * 0.1).max(0.5);
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// The range of the positive `values` for a logarithmic axis, at least a factor 10
/// wide; 1 to 10 when there are none.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (1.0, 10.0)
    } else {
        (lo, hi.max(lo * 10.0))
    }
}

/// `12k`, `1.5M`: step counts as people read them.
fn si(v: f64) -> String {
    let a = v.abs();
    let (d, suffix) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        return short(v);
    };
    let s = format!("{:.1}", v / d);
    format!("{}{suffix}", s.strip_suffix(".0").unwrap_or(&s))
}

/// A compact tick label: at most four significant digits, no trailing zeros.
fn short(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// What `rlpc plot` puts on the x axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// The `env_steps` column.
    EnvSteps,
    /// Iterations done when the row was written: the `iteration` column plus one (for
    /// a bandit program pulling once per iteration, the pulls so far).
    Iterations,
    /// The `wall_s` column.
    WallSeconds,
}

impl XAxis {
    fn column(self) -> &'static str {
        match self {
            XAxis::EnvSteps => "env_steps",
            XAxis::Iterations => "iteration",
            XAxis::WallSeconds => "wall_s",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            XAxis::EnvSteps => "environment steps",
            XAxis::Iterations => "iterations",
            XAxis::WallSeconds => "wall-clock seconds",
        }
    }
}

/// One line of an overlay: a metric of one run.
#[derive(Clone, Debug)]
pub struct Curve {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (a reference curve, such as a lower bound).
    pub dashed: bool,
}

/// How [`render_overlay`] draws its curves.
#[derive(Clone, Debug)]
pub struct OverlayOptions {
    pub title: String,
    pub x: XAxis,
    /// A logarithmic x axis; points with x ≤ 0 are left out.
    pub log_x: bool,
    /// A logarithmic y axis; points with y ≤ 0 are left out.
    pub log_y: bool,
    /// The x axis' label (default: what `x` is).
    pub x_desc: Option<String>,
    /// The y axis' label.
    pub y_desc: String,
}

/// Reads the curve named by `spec`, `PATH:METRIC[=LABEL]`: the column `METRIC` of
/// `PATH` (a `metrics.csv`, or a run directory holding one) against `x`. The label
/// defaults to `METRIC` of the run directory's name. NaN and infinite values are left
/// out, as in a run's own plots.
pub fn read_curve(spec: &str, x: XAxis) -> Result<Curve, String> {
    // The label starts at the first `=` after the path's last `/`.
    let from = spec.rfind('/').map_or(0, |i| i + 1);
    let (target, label) = match spec[from..].find('=') {
        Some(eq) => (&spec[..from + eq], Some(&spec[from + eq + 1..])),
        None => (spec, None),
    };
    let (path, metric) = target
        .rsplit_once(':')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
        .ok_or_else(|| format!("`{spec}`: a curve is PATH:METRIC or PATH:METRIC=LABEL"))?;
    let path = Path::new(path);
    let csv = if path.is_dir() {
        path.join("metrics.csv")
    } else {
        path.to_path_buf()
    };
    let (columns, rows) = read_metrics_csv(&csv).map_err(|e| e.to_string())?;
    let find = |name: &str| {
        columns.iter().position(|c| c == name).ok_or_else(|| {
            format!(
                "`{}` has no column `{name}` (it has {})",
                csv.display(),
                columns.join(", ")
            )
        })
    };
    let (xc, yc) = (find(x.column())?, find(metric)?);
    let shift = if x == XAxis::Iterations { 1.0 } else { 0.0 };
    let points = rows
        .iter()
        .map(|r| (r[xc] + shift, r[yc]))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect();
    let label = match label {
        Some(l) => l.to_string(),
        None => {
            let run = path.file_name().map(|n| n.to_string_lossy().into_owned());
            match run {
                Some(run) if path.is_dir() => format!("{run}: {metric}"),
                _ => metric.to_string(),
            }
        }
    };
    Ok(Curve {
        label,
        points,
        dashed: false,
    })
}

/// Line colours of an overlay, in order (Tableau 10).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// What would make a curve of [`render_overlay`] useless, one line each: a curve with
/// no point a logarithmic axis can show, or one whose every point sits at one x (an
/// offline run against environment steps, which it never takes).
pub fn overlay_warnings(curves: &[Curve], opts: &OverlayOptions) -> Vec<String> {
    let mut out = vec![];
    for c in curves {
        if c.points.is_empty() {
            out.push(format!(
                "`{}` has no finite values: it is not drawn",
                c.label
            ));
            continue;
        }
        if opts.log_y && !c.points.iter().any(|p| p.1 > 0.0) {
            out.push(format!(
                "`{}` has no value above 0, so a logarithmic y axis shows none of it",
                c.label
            ));
        }
        if opts.log_x && !c.points.iter().any(|p| p.0 > 0.0) {
            out.push(format!(
                "`{}` has no {} above 0, so a logarithmic x axis shows none of it",
                c.label,
                opts.x.column()
            ));
        }
        let x0 = c.points[0].0;
        if c.points.len() > 1 && c.points.iter().all(|p| p.0 == x0) {
            out.push(format!(
                "every point of `{}` has {} = {x0} (a run that takes no {}), so it is drawn \
                 as one vertical line; plot it with `--x iterations`",
                c.label,
                opts.x.column(),
                opts.x.describe()
            ));
        }
    }
    out
}

/// Several curves in one PNG, with a legend: solid lines in the palette's colours,
/// dashed curves in black.
pub fn render_overlay(curves: &[Curve], opts: &OverlayOptions) -> Result<Vec<u8>, String> {
    register_font()?;
    let curves: Vec<Curve> = curves
        .iter()
        .map(|c| Curve {
            points: c
                .points
                .iter()
                .copied()
                .filter(|p| (!opts.log_x || p.0 > 0.0) && (!opts.log_y || p.1 > 0.0))
                .collect(),
            ..c.clone()
        })
        .collect();
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    draw_overlay(&curves, opts, &mut rgb)
        .map_err(|e| format!("cannot draw the plot `{}`: {e}", opts.title))?;
    encode_png(&rgb, w, h).map_err(|e| format!("cannot encode the plot `{}`: {e}", opts.title))
}

/// The body of [`draw_overlay`] for one kind of x coordinate (linear or logarithmic):
/// the chart types differ, the drawing does not.
macro_rules! overlay_body {
    ($root:expr, $xs:expr, $ys:expr, $curves:expr, $opts:expr) => {{
        let mut chart = ChartBuilder::on($root)
            .caption(&$opts.title, ("sans-serif", 26))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d($xs, $ys)?;
        chart
            .configure_mesh()
            .x_desc($opts.x_desc.as_deref().unwrap_or($opts.x.describe()))
            .y_desc($opts.y_desc.as_str())
            .x_label_formatter(&|v| si(*v))
            .y_label_formatter(&|v| short(*v))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .light_line_style(RGBColor(238, 238, 238))
            .bold_line_style(RGBColor(215, 215, 215))
            .draw()?;
        let mut colours = PALETTE.iter().cycle();
        for c in $curves {
            let pts = c.points.iter().copied();
            if c.dashed {
                let style = BLACK.stroke_width(2);
                chart
                    .draw_series(DashedLineSeries::new(pts, 8, 6, style))?
                    .label(c.label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2))
                    });
            } else {
                let colour = *colours.next().expect("a cycled palette");
                chart
                    .draw_series(LineSeries::new(pts, colour.stroke_width(2)))?
                    .label(c.label.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 15))
            .draw()?;
    }};
}

fn draw_overlay(
    curves: &[Curve],
    opts: &OverlayOptions,
    rgb: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let all = || curves.iter().flat_map(|c| c.points.iter());
    let (x0, x1) = padded_range(all().map(|p| p.0), 0.0);
    let (y0, y1) = padded_range(all().map(|p| p.1), 0.05);
    let (lx0, lx1) = log_range(all().map(|p| p.0));
    let (ly0, ly1) = log_range(all().map(|p| p.1));
    match (opts.log_x, opts.log_y) {
        (false, false) => overlay_body!(&root, x0..x1, y0..y1, curves, opts),
        (true, false) => overlay_body!(&root, (lx0..lx1).log_scale(), y0..y1, curves, opts),
        (false, true) => overlay_body!(&root, x0..x1, (ly0..ly1).log_scale(), curves, opts),
        (true, true) => overlay_body!(
            &root,
            (lx0..lx1).log_scale(),
            (ly0..ly1).log_scale(),
            curves,
            opts
        ),
    }
    root.present()?;
    Ok(())
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn useless_overlays_are_warned_about() {
        let opts = |log_y| OverlayOptions {
            title: "t".into(),
            x: XAxis::EnvSteps,
            log_x: false,
            log_y,
            x_desc: None,
            y_desc: "y".into(),
        };
        let curve = |label: &str, points: Vec<(f64, f64)>| Curve {
            label: label.into(),
            points,
            dashed: false,
        };
        let negative = curve("neg", vec![(1.0, -3.0), (2.0, -1.0)]);
        let offline = curve("offline", vec![(0.0, 1.0), (0.0, 2.0), (0.0, 3.0)]);
        let fine = curve("fine", vec![(1.0, 1.0), (2.0, 2.0)]);
        assert!(overlay_warnings(std::slice::from_ref(&fine), &opts(true)).is_empty());
        let w = overlay_warnings(&[negative.clone(), fine.clone()], &opts(true));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("`neg`") && w[0].contains("logarithmic y"),
            "{w:?}"
        );
        assert!(overlay_warnings(std::slice::from_ref(&negative), &opts(false)).is_empty());
        let w = overlay_warnings(&[offline], &opts(false));
        assert!(w.len() == 1 && w[0].contains("--x iterations"), "{w:?}");
    }

    #[test]
    fn runs_plot_against_env_steps_only_when_every_iteration_takes_some() {
        let rows = |steps: &[f64]| -> Vec<Vec<f64>> {
            steps
                .iter()
                .enumerate()
                .map(|(i, &s)| vec![i as f64, s, 0.0, 1.0])
                .collect()
        };
        assert_eq!(run_axis(&rows(&[4.0, 8.0, 12.0]), 1), XAxis::EnvSteps);
        // A dataset or a model: no environment step at all.
        assert_eq!(run_axis(&rows(&[0.0, 0.0, 0.0]), 1), XAxis::Iterations);
        // Evaluation rollouts of an offline program, or sampling every other iteration.
        assert_eq!(
            run_axis(&rows(&[0.0, 2000.0, 2000.0]), 1),
            XAxis::Iterations
        );
        assert_eq!(run_axis(&rows(&[4.0, 4.0, 8.0]), 1), XAxis::Iterations);
    }

    #[test]
    fn renders_png_for_edge_cases() {
        for pts in [vec![], vec![(0.0, 1.0)], vec![(0.0, 1.0), (10.0, 3.0)]] {
            let png = render("return", &pts).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        }
    }

    #[test]
    fn overlay_renders_linear_and_log_axes() {
        let curves = vec![
            Curve {
                label: "a".into(),
                points: (0..100)
                    .map(|i| (i as f64, (i as f64 + 1.0).ln()))
                    .collect(),
                dashed: false,
            },
            Curve {
                label: "bound".into(),
                points: vec![(1.0, 0.0), (100.0, 4.0)],
                dashed: true,
            },
            Curve {
                label: "empty".into(),
                points: vec![],
                dashed: false,
            },
        ];
        for (log_x, log_y) in [(false, false), (true, false), (false, true), (true, true)] {
            let opts = OverlayOptions {
                title: "t".into(),
                x: XAxis::Iterations,
                log_x,
                log_y,
                x_desc: None,
                y_desc: "y".into(),
            };
            let png = render_overlay(&curves, &opts).unwrap();
            assert_eq!(&png[1..4], b"PNG");
            assert_eq!(&render_overlay(&[], &opts).unwrap()[1..4], b"PNG");
        }
    }

    #[test]
    fn labels_and_names() {
        assert_eq!(si(12_000.0), "12k");
        assert_eq!(si(1_500_000.0), "1.5M");
        assert_eq!(short(0.12345), "0.1235");
        assert_eq!(short(200.0), "200");
        assert_eq!(plot_file_name("../x y"), "_x_y.png");
    }
}
