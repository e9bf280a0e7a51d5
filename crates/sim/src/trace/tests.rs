#![allow(clippy::float_cmp)] // exact zeros and exact small sums are what these tests assert

use super::*;

fn spec(zone: &str) -> CsvSpec<'static> {
    CsvSpec {
        timestamp_column: "minute",
        value_column: "count",
        time_zone: TimeZone::get(zone).unwrap(),
        unit: ValueUnit::PerInterval,
        scale: 1.0,
    }
}

#[test]
fn reads_counts_as_rates_in_the_given_zone() {
    let text = "minute,count\n2024-01-01 00:00:00,60\n2024-01-01 00:01:00,120\n";
    let t = Trace::from_csv(text, "t.csv", &spec("Asia/Shanghai")).unwrap();
    assert_eq!(t.interval, 60);
    assert_eq!(t.rate, vec![1.0, 2.0]);
    // Midnight in Shanghai is 16:00 UTC the day before.
    assert_eq!(t.start.to_string(), "2023-12-31T16:00:00Z");
    assert!(t.gaps.is_empty());
}

#[test]
fn gaps_become_missing_points_and_are_reported() {
    let text = "minute,count\n2024-01-01 00:00:00,60\n2024-01-01 00:01:00,60\n\
                2024-01-01 00:04:00,60\n2024-01-01 00:05:00,60\n";
    let t = Trace::from_csv(text, "t.csv", &spec("UTC")).unwrap();
    assert_eq!(t.rate.len(), 6);
    assert!(t.rate[2].is_nan() && t.rate[3].is_nan());
    assert_eq!(t.gaps, vec![Gap { from: "2024-01-01T00:02:00Z".parse().unwrap(), missing: 2, line: 4 }]);
    assert_eq!(t.missing(), 2);
    assert!(
        t.gap_summary().to_string().starts_with("1 gap(s), 2 missing point(s) = 2m"),
        "{}",
        t.gap_summary()
    );
}

#[test]
fn bad_number_names_file_and_line() {
    let text = "minute,count\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,lots\n";
    let err = Trace::from_csv(text, "x.csv", &spec("UTC")).unwrap_err();
    assert_eq!(err.to_string(), "x.csv: line 3: value \"lots\" is not a non-negative number");
    let text = "minute,count\n2024-01-01 00:00:00,-4\n2024-01-01 00:01:00,1\n";
    assert!(matches!(
        Trace::from_csv(text, "x.csv", &spec("UTC")),
        Err(TraceError::BadNumber { line: 2, .. })
    ));
}

#[test]
fn unparseable_time_names_file_and_line() {
    let text = "minute,count\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,1\nyesterday,1\n";
    let err = Trace::from_csv(text, "x.csv", &spec("UTC")).unwrap_err();
    assert!(err.to_string().starts_with("x.csv: line 4: cannot read time \"yesterday\""), "{err}");
}

#[test]
fn non_monotonic_timestamps_are_an_error() {
    let text = "minute,count\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,1\n2024-01-01 00:02:00,1\n\
                2024-01-01 00:01:00,1\n";
    let err = Trace::from_csv(text, "x.csv", &spec("UTC")).unwrap_err();
    assert!(matches!(err, TraceError::NotIncreasing { line: 5, .. }), "{err}");
    assert!(err.to_string().contains("line 5"), "{err}");
}

#[test]
fn off_grid_time_is_an_error() {
    let text = "minute,count\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,1\n2024-01-01 00:02:00,1\n\
                2024-01-01 00:02:30,1\n";
    let err = Trace::from_csv(text, "x.csv", &spec("UTC")).unwrap_err();
    assert!(matches!(err, TraceError::OffGrid { line: 5, offset: 30, interval: 60, .. }), "{err}");
}

#[test]
fn missing_column_lists_the_header() {
    let err = Trace::from_csv("a,b\n1,2\n", "x.csv", &spec("UTC")).unwrap_err();
    assert_eq!(err.to_string(), "x.csv: no column \"minute\" in the header (columns: a,b)");
}

#[test]
fn wrong_field_count_names_the_line() {
    let text = "minute,count\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,1,7\n";
    let err = Trace::from_csv(text, "x.csv", &spec("UTC")).unwrap_err();
    assert!(matches!(err, TraceError::Csv { line: 3, .. }), "{err}");
}

#[test]
fn a_repeated_wall_time_at_dst_end_shows_up_as_a_gap_not_a_silent_duplicate() {
    // New York, 2014-11-02: 01:30 happens twice; civil samples every 30 min skip one instant.
    let text = "minute,count\n2014-11-02 00:30:00,1800\n2014-11-02 01:00:00,1800\n\
                2014-11-02 01:30:00,1800\n2014-11-02 02:00:00,1800\n2014-11-02 02:30:00,1800\n";
    let t = Trace::from_csv(text, "taxi.csv", &spec("America/New_York")).unwrap();
    assert_eq!(t.interval, 1800);
    assert_eq!(t.missing(), 2, "01:30 EDT → 02:00 EST is 90 minutes");
    assert_eq!(t.gaps[0].line, 5);
}

#[test]
fn slice_keeps_grid_and_gaps_inside() {
    let text = "minute,count\n2024-01-01 00:00:00,60\n2024-01-01 00:01:00,60\n\
                2024-01-01 00:03:00,60\n2024-01-01 00:04:00,60\n";
    let t = Trace::from_csv(text, "t.csv", &spec("UTC")).unwrap();
    let s = t.slice(1, 4);
    assert_eq!(s.rate.len(), 3);
    assert_eq!(s.gaps.len(), 1);
    assert_eq!(t.slice(3, 5).gaps.len(), 0);
}

#[test]
fn human_durations() {
    assert_eq!(human_duration(90_061), "1d 1h 1m 1s");
    assert_eq!(human_duration(0), "0s");
    assert_eq!(human_duration(7200), "2h");
}

fn prom(values: &str) -> String {
    format!(
        r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{values}]}}]}}}}"#
    )
}

#[test]
fn reads_prometheus_range_answers_across_chunks_with_gaps() {
    // Two chunks sharing their boundary step; 1700000120 is missing.
    let a = prom(r#"[1700000000,"1.5"],[1700000060,"2"]"#);
    let b = prom(r#"[1700000060,"2"],[1700000180,"4"]"#);
    let t = Trace::from_prometheus(&[a, b], "prom", 10.0).unwrap();
    assert_eq!(t.interval, 60);
    assert_eq!(t.rate.len(), 4);
    assert_eq!((t.rate[0], t.rate[1], t.rate[3]), (15.0, 20.0, 40.0));
    assert!(t.rate[2].is_nan());
    assert_eq!(t.missing(), 1);
}

#[test]
fn prometheus_errors_are_reported() {
    let err = Trace::from_prometheus(
        &[r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#.to_owned()],
        "prom",
        1.0,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "prom: query failed: bad_data parse error at char 3");
    let two = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"1"},"values":[]},{"metric":{"a":"2"},"values":[]}]}}"#;
    let err = Trace::from_prometheus(&[two.to_owned()], "prom", 1.0).unwrap_err();
    assert!(err.to_string().contains("returns 2 series"), "{err}");
    let err =
        Trace::from_prometheus(&[prom(r#"[1700000000,"NaN"],[1700000060,"1"]"#)], "prom", 1.0).unwrap_err();
    assert!(matches!(err, TraceError::BadNumber { line: 1, .. }), "{err}");
}
