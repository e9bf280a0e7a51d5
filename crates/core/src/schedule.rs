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

use std::fmt::Write as _;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

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

/// Field names, ranges and extra syntax, in six-field order.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    kind: FieldKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Time,
    Dom,
    Month,
    Dow,
}

const FIELDS: [FieldSpec; 6] = [
    FieldSpec { name: "sec", min: 0, max: 59, kind: FieldKind::Time },
    FieldSpec { name: "min", min: 0, max: 59, kind: FieldKind::Time },
    FieldSpec { name: "hour", min: 0, max: 23, kind: FieldKind::Time },
    FieldSpec { name: "day-of-month", min: 1, max: 31, kind: FieldKind::Dom },
    FieldSpec { name: "month", min: 1, max: 12, kind: FieldKind::Month },
    FieldSpec { name: "day-of-week", min: 0, max: 7, kind: FieldKind::Dow },
];

const MONTHS: [&str; 12] =
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

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

// ---------------------------------------------------------------------------------------------
// Parsing

fn parse_descriptor(trimmed: &str) -> Result<Kind, ScheduleError> {
    let (word, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (trimmed, ""),
    };
    let lower = word.to_ascii_lowercase();
    let expansion = match lower.as_str() {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 0",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        "@every" => return parse_every(rest).map(Kind::Every),
        "@date" => return parse_date(rest).map(Kind::Date),
        _ => return Err(ScheduleError::UnknownDescriptor { descriptor: word.to_owned() }),
    };
    if !rest.is_empty() {
        return Err(ScheduleError::DescriptorArgument {
            descriptor: word.to_owned(),
            extra: rest.to_owned(),
        });
    }
    let fields: [String; 6] = split6(expansion);
    let cron = build_cron(trimmed, &fields)?;
    Ok(Kind::Cron {
        search: Box::new(Search::new(&cron)),
        dialect: Dialect::Descriptor,
        interval: is_interval_fields(&fields),
        fields: fields.join(" ").into_boxed_str(),
    })
}

fn split6(expansion: &str) -> [String; 6] {
    let mut it = expansion.split(' ').map(str::to_owned);
    std::array::from_fn(|_| it.next().unwrap_or_default())
}

fn parse_fields(trimmed: &str) -> Result<Kind, ScheduleError> {
    let written: Vec<&str> = trimmed.split_whitespace().collect();
    let (dialect, offset) = match written.len() {
        6 => (Dialect::Seconds, 0),
        5 => (Dialect::Standard, 1),
        count => return Err(ScheduleError::FieldCount { count, expr: trimmed.to_owned() }),
    };
    let mut fields: [String; 6] = std::array::from_fn(|_| "0".to_owned());
    for (i, raw) in written.iter().enumerate() {
        let slot = i + offset;
        let spec = &FIELDS[slot];
        fields[slot] = normalize_field(spec, raw).map_err(|reason| ScheduleError::Field {
            position: i + 1,
            name: spec.name,
            field: (*raw).to_owned(),
            reason,
        })?;
    }
    check_some_day_exists(trimmed, &fields)?;
    let cron = build_cron(trimmed, &fields).map_err(|e| locate_cron_error(&written, offset, e))?;
    Ok(Kind::Cron {
        search: Box::new(Search::new(&cron)),
        dialect,
        interval: is_interval_fields(&fields),
        fields: fields.join(" ").into_boxed_str(),
    })
}

fn is_interval_fields(fields: &[String; 6]) -> bool {
    fields[..3].iter().any(|f| f.contains('*') || f.contains('/'))
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Required).dom_and_dow(false).sloppy_ranges(true).build()
}

fn build_cron(expr: &str, fields: &[String; 6]) -> Result<Cron, ScheduleError> {
    parser()
        .parse(&fields.join(" "))
        .map_err(|e| ScheduleError::Cron { expr: expr.to_owned(), message: e.to_string() })
}

/// Croner rejected what our own checks accepted: find the field by parsing it alone.
fn locate_cron_error(written: &[&str], offset: usize, err: ScheduleError) -> ScheduleError {
    for (i, raw) in written.iter().enumerate() {
        let slot = i + offset;
        let mut probe: [String; 6] = std::array::from_fn(|i| if i == 0 { "0" } else { "*" }.to_owned());
        match normalize_field(&FIELDS[slot], raw) {
            Ok(f) => probe[slot] = f,
            Err(_) => continue,
        }
        if let Err(e) = parser().parse(&probe.join(" ")) {
            return ScheduleError::Field {
                position: i + 1,
                name: FIELDS[slot].name,
                field: (*raw).to_owned(),
                reason: e.to_string(),
            };
        }
    }
    err
}

