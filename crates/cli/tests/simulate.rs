//! `diurnal simulate` and `diurnal plan` as a user runs them.

use std::fmt::Write as _;

use assert_cmd::Command;
use predicates::prelude::*;

fn diurnal() -> Command {
    let mut cmd = Command::cargo_bin("diurnal").unwrap();
    cmd.env_remove("TZ");
    cmd
}

#[test]
fn simulate_with_no_argument_runs_the_embedded_example_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = diurnal().current_dir(dir.path()).args(["simulate", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "--json is quiet: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        v["policies"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["static-peak", "hpa", "hybrid", "diurnal"]);
    let oracle = v["oracle"]["cost"].as_f64().unwrap();
    assert!(oracle > 0.0);
    let diurnal = &v["policies"][3];
    let ratio = diurnal["cost_ratio_to_oracle"].as_f64().unwrap();
    assert!((ratio - diurnal["cost"].as_f64().unwrap() / oracle).abs() < 1e-9);
    // The README's main command meets the project's own targets on its held-out weeks.
    assert!(ratio <= 1.15, "diurnal costs {ratio} x the oracle");
    assert!(diurnal["shortfall"].as_f64().unwrap() <= 0.005);
    for goal in v["goals"].as_array().unwrap() {
        assert!(goal["met"].as_bool().unwrap(), "goal not met: {goal}");
    }
}

/// The targets, as the tool reports them, on every bundled trace's held-out weeks.
#[test]
fn every_bundled_scenario_meets_its_goals_on_held_out_weeks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        seen += 1;
        let out = diurnal().arg("simulate").arg("--json").arg(&path).output().unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let goals = v["goals"].as_array().unwrap();
        assert!(goals.len() >= 4, "{}: {goals:?}", path.display());
        for goal in goals {
            assert!(goal["met"].as_bool().unwrap(), "{}: goal not met: {goal}", path.display());
        }
        let frontier = v["frontier"].as_array().unwrap();
        assert!(!frontier.is_empty(), "{}", path.display());
    }
    assert_eq!(seen, 3, "nasa, nyc-taxi, worldcup98-5m");
}

#[test]
fn simulate_prints_the_table_and_writes_a_self_contained_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.html");
    diurnal()
        .args(["simulate", "--report"])
        .arg(&report)
        .assert()
        .success()
        .stdout(predicate::str::contains("oracle").and(predicate::str::contains("goals:")));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.matches("<svg").count() >= 9, "2 charts per policy and the cost bars");
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src="), "self-contained");
    assert!(!html.contains("could not be drawn"));
}

#[test]
fn a_scenario_with_an_unknown_field_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.yaml");
    std::fs::write(
        &path,
        "workload: {name: w, requests_per_pod: 5, trace: {path: t.csv, time_zone: UTC}}\nregular_nodes: {cpus: 8}\n",
    )
    .unwrap();
    diurnal()
        .arg("simulate")
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("s.yaml").and(predicate::str::contains("unknown field `cpus`")));
}

fn write_csv(dir: &std::path::Path, days: usize, bad_line: Option<usize>) -> std::path::PathBuf {
    let mut text = String::from("timestamp,value\n");
    let start: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    for i in 0..days * 48 {
        let at = (start + jiff::SignedDuration::from_secs(i64::try_from(i).unwrap() * 1800))
            .strftime("%Y-%m-%d %H:%M:%S");
        let value = if (16..40).contains(&(i % 48)) { 36_000 } else { 3_600 };
        if bad_line == Some(i + 2) {
            let _ = writeln!(text, "{at},n/a");
        } else {
            let _ = writeln!(text, "{at},{value}");
        }
    }
    let path = dir.join("load.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn plan_writes_a_valid_cronhpa_and_reports_fit_and_held_out() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path(), 28, None);
    let out = diurnal()
        .args(["plan", "--time-zone", "Asia/Shanghai", "--holdout-days", "7", "--trace"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    let docs = diurnal_api::manifest::parse_documents(&yaml, "plan").unwrap();
    let cronhpa = docs[0].decode_cronhpa().unwrap();
    assert_eq!(cronhpa.spec.time_zone.as_deref(), Some("Asia/Shanghai"));
    let resolution = diurnal_api::resolve_object(&cronhpa, &jiff::tz::TimeZone::UTC);
    assert!(resolution.is_valid(), "{:?}", resolution.findings);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("in sample (fit window)") && stderr.contains("held out"), "{stderr}");
}

#[test]
fn plan_names_file_and_line_of_a_bad_number() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write_csv(dir.path(), 28, Some(5));
    diurnal()
        .args(["plan", "--time-zone", "UTC", "--trace"])
        .arg(&csv)
        .assert()
        .failure()
        .stderr(predicate::str::contains("load.csv: line 5: value \"n/a\" is not a non-negative number"));
}

/// The report opens in headless Chromium (Debian `chromium`) without console messages and renders
/// something: a blank 1000×2400 page screenshots to about 12 KB, the report to well over 100 KB.
/// Skipped when `chromium` is not installed, unless `DIURNAL_REQUIRE_CHROMIUM` is set.
#[test]
fn the_report_renders_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| std::process::Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("DIURNAL_REQUIRE_CHROMIUM").is_none(),
            "chromium is required but not installed"
        );
        eprintln!("skipped: no chromium (apt-get install -y chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    diurnal().args(["simulate", "--report"]).arg(&report).assert().success();
    let shot = dir.path().join("shot.png");
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
        ])
        .args(["--enable-logging=stderr", "--v=0", "--window-size=1000,2400"])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", report.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(png.len() > 100_000, "screenshot of {} bytes looks blank", png.len());
}

