//! Redeploy triggers end to end: the CLI creates a trigger in the real API server, `diurnal trigger
//! serve` (running with only the RBAC in deploy/rbac/trigger.yaml) rolls the Deployment when it is
//! called, kube-controller-manager makes the new ReplicaSet, and nothing a wrong caller does
//! changes anything.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use diurnal_e2e::{
    apply_file, cluster_or_skip, create_deployment, diurnal_bin, events, kubeconfig, namespace, repo_root,
    service_account_kubeconfig, wait_for,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::Client;
use kube::api::{Api, ListParams};

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

impl Server {
    fn start(kubeconfig: &Path, ns: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = repo_root().join(format!("target/e2e-logs/trigger-serve-{ns}.log"));
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(diurnal_bin())
            .args(["trigger", "serve", "--addr", &format!("127.0.0.1:{port}"), "--coalesce-window", "0s"])
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

/// Calls `url` until the server has seen the trigger (its Secret watch is asynchronous).
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

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_created_with_the_cli_rolls_its_deployment_and_nothing_else_does() {
    let client = cluster_or_skip!();
    apply_file(&client, &repo_root().join("deploy/rbac/trigger.yaml"), false).await.unwrap();
    let ns = namespace(&client, "trigger").await;
    create_deployment(&client, &ns, "web", 1).await;
    wait_for(Duration::from_secs(30), "the first ReplicaSet", || {
        let client = client.clone();
        let ns = ns.clone();
        async move { (replica_sets(&client, &ns).await == 1).then_some(()) }
    })
    .await;

    let sa = service_account_kubeconfig(&client, "diurnal-system", "diurnal-trigger").await;
    let server = Server::start(&sa, &ns);
    wait_for(Duration::from_secs(30), "the trigger server ready", || {
        let port = server.port;
        async move { std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ()) }
    })
    .await;
    let base = format!("http://127.0.0.1:{}", server.port);

    let (code, out, err) = cli(&["create", "-n", &ns, "--deployment", "web", "--base-url", &base, "-q"]);
    assert_eq!(code, 0, "create: {err}");
    let url = out.trim().to_owned();
    assert!(url.starts_with(&format!("{base}/hooks/v1/")), "{url}");
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
        http(server.port, "GET", &format!("/hooks/v1/0000000000000000?token={token}"));
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

    // list never shows a token; rotate retires the old one; delete retires the trigger.
    let (code, listed, _) = cli(&["list", "-n", &ns]);
    assert_eq!(code, 0);
    assert!(listed.contains("web") && !listed.contains(&token), "{listed}");
    let id = id_path.rsplit('/').next().unwrap().to_owned();
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
    apply_file(&client, &repo_root().join("deploy/rbac/trigger.yaml"), false).await.unwrap();
    let ns = namespace(&client, "trigger-image").await;
    create_deployment(&client, &ns, "web", 1).await;
    let sa = service_account_kubeconfig(&client, "diurnal-system", "diurnal-trigger").await;
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
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(image(&client, &ns, "web").await, "registry.example.com/shop/web:2", "nothing changed");
}
