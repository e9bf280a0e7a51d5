//! Controller benchmark against the real control plane (figures go to BENCHMARKS.md):
//!
//! - steady state with N CronHPAs of 4 jobs each: controller RSS and CPU between fires;
//! - M objects firing at the same second: fire lateness (instant → scale PATCH sent) p50/p99,
//!   from the controller's own `diurnal_fire_lateness_seconds` histogram.
//!
//! - `tenants [N]`: one CronHPA at every schema bound firing at the fastest rate the controller
//!   allows, beside N ordinary ones (default 10,000) in ten namespaces that each fire once within
//!   a 100 s window: the ordinary fires' lateness (fire instant -> the API server receiving the
//!   scale PATCH, from the audit log) p50/p99/max, and the controller's RSS.
//!
//! - `soak [N] [--duration 30m] [--ops-per-second 5]`: N CronHPAs (default 10,000) under random
//!   edits, deletes and re-creates with five faults injected, on a control plane of its own: fires
//!   lost and doubled (audit log), the controller's RSS over time ([`soak`]).
//!
//! `cargo run --release -p diurnal-e2e --bin controller-bench -- [N] [M]` (defaults 10000, 1000),
//! or `... -- tenants [N] [--no-hostile]`, or `... -- soak ...`; the cluster comes from `DIURNAL_E2E_KUBECONFIG` or is started as for
//! the tests.

// Counts and kernel ticks here are far below 2^52: converting them to f64 loses nothing.
#![allow(clippy::cast_precision_loss)]

use std::time::{Duration, Instant};

use diurnal_e2e::{
    Controller, create_deployment, install_crd, namespace, next_whole_second, sleep_until, wait_for,
};
use futures::StreamExt;
use kube::api::{Api, PostParams};
use serde_json::json;

mod soak;
mod tenants;

fn proc_stat(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    (rss_kib, ticks)
}

async fn create_many(client: &kube::Client, ns: &str, objects: Vec<serde_json::Value>) {
    let api: Api<diurnal_api::CronHorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(objects)
        .map(|obj| {
            let api = api.clone();
            async move {
                let obj: diurnal_api::CronHorizontalPodAutoscaler = serde_json::from_value(obj).unwrap();
                api.create(&PostParams::default(), &obj).await.unwrap();
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

fn cronhpa(name: &str, target: &str, jobs: &serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "autoscaling.alibabacloud.com/v1beta1", "kind": "CronHorizontalPodAutoscaler",
           "metadata": {"name": name},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}, "jobs": jobs}})
}

fn histogram_quantile(metrics: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter(|l| l.starts_with("diurnal_fire_lateness_seconds_bucket"))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    buckets.into_iter().find(|(_, count)| *count >= q * total).map(|(le, _)| le)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("tenants") {
        args.next();
        let ordinary: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
        // `--no-hostile`: the same run without the large object, the control for its effect.
        let hostile = args.next().as_deref() != Some("--no-hostile");
        let client = diurnal_e2e::client().await.expect("a cluster (DIURNAL_E2E=skip is set?)");
        install_crd(&client).await;
        tenants::run(&client, ordinary, hostile).await;
        return;
    }
    if args.peek().map(String::as_str) == Some("soak") {
        args.next();
        soak::run(soak_args(args)).await;
        return;
    }
    let steady: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let burst: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let client = diurnal_e2e::client().await.expect("a cluster (DIURNAL_E2E=skip is set?)");
    install_crd(&client).await;

    if steady > 0 {
        steady_state(&client, steady).await;
    }
    if burst > 0 {
        same_second(&client, burst).await;
    }
}

/// `soak [N] [--duration D] [--ops-per-second X]`.
fn soak_args(args: impl Iterator<Item = String>) -> soak::Soak {
    let mut settings =
        soak::Soak { objects: 10_000, duration: Duration::from_secs(30 * 60), ops_per_second: 5.0 };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => {
                let text = args.next().expect("--duration needs a value, e.g. 30m");
                let d: jiff::SignedDuration =
                    text.parse().unwrap_or_else(|e| panic!("--duration {text:?}: {e}"));
                settings.duration = Duration::try_from(d).expect("--duration must be positive");
            }
            "--ops-per-second" => {
                let text = args.next().expect("--ops-per-second needs a value");
                settings.ops_per_second =
                    text.parse().unwrap_or_else(|e| panic!("--ops-per-second {text:?}: {e}"));
            }
            n => settings.objects = n.parse().unwrap_or_else(|e| panic!("soak: {n:?} is not a count: {e}")),
        }
    }
    settings
}

