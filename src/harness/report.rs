//! Report output: a table for people, JSON for tools, `.hgrm` files for
//! HdrHistogram's plotter, and SVG charts.

use super::run::{Report, Row};
use super::scenario::Scenario;
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

fn rate(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1e6 => format!("{:.1} M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1} k", v / 1e3),
        Some(v) => format!("{v:.0}"),
        None => "-".into(),
    }
}

/// A duration in ns, in the unit that reads best (`850 ns`, `12.3 us`,
/// `4.56 ms`).
pub fn ns(v: u64) -> String {
    if v >= 1_000_000 {
        format!("{:.2} ms", v as f64 / 1e6)
    } else if v >= 10_000 {
        format!("{:.1} us", v as f64 / 1e3)
    } else {
        format!("{v} ns")
    }
}

/// The human-readable table.
pub fn table(report: &Report) -> String {
    let m = &report.machine;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "machine: {} ({} cores), Linux {}",
        m.cpu, m.cores, m.kernel
    );
    let _ = writeln!(
        out,
        "build:   {}, {}, commit {}",
        m.rustc, m.build, m.commit
    );
    if report.rows.iter().any(|r| r.scenario == "latency") {
        let co = match report.co {
            super::params::CoCorrection::IntendedTime => "intended-time stamps",
            super::params::CoCorrection::ExpectedInterval => {
                "send-time stamps, expected-interval correction"
            }
            super::params::CoCorrection::None => "send-time stamps, uncorrected",
        };
        let _ = writeln!(out, "paced:   {co} (--co)");
    }
    if report.handler_work > 0 {
        let _ = writeln!(
            out,
            "handler: {} extra dependent operations per event in every contender (--handler-work)",
            report.handler_work
        );
    }
    let _ = writeln!(
        out,
        "\n{:<14} {:<11} {:>5} {:>24} {:>9} {:>9} {:>9} {:>9} {:>9}  ringmaster vs peer",
        "scenario", "peer", "bytes", "events/s med (min-max)", "p50", "p90", "p99", "p99.9", "max",
    );
    let mut last = "";
    for row in &report.rows {
        if row.scenario != last && !last.is_empty() {
            out.push('\n');
        }
        last = row.scenario;
        let tp = if row.events_per_sec.is_some() {
            format!(
                "{} ({}-{})",
                rate(row.events_per_sec),
                rate(row.events_per_sec_min).trim_end_matches(" M"),
                rate(row.events_per_sec_max)
            )
        } else {
            "INVALID".into()
        };
        let lat = |f: fn(&super::run::Percentiles) -> u64| {
            row.latency_ns.as_ref().map_or("-".into(), |l| ns(f(l)))
        };
        // Ratios are against each scenario's first contender (ringmaster,
        // or the cross-process ring in `shm`).
        let first = report.rows.iter().find(|r| r.scenario == row.scenario);
        let ratio = if first.is_none_or(|f| f.peer == row.peer) {
            String::new()
        } else {
            first
                .and_then(|r| r.ratio_vs.get(row.peer))
                .map_or("-".into(), |v| format!("{v:.2}x"))
        };
        let mut notes = Vec::new();
        if row.oversubscribed {
            notes.push("oversubscribed".to_owned());
        }
        if row.flagged > 0 {
            notes.push(format!("{} flagged", row.flagged));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  [{}]", notes.join(", "))
        };
        let _ = writeln!(
            out,
            "{:<14} {:<11} {:>5} {:>24} {:>9} {:>9} {:>9} {:>9} {:>9}  {}{}",
            row.scenario,
            row.peer,
            row.event_size,
            tp,
            lat(|l| l.p50),
            lat(|l| l.p90),
            lat(|l| l.p99),
            lat(|l| l.p99_9),
            lat(|l| l.max),
            ratio,
            notes
        );
    }
    let batched: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| {
            r.batch_size.is_some() && (r.scenario == "journal" || r.scenario.starts_with("unicast"))
        })
        .collect();
    if !batched.is_empty() {
        let _ = writeln!(
            out,
            "\nbatch sizes at the final stage (events per batch, all repetitions):\n{:<14} {:<14} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "scenario", "peer", "p50", "p90", "p99", "p99.9", "max"
        );
        for row in batched {
            if let Some(b) = &row.batch_size {
                let _ = writeln!(
                    out,
                    "{:<14} {:<14} {:>7} {:>7} {:>7} {:>7} {:>7}",
                    row.scenario, row.peer, b.p50, b.p90, b.p99, b.p99_9, b.max
                );
            }
        }
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in &report.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    let _ = writeln!(
        out,
        "\nratios: median over repetitions of ringmaster/peer, each repetition paired with the peer's adjacent one; \
         events/s for throughput scenarios, inverse p50 for pingpong and latency. > 1: ringmaster ahead."
    );
    out
}

