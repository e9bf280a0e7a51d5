//! `diurnal`: one binary, one subcommand per job.

// jemalloc returns freed memory to the OS promptly (see .cargo/config.toml): the controller's
// resident set at 10,000 CronHPAs is 61 MiB with it, 72 with glibc's allocator, 138 with mimalloc.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod commands;
mod inputs;
mod runtime;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// diurnal makes Kubernetes clusters cheap for workloads with a daily rhythm: scheduled scaling
/// with real time zones, a hybrid VM + virtual-node layout, and a simulator that tells you what
/// it saves.
#[derive(Debug, Parser)]
#[command(name = "diurnal", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print upcoming fires of a schedule expression, or the merged timeline of CronHPA files.
    Next(commands::next::Args),
    /// Check CronHPA manifests: schedules, zones, job names, sizes, targets, exclusions, calendars.
    Validate(commands::validate::Args),
    /// Print the CRDs (`CronHorizontalPodAutoscaler`, `RedeployTrigger`, `Calendar`) as YAML.
    Crd,
    /// Calendars of holidays and make-up working days: import one from an iCalendar file.
    Calendar(commands::calendar::Args),
    /// Check that pod templates headed to a virtual node use only what it can run (offline, for CI).
    Lint(commands::lint::Args),
    /// CronHPAs of the current kubeconfig context (also `kubectl cronhpa`, as `kubectl-cronhpa`).
    Cronhpa(commands::cronhpa::Args),
    /// Run the CronHPA controller (in a cluster, or outside one with --kubeconfig).
    Controller(Box<commands::controller::Args>),
    /// Compare scaling policies on a load trace against the perfect-foresight oracle (no
    /// argument: the bundled field-report example).
    Simulate(commands::simulate::Args),
    /// The price catalogue: presets a scenario can name (`prices: NAME`), sources, assumptions.
    Prices(commands::prices::Args),
    /// Learn a daily/weekly profile from a trace and write a CronHPA, baseline and HPA limits.
    Plan(commands::plan::Args),
    /// Redeploy triggers: a secret URL a CI job calls to roll a Deployment or StatefulSet.
    Trigger(commands::trigger::Args),
    /// The placement admission webhook: baseline on regular nodes, bursts on the virtual node.
    Webhook(commands::webhook::Args),
    /// Print a completion script for bash, zsh, fish, elvish or PowerShell.
    Completions(commands::shell::CompletionsArgs),
    /// Print the man page diurnal(1), or write one page per command into a folder.
    Man(commands::shell::ManArgs),
}

/// Invoked as `kubectl-cronhpa` (kubectl's plugin naming), the arguments are `cronhpa`'s.
fn arguments() -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as =
        args.first().and_then(|a| std::path::Path::new(a).file_stem().map(std::ffi::OsStr::to_os_string));
    if invoked_as.is_some_and(|n| n == "kubectl-cronhpa") {
        args.insert(1, "cronhpa".into());
    }
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(arguments());
    let result = match cli.command {
        Command::Next(args) => commands::next::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Crd => Ok(commands::crd::run()),
        Command::Calendar(args) => commands::calendar::run(&args),
        Command::Lint(args) => commands::lint::run(&args),
        Command::Controller(args) => commands::controller::run(*args),
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Plan(args) => commands::plan::run(&args),
        Command::Prices(args) => commands::prices::run(&args),
        Command::Trigger(args) => commands::trigger::run(args),
        Command::Webhook(args) => commands::webhook::run(args),
        Command::Cronhpa(args) => commands::cronhpa::run(args),
        Command::Completions(args) => Ok(commands::shell::completions(&args, Cli::command())),
        Command::Man(args) => commands::shell::man(&args, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
