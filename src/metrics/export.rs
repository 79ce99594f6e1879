//! Exports of a [`MetricsSnapshot`]: a one-line-per-stage summary for
//! people, JSON for tools, HdrHistogram's percentile-distribution text
//! (`.hgrm`, loadable by HdrHistogram's plotter) per stage.

use super::figures::StageFigures;
use super::snapshot::{MetricsSnapshot, StageGroupKind, StageSnapshot};
use hdrhistogram::Histogram;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// HdrHistogram's percentile-distribution text, as its
/// `HistogramLogProcessor` writes it (values as recorded, here
/// nanoseconds; 5 ticks per half distance).
///
/// # Examples
///
/// ```
/// let mut h = hdrhistogram::Histogram::<u64>::new(3)?;
/// h.record(1_000)?;
/// let text = ringmaster::metrics::hgrm(&h);
/// assert!(text.starts_with("       Value     Percentile"));
/// assert!(text.contains("Total count    =            1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let inv = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            format!("{:>14}", "")
        };
        let _ = writeln!(
            out,
            "{:>12.3} {:>14.12} {:>10} {}",
            v.value_iterated_to() as f64,
            q,
            v.count_since_last_iteration(),
            inv
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean(),
        h.stdev()
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

/// Nanoseconds as a short human figure: `850ns`, `12.3us`, `4.56ms`, `1.20s`.
pub(crate) fn human_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}us", v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2}ms", v / 1e6)
    } else {
        format!("{:.2}s", v / 1e9)
    }
}

fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}/s")
    }
}

impl MetricsSnapshot {
    /// One line per stage for the interval: throughput, latency p50, p99,
    /// p99.9 and max, mean batch size and lag now. Latency figures are `-`
    /// for an interval without a sampled event.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
    /// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
    /// builder.handler("sink", NoopHandler).add();
    /// let (_producer, graph) = builder.build_single_producer()?;
    /// let summary = graph.metrics().summary();
    /// assert!(summary.lines().nth(1).unwrap().starts_with("sink"));
    /// graph.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn summary(&self) -> String {
        let groups = self.groups.iter().map(|g| {
            let what = match g.kind {
                StageGroupKind::Partitioned => "partitions",
                StageGroupKind::WorkPool => "workers",
            };
            (
                format!("{} ({} {what})", g.stage.name, g.members.len()),
                &g.stage,
            )
        });
        let rows: Vec<(String, &StageSnapshot)> = self
            .stages
            .iter()
            .map(|s| (s.name.clone(), s))
            .chain(groups)
            .collect();
        let width = rows
            .iter()
            .map(|(name, _)| name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!(
            "{:<width$} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8}\n",
            "stage", "rate", "p50", "p99", "p99.9", "max", "batch", "lag"
        );
        for (name, s) in rows {
            let l = &s.interval.latency_ns;
            let q = |q: f64| {
                if l.is_empty() {
                    "-".to_owned()
                } else {
                    human_ns(l.value_at_quantile(q))
                }
            };
            let batch = if s.interval.batches == 0 {
                "-".to_owned()
            } else {
                format!(
                    "{:.1}",
                    s.interval.events as f64 / s.interval.batches as f64
                )
            };
            let _ = writeln!(
                out,
                "{:<width$} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8}",
                name,
                rate(s.events_per_sec),
                q(0.5),
                q(0.99),
                q(0.999),
                if l.is_empty() {
                    "-".to_owned()
                } else {
                    human_ns(l.max())
                },
                batch,
                s.lag
            );
        }
        out
    }

    /// The snapshot as JSON (schema `ringmaster-metrics/1`, documented in
    /// `docs/metrics.md`): counters, and for each histogram its count,
    /// min, mean, p50, p90, p99, p99.9, p99.99 and max.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
    /// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
    /// builder.handler("sink", NoopHandler).add();
    /// let (_producer, graph) = builder.build_single_producer()?;
    /// let json = graph.metrics().to_json();
    /// assert!(json.starts_with(r#"{"schema":"ringmaster-metrics/1""#));
    /// assert!(json.contains(r#""name":"sink""#));
    /// graph.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            r#"{{"schema":"ringmaster-metrics/1","elapsed_s":{},"interval_s":{},"sampling":{},"capacity":{},"cursor":{},"occupancy":{},"producer_waits_ns":{},"stages":["#,
            self.elapsed.as_secs_f64(),
            self.interval.as_secs_f64(),
            self.sampling,
            self.capacity,
            self.cursor,
            self.occupancy,
            histogram_json(&self.producer_waits_ns),
        );
        for (i, s) in self.stages.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('{');
            stage_json(&mut out, s);
            out.push('}');
        }
        out.push_str(r#"],"groups":["#);
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let kind = match g.kind {
                StageGroupKind::Partitioned => "partitioned",
                StageGroupKind::WorkPool => "work_pool",
            };
            let _ = write!(out, r#"{{"kind":"{kind}","members":["#);
            for (j, member) in g.members.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                json_string(&mut out, member);
            }
            out.push_str("],");
            stage_json(&mut out, &g.stage);
            out.push('}');
        }
        out.push_str("]}");
        out
    }

    /// Write each stage's cumulative latency as `<dir>/<stage>.hgrm`
    /// (the directory is created if needed; stage names are made safe
    /// for file names).
    ///
    /// # Errors
    ///
    /// I/O errors creating the directory or writing a file.
    pub fn write_hgrm(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::with_capacity(self.stages.len());
        for s in &self.stages {
            let path = dir.join(format!("{}.hgrm", file_safe(&s.name)));
            std::fs::File::create(&path)?.write_all(hgrm(&s.cumulative.latency_ns).as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }
}

/// A stage's fields, without the braces.
fn stage_json(out: &mut String, s: &StageSnapshot) {
    out.push_str(r#""name":"#);
    json_string(out, &s.name);
    let _ = write!(
        out,
        r#","sequence":{},"lag":{},"events_per_sec":{:.1},"cumulative":{},"interval":{}"#,
        s.sequence,
        s.lag,
        s.events_per_sec,
        figures_json(&s.cumulative),
        figures_json(&s.interval),
    );
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn figures_json(f: &StageFigures) -> String {
    format!(
        r#"{{"events":{},"batches":{},"latency_ns":{},"batch_size":{},"lag":{}}}"#,
        f.events,
        f.batches,
        histogram_json(&f.latency_ns),
        histogram_json(&f.batch_sizes),
        histogram_json(&f.lag),
    )
}

fn histogram_json(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return r#"{"count":0}"#.to_owned();
    }
    format!(
        r#"{{"count":{},"min":{},"mean":{:.1},"p50":{},"p90":{},"p99":{},"p999":{},"p9999":{},"max":{}}}"#,
        h.len(),
        h.min(),
        h.mean(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.value_at_quantile(0.9999),
        h.max(),
    )
}

/// Append `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn human_figures() {
        assert_eq!(human_ns(850), "850ns");
        assert_eq!(human_ns(12_345), "12.3us");
        assert_eq!(human_ns(4_560_000), "4.56ms");
        assert_eq!(human_ns(1_200_000_000), "1.20s");
        assert_eq!(file_safe("a/b c"), "a_b_c");
    }
}
