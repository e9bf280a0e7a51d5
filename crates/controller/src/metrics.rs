//! Prometheus metrics of the controller.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use diurnal_api::{CronHorizontalPodAutoscalerStatus, JobState};

use crate::scheduler::ObjectKey;

/// Labels of per-job series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    /// CronHPA namespace.
    pub namespace: String,
    /// CronHPA name.
    pub name: String,
    /// Job name.
    pub job: String,
}

/// How a fire ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum FireResult {
    /// Scaled (or already at size).
    Applied,
    /// Excluded day: deliberately not scaled.
    Excluded,
    /// Failed; will be retried.
    Failed,
}

/// Labels of the fires counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// The outcome.
    pub result: FireResult,
}

/// Every metric the controller exports.
#[derive(Debug)]
pub struct Metrics {
    /// Next fire per job, Unix seconds.
    pub next_fire: Family<JobLabels, Gauge>,
    /// Last applied fire per job, Unix seconds.
    pub last_fire: Family<JobLabels, Gauge>,
    /// 1 when the job's last fire failed, 0 otherwise.
    pub job_failed: Family<JobLabels, Gauge>,
    /// Fires by result.
    pub fires: Family<ResultLabels, Counter>,
    /// Seconds from a fire's instant to its first write being sent.
    pub lateness: Histogram,
    /// Watch and status-write errors.
    pub reconcile_errors: Counter,
    /// Entries in the timer queue.
    pub queue_size: Gauge,
    /// 1 while this process holds the lease.
    pub leader: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them under `diurnal_`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            next_fire: Family::default(),
            last_fire: Family::default(),
            job_failed: Family::default(),
            fires: Family::default(),
            lateness: Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            reconcile_errors: Counter::default(),
            queue_size: Gauge::default(),
            leader: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("diurnal");
        r.register(
            "cronhpa_next_fire_timestamp_seconds",
            "Next fire of each CronHPA job",
            m.next_fire.clone(),
        );
        r.register(
            "cronhpa_last_fire_timestamp_seconds",
            "Last applied fire of each CronHPA job",
            m.last_fire.clone(),
        );
        r.register(
            "cronhpa_job_failed",
            "1 when the job's last fire or content failed",
            m.job_failed.clone(),
        );
        r.register("fires", "Fires by result", m.fires.clone());
        r.register("fire_lateness_seconds", "From a fire's instant to its first write", m.lateness.clone());
        r.register("reconcile_errors", "Watch and status-write errors", m.reconcile_errors.clone());
        r.register("queue_size", "Entries in the timer queue", m.queue_size.clone());
        r.register("leader", "1 while this process holds the lease", m.leader.clone());
        m
    }

    /// Sets the per-job series of an object from its rendered status.
    pub fn observe_status(&self, key: &ObjectKey, status: &CronHorizontalPodAutoscalerStatus) {
        for c in &status.conditions {
            let labels =
                JobLabels { namespace: key.namespace.clone(), name: key.name.clone(), job: c.name.clone() };
            match &c.next_schedule_time {
                Some(t) => {
                    self.next_fire.get_or_create(&labels).set(t.0.as_second());
                }
                None => {
                    self.next_fire.remove(&labels);
                }
            }
            if let Some(t) = &c.last_schedule_time {
                self.last_fire.get_or_create(&labels).set(t.0.as_second());
            }
            self.job_failed.get_or_create(&labels).set(i64::from(c.state == JobState::Failed));
        }
    }

    /// Drops the per-job series of a deleted object.
    pub fn forget(&self, key: &ObjectKey, jobs: impl Iterator<Item = String>) {
        for job in jobs {
            let labels = JobLabels { namespace: key.namespace.clone(), name: key.name.clone(), job };
            self.next_fire.remove(&labels);
            self.last_fire.remove(&labels);
            self.job_failed.remove(&labels);
        }
    }
}
