//! `excludeDates` entries.
//!
//! An entry names calendar days, taken in the object's zone, on which fires do not scale:
//!
//! - a cron expression (five or six fields, or a descriptor): a day is excluded when the
//!   expression fires at some instant of that day, by the rules of [`crate::schedule`]. So
//!   `* * * 15 11 *` excludes November 15 and nothing else, and `* * * * * 5` excludes Fridays.
//!   (kubernetes-cronhpa-controller compared the month and the hour instead of the date, so
//!   excluding November 15 also skipped November 3 and November 14 at midnight.)
//! - an ISO date, `2026-10-01`;
//! - an inclusive range of ISO dates, `2026-10-01..2026-10-07`.
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};

use crate::calendar::{DaySpan, DaySpanError};
use crate::schedule::Dialect;
use crate::{Schedule, ScheduleError};

/// Why an `excludeDates` entry was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExclusionError {
    /// The entry is empty.
    #[error(
        "empty exclusion; expected a cron expression (`* * * 15 11 *`), a date (`2026-10-01`) \
         or a range (`2026-10-01..2026-10-07`)"
    )]
    Empty,
    /// A date, or one end of a range, is malformed.
    #[error("exclusion `{entry}`: {reason}")]
    Date {
        /// The entry as written.
        entry: String,
        /// What is wrong, naming the bad part.
        reason: String,
    },
    /// A range whose start is after its end.
    #[error("exclusion `{entry}`: the range starts ({start}) after it ends ({end}); write `{end}..{start}`")]
    ReversedRange {
        /// The entry as written.
        entry: String,
        /// The first date.
        start: Date,
        /// The second date.
        end: Date,
    },
    /// A malformed cron expression.
    #[error("exclusion `{entry}`: {source}")]
    Cron {
        /// The entry as written.
        entry: String,
        /// Why the expression was rejected.
        source: ScheduleError,
    },
    /// `@every` or `@date`, which name instants rather than days.
    #[error(
        "exclusion `{entry}`: `@every` and `@date` name instants, not days; write a date \
         (`2026-10-01`) or a range (`2026-10-01..2026-10-07`)"
    )]
    NotADay {
        /// The entry as written.
        entry: String,
    },
}

/// One `excludeDates` entry.
#[derive(Debug, Clone)]
pub enum ExcludeDate {
    /// A cron expression: a day is excluded when it matches any instant of that day.
    Cron(crate::Schedule),
    /// One calendar day, `2026-10-01`.
    Day(Date),
    /// An inclusive range of days, `2026-10-01..2026-10-07`.
    Range(Date, Date),
}

/// Whether `text` reads as an attempt at an ISO date rather than a cron expression.
fn looks_like_date(text: &str) -> bool {
    text.len() >= 5
        && !text.contains(char::is_whitespace)
        && text.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && text.as_bytes()[4] == b'-'
}

impl ExcludeDate {
    /// Parses one entry.
    pub fn parse(entry: &str) -> Result<Self, ExclusionError> {
        let text = entry.trim();
        if text.is_empty() {
            return Err(ExclusionError::Empty);
        }
        // Dates and ranges read exactly as a calendar's do (one parser, in `calendar`).
        if text.contains("..") || looks_like_date(text) {
            let span = DaySpan::parse(text).map_err(|e| match e {
                DaySpanError::Reversed { start, end } => {
                    ExclusionError::ReversedRange { entry: entry.to_owned(), start, end }
                }
                other => ExclusionError::Date { entry: entry.to_owned(), reason: other.to_string() },
            })?;
            return Ok(if text.contains("..") {
                Self::Range(span.start, span.end)
            } else {
                Self::Day(span.start)
            });
        }
        let schedule = Schedule::parse(text)
            .map_err(|source| ExclusionError::Cron { entry: entry.to_owned(), source })?;
        if matches!(schedule.dialect(), Dialect::Every | Dialect::Date) {
            return Err(ExclusionError::NotADay { entry: entry.to_owned() });
        }
        Ok(Self::Cron(schedule))
    }

    /// Whether the calendar day `day` (in `zone`) is excluded by this entry.
    pub fn excludes_day(&self, day: Date, zone: &TimeZone) -> bool {
        match self {
            // The origin only phases `@every`, which parse rejects.
            Self::Cron(schedule) => schedule.fires_on(day, zone, Timestamp::UNIX_EPOCH),
            Self::Day(d) => *d == day,
            Self::Range(start, end) => (*start..=*end).contains(&day),
        }
    }
}

/// Whether the instant `at` falls on a day (in `zone`) excluded by any entry.
pub fn is_excluded(exclusions: &[ExcludeDate], at: Timestamp, zone: &TimeZone) -> bool {
    if exclusions.is_empty() {
        return false;
    }
    let day = zone.to_datetime(at).date();
    exclusions.iter().any(|e| e.excludes_day(day, zone))
}

/// The excluded days among `from..=to` (in `zone`), for reports. At most `limit` of them.
pub fn excluded_days(
    exclusions: &[ExcludeDate],
    from: Date,
    to: Date,
    zone: &TimeZone,
    limit: usize,
) -> Vec<Date> {
    let mut days = Vec::new();
    let mut day = from;
    while day <= to && days.len() < limit {
        if exclusions.iter().any(|e| e.excludes_day(day, zone)) {
            days.push(day);
        }
        let Ok(next) = day.checked_add(1.day()) else { break };
        day = next;
    }
    days
}

#[cfg(test)]
mod tests;
