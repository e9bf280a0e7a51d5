//! `diurnal validate`: check CronHPA manifests before they reach a cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use diurnal_api::{Limits, resolve_object_with};

use crate::inputs::{self, FileProblem};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files (multi-document YAML). Documents of other kinds are ignored.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
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
    for path in &args.files {
        let (objects, mut problems) = inputs::read_cronhpas(path);
        if objects.is_empty() && problems.is_empty() {
            problems.push(FileProblem {
                file: path.display().to_string(),
                document: None,
                finding: diurnal_api::Finding::warning("", "no CronHorizontalPodAutoscaler in this file"),
            });
        }
        for located in objects {
            let resolution = resolve_object_with(&located.object, &default_zone, &limits);
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
    if errors > 0 {
        eprintln!("{errors} error(s); {valid} valid CronHorizontalPodAutoscaler(s)");
        Ok(ExitCode::FAILURE)
    } else {
        println!("{valid} valid CronHorizontalPodAutoscaler(s)");
        Ok(ExitCode::SUCCESS)
    }
}
