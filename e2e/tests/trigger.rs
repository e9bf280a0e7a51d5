//! Redeploy triggers end to end: the CLI creates a `RedeployTrigger` in the real API server,
//! `diurnal trigger serve` (running with only the RBAC the chart grants for `trigger.namespaces`:
//! no Secrets) rolls the Deployment when it is called, kube-controller-manager makes the new
//! ReplicaSet, and nothing a wrong caller does changes anything. The chart's admission policy is
//! checked against the real API server: creating a trigger needs the right to patch its workload.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use diurnal_api::trigger::RedeployTrigger;
use diurnal_e2e::{
    apply_file, cluster_or_skip, create_deployment, diurnal_bin, events, install_crd, kubeconfig, namespace,
    repo_root, service_account_kubeconfig, wait_for,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};

/// `diurnal trigger serve`, killed when dropped.
struct Server {
    child: Child,
    log: std::path::PathBuf,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The chart's trigger RBAC for `trigger.namespaces={ns}` (and its admission policy), applied in
/// a fresh release namespace; returns a kubeconfig of the chart's service account.
async fn charts_trigger_access(client: &Client, ns: &str) -> std::path::PathBuf {
    let release_ns = namespace(client, "trigger-system").await;
    let namespaces = format!("trigger.namespaces={{{ns}}}");
    let rendered = diurnal_e2e::helm_template("diurnal", &release_ns, &["trigger.enabled=true", &namespaces]);
    let access: Vec<&str> = diurnal_e2e::access_documents(&rendered)
        .into_iter()
        .filter(|doc| !doc.contains("diurnal-controller"))
        .collect();
    let path = repo_root().join(format!("target/e2e-logs/trigger-access-{ns}.yaml"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, access.join("\n---\n")).unwrap();
    let applied = apply_file(client, &path, false).await.unwrap();
    // Cluster-wide only what authenticated metrics need: no Secrets, no workloads.
    diurnal_e2e::assert_only_metrics_auth_cluster_wide(&applied, &access);
    assert!(applied.iter().any(|a| a == "Role/diurnal-trigger"), "{applied:?}");
    assert!(applied.iter().any(|a| a == "ValidatingAdmissionPolicy/diurnal-redeploytriggers"), "{applied:?}");
    service_account_kubeconfig(client, &release_ns, "diurnal-trigger").await
}

impl Server {
    fn start(kubeconfig: &Path, ns: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = repo_root().join(format!("target/e2e-logs/trigger-serve-{ns}.log"));
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(diurnal_bin())
            .args(["trigger", "serve", "--addr", &format!("127.0.0.1:{port}"), "--coalesce-window", "0s"])
            .args(["--namespace", ns])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("RUST_LOG", "debug,kube=info,hyper=info,tower=info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start diurnal trigger serve");
        Self { child, log, port }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One plain HTTP/1.0 request; returns (status, body).
fn http(port: u16, method: &str, path_and_query: &str) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    write!(s, "{method} {path_and_query} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// `diurnal trigger ARGS` with the admin kubeconfig; (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(diurnal_bin())
        .arg("trigger")
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .stdin(Stdio::null())
        .output()
        .expect("run diurnal trigger");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `diurnal trigger call URL [extra]` (no kubeconfig: it only talks HTTP).
fn call(url: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(diurnal_bin())
        .args(["trigger", "call", url, "--retries", "0"])
        .args(extra)
        .output()
        .expect("run diurnal trigger call");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

fn token_of(url: &str) -> &str {
    url.split_once("token=").map(|(_, t)| t).unwrap_or_default()
}

async fn restarted_at(client: &Client, ns: &str, name: &str) -> Option<String> {
    let d = Api::<Deployment>::namespaced(client.clone(), ns).get(name).await.unwrap();
    d.spec?.template.metadata?.annotations?.get("kubectl.kubernetes.io/restartedAt").cloned()
}

async fn image(client: &Client, ns: &str, name: &str) -> String {
    let d = Api::<Deployment>::namespaced(client.clone(), ns).get(name).await.unwrap();
    d.spec.unwrap().template.spec.unwrap().containers[0].image.clone().unwrap_or_default()
}

/// Occurrences of `RedeployTriggered` Events in `ns`, series included.
async fn redeploy_events(client: &Client, ns: &str) -> i32 {
    use k8s_openapi::api::events::v1::Event;
    let list = Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.unwrap();
    list.items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("RedeployTriggered"))
        .map(|e| e.series.as_ref().map_or(1, |s| s.count))
        .sum()
}

async fn replica_sets(client: &Client, ns: &str) -> usize {
    Api::<ReplicaSet>::namespaced(client.clone(), ns).list(&ListParams::default()).await.unwrap().items.len()
}

/// Calls `url` until the server has seen the trigger (its watch is asynchronous).
async fn call_until_accepted(url: &str, extra: &[&str]) -> String {
    let mut last = String::new();
    for _ in 0..50 {
        let (code, text) = call(url, extra);
        if code == 0 {
            return text;
        }
        last = format!("exit {code}: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the trigger never accepted the call: {last}");
}

/// The trigger's status names the accepted calls and its spec holds only the hash; the
/// service's identity reads no Secret and no workload outside its namespaces.
async fn status_and_service_identity(client: &Client, ns: &str, name: &str, token: &str, sa: &Path) {
    // The trigger's status names the accepted calls; its spec holds only the hash.
    let triggers: Api<RedeployTrigger> = Api::namespaced(client.clone(), ns);
    let stored = wait_for(Duration::from_secs(10), "both calls in status.lastCalls", || {
        let triggers = triggers.clone();
        let name = name.to_owned();
        async move {
            triggers
                .get(&name)
                .await
                .ok()
                .filter(|t| t.status.as_ref().is_some_and(|s| s.last_calls.len() >= 2))
        }
    })
    .await;
    assert_eq!(stored.status.unwrap().last_calls[0].result, "rolled");
    assert!(!serde_json::to_string(&stored.spec).unwrap().contains(token));

    // The service's identity reads no Secret and patches nothing outside its namespaces.
    let service = diurnal_e2e::client_from(sa).await;
    match Api::<Secret>::namespaced(service.clone(), ns).list(&ListParams::default()).await {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("the trigger service must not list Secrets: {other:?}"),
    }
    match Api::<Deployment>::namespaced(service, "default").get_opt("x").await {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("the trigger service must not read other namespaces' workloads: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_created_with_the_cli_rolls_its_deployment_and_nothing_else_does() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "trigger").await;
    let sa = charts_trigger_access(&client, &ns).await;
    create_deployment(&client, &ns, "web", 1).await;
    wait_for(Duration::from_secs(30), "the first ReplicaSet", || {
        let client = client.clone();
        let ns = ns.clone();
        async move { (replica_sets(&client, &ns).await == 1).then_some(()) }
    })
    .await;

    let server = Server::start(&sa, &ns);
    wait_for(Duration::from_secs(30), "the trigger server ready", || {
        let port = server.port;
        async move { (http(port, "GET", "/readyz").0 == 200).then_some(()) }
    })
    .await;
    let base = format!("http://127.0.0.1:{}", server.port);

    let (code, out, err) = cli(&["create", "-n", &ns, "--deployment", "web", "--base-url", &base, "-q"]);
    assert_eq!(code, 0, "create: {err}");
    let url = out.trim().to_owned();
    assert!(url.starts_with(&format!("{base}/hooks/v1/namespaces/{ns}/triggers/web-")), "{url}");
    let token = token_of(&url).to_owned();
    assert!(token.len() >= 43, "at least 256 bits, base64: {token}");

    // The CLI call: the template's restart annotation is set, and a new ReplicaSet appears.
    assert_eq!(restarted_at(&client, &ns, "web").await, None);
    call_until_accepted(&url, &[]).await;
    let first = restarted_at(&client, &ns, "web").await.expect("restartedAt set by the call");
    wait_for(Duration::from_secs(30), "a second ReplicaSet", || {
        let client = client.clone();
        let ns = ns.clone();
        async move { (replica_sets(&client, &ns).await == 2).then_some(()) }
    })
    .await;

    // The field report's way: a plain GET with the token in the query.
    tokio::time::sleep(Duration::from_millis(1100)).await; // restartedAt has one-second resolution
    let (status, body) = http(server.port, "GET", path_of(&url));
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("a JSON answer");
    assert_eq!(answer["action"], "restart", "{body}");
    let second = restarted_at(&client, &ns, "web").await.unwrap();
    assert_ne!(first, second);
    assert!(body.contains(&second), "the answer names the new annotation: {body}");

    // A wrong token and an unknown id: the same 404, and nothing changes.
    let replica_sets_before = {
        wait_for(Duration::from_secs(30), "a third ReplicaSet", || {
            let client = client.clone();
            let ns = ns.clone();
            async move { (replica_sets(&client, &ns).await == 3).then_some(()) }
        })
        .await;
        3
    };
    let id_path = path_of(&url).split('?').next().unwrap().to_owned();
    let wrong = format!("{id_path}?token={}", "A".repeat(token.len()));
    let (wrong_status, wrong_body) = http(server.port, "GET", &wrong);
    let (unknown_status, unknown_body) =
        http(server.port, "GET", &format!("/hooks/v1/namespaces/{ns}/triggers/nope?token={token}"));
    assert_eq!((wrong_status, unknown_status), (404, 404));
    assert_eq!(wrong_body, unknown_body, "unknown id and wrong token are indistinguishable");
    let (code, _) = call(&format!("{base}{wrong}"), &[]);
    assert_eq!(code, 2, "a refused call is exit 2 for a pipeline");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(restarted_at(&client, &ns, "web").await.as_deref(), Some(second.as_str()));
    assert_eq!(replica_sets(&client, &ns).await, replica_sets_before);

    // Every accepted call is an Event naming the client address; the token is nowhere.
    // (Identical Events are one events.k8s.io Event with a series count, as kubelet's are.)
    let evs = events(&client, &ns).await;
    let triggered: Vec<_> = evs.iter().filter(|(reason, _)| reason == "RedeployTriggered").collect();
    assert!(!triggered.is_empty(), "{evs:?}");
    assert!(triggered.iter().all(|(_, note)| note.contains("127.0.0.1")), "{triggered:?}");
    assert!(evs.iter().all(|(_, note)| !note.contains(&token)), "token in an Event");
    assert_eq!(redeploy_events(&client, &ns).await, 2, "one Event occurrence per accepted call");
    assert!(!server.log_text().contains(&token), "token in the server log");
    let log = server.log_text();
    assert!(!log.contains("Forbidden") && !log.contains("forbidden"), "RBAC denied a call:\n{log}");

    let name = id_path.rsplit('/').next().unwrap().to_owned();
    status_and_service_identity(&client, &ns, &name, &token, &sa).await;

    // list never shows a token; rotate retires the old one; delete retires the trigger.
    let (code, listed, _) = cli(&["list", "-n", &ns]);
    assert_eq!(code, 0);
    assert!(listed.contains("web") && !listed.contains(&token), "{listed}");
    let id = name;
    let (code, rotated, err) = cli(&["rotate", "-n", &ns, &id, "--base-url", &base, "-q"]);
    assert_eq!(code, 0, "rotate: {err}");
    let new_url = rotated.trim().to_owned();
    assert_ne!(token_of(&new_url), token);
    call_until_accepted(&new_url, &[]).await;
    assert_eq!(http(server.port, "GET", path_of(&url)).0, 404, "the old token is retired");
    let (code, _, err) = cli(&["delete", "-n", &ns, &id]);
    assert_eq!(code, 0, "delete: {err}");
    wait_for(Duration::from_secs(10), "the deleted trigger to stop answering", || {
        let path = path_of(&new_url).to_owned();
        let port = server.port;
        async move { (http(port, "GET", &path).0 == 404).then_some(()) }
    })
    .await;
    assert!(!server.log_text().contains(token_of(&new_url)), "rotated token in the server log");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_set_image_trigger_sets_only_images_its_pattern_allows() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "trigger-image").await;
    let sa = charts_trigger_access(&client, &ns).await;
    create_deployment(&client, &ns, "web", 1).await;
    let server = Server::start(&sa, &ns);
    let base = format!("http://127.0.0.1:{}", server.port);
    wait_for(Duration::from_secs(30), "the trigger server ready", || {
        let port = server.port;
        async move { (http(port, "GET", "/readyz").0 == 200).then_some(()) }
    })
    .await;

    let (code, out, err) = cli(&[
        "create",
        "-n",
        &ns,
        "--deployment",
        "web",
        "--action",
        "set-image",
        "--image-pattern",
        "registry.example.com/shop/*",
        "--base-url",
        &base,
        "-q",
    ]);
    assert_eq!(code, 0, "create: {err}");
    let url = out.trim().to_owned();

    call_until_accepted(&url, &["--image", "registry.example.com/shop/web:2"]).await;
    assert_eq!(image(&client, &ns, "web").await, "registry.example.com/shop/web:2");

    let (code, text) = call(&url, &["--image", "evil.example.com/shop/web:3"]);
    assert_eq!(code, 2, "an image outside the pattern is refused: {text}");
    let (code, text) = call(&url, &["--image", "registry.example.com/other/web:3"]);
    assert_eq!(code, 2, "{text}");
    // A digest is what the runtime pulls: the tag pattern does not allow it.
    let pinned = format!("registry.example.com/shop/web:3@sha256:{}", "a".repeat(64));
    let (code, text) = call(&url, &["--image", &pinned]);
    assert_eq!(code, 2, "a digest outside a digest pattern is refused: {text}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(image(&client, &ns, "web").await, "registry.example.com/shop/web:2", "nothing changed");
}

/// A `RedeployTrigger` for `workload`, with a valid hash.
fn trigger_object(name: &str, workload: &str, pattern: Option<&str>) -> RedeployTrigger {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "diurnal.dev/v1alpha1", "kind": "RedeployTrigger",
        "metadata": {"name": name},
        "spec": {
            "workload": {"kind": "Deployment", "name": workload},
            "tokenHash": format!("sha256:{}", "0".repeat(64)),
            "action": if pattern.is_some() { "set-image" } else { "restart" },
            "container": pattern.map(|_| "app"),
            "imagePattern": pattern,
        }
    }))
    .unwrap()
}

/// Issue 13, items 1 and 2, against the real API server: who may create a trigger is RBAC on
/// the kind, and the admission policy also requires the right to patch its workload; the CRD
/// refuses a pattern that matches any registry unless allowAnyImage says so.
#[tokio::test(flavor = "multi_thread")]
async fn creating_a_trigger_needs_the_right_to_patch_its_workload() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "trigger-admission").await;
    charts_trigger_access(&client, &ns).await;
    create_deployment(&client, &ns, "web", 1).await;
    // A tenant who may create triggers in the namespace, and nothing else.
    let tenant = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: tenant, namespace: {ns}}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: triggers, namespace: {ns}}}\n\
         rules: [{{apiGroups: [diurnal.dev], resources: [redeploytriggers], verbs: [create, get, update, patch]}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: triggers, namespace: {ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: triggers}}\n\
         subjects: [{{kind: ServiceAccount, name: tenant, namespace: {ns}}}]\n"
    );
    let path = repo_root().join(format!("target/e2e-logs/tenant-{ns}.yaml"));
    std::fs::write(&path, tenant).unwrap();
    apply_file(&client, &path, false).await.unwrap();
    let as_tenant = diurnal_e2e::client_from(&service_account_kubeconfig(&client, &ns, "tenant").await).await;
    let triggers: Api<RedeployTrigger> = Api::namespaced(as_tenant, &ns);

