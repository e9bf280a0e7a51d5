//! The webhook server in process: what the API server (or anything else) may send it, and the
//! TLS listener with its certificate hot reload.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use diurnal_placement::{Placement, Profile};
use diurnal_webhook::admit::{Mode, Workload};
use diurnal_webhook::cluster::{LookupError, WorkloadKey};
use diurnal_webhook::metrics::Metrics;
use diurnal_webhook::server::{self, App, Resolved, Workloads};
use futures::StreamExt as _;
use http_body_util::BodyExt as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use tower::ServiceExt as _;

/// One opted-in ReplicaSet (`shop/web-1`, baseline 1, burst virtual) whose placements it counts,
/// and one (`shop/unreadable-1`) whose lookup fails.
#[derive(Default)]
struct Fake {
    regular: Mutex<u32>,
}

impl Workloads for Fake {
    fn resolve<'a>(
        &'a self,
        namespace: &'a str,
        owners: &'a [OwnerReference],
    ) -> Pin<Box<dyn Future<Output = Resolved> + Send + 'a>> {
        Box::pin(async move {
            let Some(owner) = owners.iter().find(|o| o.controller == Some(true)) else { return Ok(None) };
            let key = WorkloadKey {
                kind: "ReplicaSet".into(),
                namespace: namespace.into(),
                name: owner.name.clone(),
            };
            match (namespace, owner.name.as_str()) {
                ("shop", "web-1") => {
                    let annotations = BTreeMap::from([
                        ("diurnal.dev/baseline-replicas".to_owned(), "1".to_owned()),
                        ("diurnal.dev/burst".to_owned(), "virtual".to_owned()),
                    ]);
                    Ok(Some((key, annotations)))
                }
                ("shop", "unreadable-1") => Err(LookupError { key, reason: "connection refused".into() }),
                _ => Ok(None),
            }
        })
    }

    fn place(
        &self,
        key: &WorkloadKey,
        annotations: BTreeMap<String, String>,
        reserve_as: Option<&str>,
        decide: &mut dyn FnMut(&Workload) -> Option<Placement>,
    ) -> Option<Placement> {
        let mut regular = self.regular.lock().unwrap();
        let placement = decide(&Workload { id: key.to_string(), annotations, regular_pinned: *regular });
        if placement == Some(Placement::Regular) && reserve_as.is_some() {
            *regular += 1;
        }
        placement
    }
}

fn app(mode: Mode) -> Router {
    app_with(mode, |_| {})
}

/// The router, with `adjust` applied to the handler's settings.
fn app_with(mode: Mode, adjust: impl FnOnce(&mut App)) -> Router {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Arc::new(Metrics::new(&mut registry));
    let mut app =
        App::new(Profile::builtin("alibabacloud").unwrap(), mode, Arc::new(Fake::default()), metrics);
    adjust(&mut app);
    server::router(app, diurnal_serving::router(Arc::new(registry), Arc::new(|| Ok(()))))
}

fn review(object: &serde_json::Value, kind: &str, operation: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "0b6d-1", "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop", "operation": operation, "userInfo": {"username": "test"},
            "object": object,
        },
    }))
    .unwrap()
}

fn web_pod(volumes: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "web-1-", "namespace": "shop", "labels": {"app": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u", "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": "app:1"}], "volumes": volumes},
    })
}

