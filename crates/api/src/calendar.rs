//! The `Calendar` custom resource (`diurnal.dev/v1alpha1`): holidays and make-up working days
//! that many CronHPAs of a namespace share.
//!
//! A CronHPA names calendars in `spec.calendars` (`as: workday` — what its jobs' `days:` read —
//! or `as: exclude` — their holidays act as `excludeDates`). What a workday is, and how `days:`
//! combines with a schedule, is [`diurnal_core::calendar`]'s rule. [`resolve_calendar`] checks a
//! calendar with field paths; [`Calendars`] is what a CronHPA's resolution looks its references
//! up in (the controller's index of a namespace, or the files given to the CLI).

use std::collections::BTreeMap;

use diurnal_core::{Calendar as DayCalendar, DaySpan};
use jiff::ToSpan as _;
use jiff::civil::Weekday;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Finding;

/// At most this many entries in each of `holidays` and `workdays`.
pub const MAX_CALENDAR_ENTRIES: usize = 512;
/// The longest entry (`2026-10-01..2026-10-07` has 22 characters).
pub const MAX_CALENDAR_ENTRY: usize = 64;
/// At most this many calendars named by one CronHPA.
pub const MAX_CALENDAR_REFS: usize = 8;
/// The longest `source`.
pub const MAX_SOURCE: usize = 1024;

/// Holidays and make-up working days, as ISO dates `2026-10-01` and inclusive ranges
/// `2026-10-01..2026-10-07`.
// One `printcolumn(...)` per column is kube-derive's syntax, not a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "diurnal.dev",
    version = "v1alpha1",
    kind = "Calendar",
    plural = "calendars",
    shortname = "cal",
    namespaced,
    derive = "PartialEq",
    doc = "Holidays and make-up working days shared by the CronHPAs of a namespace.",
    printcolumn(name = "Source", type_ = "string", json_path = ".spec.source", priority = "1"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct CalendarSpec {
    /// Where the dates come from (a public notice's title, a URL): for the people who update it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_SOURCE))]
    pub source: Option<String>,

    /// Days that are not workdays, whatever their weekday.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_CALENDAR_ENTRIES), inner(length(min = 1, max = MAX_CALENDAR_ENTRY)))]
    pub holidays: Vec<String>,

    /// Make-up working days: workdays whatever their weekday (a Saturday worked to bridge a
    /// holiday runs the weekday schedule). A day may not be both a holiday and a make-up day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_CALENDAR_ENTRIES), inner(length(min = 1, max = MAX_CALENDAR_ENTRY)))]
    pub workdays: Vec<String>,
}

/// A calendar a CronHPA reads (`spec.calendars[]`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct CalendarRef {
    /// The Calendar's name, in the CronHPA's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// How its days are read.
    #[serde(rename = "as")]
    pub use_as: CalendarUse,
}

/// How a CronHPA reads a calendar.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CalendarUse {
    /// Its holidays are excluded days, as `excludeDates` entries (its make-up days are not read).
    Exclude,
    /// It decides what `days: workdays` and `days: holidays` mean (several are merged).
    Workday,
}

/// Which days a job runs on, in terms of the CronHPA's `as: workday` calendars: `all` (the
/// default: the days its schedule names), `workdays` or `holidays`. With `workdays` or `holidays`
/// the schedule's day-of-week field is not read (the calendar decides), so a make-up Saturday
/// runs a `MON-FRI` job; its time, day-of-month and month fields still apply.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobDays {
    /// The days the schedule names (as if `days` were not set).
    #[default]
    All,
    /// Workdays only: the schedule's day-of-week field is not read.
    Workdays,
    /// Days that are not workdays only: the schedule's day-of-week field is not read.
    Holidays,
}

impl From<JobDays> for diurnal_core::Days {
    fn from(days: JobDays) -> Self {
        match days {
            JobDays::All => Self::All,
            JobDays::Workdays => Self::Workdays,
            JobDays::Holidays => Self::Holidays,
        }
    }
}

/// A Calendar, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarResolution {
    /// The core's calendar, when no finding is an error.
    pub calendar: Option<DayCalendar>,
    /// Errors and warnings, with paths from the Calendar's root (`spec.holidays[3]`).
    pub findings: Vec<Finding>,
}

