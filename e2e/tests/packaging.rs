//! The Helm chart renders (helm built from its Go module), the plain manifests are exactly its
//! rendering, and every rendered object is accepted by the real API server (server-side dry run).

use std::process::Command;

use diurnal_e2e::{apply_file, cluster_or_skip, install_crd, repo_root};

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
    if std::env::var("DIURNAL_E2E").is_ok_and(|v| v == "skip")
        && std::env::var("CI").map_or(true, |v| v != "true")
    {
        return; // helm comes with the control plane build
    }
    let checked_in = std::fs::read_to_string(repo_root().join("deploy/manifests/diurnal.yaml")).unwrap();
    assert!(
        render(&[]) == checked_in,
        "deploy/manifests/diurnal.yaml is out of date with deploy/helm/diurnal: run scripts/render-manifests"
    );
}

#[tokio::test]
async fn every_rendered_object_is_accepted_by_the_api_server() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    apply_file(&client, &repo_root().join("e2e/tests/fixtures/diurnal-system.yaml"), false).await.unwrap();
    // A real CA bundle for the webhook configuration, as `diurnal webhook certs` prints it.
    let certs = std::process::Command::new(diurnal_e2e::diurnal_bin())
        .args(["webhook", "certs", "--service", "diurnal-webhook", "--namespace", "diurnal-system", "--out"])
        .arg(repo_root().join("target/e2e-logs/packaging-certs"))
        .output()
        .unwrap();
    assert!(certs.status.success(), "{}", String::from_utf8_lossy(&certs.stderr));
    let ca_bundle = format!("webhook.caBundle={}", String::from_utf8(certs.stdout).unwrap().trim());
    let variants: [&[&str]; 5] = [
        &[],
        &["--set", "networkPolicy.enabled=true", "--set", "controller.watchNamespace=shop"],
        &[
            "--set",
            "trigger.enabled=true",
            "--set",
            "trigger.replicas=2",
            "--set",
            "trigger.ingress.enabled=true",
            "--set",
            "trigger.ingress.host=hooks.example.com",
            "--set",
            "networkPolicy.enabled=true",
        ],
        &["--set", "trigger.enabled=true", "--set", "trigger.watchNamespace=diurnal-system"],
        &[
            "--set",
            "webhook.enabled=true",
            "--set",
            "webhook.certManager.enabled=false",
            "--set",
            "webhook.existingSecret=diurnal-webhook-tls",
            "--set",
            &ca_bundle,
            "--set",
            "networkPolicy.enabled=true",
        ],
    ];
    for (i, args) in variants.into_iter().enumerate() {
        let path = repo_root().join(format!("target/e2e-logs/rendered-{i}.yaml"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, render(args)).unwrap();
        let applied = apply_file(&client, &path, true).await.unwrap_or_else(|e| panic!("{args:?}: {e:#}"));
        assert!(applied.iter().any(|a| a == "Deployment/diurnal-controller"), "{applied:?}");
        assert!(applied.iter().any(|a| a == "ClusterRole/diurnal-controller"), "{applied:?}");
        if i == 1 {
            assert!(applied.iter().any(|a| a.starts_with("NetworkPolicy/")), "{applied:?}");
        }
        if i == 2 || i == 3 {
            for expected in
                ["Deployment/diurnal-trigger", "Service/diurnal-trigger", "ServiceAccount/diurnal-trigger"]
            {
                assert!(applied.iter().any(|a| a == expected), "{expected}: {applied:?}");
            }
        }
        if i == 2 {
            for expected in [
                "Ingress/diurnal-trigger",
                "PodDisruptionBudget/diurnal-trigger",
                "ClusterRole/diurnal-trigger",
                "NetworkPolicy/diurnal-trigger",
            ] {
                assert!(applied.iter().any(|a| a == expected), "{expected}: {applied:?}");
            }
            assert!(!applied.iter().any(|a| a.contains("webhook")), "the webhook is off: {applied:?}");
        }
        if i == 3 {
            assert!(
                applied.iter().any(|a| a == "Role/diurnal-trigger"),
                "confined to a namespace: {applied:?}"
            );
        }
        if i == 4 {
            for expected in [
                "Deployment/diurnal-webhook",
                "Service/diurnal-webhook",
                "PodDisruptionBudget/diurnal-webhook",
                "MutatingWebhookConfiguration/diurnal-webhook",
                "ClusterRole/diurnal-webhook",
                "ClusterRoleBinding/diurnal-webhook",
                "NetworkPolicy/diurnal-webhook",
            ] {
                assert!(applied.iter().any(|a| a == expected), "{expected}: {applied:?}");
            }
            // Without cert-manager: no cert-manager objects (their CRDs are absent here anyway).
            assert!(!applied.iter().any(|a| a.starts_with("Certificate/") || a.starts_with("Issuer/")));
        }
    }
}
