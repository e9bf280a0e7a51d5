//! The Helm chart renders (helm built from its Go module), the plain manifests are exactly its
//! rendering, and every rendered object is accepted by the real API server (server-side dry run).

use std::process::Command;

use diurnal_e2e::{apply_file, cluster_or_skip, install_crd, install_third_party_crds, namespace, repo_root};

fn render(args: &[&str]) -> String {
    let out = Command::new(repo_root().join("scripts/render-manifests"))
        .arg("--stdout")
        .args(if args.is_empty() { vec![] } else { [&["--set-args"][..], args].concat() })
        .output()
        .expect("run scripts/render-manifests");
    assert!(out.status.success(), "render failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_plain_manifests_are_the_charts_rendering() {
    if !helm_available() {
        return;
    }
    let checked_in = std::fs::read_to_string(repo_root().join("deploy/manifests/diurnal.yaml")).unwrap();
    assert!(
        render(&[]) == checked_in,
        "deploy/manifests/diurnal.yaml is out of date with deploy/helm/diurnal: run scripts/render-manifests"
    );
}

/// One way to install the chart: its `--set` values, objects it must render and kinds or
/// components it must not.
struct Variant {
    set: Vec<String>,
    present: &'static [&'static str],
    absent: &'static [&'static str],
}

fn variant(set: &[&str], present: &'static [&'static str], absent: &'static [&'static str]) -> Variant {
    Variant { set: set.iter().flat_map(|s| ["--set".to_owned(), (*s).to_owned()]).collect(), present, absent }
}

/// The chart installs the test applies: the controller confined to `shop` in one, the webhook's
/// certificates as `--set` value `ca_bundle` in another.
fn variants(shop: &str, ca_bundle: &str, client_ca: &str) -> Vec<Variant> {
    vec![
        variant(&[], &["ClusterRole/diurnal-controller"], &["NetworkPolicy/"]),
        // Confined to a namespace: a Role there, no ClusterRole.
        variant(
            &["networkPolicy.enabled=true", &format!("controller.watchNamespace={shop}")],
            &["NetworkPolicy/diurnal-controller", "Role/diurnal-controller"],
            &["-trigger", "-webhook", "ClusterRole/diurnal-controller"],
        ),
        variant(
            &[
                "trigger.enabled=true",
                "trigger.replicas=2",
                "trigger.ingress.enabled=true",
                "trigger.ingress.host=hooks.example.com",
                "networkPolicy.enabled=true",
            ],
            &[
                "ClusterRole/diurnal-controller",
                "Deployment/diurnal-trigger",
                "Service/diurnal-trigger",
                "ServiceAccount/diurnal-trigger",
                "Ingress/diurnal-trigger",
                "PodDisruptionBudget/diurnal-trigger",
                "Role/diurnal-trigger",
                "RoleBinding/diurnal-trigger",
                "ValidatingAdmissionPolicy/diurnal-redeploytriggers",
                "ValidatingAdmissionPolicyBinding/diurnal-redeploytriggers",
                "NetworkPolicy/diurnal-trigger",
            ],
            // By default the trigger service may patch workloads in the release namespace only.
            &["webhook", "ClusterRole/diurnal-trigger", "ClusterRoleBinding/diurnal-trigger"],
        ),
        // Serving listed namespaces: a Role in each, nothing cluster-wide.
        variant(
            &[
                "trigger.enabled=true",
                &format!("trigger.namespaces={{{shop},diurnal-system}}"),
                "trigger.trustedProxies={10.0.0.0/8}",
            ],
            &["Deployment/diurnal-trigger", "ServiceAccount/diurnal-trigger", "Role/diurnal-trigger"],
            &["ClusterRole/diurnal-trigger"],
        ),
        // Cluster-wide only when asked for.
        variant(
            &["trigger.enabled=true", "trigger.clusterWide=true"],
            &["ClusterRole/diurnal-trigger", "ClusterRoleBinding/diurnal-trigger"],
            &["webhook"],
        ),
    ]
    .into_iter()
    .chain(webhook_variants(ca_bundle, client_ca))
    .collect()
}

