//! `--metrics-auth on` against the real API server: the controller, running with only its shipped
//! RBAC (deploy/rbac/controller.yaml and metrics-auth.yaml), answers `/metrics` to a service
//! account bound to `diurnal-metrics-reader`, refuses one that is not (403) and a missing token
//! (401), and keeps `/healthz` open.

use std::time::Duration;

use diurnal_e2e::{
    Controller, apply_file, cluster_or_skip, install_crd, namespace, repo_root, service_account_kubeconfig,
    service_account_token, wait_for,
};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// `GET path` on `port` with an optional bearer token: (status, body), or `None` if nothing
/// listens yet.
async fn get(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

#[tokio::test]
async fn metrics_are_served_only_to_a_token_allowed_to_get_them() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    apply_file(&client, &repo_root().join("e2e/tests/fixtures/diurnal-system.yaml"), false).await.unwrap();
    for file in ["deploy/rbac/controller.yaml", "deploy/rbac/metrics-auth.yaml"] {
        apply_file(&client, &repo_root().join(file), false).await.unwrap();
    }
    let ns = namespace(&client, "metrics-auth").await;
    let binding_name = diurnal_e2e::metrics_reader(&client, &ns, &["reader", "stranger"]).await;
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());

    let kubeconfig = service_account_kubeconfig(&client, "diurnal-system", "diurnal-controller").await;
    let kubeconfig = kubeconfig.to_string_lossy().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let controller = Controller::start(
        "metrics-auth",
        &[
            "--kubeconfig",
            &kubeconfig,
            "--namespace",
            &ns,
            "--leader-election",
            "off",
            "--metrics-addr",
            &addr,
            "--metrics-auth",
            "on",
        ],
    );
    wait_for(Duration::from_secs(30), "the controller's /healthz, without a token", || async {
        (get(port, "/healthz", None).await?.0 == 200).then_some(())
    })
    .await;

    let none = get(port, "/metrics", None).await.unwrap();
    assert_eq!(none.0, 401, "{none:?}");
    let reader = service_account_token(&client, &ns, "reader").await;
    let stranger = service_account_token(&client, &ns, "stranger").await;
    let (status, body) = get(port, "/metrics", Some(&stranger)).await.unwrap();
    assert_eq!(status, 403, "{body}\n{}", controller.log_text());
    assert!(body.contains(&format!("system:serviceaccount:{ns}:stranger")), "{body}");
    let forged = get(port, "/metrics", Some("not-a-token")).await.unwrap();
    assert_eq!(forged.0, 401, "{forged:?}");
    // The binding was created a moment ago: the API server's RBAC cache may lag a little (and a
    // refusal is remembered for 10 s).
    let body = wait_for(Duration::from_secs(30), "/metrics for the bound reader", || async {
        let (status, body) = get(port, "/metrics", Some(&reader)).await?;
        (status == 200).then_some(body)
    })
    .await;
    assert!(body.contains("diurnal_queue_size") && body.ends_with("# EOF\n"), "{body}");
    let log = controller.log_text();
    assert!(!log.contains("TokenReview failed") && !log.contains("SubjectAccessReview failed"), "{log}");

    bindings.delete(&binding_name, &DeleteParams::default()).await.unwrap();
}
