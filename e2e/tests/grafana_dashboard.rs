//! The Grafana dashboard (deploy/grafana/diurnal.json) against a real Prometheus (Debian's)
//! scraping a running controller, placement webhook and trigger service: every panel's query
//! parses and returns series. Series that exist only after an event are made to exist by causing
//! it: a CronHPA firing every 2 s (fires, lateness, per-job series), a Deployment placed by the
//! webhook (admissions, latency, deletion-cost patches) and a trigger call (requests, rollouts).
//!
//! The controller and the trigger service serve `/metrics` with `--metrics-auth on`, and
//! Prometheus scrapes them with the token of a service account bound to `diurnal-metrics-reader`,
//! as a user's Prometheus would; the webhook's `/metrics` is scraped over its TLS port.
//! Skipped without a cluster, or without Prometheus unless `DIURNAL_REQUIRE_PROMETHEUS` is set.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diurnal_e2e::webhook::PlacementWebhook;
use diurnal_e2e::{
    Controller, apply_file, cluster_or_skip, create_cronhpa, create_deployment, cronhpa, deployment_ref,
    diurnal_bin, install_crd, kubeconfig, namespace, repo_root, service_account_token,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::api::{Api, DeleteParams, PostParams};

/// `diurnal trigger serve` (killed when dropped).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Every query of the dashboard, with the panel it belongs to, `$__rate_interval` replaced by
/// what Grafana would pick for a 1 s scrape interval over a short range (Prometheus needs two
/// samples in the window).
fn panel_queries() -> Vec<(String, String)> {
    let path = repo_root().join("deploy/grafana/diurnal.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("every target has an expr");
            assert!(
                !expr.replace("$__rate_interval", "").contains('$'),
                "{}: only $__rate_interval may be a variable in `{expr}`",
                panel["title"]
            );
            out.push((
                panel["title"].as_str().unwrap_or_default().to_owned(),
                expr.replace("$__rate_interval", "1m"),
            ));
        }
    }
    out
}

/// A token file for a service account of `ns` bound to `diurnal-metrics-reader`, as a user's
/// Prometheus holds one; returns it and the binding's name.
async fn metrics_reader_token(
    client: &kube::Client,
    ns: &str,
    dir: &std::path::Path,
) -> (std::path::PathBuf, String) {
    let binding_name = diurnal_e2e::metrics_reader(client, ns, &["prometheus"]).await;
    let token_file = dir.join("token");
    std::fs::write(&token_file, service_account_token(client, ns, "prometheus").await).unwrap();
    (token_file, binding_name)
}

/// The events behind the series that exist only after one: a CronHPA firing every 2 s, a
/// Deployment whose pods the webhook places (and then orders for scale-in), a trigger call.
async fn cause_events(client: &kube::Client, ns: &str, trigger_port: u16) {
    create_deployment(client, ns, "web", 1).await;
    let jobs = serde_json::json!([{"name": "up", "schedule": "*/2 * * * * *", "targetSize": 2}]);
    create_cronhpa(client, ns, cronhpa("web", &deployment_ref("web"), &jobs)).await;
    let burst: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "burst", "annotations": {
            "diurnal.dev/baseline-replicas": "1", "diurnal.dev/burst": "virtual"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "burst"}},
            "template": {"metadata": {"labels": {"app": "burst"}},
                "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1",
                    "resources": {"requests": {"cpu": "100m"}}}]}}},
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), ns).create(&PostParams::default(), &burst).await.unwrap();
    let base = format!("http://127.0.0.1:{trigger_port}");
    let created = Command::new(diurnal_bin())
        .args([
            "trigger",
            "create",
            "-n",
            ns,
            "--deployment",
            "web",
            "--base-url",
            &base,
            "-q",
            "--kubeconfig",
        ])
        .arg(kubeconfig())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(created.status.success(), "trigger create: {}", String::from_utf8_lossy(&created.stderr));
    let url = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    // The service lists triggers when it starts and on changes: retry until it knows this one.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out =
            Command::new(diurnal_bin()).args(["trigger", "call", &url, "--retries", "0"]).output().unwrap();
        if out.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "trigger call: {}", String::from_utf8_lossy(&out.stderr));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until every query parses and returns at least one series (at most 40 s).
