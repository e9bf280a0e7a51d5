//! The controller works with exactly the RBAC shipped in deploy/rbac/controller.yaml.

use std::time::Duration;

use diurnal_e2e::{
    Controller, apply_file, cluster_or_skip, create_deployment, create_one_shot, install_crd, namespace,
    next_whole_second, replicas, repo_root, service_account_kubeconfig, sleep_until, wait_for,
};

#[tokio::test]
async fn the_controller_fires_with_only_its_shipped_rbac() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    // deploy/rbac/controller.yaml lives in diurnal-system.
    apply_file(&client, &repo_root().join("e2e/tests/fixtures/diurnal-system.yaml"), false).await.unwrap();
    apply_file(&client, &repo_root().join("deploy/rbac/controller.yaml"), false).await.unwrap();
    let kubeconfig = service_account_kubeconfig(&client, "diurnal-system", "diurnal-controller").await;

    let ns = namespace(&client, "rbac").await;
    create_deployment(&client, &ns, "web", 1).await;
    let kubeconfig = kubeconfig.to_string_lossy().to_string();
    // With leader election on, as in production: the Lease lives in diurnal-system.
    let controller = Controller::start(
        "rbac",
        &[
            "--kubeconfig",
            &kubeconfig,
            "--namespace",
            &ns,
            "--lease-namespace",
            "diurnal-system",
            "--lease-name",
            &format!("rbac-{ns}"),
        ],
    );
    let fire = next_whole_second(Duration::from_secs(6));
    create_one_shot(&client, &ns, fire, 3).await;
    sleep_until(fire).await;
    wait_for(Duration::from_secs(10), "the fire applied under the service account", || async {
        (replicas(&client, &ns, "web").await == 3).then_some(())
    })
    .await;
    let status = wait_for(Duration::from_secs(5), "the status written under the service account", || async {
        diurnal_e2e::cronhpa_status(&client, &ns, "web").await.filter(|s| s.last_result.is_some())
    })
    .await;
    assert!(status.last_result.unwrap().starts_with("Succeed"));
    let log = controller.log_text();
    assert!(!log.contains("Forbidden") && !log.contains("forbidden"), "RBAC denied a call:\n{log}");
}
