//! `diurnal trigger`: redeploy triggers — a secret URL a CI job calls to roll a workload.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use diurnal_trigger::client::{self, Verdict};
use diurnal_trigger::image::ImagePattern;
use diurnal_trigger::index::Index;
use diurnal_trigger::legacy;
use diurnal_trigger::limits::{Rate, parse_duration};
use diurnal_trigger::metrics::Metrics;
use diurnal_trigger::model::{Action, Trigger, Workload, WorkloadKind};
use diurnal_trigger::proxy::Cidr;
use diurnal_trigger::rollout::KubeRollout;
use diurnal_trigger::server::{self, Settings};
use diurnal_trigger::store::{self, NewTrigger, Store};
use diurnal_trigger::token::Token;
use tracing::info;

use crate::runtime;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Serve the hooks (`/hooks/v1/namespaces/{namespace}/triggers/{name}`), `/metrics`,
    /// `/healthz` and `/readyz`.
    Serve(Box<ServeArgs>),
    /// Create a trigger (a `RedeployTrigger`) for a Deployment or StatefulSet; prints its URL with
    /// the token, once.
    Create(CreateArgs),
    /// List triggers (never their tokens: only hashes are stored).
    List(ListArgs),
    /// Give a trigger a new token; the old one stops working. Prints the new URL, once.
    Rotate(IdArgs),
    /// Delete a trigger.
    Delete(IdArgs),
    /// Turn diurnal 0.1's trigger Secrets into `RedeployTriggers` (same tokens, new URLs).
    Migrate(MigrateArgs),
    /// Call a trigger URL from a CI script. Exit 0: rolled (or joined a rollout in progress);
    /// 2: refused (wrong URL or token, image not allowed) — retrying will not help;
    /// 3: try again later (rate limited, server or network error).
    Call(CallArgs),
}

#[derive(Debug, clap::Args)]
struct Cluster {
    /// Kubeconfig to use outside a cluster; in a cluster the pod's service account is used.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE", global = true)]
    kubeconfig: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    cluster: Cluster,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    addr: SocketAddr,
    /// Serve the triggers of this namespace (repeatable; default: all namespaces). The service
    /// needs RBAC only where it serves.
    #[arg(long = "namespace", value_name = "NS")]
    namespaces: Vec<String>,
    /// PEM certificate chain: serve TLS directly (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Calls within this long after a rollout join it instead of starting another (0: never).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    coalesce_window: Duration,
    /// Authenticated calls per trigger, at most.
    #[arg(long, default_value = "30/min")]
    rate_limit: Rate,
    /// Failed calls (unknown id, wrong token) per client address before answering 429.
    #[arg(long, default_value = "30/min")]
    client_failure_limit: Rate,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = server::DEFAULT_BODY_LIMIT)]
    max_body: usize,
    /// A proxy (the Ingress controller) whose forwarded-for header is believed: an address or
    /// CIDR network, repeatable (as nginx's `set_real_ip_from`). From any other peer the header
    /// is ignored.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<Cidr>,
    /// The header a trusted proxy puts the client address in.
    #[arg(long, value_name = "HEADER", default_value = "X-Forwarded-For")]
    client_address_header: axum::http::HeaderName,
    /// This replica's name in Events (default: `$POD_NAME`, else the host name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    #[command(flatten)]
    server: runtime::ServerArgs,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: runtime::LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ActionArg {
    Restart,
    SetImage,
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("workload").required(true).args(["deployment", "statefulset"]))]
struct CreateArgs {
    #[command(flatten)]
    cluster: Cluster,
    /// Namespace of the workload (the `RedeployTrigger` goes there too).
    #[arg(short, long)]
    namespace: String,
    /// The trigger's name (default: the workload's name and a random suffix).
    #[arg(long)]
    name: Option<String>,
    /// The Deployment to roll.
    #[arg(long, value_name = "NAME")]
    deployment: Option<String>,
    /// The StatefulSet to roll.
    #[arg(long, value_name = "NAME")]
    statefulset: Option<String>,
    /// What calls may do: `restart` only, or also `set-image` (needs --image-pattern).
    #[arg(long, value_enum, default_value = "restart")]
    action: ActionArg,
    /// For set-image: the container (default: the workload's only container).
    #[arg(long)]
    container: Option<String>,
    /// For set-image: allowed images, `*` within a path segment, e.g.
    /// `registry.cn-hangzhou.aliyuncs.com/biz/*`; a digest only with a digest part (`@*`,
    /// `@sha256:*`, or one digest).
    #[arg(long, value_name = "PATTERN")]
    image_pattern: Option<String>,
    /// Allow a pattern whose registry part has a `*` (`*/*`, `*`): the token's holder then
    /// chooses the registry.
    #[arg(long)]
    allow_any_image: bool,
    #[command(flatten)]
    base: BaseUrl,
    /// Print only the URL (for scripts that store it straight into a CI secret).
    #[arg(short, long)]
    quiet: bool,
}

