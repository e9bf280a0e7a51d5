//! Calendars: holidays and make-up working days, and which days a job runs on in their terms.
//!
//! A [`Calendar`] lists **holidays** and **make-up working days** as ISO dates and inclusive
//! ranges ([`DaySpan`]). China's official calendar, for one, moves working days onto weekends
//! around its long holidays: such a Saturday is a working day and runs the weekday schedule.
//!
//! # What a workday is
//!
//! A calendar day (taken in the job's zone) is a **workday** when
//!
//! 1. it is listed as a holiday: **not** a workday (a holiday wins, also over a make-up day of
//!    another calendar; one calendar may not list a day as both);
//! 2. else it is listed as a make-up working day: a workday, whatever its weekday;
//! 3. else it is a workday when it is Monday to Friday.
//!
//! Every other day is a **holiday** in the sense of `days: holidays`: weekends that are not
//! make-up days, and listed holidays. So every day is exactly one of the two.
//!
//! # How `days:` combines with a job's schedule
//!
//! With `days: workdays` or `days: holidays` the calendar decides the weekday part of the
//! schedule: the schedule's **day-of-week field is not read** (taken as `*`) and a fire happens
//! only on the selected days. Its time-of-day fields, its day-of-month and its month fields still
//! apply. So `0 0 8 * * MON-FRI` with `days: workdays` fires at 08:00 on every workday, a make-up
//! Saturday included, and not on a holiday Monday; `0 0 8 1 * *` with `days: workdays` fires on
//! the 1st of a month when it is a workday. `@weekly` reads as `@daily` under a calendar.
//! `@every` and `@date` keep their instants and lose those on days not selected. `days: all` (the
//! default) leaves the schedule as it is.
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan as _};

use crate::schedule::{Dialect, parse_iso_date};
use crate::{Schedule, ScheduleError};

/// One day, `2026-10-01`, or an inclusive range of days, `2026-10-01..2026-10-07`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DaySpan {
    /// The first day.
    pub start: Date,
    /// The last day (equal to `start` for one day).
    pub end: Date,
}

/// Why a date or range was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DaySpanError {
    /// Nothing written.
    #[error("empty; expected a date (`2026-10-01`) or a range (`2026-10-01..2026-10-07`)")]
    Empty,
    /// A date, or one end of a range, is malformed.
    #[error("{0}")]
    Date(String),
    /// A range whose start is after its end.
    #[error("the range starts ({start}) after it ends ({end}); write `{end}..{start}`")]
    Reversed {
        /// The first date written.
        start: Date,
        /// The second date written.
        end: Date,
    },
}

impl DaySpan {
    /// One day.
    pub fn day(day: Date) -> Self {
        Self { start: day, end: day }
    }

    /// Parses `2026-10-01` or `2026-10-01..2026-10-07` (inclusive; surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<Self, DaySpanError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DaySpanError::Empty);
        }
        let Some((a, b)) = text.split_once("..") else {
            return parse_iso_date(text).map(Self::day).map_err(DaySpanError::Date);
        };
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() || b.is_empty() {
            return Err(DaySpanError::Date(
                "a range needs both ends, as in `2026-10-01..2026-10-07`".to_owned(),
            ));
        }
        let start = parse_iso_date(a).map_err(|r| DaySpanError::Date(format!("range start: {r}")))?;
        let end = parse_iso_date(b).map_err(|r| DaySpanError::Date(format!("range end: {r}")))?;
        if start > end {
            return Err(DaySpanError::Reversed { start, end });
        }
        Ok(Self { start, end })
    }

    /// Whether `day` is in the span.
    pub fn contains(&self, day: Date) -> bool {
        (self.start..=self.end).contains(&day)
    }

    /// The first day in both spans, if any.
    pub fn overlap(&self, other: &DaySpan) -> Option<Date> {
        let start = self.start.max(other.start);
        (start <= self.end.min(other.end)).then_some(start)
    }
}

impl std::fmt::Display for DaySpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}..{}", self.start, self.end)
        }
    }
}

/// Why a calendar was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A day listed both as a holiday and as a make-up working day.
    #[error("{day} is both a holiday ({holiday}) and a make-up working day ({workday}); list it once")]
    Both {
        /// The first such day.
        day: Date,
        /// The holiday entry that lists it.
        holiday: DaySpan,
        /// The make-up entry that lists it.
        workday: DaySpan,
    },
}

/// Holidays and make-up working days. See the module documentation for what a workday is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Calendar {
    holidays: Vec<DaySpan>,
    workdays: Vec<DaySpan>,
}

impl Calendar {
    /// A calendar, refused when one day is listed both as a holiday and as a make-up working day.
    pub fn new(holidays: Vec<DaySpan>, workdays: Vec<DaySpan>) -> Result<Self, CalendarError> {
        for holiday in &holidays {
            for workday in &workdays {
                if let Some(day) = holiday.overlap(workday) {
                    return Err(CalendarError::Both { day, holiday: *holiday, workday: *workday });
                }
            }
        }
        Ok(Self { holidays, workdays })
    }

