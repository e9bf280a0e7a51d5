#![allow(clippy::float_cmp)] // exact zeros and exact small sums are what these tests assert

use super::*;
use crate::model::{Billing, NodePool, VirtualNode, Workload};

fn cluster() -> Cluster {
    Cluster {
        workload: Workload {
            name: "web".into(),
            requests_per_pod: 10.0,
            pod_cpu: 1.0,
            pod_memory_gib: 2.0,
            startup_seconds: 30,
            min_replicas: 1,
        },
        pool: NodePool {
            cpu: 4.0,
            memory_gib: 16.0,
            price_per_hour: 0.68,
            billing: Billing::Subscription,
            minimum_billed_seconds: 60,
            provisioning_seconds: 180,
            min_nodes: 0,
            max_nodes: 100,
            scale_down_unneeded_seconds: 600,
            autoscaled_price_per_hour: None,
        },
        virtual_node: VirtualNode {
            enabled: true,
            price_per_vcpu_second: 0.000_049,
            price_per_gib_second: 0.000_006_13,
            startup_seconds: 30,
            sizes: crate::billing::BillableSizes::Requested,
        },
    }
}

/// `days` days of 30-minute points in UTC: 100 req/s from 08:00 to 20:00, 10 req/s otherwise.
fn square_days(days: usize) -> Trace {
    let rate = (0..days * 48).map(|i| if (16..40).contains(&(i % 48)) { 100.0 } else { 10.0 }).collect();
    Trace {
        source: "sq".into(),
        start: "2024-01-01T00:00:00Z".parse().unwrap(),
        interval: 1800,
        rate,
        gaps: vec![],
    }
}

fn spec() -> PlannerSpec {
    PlannerSpec { headroom: 0.0, ..PlannerSpec::default() }
}

#[test]
fn segments_cover_the_profile_at_least_cost() {
    assert_eq!(segment(&[1, 1, 5, 5, 1, 1], 3), vec![(0, 1), (2, 5), (4, 1)]);
    assert_eq!(segment(&[1, 1, 5, 5, 1, 1], 1), vec![(0, 5)]);
    // Two segments: either cut costs 22, both beat one segment (30).
    let two = segment(&[1, 1, 5, 5, 1, 1], 2);
    assert_eq!(two.len(), 2);
    assert_eq!(segment(&[3, 3, 3], 4), vec![(0, 3)]);
}

#[test]
fn a_square_day_becomes_two_jobs_with_the_rise_pre_warmed() {
    let r = plan(&square_days(21), &cluster(), &spec(), "UTC", 45).unwrap();
    let jobs = &r.cronhpa.spec.jobs;
    let schedules: Vec<(&str, i32)> =
        jobs.iter().map(|j| (j.schedule.as_str(), j.target_size.unwrap_or(0))).collect();
    // 45 s of lead rounds up to one minute before 08:00.
    assert_eq!(schedules, vec![("0 59 7 * * *", 10), ("0 0 20 * * *", 1)]);
    assert_eq!(r.profile, ProfileKind::Weekly);
    assert_eq!(r.cronhpa.spec.time_zone.as_deref(), Some("UTC"));
    assert_eq!(r.plan.jobs.len(), 2, "the YAML parsed back through diurnal-api");
    assert!(r.yaml.contains("kind: CronHorizontalPodAutoscaler"), "{}", r.yaml);
    assert_eq!(r.max_fires_per_day, 2);
}

#[test]
fn the_schedule_is_written_in_the_requested_zone() {
    // The same UTC square wave seen from Shanghai (+08:00): the peak starts at 16:00 local.
    let r = plan(&square_days(21), &cluster(), &spec(), "Asia/Shanghai", 45).unwrap();
    let schedules: Vec<&str> = r.cronhpa.spec.jobs.iter().map(|j| j.schedule.as_str()).collect();
    assert_eq!(schedules, vec!["0 0 4 * * *", "0 59 15 * * *"]);
}

#[test]
fn weekdays_and_weekends_get_their_own_jobs() {
    // 2024-01-01 is a Monday. Weekends stay at 10 req/s all day.
    let mut t = square_days(21);
    for (i, r) in t.rate.iter_mut().enumerate() {
        if i / 48 % 7 >= 5 {
            *r = 10.0;
        }
    }
    let r = plan(&t, &cluster(), &spec(), "UTC", 45).unwrap();
    let schedules: Vec<&str> = r.cronhpa.spec.jobs.iter().map(|j| j.schedule.as_str()).collect();
    assert_eq!(schedules, vec!["0 59 7 * * MON,TUE,WED,THU,FRI", "0 0 20 * * MON,TUE,WED,THU,FRI"]);
}

