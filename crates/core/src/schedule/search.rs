//! Evaluating a schedule: the next and previous matching instants in a zone, through daylight-
//! saving gaps and folds, by a bit-mask search over croner's parsed pattern.

use croner::Cron;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::MAX_STEPS;

pub(super) fn floor_second(dt: DateTime) -> DateTime {
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
pub(super) struct Search {
    /// Bit `n` set when second `n` matches.
    pub(super) seconds: u64,
    /// Bit `n` set when minute `n` matches.
    pub(super) minutes: u64,
    /// Bit `n` set when hour `n` matches.
    pub(super) hours: u64,
    /// Bit `n` set when month `n` (1-12) matches.
    pub(super) months: u64,
    /// Day of month and day of week both `*`: every day of a matching month matches.
    pub(super) every_day: bool,
    /// The matching days of a month, by its length (`[0]` for 28 days .. `[3]` for 31) and the
    /// weekday of its 1st (Sunday = 0): bit `d` set when day `d` matches. This is croner's own
    /// day matcher (`L`, `W`, `#`, the either-matches rule) tabulated once at parse time: a day's
    /// match depends only on those two facts of its month. Keeping croner's parsed pattern
    /// instead costs about 10 KB per schedule (one byte per possible value of every field, years
    /// included), which a controller holding tens of thousands of jobs cannot afford.
    pub(super) days: [[u32; 7]; 4],
}

/// croner's day matcher over one real month of each (length, weekday of the 1st) pair; all 28
/// pairs occur among the months of any 28 consecutive years.
pub(super) fn day_table(cron: &Cron) -> [[u32; 7]; 4] {
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
pub(super) const MAX_SEARCH_DAYS: i32 = 146_097 + 366;

pub(super) fn mask(component: &croner::CronComponent) -> u64 {
    component.values().iter().filter(|v| **v < 64).fold(0, |m, v| m | (1u64 << v))
}

/// The smallest value at or above `from` in `mask`.
pub(super) fn next_in(mask: u64, from: i8) -> Option<i8> {
    let shifted = mask.checked_shr(u32::try_from(from).ok()?)?;
    if shifted == 0 {
        return None;
    }
    i8::try_from(shifted.trailing_zeros()).ok().map(|d| from + d)
}

/// The largest value at or below `from` in `mask`.
pub(super) fn prev_in(mask: u64, from: i8) -> Option<i8> {
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
    pub(super) fn new(cron: &Cron) -> Self {
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

    pub(super) fn day_matches(&self, date: Date) -> bool {
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
    pub(super) fn next_time(&self, from: Time) -> Option<Time> {
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
    pub(super) fn prev_time(&self, from: Time) -> Option<Time> {
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
    pub(super) fn next_wall(&self, from: DateTime, inclusive: bool) -> Option<DateTime> {
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
    pub(super) fn prev_wall(&self, from: DateTime, inclusive: bool) -> Option<DateTime> {
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
pub(super) fn first_instant(zone: &TimeZone, wall: DateTime) -> Option<Timestamp> {
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
pub(super) enum FoldSide {
    /// `at`'s wall time happens once.
    None,
    /// `at` is in the first pass; the change happens at `change`.
    Earlier { change: Timestamp, before: jiff::tz::Offset, after: jiff::tz::Offset },
    /// `at` is in the second pass; the change happened at `change`.
    Later { change: Timestamp, before: jiff::tz::Offset, after: jiff::tz::Offset },
}

pub(super) fn fold_side(zone: &TimeZone, at: Timestamp, wall: DateTime) -> FoldSide {
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

pub(super) fn next_fixed(search: &Search, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
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

pub(super) fn prev_fixed(search: &Search, zone: &TimeZone, at: Timestamp) -> Option<Timestamp> {
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

pub(super) fn next_interval(search: &Search, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
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

pub(super) fn prev_interval(search: &Search, zone: &TimeZone, at: Timestamp) -> Option<Timestamp> {
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

pub(super) fn every_next(period: SignedDuration, origin: Timestamp, after: Timestamp) -> Option<Timestamp> {
    let d = period.as_nanos();
    if d <= 0 {
        return None;
    }
    let diff = after.as_nanosecond() - origin.as_nanosecond();
    let k = if diff < 0 { 1 } else { diff / d + 1 };
    Timestamp::from_nanosecond(origin.as_nanosecond().checked_add(k.checked_mul(d)?)?).ok()
}

pub(super) fn every_prev(period: SignedDuration, origin: Timestamp, at: Timestamp) -> Option<Timestamp> {
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
