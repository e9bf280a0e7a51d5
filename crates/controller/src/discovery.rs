//! Finding the API resource behind a `scaleTargetRef` by its group and kind, at the version the
//! API server serves, as kubernetes-cronhpa-controller did through its REST mapper.
//!
//! A reference's version is only a hint: `apps/v1beta2` and `extensions/v1beta1` Deployments in
//! manifests written for the old controller name versions that current API servers no longer
//! serve, yet the Deployment is the same object at `apps/v1`. The group is asked for its
//! preferred version, and the kind is looked up there (then at the written version, then at the
//! others). A written version the server does not serve gives a warning, carried into the fire's
//! result. Results are cached per group and kind for the life of the process; failures are not.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroup, APIResourceList, APIVersions};
use kube::Client;
use kube::core::{ApiResource, GroupVersionKind};

use crate::target::{FireError, api_error};

/// A resolved reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The resource to read and patch, at the version chosen.
    pub resource: ApiResource,
    /// Set when the written version is not served: says so, and which version was used.
    pub warning: Option<String>,
    /// The versions the resolved group serves (empty for the built-ins resolved without asking).
    pub served: Vec<String>,
}

/// What discovery found for one group and kind.
#[derive(Debug, Clone)]
struct Found {
    resource: ApiResource,
    /// The versions the resolved group serves.
    served: Vec<String>,
}

/// Resolves references by group and kind. Cheap to share; one cache for all callers.
pub struct Resolver {
    client: Client,
    cache: Mutex<HashMap<(String, String), Found>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

/// The group a kind moved to when its old group stopped being served (Kubernetes 1.16 removed
/// Deployments and ReplicaSets from `extensions`).
pub fn moved_group(group: &str, kind: &str) -> Option<&'static str> {
    match (group, kind) {
        ("extensions", "Deployment" | "ReplicaSet" | "DaemonSet") => Some("apps"),
        _ => None,
    }
}

/// The group of an `apiVersion` (`""` for the core group's `v1`), with moved kinds mapped to
/// their group today, so references written against either name the same target.
pub fn canonical_group<'a>(api_version: &'a str, kind: &str) -> &'a str {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    moved_group(group, kind).unwrap_or(group)
}

/// The warning for a reference written at `written` (an `apiVersion`) when the server serves
/// `served` of its group and diurnal used `used`; `None` when the written version is served.
pub fn unserved_warning(written: &str, served_group: &str, served: &[String], used: &str) -> Option<String> {
    let (group, version) = written.rsplit_once('/').unwrap_or(("", written));
    (group != served_group || !served.iter().any(|v| v == version))
        .then(|| format!("{written} is not served by the API server; used {used}"))
}

/// Which subresource a resolved kind must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A `scale` subresource (a workload diurnal sizes).
    Scale,
    /// Nothing (an HPA: diurnal patches the object itself).
    Nothing,
}

impl Resolver {
    /// A resolver asking through `client`.
    pub fn new(client: Client) -> Self {
        Self { client, cache: Mutex::new(HashMap::new()) }
    }

    /// Resolves `kind` written at `api_version`.
    pub async fn resolve(&self, api_version: &str, kind: &str, needs: Needs) -> Result<Resolved, FireError> {
        let (group, _) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        // The built-in workloads are at apps/v1 on every supported cluster: no round trip.
        if let ("apps/v1", "Deployment" | "StatefulSet" | "ReplicaSet") = (api_version, kind) {
            let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", kind));
            return Ok(Resolved { resource, warning: None, served: vec![] });
        }
        let key = (group.to_owned(), kind.to_owned());
        let cached = self.cache.lock().expect("not poisoned").get(&key).cloned();
        let found = if let Some(found) = cached {
            found
        } else {
            let found = self.discover(api_version, kind, needs).await?;
            self.cache.lock().expect("not poisoned").insert(key, found.clone());
            found
        };
        let warning =
            unserved_warning(api_version, &found.resource.group, &found.served, &found.resource.api_version);
        Ok(Resolved { resource: found.resource, warning, served: found.served })
    }

