use super::parse::{MONTHS, WEEKDAYS, build_cron};
use super::*;
use crate::resolve_zone;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn zone(name: &str) -> TimeZone {
    resolve_zone(name).unwrap()
}

const ORIGIN: Timestamp = Timestamp::UNIX_EPOCH;

/// The first `n` fires after `after`, as RFC 3339 UTC strings.
fn fires(expr: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
    let schedule = Schedule::parse(expr).unwrap();
    let zone = zone(tz);
    let mut at = ts(after);
    let mut out = Vec::new();
    for _ in 0..n {
        let Some(next) = schedule.next_after(at, &zone, ORIGIN) else { break };
        assert!(next > at, "{expr}: {next} not after {at}");
        out.push(next.to_string());
        at = next;
    }
    out
}

fn err(expr: &str) -> String {
    Schedule::parse(expr).unwrap_err().to_string()
}

#[test]
fn dialects() {
    assert_eq!(Schedule::parse("0 0 9 * * *").unwrap().dialect(), Dialect::Seconds);
    assert_eq!(Schedule::parse("0 9 * * *").unwrap().dialect(), Dialect::Standard);
    assert_eq!(Schedule::parse("@daily").unwrap().dialect(), Dialect::Descriptor);
    assert_eq!(Schedule::parse("@every 90s").unwrap().dialect(), Dialect::Every);
    assert_eq!(Schedule::parse("@date 2026-11-16 23:59:00").unwrap().dialect(), Dialect::Date);
    assert_eq!(Schedule::parse("  0 9 * * *  ").unwrap().source(), "  0 9 * * *  ");
}

#[test]
fn six_fields_read_seconds_first() {
    assert_eq!(
        fires("30 */1 * * * *", "UTC", "2026-01-15T00:00:00Z", 3),
        ["2026-01-15T00:00:30Z", "2026-01-15T00:01:30Z", "2026-01-15T00:02:30Z"]
    );
    assert_eq!(
        fires("0 0 9 * * *", "Asia/Shanghai", "2026-01-15T00:00:00Z", 2),
        ["2026-01-15T01:00:00Z", "2026-01-16T01:00:00Z"]
    );
}

#[test]
fn five_fields_read_as_standard_cron() {
    assert_eq!(
        fires("0 8 * * *", "UTC", "2026-01-15T00:00:00Z", 2),
        ["2026-01-15T08:00:00Z", "2026-01-16T08:00:00Z"]
    );
    assert_eq!(
        fires("*/15 9-10 * * MON-FRI", "UTC", "2026-01-16T10:40:00Z", 3),
        ["2026-01-16T10:45:00Z", "2026-01-19T09:00:00Z", "2026-01-19T09:15:00Z"]
    );
}

#[test]
fn names_and_question_marks() {
    assert_eq!(
        fires("0 0 12 ? JAN,jul sun", "UTC", "2026-01-01T00:00:00Z", 2),
        ["2026-01-04T12:00:00Z", "2026-01-11T12:00:00Z"]
    );
    // A range ending in Sunday: Friday to Sunday.
    assert_eq!(
        fires("0 0 0 * * FRI-SUN", "UTC", "2026-01-05T00:00:00Z", 3),
        ["2026-01-09T00:00:00Z", "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z"]
    );
    // 7 is Sunday too.
    assert_eq!(fires("0 0 0 * * 7", "UTC", "2026-01-05T00:00:00Z", 1), ["2026-01-11T00:00:00Z"]);
    // robfig/cron's `N/step`: N to the end of the range.
    assert_eq!(
        fires("0 40/10 * * * *", "UTC", "2026-01-05T00:00:00Z", 3),
        ["2026-01-05T00:40:00Z", "2026-01-05T00:50:00Z", "2026-01-05T01:40:00Z"]
    );
}

#[test]
fn descriptors() {
    let after = "2026-05-13T10:20:30Z";
    assert_eq!(fires("@yearly", "UTC", after, 1), ["2027-01-01T00:00:00Z"]);
    assert_eq!(fires("@annually", "UTC", after, 1), ["2027-01-01T00:00:00Z"]);
    assert_eq!(fires("@monthly", "UTC", after, 1), ["2026-06-01T00:00:00Z"]);
    assert_eq!(fires("@weekly", "UTC", after, 1), ["2026-05-17T00:00:00Z"]);
    assert_eq!(fires("@daily", "UTC", after, 1), ["2026-05-14T00:00:00Z"]);
    assert_eq!(fires("@midnight", "UTC", after, 1), ["2026-05-14T00:00:00Z"]);
    assert_eq!(fires("@hourly", "UTC", after, 1), ["2026-05-13T11:00:00Z"]);
    assert_eq!(fires("@DAILY", "Europe/Berlin", after, 1), ["2026-05-13T22:00:00Z"]);
    assert!(err("@daily 5").contains("`@daily` takes no argument, found `5`"));
    assert!(err("@fortnightly").contains("unknown descriptor `@fortnightly`"));
}