    /// Several calendars read as one: a day is a holiday when any of them lists it as one, and a
    /// make-up working day when one lists it as that and none as a holiday.
    pub fn merge<'a>(calendars: impl IntoIterator<Item = &'a Calendar>) -> Self {
        let mut merged = Self::default();
        for c in calendars {
            merged.holidays.extend_from_slice(&c.holidays);
            merged.workdays.extend_from_slice(&c.workdays);
        }
        merged
    }

    /// The listed holidays.
    pub fn holidays(&self) -> &[DaySpan] {
        &self.holidays
    }

    /// The listed make-up working days.
    pub fn workdays(&self) -> &[DaySpan] {
        &self.workdays
    }

    /// Whether nothing is listed (every Monday to Friday is a workday, nothing else).
    pub fn is_empty(&self) -> bool {
        self.holidays.is_empty() && self.workdays.is_empty()
    }

    /// Whether `day` is a workday: not a listed holiday, and a listed make-up day or Monday to
    /// Friday.
    pub fn is_workday(&self, day: Date) -> bool {
        if self.holidays.iter().any(|h| h.contains(day)) {
            return false;
        }
        self.workdays.iter().any(|w| w.contains(day))
            || !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
    }
}

/// Which days a job runs on, in calendar terms (`jobs[].days`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Days {
    /// Every day its schedule names (the schedule as written).
    #[default]
    All,
    /// Workdays only; the schedule's day-of-week field is not read.
    Workdays,
    /// Days that are not workdays only; the schedule's day-of-week field is not read.
    Holidays,
}

/// How many days a calendar-filtered search skips before it gives up (about eight years of days
/// not selected in a row, far beyond any real calendar; a schedule that only fires on February 29
/// skips one leap day at a time).
const MAX_SKIPS: usize = 3_000;

impl Days {
    /// Whether `day` is one this job runs on.
    pub fn selects(self, calendar: &Calendar, day: Date) -> bool {
        match self {
            Self::All => true,
            Self::Workdays => calendar.is_workday(day),
            Self::Holidays => !calendar.is_workday(day),
        }
    }

    /// The schedule a job with these days runs: `schedule` itself for [`Days::All`], else the
    /// same schedule with its day-of-week field taken as `*` (the calendar decides the weekdays).
    pub fn schedule(self, schedule: &Schedule) -> Result<Schedule, ScheduleError> {
        if self == Self::All {
            return Ok(schedule.clone());
        }
        let source = schedule.source().trim();
        match schedule.dialect() {
            Dialect::Seconds | Dialect::Standard => {
                let mut fields: Vec<&str> = source.split_whitespace().collect();
                if let Some(dow) = fields.last_mut() {
                    *dow = "*";
                }
                Schedule::parse(&fields.join(" "))
            }
            Dialect::Descriptor if source.to_ascii_lowercase().starts_with("@weekly") => {
                Schedule::parse("@daily")
            }
            Dialect::Descriptor | Dialect::Every | Dialect::Date => Ok(schedule.clone()),
        }
    }

    /// The first fire of `schedule` (already rewritten by [`Days::schedule`]) strictly after
    /// `after` that falls on a selected day (in `zone`). `None` when there is none within
    /// [`MAX_SKIPS`] skipped days.
    pub fn next_after(
        self,
        calendar: &Calendar,
        schedule: &Schedule,
        zone: &TimeZone,
        origin: Timestamp,
        after: Timestamp,
    ) -> Option<Timestamp> {
        let mut cursor = after;
        for _ in 0..MAX_SKIPS {
            let at = schedule.next_after(cursor, zone, origin)?;
            let day = zone.to_datetime(at).date();
            if self.selects(calendar, day) {
                return Some(at);
            }
            // Nothing else on that day can be selected: search from the start of the next one.
            let next_day = start_of(day.checked_add(1.day()).ok()?, zone)?;
            cursor = next_day.checked_sub(SignedDuration::from_nanos(1)).ok()?.max(at);
        }
        None
    }

    /// The latest fire of `schedule` at or before `at` on a selected day (the mirror of
    /// [`Days::next_after`]).
    pub fn prev_at_or_before(
        self,
        calendar: &Calendar,
        schedule: &Schedule,
        zone: &TimeZone,
        origin: Timestamp,
        at: Timestamp,
    ) -> Option<Timestamp> {
        let mut cursor = at;
        for _ in 0..MAX_SKIPS {
            let fire = schedule.prev_at_or_before(cursor, zone, origin)?;
            let day = zone.to_datetime(fire).date();
            if self.selects(calendar, day) {
                return Some(fire);
            }
            let start = start_of(day, zone)?;
            cursor = start.checked_sub(SignedDuration::from_nanos(1)).ok()?.min(fire);
            if cursor == fire {
                cursor = fire.checked_sub(SignedDuration::from_nanos(1)).ok()?;
            }
        }
        None
    }
}

/// The first instant of `day` in `zone` (not midnight where a DST change skips midnight).
fn start_of(day: Date, zone: &TimeZone) -> Option<Timestamp> {
    day.to_zoned(zone.clone()).and_then(|z| z.start_of_day()).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests;
