//! The runner's Calendar watch: events re-plan the CronHPAs that name the calendar, and nothing
//! fires before the first list of Calendars is loaded as well as that of CronHPAs.

use std::collections::HashSet;

use diurnal_api::{Calendar, CronHorizontalPodAutoscaler};
use futures::StreamExt as _;
use jiff::Timestamp;
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Client, Resource as _, ResourceExt as _};
use tracing::{debug, info, warn};

use super::{Settings, Shell, scoped_api};
use crate::retry::Retry;

pub(super) type Events<K> = futures::stream::BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>;

/// The CronHPA watch, and the Calendar watch (a CronHPA's calendars decide its plan) unless
/// turned off.
pub(super) fn watches(
    client: &Client,
    settings: &Settings,
) -> (Events<CronHorizontalPodAutoscaler>, Option<Events<Calendar>>) {
    let namespace = settings.namespace.as_deref();
    let cronhpas: Api<CronHorizontalPodAutoscaler> = scoped_api(client, namespace);
    let calendars = settings.calendars.then(|| {
        let api: Api<Calendar> = scoped_api(client, namespace);
        watcher(api, watcher::Config::default()).backoff(Retry::new()).boxed()
    });
    (watcher(cronhpas, watcher::Config::default()).backoff(Retry::new()).boxed(), calendars)
}

/// Whether the API server serves the Calendar kind. A cluster that swapped
/// kubernetes-cronhpa-controller for diurnal may have only the CronHPA CRD; a Calendar watch there
/// fails for ever, and nothing would fire, since firing waits for both first lists. Without the
/// kind, CronHPAs are planned without calendars (one naming a calendar gets the "not found"
/// warning in its status, as for a missing Calendar object). A discovery call that fails for
/// another reason (the API server not up yet) keeps the watch: it retries, and firing waits.
pub(super) async fn calendars_served(client: &Client) -> bool {
    let group_version = Calendar::api_version(&());
    let served = match client.list_api_group_resources(&group_version).await {
        Ok(list) => list.resources.iter().any(|r| r.name == Calendar::plural(&())),
        Err(kube::Error::Api(e)) if e.code == 404 => false,
        Err(e) => {
            debug!(error = %e, "discovery of the Calendar kind failed; watching it anyway");
            true
        }
    };
    if !served {
        warn!(%group_version, "the API server does not serve calendars: CronHPAs are planned without Calendars (`diurnal crd | kubectl apply -f -` installs it)");
    }
    served
}

/// The next event of an optional stream (never, without one).
pub(super) async fn next_event<S: futures::Stream + Unpin>(stream: Option<&mut S>) -> Option<S::Item> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl Shell {
    pub(super) fn mark_synced(&mut self) {
        if self.listed == (true, true) && !self.gate.synced {
            self.gate.synced = true;
            info!(objects = self.scheduler.len(), "initial list done");
        }
    }

    /// A Calendar event re-plans the CronHPAs that name the calendar.
    pub(super) fn on_calendar_event(&mut self, event: Result<watcher::Event<Calendar>, watcher::Error>) {
        let now = Timestamp::now();
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                self.metrics.reconcile_errors.inc();
                warn!(error = %e, "Calendar watch (is the calendars.diurnal.dev CRD installed? `diurnal crd`)");
                return;
            }
        };
        let replanned = match event {
            watcher::Event::Init => {
                self.init_calendars.clear();
                Vec::new()
            }
            watcher::Event::InitApply(cal) => {
                self.init_calendars.insert((cal.namespace().unwrap_or_default(), cal.name_any()));
                self.scheduler.upsert_calendar(&cal, now)
            }
            watcher::Event::InitDone => {
                // Calendars deleted while the watch was down.
                let mut replanned = Vec::new();
                for ns in self.scheduler.calendar_namespaces() {
                    for name in self.scheduler.calendar_names(&ns) {
                        if !self.init_calendars.contains(&(ns.clone(), name.clone())) {
                            replanned.extend(self.scheduler.remove_calendar(&ns, &name, now));
                        }
                    }
                }
                self.init_calendars = HashSet::new();
                self.listed.1 = true;
                self.mark_synced();
                replanned
            }
            watcher::Event::Apply(cal) => self.scheduler.upsert_calendar(&cal, now),
            watcher::Event::Delete(cal) => {
                self.scheduler.remove_calendar(&cal.namespace().unwrap_or_default(), &cal.name_any(), now)
            }
        };
        for key in replanned {
            debug!(object = %key, "re-planned: a calendar it names changed");
            self.dirty.insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use diurnal_testing::{Call, get, mock_client, not_found, serve};
    use serde_json::json;

    use super::calendars_served;

    const GROUP: &str = "/apis/diurnal.dev/v1alpha1";

    async fn served_when(answer: Call) -> bool {
        let (client, handle) = mock_client();
        let server = tokio::spawn(serve(handle, vec![answer]));
        let served = calendars_served(&client).await;
        server.await.unwrap();
        served
    }

    fn resources(names: &[&str]) -> serde_json::Value {
        let resources: Vec<_> = names
            .iter()
            .map(|n| json!({"name": n, "singularName": "", "namespaced": true, "kind": "K", "verbs": ["list"]}))
            .collect();
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "diurnal.dev/v1alpha1", "resources": resources})
    }

    #[tokio::test]
    async fn a_cluster_that_serves_calendars_is_watched() {
        assert!(served_when(get(GROUP, resources(&["redeploytriggers", "calendars"]))).await);
    }

    /// A cluster that swapped kubernetes-cronhpa-controller for diurnal and applied only the
    /// CronHPA CRD: without this, firing would wait for a Calendar list that never comes.
    #[tokio::test]
    async fn a_cluster_without_the_calendar_crd_is_planned_without_calendars() {
        assert!(!served_when(not_found("GET", GROUP)).await);
        assert!(!served_when(get(GROUP, resources(&["redeploytriggers"]))).await);
    }

    #[tokio::test]
    async fn another_failure_keeps_the_watch_so_firing_waits_for_the_list() {
        let unavailable = Call {
            status: 503,
            answer: json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "ServiceUnavailable", "code": 503, "message": "etcd is down"}),
            ..get(GROUP, json!({}))
        };
        assert!(served_when(unavailable).await);
    }
}
