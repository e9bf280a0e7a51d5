//! Provider profiles: how a provider's virtual nodes are recognised (labels, taints) and which
//! volume types they mount.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// A pod volume type, as named in the Pod API (`spec.volumes[].<type>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)] // each variant is the Pod API field of the same name
pub enum VolumeKind {
    EmptyDir,
    Nfs,
    ConfigMap,
    Secret,
    Projected,
    DownwardApi,
    PersistentVolumeClaim,
    HostPath,
    AzureFile,
    Csi,
    Ephemeral,
    Image,
    /// Any other (in-tree, mostly deprecated) volume type.
    Other,
}

impl VolumeKind {
    /// The Pod API field name.
    pub fn field(self) -> &'static str {
        match self {
            Self::EmptyDir => "emptyDir",
            Self::Nfs => "nfs",
            Self::ConfigMap => "configMap",
            Self::Secret => "secret",
            Self::Projected => "projected",
            Self::DownwardApi => "downwardAPI",
            Self::PersistentVolumeClaim => "persistentVolumeClaim",
            Self::HostPath => "hostPath",
            Self::AzureFile => "azureFile",
            Self::Csi => "csi",
            Self::Ephemeral => "ephemeral",
            Self::Image => "image",
            Self::Other => "other",
        }
    }
}

/// A node taint a pod must tolerate to run on the virtual node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (`None`: the taint has none).
    #[serde(default)]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// How one provider's virtual nodes look and what they run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Profile name (`alibabacloud`, `azure`, `fargate`, or a custom one).
    pub name: String,
    /// What the provider's virtual node is, for messages (e.g. "alibabacloud virtual nodes (ECI)").
    pub description: String,
    /// Labels every virtual node carries; placement selects on them.
    pub node_labels: BTreeMap<String, String>,
    /// Taints every virtual node carries; pods sent there tolerate them.
    pub taints: Vec<Taint>,
    /// Volume types the virtual node mounts.
    pub volumes: BTreeSet<VolumeKind>,
}

/// A profile file diurnal cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ProfileError {
    /// The file (or other source) name.
    pub source_name: String,
    /// What is wrong, with the field path or line.
    pub message: String,
}

const ALIBABA_TAINT: (&str, &str) = ("virtual-kubelet.io/provider", "alibabacloud");

fn taint(key: &str, value: &str) -> Taint {
    Taint { key: key.to_owned(), value: Some(value.to_owned()), effect: "NoSchedule".to_owned() }
}