#[test]
fn last_day_nearest_weekday_and_nth_weekday() {
    // L in February, common and leap years.
    assert_eq!(
        fires("0 0 18 L * *", "UTC", "2026-02-01T00:00:00Z", 2),
        ["2026-02-28T18:00:00Z", "2026-03-31T18:00:00Z"]
    );
    assert_eq!(fires("0 0 18 L 2 *", "UTC", "2027-03-01T00:00:00Z", 1), ["2028-02-29T18:00:00Z"]);
    // First Monday of the month.
    assert_eq!(
        fires("0 0 9 * * MON#1", "UTC", "2026-01-01T00:00:00Z", 3),
        ["2026-01-05T09:00:00Z", "2026-02-02T09:00:00Z", "2026-03-02T09:00:00Z"]
    );
    // Last Friday.
    assert_eq!(fires("0 0 9 * * 5L", "UTC", "2026-01-01T00:00:00Z", 1), ["2026-01-30T09:00:00Z"]);
    assert_eq!(fires("0 0 9 * * FRIL", "UTC", "2026-01-01T00:00:00Z", 1), ["2026-01-30T09:00:00Z"]);
    // 2026-11-15 is a Sunday: the nearest weekday is Monday the 16th.
    assert_eq!(fires("0 0 0 15W 11 *", "UTC", "2026-11-01T00:00:00Z", 1), ["2026-11-16T00:00:00Z"]);
    // Last weekday: 2026-05-31 is a Sunday.
    assert_eq!(fires("0 0 0 LW 5 *", "UTC", "2026-05-01T00:00:00Z", 1), ["2026-05-29T00:00:00Z"]);
}

#[test]
fn day_of_month_or_day_of_week() {
    // Both restricted: the 1st, or any Monday (vixie cron).
    assert_eq!(
        fires("0 0 0 1 * MON", "UTC", "2026-05-27T00:00:00Z", 3),
        ["2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z"]
    );
    assert_eq!(
        fires("0 0 0 13 * FRI", "UTC", "2026-02-10T00:00:00Z", 3),
        ["2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z"]
    );
}

#[test]
fn leap_day_fires_only_in_leap_years() {
    assert_eq!(
        fires("0 0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 3),
        ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"]
    );
    // 2100 is not a leap year.
    assert_eq!(fires("0 0 0 29 2 *", "UTC", "2097-01-01T00:00:00Z", 1), ["2104-02-29T00:00:00Z"]);
}

#[test]
fn year_end() {
    assert_eq!(
        fires("0 0 0 1 1 *", "UTC", "2026-12-31T23:59:59Z", 2),
        ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]
    );
    assert_eq!(
        fires("59 59 23 31 12 *", "UTC", "2026-12-31T23:59:58Z", 2),
        ["2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z"]
    );
    assert_eq!(
        fires("*/20 * * * * *", "Asia/Tokyo", "2026-12-31T14:59:30Z", 3),
        ["2026-12-31T14:59:40Z", "2026-12-31T15:00:00Z", "2026-12-31T15:00:20Z"]
    );
}

#[test]
fn next_after_is_strictly_after_even_on_a_fire() {
    let schedule = Schedule::parse("0 0 9 * * *").unwrap();
    let at = ts("2026-01-15T09:00:00Z");
    assert_eq!(schedule.next_after(at, &TimeZone::UTC, ORIGIN), Some(ts("2026-01-16T09:00:00Z")));
    let just_before = ts("2026-01-15T08:59:59.999Z");
    assert_eq!(schedule.next_after(just_before, &TimeZone::UTC, ORIGIN), Some(at));
    let just_after = ts("2026-01-15T09:00:00.001Z");
    assert_eq!(schedule.next_after(just_after, &TimeZone::UTC, ORIGIN), Some(ts("2026-01-16T09:00:00Z")));
}

