//! Which of an object's due fires is applied: the rule, as a pure function.
//!
//! All fires of one object that are due at one take (regular fires, retries and catch-ups, of
//! any of its jobs) are decided together, because only one of them can decide the size: the
//! latest one within the starting deadline that is neither on an excluded day nor of a suspended
//! job (same instant: the last job in `jobs[]` order). It *stands*; the others are settled
//! without a write, and each settled fire is recorded in its job's history. Taking it
//! ([`Scheduler::take_due`]) is here too.

use std::cmp::Reverse;

use diurnal_api::{Changes, Execution, ExecutionResult};
use diurnal_core::Plan;
use diurnal_core::exclusion::is_excluded;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::job::{DueKind, Phase};
use super::{Due, Object, Scheduler, SettledFire, Taken};

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
    /// Its job is suspended (`jobs[].suspend`).
    pub suspended: bool,
}

impl Candidate {
    /// Excluded or suspended: it can neither stand nor supersede.
    fn blocked(&self) -> bool {
        self.excluded || self.suspended
    }
}

/// Why a due fire was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Its day is excluded by `excludeDates`: it does not scale, and supersedes nothing.
    Excluded,
    /// Its job is suspended (`jobs[].suspend`): as an excluded day, for that job only.
    Suspended,
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
    let stand = candidates.iter().rev().find(|c| !c.blocked() && within(c)).copied();
    let settled = candidates
        .into_iter()
        .filter(|c| Some(*c) != stand)
        .map(|c| {
            let why = if c.suspended {
                SettledAt::Suspended
            } else if c.excluded {
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
    Suspended,
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

/// Settles a due fire without a write: the job's message and history say why, and a `runOnce`
/// job superseded by another job's fire is done.
fn settle(object: &mut Object, c: Candidate, why: Settled, now: Timestamp, taken: &mut Taken) {
    let limit = object.history_limit;
    let job = &mut object.jobs[c.job];
    job.message = match &why {
        Settled::Excluded => {
            format!("not scaled: the fire of {} falls on a day excluded by excludeDates", c.fire_at)
        }
        Settled::Suspended => {
            format!("not scaled: the fire of {} came while the job is suspended", c.fire_at)
        }
        Settled::Superseded { by_job, by_fire } => {
            format!("the fire of {} was superseded by job {by_job}'s fire of {by_fire}", c.fire_at)
        }
        Settled::Missed { late } => format!(
            "the fire of {} was missed: {}s late, past startingDeadlineSeconds",
            c.fire_at,
            late.as_secs()
        ),
    };
    // Superseded by another job, a runOnce job's fire is consumed (its effect would have been
    // overwritten at once); by a later fire of its own, it still waits for it.
    if job.run_once && matches!(&why, Settled::Superseded { by_job, .. } if *by_job != job.name) {
        job.finish_run_once();
    }
    let result = match &why {
        Settled::Excluded => ExecutionResult::Excluded,
        Settled::Suspended => ExecutionResult::Suspended,
        Settled::Superseded { .. } => ExecutionResult::Superseded,
        Settled::Missed { .. } => ExecutionResult::MissedDeadline,
    };
    let execution = Execution {
        schedule_time: Time(c.fire_at),
        execution_time: Time(now),
        kind: c.kind.execution_kind(),
        result,
        changes: Changes::default(),
        message: job.message.clone(),
    };
    job.record(execution, limit);
    taken.settled.push(SettledFire {
        key: (*object.key).clone(),
        job: job.name.clone(),
        fire_at: c.fire_at,
        kind: c.kind,
        why,
    });
}

impl Scheduler {
    /// Takes what is due at or before `now`: per object at most one fire to apply (the rule of
    /// `take.rs`), and the fires settled without a write. Nothing while not leading.
    pub fn take_due(&mut self, now: Timestamp) -> Taken {
        let mut taken = Taken::default();
        if !self.leading {
            return taken;
        }
        while let Some(Reverse((at, _))) = self.queue.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, key))) = self.queue.pop() else { break };
            let Some(object) = self.objects.get_mut(&*key) else { continue };
            if object.queued_at != Some(at) {
                continue;
            }
            object.queued_at = None;
            self.next_token += 1;
            Self::take_object(object, now, self.next_token, &mut taken);
            Self::requeue(&mut self.queue, object);
        }
        taken
    }

    fn take_object(object: &mut Object, now: Timestamp, token: u64, taken: &mut Taken) {
        // `enforce`: a drift check owes the period in force again.
        if object.enforces && !object.suspended && object.next_check.is_some_and(|c| c <= now) {
            object.hold(now);
        }
        let mut candidates = Vec::new();
        for j in 0..object.jobs.len() {
            let p = object.jobs[j].plan_index;
            let Phase::Planned { next, owed } = object.jobs[j].phase else { continue };
            let mut next = next;
            if let (Some(n), Some(p)) = (next.filter(|n| *n <= now), p) {
                // After a stall, only the job's latest missed fire counts.
                let fire_at = object.plan.last_fire_at_or_before(p, now, n - SignedDuration::from_nanos(1));
                let fire_at = fire_at.unwrap_or(n);
                let excluded = is_excluded(&object.plan.exclusions, fire_at, &object.plan.zone);
                let suspended = object.jobs[j].suspended;
                candidates.push(Candidate { job: j, fire_at, kind: DueKind::Regular, excluded, suspended });
                next = object.plan_next(&object.jobs[j], now);
            }
            let owed = match owed {
                Some(o) if o.at <= now => {
                    let suspended = object.jobs[j].suspended;
                    candidates.push(Candidate {
                        job: j,
                        fire_at: o.fire_at,
                        kind: o.kind,
                        excluded: false,
                        suspended,
                    });
                    None
                }
                other => other,
            };
            object.jobs[j].phase = Phase::Planned { next, owed };
        }
        let (stand, settled) = decide(candidates, now, object.deadline);
        let mut settle = |object: &mut Object, c: Candidate, why: Settled| settle(object, c, why, now, taken);
        let by = stand.map(|s| (object.jobs[s.job].name.clone(), s.fire_at));
        for (c, at) in settled {
            let why = match (at, &by) {
                (SettledAt::Excluded, _) => Settled::Excluded,
                (SettledAt::Suspended, _) => Settled::Suspended,
                (SettledAt::Missed(late), _) => Settled::Missed { late },
                (SettledAt::Superseded, Some((by_job, by_fire))) => {
                    Settled::Superseded { by_job: by_job.clone(), by_fire: *by_fire }
                }
                // `decide` supersedes only in favour of a stand.
                (SettledAt::Superseded, None) => continue,
            };
            settle(object, c, why);
        }
        let Some(stand) = stand else { return };
        // Retries of older fires are moot once a later fire stands.
        for j in 0..object.jobs.len() {
            if let Phase::Planned { next, owed: Some(o) } = object.jobs[j].phase
                && o.fire_at < stand.fire_at
            {
                object.jobs[j].phase = Phase::Planned { next, owed: None };
                let (by_job, by_fire) = by.clone().unwrap_or_default();
                let c =
                    Candidate { job: j, fire_at: o.fire_at, kind: o.kind, excluded: false, suspended: false };
                settle(object, c, Settled::Superseded { by_job, by_fire });
            }
        }
        if object.jobs[stand.job].plan_index.is_none() {
            return;
        }
        let hpa_coordination = object.hpa_coordination;
        let job = &mut object.jobs[stand.job];
        let Phase::Planned { next, .. } = job.phase else { return };
        job.phase = Phase::InFlight { fire_at: stand.fire_at, kind: stand.kind, next };
        object.in_flight = Some(token);
        taken.fires.push(Due {
            key: (*object.key).clone(),
            job: job.name.clone(),
            job_id: job.id.clone(),
            token,
            fire_at: stand.fire_at,
            size: job.size,
            hpa_coordination,
            target: object.target.clone(),
            kind: stand.kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn c(job: usize, at: &str, excluded: bool) -> Candidate {
        Candidate { job, fire_at: t(at), kind: DueKind::Regular, excluded, suspended: false }
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
    fn a_suspended_jobs_fire_never_stands_nor_supersedes() {
        let now = t("2026-03-02T10:00:00Z");
        let paused = Candidate { suspended: true, ..c(1, "2026-03-02T10:00:00Z", false) };
        let (stand, settled) = decide(vec![c(0, "2026-03-02T09:00:00Z", false), paused], now, None);
        assert_eq!(stand.map(|s| s.job), Some(0));
        assert_eq!(settled, [(paused, SettledAt::Suspended)]);
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
