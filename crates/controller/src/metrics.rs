//! Prometheus metrics of the controller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use diurnal_api::{CronHorizontalPodAutoscalerStatus, JobState};

use crate::scheduler::ObjectKey;

/// How a fire ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum FireResult {
    /// Scaled (or already at size).
    Applied,
    /// Excluded day: deliberately not scaled.
    Excluded,
    /// Failed; will be retried.
    Failed,
    /// A later fire of the same object was applied instead.
    Superseded,
    /// Later than `startingDeadlineSeconds`: not applied.
    Missed,
}

/// Labels of the fires counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// The outcome.
    pub result: FireResult,
}

/// One job's series values.
#[derive(Debug, Clone, PartialEq, Eq)]
struct JobPoint {
    job: Box<str>,
    next: Option<i64>,
    last: Option<i64>,
    failed: bool,
}

/// The per-job series, kept as a compact table and encoded at scrape time. (Three label-set
/// families would hold about 550 bytes per job — 22 MiB at 10,000 CronHPAs of 4 jobs.)
#[derive(Debug, Default)]
pub struct JobSeries {
    jobs: Mutex<HashMap<ObjectKey, Vec<JobPoint>>>,
}

impl JobSeries {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Vec<JobPoint>>> {
        // A panic while holding this lock leaves plain data behind; keep serving it.
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Collector for JobSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        type Pick = fn(&JobPoint) -> Option<i64>;
        let jobs = self.lock();
        let families: [(&str, &str, Pick); 3] = [
            ("diurnal_cronhpa_next_fire_timestamp_seconds", "Next fire of each CronHPA job", |p| p.next),
            ("diurnal_cronhpa_last_fire_timestamp_seconds", "Last applied fire of each CronHPA job", |p| {
                p.last
            }),
            ("diurnal_cronhpa_job_failed", "1 when the job's last fire or content failed", |p| {
                Some(i64::from(p.failed))
            }),
        ];
        for (name, help, pick) in families {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (key, points) in jobs.iter() {
                for point in points {
                    if let Some(value) = pick(point) {
                        let labels = [
                            ("namespace", key.namespace.as_str()),
                            ("name", key.name.as_str()),
                            ("job", &*point.job),
                        ];
                        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Every metric the controller exports.
#[derive(Debug)]
pub struct Metrics {
    /// Per job: next and last fire (Unix seconds) and whether it failed.
    pub jobs: Arc<JobSeries>,
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
            jobs: Arc::new(JobSeries::default()),
            fires: Family::default(),
            lateness: Histogram::new([
                0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
            ]),
            reconcile_errors: Counter::default(),
            queue_size: Gauge::default(),
            leader: Gauge::default(),
        };
        registry.register_collector(Box::new(m.jobs.clone()));
        let r = registry.sub_registry_with_prefix("diurnal");
        r.register("fires", "Fires by result", m.fires.clone());
        r.register("fire_lateness_seconds", "From a fire's instant to its first write", m.lateness.clone());
        r.register("reconcile_errors", "Watch and status-write errors", m.reconcile_errors.clone());
        r.register("queue_size", "Entries in the timer queue", m.queue_size.clone());
        r.register("leader", "1 while this process holds the lease", m.leader.clone());
        m
    }

    /// Sets the per-job series of an object from its rendered status.
    pub fn observe_status(&self, key: &ObjectKey, status: &CronHorizontalPodAutoscalerStatus) {
        let points = status
            .conditions
            .iter()
            .map(|c| JobPoint {
                job: c.name.as_str().into(),
                next: c.next_schedule_time.as_ref().map(|t| t.0.as_second()),
                last: c.last_schedule_time.as_ref().map(|t| t.0.as_second()),
                failed: c.state == JobState::Failed,
            })
            .collect();
        self.jobs.lock().insert(key.clone(), points);
    }

    /// Drops the per-job series of a deleted object.
    pub fn forget(&self, key: &ObjectKey) {
        self.jobs.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diurnal_api::JobCondition;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn condition(name: &str, next: Option<&str>, state: JobState) -> JobCondition {
        JobCondition {
            name: name.into(),
            job_id: String::new(),
            schedule: String::new(),
            target_size: 1,
            run_once: false,
            state,
            last_probe_time: None,
            message: String::new(),
            last_schedule_time: None,
            next_schedule_time: next.map(|t| Time(t.parse().unwrap())),
            time_zone: None,
        }
    }

    #[test]
    fn per_job_series_follow_the_status_and_vanish_with_the_object() {
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let key = ObjectKey { namespace: "shop".into(), name: "web".into() };
        let status = CronHorizontalPodAutoscalerStatus {
            conditions: vec![
                condition("up", Some("2026-01-15T01:00:00Z"), JobState::Succeed),
                condition("bad", None, JobState::Failed),
            ],
            ..Default::default()
        };
        metrics.observe_status(&key, &status);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"diurnal_cronhpa_next_fire_timestamp_seconds{namespace="shop",name="web",job="up"} 1768438800"#),
            "{text}"
        );
        assert!(
            text.contains(r#"diurnal_cronhpa_job_failed{namespace="shop",name="web",job="bad"} 1"#),
            "{text}"
        );
        assert!(!text.contains(r#"next_fire_timestamp_seconds{namespace="shop",name="web",job="bad"}"#));
        metrics.forget(&key);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(!text.contains("name=\"web\""), "{text}");
    }
}
