//! Which of an object's due fires is applied: the rule, as a pure function.
//!
//! All fires of one object that are due at one take (regular fires, retries and catch-ups, of
//! any of its jobs) are decided together, because only one of them can decide the size: the
//! latest non-excluded one within the starting deadline (same instant: the last job in
//! `jobs[]` order). It *stands*; the others are settled without a write.

use diurnal_core::Plan;
use diurnal_core::exclusion::is_excluded;
use jiff::{SignedDuration, Timestamp};

use super::job::DueKind;

/// One due fire of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Candidate {
    /// Index of the job in the object's `jobs[]`.
    pub job: usize,
    /// The fire's scheduled instant.
    pub fire_at: Timestamp,
    /// Regular, catch-up or retry.
    pub kind: DueKind,
    /// Its day is excluded.
    pub excluded: bool,
}

/// Why a due fire was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Its day is excluded by `excludeDates`: it does not scale, and supersedes nothing.
    Excluded,
    /// A later fire of the same object (or the same instant's later job) stands instead.
    Superseded {
        /// The job whose fire stands.
        by_job: String,
        /// That fire's instant.
        by_fire: Timestamp,
    },
    /// Later than `startingDeadlineSeconds` after its instant.
    Missed {
        /// How late it would have been.
        late: SignedDuration,
    },
}

/// The fire that stands (if any) and how each other candidate is settled.
pub(super) fn decide(
    mut candidates: Vec<Candidate>,
    now: Timestamp,
    deadline: Option<SignedDuration>,
) -> (Option<Candidate>, Vec<(Candidate, SettledAt)>) {
    candidates.sort_by_key(|c| (c.fire_at, c.job));
    let within = |c: &Candidate| deadline.is_none_or(|d| now.duration_since(c.fire_at) <= d);
    let stand = candidates.iter().rev().find(|c| !c.excluded && within(c)).copied();
    let settled = candidates
        .into_iter()
        .filter(|c| Some(*c) != stand)
        .map(|c| {
            let why = if c.excluded {
                SettledAt::Excluded
            } else if !within(&c) {
                SettledAt::Missed(now.duration_since(c.fire_at))
            } else {
                // `stand` exists: `c` itself was a candidate for it.
                SettledAt::Superseded
            };
            (c, why)
        })
        .collect();
    (stand, settled)
}

/// How [`decide`] settled a candidate; the stand's job names it in [`Settled::Superseded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SettledAt {
    Excluded,
    Superseded,
    Missed(SignedDuration),
}

/// Days a catch-up search walks back over at most (each step skips a whole excluded day).
const MAX_EXCLUDED_DAYS: usize = 3660;

/// The latest fire of plan job `p` with `not_before < fire <= now` on a day that is not
/// excluded. Walks back a day at a time over excluded days, so a per-second job behind a long
/// weekend costs a few steps, not one per fire.
pub(super) fn latest_not_excluded(
    plan: &Plan,
    p: usize,
    now: Timestamp,
    not_before: Timestamp,
) -> Option<Timestamp> {
    let mut at = now;
    for _ in 0..MAX_EXCLUDED_DAYS {
        let fire = plan.last_fire_at_or_before(p, at, not_before)?;
        if !is_excluded(&plan.exclusions, fire, &plan.zone) {
            return Some(fire);
        }
        let day_start = fire.to_zoned(plan.zone.clone()).start_of_day().ok()?.timestamp();
        at = day_start.checked_sub(SignedDuration::from_nanos(1)).ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn c(job: usize, at: &str, excluded: bool) -> Candidate {
        Candidate { job, fire_at: t(at), kind: DueKind::Regular, excluded }
    }

    #[test]
    fn the_latest_fire_stands_and_the_last_job_wins_a_tie() {
        let now = t("2026-03-02T10:00:00Z");
        let (stand, settled) = decide(
            vec![
                c(1, "2026-03-02T10:00:00Z", false),
                c(2, "2026-03-02T09:00:00Z", false),
                c(0, "2026-03-02T10:00:00Z", false),
            ],
            now,
            None,
        );
        assert_eq!(stand, Some(c(1, "2026-03-02T10:00:00Z", false)));
        let why: Vec<(usize, SettledAt)> = settled.iter().map(|(c, w)| (c.job, *w)).collect();
        assert_eq!(why, [(2, SettledAt::Superseded), (0, SettledAt::Superseded)]);
    }

    #[test]
    fn an_excluded_fire_never_stands_nor_supersedes() {
        let now = t("2026-03-07T10:00:00Z");
        let (stand, settled) =
            decide(vec![c(1, "2026-03-06T18:00:00Z", false), c(0, "2026-03-07T09:00:00Z", true)], now, None);
        assert_eq!(stand.map(|s| s.job), Some(1));
        assert_eq!(settled[0].1, SettledAt::Excluded);
    }

    #[test]
    fn fires_past_the_deadline_are_missed_and_nothing_stands() {
        let now = t("2026-03-02T10:00:30Z");
        let (stand, settled) =
            decide(vec![c(0, "2026-03-02T10:00:00Z", false)], now, Some(SignedDuration::from_secs(10)));
        assert_eq!(stand, None);
        assert_eq!(settled[0].1, SettledAt::Missed(SignedDuration::from_secs(30)));
    }
}
