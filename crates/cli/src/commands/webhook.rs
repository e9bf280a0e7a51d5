//! `diurnal webhook`: the placement admission webhook, and certificates for it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use diurnal_placement::Profile;
use diurnal_serving::{Tls, TlsFiles};
use diurnal_webhook::admit::Mode;
use diurnal_webhook::cluster::Cluster;
use diurnal_webhook::metrics::Metrics;
use diurnal_webhook::server::{self, App};
use tracing::{info, warn};

use crate::runtime::{self, LogFormat, ServerArgs};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Serve the mutating admission webhook (`POST /mutate`) over HTTPS, with `/metrics`,
    /// `/healthz` and `/readyz`, and keep the scale-in order of placed pods.
    Serve(ServeArgs),
    /// Generate a CA and a serving certificate for the webhook's Service; print the `caBundle`.
    Certs(CertsArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ModeArg {
    /// Refuse pods a virtual node cannot run, naming each field.
    Deny,
    /// Admit them with admission warnings.
    Warn,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Kubeconfig to use outside a cluster; in a cluster the pod's service account is used.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:9443")]
    addr: SocketAddr,
    /// PEM certificate chain (reloaded when the file changes).
    #[arg(long, value_name = "FILE")]
    tls_cert: PathBuf,
    /// PEM private key (reloaded when the file changes).
    #[arg(long, value_name = "FILE")]
    tls_key: PathBuf,
    /// PEM CA certificates: answer admission reviews only from callers presenting a client
    /// certificate signed by one of them (the API server, given one through its
    /// admission-control kubeconfig; reloaded when the file changes). Without it, anything that
    /// reaches the port may send reviews.
    #[arg(long, value_name = "FILE")]
    client_ca_file: Option<PathBuf>,
    /// Admission reviews handled at once; one that waits longer than 0.5 s for a slot is
    /// answered 503 (the API server then applies the configuration's failurePolicy).
    #[arg(long, default_value_t = server::DEFAULT_IN_FLIGHT, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,
    #[command(flatten)]
    server: ServerArgs,
    /// Built-in provider profile: alibabacloud, azure or fargate.
    #[arg(long, default_value = "alibabacloud", conflicts_with = "profile_file")]
    profile: String,
    /// A profile file (YAML; see docs/placement.md) instead of a built-in profile.
    #[arg(long, value_name = "FILE")]
    profile_file: Option<PathBuf>,
    /// What to do with pods a virtual node cannot run.
    #[arg(long, value_enum, default_value = "deny")]
    mode: ModeArg,
    /// How often the deletion costs of placed pods are brought up to date, seconds.
    #[arg(long, default_value_t = 5)]
    order_period: u64,
    /// How often the certificate files are checked for a new certificate, seconds.
    #[arg(long, default_value_t = 10)]
    cert_check_period: u64,
    /// Serve `/validate`, the validating webhook for CronHPAs and Calendars (it watches them,
    /// and reads HPAs to find conflicts).
    #[arg(long, value_enum, default_value = "on")]
    validate: crate::runtime::OnOff,
    /// The controller's `--min-fire-interval`, for `/validate`.
    #[arg(long, default_value = "60s", value_parser = crate::runtime::parse_duration)]
    min_fire_interval: std::time::Duration,
    /// The controller's `--default-time-zone`, for `/validate` (default `$TZ`, else UTC).
    #[arg(long, value_name = "TZ")]
    default_time_zone: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, clap::Args)]
struct CertsArgs {
    /// The webhook's Service name.
    #[arg(long)]
    service: String,
    /// The Service's namespace.
    #[arg(long, short)]
    namespace: String,
    /// Extra names or IP addresses for the certificate (e.g. 127.0.0.1 for a webhook outside the
    /// cluster).
    #[arg(long = "extra-name", value_name = "NAME")]
    extra_names: Vec<String>,
    /// Where to write ca.crt, tls.crt and tls.key.
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Validity, days.
    #[arg(long, default_value_t = 365)]
    days: i64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Serve(a) => serve(a),
        Command::Certs(a) => certs(&a),
    }
}