/// The webhook installs: certificates given as `--set` value `ca_bundle` (with a client CA), from
/// cert-manager's bootstrap CA (the default), from an issuer of the operator's.
fn webhook_variants(ca_bundle: &str, client_ca: &str) -> Vec<Variant> {
    vec![
        variant(
            &[
                "webhook.enabled=true",
                "webhook.certManager.enabled=false",
                "webhook.existingSecret=diurnal-webhook-tls",
                ca_bundle,
                client_ca,
                "networkPolicy.enabled=true",
            ],
            &[
                "ClusterRole/diurnal-controller",
                "ConfigMap/diurnal-webhook-client-ca",
                "Deployment/diurnal-webhook",
                "Service/diurnal-webhook",
                "PodDisruptionBudget/diurnal-webhook",
                "MutatingWebhookConfiguration/diurnal-webhook",
                "ValidatingWebhookConfiguration/diurnal-webhook",
                "ClusterRole/diurnal-webhook",
                "ClusterRoleBinding/diurnal-webhook",
                "ValidatingAdmissionPolicy/diurnal-webhook-pod-changes",
                "ValidatingAdmissionPolicyBinding/diurnal-webhook-pod-changes",
                "NetworkPolicy/diurnal-webhook",
            ],
            &["Certificate/", "Issuer/", "ServiceMonitor/"],
        ),
        // Every component, certificates from cert-manager (the chart's default), ServiceMonitors
        // sending Prometheus's token, a metrics reader bound, the image pinned by digest.
        variant(
            &[
                "webhook.enabled=true",
                "trigger.enabled=true",
                "serviceMonitor.enabled=true",
                "metrics.readers[0].kind=ServiceAccount",
                "metrics.readers[0].name=prometheus",
                "metrics.readers[0].namespace=diurnal-system",
                "image.digest=sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1",
            ],
            &[
                "ClusterRole/diurnal-controller",
                "ClusterRole/diurnal-metrics-auth",
                "ClusterRoleBinding/diurnal-metrics-auth",
                "ClusterRoleBinding/diurnal-metrics-reader",
                "Certificate/diurnal-webhook",
                "Issuer/diurnal-webhook-selfsigned",
                "Certificate/diurnal-webhook-ca",
                "Issuer/diurnal-webhook-ca",
                "MutatingWebhookConfiguration/diurnal-webhook",
                "ValidatingAdmissionPolicy/diurnal-webhook-pod-changes",
                "ServiceMonitor/diurnal-controller",
                "ServiceMonitor/diurnal-trigger",
                "ServiceMonitor/diurnal-webhook",
            ],
            &["NetworkPolicy/"],
        ),
        // A certificate issuer of the operator's: no bootstrap CA.
        variant(
            &[
                "webhook.enabled=true",
                "webhook.certManager.issuerRef.name=corporate-ca",
                "webhook.certManager.issuerRef.kind=ClusterIssuer",
            ],
            &["Certificate/diurnal-webhook", "MutatingWebhookConfiguration/diurnal-webhook"],
            &["Issuer/", "Certificate/diurnal-webhook-ca"],
        ),
    ]
}

#[tokio::test]
async fn every_rendered_object_is_accepted_by_the_api_server() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    // cert-manager's and the Prometheus Operator's CRDs, from their Go modules: the chart's
    // Certificate, Issuer and ServiceMonitor objects are checked against their real schemas.
    install_third_party_crds(&client).await;
    apply_file(&client, &repo_root().join("e2e/tests/fixtures/diurnal-system.yaml"), false).await.unwrap();
    // A real CA bundle for the webhook configuration, as `diurnal webhook certs` prints it.
    let certs = std::process::Command::new(diurnal_e2e::diurnal_bin())
        .args(["webhook", "certs", "--service", "diurnal-webhook", "--namespace", "diurnal-system", "--out"])
        .arg(repo_root().join("target/e2e-logs/packaging-certs"))
        .output()
        .unwrap();
    assert!(certs.status.success(), "{}", String::from_utf8_lossy(&certs.stderr));
    let ca_bundle = format!("webhook.caBundle={}", String::from_utf8(certs.stdout).unwrap().trim());
    // Any PEM CA will do for the webhook's client CA here.
    let client_ca =
        std::fs::read_to_string(repo_root().join("target/e2e-logs/packaging-certs/ca.crt")).unwrap();
    let client_ca = format!("webhook.clientCA={}", client_ca.trim());
    let shop = namespace(&client, "shop").await;
    let variants = variants(&shop, &ca_bundle, &client_ca);
    for (i, v) in variants.iter().enumerate() {
        let args: Vec<&str> = v.set.iter().map(String::as_str).collect();
        let rendered = render(&args);
        let path = repo_root().join(format!("target/e2e-logs/rendered-{i}.yaml"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &rendered).unwrap();
        let applied = apply_file(&client, &path, true).await.unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
        // The controller is in every variant.
        assert!(applied.iter().any(|a| a == "Deployment/diurnal-controller"), "{args:?}: {applied:?}");
        for expected in v.present {
            assert!(applied.iter().any(|a| a == expected), "{args:?}: no {expected} in {applied:?}");
        }
        for unexpected in v.absent {
            assert!(!applied.iter().any(|a| a.contains(unexpected)), "{args:?}: {unexpected} in {applied:?}");
        }
        if rendered.contains("kind: ServiceMonitor") {
            service_monitors_find_their_ports(&rendered);
        }
    }
}

