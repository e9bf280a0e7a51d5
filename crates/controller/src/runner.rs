//! The controller's I/O shell: watches, the lease, the timer, fires, status writes and Events.
//!
//! One task owns the [`Scheduler`]; everything else (applying fires, writing status, publishing
//! Events) runs in tasks it spawns and hears back from, so a slow API call never delays the
//! timer.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diurnal_api::{CronHorizontalPodAutoscaler, CronHorizontalPodAutoscalerStatus};
use futures::StreamExt;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::finalizer::Keeper;
use crate::metrics::{FireResult, Metrics, ResultLabels};
use crate::scheduler::{Due, DueKind, ObjectKey, Outcome, Scheduler};
use crate::target::{FireError, Targets};

/// Lease-based leader election settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// Seconds a holder's claim lasts without renewal; a standby takes over within this.
    pub duration_secs: u64,
    /// Seconds before expiry at which the holder renews.
    pub grace_secs: u64,
}

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch one namespace, or all.
    pub namespace: Option<String>,
    /// Zone for CronHPAs that name none.
    pub default_zone: TimeZone,
    /// Move an HPA's floor instead of scaling a workload it manages.
    pub hpa_coordination: bool,
    /// `None`: always lead (a single replica).
    pub lease: Option<LeaseSettings>,
    /// This process's name in the Lease and in Events.
    pub identity: String,
    /// Fires applied at the same time, at most.
    pub max_parallel_fires: usize,
}

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Leader election could not start.
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    /// The CronHPA watch ended.
    #[error("the CronHorizontalPodAutoscaler watch ended")]
    WatchEnded,
}

