//! The `diurnal` binary as a user runs it.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn diurnal() -> Command {
    let mut cmd = Command::cargo_bin("diurnal").unwrap();
    cmd.env_remove("TZ");
    cmd
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cronhpa").join(name)
}

fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn next_prints_fires_in_utc_from_a_zoned_schedule() {
    // 09:00 in Shanghai is 01:00 UTC; no "subtract 8 hours" by hand.
    diurnal()
        .args(["next", "--schedule", "0 0 9 * * *", "--time-zone", "Asia/Shanghai"])
        .args(["--after", "2026-01-15T00:00:00Z", "--count", "3"])
        .assert()
        .success()
        .stdout("2026-01-15T01:00:00Z\n2026-01-16T01:00:00Z\n2026-01-17T01:00:00Z\n");
}

#[test]
fn next_reads_five_fields_as_standard_cron() {
    diurnal()
        .args(["next", "--schedule", "0 8 * * *", "--after", "2026-01-15T00:00:00Z", "--count", "2"])
        .assert()
        .success()
        .stdout("2026-01-15T08:00:00Z\n2026-01-16T08:00:00Z\n");
}

#[test]
fn next_uses_tz_from_the_environment_as_the_default_zone() {
    diurnal()
        .env("TZ", "Asia/Shanghai")
        .args(["next", "--schedule", "@daily", "--after", "2026-01-15T00:00:00Z", "--count", "1"])
        .assert()
        .success()
        .stdout("2026-01-15T16:00:00Z\n");
}

#[test]
fn next_rejects_bad_input_with_a_clear_message() {
    diurnal()
        .args(["next", "--schedule", "0 0 25 * * *"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--schedule \"0 0 25 * * *\""));
    diurnal()
        .args(["next", "--schedule", "@daily", "--time-zone", "Mars/Olympus"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("Mars/Olympus"));
    diurnal()
        .args(["next", "--schedule", "@daily", "--after", "yesterday"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("--after \"yesterday\" is not an RFC 3339 instant"));
}

#[test]
fn next_merges_the_timeline_of_every_cronhpa_in_a_file() {
    let out = diurnal()
        .args(["next", "-f"])
        .arg(example("daily-peak.yaml"))
        .args(["--after", "2026-11-23T00:00:00Z", "--until", "2026-11-24T00:00:00Z"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    // Monday 2026-11-23 in Shanghai (UTC+8); month-end is a Berlin job and does not fire.
    assert_eq!(
        out,
        "2026-11-23T00:30:00Z\tshop/business\tmorning-floor\t8\n\
         2026-11-23T01:00:00Z\tvision/vision-slave\tweekday-peak\t12\n\
         2026-11-23T13:00:00Z\tvision/vision-slave\tnight\t2\n\
         2026-11-23T14:00:00Z\tshop/business\tevening-floor\t2\n"
    );
}

#[test]
fn next_hides_excluded_fires_unless_asked() {
    let args = ["--after", "2026-10-01T00:00:00Z", "--until", "2026-10-02T00:00:00Z"];
    diurnal()
        .args(["next", "-f"])
        .arg(example("daily-peak.yaml"))
        .args(args)
        .assert()
        .success()
        .stdout(predicate::str::contains("vision-slave").not());
    diurnal()
        .args(["next", "--show-excluded", "-f"])
        .arg(example("daily-peak.yaml"))
        .args(args)
        .assert()
        .success()
        .stdout(predicate::str::contains("vision/vision-slave\tweekday-peak\t12\texcluded"));
}

#[test]
fn validate_accepts_the_old_controllers_manifests_unchanged() {
    diurnal()
        .arg("validate")
        .arg(example("legacy-sample.yaml"))
        .arg(example("legacy-hpa-target.yaml"))
        .assert()
        .success()
        .stdout("2 valid CronHorizontalPodAutoscaler(s)\n");
}

#[test]
fn validate_names_file_document_and_field_and_exits_1() {
    let file = write_temp(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: unrelated}\n---\n\
         apiVersion: autoscaling.alibabacloud.com/v1beta1\nkind: CronHorizontalPodAutoscaler\n\
         metadata: {name: bad}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n\
         \x20 timeZone: Asia/Shanghai\n  jobs:\n  - {name: up, schedule: '0 0 9 * * *', targetSize: 3}\n\
         \x20 - {name: up, schedule: '0 0 99 * * *', targetSize: -1}\n",
    );
    let shown = file.path().display().to_string();
    diurnal()
        .arg("validate")
        .arg(file.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "error: {shown}: document 2: spec.jobs[1].name: duplicate job name \"up\""
        )))
        .stderr(predicate::str::contains(format!("error: {shown}: document 2: spec.jobs[1].schedule: ")))
        .stderr(predicate::str::contains(format!(
            "error: {shown}: document 2: spec.jobs[1].targetSize: must be zero or more"
        )));
}

#[test]
fn validate_warns_on_five_field_schedules_but_exits_0() {
    let file = write_temp(
        "apiVersion: autoscaling.alibabacloud.com/v1beta1\nkind: CronHorizontalPodAutoscaler\n\
         metadata: {name: five}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n\
         \x20 jobs:\n  - {name: up, schedule: '0 8 * * *', targetSize: 3}\n",
    );
    diurnal()
        .arg("validate")
        .arg(file.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("warning: ").and(predicate::str::contains("spec.jobs[0].schedule")));
}

#[test]
fn validate_reports_unreadable_and_malformed_files() {
    diurnal()
        .args(["validate", "/nonexistent/cronhpa.yaml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/cronhpa.yaml: cannot read"));
    let broken = write_temp("spec: [unclosed\n");
    diurnal().arg("validate").arg(broken.path()).assert().code(1).stderr(predicate::str::contains("error: "));
    let wrong_type = write_temp(
        "apiVersion: autoscaling.alibabacloud.com/v1beta1\nkind: CronHorizontalPodAutoscaler\nmetadata: {name: x}\n\
         spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  jobs: {name: up}\n",
    );
    diurnal()
        .arg("validate")
        .arg(wrong_type.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("document 1: spec.jobs: invalid type"));
}

#[test]
fn crd_prints_the_checked_in_crds() {
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let checked_in: String = [
        "cronhorizontalpodautoscalers.autoscaling.alibabacloud.com.yaml",
        "redeploytriggers.diurnal.dev.yaml",
        "calendars.diurnal.dev.yaml",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(crds.join(f)).unwrap())
    .collect();
    diurnal().arg("crd").assert().success().stdout(checked_in);
}

#[test]
fn as_kubectl_cronhpa_the_binary_takes_the_plugins_arguments() {
    // kubectl finds plugins by file name: `kubectl cronhpa validate` runs `kubectl-cronhpa validate`.
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-cronhpa");
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("diurnal"), &plugin).unwrap();
    Command::new(&plugin)
        .arg("validate")
        .arg(example("legacy-sample.yaml"))
        .assert()
        .success()
        .stdout("1 valid CronHorizontalPodAutoscaler(s)\n");
    Command::new(&plugin).arg("--help").assert().success().stdout(predicate::str::contains("list"));
}

