//! Next-fire throughput over 10,000 distinct schedules in mixed zones.
//!
//! `cargo bench -p diurnal-core --bench next_fire`; one iteration computes the next fire of every
//! schedule once, so criterion's element throughput is next-fire computations per second.
use std::collections::HashSet;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diurnal_core::{Schedule, resolve_zone};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

const ZONES: [&str; 10] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Australia/Sydney",
    "America/Sao_Paulo",
    "Europe/London",
    "Asia/Tokyo",
    "Pacific/Auckland",
];

/// A small deterministic generator (`SplitMix64`), so every run benchmarks the same schedules.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn expression(rng: &mut Rng) -> String {
    let (s, m, h) = (rng.below(60), rng.below(60), rng.below(24));
    match rng.below(10) {
        0 => format!("{s} {m} {h} * * *"),
        1 => format!("{m} {h} * * MON-FRI"),
        2 => format!("0 */{} * * * *", 1 + rng.below(30)),
        3 => format!("{s} {m} {h} {} * *", 1 + rng.below(28)),
        4 => format!("{s} {m} {h} * * {}#{}", rng.below(7), 1 + rng.below(4)),
        5 => format!("{s} {m} {h} L * *"),
        6 => format!("{s} {m} {}-{} * * *", h.min(12), 12 + h / 2),
        7 => format!("{s} {m},{} {h} * * SAT,SUN", (m + 30) % 60),
        8 => format!("@every {}s", 60 + rng.below(86_400)),
        _ => format!("*/{} {m} * * * *", 1 + rng.below(30)),
    }
}

fn workload() -> Vec<(Schedule, TimeZone, Timestamp)> {
    let zones: Vec<TimeZone> = ZONES.iter().map(|z| resolve_zone(z).unwrap()).collect();
    let mut rng = Rng(2026);
    let mut seen = HashSet::new();
    let base: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut out = Vec::new();
    while out.len() < 10_000 {
        let expr = expression(&mut rng);
        if !seen.insert(expr.clone()) {
            continue;
        }
        let zone = zones[usize::try_from(rng.below(zones.len() as u64)).unwrap()].clone();
        // Spread the starting instants over the year, DST changes included.
        let after = base + SignedDuration::from_secs(i64::try_from(rng.below(365 * 86_400)).unwrap());
        out.push((Schedule::parse(&expr).unwrap(), zone, after));
    }
    out
}

fn next_fire(c: &mut Criterion) {
    let work = workload();
    let origin: Timestamp = "2025-06-01T00:00:00Z".parse().unwrap();
    let mut group = c.benchmark_group("schedule");
    group.throughput(Throughput::Elements(work.len() as u64));
    group.bench_function("next_after/10k-mixed", |b| {
        b.iter(|| {
            for (schedule, zone, after) in &work {
                black_box(schedule.next_after(black_box(*after), zone, origin));
            }
        });
    });
    group.bench_function("prev_at_or_before/10k-mixed", |b| {
        b.iter(|| {
            for (schedule, zone, after) in &work {
                black_box(schedule.prev_at_or_before(black_box(*after), zone, origin));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, next_fire);
criterion_main!(benches);