/// What the API server cannot check: each ServiceMonitor selects exactly one rendered Service,
/// which has the port the monitor scrapes, and the certificate the webhook's Deployment mounts
/// is the one cert-manager writes.
fn service_monitors_find_their_ports(rendered: &str) {
    use serde_json::Value;
    let docs: Vec<Value> = diurnal_api::manifest::parse_documents(rendered, "rendered")
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect();
    let of_kind = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
    let mut monitors = 0;
    for monitor in of_kind("ServiceMonitor") {
        let name = &monitor["metadata"]["name"];
        let selector = monitor["spec"]["selector"]["matchLabels"].as_object().unwrap();
        let services: Vec<&Value> = of_kind("Service")
            .filter(|svc| selector.iter().all(|(k, v)| &svc["metadata"]["labels"][k] == v))
            .collect();
        assert_eq!(services.len(), 1, "ServiceMonitor {name} selects {} Services", services.len());
        for endpoint in monitor["spec"]["endpoints"].as_array().unwrap() {
            let port = &endpoint["port"];
            let ports = services[0]["spec"]["ports"].as_array().unwrap();
            assert!(
                ports.iter().any(|p| &p["name"] == port),
                "ServiceMonitor {name}: no Service port {port}"
            );
        }
        monitors += 1;
    }
    assert_eq!(monitors, 3);
    let certificate = of_kind("Certificate")
        .find(|c| c["metadata"]["name"] == "diurnal-webhook")
        .expect("the serving Certificate");
    let deployment = of_kind("Deployment").find(|d| d["metadata"]["name"] == "diurnal-webhook").unwrap();
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].as_array().unwrap();
    assert!(
        volumes.iter().any(|v| v["secret"]["secretName"] == certificate["spec"]["secretName"]),
        "the webhook mounts {volumes:?}, cert-manager writes {}",
        certificate["spec"]["secretName"]
    );
}

/// Whether the tests that need helm (it comes with the control plane build) run.
fn helm_available() -> bool {
    !(std::env::var("DIURNAL_E2E").is_ok_and(|v| v == "skip")
        && std::env::var("CI").map_or(true, |v| v != "true"))
}

/// The documents of a rendering or a manifest file.
fn documents(text: &str, source: &str) -> Vec<serde_json::Value> {
    diurnal_api::manifest::parse_documents(text, source).unwrap().into_iter().map(|d| d.value).collect()
}

/// The admission policies the plain install ships (deploy/rbac/trigger.yaml, deploy/rbac/webhook.yaml)
/// are the chart's.
#[test]
fn the_plain_admission_policies_are_the_charts() {
    if !helm_available() {
        return;
    }
    let policies = |text: &str, source: &str, name: &str| -> Vec<serde_json::Value> {
        documents(text, source)
            .into_iter()
            .filter(|v| v["kind"].as_str().is_some_and(|k| k.starts_with("ValidatingAdmissionPolicy")))
            .filter(|v| v["metadata"]["name"] == name)
            .map(|v| serde_json::json!({"kind": v["kind"], "name": v["metadata"]["name"], "spec": v["spec"]}))
            .collect()
    };
    // The trigger policy is always rendered, the webhook's with the webhook.
    let rendered = render(&["--set", "webhook.enabled=true"]);
    for (file, name) in [
        ("deploy/rbac/trigger.yaml", "diurnal-redeploytriggers"),
        ("deploy/rbac/webhook.yaml", "diurnal-webhook-pod-changes"),
    ] {
        let chart = policies(&rendered, "rendered", name);
        assert_eq!(chart.len(), 2, "the chart ships the policy {name} and its binding");
        let plain = std::fs::read_to_string(repo_root().join(file)).unwrap();
        assert_eq!(policies(&plain, file, name), chart, "{file}");
    }
    let default = policies(&render(&[]), "rendered", "diurnal-redeploytriggers");
    assert_eq!(default.len(), 2, "the trigger policy is rendered without the trigger service too");
}

