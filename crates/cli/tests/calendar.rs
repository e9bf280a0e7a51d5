//! Calendars as a user meets them: `diurnal calendar import`, and `next` and `validate` reading
//! Calendars beside CronHPAs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn diurnal() -> Command {
    let mut cmd = Command::cargo_bin("diurnal").unwrap();
    cmd.env_remove("TZ");
    cmd
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/calendars").join(name)
}

fn write_temp(text: &str, suffix: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

fn spec_of(yaml: &str) -> serde_json::Value {
    let docs = diurnal_api::manifest::parse_documents(yaml, "calendar").unwrap();
    docs.into_iter().find(diurnal_api::manifest::Document::is_calendar).unwrap().value["spec"].clone()
}

#[test]
fn importing_the_demo_ics_gives_the_demo_calendar() {
    let out = diurnal()
        .args(["calendar", "import", "-n", "shop", "--name", "demo-holidays"])
        .arg(example("demo-holidays.ics"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let imported = String::from_utf8(out).unwrap();
    let checked_in = std::fs::read_to_string(example("demo-holidays.yaml")).unwrap();
    assert_eq!(spec_of(&imported), spec_of(&checked_in), "{imported}");
    assert!(imported.contains("namespace: shop"), "{imported}");
}

#[test]
fn a_broken_ics_names_the_file_and_the_event() {
    let ics = std::fs::read_to_string(example("demo-holidays.ics")).unwrap();
    let broken = write_temp(&ics.replace("DTSTART;VALUE=DATE:20261010\r\n", ""), ".ics");
    let file = broken.path().display().to_string();
    diurnal().args(["calendar", "import"]).arg(broken.path()).assert().code(1).stderr(
        predicate::str::contains(format!("{file}: event 3 (line 18)"))
            .and(predicate::str::contains("no DTSTART")),
    );
}

#[test]
fn next_runs_the_weekday_job_on_the_make_up_saturday_and_not_in_the_holiday_week() {
    let out = diurnal()
        .args(["next", "-f"])
        .arg(example("workday-peak.yaml"))
        .arg("--calendar")
        .arg(example("demo-holidays.yaml"))
        .args(["--after", "2026-09-30T12:00:00Z", "--until", "2026-10-12T12:00:00Z"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let peaks: Vec<&str> = text.lines().filter(|l| l.contains("morning-peak")).map(|l| &l[..20]).collect();
    // The holiday week (Oct 1-7) is skipped; Thursday the 8th, Friday the 9th, the make-up
    // Saturday the 10th and Monday the 12th, at 08:00 in Shanghai.
    let want =
        ["2026-10-08T00:00:00Z", "2026-10-09T00:00:00Z", "2026-10-10T00:00:00Z", "2026-10-12T00:00:00Z"];
    assert_eq!(peaks, want, "{text}");
}

#[test]
fn validate_reads_calendars_and_names_their_problems() {
    diurnal()
        .arg("validate")
        .arg(example("workday-peak.yaml"))
        .arg(example("demo-holidays.yaml"))
        .assert()
        .success()
        .stdout("1 valid CronHorizontalPodAutoscaler(s), 1 valid Calendar(s)\n");
    let both = write_temp(
        "apiVersion: diurnal.dev/v1alpha1\nkind: Calendar\nmetadata: {name: demo-holidays}\n\
         spec:\n  holidays: [2026-10-01..2026-10-07]\n  workdays: [\"2026-10-10\", \"2026-10-03\"]\n",
        ".yaml",
    );
    let file = both.path().display().to_string();
    diurnal()
        .arg("validate")
        .arg(example("workday-peak.yaml"))
        .arg("--calendar")
        .arg(both.path())
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(format!(
                "error: {file}: document 1: spec.workdays[1]: 2026-10-03 is both"
            ))
            .and(predicate::str::contains("spec.calendars[0].name: Calendar \"demo-holidays\" is invalid")),
        );
}