/// N objects of 4 daily jobs each, none firing during the measurement: RSS and CPU.
async fn steady_state(client: &kube::Client, steady: usize) {
    let client = client.clone();
    let ns = namespace(&client, "bench-steady").await;
    create_deployment(&client, &ns, "web", 1).await;
    let started = Instant::now();
    let objects = (0..steady)
        .map(|i| {
            cronhpa(&format!("c{i}"), "web", &json!([
                {"name": "a", "schedule": format!("0 {} 3 * * *", i % 60), "targetSize": 1},
                {"name": "b", "schedule": "0 0 9 * * MON-FRI", "targetSize": 2, "timeZone": "Asia/Shanghai"},
                {"name": "c", "schedule": "0 30 12 * * *", "targetSize": 3, "timeZone": "Europe/Berlin"},
                {"name": "d", "schedule": "0 0 0 L * *", "targetSize": 1, "timeZone": "America/New_York"},
            ]))
        })
        .collect();
    create_many(&client, &ns, objects).await;
    println!("created {steady} CronHPAs in {:.1}s", started.elapsed().as_secs_f64());
    let mut controller = Controller::start(
        "bench-steady",
        &["--namespace", &ns, "--leader-election", "off", "--metrics-addr", "127.0.0.1:18080"],
    );
    let pid = controller.pid();
    wait_for(Duration::from_secs(300), "the controller to write every status", || async {
        let body = reqwest_metrics(18080).await?;
        body.contains("diurnal_queue_size").then_some(())?;
        let statuses = Api::<diurnal_api::CronHorizontalPodAutoscaler>::namespaced(client.clone(), &ns)
            .list(&kube::api::ListParams::default())
            .await
            .ok()?;
        statuses.items.iter().all(|o| o.status.is_some()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (_, ticks_before) = proc_stat(pid);
    let window = Duration::from_secs(30);
    tokio::time::sleep(window).await;
    let (rss_kib, ticks_after) = proc_stat(pid);
    let cpu = (ticks_after - ticks_before) as f64 / 100.0 / window.as_secs_f64() * 100.0;
    println!(
        "steady state, {steady} CronHPAs x 4 jobs: RSS {:.1} MiB, CPU {cpu:.2}% of a core over {}s between fires",
        rss_kib as f64 / 1024.0,
        window.as_secs()
    );
    controller.stop();
}

/// M objects whose only job fires at the same second: lateness from the controller's histogram.
async fn same_second(client: &kube::Client, burst: usize) {
    let client = client.clone();
    let ns = namespace(&client, "bench-burst").await;
    for i in 0..burst {
        create_deployment(&client, &ns, &format!("w{i}"), 1).await;
    }
    let mut controller = Controller::start(
        "bench-burst",
        &["--namespace", &ns, "--leader-election", "off", "--metrics-addr", "127.0.0.1:18081"],
    );
    let fire = next_whole_second(Duration::from_secs(30 + (burst / 40) as u64));
    let date = format!("@date {}", fire.strftime("%Y-%m-%d %H:%M:%S"));
    let objects = (0..burst)
        .map(|i| {
            cronhpa(
                &format!("b{i}"),
                &format!("w{i}"),
                &json!([{"name": "peak", "schedule": date, "targetSize": 2}]),
            )
        })
        .collect();
    create_many(&client, &ns, objects).await;
    sleep_until(fire).await;
    let metrics = wait_for(Duration::from_secs(120), "every fire to be applied", || async {
        let body = reqwest_metrics(18081).await?;
        let count: f64 = body
            .lines()
            .find(|l| l.starts_with("diurnal_fire_lateness_seconds_count"))?
            .rsplit(' ')
            .next()?
            .parse()
            .ok()?;
        (count >= burst as f64).then_some(body)
    })
    .await;
    println!(
        "{burst} objects firing at the same second: lateness p50 <= {:?} s, p99 <= {:?} s (histogram bucket bounds)",
        histogram_quantile(&metrics, 0.5),
        histogram_quantile(&metrics, 0.99)
    );
    controller.stop();
}

/// GET /metrics over plain HTTP/1.1 on loopback (no client library needed for one request).
async fn reqwest_metrics(port: u16) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await.ok()?;
    Some(body)
}