#[test]
fn the_field_reports_architecture_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seed-architecture");
    diurnal()
        .arg("validate")
        .arg(dir.join("30-cronhpa.yaml"))
        .arg(dir.join("10-business.yaml"))
        .assert()
        .success()
        .stdout("2 valid CronHorizontalPodAutoscaler(s)\n");
}

#[test]
fn next_prints_floors_and_ceilings_and_the_recorded_history() {
    let mut text = std::fs::read_to_string(example("hpa-floors-and-ceilings.yaml")).unwrap();
    // As `kubectl get -o yaml` saves it: the status the controller wrote.
    text.push_str(
        "status:\n  jobHistories:\n  - name: night\n    executions:\n\
         \x20   - scheduleTime: \"2026-11-22T19:00:00Z\"\n      executionTime: \"2026-11-22T19:00:01Z\"\n\
         \x20     kind: Regular\n      result: Scaled\n      minReplicas: {from: 10, to: 2}\n\
         \x20     maxReplicas: {from: 60, to: 20}\n      message: \"HorizontalPodAutoscaler shop/shop-api: minReplicas 10 -> 2\"\n",
    );
    let file = write_temp(&text);
    diurnal()
        .args(["next", "--history", "-f"])
        .arg(file.path())
        .args(["--after", "2026-11-23T00:00:00Z", "--count", "1"])
        .assert()
        .success()
        .stdout(
            "2026-11-23T07:00:00Z\tshop/shop-api\tweekday-day\tmin 10 max 60\n\
             \n\
             SCHEDULED\tAPPLIED\tCRONHPA\tJOB\tKIND\tRESULT\tCHANGES\tMESSAGE\n\
             2026-11-22T19:00:00Z\t2026-11-22T19:00:01Z\tshop/shop-api\tnight\tRegular\tScaled\t\
             minReplicas 10 -> 2, maxReplicas 60 -> 20\tHorizontalPodAutoscaler shop/shop-api: minReplicas 10 -> 2\n",
        );
}

#[test]
fn validate_reads_a_bare_off_as_kubectl_does_and_names_a_bad_switch() {
    let doc = |value: &str| {
        format!(
            "apiVersion: autoscaling.alibabacloud.com/v1beta1\nkind: CronHorizontalPodAutoscaler\n\
             metadata: {{name: web, namespace: shop}}\nspec:\n  \
             scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  \
             hpaCoordination: {value}\n  jobs:\n    - {{name: up, schedule: \"0 0 9 * * *\", targetSize: 3}}\n"
        )
    };
    for ok in ["off", "false", "on"] {
        let file = write_temp(&doc(ok));
        diurnal().arg("validate").arg(file.path()).assert().success();
    }
    let file = write_temp(&doc("maybe"));
    diurnal().arg("validate").arg(file.path()).assert().code(1).stderr(predicate::str::contains(
        "spec.hpaCoordination: expected on, off, true or false, got \"maybe\"",
    ));
}