type Fired = (Due, Outcome, Option<&'static str>);

/// How far ahead targets are read before their fire, and how often the look-ahead runs.
const PREFETCH_AHEAD: jiff::SignedDuration = jiff::SignedDuration::from_secs(2);
const PREFETCH_EVERY: Duration = Duration::from_millis(500);

/// Statuses rendered and written per flush tick, at most.
const STATUS_BATCH: usize = 256;

struct Shell {
    scheduler: Scheduler,
    synced: bool,
    init_keys: HashSet<ObjectKey>,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    events_tx: mpsc::Sender<(Event, ObjectReference)>,
    /// UIDs of the objects, for Events' references (the rest of a reference is in the key).
    uids: HashMap<ObjectKey, Box<str>>,
    observed_status: HashMap<ObjectKey, u64>,
    dirty: HashSet<ObjectKey>,
    status_tx: mpsc::Sender<Vec<(ObjectKey, CronHorizontalPodAutoscalerStatus)>>,
    /// HPA give-back and the finalizer: see [`crate::finalizer`].
    keeper: Keeper,
}

fn status_hash(status: Option<&CronHorizontalPodAutoscalerStatus>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&status).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// Runs until `shutdown` resolves or the watch ends for good.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let cronhpas: Api<CronHorizontalPodAutoscaler> = scoped_api(&client, settings.namespace.as_deref());
    let mut events = watcher(cronhpas, watcher::Config::default()).default_backoff().boxed();
    let hpas = settings.hpa_coordination.then(|| hpa_cache(&client, settings.namespace.as_deref(), &metrics));
    let targets = Arc::new(Targets::new(client.clone(), hpas));
    let limit = Arc::new(Semaphore::new(settings.max_parallel_fires.max(1)));
    let (_always, mut leader_rx, lease_task) = leadership(&client, &settings).await?;

    let (status_tx, status_rx) = mpsc::channel(2);
    tokio::spawn(write_statuses(client.clone(), status_rx, metrics.clone()));
    let (events_tx, events_rx) = mpsc::channel(4096);
    let reporter =
        Reporter { controller: "diurnal-controller".into(), instance: Some(settings.identity.clone()) };
    tokio::spawn(publish_events(Recorder::new(client.clone(), reporter), events_rx, metrics.clone()));
    let mut shell = Shell {
        scheduler: Scheduler::new(settings.default_zone.clone()),
        metrics: metrics.clone(),
        events_tx,
        uids: HashMap::new(),
        observed_status: HashMap::new(),
        dirty: HashSet::new(),
        status_tx,
        synced: false,
        init_keys: HashSet::new(),
        ready,
        keeper: Keeper::new(client.clone(), targets.clone()),
    };
    let mut in_flight: JoinSet<Fired> = JoinSet::new();
    let mut last_flush = tokio::time::Instant::now();
    let mut prefetch = tokio::time::interval(PREFETCH_EVERY);
    prefetch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prefetched_until = Timestamp::now();
    let prefetch_limit = Arc::new(Semaphore::new(64));
    let mut flush = tokio::time::interval(Duration::from_millis(200));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);

    let result = loop {
        let wake = if shell.scheduler.is_leading() { shell.scheduler.next_wakeup() } else { None };
        metrics.queue_size.set(i64::try_from(shell.scheduler.queue_len()).unwrap_or(i64::MAX));
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            event = events.next() => match event {
                Some(Ok(event)) => shell.on_watch_event(event, *leader_rx.borrow()),
                Some(Err(e)) => {
                    metrics.reconcile_errors.inc();
                    warn!(error = %e, "CronHorizontalPodAutoscaler watch");
                }
                None => break Err(RunError::WatchEnded),
            },
            changed = leader_rx.changed() => {
                let lead = changed.is_ok() && *leader_rx.borrow_and_update();
                info!(leading = lead, identity = %settings.identity, "leadership changed");
                if shell.synced {
                    shell.lead(lead);
                }
                if changed.is_err() {
                    warn!("lease manager stopped; gave up the lead");
                    break Ok(());
                }
            },
            () = sleep_until(wake) => {
                for due in shell.scheduler.take_due(Timestamp::now()) {
                    in_flight.spawn(fire(due, targets.clone(), limit.clone(), metrics.clone()));
                }
            },
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok((due, outcome, reason)) = joined {
                    shell.completed(&due, outcome, reason);
                }
            },
            _ = prefetch.tick(), if shell.scheduler.is_leading() => {
                let horizon = Timestamp::now() + PREFETCH_AHEAD;
                look_ahead(&shell.scheduler, prefetched_until, horizon, &targets, &prefetch_limit);
                prefetched_until = horizon;
            },
            _ = flush.tick() => {
                // Fires first: status writes wait while fires are under way, for a second at most.
                if in_flight.is_empty() || last_flush.elapsed() > Duration::from_secs(1) {
                    shell.flush();
                    last_flush = tokio::time::Instant::now();
                }
            },
        }
    };

    shell.stop(in_flight).await;
    drop(leader_rx);
    if let Some(task) = lease_task
        && let Ok(Ok(manager)) = task.await
    {
        let _ = manager.release().await;
    }
    result
}

/// Reads, ahead of time, the size of targets whose fires are due in `(after, until]`.
fn look_ahead(
    scheduler: &Scheduler,
    after: Timestamp,
    until: Timestamp,
    targets: &Arc<Targets>,
    limit: &Arc<Semaphore>,
) {
    for (key, target) in scheduler.upcoming(after, until) {
        let (targets, limit) = (targets.clone(), limit.clone());
        tokio::spawn(async move {
            let _permit = limit.acquire_owned().await;
            targets.prefetch(&key.namespace, &target).await;
        });
    }
}

