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
        cronhpa
            .spec
            .jobs
            .iter()
            .any(|j| j.schedule.ends_with(" 7 * * *") && j.target_size.is_some_and(|s| s >= 20)),
        "{yaml}"
    );
    assert!(stderr.contains("http://127.0.0.1") && stderr.contains("held out"), "{stderr}");
}

/// `diurnal plan --prometheus URL` (35 days at 5 minutes: two `query_range` calls) writing to
/// `--output` in a fresh folder; returns the exit code, stderr and whether the file exists.
fn plan_against(url: &str) -> (Option<i32>, String, bool) {
    plan_against_with(url, &[])
}

/// [`plan_against`] with `extra` arguments.
fn plan_against_with(url: &str, extra: &[&str]) -> (Option<i32>, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("cronhpa.yaml");
    let out = Command::cargo_bin("diurnal")
        .unwrap()
        .args(["plan", "--prometheus", url, "--query", "demo_rps"])
        .args(["--range", "35d", "--step", "5m", "--end", "2024-02-05T00:00:00Z", "--time-zone", "UTC"])
        .args(["--holdout-days", "7", "--requests-per-pod", "10", "--output"])
        .arg(&output)
        .args(extra)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), output.exists())
}

/// Issue 14: Prometheus down when `diurnal plan` starts — nothing listens at the URL: a clear
/// error naming the URL, exit 1, nothing written.
#[test]
fn prometheus_down_fails_plan_naming_the_url_and_writes_nothing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, stderr, written) = plan_against(&url);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{url}/api/v1/query_range")), "the error names the URL: {stderr}");
    assert!(stderr.to_lowercase().contains("connection refused"), "{stderr}");
    assert!(!written, "nothing may be written: {stderr}");
}

/// Issue 14: Prometheus goes down during `diurnal plan` — it answers the first of the two range
/// queries and is gone for the second: the same error, exit 1, nothing written (the first
/// answer alone is not planned from).
#[test]
fn prometheus_down_between_range_queries_fails_plan_and_writes_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        use std::io::{BufRead as _, Write as _};
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = String::new();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        reader.read_line(&mut request).unwrap();
        // The rest of the head: closing with unread bytes would reset the connection.
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        // 10,000 points from the query's start (the first chunk), 100 req/s.
        let start: i64 =
            request.split("start=").nth(1).and_then(|s| s.split('&').next()).unwrap().parse().unwrap();
        let values: Vec<String> = (0..10_000).map(|i| format!("[{},\"100\"]", start + i * 300)).collect();
        let body = format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{}]}}]}}}}"#,
            values.join(",")
        );
        write!(stream, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}").unwrap();
        // Nothing listens once the answer is complete: the second query is refused.
        drop(listener);
        drop(reader);
        drop(stream);
        request
    });
    let (code, stderr, written) = plan_against(&url);
    let first = server.join().unwrap();
    assert!(first.starts_with("GET /api/v1/query_range?"), "{first}");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{url}/api/v1/query_range")), "the error names the URL: {stderr}");
    assert!(stderr.to_lowercase().contains("connection refused"), "{stderr}");
    assert!(!written, "nothing may be written: {stderr}");
}

/// Issue 14: a black-holed Prometheus — it accepts the connection and never answers: the request
/// gives up after `--prometheus-timeout` (it used to wait 60 s per read, with no bound on the
/// whole answer), exit 1, the error names the URL and the flag, nothing written.
#[test]
fn a_black_holed_prometheus_times_out_naming_the_url_and_writes_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts and holds every connection, reading and writing nothing, until the test ends.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let started = std::time::Instant::now();
    let (code, stderr, written) = plan_against_with(&url, &["--prometheus-timeout", "1s"]);
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{url}/api/v1/query_range")), "the error names the URL: {stderr}");
    assert!(stderr.contains("--prometheus-timeout"), "the error says which limit ran out: {stderr}");
    assert!(took < std::time::Duration::from_secs(15), "gave up after {took:?}, not about 1 s");
    assert!(!written, "nothing may be written: {stderr}");
}
