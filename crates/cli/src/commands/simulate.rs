//! `diurnal simulate`: what each scaling policy costs on a load trace, against the oracle.
//!
//! With no scenario it runs the bundled field-report example, embedded in the binary so it works
//! from any directory.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use diurnal_sim::report;
use diurnal_sim::scenario::Scenario;
use diurnal_sim::study::{self, Study};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bundled example: `examples/seed-architecture/simulation/scenario.yaml` and the files it
/// names.
const EMBEDDED_SCENARIO: (&str, &str) = (
    "examples/seed-architecture/simulation/scenario.yaml",
    include_str!("../../../../examples/seed-architecture/simulation/scenario.yaml"),
);
const EMBEDDED_FILES: &[(&str, &str)] = &[
    ("cronhpa.yaml", include_str!("../../../../examples/seed-architecture/simulation/cronhpa.yaml")),
    ("../../traces/nyc_taxi.csv", include_str!("../../../../examples/traces/nyc_taxi.csv")),
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (YAML; see docs/simulator.md). Default: the bundled field-report example.
    #[arg(value_name = "SCENARIO")]
    scenario: Option<PathBuf>,
    /// Print the results as JSON (schema in docs/simulator.md) instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report with charts to this file.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Override `evaluation.step_seconds`.
    #[arg(long, value_name = "SECONDS")]
    step: Option<i64>,
    /// Override `evaluation.holdout_days`.
    #[arg(long, value_name = "DAYS")]
    holdout_days: Option<u32>,
    /// Benchmark instead: the scenario's workload scaled into --bench-workloads workloads, the
    /// first --bench-days days, 4 policies, --bench-step second steps, on every core.
    #[arg(long)]
    bench: bool,
    /// Workloads in the benchmark.
    #[arg(long, default_value_t = 100, requires = "bench")]
    bench_workloads: usize,
    /// Days of trace per workload in the benchmark.
    #[arg(long, default_value_t = 30, requires = "bench")]
    bench_days: usize,
    /// Step of the benchmark, seconds.
    #[arg(long, default_value_t = 1, requires = "bench")]
    bench_step: i64,
}

/// A scenario and a way to read the files it names.
pub struct Loaded {
    pub scenario: Scenario,
    pub file: String,
    base: Option<PathBuf>,
    /// A trace that replaces the scenario's (e.g. read from Prometheus).
    pub trace_override: Option<diurnal_sim::trace::Trace>,
}

impl Loaded {
    /// Reads the scenario at `path`, or the embedded one.
    pub fn new(path: Option<&Path>) -> anyhow::Result<Loaded> {
        let Some(path) = path else {
            let (file, text) = EMBEDDED_SCENARIO;
            return Ok(Loaded {
                scenario: Scenario::parse(text, file)?,
                file: file.to_owned(),
                base: None,
                trace_override: None,
            });
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file = path.display().to_string();
        let mut scenario = Scenario::parse(&text, &file)?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if let Some(csv) = scenario.regular_nodes.opencost_csv.clone() {
            let csv_path = base.join(&csv.path);
            let shown = csv_path.display().to_string();
            let text =
                std::fs::read_to_string(&csv_path).with_context(|| format!("{file}: reading {shown}"))?;
            scenario.apply_opencost_csv(&text, &shown)?;
        }
        Ok(Loaded { scenario, file, base: Some(base.to_path_buf()), trace_override: None })
    }

    /// Reads files named in the scenario from disk (relative to the working directory when the
    /// scenario is the embedded one), e.g. after `--trace` replaced its trace.
    pub fn use_files_from_disk(&mut self) {
        if self.base.is_none() {
            self.base = Some(PathBuf::from("."));
        }
    }

    /// A file named in the scenario, relative to it.
    pub fn read(&self, name: &str) -> Result<String, String> {
        match &self.base {
            Some(base) => std::fs::read_to_string(base.join(name)).map_err(|e| e.to_string()),
            None => EMBEDDED_FILES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, text)| (*text).to_owned())
                .ok_or_else(|| format!("not embedded in the binary: {name}")),
        }
    }

    /// How a file named in the scenario is shown in messages.
    pub fn display(&self, name: &str) -> String {
        match &self.base {
            Some(base) => base.join(name).display().to_string(),
            None => format!("(embedded) examples/seed-architecture/simulation/{name}"),
        }
    }

    /// Reads the workload's trace.
    pub fn trace(&self) -> anyhow::Result<diurnal_sim::trace::Trace> {
        if let Some(t) = &self.trace_override {
            return Ok(t.clone());
        }
        let name = &self.scenario.workload.trace.path;
        let shown = self.display(name);
        let text = self.read(name).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
        Ok(self.scenario.read_trace(&text, &shown)?)
    }

    /// Runs the study, with a progress bar on stderr once it has taken a second (none if `quiet`).
    pub fn study(&self, quiet: bool) -> anyhow::Result<Study> {
        let trace = self.trace()?;
        let started = Instant::now();
        let bar: RefCell<Option<ProgressBar>> = RefCell::new(None);
        let progress = |done: u64, total: u64| {
            if quiet || started.elapsed() < Duration::from_secs(1) {
                return;
            }
            let mut bar = bar.borrow_mut();
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template("simulating {bar:40} {percent}% ({elapsed})")
                {
                    b.set_style(style);
                }
                b
            });
            b.set_position(done);
        };
        let read = |name: &str| self.read(name);
        let result = study::run(&self.scenario, &trace, &read, &progress);
        if let Some(b) = bar.borrow().as_ref() {
            b.finish_and_clear();
        }
        result.with_context(|| format!("scenario {}", self.file))
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut loaded = Loaded::new(args.scenario.as_deref())?;
    if let Some(step) = args.step {
        loaded.scenario.evaluation.step_seconds = step;
    }
    if let Some(days) = args.holdout_days {
        loaded.scenario.evaluation.holdout_days = Some(days);
    }
    if args.bench {
        return bench(&loaded, args);
    }
    let study = loaded.study(args.json)?;
    if args.json {
        println!("{}", report::json(&study));
    } else {
        print!("{}", report::table(&study));
    }
    if let Some(path) = &args.report {
        std::fs::write(path, report::html::page(&study))
            .with_context(|| format!("writing {}", path.display()))?;
        if !args.json {
            println!("\nreport written to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(loaded: &Loaded, args: &Args) -> anyhow::Result<ExitCode> {
    let trace = loaded.trace()?;
    let cluster = loaded.scenario.cluster();
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let started = Instant::now();
    let steps = diurnal_sim::bench::run(
        &trace,
        &cluster,
        &loaded.scenario.workload.trace.time_zone,
        args.bench_workloads,
        args.bench_days,
        args.bench_step,
        threads,
    )?;
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = steps as f64 / secs;
    println!(
        "{} workloads x {} days x {} policies at {}s steps on {} thread(s): {} workload-steps in {:.1} s = {:.1} million workload-steps/s",
        args.bench_workloads,
        args.bench_days,
        diurnal_sim::bench::POLICIES,
        args.bench_step,
        threads,
        steps,
        secs,
        rate / 1e6
    );
    Ok(ExitCode::SUCCESS)
}
