//! The fire path: a due fire waits its namespace's turn ([`Shell::dispatch`]), is applied in a
//! task of its own ([`fire`]: read the target, write its size), and its outcome comes back to the
//! shell ([`Shell::completed`]) to be counted, logged, recorded in the scheduler and published as
//! an Event. Fires that settle without a write ([`Shell::settled`]) take the same way back.
//! [`look_ahead`] reads targets before their fire so the fire itself is one write.

use std::sync::Arc;

use jiff::Timestamp;
use kube::runtime::events::EventType;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::info;

use super::{Fired, Shell};
use crate::metrics::{FireResult, Metrics, ResultLabels};
use crate::scheduler::{Due, DueKind, Outcome, Scheduler, Settled, SettledFire};
use crate::target::{FireError, Targets};

impl Shell {
    /// Starts waiting fires, namespace by namespace in turn, while slots are free.
    pub(super) fn dispatch(&mut self, in_flight: &mut JoinSet<Fired>, slots: usize, targets: &Arc<Targets>) {
        while in_flight.len() < slots
            && let Some(due) = self.waiting.pop()
        {
            in_flight.spawn(fire(due, targets.clone(), self.metrics.clone()));
        }
    }

    pub(super) fn completed(&mut self, due: &Due, outcome: Outcome, reason: Option<&'static str>) {
        let (result, note) = match &outcome {
            Outcome::Applied(m, _) => (FireResult::Applied, m),
            Outcome::Failed(m) => (FireResult::Failed, m),
        };
        self.metrics.fires.get_or_create(&ResultLabels { result }).inc();
        info!(object = %due.key, job = %due.job, fire = %due.fire_at, kind = ?due.kind, ?result, "{note}");
        if let Some((kind, reason_name, note)) = completion_event(due, &outcome, reason) {
            self.event(&due.key, kind, reason_name, &note);
        }
        if due.kind == DueKind::CatchUp && result != FireResult::Failed {
            let note = format!(
                "job {}: applied the fire of {} missed while no controller was leading",
                due.job, due.fire_at
            );
            self.event(&due.key, EventType::Normal, "CaughtUp", &note);
        }
        self.scheduler.complete(due, outcome, Timestamp::now());
        self.dirty.insert(due.key.clone());
    }

    /// A due fire settled without a write: counted, logged, and an Event where a person wants
    /// one (an excluded day, a missed deadline; a superseded fire is only logged).
    pub(super) fn settled(&mut self, fire: &SettledFire) {
        let (result, event) = match &fire.why {
            Settled::Excluded => (
                FireResult::Excluded,
                Some((
                    EventType::Normal,
                    "Excluded",
                    "not scaled: its day is excluded by excludeDates".to_owned(),
                )),
            ),
            Settled::Suspended => (FireResult::Suspended, None),
            Settled::Superseded { .. } => (FireResult::Superseded, None),
            Settled::Missed { late } => (
                FireResult::Missed,
                Some((
                    EventType::Warning,
                    "MissedDeadline",
                    format!("not applied: {}s late, past startingDeadlineSeconds", late.as_secs()),
                )),
            ),
        };
        self.metrics.fires.get_or_create(&ResultLabels { result }).inc();
        info!(object = %fire.key, job = %fire.job, fire = %fire.fire_at, kind = ?fire.kind, ?result, why = ?fire.why, "settled without a write");
        if let Some((kind, reason, note)) = event {
            self.event(
                &fire.key,
                kind,
                reason,
                &format!("job {}: the fire of {}: {note}", fire.job, fire.fire_at),
            );
        }
        self.dirty.insert(fire.key.clone());
    }
}

/// The Event a completed fire is published as: `Scaled`, or for a hold that found drift
/// (`enforce`) `DriftRepaired` naming what was found and what was set; `None` for a fire that
/// found its target as the job wants it (logged only; a drift check every interval would
/// otherwise flood the object's Events).
fn completion_event(
    due: &Due,
    outcome: &Outcome,
    reason: Option<&'static str>,
) -> Option<(EventType, &'static str, String)> {
    match outcome {
        Outcome::Failed(m) => {
            Some((EventType::Warning, reason.unwrap_or("ScaleFailed"), format!("job {}: {m}", due.job)))
        }
        // The target's own message names each object written, what it found and what it set
        // (`Deployment ns/web replicas 3 -> 5`, or the HPA's `minReplicas 2 -> 5`).
        Outcome::Applied(m, changes) if due.kind == DueKind::Enforce => changes.changed().then(|| {
            let note = format!("{m}; the period of job {} (fire of {}) is enforced", due.job, due.fire_at);
            (EventType::Normal, "DriftRepaired", note)
        }),
        Outcome::Applied(m, _) if m.ends_with("already at size") => None,
        Outcome::Applied(m, _) => Some((EventType::Normal, "Scaled", format!("job {}: {m}", due.job))),
    }
}

