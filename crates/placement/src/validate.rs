//! What a pod headed to a virtual node must not ask for — each refusal with the exact field path —
//! and when a pod template counts as headed there.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, NodeSelectorRequirement, PodSpec, Toleration, Volume};

use crate::policy::PlacementPolicy;
use crate::profile::{Profile, Taint, VolumeKind};

/// One thing a virtual node cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Field path, e.g. `spec.volumes[1].hostPath`.
    pub path: String,
    /// Why, and what to use instead.
    pub reason: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

fn volume_kind(v: &Volume) -> VolumeKind {
    use VolumeKind as K;
    match v {
        _ if v.empty_dir.is_some() => K::EmptyDir,
        _ if v.nfs.is_some() => K::Nfs,
        _ if v.config_map.is_some() => K::ConfigMap,
        _ if v.secret.is_some() => K::Secret,
        _ if v.projected.is_some() => K::Projected,
        _ if v.downward_api.is_some() => K::DownwardApi,
        _ if v.persistent_volume_claim.is_some() => K::PersistentVolumeClaim,
        _ if v.host_path.is_some() => K::HostPath,
        _ if v.azure_file.is_some() => K::AzureFile,
        _ if v.csi.is_some() => K::Csi,
        _ if v.ephemeral.is_some() => K::Ephemeral,
        _ if v.image.is_some() => K::Image,
        _ => K::Other,
    }
}

/// The violations of a pod spec headed to one of `profile`'s virtual nodes. `base` is the path of
/// the spec (`spec` in a Pod, `spec.template.spec` in a Deployment, `spec.jobTemplate.spec.template.spec`
/// in a `CronJob`); `owner_kind` is the pod's controller kind, if any.
pub fn validate_pod_spec(
    profile: &Profile,
    spec: &PodSpec,
    base: &str,
    owner_kind: Option<&str>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let on = &profile.description;
    let mut push = |path: String, reason: String| out.push(Violation { path, reason });
    if owner_kind == Some("DaemonSet") {
        push(
            "metadata.ownerReferences".to_owned(),
            format!(
                "DaemonSet pods run on every node; {on} cannot run them (exclude virtual nodes in the DaemonSet's affinity)"
            ),
        );
    }
    for (flag, name) in
        [(spec.host_network, "hostNetwork"), (spec.host_pid, "hostPID"), (spec.host_ipc, "hostIPC")]
    {
        if flag == Some(true) {
            push(format!("{base}.{name}"), format!("{on} have no host namespaces to share; remove {name}"));
        }
    }
    for (i, v) in spec.volumes.iter().flatten().enumerate() {
        let kind = volume_kind(v);
        if kind == VolumeKind::HostPath {
            push(
                format!("{base}.volumes[{i}].hostPath"),
                format!("hostPath volumes are not mounted on {on}: there is no host; use emptyDir"),
            );
        } else if !profile.volumes.contains(&kind) {
            push(
                format!("{base}.volumes[{i}].{}", kind.field()),
                format!(
                    "{} volumes (volume {:?}) are not mounted on {on}; allowed: {}",
                    kind.field(),
                    v.name,
                    profile.volume_list()
                ),
            );
        }
    }
    let groups: [(&str, Vec<&Container>); 2] = [
        ("initContainers", spec.init_containers.iter().flatten().collect()),
        ("containers", spec.containers.iter().collect()),
    ];
    for (field, containers) in groups {
        for (i, c) in containers.into_iter().enumerate() {
            let at = format!("{base}.{field}[{i}]");
            for (j, p) in c.ports.iter().flatten().enumerate() {
                if p.host_port.is_some_and(|hp| hp != 0) {
                    push(
                        format!("{at}.ports[{j}].hostPort"),
                        format!("{on} have no host ports; expose the container through a Service"),
                    );
                }
            }
            if c.security_context.as_ref().and_then(|s| s.privileged) == Some(true) {
                push(
                    format!("{at}.securityContext.privileged"),
                    format!("{on} run no privileged containers"),
                );
            }
        }
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        if c.security_context.as_ref().and_then(|s| s.privileged) == Some(true) {
            push(
                format!("{base}.ephemeralContainers[{i}].securityContext.privileged"),
                format!("{on} run no privileged containers"),
            );
        }
    }
    out
}

fn tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| {
        let key_ok = match t.key.as_deref() {
            None | Some("") => t.operator.as_deref() == Some("Exists"),
            Some(k) => k == taint.key,
        };
        let value_ok = t.operator.as_deref() == Some("Exists") || t.value == taint.value;
        let effect_ok = t.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
        key_ok && value_ok && effect_ok
    })
}

fn selects(profile: &Profile, exprs: &[NodeSelectorRequirement]) -> bool {
    profile.node_labels.iter().all(|(k, v)| {
        exprs.iter().any(|e| e.key == *k && e.operator == "In" && e.values.iter().flatten().any(|x| x == v))
    })
}

