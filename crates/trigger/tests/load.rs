//! Load check (ignored by default; run it with the command in BENCHMARKS.md):
//! 2,000 invalid requests per second for 10 s on loopback, with a valid call every second.
//! Passes when no answer is a 5xx, no invalid request rolled anything, every valid call
//! succeeded and the resident set grew by less than 16 MiB between second 2 and the end.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diurnal_trigger::server::Settings;
use http::Request;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const RATE: u64 = 2_000;
const SECONDS: u64 = 10;
const WORKERS: u64 = 20;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// The invalid request number `n`: wrong tokens, unknown ids, bad methods, garbage payloads.
fn invalid(base: &str, n: u64) -> Request<Full<Bytes>> {
    let path = common::PATH;
    let b = Request::builder();
    let (b, body) = match n % 5 {
        0 => (b.method("GET").uri(format!("{base}{path}?token=wrong{n}")), Bytes::new()),
        1 => (
            b.method("GET").uri(format!("{base}/hooks/v1/namespaces/shop/triggers/t{n:x}?token=x")),
            Bytes::new(),
        ),
        2 => (
            b.method("POST").uri(format!("{base}{path}")).header("authorization", "Bearer nope"),
            Bytes::from_static(b"{\"push_data\":"),
        ),
        3 => (b.method("PUT").uri(format!("{base}{path}")), Bytes::new()),
        _ => (b.method("GET").uri(format!("{base}/hooks/v1/%ff%fe?token=%00")), Bytes::new()),
    };
    b.body(Full::new(body)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load check: 10 s, run explicitly (see BENCHMARKS.md)"]
async fn flood_with_the_default_limits() {
    flood(Settings { coalesce_window: Duration::ZERO, ..Settings::default() }).await;
}

/// The same flood with the per-client failure limit out of the way, so every invalid
/// request goes through the whole authentication path (hash, lookup, compare).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load check: 10 s, run explicitly (see BENCHMARKS.md)"]
async fn flood_without_the_client_failure_limit() {
    flood(Settings {
        coalesce_window: Duration::ZERO,
        per_client_failures: "1000000/s".parse().unwrap(),
        ..Settings::default()
    })
    .await;
}

async fn flood(settings: Settings) {
    let server = common::start(&settings);
    let base = format!("http://{}", server.addr);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let statuses: Arc<Mutex<BTreeMap<u16, u64>>> = Arc::default();
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let start = Instant::now();
    let end = start + Duration::from_secs(SECONDS);

    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let (client, base, statuses, errors) =
            (client.clone(), base.clone(), statuses.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 * WORKERS / RATE));
            let mut n = w;
            while Instant::now() < end {
                tick.tick().await;
                match client.request(invalid(&base, n)).await {
                    Ok(r) => {
                        *statuses.lock().unwrap().entry(r.status().as_u16()).or_default() += 1;
                        let _ = r.into_body().collect().await;
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += WORKERS;
            }
        }));
    }

    // A valid call every second while the flood runs.
    let valid_url = format!("{base}{}", common::PATH);
    let token = server.token.expose().to_owned();
    let mut valid = Vec::new();
    let mut rss_at_2s = 0;
    for s in 0..SECONDS {
        tokio::time::sleep_until((start + Duration::from_secs(s) + Duration::from_millis(500)).into()).await;
        if s == 2 {
            rss_at_2s = rss_kib();
        }
        let t0 = Instant::now();
        let req = Request::post(&valid_url)
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let status = client.request(req).await.map_or(0, |r| r.status().as_u16());
        latencies.lock().unwrap().push(t0.elapsed());
        valid.push(status);
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let rss_end = rss_kib();

    let statuses = statuses.lock().unwrap().clone();
    let sent: u64 = statuses.values().sum::<u64>() + errors.load(Ordering::Relaxed);
    let lat = latencies.lock().unwrap().clone();
    let max_valid = lat.iter().max().copied().unwrap_or_default();
    println!(
        "invalid requests: {sent} in {:.1} s ({:.0}/s); statuses {statuses:?}; transport errors {}",
        elapsed.as_secs_f64(),
        f64::from(u32::try_from(sent).unwrap()) / elapsed.as_secs_f64(),
        errors.load(Ordering::Relaxed)
    );
    println!(
        "valid calls: {valid:?}, slowest {max_valid:?}; rollouts {}",
        server.rollouts.0.load(Ordering::SeqCst)
    );
    println!("resident set: {rss_at_2s} KiB at 2 s, {rss_end} KiB at the end");

    assert!(statuses.keys().all(|&s| s < 500), "a 5xx: {statuses:?}");
    assert_eq!(errors.load(Ordering::Relaxed), 0, "transport errors");
    assert!(valid.iter().all(|&s| s == 200), "valid calls: {valid:?}");
    assert_eq!(server.rollouts.0.load(Ordering::SeqCst), valid.len(), "only valid calls rolled");
    assert!(sent >= RATE * SECONDS * 9 / 10, "the load did not reach 90% of {RATE}/s: {sent}");
    assert!(rss_end.saturating_sub(rss_at_2s) < 16 * 1024, "memory grew {rss_at_2s} -> {rss_end} KiB");
}
