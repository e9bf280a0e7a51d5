//! Load traces: a request rate sampled on a regular grid, read from CSV.
//!
//! The one I/O-shaped module of the crate takes text, not paths, so it stays testable; the caller
//! passes the file name for error messages.
//!
//! **Gaps.** The grid's interval is the most common spacing between consecutive timestamps. A
//! spacing that is a whole multiple of it leaves grid points without a sample: those points are
//! *missing* (stored as `NaN`), reported in [`Trace::gaps`], excluded from shortfall and from the
//! planner's profile, and seen by the simulated controllers as the last known value (a real
//! controller keeps its last metric when a scrape fails). Costs keep accruing through a gap.
//! A spacing that is not a multiple of the interval, zero or negative is an error naming the line.

use std::fmt;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// What the value column means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ValueUnit {
    /// A count of requests in each interval (divided by the interval's seconds to get a rate).
    #[default]
    PerInterval,
    /// Already a rate in requests per second.
    PerSecond,
}

/// How to read one CSV trace.
#[derive(Debug, Clone)]
pub struct CsvSpec<'a> {
    /// Header of the timestamp column.
    pub timestamp_column: &'a str,
    /// Header of the value column.
    pub value_column: &'a str,
    /// Zone of timestamps that carry no offset.
    pub time_zone: TimeZone,
    /// What the values mean.
    pub unit: ValueUnit,
    /// Multiplier applied to every value after unit conversion.
    pub scale: f64,
}

/// A run of missing grid points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// The first missing grid point.
    pub from: Timestamp,
    /// How many consecutive grid points are missing.
    pub missing: usize,
    /// The 1-based CSV line of the sample right after the gap.
    pub line: u64,
}

/// A request rate on a regular grid.
#[derive(Debug, Clone)]
pub struct Trace {
    /// Where it came from (for messages and reports).
    pub source: String,
    /// The first grid point.
    pub start: Timestamp,
    /// Seconds between grid points; each value holds for one interval.
    pub interval: i64,
    /// Requests per second over each interval; `NaN` where the sample is missing.
    pub rate: Vec<f64>,
    /// The runs of missing points, in order.
    pub gaps: Vec<Gap>,
}

/// Why a trace could not be read. Every variant names the file, and the line where there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceError {
    /// The CSV is malformed (wrong field count, bad UTF-8...).
    #[error("{file}: line {line}: {message}")]
    Csv {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// A named column is not in the header.
    #[error("{file}: no column {column:?} in the header (columns: {header})")]
    MissingColumn {
        /// File name.
        file: String,
        /// The missing column.
        column: String,
        /// The header's columns, comma separated.
        header: String,
    },
    /// A value is not a finite, non-negative number.
    #[error("{file}: line {line}: value {value:?} is not a non-negative number")]
    BadNumber {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// The offending text.
        value: String,
    },
    /// A timestamp cannot be parsed.
    #[error(
        "{file}: line {line}: cannot read time {value:?}: {reason} (expected e.g. \"2024-05-01 08:30:00\" or RFC 3339 with an offset)"
    )]
    BadTime {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// The offending text.
        value: String,
        /// The parser's reason.
        reason: String,
    },
    /// A timestamp is not after the one before it.
    #[error(
        "{file}: line {line}: time {at} is not after the previous sample's {previous}; timestamps must increase"
    )]
    NotIncreasing {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// This sample's instant.
        at: Timestamp,
        /// The previous sample's instant.
        previous: Timestamp,
    },
    /// A timestamp is off the trace's grid.
    #[error(
        "{file}: line {line}: time {at} is {offset}s after the previous sample, not a multiple of the trace's {interval}s interval"
    )]
    OffGrid {
        /// File name.
        file: String,
        /// 1-based line.
        line: u64,
        /// This sample's instant.
        at: Timestamp,
        /// Seconds since the previous sample.
        offset: i64,
        /// The grid interval.
        interval: i64,
    },
    /// A Prometheus response that cannot be used.
    #[error("{source_name}: {message}")]
    Prometheus {
        /// The server and query.
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// Fewer than two samples: no interval can be inferred.
    #[error("{file}: at least two samples are needed, found {found}")]
    TooShort {
        /// File name.
        file: String,
        /// Samples found.
        found: usize,
    },
}

impl Trace {
    /// Reads a CSV trace from `text`; `file` names it in errors.
    pub fn from_csv(text: &str, file: &str, spec: &CsvSpec<'_>) -> Result<Trace, TraceError> {
        let samples = read_samples(text, file, spec)?;
        Trace::from_samples(&samples, file, spec.unit, spec.scale)
    }

