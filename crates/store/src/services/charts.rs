//! Server-side SVG charts for the reports: a stacked-area cumulative-flow diagram and a
//! burndown line chart, 800×450, with title, dated x axis, labelled y axis and legend.
//!
//! Written by hand rather than with a plotting crate: the output is a few dozen elements,
//! needs no font files at render time (the viewer lays out the text), and stays readable.

use std::fmt::Write as _;

use chrono::NaiveDate;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 450.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 52.0;
const BOTTOM: f64 = 64.0;

/// One colour per status, in board order.
pub const STATUS_COLOURS: [(&str, &str); 4] = [
    ("todo", "#94a3b8"),
    ("in_progress", "#3b82f6"),
    ("review", "#f59e0b"),
    ("done", "#22c55e"),
];

/// A named series of values, one per date.
pub struct Series<'a> {
    pub label: &'a str,
    pub colour: &'a str,
    pub values: Vec<u64>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" axis maximum and tick step for values up to `max`.
fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let raw_step = (max as f64 / 5.0).max(1.0);
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude)
        .max(1.0) as u64;
    (max.div_ceil(step) * step, step)
}

struct Frame {
    dates: Vec<NaiveDate>,
    y_max: u64,
}

impl Frame {
    fn plot_width(&self) -> f64 {
        WIDTH - LEFT - RIGHT
    }

    fn plot_height(&self) -> f64 {
        HEIGHT - TOP - BOTTOM
    }

    fn x(&self, i: usize) -> f64 {
        if self.dates.len() <= 1 {
            LEFT + self.plot_width() / 2.0
        } else {
            LEFT + self.plot_width() * i as f64 / (self.dates.len() - 1) as f64
        }
    }

    fn y(&self, v: f64) -> f64 {
        TOP + self.plot_height() * (1.0 - v / self.y_max as f64)
    }
}

fn open(svg: &mut String, title: &str) {
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"##
    );
    let _ = write!(
        svg,
        r##"<title>{t}</title><rect width="100%" height="100%" fill="#ffffff"/><text x="{x}" y="30" font-size="18" font-weight="bold" fill="#0f172a" text-anchor="middle">{t}</text>"##,
        t = escape(title),
        x = (LEFT + (WIDTH - LEFT - RIGHT) / 2.0),
    );
}

/// Grid, ticks, axis labels.
fn axes(svg: &mut String, frame: &Frame, step: u64, y_label: &str) {
    let bottom = TOP + frame.plot_height();
    let mut v = 0;
    while v <= frame.y_max {
        let y = frame.y(v as f64);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#e2e8f0"/><text x="{tx}" y="{ty:.1}" font-size="11" fill="#475569" text-anchor="end">{v}</text>"##,
            x2 = LEFT + frame.plot_width(),
            tx = LEFT - 8.0,
            ty = y + 4.0,
        );
        v += step;
    }
    // Up to 8 evenly spaced date labels, always the first and the last.
    let n = frame.dates.len();
    let intervals = n.saturating_sub(1).min(7);
    let mut labelled: Vec<usize> = (0..=intervals)
        .map(|k| {
            (k * n.saturating_sub(1) + intervals / 2)
                .checked_div(intervals)
                .unwrap_or(0)
        })
        .collect();
    labelled.dedup();
    for i in labelled {
        let Some(date) = frame.dates.get(i) else {
            continue;
        };
        let x = frame.x(i);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{b2}" stroke="#475569"/><text x="{x:.1}" y="{ty}" font-size="11" fill="#475569" text-anchor="middle">{d}</text>"##,
            b2 = bottom + 5.0,
            ty = bottom + 19.0,
            d = date.format("%Y-%m-%d"),
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#475569"/><line x1="{LEFT}" y1="{bottom}" x2="{x2}" y2="{bottom}" stroke="#475569"/>"##,
        x2 = LEFT + frame.plot_width(),
    );
    let _ = write!(
        svg,
        r##"<text x="{x}" y="{y}" font-size="12" fill="#0f172a" text-anchor="middle">Date (UTC)</text><text x="18" y="{ym}" font-size="12" fill="#0f172a" text-anchor="middle" transform="rotate(-90 18 {ym})">{label}</text>"##,
        x = LEFT + frame.plot_width() / 2.0,
        y = HEIGHT - 14.0,
        ym = TOP + frame.plot_height() / 2.0,
        label = escape(y_label),
    );
}

