//! Charts with plotters: the memory chart a person would have drawn by hand (samples, floor,
//! trend with its 95% band, restarts, jumps, warm-up knee, limit and projection), counter
//! charts on the same time axis, and the daily profile. SVG for pages, PNG for issue trackers.

use std::sync::Once;

use leakhound_analysis::Finding;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::units::format_time_label;

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(230, 110, 20);
const GREY: RGBColor = RGBColor(150, 150, 150);
const RED: RGBColor = RGBColor(200, 30, 30);
const GREEN: RGBColor = RGBColor(40, 150, 60);
const PURPLE: RGBColor = RGBColor(130, 80, 170);

/// Embedded so text renders (and is measured for SVG layout) on a machine without fonts (a subset of DejaVu Sans; see
/// `assets/FONT-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");
static REGISTER_FONT: Once = Once::new();

fn register_font() {
    REGISTER_FONT.call_once(|| {
        // The font is a fixed, valid file; failing here would be a build defect.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// One series to draw.
#[derive(Debug, Clone, Copy)]
pub struct ChartSeries<'a> {
    /// Name shown in the caption.
    pub name: &'a str,
    /// `bytes` or `count`.
    pub unit: &'a str,
    /// Times, unix seconds.
    pub t: &'a [f64],
    /// Values.
    pub v: &'a [f64],
}

/// Min and max of each of `buckets` equal time slices: peaks survive any amount of data.
pub fn decimate_min_max(t: &[f64], v: &[f64], buckets: usize) -> Vec<(f64, f64, f64)> {
    if t.is_empty() || buckets == 0 {
        return Vec::new();
    }
    let (t0, t1) = (t[0], t[t.len() - 1]);
    let width = ((t1 - t0) / buckets as f64).max(f64::MIN_POSITIVE);
    let mut out: Vec<(f64, f64, f64)> = Vec::with_capacity(buckets.min(t.len()));
    let mut current = usize::MAX;
    for (&ti, &vi) in t.iter().zip(v) {
        let b = (((ti - t0) / width) as usize).min(buckets - 1);
        if b != current {
            out.push((t0 + (b as f64 + 0.5) * width, vi, vi));
            current = b;
        } else if let Some(last) = out.last_mut() {
            last.1 = last.1.min(vi);
            last.2 = last.2.max(vi);
        }
    }
    out
}

/// A scale for `max` bytes (or counts): divisor and unit label.
fn scale(max: f64, unit: &str) -> (f64, &'static str) {
    if unit != "bytes" {
        return (1.0, "");
    }
    [
        (1099511627776.0, "TiB"),
        (1073741824.0, "GiB"),
        (1048576.0, "MiB"),
        (1024.0, "KiB"),
    ]
    .into_iter()
    .find(|(d, _)| max >= 2.0 * d)
    .unwrap_or((1.0, "B"))
}

type ChartError = String;

fn err<E: std::fmt::Debug>(e: E) -> ChartError {
    format!("drawing failed: {e:?}")
}

/// How time labels are written: UTC text (PNG, `plot`), or UTC text tagged with its unix time
/// so the report's page can show it in the viewer's time zone ([`tag_times`]).
#[derive(Debug, Clone, Copy, PartialEq)]
enum TimeLabels {
    Utc,
    Tagged,
}

/// Marks a tagged time label: `~t1700000000~` before its UTC text.
const TAG: &str = "~t";

fn time_label(labels: TimeLabels, t: f64, span: f64) -> String {
    match labels {
        TimeLabels::Utc => format_time_label(t, span),
        TimeLabels::Tagged => format!("{TAG}{:.0}~{}", t, format_time_label(t, span)),
    }
}

/// Turns tagged labels of an SVG into `<text data-t="UNIX">UTC text</text>`, which the report's
/// script rewrites in the viewer's time zone (keeping UTC in a hover title).
fn tag_times(svg: &str) -> String {
    let mut out = String::with_capacity(svg.len() + 256);
    let mut rest = svg;
    while let Some(i) = rest.find(TAG) {
        let (before, after) = rest.split_at(i);
        let Some(j) = after[TAG.len()..].find('~') else {
            break;
        };
        let t = &after[TAG.len()..TAG.len() + j];
        // The label follows its element's opening tag, maybe after a line break.
        let tag_end = before.trim_end();
        match tag_end.strip_suffix('>') {
            Some(open) => {
                out.push_str(open);
                out.push_str(&format!(" data-t=\"{t}\">"));
                out.push_str(&before[tag_end.len()..]);
            }
            None => out.push_str(before),
        }
        rest = &after[TAG.len() + j + 1..];
    }
    out.push_str(rest);
    out
}

/// Draws the memory chart of `s` with what `f` found onto `area`.
fn draw_memory<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &ChartSeries,
    f: &Finding,
    limit: Option<f64>,
    labels: TimeLabels,
) -> Result<(), ChartError> {
    area.fill(&WHITE).map_err(err)?;
    if s.t.len() < 2 {
        return Ok(());
    }
    let (t0, t1) = (s.t[0], s.t[s.t.len() - 1]);
    let span = t1 - t0;
    let bands = decimate_min_max(s.t, s.v, 1200);
    let mut lo = bands.iter().map(|b| b.1).fold(f64::INFINITY, f64::min);
    let mut hi = bands.iter().map(|b| b.2).fold(f64::NEG_INFINITY, f64::max);
    // The limit and the projection are shown when the limit is within reach of the chart.
    let show_limit = limit.filter(|l| *l <= hi + 2.0 * (hi - lo).max(hi * 0.05));
    if let Some(l) = show_limit {
        hi = hi.max(l);
    }
    // Projection of the trend to the limit, when it gets there within half the span again.
    let projection = match (show_limit, f.rate_per_day, f.trend_end) {
        (Some(l), Some(r), Some((te, le))) if r > 0.0 && l > le => {
            let hit = te + (l - le) / r * 86400.0;
            (hit <= t1 + 0.5 * span).then_some(((te, le), (hit, l)))
        }
        _ => None,
    };
    let x1 = projection.map_or(t1, |(_, (hit, _))| hit.max(t1));
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1.0);
    lo -= pad;
    hi += pad;
    let (div, label) = scale(hi, s.unit);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{} ({})", s.name, f.verdict.as_str()),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(70)
        .build_cartesian_2d(t0..x1, lo / div..hi / div)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(7)
        .y_labels(6)
        .x_label_formatter(&|x| time_label(labels, *x, x1 - t0))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .y_desc(if label.is_empty() {
            s.unit.to_string()
        } else {
            label.to_string()
        })
        .x_desc("time (UTC)")
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;

    // Raw samples as a min-max band.
    let mut poly: Vec<(f64, f64)> = bands.iter().map(|b| (b.0, b.2 / div)).collect();
    poly.extend(bands.iter().rev().map(|b| (b.0, b.1 / div)));
    chart
        .draw_series(std::iter::once(Polygon::new(poly, BLUE.mix(0.25).filled())))
        .map_err(err)?
        .label("samples (min-max)")
        .legend(|(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], BLUE.mix(0.25).filled()));
    chart
        .draw_series(LineSeries::new(
            f.floor
                .t
                .iter()
                .zip(&f.floor.v)
                .map(|(&x, &y)| (x, y / div)),
            BLUE.stroke_width(2),
        ))
        .map_err(err)?
        .label("floor")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE.stroke_width(2)));

    // The fitted trend over the stretch it was fitted on, with its interval: narrowest at the
    // middle of that stretch, where the level is known best, wider towards both ends. A line
    // through n points over a span T has a level at its centre known to se(slope)·T/√12, and
    // at time t to se(slope)·√(T²/12 + (t − centre)²).
    if let (Some(rate), Some((lo_r, hi_r)), Some((te, le))) =
        (f.rate_per_day, f.rate_ci_per_day, f.trend_end)
    {
        let from = f.rate_from.max(t0);
        let level = |t: f64| le + rate * (t - te) / 86400.0;
        let centre = (from + te) / 2.0;
        let span2 = (te - from).powi(2) / 12.0;
        let half_rate = (hi_r - lo_r) / 2.0 / 86400.0;
        let half = |t: f64| half_rate * (span2 + (t - centre).powi(2)).sqrt();
        let steps = 48;
        let at = |k: usize| from + (te - from) * k as f64 / steps as f64;
        let mut band: Vec<(f64, f64)> = (0..=steps)
            .map(|k| (at(k), (level(at(k)) + half(at(k))) / div))
            .collect();
        band.extend(
            (0..=steps)
                .rev()
                .map(|k| (at(k), (level(at(k)) - half(at(k))) / div)),
        );
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                ORANGE.mix(0.2).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                vec![(from, level(from) / div), (te, le / div)],
                ORANGE.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!(
                "trend ({} band)",
                crate::sentence::ci_label(f.confidence).trim_end_matches(" CI")
            ))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], ORANGE.stroke_width(2)));
    }
    if let Some(l) = show_limit {
        chart
            .draw_series(LineSeries::new(
                vec![(t0, l / div), (t1, l / div)],
                RED.stroke_width(1),
            ))
            .map_err(err)?
            .label("memory limit")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    }
    let vline = |t: f64| vec![(t, lo / div), (t, hi / div)];
    for (i, &r) in f.restarts.iter().enumerate() {
        let series = chart
            .draw_series(DashedLineSeries::new(
                vline(r),
                6,
                4,
                PURPLE.stroke_width(1),
            ))
            .map_err(err)?;
        if i == 0 {
            series
                .label("restart")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], PURPLE));
        }
    }
    for (i, j) in f.jumps.iter().enumerate() {
        let series = chart
            .draw_series(DashedLineSeries::new(
                vline(j.t),
                2,
                4,
                GREY.stroke_width(1),
            ))
            .map_err(err)?;
        if i == 0 {
            series
                .label("jump")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], GREY));
        }
    }
    if let Some(k) = f.knee {
        chart
            .draw_series(DashedLineSeries::new(vline(k), 6, 4, GREEN.stroke_width(1)))
            .map_err(err)?
            .label("warm-up over")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], GREEN));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(err)?;
    area.present().map_err(err)
}

