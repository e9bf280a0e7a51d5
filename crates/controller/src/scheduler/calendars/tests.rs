//! Calendars in the scheduler: a Calendar created, edited or deleted re-plans the CronHPAs that
//! name it, and only those.

use diurnal_api::Limits;
use jiff::tz::TimeZone;
use serde_json::json;

use super::super::{Outcome, Scheduler};
use super::*;

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A weekday job at 08:00 Shanghai that runs on the workdays of calendar `cn`.
fn weekday(name: &str, calendar: &str) -> CronHorizontalPodAutoscaler {
    serde_json::from_value(json!({
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop", "uid": name, "generation": 1,
                     "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "timeZone": "Asia/Shanghai",
            "calendars": [{"name": calendar, "as": "workday"}],
            "jobs": [{"name": "up", "schedule": "0 0 8 * * MON-FRI", "targetSize": 10, "days": "workdays"}],
        },
    }))
    .unwrap()
}

fn calendar(workdays: &[&str]) -> Calendar {
    serde_json::from_value(json!({
        "apiVersion": "diurnal.dev/v1alpha1", "kind": "Calendar",
        "metadata": {"name": "cn", "namespace": "shop"},
        "spec": {"holidays": ["2026-10-01..2026-10-08"], "workdays": workdays},
    }))
    .unwrap()
}

fn next_fire(s: &Scheduler, name: &str) -> Option<String> {
    let key = ObjectKey { namespace: "shop".into(), name: name.into() };
    let status = s.status(&key)?;
    status.conditions[0].next_schedule_time.as_ref().map(|t| t.0.to_string())
}

#[test]
fn a_calendar_edit_moves_a_fire_of_the_objects_that_name_it_and_only_those() {
    // Friday 2026-10-09, 12:00 in Shanghai.
    let now = t("2026-10-09T04:00:00Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.set_leading(true, now);
    s.upsert(&weekday("web", "cn"), now);
    s.upsert(&weekday("api", "other"), now);
    assert_eq!(next_fire(&s, "web").as_deref(), Some("2026-10-12T00:00:00Z"), "no calendar yet: Monday");

    let replanned = s.upsert_calendar(&calendar(&["2026-10-10"]), now);
    assert_eq!(replanned, [ObjectKey { namespace: "shop".into(), name: "web".into() }]);
    assert_eq!(next_fire(&s, "web").as_deref(), Some("2026-10-10T00:00:00Z"), "the make-up Saturday");
    assert_eq!(next_fire(&s, "api").as_deref(), Some("2026-10-12T00:00:00Z"), "names another calendar");
    assert!(s.upsert_calendar(&calendar(&["2026-10-10"]), now).is_empty(), "no change, no re-plan");

    // The make-up Saturday fires the weekday job.
    let taken = s.take_due(t("2026-10-10T00:00:00Z"));
    assert_eq!(taken.fires.len(), 1);
    assert_eq!((taken.fires[0].job.as_str(), taken.fires[0].fire_at), ("up", t("2026-10-10T00:00:00Z")));
    s.complete(
        &taken.fires[0],
        Outcome::Applied("ok".into(), diurnal_api::Changes::default()),
        t("2026-10-10T00:00:01Z"),
    );

    // Deleted: read as empty, and the status says so.
    let replanned = s.remove_calendar("shop", "cn", t("2026-10-10T01:00:00Z"));
    assert_eq!(replanned.len(), 1);
    let key = ObjectKey { namespace: "shop".into(), name: "web".into() };
    let status = s.status(&key).unwrap();
    assert!(
        status.warnings.iter().any(|w| w.starts_with("spec.calendars[0].name: no Calendar \"cn\"")),
        "{:?}",
        status.warnings
    );
    assert_eq!(next_fire(&s, "web").as_deref(), Some("2026-10-12T00:00:00Z"));
}

#[test]
fn an_object_applied_before_its_calendar_is_planned_with_it_once_it_comes() {
    let now = t("2026-09-30T04:00:00Z");
    let mut s = Scheduler::new(TimeZone::UTC, Limits::NONE);
    s.upsert(&weekday("web", "cn"), now);
    // Without the calendar the holiday Thursday would fire.
    assert_eq!(next_fire(&s, "web").as_deref(), Some("2026-10-01T00:00:00Z"));
    s.upsert_calendar(&calendar(&[]), now);
    assert_eq!(next_fire(&s, "web").as_deref(), Some("2026-10-09T00:00:00Z"), "the holiday week is skipped");
}
