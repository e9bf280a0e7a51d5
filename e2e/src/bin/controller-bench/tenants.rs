//! Issue 13, item 7: one CronHPA at every schema bound, firing as fast as the controller allows,
//! beside N ordinary ones. The ordinary fires' lateness is read from the API server's audit log
//! (fire instant -> the scale PATCH received), so it is what the cluster saw, not what the
//! controller says of itself.
//!
//! Targets are custom resources with a `scale` subresource (`faulttargets.faults.diurnal.dev`, the fault suite's):
//! scaling them starts no pods, so the API server's load is the controller's own.

use std::time::Duration;

use diurnal_api::limits;
use diurnal_e2e::{
    Controller, audit, faults, install_crds, namespace, next_whole_second, sleep_until, wait_for,
};
use futures::StreamExt;
use jiff::Timestamp;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::json;

use super::{create_many, proc_stat};

const NAMESPACES: usize = 10;
/// The ordinary objects' fires are spread over this many seconds.
const WINDOW_SECS: usize = 100;

async fn create_targets(client: &kube::Client, ns: &str, names: Vec<String>) {
    let api = faults::targets(client, ns);
    futures::stream::iter(names)
        .map(|name| {
            let api = api.clone();
            async move {
                let obj: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "faults.diurnal.dev/v1", "kind": "FaultTarget",
                    "metadata": {"name": name}, "spec": {"replicas": 1}
                }))
                .unwrap();
                api.create(&PostParams::default(), &obj).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

fn cronhpa(name: &str, target: &str, spec: serde_json::Value) -> serde_json::Value {
    let mut spec = spec;
    spec["scaleTargetRef"] =
        json!({"apiVersion": "faults.diurnal.dev/v1", "kind": "FaultTarget", "name": target});
    json!({"apiVersion": "autoscaling.alibabacloud.com/v1beta1", "kind": "CronHorizontalPodAutoscaler",
           "metadata": {"name": name}, "spec": spec})
}

/// The largest object the schema admits, each job firing once a minute (the default minimum
/// interval) at its own second, sizes alternating so that every fire writes; every exclusion a
/// cron expression (the costliest kind to check), none matching the run's days.
fn hostile_object(now: Timestamp) -> serde_json::Value {
    let month = now.to_zoned(jiff::tz::TimeZone::UTC).month();
    let other_month = if month == 6 { 7 } else { 6 };
    let jobs: Vec<serde_json::Value> = (0..limits::MAX_JOBS)
        .map(|j| {
            json!({
                "name": format!("{j:0>width$}", width = limits::MAX_JOB_NAME),
                "schedule": format!("{} * * * * *", j % 60),
                "targetSize": 1 + (j % 2),
            })
        })
        .collect();
    let excludes: Vec<String> = (0..limits::MAX_EXCLUDE_DATES)
        .map(|k| format!("{} {} {} {} {other_month} *", k % 60, k % 60, k % 24, 1 + k % 28))
        .collect();
    cronhpa("hostile", "hostile", json!({"jobs": jobs, "excludeDates": excludes}))
}

pub async fn run(client: &kube::Client, ordinary: usize, hostile: bool) {
    install_crds(client, faults::TARGET_CRD, "fault target CRD").await;
    let hostile_ns = namespace(client, "bench-hostile").await;
    create_targets(client, &hostile_ns, vec!["hostile".into()]).await;
    let mut namespaces = Vec::new();
    for _ in 0..NAMESPACES {
        namespaces.push(namespace(client, "bench-tenant").await);
    }
    let started = std::time::Instant::now();
    for (n, ns) in namespaces.iter().enumerate() {
        let names = (n..ordinary).step_by(NAMESPACES).map(|i| format!("t{i}")).collect();
        create_targets(client, ns, names).await;
    }
    println!("created {} targets in {:.0}s", ordinary + 1, started.elapsed().as_secs_f64());

    let mut controller = Controller::start(
        "bench-tenants",
        &["--leader-election", "off", "--metrics-addr", "127.0.0.1:18082", "--min-fire-interval=60s"],
    );
    let pid = controller.pid();
    if hostile {
        create_many(client, &hostile_ns, vec![hostile_object(Timestamp::now())]).await;
    }

    // Object i fires once at `first + i % WINDOW_SECS` s (and has a daily job, as ordinary
    // objects have a few jobs that mostly wait).
    let first = next_whole_second(Duration::from_secs(60 + (ordinary / 50) as u64));
    let fire_of =
        |i: usize| first + jiff::SignedDuration::from_secs(i64::try_from(i % WINDOW_SECS).unwrap_or(0));
    let started = std::time::Instant::now();
    for (n, ns) in namespaces.iter().enumerate() {
        let objects = (n..ordinary)
            .step_by(NAMESPACES)
            .map(|i| {
                let date = format!("@date {}", fire_of(i).strftime("%Y-%m-%d %H:%M:%S"));
                cronhpa(
                    &format!("c{i}"),
                    &format!("t{i}"),
                    json!({"jobs": [
                        {"name": "peak", "schedule": date, "targetSize": 2},
                        {"name": "night", "schedule": format!("0 {} 3 * * *", i % 60), "targetSize": 1},
                    ]}),
                )
            })
            .collect();
        create_many(client, ns, objects).await;
    }
    println!("created {ordinary} ordinary CronHPAs in {:.0}s", started.elapsed().as_secs_f64());
    let mut rss_peak = 0u64;
    let last = fire_of(WINDOW_SECS - 1);
    while Timestamp::now() < last + jiff::SignedDuration::from_secs(10) {
        rss_peak = rss_peak.max(proc_stat(pid).0);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sleep_until(last + jiff::SignedDuration::from_secs(10)).await;
    // The machine's load over the window (the control plane shares it), printed with the figures.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_owned();
    let user = controller.user().to_owned();
    // Each ordinary target is written once per fire: the first write gives the lateness, any
    // further one is a doubled fire.
    let writes = wait_for(Duration::from_secs(120), "every ordinary fire in the audit log", || {
        let (namespaces, user) = (namespaces.clone(), user.clone());
        async move {
            let mut writes: std::collections::HashMap<usize, Vec<f64>> = std::collections::HashMap::new();
            for ns in &namespaces {
                for e in audit::scale_writes(ns, &user) {
                    let i: usize = e.name().strip_prefix('t')?.parse().ok()?;
                    writes.entry(i).or_default().push(e.received()?.duration_since(fire_of(i)).as_secs_f64());
                }
            }
            (writes.len() >= ordinary).then_some(writes)
        }
    })
    .await;
    let doubled: usize = writes.values().map(|w| w.len() - 1).sum();
    let lateness: Vec<f64> = writes.values().filter_map(|w| w.iter().copied().reduce(f64::min)).collect();
    let hostile_fires = audit::scale_writes(&hostile_ns, &user)
        .iter()
        .filter(|e| e.received().is_some_and(|t| t >= first && t <= last))
        .count();
    let mut sorted = lateness;
    sorted.sort_by(f64::total_cmp);
    // The quantile: the smallest value at or above that many per mille of the samples.
    let at = |per_mille: usize| sorted[(sorted.len() * per_mille).div_ceil(1000).clamp(1, sorted.len()) - 1];
    println!(
        "tenants: {ordinary} ordinary CronHPAs (each fire in a {WINDOW_SECS} s window){}: {} fires applied, {doubled} doubled; \
         lateness p50 {:.3} s, p99 {:.3} s, max {:.3} s (audit log); controller RSS peak {:.1} MiB; load average {load}",
        if hostile {
            format!(
                " beside one at every bound ({} jobs, {} cron exclusions) that wrote {hostile_fires} times in the window",
                limits::MAX_JOBS,
                limits::MAX_EXCLUDE_DATES
            )
        } else {
            " (control: no large object)".to_owned()
        },
        writes.len(),
        at(500),
        at(990),
        at(1000),
        rss_peak as f64 / 1024.0
    );
    controller.stop();
    // The next run's controller watches every namespace: leave nothing behind.
    delete_namespaces(client, namespaces.iter().chain([&hostile_ns])).await;
}

async fn delete_namespaces(client: &kube::Client, names: impl Iterator<Item = &String>) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    for ns in names {
        let _ = api.delete(ns, &kube::api::DeleteParams::default()).await;
    }
}
