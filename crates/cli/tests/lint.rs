//! `diurnal lint` as a CI pipeline runs it.

use assert_cmd::Command;

fn diurnal() -> Command {
    Command::cargo_bin("diurnal").unwrap()
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_violation_is_reported_as_file_document_path_and_exits_1() {
    let file = fixture("lint-bad.yaml");
    let out = diurnal().args(["lint", &file]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<String> = stdout.lines().map(|l| l.replacen(&file, "F", 1)).collect();
    let located: Vec<&str> =
        lines.iter().map(|l| l.split_once(": ").map_or(l.as_str(), |(head, _)| head)).collect();
    assert_eq!(
        located,
        [
            "F:1:spec.template.spec.volumes[1].hostPath",
            "F:1:spec.template.spec.volumes[2].persistentVolumeClaim",
            "F:1:spec.template.spec.containers[0].ports[0].hostPort",
            "F:2:spec.hostNetwork",
            "F:2:spec.containers[0].securityContext.privileged",
            "F:3:kind",
            "F:4:metadata.annotations",
        ],
        "{stdout}"
    );
    assert!(lines[0].ends_with("hostPath volumes are not mounted on alibabacloud virtual nodes (ECI): there is no host; use emptyDir"), "{}", lines[0]);
    assert!(lines[6].contains("expected \"overflow\" or \"virtual\""), "{}", lines[6]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("7 problem(s)"));
}

#[test]
fn the_field_reports_architecture_lints_clean() {
    let dir = format!("{}/../../examples/seed-architecture", env!("CARGO_MANIFEST_DIR"));
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| std::path::Path::new(p).extension().is_some_and(|e| e.eq_ignore_ascii_case("yaml")))
        .collect();
    let out = diurnal().arg("lint").args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pod template(s) checked"));
}

#[test]
fn a_relaxed_profile_file_allows_what_it_lists() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("newer-eci.yaml");
    std::fs::write(&profile, "name: newer-eci\nbase: alibabacloud\nvolumes: [emptyDir, nfs, configMap, secret, projected, persistentVolumeClaim]\n").unwrap();
    let out = diurnal()
        .args(["lint", "--profile-file"])
        .arg(&profile)
        .arg(fixture("lint-bad.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains("persistentVolumeClaim"), "{stdout}");
    assert!(stdout.contains("hostPath"), "{stdout}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn unreadable_or_unparseable_input_is_exit_2_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: Pod\nspec: [unclosed\n").unwrap();
    let out = diurnal().arg("lint").arg(&broken).arg(dir.path().join("missing.yaml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("broken.yaml: ") && stderr.contains("missing.yaml: cannot read"), "{stderr}");
}

#[test]
fn an_unknown_profile_is_refused_with_the_choices() {
    let out = diurnal().args(["lint", "--profile", "gcp", &fixture("lint-bad.yaml")]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("alibabacloud, azure, fargate"));
}

#[test]
fn a_pod_spec_that_does_not_decode_names_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwork: maybe\n  containers: []\n",
    )
    .unwrap();
    let out = diurnal().arg("lint").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(":1:spec.hostNetwork: not a valid pod spec"), "{stdout}");
}