/// Where the service is reachable from CI: printed into the URLs `create`, `rotate` and
/// `migrate` show.
#[derive(Debug, clap::Args)]
struct BaseUrl {
    /// Where `diurnal trigger serve` is reachable from CI (printed into the URLs).
    #[arg(
        long,
        env = "DIURNAL_TRIGGER_BASE_URL",
        default_value = "http://diurnal-trigger.diurnal-system.svc:8080"
    )]
    base_url: String,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    cluster: Cluster,
    /// Namespace to list.
    #[arg(short, long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// List all namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
}

#[derive(Debug, clap::Args)]
struct IdArgs {
    #[command(flatten)]
    cluster: Cluster,
    /// Namespace of the trigger.
    #[arg(short, long)]
    namespace: String,
    /// The trigger's name (as in `list`).
    name: String,
    #[command(flatten)]
    base: BaseUrl,
    /// For rotate: print only the URL.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, clap::Args)]
struct MigrateArgs {
    #[command(flatten)]
    cluster: Cluster,
    /// Namespace to migrate.
    #[arg(short, long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// Migrate every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Keep patterns that match any registry (refused otherwise; see create --allow-any-image).
    #[arg(long)]
    allow_any_image: bool,
    #[command(flatten)]
    base: BaseUrl,
}

#[derive(Debug, clap::Args)]
struct CallArgs {
    /// The trigger URL as printed by `create` (the token may instead be in
    /// `$DIURNAL_TRIGGER_TOKEN`). The token is sent as a bearer header, not in the URL.
    url: String,
    /// For set-image triggers: the image to set.
    #[arg(long)]
    image: Option<String>,
    /// Give up on one attempt after this long.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Retries after a retryable failure (429, 5xx, network), 2 s apart, doubling.
    #[arg(long, default_value_t = 2)]
    retries: u32,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Serve(a) => serve(*a),
        Sub::Create(a) => create(a),
        Sub::List(a) => list(&a),
        Sub::Rotate(a) => rotate(&a),
        Sub::Delete(a) => delete(&a),
        Sub::Migrate(a) => migrate(&a),
        Sub::Call(a) => call(&a),
    }
}

fn hook_path(base: &str, namespace: &str, name: &str) -> String {
    format!("{}/hooks/v1/namespaces/{namespace}/triggers/{name}", base.trim_end_matches('/'))
}

