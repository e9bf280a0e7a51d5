//! The scenario file: one workload on its trace, the node pool, the virtual node, the HPA, and
//! which policies to compare. Every field is documented here and in `docs/simulator.md`; every
//! number has a default that can be overridden; unknown fields are refused by name.
//!
//! Price defaults (CNY), and where they come from:
//! - Alibaba Cloud ECI pay-as-you-go: 0.000049 CNY per vCPU-second and 0.00000613 CNY per
//!   GiB-second (Alibaba Cloud ECI pricing page, pay-as-you-go, China regions; the figures the
//!   project's issue 5 quotes, taken 2026-11).
//! - Regular node: ecs.g6.xlarge (4 vCPU, 16 GiB) on a monthly subscription, taken as 0.68 CNY per
//!   hour (about 496 CNY a month). **Assumption**: not checked against a live price page in this
//!   session; ECS prices vary by region and over time, so override `regular_nodes.price_per_hour`
//!   with your own quote.

use serde::{Deserialize, Serialize};

use crate::billing::BillableSizes;
use crate::model::{Billing, Cluster, HpaBehaviour, NodePool, VirtualNode, Workload};
use crate::trace::ValueUnit;

mod check;
mod defaults;
mod preset;
#[allow(clippy::wildcard_imports)] // the serde defaults, named in attributes
use defaults::*;

/// Quantiles the planner's tuning tries.
pub const TUNE_QUANTILES: [f64; 5] = [0.25, 0.5, 0.75, 0.9, 1.0];
/// Head-rooms the planner's tuning tries.
pub const TUNE_HEADROOMS: [f64; 3] = [0.0, 0.1, 0.25];
/// HPA target utilisations the planner's tuning tries.
pub const TUNE_TARGETS: [f64; 2] = [0.8, 0.9];

/// Default ECI price per vCPU-second, CNY.
pub const ECI_VCPU_SECOND_CNY: f64 = 0.000_049;
/// Default ECI price per GiB-second, CNY.
pub const ECI_GIB_SECOND_CNY: f64 = 0.000_006_13;
/// Default regular node price per hour, CNY (assumption, see the module docs).
pub const ECS_G6_XLARGE_HOUR_CNY: f64 = 0.68;

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name shown in reports.
    #[serde(default = "default_name")]
    pub name: String,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: String,
    /// A price preset of the catalogue (`diurnal prices` lists them; `crate::prices`): fills the
    /// currency, the virtual node's prices and size rule and the regular node's price, each only
    /// where this file does not give it.
    #[serde(default)]
    pub prices: Option<String>,
    /// Currency label of every price.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// The workload and its trace.
    pub workload: WorkloadSpec,
    /// The regular node pool.
    #[serde(default)]
    pub regular_nodes: NodePoolSpec,
    /// The virtual node.
    #[serde(default)]
    pub virtual_node: VirtualNodeSpec,
    /// HPA behaviour for every policy that uses an HPA (the planner's own target excepted).
    #[serde(default)]
    pub hpa: HpaSpec,
    /// How policies are evaluated.
    #[serde(default)]
    pub evaluation: EvaluationSpec,
    /// The planner behind the `diurnal` policy.
    #[serde(default)]
    pub planner: PlannerSpec,
    /// The `hybrid` policy: a given CronHPA, a fixed baseline, bursts on the virtual node.
    #[serde(default)]
    pub hybrid: Option<HybridSpec>,
    /// The `cronhpa` policy: a given CronHPA on autoscaled regular nodes.
    #[serde(default)]
    pub cronhpa: Option<CronHpaSpec>,
    /// Policies to compare, in report order.
    #[serde(default = "default_policies")]
    pub policies: Vec<PolicyName>,
}

/// The policies the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    /// Regular nodes sized for the fit window's peak (plus head-room), all the time.
    StaticPeak,
    /// HPA v2 on regular nodes with a cluster autoscaler.
    Hpa,
    /// A given CronHPA (plus HPA when `cronhpa.hpa`) on regular nodes with a cluster autoscaler.
    Cronhpa,
    /// A fixed regular baseline, bursts on the virtual node, driven by a given CronHPA and HPA.
    Hybrid,
    /// The planner's CronHPA, baseline and HPA, in the hybrid layout.
    Diurnal,
}

