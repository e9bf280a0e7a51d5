//! What the status adds to the old controller's layout (issue 15): the recent executions of each
//! job (`status.jobHistories`) and a one-word summary for Argo CD and Flux (`status.summary`).
//!
//! Both are new fields beside `status.conditions`, whose shape is unchanged, so a reader of the
//! old controller's status keeps working. The history is bounded twice: per job by
//! `spec.historyLimit` ([`crate::limits::MAX_HISTORY_LIMIT`] at most) and per object by
//! [`crate::limits::MAX_HISTORY_ENTRIES`], so the largest object's status stays small.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The object's state in one word, with the reason.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `Ready`, `Progressing`, `Degraded` or `Suspended`.
    pub state: SummaryState,
    /// Why, e.g. the failing job and its message.
    #[serde(default)]
    pub message: String,
}

/// See [`Summary`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SummaryState {
    /// Every job is valid and none failed its last fire.
    Ready,
    /// A fire is being applied or retried.
    Progressing,
    /// A job is invalid, or its last fire failed for good.
    Degraded,
    /// `spec.suspend` is true.
    Suspended,
}

/// The recent executions of one job.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobHistory {
    /// The job's name.
    pub name: String,
    /// Oldest first.
    #[serde(default)]
    pub executions: Vec<Execution>,
}

/// One fire of a job and what it came to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    /// The fire's scheduled instant.
    pub schedule_time: Time,
    /// When it was applied (or settled without a write).
    pub execution_time: Time,
    /// `Regular`, `CatchUp`, `Retry` or `Enforce`.
    pub kind: ExecutionKind,
    /// What it came to.
    pub result: ExecutionResult,
    /// The values the fire read and wrote (none for a fire settled without a write).
    #[serde(flatten)]
    pub changes: Changes,
    /// Detail: what was written, or why nothing was.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// What a fire found and left on its target: each value it read, before and after (equal when
/// it was already as the job wants it).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// The workload's replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<Change>,
    /// The HPA's `minReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replicas: Option<Change>,
    /// The HPA's `maxReplicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas: Option<Change>,
}

impl Changes {
    /// Whether any value read was changed.
    pub fn changed(&self) -> bool {
        [self.replicas, self.min_replicas, self.max_replicas].iter().flatten().any(|c| c.from != c.to)
    }
}

impl std::fmt::Display for Changes {
    /// `replicas 2 -> 5, minReplicas 2 -> 10`, or `-` when nothing was read.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("replicas", self.replicas),
            ("minReplicas", self.min_replicas),
            ("maxReplicas", self.max_replicas),
        ]
        .into_iter()
        .filter_map(|(name, c)| c.map(|c| format!("{name} {c}")))
        .collect();
        if parts.is_empty() { f.write_str("-") } else { f.write_str(&parts.join(", ")) }
    }
}

/// A value before and after a fire.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub struct Change {
    /// Before.
    pub from: i32,
    /// After.
    pub to: i32,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

/// Why a fire was taken.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ExecutionKind {
    /// Its instant came.
    Regular,
    /// It was missed while no controller led (or the object was suspended) and applied later.
    CatchUp,
    /// An earlier attempt failed.
    Retry,
    /// The period in force, applied again (`spec.enforce`).
    Enforce,
}

/// What a fire came to.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ExecutionResult {
    /// The target was changed.
    Scaled,
    /// The target was already as the job wants it: nothing written.
    AlreadyAtSize,
    /// The write failed (it is retried unless the message says otherwise).
    Failed,
    /// Its day is excluded (`excludeDates`).
    Excluded,
    /// The job is suspended (`jobs[].suspend`).
    Suspended,
    /// A later fire of the object was applied instead.
    Superseded,
    /// Later than `startingDeadlineSeconds`.
    MissedDeadline,
}
