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
    /// The job is suspended (`jobs[].suspend`): deliberately not scaled.
    Suspended,
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
///
/// At most `cap` jobs are exported (`--max-job-series`; 0 turns them off): any tenant can create
/// CronHPAs, and every job is three series in the monitoring system. Objects are admitted whole,
/// first come; the rest are counted in `diurnal_cronhpa_job_series_omitted` and are admitted at
/// their next status change once there is room.
#[derive(Debug)]
pub struct JobSeries {
    cap: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    exported: HashMap<ObjectKey, Vec<JobPoint>>,
    /// Jobs in `exported`.
    points: usize,
    /// Objects left out for lack of room, and their job counts.
    omitted: HashMap<ObjectKey, usize>,
}

/// The default of `--max-job-series`: jobs whose series are exported.
pub const DEFAULT_MAX_JOB_SERIES: usize = 50_000;

impl JobSeries {
    fn new(cap: usize) -> Self {
        Self { cap, table: Mutex::new(Table::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding this lock leaves plain data behind; keep serving it.
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set(&self, key: &ObjectKey, points: Vec<JobPoint>) {
        let mut table = self.lock();
        let table = &mut *table;
        if let Some(old) = table.exported.remove(key) {
            table.points -= old.len();
        }
        table.omitted.remove(key);
        if table.points + points.len() <= self.cap {
            table.points += points.len();
            table.exported.insert(key.clone(), points);
        } else {
            table.omitted.insert(key.clone(), points.len());
        }
    }

    fn remove(&self, key: &ObjectKey) {
        let mut table = self.lock();
        if let Some(old) = table.exported.remove(key) {
            table.points -= old.len();
        }
        table.omitted.remove(key);
    }
}

impl Collector for JobSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        type Pick = fn(&JobPoint) -> Option<i64>;
        let table = self.lock();
        let omitted: usize = table.omitted.values().sum();
        let family = encoder.encode_descriptor(
            "diurnal_cronhpa_job_series_omitted",
            "CronHPA jobs whose series are not exported (over --max-job-series)",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::try_from(omitted).unwrap_or(i64::MAX)).encode(family)?;
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
            for (key, points) in &table.exported {
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
    /// Creates the metrics and registers them under `diurnal_`, with per-job series for up to
    /// [`DEFAULT_MAX_JOB_SERIES`] jobs.
    pub fn register(registry: &mut Registry) -> Self {
        Self::register_with(registry, DEFAULT_MAX_JOB_SERIES)
    }

    /// [`Metrics::register`], exporting per-job series for at most `max_job_series` jobs.
    pub fn register_with(registry: &mut Registry, max_job_series: usize) -> Self {
        let m = Self {
            jobs: Arc::new(JobSeries::new(max_job_series)),
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
        self.jobs.set(key, points);
    }

    /// Drops the per-job series of a deleted object.
    pub fn forget(&self, key: &ObjectKey) {
        self.jobs.remove(key);
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
            ..JobCondition::default()
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

    fn scrape(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn per_job_series_stop_at_the_cap_and_count_what_they_leave_out() {
        let mut registry = Registry::default();
        let metrics = Metrics::register_with(&mut registry, 3);
        let key = |name: &str| ObjectKey { namespace: "t".into(), name: name.into() };
        let status = |n: usize| CronHorizontalPodAutoscalerStatus {
            conditions: (0..n).map(|i| condition(&format!("j{i}"), None, JobState::Failed)).collect(),
            ..Default::default()
        };
        metrics.observe_status(&key("a"), &status(2));
        metrics.observe_status(&key("big"), &status(64));
        metrics.observe_status(&key("b"), &status(1));
        let text = scrape(&registry);
        assert!(text.contains("diurnal_cronhpa_job_series_omitted 64"), "{text}");
        assert!(!text.contains("name=\"big\""), "{text}");
        assert!(text.contains(r#"job_failed{namespace="t",name="b",job="j0"} 1"#), "{text}");
        // A status change of an exported object keeps its place; a deleted one makes room.
        metrics.observe_status(&key("a"), &status(2));
        metrics.forget(&key("a"));
        metrics.observe_status(&key("c"), &status(2));
        let text = scrape(&registry);
        assert!(text.contains(r#"name="c",job="j1""#), "{text}");
        assert!(text.contains("diurnal_cronhpa_job_series_omitted 64"), "{text}");
        metrics.forget(&key("big"));
        assert!(scrape(&registry).contains("diurnal_cronhpa_job_series_omitted 0"));

        let mut registry = Registry::default();
        let off = Metrics::register_with(&mut registry, 0);
        off.observe_status(&key("a"), &status(1));
        let text = scrape(&registry);
        assert!(!text.contains("name=\"a\"") && text.contains("job_series_omitted 1"), "{text}");
    }
}
