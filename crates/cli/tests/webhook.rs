//! `diurnal webhook certs` and the errors `diurnal webhook serve` gives before it reaches a cluster.

use assert_cmd::Command;
use base64::Engine as _;

fn diurnal() -> Command {
    Command::cargo_bin("diurnal").unwrap()
}

#[test]
fn certs_writes_the_pem_files_and_prints_the_ca_as_the_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = diurnal()
        .args(["webhook", "certs", "--service", "diurnal-webhook", "--namespace", "diurnal-system"])
        .args(["--extra-name", "127.0.0.1", "--days", "7", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let ca = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
    let bundle = String::from_utf8(out.stdout).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD.decode(bundle.trim()).unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), ca, "stdout is exactly the caBundle");
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(
        std::fs::read_to_string(dir.path().join("tls.crt"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(std::fs::read_to_string(dir.path().join("tls.key")).unwrap().contains("PRIVATE KEY-----"));
    assert!(
        stderr.contains(
            "diurnal-webhook, diurnal-webhook.diurnal-system, diurnal-webhook.diurnal-system.svc, \
             diurnal-webhook.diurnal-system.svc.cluster.local, 127.0.0.1"
        ),
        "the names are told: {stderr}"
    );
}

#[test]
fn serve_names_a_missing_certificate_file_and_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls.crt");
    let out = diurnal()
        .args(["webhook", "serve", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}: no such file", cert.display())), "{stderr}");
    assert!(stderr.contains("diurnal webhook certs"), "{stderr}");
}

#[test]
fn serve_lists_the_built_in_profiles_for_an_unknown_one() {
    let out = diurnal()
        .args(["webhook", "serve", "--tls-cert", "c", "--tls-key", "k", "--profile", "gcp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--profile \"gcp\""), "{stderr}");
    assert!(stderr.contains("alibabacloud") && stderr.contains("fargate"), "{stderr}");
}
