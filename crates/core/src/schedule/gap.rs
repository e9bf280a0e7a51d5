//! The shortest time between two consecutive fires of a schedule: what a controller's minimum
//! fire interval is checked against.

use jiff::SignedDuration;

use super::{Kind, Schedule, Search};

const DAY: i64 = 86_400;

impl Schedule {
    /// The shortest time between two consecutive fires, or `None` for a schedule that fires once
    /// (`@date`).
    ///
    /// `@every` fires exactly its period apart. A cron expression is read on the wall clock: its
    /// times of day are every combination of its hour, minute and second fields, and the answer is
    /// the shortest distance between two neighbouring times of day, including from the last time of
    /// one day to the first of the next, as if the expression matched consecutive days. (That
    /// makes it a bound, exact for every expression that fires daily; a DST change can shorten one
    /// gap once, by the size of the change.)
    pub fn shortest_gap(&self) -> Option<SignedDuration> {
        match &self.kind {
            Kind::Cron { search, .. } => Some(SignedDuration::from_secs(cron_gap(search))),
            Kind::Every(period) => Some(*period),
            Kind::Date(_) => None,
        }
    }
}

/// Seconds between the closest two neighbouring times of day of `search`'s time fields.
fn cron_gap(search: &Search) -> i64 {
    let bits = |mask: u64, max: i64| (0..=max).filter(move |v| mask & (1 << v) != 0);
    let mut first = None;
    let mut previous: Option<i64> = None;
    let mut shortest = DAY;
    for h in bits(search.hours, 23) {
        for m in bits(search.minutes, 59) {
            for s in bits(search.seconds, 59) {
                let at = h * 3_600 + m * 60 + s;
                if let Some(p) = previous {
                    shortest = shortest.min(at - p);
                    if shortest == 1 {
                        return 1;
                    }
                }
                first.get_or_insert(at);
                previous = Some(at);
            }
        }
    }
    if let (Some(first), Some(last)) = (first, previous) {
        shortest = shortest.min(DAY - last + first);
    }
    shortest
}

#[cfg(test)]
mod tests {
    use crate::Schedule;
    use jiff::SignedDuration;

    fn gap(expr: &str) -> Option<i64> {
        Schedule::parse(expr).unwrap().shortest_gap().map(|d| d.as_secs())
    }

    #[test]
    fn cron_gaps_are_the_closest_neighbouring_times_of_day() {
        assert_eq!(gap("* * * * * *"), Some(1));
        assert_eq!(gap("*/5 * * * * *"), Some(5));
        assert_eq!(gap("0 * * * * *"), Some(60));
        assert_eq!(gap("*/15 * * * *"), Some(900), "five fields: every 15 minutes");
        assert_eq!(gap("@hourly"), Some(3_600));
        assert_eq!(gap("0 0 9 * * MON-FRI"), Some(86_400), "once a day: a day to the next");
        assert_eq!(gap("0 0 9,17 * * *"), Some(8 * 3_600), "17:00 to 09:00 is 16 h, 09:00 to 17:00 is 8 h");
        assert_eq!(gap("0,30 0 9 * * *"), Some(30));
        // Only the wrap-around is short: 23:59:30 to 00:00:00 the next day.
        assert_eq!(gap("0,30 0,59 0,23 * * *"), Some(30));
        assert_eq!(gap("30 59 23,0 * * *"), Some(86_400 - 23 * 3_600));
        assert_eq!(gap("0 0 0 * * *"), Some(86_400));
    }

    #[test]
    fn every_is_its_period_and_a_date_has_no_gap() {
        assert_eq!(gap("@every 90s"), Some(90));
        assert_eq!(gap("@every 1h30m"), Some(5_400));
        assert_eq!(gap("@date 2026-10-01 08:00:00"), None);
    }

    proptest::proptest! {
        /// No two consecutive fires of a daily cron schedule in UTC are closer than its gap, and
        /// some two are exactly that close.
        #[test]
        fn the_gap_is_the_closest_two_fires_come(
            secs in proptest::collection::btree_set(0u8..60, 1..4),
            mins in proptest::collection::btree_set(0u8..60, 1..4),
            hours in proptest::collection::btree_set(0u8..24, 1..4),
        ) {
            let list = |s: &std::collections::BTreeSet<u8>| {
                s.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            };
            let expr = format!("{} {} {} * * *", list(&secs), list(&mins), list(&hours));
            let schedule = Schedule::parse(&expr).unwrap();
            let shortest = schedule.shortest_gap().unwrap();
            let utc = jiff::tz::TimeZone::UTC;
            let origin = jiff::Timestamp::UNIX_EPOCH;
            let start: jiff::Timestamp = "2026-06-01T00:00:00Z".parse().unwrap();
            let mut at = schedule.next_after(start, &utc, origin).unwrap();
            let mut closest = SignedDuration::MAX;
            for _ in 0..=(secs.len() * mins.len() * hours.len() * 2) {
                let next = schedule.next_after(at, &utc, origin).unwrap();
                closest = closest.min(next.duration_since(at));
                at = next;
            }
            proptest::prop_assert_eq!(closest, shortest, "{}", expr);
        }
    }
}
