//! The HTTP service: `/hooks/v1/namespaces/{namespace}/triggers/{name}`, `/metrics`,
//! `/healthz`, `/readyz`.
//!
//! Contract (also in docs/triggers.md):
//!
//! | status | when | effect |
//! |---|---|---|
//! | 200 `rolled` | valid token, rollout applied | template patched, Event recorded |
//! | 200 `coalesced` | same call within the coalescing window | none |
//! | 200 `ignored` | registry notification about something other than a push | none |
//! | 400 | token given twice, bad `?image=`, malformed registry payload | none |
//! | 403 | image asked of a restart-only trigger, or outside its pattern | none |
//! | 404 | unknown trigger, wrong token, no token (all the same body) | none |
//! | 405 | a method other than GET and POST | none |
//! | 408 | body not received within 10 s | none |
//! | 409 | the workload or its container is gone | none |
//! | 413 | body over the limit | none |
//! | 429 | over the per-trigger limit, or too many failures from this client | none |
//! | 502 | the Kubernetes API failed | none known |
//!
//! The token is accepted as `?token=` (what `curl URL` and registry webhooks can send) or as
//! `Authorization: Bearer` (what a script should send, as it stays out of proxy logs), on
//! GET and POST alike; both at once is a 400. Every authenticated call is recorded in the
//! trigger's `status.lastCalls` (best effort, after the answer); unauthenticated ones are not.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use diurnal_api::trigger::TriggerCall;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use prometheus_client::registry::Registry;
use serde_json::json;
use tracing::{debug, info, warn};

use crate::image::ImageRef;
use crate::index::Index;
use crate::limits::{Claim, Coalescer, Rate, RateLimits};
use crate::metrics::{ActionLabels, Metrics, Outcome};
use crate::model::{Intent, Trigger, is_dns1123_label, is_dns1123_subdomain};
use crate::proxy::{self, Cidr};
use crate::registry::{self, Notification};
use crate::token::TokenHash;

/// Largest request body read; registry notifications are a few kB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// How long a request body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Server settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Calls within this window after a rollout join it.
    pub coalesce_window: Duration,
    /// Authenticated calls per trigger.
    pub per_trigger: Rate,
    /// Failed authentications per client address.
    pub per_client_failures: Rate,
    /// Largest body read.
    pub body_limit: usize,
    /// Proxies whose forwarded-for header is believed (the Ingress controller's addresses);
    /// from any other peer the header is ignored. Empty: the peer is always the client.
    pub trusted_proxies: Vec<Cidr>,
    /// The header a trusted proxy puts the client address in.
    pub client_address_header: header::HeaderName,
}

/// The default of both rate limits: 30 a minute.
const THIRTY_A_MINUTE: Rate =
    Rate { count: std::num::NonZeroU32::new(30).unwrap(), per: Duration::from_secs(60) };

impl Default for Settings {
    fn default() -> Self {
        Self {
            coalesce_window: Duration::from_secs(10),
            per_trigger: THIRTY_A_MINUTE,
            per_client_failures: THIRTY_A_MINUTE,
            body_limit: DEFAULT_BODY_LIMIT,
            trusted_proxies: Vec::new(),
            client_address_header: header::HeaderName::from_static("x-forwarded-for"),
        }
    }
}

/// Who called, for the Event and the log.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The peer address (the Ingress's, behind one).
    pub address: IpAddr,
    /// The `restartedAt` to set, `kubectl rollout restart`'s format.
    pub restarted_at: String,
}

/// What a rollout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolled {
    /// The `restartedAt` now on the template.
    pub restarted_at: String,
    /// The image set, for `set-image`.
    pub image: Option<String>,
}

/// Why a rollout was not applied.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The workload does not exist (any more).
    #[error("{0} not found")]
    WorkloadNotFound(String),
    /// The workload has no container of the trigger's name.
    #[error("{workload} has no container {container:?}")]
    NoContainer {
        /// The workload.
        workload: String,
        /// The container asked for.
        container: String,
    },
    /// The trigger allows set-image but names no container.
    #[error("this trigger names no container to set the image of")]
    NoContainerConfigured,
    /// Any other API failure.
    #[error("the Kubernetes API failed: {0}")]
    Api(String),
}