    async fn discover(&self, api_version: &str, kind: &str, needs: Needs) -> Result<Found, FireError> {
        let (written_group, written_version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let (group, (served, preferred)) = if let Some(found) = self.group_versions(written_group).await? {
            (written_group, found)
        } else {
            // Not served: a kind that moved group is looked up where it is today.
            let moved = moved_group(written_group, kind)
                .ok_or_else(|| FireError::TargetNotFound(format!("API group {written_group:?}")))?;
            let found = self
                .group_versions(moved)
                .await?
                .ok_or_else(|| FireError::TargetNotFound(format!("API group {moved:?}")))?;
            (moved, found)
        };
        // Preferred first, then the written version, then the rest as the server lists them.
        let mut order: Vec<&str> = vec![preferred.as_str()];
        if group == written_group && served.iter().any(|v| v == written_version) {
            order.push(written_version);
        }
        order.extend(served.iter().map(String::as_str));
        let mut tried: Vec<&str> = Vec::new();
        for version in order {
            if tried.contains(&version) {
                continue;
            }
            tried.push(version);
            let gv = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
            let list: APIResourceList = if group.is_empty() {
                self.client.list_core_api_resources(version).await
            } else {
                self.client.list_api_group_resources(&gv).await
            }
            .map_err(|e| api_error(format!("discover {gv}"), e))?;
            let Some(r) = list.resources.iter().find(|r| r.kind == kind && !r.name.contains('/')) else {
                continue;
            };
            let scale = format!("{}/scale", r.name);
            if needs == Needs::Scale && !list.resources.iter().any(|s| s.name == scale) {
                return Err(FireError::Invalid(format!(
                    "{kind} ({gv}) has no scale subresource; diurnal sizes targets through /scale"
                )));
            }
            let resource = ApiResource {
                group: group.to_owned(),
                version: version.to_owned(),
                api_version: gv,
                kind: kind.to_owned(),
                plural: r.name.clone(),
            };
            return Ok(Found { resource, served });
        }
        let what =
            if group.is_empty() { "the core API group".to_owned() } else { format!("API group {group:?}") };
        Err(FireError::TargetNotFound(format!("kind {kind} in {what}")))
    }

    /// The versions `group` serves and its preferred one; `None` when the group is not served.
    async fn group_versions(&self, group: &str) -> Result<Option<(Vec<String>, String)>, FireError> {
        let what = || format!("discover API group {group:?}");
        if group.is_empty() {
            let core: APIVersions =
                self.client.list_core_api_versions().await.map_err(|e| api_error(what(), e))?;
            let preferred = core.versions.first().cloned().unwrap_or_else(|| "v1".to_owned());
            return Ok(Some((core.versions, preferred)));
        }
        let request = http::Request::get(format!("/apis/{group}"))
            .body(Vec::new())
            .map_err(|e| FireError::Invalid(format!("API group {group:?}: {e}")))?;
        match self.client.request::<APIGroup>(request).await {
            Ok(found) => {
                let served: Vec<String> = found.versions.iter().map(|v| v.version.clone()).collect();
                let preferred = found
                    .preferred_version
                    .map(|v| v.version)
                    .or_else(|| served.first().cloned())
                    .ok_or_else(|| FireError::TargetNotFound(format!("a version of API group {group:?}")))?;
                Ok(Some((served, preferred)))
            }
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(api_error(what(), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_served_version_gives_no_warning_and_an_unserved_one_names_both() {
        let served = vec!["v1".to_owned()];
        assert_eq!(unserved_warning("apps/v1", "apps", &served, "apps/v1"), None);
        assert_eq!(
            unserved_warning("apps/v1beta2", "apps", &served, "apps/v1").as_deref(),
            Some("apps/v1beta2 is not served by the API server; used apps/v1")
        );
        assert_eq!(
            unserved_warning("extensions/v1beta1", "apps", &served, "apps/v1").as_deref(),
            Some("extensions/v1beta1 is not served by the API server; used apps/v1")
        );
    }

    #[test]
    fn moved_kinds_compare_under_their_group_today() {
        assert_eq!(canonical_group("extensions/v1beta1", "Deployment"), "apps");
        assert_eq!(canonical_group("apps/v1beta2", "Deployment"), "apps");
        assert_eq!(canonical_group("extensions/v1beta1", "Ingress"), "extensions");
        assert_eq!(canonical_group("v1", "ReplicationController"), "");
    }
}
