//! `diurnal plan --prometheus` against a real Prometheus server (Debian `prometheus`), backfilled
//! with `promtool tsdb create-blocks-from openmetrics`. Skipped when the binaries are missing,
//! unless `DIURNAL_REQUIRE_PROMETHEUS` is set.

use std::fmt::Write as _;

use assert_cmd::Command;

#[test]
fn plan_learns_from_a_real_prometheus() {
    if !diurnal_testing::prometheus::installed() {
        assert!(
            std::env::var_os("DIURNAL_REQUIRE_PROMETHEUS").is_none(),
            "prometheus and promtool are required"
        );
        eprintln!("skipped: no prometheus/promtool (apt-get install -y prometheus)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 35 days of 5-minute samples from Monday 2024-01-01 UTC: 200 req/s from 08:00 to 20:00.
    let start = 1_704_067_200_i64;
    let mut om = String::from("# HELP demo_rps Requests per second.\n# TYPE demo_rps gauge\n");
    for i in 0..35 * 288 {
        let value = if (96..240).contains(&(i % 288)) { 200.0 } else { 20.0 };
        let _ = writeln!(om, "demo_rps {value} {}", start + i * 300);
    }
    om.push_str("# EOF\n");
    let server = diurnal_testing::prometheus::Prometheus::start(dir.path(), &om);

    let end = jiff::Timestamp::from_second(start + 35 * 86_400 - 300).unwrap().to_string();
    let out = Command::cargo_bin("diurnal")
        .unwrap()
        .args(["plan", "--prometheus", &server.url(), "--query", "demo_rps"])
        .args(["--range", "35d", "--step", "5m", "--end", &end, "--time-zone", "UTC"])
        .args(["--holdout-days", "7", "--requests-per-pod", "10"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let yaml = String::from_utf8(out.stdout).unwrap();
    let cronhpa = diurnal_api::manifest::parse_documents(&yaml, "plan").unwrap()[0].decode_cronhpa().unwrap();
    assert!(diurnal_api::resolve_object(&cronhpa, &jiff::tz::TimeZone::UTC).is_valid());
    // The daily rise at 08:00 UTC is in the schedule, pre-warmed by a minute or two.
    assert!(
        cronhpa.spec.jobs.iter().any(|j| j.schedule.ends_with(" 7 * * *") && j.target_size >= 20),
        "{yaml}"
    );
    assert!(stderr.contains("http://127.0.0.1") && stderr.contains("held out"), "{stderr}");
}
