//! The defaults of the scenario file's fields (`#[serde(default = ...)]`), documented on the
//! fields themselves and in `docs/simulator.md`.

use super::{ECI_GIB_SECOND_CNY, ECI_VCPU_SECOND_CNY, ECS_G6_XLARGE_HOUR_CNY, PolicyName};

pub(super) fn default_name() -> String {
    "scenario".into()
}
pub(super) fn default_currency() -> String {
    "CNY".into()
}
pub(super) fn default_policies() -> Vec<PolicyName> {
    vec![PolicyName::StaticPeak, PolicyName::Hpa, PolicyName::Diurnal]
}
pub(super) fn default_timestamp_column() -> String {
    "timestamp".into()
}
pub(super) fn default_value_column() -> String {
    "value".into()
}
pub(super) fn default_pod_startup() -> i64 {
    30
}
pub(super) fn default_virtual_startup() -> i64 {
    45
}
pub(super) fn default_min_replicas() -> u32 {
    1
}
pub(super) fn default_node_price() -> f64 {
    ECS_G6_XLARGE_HOUR_CNY
}
pub(super) fn default_vcpu_price() -> f64 {
    ECI_VCPU_SECOND_CNY
}
pub(super) fn default_gib_price() -> f64 {
    ECI_GIB_SECOND_CNY
}
pub(super) fn default_provisioning() -> i64 {
    180
}
pub(super) fn default_max_nodes() -> u32 {
    1000
}
pub(super) fn default_unneeded() -> i64 {
    600
}
pub(super) fn default_target() -> f64 {
    0.7
}
pub(super) fn default_planner_target() -> f64 {
    0.9
}
pub(super) fn default_shortfall_target() -> f64 {
    0.0025
}
pub(super) fn default_history_days() -> u32 {
    28
}
pub(super) fn default_tolerance() -> f64 {
    0.1
}
pub(super) fn default_headroom() -> f64 {
    0.1
}
pub(super) fn one() -> f64 {
    1.0
}
pub(super) fn two() -> f64 {
    2.0
}
pub(super) fn four() -> f64 {
    4.0
}
pub(super) fn sixteen() -> f64 {
    16.0
}
pub(super) fn sixty() -> i64 {
    60
}
pub(super) fn fifteen() -> i64 {
    15
}
pub(super) fn three_hundred() -> i64 {
    300
}
pub(super) fn six() -> u32 {
    6
}
pub(super) fn thirty() -> u32 {
    30
}
pub(super) fn yes() -> bool {
    true
}
