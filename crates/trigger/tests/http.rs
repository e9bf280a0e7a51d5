//! The hook contract, in process: each request's status, body, and what the rollout saw.
//! Every refusal asserts that no rollout was asked for.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use diurnal_api::trigger::TriggerCall;
use diurnal_trigger::image::ImagePattern;
use diurnal_trigger::index::Index;
use diurnal_trigger::metrics::Metrics;
use diurnal_trigger::model::{Action, Intent, Trigger, Workload, WorkloadKind};
use diurnal_trigger::server::{self, Caller, Rolled, Rollout, RolloutError, Settings};
use diurnal_trigger::token::Token;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use prometheus_client::registry::Registry;
use serde_json::Value;
use tower::ServiceExt as _;

const RESTART_ID: &str = "restart-web";
const IMAGE_ID: &str = "image-web";

/// Records what it was asked to do; fails when told to.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, Intent, String)>>,
    recorded: Mutex<Vec<(String, TriggerCall)>>,
    fail_next: Mutex<bool>,
}

impl Recorder {
    fn calls(&self) -> Vec<(String, Intent, String)> {
        self.calls.lock().unwrap().clone()
    }

    /// The status records written so far, once the spawned writes have run.
    async fn recorded(&self) -> Vec<(String, TriggerCall)> {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        self.recorded.lock().unwrap().clone()
    }
}

impl Rollout for Recorder {
    fn roll<'a>(
        &'a self,
        trigger: &'a Trigger,
        intent: &'a Intent,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Rolled, RolloutError>> {
        async move {
            if std::mem::take(&mut *self.fail_next.lock().unwrap()) {
                return Err(RolloutError::Api("etcdserver: request timed out".into()));
            }
            self.calls.lock().unwrap().push((trigger.key(), intent.clone(), caller.address.to_string()));
            let image = match intent {
                Intent::SetImage(i) => Some(i.to_string()),
                Intent::Restart => None,
            };
            Ok(Rolled { restarted_at: caller.restarted_at.clone(), image })
        }
        .boxed()
    }

    fn record<'a>(&'a self, trigger: &'a Trigger, call: TriggerCall) -> BoxFuture<'a, ()> {
        self.recorded.lock().unwrap().push((trigger.key(), call));
        async {}.boxed()
    }
}

struct Harness {
    router: Router,
    recorder: Arc<Recorder>,
    index: Index,
    restart_token: Token,
    image_token: Token,
}

fn trigger_in(namespace: &str, name: &str, token: &Token, action: Action, pattern: Option<&str>) -> Trigger {
    Trigger {
        namespace: namespace.into(),
        name: name.into(),
        workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
        action,
        container: Some("app".into()),
        image_pattern: pattern.map(|p| ImagePattern::parse(p).unwrap()),
        allow_any_image: false,
        token_hash: token.hash(),
        token_issued: None,
        last_calls: Vec::new(),
    }
}

fn trigger(name: &str, token: &Token, action: Action, pattern: Option<&str>) -> Trigger {
    trigger_in("shop", name, token, action, pattern)
}

/// A harness whose triggers are listed (the index is ready).
fn harness(settings: &Settings) -> Harness {
    let h = unready_harness(settings);
    h.index.set_ready();
    h
}

/// A harness before the first list completed: the triggers are in the index, not yet ready.
fn unready_harness(settings: &Settings) -> Harness {
    let restart_token = Token::generate().unwrap();
    let image_token = Token::generate().unwrap();
    let index = Index::new();
    index.insert(trigger(RESTART_ID, &restart_token, Action::Restart, None));
    index.insert(trigger(
        IMAGE_ID,
        &image_token,
        Action::SetImage,
        Some("registry.cn-hangzhou.aliyuncs.com/biz/*"),
    ));
    let recorder = Arc::new(Recorder::default());
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let (router, _) = server::router(index.clone(), recorder.clone(), settings, metrics, Arc::new(registry));
    Harness { router, recorder, index, restart_token, image_token }
}