#[test]
fn every_is_phased_from_the_origin() {
    let s = Schedule::parse("@every 90s").unwrap();
    let origin = ts("2026-01-15T10:00:07Z");
    let z = TimeZone::UTC;
    // The first fire is one period after the origin, also when asked from before it.
    assert_eq!(s.next_after(ts("2026-01-01T00:00:00Z"), &z, origin), Some(ts("2026-01-15T10:01:37Z")));
    assert_eq!(s.next_after(origin, &z, origin), Some(ts("2026-01-15T10:01:37Z")));
    assert_eq!(s.next_after(ts("2026-01-15T10:01:37Z"), &z, origin), Some(ts("2026-01-15T10:03:07Z")));
    // A restart at any moment finds the same phase.
    assert_eq!(s.next_after(ts("2026-01-15T12:00:00Z"), &z, origin), Some(ts("2026-01-15T12:00:07Z")));
    assert_eq!(s.prev_at_or_before(ts("2026-01-15T12:00:00Z"), &z, origin), Some(ts("2026-01-15T11:58:37Z")));
    assert_eq!(s.prev_at_or_before(ts("2026-01-15T10:01:36Z"), &z, origin), None);
    assert_eq!(s.prev_at_or_before(ts("2026-01-15T10:01:37Z"), &z, origin), Some(ts("2026-01-15T10:01:37Z")));

    let s = Schedule::parse("@every 1h30m").unwrap();
    assert_eq!(s.every(), Some(SignedDuration::from_mins(90)));
    assert_eq!(Schedule::parse("@every 1.5h").unwrap().every(), Some(SignedDuration::from_mins(90)));
    assert_eq!(Schedule::parse("@every 2h45m10s").unwrap().every(), Some(SignedDuration::from_secs(9910)));
    assert_eq!(Schedule::parse("@every 1500ms500ms").unwrap().every(), Some(SignedDuration::from_secs(2)));
}

#[test]
fn every_rejects_bad_durations() {
    assert!(err("@every").contains("missing duration"), "{}", err("@every"));
    assert!(err("@every 0s").contains("more than zero"));
    assert!(err("@every 0").contains("more than zero"));
    assert!(err("@every -5m").contains("positive"));
    assert!(err("@every 1.5s").contains("whole number of seconds"));
    assert!(err("@every 10").contains("`10` needs a unit"));
    assert!(err("@every 10d").contains("unknown unit `d`"));
    assert!(err("@every 1h 30m").contains("one word"));
    assert!(err("@every 99999999999999999999h").contains("too large"));
}

#[test]
fn date_is_a_one_shot_whose_year_counts() {
    let s = Schedule::parse("@date 2026-11-16 23:59:00").unwrap();
    let shanghai = zone("Asia/Shanghai");
    let at = ts("2026-11-16T15:59:00Z");
    assert_eq!(s.next_after(ts("2026-01-01T00:00:00Z"), &shanghai, ORIGIN), Some(at));
    assert_eq!(s.next_after(at, &shanghai, ORIGIN), None);
    assert_eq!(s.next_after(ts("2027-11-01T00:00:00Z"), &shanghai, ORIGIN), None);
    assert_eq!(s.prev_at_or_before(at, &shanghai, ORIGIN), Some(at));
    assert_eq!(s.prev_at_or_before(ts("2026-11-16T15:58:59Z"), &shanghai, ORIGIN), None);
}

#[test]
fn date_in_a_gap_or_a_fold() {
    let ny = zone("America/New_York");
    // 02:30 does not exist on 2026-03-08: the first instant after the gap, 03:00 EDT.
    let gap = Schedule::parse("@date 2026-03-08 02:30:00").unwrap();
    assert_eq!(gap.next_after(ts("2026-03-01T00:00:00Z"), &ny, ORIGIN), Some(ts("2026-03-08T07:00:00Z")));
    // 01:30 happens twice on 2026-11-01: the first, 01:30 EDT.
    let fold = Schedule::parse("@date 2026-11-01 01:30:00").unwrap();
    assert_eq!(fold.next_after(ts("2026-10-01T00:00:00Z"), &ny, ORIGIN), Some(ts("2026-11-01T05:30:00Z")));
    assert_eq!(fold.next_after(ts("2026-11-01T05:30:00Z"), &ny, ORIGIN), None);
}

#[test]
fn date_rejects_bad_values() {
    assert!(err("@date 2026-11-16").contains("expected `YYYY-MM-DD HH:MM:SS`"));
    assert!(
        err("@date 2026-02-30 10:00:00").contains("does not exist"),
        "{}",
        err("@date 2026-02-30 10:00:00")
    );
    assert!(err("@date 2026-13-01 10:00:00").contains("month 13"));
    assert!(err("@date 2026-11-16 24:00:00").contains("hour 24"));
    assert!(err("@date 2026-11-16 23:60:00").contains("minute 60"));
    assert!(err("@date 26-11-16 23:00:00").contains("year `26`"));
    assert!(err("@date 2026-11-16 9:00:00").contains("hour `9`"));
}

// --- DST -----------------------------------------------------------------------------------
// America/New_York 2026: 02:00 EST -> 03:00 EDT on 03-08 (07:00Z); 02:00 EDT -> 01:00 EST on
// 11-01 (06:00Z). Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on 03-29 (01:00Z); 03:00 CEST ->
// 02:00 CET on 10-25 (01:00Z).

