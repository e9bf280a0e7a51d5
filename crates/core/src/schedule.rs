//! Parsing and evaluating one job's schedule expression.
//!
//! # Dialects
//!
//! - Six fields, `sec min hour dom month dow`: kubernetes-cronhpa-controller's dialect.
//! - Five fields, `min hour dom month dow`: standard cron (the seconds field is `0`). The old
//!   controller read five fields as `sec min hour dom month`; [`Schedule::legacy_reading`] says
//!   how it would have read a given expression.
//! - Descriptors `@yearly`/`@annually` (`0 0 0 1 1 *`), `@monthly` (`0 0 0 1 * *`), `@weekly`
//!   (`0 0 0 * * 0`), `@daily`/`@midnight` (`0 0 0 * * *`), `@hourly` (`0 0 * * * *`).
//! - `@every <duration>`: Go duration syntax (`90s`, `1h30m`, `1.5h`), a whole number of seconds,
//!   at least one. It fires at `origin + k·d` for every `k ≥ 1`, where `origin` is the instant the
//!   caller passes in (the object's creation time): the phase is a property of the object, so a
//!   controller restart does not move it, and the first fire is one period after creation, as in
//!   robfig/cron's `@every`.
//! - `@date YYYY-MM-DD HH:MM:SS`: one fire at that wall time in the job's zone; the year counts.
//!
//! Fields accept `* , - / ?`, month names `JAN`–`DEC` (month field) and weekday names
//! `SUN`–`SAT` (day-of-week field, `0` and `7` are both Sunday), `L` (last day of the month; `5L`
//! last Friday), `W` (`15W` nearest weekday, `LW` last weekday) and `#` (`MON#1` first Monday).
//! `N/step` means `N-max/step`, as in robfig/cron, which the old controller used. Day of month and
//! day of week: a field is unrestricted only when it is exactly `*` or `?`; when both are
//! restricted a day matches if either does (the vixie cron rule).
//!
//! # Daylight saving time
//!
//! Matching is on the wall clock of the job's zone. Like vixie cron, diurnal tells two kinds of
//! job apart:
//!
//! - A **fixed-time** job has no `*` and no `/` in its second, minute and hour fields
//!   (`0 30 2 * * *`, `0 0,30 9-17 * * *`, every descriptor but `@hourly`). Each matching wall
//!   time fires once: a wall time repeated by a fall-back change fires at its first occurrence
//!   only; a wall time skipped by a spring-forward change fires at the first instant after the gap
//!   (the moment of the change). Several skipped wall times therefore fire once, together.
//! - An **interval** job has `*` or `/` in one of those fields (`*/10 * * * * *`, `0 */15 * * *`,
//!   `@hourly`). It follows real time: it fires at every instant whose wall time matches, so in a
//!   repeated hour it fires in both passes, and wall times that a spring-forward change skips do
//!   not happen.
//!
//! `@date` follows the fixed-time rule; `@every` ignores the zone.
//!
//! # Where the work is done
//!
//! croner parses the fields and decides which days match (`L`, `W`, `#`, the day rule). The
//! search for the next matching wall time and the mapping from wall time to instant are here:
//! croner's own zoned search classifies lists and ranges (`0 0,30 2 * * *`) as interval jobs and
//! would skip them in a gap, against the rule above, and it re-derives that class on every call,
//! which dominated the benchmark (see `Search`).

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
pub(crate) use parse::parse_iso_date;
use parse::{describe_fields, legacy_description, parse_descriptor, parse_fields, split6};
use search::{
    Search, every_next, every_prev, first_instant, floor_second, next_fixed, next_interval, prev_fixed,
    prev_interval,
};

/// Which syntax a schedule was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `sec min hour dom month dow` — kubernetes-cronhpa-controller's dialect.
    Seconds,
    /// `min hour dom month dow` — standard cron.
    Standard,
    /// `@daily`, `@hourly`, ...
    Descriptor,
    /// `@every 90s`, phased from an origin instant.
    Every,
    /// `@date 2026-11-16 23:59:00`, a one-shot.
    Date,
}

