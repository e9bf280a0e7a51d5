//! The status subresource, rendered from the scheduler's state.
//!
//! Its size is bounded whatever a tenant writes: the schema bounds the jobs, names, schedules and
//! exclusions it copies, and the free text it adds (messages, warnings, the last result) is cut
//! here, so the largest object's status stays under [`MAX_STATUS_BYTES`], far below etcd's
//! object limit (1.5 MiB).

use diurnal_api::limits::cut;
use diurnal_api::{
    CronHorizontalPodAutoscalerStatus, JobCondition, JobHistory, JobState, Summary, SummaryState,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::job::{DueKind, Job, Phase};
use super::{Object, ObjectKey, Scheduler};

/// The most bytes a rendered status takes as JSON (the test `the_largest_object_s_status_is_bounded`
/// checks it for an object at every schema bound).
pub const MAX_STATUS_BYTES: usize = 256 * 1024;
/// The longest job message (one per job) and warning kept in a status, in bytes.
const MAX_MESSAGE: usize = 1024;
/// The most warnings kept in a status; the last says how many more there were.
const MAX_WARNINGS: usize = 32;

fn warnings(all: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = all.iter().take(MAX_WARNINGS).map(|w| cut(w, MAX_MESSAGE)).collect();
    if all.len() > MAX_WARNINGS {
        kept.pop();
        kept.push(format!(
            "... and {} more warnings (`diurnal validate` lists them all)",
            all.len() - MAX_WARNINGS + 1
        ));
    }
    kept
}

fn message(job: &Job) -> String {
    let text = match &job.phase {
        Phase::Invalid(reason) => reason.clone(),
        Phase::Suspended => "suspended: spec.suspend is true".to_owned(),
        Phase::Done if job.message.is_empty() => "done: runOnce applied".to_owned(),
        Phase::Planned { next: None, owed: None } if job.message.is_empty() => "no further fires".to_owned(),
        Phase::InFlight { fire_at, .. } if job.message.is_empty() => {
            format!("applying the fire of {fire_at}")
        }
        _ => job.message.clone(),
    };
    cut(&text, MAX_MESSAGE)
}

/// Failed attempts of one fire after which a retrying job makes the object degraded (a missing
/// target is retried for ever; Argo CD should show it as broken, not as busy).
const DEGRADED_AFTER: u32 = 3;

/// The object in one word: suspended, else the first job that is invalid, failed for good or
/// failed [`DEGRADED_AFTER`] attempts in a row (degraded), else one applying or retrying a fire
/// (progressing), else ready.
fn summary(object: &Object) -> Summary {
    let say = |state, message: String| Summary { state, message: cut(&message, MAX_MESSAGE) };
    if object.suspended {
        return say(SummaryState::Suspended, "spec.suspend is true".to_owned());
    }
    let mut progressing = None;
    for job in &object.jobs {
        match &job.phase {
            Phase::Invalid(reason) => {
                return say(SummaryState::Degraded, format!("job {}: {reason}", job.name));
            }
            Phase::Planned { owed: Some(o), .. } if matches!(o.kind, DueKind::Retry(n) if n > DEGRADED_AFTER) =>
            {
                return say(
                    SummaryState::Degraded,
                    format!("job {}: still failing: {}", job.name, job.message),
                );
            }
            Phase::Planned { owed: Some(o), .. } if matches!(o.kind, DueKind::Retry(_)) => {
                progressing.get_or_insert_with(|| format!("job {}: retrying: {}", job.name, job.message));
            }
            Phase::InFlight { fire_at, .. } => {
                progressing
                    .get_or_insert_with(|| format!("job {}: applying the fire of {fire_at}", job.name));
            }
            _ if job.state == JobState::Failed => {
                return say(SummaryState::Degraded, format!("job {}: {}", job.name, job.message));
            }
            _ => {}
        }
    }
    match progressing {
        Some(message) => say(SummaryState::Progressing, message),
        None => say(SummaryState::Ready, format!("{} jobs planned", object.jobs.len())),
    }
}

impl Scheduler {
    /// The status subresource as it should read now, or `None` for an unknown object.
    pub fn status(&self, key: &ObjectKey) -> Option<CronHorizontalPodAutoscalerStatus> {
        let object = self.objects.get(key)?;
        let conditions: Vec<JobCondition> = object
            .jobs
            .iter()
            .map(|job| JobCondition {
                name: job.name.clone(),
                job_id: job.id.clone(),
                schedule: job.schedule.clone(),
                target_size: job.target_size,
                run_once: job.run_once,
                state: job.state,
                last_probe_time: job.last_probe.map(Time),
                message: message(job),
                last_schedule_time: job.last_applied.map(Time),
                next_schedule_time: job.shown_next().map(Time),
                time_zone: job.zone_name.clone(),
                target_min_replicas: job.target_min_replicas,
                target_max_replicas: job.target_max_replicas,
            })
            .collect();
        let job_histories = object
            .jobs
            .iter()
            .filter(|job| !job.history.is_empty())
            .map(|job| JobHistory {
                name: job.name.clone(),
                executions: job.history.iter().cloned().collect(),
            })
            .collect();
        let next = conditions.iter().filter_map(|c| c.next_schedule_time.as_ref().map(|t| t.0)).min();
        Some(CronHorizontalPodAutoscalerStatus {
            observed_generation: object.generation,
            scale_target_ref: Some(object.target.clone()),
            exclude_dates: object.exclude_dates.clone(),
            conditions,
            next_schedule_time: next.map(Time),
            last_result: object.last_result.as_deref().map(|r| cut(r, MAX_MESSAGE)),
            warnings: warnings(&object.warnings),
            job_histories,
            summary: Some(summary(object)),
        })
    }
}
