use proptest::prelude::*;

use super::*;
use crate::resolve_zone;

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn span(s: &str) -> DaySpan {
    DaySpan::parse(s).unwrap()
}

/// A made-up calendar in the shape of China's: a long holiday over a weekend, paid back by
/// working the Saturday before and the Sunday after.
fn demo() -> Calendar {
    Calendar::new(vec![span("2026-10-01..2026-10-08")], vec![span("2026-09-27"), span("2026-10-10")]).unwrap()
}

#[test]
fn spans_parse_days_and_inclusive_ranges() {
    assert_eq!(span("2026-10-01"), DaySpan::day(d("2026-10-01")));
    let r = span(" 2026-10-01 .. 2026-10-07 ");
    assert!(r.contains(d("2026-10-01")) && r.contains(d("2026-10-07")) && !r.contains(d("2026-10-08")));
    assert_eq!(r.to_string(), "2026-10-01..2026-10-07");
    assert_eq!(DaySpan::parse(""), Err(DaySpanError::Empty));
    let reversed = DaySpan::parse("2026-10-07..2026-10-01").unwrap_err();
    assert!(reversed.to_string().contains("write `2026-10-01..2026-10-07`"), "{reversed}");
    assert!(DaySpan::parse("2026-02-30").unwrap_err().to_string().contains("2026-02-30"));
    assert!(DaySpan::parse("2026-10-01..").unwrap_err().to_string().contains("both ends"));
}

#[test]
fn workdays_are_weekdays_minus_holidays_plus_make_up_days() {
    let cal = demo();
    assert!(cal.is_workday(d("2026-09-25")), "a plain Friday");
    assert!(!cal.is_workday(d("2026-09-26")), "a plain Saturday");
    assert!(cal.is_workday(d("2026-09-27")), "a make-up Sunday");
    assert!(!cal.is_workday(d("2026-10-01")), "a holiday Thursday");
    assert!(!cal.is_workday(d("2026-10-05")), "a holiday Monday");
    assert!(cal.is_workday(d("2026-10-09")), "the Friday after");
    assert!(cal.is_workday(d("2026-10-10")), "a make-up Saturday");
    assert!(!Calendar::default().is_workday(d("2026-10-10")));
    assert!(Calendar::default().is_workday(d("2026-10-05")));
}

