//! The trigger service restarted under calls; the placement webhook killed and stopped.

use std::time::Duration;

use diurnal_e2e::audit::{self, AuditEvent};
use diurnal_e2e::faults::{free_port, http, http_status, signal};
use diurnal_e2e::webhook::PlacementWebhook;
use diurnal_e2e::{cluster_or_skip, create_deployment, diurnal_bin, install_crd, namespace, try_wait_for};
use jiff::Timestamp;
use kube::Client;
use kube::api::Api;
use serde_json::json;

/// `diurnal trigger serve` on `port` for `ns` as the user of `kubeconfig`, coalescing nothing and
/// limiting no rate (every call rolls), logging to `log`.
fn trigger_serve(
    port: u16,
    ns: &str,
    kubeconfig: &std::path::Path,
    log: &std::path::Path,
) -> std::process::Child {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    std::process::Command::new(diurnal_bin())
        .args(["trigger", "serve", "--addr", &format!("127.0.0.1:{port}"), "--coalesce-window", "0s"])
        .args(["--rate-limit", "100000/min", "--client-failure-limit", "100000/min", "--namespace", ns])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("RUST_LOG", "info,kube=warn")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start diurnal trigger serve")
}

/// Calls `path` on `port` for `how_long`, 25 ms apart after a `200`, back to back otherwise;
/// the answers.
fn call_for(port: u16, path: &str, how_long: Duration) -> Vec<Option<(u16, String)>> {
    let mut answers = Vec::new();
    let end = std::time::Instant::now() + how_long;
    while std::time::Instant::now() < end {
        let answer = http(port, "GET", path, Duration::from_secs(5));
        // While the service is down, as fast as it goes: the first calls of the new process
        // land before it has listed the triggers.
        let pause = matches!(answer, Some((200, _)));
        answers.push(answer);
        if pause {
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    answers
}

/// The trigger service killed (SIGKILL) and started again (same port) while a caller calls
/// every 25 ms for 10 s (back to back while the service is down): every call answered `rolled`
/// patched the Deployment exactly once (the audit log; a call cut off by the kill may have
/// patched without an answer), and every call not rolled got an answer a caller retries (no
/// answer, 429 or 5xx), never a refusal.
#[tokio::test]
#[ignore = "fault suite: cargo test -p diurnal-e2e --test process_faults -- --include-ignored"]
async fn the_trigger_service_restarted_while_calls_arrive_rolls_each_accepted_call_once_and_refusals_say_retry()
 {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let started = std::time::Instant::now();
    let ns = namespace(&client, "trigrestart").await;
    create_deployment(&client, &ns, "web", 1).await;
    let user = format!("diurnal-e2e-trigger:{ns}");
    let kubeconfig = diurnal_e2e::launch::user_kubeconfig(&user, &["system:masters".to_owned()]);
    let log = diurnal_e2e::repo_root().join(format!("target/e2e-logs/{ns}-trigger.log"));
    let port = free_port();
    let mut server = trigger_serve(port, &ns, &kubeconfig, &log);
    try_wait_for(Duration::from_secs(30), || async {
        (http_status(port, "/readyz", Duration::from_secs(1)) == Some(200)).then_some(())
    })
    .await
    .expect("the trigger service never got ready");
    let base = format!("http://127.0.0.1:{port}");
    let out = std::process::Command::new(diurnal_bin())
        .args([
            "trigger",
            "create",
            "-n",
            &ns,
            "--deployment",
            "web",
            "--base-url",
            &base,
            "-q",
            "--kubeconfig",
        ])
        .arg(diurnal_e2e::kubeconfig())
        .output()
        .unwrap();
    assert!(out.status.success(), "trigger create: {}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let path = url.strip_prefix(&base).unwrap().to_owned();
    try_wait_for(Duration::from_secs(10), || async {
        http(port, "GET", &path, Duration::from_secs(2)).is_some_and(|(s, _)| s == 200).then_some(())
    })
    .await
    .expect("the trigger never accepted a call");
    let before = Timestamp::now();

    let caller = std::thread::spawn(move || call_for(port, &path, Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = server.kill();
    let _ = server.wait();
    let mut server = trigger_serve(port, &ns, &kubeconfig, &log);
    let answers = caller.join().unwrap();
    let _ = server.kill();
    let _ = server.wait();

    let patches: Vec<AuditEvent> = audit::writes(&ns)
        .into_iter()
        .filter(|e| {
            e.user.username == user && e.verb == "patch" && e.resource() == "deployments" && e.succeeded()
        })
        .filter(|e| e.received().is_some_and(|t| t > before))
        .collect();
    let rolled =
        answers.iter().flatten().filter(|(s, b)| *s == 200 && b.contains(r#""result":"rolled""#)).count();
    let unanswered = answers.iter().filter(|a| a.is_none()).count();
    let mut others = std::collections::BTreeMap::<String, usize>::new();
    for (status, body) in answers.iter().flatten().filter(|(s, _)| *s != 200) {
        *others.entry(format!("{status} {}", body.chars().take(80).collect::<String>())).or_default() += 1;
    }
    let refusals: Vec<&String> =
        others.keys().filter(|k| !(k.starts_with("429") || k.starts_with('5'))).collect();
    let report = format!(
        "{} calls: {rolled} rolled, {unanswered} unanswered, others {others:?}; {} Deployment patches by the service; log {}",
        answers.len(),
        patches.len(),
        log.display()
    );
    eprintln!(
        "FIGURE trigger restart: calls {}, rolled {rolled}, patches {}, unanswered {unanswered}, other answers {others:?}, wall {:.1}s",
        answers.len(),
        patches.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        rolled > 0 && unanswered > 0,
        "precondition: calls rolled before and after the restart, and some found it down: {report}"
    );
    assert!(
        (rolled..=rolled + 1).contains(&patches.len()),
        "each rolled call must patch once (one more if the kill cut a call off): {report}"
    );
    assert!(
        refusals.is_empty(),
        "calls refused during the restart (a caller does not retry these): {refusals:?}; {report}"
    );
}

/// Creates pod `name` owned by ReplicaSet `rs` (uid `uid`) and returns how long the API server
/// took to admit it and whether the webhook placed it (it tolerates the virtual node's taint).
async fn admit_pod(client: &Client, ns: &str, name: &str, rs: &str, uid: &str) -> (Duration, bool) {
    use k8s_openapi::api::core::v1::Pod;
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "probe"}, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": uid, "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1",
            "resources": {"requests": {"cpu": "100m"}}}]},
    }))
    .unwrap();
    let began = std::time::Instant::now();
    let made = Api::<Pod>::namespaced(client.clone(), ns)
        .create(&kube::api::PostParams::default(), &pod)
        .await
        .unwrap_or_else(|e| panic!("creating pod {name}: {e}"));
    let placed = made
        .spec
        .and_then(|s| s.tolerations)
        .is_some_and(|t| t.iter().any(|t| t.key.as_deref() == Some("virtual-kubelet.io/provider")));
    (began.elapsed(), placed)
}