fn legend(svg: &mut String, series: &[Series<'_>]) {
    let x = WIDTH - RIGHT + 20.0;
    for (i, s) in series.iter().enumerate() {
        let y = TOP + 10.0 + 24.0 * i as f64;
        let _ = write!(
            svg,
            r##"<rect x="{x}" y="{ry}" width="14" height="14" fill="{c}"/><text x="{tx}" y="{ty}" font-size="12" fill="#0f172a">{l}</text>"##,
            ry = y - 11.0,
            c = s.colour,
            tx = x + 20.0,
            ty = y,
            l = escape(s.label),
        );
    }
}

/// A chart's document opened with its title and axes, for values up to `max` tasks.
fn start(title: &str, dates: &[NaiveDate], max: u64) -> (String, Frame) {
    let (y_max, step) = axis(max);
    let frame = Frame {
        dates: dates.to_vec(),
        y_max,
    };
    let mut svg = String::with_capacity(8192);
    open(&mut svg, title);
    axes(&mut svg, &frame, step, "Tasks");
    (svg, frame)
}

/// A stacked-area chart: the first series at the top of the stack, the last at the bottom
/// (so `done` lies at the bottom of a cumulative-flow diagram, as is customary).
pub fn stacked_area(title: &str, dates: &[NaiveDate], series: &[Series<'_>]) -> String {
    let totals: Vec<u64> = (0..dates.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let (mut svg, frame) = start(title, dates, totals.iter().copied().max().unwrap_or(0));
    // Cumulative from the bottom (last series) up.
    let mut base = vec![0u64; dates.len()];
    for s in series.iter().rev() {
        let top: Vec<u64> = base.iter().zip(&s.values).map(|(b, v)| b + v).collect();
        let mut points = String::new();
        for (i, v) in top.iter().enumerate() {
            let _ = write!(points, "{:.1},{:.1} ", frame.x(i), frame.y(*v as f64));
        }
        for (i, v) in base.iter().enumerate().rev() {
            let _ = write!(points, "{:.1},{:.1} ", frame.x(i), frame.y(*v as f64));
        }
        let _ = write!(
            svg,
            r##"<polygon points="{p}" fill="{c}" fill-opacity="0.85" stroke="{c}" stroke-width="1"><title>{l}</title></polygon>"##,
            p = points.trim_end(),
            c = s.colour,
            l = escape(s.label),
        );
        base = top;
    }
    legend(&mut svg, series);
    svg.push_str("</svg>");
    svg
}

/// A line chart with one line per series.
pub fn lines(title: &str, dates: &[NaiveDate], series: &[Series<'_>]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let (mut svg, frame) = start(title, dates, max);
    for s in series {
        let mut points = String::new();
        for (i, v) in s.values.iter().enumerate() {
            let _ = write!(points, "{:.1},{:.1} ", frame.x(i), frame.y(*v as f64));
        }
        let _ = write!(
            svg,
            r##"<polyline points="{p}" fill="none" stroke="{c}" stroke-width="2.5" stroke-linejoin="round"><title>{l}</title></polyline>"##,
            p = points.trim_end(),
            c = s.colour,
            l = escape(s.label),
        );
        if s.values.len() == 1 {
            let _ = write!(
                svg,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{c}"/>"##,
                x = frame.x(0),
                y = frame.y(s.values[0] as f64),
                c = s.colour,
            );
        }
    }
    legend(&mut svg, series);
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(7), (8, 2));
        assert_eq!(axis(42), (50, 10));
        assert_eq!(axis(1234), (1500, 500));
    }

    #[test]
    fn charts_are_well_formed_and_escaped() {
        let dates: Vec<NaiveDate> = (1..=3)
            .map(|d| NaiveDate::from_ymd_opt(2026, 11, d).expect("date"))
            .collect();
        let series = [
            Series {
                label: "todo",
                colour: "#94a3b8",
                values: vec![3, 2, 1],
            },
            Series {
                label: "done",
                colour: "#22c55e",
                values: vec![0, 1, 2],
            },
        ];
        let svg = stacked_area("A <b> & c", &dates, &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("A &lt;b&gt; &amp; c"));
        assert!(svg.contains("2026-11-01") && svg.contains("2026-11-03"));
        let single = [Series {
            label: "open",
            colour: "#ef4444",
            values: vec![4],
        }];
        let svg = lines("Burndown", &dates[..1], &single);
        assert!(svg.contains("<circle"));
    }
}
