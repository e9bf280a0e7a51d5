//! What every long-running subcommand shares: the async runtime, logging, the Kubernetes
//! client, TLS provider, identity and shutdown signal.

use std::path::Path;

use anyhow::Context as _;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs a future on a multi-threaded runtime.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    // Both ring and aws-lc-rs may be linked (kube, axum-server); pick ring for the whole process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}

/// A client from `--kubeconfig`, else the in-cluster service account or `~/.kube/config`.
pub async fn kube_client(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig given and no in-cluster configuration found")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}

/// The host name, else a process-specific name.
pub fn host_identity() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("diurnal-{}", std::process::id()))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// A switch flag: `--name on|off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// A duration flag: `500ms`, `10s`, `2m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let parsed: jiff::SignedDuration =
        text.parse().map_err(|e| format!("{text:?} is not a duration like 500ms, 10s or 2m: {e}"))?;
    std::time::Duration::try_from(parsed).map_err(|_| format!("{text:?}: a duration cannot be negative"))
}

/// The connection limits and `/metrics` authentication every server takes (docs/security.md,
/// "Every server").
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// A request's headers must have arrived this long after the server starts waiting for them
    /// (from accept, or from the previous answer on a kept-alive connection); also the TLS
    /// handshake's limit.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    header_read_timeout: std::time::Duration,
    /// A connection on which nothing is read or written for this long is closed.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    idle_timeout: std::time::Duration,
    /// Connections open at once, at most; further ones wait to be accepted.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Serve /metrics only to bearer tokens that may `get` the non-resource URL /metrics
    /// (checked with a `TokenReview` and a `SubjectAccessReview`); /healthz and /readyz stay open.
    #[arg(long, value_enum, default_value = "off")]
    metrics_auth: OnOff,
}

impl ServerArgs {
    /// The server options, with `tls` when the server serves TLS.
    pub fn options(
        &self,
        client: &kube::Client,
        tls: Option<std::sync::Arc<diurnal_serving::Tls>>,
    ) -> diurnal_serving::Options {
        diurnal_serving::Options {
            limits: diurnal_serving::Limits {
                header_read_timeout: self.header_read_timeout,
                idle_timeout: self.idle_timeout,
                max_connections: self.max_connections as usize,
            },
            tls,
            metrics_auth: (self.metrics_auth == OnOff::On)
                .then(|| std::sync::Arc::new(diurnal_serving::MetricsAuth::new(client.clone()))),
        }
    }
}
