//! Prometheus metrics. Labels are a fixed set of outcomes and actions: no trigger name (an
//! attacker's invented names would grow the label set) and nothing a caller sent.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// How a hook request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// A rollout was applied.
    rolled,
    /// Joined a rollout within the coalescing window.
    coalesced,
    /// A registry notification about something other than a push.
    ignored,
    /// Unknown trigger, wrong or missing token.
    not_found,
    /// Over a rate limit.
    rate_limited,
    /// Malformed request or registry payload.
    bad_request,
    /// Authenticated, but not allowed (image outside the pattern, restart-only trigger).
    forbidden,
    /// Body over the limit.
    payload_too_large,
    /// A method other than GET and POST.
    method_not_allowed,
    /// The workload is gone or lacks the container.
    conflict,
    /// The Kubernetes API failed.
    api_error,
    /// Before the first list of triggers (the service is starting).
    not_ready,
}

impl Outcome {
    /// The label value, also written into a trigger's `status.lastCalls[].result`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::rolled => "rolled",
            Self::coalesced => "coalesced",
            Self::ignored => "ignored",
            Self::not_found => "not_found",
            Self::rate_limited => "rate_limited",
            Self::bad_request => "bad_request",
            Self::forbidden => "forbidden",
            Self::payload_too_large => "payload_too_large",
            Self::method_not_allowed => "method_not_allowed",
            Self::conflict => "conflict",
            Self::api_error => "api_error",
            Self::not_ready => "not_ready",
        }
    }
}

/// Label set of `diurnal_trigger_requests`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// How it ended.
    pub outcome: Outcome,
}

/// Label set of `diurnal_trigger_rollouts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ActionLabels {
    /// `restart` or `set-image`.
    pub action: String,
}

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Hook requests by outcome.
    pub requests: Family<OutcomeLabels, Counter>,
    /// Rollouts applied, by action.
    pub rollouts: Family<ActionLabels, Counter>,
    /// Triggers loaded from Secrets.
    pub triggers: Gauge,
}

impl Metrics {
    /// Registers the metrics under the `diurnal_trigger` prefix.
    pub fn register(registry: &mut Registry) -> std::sync::Arc<Self> {
        let m = Self::default();
        let sub = registry.sub_registry_with_prefix("diurnal_trigger");
        sub.register("requests", "Hook requests by outcome", m.requests.clone());
        sub.register("rollouts", "Rollouts applied, by action", m.rollouts.clone());
        sub.register("triggers", "Triggers loaded from labelled Secrets", m.triggers.clone());
        std::sync::Arc::new(m)
    }

    /// Counts one request.
    pub fn count(&self, outcome: Outcome) {
        self.requests.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}