/// Draws a counter as events per second over the same time range as the memory chart.
fn draw_counter<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &ChartSeries,
    range: (f64, f64),
    labels: TimeLabels,
) -> Result<(), ChartError> {
    area.fill(&WHITE).map_err(err)?;
    let rates: Vec<(f64, f64)> =
        s.t.windows(2)
            .zip(s.v.windows(2))
            .filter(|(t, _)| t[1] > t[0])
            .map(|(t, v)| {
                (
                    (t[0] + t[1]) / 2.0,
                    ((v[1] - v[0]) / (t[1] - t[0])).max(0.0),
                )
            })
            .collect();
    let (rt, rv): (Vec<f64>, Vec<f64>) = rates.iter().copied().unzip();
    let bands = decimate_min_max(&rt, &rv, 600);
    let hi = bands.iter().map(|b| b.2).fold(0.0f64, f64::max).max(1e-9) * 1.05;
    let span = range.1 - range.0;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} (per second)", s.name), ("sans-serif", 14))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(70)
        .build_cartesian_2d(range.0..range.1, 0.0..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(7)
        .y_labels(4)
        .x_label_formatter(&|x| time_label(labels, *x, span))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            bands.iter().map(|b| (b.0, (b.1 + b.2) / 2.0)),
            GREY.stroke_width(1),
        ))
        .map_err(err)?;
    area.present().map_err(err)
}