#[test]
fn new_york_fixed_time_in_the_spring_gap_fires_once_after_it() {
    assert_eq!(
        fires("0 30 2 * * *", "America/New_York", "2026-03-07T00:00:00Z", 3),
        ["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]
    );
    // Two skipped wall times (a list is fixed-time): one fire at 03:00 EDT.
    assert_eq!(
        fires("0 0,30 2 * * *", "America/New_York", "2026-03-08T06:00:00Z", 3),
        ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:30:00Z"]
    );
    // A range covering the gap and the hour after it: 02:00 and 03:00 both land on 07:00Z.
    assert_eq!(
        fires("0 0 2-3 * * *", "America/New_York", "2026-03-08T06:00:00Z", 2),
        ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"]
    );
}

#[test]
fn new_york_fixed_time_in_the_autumn_fold_fires_once_at_the_first() {
    assert_eq!(
        fires("0 30 1 * * *", "America/New_York", "2026-10-31T00:00:00Z", 3),
        ["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    );
    // Asked from inside the second pass, the next fire is tomorrow's.
    assert_eq!(
        fires("0 30 1 * * *", "America/New_York", "2026-11-01T06:10:00Z", 1),
        ["2026-11-02T06:30:00Z"]
    );
    assert_eq!(
        fires("0 0,45 1 * * *", "America/New_York", "2026-11-01T05:10:00Z", 2),
        ["2026-11-01T05:45:00Z", "2026-11-02T06:00:00Z"]
    );
}

#[test]
fn new_york_interval_jobs_follow_real_time() {
    // Through the fold: both passes of 01:00-01:59.
    assert_eq!(
        fires("0 */30 * * * *", "America/New_York", "2026-11-01T04:45:00Z", 5),
        [
            "2026-11-01T05:00:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-01T07:00:00Z"
        ]
    );
    // Through the gap: 02:00 and 02:30 do not happen.
    assert_eq!(
        fires("0 */30 * * * *", "America/New_York", "2026-03-08T06:15:00Z", 3),
        ["2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"]
    );
    assert_eq!(
        fires("@hourly", "America/New_York", "2026-11-01T04:30:00Z", 3),
        ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]
    );
}

#[test]
fn berlin_transitions() {
    assert_eq!(
        fires("0 30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z", 3),
        ["2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]
    );
    assert_eq!(
        fires("0 30 2 * * *", "Europe/Berlin", "2026-10-24T00:00:00Z", 3),
        ["2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
    assert_eq!(
        fires("0 0/20 2 * * *", "Europe/Berlin", "2026-10-24T23:00:00Z", 7),
        [
            "2026-10-25T00:00:00Z",
            "2026-10-25T00:20:00Z",
            "2026-10-25T00:40:00Z",
            "2026-10-25T01:00:00Z",
            "2026-10-25T01:20:00Z",
            "2026-10-25T01:40:00Z",
            "2026-10-26T01:00:00Z"
        ]
    );
    // Interval job with only gap wall times that day: skipped to the next day.
    assert_eq!(fires("0 */20 2 * * *", "Europe/Berlin", "2026-03-28T23:00:00Z", 1), ["2026-03-30T00:00:00Z"]);
}

#[test]
fn lord_howe_half_hour_changes() {
    // Australia/Lord_Howe moves by 30 minutes: 02:00 +11:00 -> 01:30 +10:30 on 2026-04-05, and
    // 02:00 +10:30 -> 02:30 +11:00 on 2026-10-04.
    assert_eq!(
        fires("0 45 1 * * *", "Australia/Lord_Howe", "2026-04-03T00:00:00Z", 3),
        ["2026-04-03T14:45:00Z", "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"]
    );
    assert_eq!(
        fires("0 15 2 * * *", "Australia/Lord_Howe", "2026-10-02T00:00:00Z", 3),
        ["2026-10-02T15:45:00Z", "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]
    );
    assert_eq!(
        // 01:40 happens in both passes (14:40Z at +11:00, 15:10Z at +10:30); 01:00 and 01:20 once.
        fires("0 */20 1 * * *", "Australia/Lord_Howe", "2026-04-04T14:30:00Z", 5),
        [
            "2026-04-04T14:40:00Z",
            "2026-04-04T15:10:00Z",
            "2026-04-05T14:30:00Z",
            "2026-04-05T14:50:00Z",
            "2026-04-05T15:10:00Z"
        ]
    );
}

#[test]
fn prev_of_fixed_time_in_a_fold_is_the_first_pass() {
    let s = Schedule::parse("0 30 1 * * *").unwrap();
    let ny = zone("America/New_York");
    // From the second pass (01:40 EST), the last fire is the first pass's 01:30 EDT.
    assert_eq!(
        s.prev_at_or_before(ts("2026-11-01T06:40:00Z"), &ny, ORIGIN),
        Some(ts("2026-11-01T05:30:00Z"))
    );
    assert_eq!(
        s.prev_at_or_before(ts("2026-11-01T06:20:00Z"), &ny, ORIGIN),
        Some(ts("2026-11-01T05:30:00Z"))
    );
    assert_eq!(
        s.prev_at_or_before(ts("2026-11-01T05:29:59Z"), &ny, ORIGIN),
        Some(ts("2026-10-31T05:30:00Z"))
    );
    // An interval job sees both passes.
    let s = Schedule::parse("0 */30 * * * *").unwrap();
    assert_eq!(
        s.prev_at_or_before(ts("2026-11-01T06:10:00Z"), &ny, ORIGIN),
        Some(ts("2026-11-01T06:00:00Z"))
    );
    assert_eq!(
        s.prev_at_or_before(ts("2026-11-01T05:59:59Z"), &ny, ORIGIN),
        Some(ts("2026-11-01T05:30:00Z"))
    );
}

#[test]
fn fires_on_a_day_follows_the_fire_rules() {
    let ny = zone("America/New_York");
    let day = jiff::civil::date(2026, 3, 8);
    // 02:30 is skipped on 2026-03-08, but the fixed-time job fires at 03:00 that day.
    assert!(Schedule::parse("0 30 2 * * *").unwrap().fires_on(day, &ny, ORIGIN));
    // An interval job confined to the skipped hour does not fire that day.
    assert!(!Schedule::parse("0 */10 2 * * *").unwrap().fires_on(day, &ny, ORIGIN));
    assert!(Schedule::parse("0 */10 2 * * *").unwrap().fires_on(day.tomorrow().unwrap(), &ny, ORIGIN));
}

#[test]
fn prev_mirrors_next_through_transitions() {
    for (expr, tz, from) in [
        ("0 */30 * * * *", "America/New_York", "2026-11-01T04:00:00Z"),
        ("0 30 1 * * *", "America/New_York", "2026-10-30T00:00:00Z"),
        ("0 0,30 2 * * *", "America/New_York", "2026-03-07T00:00:00Z"),
        ("0 */20 2 * * *", "Europe/Berlin", "2026-10-24T00:00:00Z"),
        ("*/10 * * * * *", "Europe/Berlin", "2026-10-25T00:58:00Z"),
        ("@hourly", "Europe/Berlin", "2026-03-28T20:00:00Z"),
    ] {
        let schedule = Schedule::parse(expr).unwrap();
        let z = zone(tz);
        let mut at = ts(from);
        for _ in 0..40 {
            let next = schedule.next_after(at, &z, ORIGIN).unwrap();
            assert_eq!(schedule.prev_at_or_before(next, &z, ORIGIN), Some(next), "{expr} at {next}");
            let before = next.checked_sub(SignedDuration::from_nanos(1)).unwrap();
            let prev = schedule.prev_at_or_before(before, &z, ORIGIN);
            assert!(prev.is_none_or(|p| p <= at), "{expr}: {prev:?} between {at} and {next}");
            at = next;
        }
    }
}

// --- errors --------------------------------------------------------------------------------

#[test]
fn errors_name_the_field_and_the_value() {
    assert_eq!(err("0 0 25 * * *"), "field 3 (hour) `25`: value out of range 0-23");
    assert_eq!(err("0 25 * * *"), "field 2 (hour) `25`: value out of range 0-23");
    assert_eq!(err("0 0 1,25 * * *"), "field 3 (hour) `1,25`: value 25 out of range 0-23");
    assert_eq!(err("0 0 0 0 * *"), "field 4 (day-of-month) `0`: value out of range 1-31");
    assert!(err("0 0 0 * FOO *").starts_with("field 5 (month) `FOO`: unknown month name `FOO`"));
    assert!(err("0 0 0 * MON *").starts_with("field 5 (month) `MON`: unknown month name"));
    assert!(err("0 0 0 * * JAN").starts_with("field 6 (day-of-week) `JAN`: unknown weekday name"));
    assert!(err("0 0 0 * * 8").starts_with("field 6 (day-of-week) `8`: value out of range 0-7"));
    assert!(err("0 */0 * * * *").contains("step in `*/0` must be at least 1"));
    assert!(err("0 5-2 * * * *").contains("range `5-2` runs backwards"));
    assert!(err("0 1,,2 * * * *").contains("empty list item"));
    assert!(err("0 /5 * * * *").contains("write `*/5`"));
    assert!(err("0 0 0 * * +1").contains("unexpected character `+`"));
    assert!(err("0 0 0 * * MON#6").contains("occurrence #6 out of range 1-5"));
    assert!(err("0 0 0 L-2 * *").starts_with("field 4 (day-of-month)"), "{}", err("0 0 0 L-2 * *"));
    assert!(err("0 0 ? * * *").contains("unexpected character `?`"));
    assert!(err("0 0 0 * * L").contains("needs a weekday"));
}

#[test]
fn errors_name_the_field_count() {
    assert_eq!(Schedule::parse("").unwrap_err(), ScheduleError::Empty);
    assert_eq!(Schedule::parse("   ").unwrap_err(), ScheduleError::Empty);
    assert!(err("* * * *").contains("found 4"));
    assert!(err("0 0 0 * * * 2026").contains("found 7"));
    assert!(err("* * * *").contains("expected 5 fields (`min hour dom month dow`) or 6 fields"));
}

#[test]
fn never_firing_day_is_an_error() {
    assert_eq!(err("0 0 0 30 2 *"), "`0 0 0 30 2 *` never fires: day 30 does not exist in FEB");
    assert!(err("0 0 31 4,6 *").contains("never fires"));
    assert_eq!(err("0 0 0 30-31 2 *"), "`0 0 0 30-31 2 *` never fires: day 30-31 does not exist in FEB");
    assert!(err("0 0 0 30/1 FEB ?").contains("never fires"));
    // With a weekday it fires on the weekdays (either matches).
    assert!(Schedule::parse("0 0 0 30 2 MON").is_ok());
    assert!(Schedule::parse("0 0 0 29 2 *").is_ok());
    assert!(Schedule::parse("0 0 0 31 1-12 *").is_ok());
}

// --- legacy reading -------------------------------------------------------------------------

#[test]
fn legacy_reading_explains_five_fields() {
    let note = Schedule::parse("0 8 * * *").unwrap().legacy_reading().unwrap();
    assert_eq!(
        note,
        "kubernetes-cronhpa-controller reads five fields as `sec min hour dom month`, so it would \
         fire `0 8 * * *` every hour at minute 8 (second 0); diurnal reads standard cron \
         (`min hour dom month dow`) and fires it at 08:00:00 every day. Write six fields to say \
         which you mean: `0 0 8 * * *` for diurnal's reading, `0 8 * * * *` for the old one"
    );
    let note = Schedule::parse("30 8 * * 1-5").unwrap().legacy_reading().unwrap();
    assert!(note.contains("every hour at minute 8 (second 30) in month `1-5`"), "{note}");
    assert!(note.contains("at 08:30:00 on day-of-week `1-5`"), "{note}");
    let note = Schedule::parse("*/5 * * * *").unwrap().legacy_reading().unwrap();
    assert!(note.contains("would fire `*/5 * * * *` every minute at seconds `*/5`;"), "{note}");
    assert!(note.contains("fires it every hour at minutes `*/5` (second 0)."), "{note}");
    let note = Schedule::parse("0 9 * * MON").unwrap().legacy_reading().unwrap();
    assert!(note.contains("so it would reject `0 9 * * MON`"), "{note}");
    assert!(note.ends_with("Write `0 0 9 * * MON` to make diurnal's reading explicit"), "{note}");
    assert_eq!(Schedule::parse("0 0 8 * * *").unwrap().legacy_reading(), None);
    assert_eq!(Schedule::parse("@daily").unwrap().legacy_reading(), None);
    assert_eq!(Schedule::parse("@every 1m").unwrap().legacy_reading(), None);
}

// --- properties -----------------------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    const ZONES: [&str; 8] = [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Asia/Shanghai",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
        "Asia/Kolkata",
        "Pacific/Chatham",
    ];

    fn numeric(min: u32, max: u32) -> impl Strategy<Value = String> {
        let span = max - min;
        prop_oneof![
            3 => Just("*".to_owned()),
            2 => (1..=span.max(1)).prop_map(|k| format!("*/{k}")),
            4 => (min..=max).prop_map(|a| a.to_string()),
            2 => (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
            2 => (min..=max, min..=max).prop_map(|(a, b)| format!("{a},{b}")),
            1 => (min..=max, min..=max, 1..=span.max(1))
                .prop_map(|(a, b, k)| format!("{}-{}/{k}", a.min(b), a.max(b))),
            1 => (min..=max, 1..=span.max(1)).prop_map(|(a, k)| format!("{a}/{k}")),
        ]
    }

    fn dom() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => numeric(1, 31),
            1 => Just("?".to_owned()),
            1 => Just("L".to_owned()),
            1 => Just("LW".to_owned()),
            1 => (1u32..=31).prop_map(|d| format!("{d}W")),
        ]
    }

    fn month() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => numeric(1, 12),
            1 => (0usize..12).prop_map(|m| MONTHS[m].to_owned()),
            1 => (0usize..6).prop_map(|m| format!("{}-{}", MONTHS[m], MONTHS[m + 6])),
        ]
    }

    fn dow() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => numeric(0, 7),
            1 => Just("?".to_owned()),
            1 => (0usize..7).prop_map(|d| WEEKDAYS[d].to_owned()),
            1 => Just("MON-FRI".to_owned()),
            1 => (0u32..7).prop_map(|d| format!("{d}L")),
            1 => (0u32..7, 1u32..=5).prop_map(|(d, k)| format!("{d}#{k}")),
        ]
    }

    /// Valid five- and six-field expressions (a few never fire and are rejected as such).
    fn expression() -> impl Strategy<Value = String> {
        (numeric(0, 59), numeric(0, 59), numeric(0, 23), dom(), month(), dow(), any::<bool>()).prop_map(
            |(s, m, h, dom, month, dow, five)| {
                if five {
                    format!("{m} {h} {dom} {month} {dow}")
                } else {
                    format!("{s} {m} {h} {dom} {month} {dow}")
                }
            },
        )
    }

    fn instant() -> impl Strategy<Value = Timestamp> {
        // 1990 to 2060, with sub-second parts now and then.
        (631_152_000i64..2_871_763_200, prop_oneof![3 => Just(0i32), 1 => 0i32..1_000_000_000])
            .prop_map(|(s, ns)| Timestamp::new(s, ns).unwrap())
    }

    fn parse_valid(expr: &str) -> Option<Schedule> {
        match Schedule::parse(expr) {
            Ok(s) => Some(s),
            Err(ScheduleError::NeverFires { .. }) => None,
            Err(e) => panic!("`{expr}` should parse: {e}"),
        }
    }

    /// croner's own parse of the schedule's fields: the oracle for the per-day search.
    fn croner_oracle(schedule: &Schedule) -> croner::Cron {
        match &schedule.kind {
            Kind::Cron { fields, .. } => build_cron(schedule.source(), &split6(fields)).unwrap(),
            _ => unreachable!(),
        }
    }

    fn search(schedule: &Schedule) -> &Search {
        match &schedule.kind {
            Kind::Cron { search, .. } => search,
            _ => unreachable!(),
        }
    }

    /// A fire is right when its wall time matches; for a fixed-time job it may instead be the
    /// moment a spring-forward change skipped a matching wall time.
    fn check_fire(schedule: &Schedule, zone: &TimeZone, fire: Timestamp) -> Result<(), TestCaseError> {
        let wall = zone.to_datetime(fire);
        if schedule.matches_wall(wall) {
            if !schedule.is_interval() {
                // Fixed-time jobs never fire in the second pass of a repeated hour.
                prop_assert_eq!(first_instant(zone, wall), Some(fire), "{} fired in a second pass", fire);
            }
            return Ok(());
        }
        prop_assert!(!schedule.is_interval(), "{} does not match `{}`", wall, schedule.source());
        let change = zone.preceding(fire.checked_add(SignedDuration::from_nanos(1)).unwrap()).next();
        prop_assert!(change.is_some_and(|c| c.timestamp() == fire), "{} is not a DST change", fire);
        // The skipped range starts at `fire` read with the offset before the change.
        let before = zone.to_offset(fire.checked_sub(SignedDuration::from_secs(1)).unwrap());
        let gap_start = before.to_datetime(fire);
        let skipped = search(schedule).next_wall(gap_start, true);
        prop_assert!(skipped.is_some_and(|w| w < wall), "nothing skipped before {}", fire);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn fires_match_and_strictly_increase(expr in expression(), z in 0..ZONES.len(), after in instant()) {
            let Some(schedule) = parse_valid(&expr) else { return Ok(()) };
            let zone = zone(ZONES[z]);
            let mut at = after;
            for _ in 0..4 {
                let Some(next) = schedule.next_after(at, &zone, ORIGIN) else { break };
                prop_assert!(next > at, "`{}`: {} not after {}", expr, next, at);
                check_fire(&schedule, &zone, next)?;
                at = next;
            }
        }

        #[test]
        fn next_and_prev_agree(expr in expression(), z in 0..ZONES.len(), at in instant()) {
            let Some(schedule) = parse_valid(&expr) else { return Ok(()) };
            let zone = zone(ZONES[z]);
            let next = schedule.next_after(at, &zone, ORIGIN);
            let prev = schedule.prev_at_or_before(at, &zone, ORIGIN);
            if let Some(p) = prev {
                prop_assert!(p <= at);
                check_fire(&schedule, &zone, p)?;
                prop_assert_eq!(schedule.next_after(p, &zone, ORIGIN), next, "`{}` from {}", expr, p);
            }
            if let Some(n) = next {
                prop_assert_eq!(schedule.prev_at_or_before(n, &zone, ORIGIN), Some(n));
                let just_before = n.checked_sub(SignedDuration::from_nanos(1)).unwrap();
                if just_before >= at {
                    prop_assert_eq!(schedule.prev_at_or_before(just_before, &zone, ORIGIN), prev);
                }
            }
        }

        /// The per-day search finds what croner's own search finds, on the wall clock.
        #[test]
        fn search_agrees_with_croner(expr in expression(), at in instant(), inclusive in any::<bool>()) {
            let Some(schedule) = parse_valid(&expr) else { return Ok(()) };
            let search = search(&schedule);
            let oracle = croner_oracle(&schedule);
            let wall = TimeZone::UTC.to_datetime(at);
            let ours = search.next_wall(wall, inclusive);
            let theirs = oracle.find_next_occurrence(&wall, inclusive).ok();
            prop_assert_eq!(ours, theirs, "next `{}` from {}", expr, wall);
            let ours = search.prev_wall(wall, inclusive);
            let theirs = oracle.find_previous_occurrence(&wall, inclusive).ok();
            prop_assert_eq!(ours, theirs, "previous `{}` from {}", expr, wall);
        }

        /// Where croner classifies the job as diurnal does, its zoned search is an oracle.
        #[test]
        fn zoned_fires_agree_with_croner(expr in expression(), z in 0..ZONES.len(), after in instant()) {
            let Some(schedule) = parse_valid(&expr) else { return Ok(()) };
            let oracle = croner_oracle(&schedule);
            let croner_fixed = oracle.determine_job_type() == croner::JobType::FixedTime;
            if croner_fixed == schedule.is_interval() {
                // Lists and ranges: croner treats them as interval jobs, diurnal as fixed-time.
                return Ok(());
            }
            let zone = zone(ZONES[z]);
            let ours = schedule.next_after(after, &zone, ORIGIN);
            let theirs = oracle.find_next_occurrence(&after.to_zoned(zone.clone()), false).ok().map(|z| z.timestamp());
            prop_assert_eq!(ours, theirs, "`{}` after {}", expr, after);
        }

        #[test]
        fn parser_never_panics_on_arbitrary_text(text in any::<String>()) {
            if let Ok(s) = Schedule::parse(&text) {
                let _ = s.next_after(ts("2026-01-01T00:00:00Z"), &TimeZone::UTC, ORIGIN);
            }
        }

        #[test]
        fn parser_never_panics_on_cron_alphabet(text in "[0-9*,/?LW#@ A-Za-z.:-]{0,40}", at in instant()) {
            if let Ok(s) = Schedule::parse(&text) {
                let zone = zone("America/New_York");
                if let Some(n) = s.next_after(at, &zone, ORIGIN) {
                    prop_assert!(n > at);
                }
                if let Some(p) = s.prev_at_or_before(at, &zone, ORIGIN) {
                    prop_assert!(p <= at);
                }
                let _ = s.legacy_reading();
            }
        }

        #[test]
        fn extreme_instants_do_not_panic(expr in expression(), secs in any::<i64>()) {
            let Some(schedule) = parse_valid(&expr) else { return Ok(()) };
            let at = Timestamp::from_second(secs.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second())).unwrap();
            let _ = schedule.next_after(at, &zone("Europe/Berlin"), ORIGIN);
            let _ = schedule.prev_at_or_before(at, &zone("Europe/Berlin"), ORIGIN);
        }

        #[test]
        fn every_fires_on_its_phase(secs in 1i64..400_000, origin in instant(), after in instant()) {
            let schedule = Schedule::parse(&format!("@every {secs}s")).unwrap();
            let next = schedule.next_after(after, &TimeZone::UTC, origin).unwrap();
            prop_assert!(next > after && next > origin);
            let k = next.duration_since(origin).as_nanos() / i128::from(secs) / 1_000_000_000;
            prop_assert_eq!(origin + SignedDuration::from_secs(i64::try_from(k).unwrap() * secs), next);
            prop_assert!(next.duration_since(after) <= SignedDuration::from_secs(secs) || after < origin);
        }
    }
}

#[test]
fn fixed_time_and_interval_jobs() {
    for expr in ["0 30 2 * * *", "0 0,30 2 * * *", "0 0 9-17 * * MON-FRI", "30 8 * * *", "@daily", "@weekly"]
    {
        assert!(!Schedule::parse(expr).unwrap().is_interval(), "{expr}");
    }
    for expr in
        ["*/10 * * * * *", "0 */30 2 * * *", "0 0 * * * *", "*/5 * * * *", "0 0/15 * * * *", "@hourly"]
    {
        assert!(Schedule::parse(expr).unwrap().is_interval(), "{expr}");
    }
    assert!(Schedule::parse("@every 1m").unwrap().is_interval());
    assert!(!Schedule::parse("@date 2026-01-01 00:00:00").unwrap().is_interval());
}
