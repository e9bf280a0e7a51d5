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

use diurnal_api::{CronHorizontalPodAutoscaler, CronHorizontalPodAutoscalerStatus, Limits};
use futures::StreamExt;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::Api;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::fair::FairQueue;
use crate::finalizer::Keeper;
use crate::lead;
use crate::metrics::{FireResult, Metrics, ResultLabels};
use crate::scheduler::{Due, DueKind, ObjectKey, Outcome, Scheduler, Settled, SettledFire};
use crate::target::{FireError, Targets};
use crate::writer::{Written, publish_events, write_statuses};

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
    /// Fires applied at the same time, at most; more wait their namespace's turn
    /// ([`crate::fair`]).
    pub max_parallel_fires: usize,
    /// Bounds on every object (the minimum fire interval).
    pub limits: Limits,
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
    gate: lead::Gate,
    init_keys: HashSet<ObjectKey>,
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    events_tx: mpsc::Sender<(Event, ObjectReference)>,
    /// UIDs of the objects, for Events' references (the rest of a reference is in the key).
    uids: HashMap<ObjectKey, Box<str>>,
    observed_status: HashMap<ObjectKey, u64>,
    dirty: HashSet<ObjectKey>,
    /// Status writes handed to the writer and not answered yet.
    writing: usize,
    status_tx: mpsc::Sender<Vec<(ObjectKey, CronHorizontalPodAutoscalerStatus)>>,
    /// HPA give-back and the finalizer: see [`crate::finalizer`].
    keeper: Keeper,
    /// Taken fires waiting for a slot, by namespace.
    waiting: FairQueue<Due>,
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
    let mut hpa_ready_rx = hpa_readiness(hpas.as_ref());
    let targets = Arc::new(Targets::new(client.clone(), hpas));
    let slots = settings.max_parallel_fires.max(1);
    let (_always, mut leader_rx, lease_task) = leadership(&client, &settings).await?;
    let (_no_fence, mut fence_rx) = fence_channel(&client, &settings);
    let (written_tx, mut written_rx) = mpsc::unbounded_channel();
    let gate = lead::Gate {
        lease_held: *leader_rx.borrow(),
        synced: false,
        hpa_ready: *hpa_ready_rx.borrow(),
        fence: if settings.lease.is_some() { lead::Fence::Until(None) } else { lead::Fence::Off },
    };
    let keeper = Keeper::new(client.clone(), targets.clone());
    let mut shell = Shell::start(&client, &settings, &metrics, ready, gate, written_tx, keeper);
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
        shell.reconcile_lead(&mut in_flight);
        let wake = if shell.scheduler.is_leading() { shell.scheduler.next_wakeup() } else { None };
        let fence = shell.gate.changes_at(Timestamp::now());
        metrics.queue_size.set(i64::try_from(shell.scheduler.queue_len()).unwrap_or(i64::MAX));
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            event = events.next() => match event {
                Some(Ok(event)) => shell.on_watch_event(event),
                Some(Err(e)) => {
                    metrics.reconcile_errors.inc();
                    warn!(error = %e, "CronHorizontalPodAutoscaler watch");
                }
                None => break Err(RunError::WatchEnded),
            },
            changed = leader_rx.changed() => {
                shell.gate.lease_held = changed.is_ok() && *leader_rx.borrow_and_update();
                info!(lease_held = shell.gate.lease_held, identity = %settings.identity, "lease changed");
                if changed.is_err() {
                    warn!("lease manager stopped; gave up the lead");
                    break Ok(());
                }
            },
            Ok(()) = fence_rx.changed() => {
                shell.gate.fence = lead::Fence::Until(*fence_rx.borrow_and_update());
            },
            Ok(()) = hpa_ready_rx.changed() => {
                shell.gate.hpa_ready = *hpa_ready_rx.borrow_and_update();
                info!("HorizontalPodAutoscaler cache synced");
            },
            () = sleep_until(fence) => {
                warn!(identity = %settings.identity, "no renewal of the Lease seen in time: it may have expired; firing stops");
            },
            () = sleep_until(wake) => {
                let taken = shell.scheduler.take_due(Timestamp::now());
                for settled in &taken.settled {
                    shell.settled(settled);
                }
                for due in taken.fires {
                    shell.waiting.push(&due.key.namespace.clone(), due);
                }
                shell.dispatch(&mut in_flight, slots, &targets);
            },
            Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok((due, outcome, reason)) = joined {
                    shell.completed(&due, outcome, reason);
                }
                shell.dispatch(&mut in_flight, slots, &targets);
            },
            Some(written) = written_rx.recv() => shell.written(written),
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

    shell.stop(in_flight, &mut written_rx).await;
    drop(leader_rx);
    if let Some(task) = lease_task
        && let Ok(Ok(manager)) = task.await
    {
        let _ = manager.release().await;
    }
    result
}