/// Checks one field and returns it with names replaced by numbers.
///
/// Hand-written because croner's messages name neither the field nor the value ("Number out of
/// bounds."), and croner replaces month and weekday names in every field, so it would accept `MON`
/// as a month.
fn normalize_field(spec: &FieldSpec, raw: &str) -> Result<String, String> {
    let upper = raw.to_ascii_uppercase();
    let mut out = String::with_capacity(upper.len());
    let mut chars = upper.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_ascii_alphabetic() {
            let mut end = start + c.len_utf8();
            while let Some(&(i, n)) = chars.peek() {
                if n.is_ascii_alphabetic() {
                    end = i + n.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &upper[start..end];
            let prev_is_dash = out.ends_with('-');
            replace_word(spec, word, prev_is_dash, &mut out)?;
        } else {
            let allowed = c.is_ascii_digit()
                || matches!(c, '*' | ',' | '-' | '/')
                || (c == '?' && matches!(spec.kind, FieldKind::Dom | FieldKind::Dow))
                || (c == '#' && spec.kind == FieldKind::Dow);
            if !allowed {
                return Err(format!("unexpected character `{c}`{}", allowed_hint(spec)));
            }
            out.push(c);
        }
    }
    let single = !out.contains(',');
    for item in out.split(',') {
        check_item(spec, item, single)?;
    }
    Ok(out)
}

fn allowed_hint(spec: &FieldSpec) -> &'static str {
    match spec.kind {
        FieldKind::Time => " (allowed: numbers and `* , - /`)",
        FieldKind::Dom => " (allowed: numbers, `* , - / ?`, `L` and `W`)",
        FieldKind::Month => " (allowed: numbers, JAN-DEC and `* , - /`)",
        FieldKind::Dow => " (allowed: numbers, SUN-SAT, `* , - / ?`, `L` and `#`)",
    }
}

fn replace_word(spec: &FieldSpec, word: &str, prev_is_dash: bool, out: &mut String) -> Result<(), String> {
    match spec.kind {
        FieldKind::Month => {
            let Some(i) = MONTHS.iter().position(|m| *m == word) else {
                return Err(format!("unknown month name `{word}` (use JAN-DEC or 1-12)"));
            };
            let _ = write!(out, "{}", i + 1);
        }
        FieldKind::Dow => {
            if word == "L" {
                out.push('L');
            } else if let Some(i) = WEEKDAYS.iter().position(|d| *d == word) {
                // `FRI-SUN` is Friday to Sunday: a range ending in Sunday uses 7.
                let n = if i == 0 && prev_is_dash { 7 } else { i };
                let _ = write!(out, "{n}");
            } else if let Some(i) = WEEKDAYS.iter().position(|d| word.strip_suffix('L') == Some(*d)) {
                let _ = write!(out, "{i}L");
            } else {
                return Err(format!("unknown weekday name `{word}` (use SUN-SAT or 0-7)"));
            }
        }
        FieldKind::Dom => {
            if matches!(word, "L" | "W" | "LW") {
                out.push_str(word);
            } else {
                return Err(format!("unexpected `{word}` (day-of-month allows numbers, `L`, `W` and `LW`)"));
            }
        }
        FieldKind::Time => {
            return Err(format!("unexpected `{word}`{}", allowed_hint(spec)));
        }
    }
    Ok(())
}

fn parse_number(spec: &FieldSpec, text: &str, single: bool) -> Result<u32, String> {
    if text.is_empty() {
        return Err("missing number".to_owned());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not a number"));
    }
    let value = text.parse::<u32>().unwrap_or(u32::MAX);
    if value < spec.min || value > spec.max {
        return Err(if single {
            format!("value out of range {}-{}", spec.min, spec.max)
        } else {
            format!("value {text} out of range {}-{}", spec.min, spec.max)
        });
    }
    Ok(value)
}

