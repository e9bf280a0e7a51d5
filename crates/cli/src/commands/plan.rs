//! `diurnal plan`: learn the daily/weekly profile of a trace and write a CronHPA for it, with the
//! recommended baseline node count and HPA limits. Honest by construction: it fits on the first
//! part of the trace and reports how the plan does on the part that follows, which it never saw.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use diurnal_sim::scenario::PolicyName;
use diurnal_sim::trace::ValueUnit;

use super::simulate::Loaded;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV trace to learn from. Default: the scenario's trace.
    #[arg(long, value_name = "FILE", conflicts_with = "prometheus")]
    trace: Option<PathBuf>,
    /// Learn from a Prometheus server instead (plain http://host:port[/prefix]).
    #[arg(long, value_name = "URL", requires = "query")]
    prometheus: Option<String>,
    /// Prometheus query returning one series in requests per second, e.g. `sum(rate(http_requests_total[5m]))`.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    query: Option<String>,
    /// How far back from --end to read, e.g. 28d, 6w, 12h.
    #[arg(long, value_name = "DURATION", default_value = "28d", requires = "prometheus")]
    range: String,
    /// Resolution of the Prometheus query, e.g. 1m, 5m.
    #[arg(long, value_name = "DURATION", default_value = "1m", requires = "prometheus")]
    step: String,
    /// End of the Prometheus range (RFC 3339); default now.
    #[arg(long, value_name = "RFC3339", requires = "prometheus")]
    end: Option<String>,
    /// Give up on a Prometheus server that has not accepted the connection after this long.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::runtime::parse_duration)]
    prometheus_connect_timeout: std::time::Duration,
    /// Give up on a `query_range` request whose whole answer has not arrived after this long
    /// (a server that accepts and never answers, or answers too slowly).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = crate::runtime::parse_duration)]
    prometheus_timeout: std::time::Duration,
    /// Zone of the trace's timestamps and of the CronHPA written (with --trace or --prometheus).
    #[arg(long, value_name = "TZ")]
    time_zone: Option<String>,
    /// Timestamp column of --trace.
    #[arg(long, default_value = "timestamp", requires = "trace")]
    timestamp_column: String,
    /// Value column of --trace.
    #[arg(long, default_value = "value", requires = "trace")]
    value_column: String,
    /// What the values of --trace are.
    #[arg(long, value_enum, default_value_t = ValueUnitArg::PerInterval, requires = "trace")]
    unit: ValueUnitArg,
    /// Multiplier for the values of --trace or --prometheus.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Scenario giving the workload, prices and planner settings. Default: the bundled example.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Requests per second one pod serves (overrides the scenario's).
    #[arg(long, value_name = "RPS")]
    requests_per_pod: Option<f64>,
    /// At most this many CronHPA fires a day (overrides the scenario's).
    #[arg(long, value_name = "N")]
    jobs_per_day: Option<u32>,
    /// Head-room over the learned profile, e.g. 0.1 (overrides the scenario's).
    #[arg(long)]
    headroom: Option<f64>,
    /// Days at the end held out for evaluation (default: a quarter of the trace, at least 7).
    #[arg(long, value_name = "DAYS")]
    holdout_days: Option<u32>,
    /// Write the CronHPA manifest here instead of standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `--unit`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ValueUnitArg {
    /// A count per trace interval.
    PerInterval,
    /// A rate per second.
    PerSecond,
}