/// Applies rollouts; [`crate::rollout::KubeRollout`] talks to the API server, tests record.
pub trait Rollout: Send + Sync + 'static {
    /// Applies `intent` to the trigger's workload.
    fn roll<'a>(
        &'a self,
        trigger: &'a Trigger,
        intent: &'a Intent,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Rolled, RolloutError>>;

    /// Records an authenticated call in the trigger's status (default: nowhere).
    fn record<'a>(&'a self, trigger: &'a Trigger, call: TriggerCall) -> BoxFuture<'a, ()> {
        let _ = (trigger, call);
        async {}.boxed()
    }
}

#[derive(Clone)]
struct App {
    index: Index,
    rollout: Arc<dyn Rollout>,
    coalescer: Arc<Mutex<Coalescer>>,
    limits: Arc<RateLimits>,
    metrics: Arc<Metrics>,
    registry: Arc<Registry>,
    body_limit: usize,
    trusted_proxies: Arc<[Cidr]>,
    client_address_header: header::HeaderName,
    // Compared against when the trigger is unknown, so unknown ids and wrong tokens take the same
    // path: one hash, one lookup, one constant-time compare.
    dummy: TokenHash,
}

/// What [`router`] returns besides the router: a handle for periodic housekeeping.
#[derive(Clone)]
pub struct Housekeeping {
    coalescer: Arc<Mutex<Coalescer>>,
    limits: Arc<RateLimits>,
}

impl std::fmt::Debug for Housekeeping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Housekeeping").finish_non_exhaustive()
    }
}

impl Housekeeping {
    /// Forgets coalescing entries past their window and recovered rate-limit keys, so memory
    /// stays flat under a flood from many addresses.
    pub fn prune(&self) {
        lock(&self.coalescer).prune(std::time::Instant::now());
        self.limits.prune();
    }

    /// Entries held by the coalescer and the rate limiters.
    pub fn entries(&self) -> usize {
        lock(&self.coalescer).len() + self.limits.len()
    }
}

fn lock(c: &Mutex<Coalescer>) -> std::sync::MutexGuard<'_, Coalescer> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The router. `registry` must already hold the metrics registered with
/// [`Metrics::register`].
pub fn router(
    index: Index,
    rollout: Arc<dyn Rollout>,
    settings: &Settings,
    metrics: Arc<Metrics>,
    registry: Arc<Registry>,
) -> (Router, Housekeeping) {
    let app = App {
        index,
        rollout,
        coalescer: Arc::new(Mutex::new(Coalescer::new(settings.coalesce_window))),
        limits: Arc::new(RateLimits::new(settings.per_trigger, settings.per_client_failures)),
        metrics,
        registry,
        body_limit: settings.body_limit,
        trusted_proxies: settings.trusted_proxies.clone().into(),
        client_address_header: settings.client_address_header.clone(),
        dummy: TokenHash::of("diurnal: no trigger has this name"),
    };
    let housekeeping = Housekeeping { coalescer: app.coalescer.clone(), limits: app.limits.clone() };
    let router = Router::new()
        .route("/hooks/v1/{*rest}", any(hook))
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such path; hooks are at /hooks/v1/namespaces/{namespace}/triggers/{name}",
            )
        })
        .with_state(app);
    (router, housekeeping)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// The one answer for an unknown trigger, a wrong token and a missing token.
fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no trigger with this name and token")
}

/// The namespace and name of `/hooks/v1/namespaces/{namespace}/triggers/{name}`, taken from the
/// raw path: anything else (bad percent-encoding, a name that is not a name) is no trigger.
fn trigger_path(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/hooks/v1/namespaces/")?;
    let (namespace, rest) = rest.split_once('/')?;
    let name = rest.strip_prefix("triggers/")?;
    (is_dns1123_label(namespace) && is_dns1123_subdomain(name)).then_some((namespace, name))
}

