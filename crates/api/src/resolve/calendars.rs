//! `spec.calendars` and `jobs[].days`: the calendar half of resolving a CronHPA.

use std::collections::HashSet;

use diurnal_core::{Calendar as DayCalendar, Dialect, ExcludeDate, Schedule};

use super::is_dns_subdomain;
use crate::calendar::{CalendarUse, Calendars, JobDays, MAX_CALENDAR_REFS};
use crate::{CronHorizontalPodAutoscalerSpec, Finding, Job};

/// The merged `as: workday` calendar; the holidays of `as: exclude` calendars are appended to
/// `exclusions`. A missing or invalid calendar is read as empty, with a warning: the object keeps
/// firing on its schedule, because a CronHPA applied before its Calendar (one `kubectl apply -f`
/// of a folder, a `GitOps` sync) must not stop scaling until the order settles.
pub(super) fn calendar_refs(
    spec: &CronHorizontalPodAutoscalerSpec,
    calendars: &Calendars,
    exclusions: &mut Vec<ExcludeDate>,
    findings: &mut Vec<Finding>,
) -> DayCalendar {
    if spec.calendars.len() > MAX_CALENDAR_REFS {
        findings.push(Finding::error(
            "spec.calendars",
            format!("at most {MAX_CALENDAR_REFS} calendars, got {}", spec.calendars.len()),
        ));
    }
    let mut seen = HashSet::new();
    let mut workday = Vec::new();
    for (i, r) in spec.calendars.iter().take(MAX_CALENDAR_REFS).enumerate() {
        let path = format!("spec.calendars[{i}].name");
        if !is_dns_subdomain(&r.name) || r.name.is_empty() {
            findings.push(Finding::error(
                path,
                format!("{:?} is not a valid object name (lowercase letters, digits, '-' and '.')", r.name),
            ));
            continue;
        }
        if !seen.insert((&r.name, r.use_as)) {
            findings.push(Finding::warning(
                path,
                format!("calendar {:?} is listed twice with the same `as`", r.name),
            ));
            continue;
        }
        let consequence = match r.use_as {
            CalendarUse::Workday => "`days: workdays` means Monday to Friday until it is",
            CalendarUse::Exclude => "no day is excluded by it until it is",
        };
        match calendars.get(&r.name) {
            None => findings.push(Finding::warning(
                path,
                format!("no Calendar {:?} in this namespace: read as empty ({consequence} created)", r.name),
            )),
            Some(Err(reason)) => findings.push(Finding::warning(
                path,
                format!("Calendar {:?} is invalid ({reason}): read as empty ({consequence} fixed)", r.name),
            )),
            Some(Ok(calendar)) => match r.use_as {
                CalendarUse::Workday => workday.push(calendar),
                CalendarUse::Exclude => {
                    exclusions.extend(calendar.holidays().iter().map(|h| ExcludeDate::Range(h.start, h.end)));
                }
            },
        }
    }
    DayCalendar::merge(workday)
}

/// Day-of-week fields that say what `days:` says anyway (no warning for those).
const SAME_AS_WORKDAYS: [&str; 4] = ["*", "?", "MON-FRI", "1-5"];
const SAME_AS_HOLIDAYS: [&str; 8] = ["*", "?", "SAT,SUN", "SUN,SAT", "0,6", "6,0", "6,7", "6-7"];

/// A warning when `days:` makes the schedule's day-of-week field unread and that field says
/// something else.
pub(super) fn check_days(path: &str, job: &Job, schedule: Option<&Schedule>, findings: &mut Vec<Finding>) {
    let days = job.days.unwrap_or_default();
    let same: &[&str] = match days {
        JobDays::All => return,
        JobDays::Workdays => &SAME_AS_WORKDAYS,
        JobDays::Holidays => &SAME_AS_HOLIDAYS,
    };
    let Some(schedule) = schedule else { return };
    if !matches!(schedule.dialect(), Dialect::Seconds | Dialect::Standard) {
        return;
    }
    let Some(dow) = schedule.source().split_whitespace().last() else { return };
    if !same.iter().any(|s| s.eq_ignore_ascii_case(dow)) {
        let name = if days == JobDays::Workdays { "workdays" } else { "holidays" };
        findings.push(Finding::warning(
            format!("{path}.days"),
            format!(
                "with `days: {name}` the calendar decides the weekdays: the schedule's day-of-week \
                 field `{dow}` is not read"
            ),
        ));
    }
}