/// Write the JSON report (schema `ringmaster-bench/1`, see docs/benchmarks.md).
///
/// # Errors
///
/// I/O errors creating or writing the file.
pub fn write_json(report: &Report, path: &Path) -> std::io::Result<()> {
    let f = std::fs::File::create(path)?;
    serde_json::to_writer_pretty(std::io::BufWriter::new(f), report).map_err(std::io::Error::other)
}

pub use crate::metrics::hgrm;

/// Write one `.hgrm` per latency row into `dir`.
///
/// # Errors
///
/// I/O errors.
pub fn write_hgrm(report: &Report, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for row in &report.rows {
        if let Some(h) = row.merged_histogram() {
            let path = dir.join(format!("{}-{}.hgrm", row.scenario, row.peer));
            std::fs::File::create(&path)?.write_all(hgrm(h).as_bytes())?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Draw latency-by-percentile charts (one per latency scenario, one line
/// per peer, log scales) and a throughput chart, stacked in one SVG.
///
/// # Errors
///
/// I/O or drawing errors, as text.
pub fn write_svg(report: &Report, path: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let latency: Vec<&str> = Scenario::ALL
        .iter()
        .filter(|s| {
            report
                .rows
                .iter()
                .any(|r| r.scenario == s.name() && r.merged_histogram().is_some())
        })
        .map(|s| s.name())
        .collect();
    let throughput: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.latency_ns.is_none() && r.events_per_sec.is_some())
        .collect();
    let panels = latency.len() + usize::from(!throughput.is_empty());
    if panels == 0 {
        return Err("nothing to plot".into());
    }
    let root = SVGBackend::new(path, (1000, 420 * panels as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let areas = root.split_evenly((panels, 1));
    for (area, scenario) in areas.iter().zip(&latency) {
        let series: Vec<(&str, &Histogram<u64>)> = report
            .rows
            .iter()
            .filter(|r| r.scenario == *scenario)
            .filter_map(|r| r.merged_histogram().map(|h| (r.peer, h)))
            .collect();
        crate::metrics::draw_percentiles(
            area,
            &format!("{scenario}: latency by percentile (ns)"),
            &series,
        )?;
    }
    if let Some(area) = areas.get(latency.len()) {
        let max = throughput
            .iter()
            .filter_map(|r| r.events_per_sec)
            .fold(1.0, f64::max)
            / 1e6;
        let mut chart = ChartBuilder::on(area)
            .caption(
                "throughput, median M events/s (bars), per scenario and peer",
                ("sans-serif", 20),
            )
            .margin(10)
            .x_label_area_size(60)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..throughput.len() as f64, 0f64..max * 1.1)
            .map_err(|e| e.to_string())?;
        let labels: Vec<String> = throughput
            .iter()
            .map(|r| format!("{}/{}", r.scenario, r.peer))
            .collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(throughput.len())
            .x_label_formatter(&|x| labels.get(*x as usize).cloned().unwrap_or_default())
            .y_desc("M events/s")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(throughput.iter().enumerate().map(|(i, r)| {
                let v = r.events_per_sec.unwrap_or(0.0) / 1e6;
                let color = if r.peer == "ringmaster" {
                    BLUE.filled()
                } else {
                    RED.mix(0.6).filled()
                };
                Rectangle::new([(i as f64 + 0.15, 0.0), (i as f64 + 0.85, v)], color)
            }))
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