impl From<ValueUnitArg> for ValueUnit {
    fn from(u: ValueUnitArg) -> Self {
        match u {
            ValueUnitArg::PerInterval => ValueUnit::PerInterval,
            ValueUnitArg::PerSecond => ValueUnit::PerSecond,
        }
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut loaded = Loaded::new(args.scenario.as_deref())?;
    let s = &mut loaded.scenario;
    if let Some(path) = &args.trace {
        let zone =
            args.time_zone.clone().context("--trace needs --time-zone (the zone of its timestamps)")?;
        jiff::tz::TimeZone::get(&zone).with_context(|| format!("--time-zone {zone:?}"))?;
        let t = &mut s.workload.trace;
        t.path = std::fs::canonicalize(path)
            .with_context(|| format!("reading {}", path.display()))?
            .display()
            .to_string();
        t.time_zone = zone;
        t.timestamp_column.clone_from(&args.timestamp_column);
        t.value_column.clone_from(&args.value_column);
        t.unit = args.unit.into();
        t.scale = args.scale;
        loaded.use_files_from_disk();
    }
    if let Some(url) = &args.prometheus {
        learn_from_prometheus(args, url, &mut loaded)?;
    }
    let s = &mut loaded.scenario;
    if let Some(rps) = args.requests_per_pod {
        s.workload.requests_per_pod = rps;
    }
    if let Some(n) = args.jobs_per_day {
        s.planner.jobs_per_day = n;
    }
    if let Some(h) = args.headroom {
        s.planner.headroom = h;
    }
    if let Some(d) = args.holdout_days {
        s.evaluation.holdout_days = Some(d);
    }
    s.policies = vec![PolicyName::Diurnal];
    s.hybrid = None;
    s.cronhpa = None;
    let study = loaded.study(false)?;
    let p = &study.planner;
    if let Some(path) = &args.output {
        std::fs::write(path, &p.cronhpa_yaml).with_context(|| format!("writing {}", path.display()))?;
    } else {
        print!("{}", p.cronhpa_yaml);
        if !p.cronhpa_yaml.ends_with('\n') {
            println!();
        }
    }
    eprintln!(
        "# fit window {} .. {} ({:.1} days) of {}; a {} profile learned from its last {} days (quantile {}, head-room {:.0}%)",
        study.fit.start,
        study.fit.end,
        study.fit.days,
        study.trace,
        p.profile,
        study.scenario.planner.history_days,
        p.quantile,
        p.headroom * 100.0
    );
    eprintln!(
        "# {} jobs, at most {} fires a day; baseline {} regular node(s); HPA minReplicas {}, maxReplicas {}, target {:.0}%",
        p.jobs,
        p.max_fires_per_day,
        p.baseline_nodes,
        p.hpa_min,
        p.hpa_max,
        p.target_utilization * 100.0
    );
    eprintln!(
        "# in sample (fit window): cost {:.2} {c}, {:.3} x oracle, shortfall {:.3}%",
        p.in_sample.cost,
        p.in_sample.cost_ratio_to_oracle,
        p.in_sample.shortfall * 100.0,
        c = study.currency
    );
    eprintln!(
        "# held out ({} .. {}, {:.1} days, never seen by the planner): cost {:.2} {c}, {:.3} x oracle, shortfall {:.3}%",
        study.evaluation.start,
        study.evaluation.end,
        study.evaluation.days,
        p.held_out.cost,
        p.held_out.cost_ratio_to_oracle,
        p.held_out.shortfall * 100.0,
        c = study.currency
    );
    Ok(ExitCode::SUCCESS)
}

/// `90s`, `15m`, `12h`, `28d`, `6w` → seconds.
fn seconds(text: &str) -> anyhow::Result<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().context("expected a whole number and a unit (s, m, h, d, w)")?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        other => anyhow::bail!("unknown unit {other:?}; use s, m, h, d or w"),
    };
    anyhow::ensure!(n > 0, "must be positive");
    Ok(n * unit)
}

/// Reads the trace from Prometheus (`--prometheus`, `--query`, `--range`, `--step`, `--end`) in
/// place of the scenario's.
fn learn_from_prometheus(args: &Args, url: &str, loaded: &mut Loaded) -> anyhow::Result<()> {
    let zone = args.time_zone.clone().context("--prometheus needs --time-zone (the CronHPA's zone)")?;
    jiff::tz::TimeZone::get(&zone).with_context(|| format!("--time-zone {zone:?}"))?;
    let end = match &args.end {
        Some(e) => e.parse().with_context(|| format!("--end {e:?} is not an RFC 3339 instant"))?,
        None => jiff::Timestamp::now(),
    };
    let range = seconds(&args.range).with_context(|| format!("--range {:?}", args.range))?;
    let step = seconds(&args.step).with_context(|| format!("--step {:?}", args.step))?;
    let query = args.query.as_deref().unwrap_or_default();
    let timeouts =
        prometheus::Timeouts { connect: args.prometheus_connect_timeout, request: args.prometheus_timeout };
    let answers =
        prometheus::query_range(url, query, end.as_second() - range, end.as_second(), step, timeouts)?;
    let source = format!("{url} {query}");
    let trace = diurnal_sim::trace::Trace::from_prometheus(&answers, &source, args.scale)?;
    let t = &mut loaded.scenario.workload.trace;
    t.path = source;
    t.time_zone = zone;
    loaded.trace_override = Some(trace);
    Ok(())
}