/// Reads, ahead of time, the size of targets whose fires are due in `(after, until]`.
pub(super) fn look_ahead(
    scheduler: &Scheduler,
    after: Timestamp,
    until: Timestamp,
    targets: &Arc<Targets>,
    limit: &Arc<Semaphore>,
) {
    for (key, target) in scheduler.upcoming(after, until) {
        let (targets, limit) = (targets.clone(), limit.clone());
        tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            targets.prefetch(&key.namespace, &target).await;
        });
    }
}

/// Applies one fire, returning what it came to and, on failure, the Event reason.
pub(super) async fn fire(due: Due, targets: Arc<Targets>, metrics: Arc<Metrics>) -> Fired {
    let fire_at = due.fire_at;
    let regular = due.kind == DueKind::Regular;
    let lateness = metrics.clone();
    let before_write = move || {
        if regular {
            let late = Timestamp::now().duration_since(fire_at).as_secs_f64();
            lateness.lateness.observe(late.max(0.0));
        }
    };
    match targets.apply(&due.key.namespace, &due.target, due.size, due.hpa_coordination, &before_write).await
    {
        Ok((message, changes)) => (due, Outcome::Applied(message, changes), None),
        Err(e) => {
            let reason = e.reason();
            let message = match &e {
                FireError::TargetNotFound(what) => format!("{what} not found"),
                other => other.to_string(),
            };
            (due, Outcome::Failed(message), Some(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use diurnal_api::{Change, Changes, ScaleTargetRef};
    use diurnal_core::scaling::Size;

    use super::*;
    use crate::scheduler::ObjectKey;

    fn due(kind: DueKind) -> Due {
        Due {
            key: ObjectKey { namespace: "ns".into(), name: "c".into() },
            job: "day".into(),
            job_id: "0123456789abcdef".into(),
            token: 1,
            fire_at: "2026-03-02T08:00:00Z".parse().unwrap(),
            size: Size::Replicas(5),
            hpa_coordination: true,
            target: ScaleTargetRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "web".into(),
            },
            kind,
        }
    }

    fn applied(message: &str, from: i32, to: i32) -> Outcome {
        let changes = Changes {
            replicas: Some(Change { from, to }),
            min_replicas: Some(Change { from: 2, to: 2 }),
            ..Changes::default()
        };
        Outcome::Applied(message.into(), changes)
    }

    #[test]
    fn a_hold_that_changed_the_target_is_a_drift_repair_naming_what_it_found_and_set() {
        let event = completion_event(
            &due(DueKind::Enforce),
            &applied("Deployment ns/web replicas 3 -> 5", 3, 5),
            None,
        );
        assert_eq!(
            event,
            Some((
                EventType::Normal,
                "DriftRepaired",
                "Deployment ns/web replicas 3 -> 5; the period of job day (fire of 2026-03-02T08:00:00Z) is enforced"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn a_hold_that_found_the_target_at_size_is_quiet_and_a_regular_fire_is_scaled() {
        let at_size = applied("Deployment ns/web already at size", 5, 5);
        assert_eq!(completion_event(&due(DueKind::Enforce), &at_size, None), None);
        assert_eq!(completion_event(&due(DueKind::Regular), &at_size, None), None);
        let scaled = applied("Deployment ns/web replicas 3 -> 5", 3, 5);
        for kind in [DueKind::Regular, DueKind::CatchUp, DueKind::Retry(2)] {
            let (_, reason, note) = completion_event(&due(kind), &scaled, None).unwrap();
            assert_eq!((reason, note.as_str()), ("Scaled", "job day: Deployment ns/web replicas 3 -> 5"));
        }
        let failed = Outcome::Failed("Deployment ns/web not found".into());
        let event = completion_event(&due(DueKind::Enforce), &failed, Some("TargetNotFound"));
        assert_eq!(event.map(|e| (e.0, e.1)), Some((EventType::Warning, "TargetNotFound")));
    }
}
