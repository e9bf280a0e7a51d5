//! The status subresource, rendered from the scheduler's state.

use diurnal_api::{CronHorizontalPodAutoscalerStatus, JobCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::job::{Job, Phase};
use super::{ObjectKey, Scheduler};

fn message(job: &Job) -> String {
    match &job.phase {
        Phase::Invalid(reason) => reason.clone(),
        Phase::Suspended => "suspended: spec.suspend is true".to_owned(),
        Phase::Done if job.message.is_empty() => "done: runOnce applied".to_owned(),
        Phase::Planned { next: None, owed: None } if job.message.is_empty() => "no further fires".to_owned(),
        Phase::InFlight { fire_at, .. } if job.message.is_empty() => {
            format!("applying the fire of {fire_at}")
        }
        _ => job.message.clone(),
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
            })
            .collect();
        let next = conditions.iter().filter_map(|c| c.next_schedule_time.as_ref().map(|t| t.0)).min();
        Some(CronHorizontalPodAutoscalerStatus {
            observed_generation: object.generation,
            scale_target_ref: Some(object.target.clone()),
            exclude_dates: object.exclude_dates.clone(),
            conditions,
            next_schedule_time: next.map(Time),
            last_result: object.last_result.clone(),
            warnings: object.warnings.clone(),
        })
    }
}
