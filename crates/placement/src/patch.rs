//! The JSON Patch (RFC 6902) that applies a placement to a pod, as an admission webhook returns it.
//!
//! The placement label is added by its own pointer (with `/` in the key escaped as `~1`); the
//! affinity and the tolerations are computed whole from the pod's own and written back with one
//! `add` each, which replaces a member that exists and creates one that does not — so the patch
//! is right whether or not the pod already has them, and never drops what the user wrote.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PreferredSchedulingTerm, Toleration,
};

use crate::policy::{BurstMode, PLACEMENT_LABEL, Placement};
use crate::profile::Profile;

/// Weight of the "prefer regular nodes" term of `overflow` (the maximum, so it dominates other
/// preferences the pod may have).
const PREFER_REGULAR_WEIGHT: i32 = 100;

fn requirements(profile: &Profile, operator: &str) -> Vec<NodeSelectorRequirement> {
    profile
        .node_labels
        .iter()
        .map(|(k, v)| NodeSelectorRequirement {
            key: k.clone(),
            operator: operator.to_owned(),
            values: Some(vec![v.clone()]),
        })
        .collect()
}

/// Adds `exprs` to every required term (terms are alternatives: each must exclude or select the virtual
/// node), or makes one term of them when there is none.
fn require(node: &mut NodeAffinity, exprs: &[NodeSelectorRequirement]) {
    let required =
        node.required_during_scheduling_ignored_during_execution.get_or_insert_with(NodeSelector::default);
    if required.node_selector_terms.is_empty() {
        required.node_selector_terms.push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        let list = term.match_expressions.get_or_insert_with(Vec::new);
        for e in exprs {
            if !list.contains(e) {
                list.push(e.clone());
            }
        }
    }
}

/// The tolerations a pod needs for the profile's taints, appended to its own.
fn tolerations(profile: &Profile, pod: &Pod) -> Vec<Toleration> {
    let mut out = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
    for t in &profile.taints {
        let toleration = Toleration {
            key: Some(t.key.clone()),
            operator: Some(if t.value.is_some() { "Equal" } else { "Exists" }.to_owned()),
            value: t.value.clone(),
            effect: Some(t.effect.clone()),
            toleration_seconds: None,
        };
        if !out.contains(&toleration) {
            out.push(toleration);
        }
    }
    out
}

fn add(path: &[&str], value: serde_json::Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path: PointerBuf::from_tokens(path.iter().copied()), value })
}