/// One comma-separated item: `*`, `?`, `N`, `N-M`, any of those with `/step`, or the
/// day-of-month and day-of-week specials.
fn check_item(spec: &FieldSpec, item: &str, single: bool) -> Result<(), String> {
    if item.is_empty() {
        return Err("empty list item (two commas, or a comma at an end)".to_owned());
    }
    let days = matches!(spec.kind, FieldKind::Dom | FieldKind::Dow);
    if item == "*" || (days && item == "?") {
        return Ok(());
    }
    if item.contains('?') {
        return Err("`?` must stand alone".to_owned());
    }
    if let Some((base, step)) = item.split_once('/') {
        if step.contains('/') {
            return Err(format!("`{item}` has more than one `/`"));
        }
        if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("step `{step}` in `{item}` is not a number"));
        }
        let step_value = step.parse::<u32>().unwrap_or(u32::MAX);
        if step_value == 0 {
            return Err(format!("step in `{item}` must be at least 1"));
        }
        if step_value > spec.max {
            return Err(format!(
                "step {step} in `{item}` is larger than the field's range {}-{}",
                spec.min, spec.max
            ));
        }
        if base.is_empty() {
            return Err(format!("`{item}` needs a start: write `*/{step}`"));
        }
        if base == "*" {
            return Ok(());
        }
        if base.contains(['L', 'W', '#']) {
            return Err(format!("`{item}`: `L`, `W` and `#` cannot be stepped"));
        }
        return check_range(spec, base, single);
    }
    match spec.kind {
        FieldKind::Dom if item.contains(['L', 'W']) => {
            if item == "L" || item == "LW" {
                return Ok(());
            }
            if let Some(day) = item.strip_suffix('W') {
                if day.contains(['L', 'W', '-']) {
                    return Err(format!("`{item}`: write `NW` (nearest weekday to day N) or `LW`"));
                }
                parse_number(spec, day, single)?;
                return Ok(());
            }
            Err(format!("`{item}`: `L` means the last day of the month and stands alone (or `LW`)"))
        }
        FieldKind::Dow if item.contains(['L', '#']) => {
            if item == "L" {
                return Err(
                    "`L` in day-of-week needs a weekday, e.g. `5L` or `FRIL` (last Friday)".to_owned()
                );
            }
            if let Some(day) = item.strip_suffix('L') {
                if day.contains(['L', '#', '-']) {
                    return Err(format!("`{item}`: write `NL` for the last weekday N of the month"));
                }
                parse_number(spec, day, single)?;
                return Ok(());
            }
            let Some((day, nth)) = item.split_once('#') else {
                return Err(format!("`{item}`: `L` follows a weekday, as in `5L`"));
            };
            if day.contains(['L', '#', '-']) || nth.contains(['L', '#', '-']) {
                return Err(format!("`{item}`: write `N#K` for the K-th weekday N of the month"));
            }
            parse_number(spec, day, single)?;
            let k = nth.parse::<u32>().map_err(|_| format!("`{item}`: `#` needs a number 1-5 after it"))?;
            if !(1..=5).contains(&k) {
                return Err(format!("`{item}`: occurrence #{k} out of range 1-5"));
            }
            Ok(())
        }
        _ => check_range(spec, item, single),
    }
}

fn check_range(spec: &FieldSpec, text: &str, single: bool) -> Result<(), String> {
    if let Some((a, b)) = text.split_once('-') {
        if b.contains('-') {
            return Err(format!("`{text}` has more than one `-`"));
        }
        let lo = parse_number(spec, a, false)?;
        let hi = parse_number(spec, b, false)?;
        if lo > hi {
            return Err(format!("range `{text}` runs backwards; write `{b}-{a}` or a list"));
        }
        Ok(())
    } else {
        parse_number(spec, text, single).map(|_| ())
    }
}

/// Rejects fields that no calendar day satisfies, like `0 0 0 30 2 *`, which croner would search
/// until the year 5000 on every call. Only plain day-of-month numbers with an unrestricted
/// day-of-week can be impossible; `L`, `W` and weekdays always occur.
fn check_some_day_exists(expr: &str, fields: &[String; 6]) -> Result<(), ScheduleError> {
    let (dom, month, dow) = (&fields[3], &fields[4], &fields[5]);
    if !(dow == "*" || dow == "?") || dom.contains(['L', 'W']) {
        return Ok(());
    }
    let days = expand_simple(dom, 1, 31);
    let months: Vec<u32> = expand_simple(month, 1, 12);
    let longest = |m: u32| match m {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if months.iter().any(|&m| days.iter().any(|&d| d <= longest(m))) {
        return Ok(());
    }
    let names: Vec<&str> = months.iter().filter_map(|&m| MONTHS.get(m as usize - 1).copied()).collect();
    Err(ScheduleError::NeverFires {
        expr: expr.to_owned(),
        reason: format!("day {dom} does not exist in {}", names.join(", ")),
    })
}

/// The values of a names-replaced numeric field (`*`, lists, ranges, steps).
fn expand_simple(field: &str, min: u32, max: u32) -> Vec<u32> {
    let mut values = Vec::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, s.parse::<u32>().unwrap_or(1).max(1)),
            None => (item, 1),
        };
        let (lo, hi) = if base == "*" || base == "?" {
            (min, max)
        } else if let Some((a, b)) = base.split_once('-') {
            (a.parse().unwrap_or(min), b.parse().unwrap_or(max))
        } else {
            let v = base.parse().unwrap_or(min);
            (v, if item.contains('/') { max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            if !values.contains(&v) {
                values.push(v);
            }
            v += step;
        }
    }
    values.sort_unstable();
    values
}

