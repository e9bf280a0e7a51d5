//! The reference model: the rules table of `docs/controller.md`, written as plainly as possible
//! (no timer queue, no carried state, fires found by walking each schedule forward). Each rule
//! names its row of the table. `model.rs` drives it beside the real scheduler.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct MJob {
    /// Index into `JOBS`: the job's content (name, schedule, size, runOnce).
    pub(super) content: usize,
    /// Fires after this instant have not been considered yet.
    pub(super) cursor: Timestamp,
    /// (fire, due at, kind) of an owed catch-up or retry.
    pub(super) owed: Option<(Timestamp, Timestamp, DueKind)>,
    pub(super) last_applied: Option<Timestamp>,
    pub(super) done: bool,
    /// Its fire is in flight (cleared when an edit makes it not runnable, or the lead changes).
    pub(super) flying: bool,
}

#[derive(Debug, Clone)]
pub(super) struct MObj {
    pub(super) uid: u32,
    pub(super) variant: Variant,
    pub(super) plan: Plan,
    pub(super) valid: Vec<bool>,
    pub(super) created: Timestamp,
    pub(super) jobs: Vec<MJob>,
    /// (take token, job content, fire) being applied.
    pub(super) in_flight: Option<(u64, usize, Timestamp)>,
    /// The newest fire the object applied, of any job (rule "never twice").
    pub(super) applied: Option<Timestamp>,
    pub(super) generation: i64,
    /// Rule "enforce": when the next drift check owes the period in force again.
    pub(super) next_check: Option<Timestamp>,
}

#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) leading: bool,
    pub(super) objects: BTreeMap<String, MObj>,
}

pub(super) fn name_of(content: usize) -> &'static str {
    JOBS[content].0
}

impl MObj {
    pub(super) fn deadline(&self) -> Option<SignedDuration> {
        DEADLINES[self.variant.deadline].map(SignedDuration::from_secs)
    }

    pub(super) fn plan_index(&self, j: usize) -> Option<usize> {
        let name = name_of(self.jobs[j].content);
        self.plan.jobs.iter().position(|p| p.name == name)
    }

    /// Rule "runnable": valid, not suspended, not a finished runOnce.
    pub(super) fn runnable(&self, j: usize) -> bool {
        self.valid[j] && !self.variant.suspend && !self.jobs[j].done
    }

    /// Rule "job suspended": its due fires are settled as an excluded day's are.
    pub(super) fn paused(&self, j: usize) -> bool {
        self.variant.paused == Some(name_of(self.jobs[j].content))
    }

    /// All fires of job `j` in (after, until], walking forward.
    pub(super) fn fires(&self, j: usize, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let Some(p) = self.plan_index(j) else { return vec![] };
        let job = &self.plan.jobs[p];
        let mut out = Vec::new();
        let mut at = after;
        while let Some(next) = job.schedule.next_after(at, &job.zone, self.plan.origin) {
            if next > until {
                break;
            }
            out.push(next);
            at = next;
        }
        out
    }

    pub(super) fn next_fire(&self, j: usize, after: Timestamp) -> Option<Timestamp> {
        let p = self.plan_index(j)?;
        let job = &self.plan.jobs[p];
        job.schedule.next_after(after, &job.zone, self.plan.origin)
    }

    pub(super) fn excluded(&self, at: Timestamp) -> bool {
        is_excluded(&self.plan.exclusions, at, &self.plan.zone)
    }

    /// Rule "catch-up": each runnable job owes its latest non-excluded fire after the newest
    /// applied fire (or the creation); the take applies the latest of them.
    pub(super) fn catch_up(&mut self, now: Timestamp) {
        let bound =
            self.jobs.iter().filter_map(|j| j.last_applied).max().max(self.applied).unwrap_or(self.created);
        for j in 0..self.jobs.len() {
            if !self.runnable(j) || self.paused(j) {
                continue;
            }
            let missed = self.fires(j, bound, now).into_iter().rev().find(|f| !self.excluded(*f));
            if let Some(fire) = missed {
                self.jobs[j].owed = Some((fire, now, DueKind::CatchUp));
            }
        }
    }

    /// Rule "enforce": job `content` is held when its own `enforce` says so, else when the
    /// object's does.
    pub(super) fn held(&self, content: usize) -> bool {
        match self.variant.held {
            Some((name, held)) if name == name_of(content) => held,
            _ => self.variant.enforce,
        }
    }

    /// Rule "enforce": an object that is not suspended checks for drift while any job is held.
    pub(super) fn checks(&self) -> bool {
        Self::any_held(&self.variant) && !self.variant.suspend
    }

    /// Whether any job of `variant` is held.
    pub(super) fn any_held(variant: &Variant) -> bool {
        variant.jobs.iter().any(|&content| match variant.held {
            Some((name, held)) if name == name_of(content) => held,
            _ => variant.enforce,
        })
    }

