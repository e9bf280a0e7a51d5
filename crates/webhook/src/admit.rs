//! The admission decision for one pod, given what the cluster says about its workload. Pure: the
//! server looks the workload up and reserves baseline slots; this module only decides.

use std::collections::BTreeMap;

use diurnal_placement::{
    Placement, PlacementPolicy, Profile, headed_to_virtual, place, placement_patch, validate_pod_spec,
};
use k8s_openapi::api::core::v1::Pod;

/// What the webhook does with pods the virtual node cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse them, naming each offending field.
    Deny,
    /// Admit them with admission warnings (what `kubectl` prints as `Warning:`).
    Warn,
}

/// The pod's workload, as the server found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// `Kind/namespace/name` of the top owner (Deployment, StatefulSet, ReplicaSet), for messages.
    pub id: String,
    /// Its annotations (a Deployment's are copied onto its ReplicaSets by Kubernetes).
    pub annotations: BTreeMap<String, String>,
    /// Live pods of the workload already pinned to regular nodes, reservations included.
    pub regular_pinned: u32,
}

/// The decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Where the pod was placed, if the workload opted in.
    pub placement: Option<Placement>,
    /// The patch to return (absent: the pod is admitted unchanged).
    pub patch: Option<json_patch::Patch>,
    /// The denial message (absent: allowed).
    pub denied: Option<String>,
    /// Admission warnings.
    pub warnings: Vec<String>,
}

impl Verdict {
    fn allowed() -> Self {
        Self { placement: None, patch: None, denied: None, warnings: Vec::new() }
    }

    /// The metric label of this verdict.
    pub fn outcome(&self) -> &'static str {
        match (&self.denied, self.placement, self.warnings.is_empty()) {
            (Some(_), _, _) => "denied",
            (None, Some(Placement::Regular), _) => "placed_regular",
            (None, Some(Placement::Burst(_)), _) => "placed_burst",
            (None, None, false) => "warned",
            (None, None, true) => "unchanged",
        }
    }
}