/// Parses a Go duration (`90s`, `1h30m`, `1.5h`, `500ms`) into a whole number of seconds.
///
/// Hand-written: this is Go's `time.ParseDuration` syntax, which the old controller took, and it
/// is small enough that parsing it here lets each error say which part is wrong.
fn parse_every(text: &str) -> Result<SignedDuration, ScheduleError> {
    let err = |reason: &str| ScheduleError::Every { duration: text.to_owned(), reason: reason.to_owned() };
    if text.is_empty() {
        return Err(err("missing duration; write e.g. `@every 90s` or `@every 1h30m`"));
    }
    if text.split_whitespace().count() > 1 {
        return Err(err("the duration must be one word, like `1h30m`"));
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(err("the duration must be positive"));
    }
    let mut total_nanos: i128 = 0;
    let mut rest = body;
    if rest == "0" {
        return Err(err("the duration must be more than zero"));
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err("expected a number before each unit (units: h, m, s, ms, us, ns)"));
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: i128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" | "μs" => 1_000,
            "ns" => 1,
            "" => return Err(err(&format!("`{number}` needs a unit (h, m, s, ms, us, ns)"))),
            other => return Err(err(&format!("unknown unit `{other}` (units: h, m, s, ms, us, ns)"))),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let whole: i128 =
            if whole.is_empty() { 0 } else { whole.parse().map_err(|_| err("number too large"))? };
        let mut part = whole.checked_mul(unit_nanos).ok_or_else(|| err("duration too large"))?;
        let mut scale = unit_nanos;
        for digit in frac.bytes().take(18) {
            scale /= 10;
            part += i128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(part).ok_or_else(|| err("duration too large"))?;
        // About 300 years: beyond that jiff cannot add it to a timestamp anyway.
        if total_nanos > 10_000_000_000_000_000_000 {
            return Err(err("duration too large"));
        }
    }
    if total_nanos == 0 {
        return Err(err("the duration must be more than zero"));
    }
    if total_nanos % 1_000_000_000 != 0 {
        return Err(err("the duration must be a whole number of seconds"));
    }
    let secs = i64::try_from(total_nanos / 1_000_000_000).map_err(|_| err("duration too large"))?;
    Ok(SignedDuration::from_secs(secs))
}

/// Parses `YYYY-MM-DD HH:MM:SS` strictly, with messages naming the bad part.
fn parse_date(text: &str) -> Result<DateTime, ScheduleError> {
    let err = |reason: String| ScheduleError::Date { value: text.to_owned(), reason };
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [date, time] = parts.as_slice() else {
        return Err(err("expected `YYYY-MM-DD HH:MM:SS`, e.g. `@date 2026-11-16 23:59:00`".to_owned()));
    };
    let date = parse_iso_date(date).map_err(&err)?;
    let numbers: Vec<&str> = time.split(':').collect();
    let [h, m, s] = numbers.as_slice() else {
        return Err(err(format!("time `{time}` is not `HH:MM:SS`")));
    };
    let num = |part: &str, what: &str, max: i8| -> Result<i8, ScheduleError> {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(format!("{what} `{part}` in `{time}` is not two digits")));
        }
        let v: i8 = part.parse().map_err(|_| err(format!("{what} `{part}` is not a number")))?;
        if v > max {
            return Err(err(format!("{what} {v} in `{time}` out of range 0-{max}")));
        }
        Ok(v)
    };
    let time = Time::new(num(h, "hour", 23)?, num(m, "minute", 59)?, num(s, "second", 59)?, 0)
        .map_err(|e| err(e.to_string()))?;
    Ok(date.to_datetime(time))
}

/// Parses a strict `YYYY-MM-DD`; the message names the bad part. Shared with exclusions.
pub(crate) fn parse_iso_date(text: &str) -> Result<Date, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(format!("date `{text}` is not `YYYY-MM-DD`"));
    };
    let digits = |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(y, 4) {
        return Err(format!("year `{y}` in `{text}` is not four digits"));
    }
    if !digits(m, 2) {
        return Err(format!("month `{m}` in `{text}` is not two digits"));
    }
    if !digits(d, 2) {
        return Err(format!("day `{d}` in `{text}` is not two digits"));
    }
    let year: i16 = y.parse().map_err(|_| format!("year `{y}` is not a number"))?;
    let month: i8 = m.parse().map_err(|_| format!("month `{m}` is not a number"))?;
    let day: i8 = d.parse().map_err(|_| format!("day `{d}` is not a number"))?;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} in `{text}` out of range 01-12"));
    }
    Date::new(year, month, day)
        .map_err(|_| format!("`{text}` does not exist (day {day} is past the end of the month)"))
}