/// Whether `path` is a 0.1 hook URL (`/hooks/v1/<16 hex>`), gone since triggers became
/// `RedeployTrigger`s.
fn legacy_path(path: &str) -> bool {
    path.strip_prefix("/hooks/v1/").is_some_and(|id| {
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

struct Credentials {
    token: Option<String>,
    image: Option<String>,
}

/// Reads the token and image from the query and the Authorization header. Never echoes
/// what it read in an error.
fn credentials(query: Option<&str>, headers: &HeaderMap) -> Result<Credentials, &'static str> {
    let mut token = None;
    let mut image = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let slot = match &*k {
            "token" => &mut token,
            "image" => &mut image,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err("a query parameter is given twice");
        }
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    if bearer.is_some() && token.is_some() {
        return Err("the token is given both in the query and in the Authorization header; send one");
    }
    Ok(Credentials { token: token.or(bearer), image })
}

/// The TCP peer, or — when the peer is a trusted proxy — the address it forwarded
/// ([`proxy::client_address`]).
fn client_address(request: &Request, header: &header::HeaderName, trusted: &[Cidr]) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(a)| a.ip());
    if trusted.is_empty() {
        return peer.to_canonical();
    }
    let values = request.headers().get_all(header).iter().filter_map(|v| v.to_str().ok());
    proxy::client_address(peer, values, trusted)
}

async fn hook(State(app): State<App>, request: Request) -> Response {
    let (response, outcome) = handle(&app, request).await;
    app.metrics.count(outcome);
    response
}

type Answer = (Response, Outcome);

async fn handle(app: &App, request: Request) -> Answer {
    if request.method() != Method::GET && request.method() != Method::POST {
        let mut r =
            error(StatusCode::METHOD_NOT_ALLOWED, "use GET (?token=) or POST (Authorization: Bearer)");
        r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
        return (r, Outcome::method_not_allowed);
    }
    let client = client_address(&request, &app.client_address_header, &app.trusted_proxies);
    let is_post = request.method() == Method::POST;
    if legacy_path(request.uri().path()) {
        let msg = "this is a diurnal 0.1 trigger URL; triggers are now at \
                   /hooks/v1/namespaces/{namespace}/triggers/{name} (docs/triggers.md, Migrating)";
        return (error(StatusCode::NOT_FOUND, msg), Outcome::not_found);
    }
    // Before the first list no trigger is known: "no such trigger" would tell the caller that
    // retrying will not help, while the service is only starting (or restarting).
    if !app.index.is_ready() {
        let mut r =
            error(StatusCode::SERVICE_UNAVAILABLE, "the service is starting: triggers not listed yet; retry");
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return (r, Outcome::not_ready);
    }
    let target = trigger_path(request.uri().path()).map(|(ns, n)| (ns.to_owned(), n.to_owned()));
    let creds = credentials(request.uri().query(), request.headers());
    let too_large = || {
        let msg = format!("request body over {} bytes", app.body_limit);
        (error(StatusCode::PAYLOAD_TOO_LARGE, &msg), Outcome::payload_too_large)
    };
    // A declared length over the limit is refused before a byte of it is read.
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.body_limit as u64) {
        return too_large();
    }
    // A client that stops sending halfway must not hold the request open forever.
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(request.into_body(), app.body_limit));
    let body = match read.await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return too_large(),
        Err(_) => {
            return (
                error(StatusCode::REQUEST_TIMEOUT, "request body not received in time"),
                Outcome::bad_request,
            );
        }
    };
    let creds = match creds {
        Ok(c) => c,
        Err(msg) => return (error(StatusCode::BAD_REQUEST, msg), Outcome::bad_request),
    };
    let trigger = match authenticate(app, target.as_ref(), creds.token.as_deref(), client) {
        Ok(t) => t,
        Err(answer) => return answer,
    };
    let (answer, image, refusal) = authenticated(app, &trigger, creds.image, is_post, &body, client).await;
    let message = refusal.or_else(|| {
        let status = answer.0.status();
        (!status.is_success()).then(|| status.canonical_reason().unwrap_or("refused").to_owned())
    });
    record(app, trigger, answer.1, image, client, message);
    answer
}