/// The placement webhook (`failurePolicy: Ignore`, timeout 5 s) killed (SIGKILL), then stopped (SIGSTOP) (it
/// accepts connections and answers nothing): pods are still admitted — right away when nothing
/// listens, within the timeout when it hangs — unplaced, and counted in the audit log; once the
/// process is back, pods are placed again.
#[tokio::test]
async fn a_killed_or_stopped_webhook_never_blocks_a_pod_and_placement_resumes_when_it_is_back() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let client = cluster_or_skip!();
    let started = std::time::Instant::now();
    let ns = namespace(&client, "whfault").await;
    let mut webhook = PlacementWebhook::start(&client, &ns).await;
    webhook.register(&client, &ns, "Ignore").await;
    // The pods' owner opts them into bursting onto the virtual node.
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "burst", "annotations": {"diurnal.dev/burst": "virtual", "diurnal.dev/baseline-replicas": "0"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "burst"}},
            "template": {"metadata": {"labels": {"app": "burst"}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}},
    }))
    .unwrap();
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), &ns)
        .create(&kube::api::PostParams::default(), &rs)
        .await
        .unwrap();
    let uid = rs.metadata.uid.unwrap();
    // Placed while healthy (its caches may take a moment).
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("p-{n}")
    };
    let healthy = try_wait_for(Duration::from_secs(20), || {
        let name = next();
        let (client, ns, uid) = (&client, &ns, &uid);
        async move { admit_pod(client, ns, &name, "burst", uid).await.1.then_some(()) }
    })
    .await;
    assert!(
        healthy.is_some(),
        "precondition: the healthy webhook never placed a pod: {}",
        webhook.log_text()
    );

    let mut phases = Vec::new();
    for fault in ["killed", "stopped"] {
        if fault == "killed" {
            webhook.kill();
        } else {
            signal(webhook.pid(), "STOP");
        }
        let began = Timestamp::now();
        let names: Vec<String> = (0..5).map(|i| format!("{fault}-{i}")).collect();
        let admitted =
            futures::future::join_all(names.iter().map(|name| admit_pod(&client, &ns, name, "burst", &uid)))
                .await;
        let slowest = admitted.iter().map(|a| a.0).max().unwrap_or_default();
        let placed = admitted.iter().filter(|a| a.1).count();
        let created = audit::writes(&ns)
            .into_iter()
            .filter(|e| {
                e.verb == "create" && e.resource() == "pods" && e.succeeded() && e.name().starts_with(fault)
            })
            .filter(|e| e.received().is_some_and(|t| t >= began))
            .count();
        let back = std::time::Instant::now();
        if fault == "killed" {
            webhook.restart().await;
        } else {
            signal(webhook.pid(), "CONT");
        }
        let resumed = try_wait_for(Duration::from_secs(30), || {
            let name = format!("{fault}-back-{}", back.elapsed().as_millis());
            let (client, ns, uid) = (&client, &ns, &uid);
            async move { admit_pod(client, ns, &name, "burst", uid).await.1.then_some(()) }
        })
        .await;
        eprintln!(
            "FIGURE webhook {fault}: pods created {created}/5 (audit log), placed {placed}, slowest admission {slowest:?}; placed again {:?} after it was back",
            resumed.map(|()| back.elapsed())
        );
        phases.push((fault, created, placed, slowest, resumed.is_some()));
    }
    eprintln!("FIGURE webhook: wall {:.1}s", started.elapsed().as_secs_f64());
    for (fault, created, placed, slowest, resumed) in phases {
        assert_eq!(created, 5, "{fault}: every pod created (audit log)");
        assert_eq!(placed, 0, "{fault}: no pod placed by a webhook that is down");
        assert!(
            slowest <= Duration::from_secs(7),
            "{fault}: a pod waited {slowest:?}, beyond the 5 s webhook timeout"
        );
        assert!(resumed, "{fault}: placement did not resume within 30 s: {}", webhook.log_text());
    }
}