// ---------------------------------------------------------------------------------------------
// Describing, for legacy_reading

/// How the old controller would read `f0 f1 f2 f3 f4` (as `sec min hour dom month`), or `None`
/// when it would reject it.
fn legacy_description(written: &[&str; 5]) -> Option<String> {
    // robfig/cron, which the old controller used, has no L, W or # and 0-6 weekdays; the month
    // field is the fifth, so weekday names there are errors.
    let specs = [&FIELDS[0], &FIELDS[1], &FIELDS[2], &FIELDS[3], &FIELDS[4]];
    let mut fields: [String; 6] = std::array::from_fn(|_| "*".to_owned());
    for (i, (spec, raw)) in specs.iter().zip(written).enumerate() {
        let f = normalize_field(spec, raw).ok()?;
        if f.contains(['L', 'W', '#']) {
            return None;
        }
        fields[i] = f;
    }
    parser().parse(&fields.join(" ")).ok()?;
    Some(describe_fields(&fields))
}

/// A short English description of six normalised fields, precise enough to tell two readings
/// apart: "every hour at minute 8 (second 0)", "at 08:00:00 every day".
fn describe_fields(fields: &[String; 6]) -> String {
    let [sec, min, hour, dom, month, dow] = fields;
    let plain = |f: &str| f.bytes().all(|b| b.is_ascii_digit());
    let time = if plain(sec) && plain(min) && plain(hour) {
        let n = |f: &str| f.parse::<u32>().unwrap_or(0);
        format!("at {:02}:{:02}:{:02}", n(hour), n(min), n(sec))
    } else if plain(sec) && plain(min) && hour == "*" {
        format!("every hour at minute {min} (second {sec})")
    } else if plain(sec) && min == "*" && hour == "*" {
        format!("every minute at second {sec}")
    } else if sec == "*" && min == "*" && hour == "*" {
        "every second".to_owned()
    } else if min == "*" && hour == "*" {
        format!("every minute at seconds `{sec}`")
    } else if plain(sec) && hour == "*" {
        format!("every hour at minutes `{min}` (second {sec})")
    } else {
        format!("at second `{sec}`, minute `{min}`, hour `{hour}`")
    };
    let star = |f: &str| f == "*" || f == "?";
    let days = match (star(dom), star(dow)) {
        // "every hour at minute 8" already says every day.
        (true, true) if time.starts_with("every") => String::new(),
        (true, true) => " every day".to_owned(),
        (false, true) => format!(" on day-of-month `{dom}`"),
        (true, false) => format!(" on day-of-week `{dow}`"),
        (false, false) => format!(" on day-of-month `{dom}` or day-of-week `{dow}`"),
    };
    let months = if star(month) { String::new() } else { format!(" in month `{month}`") };
    format!("{time}{days}{months}")
}

// ---------------------------------------------------------------------------------------------
// Evaluation

fn floor_second(dt: DateTime) -> DateTime {
    dt.with().subsec_nanosecond(0).build().unwrap_or(dt)
}

/// A cron pattern prepared for searching wall times.
///
/// The search is hand-written on top of croner's parsed pattern: croner decides which days match
/// (`L`, `W`, `#`, the vixie day rule) and which values each time field holds, and this finds the
/// next or previous matching time of day with bit masks. croner's own `find_next_occurrence`
/// re-derives the job's DST class from its fields on every call (a scan of 144 bit positions),
/// which was over half of the time in the `next_fire` benchmark. Tests check this search against
/// croner's on random patterns and instants.
#[derive(Debug, Clone)]
struct Search {
    /// Bit `n` set when second `n` matches.
    seconds: u64,
    /// Bit `n` set when minute `n` matches.
    minutes: u64,
    /// Bit `n` set when hour `n` matches.
    hours: u64,
    /// Bit `n` set when month `n` (1-12) matches.
    months: u64,
    /// Day of month and day of week both `*`: every day of a matching month matches.
    every_day: bool,
    /// The matching days of a month, by its length (`[0]` for 28 days .. `[3]` for 31) and the
    /// weekday of its 1st (Sunday = 0): bit `d` set when day `d` matches. This is croner's own
    /// day matcher (`L`, `W`, `#`, the either-matches rule) tabulated once at parse time: a day's
    /// match depends only on those two facts of its month. Keeping croner's parsed pattern
    /// instead costs about 10 KB per schedule (one byte per possible value of every field, years
    /// included), which a controller holding tens of thousands of jobs cannot afford.
    days: [[u32; 7]; 4],
}

