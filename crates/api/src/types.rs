//! The `CronHorizontalPodAutoscaler` custom resource (`autoscaling.alibabacloud.com/v1beta1`).
//!
//! A superset of kubernetes-cronhpa-controller's schema: every field it defines keeps its name,
//! type and meaning, so existing manifests and tools that read `status.conditions` keep working
//! when the controller is swapped. Fields diurnal adds are optional.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::calendar::{CalendarRef, JobDays, MAX_CALENDAR_REFS};
use crate::history::{JobHistory, Summary};
use crate::limits;

/// Desired state: what to scale, when, and to what size.
// One `printcolumn(...)` per column is kube-derive's syntax, not a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "autoscaling.alibabacloud.com",
    version = "v1beta1",
    kind = "CronHorizontalPodAutoscaler",
    plural = "cronhorizontalpodautoscalers",
    shortname = "cronhpa",
    category = "all",
    namespaced,
    status = "CronHorizontalPodAutoscalerStatus",
    derive = "PartialEq",
    doc = "Scales a workload (or sets an HPA's floor) on cron schedules, with per-object time zones.",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.scaleTargetRef.name"),
    printcolumn(name = "Zone", type_ = "string", json_path = ".spec.timeZone", priority = "1"),
    // `string`, not `date`: kubectl prints a `date` column as an age, `<invalid>` for the future.
    printcolumn(name = "Next", type_ = "string", json_path = ".status.nextScheduleTime"),
    printcolumn(name = "Last Result", type_ = "string", json_path = ".status.lastResult"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.summary.state"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.scaleTargetRef.kind == 'HorizontalPodAutoscaler' || self.jobs.all(j, has(j.targetSize))",
     "message": "targetMinReplicas and targetMaxReplicas apply to a HorizontalPodAutoscaler target only; every job of a workload target needs targetSize"}
]))]
pub struct CronHorizontalPodAutoscalerSpec {
    /// The workload (anything with a `scale` subresource) or HorizontalPodAutoscaler to scale.
    pub scale_target_ref: ScaleTargetRef,

    /// Days on which no job scales. Each entry is a cron expression (a calendar day is excluded
    /// when the expression matches any instant of it), an ISO date `2026-10-01`, or an inclusive
    /// range `2026-10-01..2026-10-07`. Days are taken in the object's time zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::MAX_EXCLUDE_DATES), inner(length(min = 1, max = limits::MAX_EXCLUDE_DATE)))]
    pub exclude_dates: Vec<String>,

    /// The schedule lines. Job names are unique within the object.
    #[schemars(length(min = 1, max = limits::MAX_JOBS))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub jobs: Vec<Job>,

    /// IANA time zone for every job's wall times and for `excludeDates` (e.g. `Asia/Shanghai`).
    /// Unset: the controller's `--default-time-zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::MAX_TIME_ZONE))]
    pub time_zone: Option<String>,

    /// When true, no job fires; the status says the object is suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// After a controller restart or outage, a missed fire is applied only if it is at most this
    /// many seconds old. Unset: always applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = limits::MAX_STARTING_DEADLINE_SECONDS))]
    pub starting_deadline_seconds: Option<i64>,

    /// Calendars (`diurnal.dev` `Calendar` objects in this namespace) the jobs read: `as: workday`
    /// ones decide what `days: workdays|holidays` mean, `as: exclude` ones add their holidays to
    /// `excludeDates`. A calendar that does not exist (yet) is read as empty and the status says
    /// so (docs/calendars.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_CALENDAR_REFS))]
    pub calendars: Vec<CalendarRef>,
    // --- Round two (issue 15): history, HPA controls. All optional; unset means as before.
    /// How many executions per job `status.jobHistories` keeps (newest last). Unset: 5; 0: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = limits::MAX_HISTORY_LIMIT))]
    pub history_limit: Option<u32>,

    /// `off` (or `false`): a workload target is scaled directly even when an HPA manages it, and
    /// no HPA is given back on deletion. Unset or `on`: the controller's `--hpa-coordination`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::switch::deserialize_option"
    )]
    pub hpa_coordination: Option<bool>,

    /// How `targetSize` moves an HPA: `Floor` (default: `minReplicas` := `targetSize`, the HPA
    /// may go above it) or `Exact` (`minReplicas` and `maxReplicas` := `targetSize` for the
    /// period, so a scale-down below the HPA's current count is forced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpa_mode: Option<HpaMode>,

    /// When true, the size of the period in force (the latest fire of any job) is applied again
    /// when the object is created or edited, on unsuspend, when a controller takes the lead
    /// (after a restart or fail-over), and when drift is found (the target is checked every
    /// `--min-fire-interval`), even if it was applied before. Unset: only fires apply. A job's
    /// own `enforce` overrides this for the periods its fires start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce: Option<bool>,
}

/// How `targetSize` is applied to an HPA.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum HpaMode {
    /// `minReplicas` := `targetSize`; the HPA may scale above it.
    #[default]
    Floor,
    /// `minReplicas` and `maxReplicas` := `targetSize` until the next fire.
    Exact,
}

