use super::*;
use crate::{ExcludeDate, resolve_zone};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn job(name: &str, schedule: &str, target_size: i32) -> JobPlan {
    JobPlan {
        name: name.to_owned(),
        schedule: Schedule::parse(schedule).unwrap(),
        zone: TimeZone::UTC,
        target_size,
        run_once: false,
        days: Days::All,
    }
}

/// The sample manifest from the issue.
fn sample() -> Plan {
    let mut once = job("once", "0 0 9 * * *", 2);
    once.run_once = true;
    Plan {
        jobs: vec![
            job("scale-down", "30 */1 * * * *", 1),
            job("scale-up", "0 */1 * * * *", 3),
            job("launch", "@date 2026-11-16 23:59:00", 5),
            once,
        ],
        exclusions: vec![
            ExcludeDate::parse("* * * 15 11 *").unwrap(),
            ExcludeDate::parse("* * * * * 5").unwrap(),
        ],
        zone: TimeZone::UTC,
        origin: ts("2026-01-01T00:00:00Z"),
        calendar: Calendar::default(),
    }
}

fn show(fires: impl Iterator<Item = Fire>) -> Vec<String> {
    fires
        .map(|f| format!("{} {} {}{}", f.at, f.job, f.target_size, if f.excluded { " excluded" } else { "" }))
        .collect()
}

#[test]
fn fires_merge_jobs_in_order() {
    let plan = sample();
    let got = show(plan.fires(ts("2026-11-16T08:58:45Z"), ts("2026-11-16T09:01:00Z")));
    assert_eq!(
        got,
        [
            "2026-11-16T08:59:00Z 1 3",
            "2026-11-16T08:59:30Z 0 1",
            "2026-11-16T09:00:00Z 1 3",
            "2026-11-16T09:00:00Z 3 2",
            "2026-11-16T09:00:30Z 0 1",
            "2026-11-16T09:01:00Z 1 3",
        ]
    );
}

#[test]
fn bounds_are_after_exclusive_until_inclusive() {
    let plan = sample();
    let got = show(plan.fires(ts("2026-11-16T09:00:00Z"), ts("2026-11-16T09:00:30Z")));
    assert_eq!(got, ["2026-11-16T09:00:30Z 0 1"]);
    assert_eq!(plan.fires(ts("2026-11-16T09:00:00Z"), ts("2026-11-16T09:00:00Z")).count(), 0);
    assert_eq!(plan.fires(ts("2026-11-16T09:00:00Z"), ts("2026-11-15T09:00:00Z")).count(), 0);
}

#[test]
fn excluded_days_are_marked() {
    let plan = sample();
    let day = |d: &str| {
        plan.fires(ts(&format!("{d}T08:59:59Z")), ts(&format!("{d}T09:00:00Z")))
            .map(|f| f.excluded)
            .collect::<Vec<_>>()
    };
    // Nov 15 and Friday Nov 20 excluded; Nov 3 and Nov 14 not (the old controller's bug).
    assert_eq!(day("2026-11-15"), [true, true]);
    assert_eq!(day("2026-11-20"), [true, true]);
    assert_eq!(day("2026-11-03"), [false, false]);
    assert_eq!(day("2026-11-14"), [false, false]);
}

#[test]
fn run_once_job_stops_after_its_first_fire_that_scales() {
    let plan = sample();
    // From Thursday Nov 19: the Friday fire is excluded, Saturday's scales and is the last.
    let once: Vec<_> = plan
        .fires(ts("2026-11-19T10:00:00Z"), ts("2026-11-25T10:00:00Z"))
        .filter(|f| f.job == 3)
        .map(|f| (f.at.to_string(), f.excluded))
        .collect();
    assert_eq!(once, [("2026-11-20T09:00:00Z".to_owned(), true), ("2026-11-21T09:00:00Z".to_owned(), false)]);
}

#[test]
fn one_shot_date_appears_once() {
    let plan = sample();
    let launch: Vec<_> = plan
        .fires(ts("2026-11-01T00:00:00Z"), ts("2026-12-31T00:00:00Z"))
        .filter(|f| f.job == 2)
        .map(|f| f.at.to_string())
        .collect();
    assert_eq!(launch, ["2026-11-16T23:59:00Z"]);
}

#[test]
fn next_fire_and_last_fire() {
    let plan = sample();
    let next = plan.next_fire(ts("2026-11-16T09:00:00Z")).unwrap();
    assert_eq!((next.at, next.job), (ts("2026-11-16T09:00:30Z"), 0));
    assert_eq!(
        plan.last_fire_at_or_before(0, ts("2026-11-16T09:00:29Z"), ts("2026-11-16T00:00:00Z")),
        Some(ts("2026-11-15T08:59:30Z").checked_add(jiff::SignedDuration::from_hours(24)).unwrap())
    );
    assert_eq!(
        plan.last_fire_at_or_before(0, ts("2026-11-16T09:00:30Z"), ts("2026-11-16T00:00:00Z")),
        Some(ts("2026-11-16T09:00:30Z"))
    );
    // not_before is exclusive.
    assert_eq!(plan.last_fire_at_or_before(0, ts("2026-11-16T09:00:30Z"), ts("2026-11-16T09:00:30Z")), None);
    assert_eq!(
        plan.last_fire_at_or_before(2, ts("2027-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z")),
        Some(ts("2026-11-16T23:59:00Z"))
    );
    assert_eq!(plan.last_fire_at_or_before(2, ts("2026-11-16T23:58:59Z"), ts("2026-01-01T00:00:00Z")), None);
    assert_eq!(plan.last_fire_at_or_before(9, ts("2026-11-16T23:58:59Z"), ts("2026-01-01T00:00:00Z")), None);
}