/// croner's day matcher over one real month of each (length, weekday of the 1st) pair; all 28
/// pairs occur among the months of any 28 consecutive years.
fn day_table(cron: &Cron) -> [[u32; 7]; 4] {
    let pattern = &cron.pattern;
    let mut table = [[0u32; 7]; 4];
    let mut seen = [[false; 7]; 4];
    for year in 2000..2028_i16 {
        for month in 1..=12_i8 {
            let first = Date::new(year, month, 1).expect("a real month");
            let length = first.days_in_month();
            let (l, w) = (
                usize::from(length.unsigned_abs()) - 28,
                usize::from(first.weekday().to_sunday_zero_offset().unsigned_abs()),
            );
            if std::mem::replace(&mut seen[l][w], true) {
                continue;
            }
            for day in 1..=length {
                let weekday = croner::Weekday::from_days_from_sunday(
                    u32::try_from((w + usize::from(day.unsigned_abs()) - 1) % 7).expect("< 7"),
                );
                let matches = pattern
                    .day_match(
                        i32::from(year),
                        u32::from(month.unsigned_abs()),
                        u32::from(day.unsigned_abs()),
                        weekday,
                    )
                    .unwrap_or(false);
                if matches {
                    table[l][w] |= 1 << day;
                }
            }
        }
    }
    table
}

/// How many days a search looks at before giving up: every pattern repeats within the 400 years
/// of the Gregorian cycle.
const MAX_SEARCH_DAYS: i32 = 146_097 + 366;

fn mask(component: &croner::CronComponent) -> u64 {
    component.values().iter().filter(|v| **v < 64).fold(0, |m, v| m | (1u64 << v))
}

/// The smallest value at or above `from` in `mask`.
fn next_in(mask: u64, from: i8) -> Option<i8> {
    let shifted = mask.checked_shr(u32::try_from(from).ok()?)?;
    if shifted == 0 {
        return None;
    }
    i8::try_from(shifted.trailing_zeros()).ok().map(|d| from + d)
}

/// The largest value at or below `from` in `mask`.
fn prev_in(mask: u64, from: i8) -> Option<i8> {
    let kept = match u32::try_from(from).ok()? {
        63.. => mask,
        bits => mask & ((1u64 << (bits + 1)) - 1),
    };
    if kept == 0 {
        return None;
    }
    i8::try_from(kept.ilog2()).ok()
}

impl Search {
    fn new(cron: &Cron) -> Self {
        let p = &cron.pattern;
        let every_day = p.is_dom_wildcard() && p.is_dow_wildcard();
        Self {
            seconds: mask(&p.seconds),
            minutes: mask(&p.minutes),
            hours: mask(&p.hours),
            months: mask(&p.months),
            every_day,
            days: if every_day { [[0; 7]; 4] } else { day_table(cron) },
        }
    }

    fn day_matches(&self, date: Date) -> bool {
        let month = date.month().unsigned_abs();
        if self.months & (1 << month) == 0 {
            return false;
        }
        if self.every_day {
            return true;
        }
        let length = usize::from(date.days_in_month().unsigned_abs()) - 28;
        let first = usize::from(date.first_of_month().weekday().to_sunday_zero_offset().unsigned_abs());
        self.days[length][first] & (1 << date.day()) != 0
    }

    /// The first matching time of day at or after `from`.
    fn next_time(&self, from: Time) -> Option<Time> {
        let (mut h, mut m, mut s) = (from.hour(), from.minute(), from.second());
        loop {
            let hour = next_in(self.hours, h)?;
            if hour != h {
                (m, s) = (0, 0);
            }
            if let Some(minute) = next_in(self.minutes, m) {
                let second = if minute == m { next_in(self.seconds, s) } else { next_in(self.seconds, 0) };
                if let Some(second) = second {
                    return Time::new(hour, minute, second, 0).ok();
                }
                if let Some(minute) = next_in(self.minutes, minute + 1) {
                    return Time::new(hour, minute, next_in(self.seconds, 0)?, 0).ok();
                }
            }
            (h, m, s) = (hour + 1, 0, 0);
            if h > 23 {
                return None;
            }
        }
    }

