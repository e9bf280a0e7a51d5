//! The ordered fires of a whole CronHPA.
//!
//! [`Plan::fires`] merges one lazy stream per job (a small binary heap keyed by instant, then job
//! index), so a caller can ask for years of fires and take the first few. This is what the
//! controller, the CLI and the simulator share.
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::{Calendar, Days, ExcludeDate, Schedule};

/// One job, resolved: parsed schedule and effective zone.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// `jobs[].name`.
    pub name: String,
    /// The parsed schedule; with `days` other than [`Days::All`], already without its
    /// day-of-week field ([`Days::schedule`]).
    pub schedule: Schedule,
    /// The effective zone (job, else object, else controller default).
    pub zone: TimeZone,
    /// `jobs[].targetSize`.
    pub target_size: i32,
    /// `jobs[].runOnce`.
    pub run_once: bool,
    /// `jobs[].days`: which days, in terms of [`Plan::calendar`], the job runs on.
    pub days: Days,
}

/// A whole CronHPA, resolved.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The jobs, in spec order.
    pub jobs: Vec<JobPlan>,
    /// `excludeDates`, parsed.
    pub exclusions: Vec<ExcludeDate>,
    /// The object's zone: calendar days for exclusions are taken in it.
    pub zone: TimeZone,
    /// Phase origin for `@every` (the object's creation time).
    pub origin: Timestamp,
    /// The `as: workday` calendars, merged: what `days: workdays|holidays` reads.
    pub calendar: Calendar,
}

/// One instant at which a job triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fire {
    /// When.
    pub at: Timestamp,
    /// Index into [`Plan::jobs`].
    pub job: usize,
    /// The job's target size.
    pub target_size: i32,
    /// Whether the day is excluded (the fire does not scale).
    pub excluded: bool,
}

/// The lazy merge behind [`Plan::fires`].
#[derive(Debug)]
pub struct Fires<'p> {
    plan: &'p Plan,
    until: Timestamp,
    /// The next fire of each job still running, smallest first.
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    /// The last day looked up and whether it is excluded: fires come in order, so most share it.
    day: Option<(Date, bool)>,
}

impl Fires<'_> {
    fn excluded(&mut self, at: Timestamp) -> bool {
        let plan = self.plan;
        if plan.exclusions.is_empty() {
            return false;
        }
        let day = plan.zone.to_datetime(at).date();
        match self.day {
            Some((cached, excluded)) if cached == day => excluded,
            _ => {
                let excluded = plan.exclusions.iter().any(|e| e.excludes_day(day, &plan.zone));
                self.day = Some((day, excluded));
                excluded
            }
        }
    }
}

impl Iterator for Fires<'_> {
    type Item = Fire;

    fn next(&mut self) -> Option<Fire> {
        let Reverse((at, job)) = self.heap.pop()?;
        let plan = self.plan;
        let job_plan = &plan.jobs[job];
        let excluded = self.excluded(at);
        // A run-once job scales once: its stream ends after its first fire that is not excluded.
        if (!job_plan.run_once || excluded)
            && let Some(next) = plan.next_of(job, at)
            && next <= self.until
        {
            self.heap.push(Reverse((next, job)));
        }
        Some(Fire { at, job, target_size: job_plan.target_size, excluded })
    }
}

impl Plan {
    /// Fires with `after < at <= until`, ordered by instant, then by job index, each marked
    /// `excluded` when its day (in the object's zone) is excluded. A `run_once` job contributes
    /// its fires up to and including its first one that is not excluded.
    pub fn fires(&self, after: Timestamp, until: Timestamp) -> Fires<'_> {
        let heap = self
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(i, _)| {
                let at = self.next_of(i, after)?;
                (at <= until).then_some(Reverse((at, i)))
            })
            .collect();
        Fires { plan: self, until, heap, day: None }
    }

    /// The first fire strictly after `after`, of any job (excluded or not).
    pub fn next_fire(&self, after: Timestamp) -> Option<Fire> {
        self.fires(after, Timestamp::MAX).next()
    }

    /// The latest fire of job `job` with `not_before < fire <= at`, excluded or not (check
    /// [`crate::is_excluded`] for that). Searches backwards from `at`, so it costs the same whether the
    /// window is a minute or a year. `None` for an unknown job index.
    pub fn last_fire_at_or_before(
        &self,
        job: usize,
        at: Timestamp,
        not_before: Timestamp,
    ) -> Option<Timestamp> {
        self.prev_of(job, at).filter(|t| *t > not_before)
    }

    /// Job `job`'s first fire strictly after `after`, on the days its `days` selects. `None`
    /// for an unknown job index or when it never fires again. Everything that plans a job's
    /// fires goes through here (or [`Plan::prev_of`]), so `days:` is read in one place.
    pub fn next_of(&self, job: usize, after: Timestamp) -> Option<Timestamp> {
        let job = self.jobs.get(job)?;
        match job.days {
            Days::All => job.schedule.next_after(after, &job.zone, self.origin),
            days => days.next_after(&self.calendar, &job.schedule, &job.zone, self.origin, after),
        }
    }

    /// Job `job`'s latest fire at or before `at`, on the days its `days` selects.
    pub fn prev_of(&self, job: usize, at: Timestamp) -> Option<Timestamp> {
        let job = self.jobs.get(job)?;
        match job.days {
            Days::All => job.schedule.prev_at_or_before(at, &job.zone, self.origin),
            days => days.prev_at_or_before(&self.calendar, &job.schedule, &job.zone, self.origin, at),
        }
    }
}

#[cfg(test)]
mod tests;
