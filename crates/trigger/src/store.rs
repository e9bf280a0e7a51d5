//! `RedeployTrigger`s through the Kubernetes API: create, list, rotate, delete (with the
//! caller's own credentials: RBAC on the kind, and the admission policy's check that the caller
//! may patch the workload), and the watch that keeps the server's [`Index`] current.

use std::collections::BTreeMap;

use diurnal_api::trigger::RedeployTrigger;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;
use tracing::{info, warn};

use crate::image::{ImageError, ImagePattern};
use crate::index::Index;
use crate::model::{Action, InvalidTrigger, TOKEN_ISSUED, Trigger, Workload, is_dns1123_subdomain};
use crate::token::{RandomError, Token};

/// What `create` needs.
#[derive(Debug, Clone)]
pub struct NewTrigger {
    /// The trigger's name; `None`: the workload's name and a random suffix.
    pub name: Option<String>,
    /// The workload to roll.
    pub workload: Workload,
    /// What calls may do.
    pub action: Action,
    /// For `set-image`: the container; when `None`, the workload's only container.
    pub container: Option<String>,
    /// For `set-image`: which images are allowed (required).
    pub image_pattern: Option<String>,
    /// Allow a pattern that matches any registry.
    pub allow_any_image: bool,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The workload to bind to does not exist.
    #[error("{workload} not found in namespace {namespace}")]
    WorkloadNotFound {
        /// The namespace.
        namespace: String,
        /// The workload.
        workload: String,
    },
    /// `set-image` without a container that can be chosen.
    #[error("{workload} has containers {names:?}; name one with --container")]
    ChooseContainer {
        /// The workload.
        workload: String,
        /// Its containers.
        names: Vec<String>,
    },
    /// `--container` names no container of the workload.
    #[error("{workload} has no container {container:?} (it has {names:?})")]
    NoContainer {
        /// The workload.
        workload: String,
        /// The name given.
        container: String,
        /// Its containers.
        names: Vec<String>,
    },
    /// `set-image` without an image pattern.
    #[error("--action set-image needs --image-pattern (which images calls may set)")]
    PatternRequired,
    /// A pattern with `restart`.
    #[error("--image-pattern only applies to --action set-image")]
    PatternWithoutSetImage,
    /// The pattern is refused.
    #[error("--image-pattern: {0}")]
    Pattern(#[from] ImageError),
    /// No trigger of this name in the namespace.
    #[error("no trigger {name} in namespace {namespace}")]
    NotFound {
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
    },
    /// The name is not a name.
    #[error("{0:?} is not a trigger name (a DNS-1123 subdomain: lowercase letters, digits, '-' and '.')")]
    BadName(String),
    /// The stored resource is not a valid trigger.
    #[error("RedeployTrigger {namespace}/{name} is not a valid trigger: {source}")]
    Invalid {
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
        /// Why.
        source: InvalidTrigger,
    },
    /// Randomness failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The API refused the request (admission included: the message says why).
    #[error("the Kubernetes API refused it: {0}")]
    Api(#[from] kube::Error),
}

/// `RedeployTrigger`s in the cluster a [`Client`] talks to.
#[derive(Clone)]
pub struct Store {
    client: Client,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if is_dns1123_subdomain(name) {
        Ok(())
    } else {
        Err(StoreError::BadName(name.chars().take(80).collect()))
    }
}

fn invalid(rt: &RedeployTrigger, source: InvalidTrigger) -> StoreError {
    StoreError::Invalid {
        namespace: rt.metadata.namespace.clone().unwrap_or_default(),
        name: rt.metadata.name.clone().unwrap_or_default(),
        source,
    }
}

impl Store {
    /// A store using `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    fn api(&self, namespace: &str) -> Api<RedeployTrigger> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Creates a trigger for a workload that exists, and returns it with its token — the
    /// only time the token exists outside the caller's hands.
    pub async fn create(&self, namespace: &str, new: NewTrigger) -> Result<(Trigger, Token), StoreError> {
        if let Some(n) = &new.name {
            check_name(n)?;
        }
        let image_pattern = match (new.action, &new.image_pattern) {
            (Action::SetImage, Some(p)) => Some(ImagePattern::parse_checked(p, new.allow_any_image)?),
            (Action::SetImage, None) => return Err(StoreError::PatternRequired),
            (Action::Restart, Some(_)) => return Err(StoreError::PatternWithoutSetImage),
            (Action::Restart, None) => None,
        };
        let template =
            crate::rollout::template(&self.client, namespace, &new.workload).await?.ok_or_else(|| {
                StoreError::WorkloadNotFound {
                    namespace: namespace.to_owned(),
                    workload: new.workload.to_string(),
                }
            })?;
        let container = match new.action {
            Action::SetImage => Some(choose_container(&new.workload, &template, new.container.as_deref())?),
            Action::Restart => None,
        };
        let token = Token::generate()?;
        let trigger = Trigger {
            namespace: namespace.to_owned(),
            name: new.name.clone().unwrap_or_default(),
            workload: new.workload,
            action: new.action,
            container,
            image_pattern,
            allow_any_image: new.allow_any_image,
            token_hash: token.hash(),
            token_issued: Some(jiff::Timestamp::now()),
            last_calls: Vec::new(),
        };
        let mut object = trigger.to_resource();
        if new.name.is_none() {
            // The API server adds five random characters; 58 leave room for them in 63.
            let prefix: String = trigger.workload.name.chars().take(57).collect();
            object.metadata.name = None;
            object.metadata.generate_name = Some(format!("{}-", prefix.trim_end_matches(['-', '.'])));
        }
        let created = self.api(namespace).create(&PostParams::default(), &object).await?;
        let trigger = Trigger::from_resource(&created).map_err(|e| invalid(&created, e))?;
        Ok((trigger, token))
    }

    /// Triggers in `namespace`, or in all namespaces. Resources that are not valid triggers are
    /// skipped with a warning (the server does not serve them either).
    pub async fn list(&self, namespace: Option<&str>) -> Result<Vec<Trigger>, StoreError> {
        let api: Api<RedeployTrigger> = match namespace {
            Some(ns) => self.api(ns),
            None => Api::all(self.client.clone()),
        };
        let mut triggers: Vec<Trigger> =
            api.list(&ListParams::default()).await?.items.iter().filter_map(parse).collect();
        triggers.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(triggers)
    }

    /// Replaces the token of trigger `name`; the old token stops working as soon as the server
    /// sees the change (a watch event, normally within a second).
    pub async fn rotate(&self, namespace: &str, name: &str) -> Result<(Trigger, Token), StoreError> {
        self.get(namespace, name).await?;
        let token = Token::generate()?;
        let patch = json!({
            "metadata": {"annotations": {TOKEN_ISSUED: jiff::Timestamp::now().to_string()}},
            "spec": {"tokenHash": format!("sha256:{}", token.hash().to_hex())},
        });
        let patched = self.api(namespace).patch(name, &PatchParams::default(), &Patch::Merge(patch)).await?;
        let trigger = Trigger::from_resource(&patched).map_err(|e| invalid(&patched, e))?;
        Ok((trigger, token))
    }

    /// Deletes trigger `name`.
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        check_name(name)?;
        match self.api(namespace).delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                Err(StoreError::NotFound { namespace: namespace.to_owned(), name: name.to_owned() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Trigger `name` in `namespace`.
    pub async fn get(&self, namespace: &str, name: &str) -> Result<Trigger, StoreError> {
        check_name(name)?;
        let rt = self
            .api(namespace)
            .get_opt(name)
            .await?
            .ok_or_else(|| StoreError::NotFound { namespace: namespace.to_owned(), name: name.to_owned() })?;
        Trigger::from_resource(&rt).map_err(|e| invalid(&rt, e))
    }

    /// Creates `object` unless a trigger of its name exists; true when created.
    pub async fn create_if_absent(&self, object: &RedeployTrigger) -> Result<bool, StoreError> {
        let namespace = object.metadata.namespace.as_deref().unwrap_or("default");
        match self.api(namespace).create(&PostParams::default(), object).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// The container a set-image trigger sets: the one named, or the only one.
fn choose_container(
    workload: &Workload,
    template: &PodTemplateSpec,
    named: Option<&str>,
) -> Result<String, StoreError> {
    let names: Vec<String> = template
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    match named {
        Some(n) if names.iter().any(|c| c == n) => Ok(n.to_owned()),
        Some(n) => {
            Err(StoreError::NoContainer { workload: workload.to_string(), container: n.to_owned(), names })
        }
        None if names.len() == 1 => Ok(names[0].clone()),
        None => Err(StoreError::ChooseContainer { workload: workload.to_string(), names }),
    }
}

/// Keeps `index` equal to the `RedeployTrigger`s in `namespaces` (all namespaces when `None`)
/// until the returned future is dropped; marks it ready once every namespace has been listed.
/// One watch per namespace, so the service needs list/watch only where it serves.
pub async fn watch(client: Client, namespaces: Option<Vec<String>>, index: Index) {
    let scopes: Vec<Option<String>> = match namespaces {
        Some(list) => list.into_iter().map(Some).collect(),
        None => vec![None],
    };
    let mut pending = scopes.len();
    let streams = scopes.into_iter().map(|scope| {
        let api: Api<RedeployTrigger> = match &scope {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        watcher(api, watcher::Config::default()).default_backoff().map(move |e| (scope.clone(), e)).boxed()
    });
    let mut events = futures::stream::select_all(streams);
    let mut relists: BTreeMap<Option<String>, Vec<Trigger>> = BTreeMap::new();
    let mut listed = std::collections::BTreeSet::new();
    while let Some((scope, event)) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => {
                relists.insert(scope, Vec::new());
            }
            Ok(watcher::Event::InitApply(rt)) => relists.entry(scope).or_default().extend(parse(&rt)),
            Ok(watcher::Event::InitDone) => {
                let fresh = relists.remove(&scope).unwrap_or_default();
                match &scope {
                    Some(ns) => index.replace_namespace(ns, fresh),
                    None => index.replace_all(fresh),
                }
                if listed.insert(scope.clone()) {
                    pending -= 1;
                }
                if pending == 0 {
                    index.set_ready();
                }
                info!(
                    namespace = scope.as_deref().unwrap_or("(all)"),
                    triggers = index.len(),
                    "RedeployTriggers listed"
                );
            }
            Ok(watcher::Event::Apply(rt)) => match parse(&rt) {
                Some(t) => index.insert(t),
                // A trigger that stopped being valid must stop working.
                None => remove(&index, &rt),
            },
            Ok(watcher::Event::Delete(rt)) => remove(&index, &rt),
            Err(e) => {
                warn!(namespace = scope.as_deref().unwrap_or("(all)"), error = %e, "watching RedeployTriggers");
            }
        }
    }
}

fn parse(rt: &RedeployTrigger) -> Option<Trigger> {
    match Trigger::from_resource(rt) {
        Ok(t) => Some(t),
        Err(e) => {
            warn!(
                namespace = rt.metadata.namespace.as_deref().unwrap_or_default(),
                name = rt.metadata.name.as_deref().unwrap_or_default(),
                error = %e,
                "not a valid trigger; not served"
            );
            None
        }
    }
}

fn remove(index: &Index, rt: &RedeployTrigger) {
    if let (Some(ns), Some(name)) = (rt.metadata.namespace.as_deref(), rt.metadata.name.as_deref()) {
        index.remove(ns, name);
    }
}
