//! The examples users copy are accepted by a real API server.

use diurnal_e2e::{apply_file, cluster_or_skip, install_crd, repo_root};

#[tokio::test]
async fn the_field_reports_architecture_applies_to_the_real_control_plane() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let dir = repo_root().join("examples/seed-architecture");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    files.sort();
    let mut applied = Vec::new();
    for file in &files {
        applied.extend(apply_file(&client, file, false).await.unwrap_or_else(|e| panic!("{e:#}")));
    }
    for expected in [
        "Namespace/biz",
        "Deployment/biz-server",
        "Service/biz-server",
        "HorizontalPodAutoscaler/biz-server",
        "PersistentVolume/vision-nas",
        "PersistentVolumeClaim/vision-nas",
        "Deployment/vision-master",
        "Deployment/vision-slave",
        "CronHorizontalPodAutoscaler/vision-slave",
        "CronHorizontalPodAutoscaler/biz-server",
        "Role/diurnal-trigger",
        "Deployment/diurnal-trigger",
        "Ingress/diurnal-trigger",
    ] {
        assert!(applied.iter().any(|a| a == expected), "{expected} not applied: {applied:?}");
    }
}