async fn post(router: &Router, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request =
        Request::post("/mutate").header("content-type", "application/json").body(Body::from(body)).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    (status, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

async fn answer(router: &Router, body: Vec<u8>) -> serde_json::Value {
    let (status, bytes) = post(router, body).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["response"].clone()
}

fn patched(object: &serde_json::Value, response: &serde_json::Value) -> serde_json::Value {
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(response["patch"].as_str().unwrap()).unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    let mut doc = object.clone();
    json_patch::patch(&mut doc, &patch).unwrap();
    doc
}

#[tokio::test]
async fn the_first_pod_is_pinned_to_regular_nodes_and_the_next_bursts() {
    let router = app(Mode::Deny);
    let pod = web_pod(&serde_json::json!([]));
    let first = answer(&router, review(&pod, "Pod", "CREATE")).await;
    assert_eq!((first["uid"].as_str(), first["allowed"].as_bool()), (Some("0b6d-1"), Some(true)));
    let placed = patched(&pod, &first);
    assert_eq!(placed["metadata"]["labels"]["diurnal.dev/placement"], "regular");
    assert_eq!(placed["metadata"]["annotations"]["diurnal.dev/admission-uid"], "0b6d-1");
    assert_eq!(placed["metadata"]["labels"]["app"], "web", "existing labels kept");
    let term = &placed["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0];
    assert_eq!(
        term["matchExpressions"][0],
        serde_json::json!({"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]})
    );

    let second = patched(&pod, &answer(&router, review(&pod, "Pod", "CREATE")).await);
    assert_eq!(second["metadata"]["labels"]["diurnal.dev/placement"], "burst");
    assert_eq!(second["spec"]["tolerations"][0]["key"], "virtual-kubelet.io/provider");
}

#[tokio::test]
async fn a_dry_run_is_placed_without_using_up_the_baseline() {
    let router = app(Mode::Deny);
    let pod = web_pod(&serde_json::json!([]));
    let mut dry: serde_json::Value = serde_json::from_slice(&review(&pod, "Pod", "CREATE")).unwrap();
    dry["request"]["dryRun"] = true.into();
    for _ in 0..3 {
        let r = answer(&router, serde_json::to_vec(&dry).unwrap()).await;
        assert_eq!(patched(&pod, &r)["metadata"]["labels"]["diurnal.dev/placement"], "regular");
    }
    let real = answer(&router, review(&pod, "Pod", "CREATE")).await;
    assert_eq!(patched(&pod, &real)["metadata"]["labels"]["diurnal.dev/placement"], "regular");
}

#[tokio::test]
async fn a_burst_pod_with_a_host_path_is_denied_naming_the_field_or_warned() {
    let pod = web_pod(&serde_json::json!([{"name": "logs", "hostPath": {"path": "/var/log"}}]));
    let deny = app(Mode::Deny);
    answer(&deny, review(&pod, "Pod", "CREATE")).await; // the baseline's pod: regular, fine
    let refused = answer(&deny, review(&pod, "Pod", "CREATE")).await;
    assert_eq!(refused["allowed"], false);
    let message = refused["status"]["message"].as_str().unwrap();
    assert!(message.contains("spec.volumes[0].hostPath: hostPath volumes are not mounted"), "{message}");
    assert!(refused.get("patch").is_none());

    let warn = app(Mode::Warn);
    answer(&warn, review(&pod, "Pod", "CREATE")).await;
    let warned = answer(&warn, review(&pod, "Pod", "CREATE")).await;
    assert_eq!(warned["allowed"], true);
    assert!(warned["warnings"][0].as_str().unwrap().contains("hostPath"), "{warned}");
}

#[tokio::test]
async fn other_requests_pass_unchanged() {
    let router = app(Mode::Deny);
    let pod = web_pod(&serde_json::json!([]));
    for (kind, operation) in [("Pod", "UPDATE"), ("Pod", "DELETE"), ("ConfigMap", "CREATE")] {
        let r = answer(&router, review(&pod, kind, operation)).await;
        assert_eq!(r["allowed"], true, "{kind} {operation}");
        assert!(r.get("patch").is_none(), "{kind} {operation}");
    }
    // A pod of a workload that did not opt in, and a bare pod.
    let mut other = web_pod(&serde_json::json!([]));
    other["metadata"]["ownerReferences"][0]["name"] = "api-7".into();
    let r = answer(&router, review(&other, "Pod", "CREATE")).await;
    assert!(r["allowed"].as_bool().unwrap() && r.get("patch").is_none());
    other["metadata"].as_object_mut().unwrap().remove("ownerReferences");
    let r = answer(&router, review(&other, "Pod", "CREATE")).await;
    assert!(r["allowed"].as_bool().unwrap() && r.get("patch").is_none());
}

#[tokio::test]
async fn a_failed_workload_lookup_admits_the_pod_unplaced_and_counts_an_error() {
    let router = app(Mode::Deny);
    let mut pod = web_pod(&serde_json::json!([]));
    pod["metadata"]["ownerReferences"][0]["name"] = "unreadable-1".into();
    let r = answer(&router, review(&pod, "Pod", "CREATE")).await;
    assert_eq!(r["allowed"], true);
    assert!(r.get("patch").is_none(), "{r}");
    let metrics =
        router.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = String::from_utf8(metrics.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("diurnal_webhook_admissions_total{outcome=\"error\"} 1"), "{text}");
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_clean_errors_and_the_server_keeps_serving() {
    let router = app(Mode::Deny);
    let cases: Vec<(Vec<u8>, StatusCode)> = vec![
        (b"".to_vec(), StatusCode::BAD_REQUEST),
        (b"{".to_vec(), StatusCode::BAD_REQUEST),
        (b"\xff\xfe not utf-8".to_vec(), StatusCode::BAD_REQUEST),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":1}}"#.to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            {
                let mut truncated = review(&serde_json::json!({}), "Pod", "CREATE");
                truncated.pop();
                truncated
            },
            StatusCode::BAD_REQUEST,
        ),
        (vec![b' '; server::MAX_BODY + 1], StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (body, status) in cases {
        let (got, text) = post(&router, body).await;
        assert_eq!(got, status, "{}", String::from_utf8_lossy(&text));
    }
    // The object is not a pod at all: admitted unchanged rather than blocked.
    let r =
        answer(&router, review(&serde_json::json!({"spec": {"containers": "nope"}}), "Pod", "CREATE")).await;
    assert_eq!(r["allowed"], true);
    // And the server still works.
    let ok = answer(&router, review(&web_pod(&serde_json::json!([])), "Pod", "CREATE")).await;
    assert!(ok["patch"].is_string());
    let metrics =
        router.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    let text = String::from_utf8(metrics.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("diurnal_webhook_admissions_total{outcome=\"malformed\"} 7"), "{text}");
    assert!(text.contains("diurnal_webhook_admissions_total{outcome=\"placed_regular\"} 1"), "{text}");
}

/// The largest pod one can reasonably make: annotations at the API server's limit (256 KiB in
/// all), 30 long labels, 40 containers of 50 variables, 10 mounts, probes and a security context
/// each. Its review must fit [`server::MAX_BODY`] with room to spare, and be placed.
#[tokio::test]
async fn a_review_of_a_pod_at_the_api_servers_annotation_limit_fits_the_body_limit() {
    let container = |i: usize| {
        serde_json::json!({"name": format!("container-{i:02}"), "image": format!("registry.example.com/team/service-{i:02}:v1.2.3-abcdef0"),
            "command": ["/bin/app"], "args": ["--config=/etc/app/config.yaml", "--log-level=info"],
            "env": (0..50).map(|j| serde_json::json!({"name": format!("SETTING_NUMBER_{j:03}_WITH_A_LONG_NAME"), "value": "x".repeat(80)})).collect::<Vec<_>>(),
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            "volumeMounts": (0..10).map(|k| serde_json::json!({"name": format!("config-{k}"), "mountPath": format!("/etc/app/config-{k}"), "readOnly": true})).collect::<Vec<_>>(),
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 5},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
            "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}})
    };
    let mut pod = web_pod(&serde_json::json!((0..10).map(|k| serde_json::json!({"name": format!("config-{k}"), "configMap": {"name": format!("config-{k}")}})).collect::<Vec<_>>()));
    pod["metadata"]["annotations"] = serde_json::json!({"example.com/blob": "a".repeat(256 * 1024 - 100)});
    for i in 0..30 {
        pod["metadata"]["labels"][format!("label-{i}")] = "v".repeat(40).into();
    }
    pod["spec"]["containers"] = (0..40).map(container).collect::<Vec<_>>().into();
    let body = review(&pod, "Pod", "CREATE");
    eprintln!("a pod at the annotation limit with 40 containers: a review of {} KiB", body.len() / 1024);
    assert!(
        body.len() < server::MAX_BODY * 2 / 3,
        "{} bytes leave too little room under {}",
        body.len(),
        server::MAX_BODY
    );
    let placed = answer(&app(Mode::Deny), body).await;
    assert_eq!(patched(&pod, &placed)["metadata"]["labels"]["diurnal.dev/placement"], "regular");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_or_announces_too_much_is_refused_without_reading_it() {
    let router = app(Mode::Deny);
    // Half a review, then nothing: the connection is not held forever.
    let half = review(&web_pod(&serde_json::json!([])), "Pod", "CREATE")[..40].to_vec();
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(half)]).chain(futures::stream::pending());
    let request = Request::post("/mutate").body(Body::from_stream(stream)).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    // A declared length over the limit is refused before any of it is sent.
    let request = Request::post("/mutate")
        .header("content-length", (server::MAX_BODY + 1).to_string())
        .body(Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

mod tls {
    use std::time::Instant;

    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;

    use super::*;

    type Https =
        Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Body>;

    fn roots(ca_pem: &str) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap()).unwrap();
        roots
    }

    /// An HTTPS/1.1 client speaking TLS as `config` says.
    fn https(config: rustls::ClientConfig) -> Https {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        Client::builder(TokioExecutor::new()).build(connector)
    }

    fn client(ca_pem: &str) -> Https {
        https(rustls::ClientConfig::builder().with_root_certificates(roots(ca_pem)).with_no_client_auth())
    }

    async fn healthz(client: &Https, port: u16) -> Result<StatusCode, String> {
        let uri = format!("https://127.0.0.1:{port}/healthz");
        client.get(uri.parse().unwrap()).await.map(|r| r.status()).map_err(|e| format!("{e:?}"))
    }

    #[tokio::test]
    async fn a_rotated_certificate_is_served_without_a_restart() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("diurnal-webhook-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = diurnal_serving::TlsFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            client_ca: None,
        };
        let names = vec!["127.0.0.1".to_owned()];
        let first = diurnal_webhook::certs::generate(&names, 1).unwrap();
        std::fs::write(&files.cert, &first.cert).unwrap();
        std::fs::write(&files.key, &first.key).unwrap();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tls = Arc::new(diurnal_serving::Tls::load(files.clone(), Duration::from_millis(100)).unwrap());
        let options = diurnal_serving::Options { tls: Some(tls), ..diurnal_serving::Options::default() };
        let served = tokio::spawn(diurnal_serving::serve(listener, app(Mode::Deny), options, async {
            let _ = stopped.await;
        }));
        let old_ca = client(&first.ca_cert);
        let deadline = Instant::now() + Duration::from_secs(10);
        while healthz(&old_ca, port).await != Ok(StatusCode::OK) {
            assert!(Instant::now() < deadline, "the TLS server never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // cert-manager writes a new certificate from a new CA in place.
        tokio::time::sleep(Duration::from_millis(1100)).await; // a visibly newer mtime
        let second = diurnal_webhook::certs::generate(&names, 1).unwrap();
        std::fs::write(&files.key, &second.key).unwrap();
        std::fs::write(&files.cert, &second.cert).unwrap();
        let new_ca = client(&second.ca_cert);
        let deadline = Instant::now() + Duration::from_secs(10);
        while healthz(&new_ca, port).await != Ok(StatusCode::OK) {
            assert!(Instant::now() < deadline, "the new certificate was never served");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(healthz(&client(&first.ca_cert), port).await.is_err(), "the old certificate is retired");
        let _ = stop.send(());
        served.await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A CA and a client certificate (`clientAuth`) it signed, as PEM: (CA, chain, key).
    fn client_identity(name: &str) -> (String, String, String) {
        use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, format!("{name}-ca"));
        ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca, &ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer).unwrap();
        (ca_cert.pem(), cert.pem(), key.serialize_pem())
    }

    fn client_with_cert(ca_pem: &str, chain: &str, key: &str) -> Https {
        let chain = vec![CertificateDer::from_pem_slice(chain.as_bytes()).unwrap()];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        https(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots(ca_pem))
                .with_client_auth_cert(chain, key)
                .unwrap(),
        )
    }

    async fn mutate(client: &Https, port: u16, body: Vec<u8>) -> Result<(StatusCode, Vec<u8>), String> {
        let request = Request::post(format!("https://127.0.0.1:{port}/mutate"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let response = client.request(request).await.map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        Ok((status, response.into_body().collect().await.unwrap().to_bytes().to_vec()))
    }

    #[tokio::test]
    async fn with_a_client_ca_only_verified_callers_are_answered_and_others_reserve_nothing() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("diurnal-webhook-mtls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let serving = diurnal_webhook::certs::generate(&["127.0.0.1".to_owned()], 1).unwrap();
        let (client_ca, chain, key) = client_identity("kube-apiserver");
        let files = diurnal_serving::TlsFiles {
            cert: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            client_ca: Some(dir.join("client-ca.crt")),
        };
        std::fs::write(&files.cert, &serving.cert).unwrap();
        std::fs::write(&files.key, &serving.key).unwrap();
        std::fs::write(files.client_ca.as_ref().unwrap(), &client_ca).unwrap();

        let router = app_with(Mode::Deny, |app| app.require_client_certificate = true);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tls = Arc::new(diurnal_serving::Tls::load(files, Duration::from_secs(10)).unwrap());
        let options = diurnal_serving::Options { tls: Some(tls), ..diurnal_serving::Options::default() };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(diurnal_serving::serve(listener, router, options, async {
            let _ = stopped.await;
        }));

        let anonymous = client(&serving.ca_cert);
        let pod = web_pod(&serde_json::json!([]));
        // Probes and scrapes need no certificate.
        assert_eq!(healthz(&anonymous, port).await, Ok(StatusCode::OK));
        // A review without one is refused, several times over: none of them holds a slot.
        for _ in 0..3 {
            let (status, text) = mutate(&anonymous, port, review(&pod, "Pod", "CREATE")).await.unwrap();
            assert_eq!(status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&text));
        }
        // A certificate from another CA does not get through the handshake.
        let (_, other_chain, other_key) = client_identity("intruder");
        let intruder = client_with_cert(&serving.ca_cert, &other_chain, &other_key);
        assert!(mutate(&intruder, port, review(&pod, "Pod", "CREATE")).await.is_err());
        // The API server's certificate: the baseline slot is still free, then the burst.
        let apiserver = client_with_cert(&serving.ca_cert, &chain, &key);
        let placements: Vec<String> = {
            let mut out = Vec::new();
            for _ in 0..2 {
                let (status, bytes) = mutate(&apiserver, port, review(&pod, "Pod", "CREATE")).await.unwrap();
                assert_eq!(status, StatusCode::OK);
                let response =
                    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()["response"].clone();
                out.push(patched(&pod, &response)["metadata"]["labels"]["diurnal.dev/placement"].to_string());
            }
            out
        };
        assert_eq!(placements, ["\"regular\"", "\"burst\""]);
        let _ = stop.send(());
        served.await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn reviews_over_the_in_flight_limit_are_answered_503_at_once() {
        let in_flight = Arc::new(tokio::sync::Semaphore::new(1));
        let held = in_flight.clone().try_acquire_owned().unwrap();
        let router = app_with(Mode::Deny, |app| app.in_flight = in_flight.clone());
        let started = Instant::now();
        let (status, _) = post(&router, review(&web_pod(&serde_json::json!([])), "Pod", "CREATE")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        drop(held);
        let (status, _) = post(&router, review(&web_pod(&serde_json::json!([])), "Pod", "CREATE")).await;
        assert_eq!(status, StatusCode::OK);
    }
}