/// Why a schedule expression was rejected. Every message names what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The expression is empty or only whitespace.
    #[error(
        "empty schedule; expected five fields `min hour dom month dow`, six fields \
         `sec min hour dom month dow`, or a descriptor such as `@daily`"
    )]
    Empty,
    /// Neither five nor six fields.
    #[error(
        "expected 5 fields (`min hour dom month dow`) or 6 fields (`sec min hour dom month dow`), \
         found {count} in `{expr}`"
    )]
    FieldCount {
        /// How many whitespace-separated fields there were.
        count: usize,
        /// The expression as written.
        expr: String,
    },
    /// One field is malformed.
    #[error("field {position} ({name}) `{field}`: {reason}")]
    Field {
        /// 1-based position of the field as written (in five-field expressions, 1 is the minute).
        position: usize,
        /// `sec`, `min`, `hour`, `day-of-month`, `month` or `day-of-week`.
        name: &'static str,
        /// The field as written.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `@` word that is not a known descriptor.
    #[error(
        "unknown descriptor `{descriptor}`; expected @yearly, @annually, @monthly, @weekly, \
         @daily, @midnight, @hourly, `@every <duration>` or `@date YYYY-MM-DD HH:MM:SS`"
    )]
    UnknownDescriptor {
        /// The descriptor as written.
        descriptor: String,
    },
    /// A descriptor such as `@daily` followed by something.
    #[error("`{descriptor}` takes no argument, found `{extra}`")]
    DescriptorArgument {
        /// The descriptor as written.
        descriptor: String,
        /// What followed it.
        extra: String,
    },
    /// A bad `@every` duration.
    #[error("`@every {duration}`: {reason}")]
    Every {
        /// The duration as written.
        duration: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad `@date` value.
    #[error("`@date {value}`: {reason}")]
    Date {
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Well-formed fields that no calendar day satisfies (`0 0 0 30 2 *`).
    #[error("`{expr}` never fires: {reason}")]
    NeverFires {
        /// The expression as written.
        expr: String,
        /// Why.
        reason: String,
    },
    /// croner rejected an expression that passed diurnal's own field checks.
    #[error("`{expr}`: {message}")]
    Cron {
        /// The expression as written.
        expr: String,
        /// croner's message.
        message: String,
    },
}

/// A parsed schedule expression.
///
/// ```
/// use diurnal_core::{Schedule, resolve_zone};
/// use jiff::Timestamp;
///
/// let schedule = Schedule::parse("0 30 2 * * *")?;
/// let new_york = resolve_zone("America/New_York")?;
/// let after: Timestamp = "2026-03-07T12:00:00Z".parse()?;
/// // 02:30 does not exist on 2026-03-08 in New York: the job fires at 03:00 EDT.
/// let next = schedule.next_after(after, &new_york, Timestamp::UNIX_EPOCH);
/// assert_eq!(next, Some("2026-03-08T07:00:00Z".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Schedule {
    source: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Cron {
        /// croner's parsed pattern, and the same fields flattened for the per-day search.
        search: Box<Search>,
        dialect: Dialect,
        /// `*` or `/` in the second, minute or hour field: follows real time through DST changes.
        interval: bool,
        /// The six normalised fields, space-separated (names replaced, five-field input given its
        /// `0` seconds); one allocation, as a controller keeps tens of thousands of these.
        fields: Box<str>,
    },
    Every(SignedDuration),
    Date(DateTime),
}

/// The most matching wall times a search steps over before giving up (each step moves forward, so
/// this only bounds pathological zones; real searches take one or two).
const MAX_STEPS: usize = 10_000;

impl Schedule {
    /// Parses an expression in any supported dialect.
    pub fn parse(expr: &str) -> Result<Self, ScheduleError> {
        let trimmed = expr.trim();
        if trimmed.is_empty() {
            return Err(ScheduleError::Empty);
        }
        let kind = if trimmed.starts_with('@') { parse_descriptor(trimmed)? } else { parse_fields(trimmed)? };
        Ok(Self { source: expr.to_owned(), kind })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The dialect the expression was written in.
    pub fn dialect(&self) -> Dialect {
        match &self.kind {
            Kind::Cron { dialect, .. } => *dialect,
            Kind::Every(_) => Dialect::Every,
            Kind::Date(_) => Dialect::Date,
        }
    }

    /// Whether the job follows real time through DST changes (an interval job, or `@every`)
    /// rather than firing once per matching wall time (a fixed-time job, or `@date`). See the
    /// module documentation.
    pub fn is_interval(&self) -> bool {
        match &self.kind {
            Kind::Cron { interval, .. } => *interval,
            Kind::Every(_) => true,
            Kind::Date(_) => false,
        }
    }

    /// The period of an `@every` schedule.
    pub fn every(&self) -> Option<SignedDuration> {
        match &self.kind {
            Kind::Every(d) => Some(*d),
            _ => None,
        }
    }

    /// The first fire strictly after `after`, evaluating wall times in `zone`; `origin` phases
    /// `@every`. `None` when the schedule never fires again. The search looks at most 400 years ahead, the
    /// period of the Gregorian calendar, within which every cron pattern repeats.
    pub fn next_after(&self, after: Timestamp, zone: &TimeZone, origin: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Cron { search, interval: true, .. } => next_interval(search, zone, after),
            Kind::Cron { search, interval: false, .. } => next_fixed(search, zone, after),
            Kind::Every(period) => every_next(*period, origin, after),
            Kind::Date(wall) => first_instant(zone, *wall).filter(|t| *t > after),
        }
    }