impl PolicyName {
    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::StaticPeak => "static-peak",
            PolicyName::Hpa => "hpa",
            PolicyName::Cronhpa => "cronhpa",
            PolicyName::Hybrid => "hybrid",
            PolicyName::Diurnal => "diurnal",
        }
    }
}

/// The workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Name; the planner's CronHPA targets the HPA `<name>`.
    pub name: String,
    /// Its load.
    pub trace: TraceSpec,
    /// Requests per second one ready pod serves at 100% of its CPU request.
    pub requests_per_pod: f64,
    /// Resources one pod requests.
    #[serde(default)]
    pub pod: PodSpec,
    /// Seconds from pod creation on a ready regular node to ready.
    #[serde(default = "default_pod_startup")]
    pub startup_seconds: i64,
    /// Replicas never go below this.
    #[serde(default = "default_min_replicas")]
    pub min_replicas: u32,
}

/// A CSV trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// CSV file, relative to the scenario file.
    pub path: String,
    /// Header of the timestamp column.
    #[serde(default = "default_timestamp_column")]
    pub timestamp_column: String,
    /// Header of the value column.
    #[serde(default = "default_value_column")]
    pub value_column: String,
    /// IANA zone of timestamps without an offset. Also the zone the planner writes its CronHPA in.
    pub time_zone: String,
    /// What the value column means.
    #[serde(default)]
    pub unit: ValueUnit,
    /// Multiplier applied to every value (after `unit`), to map the trace onto this service's load.
    #[serde(default = "one")]
    pub scale: f64,
}

/// Resources one pod requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSpec {
    /// vCPU.
    #[serde(default = "one")]
    pub cpu: f64,
    /// GiB of memory.
    #[serde(default = "two")]
    pub memory_gib: f64,
}

impl Default for PodSpec {
    fn default() -> Self {
        PodSpec { cpu: 1.0, memory_gib: 2.0 }
    }
}

/// The regular node pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodePoolSpec {
    /// Allocatable vCPU per node.
    #[serde(default = "four")]
    pub cpu: f64,
    /// Allocatable GiB per node.
    #[serde(default = "sixteen")]
    pub memory_gib: f64,
    /// Price of one node-hour (default: ecs.g6.xlarge subscription, an assumption; see above).
    #[serde(default = "default_node_price")]
    pub price_per_hour: f64,
    /// `subscription` (every node ever held is paid for the whole span) or `pay-as-you-go`.
    #[serde(default)]
    pub billing: Billing,
    /// Pay-as-you-go: least seconds billed per node.
    #[serde(default = "sixty")]
    pub minimum_billed_seconds: i64,
    /// Seconds from the autoscaler's request to a ready node.
    #[serde(default = "default_provisioning")]
    pub provisioning_seconds: i64,
    /// Fewest nodes the autoscaler keeps.
    #[serde(default)]
    pub min_nodes: u32,
    /// Most nodes the autoscaler adds.
    #[serde(default = "default_max_nodes")]
    pub max_nodes: u32,
    /// Cluster autoscaler: seconds a node must be unneeded before it is removed.
    #[serde(default = "default_unneeded")]
    pub scale_down_unneeded_seconds: i64,
    /// Price per hour of nodes a cluster autoscaler adds and removes (`hpa`, `cronhpa`), billed
    /// pay-as-you-go per second; unset: billed like held nodes (`billing`, `price_per_hour`).
    #[serde(default)]
    pub autoscaled_price_per_hour: Option<f64>,
    /// Take `price_per_hour` from an `OpenCost` custom-pricing CSV (in the scenario's currency).
    #[serde(default)]
    pub opencost_csv: Option<OpenCostNodeSpec>,
}

/// A node price in an `OpenCost` (`Kubecost`) custom-pricing CSV: the `MarketPriceHourly` of its
/// `node` rows of one `InstanceType`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenCostNodeSpec {
    /// The CSV, relative to the scenario file.
    pub path: String,
    /// The `InstanceType` of the pool's nodes, e.g. `ecs.g6.xlarge`.
    pub instance_type: String,
    /// Only rows of this `Region`.
    #[serde(default)]
    pub region: Option<String>,
}

impl Default for NodePoolSpec {
    fn default() -> Self {
        serde_saphyr::from_str("{}").expect("all fields have defaults")
    }
}

