//! The resolution's rules, one test each.
use super::*;
use crate::Job;

fn job(name: &str, schedule: &str, size: i32) -> Job {
    Job { name: name.into(), schedule: schedule.into(), target_size: Some(size), ..Job::default() }
}

fn spec(jobs: Vec<Job>) -> CronHorizontalPodAutoscalerSpec {
    CronHorizontalPodAutoscalerSpec {
        scale_target_ref: ScaleTargetRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
        },
        exclude_dates: vec![],
        jobs,
        ..CronHorizontalPodAutoscalerSpec::default()
    }
}

fn errors(r: &Resolution) -> Vec<String> {
    r.findings.iter().filter(|f| f.is_error()).map(ToString::to_string).collect()
}

#[test]
fn a_valid_spec_plans_every_job_in_its_zone() {
    let mut s = spec(vec![job("up", "0 0 9 * * *", 5), job("down", "0 0 21 * * *", 1)]);
    s.time_zone = Some("Asia/Shanghai".into());
    s.jobs[1].time_zone = Some("Europe/Berlin".into());
    let r = resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    assert!(r.is_valid(), "{:?}", r.findings);
    assert_eq!(r.spec_index, vec![0, 1]);
    assert_eq!(r.plan.jobs[0].zone.iana_name(), Some("Asia/Shanghai"));
    assert_eq!(r.plan.jobs[1].zone.iana_name(), Some("Europe/Berlin"));
    assert_eq!(r.plan.zone.iana_name(), Some("Asia/Shanghai"));
}

#[test]
fn the_default_zone_applies_when_neither_object_nor_job_names_one() {
    let shanghai = resolve_zone("Asia/Shanghai").unwrap();
    let r = resolve(&spec(vec![job("up", "@daily", 1)]), &shanghai, Timestamp::UNIX_EPOCH);
    assert_eq!(r.plan.jobs[0].zone.iana_name(), Some("Asia/Shanghai"));
}

#[test]
fn a_bad_job_is_left_out_and_named_while_good_jobs_still_run() {
    let r = resolve(
        &spec(vec![job("ok", "@hourly", 1), job("bad", "0 0 25 * * *", 2), job("neg", "@daily", -1)]),
        &TimeZone::UTC,
        Timestamp::UNIX_EPOCH,
    );
    assert_eq!(r.spec_index, vec![0]);
    let errs = errors(&r);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("spec.jobs[1].schedule: "), "{errs:?}");
    assert_eq!(errs[1], "spec.jobs[2].targetSize: must be zero or more replicas, got -1");
    assert!(r.job_error(0).is_none());
    assert!(r.job_error(1).unwrap().contains("spec.jobs[1].schedule"));
}

#[test]
fn duplicate_job_names_point_at_the_first_use() {
    let r = resolve(
        &spec(vec![job("a", "@daily", 1), job("a", "@hourly", 2)]),
        &TimeZone::UTC,
        Timestamp::UNIX_EPOCH,
    );
    assert_eq!(
        errors(&r),
        vec!["spec.jobs[1].name: duplicate job name \"a\" (already used by spec.jobs[0])".to_string()]
    );
    assert_eq!(r.spec_index, vec![0]);
}

#[test]
fn an_unknown_zone_is_an_error_that_stops_every_job_depending_on_it() {
    let mut s = spec(vec![job("a", "@daily", 1)]);
    s.time_zone = Some("Mars/Olympus".into());
    let r = resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    assert!(r.plan.jobs.is_empty());
    assert!(errors(&r)[0].starts_with("spec.timeZone: "));
    assert!(r.job_error(0).unwrap().contains("Mars/Olympus"));
}

#[test]
fn a_bad_exclusion_stops_the_object_rather_than_guessing_which_days_to_skip() {
    let mut s = spec(vec![job("a", "@daily", 1)]);
    s.exclude_dates = vec!["2026-13-45".into()];
    let r = resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    assert!(r.plan.jobs.is_empty());
    assert!(errors(&r)[0].starts_with("spec.excludeDates[0]: "));
}