impl CalendarResolution {
    /// The errors, joined: why a CronHPA cannot use this calendar.
    pub fn error_text(&self) -> String {
        self.findings.iter().filter(|f| f.is_error()).map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}

/// Checks a calendar's entries: what `diurnal validate`, the admission webhook and the
/// controller all decide with.
pub fn resolve_calendar(spec: &CalendarSpec) -> CalendarResolution {
    let mut findings = Vec::new();
    let holidays = spans("spec.holidays", &spec.holidays, &mut findings);
    let workdays = spans("spec.workdays", &spec.workdays, &mut findings);
    if spec.source.as_ref().is_some_and(|s| s.len() > MAX_SOURCE) {
        findings.push(Finding::error("spec.source", format!("at most {MAX_SOURCE} characters")));
    }
    for (k, w) in workdays.iter().enumerate() {
        // Spans of a week or more hold a weekend day; only shorter ones can be all weekdays.
        let on_weekdays = w
            .start
            .series(1.day())
            .take_while(|d| *d <= w.end)
            .take(7)
            .all(|d| !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday));
        if on_weekdays {
            findings.push(Finding::warning(
                format!("spec.workdays[{k}]"),
                format!("{w} is Monday to Friday: already a workday unless it is a holiday"),
            ));
        }
    }
    if findings.iter().any(Finding::is_error) {
        return CalendarResolution { calendar: None, findings };
    }
    match DayCalendar::new(holidays, workdays) {
        Ok(calendar) => CalendarResolution { calendar: Some(calendar), findings },
        Err(e) => {
            let diurnal_core::CalendarError::Both { workday, .. } = &e;
            let k = spec.workdays.iter().position(|w| DaySpan::parse(w).ok() == Some(*workday)).unwrap_or(0);
            findings.push(Finding::error(format!("spec.workdays[{k}]"), e.to_string()));
            CalendarResolution { calendar: None, findings }
        }
    }
}

fn spans(path: &str, entries: &[String], findings: &mut Vec<Finding>) -> Vec<DaySpan> {
    if entries.len() > MAX_CALENDAR_ENTRIES {
        findings.push(Finding::error(
            path,
            format!("at most {MAX_CALENDAR_ENTRIES} entries, got {}; the rest are not read", entries.len()),
        ));
    }
    let mut out = Vec::new();
    for (k, entry) in entries.iter().take(MAX_CALENDAR_ENTRIES).enumerate() {
        if entry.len() > MAX_CALENDAR_ENTRY {
            findings.push(Finding::error(
                format!("{path}[{k}]"),
                format!("at most {MAX_CALENDAR_ENTRY} characters"),
            ));
            continue;
        }
        match DaySpan::parse(entry) {
            Ok(span) => out.push(span),
            Err(e) => findings.push(Finding::error(format!("{path}[{k}]"), format!("{entry:?}: {e}"))),
        }
    }
    out
}

/// What a CronHPA's calendar references are looked up in: the calendars of its namespace, each
/// resolved, or the reason it cannot be used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Calendars {
    by_name: BTreeMap<String, Result<DayCalendar, String>>,
}

impl Calendars {
    /// No calendar known (every reference is reported missing).
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a calendar, checked. Returns whether what is known about it changed.
    pub fn insert(&mut self, name: &str, spec: &CalendarSpec) -> bool {
        let resolution = resolve_calendar(spec);
        let resolved = resolution.calendar.clone().ok_or_else(|| resolution.error_text());
        self.by_name.insert(name.to_owned(), resolved.clone()) != Some(resolved)
    }

    /// Forgets a calendar. Returns whether it was known.
    pub fn remove(&mut self, name: &str) -> bool {
        self.by_name.remove(name).is_some()
    }

    /// The calendar named `name`: `None` when unknown, `Some(Err(reason))` when it is invalid.
    pub fn get(&self, name: &str) -> Option<&Result<DayCalendar, String>> {
        self.by_name.get(name)
    }

    /// The names of the known calendars.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Whether no calendar is known.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests;