impl Profile {
    /// Built-in profile names.
    pub fn builtin_names() -> &'static [&'static str] {
        &["alibabacloud", "azure", "fargate"]
    }

    /// A built-in profile.
    ///
    /// - `alibabacloud`: ACK's virtual node (ECI); label `type=virtual-kubelet`, taint
    ///   `virtual-kubelet.io/provider=alibabacloud:NoSchedule`. Volumes: the field report's
    ///   conservative set — emptyDir, NFS, ConfigMap — plus Secret and projected volumes (the
    ///   service-account token volume every pod gets is projected). Newer ECI versions mount more
    ///   (disks through PVCs): relax with a profile file.
    /// - `azure`: AKS virtual nodes (ACI); label `type=virtual-kubelet`, taint
    ///   `virtual-kubelet.io/provider=azure:NoSchedule`; emptyDir, ConfigMap, Secret, projected,
    ///   Azure Files.
    /// - `fargate`: EKS on Fargate; label and taint `eks.amazonaws.com/compute-type=fargate`;
    ///   emptyDir, ConfigMap, Secret, projected, downward API, and PVCs (EFS).
    pub fn builtin(name: &str) -> Option<Profile> {
        use VolumeKind::{
            AzureFile, ConfigMap, DownwardApi, EmptyDir, Nfs, PersistentVolumeClaim, Projected, Secret,
        };
        let vk_label = || BTreeMap::from([("type".to_owned(), "virtual-kubelet".to_owned())]);
        let profile = match name {
            "alibabacloud" => Profile {
                name: name.to_owned(),
                description: "alibabacloud virtual nodes (ECI)".to_owned(),
                node_labels: vk_label(),
                taints: vec![taint(ALIBABA_TAINT.0, ALIBABA_TAINT.1)],
                volumes: [EmptyDir, Nfs, ConfigMap, Secret, Projected].into(),
            },
            "azure" => Profile {
                name: name.to_owned(),
                description: "azure virtual nodes (ACI)".to_owned(),
                node_labels: vk_label(),
                taints: vec![taint("virtual-kubelet.io/provider", "azure")],
                volumes: [EmptyDir, ConfigMap, Secret, Projected, AzureFile].into(),
            },
            "fargate" => Profile {
                name: name.to_owned(),
                description: "EKS Fargate nodes".to_owned(),
                node_labels: BTreeMap::from([(
                    "eks.amazonaws.com/compute-type".to_owned(),
                    "fargate".to_owned(),
                )]),
                taints: vec![taint("eks.amazonaws.com/compute-type", "fargate")],
                volumes: [EmptyDir, ConfigMap, Secret, Projected, DownwardApi, PersistentVolumeClaim].into(),
            },
            _ => return None,
        };
        Some(profile)
    }

    /// A profile from a YAML file (`source_name` names it in errors):
    ///
    /// ```yaml
    /// name: ack-newer-eci
    /// base: alibabacloud          # optional: start from a built-in profile
    /// description: ...            # optional
    /// nodeLabels: {type: virtual-kubelet}
    /// taints: [{key: virtual-kubelet.io/provider, value: alibabacloud, effect: NoSchedule}]
    /// volumes: [emptyDir, nfs, configMap, secret, projected, persistentVolumeClaim]
    /// ```
    ///
    /// Fields given replace the base's; without a base, `nodeLabels` or `taints` is required.
    pub fn from_yaml(text: &str, source_name: &str) -> Result<Profile, ProfileError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct File {
            name: String,
            base: Option<String>,
            description: Option<String>,
            node_labels: Option<BTreeMap<String, String>>,
            taints: Option<Vec<Taint>>,
            volumes: Option<BTreeSet<VolumeKind>>,
        }
        let err = |message: String| ProfileError { source_name: source_name.to_owned(), message };
        let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| err(e.to_string()))?;
        let file: File = serde_path_to_error::deserialize(&value)
            .map_err(|e| err(format!("{}: {}", e.path(), e.inner())))?;
        let mut profile = match &file.base {
            Some(base) => Profile::builtin(base).ok_or_else(|| {
                err(format!(
                    "base: unknown profile {base:?}; built-in: {}",
                    Profile::builtin_names().join(", ")
                ))
            })?,
            None => Profile {
                name: String::new(),
                description: String::new(),
                node_labels: BTreeMap::new(),
                taints: Vec::new(),
                volumes: BTreeSet::new(),
            },
        };
        if file.base.is_none() && file.node_labels.is_none() && file.taints.is_none() {
            return Err(err("nodeLabels or taints is required without a base profile".to_owned()));
        }
        for (i, t) in file.taints.iter().flatten().enumerate() {
            if !matches!(t.effect.as_str(), "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
                return Err(err(format!(
                    "taints[{i}].effect: {:?} is not NoSchedule, PreferNoSchedule or NoExecute",
                    t.effect
                )));
            }
        }
        profile.description = file.description.unwrap_or_else(|| format!("{} virtual nodes", file.name));
        profile.name = file.name;
        if let Some(labels) = file.node_labels {
            profile.node_labels = labels;
        }
        if let Some(taints) = file.taints {
            profile.taints = taints;
        }
        if let Some(volumes) = file.volumes {
            profile.volumes = volumes;
        }
        Ok(profile)
    }

    /// Whether a node with these labels and taints is one of this profile's virtual nodes: it
    /// carries all the profile's labels, or (for a profile without labels) all its taints.
    pub fn is_virtual_node(&self, labels: &BTreeMap<String, String>, taints: &[Taint]) -> bool {
        if self.node_labels.is_empty() {
            return !self.taints.is_empty()
                && self.taints.iter().all(|t| taints.iter().any(|n| n.key == t.key && n.value == t.value));
        }
        self.node_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// The allowed volume types, for messages.
    pub fn volume_list(&self) -> String {
        self.volumes.iter().map(|v| v.field()).collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_recognise_their_nodes() {
        let ali = Profile::builtin("alibabacloud").unwrap();
        let vk = BTreeMap::from([("type".to_owned(), "virtual-kubelet".to_owned())]);
        assert!(ali.is_virtual_node(&vk, &[]));
        assert!(!ali.is_virtual_node(&BTreeMap::new(), &[]));
        let fargate = Profile::builtin("fargate").unwrap();
        assert!(!fargate.is_virtual_node(&vk, &[]));
        assert!(fargate.is_virtual_node(
            &BTreeMap::from([("eks.amazonaws.com/compute-type".to_owned(), "fargate".to_owned())]),
            &[]
        ));
        assert!(Profile::builtin("gcp").is_none());
        for name in Profile::builtin_names() {
            assert!(Profile::builtin(name).is_some(), "{name}");
        }
    }

    #[test]
    fn the_alibabacloud_profile_mounts_only_the_field_reports_volume_types() {
        let ali = Profile::builtin("alibabacloud").unwrap();
        assert_eq!(ali.volume_list(), "emptyDir, nfs, configMap, secret, projected");
        assert_eq!(ali.taints, [taint("virtual-kubelet.io/provider", "alibabacloud")]);
    }

    #[test]
    fn a_profile_file_relaxes_a_built_in_one() {
        let p = Profile::from_yaml(
            "name: ack-newer-eci\nbase: alibabacloud\nvolumes: [emptyDir, nfs, configMap, secret, projected, persistentVolumeClaim]\n",
            "p.yaml",
        )
        .unwrap();
        assert!(p.volumes.contains(&VolumeKind::PersistentVolumeClaim));
        assert_eq!(p.taints, Profile::builtin("alibabacloud").unwrap().taints);
        assert_eq!(p.name, "ack-newer-eci");
    }

    #[test]
    fn a_custom_profile_by_taint_only_recognises_nodes_by_taint() {
        let p = Profile::from_yaml(
            "name: edge\ntaints: [{key: edge.example.com/virtual, effect: NoSchedule}]\nvolumes: [emptyDir]\n",
            "edge.yaml",
        )
        .unwrap();
        let t = Taint { key: "edge.example.com/virtual".into(), value: None, effect: "NoSchedule".into() };
        assert!(p.is_virtual_node(&BTreeMap::new(), &[t]));
        assert!(!p.is_virtual_node(&BTreeMap::new(), &[]));
    }

    #[test]
    fn profile_file_errors_name_the_file_and_the_field() {
        let e = Profile::from_yaml("name: x\nbase: alibabacloud\nvolumes: [emptyDir, tmpfs]\n", "p.yaml")
            .unwrap_err();
        assert!(e.to_string().starts_with("p.yaml: volumes[1]: unknown variant `tmpfs`"), "{e}");
        let e = Profile::from_yaml("name: x\nbase: ali\n", "p.yaml").unwrap_err();
        assert!(e.to_string().contains("base: unknown profile \"ali\""), "{e}");
        let e = Profile::from_yaml("name: x\nvolumes: [emptyDir]\n", "p.yaml").unwrap_err();
        assert!(e.to_string().contains("nodeLabels or taints is required"), "{e}");
        let e = Profile::from_yaml("name: x\ntaints: [{key: k, effect: Never}]\n", "p.yaml").unwrap_err();
        assert!(e.to_string().contains("taints[0].effect"), "{e}");
        let e = Profile::from_yaml("name: x\nbase: azure\nlabels: {}\n", "p.yaml").unwrap_err();
        assert!(e.to_string().contains("labels"), "{e}");
        let e = Profile::from_yaml("name: [unclosed\n", "p.yaml").unwrap_err();
        assert!(e.to_string().starts_with("p.yaml: "), "{e}");
        assert!(e.to_string().contains("line"), "the YAML error carries a line: {e}");
    }
}
