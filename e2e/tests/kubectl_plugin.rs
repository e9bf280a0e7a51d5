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
