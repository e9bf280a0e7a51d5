//! Admission latency under load (a benchmark, not a unit test: `--ignored`, numbers in
//! BENCHMARKS.md):
//!
//! `cargo test -p diurnal-webhook --release --test load -- --ignored --nocapture`
//!
//! The real TLS server (`diurnal_serving::serve`, rustls, loopback) and the real cluster view
//! (`Cluster`, the baseline count and reservations) over caches holding placed pods of opted-in
//! workloads (2,000 pods of 100 workloads, or 50,000 of 2,500); 16 keep-alive HTTPS clients in
//! the same process send 500 (or 1,000) pod-creation reviews per second in total for 10 s, for
//! pods of those workloads. Latency is measured at the client, request sent to response read.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use diurnal_placement::Profile;
use diurnal_webhook::admit::Mode;
use diurnal_webhook::cluster::Cluster;
use diurnal_webhook::metrics::Metrics;
use diurnal_webhook::server::{self, App};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

const PODS_PER_WORKLOAD: usize = 20;
const SECONDS: u64 = 10;
const CLIENTS: u64 = 16;

fn cluster(workloads: usize) -> Cluster {
    let client = common::offline_client();
    let replica_sets: Vec<ReplicaSet> = (0..workloads)
        .map(|w| {
            serde_json::from_value(serde_json::json!({"metadata": {"name": format!("web{w}-1"), "namespace": "shop",
                "annotations": {"diurnal.dev/baseline-replicas": "5", "diurnal.dev/burst": "virtual"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": format!("web{w}"), "uid": "d", "controller": true}]}}))
            .unwrap()
        })
        .collect();
    // Pods as the API server sends them (a container with resources, env and probes, the status
    // with conditions), generated one at a time as the watch delivers them.
    let pods = (0..workloads * PODS_PER_WORKLOAD).map(|i| {
        let (w, n) = (i / PODS_PER_WORKLOAD, i % PODS_PER_WORKLOAD);
        let placement = if n < 5 { "regular" } else { "burst" };
        let env: Vec<serde_json::Value> =
            (0..8).map(|e| serde_json::json!({"name": format!("SETTING_{e}"), "value": format!("value-{e}-{w}")})).collect();
        let condition = |t: &str| serde_json::json!({"type": t, "status": "True", "lastTransitionTime": "2026-12-01T08:00:00Z"});
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("web{w}-1-{n}"), "namespace": "shop", "uid": format!("00000000-0000-0000-0000-{i:012}"),
                "creationTimestamp": "2026-12-01T08:00:00Z", "resourceVersion": format!("{i}"),
                "labels": {"diurnal.dev/placement": placement, "app": format!("web{w}"), "pod-template-hash": "5d8f7c9b6"},
                "annotations": {"diurnal.dev/admission-uid": format!("uid-{i}"), "controller.kubernetes.io/pod-deletion-cost": "100"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("web{w}-1"), "uid": "r", "controller": true}]},
            "spec": {"nodeName": format!("node-{}", i % 50), "serviceAccountName": "default",
                "containers": [{"name": "app", "image": "registry.example/shop/web:1.2.3", "env": env,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                    "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]}],
                "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}],
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "hostIP": "192.168.0.1",
                "conditions": [condition("Initialized"), condition("Ready"), condition("ContainersReady"), condition("PodScheduled")],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "registry.example/shop/web:1.2.3",
                    "imageID": "registry.example/shop/web@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                    "state": {"running": {"startedAt": "2026-12-01T08:00:05Z"}}}]}
        }))
        .unwrap();
        pod
    });
    Cluster::from_stores(
        client,
        common::metadata_of(replica_sets),
        common::metadata_of::<StatefulSet>(vec![]),
        pods,
        common::filled::<Node>(vec![]),
    )
}

fn review(i: u64, workloads: u64) -> Vec<u8> {
    let w = i % workloads;
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": format!("req-{i}"), "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "shop",
            "operation": "CREATE", "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": format!("web{w}-1-"), "namespace": "shop",
                "labels": {"app": format!("web{w}")},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("web{w}-1"), "uid": "r", "controller": true}]},
                "spec": {"containers": [{"name": "app", "image": "app:1", "resources": {"requests": {"cpu": "500m"}}}],
                    "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]}},
        },
    }))
    .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run with --release --ignored --nocapture"]
