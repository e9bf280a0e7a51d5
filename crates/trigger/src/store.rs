//! Trigger Secrets through the Kubernetes API: create, list, rotate, delete, and the watch
//! that keeps the server's [`Index`] current.

use futures::StreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{PodTemplateSpec, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::json;
use tracing::{info, warn};

use crate::image::ImagePattern;
use crate::index::Index;
use crate::model::{Action, ID_LABEL, LABEL, Trigger, Workload, secret_name};
use crate::token::{RandomError, Token, is_valid_id, new_id};

/// What `create` needs.
#[derive(Debug, Clone)]
pub struct NewTrigger {
    /// The workload to roll.
    pub workload: Workload,
    /// What calls may do.
    pub action: Action,
    /// For `set-image`: the container; when `None`, the workload's only container.
    pub container: Option<String>,
    /// For `set-image`: which images are allowed (required).
    pub image_pattern: Option<ImagePattern>,
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
    /// No trigger with this id in the namespace.
    #[error("no trigger {id} in namespace {namespace}")]
    NotFound {
        /// The namespace.
        namespace: String,
        /// The id.
        id: String,
    },
    /// The id is not an id.
    #[error("{0:?} is not a trigger id (16 hexadecimal characters)")]
    BadId(String),
    /// The stored Secret is not a valid trigger.
    #[error("Secret {name} is not a valid trigger: {source}")]
    BadSecret {
        /// The Secret.
        name: String,
        /// Why.
        source: crate::model::SecretError,
    },
    /// Randomness failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// The API failed.
    #[error("the Kubernetes API failed: {0}")]
    Api(#[from] kube::Error),
}

/// Trigger Secrets in the cluster a [`Client`] talks to.
#[derive(Clone)]
pub struct Store {
    client: Client,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

fn label_selector() -> String {
    format!("{LABEL}=true")
}

impl Store {
    /// A store using `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Creates a trigger for a workload that exists, and returns it with its token — the
    /// only time the token exists outside the caller's hands.
    pub async fn create(&self, namespace: &str, new: NewTrigger) -> Result<(Trigger, Token), StoreError> {
        if new.action == Action::SetImage && new.image_pattern.is_none() {
            return Err(StoreError::PatternRequired);
        }
        let template =
            crate::rollout::template(&self.client, namespace, &new.workload).await?.ok_or_else(|| {
                StoreError::WorkloadNotFound {
                    namespace: namespace.to_owned(),
                    workload: new.workload.to_string(),
                }
            })?;
        let container = if new.action == Action::SetImage {
            Some(choose_container(&new.workload, &template, new.container.as_deref())?)
        } else {
            new.container
        };
        let token = Token::generate()?;
        let trigger = Trigger {
            id: new_id()?,
            namespace: namespace.to_owned(),
            workload: new.workload,
            action: new.action,
            container,
            image_pattern: new.image_pattern,
            token_hash: token.hash(),
            created: jiff::Timestamp::now(),
        };
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .create(&PostParams::default(), &trigger.to_secret())
            .await?;
        Ok((trigger, token))
    }

    /// Triggers in `namespace`, or in all namespaces. Labelled Secrets that do not parse are
    /// skipped with a warning.
    pub async fn list(&self, namespace: Option<&str>) -> Result<Vec<Trigger>, StoreError> {
        let api: Api<Secret> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let secrets = api.list(&ListParams::default().labels(&label_selector())).await?;
        let mut triggers: Vec<Trigger> = secrets
            .items
            .iter()
            .filter_map(|s| match Trigger::from_secret(s) {
                Ok(t) => Some(t),
                Err(e) => {
                    warn!(secret = s.metadata.name.as_deref().unwrap_or_default(), error = %e, "not a valid trigger");
                    None
                }
            })
            .collect();
        triggers.sort_by(|a, b| {
            (&a.namespace, &a.workload.name, &a.id).cmp(&(&b.namespace, &b.workload.name, &b.id))
        });
        Ok(triggers)
    }

    /// Replaces the token of trigger `id`; the old token stops working as soon as the server
    /// sees the change (a watch event, normally within a second).
    pub async fn rotate(&self, namespace: &str, id: &str) -> Result<(Trigger, Token), StoreError> {
        let mut trigger = self.get(namespace, id).await?;
        let token = Token::generate()?;
        trigger.token_hash = token.hash();
        trigger.created = jiff::Timestamp::now();
        let data = |v: String| ByteString(v.into_bytes());
        let patch = json!({"data": {
            "token-sha256": data(trigger.token_hash.to_hex()),
            "created": data(trigger.created.to_string()),
        }});
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .patch(&secret_name(id), &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        Ok((trigger, token))
    }

    /// Deletes trigger `id`.
    pub async fn delete(&self, namespace: &str, id: &str) -> Result<(), StoreError> {
        self.get(namespace, id).await?;
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .delete(&secret_name(id), &DeleteParams::default())
            .await?;
        Ok(())
    }

    /// Trigger `id` in `namespace`.
    pub async fn get(&self, namespace: &str, id: &str) -> Result<Trigger, StoreError> {
        if !is_valid_id(id) {
            return Err(StoreError::BadId(id.chars().take(40).collect()));
        }
        let name = secret_name(id);
        let secret = Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(&name)
            .await?
            .filter(|s| s.metadata.labels.as_ref().and_then(|l| l.get(LABEL)).is_some_and(|v| v == "true"))
            .ok_or_else(|| StoreError::NotFound { namespace: namespace.to_owned(), id: id.to_owned() })?;
        Trigger::from_secret(&secret).map_err(|source| StoreError::BadSecret { name, source })
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

/// Keeps `index` equal to the trigger Secrets in `namespace` (or all namespaces) until the
/// returned future is dropped; marks it ready after the first full list.
pub async fn watch(client: Client, namespace: Option<String>, index: Index) {
    let api: Api<Secret> = match &namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let config = watcher::Config::default().labels(&label_selector());
    let mut stream = watcher(api, config).default_backoff().boxed();
    let mut relist: Vec<Trigger> = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => relist.clear(),
            Ok(watcher::Event::InitApply(s)) => relist.extend(parse(&s)),
            Ok(watcher::Event::InitDone) => {
                index.replace_all(std::mem::take(&mut relist));
                index.set_ready();
                info!(triggers = index.len(), "trigger Secrets listed");
            }
            Ok(watcher::Event::Apply(s)) => match parse(&s) {
                Some(t) => {
                    let (ns, id) = (t.namespace.clone(), t.id.clone());
                    if !index.insert(t) {
                        warn!(namespace = %ns, %id, "a trigger with this id exists in another namespace; ignored");
                    }
                }
                // A Secret that stopped parsing must stop working.
                None => remove(&index, &s),
            },
            Ok(watcher::Event::Delete(s)) => remove(&index, &s),
            Err(e) => warn!(error = %e, "watching trigger Secrets"),
        }
    }
}

fn parse(secret: &Secret) -> Option<Trigger> {
    match Trigger::from_secret(secret) {
        Ok(t) => Some(t),
        Err(e) => {
            warn!(secret = secret.metadata.name.as_deref().unwrap_or_default(), error = %e, "not a valid trigger");
            None
        }
    }
}

fn remove(index: &Index, secret: &Secret) {
    let id = secret.metadata.labels.as_ref().and_then(|l| l.get(ID_LABEL));
    if let (Some(ns), Some(id)) = (secret.metadata.namespace.as_deref(), id) {
        index.remove(ns, id);
    }
}
