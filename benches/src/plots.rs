//! PNG plots of a run with `plotters` (bitmap backend, pure-Rust text through ab_glyph): per workload,
//! latency by percentile (produce and end-to-end) and throughput over time (acknowledged and consumed).
//! Text needs a TrueType font; DejaVu Sans from the system is used, and without it there are no plots.

use crate::error::BenchError;
use crate::loadgen::TICK;
use crate::workloads::Outcome;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;
use std::sync::OnceLock;

/// Fonts tried in order; the first that exists is registered as "sans-serif".
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers a system font once; the error says why plots cannot have text.
fn font_ready() -> Result<(), String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let bytes = FONT_PATHS
                .iter()
                .find_map(|p| std::fs::read(p).ok())
                .ok_or_else(|| format!("no TrueType font found (tried {})", FONT_PATHS.join(", ")))?;
            // plotters keeps registered fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| "the font did not parse".to_string())
        })
        .clone()
}

/// Writes `<dir>/<id>-<broker>.png` for one row and returns its file name.
pub fn plot_outcome(dir: &Path, outcome: &Outcome) -> Result<String, BenchError> {
    let name = format!("{}-{}.png", outcome.id.to_lowercase(), outcome.engine);
    let path = dir.join(&name);
    let fail = |reason: String| BenchError::Plot { file: path.display().to_string(), reason };
    font_ready().map_err(fail)?;
    draw(&path, outcome).map_err(|e| fail(e.to_string()))?;
    Ok(name)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(path: &Path, o: &Outcome) -> DrawResult {
    let root = BitMapBackend::new(path, (1400, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(&format!("{} on {}: {}", o.id, o.engine, o.title), ("sans-serif", 20))?;
    let (left, right) = root.split_horizontally(700);
    latency_panel(&left, o)?;
    throughput_panel(&right, o)?;
    root.present()?;
    Ok(())
}

/// x is the number of nines, -log10(1 - q), so p50, p99, p99.9 are evenly spaced.
fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-6).log10()
}

fn latency_panel(area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, o: &Outcome) -> DrawResult {
    let produce = o.load.produce_latency.percentile_curve();
    let e2e = o.load.e2e_latency.percentile_curve();
    let y_max = produce.iter().chain(e2e.iter()).map(|p| p.1).fold(0.01, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption("latency by percentile", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..5.2f64, (0.01f64..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ms")
        .x_labels(6)
        .x_label_formatter(&|x| match x.round() as i32 {
            0 => "p0".into(),
            1 => "p90".into(),
            2 => "p99".into(),
            3 => "p99.9".into(),
            4 => "p99.99".into(),
            _ => "max".into(),
        })
        .draw()?;
    if o.catch_up.is_some() {
        return Ok(());
    }
    let lines = [("produce", &produce, BLUE), ("end-to-end", &e2e, RED)].map(|(label, curve, color)| {
        (label, curve.iter().map(|(q, ms)| (nines(*q).min(5.2), ms.max(0.01))).collect(), color)
    });
    draw_lines(&mut chart, lines)
}

fn throughput_panel(area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, o: &Outcome) -> DrawResult {
    let tick_secs = TICK.as_secs_f64();
    let record_mb = o.workload.record_bytes as f64 / 1e6;
    let to_series = |ticks: &[u64]| -> Vec<(f64, f64)> {
        ticks.iter().enumerate().map(|(i, n)| (i as f64 * tick_secs, *n as f64 * record_mb / tick_secs)).collect()
    };
    let mut series = vec![("acknowledged", to_series(&o.load.delivered_per_tick), BLUE)];
    match &o.catch_up {
        Some(c) => series = vec![("read back", to_series(&c.per_tick), RED)],
        None => series.push(("consumed", to_series(&o.load.consumed_per_tick), RED)),
    }
    let x_max = series.iter().map(|s| s.1.len() as f64 * tick_secs).fold(tick_secs, f64::max);
    let y_max = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).fold(0.001, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption("throughput over time (100 ms buckets)", ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart.configure_mesh().x_desc("seconds").y_desc("MB/s").draw()?;
    draw_lines(&mut chart, series)
}

/// Draws labelled lines and their legend on a chart.
fn draw_lines<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    lines: impl IntoIterator<Item = (&'static str, Vec<(f64, f64)>, RGBColor)>,
) -> DrawResult
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (label, points, color) in lines {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::loadgen::LoadResult;
    use crate::workloads::{BrokerUsage, Scale, ScaleName, standard};
    use std::time::Duration;

    #[test]
    fn a_workload_plot_is_a_png_file() {
        let workload = standard(&Scale::new(ScaleName::Smoke), &[]).remove(0);
        let mut load = LoadResult {
            delivered: 1000,
            delivered_per_tick: vec![100; 10],
            consumed_per_tick: vec![90; 11],
            ..LoadResult::default()
        };
        for i in 1..1000 {
            load.produce_latency.record(Duration::from_micros(i));
            load.e2e_latency.record(Duration::from_micros(2 * i));
        }
        let outcome = Outcome {
            id: "W1".into(),
            engine: "strata",
            title: workload.title.clone(),
            workload,
            load,
            catch_up: None,
            usage: BrokerUsage::default(),
            many_clients: None,
            failure: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let name = plot_outcome(dir.path(), &outcome).unwrap();
        if let Ok(keep) = std::env::var("STRATA_BENCH_KEEP_PLOT") {
            std::fs::copy(dir.path().join(&name), keep).unwrap();
        }
        let bytes = std::fs::read(dir.path().join(name)).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 10_000);
    }
}