/// What an authenticated call gets, the image it asked for and why it was refused (for the
/// status).
async fn authenticated(
    app: &App,
    trigger: &Trigger,
    image: Option<String>,
    is_post: bool,
    body: &[u8],
    client: IpAddr,
) -> (Answer, Option<String>, Option<String>) {
    let image = match requested_image(image, is_post, body) {
        Ok(i) => i,
        Err(answer) => return (answer, None, None),
    };
    let shown = image.as_ref().map(ToString::to_string);
    let intent = match trigger.permit(image) {
        Ok(i) => i,
        Err(e) => {
            let msg = e.to_string();
            return ((error(StatusCode::FORBIDDEN, &msg), Outcome::forbidden), shown, Some(msg));
        }
    };
    (roll(app, trigger, &intent, client).await, shown, None)
}

/// Writes the call into the trigger's status, after the answer (a slow API server must not
/// slow the call down). A refusal's message is the one the caller got.
fn record(
    app: &App,
    trigger: Arc<Trigger>,
    outcome: Outcome,
    image: Option<String>,
    client: IpAddr,
    message: Option<String>,
) {
    let call = TriggerCall {
        time: Time(jiff::Timestamp::now()),
        result: outcome.as_str().to_owned(),
        image,
        client: Some(client.to_string()),
        message,
    };
    let rollout = app.rollout.clone();
    tokio::spawn(async move { rollout.record(&trigger, call).await });
}

/// One hash and one constant-time compare whether the id is known or not; then the
/// per-client failure limit or the per-trigger limit.
// The error is the finished answer, built once on the refusal path; boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn authenticate(
    app: &App,
    target: Option<&(String, String)>,
    token: Option<&str>,
    client: IpAddr,
) -> Result<Arc<Trigger>, Answer> {
    let presented = TokenHash::of(token.unwrap_or_default());
    let trigger = target.and_then(|(ns, name)| app.index.get(ns, name));
    let expected = trigger.as_ref().map_or(app.dummy, |t| t.token_hash);
    let valid = expected.matches(&presented) && token.is_some();
    let Some(trigger) = trigger.filter(|_| valid) else {
        if !app.limits.allow_failure(client) {
            debug!(%client, "authentication failures over the limit");
            let r = error(StatusCode::TOO_MANY_REQUESTS, "too many failed calls from this address");
            return Err((r, Outcome::rate_limited));
        }
        debug!(%client, "hook call for an unknown trigger or with a wrong or missing token");
        return Err((not_found(), Outcome::not_found));
    };
    if !app.limits.allow_call(&trigger.key()) {
        debug!(trigger = %trigger.key(), %client, "over the per-trigger limit");
        return Err((
            error(StatusCode::TOO_MANY_REQUESTS, "too many calls to this trigger"),
            Outcome::rate_limited,
        ));
    }
    Ok(trigger)
}

/// The image asked for: `?image=`, a registry notification in a POST body, or none (restart).
// The error is the finished answer, built once on the refusal path; boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn requested_image(query: Option<String>, is_post: bool, body: &[u8]) -> Result<Option<ImageRef>, Answer> {
    let bad = |msg: &str| (error(StatusCode::BAD_REQUEST, msg), Outcome::bad_request);
    match (query, is_post && !body.is_empty()) {
        (Some(_), true) => {
            Err(bad("give the image either as ?image= or as a registry notification, not both"))
        }
        (Some(text), false) => ImageRef::parse(&text).map(Some).map_err(|e| bad(&e.to_string())),
        (None, true) => match registry::parse(body) {
            Ok(Notification::Pushed { image, .. }) => Ok(Some(image)),
            Ok(Notification::NotAPush { event }) => {
                let body = json!({"result": "ignored", "reason": format!("{event} is not a push")});
                Err(((StatusCode::OK, axum::Json(body)).into_response(), Outcome::ignored))
            }
            Err(e) => Err(bad(&e.to_string())),
        },
        (None, false) => Ok(None),
    }
}

