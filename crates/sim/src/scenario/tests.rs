//! The scenario file's parsing, defaults and checks.

use super::*;

const MINIMAL: &str = "workload:\n  name: web\n  requests_per_pod: 50\n  trace:\n    path: t.csv\n    time_zone: Asia/Shanghai\n";

#[test]
fn a_minimal_scenario_gets_the_documented_defaults() {
    let s = Scenario::parse(MINIMAL, "s.yaml").unwrap();
    assert_eq!(s.virtual_node.price_per_vcpu_second, 0.000_049);
    assert_eq!(s.virtual_node.price_per_gib_second, 0.000_006_13);
    assert_eq!(s.regular_nodes.price_per_hour, 0.68);
    assert_eq!(s.regular_nodes.billing, Billing::Subscription);
    assert_eq!(s.hpa.sync_seconds, 15);
    assert_eq!(s.hpa.scale_down_stabilization_seconds, 300);
    assert_eq!(s.workload.trace.timestamp_column, "timestamp");
    assert_eq!(s.policies, vec![PolicyName::StaticPeak, PolicyName::Hpa, PolicyName::Diurnal]);
    assert_eq!(s.cluster().pods_per_node(), 4);
}

#[test]
fn unknown_fields_are_refused_by_name() {
    let text = format!("{MINIMAL}regular_nodes:\n  cpus: 8\n");
    let err = Scenario::parse(&text, "s.yaml").unwrap_err().to_string();
    assert!(err.starts_with("s.yaml: "), "{err}");
    assert!(err.contains("unknown field `cpus`"), "{err}");
}

#[test]
fn out_of_range_values_name_the_field() {
    let text = format!("{MINIMAL}hpa:\n  target_utilization: 1.5\n");
    let err = Scenario::parse(&text, "s.yaml").unwrap_err();
    assert_eq!(err.to_string(), "s.yaml: hpa.target_utilization: must be in (0, 1], got 1.5");
}

#[test]
fn a_listed_policy_needs_its_section() {
    let text = format!("{MINIMAL}policies: [hybrid]\n");
    let err = Scenario::parse(&text, "s.yaml").unwrap_err();
    assert!(matches!(err, ScenarioError::Invalid { ref field, .. } if field == "hybrid"), "{err}");
}

#[test]
fn unknown_policy_names_are_refused() {
    let text = format!("{MINIMAL}policies: [magic]\n");
    let err = Scenario::parse(&text, "s.yaml").unwrap_err().to_string();
    assert!(err.contains("magic"), "{err}");
}