/// A minimal HTTP/1.0 client for Prometheus' `query_range` API (plain http only).
mod prometheus {
    use std::io::{ErrorKind, Read as _, Write as _};
    use std::net::{TcpStream, ToSocketAddrs as _};
    use std::time::{Duration, Instant};

    use anyhow::{Context as _, bail};

    /// Prometheus refuses more than 11,000 points per series; stay below.
    const MAX_POINTS: i64 = 10_000;

    /// How long a request may take: a server that accepts and never answers (or a black-holed
    /// address) must end the command with an error, not hang it.
    #[derive(Debug, Clone, Copy)]
    pub struct Timeouts {
        /// Until the TCP connection is established (`--prometheus-connect-timeout`).
        pub connect: Duration,
        /// Until the whole answer has arrived, from the start of the request
        /// (`--prometheus-timeout`).
        pub request: Duration,
    }

    /// The JSON answers for `[start, end]` at `step`, one per chunk of at most [`MAX_POINTS`].
    pub fn query_range(
        url: &str,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
        timeouts: Timeouts,
    ) -> anyhow::Result<Vec<String>> {
        let rest = url.strip_prefix("http://").context("--prometheus must be an http:// URL")?;
        let (host, prefix) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        let prefix = prefix.trim_end_matches('/');
        let mut answers = Vec::new();
        let mut from = start;
        while from <= end {
            let to = (from + step * (MAX_POINTS - 1)).min(end);
            let path = format!(
                "{}/api/v1/query_range?query={}&start={from}&end={to}&step={step}",
                if prefix.is_empty() { String::new() } else { format!("/{prefix}") },
                encode(query)
            );
            answers.push(get(host, &path, timeouts).with_context(|| format!("GET http://{host}{path}"))?);
            from = to + step;
        }
        Ok(answers)
    }

    fn get(host: &str, path: &str, timeouts: Timeouts) -> anyhow::Result<String> {
        let started = Instant::now();
        let mut stream = connect(host, timeouts.connect)?;
        let timed_out = || {
            anyhow::anyhow!(
                "no complete answer within {:?} (--prometheus-timeout): is the server answering?",
                timeouts.request
            )
        };
        // Each read and write may wait only for what is left of the request's time.
        let left = || timeouts.request.checked_sub(started.elapsed()).filter(|d| !d.is_zero());
        stream.set_write_timeout(Some(left().ok_or_else(timed_out)?))?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| if is_timeout(&e) { timed_out() } else { e.into() })?;
        let mut raw = Vec::new();
        let mut chunk = vec![0_u8; 64 * 1024];
        loop {
            stream.set_read_timeout(Some(left().ok_or_else(timed_out)?))?;
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(timed_out()),
                Err(e) => return Err(e.into()),
            }
        }
        let text = String::from_utf8(raw).context("the answer is not UTF-8")?;
        let Some((head, body)) = text.split_once("\r\n\r\n") else { bail!("no HTTP header in the answer") };
        let status = head.lines().next().unwrap_or_default();
        // Prometheus answers errors with a JSON body the trace reader reports; anything else is fatal.
        if !status.contains(" 200 ") && !body.trim_start().starts_with('{') {
            bail!("{status}");
        }
        Ok(body.to_owned())
    }

    /// A connection to the first of `host`'s addresses that accepts within `timeout` each.
    fn connect(host: &str, timeout: Duration) -> anyhow::Result<TcpStream> {
        let mut last = None;
        for addr in host.to_socket_addrs().with_context(|| format!("resolving {host}"))? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => return Ok(stream),
                Err(e) if is_timeout(&e) => {
                    last = Some(anyhow::anyhow!(
                        "{addr} did not accept a connection within {timeout:?} (--prometheus-connect-timeout)"
                    ));
                }
                Err(e) => last = Some(e.into()),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("{host} resolves to no address")))
    }

    fn is_timeout(e: &std::io::Error) -> bool {
        matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters.
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn encodes_promql() {
            assert_eq!(
                super::encode("sum(rate(x{a=\"b\"}[5m]))"),
                "sum%28rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29%29"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::seconds("28d").unwrap(), 28 * 86_400);
        assert_eq!(super::seconds("1m").unwrap(), 60);
        assert!(super::seconds("5y").is_err());
        assert!(super::seconds("m").is_err());
    }
}