/// The fence of our hold of the Lease ([`lead::watch_fence`]), and without leader election the
/// sender that keeps its (unused) channel open.
fn fence_channel(
    client: &Client,
    settings: &Settings,
) -> (Option<watch::Sender<Option<Timestamp>>>, watch::Receiver<Option<Timestamp>>) {
    if let Some(l) = &settings.lease {
        (None, lead::watch_fence(client, &l.namespace, &l.name, &settings.identity))
    } else {
        let (tx, rx) = watch::channel(None);
        (Some(tx), rx)
    }
}

/// A channel that turns true once the HPA cache has synced (at once without HPA coordination).
fn hpa_readiness(hpas: Option<&Store<HorizontalPodAutoscaler>>) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(hpas.is_none());
    if let Some(store) = hpas.cloned() {
        tokio::spawn(async move {
            if store.wait_until_ready().await.is_ok() {
                let _ = tx.send(true);
            }
        });
    }
    rx
}

impl Shell {
    /// The shell, with its status writer and Event publisher started.
    fn start(
        client: &Client,
        settings: &Settings,
        metrics: &Arc<Metrics>,
        ready: Arc<AtomicBool>,
        gate: lead::Gate,
        written_tx: mpsc::UnboundedSender<Written>,
        keeper: Keeper,
    ) -> Self {
        let (status_tx, status_rx) = mpsc::channel(2);
        tokio::spawn(write_statuses(client.clone(), status_rx, written_tx, metrics.clone()));
        let (events_tx, events_rx) = mpsc::channel(4096);
        let reporter =
            Reporter { controller: "diurnal-controller".into(), instance: Some(settings.identity.clone()) };
        tokio::spawn(publish_events(Recorder::new(client.clone(), reporter), events_rx, metrics.clone()));
        Shell {
            scheduler: Scheduler::new(settings.default_zone.clone(), settings.limits),
            metrics: metrics.clone(),
            events_tx,
            uids: HashMap::new(),
            observed_status: HashMap::new(),
            dirty: HashSet::new(),
            writing: 0,
            status_tx,
            gate,
            init_keys: HashSet::new(),
            ready,
            keeper,
            waiting: FairQueue::default(),
        }
    }