    /// Rule "enforce": the latest non-excluded fire at or before `now` of any job that can fire
    /// (same instant: the last job), held or not, is the period in force; if its job is held, it
    /// is owed again, applied before or not; a retry or catch-up owed for that very fire stays. (Walking from the start of the test's first day covers
    /// every schedule of the pool: each fires at least daily or is the one `@date`.)
    pub(super) fn hold(&mut self, now: Timestamp) {
        // The next drift check: the scheduler's interval is at least a second (`Limits::NONE`).
        self.next_check = Some(now + SignedDuration::from_secs(1));
        let since: Timestamp = "2026-03-02T00:00:00Z".parse().expect("a timestamp");
        let mut in_force: Option<(Timestamp, usize)> = None;
        for j in 0..self.jobs.len() {
            if !self.runnable(j) || self.paused(j) || self.jobs[j].flying {
                continue;
            }
            let latest = self.fires(j, since, now).into_iter().rev().find(|f| !self.excluded(*f));
            if let Some(fire) = latest {
                in_force = in_force.max(Some((fire, j)));
            }
        }
        let Some((fire, j)) = in_force.filter(|&(_, j)| self.held(self.jobs[j].content)) else { return };
        if self.jobs[j].owed.is_none_or(|o| o.0 < fire) {
            self.jobs[j].owed = Some((fire, now, DueKind::Enforce));
        }
    }

    /// Rule "never twice": a job is planned after `now` and after the object's newest applied
    /// fire (except what "enforce" owes).
    pub(super) fn floor(applied: Option<Timestamp>, job: &MJob, now: Timestamp) -> Timestamp {
        applied.max(job.last_applied).map_or(now, |l| l.max(now))
    }

    pub(super) fn replan(&mut self, now: Timestamp) {
        for job in &mut self.jobs {
            job.cursor = Self::floor(self.applied, job, now);
            job.owed = None;
            job.flying = false;
        }
    }

    /// Rule "take": of every due fire (each job's latest regular one, due retries and
    /// catch-ups), the latest one within the deadline that is neither on an excluded day nor of
    /// a suspended job stands (same instant: the last job in `jobs[]`); retries of older fires
    /// are dropped.
    pub(super) fn take(&mut self, now: Timestamp) -> Option<(String, Timestamp, DueKind)> {
        if self.in_flight.is_some() {
            return None;
        }
        if self.checks() && self.next_check.is_some_and(|c| c <= now) {
            self.hold(now);
        }
        let mut due: Vec<(Timestamp, usize, DueKind, bool)> = Vec::new();
        for j in 0..self.jobs.len() {
            if !self.runnable(j) {
                continue;
            }
            let paused = self.paused(j);
            if let Some(&last) = self.fires(j, self.jobs[j].cursor, now).last() {
                due.push((last, j, DueKind::Regular, paused || self.excluded(last)));
            }
            self.jobs[j].cursor = self.jobs[j].cursor.max(now);
            if let Some((fire, at, kind)) = self.jobs[j].owed.filter(|o| o.1 <= now) {
                let _ = at;
                due.push((fire, j, kind, paused));
                self.jobs[j].owed = None;
            }
        }
        let deadline = self.deadline();
        let stand = due
            .iter()
            .filter(|(fire, _, _, excluded)| {
                !excluded && deadline.is_none_or(|d| now.duration_since(*fire) <= d)
            })
            .max_by_key(|(fire, j, _, _)| (*fire, *j))
            .copied();
        let (fire, j, kind, _) = stand?;
        // A runOnce job superseded by another job's fire is done.
        for &(other, k, _, excluded) in &due {
            let within = deadline.is_none_or(|d| now.duration_since(other) <= d);
            if k != j && !excluded && within && JOBS[self.jobs[k].content].3 {
                self.jobs[k].done = true;
            }
        }
        for (k, job) in self.jobs.iter_mut().enumerate() {
            if job.owed.is_some_and(|o| o.0 < fire) {
                job.owed = None;
                if k != j && JOBS[job.content].3 {
                    job.done = true;
                }
            }
        }
        self.jobs[j].flying = true;
        self.in_flight = Some((0, self.jobs[j].content, fire));
        Some((name_of(self.jobs[j].content).to_owned(), fire, kind))
    }