/// Coalesces, or applies the rollout and answers what it did.
async fn roll(app: &App, trigger: &Trigger, intent: &Intent, client: IpAddr) -> Answer {
    let image_text = match intent {
        Intent::SetImage(i) => Some(i.to_string()),
        Intent::Restart => None,
    };
    let workload = format!("{}/{}", trigger.namespace, trigger.workload);
    let key = Coalescer::key(&trigger.key(), image_text.as_deref());
    let claim = lock(&app.coalescer).claim(&key, tokio::time::Instant::now().into_std());
    if let Claim::Coalesced { age, restarted_at } = claim {
        info!(trigger = %trigger.key(), %client, %workload, "joined a rollout {}s old", age.as_secs());
        let body = json!({"result": "coalesced", "workload": workload, "restartedAt": restarted_at,
                          "image": image_text, "rolloutAgeSeconds": age.as_secs()});
        return ((StatusCode::OK, axum::Json(body)).into_response(), Outcome::coalesced);
    }
    let now = jiff::Timestamp::now();
    let caller = Caller { address: client, restarted_at: now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string() };
    match app.rollout.roll(trigger, intent, &caller).await {
        Ok(rolled) => {
            lock(&app.coalescer).completed(&key, rolled.restarted_at.clone());
            let action = if rolled.image.is_some() { "set-image" } else { "restart" };
            app.metrics.rollouts.get_or_create(&ActionLabels { action: action.into() }).inc();
            info!(trigger = %trigger.key(), %client, %workload, action, image = rolled.image.as_deref(), "rolled");
            let body = json!({"result": "rolled", "action": action, "workload": workload,
                              "restartedAt": rolled.restarted_at, "image": rolled.image});
            ((StatusCode::OK, axum::Json(body)).into_response(), Outcome::rolled)
        }
        Err(e) => {
            lock(&app.coalescer).failed(&key);
            warn!(trigger = %trigger.key(), %client, %workload, error = %e, "rollout failed");
            match e {
                RolloutError::Api(_) => (error(StatusCode::BAD_GATEWAY, &e.to_string()), Outcome::api_error),
                _ => (error(StatusCode::CONFLICT, &e.to_string()), Outcome::conflict),
            }
        }
    }
}

async fn metrics_page(State(app): State<App>) -> Response {
    app.metrics.triggers.set(i64::try_from(app.index.len()).unwrap_or(i64::MAX));
    diurnal_serving::openmetrics(&app.registry)
}

async fn readyz(State(app): State<App>) -> Response {
    if app.index.is_ready() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "RedeployTriggers not listed yet").into_response()
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding the address or serving failed.
    #[error("serving on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
}

/// Serves `router` on a bound `listener` with `options` (TLS, limits: [`diurnal_serving::serve`])
/// until `shutdown` completes, pruning rate-limit and coalescing state every 30 s.
pub async fn serve(
    router: Router,
    housekeeping: Housekeeping,
    listener: std::net::TcpListener,
    options: diurnal_serving::Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let addr =
        listener.local_addr().map_err(|source| ServeError::Io { addr: ([0, 0, 0, 0], 0).into(), source })?;
    let pruner = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            housekeeping.prune();
        }
    });
    let scheme = if options.tls.is_some() { "TLS" } else { "plain HTTP" };
    info!(%addr, "serving redeploy triggers over {scheme}");
    let result = diurnal_serving::serve(listener, router, options, shutdown).await;
    pruner.abort();
    result.map_err(|source| ServeError::Io { addr, source })
}
