//! Rollouts through the Kubernetes API: the patches `kubectl rollout restart` and
//! `kubectl set image` make, an Event on the workload naming the caller, and the trigger's
//! `status.lastCalls`.

use diurnal_api::trigger::{LAST_CALLS, RedeployTrigger, TriggerCall};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ObjectReference, PodTemplateSpec};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt as _};
use serde_json::{Value, json};
use tracing::warn;

use crate::model::{Intent, RESTARTED_AT, Trigger, Workload, WorkloadKind};
use crate::server::{Caller, Rolled, Rollout, RolloutError};

/// Field manager named in every patch.
pub const FIELD_MANAGER: &str = "diurnal-trigger";

/// The merge patch of a restart: a new `restartedAt` on the pod template, which changes the
/// template hash and so starts a rollout, exactly as `kubectl rollout restart` does.
pub fn restart_patch(restarted_at: &str) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: restarted_at}}}}})
}

/// The strategic merge patch of a set-image: the container (matched by name, the strategic
/// merge key of `containers`) gets the image, and `restartedAt` changes too so that pushing
/// the same tag again still rolls. A JSON merge patch would replace the whole container list.
pub fn set_image_patch(container: &str, image: &str, restarted_at: &str) -> Value {
    json!({"spec": {"template": {
        "metadata": {"annotations": {RESTARTED_AT: restarted_at}},
        "spec": {"containers": [{"name": container, "image": image}]}
    }}})
}

/// Applies rollouts with a [`Client`] and records an Event for each.
#[derive(Clone)]
pub struct KubeRollout {
    client: Client,
    recorder: Recorder,
}

impl std::fmt::Debug for KubeRollout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeRollout").finish_non_exhaustive()
    }
}

impl KubeRollout {
    /// Events are reported by `diurnal-trigger`, instance `instance` (e.g. the pod name).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter { controller: "diurnal-trigger".into(), instance };
        Self { recorder: Recorder::new(client.clone(), reporter), client }
    }

    /// Applies `intent` to `trigger`'s workload and records the Event. The e2e suite calls this
    /// (through [`Rollout::roll`]) or the HTTP server built on it.
    pub async fn apply(
        &self,
        trigger: &Trigger,
        intent: &Intent,
        caller: &Caller,
    ) -> Result<Rolled, RolloutError> {
        let ns = &trigger.namespace;
        let name = &trigger.workload.name;
        let (patch, image) = match intent {
            Intent::Restart => (Patch::Merge(restart_patch(&caller.restarted_at)), None),
            Intent::SetImage(image) => {
                let container = trigger.container.as_deref().ok_or(RolloutError::NoContainerConfigured)?;
                // A strategic merge would add a container that is not there; check first.
                let template = template(&self.client, ns, &trigger.workload)
                    .await
                    .map_err(|e| RolloutError::Api(e.to_string()))?
                    .ok_or_else(|| RolloutError::WorkloadNotFound(trigger.workload.to_string()))?;
                let present =
                    template.spec.as_ref().is_some_and(|s| s.containers.iter().any(|c| c.name == container));
                if !present {
                    return Err(RolloutError::NoContainer {
                        workload: trigger.workload.to_string(),
                        container: container.to_owned(),
                    });
                }
                let image = image.to_string();
                (Patch::Strategic(set_image_patch(container, &image, &caller.restarted_at)), Some(image))
            }
        };
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        let not_found = |e: kube::Error| match e {
            kube::Error::Api(s) if s.code == 404 => {
                RolloutError::WorkloadNotFound(trigger.workload.to_string())
            }
            e => RolloutError::Api(e.to_string()),
        };
        let reference = match trigger.workload.kind {
            WorkloadKind::Deployment => {
                let d = Api::<Deployment>::namespaced(self.client.clone(), ns)
                    .patch(name, &params, &patch)
                    .await
                    .map_err(not_found)?;
                reference(&d)
            }
            WorkloadKind::StatefulSet => {
                let s = Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                    .patch(name, &params, &patch)
                    .await
                    .map_err(not_found)?;
                reference(&s)
            }
        };
        let (action, what) = match &image {
            Some(i) => ("SetImage", format!("set image {i}")),
            None => ("Restart", "restarted".to_owned()),
        };
        let event = Event {
            type_: EventType::Normal,
            reason: "RedeployTriggered".into(),
            note: Some(format!(
                "{what} by redeploy trigger {} called from {}",
                trigger.key(),
                caller.address
            )),
            action: action.into(),
            secondary: None,
        };
        // The rollout is done; a failed Event must not turn it into a failed call.
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            warn!(trigger = %trigger.key(), error = %e, "recording the Event");
        }
        Ok(Rolled { restarted_at: caller.restarted_at.clone(), image })
    }

    /// Puts `call` first in the trigger's `status.lastCalls` (keeping the latest
    /// [`LAST_CALLS`]). Best effort: two calls racing may lose one entry, never a rollout.
    pub async fn record_call(&self, trigger: &Trigger, call: TriggerCall) {
        let patch = last_calls_patch(&trigger.last_calls, call);
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        let api = Api::<RedeployTrigger>::namespaced(self.client.clone(), &trigger.namespace);
        if let Err(e) = api.patch_status(&trigger.name, &params, &Patch::Merge(patch)).await {
            warn!(trigger = %trigger.key(), error = %e, "recording the call in the trigger's status");
        }
    }
}

/// The status merge patch that puts `call` before `previous`, keeping [`LAST_CALLS`].
pub fn last_calls_patch(previous: &[TriggerCall], call: TriggerCall) -> Value {
    let calls: Vec<TriggerCall> =
        std::iter::once(call).chain(previous.iter().cloned()).take(LAST_CALLS).collect();
    json!({"status": {"lastCalls": calls}})
}

/// The pod template of `workload` in `namespace`; `None` when the workload does not exist.
pub async fn template(
    client: &Client,
    namespace: &str,
    workload: &Workload,
) -> Result<Option<PodTemplateSpec>, kube::Error> {
    let name = &workload.name;
    Ok(match workload.kind {
        WorkloadKind::Deployment => Api::<Deployment>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await?
            .and_then(|d| d.spec)
            .map(|s| s.template),
        WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await?
            .and_then(|d| d.spec)
            .map(|s| s.template),
    })
}

fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let mut r = obj.object_ref(&());
    // The name the patch answered with, in case object_ref left it out.
    r.name = Some(obj.name_any());
    r
}

impl Rollout for KubeRollout {
    fn roll<'a>(
        &'a self,
        trigger: &'a Trigger,
        intent: &'a Intent,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Rolled, RolloutError>> {
        self.apply(trigger, intent, caller).boxed()
    }

    fn record<'a>(&'a self, trigger: &'a Trigger, call: TriggerCall) -> BoxFuture<'a, ()> {
        self.record_call(trigger, call).boxed()
    }
}