    /// Rule "complete": applied → recorded (runOnce done); failed → a retry after
    /// 1 s doubling to 30 s, unless past the deadline.
    pub(super) fn complete(&mut self, fire: Timestamp, kind: DueKind, ok: bool, now: Timestamp) {
        let Some((_, content, in_flight_fire)) = self.in_flight.take() else { return };
        assert_eq!(in_flight_fire, fire);
        let deadline = self.deadline();
        if ok {
            self.applied = self.applied.max(Some(fire));
            for job in &mut self.jobs {
                job.cursor = job.cursor.max(fire);
                job.owed = job.owed.filter(|o| o.0 > fire);
            }
        }
        let Some(k) = self.jobs.iter().position(|j| j.content == content) else { return };
        let runnable = self.runnable(k);
        let job = &mut self.jobs[k];
        let flying = std::mem::take(&mut job.flying);
        if ok {
            job.last_applied = job.last_applied.max(Some(fire));
            if JOBS[content].3 {
                job.done = true;
            }
        } else if flying && runnable {
            let attempt = match kind {
                DueKind::Retry(n) => n + 1,
                _ => 2,
            };
            let at = now + SignedDuration::from_secs((1_i64 << (attempt - 2).min(5)).min(30));
            if deadline.is_none_or(|d| at.duration_since(fire) <= d) {
                job.owed = Some((fire, at, DueKind::Retry(attempt)));
            }
        }
    }

    /// What `nextScheduleTime` of job `j` must show.
    pub(super) fn shown_next(&self, j: usize) -> Option<Timestamp> {
        if !self.runnable(j) {
            return None;
        }
        let job = &self.jobs[j];
        let next = self.next_fire(j, job.cursor);
        if job.flying {
            return next;
        }
        match (next, job.owed.map(|o| o.1)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Model {
    /// Rule "edit": an unchanged job keeps its state; a new or edited one starts from `now`
    /// with the last applied fire recorded under its name; a fixed or unsuspended object's
    /// jobs start from `now`, and an unsuspended one catches up.
    pub(super) fn upsert(&mut self, name: &str, stored: &Stored, now: Timestamp) {
        let spec = spec_of(&stored.variant);
        let resolution = resolve_with(&spec, &TimeZone::UTC, stored.created, &Limits::NONE);
        let old = self.objects.remove(name).filter(|o| o.uid == stored.uid);
        let recorded = |job_name: &str| {
            stored.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.name == job_name)).cloned()
        };
        let mut jobs = Vec::new();
        let mut valid = Vec::new();
        let old_applied = old.as_ref().and_then(|o| o.applied);
        for (i, &content) in stored.variant.jobs.iter().enumerate() {
            let ok = resolution.job_error(i).is_none();
            let was = old.as_ref().and_then(|o| {
                let k = o.jobs.iter().position(|j| j.content == content)?;
                Some((o.jobs[k].clone(), o.valid[k], o.variant.suspend))
            });
            let rec = recorded(name_of(content));
            let rec_last = rec.as_ref().and_then(|c| c.last_schedule_time.as_ref()).map(|t| t.0);
            let job = if let Some((mut job, was_valid, was_suspended)) = was {
                job.last_applied = job.last_applied.max(rec_last);
                if (!was_valid || was_suspended) && ok && !stored.variant.suspend {
                    job.cursor = MObj::floor(old_applied, &job, now);
                    job.owed = None;
                }
                if !ok || stored.variant.suspend {
                    job.owed = None;
                    job.flying = false;
                }
                job
            } else {
                let (_, schedule, size, once) = JOBS[content];
                let done = once
                    && rec.as_ref().is_some_and(|c| {
                        c.state == JobState::Succeed
                            && c.schedule == schedule
                            && c.target_size == size
                            && c.run_once
                    });
                let cursor = old_applied.max(rec_last).map_or(now, |l| l.max(now));
                MJob { content, cursor, owed: None, last_applied: rec_last, done, flying: false }
            };
            jobs.push(job);
            valid.push(ok);
        }
        let was_suspended = old.as_ref().is_some_and(|o| o.variant.suspend);
        let new_generation = old.as_ref().is_none_or(|o| o.generation != stored.generation);
        let old_check = old.as_ref().and_then(|o| o.next_check);
        let in_flight = old.and_then(|o| o.in_flight);
        let applied = old_applied.max(jobs.iter().filter_map(|j: &MJob| j.last_applied).max());
        let mut obj = MObj {
            applied,
            uid: stored.uid,
            variant: stored.variant.clone(),
            plan: resolution.plan,
            valid,
            created: stored.created,
            jobs,
            in_flight,
            generation: stored.generation,
            next_check: old_check.filter(|_| MObj::any_held(&stored.variant)),
        };
        if was_suspended && !obj.variant.suspend && self.leading {
            obj.catch_up(now);
        }
        if obj.checks() && self.leading && (new_generation || was_suspended) {
            obj.hold(now);
        }
        self.objects.insert(name.to_owned(), obj);
    }

    pub(super) fn set_leading(&mut self, leading: bool, now: Timestamp) {
        self.leading = leading;
        for obj in self.objects.values_mut() {
            obj.in_flight = None;
            obj.replan(now);
            if leading && !obj.variant.suspend {
                obj.catch_up(now);
                if obj.checks() {
                    obj.hold(now);
                }
            }
        }
    }
}