#[test]
fn target_reference_shape_is_checked_field_by_field() {
    let mut s = spec(vec![job("a", "@daily", 1)]);
    s.scale_target_ref =
        ScaleTargetRef { api_version: "apps v1".into(), kind: "deployment".into(), name: "Web_1".into() };
    let paths: Vec<String> =
        resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH).findings.into_iter().map(|f| f.path).collect();
    assert_eq!(
        paths,
        ["spec.scaleTargetRef.apiVersion", "spec.scaleTargetRef.kind", "spec.scaleTargetRef.name"]
    );
}

fn warnings(r: &Resolution) -> Vec<String> {
    r.findings.iter().filter(|f| !f.is_error()).map(ToString::to_string).collect()
}

fn targeting(api_version: &str, kind: &str, size: i32) -> Resolution {
    let mut s = spec(vec![job("a", "@daily", size)]);
    s.scale_target_ref =
        ScaleTargetRef { api_version: api_version.into(), kind: kind.into(), name: "web".into() };
    resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH)
}

#[test]
fn hpa_targets_need_the_autoscaling_group_and_warn_on_a_zero_size() {
    let r = targeting("apps/v1", "HorizontalPodAutoscaler", 1);
    assert_eq!(errors(&r).len(), 1, "{:?}", r.findings);
    assert!(errors(&r)[0].starts_with("spec.scaleTargetRef.apiVersion: "), "{:?}", r.findings);
    let r = targeting("autoscaling/v2", "HorizontalPodAutoscaler", 0);
    assert!(r.is_valid(), "{:?}", r.findings);
    let w = warnings(&r);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("spec.jobs[0].targetSize: ") && w[0].contains("scaled to 0"), "{w:?}");
}

#[test]
fn versions_of_the_old_controllers_manifests_are_accepted_with_a_warning() {
    let cases = [
        ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "since Kubernetes 1.25", "uses autoscaling/v2"),
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "since Kubernetes 1.26", "uses autoscaling/v2"),
        ("apps/v1beta2", "Deployment", "since Kubernetes 1.16", "uses apps/v1"),
        ("apps/v1beta1", "StatefulSet", "since Kubernetes 1.16", "uses apps/v1"),
        ("extensions/v1beta1", "Deployment", "since Kubernetes 1.16", "uses apps/v1"),
    ];
    for (api, kind, since, uses) in cases {
        let r = targeting(api, kind, 2);
        assert!(r.is_valid(), "{api} {kind}: {:?}", r.findings);
        let w = warnings(&r);
        assert_eq!(w.len(), 1, "{api} {kind}: {w:?}");
        assert!(w[0].starts_with("spec.scaleTargetRef.apiVersion: "), "{w:?}");
        assert!(w[0].contains(since) && w[0].contains(uses), "{w:?}");
    }
    for (api, kind) in [("apps/v1", "Deployment"), ("autoscaling/v1", "HorizontalPodAutoscaler")] {
        assert!(warnings(&targeting(api, kind, 2)).is_empty(), "{api} {kind}");
    }
}

#[test]
fn schedules_that_can_never_fire_are_errors_and_past_dates_warnings() {
    for never in ["0 0 0 30W 2 *", "@date 9999-12-31 23:59:59"] {
        let r = resolve(&spec(vec![job("a", never, 1)]), &TimeZone::UTC, Timestamp::UNIX_EPOCH);
        assert!(
            errors(&r).iter().any(|e| e.starts_with("spec.jobs[0].schedule: ") && e.contains("never fire")),
            "{never}: {:?}",
            r.findings
        );
    }
    let s = spec(vec![job("past", "@date 2020-01-01 00:00:00", 1), job("daily", "@daily", 1)]);
    let r = resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    assert!(r.is_valid(), "a past date is valid: {:?}", r.findings);
    let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let warned: Vec<String> = future_findings(&s, &r, now).into_iter().map(|f| f.to_string()).collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].starts_with("spec.jobs[0].schedule: ") && warned[0].contains("will not fire"));
    let later: Vec<String> = future_findings(&s, &r, now + jiff::SignedDuration::from_secs(7))
        .into_iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(later, warned, "the warning must not change with the clock (it goes into the status)");
}