fn hook_url(base: &str, trigger: &Trigger, token: &Token) -> String {
    format!("{}?token={}", hook_path(base, &trigger.namespace, &trigger.name), token.expose())
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    runtime::init_logging(args.log_format);
    let settings = Settings {
        coalesce_window: args.coalesce_window,
        per_trigger: args.rate_limit,
        per_client_failures: args.client_failure_limit,
        body_limit: args.max_body,
        trusted_proxies: args.trusted_proxies.clone(),
        client_address_header: args.client_address_header.clone(),
    };
    let tls_files = args
        .tls_cert
        .clone()
        .zip(args.tls_key.clone())
        .map(|(cert, key)| diurnal_serving::TlsFiles { cert, key, client_ca: None });
    let identity = args.identity.clone().unwrap_or_else(runtime::host_identity);
    runtime::block_on(async move {
        let client = runtime::kube_client(args.cluster.kubeconfig.as_deref()).await?;
        let index = Index::new();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = Metrics::register(&mut registry);
        let rollout = Arc::new(KubeRollout::new(client.clone(), Some(identity.clone())));
        let (router, housekeeping) =
            server::router(index.clone(), rollout, &settings, metrics, Arc::new(registry));
        let listener = std::net::TcpListener::bind(args.addr)
            .with_context(|| format!("binding --addr {}", args.addr))?;
        let namespaces = (!args.namespaces.is_empty()).then(|| args.namespaces.clone());
        let watch = tokio::spawn(store::watch(client.clone(), namespaces, index));
        let shown: Vec<String> = args.trusted_proxies.iter().map(ToString::to_string).collect();
        info!(addr = %args.addr, %identity,
              namespaces = if args.namespaces.is_empty() { "(all)".to_owned() } else { args.namespaces.join(",") },
              trusted_proxies = shown.join(","),
              coalesce_window_ms = u64::try_from(settings.coalesce_window.as_millis()).unwrap_or(u64::MAX),
              rate_limit = %settings.per_trigger, client_failure_limit = %settings.per_client_failures,
              "diurnal trigger server starting");
        // Reloaded when the files change, as the webhook's.
        let tls = tls_files
            .map(|files| diurnal_serving::Tls::load(files, Duration::from_secs(10)).map(Arc::new))
            .transpose()
            .context("loading --tls-cert and --tls-key")?;
        let options = args.server.options(&client, tls);
        let result = server::serve(router, housekeeping, listener, options, runtime::shutdown_signal()).await;
        watch.abort();
        result?;
        info!("diurnal trigger server stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let workload = match (&args.deployment, &args.statefulset) {
        (Some(n), _) => Workload::new(WorkloadKind::Deployment, n).context("--deployment")?,
        (None, Some(n)) => Workload::new(WorkloadKind::StatefulSet, n).context("--statefulset")?,
        (None, None) => anyhow::bail!("give --deployment NAME or --statefulset NAME"),
    };
    if let Some(p) = &args.image_pattern {
        ImagePattern::parse_checked(p, args.allow_any_image).context("--image-pattern")?;
    }
    let action = match args.action {
        ActionArg::Restart => Action::Restart,
        ActionArg::SetImage => Action::SetImage,
    };
    if action == Action::Restart && args.image_pattern.is_some() {
        anyhow::bail!("--image-pattern only applies to --action set-image");
    }
    let new = NewTrigger {
        name: args.name.clone(),
        workload,
        action,
        container: args.container.clone(),
        image_pattern: args.image_pattern.clone(),
        allow_any_image: args.allow_any_image,
    };
    runtime::block_on(async move {
        let store = Store::new(runtime::kube_client(args.cluster.kubeconfig.as_deref()).await?);
        let (trigger, token) = store
            .create(&args.namespace, new)
            .await
            .with_context(|| format!("creating a trigger in namespace {}", args.namespace))?;
        let url = hook_url(&args.base.base_url, &trigger, &token);
        if args.quiet {
            println!("{url}");
        } else {
            println!(
                "Created trigger {} for {}/{} ({}).",
                trigger.name,
                trigger.namespace,
                trigger.workload,
                trigger.action.as_str()
            );
            println!("Its URL, shown this once (only a hash is stored): keep it in your CI's secret store.");
            println!();
            println!("  {url}");
            println!();
            println!("Call it with: diurnal trigger call \"$TRIGGER_URL\"   (or curl -fsS \"$TRIGGER_URL\")");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let namespace = if args.all_namespaces {
        None
    } else {
        Some(args.namespace.clone().unwrap_or_else(|| "default".into()))
    };
    runtime::block_on(async move {
        let store = Store::new(runtime::kube_client(args.cluster.kubeconfig.as_deref()).await?);
        let triggers = store.list(namespace.as_deref()).await.context("listing RedeployTriggers")?;
        if triggers.is_empty() {
            eprintln!("no triggers in {}", namespace.as_deref().unwrap_or("any namespace"));
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "{:<16} {:<24} {:<32} {:<10} {:<12} {:<40} {:<21} LAST-CALL",
            "NAMESPACE", "NAME", "WORKLOAD", "ACTION", "CONTAINER", "IMAGE-PATTERN", "TOKEN-ISSUED"
        );
        let when = |t: Option<jiff::Timestamp>| {
            t.map_or("-".to_owned(), |t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string())
        };
        for t in triggers {
            let last = t
                .last_calls
                .first()
                .map_or("-".to_owned(), |c| format!("{} {}", when(Some(c.time.0)), c.result));
            println!(
                "{:<16} {:<24} {:<32} {:<10} {:<12} {:<40} {:<21} {last}",
                t.namespace,
                t.name,
                t.workload.to_string(),
                t.action.as_str(),
                t.container.as_deref().unwrap_or("-"),
                t.image_pattern.as_ref().map_or("-", ImagePattern::as_str),
                when(t.token_issued),
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn rotate(args: &IdArgs) -> anyhow::Result<ExitCode> {
    runtime::block_on(async move {
        let store = Store::new(runtime::kube_client(args.cluster.kubeconfig.as_deref()).await?);
        let (trigger, token) =
            store.rotate(&args.namespace, &args.name).await.context("rotating the token")?;
        let url = hook_url(&args.base.base_url, &trigger, &token);
        if args.quiet {
            println!("{url}");
        } else {
            println!(
                "New token for trigger {} ({}/{}); the old one no longer works.",
                trigger.name, trigger.namespace, trigger.workload
            );
            println!();
            println!("  {url}");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn delete(args: &IdArgs) -> anyhow::Result<ExitCode> {
    runtime::block_on(async move {
        let store = Store::new(runtime::kube_client(args.cluster.kubeconfig.as_deref()).await?);
        store.delete(&args.namespace, &args.name).await.context("deleting the trigger")?;
        println!("Deleted trigger {} in namespace {}.", args.name, args.namespace);
        Ok(ExitCode::SUCCESS)
    })
}

/// Creates a `RedeployTrigger` for each 0.1 trigger Secret (with the caller's credentials: the
/// admission policy checks they may patch each workload). Existing triggers are left alone, so
/// it can run again; the Secrets are kept until the caller deletes them.
fn migrate(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, ListParams};
    let namespace = if args.all_namespaces {
        None
    } else {
        Some(args.namespace.clone().unwrap_or_else(|| "default".into()))
    };
    runtime::block_on(async move {
        let client = runtime::kube_client(args.cluster.kubeconfig.as_deref()).await?;
        let secrets: Api<Secret> = match &namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let found = secrets
            .list(&ListParams::default().labels(&legacy::selector()))
            .await
            .context("listing diurnal 0.1 trigger Secrets")?;
        let store = Store::new(client);
        let mut failed = 0;
        for secret in &found.items {
            let ns = secret.metadata.namespace.clone().unwrap_or_default();
            let name = secret.metadata.name.clone().unwrap_or_default();
            let result = match legacy::to_resource(secret, args.allow_any_image) {
                Ok(object) => store.create_if_absent(&object).await.map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(created) => println!(
                    "{} {ns}/{name}: {}?token=<its token, unchanged>",
                    if created { "migrated" } else { "exists  " },
                    hook_path(&args.base.base_url, &ns, &name)
                ),
                Err(e) => {
                    failed += 1;
                    eprintln!("not migrated {ns}/{name}: {e:#}");
                }
            }
        }
        println!(
            "{} Secret(s) found, {failed} not migrated. Point CI at the new URLs, then delete the Secrets: \
             kubectl delete secret -l {} {}",
            found.items.len(),
            legacy::selector(),
            namespace.map_or("-A".to_owned(), |ns| format!("-n {ns}")),
        );
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_REFUSED) })
    })
}

/// Exit status when the call was refused: retrying will not help.
const EXIT_REFUSED: u8 = 2;
/// Exit status when the call may succeed later.
const EXIT_RETRY: u8 = 3;

fn call(args: &CallArgs) -> anyhow::Result<ExitCode> {
    let request = client::Call {
        url: args.url.clone(),
        token: std::env::var("DIURNAL_TRIGGER_TOKEN").ok(),
        image: args.image.clone(),
        timeout: args.timeout,
    };
    runtime::block_on(async move {
        let mut delay = Duration::from_secs(2);
        let mut attempt = 0;
        loop {
            let (verdict, message) = match client::call(&request).await {
                Ok(answer) => {
                    (client::verdict(answer.status), format!("{} {}", answer.status, answer.body.trim()))
                }
                Err(
                    e @ (client::CallError::NoToken
                    | client::CallError::BadUrl(_)
                    | client::CallError::Tls(_)),
                ) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(EXIT_REFUSED));
                }
                Err(e) => (Verdict::RetryLater, e.to_string()),
            };
            match verdict {
                Verdict::Done => {
                    println!("{message}");
                    return Ok(ExitCode::SUCCESS);
                }
                Verdict::Refused => {
                    eprintln!("refused: {message}");
                    return Ok(ExitCode::from(EXIT_REFUSED));
                }
                Verdict::RetryLater if attempt < args.retries => {
                    eprintln!("{message}; retrying in {} s", delay.as_secs());
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Verdict::RetryLater => {
                    eprintln!("failed: {message}");
                    return Ok(ExitCode::from(EXIT_RETRY));
                }
            }
        }
    })
}