/// The memory chart as SVG.
pub fn memory_svg(
    s: &ChartSeries,
    f: &Finding,
    limit: Option<f64>,
    size: (u32, u32),
) -> Result<String, String> {
    memory_svg_labelled(s, f, limit, size, TimeLabels::Utc)
}

/// The memory chart as SVG for the report: time labels in UTC, tagged so the page can show
/// them in the viewer's time zone.
pub fn memory_svg_tagged(
    s: &ChartSeries,
    f: &Finding,
    limit: Option<f64>,
    size: (u32, u32),
) -> Result<String, String> {
    memory_svg_labelled(s, f, limit, size, TimeLabels::Tagged).map(|svg| tag_times(&svg))
}

fn memory_svg_labelled(
    s: &ChartSeries,
    f: &Finding,
    limit: Option<f64>,
    size: (u32, u32),
    labels: TimeLabels,
) -> Result<String, String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw_memory(&root, s, f, limit, labels)?;
    }
    Ok(out)
}

/// The memory chart as PNG bytes.
pub fn memory_png(
    s: &ChartSeries,
    f: &Finding,
    limit: Option<f64>,
    size: (u32, u32),
) -> Result<Vec<u8>, String> {
    register_font();
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw_memory(&root, s, f, limit, TimeLabels::Utc)?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, size.0, size.1);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(err)?;
        w.write_image_data(&rgb).map_err(err)?;
    }
    Ok(out)
}

/// A counter chart as SVG, over `range` (unix seconds) to line up with the memory chart.
/// Time labels are tagged for the report's page (see [`memory_svg_tagged`]).
pub fn counter_svg(s: &ChartSeries, range: (f64, f64), size: (u32, u32)) -> Result<String, String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw_counter(&root, s, range, TimeLabels::Tagged)?;
    }
    Ok(tag_times(&out))
}

