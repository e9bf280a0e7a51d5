//! Pinning every Kubernetes API call a component makes, in the style of kube-rs controller-rs
//! `fixtures.rs`: a tower-test mock stands in for the API server, each expected call is checked
//! (method, path, content type, body) and answered in order, and a call that never comes — or one
//! too many — fails the test. Used as a dev-dependency only.
//!
//! [`prometheus`] starts a real, backfilled Prometheus; [`go_tools`] finds (building if needed)
//! the Go-built tools some tests run.

pub mod go_tools;
pub mod prometheus;

use std::time::Duration;

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

/// The test's end of the mock API server.
pub type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// One expected call and the answer to give.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: &'static str,
    /// Request path (no query).
    pub path: String,
    /// Expected `Content-Type`, when checked.
    pub content_type: Option<&'static str>,
    /// Expected JSON body, when checked.
    pub body: Option<Value>,
    /// Expected query parameters (`a=1&b=2`, in any order), when checked.
    pub query: Option<String>,
    /// Status of the answer.
    pub status: u16,
    /// JSON answer.
    pub answer: Value,
}

/// Merge patch content type.
pub const MERGE: Option<&str> = Some("application/merge-patch+json");

/// JSON patch content type.
pub const JSON_PATCH: Option<&str> = Some("application/json-patch+json");

/// A call answered 200.
pub fn call(
    method: &'static str,
    path: &str,
    content_type: Option<&'static str>,
    body: Option<Value>,
    answer: Value,
) -> Call {
    Call { method, path: path.to_owned(), content_type, body, query: None, status: 200, answer }
}

impl Call {
    /// The same call, also checking its query string (without `?`).
    #[must_use]
    pub fn with_query(mut self, query: &str) -> Self {
        self.query = Some(query.to_owned());
        self
    }

    /// The same call, answered with a `Status` failure of `code` and `reason`.
    #[must_use]
    pub fn failing(mut self, code: u16, reason: &str) -> Self {
        self.status = code;
        self.answer = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason});
        self
    }
}

/// A GET answered 200.
pub fn get(path: &str, answer: Value) -> Call {
    call("GET", path, None, None, answer)
}

/// A merge PATCH with `body`, answered 200.
pub fn merge_patch(path: &str, body: Value, answer: Value) -> Call {
    call("PATCH", path, MERGE, Some(body), answer)
}

/// A JSON PATCH with `body`, answered 200.
pub fn json_patch(path: &str, body: Value, answer: Value) -> Call {
    call("PATCH", path, JSON_PATCH, Some(body), answer)
}

/// A call answered 404 `NotFound`.
pub fn not_found(method: &'static str, path: &str) -> Call {
    let answer = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"});
    Call { method, path: path.to_owned(), content_type: None, body: None, query: None, status: 404, answer }
}

/// A client talking to the mock, and the mock's handle.
pub fn mock_client() -> (Client, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

/// Answers `calls` in order, asserting each request (a missing one fails after 2 s), then asserts
/// no further request comes within 200 ms; returns the bodies received (`Null` for none).
pub async fn serve(mut handle: ApiHandle, calls: Vec<Call>) -> Vec<Value> {
    let mut bodies = Vec::new();
    for call in calls {
        let (request, send) = tokio::time::timeout(Duration::from_secs(2), handle.next_request())
            .await
            .unwrap_or_else(|_| panic!("expected {} {} but no request came", call.method, call.path))
            .expect("client alive");
        assert_eq!(request.method().as_str(), call.method, "method of {}", call.path);
        assert_eq!(request.uri().path(), call.path);
        if let Some(query) = &call.query {
            // Parameters in any order; kube's client may leave an empty one (`?&fieldManager=..`).
            let pairs = |q: &str| {
                let mut pairs: Vec<String> =
                    q.split('&').filter(|p| !p.is_empty()).map(str::to_owned).collect();
                pairs.sort();
                pairs
            };
            assert_eq!(
                pairs(request.uri().query().unwrap_or("")),
                pairs(query),
                "query of {} {}",
                call.method,
                call.path
            );
        }
        if let Some(ct) = call.content_type {
            assert_eq!(request.headers().get("content-type").unwrap(), ct, "content type of {}", call.path);
        }
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let got: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        if let Some(expected) = call.body {
            assert_eq!(got, expected, "body of {} {}", call.method, call.path);
        }
        bodies.push(got);
        let response = Response::builder()
            .status(call.status)
            .body(Body::from(serde_json::to_vec(&call.answer).unwrap()))
            .unwrap();
        send.send_response(response);
    }
    if let Ok(Some((request, _))) =
        tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await
    {
        panic!("unexpected extra request {} {}", request.method(), request.uri());
    }
    bodies
}