impl Shell {
    /// Graceful stop: lets fires under way finish (bounded), then writes their status.
    async fn stop(&mut self, mut in_flight: JoinSet<Fired>) {
        let shell = self;
        let drain = async {
            while let Some(joined) = in_flight.join_next().await {
                if let Ok((due, outcome, reason)) = joined {
                    shell.completed(&due, outcome, reason);
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
        let write_back = async {
            while !shell.dirty.is_empty() {
                shell.flush();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), write_back).await;
    }
}

fn scoped_api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

async fn sleep_until(wake: Option<Timestamp>) {
    match wake {
        Some(at) => {
            let wait = at.duration_since(Timestamp::now());
            tokio::time::sleep(Duration::try_from(wait).unwrap_or(Duration::ZERO)).await;
        }
        None => std::future::pending().await,
    }
}

/// A watch-fed cache of HPAs, used to find the HPA that manages a workload target.
fn hpa_cache(
    client: &Client,
    namespace: Option<&str>,
    metrics: &Arc<Metrics>,
) -> Store<HorizontalPodAutoscaler> {
    let api: Api<HorizontalPodAutoscaler> = scoped_api(client, namespace);
    let (reader, writer) = reflector::store();
    let errors = metrics.clone();
    tokio::spawn(reflector(writer, watcher(api, watcher::Config::default()).default_backoff()).for_each(
        move |r| {
            if let Err(e) = r {
                errors.reconcile_errors.inc();
                warn!(error = %e, "HorizontalPodAutoscaler watch");
            }
            std::future::ready(())
        },
    ));
    reader
}

type LeaseTask =
    tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>>;

/// A watch channel of "this process holds the lease" (always true without leader election),
/// the sender that keeps it open in that case, and the lease task.
async fn leadership(
    client: &Client,
    settings: &Settings,
) -> Result<(Option<watch::Sender<bool>>, watch::Receiver<bool>, Option<LeaseTask>), RunError> {
    let Some(l) = &settings.lease else {
        let (tx, rx) = watch::channel(true);
        return Ok((Some(tx), rx, None));
    };
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &l.name)
        .with_namespace(&l.namespace)
        .with_identity(&settings.identity)
        .with_duration(l.duration_secs)
        .with_grace(l.grace_secs)
        .build()
        .await?;
    let (rx, task) = manager.watch().await;
    Ok((None, rx, Some(task)))
}

/// Applies one fire, returning what it came to and, on failure, the Event reason.
async fn fire(due: Due, targets: Arc<Targets>, limit: Arc<Semaphore>, metrics: Arc<Metrics>) -> Fired {
    if due.excluded {
        let message =
            format!("not scaled: the fire of {} falls on a day excluded by excludeDates", due.fire_at);
        return (due, Outcome::Excluded(message), None);
    }
    let _permit = limit.acquire_owned().await;
    let fire_at = due.fire_at;
    let regular = due.kind == DueKind::Regular;
    let lateness = metrics.clone();
    let before_write = move || {
        if regular {
            let late = Timestamp::now().duration_since(fire_at).as_secs_f64();
            lateness.lateness.observe(late.max(0.0));
        }
    };
    match targets.apply(&due.key.namespace, &due.target, due.target_size, &before_write).await {
        Ok(message) => (due, Outcome::Applied(message), None),
        Err(e) => {
            let reason = e.reason();
            let message = match &e {
                FireError::TargetNotFound(what) => format!("{what} not found; will retry"),
                other => format!("{other}; will retry"),
            };
            (due, Outcome::Failed(message), Some(reason))
        }
    }
}

impl Shell {
    fn on_watch_event(&mut self, event: watcher::Event<CronHorizontalPodAutoscaler>, lease_held: bool) {
        let now = Timestamp::now();
        match event {
            watcher::Event::Init => self.init_keys.clear(),
            watcher::Event::InitApply(obj) => {
                self.init_keys.insert(ObjectKey::of(&obj));
                self.upsert(&obj, now);
            }
            watcher::Event::InitDone => {
                // Objects deleted while the watch was down.
                let gone: Vec<ObjectKey> =
                    self.scheduler.keys().filter(|k| !self.init_keys.contains(*k)).cloned().collect();
                for key in gone {
                    self.remove(&key);
                }
                self.init_keys = HashSet::new();
                if !self.synced {
                    self.synced = true;
                    self.ready.store(true, Ordering::Relaxed);
                    info!(objects = self.scheduler.len(), "initial list done");
                    if lease_held {
                        self.lead(true);
                    }
                }
            }
            watcher::Event::Apply(obj) => self.upsert(&obj, now),
            watcher::Event::Delete(obj) => self.remove(&ObjectKey::of(&obj)),
        }
    }

    fn upsert(&mut self, obj: &CronHorizontalPodAutoscaler, now: Timestamp) {
        let key = ObjectKey::of(obj);
        if self.keeper.observe(obj) {
            // Being deleted (a finalizer holds it): it never fires again, while the keeper gives
            // its HPA back and releases it.
            self.unplan(&key);
            return;
        }
        let scheduler = &mut self.scheduler;
        self.uids.insert(key.clone(), obj.metadata.uid.as_deref().unwrap_or_default().into());
        self.observed_status.insert(key.clone(), status_hash(obj.status.as_ref()));
        let changed = scheduler.upsert(obj, now);
        if changed {
            debug!(object = %key, "planned");
            if scheduler.is_leading() {
                for (job, message) in scheduler.invalid_jobs(&key) {
                    self.event(&key, EventType::Warning, "InvalidSchedule", &format!("job {job}: {message}"));
                }
            }
        }
        self.dirty.insert(key);
    }

    fn remove(&mut self, key: &ObjectKey) {
        self.keeper.forget(key);
        self.unplan(key);
    }

    fn unplan(&mut self, key: &ObjectKey) {
        self.scheduler.remove(key);
        self.uids.remove(key);
        self.observed_status.remove(key);
        self.dirty.remove(key);
        self.metrics.forget(key);
    }

    fn lead(&mut self, leading: bool) {
        self.scheduler.set_leading(leading, Timestamp::now());
        self.keeper.lead(leading);
        self.metrics.leader.set(i64::from(leading));
        if leading {
            self.dirty.extend(self.scheduler.keys().cloned());
        }
    }

    fn completed(&mut self, due: &Due, outcome: Outcome, reason: Option<&'static str>) {
        let (result, kind, reason_name, note) = match &outcome {
            Outcome::Applied(m) => (FireResult::Applied, EventType::Normal, "Scaled", m.clone()),
            Outcome::Excluded(m) => (FireResult::Excluded, EventType::Normal, "Excluded", m.clone()),
            Outcome::Failed(m) => {
                (FireResult::Failed, EventType::Warning, reason.unwrap_or("ScaleFailed"), m.clone())
            }
        };
        self.metrics.fires.get_or_create(&ResultLabels { result }).inc();
        info!(object = %due.key, job = %due.job, fire = %due.fire_at, kind = ?due.kind, ?result, "{note}");
        let quiet = matches!(&outcome, Outcome::Applied(m) if m.ends_with("already at size"));
        if !quiet {
            self.event(&due.key, kind, reason_name, &format!("job {}: {note}", due.job));
        }
        if due.kind == DueKind::CatchUp && result != FireResult::Failed {
            let note = format!(
                "job {}: applied the fire of {} missed while no controller was leading",
                due.job, due.fire_at
            );
            self.event(&due.key, EventType::Normal, "CaughtUp", &note);
        }
        self.scheduler.complete(due, outcome, Timestamp::now());
        self.dirty.insert(due.key.clone());
    }

    fn event(&self, key: &ObjectKey, type_: EventType, reason: &str, note: &str) {
        let Some(uid) = self.uids.get(key) else {
            return;
        };
        let reference = ObjectReference {
            api_version: Some(CronHorizontalPodAutoscaler::api_version(&()).into_owned()),
            kind: Some(CronHorizontalPodAutoscaler::kind(&()).into_owned()),
            name: Some(key.name.clone()),
            namespace: Some(key.namespace.clone()),
            uid: Some(uid.to_string()),
            ..ObjectReference::default()
        };
        let event = Event {
            type_,
            reason: reason.to_owned(),
            // events.k8s.io caps a note at 1 kB.
            note: Some(note.chars().take(1000).collect()),
            action: "Scale".into(),
            secondary: None,
        };
        // Events are best effort: when the queue is full (a burst of fires) they are dropped
        // rather than delaying the fires that produce them.
        if self.events_tx.try_send((event, reference)).is_err() {
            self.metrics.reconcile_errors.inc();
            debug!("event queue full; an Event was dropped");
        }
    }

    /// Renders up to [`STATUS_BATCH`] changed statuses and hands them to the writer. With the
    /// writer busy the keys stay dirty for the next tick, so at most a few batches of rendered
    /// statuses exist at once, however many objects changed.
    fn flush(&mut self) {
        let keys: Vec<ObjectKey> = self.dirty.iter().take(STATUS_BATCH).cloned().collect();
        let mut batch = Vec::new();
        for key in keys {
            self.dirty.remove(&key);
            let Some(status) = self.scheduler.status(&key) else { continue };
            self.metrics.observe_status(&key, &status);
            if self.scheduler.is_leading()
                && self.observed_status.get(&key) != Some(&status_hash(Some(&status)))
            {
                batch.push((key, status));
            }
        }
        if batch.is_empty() {
            return;
        }
        match self.status_tx.try_send(batch) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(batch)) => {
                self.dirty.extend(batch.into_iter().map(|(k, _)| k));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => warn!("status writer stopped"),
        }
    }
}

/// Publishes Events a few at a time, so a burst of fires is not slowed by its own Events.
async fn publish_events(
    recorder: Recorder,
    mut rx: mpsc::Receiver<(Event, ObjectReference)>,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 64 {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        futures::stream::iter(batch)
            .for_each_concurrent(4, |(event, reference)| {
                let recorder = &recorder;
                let metrics = &metrics;
                async move {
                    if let Err(e) = recorder.publish(&event, &reference).await {
                        metrics.reconcile_errors.inc();
                        warn!(error = %e, "publishing an Event");
                    }
                }
            })
            .await;
    }
}

/// The JSON merge patch that makes the status subresource read `status`. A merge patch keeps
/// fields it does not mention, so the optional top-level ones are cleared explicitly; the job
/// list is replaced whole.
pub fn status_patch(status: &CronHorizontalPodAutoscalerStatus) -> serde_json::Value {
    let mut body = serde_json::to_value(status).unwrap_or_default();
    if let Some(map) = body.as_object_mut() {
        for field in ["observedGeneration", "nextScheduleTime", "lastResult"] {
            map.entry(field).or_insert(serde_json::Value::Null);
        }
    }
    serde_json::json!({ "status": body })
}

/// Writes status batches in order; within a batch (distinct objects) up to 16 at a time.
async fn write_statuses(
    client: Client,
    mut rx: mpsc::Receiver<Vec<(ObjectKey, CronHorizontalPodAutoscalerStatus)>>,
    metrics: Arc<Metrics>,
) {
    while let Some(batch) = rx.recv().await {
        let writes = futures::stream::iter(batch).map(|(key, status)| {
            let client = client.clone();
            let metrics = metrics.clone();
            async move {
                let api: Api<CronHorizontalPodAutoscaler> = Api::namespaced(client, &key.namespace);
                let patch = Patch::Merge(status_patch(&status));
                match api.patch_status(&key.name, &PatchParams::default(), &patch).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => {
                        metrics.reconcile_errors.inc();
                        warn!(object = %key, error = %e, "writing status");
                    }
                }
            }
        });
        writes.buffer_unordered(16).collect::<Vec<()>>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_status_patch_clears_what_is_no_longer_true() {
        let status = CronHorizontalPodAutoscalerStatus { observed_generation: Some(3), ..Default::default() };
        assert_eq!(
            status_patch(&status),
            json!({"status": {"observedGeneration": 3, "conditions": [], "nextScheduleTime": null, "lastResult": null}})
        );
    }
}
