use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;

use super::*;
use crate::{CronHorizontalPodAutoscalerSpec, Limits, resolve_in};

fn spec(holidays: &[&str], workdays: &[&str]) -> CalendarSpec {
    CalendarSpec {
        source: None,
        holidays: holidays.iter().map(|s| (*s).to_owned()).collect(),
        workdays: workdays.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn cronhpa(value: serde_json::Value) -> CronHorizontalPodAutoscalerSpec {
    serde_json::from_value(value).unwrap()
}

fn shown(findings: &[Finding]) -> Vec<String> {
    findings.iter().map(ToString::to_string).collect()
}

#[test]
fn a_calendar_is_checked_entry_by_entry_with_field_paths() {
    let r = resolve_calendar(&spec(&["2026-10-01..2026-10-07", "2026-13-01"], &["2026-10-10", "2026-10-03"]));
    assert!(r.calendar.is_none());
    let text = shown(&r.findings);
    assert_eq!(text.len(), 1, "{text:?}");
    assert!(text[0].starts_with("spec.holidays[1]: \"2026-13-01\""), "{text:?}");
    let both = resolve_calendar(&spec(&["2026-10-01..2026-10-07"], &["2026-10-10", "2026-10-03"]));
    assert!(both.calendar.is_none());
    assert_eq!(
        shown(&both.findings),
        [
            "spec.workdays[1]: 2026-10-03 is both a holiday (2026-10-01..2026-10-07) and a make-up working day \
          (2026-10-03); list it once"
        ]
    );
    let weekday = resolve_calendar(&spec(&[], &["2026-10-07"]));
    assert!(weekday.calendar.is_some());
    assert_eq!(
        shown(&weekday.findings),
        ["spec.workdays[0]: 2026-10-07 is Monday to Friday: already a workday unless it is a holiday"]
    );
}

#[test]
fn calendars_are_read_in_from_the_kubernetes_shape() {
    let cal: Calendar = serde_json::from_value(json!({
        "apiVersion": "diurnal.dev/v1alpha1", "kind": "Calendar",
        "metadata": {"name": "cn", "namespace": "shop"},
        "spec": {"holidays": ["2026-10-01..2026-10-07"], "workdays": ["2026-10-10"]},
    }))
    .unwrap();
    let mut known = Calendars::none();
    assert!(known.insert("cn", &cal.spec));
    assert!(!known.insert("cn", &cal.spec), "the same content again is no change");
    assert!(matches!(known.get("cn"), Some(Ok(_))));
    assert!(known.insert("cn", &spec(&["bad"], &[])));
    assert!(matches!(known.get("cn"), Some(Err(reason)) if reason.contains("spec.holidays[0]")));
    assert!(known.remove("cn") && known.is_empty());
}

fn weekday_job(calendars: &serde_json::Value) -> CronHorizontalPodAutoscalerSpec {
    cronhpa(json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "timeZone": "Asia/Shanghai",
        "calendars": calendars,
        "jobs": [{"name": "up", "schedule": "0 0 8 * * MON-FRI", "targetSize": 10, "days": "workdays"}],
    }))
}

#[test]
fn a_workday_calendar_moves_the_weekday_job_onto_a_make_up_saturday() {
    let mut known = Calendars::none();
    known.insert("cn", &spec(&["2026-10-01..2026-10-08"], &["2026-10-10"]));
    let spec = weekday_job(&json!([{"name": "cn", "as": "workday"}]));
    let r = resolve_in(&spec, &TimeZone::UTC, Timestamp::UNIX_EPOCH, &Limits::default(), &known);
    assert!(r.findings.is_empty(), "{:?}", shown(&r.findings));
    let fires: Vec<String> = r
        .plan
        .fires("2026-09-30T12:00:00Z".parse().unwrap(), "2026-10-12T12:00:00Z".parse().unwrap())
        .map(|f| f.at.to_string())
        .collect();
    // Friday the 9th, the make-up Saturday the 10th, Monday the 12th (08:00 in Shanghai).
    assert_eq!(fires, ["2026-10-09T00:00:00Z", "2026-10-10T00:00:00Z", "2026-10-12T00:00:00Z"]);
}

#[test]
fn an_exclude_calendar_adds_its_holidays_to_the_excluded_days() {
    let mut known = Calendars::none();
    known.insert("cn", &spec(&["2026-10-01..2026-10-08"], &["2026-10-10"]));
    let mut spec = weekday_job(&json!([{"name": "cn", "as": "exclude"}]));
    spec.jobs[0].days = None;
    let r = resolve_in(&spec, &TimeZone::UTC, Timestamp::UNIX_EPOCH, &Limits::default(), &known);
    let fires: Vec<(String, bool)> = r
        .plan
        .fires("2026-10-07T12:00:00Z".parse().unwrap(), "2026-10-12T12:00:00Z".parse().unwrap())
        .map(|f| (f.at.to_string(), f.excluded))
        .collect();
    assert_eq!(
        fires,
        [
            ("2026-10-08T00:00:00Z".into(), true),
            ("2026-10-09T00:00:00Z".into(), false),
            ("2026-10-12T00:00:00Z".into(), false)
        ],
        "as `exclude` the make-up days are not read"
    );
}

#[test]
fn a_missing_or_invalid_calendar_is_read_as_empty_with_a_warning() {
    let spec = weekday_job(&json!([{"name": "cn", "as": "workday"}, {"name": "eu", "as": "exclude"}]));
    let mut known = Calendars::none();
    known.insert("eu", &self::spec(&["2026-10-07..2026-10-01"], &[]));
    let r = resolve_in(&spec, &TimeZone::UTC, Timestamp::UNIX_EPOCH, &Limits::default(), &known);
    assert!(r.is_valid());
    assert_eq!(r.plan.jobs.len(), 1, "the job still runs");
    let text = shown(&r.findings);
    assert!(text[0].starts_with("spec.calendars[0].name: no Calendar \"cn\" in this namespace"), "{text:?}");
    assert!(
        text[1].starts_with("spec.calendars[1].name: Calendar \"eu\" is invalid (spec.holidays[0]"),
        "{text:?}"
    );
}

#[test]
fn days_warns_when_the_day_of_week_field_says_something_else_and_bad_names_are_refused() {
    let mut s = weekday_job(&json!([{"name": "Not_A_Name", "as": "workday"}]));
    s.jobs[0].schedule = "0 0 8 * * SAT".into();
    let r = resolve_in(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH, &Limits::default(), &Calendars::none());
    let text = shown(&r.findings);
    assert!(!r.is_valid());
    assert!(
        text.iter().any(|f| f.starts_with("spec.calendars[0].name: \"Not_A_Name\" is not a valid")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|f| f.starts_with("spec.jobs[0].days: with `days: workdays`") && f.contains("`SAT`")),
        "{text:?}"
    );
}

#[test]
fn an_old_manifest_without_calendars_or_days_means_what_it_meant() {
    let s = cronhpa(json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "jobs": [{"name": "up", "schedule": "0 0 8 * * MON-FRI", "targetSize": 10}],
    }));
    assert!(s.calendars.is_empty() && s.jobs[0].days.is_none());
    let round = serde_json::to_value(&s).unwrap();
    assert!(round.get("calendars").is_none() && round["jobs"][0].get("days").is_none());
    let r = resolve_in(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH, &Limits::default(), &Calendars::none());
    let monday = r.plan.next_of(0, "2026-10-09T12:00:00Z".parse().unwrap()).unwrap();
    assert_eq!(monday.to_string(), "2026-10-12T08:00:00Z");
}
