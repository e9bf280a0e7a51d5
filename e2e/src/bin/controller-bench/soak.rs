//! Issue 14's soak: N CronHPAs (default 10,000) under random edits, deletes and re-creates for a
//! while (default 30 min), with five faults injected on the way — the API server cut off
//! (toxiproxy), 1 s of latency on every call for a minute, etcd stopped 20 s, kube-apiserver
//! killed and started again, the controller killed (SIGKILL) and a successor started. What must hold:
//! no fire lost, none doubled (from the API server's audit log), the controller's RSS flat.
//!
//! Every *incarnation* of an object — its creation, a re-creation, an edit that moves its fire —
//! has a target of its own (a `FaultTarget`, scaled from 1 to 3 by one `@date` fire), so the audit
//! log says per target what happened: an incarnation whose fire fell due must have exactly one
//! scale write (or none and its target at size: a write the killed API server stored but never
//! audited); one whose fire was cancelled (edited away, deleted) must have none. Other edits
//! (an exclusion, a daily job's time) leave the fire alone. Only objects whose fire is at least
//! [`SAFE`] away are edited or deleted, and nothing is changed while a fault is on (and for
//! [`SETTLE`] after), so what *should* happen is never ambiguous. Every fire has a 600 s starting
//! deadline: a fault delays fires, it must not drop them.
//!
//! `cargo run -p diurnal-e2e --bin controller-bench -- soak [N] [--duration 30m] [--ops-per-second 5]`
//! on a control plane of its own (`target/e2e-faults-<pid>`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diurnal_e2e::faults::{PrivateCluster, TARGET_CRD, free_port, targets};
use diurnal_e2e::launch::Launch;
use diurnal_e2e::toxi::{Stream, Toxic, Toxiproxy};
use diurnal_e2e::{Controller, audit, install_crd, install_crds, namespace};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use super::proc_stat;

/// An object is edited or deleted only while its fire is at least this far away.
const SAFE: SignedDuration = SignedDuration::from_secs(20);
/// Nothing is changed from a fault's start until this long after its end.
const SETTLE: Duration = Duration::from_secs(30);

/// The soak's settings.
pub struct Soak {
    pub objects: usize,
    pub duration: Duration,
    pub ops_per_second: f64,
}

/// One object's current incarnation.
struct Object {
    /// Its target (`t-<k>`), `None` while deleted.
    target: Option<String>,
    fire: Timestamp,
}

/// Per target: whether its fire is expected (`true`) or was cancelled, and its instant.
type Ledger = HashMap<String, (bool, Timestamp)>;

/// The daily job's hour: twelve hours from the start, so it never fires during the run (a soak
/// of up to a few hours) and every write to a target is its one `@date` fire.
fn night_hour() -> i8 {
    (Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).hour() + 12) % 24
}

fn cronhpa(name: &str, target: &str, fire: Timestamp, night: u32) -> Value {
    json!({"apiVersion": "autoscaling.alibabacloud.com/v1beta1", "kind": "CronHorizontalPodAutoscaler",
           "metadata": {"name": name},
           "spec": {"scaleTargetRef": {"apiVersion": "faults.diurnal.dev/v1", "kind": "FaultTarget", "name": target},
                    "startingDeadlineSeconds": 600,
                    "jobs": [{"name": "peak", "schedule": diurnal_e2e::utc_date(fire), "targetSize": 3},
                             {"name": "night", "schedule": format!("0 {} {} * * *", night % 60, night_hour()), "targetSize": 1}]}})
}

async fn create_target(client: &kube::Client, ns: &str, name: &str) {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "faults.diurnal.dev/v1", "kind": "FaultTarget",
        "metadata": {"name": name}, "spec": {"replicas": 1}
    }))
    .expect("a FaultTarget");
    // Retried: the API server may be faulted or just restarted.
    for _ in 0..30 {
        if targets(client, ns).create(&PostParams::default(), &obj).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("creating FaultTarget {name} failed for 30 s");
}

/// A fire instant between `SAFE` plus a few seconds and `horizon` from now, but before `last`.
fn pick_fire(rng: &mut fastrand::Rng, horizon: Duration, last: Timestamp) -> Timestamp {
    let now = Timestamp::now();
    let min = SAFE.as_secs() + 5;
    let room = last.duration_since(now).as_secs().max(min + 1);
    let max = i64::try_from(horizon.as_secs()).unwrap_or(i64::MAX).clamp(min + 1, room);
    let at = now + SignedDuration::from_secs(rng.i64(min..=max));
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// The five faults, in order, at equal spacing over the run.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Cut,
    Latency,
    EtcdStop,
    ApiServerRestart,
    ControllerKill,
}