fn load_profile(name: &str, file: Option<&PathBuf>) -> anyhow::Result<Profile> {
    match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(Profile::from_yaml(&text, &path.display().to_string())?)
        }
        None => Profile::builtin(name).with_context(|| {
            format!("--profile {name:?}: built-in profiles are {}", Profile::builtin_names().join(", "))
        }),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    runtime::init_logging(args.log_format);
    let profile = load_profile(&args.profile, args.profile_file.as_ref())?;
    let mode = match args.mode {
        ModeArg::Deny => Mode::Deny,
        ModeArg::Warn => Mode::Warn,
    };
    for f in [&args.tls_cert, &args.tls_key] {
        anyhow::ensure!(f.is_file(), "{}: no such file (see `diurnal webhook certs`)", f.display());
    }
    if let Some(ca) = &args.client_ca_file {
        anyhow::ensure!(ca.is_file(), "--client-ca-file {}: no such file", ca.display());
    }
    let rules = diurnal_webhook::validate::Rules {
        limits: diurnal_api::Limits {
            min_fire_interval: jiff::SignedDuration::try_from(args.min_fire_interval)
                .context("--min-fire-interval is too long")?,
        },
        default_zone: crate::inputs::default_zone(args.default_time_zone.as_deref())?,
    };
    runtime::block_on(async move {
        let files = TlsFiles {
            cert: args.tls_cert.clone(),
            key: args.tls_key.clone(),
            client_ca: args.client_ca_file.clone(),
        };
        let tls = Tls::load(files, Duration::from_secs(args.cert_check_period.max(1)))
            .context("loading TLS files")?;
        let client = runtime::kube_client(args.kubeconfig.as_deref()).await?;
        let listener = std::net::TcpListener::bind(args.addr)
            .with_context(|| format!("binding --addr {}", args.addr))?;
        info!(addr = %args.addr, profile = %profile.name, ?mode, "diurnal webhook starting; loading caches");
        let cluster = Arc::new(Cluster::start(&client).await);
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Arc::new(Metrics::new(&mut registry));
        let order = tokio::spawn(diurnal_webhook::costs::run(
            client.clone(),
            cluster.clone(),
            profile.clone(),
            metrics.clone(),
            Duration::from_secs(args.order_period.max(1)),
        ));
        let validating = (args.validate == crate::runtime::OnOff::On).then(|| {
            let index = Arc::new(std::sync::RwLock::new(diurnal_webhook::validate::Index::default()));
            diurnal_webhook::validating::watch(&client, &index);
            diurnal_webhook::validating::router(diurnal_webhook::validating::Validator {
                index,
                hpas: Arc::new(client.clone()),
                rules,
                metrics: metrics.clone(),
                require_client_certificate: args.client_ca_file.is_some(),
            })
        });
        let mut app = App::new(profile, mode, cluster, metrics);
        app.require_client_certificate = args.client_ca_file.is_some();
        app.in_flight = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight as usize));
        if !app.require_client_certificate {
            warn!("no --client-ca-file: /mutate answers any caller that reaches the port (docs/security.md)");
        }
        // The caches are loaded before the server starts: once it answers, it is ready.
        let health = diurnal_serving::router(Arc::new(registry), Arc::new(|| Ok(())));
        let options = args.server.options(&client, Some(Arc::new(tls)));
        info!("serving the placement webhook over TLS");
        let result = diurnal_serving::serve(
            listener,
            server::router(app, health).merge(validating.unwrap_or_default()),
            options,
            runtime::shutdown_signal(),
        )
        .await;
        order.abort();
        result.context("serving the webhook")?;
        info!("diurnal webhook stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn certs(args: &CertsArgs) -> anyhow::Result<ExitCode> {
    let mut names = diurnal_webhook::certs::service_names(&args.service, &args.namespace);
    names.extend(args.extra_names.iter().cloned());
    let bundle = diurnal_webhook::certs::generate(&names, args.days)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    for (file, pem) in [("ca.crt", &bundle.ca_cert), ("tls.crt", &bundle.cert), ("tls.key", &bundle.key)] {
        let path = args.out.join(file);
        std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "wrote ca.crt, tls.crt and tls.key to {} for {}; the caBundle for the webhook configuration:",
        args.out.display(),
        names.join(", ")
    );
    println!("{}", base64::engine::general_purpose::STANDARD.encode(bundle.ca_cert));
    Ok(ExitCode::SUCCESS)
}
