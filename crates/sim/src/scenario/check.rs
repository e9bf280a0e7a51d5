//! The checks a parsed scenario must pass, each error naming its field.

use super::{PolicyName, Scenario, ScenarioError};

impl Scenario {
    pub(super) fn check(&self, file: &str) -> Result<(), ScenarioError> {
        let bad = |field: &str, message: String| {
            Err(ScenarioError::Invalid { file: file.to_owned(), field: field.to_owned(), message })
        };
        let positive = [
            ("workload.requests_per_pod", self.workload.requests_per_pod),
            ("workload.pod.cpu", self.workload.pod.cpu),
            ("workload.pod.memory_gib", self.workload.pod.memory_gib),
            ("workload.trace.scale", self.workload.trace.scale),
            ("regular_nodes.cpu", self.regular_nodes.cpu),
            ("regular_nodes.memory_gib", self.regular_nodes.memory_gib),
        ];
        for (field, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return bad(field, format!("must be a positive number, got {v}"));
            }
        }
        let non_negative = [
            ("regular_nodes.price_per_hour", self.regular_nodes.price_per_hour),
            (
                "regular_nodes.autoscaled_price_per_hour",
                self.regular_nodes.autoscaled_price_per_hour.unwrap_or(0.0),
            ),
            ("virtual_node.price_per_vcpu_second", self.virtual_node.price_per_vcpu_second),
            ("virtual_node.price_per_gib_second", self.virtual_node.price_per_gib_second),
            ("evaluation.headroom", self.evaluation.headroom),
            ("planner.headroom", self.planner.headroom),
        ];
        for (field, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, format!("must be zero or more, got {v}"));
            }
        }
        for (field, v) in [
            ("hpa.target_utilization", self.hpa.target_utilization),
            ("planner.target_utilization", self.planner.target_utilization),
            ("planner.quantile", self.planner.quantile),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return bad(field, format!("must be in (0, 1], got {v}"));
            }
        }
        let seconds = [
            ("workload.startup_seconds", self.workload.startup_seconds),
            ("regular_nodes.provisioning_seconds", self.regular_nodes.provisioning_seconds),
            ("regular_nodes.minimum_billed_seconds", self.regular_nodes.minimum_billed_seconds),
            ("regular_nodes.scale_down_unneeded_seconds", self.regular_nodes.scale_down_unneeded_seconds),
            ("virtual_node.startup_seconds", self.virtual_node.startup_seconds),
            ("hpa.scale_down_stabilization_seconds", self.hpa.scale_down_stabilization_seconds),
        ];
        for (field, v) in seconds {
            if v < 0 {
                return bad(field, format!("must be zero or more seconds, got {v}"));
            }
        }
        if self.hpa.sync_seconds <= 0 || self.evaluation.step_seconds <= 0 {
            return bad("hpa.sync_seconds / evaluation.step_seconds", "must be positive".into());
        }
        if self.planner.history_days == 0 {
            return bad("planner.history_days", "at least one day of history is needed".into());
        }
        if self.planner.jobs_per_day == 0 {
            return bad("planner.jobs_per_day", "at least one job per day is needed".into());
        }
        if self.planner.slot_minutes == 0 || 1440 % self.planner.slot_minutes != 0 {
            return bad(
                "planner.slot_minutes",
                format!("must divide 1440, got {}", self.planner.slot_minutes),
            );
        }
        if self.regular_nodes.min_nodes > self.regular_nodes.max_nodes {
            return bad("regular_nodes.min_nodes", "is above regular_nodes.max_nodes".into());
        }
        if self.policies.contains(&PolicyName::Hybrid) && self.hybrid.is_none() {
            return bad(
                "hybrid",
                "the hybrid policy is listed but no `hybrid:` section gives its CronHPA".into(),
            );
        }
        if self.policies.contains(&PolicyName::Cronhpa) && self.cronhpa.is_none() {
            return bad(
                "cronhpa",
                "the cronhpa policy is listed but no `cronhpa:` section gives its file".into(),
            );
        }
        if let Err(e) = jiff::tz::TimeZone::get(&self.workload.trace.time_zone) {
            return bad("workload.trace.time_zone", format!("unknown time zone: {e}"));
        }
        self.check_billable_pod(file)?;
        if self.policies.is_empty() {
            return bad("policies", "list at least one policy".into());
        }
        Ok(())
    }

    /// The virtual node must bill the pod at some size of its provider's.
    fn check_billable_pod(&self, file: &str) -> Result<(), ScenarioError> {
        let cluster = self.cluster();
        if cluster.virtual_node.enabled && cluster.virtual_node.billed_size(&cluster.workload).is_none() {
            return Err(ScenarioError::Invalid {
                file: file.to_owned(),
                field: "workload.pod".to_owned(),
                message: format!(
                    "no size the virtual node bills ({:?}) holds {} vCPU and {} GiB",
                    cluster.virtual_node.sizes, self.workload.pod.cpu, self.workload.pod.memory_gib
                ),
            });
        }
        Ok(())
    }
}
