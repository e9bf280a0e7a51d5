//! `kubectl cronhpa ...`: the binary run as `kubectl-cronhpa` reads CronHPAs of the current
//! kubeconfig context.

use std::process::Command;

use diurnal_e2e::{cluster_or_skip, create_cronhpa, diurnal_bin, install_crd, kubeconfig, namespace};
use serde_json::json;

fn plugin(args: &[&str]) -> String {
    let dir = tempfile_dir();
    let link = dir.join("kubectl-cronhpa");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(diurnal_bin(), &link).unwrap();
    let out = Command::new(&link).args(args).env("KUBECONFIG", kubeconfig()).output().unwrap();
    assert!(out.status.success(), "kubectl-cronhpa {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = diurnal_e2e::repo_root().join(format!("target/e2e-logs/plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn list_and_next_read_the_cluster_of_the_current_context() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "plugin").await;
    create_cronhpa(
        &client,
        &ns,
        json!({"metadata": {"name": "vision"}, "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "vision-slave"},
            "timeZone": "Asia/Shanghai",
            "jobs": [{"name": "morning", "schedule": "0 30 8 * * *", "targetSize": 10}]}}),
    )
    .await;
    let list = plugin(&["list", "-n", &ns]);
    assert!(list.starts_with("NAMESPACE\tNAME\tTARGET\tZONE\tNEXT\tLAST RESULT\n"), "{list}");
    assert!(list.contains(&format!("{ns}\tvision\tDeployment/vision-slave\tAsia/Shanghai\t")), "{list}");
    let next = plugin(&["next", "vision", "-n", &ns, "--count", "2"]);
    let lines: Vec<&str> = next.lines().collect();
    assert_eq!(lines.len(), 2, "{next}");
    // 08:30 in Shanghai is 00:30 UTC.
    assert!(lines.iter().all(|l| l.contains("T00:30:00Z\t") && l.ends_with("\tmorning\t10")), "{next}");
}

/// `kubectl cronhpa history`: the executions a status records, in the order they fired. The
/// status is written here as the controller writes it, so the API server also checks that the
/// CRD's schema keeps every field of an execution (an unknown field would be pruned).
#[tokio::test]
async fn history_prints_the_executions_in_the_status() {
    use diurnal_api::CronHorizontalPodAutoscaler;
    use kube::api::{Api, Patch, PatchParams};
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "plugin-history").await;
    create_cronhpa(
        &client,
        &ns,
        json!({"metadata": {"name": "web"}, "spec": {
        "scaleTargetRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "web"},
        "jobs": [
            {"name": "day", "schedule": "0 0 8 * * *", "targetMinReplicas": 10, "targetMaxReplicas": 60},
            {"name": "night", "schedule": "0 0 20 * * *", "targetMinReplicas": 2, "targetMaxReplicas": 20},
        ]}}),
    )
    .await;
    let execution = |at: &str, result: &str, min: (i32, i32)| {
        json!({"scheduleTime": at, "executionTime": at, "kind": "Regular", "result": result,
               "minReplicas": {"from": min.0, "to": min.1}, "message": "m"})
    };
    let status = json!({"status": {"jobHistories": [
        {"name": "day", "executions": [execution("2026-11-23T08:00:00Z", "Scaled", (2, 10))]},
        {"name": "night", "executions": [execution("2026-11-22T20:00:00Z", "AlreadyAtSize", (2, 2))]},
    ]}});
    Api::<CronHorizontalPodAutoscaler>::namespaced(client.clone(), &ns)
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let out = plugin(&["history", "web", "-n", &ns]);
    assert_eq!(
        out,
        format!(
            "SCHEDULED\tAPPLIED\tCRONHPA\tJOB\tKIND\tRESULT\tCHANGES\tMESSAGE\n\
             2026-11-22T20:00:00Z\t2026-11-22T20:00:00Z\t{ns}/web\tnight\tRegular\tAlreadyAtSize\tminReplicas 2 -> 2\tm\n\
             2026-11-23T08:00:00Z\t2026-11-23T08:00:00Z\t{ns}/web\tday\tRegular\tScaled\tminReplicas 2 -> 10\tm\n"
        )
    );
    let day = plugin(&["history", "web", "-n", &ns, "--job", "day"]);
    assert_eq!(day.lines().count(), 2, "{day}");
}
