//! `diurnal validate`: check CronHPA and Calendar manifests before they reach a cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use diurnal_api::{Limits, resolve_calendar, resolve_object_in};

use crate::inputs::{self, FileProblem};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files (multi-document YAML). Documents of other kinds are ignored. Calendars
    /// among them are checked too, and the CronHPAs that name them read them.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// More files with Calendars the CronHPAs name (checked like the others).
    #[arg(long = "calendar", value_name = "FILE")]
    calendars: Vec<PathBuf>,
    /// Zone for CronHPAs that name none; default `$TZ`, else UTC.
    #[arg(long, value_name = "TZ")]
    default_time_zone: Option<String>,
    /// The controller's `--min-fire-interval`: jobs firing closer together are errors.
    #[arg(long, default_value = "60s", value_parser = crate::runtime::parse_duration)]
    min_fire_interval: std::time::Duration,
}

/// Prints every problem to stderr (`error: FILE: document N: PATH: message`); exit status 1 when
/// any is an error, 0 when there are only warnings.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let default_zone = inputs::default_zone(args.default_time_zone.as_deref())?;
    let limits = Limits {
        min_fire_interval: jiff::SignedDuration::try_from(args.min_fire_interval)
            .map_err(|_| anyhow::anyhow!("--min-fire-interval is too long"))?,
    };
    let mut errors = 0;
    let mut valid = 0;
    let mut valid_calendars = 0;
    let mut read = Vec::new();
    let mut calendars = Vec::new();
    for path in args.calendars.iter().chain(&args.files) {
        let (objects, found, mut problems) = inputs::read_manifests(path);
        let from_files = args.files.contains(path);
        if from_files && objects.is_empty() && found.is_empty() && problems.is_empty() {
            problems.push(FileProblem {
                file: path.display().to_string(),
                document: None,
                finding: diurnal_api::Finding::warning("", "no CronHorizontalPodAutoscaler in this file"),
            });
        }
        for c in &found {
            let resolution = resolve_calendar(&c.object.spec);
            valid_calendars += usize::from(resolution.calendar.is_some());
            problems.extend(resolution.findings.into_iter().map(|finding| FileProblem {
                file: c.file.clone(),
                document: Some(c.document),
                finding,
            }));
        }
        calendars.extend(found);
        read.push((objects, problems));
    }
    for (objects, mut problems) in read {
        for located in objects {
            let known = inputs::calendars_for(&calendars, located.object.metadata.namespace.as_deref());
            let resolution = resolve_object_in(&located.object, &default_zone, &limits, &known);
            valid += usize::from(resolution.is_valid());
            let later =
                diurnal_api::future_findings(&located.object.spec, &resolution, jiff::Timestamp::now());
            problems.extend(resolution.findings.into_iter().chain(later).map(|finding| FileProblem {
                file: located.file.clone(),
                document: Some(located.document),
                finding,
            }));
        }
        for problem in problems {
            let level = if problem.finding.is_error() { "error" } else { "warning" };
            errors += usize::from(problem.finding.is_error());
            eprintln!("{level}: {problem}");
        }
    }
    let calendars_note =
        if calendars.is_empty() { String::new() } else { format!(", {valid_calendars} valid Calendar(s)") };
    if errors > 0 {
        eprintln!("{errors} error(s); {valid} valid CronHorizontalPodAutoscaler(s){calendars_note}");
        Ok(ExitCode::FAILURE)
    } else {
        println!("{valid} valid CronHorizontalPodAutoscaler(s){calendars_note}");
        Ok(ExitCode::SUCCESS)
    }
}