#[test]
fn one_calendar_may_not_list_a_day_twice_but_merged_a_holiday_wins() {
    let err = Calendar::new(vec![span("2026-10-01..2026-10-08")], vec![span("2026-10-03")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "2026-10-03 is both a holiday (2026-10-01..2026-10-08) and a make-up working day (2026-10-03); list it once"
    );
    let extra_holiday = Calendar::new(vec![span("2026-10-10")], vec![]).unwrap();
    let merged = Calendar::merge([&demo(), &extra_holiday]);
    assert!(!merged.is_workday(d("2026-10-10")), "a holiday in one calendar beats a make-up day in another");
    assert!(merged.is_workday(d("2026-09-27")));
}

#[test]
fn the_day_of_week_field_is_replaced_and_the_rest_kept() {
    let weekday = Schedule::parse("0 0 8 * * MON-FRI").unwrap();
    assert_eq!(Days::Workdays.schedule(&weekday).unwrap().source(), "0 0 8 * * *");
    assert_eq!(Days::All.schedule(&weekday).unwrap().source(), "0 0 8 * * MON-FRI");
    let standard = Schedule::parse("30 8 1 * 1-5").unwrap();
    assert_eq!(Days::Holidays.schedule(&standard).unwrap().source(), "30 8 1 * *");
    assert_eq!(Days::Workdays.schedule(&Schedule::parse("@weekly").unwrap()).unwrap().source(), "@daily");
    assert_eq!(
        Days::Workdays.schedule(&Schedule::parse("@every 1h").unwrap()).unwrap().source(),
        "@every 1h"
    );
}

#[test]
fn a_make_up_saturday_fires_the_weekday_job() {
    let cal = demo();
    let shanghai = resolve_zone("Asia/Shanghai").unwrap();
    let job = Days::Workdays.schedule(&Schedule::parse("0 0 8 * * MON-FRI").unwrap()).unwrap();
    let mut at = ts("2026-09-30T12:00:00Z");
    let mut fires = Vec::new();
    for _ in 0..3 {
        at = Days::Workdays.next_after(&cal, &job, &shanghai, Timestamp::UNIX_EPOCH, at).unwrap();
        fires.push(shanghai.to_datetime(at).to_string());
    }
    // The holiday week is skipped; Friday the 9th and the make-up Saturday the 10th fire.
    assert_eq!(fires, ["2026-10-09T08:00:00", "2026-10-10T08:00:00", "2026-10-12T08:00:00"]);
    let back = Days::Workdays
        .prev_at_or_before(&cal, &job, &shanghai, Timestamp::UNIX_EPOCH, ts("2026-10-08T23:59:59Z"))
        .unwrap();
    assert_eq!(shanghai.to_datetime(back).to_string(), "2026-09-30T08:00:00");
    let holiday = Days::Holidays.schedule(&Schedule::parse("0 0 10 * * SAT,SUN").unwrap()).unwrap();
    let first = Days::Holidays
        .next_after(&cal, &holiday, &shanghai, Timestamp::UNIX_EPOCH, ts("2026-09-30T12:00:00Z"))
        .unwrap();
    assert_eq!(shanghai.to_datetime(first).to_string(), "2026-10-01T10:00:00", "a holiday Thursday");
}

#[test]
fn a_schedule_with_no_selected_day_gives_up() {
    let every_day_a_holiday = Calendar::new(vec![span("2000-01-01..2099-12-31")], vec![]).unwrap();
    let job = Schedule::parse("0 0 8 * * *").unwrap();
    let at = ts("2026-01-01T00:00:00Z");
    assert_eq!(Days::Workdays.next_after(&every_day_a_holiday, &job, &TimeZone::UTC, at, at), None);
    assert_eq!(Days::Workdays.prev_at_or_before(&every_day_a_holiday, &job, &TimeZone::UTC, at, at), None);
}

const ZONES: [&str; 5] = ["UTC", "Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe"];
const TIMES: [&str; 6] = ["0 0 8", "0 30 2", "0 0 0", "0 59 23", "0 0 1", "0 */30 *"];

/// A calendar of random holidays and make-up days around a year-end, and random schedules in
/// zones with DST changes: a filtered job fires exactly at the fires of the same time of day on
/// every day, kept when the day (in the job's zone) is selected; workdays and holidays split
/// those fires between them; searching backwards finds the same fires.
fn arb_calendar() -> impl Strategy<Value = Calendar> {
    let day = 0i64..500;
    (proptest::collection::vec((day.clone(), 0i64..9), 0..8), proptest::collection::vec(day, 0..8)).prop_map(
        |(holidays, workdays)| {
            let base = d("2025-11-01");
            let at = |n: i64| base.checked_add(n.days()).unwrap();
            let holidays: Vec<DaySpan> =
                holidays.into_iter().map(|(s, len)| DaySpan { start: at(s), end: at(s + len) }).collect();
            let workdays: Vec<DaySpan> = workdays
                .into_iter()
                .map(|n| DaySpan::day(at(n)))
                .filter(|w| holidays.iter().all(|h| h.overlap(w).is_none()))
                .collect();
            Calendar::new(holidays, workdays).unwrap()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn filtered_fires_are_the_daily_fires_on_selected_days(
        cal in arb_calendar(),
        zone in 0..ZONES.len(),
        time in 0..TIMES.len(),
        dow in prop_oneof![Just("MON-FRI"), Just("*"), Just("SAT")],
    ) {
        let zone = resolve_zone(ZONES[zone]).unwrap();
        let written = Schedule::parse(&format!("{} * * {dow}", TIMES[time])).unwrap();
        let daily = Schedule::parse(&format!("{} * * *", TIMES[time])).unwrap();
        let origin = Timestamp::UNIX_EPOCH;
        let (from, until) = (ts("2025-12-01T00:00:00Z"), ts("2026-02-01T00:00:00Z"));
        let mut all = Vec::new();
        let mut at = from;
        while let Some(next) = daily.next_after(at, &zone, origin).filter(|t| *t <= until) {
            all.push(next);
            at = next;
        }
        let mut split = Vec::new();
        for days in [Days::Workdays, Days::Holidays] {
            let job = days.schedule(&written).unwrap();
            let mut got = Vec::new();
            let mut at = from;
            while let Some(next) = days.next_after(&cal, &job, &zone, origin, at).filter(|t| *t <= until) {
                got.push(next);
                at = next;
            }
            let want: Vec<Timestamp> =
                all.iter().copied().filter(|t| days.selects(&cal, zone.to_datetime(*t).date())).collect();
            prop_assert_eq!(&got, &want);
            // Backwards: each fire's predecessor is the one before it.
            for pair in got.windows(2) {
                let before = pair[1].checked_sub(SignedDuration::from_nanos(1)).unwrap();
                prop_assert_eq!(days.prev_at_or_before(&cal, &job, &zone, origin, before), Some(pair[0]));
            }
            split.extend(got);
        }
        split.sort();
        prop_assert_eq!(split, all);
    }
}
