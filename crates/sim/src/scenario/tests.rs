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

#[test]
fn a_price_preset_fills_what_the_file_does_not_give() {
    let s = Scenario::parse(&format!("{MINIMAL}prices: aws-us-east-1\n"), "s.yaml").unwrap();
    assert_eq!(s.currency, "USD");
    assert_eq!(s.virtual_node.price_per_vcpu_second, 0.04048 / 3600.0);
    assert_eq!(s.regular_nodes.price_per_hour, 0.192);
    assert_eq!(s.virtual_node.billable_sizes, Some(crate::billing::BillableSizes::Fargate));
    // 1 vCPU, 2 GiB: Fargate bills 1 vCPU, 3 GB (256 MiB added, rounded up).
    assert_eq!(s.cluster().virtual_node.billed_size(&s.cluster().workload), Some((1.0, 3.0)));

    let text = format!(
        "{MINIMAL}prices: alibaba-cn-hangzhou\nregular_nodes:\n  price_per_hour: 0.5\nvirtual_node:\n  price_per_gib_second: 0.000006\n  billable_sizes: requested\n"
    );
    let s = Scenario::parse(&text, "s.yaml").unwrap();
    assert_eq!((s.currency.as_str(), s.regular_nodes.price_per_hour), ("CNY", 0.5));
    assert_eq!(s.virtual_node.price_per_vcpu_second, 0.000_049, "from the preset");
    assert_eq!(s.virtual_node.price_per_gib_second, 0.000_006, "overridden");
    assert_eq!(s.virtual_node.billable_sizes, Some(crate::billing::BillableSizes::Requested));
}

#[test]
fn a_price_preset_that_cannot_apply_names_the_field() {
    let err = |extra: &str| Scenario::parse(&format!("{MINIMAL}{extra}"), "s.yaml").unwrap_err().to_string();
    let e = err("prices: alibaba-intl\n");
    assert_eq!(
        e,
        "s.yaml: regular_nodes.price_per_hour: price preset `alibaba-intl` has no regular node price: give your own"
    );
    assert!(
        Scenario::parse(
            &format!("{MINIMAL}prices: alibaba-intl\nregular_nodes:\n  price_per_hour: 0.1\n"),
            "s.yaml"
        )
        .is_ok()
    );
    let e = err("prices: aws-us-east-1\ncurrency: CNY\n");
    assert!(e.starts_with("s.yaml: currency: is CNY, but price preset `aws-us-east-1` is in USD"), "{e}");
    let e = err("prices: gcp-mars-1\n");
    assert!(
        e.starts_with("s.yaml: prices: unknown price preset `gcp-mars-1` (known: alibaba-cn-hangzhou"),
        "{e}"
    );
    let text = format!("{MINIMAL}prices: aws-us-east-1\n")
        .replace("requests_per_pod: 50\n", "requests_per_pod: 50\n  pod:\n    cpu: 4\n    memory_gib: 30\n");
    let e = Scenario::parse(&text, "s.yaml").unwrap_err().to_string();
    assert_eq!(e, "s.yaml: workload.pod: no size the virtual node bills (Fargate) holds 4 vCPU and 30 GiB");
}