async fn admission_latency_at_500_requests_per_second_over_tls() {
    run(100, 500).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run with --release --ignored --nocapture"]
async fn admission_latency_at_1000_requests_per_second_with_50000_placed_pods() {
    run(2_500, 1_000).await;
}

fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    kib / 1024
}

async fn run(workloads: usize, rate: u64) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("diurnal-webhook-load-{}-{workloads}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = diurnal_webhook::certs::generate(&["127.0.0.1".to_owned()], 1).unwrap();
    let files =
        diurnal_serving::TlsFiles { cert: dir.join("tls.crt"), key: dir.join("tls.key"), client_ca: None };
    std::fs::write(&files.cert, &bundle.cert).unwrap();
    std::fs::write(&files.key, &bundle.key).unwrap();

    let mut registry = prometheus_client::registry::Registry::default();
    let built = Instant::now();
    let cluster = cluster(workloads);
    println!(
        "{} placed pods of {workloads} workloads cached in {:.1} s; resident {} MiB",
        workloads * PODS_PER_WORKLOAD,
        built.elapsed().as_secs_f64(),
        rss_mib()
    );
    let app = App::new(
        Profile::builtin("alibabacloud").unwrap(),
        Mode::Deny,
        Arc::new(cluster),
        Arc::new(Metrics::new(&mut registry)),
    );
    let router = server::router(app, diurnal_serving::router(Arc::new(registry), Arc::new(|| Ok(()))));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = Arc::new(diurnal_serving::Tls::load(files, Duration::from_secs(10)).unwrap());
    let options = diurnal_serving::Options { tls: Some(tls), ..diurnal_serving::Options::default() };
    tokio::spawn(diurnal_serving::serve(listener, router, options, std::future::pending()));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(bundle.ca_cert.as_bytes()).unwrap()).unwrap();
    let tls = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let uri: http::Uri = format!("https://127.0.0.1:{port}/mutate").parse().unwrap();

    let start = Instant::now() + Duration::from_millis(100);
    let per_client = rate * SECONDS / CLIENTS;
    let interval = Duration::from_micros(1_000_000 * CLIENTS / rate);
    let workloads = workloads as u64;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_only()
                .enable_http1()
                .build();
            let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build(connector);
            let uri = uri.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(usize::try_from(per_client).unwrap());
                let mut errors = 0u64;
                // Clients start staggered across one interval, so the total rate is even.
                let offset = interval * u32::try_from(c).unwrap() / u32::try_from(CLIENTS).unwrap();
                for n in 0..per_client {
                    tokio::time::sleep_until((start + offset + interval * u32::try_from(n).unwrap()).into())
                        .await;
                    let body = review(c * per_client + n, workloads);
                    let request = http::Request::post(uri.clone())
                        .header("content-type", "application/json")
                        .body(Body::from(body))
                        .unwrap();
                    let sent = Instant::now();
                    match client.request(request).await {
                        Ok(response) if response.status() == 200 => {
                            let bytes = response.into_body().collect().await.unwrap().to_bytes();
                            latencies.push(sent.elapsed());
                            assert!(bytes.windows(7).any(|w| w == b"\"patch\""), "every review is placed");
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort();
    #[allow(clippy::cast_precision_loss)]
    let achieved = all.len() as f64 / elapsed.as_secs_f64();
    let (p50, p99, max) = (percentile(&all, 0.50), percentile(&all, 0.99), *all.last().unwrap());
    println!(
        "requests {} in {:.1} s ({achieved:.0}/s), errors {errors}; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; resident {} MiB",
        all.len(),
        elapsed.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        rss_mib()
    );
    assert_eq!(errors, 0);
    assert!(p99 <= Duration::from_millis(5), "p99 {p99:?} over the 5 ms goal");
    let _ = std::fs::remove_dir_all(&dir);
}
