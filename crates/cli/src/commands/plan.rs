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
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Zone of the trace's timestamps and of the CronHPA written.
    #[arg(long, value_name = "TZ", requires = "trace")]
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
    /// Multiplier for the values of --trace.
    #[arg(long, default_value_t = 1.0, requires = "trace")]
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