fn default_harness() -> Harness {
    harness(&Settings::default())
}

fn request(
    method: &str,
    uri: &str,
    bearer: Option<&str>,
    body: impl Into<Body>,
    client: &str,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let mut r = b.body(body.into()).unwrap();
    let addr: SocketAddr = format!("{client}:40000").parse().unwrap();
    r.extensions_mut().insert(ConnectInfo(addr));
    r
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}

async fn get(h: &Harness, uri: &str) -> (StatusCode, Value) {
    send(&h.router, request("GET", uri, None, Body::empty(), "10.0.0.9")).await
}

fn path(name: &str) -> String {
    format!("/hooks/v1/namespaces/shop/triggers/{name}")
}

fn hook(name: &str, token: &Token) -> String {
    format!("{}?token={}", path(name), token.expose())
}

#[tokio::test]
async fn a_valid_get_restarts_and_answers_what_was_done() {
    let h = default_harness();
    let (status, body) = get(&h, &hook(RESTART_ID, &h.restart_token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "rolled");
    assert_eq!(body["action"], "restart");
    assert_eq!(body["workload"], "shop/deployment/web");
    assert!(body["restartedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        h.recorder.calls(),
        vec![(format!("shop/{RESTART_ID}"), Intent::Restart, "10.0.0.9".to_owned())]
    );
}

#[tokio::test]
async fn a_valid_post_with_a_bearer_token_restarts() {
    let h = default_harness();
    let req = request("POST", &path(RESTART_ID), Some(h.restart_token.expose()), Body::empty(), "10.0.0.9");
    let (status, body) = send(&h.router, req).await;
    assert_eq!((status, &body["result"]), (StatusCode::OK, &Value::from("rolled")));
    assert_eq!(h.recorder.calls().len(), 1);
}

#[tokio::test]
async fn a_bearer_token_on_get_is_accepted_too() {
    let h = default_harness();
    let req = request("GET", &path(RESTART_ID), Some(h.restart_token.expose()), Body::empty(), "10.0.0.9");
    assert_eq!(send(&h.router, req).await.0, StatusCode::OK);
    assert_eq!(h.recorder.calls().len(), 1);
}

#[tokio::test]
async fn wrong_token_unknown_trigger_and_missing_token_are_the_same_404() {
    let h = default_harness();
    let t = h.restart_token.expose();
    let wrong = get(&h, &hook(RESTART_ID, &h.image_token)).await;
    let unknown = get(&h, &hook("nope", &h.restart_token)).await;
    let other_namespace =
        get(&h, &format!("/hooks/v1/namespaces/other/triggers/{RESTART_ID}?token={t}")).await;
    let missing = get(&h, &path(RESTART_ID)).await;
    let empty = get(&h, &format!("{}?token=", path(RESTART_ID))).await;
    let garbage = get(&h, "/hooks/v1/namespaces/shop/triggers/..%2F..%2Fetc?token=x").await;
    let upper = get(&h, &format!("/hooks/v1/namespaces/Shop/triggers/{RESTART_ID}?token={t}")).await;
    let short = get(&h, &format!("/hooks/v1/namespaces/shop/{RESTART_ID}?token={t}")).await;
    assert_eq!(wrong.0, StatusCode::NOT_FOUND);
    for other in [&unknown, &other_namespace, &missing, &empty, &garbage, &upper, &short] {
        assert_eq!(other, &wrong);
    }
    assert!(h.recorder.calls().is_empty());
    assert!(h.recorder.recorded().await.is_empty(), "no status write for an unauthenticated call");
}

#[tokio::test]
async fn a_diurnal_0_1_url_says_where_triggers_went() {
    let h = default_harness();
    let (status, body) = get(&h, "/hooks/v1/00000000000000aa?token=x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("/hooks/v1/namespaces/"), "{body}");
}

/// Issue 13, item 4: a trigger of the same name in another namespace — created by someone
/// who may patch only their own workload — answers only for its own URL and token, at any
/// list order.
#[tokio::test]
async fn a_trigger_in_another_namespace_takes_nothing_over_across_relists() {
    let h = harness(&Settings { coalesce_window: Duration::ZERO, ..Settings::default() });
    let attacker_token = Token::generate().unwrap();
    let attacker = trigger_in("evil", RESTART_ID, &attacker_token, Action::Restart, None);
    let victim = trigger(RESTART_ID, &h.restart_token, Action::Restart, None);
    let image =
        trigger(IMAGE_ID, &h.image_token, Action::SetImage, Some("registry.cn-hangzhou.aliyuncs.com/biz/*"));
    let evil_url =
        format!("/hooks/v1/namespaces/evil/triggers/{RESTART_ID}?token={}", attacker_token.expose());
    for relist in [
        vec![attacker.clone(), victim.clone(), image.clone()],
        vec![victim.clone(), attacker.clone(), image.clone()],
    ] {
        h.index.replace_all(relist);
        assert_eq!(get(&h, &hook(RESTART_ID, &attacker_token)).await.0, StatusCode::NOT_FOUND);
        let cross =
            format!("/hooks/v1/namespaces/evil/triggers/{RESTART_ID}?token={}", h.restart_token.expose());
        assert_eq!(get(&h, &cross).await.0, StatusCode::NOT_FOUND);
        assert_eq!(get(&h, &hook(RESTART_ID, &h.restart_token)).await.0, StatusCode::OK);
        assert_eq!(get(&h, &evil_url).await.0, StatusCode::OK);
    }
    let rolled: Vec<String> = h.recorder.calls().into_iter().map(|(key, _, _)| key).collect();
    assert_eq!(rolled, ["shop/restart-web", "evil/restart-web", "shop/restart-web", "evil/restart-web"]);
}

#[tokio::test]
async fn every_authenticated_call_is_recorded_in_the_status() {
    let h = default_harness();
    get(&h, &hook(RESTART_ID, &h.restart_token)).await;
    get(&h, &format!("{}&image=docker.io/evil/miner:1", hook(IMAGE_ID, &h.image_token))).await;
    get(&h, &hook(RESTART_ID, &h.image_token)).await; // wrong token: not recorded
    let recorded = h.recorder.recorded().await;
    let summary: Vec<(&str, &str)> = recorded.iter().map(|(k, c)| (k.as_str(), c.result.as_str())).collect();
    assert_eq!(summary, [("shop/restart-web", "rolled"), ("shop/image-web", "forbidden")]);
    assert_eq!(recorded[0].1.client.as_deref(), Some("10.0.0.9"));
    assert_eq!(recorded[1].1.image.as_deref(), Some("docker.io/evil/miner:1"));
    assert!(recorded[1].1.message.as_deref().unwrap().contains("outside"), "{:?}", recorded[1]);
}

#[tokio::test]
async fn a_token_in_the_wrong_place_does_nothing() {
    let h = default_harness();
    let t = h.restart_token.expose();
    let uri = path(RESTART_ID);
    // In the body, in a made-up header, or as Basic auth: not a token at all → 404.
    let in_body = request("POST", &uri, None, format!("token={t}"), "10.0.0.9");
    assert_eq!(send(&h.router, in_body).await.0, StatusCode::NOT_FOUND);
    let mut in_header = request("POST", &uri, None, Body::empty(), "10.0.0.9");
    in_header.headers_mut().insert("x-token", t.parse().unwrap());
    assert_eq!(send(&h.router, in_header).await.0, StatusCode::NOT_FOUND);
    let mut basic = request("GET", &uri, None, Body::empty(), "10.0.0.9");
    basic.headers_mut().insert("authorization", format!("Basic {t}").parse().unwrap());
    assert_eq!(send(&h.router, basic).await.0, StatusCode::NOT_FOUND);
    // In the query and the header at once → 400, even when both are right.
    let both = request("POST", &hook(RESTART_ID, &h.restart_token), Some(t), Body::empty(), "10.0.0.9");
    let (status, body) = send(&h.router, both).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Twice in the query → 400.
    let twice = format!("{}&token={t}", hook(RESTART_ID, &h.restart_token));
    assert_eq!(get(&h, &twice).await.0, StatusCode::BAD_REQUEST);
    assert!(h.recorder.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_replay_within_the_window_joins_the_first_rollout() {
    let h = default_harness();
    let url = hook(RESTART_ID, &h.restart_token);
    let (_, first) = get(&h, &url).await;
    tokio::time::advance(Duration::from_secs(3)).await;
    let (status, second) = get(&h, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["result"], "coalesced");
    assert_eq!(second["restartedAt"], first["restartedAt"]);
    assert_eq!(second["rolloutAgeSeconds"], 3);
    assert_eq!(h.recorder.calls().len(), 1);
    tokio::time::advance(Duration::from_secs(8)).await;
    let (_, third) = get(&h, &url).await;
    assert_eq!(third["result"], "rolled");
    assert_eq!(h.recorder.calls().len(), 2);
}

#[tokio::test]
async fn a_failed_rollout_is_a_502_and_is_not_joined() {
    let h = default_harness();
    *h.recorder.fail_next.lock().unwrap() = true;
    let url = hook(RESTART_ID, &h.restart_token);
    let (status, body) = get(&h, &url).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("timed out"));
    let (status, body) = get(&h, &url).await;
    assert_eq!((status, &body["result"]), (StatusCode::OK, &Value::from("rolled")));
}

#[tokio::test]
async fn the_per_trigger_limit_answers_429() {
    let settings = Settings {
        coalesce_window: Duration::ZERO,
        per_trigger: "3/h".parse().unwrap(),
        ..Settings::default()
    };
    let h = harness(&settings);
    let url = hook(RESTART_ID, &h.restart_token);
    for _ in 0..3 {
        assert_eq!(get(&h, &url).await.0, StatusCode::OK);
    }
    assert_eq!(get(&h, &url).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h.recorder.calls().len(), 3);
    // Another trigger is not affected.
    let req = request("POST", &path(IMAGE_ID), Some(h.image_token.expose()), Body::empty(), "10.0.0.9");
    assert_eq!(send(&h.router, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn failures_from_one_client_are_limited_but_never_lock_out_a_valid_token() {
    let settings = Settings { per_client_failures: "5/h".parse().unwrap(), ..Settings::default() };
    let h = harness(&settings);
    let bad = format!("{}?token=guess", path(RESTART_ID));
    let send_from = |client: &'static str| send(&h.router, request("GET", &bad, None, Body::empty(), client));
    for _ in 0..5 {
        assert_eq!(send_from("10.0.0.66").await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(send_from("10.0.0.66").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(send_from("10.0.0.67").await.0, StatusCode::NOT_FOUND);
    assert!(h.recorder.calls().is_empty());
    let valid = request("GET", &hook(RESTART_ID, &h.restart_token), None, Body::empty(), "10.0.0.66");
    assert_eq!(send(&h.router, valid).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_oversized_body_is_413_before_anything_else() {
    let h = default_harness();
    let big = vec![b'{'; server::DEFAULT_BODY_LIMIT + 1];
    let req = request("POST", &path(IMAGE_ID), Some(h.image_token.expose()), big, "10.0.0.9");
    let (status, body) = send(&h.router, req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(h.recorder.calls().is_empty());
}

#[tokio::test]
async fn malformed_registry_payloads_are_400() {
    let h = default_harness();
    let uri = path(IMAGE_ID);
    let bodies: [&[u8]; 5] = [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"{}",
        br#"{"push_data":{"tag":"latest"},"repository":{}}"#,
        br#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"resource_url":"NOT AN IMAGE"}]}}"#,
    ];
    for body in bodies {
        let req = request("POST", &uri, Some(h.image_token.expose()), body.to_vec(), "10.0.0.9");
        let (status, answer) = send(&h.router, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["error"].is_string());
    }
    assert_eq!(
        get(&h, &format!("{}&image=a%20b", hook(IMAGE_ID, &h.image_token))).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(h.recorder.calls().is_empty());
}

#[tokio::test]
async fn registry_pushes_set_the_image_within_the_pattern() {
    let h = default_harness();
    let acr = r#"{"push_data":{"digest":"sha256:1","pushed_at":"2026-11-24 20:00:00","tag":"latest"},
        "repository":{"name":"biz-server","namespace":"biz","region":"cn-hangzhou","repo_full_name":"biz/biz-server"}}"#;
    let req = request("POST", &path(IMAGE_ID), Some(h.image_token.expose()), acr, "10.0.0.9");
    let (status, body) = send(&h.router, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["image"], "registry.cn-hangzhou.aliyuncs.com/biz/biz-server:latest");
    // Docker Hub and ACR cannot send headers: the token comes in the query of a POST.
    let harbor = r#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"v2",
        "resource_url":"registry.cn-hangzhou.aliyuncs.com/biz/vision:v2"}]}}"#;
    let req = request("POST", &hook(IMAGE_ID, &h.image_token), None, harbor, "10.0.0.9");
    assert_eq!(send(&h.router, req).await.0, StatusCode::OK);
    let images: Vec<String> = h
        .recorder
        .calls()
        .into_iter()
        .map(|(_, intent, _)| match intent {
            Intent::SetImage(i) => i.to_string(),
            Intent::Restart => "restart".into(),
        })
        .collect();
    assert_eq!(
        images,
        [
            "registry.cn-hangzhou.aliyuncs.com/biz/biz-server:latest",
            "registry.cn-hangzhou.aliyuncs.com/biz/vision:v2"
        ]
    );
}

#[tokio::test]
async fn a_registry_event_that_is_not_a_push_is_ignored() {
    let h = default_harness();
    let pull = r#"{"type":"PULL_ARTIFACT","event_data":{"resources":[]}}"#;
    let req = request("POST", &path(IMAGE_ID), Some(h.image_token.expose()), pull, "10.0.0.9");
    let (status, body) = send(&h.router, req).await;
    assert_eq!((status, &body["result"]), (StatusCode::OK, &Value::from("ignored")));
    assert!(h.recorder.calls().is_empty());
}

#[tokio::test]
async fn an_image_outside_the_pattern_or_on_a_restart_trigger_is_403() {
    let h = default_harness();
    let outside = format!("{}&image=docker.io/evil/miner:1", hook(IMAGE_ID, &h.image_token));
    let (status, body) = get(&h, &outside).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let deeper =
        format!("{}&image=registry.cn-hangzhou.aliyuncs.com/biz/x/y:1", hook(IMAGE_ID, &h.image_token));
    assert_eq!(get(&h, &deeper).await.0, StatusCode::FORBIDDEN);
    let on_restart =
        format!("{}&image=registry.cn-hangzhou.aliyuncs.com/biz/a:1", hook(RESTART_ID, &h.restart_token));
    assert_eq!(get(&h, &on_restart).await.0, StatusCode::FORBIDDEN);
    let hub = r#"{"push_data":{"tag":"1"},"repository":{"repo_name":"evil/miner"}}"#;
    let req = request("POST", &path(IMAGE_ID), Some(h.image_token.expose()), hub, "10.0.0.9");
    assert_eq!(send(&h.router, req).await.0, StatusCode::FORBIDDEN);
    assert!(h.recorder.calls().is_empty());
}

#[tokio::test]
async fn other_methods_are_405() {
    let h = default_harness();
    for method in ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let req = request(method, &hook(RESTART_ID, &h.restart_token), None, Body::empty(), "10.0.0.9");
        let response = h.router.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(response.headers()["allow"], "GET, POST");
    }
    assert!(h.recorder.calls().is_empty());
}

#[tokio::test]
async fn a_deleted_trigger_stops_working() {
    let h = default_harness();
    h.index.remove("shop", RESTART_ID);
    assert_eq!(get(&h, &hook(RESTART_ID, &h.restart_token)).await.0, StatusCode::NOT_FOUND);
    assert!(h.recorder.calls().is_empty());
}

/// Issue 14 (the service restarted while calls arrive): before the first list, a call, valid or
/// not, is told to retry (503, `Retry-After`), never "no such trigger" (404), which a caller
/// does not retry; nothing is rolled. Once listed, the same call rolls.
#[tokio::test]
async fn before_the_first_list_a_call_is_told_to_retry_and_rolls_nothing() {
    let h = unready_harness(&Settings::default());
    let (status, body) = get(&h, &hook(RESTART_ID, &h.restart_token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("retry")), "{body}");
    let unknown = format!("{}?token=wrong", path("nope"));
    assert_eq!(get(&h, &unknown).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let answer = h
        .router
        .clone()
        .oneshot(request("GET", &hook(RESTART_ID, &h.restart_token), None, Body::empty(), "10.0.0.1"))
        .await
        .unwrap();
    assert_eq!(answer.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned()), Some("1".into()));
    assert!(h.recorder.calls().is_empty(), "nothing may be rolled before the list");
    h.index.set_ready();
    let (status, body) = get(&h, &hook(RESTART_ID, &h.restart_token)).await;
    assert_eq!((status, body["result"].as_str()), (StatusCode::OK, Some("rolled")), "{body}");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let h = unready_harness(&Settings::default());
    assert_eq!(get(&h, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get(&h, "/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    h.index.set_ready();
    assert_eq!(get(&h, "/readyz").await.0, StatusCode::OK);
    get(&h, &hook(RESTART_ID, &h.restart_token)).await;
    get(&h, &hook(RESTART_ID, &h.image_token)).await;
    let (status, Value::String(text)) = get(&h, "/metrics").await else { panic!("metrics are text") };
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(r#"diurnal_trigger_requests_total{outcome="rolled"} 1"#), "{text}");
    assert!(text.contains(r#"diurnal_trigger_requests_total{outcome="not_found"} 1"#), "{text}");
    assert!(text.contains(r#"diurnal_trigger_rollouts_total{action="restart"} 1"#), "{text}");
    assert!(text.contains("diurnal_trigger_triggers 2"), "{text}");
    assert!(!text.contains(h.restart_token.expose()) && !text.contains(h.image_token.expose()));
    assert_eq!(get(&h, "/nope").await.0, StatusCode::NOT_FOUND);
}

/// A writer the test subscriber logs into.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_never_reaches_logs_answers_or_metrics() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // Global, not per-thread: with tests on parallel threads a thread-local subscriber can miss
    // events whose callsites another thread registered first.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let settings = Settings {
        per_trigger: "3/h".parse().unwrap(),
        per_client_failures: "2/h".parse().unwrap(),
        ..Settings::default()
    };
    let h = harness(&settings);
    let t = h.restart_token.expose().to_owned();
    let i = h.image_token.expose().to_owned();
    let mut answers = String::new();
    let uris = [
        hook(RESTART_ID, &h.restart_token),
        hook(RESTART_ID, &h.restart_token),
        hook(RESTART_ID, &h.restart_token),
        hook(RESTART_ID, &h.restart_token),
        hook(RESTART_ID, &h.image_token),
        hook(RESTART_ID, &h.image_token),
        hook(RESTART_ID, &h.image_token),
        format!("{}&token={t}", hook(RESTART_ID, &h.restart_token)),
        format!("{}&image=docker.io/x/y:1", hook(IMAGE_ID, &h.image_token)),
        format!("{}&image=bad%20image", hook(IMAGE_ID, &h.image_token)),
    ];
    for uri in &uris {
        let (status, body) = get(&h, uri).await;
        writeln!(answers, "{status} {body}").unwrap();
    }
    *h.recorder.fail_next.lock().unwrap() = true;
    let req = request("POST", &path(IMAGE_ID), Some(&i), Body::empty(), "10.0.0.9");
    writeln!(answers, "{:?}", send(&h.router, req).await).unwrap();
    let req = request("POST", &path(IMAGE_ID), Some(&i), b"{bad".to_vec(), "10.0.0.9");
    writeln!(answers, "{:?}", send(&h.router, req).await).unwrap();
    writeln!(answers, "{:?}", get(&h, "/metrics").await).unwrap();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("rolled"), "the capture works: {logs}");
    for line in ["rollout failed", "over the per-trigger limit", "authentication failures over the limit"] {
        assert!(logs.contains(line), "{line}: {logs}");
    }
    for token in [&t, &i] {
        assert!(!logs.contains(token.as_str()), "token in logs:\n{logs}");
        assert!(!answers.contains(token.as_str()), "token in answers:\n{answers}");
    }
    // And nothing handed to the rollout (which writes the Event) can carry it.
    assert!(!format!("{:?}", h.recorder.calls()).contains(&t));
}

/// Issue 13, item 5: `X-Forwarded-For` counts only from a `--trusted-proxy` address.
#[tokio::test]
async fn a_forwarded_address_counts_only_from_a_trusted_proxy() {
    let settings = Settings {
        trusted_proxies: vec!["10.0.0.0/24".parse().unwrap()],
        per_client_failures: "1/h".parse().unwrap(),
        coalesce_window: Duration::ZERO,
        ..Settings::default()
    };
    let h = harness(&settings);
    let from = |peer: &str, forwarded: &str, uri: &str| {
        let mut r = request("GET", uri, None, Body::empty(), peer);
        r.headers_mut().insert("x-forwarded-for", forwarded.parse().unwrap());
        r
    };
    let bad = format!("{}?token=guess", path(RESTART_ID));
    // Through the Ingress (10.0.0.1): a client-supplied first entry does not pick the bucket;
    // the proxy's entry does.
    assert_eq!(
        send(&h.router, from("10.0.0.1", "1.1.1.1, 203.0.113.5", &bad)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&h.router, from("10.0.0.1", "2.2.2.2, 203.0.113.5", &bad)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(send(&h.router, from("10.0.0.1", "203.0.113.6", &bad)).await.0, StatusCode::NOT_FOUND);
    // A pod outside the trusted range cannot escape its own bucket by claiming another address.
    assert_eq!(send(&h.router, from("10.9.0.7", "198.51.100.1", &bad)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&h.router, from("10.9.0.7", "198.51.100.2", &bad)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let ok = hook(RESTART_ID, &h.restart_token);
    assert_eq!(send(&h.router, from("10.0.0.1", "9.9.9.9, 203.0.113.7", &ok)).await.0, StatusCode::OK);
    assert_eq!(send(&h.router, from("10.9.0.7", "203.0.113.8", &ok)).await.0, StatusCode::OK);
    let callers: Vec<String> = h.recorder.calls().into_iter().map(|(_, _, c)| c).collect();
    assert_eq!(callers, ["203.0.113.7", "10.9.0.7"], "Events name the forwarded address only via the proxy");
}

#[tokio::test]
async fn without_trusted_proxies_the_header_is_never_read() {
    let h = default_harness();
    let mut r = request("GET", &hook(RESTART_ID, &h.restart_token), None, Body::empty(), "10.0.0.1");
    r.headers_mut().insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
    assert_eq!(send(&h.router, r).await.0, StatusCode::OK);
    assert_eq!(h.recorder.calls()[0].2, "10.0.0.1");
}
