//! `/metrics` behind a `TokenReview` and a `SubjectAccessReview`, every API call pinned; the
//! health routes stay open.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use common::{exchange, start, status};
use diurnal_serving::{MetricsAuth, Options};
use diurnal_testing::{Call, call, mock_client};
use serde_json::{Value, json};

const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

fn token_review(token: &str, answer: Value) -> Call {
    let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {},
                      "spec": {"token": token}});
    call("POST", TOKEN_REVIEWS, None, Some(body), answer)
}

fn authenticated(user: &str) -> Value {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {}, "spec": {},
           "status": {"authenticated": true,
                      "user": {"username": user, "uid": "u-1", "groups": ["system:serviceaccounts"],
                               "extra": {"authentication.kubernetes.io/pod-name": ["prometheus-0"]}}}})
}

fn access_review(user: &str, allowed: bool) -> Call {
    let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {},
        "spec": {"user": user, "uid": "u-1", "groups": ["system:serviceaccounts"],
                 "extra": {"authentication.kubernetes.io/pod-name": ["prometheus-0"]},
                 "nonResourceAttributes": {"path": "/metrics", "verb": "get"}}});
    let answer = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {},
                        "spec": {}, "status": {"allowed": allowed}});
    call("POST", ACCESS_REVIEWS, None, Some(body), answer)
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

#[tokio::test]
async fn metrics_need_a_token_allowed_to_get_them_and_health_routes_stay_open() {
    let (client, handle) = mock_client();
    let reader = "system:serviceaccount:monitoring:prometheus";
    let stranger = "system:serviceaccount:shop:web";
    // In the order the requests below make them; cached answers make none.
    let calls = vec![
        token_review("reader-token", authenticated(reader)),
        access_review(reader, true),
        token_review("stranger-token", authenticated(stranger)),
        access_review(stranger, false),
        token_review(
            "forged-token",
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {}, "spec": {},
                   "status": {"authenticated": false, "error": "invalid bearer token"}}),
        ),
    ];
    let api = tokio::spawn(diurnal_testing::serve(handle, calls));
    let router = Router::new()
        .route("/metrics", get(|| async { "diurnal_up 1\n# EOF\n" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ok" }));
    let options = Options { metrics_auth: Some(Arc::new(MetricsAuth::new(client))), ..Options::default() };
    let server = start(router, options);
    let port = server.port;

    let answer = exchange(port, &common::get("/metrics", "")).await;
    assert_eq!(status(&answer), 401, "{answer}");
    assert!(answer.contains("www-authenticate: Bearer"), "{answer}");
    for path in ["/healthz", "/readyz"] {
        assert_eq!(status(&exchange(port, &common::get(path, "")).await), 200, "{path} without a token");
    }
    let allowed = exchange(port, &common::get("/metrics", &bearer("reader-token"))).await;
    assert_eq!(status(&allowed), 200, "{allowed}");
    assert!(allowed.ends_with("diurnal_up 1\n# EOF\n"), "{allowed}");
    // Cached: no second review.
    assert_eq!(status(&exchange(port, &common::get("/metrics", &bearer("reader-token"))).await), 200);
    let refused = exchange(port, &common::get("/metrics", &bearer("stranger-token"))).await;
    assert_eq!(status(&refused), 403, "{refused}");
    assert!(refused.contains(stranger) && !refused.contains("stranger-token"), "{refused}");
    assert_eq!(status(&exchange(port, &common::get("/metrics", &bearer("stranger-token"))).await), 403);
    assert_eq!(status(&exchange(port, &common::get("/metrics", &bearer("forged-token"))).await), 401);
    // A path that only looks like /metrics is not routed to it.
    assert_eq!(status(&exchange(port, &common::get("/%6detrics", "")).await), 404);
    api.await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn an_api_failure_is_a_500_and_is_asked_again_next_time() {
    let (client, handle) = mock_client();
    let failed = Call {
        status: 503,
        answer: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503, "message": "etcd"}),
        ..token_review("reader-token", Value::Null)
    };
    let reader = "system:serviceaccount:monitoring:prometheus";
    let calls =
        vec![failed, token_review("reader-token", authenticated(reader)), access_review(reader, true)];
    let api = tokio::spawn(diurnal_testing::serve(handle, calls));
    let router = Router::new().route("/metrics", get(|| async { "ok" }));
    let options = Options { metrics_auth: Some(Arc::new(MetricsAuth::new(client))), ..Options::default() };
    let server = start(router, options);
    let first = exchange(server.port, &common::get("/metrics", &bearer("reader-token"))).await;
    assert_eq!(status(&first), 500, "{first}");
    assert!(!first.contains("reader-token"), "{first}");
    assert_eq!(status(&exchange(server.port, &common::get("/metrics", &bearer("reader-token"))).await), 200);
    api.await.unwrap();
    server.stop().await;
}