    fn from_samples(
        samples: &[Sample],
        file: &str,
        unit: ValueUnit,
        scale: f64,
    ) -> Result<Trace, TraceError> {
        let spec = (unit, scale);
        let interval = infer_interval(samples)
            .ok_or(TraceError::TooShort { file: file.to_owned(), found: samples.len() })?;
        let per_second = match spec.0 {
            #[allow(clippy::cast_precision_loss)] // intervals are small whole seconds
            ValueUnit::PerInterval => spec.1 / interval as f64,
            ValueUnit::PerSecond => spec.1,
        };
        let start = samples[0].at;
        let mut rate = Vec::with_capacity(samples.len());
        let mut gaps = Vec::new();
        let mut previous: Option<Timestamp> = None;
        for s in samples {
            if let Some(prev) = previous {
                let offset = s.at.as_second() - prev.as_second();
                if offset <= 0 {
                    return Err(TraceError::NotIncreasing {
                        file: file.to_owned(),
                        line: s.line,
                        at: s.at,
                        previous: prev,
                    });
                }
                if offset % interval != 0 {
                    return Err(TraceError::OffGrid {
                        file: file.to_owned(),
                        line: s.line,
                        at: s.at,
                        offset,
                        interval,
                    });
                }
                let missing = usize::try_from(offset / interval - 1).unwrap_or(0);
                if missing > 0 {
                    gaps.push(Gap {
                        from: prev + SignedDuration::from_secs(interval),
                        missing,
                        line: s.line,
                    });
                    rate.extend(std::iter::repeat_n(f64::NAN, missing));
                }
            }
            rate.push(s.value * per_second);
            previous = Some(s.at);
        }
        Ok(Trace { source: file.to_owned(), start, interval, rate, gaps })
    }

    /// Reads the answers of Prometheus `query_range` requests (JSON, in time order, e.g. one per
    /// chunk of a long range). The query must return exactly one series, in requests per second
    /// (e.g. `sum(rate(http_requests_total[5m]))`); its values are multiplied by `scale`. Steps
    /// without a value are gaps, as in a CSV. Gap positions count samples from 1.
    pub fn from_prometheus(responses: &[String], source: &str, scale: f64) -> Result<Trace, TraceError> {
        let bad = |message: String| TraceError::Prometheus { source_name: source.to_owned(), message };
        let mut samples: Vec<Sample> = Vec::new();
        for text in responses {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| bad(format!("the answer is not JSON: {e}")))?;
            if v["status"] != "success" {
                return Err(bad(format!(
                    "query failed: {} {}",
                    v["errorType"].as_str().unwrap_or("error"),
                    v["error"].as_str().unwrap_or("(no message)")
                )));
            }
            if v["data"]["resultType"] != "matrix" {
                return Err(bad(format!(
                    "expected a range vector (matrix), got {}",
                    v["data"]["resultType"]
                )));
            }
            let series = v["data"]["result"].as_array().map_or(&[][..], Vec::as_slice);
            match series.len() {
                0 => continue,
                1 => {}
                n => {
                    let labels: Vec<String> =
                        series.iter().map(|s| s["metric"].to_string()).take(3).collect();
                    return Err(bad(format!(
                        "the query returns {n} series ({}...); aggregate them into one, e.g. sum(...)",
                        labels.join(", ")
                    )));
                }
            }
            for pair in series[0]["values"].as_array().map_or(&[][..], Vec::as_slice) {
                let position = u64::try_from(samples.len() + 1).unwrap_or(u64::MAX);
                let (Some(at), Some(raw)) = (pair[0].as_f64(), pair[1].as_str()) else {
                    return Err(bad(format!("sample {position} is not [time, \"value\"]: {pair}")));
                };
                let value =
                    raw.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                        TraceError::BadNumber {
                            file: source.to_owned(),
                            line: position,
                            value: raw.to_owned(),
                        }
                    })?;
                #[allow(clippy::cast_possible_truncation)] // Prometheus steps are whole seconds here
                let at = Timestamp::from_second(at.round() as i64).map_err(|e| bad(e.to_string()))?;
                if samples.last().is_some_and(|s| s.at == at) {
                    continue; // the boundary step of two consecutive chunks
                }
                samples.push(Sample { at, value, line: position });
            }
        }
        if samples.is_empty() {
            return Err(bad("the query returned no samples in the range".into()));
        }
        Trace::from_samples(&samples, source, ValueUnit::PerSecond, scale)
    }

    /// The instant just after the last grid point's interval.
    pub fn end(&self) -> Timestamp {
        self.at(self.rate.len())
    }

    /// The instant of grid point `index`.
    pub fn at(&self, index: usize) -> Timestamp {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        self.start + SignedDuration::from_secs(index * self.interval)
    }

    /// Number of missing grid points.
    pub fn missing(&self) -> usize {
        self.gaps.iter().map(|g| g.missing).sum()
    }

    /// The part of the trace with grid points in `[from, until)` (clamped to the trace).
    #[must_use]
    pub fn slice(&self, from: usize, until: usize) -> Trace {
        let until = until.min(self.rate.len());
        let from = from.min(until);
        let start = self.at(from);
        let end = self.at(until);
        Trace {
            source: self.source.clone(),
            start,
            interval: self.interval,
            rate: self.rate[from..until].to_vec(),
            gaps: self.gaps.iter().filter(|g| g.from >= start && g.from < end).copied().collect(),
        }
    }

    /// The largest known rate (0 for an empty or all-missing trace).
    pub fn peak(&self) -> f64 {
        self.rate.iter().copied().filter(|r| !r.is_nan()).fold(0.0, f64::max)
    }

    /// A one-line account of the gaps, for reports.
    pub fn gap_summary(&self) -> GapSummary<'_> {
        GapSummary(self)
    }
}

