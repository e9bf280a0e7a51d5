//! The manifests under `examples/cronhpa/` — kubernetes-cronhpa-controller's own samples among
//! them — parse and validate unchanged, and the checked-in CRD matches the types.

use std::path::{Path, PathBuf};

use diurnal_api::manifest::parse_documents;
use diurnal_api::{JobState, resolve_object};
use jiff::tz::TimeZone;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(name: &str) -> Vec<diurnal_api::CronHorizontalPodAutoscaler> {
    let path = repo_root().join("examples/cronhpa").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    parse_documents(&text, name)
        .unwrap()
        .iter()
        .map(|d| d.decode_cronhpa().unwrap_or_else(|f| panic!("{name}:{}: {f}", d.index)))
        .collect()
}

#[test]
fn the_old_controllers_sample_parses_and_validates_unchanged() {
    let objs = load("legacy-sample.yaml");
    assert_eq!(objs.len(), 1);
    let spec = &objs[0].spec;
    assert_eq!(spec.exclude_dates, ["* * * 15 11 *", "* * * * * 5"]);
    assert_eq!(spec.jobs.len(), 4);
    assert!(spec.jobs[3].run_once);
    assert!(!spec.jobs[0].run_once, "runOnce defaults to false");
    let r = resolve_object(&objs[0], &TimeZone::UTC);
    assert!(r.is_valid(), "{:?}", r.findings);
    assert_eq!(r.plan.jobs.len(), 4);
}

#[test]
fn an_hpa_target_parses_and_validates() {
    let objs = load("legacy-hpa-target.yaml");
    assert_eq!(objs[0].spec.scale_target_ref.kind, "HorizontalPodAutoscaler");
    assert!(resolve_object(&objs[0], &TimeZone::UTC).is_valid());
}

#[test]
fn every_example_validates() {
    for entry in std::fs::read_dir(repo_root().join("examples/cronhpa")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for obj in load(&name) {
            let r = resolve_object(&obj, &TimeZone::UTC);
            assert!(r.is_valid(), "{name}: {:?}", r.findings);
        }
    }
}

#[test]
fn status_written_by_the_old_controller_still_reads() {
    // As kubernetes-cronhpa-controller writes it: every condition field present, no new fields.
    let json = serde_json::json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "excludeDates": [],
        "conditions": [{
            "name": "scale-up", "jobId": "0f6e4e2c-9b2d-4b59-8a53-9a5a6f1c0b0e", "schedule": "0 */1 * * * *",
            "targetSize": 3, "runOnce": false, "state": "Succeed",
            "lastProbeTime": "2026-11-20T08:00:00Z", "message": "cron hpa job scale-up executed successfully"
        }]
    });
    let status: diurnal_api::CronHorizontalPodAutoscalerStatus = serde_json::from_value(json).unwrap();
    assert_eq!(status.conditions[0].state, JobState::Succeed);
    assert_eq!(status.conditions[0].target_size, 3);
}

#[test]
fn checked_in_crds_match_the_types() {
    // The plain CRDs, and the Helm chart's copies (Helm installs crds/ verbatim).
    for generated in diurnal_api::crd::crd_files() {
        for place in ["deploy/crds", "deploy/helm/diurnal/crds"] {
            let path = repo_root().join(place).join(&generated.file_name);
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::write(&path, &generated.yaml).unwrap();
            }
            let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                checked_in == generated.yaml,
                "{} is out of date with crates/api/src; regenerate with \
                 `UPDATE_GOLDEN=1 cargo test -p diurnal-api --test fixtures`",
                path.display()
            );
        }
    }
}

#[test]
fn the_crd_enforces_what_the_api_server_can_check() {
    let crd: serde_json::Value =
        serde_json::to_value(<diurnal_api::CronHorizontalPodAutoscaler as kube::CustomResourceExt>::crd())
            .unwrap();
    let version = &crd["spec"]["versions"][0];
    assert_eq!(crd["spec"]["group"], "autoscaling.alibabacloud.com");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "cronhpa");
    assert_eq!(crd["spec"]["names"]["categories"][0], "all");
    assert!(version["subresources"]["status"].is_object());
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let required: Vec<&str> =
        spec["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(required.contains(&"jobs") && required.contains(&"scaleTargetRef"), "{required:?}");
    let jobs = &spec["properties"]["jobs"];
    assert_eq!(jobs["x-kubernetes-list-type"], "map");
    assert_eq!(jobs["x-kubernetes-list-map-keys"][0], "name");
    assert_eq!(jobs["items"]["properties"]["targetSize"]["minimum"].as_f64(), Some(0.0));
    // targetSize is optional in the schema (HPA targets may give a floor and ceiling instead);
    // CEL rules refuse what the webhook would: both forms or neither, min above max, bounds on a
    // workload target. Unique job names are the list-map's key.
    let rules = |v: &serde_json::Value| -> Vec<String> {
        v["x-kubernetes-validations"].as_array().unwrap().iter().map(|r| r["rule"].to_string()).collect()
    };
    let required = jobs["items"]["required"].as_array().unwrap();
    assert!(!required.iter().any(|r| r == "targetSize"), "{required:?}");
    let job_rules = rules(&jobs["items"]);
    assert!(job_rules.iter().any(|r| r.contains("has(self.targetSize) !=")), "{job_rules:?}");
    assert!(job_rules.iter().any(|r| r.contains("self.targetMinReplicas <= self.targetMaxReplicas")));
    assert!(rules(spec).iter().any(|r| r.contains("self.jobs.all(j, has(j.targetSize))")));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Target", "Zone", "Next", "Last Result", "State", "Age"]);
}

#[test]
fn the_trigger_crd_refuses_what_the_api_server_can_check() {
    let crd: serde_json::Value =
        serde_json::to_value(<diurnal_api::trigger::RedeployTrigger as kube::CustomResourceExt>::crd())
            .unwrap();
    assert_eq!(crd["spec"]["group"], diurnal_api::trigger::GROUP);
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object(), "the service writes only the status");
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let workload = &spec["properties"]["workload"]["properties"];
    assert_eq!(workload["kind"]["enum"], serde_json::json!(["Deployment", "StatefulSet"]));
    assert_eq!(workload["name"]["maxLength"], 253);
    assert!(workload["name"]["pattern"].as_str().unwrap().starts_with("^[a-z0-9]"));
    assert_eq!(spec["properties"]["tokenHash"]["pattern"], "^sha256:[a-f0-9]{64}$");
    let rules: Vec<&str> = spec["x-kubernetes-validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules
            .iter()
            .any(|r| r.contains(diurnal_api::trigger::ANY_REGISTRY_REGEX) && r.contains("allowAnyImage")),
        "{rules:?}"
    );
    let last_calls = &version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["lastCalls"];
    assert_eq!(last_calls["maxItems"], diurnal_api::trigger::LAST_CALLS);
}