/// Decides for a pod being created. `owner_kind` is the kind of its controller (from its owner
/// references), `workload` what the server found for it (`None` for a bare pod or when the lookup
/// found nothing).
pub fn admit(
    profile: &Profile,
    mode: Mode,
    pod: &Pod,
    owner_kind: Option<&str>,
    workload: Option<&Workload>,
) -> Verdict {
    let mut verdict = Verdict::allowed();
    let Some(spec) = pod.spec.as_ref() else { return verdict };
    let no_annotations = BTreeMap::new();
    let annotations = workload.map_or(&no_annotations, |w| &w.annotations);
    let policy = match PlacementPolicy::from_annotations(annotations) {
        Ok(policy) => policy,
        Err(e) => {
            // A typo in an annotation must not stop the workload's pods: they are admitted as they
            // are, and whoever creates them is told.
            verdict.warnings.push(format!("{}: {e}; pod not placed", workload.map_or("", |w| w.id.as_str())));
            None
        }
    };
    // DaemonSet pods are never placed: they belong on every node they select.
    let policy = policy.filter(|_| owner_kind != Some("DaemonSet"));
    let mut placed = pod.clone();
    if let Some(policy) = &policy {
        let placement = place(policy, workload.map_or(0, |w| w.regular_pinned));
        let patch = placement_patch(profile, placement, pod);
        let mut doc = serde_json::to_value(pod).unwrap_or_default();
        if json_patch::patch(&mut doc, &patch).is_ok()
            && let Ok(p) = serde_json::from_value(doc)
        {
            placed = p;
        }
        verdict.placement = Some(placement);
        verdict.patch = Some(patch);
    }
    let placed_spec = placed.spec.as_ref().unwrap_or(spec);
    let headed = match verdict.placement {
        Some(Placement::Regular) => false,
        Some(Placement::Burst(_)) => true,
        None => headed_to_virtual(profile, placed_spec, &no_annotations),
    };
    if !headed {
        return verdict;
    }
    let violations = validate_pod_spec(profile, placed_spec, "spec", owner_kind);
    if violations.is_empty() {
        return verdict;
    }
    let lines: Vec<String> = violations.iter().map(ToString::to_string).collect();
    match mode {
        Mode::Deny => {
            verdict.denied = Some(format!(
                "diurnal: this pod is headed to {} and asks for what they cannot run: {}",
                profile.description,
                lines.join("; ")
            ));
            verdict.patch = None;
        }
        Mode::Warn => verdict.warnings.extend(lines.into_iter().map(|l| format!("diurnal: {l}"))),
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ali() -> Profile {
        Profile::builtin("alibabacloud").unwrap()
    }

    fn pod(volumes: &serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"generateName": "web-"},
            "spec": {"containers": [{"name": "a", "image": "a"}], "volumes": volumes},
        }))
        .unwrap()
    }

    fn workload(baseline: u32, burst: &str, pinned: u32) -> Workload {
        Workload {
            id: "Deployment/shop/web".into(),
            annotations: BTreeMap::from([
                ("diurnal.dev/baseline-replicas".to_owned(), baseline.to_string()),
                ("diurnal.dev/burst".to_owned(), burst.to_owned()),
            ]),
            regular_pinned: pinned,
        }
    }

    #[test]
    fn pods_of_workloads_that_did_not_opt_in_pass_unchanged() {
        let v = admit(&ali(), Mode::Deny, &pod(&serde_json::json!([])), Some("ReplicaSet"), None);
        assert_eq!(v, Verdict::allowed());
        assert_eq!(v.outcome(), "unchanged");
    }

    #[test]
    fn the_baseline_is_placed_on_regular_nodes_then_pods_burst() {
        let p = pod(&serde_json::json!([]));
        let v = admit(&ali(), Mode::Deny, &p, Some("ReplicaSet"), Some(&workload(3, "virtual", 2)));
        assert_eq!(v.placement, Some(Placement::Regular));
        assert!(v.patch.is_some());
        let v = admit(&ali(), Mode::Deny, &p, Some("ReplicaSet"), Some(&workload(3, "virtual", 3)));
        assert_eq!(v.outcome(), "placed_burst");
    }

    #[test]
    fn a_burst_pod_the_virtual_node_cannot_run_is_denied_with_its_field_or_warned() {
        let p = pod(&serde_json::json!([{"name": "logs", "hostPath": {"path": "/var/log"}}]));
        let w = workload(1, "virtual", 1);
        let v = admit(&ali(), Mode::Deny, &p, Some("ReplicaSet"), Some(&w));
        let message = v.denied.clone().unwrap();
        assert!(message.contains("spec.volumes[0].hostPath: hostPath volumes are not mounted on alibabacloud virtual nodes (ECI)"), "{message}");
        assert_eq!(v.patch, None);
        let v = admit(&ali(), Mode::Warn, &p, Some("ReplicaSet"), Some(&w));
        assert_eq!(v.denied, None);
        assert!(v.patch.is_some());
        assert!(v.warnings[0].starts_with("diurnal: spec.volumes[0].hostPath"), "{:?}", v.warnings);
        // The same pod within the baseline goes to a regular node: nothing to refuse.
        let v = admit(&ali(), Mode::Deny, &p, Some("ReplicaSet"), Some(&workload(2, "virtual", 1)));
        assert_eq!((v.denied, v.placement), (None, Some(Placement::Regular)));
    }

    #[test]
    fn a_pod_sent_to_the_virtual_node_by_its_own_spec_is_validated_too() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "securityContext": {"privileged": true}}],
                "nodeSelector": {"type": "virtual-kubelet"},
                "tolerations": [{"key": "virtual-kubelet.io/provider", "operator": "Exists"}]},
        }))
        .unwrap();
        let v = admit(&ali(), Mode::Deny, &p, None, None);
        assert!(v.denied.unwrap().contains("spec.containers[0].securityContext.privileged"));
    }

    #[test]
    fn a_bad_annotation_admits_the_pod_unplaced_with_a_warning() {
        let mut w = workload(1, "virtual", 0);
        w.annotations.insert("diurnal.dev/burst".into(), "cloud".into());
        let v = admit(&ali(), Mode::Deny, &pod(&serde_json::json!([])), Some("ReplicaSet"), Some(&w));
        assert_eq!((v.placement, v.denied.as_deref()), (None, None));
        assert!(v.warnings[0].contains("diurnal.dev/burst"), "{:?}", v.warnings);
    }

    #[test]
    fn daemon_set_pods_are_never_placed() {
        let v = admit(
            &ali(),
            Mode::Deny,
            &pod(&serde_json::json!([])),
            Some("DaemonSet"),
            Some(&workload(1, "virtual", 0)),
        );
        assert_eq!(v.placement, None);
        assert_eq!(v.denied, None, "not headed to the virtual node by its own spec");
    }
}