#[test]
fn a_price_preset_prices_the_run_and_the_table_shows_the_billed_pod_size() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let original =
        std::fs::read_to_string(root.join("examples/seed-architecture/simulation/scenario.yaml")).unwrap();
    let trace = root.join("examples/traces/nyc_taxi.csv");
    let cronhpa = root.join("examples/seed-architecture/simulation/cronhpa.yaml");
    // The field report's scenario priced as EKS on Fargate in us-east-1 (its node price kept as
    // the file gives it): pods of 1 vCPU and 4 GiB need 4.25 GiB with Fargate's 256 MiB.
    let text = original
        .replace("currency: CNY", "prices: aws-us-east-1")
        .replace("../../traces/nyc_taxi.csv", trace.to_str().unwrap())
        .replace("cronhpa: cronhpa.yaml", &format!("cronhpa: {}", cronhpa.display()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fargate.yaml");
    std::fs::write(&path, text).unwrap();
    let out = diurnal().arg("simulate").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains(
            "prices: preset aws-us-east-1 (USD); a virtual-node pod requests 1 vCPU / 4 GiB, billed as 1 vCPU / 5 GiB (fargate sizes)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("cost USD"), "{stdout}");
}

#[test]
fn prices_lists_the_catalogue_with_sources_and_marks_assumptions() {
    let out = diurnal().arg("prices").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let row = |preset: &str, product: &str| {
        text.lines()
            .find(|l| l.starts_with(preset) && l.split_whitespace().nth(2) == Some(product))
            .unwrap_or_else(|| panic!("no {preset} {product} row in:\n{text}"))
            .to_owned()
    };
    assert!(row("alibaba-cn-hangzhou", "eci-vcpu").contains("0.000049 vcpu-second  CNY      2025-11-04"));
    assert!(row("alibaba-intl", "eci-memory").contains("0.00000096 gib-second   USD"));
    assert!(row("aws-us-east-1", "fargate-vcpu").contains("0.04048 vcpu-hour    USD"));
    assert!(row("alibaba-cn-hangzhou", "node").contains("ASSUMPTION"), "{text}");
    assert!(row("aws-us-east-1", "node").contains("ASSUMPTION"), "{text}");

    let out = diurnal().args(["prices", "--preset", "alibaba-intl"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("alibaba-intl: virtual node 0.0000077 USD/vCPU-second, 0.00000096 USD/GiB-second, Eci sizes; regular node not in the catalogue"), "{text}");
    diurnal().args(["prices", "--preset", "gcp-mars-1"]).assert().failure().stderr(predicate::str::contains(
        "unknown price preset `gcp-mars-1` (known: alibaba-cn-hangzhou, alibaba-intl, aws-us-east-1)",
    ));
}

#[test]
fn the_node_price_can_come_from_an_opencost_custom_pricing_csv() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let original =
        std::fs::read_to_string(root.join("examples/seed-architecture/simulation/scenario.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("opencost.csv"),
        "EndTimeStamp,InstanceID,Region,AssetClass,InstanceIDField,InstanceType,MarketPriceHourly,Version\n\
         2026-12-01 00:00:00 UTC,i-1,cn-hangzhou,node,spec.providerID,ecs.g6.xlarge,0.34,\n",
    )
    .unwrap();
    let with_csv = original
        .replace("../../traces/nyc_taxi.csv", root.join("examples/traces/nyc_taxi.csv").to_str().unwrap())
        .replace(
            "cronhpa: cronhpa.yaml",
            &format!(
                "cronhpa: {}",
                root.join("examples/seed-architecture/simulation/cronhpa.yaml").display()
            ),
        )
        .replace(
            "  price_per_hour: 0.68",
            "  opencost_csv: {path: opencost.csv, instance_type: ecs.g6.xlarge, region: cn-hangzhou}",
        );
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, &with_csv).unwrap();
    let out = diurnal().arg("simulate").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Half the 0.68 CNY/hour the file gives otherwise: static-peak's 5287.68 regular cost halves.
    let static_peak = stdout.lines().find(|l| l.starts_with("static-peak")).unwrap();
    assert!(static_peak.contains("2643.84     2643.84"), "{stdout}");

    // Both the CSV and price_per_hour: refused, naming the field.
    let both = with_csv.replace("  opencost_csv:", "  price_per_hour: 0.5\n  opencost_csv:");
    std::fs::write(&path, both).unwrap();
    diurnal().arg("simulate").arg(&path).assert().failure().stderr(predicate::str::contains(
        "regular_nodes.opencost_csv: gives the node price, and so does regular_nodes.price_per_hour",
    ));
    // A CSV without the instance type: refused, naming the file.
    std::fs::write(&path, with_csv.replace("instance_type: ecs.g6.xlarge", "instance_type: ecs.g7.xlarge"))
        .unwrap();
    diurnal().arg("simulate").arg(&path).assert().failure().stderr(predicate::str::contains(
        "opencost.csv: no node row of InstanceType ecs.g7.xlarge in region cn-hangzhou",
    ));
}