#[allow(clippy::too_many_lines)]
pub async fn run(soak: Soak) {
    let cluster = PrivateCluster::shared();
    let client = cluster.client().await;
    install_crd(&client).await;
    install_crds(&client, TARGET_CRD, "fault target CRD").await;
    let ns = namespace(&client, "soak").await;
    let toxiproxy = Toxiproxy::start("soak").await.expect("toxiproxy");
    let upstream = private_api_server(cluster);
    let proxy = toxiproxy.proxy("soak-apiserver", upstream).await.expect("a proxy");
    let launch = Launch {
        cluster_dir: Some(cluster.dir.clone()),
        api_server: Some(proxy.listen),
        ..Launch::default()
    };
    let port = free_port();
    let metrics_addr = format!("127.0.0.1:{port}");
    let args = [
        "--namespace",
        &ns,
        "--lease-namespace",
        &ns,
        "--lease-duration",
        "5",
        "--metrics-addr",
        &metrics_addr,
    ];
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let end = Timestamp::now() + SignedDuration::try_from(soak.duration).unwrap_or_default();
    // No fire falls due in the last minute: the tally waits for every fire that did.
    let last_fire = end - SignedDuration::from_secs(60);
    // Fires spread over the whole run.
    let horizon = soak.duration;

    let mut ledger = Ledger::new();
    let mut objects: Vec<Object> = Vec::new();
    let mut next_target = 0usize;
    let made = Instant::now();
    // No first fire before the last object can have been created (10,000 took 45 s): an `@date`
    // already past when its object is created never fires, as it should, and is not a lost fire
    // (the first 30-minute run counted 31 such).
    let creating = SignedDuration::from_secs(30 + i64::try_from(soak.objects / 100).unwrap_or(0));
    let initial: Vec<(String, Timestamp)> = (0..soak.objects)
        .map(|i| (format!("t-{i}"), (pick_fire(&mut rng, horizon, last_fire) + creating).min(last_fire)))
        .collect();
    futures::stream::iter(initial.iter().enumerate())
        .for_each_concurrent(32, |(i, (target, fire))| {
            let (client, ns) = (client.clone(), ns.clone());
            async move {
                create_target(&client, &ns, target).await;
                let obj =
                    serde_json::from_value(cronhpa(&format!("c-{i}"), target, *fire, 0)).expect("a CronHPA");
                Api::<diurnal_api::CronHorizontalPodAutoscaler>::namespaced(client, &ns)
                    .create(&PostParams::default(), &obj)
                    .await
                    .expect("create a CronHPA");
            }
        })
        .await;
    for (target, fire) in initial {
        ledger.insert(target.clone(), (true, fire));
        objects.push(Object { target: Some(target), fire });
        next_target += 1;
    }
    println!("soak (seed {seed}): {} objects created in {:.0} s", soak.objects, made.elapsed().as_secs_f64());

    let mut controller = Controller::start_with("soak-a", &args, &launch);
    let mut rss: Vec<(f64, u64, u32)> = Vec::new();
    let faults =
        [Fault::Cut, Fault::Latency, Fault::EtcdStop, Fault::ApiServerRestart, Fault::ControllerKill];
    let spacing = soak.duration.as_secs_f64() / (faults.len() + 1) as f64;
    let mut next_fault = 0;
    let mut quiet_until = Instant::now();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let cronhpas: Api<diurnal_api::CronHorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    let mut last_sample: Option<Instant> = None;
    let tick = Duration::from_secs_f64(1.0 / soak.ops_per_second.max(0.01));
    while Timestamp::now() < end {
        if last_sample.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            let kib = proc_stat(controller.pid()).0;
            if kib > 0 {
                rss.push((started.elapsed().as_secs_f64(), kib, controller.pid()));
            }
            last_sample = Some(Instant::now());
        }
        if next_fault < faults.len() && started.elapsed().as_secs_f64() >= spacing * (next_fault + 1) as f64 {
            let fault = faults[next_fault];
            let t0 = Instant::now();
            match fault {
                Fault::Cut => {
                    proxy.disable().await.expect("disable the proxy");
                    tokio::time::sleep(Duration::from_secs(20)).await;
                    proxy.enable().await.expect("enable the proxy");
                }
                Fault::Latency => {
                    proxy
                        .add(&Toxic::latency("slow-up", Stream::Upstream, Duration::from_millis(500)))
                        .await
                        .expect("toxic");
                    proxy
                        .add(&Toxic::latency("slow-down", Stream::Downstream, Duration::from_millis(500)))
                        .await
                        .expect("toxic");
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    proxy.remove("slow-up").await.expect("toxic");
                    proxy.remove("slow-down").await.expect("toxic");
                }
                Fault::EtcdStop => {
                    cluster.fault("stop", "etcd");
                    tokio::time::sleep(Duration::from_secs(20)).await;
                    cluster.fault("cont", "etcd");
                }
                Fault::ApiServerRestart => {
                    cluster.fault("kill", "kube-apiserver");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    cluster.fault("start", "kube-apiserver");
                }
                Fault::ControllerKill => {
                    rss.push((
                        started.elapsed().as_secs_f64(),
                        proc_stat(controller.pid()).0,
                        controller.pid(),
                    ));
                    controller.kill();
                    controller = Controller::start_with("soak-b", &args, &launch);
                }
            }
            println!(
                "soak: +{:.0} s {fault:?} ({:.0} s)",
                started.elapsed().as_secs_f64(),
                t0.elapsed().as_secs_f64()
            );
            next_fault += 1;
            quiet_until = Instant::now() + SETTLE;
        }
        if Instant::now() < quiet_until {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let i = rng.usize(..objects.len());
        let now = Timestamp::now();
        let safe = objects[i].fire.duration_since(now) >= SAFE;
        let op = rng.u8(..100);
        let done = match (&objects[i].target, op) {
            // Deleted: re-create with a new target and fire.
            (None, _) => {
                let target = format!("t-{next_target}");
                next_target += 1;
                let fire = pick_fire(&mut rng, horizon, last_fire);
                create_target(&client, &ns, &target).await;
                let obj =
                    serde_json::from_value(cronhpa(&format!("c-{i}"), &target, fire, 0)).expect("a CronHPA");
                cronhpas.create(&PostParams::default(), &obj).await.is_ok().then(|| {
                    ledger.insert(target.clone(), (true, fire));
                    objects[i] = Object { target: Some(target), fire };
                    "re-created"
                })
            }
            (Some(_), _) if !safe && objects[i].fire > now - SignedDuration::from_secs(60) => None,
            // Move the fire (and the target).
            (Some(old), 0..45) => {
                let (old, target) = (old.clone(), format!("t-{next_target}"));
                next_target += 1;
                let fire = pick_fire(&mut rng, horizon, last_fire);
                create_target(&client, &ns, &target).await;
                let patch = json!({"spec": {"scaleTargetRef": {"name": target},
                    "jobs": [{"name": "peak", "schedule": diurnal_e2e::utc_date(fire), "targetSize": 3},
                             {"name": "night", "schedule": format!("0 0 {} * * *", night_hour()), "targetSize": 1}]}});
                patch_ok(&cronhpas, i, &patch).await.then(|| {
                    if safe {
                        ledger.insert(old, (false, objects[i].fire));
                    }
                    ledger.insert(target.clone(), (true, fire));
                    objects[i] = Object { target: Some(target), fire };
                    "moved"
                })
            }
            // An edit that leaves the fire alone.
            (Some(_), 45..80) => {
                let patch = json!({"spec": {"jobs": [
                    {"name": "peak", "schedule": diurnal_e2e::utc_date(objects[i].fire), "targetSize": 3},
                    {"name": "night", "schedule": format!("0 {} {} * * *", rng.u32(..60), night_hour()), "targetSize": 1}]}});
                patch_ok(&cronhpas, i, &patch).await.then_some("edited")
            }
            (Some(old), _) => {
                let old = old.clone();
                cronhpas.delete(&format!("c-{i}"), &DeleteParams::default()).await.is_ok().then(|| {
                    if safe {
                        ledger.insert(old, (false, objects[i].fire));
                    }
                    objects[i].target = None;
                    "deleted"
                })
            }
        };
        if let Some(what) = done {
            *counts.entry(what).or_default() += 1;
        }
        tokio::time::sleep(tick).await;
    }
    rss.push((started.elapsed().as_secs_f64(), proc_stat(controller.pid()).0, controller.pid()));
    // Every fire due is applied within its deadline; give the last ones a minute.
    tokio::time::sleep(Duration::from_secs(60)).await;
    report(&client, cluster, &ns, &ledger, &counts, &rss, started, seed).await;
    controller.stop();
}