/// The virtual node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualNodeSpec {
    /// Whether the virtual node exists.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Price per vCPU-second (default: Alibaba ECI pay-as-you-go).
    #[serde(default = "default_vcpu_price")]
    pub price_per_vcpu_second: f64,
    /// Price per GiB-second (default: Alibaba ECI pay-as-you-go).
    #[serde(default = "default_gib_price")]
    pub price_per_gib_second: f64,
    /// Seconds from pod creation to ready on the virtual node.
    #[serde(default = "default_virtual_startup")]
    pub startup_seconds: i64,
    /// How the provider rounds pod sizes: `requested` (none), `eci` or `fargate` (default: the
    /// preset's, else `requested`).
    #[serde(default)]
    pub billable_sizes: Option<BillableSizes>,
}

impl Default for VirtualNodeSpec {
    fn default() -> Self {
        serde_saphyr::from_str("{}").expect("all fields have defaults")
    }
}

/// HPA v2 behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaSpec {
    /// Target CPU utilisation, 0..1.
    #[serde(default = "default_target")]
    pub target_utilization: f64,
    /// Tolerance around the target.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Seconds between evaluations.
    #[serde(default = "fifteen")]
    pub sync_seconds: i64,
    /// Scale-down stabilisation window, seconds.
    #[serde(default = "three_hundred")]
    pub scale_down_stabilization_seconds: i64,
}

impl Default for HpaSpec {
    fn default() -> Self {
        serde_saphyr::from_str("{}").expect("all fields have defaults")
    }
}

/// How policies are evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSpec {
    /// Days at the end of the trace held out for evaluation; the planner and `static-peak` only
    /// see what comes before. Default: a quarter of the trace, at least 7 days.
    #[serde(default)]
    pub holdout_days: Option<u32>,
    /// Simulation step, seconds; must divide the trace interval.
    #[serde(default = "fifteen")]
    pub step_seconds: i64,
    /// Head-room `static-peak` adds to the fit window's peak.
    #[serde(default = "default_headroom")]
    pub headroom: f64,
}

impl Default for EvaluationSpec {
    fn default() -> Self {
        serde_saphyr::from_str("{}").expect("all fields have defaults")
    }
}

/// The planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerSpec {
    /// At most this many CronHPA fires on any calendar day.
    #[serde(default = "six")]
    pub jobs_per_day: u32,
    /// Profile resolution, minutes (divides 1440).
    #[serde(default = "thirty")]
    pub slot_minutes: u32,
    /// Head-room over the profile.
    #[serde(default = "default_headroom")]
    pub headroom: f64,
    /// Quantile of each slot's history the schedule covers (1 = the maximum seen).
    #[serde(default = "one")]
    pub quantile: f64,
    /// Target utilisation of the HPA behind the schedule: it only catches what the schedule
    /// missed, since the schedule already carries the head-room.
    #[serde(default = "default_planner_target")]
    pub target_utilization: f64,
    /// Only the last this many days of the fit window are learned from (the profile and the
    /// baseline): recent weeks say more about the next ones than last season does.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
    /// Choose `quantile`, `headroom` and `target_utilization` by validation instead of taking
    /// them as given: each combination of [`TUNE_QUANTILES`] × [`TUNE_HEADROOMS`] ×
    /// [`TUNE_TARGETS`] is planned on the fit window less its last 7 days and run on those 7 days;
    /// the cheapest whose shortfall there is at most `shortfall_target` wins (the least shortfall
    /// if none is). The held-out window is never used.
    #[serde(default = "yes")]
    pub tune: bool,
    /// The shortfall tuning aims at on its validation week.
    #[serde(default = "default_shortfall_target")]
    pub shortfall_target: f64,
    /// `weekly` (one profile per day of the week), `daily` (one for all days), or `auto`
    /// (weekly when the fit window holds at least two weeks).
    #[serde(default)]
    pub profile: ProfileKind,
}

impl Default for PlannerSpec {
    fn default() -> Self {
        serde_saphyr::from_str("{}").expect("all fields have defaults")
    }
}

/// Which profile the planner learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileKind {
    /// Weekly when the fit window holds at least two weeks, else daily.
    #[default]
    Auto,
    /// One profile per day of the week.
    Weekly,
    /// One profile for every day.
    Daily,
}