#[test]
fn at_most_n_fires_per_day() {
    // A saw-tooth with many steps, 2 jobs a day allowed.
    let rate: Vec<f64> = (0..21 * 48u32).map(|i| f64::from(i % 48 / 4) * 10.0 + 10.0).collect();
    let t = Trace {
        source: "saw".into(),
        start: "2024-01-01T00:00:00Z".parse().unwrap(),
        interval: 1800,
        rate,
        gaps: vec![],
    };
    let s = PlannerSpec { jobs_per_day: 2, ..spec() };
    let r = plan(&t, &cluster(), &s, "UTC", 45).unwrap();
    assert!(r.max_fires_per_day <= 2, "{}", r.yaml);
    // Every fire of a sample week, counted per UTC day, stays within 2.
    let start: Timestamp = "2024-02-05T00:00:00Z".parse().unwrap();
    let mut per_day = BTreeMap::new();
    for f in r.plan.fires(start, start + SignedDuration::from_hours(24 * 7)) {
        *per_day.entry(f.at.as_second() / 86_400).or_insert(0) += 1;
    }
    assert!(per_day.values().all(|&n| n <= 2), "{per_day:?}");
}

#[test]
fn cron_floor_maps_fires_to_steps_and_starts_from_the_last_fire() {
    let r = plan(&square_days(21), &cluster(), &spec(), "UTC", 45).unwrap();
    // Start at 12:00: the 07:59 fire (10) is in force; next fires at 20:00 (step 32 of 15 min)
    // and 07:59 next day (step 80 rounds 79.93 up).
    let start: Timestamp = "2024-02-01T12:00:00Z".parse().unwrap();
    let floor = cron_floor(&r.plan, start, 96, 900);
    assert_eq!(floor, Floor::Cron { initial: 10, fires: vec![(32, 1), (80, 10)] });
    let series = floor_series(&floor, 96);
    assert_eq!((series[31], series[32], series[79], series[80]), (10, 1, 1, 10));
}

#[test]
fn the_baseline_is_chosen_for_what_the_plan_runs() {
    // The plan runs 12 pods from 08:00 to 20:00 (100 req/s at 9 req/s per pod) and 2 at night
    // (10 req/s). A node holds 4 pods; an ECI pod costs 0.2205/h. One node all day covers
    // 4 × 12 + 2 × 12 = 72 pod-hours = 15.88 of ECI: cheaper than the node's 16.32 at 0.68/h.
    let r = plan(&square_days(21), &cluster(), &spec(), "UTC", 45).unwrap();
    assert_eq!(r.baseline_nodes, 0);
    // At 0.40/h a node costs 9.60 a day; nodes 1 to 3 each save at least 48 pod-hours (10.58).
    let mut cheap = cluster();
    cheap.pool.price_per_hour = 0.40;
    let r = plan(&square_days(21), &cheap, &spec(), "UTC", 45).unwrap();
    assert_eq!(r.baseline_nodes, 3);
    assert_eq!(r.hpa_min, 1);
    assert_eq!(r.hpa_max, 24, "twice the 12 pods of the fit window's peak");
}

#[test]
fn calendars_beside_the_cronhpa_are_read() {
    let text = "apiVersion: autoscaling.alibabacloud.com/v1beta1\nkind: CronHorizontalPodAutoscaler\n\
                metadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n\
                \x20 calendars: [{name: demo, as: workday}]\n\
                \x20 jobs: [{name: up, schedule: '0 0 8 * * MON-FRI', targetSize: 9, days: workdays}]\n\
                ---\napiVersion: diurnal.dev/v1alpha1\nkind: Calendar\nmetadata: {name: demo}\n\
                spec: {holidays: ['2026-10-01..2026-10-07'], workdays: ['2026-10-10']}\n";
    let plan = resolve_text(text, "UTC").unwrap();
    let fires: Vec<String> = plan
        .fires("2026-09-30T12:00:00Z".parse().unwrap(), "2026-10-11T00:00:00Z".parse().unwrap())
        .map(|f| f.at.to_string())
        .collect();
    assert_eq!(fires, ["2026-10-08T08:00:00Z", "2026-10-09T08:00:00Z", "2026-10-10T08:00:00Z"]);
    let broken = text.replace("'2026-10-10'", "'2026-10-03'");
    let err = resolve_text(&broken, "UTC").unwrap_err().to_string();
    assert!(err.contains("document 2: spec.workdays[0]: 2026-10-03 is both"), "{err}");
}