/// Display helper returned by [`Trace::gap_summary`].
#[derive(Debug)]
pub struct GapSummary<'a>(&'a Trace);

impl fmt::Display for GapSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        if t.gaps.is_empty() {
            return write!(f, "no gaps");
        }
        let longest = t.gaps.iter().max_by_key(|g| g.missing).expect("not empty");
        let secs = |n: usize| i64::try_from(n).unwrap_or(i64::MAX) * t.interval;
        write!(
            f,
            "{} gap(s), {} missing point(s) = {} (longest {} from {}, before line {}); missing demand is excluded from shortfall",
            t.gaps.len(),
            t.missing(),
            human_duration(secs(t.missing())),
            human_duration(secs(longest.missing)),
            longest.from,
            longest.line,
        )
    }
}

/// `90061` → `1d 1h 1m`.
pub fn human_duration(secs: i64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let mut out = Vec::new();
    if d > 0 {
        out.push(format!("{d}d"));
    }
    if h > 0 {
        out.push(format!("{h}h"));
    }
    if m > 0 {
        out.push(format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push(format!("{s}s"));
    }
    out.join(" ")
}

struct Sample {
    at: Timestamp,
    value: f64,
    line: u64,
}

fn read_samples(text: &str, file: &str, spec: &CsvSpec<'_>) -> Result<Vec<Sample>, TraceError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let csv_error = |e: &csv::Error| TraceError::Csv {
        file: file.to_owned(),
        line: e.position().map_or(1, csv::Position::line),
        message: e.to_string(),
    };
    let header = reader.headers().map_err(|e| csv_error(&e))?.clone();
    let column = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| TraceError::MissingColumn {
            file: file.to_owned(),
            column: name.to_owned(),
            header: header.iter().collect::<Vec<_>>().join(","),
        })
    };
    let (ti, vi) = (column(spec.timestamp_column)?, column(spec.value_column)?);
    let mut samples = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e))?;
        let line = record.position().map_or(0, csv::Position::line);
        let raw_time = record.get(ti).unwrap_or_default();
        let at = parse_time(raw_time, &spec.time_zone).map_err(|reason| TraceError::BadTime {
            file: file.to_owned(),
            line,
            value: raw_time.to_owned(),
            reason,
        })?;
        let raw_value = record.get(vi).unwrap_or_default();
        let value =
            raw_value.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                TraceError::BadNumber { file: file.to_owned(), line, value: raw_value.to_owned() }
            })?;
        samples.push(Sample { at, value, line });
    }
    Ok(samples)
}

/// A timestamp with an offset (RFC 3339) is taken as is; a civil one (`2024-05-01 08:30:00`) is
/// read in `zone`, a repeated wall time taking the earlier instant.
fn parse_time(raw: &str, zone: &TimeZone) -> Result<Timestamp, String> {
    if let Ok(ts) = raw.parse::<Timestamp>() {
        return Ok(ts);
    }
    let civil: DateTime = raw.parse().map_err(|e: jiff::Error| e.to_string())?;
    zone.to_ambiguous_timestamp(civil).compatible().map_err(|e| e.to_string())
}

/// The most common positive spacing between consecutive samples (smallest on a tie).
fn infer_interval(samples: &[Sample]) -> Option<i64> {
    let mut counts: std::collections::BTreeMap<i64, usize> = std::collections::BTreeMap::new();
    for w in samples.windows(2) {
        let d = w[1].at.as_second() - w[0].at.as_second();
        if d > 0 {
            *counts.entry(d).or_default() += 1;
        }
    }
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|(_, c)| *c == best).map(|(d, _)| d)
}

#[cfg(test)]
mod tests;