/// The `hybrid` policy's inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridSpec {
    /// Regular nodes held all the time.
    pub baseline_nodes: u32,
    /// CronHPA manifest (relative to the scenario file) whose jobs set the HPA's floor.
    pub cronhpa: String,
}

/// The `cronhpa` policy's inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronHpaSpec {
    /// CronHPA manifest, relative to the scenario file.
    pub file: String,
    /// Whether an HPA runs under the schedule.
    #[serde(default = "yes")]
    pub hpa: bool,
}

/// Why a scenario cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// YAML syntax or schema (unknown field, wrong type): the parser's message names the field.
    #[error("{file}: {message}")]
    Parse {
        /// Scenario file.
        file: String,
        /// Parser message.
        message: String,
    },
    /// A value out of range.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// Scenario file.
        file: String,
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
}

impl Scenario {
    /// Parses and checks a scenario.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = serde_saphyr::from_str(text)
            .map_err(|e| ScenarioError::Parse { file: file.to_owned(), message: e.to_string() })?;
        if scenario.prices.is_some() || scenario.regular_nodes.opencost_csv.is_some() {
            // Which fields the file gives itself: those a preset or a price file must not replace.
            let given: serde_json::Value = serde_saphyr::from_str(text)
                .map_err(|e| ScenarioError::Parse { file: file.to_owned(), message: e.to_string() })?;
            if let Some(name) = scenario.prices.clone() {
                scenario.apply_preset(&name, &given, file)?;
            }
            if scenario.regular_nodes.opencost_csv.is_some()
                && given.get("regular_nodes").and_then(|n| n.get("price_per_hour")).is_some()
            {
                return Err(ScenarioError::Invalid {
                    file: file.to_owned(),
                    field: "regular_nodes.opencost_csv".to_owned(),
                    message: "gives the node price, and so does regular_nodes.price_per_hour: keep one"
                        .into(),
                });
            }
        }
        scenario.check(file)?;
        Ok(scenario)
    }

    /// The cluster model this scenario describes.
    pub fn cluster(&self) -> Cluster {
        let w = &self.workload;
        let p = &self.regular_nodes;
        let v = &self.virtual_node;
        Cluster {
            workload: Workload {
                name: w.name.clone(),
                requests_per_pod: w.requests_per_pod,
                pod_cpu: w.pod.cpu,
                pod_memory_gib: w.pod.memory_gib,
                startup_seconds: w.startup_seconds,
                min_replicas: w.min_replicas,
            },
            pool: NodePool {
                cpu: p.cpu,
                memory_gib: p.memory_gib,
                price_per_hour: p.price_per_hour,
                billing: p.billing,
                minimum_billed_seconds: p.minimum_billed_seconds,
                provisioning_seconds: p.provisioning_seconds,
                min_nodes: p.min_nodes,
                max_nodes: p.max_nodes,
                scale_down_unneeded_seconds: p.scale_down_unneeded_seconds,
                autoscaled_price_per_hour: p.autoscaled_price_per_hour,
            },
            virtual_node: VirtualNode {
                enabled: v.enabled,
                price_per_vcpu_second: v.price_per_vcpu_second,
                price_per_gib_second: v.price_per_gib_second,
                startup_seconds: v.startup_seconds,
                sizes: v.billable_sizes.unwrap_or_default(),
            },
        }
    }

    /// Reads the workload's trace from `text` (the CSV named by `workload.trace.path`); `file`
    /// names it in errors.
    pub fn read_trace(
        &self,
        text: &str,
        file: &str,
    ) -> Result<crate::trace::Trace, crate::trace::TraceError> {
        let t = &self.workload.trace;
        let spec = crate::trace::CsvSpec {
            timestamp_column: &t.timestamp_column,
            value_column: &t.value_column,
            // Checked when the scenario was parsed.
            time_zone: jiff::tz::TimeZone::get(&t.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
            unit: t.unit,
            scale: t.scale,
        };
        crate::trace::Trace::from_csv(text, file, &spec)
    }

    /// The HPA behaviour.
    pub fn hpa_behaviour(&self) -> HpaBehaviour {
        HpaBehaviour {
            target_utilization: self.hpa.target_utilization,
            tolerance: self.hpa.tolerance,
            sync_seconds: self.hpa.sync_seconds,
            scale_down_stabilization_seconds: self.hpa.scale_down_stabilization_seconds,
        }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are what these tests assert
mod tests;