    // Allowed to create triggers, not to patch the Deployment: refused, saying why.
    let refused = wait_for(Duration::from_secs(20), "the admission policy in force", || {
        let triggers = triggers.clone();
        async move {
            match triggers.create(&PostParams::default(), &trigger_object("t1", "web", None)).await {
                Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains("patch") => Some(e.message),
                Err(e) => panic!("refused for another reason: {e}"),
                // The policy may take a moment to load: try again with a new name.
                Ok(_) => {
                    let _ = triggers.delete("t1", &kube::api::DeleteParams::default()).await;
                    None
                }
            }
        }
    })
    .await;
    assert!(refused.contains("Deployment web"), "{refused}");

    // Once allowed to patch that Deployment (and only it), the same request succeeds...
    let patch_web = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: patch-web, namespace: {ns}}}\n\
         rules: [{{apiGroups: [apps], resources: [deployments], resourceNames: [web], verbs: [patch]}}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: patch-web, namespace: {ns}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: patch-web}}\n\
         subjects: [{{kind: ServiceAccount, name: tenant, namespace: {ns}}}]\n"
    );
    std::fs::write(&path, patch_web).unwrap();
    apply_file(&client, &path, false).await.unwrap();
    wait_for(Duration::from_secs(20), "the trigger created once the tenant may patch web", || {
        let triggers = triggers.clone();
        async move { triggers.create(&PostParams::default(), &trigger_object("t1", "web", None)).await.ok() }
    })
    .await;
    // ...but pointing it at another workload is refused like creating one for it.
    let mut moved = triggers.get("t1").await.unwrap();
    moved.spec.workload.name = "db".into();
    match triggers.replace("t1", &PostParams::default(), &moved).await {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("retargeting a trigger needs the right to patch the new workload: {other:?}"),
    }

    // The CRD: a pattern that matches any registry needs allowAnyImage; a bad name never gets in.
    match triggers.create(&PostParams::default(), &trigger_object("t2", "web", Some("*/*"))).await {
        Err(kube::Error::Api(e)) if e.code == 422 && e.message.contains("any registry") => {}
        other => panic!("*/* must be refused: {other:?}"),
    }
    let mut forced = trigger_object("t2", "web", Some("*/*"));
    forced.spec.allow_any_image = true;
    triggers.create(&PostParams::default(), &forced).await.expect("*/* with allowAnyImage");
    match triggers.create(&PostParams::default(), &trigger_object("t3", "../secrets", None)).await {
        Err(kube::Error::Api(e)) if e.code == 422 => {}
        other => panic!("a workload name that is not a DNS-1123 name must be refused: {other:?}"),
    }
}