    /// The last matching time of day at or before `from`.
    fn prev_time(&self, from: Time) -> Option<Time> {
        let (mut h, mut m, mut s) = (from.hour(), from.minute(), from.second());
        loop {
            let hour = prev_in(self.hours, h)?;
            if hour != h {
                (m, s) = (59, 59);
            }
            if let Some(minute) = prev_in(self.minutes, m) {
                let second = if minute == m { prev_in(self.seconds, s) } else { prev_in(self.seconds, 59) };
                if let Some(second) = second {
                    return Time::new(hour, minute, second, 0).ok();
                }
                if minute > 0
                    && let Some(minute) = prev_in(self.minutes, minute - 1)
                {
                    return Time::new(hour, minute, prev_in(self.seconds, 59)?, 0).ok();
                }
            }
            if hour == 0 {
                return None;
            }
            (h, m, s) = (hour - 1, 59, 59);
        }
    }

    /// The first matching wall time after `from` (at or after, when `inclusive`).
    fn next_wall(&self, from: DateTime, inclusive: bool) -> Option<DateTime> {
        let mut start = floor_second(from);
        if !inclusive {
            start = start.checked_add(SignedDuration::from_secs(1)).ok()?;
        }
        let (mut date, mut time) = (start.date(), start.time());
        for _ in 0..MAX_SEARCH_DAYS {
            if self.months & (1 << date.month().unsigned_abs()) == 0 {
                // Skip the rest of a month that does not match.
                date = date.last_of_month().tomorrow().ok()?;
                time = Time::midnight();
                continue;
            }
            if self.day_matches(date)
                && let Some(t) = self.next_time(time)
            {
                return Some(date.to_datetime(t));
            }
            date = date.tomorrow().ok()?;
            time = Time::midnight();
        }
        None
    }

    /// The last matching wall time before `from` (at or before, when `inclusive`).
    fn prev_wall(&self, from: DateTime, inclusive: bool) -> Option<DateTime> {
        let mut start = floor_second(from);
        if !inclusive {
            start = start.checked_sub(SignedDuration::from_secs(1)).ok()?;
        }
        let end_of_day = Time::new(23, 59, 59, 0).ok()?;
        let (mut date, mut time) = (start.date(), start.time());
        for _ in 0..MAX_SEARCH_DAYS {
            if self.months & (1 << date.month().unsigned_abs()) == 0 {
                date = date.first_of_month().yesterday().ok()?;
                time = end_of_day;
                continue;
            }
            if self.day_matches(date)
                && let Some(t) = self.prev_time(time)
            {
                return Some(date.to_datetime(t));
            }
            date = date.yesterday().ok()?;
            time = end_of_day;
        }
        None
    }
}

/// The instant a fixed-time job fires for the wall time `wall`: the wall time itself; its first
/// occurrence when a fall-back change repeats it; the moment of the change when a spring-forward
/// change skips it. Non-decreasing in `wall`.
fn first_instant(zone: &TimeZone, wall: DateTime) -> Option<Timestamp> {
    match zone.to_ambiguous_timestamp(wall).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(wall).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // `wall` read with the offset after the change is an instant before the change.
            let inside = after.to_timestamp(wall).ok()?;
            zone.following(inside).next().map(|t| t.timestamp())
        }
    }
}

/// Where `at` sits relative to a repeated (fall-back) range of wall times.
enum FoldSide {
    /// `at`'s wall time happens once.
    None,
    /// `at` is in the first pass; the change happens at `change`.
    Earlier { change: Timestamp, before: jiff::tz::Offset, after: jiff::tz::Offset },
    /// `at` is in the second pass; the change happened at `change`.
    Later { change: Timestamp, before: jiff::tz::Offset, after: jiff::tz::Offset },
}

fn fold_side(zone: &TimeZone, at: Timestamp, wall: DateTime) -> FoldSide {
    let AmbiguousOffset::Fold { before, after } = zone.to_ambiguous_timestamp(wall).offset() else {
        return FoldSide::None;
    };
    let Ok(later) = after.to_timestamp(wall) else {
        return FoldSide::None;
    };
    if at < later {
        match zone.following(at).next() {
            Some(t) => FoldSide::Earlier { change: t.timestamp(), before, after },
            None => FoldSide::None,
        }
    } else {
        let probe = at.checked_add(SignedDuration::from_nanos(1)).unwrap_or(at);
        match zone.preceding(probe).next() {
            Some(t) => FoldSide::Later { change: t.timestamp(), before, after },
            None => FoldSide::None,
        }
    }
}

fn next_fixed(search: &Search, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let wall = floor_second(zone.to_datetime(after));
    let mut from = wall;
    if let FoldSide::Later { change, before, .. } = fold_side(zone, after, wall) {
        // Every wall time of the repeated range fired in its first pass, before `after`; resume
        // where the range ends.
        let end = before.to_datetime(change);
        from = end.checked_sub(SignedDuration::from_secs(1)).ok()?;
    }
    for _ in 0..MAX_STEPS {
        let w = search.next_wall(from, false)?;
        let t = first_instant(zone, w)?;
        if t > after {
            return Some(t);
        }
        from = w;
    }
    None
}