#[test]
fn five_field_schedules_warn_about_the_old_reading_but_stay_valid() {
    let r = resolve(&spec(vec![job("a", "0 8 * * *", 1)]), &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    assert!(r.is_valid());
    assert!(r.findings.iter().any(|f| !f.is_error() && f.path == "spec.jobs[0].schedule"));
}

#[test]
fn oversized_content_is_refused_field_by_field_without_reading_past_the_bounds() {
    let mut s = spec((0..limits::MAX_JOBS + 10).map(|i| job(&format!("j{i}"), "@daily", 1)).collect());
    s.exclude_dates = vec!["2026-10-01".into(); limits::MAX_EXCLUDE_DATES + 1];
    s.starting_deadline_seconds = Some(limits::MAX_STARTING_DEADLINE_SECONDS + 1);
    s.jobs[0].name = "n".repeat(limits::MAX_JOB_NAME + 1);
    s.jobs[1].schedule = format!("0 0 9 * * {}", "MON,".repeat(100));
    s.jobs[2].target_size = Some(limits::MAX_TARGET_SIZE + 1);
    s.jobs[3].time_zone = Some("Z".repeat(limits::MAX_TIME_ZONE + 1));
    // Past the first MAX_JOBS: never read, so never reported.
    s.jobs[limits::MAX_JOBS + 5].schedule = "not a schedule".into();
    let r = resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    let errs = errors(&r);
    let paths: Vec<&str> = r.findings.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.excludeDates",
            "spec.startingDeadlineSeconds",
            "spec.jobs",
            "spec.jobs[0].name",
            "spec.jobs[1].schedule",
            "spec.jobs[2].targetSize",
            "spec.jobs[3].timeZone"
        ],
        "{errs:?}"
    );
    assert!(errs[0].contains("at most 256 entries, got 257"), "{errs:?}");
    assert!(errs[2].contains("at most 64 jobs, got 74"), "{errs:?}");
    assert!(errs[3].contains("at most 63 characters, got 64"), "{errs:?}");
    assert!(errs[5].contains("at most 100000 replicas"), "{errs:?}");
    assert!(r.plan.jobs.is_empty(), "an oversized object runs no job");
}

#[test]
fn jobs_firing_closer_than_the_minimum_interval_are_refused() {
    let s = spec(vec![
        job("fast", "*/5 * * * * *", 1),
        job("minute", "0 * * * * *", 1),
        job("every", "@every 30s", 1),
        job("once", "@date 2027-01-01 00:00:00", 1),
    ]);
    let r = resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    assert_eq!(r.spec_index, vec![1, 3], "{:?}", r.findings);
    let errs = errors(&r);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("spec.jobs[0].schedule: \"*/5 * * * * *\" fires 5s apart"), "{errs:?}");
    assert!(errs[0].contains("at most once every 1m"), "{errs:?}");
    assert!(errs[1].starts_with("spec.jobs[2].schedule: \"@every 30s\" fires 30s apart"), "{errs:?}");
    let fast = Limits { min_fire_interval: jiff::SignedDuration::from_secs(5) };
    let r = resolve_with(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH, &fast);
    assert!(r.is_valid(), "5 s apart is allowed at a 5 s minimum: {:?}", r.findings);
    assert!(resolve_with(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH, &Limits::NONE).is_valid());
}

#[test]
fn negative_deadlines_and_empty_job_lists_are_errors() {
    let mut s = spec(vec![]);
    s.starting_deadline_seconds = Some(-5);
    let paths: Vec<String> =
        resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH).findings.into_iter().map(|f| f.path).collect();
    assert_eq!(paths, ["spec.startingDeadlineSeconds", "spec.jobs"]);
}

