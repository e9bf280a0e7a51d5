//! The webhook's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Result {
    result: &'static str,
}

/// Counters and the latency histogram.
#[derive(Debug)]
pub struct Metrics {
    admissions: Family<Outcome, Counter>,
    latency: Histogram,
    cost_patches: Family<Result, Counter>,
}

impl Metrics {
    /// Registers the metrics under `diurnal_webhook_`.
    pub fn new(registry: &mut Registry) -> Self {
        let me = Self {
            admissions: Family::default(),
            latency: Histogram::new([0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0]),
            cost_patches: Family::default(),
        };
        let sub = registry.sub_registry_with_prefix("diurnal_webhook");
        sub.register(
            "admissions",
            "Admission reviews by outcome: placed_regular, placed_burst, denied, warned, unchanged, not_a_pod_create, malformed (not an AdmissionReview v1, too large or too slow to arrive), unauthenticated (no verified client certificate where one is required), busy (over the in-flight limit), error",
            me.admissions.clone(),
        );
        sub.register("admission_duration_seconds", "Time to answer one admission review", me.latency.clone());
        sub.register(
            "deletion_cost_patches",
            "Pod deletion-cost patches by result (ok, error)",
            me.cost_patches.clone(),
        );
        me
    }

    /// Counts one admission.
    pub fn admission(&self, outcome: &'static str, seconds: f64) {
        self.admissions.get_or_create(&Outcome { outcome }).inc();
        self.latency.observe(seconds);
    }

    /// Counts one deletion-cost patch.
    pub fn deletion_cost_patch(&self, ok: bool) {
        self.cost_patches.get_or_create(&Result { result: if ok { "ok" } else { "error" } }).inc();
    }
}