    /// Starts waiting fires, namespace by namespace in turn, while slots are free.
    fn dispatch(&mut self, in_flight: &mut JoinSet<Fired>, slots: usize, targets: &Arc<Targets>) {
        while in_flight.len() < slots
            && let Some(due) = self.waiting.pop()
        {
            in_flight.spawn(fire(due, targets.clone(), self.metrics.clone()));
        }
    }
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
    /// Graceful stop: lets fires under way finish (bounded), then writes their status and waits
    /// until the writer has answered for every write (bounded): a lost `lastScheduleTime` would
    /// make the next leader apply the fire again.
    async fn stop(
        &mut self,
        mut in_flight: JoinSet<Fired>,
        written_rx: &mut mpsc::UnboundedReceiver<Written>,
    ) {
        let shell = self;
        let drain = async {
            while let Some(joined) = in_flight.join_next().await {
                if let Ok((due, outcome, reason)) = joined {
                    shell.completed(&due, outcome, reason);
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), drain).await.is_err() {
            warn!("fires still under way at shutdown were abandoned");
        }
        let write_back = async {
            while shell.scheduler.is_leading() && (!shell.dirty.is_empty() || shell.writing > 0) {
                shell.flush();
                tokio::select! {
                    Some(written) = written_rx.recv() => shell.written(written),
                    () = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), write_back).await.is_err() {
            warn!(unwritten = shell.dirty.len() + shell.writing, "statuses still unwritten at shutdown");
        }
    }

    /// Brings the scheduler's lead in line with the gate. Losing it cancels the fires under way:
    /// their outcome is unknown, and the next leader catches up from the recorded status.
    fn reconcile_lead(&mut self, in_flight: &mut JoinSet<Fired>) {
        let now = Timestamp::now();
        self.ready.store(self.gate.ready(), Ordering::Relaxed);
        let want = self.gate.may_lead(now);
        if want == self.scheduler.is_leading() {
            return;
        }
        info!(leading = want, gate = ?self.gate, "leadership changed");
        if !want {
            in_flight.abort_all();
            self.waiting.clear();
        }
        self.scheduler.set_leading(want, now);
        self.keeper.lead(want);
        self.metrics.leader.set(i64::from(want));
        if want {
            self.dirty.extend(self.scheduler.keys().cloned());
        }
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
async fn fire(due: Due, targets: Arc<Targets>, metrics: Arc<Metrics>) -> Fired {
    let fire_at = due.fire_at;
    let regular = due.kind == DueKind::Regular;
    let lateness = metrics.clone();
    let before_write = move || {
        if regular {
            let late = Timestamp::now().duration_since(fire_at).as_secs_f64();
            lateness.lateness.observe(late.max(0.0));
        }
    };
    match targets.apply(&due.key.namespace, &due.target, due.size, due.hpa_coordination, &before_write).await
    {
        Ok((message, changes)) => (due, Outcome::Applied(message, changes), None),
        Err(e) => {
            let reason = e.reason();
            let message = match &e {
                FireError::TargetNotFound(what) => format!("{what} not found"),
                other => other.to_string(),
            };
            (due, Outcome::Failed(message), Some(reason))
        }
    }
}

impl Shell {
    fn on_watch_event(&mut self, event: watcher::Event<CronHorizontalPodAutoscaler>) {
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
                if !self.gate.synced {
                    self.gate.synced = true;
                    info!(objects = self.scheduler.len(), "initial list done");
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
        let report = scheduler.upsert(obj, now);
        if report.changed {
            debug!(object = %key, "planned");
        }
        if scheduler.is_leading() {
            for (job, message) in &report.invalid {
                self.event(&key, EventType::Warning, "InvalidSchedule", &format!("job {job}: {message}"));
            }
            for warning in &report.warnings {
                self.event(&key, EventType::Warning, "ScheduleWarning", warning);
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

    fn completed(&mut self, due: &Due, outcome: Outcome, reason: Option<&'static str>) {
        let (result, kind, reason_name, note) = match &outcome {
            Outcome::Applied(m, _) => (FireResult::Applied, EventType::Normal, "Scaled", m.clone()),
            Outcome::Failed(m) => {
                (FireResult::Failed, EventType::Warning, reason.unwrap_or("ScaleFailed"), m.clone())
            }
        };
        self.metrics.fires.get_or_create(&ResultLabels { result }).inc();
        info!(object = %due.key, job = %due.job, fire = %due.fire_at, kind = ?due.kind, ?result, "{note}");
        let quiet = matches!(&outcome, Outcome::Applied(m, _) if m.ends_with("already at size"));
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

    /// A due fire settled without a write: counted, logged, and an Event where a person wants
    /// one (an excluded day, a missed deadline; a superseded fire is only logged).
    fn settled(&mut self, fire: &SettledFire) {
        let (result, event) = match &fire.why {
            Settled::Excluded => (
                FireResult::Excluded,
                Some((
                    EventType::Normal,
                    "Excluded",
                    "not scaled: its day is excluded by excludeDates".to_owned(),
                )),
            ),
            Settled::Suspended => (FireResult::Suspended, None),
            Settled::Superseded { .. } => (FireResult::Superseded, None),
            Settled::Missed { late } => (
                FireResult::Missed,
                Some((
                    EventType::Warning,
                    "MissedDeadline",
                    format!("not applied: {}s late, past startingDeadlineSeconds", late.as_secs()),
                )),
            ),
        };
        self.metrics.fires.get_or_create(&ResultLabels { result }).inc();
        info!(object = %fire.key, job = %fire.job, fire = %fire.fire_at, kind = ?fire.kind, ?result, why = ?fire.why, "settled without a write");
        if let Some((kind, reason, note)) = event {
            self.event(
                &fire.key,
                kind,
                reason,
                &format!("job {}: the fire of {}: {note}", fire.job, fire.fire_at),
            );
        }
        self.dirty.insert(fire.key.clone());
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
            note: Some(diurnal_api::limits::cut(note, 1024)),
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
        let len = batch.len();
        match self.status_tx.try_send(batch) {
            Ok(()) => self.writing += len,
            Err(mpsc::error::TrySendError::Full(batch)) => {
                self.dirty.extend(batch.into_iter().map(|(k, _)| k));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => warn!("status writer stopped"),
        }
    }
}

impl Shell {
    /// The writer's answer: a failed write is written again at a later flush (the writer backs
    /// off between failing batches).
    fn written(&mut self, (key, ok): Written) {
        self.writing = self.writing.saturating_sub(1);
        if !ok && self.scheduler.contains(&key) {
            self.dirty.insert(key);
        }
    }
}