/// Whether pods of this template can land on one of `profile`'s virtual nodes: it tolerates the
/// profile's taints and selects its nodes (by `nodeSelector`, or a required node-affinity term),
/// or the workload's placement annotations let the webhook send pods there.
pub fn headed_to_virtual(
    profile: &Profile,
    spec: &PodSpec,
    workload_annotations: &BTreeMap<String, String>,
) -> bool {
    if matches!(PlacementPolicy::from_annotations(workload_annotations), Ok(Some(_))) {
        return true;
    }
    let tolerations = spec.tolerations.as_deref().unwrap_or_default();
    if profile.taints.is_empty() || !profile.taints.iter().all(|t| tolerates(tolerations, t)) {
        return false;
    }
    let by_selector = !profile.node_labels.is_empty()
        && spec
            .node_selector
            .as_ref()
            .is_some_and(|s| profile.node_labels.iter().all(|(k, v)| s.get(k) == Some(v)));
    let by_affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref())
        .is_some_and(|r| {
            r.node_selector_terms
                .iter()
                .any(|t| selects(profile, t.match_expressions.as_deref().unwrap_or_default()))
        });
    by_selector || by_affinity
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> PodSpec {
        serde_json::from_value(json).unwrap()
    }

    fn ali() -> Profile {
        Profile::builtin("alibabacloud").unwrap()
    }

    fn paths(v: &[Violation]) -> Vec<&str> {
        v.iter().map(|v| v.path.as_str()).collect()
    }

    #[test]
    fn a_plain_web_pod_with_the_service_account_volume_passes() {
        let s = spec(serde_json::json!({
            "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}],
            "volumes": [
                {"name": "tmp", "emptyDir": {}},
                {"name": "nas", "nfs": {"server": "nas.example.com", "path": "/"}},
                {"name": "conf", "configMap": {"name": "c"}},
                {"name": "creds", "secret": {"secretName": "s"}},
                {"name": "kube-api-access-x", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
            ],
        }));
        assert_eq!(validate_pod_spec(&ali(), &s, "spec", None), []);
    }

    #[test]
    fn each_thing_a_virtual_node_cannot_run_is_named_by_its_path() {
        let s = spec(serde_json::json!({
            "hostNetwork": true,
            "hostPID": true,
            "initContainers": [{"name": "init", "securityContext": {"privileged": true}}],
            "containers": [
                {"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPort": 8081}]},
            ],
            "volumes": [
                {"name": "tmp", "emptyDir": {}},
                {"name": "logs", "hostPath": {"path": "/var/log"}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "nas"}},
            ],
        }));
        let v = validate_pod_spec(&ali(), &s, "spec.template.spec", Some("ReplicaSet"));
        assert_eq!(
            paths(&v),
            [
                "spec.template.spec.hostNetwork",
                "spec.template.spec.hostPID",
                "spec.template.spec.volumes[1].hostPath",
                "spec.template.spec.volumes[2].persistentVolumeClaim",
                "spec.template.spec.initContainers[0].securityContext.privileged",
                "spec.template.spec.containers[0].ports[1].hostPort",
            ]
        );
        assert_eq!(
            v[2].to_string(),
            "spec.template.spec.volumes[1].hostPath: hostPath volumes are not mounted on alibabacloud virtual nodes (ECI): there is no host; use emptyDir"
        );
        assert_eq!(
            v[3].reason,
            "persistentVolumeClaim volumes (volume \"data\") are not mounted on alibabacloud virtual nodes (ECI); \
             allowed: emptyDir, nfs, configMap, secret, projected"
        );
    }

    #[test]
    fn daemon_set_pods_are_refused_and_profiles_differ_on_volumes() {
        let s = spec(serde_json::json!({"containers": [{"name": "a"}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "efs"}}]}));
        let v = validate_pod_spec(&ali(), &s, "spec", Some("DaemonSet"));
        assert_eq!(paths(&v), ["metadata.ownerReferences", "spec.volumes[0].persistentVolumeClaim"]);
        let fargate = Profile::builtin("fargate").unwrap();
        assert_eq!(validate_pod_spec(&fargate, &s, "spec", None), []);
    }

    fn vk_toleration() -> serde_json::Value {
        serde_json::json!([{"key": "virtual-kubelet.io/provider", "operator": "Equal", "value": "alibabacloud", "effect": "NoSchedule"}])
    }

    #[test]
    fn a_template_is_headed_to_the_virtual_node_when_it_tolerates_and_selects_it() {
        let none = BTreeMap::new();
        let by_selector = spec(serde_json::json!({"containers": [], "tolerations": vk_toleration(),
            "nodeSelector": {"type": "virtual-kubelet"}}));
        assert!(headed_to_virtual(&ali(), &by_selector, &none));
        let by_affinity = spec(serde_json::json!({"containers": [], "tolerations": vk_toleration(),
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "type", "operator": "In", "values": ["virtual-kubelet"]}]}]}}}}));
        assert!(headed_to_virtual(&ali(), &by_affinity, &none));
        let tolerates_only = spec(serde_json::json!({"containers": [], "tolerations": vk_toleration()}));
        assert!(!headed_to_virtual(&ali(), &tolerates_only, &none));
        let selects_only =
            spec(serde_json::json!({"containers": [], "nodeSelector": {"type": "virtual-kubelet"}}));
        assert!(
            !headed_to_virtual(&ali(), &selects_only, &none),
            "without the toleration it cannot land there"
        );
        let exists_all = spec(serde_json::json!({"containers": [], "tolerations": [{"operator": "Exists"}],
            "nodeSelector": {"type": "virtual-kubelet"}}));
        assert!(headed_to_virtual(&ali(), &exists_all, &none), "a tolerate-everything toleration counts");
    }

    #[test]
    fn placement_annotations_send_a_template_to_the_virtual_node() {
        let plain = spec(serde_json::json!({"containers": []}));
        let opted_in = BTreeMap::from([("diurnal.dev/burst".to_owned(), "overflow".to_owned())]);
        assert!(headed_to_virtual(&ali(), &plain, &opted_in));
        assert!(!headed_to_virtual(&ali(), &plain, &BTreeMap::new()));
    }
}
