//! `diurnal controller`: run the CronHPA controller against a cluster.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use diurnal_controller::http::Health;
use diurnal_controller::lead;
use diurnal_controller::metrics::Metrics;
use diurnal_controller::runner::{self, LeaseSettings, Settings};
use tracing::{error, info};

use crate::inputs;
use crate::runtime::{self, OnOff, ServerArgs, parse_duration};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubeconfig to use outside a cluster; in a cluster the pod's service account is used.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Watch CronHPAs of one namespace only (default: all namespaces).
    #[arg(long, value_name = "NS")]
    namespace: Option<String>,
    /// Zone for CronHPAs that name none; default `$TZ`, else UTC.
    #[arg(long, value_name = "TZ")]
    default_time_zone: Option<String>,
    /// Move an HPA's floor instead of scaling a workload the HPA manages.
    #[arg(long, value_enum, default_value = "on")]
    hpa_coordination: OnOff,
    /// Elect a leader through a coordination.k8s.io Lease; only the leader fires.
    #[arg(long, value_enum, default_value = "on")]
    leader_election: OnOff,
    /// Name of the Lease.
    #[arg(long, default_value = "diurnal-controller")]
    lease_name: String,
    /// Namespace of the Lease (default: `$POD_NAMESPACE`, else `default`).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Seconds a leader's claim lasts (at least 3); a standby takes over within this after the
    /// leader dies. The leader renews a third of it (at least 2 s) before it runs out.
    #[arg(long, default_value_t = 15)]
    lease_duration: u64,
    /// This replica's name in the Lease and in Events (default: `$POD_NAME`, else the host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    #[command(flatten)]
    server: ServerArgs,
    /// Fires applied at the same time, at most (each holds one API connection while it runs);
    /// more wait, served namespace by namespace in turn.
    #[arg(long, default_value_t = 1024)]
    max_parallel_fires: usize,
    /// A job whose fires can come closer together than this is refused (its status says why);
    /// `0s`: no minimum. See docs/security.md.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    min_fire_interval: std::time::Duration,
    /// Export the per-job series (next/last fire, failed) for at most this many jobs; `0` turns
    /// them off. The rest are counted in `diurnal_cronhpa_job_series_omitted`.
    #[arg(long, default_value_t = diurnal_controller::metrics::DEFAULT_MAX_JOB_SERIES)]
    max_job_series: usize,
    /// Watch `diurnal.dev` Calendars (`spec.calendars` of CronHPAs). Where the API server does
    /// not serve the Calendar kind (its CRD not installed), the controller says so at start and
    /// plans without Calendars; `off` skips the watch: every named calendar is then missing.
    #[arg(long, value_enum, default_value = "on")]
    calendars: OnOff,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: runtime::LogFormat,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    runtime::init_logging(args.log_format);
    let default_zone = inputs::default_zone(args.default_time_zone.as_deref())?;
    let identity = args.identity.clone().unwrap_or_else(runtime::host_identity);
    let settings = Settings {
        namespace: args.namespace.clone(),
        default_zone,
        hpa_coordination: args.hpa_coordination == OnOff::On,
        lease: (args.leader_election == OnOff::On).then(|| LeaseSettings {
            namespace: args.lease_namespace.clone(),
            name: args.lease_name.clone(),
            duration_secs: args.lease_duration.max(lead::MIN_LEASE_DURATION_SECS),
            grace_secs: lead::renew_grace_secs(args.lease_duration.max(lead::MIN_LEASE_DURATION_SECS)),
        }),
        identity,
        max_parallel_fires: args.max_parallel_fires,
        calendars: args.calendars == OnOff::On,
        limits: diurnal_api::Limits {
            min_fire_interval: jiff::SignedDuration::try_from(args.min_fire_interval)
                .context("--min-fire-interval is too long")?,
        },
    };
    runtime::block_on(async move {
        let client = runtime::kube_client(args.kubeconfig.as_deref()).await?;
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(Metrics::register_with(&mut registry, args.max_job_series));
        let ready = Arc::new(AtomicBool::new(false));
        let health = Health::new(ready.clone());
        let router = diurnal_controller::http::router(Arc::new(registry), health.clone());
        let listener = std::net::TcpListener::bind(args.metrics_addr)
            .with_context(|| format!("binding --metrics-addr {}", args.metrics_addr))?;
        info!(addr = %args.metrics_addr, identity = %settings.identity, "diurnal controller starting");
        serve_apart(&args, listener, router, health, settings.namespace.clone())?;
        runner::run(client, settings, metrics, ready, runtime::shutdown_signal()).await?;
        info!("diurnal controller stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Serves `/metrics`, `/healthz` and `/readyz` and runs the readiness probe on a thread and a
/// runtime of their own, with a client of their own: with a thousand fires under way the main
/// runtime's workers (and its client's queue) are busy, and `/readyz` once went unanswered for
/// 2-4 s (RELIABILITY.md). The thread ends with the process.
fn serve_apart(
    args: &Args,
    listener: std::net::TcpListener,
    router: axum::Router,
    health: Arc<Health>,
    namespace: Option<String>,
) -> anyhow::Result<()> {
    let kubeconfig = args.kubeconfig.clone();
    let server = args.server.clone();
    let serving = async move {
        let client = runtime::kube_client(kubeconfig.as_deref()).await?;
        tokio::spawn(diurnal_controller::http::probe(client.clone(), namespace, health));
        let options = server.options(&client, None);
        diurnal_serving::serve(listener, router, options, std::future::pending())
            .await
            .context("serving --metrics-addr")
    };
    let health_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the health server's runtime")?;
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            if let Err(e) = health_runtime.block_on(serving) {
                error!(error = format!("{e:#}"), "the /metrics, /healthz and /readyz server stopped");
            }
        })
        .context("starting the health server's thread")?;
    Ok(())
}