/// Reference to the scaled object, as in kubernetes-cronhpa-controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// API version of the target, e.g. `apps/v1` or `autoscaling/v2`.
    #[schemars(length(min = 1, max = limits::MAX_API_VERSION))]
    pub api_version: String,
    /// Kind of the target, e.g. `Deployment` or `HorizontalPodAutoscaler`.
    #[schemars(length(min = 1, max = limits::MAX_KIND))]
    pub kind: String,
    /// Name of the target, in the CronHPA's namespace.
    #[schemars(length(min = 1, max = limits::MAX_NAME))]
    pub name: String,
}

/// One schedule line.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.targetSize) != (has(self.targetMinReplicas) || has(self.targetMaxReplicas))",
     "message": "set exactly one of targetSize, or targetMinReplicas and/or targetMaxReplicas"},
    {"rule": "!has(self.targetMinReplicas) || !has(self.targetMaxReplicas) || self.targetMinReplicas <= self.targetMaxReplicas",
     "message": "targetMinReplicas must not be above targetMaxReplicas"}
]))]
pub struct Job {
    /// Unique name within the object.
    #[schemars(length(min = 1, max = limits::MAX_JOB_NAME))]
    pub name: String,
    /// `sec min hour dom month dow`, `min hour dom month dow`, a descriptor (`@daily`),
    /// `@every <duration>` or `@date YYYY-MM-DD HH:MM:SS`. Fires of one job may not come closer
    /// together than the controller's `--min-fire-interval` (a minute by default).
    #[schemars(length(min = 1, max = limits::MAX_SCHEDULE))]
    pub schedule: String,
    /// Replicas (or HPA floor) to set at each fire. Required unless the target is an HPA and
    /// `targetMinReplicas`/`targetMaxReplicas` are given instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = limits::MAX_TARGET_SIZE))]
    pub target_size: Option<i32>,
    /// Fire once, then never again.
    #[serde(default)]
    pub run_once: bool,
    /// IANA time zone overriding the object's for this job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::MAX_TIME_ZONE))]
    pub time_zone: Option<String>,

    /// Which days the job runs on in terms of the object's `as: workday` calendars: `all` (the
    /// default: the days the schedule names), `workdays` or `holidays`. With `workdays` or
    /// `holidays` the schedule's day-of-week field is not read: the calendar decides, so a
    /// make-up Saturday runs a `MON-FRI` job (docs/calendars.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<JobDays>,
    // --- Round two (issue 15).
    /// HPA targets: the `minReplicas` to set at each fire (instead of `targetSize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = limits::MAX_TARGET_SIZE))]
    pub target_min_replicas: Option<i32>,
    /// HPA targets: the `maxReplicas` to set at each fire (instead of `targetSize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = limits::MAX_TARGET_SIZE))]
    pub target_max_replicas: Option<i32>,
    /// When true, this job's fires do nothing (each is recorded in the history as suspended);
    /// the other jobs go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// Overrides `spec.enforce` for this job: whether the period this job's latest fire started
    /// is held while it is the period in force. Unset: the object's `enforce`. Setting it does
    /// not re-plan the job's fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce: Option<bool>,
}

/// Outcome of a job's last fire, as kubernetes-cronhpa-controller reports it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum JobState {
    /// Planned; waiting for its next fire.
    #[default]
    Submitted,
    /// The last fire was applied.
    Succeed,
    /// The last fire (or the job's content) failed; see `message`.
    Failed,
}

/// Observed state. `conditions` keeps the old controller's one-entry-per-job layout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CronHorizontalPodAutoscalerStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Copy of the spec's target, as the old controller wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_target_ref: Option<ScaleTargetRef>,
    /// Copy of the spec's exclusions, as the old controller wrote it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_dates: Vec<String>,
    /// One entry per job.
    #[serde(default)]
    pub conditions: Vec<JobCondition>,
    /// The earliest `nextScheduleTime` across jobs (for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// Summary of the latest fire, e.g. `Succeed scale-up: 2 -> 5` (for `kubectl get`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
    /// Validation warnings about the spec (`path: message`), as `diurnal validate` prints them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,

    // --- Round two (issue 15).
    /// The last executions of each job (at most `spec.historyLimit` per job), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub job_histories: Vec<JobHistory>,
    /// One word for the whole object, for Argo CD, Flux and `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
}

/// A job's status entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobCondition {
    /// The job's name.
    pub name: String,
    /// Stable id of the job's current plan (changes when the job is edited).
    #[serde(default)]
    pub job_id: String,
    /// The job's schedule, as planned.
    #[serde(default)]
    pub schedule: String,
    /// The job's target size, as planned.
    #[serde(default)]
    pub target_size: i32,
    /// The job's `runOnce`, as planned.
    #[serde(default)]
    pub run_once: bool,
    /// Outcome of the last fire.
    pub state: JobState,
    /// When this entry was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_probe_time: Option<Time>,
    /// Human-readable detail about the last transition.
    #[serde(default)]
    pub message: String,
    /// The last fire that was applied. Fires on excluded days and fires superseded by a later
    /// one are not recorded here (the message says so), so a restart catches up correctly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The next fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// The zone the job's wall times are read in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The job's `targetMinReplicas`, as planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_min_replicas: Option<i32>,
    /// The job's `targetMaxReplicas`, as planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_max_replicas: Option<i32>,
}