async fn wait_for_every_query(
    prometheus: &diurnal_testing::prometheus::Prometheus,
    queries: Vec<(String, String)>,
) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(40);
    let count = queries.len();
    let mut pending = queries;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (panel, expr) in pending {
            match prometheus.query(&expr) {
                Ok(result) if !result.is_empty() => {}
                Ok(_) => still.push((panel, expr)),
                Err(e) => panic!("panel {panel:?}: `{expr}` is refused by Prometheus: {e}"),
            }
        }
        pending = still;
        if !pending.is_empty() {
            assert!(
                Instant::now() < deadline,
                "panels without data after 40 s (scrape targets: {:?}):\n{pending:#?}",
                prometheus.query("up").unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    eprintln!("all {count} queries had data {:.1} s after the events began", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_panel_of_the_grafana_dashboard_has_data_from_a_running_diurnal() {
    let queries = panel_queries();
    assert!(queries.len() >= 15, "{queries:#?}");
    let client = cluster_or_skip!();
    if !diurnal_testing::prometheus::installed() {
        assert!(std::env::var_os("DIURNAL_REQUIRE_PROMETHEUS").is_none(), "prometheus is required");
        eprintln!("skipped: no prometheus (apt-get install -y prometheus)");
        return;
    }
    install_crd(&client).await;
    apply_file(&client, &repo_root().join("e2e/tests/fixtures/diurnal-system.yaml"), false).await.unwrap();
    apply_file(&client, &repo_root().join("deploy/rbac/metrics-auth.yaml"), false).await.unwrap();
    let ns = namespace(&client, "dashboard").await;

    let dir = repo_root().join(format!("target/e2e-logs/dashboard-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let (token_file, binding_name) = metrics_reader_token(&client, &ns, &dir).await;

    // The three processes.
    let controller_port = free_port();
    let controller_addr = format!("127.0.0.1:{controller_port}");
    let _controller = Controller::start(
        "dashboard",
        &[
            "--namespace",
            &ns,
            "--leader-election",
            "off",
            "--metrics-addr",
            &controller_addr,
            "--metrics-auth",
            "on",
        ],
    );
    let trigger_port = free_port();
    let trigger_log = std::fs::File::create(dir.join("trigger.log")).unwrap();
    let _trigger = KillOnDrop(
        Command::new(diurnal_bin())
            .args(["trigger", "serve", "--addr", &format!("127.0.0.1:{trigger_port}"), "--namespace", &ns])
            .args(["--metrics-auth", "on", "--kubeconfig"])
            .arg(kubeconfig())
            .stdout(trigger_log.try_clone().unwrap())
            .stderr(trigger_log)
            .spawn()
            .expect("start diurnal trigger serve"),
    );
    let webhook = PlacementWebhook::start(&client, &ns).await;
    let config = webhook.register(&client, &ns, "Fail").await;

    let targets = |port: u16| format!("static_configs: [{{targets: ['127.0.0.1:{port}']}}]");
    let prometheus_config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
- job_name: diurnal-controller
  authorization: {{credentials_file: '{token}'}}
  {controller}
- job_name: diurnal-trigger
  authorization: {{credentials_file: '{token}'}}
  {trigger}
- job_name: diurnal-webhook
  scheme: https
  tls_config: {{ca_file: '{ca}'}}
  {webhook}
",
        token = token_file.display(),
        ca = webhook.ca_file().display(),
        controller = targets(controller_port),
        trigger = targets(trigger_port),
        webhook = targets(webhook.port),
    );
    let prometheus =
        diurnal_testing::prometheus::Prometheus::scraping(&dir.join("prometheus"), &prometheus_config);

    cause_events(&client, &ns, trigger_port).await;

    wait_for_every_query(&prometheus, queries).await;
    // And the events show as what they are.
    let labels = |expr: &str, label: &str| -> Vec<String> {
        let result = prometheus.query(expr).unwrap();
        result.iter().filter_map(|s| s["metric"][label].as_str().map(str::to_owned)).collect()
    };
    assert!(labels("diurnal_webhook_admissions_total", "outcome").iter().any(|o| o.starts_with("placed_")));
    assert!(labels("diurnal_trigger_requests_total", "outcome").contains(&"rolled".to_owned()));
    assert!(labels("diurnal_webhook_deletion_cost_patches_total", "result").contains(&"ok".to_owned()));
    for job in ["diurnal-controller", "diurnal-trigger", "diurnal-webhook"] {
        let up = prometheus.query(&format!("up{{job=\"{job}\"}} == 1")).unwrap();
        assert_eq!(up.len(), 1, "{job} is not scraped (authorized) as up");
    }

    Api::<ClusterRoleBinding>::all(client.clone())
        .delete(&binding_name, &DeleteParams::default())
        .await
        .unwrap();
    let configs: Api<k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration> =
        Api::all(client.clone());
    configs.delete(&config, &DeleteParams::default()).await.unwrap();
}