    /// The latest fire at or before `at` (the mirror of [`Schedule::next_after`]). `None` when the
    /// schedule never fired by then.
    pub fn prev_at_or_before(&self, at: Timestamp, zone: &TimeZone, origin: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            Kind::Cron { search, interval: true, .. } => prev_interval(search, zone, at),
            Kind::Cron { search, interval: false, .. } => prev_fixed(search, zone, at),
            Kind::Every(period) => every_prev(*period, origin, at),
            Kind::Date(wall) => first_instant(zone, *wall).filter(|t| *t <= at),
        }
    }

    /// Whether the schedule fires at some instant of the calendar day `day` in `zone`.
    pub fn fires_on(&self, day: Date, zone: &TimeZone, origin: Timestamp) -> bool {
        let Ok(start) = day.to_zoned(zone.clone()).and_then(|z| z.start_of_day()) else {
            return false;
        };
        let Some(end) = day
            .tomorrow()
            .ok()
            .and_then(|d| d.to_zoned(zone.clone()).ok())
            .and_then(|z| z.start_of_day().ok())
        else {
            return false;
        };
        let Some(before_start) = start.timestamp().checked_sub(SignedDuration::from_nanos(1)).ok() else {
            return false;
        };
        self.next_after(before_start, zone, origin).is_some_and(|t| t < end.timestamp())
    }

    /// When kubernetes-cronhpa-controller would read this expression differently, a sentence
    /// saying how (for `diurnal validate` warnings). Only five-field expressions are read
    /// differently: the old controller took them as `sec min hour dom month`.
    pub fn legacy_reading(&self) -> Option<String> {
        if self.dialect() != Dialect::Standard {
            return None;
        }
        let written: Vec<&str> = self.source.split_whitespace().collect();
        let [f0, f1, f2, f3, f4] = written.as_slice() else {
            return None;
        };
        let expr = written.join(" ");
        let old = legacy_description(&[f0, f1, f2, f3, f4]);
        let new = match &self.kind {
            Kind::Cron { fields, .. } => describe_fields(&split6(fields)),
            _ => return None,
        };
        let old_six = format!("{expr} *");
        let (old_part, advice) = match old {
            Some(desc) if Schedule::parse(&old_six).is_ok() => (
                format!("so it would fire `{expr}` {desc}"),
                format!(
                    "Write six fields to say which you mean: `0 {expr}` for diurnal's reading, \
                     `{old_six}` for the old one"
                ),
            ),
            Some(desc) => (
                format!("so it would fire `{expr}` {desc}"),
                format!("Write `0 {expr}` to make diurnal's reading explicit"),
            ),
            None => (
                format!("so it would reject `{expr}`"),
                format!("Write `0 {expr}` to make diurnal's reading explicit"),
            ),
        };
        Some(format!(
            "kubernetes-cronhpa-controller reads five fields as `sec min hour dom month`, {old_part}; \
             diurnal reads standard cron (`min hour dom month dow`) and fires it {new}. {advice}"
        ))
    }

    /// Whether the wall time `wall` matches the expression's fields (always false for `@every`
    /// and true only at the exact wall time for `@date`). For tests and diagnostics.
    pub fn matches_wall(&self, wall: DateTime) -> bool {
        match &self.kind {
            Kind::Cron { search, .. } => {
                let wall = floor_second(wall);
                let bit = |mask: u64, v: i8| mask & (1 << v) != 0;
                bit(search.seconds, wall.second())
                    && bit(search.minutes, wall.minute())
                    && bit(search.hours, wall.hour())
                    && search.day_matches(wall.date())
            }
            Kind::Every(_) => false,
            Kind::Date(d) => *d == floor_second(wall),
        }
    }
}

mod gap;
mod parse;
mod search;
#[cfg(test)]
mod tests;