/// The fitted daily profile (24 hourly offsets) as an SVG bar chart.
pub fn daily_profile_svg(profile: &[f64], unit: &str, size: (u32, u32)) -> Result<String, String> {
    register_font();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let max = profile.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let (div, label) = scale(max, unit);
        let lo = profile.iter().copied().fold(0.0f64, f64::min) / div;
        let hi = profile.iter().copied().fold(0.0f64, f64::max) / div;
        let pad = ((hi - lo) * 0.1).max(1e-9);
        let mut chart = ChartBuilder::on(&root)
            .caption("daily cycle of the floor (UTC hour)", ("sans-serif", 14))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..24.0, lo - pad..hi + pad)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(12)
            .x_label_formatter(&|h| format!("{h:.0}"))
            .y_desc(label)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(profile.iter().enumerate().map(|(h, v)| {
                let (a, b) = if *v >= 0.0 {
                    (0.0, v / div)
                } else {
                    (v / div, 0.0)
                };
                Rectangle::new(
                    [(h as f64 + 0.1, a), (h as f64 + 0.9, b)],
                    BLUE.mix(0.6).filled(),
                )
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_analysis::{analyze, Config};

    fn leak() -> (Vec<f64>, Vec<f64>, Finding) {
        let t: Vec<f64> = (0..5760).map(|i| 1.7e9 + i as f64 * 60.0).collect();
        let y: Vec<f64> = t
            .iter()
            .enumerate()
            .map(|(i, t)| 250e6 + 8e6 * (t - 1.7e9) / 86400.0 + ((i % 10) as f64) * 2e6)
            .collect();
        let mut cfg = Config::with_tolerance(2e6);
        cfg.limit = Some(300e6);
        let f = analyze(&t, &y, &cfg).unwrap();
        (t, y, f)
    }

    #[test]
    fn min_max_decimation_keeps_peaks() {
        let t: Vec<f64> = (0..100_000).map(f64::from).collect();
        let mut v = vec![1.0; 100_000];
        v[54_321] = 99.0;
        let d = decimate_min_max(&t, &v, 500);
        assert!(d.len() <= 500);
        assert!(d.iter().any(|b| b.2 == 99.0));
    }

    /// What a person sees: the text labels and how many drawn shapes of each kind.
    fn structure(svg: &str) -> String {
        let mut texts: Vec<String> = svg
            .split("<text")
            .skip(1)
            .filter_map(|s| {
                s.split_once('>')
                    .and_then(|(_, r)| r.split_once("</text>"))
                    .map(|(t, _)| t.trim().to_string())
            })
            .collect();
        texts.dedup();
        let count = |tag: &str| svg.matches(tag).count();
        format!(
            "polylines {}\npolygons {}\nrects {}\ntexts {}\n",
            count("<polyline"),
            count("<polygon"),
            count("<rect"),
            texts.join(" | ")
        )
    }

    #[test]
    fn memory_chart_svg_structure() {
        let (t, y, f) = leak();
        let s = ChartSeries {
            name: "rss",
            unit: "bytes",
            t: &t,
            v: &y,
        };
        let svg = memory_svg(&s, &f, Some(300e6), (900, 420)).unwrap();
        assert!(svg.starts_with("<svg"));
        insta::assert_snapshot!(structure(&svg));
    }

    #[test]
    fn report_charts_tag_their_times_for_the_viewer() {
        let (t, y, f) = leak();
        let s = ChartSeries {
            name: "rss",
            unit: "bytes",
            t: &t,
            v: &y,
        };
        let svg = memory_svg_tagged(&s, &f, None, (900, 420)).unwrap();
        assert!(!svg.contains(TAG), "every tag became an attribute");
        let tagged = svg.matches(" data-t=\"").count();
        assert!(tagged >= 5, "{tagged}");
        // The UTC text stays, for a page without scripts.
        assert_eq!(
            structure(&svg),
            structure(&memory_svg(&s, &f, None, (900, 420)).unwrap())
        );
    }

    #[test]
    fn memory_chart_png_has_text_and_size() {
        let (t, y, f) = leak();
        let s = ChartSeries {
            name: "rss",
            unit: "bytes",
            t: &t,
            v: &y,
        };
        let png = memory_png(&s, &f, None, (640, 320)).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (640, 320));
    }

    #[test]
    fn counter_and_profile_charts_render() {
        let t: Vec<f64> = (0..100).map(|i| i as f64 * 10.0).collect();
        let v: Vec<f64> = (0..100).map(|i| (i * i) as f64).collect();
        let s = ChartSeries {
            name: "requests",
            unit: "count",
            t: &t,
            v: &v,
        };
        let svg = counter_svg(&s, (0.0, 990.0), (900, 200)).unwrap();
        assert!(svg.contains("requests (per second)"));
        let p = daily_profile_svg(&[1e6; 24], "bytes", (600, 240)).unwrap();
        assert_eq!(
            p.matches("<rect").count(),
            24 + 1,
            "24 bars and the background"
        );
    }
}
