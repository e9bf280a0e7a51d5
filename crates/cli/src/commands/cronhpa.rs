//! `diurnal cronhpa ...`, also reached as the kubectl plugin `kubectl cronhpa ...` (the binary
//! installed or linked as `kubectl-cronhpa`): CronHPAs of the current kubeconfig context.

use std::process::ExitCode;

use anyhow::Context as _;
use diurnal_api::{CronHorizontalPodAutoscaler, resolve_object};
use jiff::Timestamp;
use kube::api::{Api, ListParams};

use crate::commands::history;
use crate::commands::next::{format_instant, print_merged};
use crate::{inputs, runtime};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Upcoming fires of CronHPAs in the cluster (one by name, or all of the namespace).
    Next {
        /// CronHPA name (default: every CronHPA of the namespace).
        name: Option<String>,
        #[command(flatten)]
        scope: Scope,
        /// How many fires to print.
        #[arg(long, default_value_t = 5)]
        count: usize,
        /// Zone for CronHPAs that name none; should match the controller's `--default-time-zone`.
        #[arg(long, value_name = "TZ")]
        default_time_zone: Option<String>,
    },
    /// The recent executions of a CronHPA's jobs (`status.jobHistories`): when each fire was
    /// scheduled and applied, what it changed, or why it did nothing.
    History {
        /// CronHPA name.
        name: String,
        /// Only this job's executions.
        #[arg(long)]
        job: Option<String>,
        /// Namespace (default: the kubeconfig context's).
        #[arg(short = 'n', long)]
        namespace: Option<String>,
    },
    /// Target, zone, next fire and last result of each CronHPA.
    List {
        #[command(flatten)]
        scope: Scope,
    },
    /// Check CronHPA manifest files (as `diurnal validate`).
    Validate(crate::commands::validate::Args),
}

#[derive(Debug, clap::Args)]
struct Scope {
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// All namespaces.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
}

impl Scope {
    fn api(&self, client: &kube::Client) -> Api<CronHorizontalPodAutoscaler> {
        match (&self.namespace, self.all_namespaces) {
            (_, true) => Api::all(client.clone()),
            (Some(ns), false) => Api::namespaced(client.clone(), ns),
            (None, false) => Api::default_namespaced(client.clone()),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Validate(v) => crate::commands::validate::run(&v),
        Sub::Next { name, scope, count, default_time_zone } => {
            let zone = inputs::default_zone(default_time_zone.as_deref())?;
            runtime::block_on(async move {
                let api = scope.api(&runtime::kube_client(None).await?);
                let objects = match &name {
                    Some(n) => vec![api.get(n).await.with_context(|| format!("getting CronHPA {n}"))?],
                    None => api.list(&ListParams::default()).await.context("listing CronHPAs")?.items,
                };
                let mut planned = Vec::with_capacity(objects.len());
                for obj in &objects {
                    let resolution = resolve_object(obj, &zone);
                    if let Some(err) = resolution.findings.iter().find(|f| f.is_error()) {
                        eprintln!("warning: {}: {err}", obj.metadata.name.as_deref().unwrap_or(""));
                    }
                    planned.push((obj, resolution.plan));
                }
                print_merged(&planned, Timestamp::now(), None, count, false);
                Ok(ExitCode::SUCCESS)
            })
        }
        Sub::History { name, job, namespace } => runtime::block_on(async move {
            let scope = Scope { namespace, all_namespaces: false };
            let api = scope.api(&runtime::kube_client(None).await?);
            let mut obj = api.get(&name).await.with_context(|| format!("getting CronHPA {name}"))?;
            if let (Some(job), Some(status)) = (&job, obj.status.as_mut()) {
                status.job_histories.retain(|h| h.name == *job);
            }
            history::print(&[&obj], "no executions recorded yet (status.jobHistories is empty)");
            Ok(ExitCode::SUCCESS)
        }),
        Sub::List { scope } => runtime::block_on(async move {
            let api = scope.api(&runtime::kube_client(None).await?);
            let list = api.list(&ListParams::default()).await.context("listing CronHPAs")?;
            println!("NAMESPACE\tNAME\tTARGET\tZONE\tNEXT\tLAST RESULT");
            for obj in list.items {
                let status = obj.status.clone().unwrap_or_default();
                let target = &obj.spec.scale_target_ref;
                println!(
                    "{}\t{}\t{}/{}\t{}\t{}\t{}",
                    obj.metadata.namespace.as_deref().unwrap_or(""),
                    obj.metadata.name.as_deref().unwrap_or(""),
                    target.kind,
                    target.name,
                    obj.spec.time_zone.as_deref().unwrap_or("(default)"),
                    status.next_schedule_time.map_or_else(|| "-".into(), |t| format_instant(t.0)),
                    status.last_result.as_deref().unwrap_or("-"),
                );
            }
            Ok(ExitCode::SUCCESS)
        }),
    }
}