fn hpa_spec(jobs: Vec<Job>) -> CronHorizontalPodAutoscalerSpec {
    let mut s = spec(jobs);
    s.scale_target_ref = ScaleTargetRef {
        api_version: "autoscaling/v2".into(),
        kind: "HorizontalPodAutoscaler".into(),
        name: "web".into(),
    };
    s
}

fn bounds(name: &str, min: Option<i32>, max: Option<i32>) -> Job {
    Job {
        name: name.into(),
        schedule: "0 0 8 * * *".into(),
        target_min_replicas: min,
        target_max_replicas: max,
        ..Job::default()
    }
}

#[test]
fn floors_and_ceilings_plan_on_an_hpa_target() {
    let s = hpa_spec(vec![bounds("day", Some(10), Some(60)), bounds("night", Some(2), Some(20))]);
    let r = resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    assert!(r.is_valid(), "{:?}", r.findings);
    assert_eq!(job_size(&s, &s.jobs[0]), Size::Bounds { min: Some(10), max: Some(60) });
    assert_eq!(r.plan.jobs[1].target_size, 2, "the simulator reads the floor");
    let mut exact = hpa_spec(vec![job("up", "0 0 9 * * *", 5)]);
    assert_eq!(job_size(&exact, &exact.jobs[0]), Size::Replicas(5));
    exact.hpa_mode = Some(HpaMode::Exact);
    assert_eq!(job_size(&exact, &exact.jobs[0]), Size::Exact(5));
}

#[test]
fn contradicting_sizes_are_refused_with_their_field_path() {
    let cases = [
        (bounds("j", Some(8), Some(3)), "spec.jobs[0].targetMinReplicas: 8 is above targetMaxReplicas 3"),
        (bounds("j", None, None), "spec.jobs[0].targetSize: required (or targetMinReplicas"),
        (Job { target_size: Some(4), ..bounds("j", Some(2), None) }, "spec.jobs[0].targetSize: set either"),
        (bounds("j", Some(0), None), "spec.jobs[0].targetMinReplicas: must be 1 or more"),
    ];
    for (job, want) in cases {
        let r = resolve(&hpa_spec(vec![job]), &TimeZone::UTC, Timestamp::UNIX_EPOCH);
        let found = errors(&r);
        assert!(found.iter().any(|e| e.starts_with(want)), "want {want:?} in {found:?}");
        assert!(r.plan.jobs.is_empty(), "a contradicting job does not run");
    }
}

#[test]
fn a_workload_target_needs_target_size_and_refuses_bounds() {
    let r = resolve(&spec(vec![bounds("j", Some(2), Some(4))]), &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    let found = errors(&r);
    assert!(
        found.iter().any(|e| e.starts_with(
            "spec.jobs[0].targetMinReplicas: targetMinReplicas and targetMaxReplicas apply to a \
             HorizontalPodAutoscaler target only"
        )),
        "{found:?}"
    );
    let r = resolve(&spec(vec![bounds("j", None, None)]), &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    assert_eq!(errors(&r), ["spec.jobs[0].targetSize: required: the replicas to set at each fire"]);
}

#[test]
fn hpa_controls_are_checked_against_the_target() {
    let mut s = hpa_spec(vec![job("up", "0 0 9 * * *", 5)]);
    s.hpa_coordination = Some(false);
    s.history_limit = Some(33);
    let r = resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH);
    let found = errors(&r);
    assert!(
        found.iter().any(|e| e.starts_with("spec.hpaCoordination: off applies to workload targets")),
        "{found:?}"
    );
    assert!(found.iter().any(|e| e.starts_with("spec.historyLimit: at most 32")), "{found:?}");
    let mut s = spec(vec![job("up", "0 0 9 * * *", 5)]);
    s.hpa_coordination = Some(false);
    s.history_limit = Some(0);
    assert!(resolve(&s, &TimeZone::UTC, Timestamp::UNIX_EPOCH).is_valid());
    assert_eq!(history_limit(&s), 0);
    assert_eq!(history_limit(&spec(vec![])), 5);
}