async fn patch_ok(api: &Api<diurnal_api::CronHorizontalPodAutoscaler>, i: usize, patch: &Value) -> bool {
    api.patch(&format!("c-{i}"), &PatchParams::default(), &Patch::Merge(patch)).await.is_ok()
}

/// The private cluster's API server address, from its kubeconfig.
fn private_api_server(cluster: &PrivateCluster) -> std::net::SocketAddr {
    let text = std::fs::read_to_string(cluster.dir.join("kubeconfig")).expect("the private kubeconfig");
    let config: Value = diurnal_e2e::yaml_doc(&text);
    let server = config.pointer("/clusters/0/cluster/server").and_then(Value::as_str).unwrap_or_default();
    server.trim_start_matches("https://").trim_end_matches('/').parse().expect("https://IP:PORT")
}

#[allow(clippy::too_many_arguments, clippy::cast_precision_loss)]
async fn report(
    client: &kube::Client,
    cluster: &PrivateCluster,
    ns: &str,
    ledger: &Ledger,
    counts: &HashMap<&str, usize>,
    rss: &[(f64, u64, u32)],
    started: Instant,
    seed: u64,
) {
    let mut writes: HashMap<String, usize> = HashMap::new();
    for e in audit::writes_from(&cluster.audit_log(), ns) {
        if e.is_scale_write() && e.user.username.starts_with("diurnal-e2e-controller:soak") {
            *writes.entry(e.name().to_owned()).or_default() += 1;
        }
    }
    let sizes: HashMap<String, Option<i64>> = targets(client, ns)
        .list(&kube::api::ListParams::default())
        .await
        .expect("list FaultTargets")
        .items
        .into_iter()
        .map(|o| {
            (
                o.metadata.name.clone().unwrap_or_default(),
                o.data.pointer("/spec/replicas").and_then(Value::as_i64),
            )
        })
        .collect();
    let (mut expected, mut applied, mut unaudited, mut cancelled) = (0, 0, 0, 0);
    let (mut lost, mut doubled, mut spurious) = (Vec::new(), Vec::new(), Vec::new());
    for (target, (due, fire)) in ledger {
        let n = writes.get(target).copied().unwrap_or(0);
        let at_size = sizes.get(target).copied().flatten() == Some(3);
        if *due {
            expected += 1;
            match (n, at_size) {
                (_, false) => lost.push(format!("{target} (fire {fire})")),
                (0, true) => unaudited += 1,
                (1, true) => applied += 1,
                _ => doubled.push(format!("{target}: {n} writes")),
            }
        } else {
            cancelled += 1;
            if n > 0 {
                spurious.push(format!("{target}: {n} writes for a cancelled fire at {fire}"));
            }
        }
    }
    let mib = |kib: u64| kib as f64 / 1024.0;
    let samples: Vec<String> =
        rss.iter().map(|(t, kib, pid)| format!("+{t:.0}s {:.1} MiB (pid {pid})", mib(*kib))).collect();
    println!("soak RSS samples: {}", samples.join(", "));
    println!(
        "figures: soak (seed {seed}): {} s; operations {counts:?}; fires expected {expected}, applied {applied} (+{unaudited} stored but unaudited), \
         doubled {}, lost {}, cancelled {cancelled} (of which written: {}); RSS first {:.1} MiB, middle {:.1} MiB, last of the first controller {:.1} MiB, successor at the end {:.1} MiB",
        started.elapsed().as_secs(),
        doubled.len(),
        lost.len(),
        spurious.len(),
        rss.iter().find(|r| r.1 >= 1024).map_or(f64::NAN, |r| mib(r.1)),
        rss.get(rss.len() / 2).map_or(f64::NAN, |r| mib(r.1)),
        rss.iter().rev().find(|r| r.2 == rss[0].2).map_or(f64::NAN, |r| mib(r.1)),
        rss.last().map_or(f64::NAN, |r| mib(r.1)),
    );
    for problem in lost.iter().chain(&doubled).chain(&spurious).take(20) {
        println!("  {problem}");
    }
}
