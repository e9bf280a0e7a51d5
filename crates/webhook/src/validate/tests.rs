use serde_json::json;

use super::*;

fn rules() -> Rules {
    Rules { limits: Limits::default(), default_zone: TimeZone::UTC }
}

fn cronhpa(name: &str, kind: &str, target: &str, schedule: &str) -> serde_json::Value {
    let api = if kind == HPA { "autoscaling/v2" } else { "apps/v1" };
    json!({
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1", "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": api, "kind": kind, "name": target},
            "jobs": [{"name": "up", "schedule": schedule, "targetSize": 3}],
        },
    })
}

fn indexed(objects: &[serde_json::Value]) -> Index {
    let mut index = Index::default();
    for o in objects {
        index.apply_cronhpa(&serde_json::from_value(o.clone()).unwrap());
    }
    index
}

fn now() -> Timestamp {
    "2026-10-01T00:00:00Z".parse().unwrap()
}

#[test]
fn errors_are_a_refusal_naming_the_field_and_warnings_are_warnings() {
    let index = Index::default();
    let bad = cronhpa("web", "Deployment", "web", "0 0 25 * * *");
    let v = review_cronhpa(&bad, "shop", &index, &HashMap::new(), &rules(), now());
    let denied = v.denied.unwrap();
    assert!(denied.starts_with("spec.jobs[0].schedule: "), "{denied}");
    let five = cronhpa("web", "Deployment", "web", "0 8 * * *");
    let v = review_cronhpa(&five, "shop", &index, &HashMap::new(), &rules(), now());
    assert_eq!(v.denied, None);
    assert!(v.warnings[0].starts_with("spec.jobs[0].schedule: kubernetes-cronhpa-controller reads"), "{v:?}");
    let mistyped = json!({"apiVersion": "autoscaling.alibabacloud.com/v1beta1", "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "x"}, "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
        "jobs": [{"name": "a", "schedule": "@daily", "targetSize": "lots"}]}});
    let v = review_cronhpa(&mistyped, "shop", &index, &HashMap::new(), &rules(), now());
    assert!(v.denied.unwrap().starts_with("spec.jobs[0].targetSize: "));
}

#[test]
fn two_cronhpas_on_one_workload_are_a_warning() {
    let index = indexed(&[cronhpa("old", "Deployment", "web", "@daily")]);
    let v = review_cronhpa(
        &cronhpa("new", "Deployment", "web", "@daily"),
        "shop",
        &index,
        &HashMap::new(),
        &rules(),
        now(),
    );
    assert_eq!(v.denied, None);
    assert_eq!(
        v.warnings,
        ["spec.scaleTargetRef: CronHPA \"old\" also scales Deployment \"web\": the two overwrite each other"]
    );
    // Itself (an update), another namespace and another workload are no conflict.
    for (name, ns, target) in [("old", "shop", "web"), ("new", "other", "web"), ("new", "shop", "api")] {
        let v = review_cronhpa(
            &cronhpa(name, "Deployment", target, "@daily"),
            ns,
            &index,
            &HashMap::new(),
            &rules(),
            now(),
        );
        assert!(v.warnings.is_empty(), "{name} {ns} {target}: {v:?}");
    }
}

#[test]
fn one_on_a_deployment_and_another_on_its_hpa_are_a_warning_both_ways() {
    let hpas = HashMap::from([("web-hpa".to_owned(), ("Deployment".to_owned(), "web".to_owned()))]);
    let on_hpa = cronhpa("floor", HPA, "web-hpa", "@daily");
    let on_deployment = cronhpa("size", "Deployment", "web", "@daily");

    let index = indexed(std::slice::from_ref(&on_deployment));
    let obj: CronHorizontalPodAutoscaler = serde_json::from_value(on_hpa.clone()).unwrap();
    assert_eq!(index.hpas_to_look_up("shop", &obj), ["web-hpa"]);
    let v = review_cronhpa(&on_hpa, "shop", &index, &hpas, &rules(), now());
    assert_eq!(
        v.warnings,
        ["spec.scaleTargetRef: CronHPA \"size\" scales Deployment \"web\" directly and this one through \
          HorizontalPodAutoscaler \"web-hpa\": they fight over its size; point both at the HPA"]
    );

    let index = indexed(std::slice::from_ref(&on_hpa));
    let obj: CronHorizontalPodAutoscaler = serde_json::from_value(on_deployment.clone()).unwrap();
    assert_eq!(index.hpas_to_look_up("shop", &obj), ["web-hpa"]);
    let v = review_cronhpa(&on_deployment, "shop", &index, &hpas, &rules(), now());
    assert_eq!(v.warnings.len(), 1, "{v:?}");
    // Unknown HPA (not found, or not looked up): no guess.
    let v = review_cronhpa(&on_deployment, "shop", &index, &HashMap::new(), &rules(), now());
    assert!(v.warnings.is_empty());
}

#[test]
fn calendars_are_read_from_the_index_and_checked_themselves() {
    let mut index = Index::default();
    let mut obj = cronhpa("web", "Deployment", "web", "0 0 8 * * MON-FRI");
    obj["spec"]["calendars"] = json!([{"name": "cn", "as": "workday"}]);
    let v = review_cronhpa(&obj, "shop", &index, &HashMap::new(), &rules(), now());
    assert!(v.warnings[0].starts_with("spec.calendars[0].name: no Calendar \"cn\""), "{v:?}");
    let cal = json!({"apiVersion": "diurnal.dev/v1alpha1", "kind": "Calendar", "metadata": {"name": "cn", "namespace": "shop"},
        "spec": {"holidays": ["2026-10-01..2026-10-07"], "workdays": ["2026-10-03"]}});
    let v = review_calendar(&cal);
    assert!(v.denied.unwrap().starts_with("spec.workdays[0]: 2026-10-03 is both a holiday"));
    let mut good = cal.clone();
    good["spec"]["workdays"] = json!(["2026-10-10"]);
    assert_eq!(review_calendar(&good), Verdict::default());
    index.apply_calendar(&serde_json::from_value(good).unwrap());
    let v = review_cronhpa(&obj, "shop", &index, &HashMap::new(), &rules(), now());
    assert_eq!(v, Verdict::default());
}