/// The patch that places `pod`:
///
/// - `Regular`: required node affinity excluding the virtual nodes (`NotIn` their labels, which
///   also matches nodes without the label);
/// - `Burst(Virtual)`: tolerations of the virtual node's taints and required affinity selecting it;
/// - `Burst(Overflow)`: the tolerations and a preferred (weight 100) term for non-virtual nodes,
///   so the scheduler uses regular nodes while they have room and the virtual node after.
///
/// Every placement sets [`PLACEMENT_LABEL`].
pub fn placement_patch(profile: &Profile, placement: Placement, pod: &Pod) -> Patch {
    let mut ops = Vec::new();
    if pod.metadata.labels.is_none() {
        ops.push(add(&["metadata", "labels"], serde_json::json!({})));
    }
    ops.push(add(&["metadata", "labels", PLACEMENT_LABEL], serde_json::json!(placement.label())));

    let mut affinity: Affinity = pod.spec.as_ref().and_then(|s| s.affinity.clone()).unwrap_or_default();
    let node = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    match placement {
        Placement::Regular => require(node, &requirements(profile, "NotIn")),
        Placement::Burst(BurstMode::Virtual) => require(node, &requirements(profile, "In")),
        Placement::Burst(BurstMode::Overflow) => {
            let prefer = PreferredSchedulingTerm {
                weight: PREFER_REGULAR_WEIGHT,
                preference: NodeSelectorTerm {
                    match_expressions: Some(requirements(profile, "NotIn")),
                    match_fields: None,
                },
            };
            let preferred =
                node.preferred_during_scheduling_ignored_during_execution.get_or_insert_with(Vec::new);
            if !preferred.contains(&prefer) {
                preferred.push(prefer);
            }
        }
    }
    if !profile.node_labels.is_empty() {
        ops.push(add(&["spec", "affinity"], serde_json::to_value(&affinity).expect("affinity serialises")));
    }
    if matches!(placement, Placement::Burst(_)) {
        let value = serde_json::to_value(tolerations(profile, pod)).expect("tolerations serialise");
        ops.push(add(&["spec", "tolerations"], value));
    }
    Patch(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    /// Applies the patch to the pod's JSON, as the API server does, and reads the pod back.
    fn apply(p: &Pod, patch: &Patch) -> Pod {
        let mut doc = serde_json::to_value(p).unwrap();
        json_patch::patch(&mut doc, patch).unwrap();
        serde_json::from_value(doc).unwrap()
    }

    fn ali() -> Profile {
        Profile::builtin("alibabacloud").unwrap()
    }

    fn bare() -> Pod {
        pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}}))
    }

    fn required(p: &Pod) -> Vec<Vec<(String, String, Vec<String>)>> {
        let terms = p
            .spec
            .as_ref()
            .unwrap()
            .affinity
            .as_ref()
            .unwrap()
            .node_affinity
            .as_ref()
            .unwrap()
            .required_during_scheduling_ignored_during_execution
            .as_ref()
            .unwrap()
            .node_selector_terms
            .clone();
        terms
            .into_iter()
            .map(|t| {
                t.match_expressions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| (e.key, e.operator, e.values.unwrap_or_default()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_regular_pod_without_labels_or_affinity_is_pinned_off_the_virtual_node() {
        let placed = apply(&bare(), &placement_patch(&ali(), Placement::Regular, &bare()));
        assert_eq!(placed.metadata.labels.as_ref().unwrap()["diurnal.dev/placement"], "regular");
        assert_eq!(
            required(&placed),
            [vec![("type".into(), "NotIn".into(), vec!["virtual-kubelet".into()])]]
        );
        assert_eq!(placed.spec.unwrap().tolerations, None, "no toleration: the taint keeps it off too");
    }

    #[test]
    fn the_label_key_is_escaped_in_its_pointer() {
        let patch = placement_patch(&ali(), Placement::Regular, &bare());
        let json = serde_json::to_value(&patch).unwrap();
        assert_eq!(json[1]["path"], "/metadata/labels/diurnal.dev~1placement");
        assert_eq!(json[0], serde_json::json!({"op": "add", "path": "/metadata/labels", "value": {}}));
    }

    #[test]
    fn existing_required_terms_each_get_the_exclusion_and_user_settings_stay() {
        let p = pod(serde_json::json!({
            "metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a"}],
                "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}},
                    "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}}
        }));
        let placed = apply(&p, &placement_patch(&ali(), Placement::Regular, &p));
        let labels = placed.metadata.labels.clone().unwrap();
        assert_eq!((labels["app"].as_str(), labels["diurnal.dev/placement"].as_str()), ("web", "regular"));
        let not_virtual = ("type".to_owned(), "NotIn".to_owned(), vec!["virtual-kubelet".to_owned()]);
        let terms = required(&placed);
        assert_eq!(terms.len(), 2);
        for (term, zone) in terms.iter().zip(["a", "b"]) {
            assert_eq!(term[0], ("zone".to_owned(), "In".to_owned(), vec![zone.to_owned()]));
            assert_eq!(term[1], not_virtual);
        }
        let spec = placed.spec.unwrap();
        assert!(spec.affinity.unwrap().pod_anti_affinity.is_some(), "other affinity kept");
        assert_eq!(spec.tolerations.unwrap().len(), 1, "user toleration kept");
    }

    #[test]
    fn a_virtual_burst_tolerates_and_requires_the_virtual_node() {
        let placed = apply(&bare(), &placement_patch(&ali(), Placement::Burst(BurstMode::Virtual), &bare()));
        assert_eq!(placed.metadata.labels.as_ref().unwrap()["diurnal.dev/placement"], "burst");
        assert_eq!(required(&placed), [vec![("type".into(), "In".into(), vec!["virtual-kubelet".into()])]]);
        let t = placed.spec.unwrap().tolerations.unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].key.as_deref(), t[0].operator.as_deref(), t[0].value.as_deref(), t[0].effect.as_deref()),
            (Some("virtual-kubelet.io/provider"), Some("Equal"), Some("alibabacloud"), Some("NoSchedule"))
        );
    }

    #[test]
    fn an_overflow_burst_prefers_regular_nodes_and_may_use_the_virtual_one() {
        let once = placement_patch(&ali(), Placement::Burst(BurstMode::Overflow), &bare());
        let placed = apply(&bare(), &once);
        let spec = placed.spec.clone().unwrap();
        let node = spec.affinity.unwrap().node_affinity.unwrap();
        assert!(node.required_during_scheduling_ignored_during_execution.is_none(), "nothing required");
        let preferred = node.preferred_during_scheduling_ignored_during_execution.unwrap();
        assert_eq!(preferred.len(), 1);
        assert_eq!(preferred[0].weight, 100);
        assert_eq!(preferred[0].preference.match_expressions.as_ref().unwrap()[0].operator, "NotIn");
        assert_eq!(spec.tolerations.unwrap().len(), 1);
        // Placing an already placed pod again changes nothing (idempotent: reinvocation).
        let again = apply(&placed, &placement_patch(&ali(), Placement::Burst(BurstMode::Overflow), &placed));
        assert_eq!(again, placed);
    }
}
