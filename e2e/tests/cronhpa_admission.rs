//! `kubectl apply` of CronHPAs and Calendars through the validating webhook (`/validate` of
//! `diurnal webhook serve`, with deploy/rbac/webhook.yaml's permissions): a broken object is
//! refused with the field path, warnings and conflicts print as `Warning:` lines.
//!
//! `DIURNAL_E2E_KUBECONFIG=... cargo test -p diurnal-e2e --test cronhpa_admission` (a few seconds).

use std::process::Command;
use std::time::Duration;

use diurnal_e2e::webhook::PlacementWebhook;
use diurnal_e2e::{cluster_or_skip, install_crd, namespace, repo_root, try_wait_for};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

/// `kubectl ARGS -f -` with `manifest` on stdin: (success, stdout + stderr).
fn kubectl(ns: &str, args: &[&str], manifest: &str) -> (bool, String) {
    let dir = repo_root().join(format!("target/e2e-logs/admission-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("manifest-{}.yaml", std::process::id()));
    std::fs::write(&file, manifest).unwrap();
    let out = Command::new(diurnal_e2e::controlplane_dir().join("kubectl"))
        .arg("--kubeconfig")
        .arg(diurnal_e2e::kubeconfig())
        .args(["--namespace", ns])
        .args(args)
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn cronhpa(name: &str, schedule: &str) -> String {
    format!(
        "apiVersion: autoscaling.alibabacloud.com/v1beta1\nkind: CronHorizontalPodAutoscaler\n\
         metadata: {{name: {name}}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n\
         \x20 jobs:\n  - {{name: up, schedule: \"{schedule}\", targetSize: 3}}\n"
    )
}

async fn register(client: &Client, webhook: &PlacementWebhook, ns: &str) -> String {
    let name = format!("diurnal-validate-{ns}");
    let config: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": name},
        "webhooks": [{
            "name": "cronhpa.validate.diurnal.dev",
            "clientConfig": {"url": format!("https://127.0.0.1:{}/validate", webhook.port), "caBundle": webhook.ca_bundle},
            "rules": [
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["autoscaling.alibabacloud.com"],
                 "apiVersions": ["v1beta1"], "resources": ["cronhorizontalpodautoscalers"]},
                {"operations": ["CREATE", "UPDATE"], "apiGroups": ["diurnal.dev"],
                 "apiVersions": ["v1alpha1"], "resources": ["calendars"]},
            ],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "failurePolicy": "Ignore",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5,
        }],
    }))
    .unwrap();
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &config)
        .await
        .unwrap();
    name
}

#[tokio::test]
async fn kubectl_apply_shows_the_field_path_of_an_error_and_warnings_as_warnings() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "admission").await;
    let webhook = PlacementWebhook::start(&client, &ns).await;
    let config = register(&client, &webhook, &ns).await;

    // The API server picks a new configuration up within a moment: a dry run until it does.
    let broken = cronhpa("web", "0 0 25 * * *");
    let refused = try_wait_for(Duration::from_secs(15), || async {
        let (ok, text) = kubectl(&ns, &["create", "--dry-run=server"], &broken);
        (!ok).then_some(text)
    })
    .await
    .unwrap_or_else(|| panic!("a broken CronHPA was never refused\n{}", webhook.log_text()));
    assert!(refused.contains("spec.jobs[0].schedule: "), "{refused}");

    let (ok, text) = kubectl(&ns, &["apply"], &cronhpa("web", "0 8 * * *"));
    assert!(ok, "{text}");
    assert!(
        text.contains("Warning: spec.jobs[0].schedule: kubernetes-cronhpa-controller reads five fields"),
        "{text}"
    );

    // A second CronHPA on the same Deployment, once the webhook has seen the first.
    let conflict = try_wait_for(Duration::from_secs(10), || async {
        let (ok, text) = kubectl(&ns, &["create", "--dry-run=server"], &cronhpa("web-2", "0 0 8 * * *"));
        (ok && text.contains("Warning: spec.scaleTargetRef: CronHPA \"web\" also scales Deployment \"web\""))
            .then_some(())
    })
    .await;
    assert!(conflict.is_some(), "no conflict warning\n{}", webhook.log_text());

    let calendar = "apiVersion: diurnal.dev/v1alpha1\nkind: Calendar\nmetadata: {name: cn}\n\
                    spec: {holidays: [\"2026-10-07..2026-10-01\"]}\n";
    let (ok, text) = kubectl(&ns, &["apply"], calendar);
    assert!(!ok && text.contains("spec.holidays[0]: "), "{text}");

    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .delete(&config, &DeleteParams::default())
        .await
        .unwrap();
}
