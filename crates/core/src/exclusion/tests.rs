use super::*;
use crate::resolve_zone;
use jiff::civil::date;

fn parse(entry: &str) -> ExcludeDate {
    ExcludeDate::parse(entry).unwrap()
}

fn err(entry: &str) -> String {
    ExcludeDate::parse(entry).unwrap_err().to_string()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn cron_entry_excludes_exactly_the_matching_day() {
    let nov15 = parse("* * * 15 11 *");
    let utc = TimeZone::UTC;
    assert!(nov15.excludes_day(date(2026, 11, 15), &utc));
    assert!(nov15.excludes_day(date(2027, 11, 15), &utc));
    // The old controller compared month and hour: these were wrongly excluded.
    assert!(!nov15.excludes_day(date(2026, 11, 3), &utc));
    assert!(!nov15.excludes_day(date(2026, 11, 14), &utc));
    assert!(!nov15.excludes_day(date(2026, 11, 16), &utc));
    assert!(!nov15.excludes_day(date(2026, 10, 15), &utc));
}

#[test]
fn regression_excluding_nov_15_keeps_nov_3_and_nov_14_at_midnight() {
    let exclusions = [parse("* * * 15 11 *")];
    let utc = TimeZone::UTC;
    assert!(!is_excluded(&exclusions, ts("2026-11-03T00:00:00Z"), &utc));
    assert!(!is_excluded(&exclusions, ts("2026-11-14T00:00:00Z"), &utc));
    assert!(!is_excluded(&exclusions, ts("2026-11-14T23:59:59Z"), &utc));
    assert!(is_excluded(&exclusions, ts("2026-11-15T00:00:00Z"), &utc));
    assert!(is_excluded(&exclusions, ts("2026-11-15T12:00:00Z"), &utc));
    assert!(is_excluded(&exclusions, ts("2026-11-15T23:59:59Z"), &utc));
    assert!(!is_excluded(&exclusions, ts("2026-11-16T00:00:00Z"), &utc));
}

#[test]
fn days_are_taken_in_the_objects_zone() {
    let exclusions = [parse("* * * 15 11 *")];
    let shanghai = resolve_zone("Asia/Shanghai").unwrap();
    // 2026-11-14T16:00Z is midnight of the 15th in Shanghai.
    assert!(is_excluded(&exclusions, ts("2026-11-14T16:00:00Z"), &shanghai));
    assert!(!is_excluded(&exclusions, ts("2026-11-14T15:59:59Z"), &shanghai));
    assert!(!is_excluded(&exclusions, ts("2026-11-15T16:00:00Z"), &shanghai));
}

#[test]
fn weekday_entry_excludes_fridays() {
    let fridays = parse("* * * * * 5");
    let utc = TimeZone::UTC;
    assert!(fridays.excludes_day(date(2026, 11, 20), &utc));
    assert!(!fridays.excludes_day(date(2026, 11, 19), &utc));
    assert!(!fridays.excludes_day(date(2026, 11, 21), &utc));
    let five_fields = parse("* * * * FRI");
    assert!(five_fields.excludes_day(date(2026, 11, 20), &utc));
    assert!(!five_fields.excludes_day(date(2026, 11, 21), &utc));
}

#[test]
fn dates_and_ranges() {
    let utc = TimeZone::UTC;
    let day = parse("2026-10-01");
    assert!(day.excludes_day(date(2026, 10, 1), &utc));
    assert!(!day.excludes_day(date(2026, 10, 2), &utc));
    let range = parse("2026-10-01..2026-10-07");
    assert!(!range.excludes_day(date(2026, 9, 30), &utc));
    assert!(range.excludes_day(date(2026, 10, 1), &utc));
    assert!(range.excludes_day(date(2026, 10, 4), &utc));
    assert!(range.excludes_day(date(2026, 10, 7), &utc));
    assert!(!range.excludes_day(date(2026, 10, 8), &utc));
    assert!(parse(" 2026-10-01 .. 2026-10-01 ").excludes_day(date(2026, 10, 1), &utc));
    let over_new_year = parse("2026-12-30..2027-01-02");
    assert!(over_new_year.excludes_day(date(2026, 12, 31), &utc));
    assert!(over_new_year.excludes_day(date(2027, 1, 2), &utc));
}

#[test]
fn errors_name_the_offending_part() {
    assert_eq!(
        err("2026-10-07..2026-10-01"),
        "exclusion `2026-10-07..2026-10-01`: the range starts (2026-10-07) after it ends (2026-10-01); \
         write `2026-10-01..2026-10-07`"
    );
    assert!(err("2026-13-01").contains("month 13"), "{}", err("2026-13-01"));
    assert!(err("2026-02-30").contains("does not exist"));
    assert!(err("2026-10-01..2026-10-32").contains("range end"), "{}", err("2026-10-01..2026-10-32"));
    assert!(
        err("2026-1-01..2026-10-02").contains("range start: month `1`"),
        "{}",
        err("2026-1-01..2026-10-02")
    );
    assert!(err("2026-10-01..").contains("both ends"));
    assert!(err("* * * 32 11 *").contains("field 4 (day-of-month) `32`: value out of range 1-31"));
    assert!(err("@every 1h").contains("name instants, not days"));
    assert!(err("@date 2026-10-01 00:00:00").contains("name instants, not days"));
    assert_eq!(ExcludeDate::parse(" ").unwrap_err(), ExclusionError::Empty);
}

#[test]
fn excluded_days_lists_the_matches() {
    let exclusions = [parse("* * * * * 5"), parse("2026-11-02")];
    let days = excluded_days(&exclusions, date(2026, 11, 1), date(2026, 11, 14), &TimeZone::UTC, 10);
    assert_eq!(days, [date(2026, 11, 2), date(2026, 11, 6), date(2026, 11, 13)]);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_never_panics(text in "[0-9*,/?LW#@ .:A-Za-z-]{0,30}") {
            if let Ok(entry) = ExcludeDate::parse(&text) {
                let _ = entry.excludes_day(date(2026, 3, 8), &resolve_zone("America/New_York").unwrap());
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
            let _ = ExcludeDate::parse(&text);
        }

        /// A range excludes exactly the days between its ends.
        #[test]
        fn ranges_are_inclusive(start in 0i32..3000, len in 0i32..60, probe in -5i32..70) {
            let first = date(2020, 1, 1).checked_add(jiff::Span::new().days(start)).unwrap();
            let last = first.checked_add(jiff::Span::new().days(len)).unwrap();
            let day = first.checked_add(jiff::Span::new().days(probe)).unwrap();
            let entry = ExcludeDate::parse(&format!("{first}..{last}")).unwrap();
            prop_assert_eq!(entry.excludes_day(day, &TimeZone::UTC), (0..=len).contains(&probe));
        }

        /// `* * * D M *` excludes the day D of month M and no other, in any zone.
        #[test]
        fn a_day_and_month_entry_excludes_only_that_date(d in 1i8..=28, m in 1i8..=12, offset in -40i32..40) {
            let entry = ExcludeDate::parse(&format!("* * * {d} {m} *")).unwrap();
            let target = date(2026, m, d);
            let day = target.checked_add(jiff::Span::new().days(offset)).unwrap();
            for zone in ["UTC", "America/New_York", "Europe/Berlin", "Asia/Shanghai"] {
                let zone = resolve_zone(zone).unwrap();
                prop_assert_eq!(entry.excludes_day(day, &zone), offset == 0, "{} in {:?}", day, zone.iana_name());
            }
        }
    }
}