fn prev_fixed(search: &Search, zone: &TimeZone, at: Timestamp) -> Option<Timestamp> {
    let wall = floor_second(zone.to_datetime(at));
    let mut from = wall;
    if let FoldSide::Later { change, before, .. } = fold_side(zone, at, wall) {
        // The whole repeated range fired in its first pass, before `at`.
        let end = before.to_datetime(change);
        from = end.checked_sub(SignedDuration::from_secs(1)).ok()?;
    }
    let mut inclusive = true;
    for _ in 0..MAX_STEPS {
        let w = search.prev_wall(from, inclusive)?;
        let t = first_instant(zone, w)?;
        if t <= at {
            return Some(t);
        }
        from = w;
        inclusive = false;
    }
    None
}

fn next_interval(search: &Search, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let wall = floor_second(zone.to_datetime(after));
    // Walk the wall clock forward from `after`'s wall time.
    let mut found = None;
    let mut from = wall;
    for _ in 0..MAX_STEPS {
        let Some(w) = search.next_wall(from, false) else { break };
        let candidate = match zone.to_ambiguous_timestamp(w).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(w).ok().filter(|t| *t > after),
            AmbiguousOffset::Fold { before, after: later } => {
                let first = before.to_timestamp(w).ok().filter(|t| *t > after);
                first.or_else(|| later.to_timestamp(w).ok().filter(|t| *t > after))
            }
            AmbiguousOffset::Gap { .. } => None,
        };
        if candidate.is_some() {
            found = candidate;
            break;
        }
        from = w;
    }
    // From the first pass of a repeated range, the second pass still lies ahead, at wall times the
    // walk above has already passed.
    if let FoldSide::Earlier { change, before, after: later } = fold_side(zone, after, wall) {
        let start = later.to_datetime(change);
        let end = before.to_datetime(change);
        if let Some(w) = search.next_wall(start, true).filter(|w| *w < end)
            && let Ok(t) = later.to_timestamp(w)
            && t > after
            && found.is_none_or(|f| t < f)
        {
            found = Some(t);
        }
    }
    found
}

fn prev_interval(search: &Search, zone: &TimeZone, at: Timestamp) -> Option<Timestamp> {
    let wall = floor_second(zone.to_datetime(at));
    let mut found = None;
    let mut from = wall;
    let mut inclusive = true;
    for _ in 0..MAX_STEPS {
        let Some(w) = search.prev_wall(from, inclusive) else { break };
        let candidate = match zone.to_ambiguous_timestamp(w).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(w).ok().filter(|t| *t <= at),
            AmbiguousOffset::Fold { before, after: later } => {
                let second = later.to_timestamp(w).ok().filter(|t| *t <= at);
                second.or_else(|| before.to_timestamp(w).ok().filter(|t| *t <= at))
            }
            AmbiguousOffset::Gap { .. } => None,
        };
        if candidate.is_some() {
            found = candidate;
            break;
        }
        from = w;
        inclusive = false;
    }
    // From the second pass of a repeated range, the first pass lies behind, at wall times after
    // `at`'s own.
    if let FoldSide::Later { change, before, after: later } = fold_side(zone, at, wall) {
        let start = later.to_datetime(change);
        let end = before.to_datetime(change);
        if let Some(last) = end.checked_sub(SignedDuration::from_secs(1)).ok()
            && let Some(w) = search.prev_wall(last, true).filter(|w| *w >= start)
            && let Ok(t) = before.to_timestamp(w)
            && t <= at
            && found.is_none_or(|f| t > f)
        {
            found = Some(t);
        }
    }
    found
}

fn every_next(period: SignedDuration, origin: Timestamp, after: Timestamp) -> Option<Timestamp> {
    let d = period.as_nanos();
    if d <= 0 {
        return None;
    }
    let diff = after.as_nanosecond() - origin.as_nanosecond();
    let k = if diff < 0 { 1 } else { diff / d + 1 };
    Timestamp::from_nanosecond(origin.as_nanosecond().checked_add(k.checked_mul(d)?)?).ok()
}

fn every_prev(period: SignedDuration, origin: Timestamp, at: Timestamp) -> Option<Timestamp> {
    let d = period.as_nanos();
    if d <= 0 {
        return None;
    }
    let diff = at.as_nanosecond() - origin.as_nanosecond();
    if diff < d {
        return None;
    }
    Timestamp::from_nanosecond(origin.as_nanosecond() + (diff / d) * d).ok()
}

mod gap;
#[cfg(test)]
mod tests;
