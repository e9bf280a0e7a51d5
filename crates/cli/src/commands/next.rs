//! `diurnal next`: upcoming fires of one expression, or the merged timeline of CronHPA files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use diurnal_api::CronHorizontalPodAutoscaler;
use diurnal_api::{Limits, resolve_object_in};
use diurnal_core::{Fire, Plan, Schedule};
use jiff::Timestamp;

use crate::inputs::{self, Located};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["schedule", "file"]))]
pub struct Args {
    /// A schedule expression, e.g. "0 0 9 * * MON-FRI" or "@every 90m".
    #[arg(long, value_name = "EXPR")]
    schedule: Option<String>,
    /// CronHPA manifest(s) (multi-document YAML); prints their merged timeline.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Vec<PathBuf>,
    /// Zone of the expression's wall times (with --schedule).
    #[arg(long, value_name = "TZ", requires = "schedule")]
    time_zone: Option<String>,
    /// Zone for CronHPAs that name none (with -f); default `$TZ`, else UTC.
    #[arg(long, value_name = "TZ")]
    default_time_zone: Option<String>,
    /// Phase origin of `@every` (with --schedule); default the Unix epoch.
    #[arg(long, value_name = "RFC3339", requires = "schedule")]
    origin: Option<String>,
    /// Start after this instant (exclusive); default now.
    #[arg(long, value_name = "RFC3339")]
    after: Option<String>,
    /// How many fires to print.
    #[arg(long, default_value_t = 5, conflicts_with = "until")]
    count: usize,
    /// Print every fire up to this instant (inclusive) instead of --count of them (with -f).
    #[arg(long, value_name = "RFC3339", requires = "file")]
    until: Option<String>,
    /// Files with the Calendars the CronHPAs name (with -f; Calendars in the -f files are read
    /// too).
    #[arg(long = "calendar", value_name = "FILE", requires = "file")]
    calendars: Vec<PathBuf>,
    /// Also print fires on excluded days, with a fifth column `excluded` (with -f).
    #[arg(long, requires = "file")]
    show_excluded: bool,
    /// After the upcoming fires, print the recent executions recorded in each object's status
    /// (`status.jobHistories`, as `kubectl get -o yaml` saves it) (with -f).
    #[arg(long, requires = "file")]
    history: bool,
}

/// RFC 3339, UTC, second precision, `Z` suffix: `2026-01-15T00:00:00Z`.
pub fn format_instant(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let after = match &args.after {
        Some(v) => inputs::instant("--after", v)?,
        None => Timestamp::now(),
    };
    match &args.schedule {
        Some(expr) => print_schedule(args, expr, after),
        None => print_timeline(args, after),
    }
}

fn print_schedule(args: &Args, expr: &str, after: Timestamp) -> anyhow::Result<ExitCode> {
    let schedule = Schedule::parse(expr).with_context(|| format!("--schedule {expr:?}"))?;
    let zone = match &args.time_zone {
        Some(name) => diurnal_core::resolve_zone(name).with_context(|| "--time-zone")?,
        None => inputs::default_zone(args.default_time_zone.as_deref())?,
    };
    let origin = args.origin.as_deref().map(|v| inputs::instant("--origin", v)).transpose()?;
    let origin = origin.unwrap_or(Timestamp::UNIX_EPOCH);
    let mut cursor = after;
    for _ in 0..args.count {
        let Some(at) = schedule.next_after(cursor, &zone, origin) else {
            break;
        };
        println!("{}", format_instant(at));
        cursor = at;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_timeline(args: &Args, after: Timestamp) -> anyhow::Result<ExitCode> {
    let default_zone = inputs::default_zone(args.default_time_zone.as_deref())?;
    let until = args.until.as_deref().map(|v| inputs::instant("--until", v)).transpose()?;
    let mut objects: Vec<Located> = Vec::new();
    let mut calendars = Vec::new();
    for path in args.calendars.iter().chain(&args.file) {
        let (found, found_calendars, problems) = inputs::read_manifests(path);
        if let Some(first) = problems.first() {
            bail!("{first}");
        }
        for c in &found_calendars {
            let resolution = diurnal_api::resolve_calendar(&c.object.spec);
            if let Some(err) = resolution.findings.iter().find(|f| f.is_error()) {
                bail!(
                    "{}: document {}: {err} (run `diurnal validate` for every problem)",
                    c.file,
                    c.document
                );
            }
        }
        objects.extend(found);
        calendars.extend(found_calendars);
    }
    let mut plans = Vec::with_capacity(objects.len());
    for located in &objects {
        let known = inputs::calendars_for(&calendars, located.object.metadata.namespace.as_deref());
        let resolution = resolve_object_in(&located.object, &default_zone, &Limits::default(), &known);
        if let Some(err) = resolution.findings.iter().find(|f| f.is_error()) {
            bail!(
                "{}: document {}: {err} (run `diurnal validate` for every problem)",
                located.file,
                located.document
            );
        }
        for warning in resolution.findings.iter().filter(|f| f.path.starts_with("spec.calendars")) {
            eprintln!("warning: {}: document {}: {warning}", located.file, located.document);
        }
        plans.push(resolution.plan);
    }
    let named: Vec<(&CronHorizontalPodAutoscaler, Plan)> =
        objects.iter().map(|l| &l.object).zip(plans).collect();
    let limit = if until.is_some() { usize::MAX } else { args.count };
    print_merged(&named, after, until, limit, args.show_excluded);
    if args.history {
        let all: Vec<&CronHorizontalPodAutoscaler> = named.iter().map(|(o, _)| *o).collect();
        println!();
        crate::commands::history::print(&all, "no executions recorded (no status.jobHistories in the file)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the merged fires of several CronHPAs, `INSTANT<TAB>NS/NAME<TAB>JOB<TAB>TARGET`, after
/// `after` and up to `until` (or `limit` of them). Ties keep the given order, then job order.
pub fn print_merged(
    objects: &[(&CronHorizontalPodAutoscaler, Plan)],
    after: Timestamp,
    until: Option<Timestamp>,
    limit: usize,
    show_excluded: bool,
) {
    // Far enough for any yearly schedule; `limit` stops the merge long before for the others.
    let horizon = until.unwrap_or_else(|| {
        after.saturating_add(jiff::SignedDuration::from_hours(24 * 366 * 8)).unwrap_or(Timestamp::MAX)
    });
    let mut streams: Vec<_> = objects.iter().map(|(_, p)| p.fires(after, horizon).peekable()).collect();
    let mut printed = 0;
    while printed < limit {
        let next = streams.iter_mut().enumerate().filter_map(|(i, s)| s.peek().map(|f| (f.at, i))).min();
        let Some((_, i)) = next else { break };
        let fire: Fire = streams[i].next().expect("peeked");
        if fire.excluded && !show_excluded {
            continue;
        }
        let (object, plan) = &objects[i];
        let namespace = object.metadata.namespace.as_deref().unwrap_or("default");
        let name = object.metadata.name.as_deref().unwrap_or("");
        let job = &plan.jobs[fire.job].name;
        // `min 10 max 60` for a job with floors and ceilings.
        let size = object.spec.jobs.iter().find(|j| j.name == *job).map_or_else(
            || fire.target_size.to_string(),
            |j| diurnal_api::resolve::job_size(&object.spec, j).to_string(),
        );
        let excluded = if fire.excluded { "\texcluded" } else { "" };
        println!("{}\t{namespace}/{name}\t{job}\t{size}{excluded}", format_instant(fire.at));
        printed += 1;
    }
}