#[test]
fn last_fire_of_a_ten_second_job_over_days_is_quick() {
    let mut plan = sample();
    plan.jobs = vec![job("tick", "*/10 * * * * *", 1)];
    let at = ts("2026-11-20T12:34:56Z");
    assert_eq!(
        plan.last_fire_at_or_before(0, at, ts("2026-11-01T00:00:00Z")),
        Some(ts("2026-11-20T12:34:50Z"))
    );
}

#[test]
fn jobs_in_their_own_zones_exclusions_in_the_objects() {
    let shanghai = resolve_zone("Asia/Shanghai").unwrap();
    let mut tokyo_job = job("tokyo", "0 0 0 * * *", 4);
    tokyo_job.zone = resolve_zone("Asia/Tokyo").unwrap();
    let plan = Plan {
        jobs: vec![tokyo_job],
        exclusions: vec![ExcludeDate::parse("2026-11-15").unwrap()],
        zone: shanghai,
        origin: ts("2026-01-01T00:00:00Z"),
        calendar: Calendar::default(),
    };
    // Tokyo midnight of the 16th is 23:00 on the 15th in Shanghai: excluded.
    let fires: Vec<_> = plan
        .fires(ts("2026-11-14T00:00:00Z"), ts("2026-11-16T00:00:00Z"))
        .map(|f| (f.at.to_string(), f.excluded))
        .collect();
    assert_eq!(
        fires,
        [("2026-11-14T15:00:00Z".to_owned(), false), ("2026-11-15T15:00:00Z".to_owned(), true)]
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const EXPRESSIONS: [&str; 10] = [
        "0 */7 * * * *",
        "30 0 9 * * MON-FRI",
        "0 30 2 * * *",
        "0 0,30 1 * * *",
        "*/45 * * * * *",
        "@hourly",
        "@every 5000s",
        "@date 2026-03-29 02:30:00",
        "0 0 18 L * *",
        "15 10 * * *",
    ];
    const ZONES: [&str; 4] = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"];
    const EXCLUSIONS: [&str; 4] = ["* * * * * 5", "2026-03-29", "2026-10-20..2026-10-26", "* * * 1 * *"];

    fn plan() -> impl Strategy<Value = Plan> {
        let jobs = prop::collection::vec((0..EXPRESSIONS.len(), 0..ZONES.len(), any::<bool>()), 1..5);
        let exclusions = prop::collection::vec(0..EXCLUSIONS.len(), 0..3);
        (jobs, exclusions, 0..ZONES.len(), 0i64..86_400).prop_map(|(jobs, exclusions, zone, origin)| Plan {
            jobs: jobs
                .into_iter()
                .enumerate()
                .map(|(i, (e, z, run_once))| JobPlan {
                    name: format!("job-{i}"),
                    schedule: Schedule::parse(EXPRESSIONS[e]).unwrap(),
                    zone: resolve_zone(ZONES[z]).unwrap(),
                    target_size: i32::try_from(i).unwrap(),
                    run_once,
                    days: Days::All,
                })
                .collect(),
            exclusions: exclusions.into_iter().map(|x| ExcludeDate::parse(EXCLUSIONS[x]).unwrap()).collect(),
            zone: resolve_zone(ZONES[zone]).unwrap(),
            origin: ts("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_secs(origin),
            calendar: Calendar::default(),
        })
    }

    fn window() -> impl Strategy<Value = (Timestamp, Timestamp)> {
        // Windows of up to three days within 2026, DST changes included.
        (1_767_225_600i64..1_798_761_600, 0i64..3 * 86_400).prop_map(|(a, len)| {
            (Timestamp::from_second(a).unwrap(), Timestamp::from_second(a + len).unwrap())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn fires_are_the_ordered_merge_of_each_jobs_fires(plan in plan(), (after, until) in window()) {
            let merged: Vec<Fire> = plan.fires(after, until).collect();
            for pair in merged.windows(2) {
                prop_assert!((pair[0].at, pair[0].job) < (pair[1].at, pair[1].job));
            }
            for (j, job) in plan.jobs.iter().enumerate() {
                // Each job's own stream, computed one fire at a time.
                let mut expected = Vec::new();
                let mut at = after;
                while let Some(next) = job.schedule.next_after(at, &job.zone, plan.origin) {
                    if next > until {
                        break;
                    }
                    let excluded = crate::is_excluded(&plan.exclusions, next, &plan.zone);
                    expected.push(Fire { at: next, job: j, target_size: job.target_size, excluded });
                    if job.run_once && !excluded {
                        break;
                    }
                    at = next;
                }
                let got: Vec<Fire> = merged.iter().filter(|f| f.job == j).copied().collect();
                prop_assert_eq!(&got, &expected, "job {}", j);
                if !job.run_once {
                    let last = plan.last_fire_at_or_before(j, until, after);
                    prop_assert_eq!(last, expected.last().map(|f| f.at), "last fire of job {}", j);
                }
            }
            prop_assert_eq!(plan.next_fire(after), plan.fires(after, Timestamp::MAX).next());
        }
    }
}
