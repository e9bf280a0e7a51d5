//! The status subresource, rendered from the scheduler's state.
//!
//! Its size is bounded whatever a tenant writes: the schema bounds the jobs, names, schedules and
//! exclusions it copies, and the free text it adds (messages, warnings, the last result) is cut
//! here, so the largest object's status stays under [`MAX_STATUS_BYTES`], far below etcd's
//! object limit (1.5 MiB).

use diurnal_api::limits::cut;
use diurnal_api::{CronHorizontalPodAutoscalerStatus, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::job::{Job, Phase};
use super::{ObjectKey, Scheduler};

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
        })
    }
}