/// With cert-manager (the default), the webhook's certificate comes from cert-manager's
/// bootstrap-CA chain, so renewals never change what the API server trusts: a self-signed
/// Issuer, a CA Certificate (isCA, a key that survives renewal), a CA Issuer on that
/// Certificate's Secret, the serving Certificate from the CA Issuer, and caBundle injected from
/// the CA Certificate. With an issuer of the operator's, only the serving Certificate.
#[test]
fn the_webhook_certificate_chain_is_a_bootstrap_ca() {
    if !helm_available() {
        return;
    }
    let docs = documents(&render(&["--set", "webhook.enabled=true"]), "rendered");
    let find = |kind: &str, name: &str| -> &serde_json::Value {
        let mut found = docs.iter().filter(|d| d["kind"] == kind && d["metadata"]["name"] == name);
        let doc = found.next().unwrap_or_else(|| panic!("no {kind} {name}"));
        assert!(found.next().is_none(), "two {kind} {name}");
        doc
    };
    let count = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).count();
    assert_eq!((count("Issuer"), count("Certificate")), (2, 2), "two Issuers and two Certificates");
    let issuer_ref =
        |name: &str| serde_json::json!({"name": name, "kind": "Issuer", "group": "cert-manager.io"});

    let selfsigned = find("Issuer", "diurnal-webhook-selfsigned");
    assert_eq!(selfsigned["spec"], serde_json::json!({"selfSigned": {}}));
    let ca = &find("Certificate", "diurnal-webhook-ca")["spec"];
    assert_eq!(ca["isCA"], true);
    assert_eq!(ca["issuerRef"], issuer_ref("diurnal-webhook-selfsigned"));
    assert_eq!(ca["privateKey"]["rotationPolicy"], "Never", "a renewed CA must keep its key");
    assert_eq!(ca["privateKey"]["algorithm"], "ECDSA");
    assert_eq!(ca["duration"], "87600h");
    let ca_issuer = find("Issuer", "diurnal-webhook-ca");
    assert_eq!(ca_issuer["spec"], serde_json::json!({"ca": {"secretName": ca["secretName"]}}));
    let serving = &find("Certificate", "diurnal-webhook")["spec"];
    assert_eq!(serving["issuerRef"], issuer_ref("diurnal-webhook-ca"));
    assert_ne!(serving["isCA"], true);
    assert_ne!(serving["secretName"], ca["secretName"]);
    let config = find("MutatingWebhookConfiguration", "diurnal-webhook");
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "diurnal-system/diurnal-webhook-ca"
    );
    assert!(config["webhooks"][0]["clientConfig"].get("caBundle").is_none(), "cainjector fills caBundle");

    // An issuer of the operator's: no bootstrap chain; caBundle from the serving Certificate.
    let docs = documents(
        &render(&[
            "--set",
            "webhook.enabled=true",
            "--set",
            "webhook.certManager.issuerRef.name=corporate-ca",
            "--set",
            "webhook.certManager.issuerRef.kind=ClusterIssuer",
        ]),
        "rendered",
    );
    assert!(docs.iter().all(|d| d["kind"] != "Issuer"));
    let certificates: Vec<&serde_json::Value> = docs.iter().filter(|d| d["kind"] == "Certificate").collect();
    assert_eq!(certificates.len(), 1);
    assert_eq!(
        certificates[0]["spec"]["issuerRef"],
        serde_json::json!({"name": "corporate-ca", "kind": "ClusterIssuer"})
    );
    let config = docs.iter().find(|d| d["kind"] == "MutatingWebhookConfiguration").unwrap();
    assert_eq!(
        config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        "diurnal-system/diurnal-webhook"
    );
}

/// The chart's README documents every value in values.yaml, and nothing that is not there.
#[test]
fn the_chart_readme_documents_every_value() {
    fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        // Resource and security-context blocks are documented as a whole.
        let whole = ["resources", "podSecurityContext", "securityContext"];
        match value.as_object() {
            Some(map) if !map.is_empty() && !whole.iter().any(|w| prefix.ends_with(w)) => {
                for (key, v) in map {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    leaves(&path, v, out);
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let chart = repo_root().join("deploy/helm/diurnal");
    let values_text = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    let values = diurnal_api::manifest::parse_documents(&values_text, "values.yaml").unwrap().remove(0).value;
    let mut in_values = Vec::new();
    leaves("", &values, &mut in_values);
    let readme = std::fs::read_to_string(chart.join("README.md")).unwrap();
    let documented: Vec<&str> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|row| row.split(" | ").next())
        // The first cell's names between backticks (the first backtick is stripped already).
        .flat_map(|cell| cell.split('`').step_by(2))
        .filter(|name| !name.is_empty())
        .collect();
    let missing: Vec<&String> = in_values.iter().filter(|v| !documented.contains(&v.as_str())).collect();
    assert!(missing.is_empty(), "deploy/helm/diurnal/README.md does not document {missing:?}");
    let stale: Vec<&&str> = documented.iter().filter(|d| !in_values.iter().any(|v| v == *d)).collect();
    assert!(stale.is_empty(), "deploy/helm/diurnal/README.md documents values that do not exist: {stale:?}");
    assert!(in_values.len() > 50, "{in_values:?}");
}
