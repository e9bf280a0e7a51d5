//! The `RedeployTrigger` custom resource (`diurnal.dev/v1alpha1`): a secret URL that rolls one
//! workload.
//!
//! A trigger holds the SHA-256 of its token (never the token), the workload it rolls and what a
//! call may do. Who may create one is ordinary RBAC on this kind; the chart's
//! `ValidatingAdmissionPolicy` also requires the creator to be allowed to patch the workload, so a
//! trigger never gives anyone more than they had. The schema refuses what the API server can
//! check by itself: an unknown kind, a name that is not a DNS-1123 subdomain, a malformed hash,
//! and an image pattern that matches any registry unless `allowAnyImage` says so.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of diurnal's own resources.
pub const GROUP: &str = "diurnal.dev";

/// How many calls `status.lastCalls` keeps (newest first).
pub const LAST_CALLS: usize = 10;

/// The CEL regular expression for "the pattern's registry part contains a wildcard": a `*`
/// before the first `/`, or — in a pattern without `/` — before its tag or digest. The trigger
/// service checks the same with `ImagePattern::pins_registry`.
pub const ANY_REGISTRY_REGEX: &str = "^([^/]*[*][^/]*/|[^/:@]*[*])";

/// Desired state: which workload, what a call may do, and the hash of the token.
// One `printcolumn(...)` per column is kube-derive's syntax, not a duplicate.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "diurnal.dev",
    version = "v1alpha1",
    kind = "RedeployTrigger",
    plural = "redeploytriggers",
    shortname = "rdt",
    namespaced,
    status = "RedeployTriggerStatus",
    derive = "PartialEq",
    doc = "A secret URL that restarts one Deployment or StatefulSet (or sets one container's image within a pattern).",
    printcolumn(name = "Kind", type_ = "string", json_path = ".spec.workload.kind"),
    printcolumn(name = "Workload", type_ = "string", json_path = ".spec.workload.name"),
    printcolumn(name = "Action", type_ = "string", json_path = ".spec.action"),
    printcolumn(name = "Pattern", type_ = "string", json_path = ".spec.imagePattern", priority = "1"),
    printcolumn(name = "Last Call", type_ = "date", json_path = ".status.lastCalls[0].time"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self.action != 'set-image' || (has(self.imagePattern) && has(self.container))",
     "message": "action set-image needs imagePattern and container"},
    {"rule": "self.action == 'set-image' || !has(self.imagePattern)",
     "message": "imagePattern only applies to action set-image"},
    {"rule": "!has(self.imagePattern) || (has(self.allowAnyImage) && self.allowAnyImage) || !self.imagePattern.matches('^([^/]*[*][^/]*/|[^/:@]*[*])')",
     "message": "imagePattern matches any registry (a * in its registry part); set allowAnyImage: true to allow that"}
]))]
pub struct RedeployTriggerSpec {
    /// The workload a call rolls, in the trigger's namespace.
    pub workload: WorkloadRef,

    /// `sha256:` and the lowercase hex SHA-256 of the token. The token itself is shown once, when
    /// the trigger is created or rotated, and stored nowhere.
    #[schemars(regex(pattern = r"^sha256:[a-f0-9]{64}$"))]
    pub token_hash: String,

    /// What a call may do.
    pub action: TriggerAction,

    /// For `set-image`: the container whose image a call sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub container: Option<String>,

    /// For `set-image`: which images a call may set, `[registry/]repository[:tag][@digest]` with
    /// `*` within one path segment (docs/triggers.md). A reference with a digest is allowed only
    /// by a pattern with a digest part (`@*`, `@sha256:*` or one exact digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image_pattern: Option<String>,

    /// Allow an `imagePattern` whose registry part has a wildcard (`*/*`, `*`, `*.io/*`): any
    /// registry, so anyone holding the token chooses where the image comes from.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_any_image: bool,
}

/// The workload a trigger rolls.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// `Deployment` or `StatefulSet` (`apps/v1`).
    pub kind: TriggerWorkloadKind,
    /// Its name: a DNS-1123 subdomain, as the API server requires of both kinds.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    )]
    pub name: String,
}

/// The kinds a trigger can roll.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum TriggerWorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
}

/// What a call to a trigger may do.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerAction {
    /// Only restart (a new `restartedAt` on the pod template), as `kubectl rollout restart`.
    Restart,
    /// Set the container's image to one the pattern allows, or restart.
    SetImage,
}

/// Observed state: the latest authenticated calls.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeployTriggerStatus {
    /// The latest authenticated calls, newest first (at most 10). Calls with a wrong token are
    /// only counted in metrics: writing them here would let anyone make the service write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub last_calls: Vec<TriggerCall>,
}

/// One authenticated call.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerCall {
    /// When it was answered.
    pub time: Time,
    /// `rolled`, `coalesced`, `ignored`, `forbidden`, `conflict` or `api_error` (as the
    /// `outcome` label of `diurnal_trigger_requests_total`).
    #[schemars(length(max = 32))]
    pub result: String,
    /// The image set, for a set-image call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub image: Option<String>,
    /// The client address (behind a trusted proxy, the one it forwarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub client: Option<String>,
    /// Why a call was refused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub message: Option<String>,
}
