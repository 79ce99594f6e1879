//! SVG percentile plots (feature `plot`): latency against percentile on
//! log scales, one line per histogram, the way HdrHistogram's plotter
//! draws them. Used for snapshots and by the benchmark harness.

use super::snapshot::MetricsSnapshot;
use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Why a plot could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("plotting {path}: {message}")]
pub struct PlotError {
    /// The file being written.
    pub path: std::path::PathBuf,
    /// What the drawing backend reported.
    pub message: String,
}

/// Draw one latency-by-percentile chart onto `area`: x is 1/(1-percentile)
/// (10 = p90, 100 = p99, ...), y the value in nanoseconds, both log
/// scales; one line per `(label, histogram)`, empty histograms skipped.
///
/// # Errors
///
/// The backend's error, as text.
pub fn draw_percentiles<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    series: &[(&str, &Histogram<u64>)],
) -> Result<(), String> {
    let max = series
        .iter()
        .map(|(_, h)| h.max())
        .max()
        .unwrap_or(1)
        .max(10) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((1f64..1e6f64).log_scale(), (1f64..max * 2.0).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("1/(1-percentile): 10 = p90, 100 = p99, 1000 = p99.9")
        .y_desc("ns")
        .draw()
        .map_err(|e| e.to_string())?;
    let colors = [&BLUE, &RED, &GREEN, &MAGENTA, &CYAN, &BLACK];
    for (i, (label, h)) in series.iter().filter(|(_, h)| !h.is_empty()).enumerate() {
        let color = colors[i % colors.len()];
        let points: Vec<(f64, f64)> = h
            .iter_quantiles(5)
            .filter(|v| v.quantile_iterated_to() < 1.0)
            .map(|v| {
                (
                    1.0 / (1.0 - v.quantile_iterated_to()),
                    v.value_iterated_to().max(1) as f64,
                )
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, color))
            .map_err(|e| e.to_string())?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())
}

impl MetricsSnapshot {
    /// Write an SVG of every stage's cumulative publish-to-stage latency
    /// by percentile (one line per stage, log scales).
    ///
    /// # Errors
    ///
    /// [`PlotError`] when the file cannot be written.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
    /// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64).metrics_sampling(1));
    /// builder.handler("sink", NoopHandler).add();
    /// let (mut producer, graph) = builder.build_single_producer()?;
    /// let mut metrics = graph.metrics_handle();
    /// producer.publish(7)?;
    /// graph.shutdown()?;
    /// let path = std::env::temp_dir().join(format!("rm-doc-plot-{}.svg", std::process::id()));
    /// metrics.snapshot().write_svg(&path)?;
    /// assert!(std::fs::read_to_string(&path)?.contains("<svg"));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_svg(&self, path: &Path) -> Result<(), PlotError> {
        let failed = |message: String| PlotError {
            path: path.to_path_buf(),
            message,
        };
        let root = SVGBackend::new(path, (1000, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
        let series: Vec<(&str, &Histogram<u64>)> = self
            .stages
            .iter()
            .map(|s| (s.name.as_str(), &s.cumulative.latency_ns))
            .collect();
        draw_percentiles(
            &root,
            "publish-to-stage latency by percentile (ns)",
            &series,
        )
        .map_err(failed)?;
        root.present().map_err(|e| failed(e.to_string()))
    }
}
