//! `deploy/argocd/health.lua`, the Argo CD health check, run by a real Lua interpreter (Debian
//! `lua5.4`) against sample CronHPAs built from the Rust types, so a renamed status field breaks
//! this test rather than every user's Argo CD.
//!
//! Skipped when `lua5.4` is not installed, unless `DIURNAL_REQUIRE_LUA` is set (`scripts/test`
//! sets it; `scripts/install-test-deps` installs the interpreter) or `CI` is `true`.

use std::path::Path;
use std::process::Command;

use diurnal_api::{
    CronHorizontalPodAutoscaler, CronHorizontalPodAutoscalerStatus, JobCondition, JobState, Summary,
    SummaryState,
};
use serde_json::Value;

/// `value` as a Lua table constructor (JSON null is Lua nil: the key is left out).
fn lua(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!("{{{}}}", items.iter().map(lua).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| format!("[{k:?}] = {}", lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn interpreter() -> Option<&'static str> {
    let found = Command::new("lua5.4").arg("-v").output().is_ok_and(|o| o.status.success());
    if !found {
        let required = std::env::var_os("DIURNAL_REQUIRE_LUA").is_some()
            || std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!required, "lua5.4 is required but not installed (apt-get install -y lua5.4)");
        eprintln!("skipped: no lua5.4 (apt-get install -y lua5.4)");
        return None;
    }
    Some("lua5.4")
}

/// Runs the health check on `obj` as Argo CD does (a global `obj`, the chunk returns `hs`).
fn health(lua_bin: &str, obj: &CronHorizontalPodAutoscaler) -> (String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/argocd/health.lua");
    let json = serde_json::to_value(obj).unwrap();
    let harness = format!(
        "obj = {}\nlocal hs = dofile({:?})\nio.write(hs.status, \"\\t\", hs.message or \"\")\n",
        lua(&json),
        script.display().to_string()
    );
    let out = Command::new(lua_bin).args(["-e", &harness]).output().unwrap();
    assert!(out.status.success(), "lua failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, message) = text.split_once('\t').unwrap();
    (status.to_owned(), message.to_owned())
}

fn sample(generation: i64, status: Option<CronHorizontalPodAutoscalerStatus>) -> CronHorizontalPodAutoscaler {
    let mut obj: CronHorizontalPodAutoscaler = serde_json::from_value(serde_json::json!({
        "apiVersion": "autoscaling.alibabacloud.com/v1beta1",
        "kind": "CronHorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop", "generation": generation},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "jobs": [{"name": "up", "schedule": "0 0 9 * * *", "targetSize": 5}],
        },
    }))
    .unwrap();
    obj.status = status;
    obj
}

fn with_summary(observed: i64, state: SummaryState, message: &str) -> CronHorizontalPodAutoscalerStatus {
    CronHorizontalPodAutoscalerStatus {
        observed_generation: Some(observed),
        summary: Some(Summary { state, message: message.into() }),
        ..Default::default()
    }
}

#[test]
fn the_argocd_health_check_reads_the_summary_and_the_observed_generation() {
    let Some(lua_bin) = interpreter() else { return };
    let cases = [
        (sample(1, None), "Progressing", "Waiting for the controller to plan this CronHPA"),
        (
            sample(3, Some(with_summary(2, SummaryState::Ready, "1 jobs planned"))),
            "Progressing",
            "Waiting for the controller to plan generation 3",
        ),
        (
            sample(2, Some(with_summary(2, SummaryState::Ready, "1 jobs planned"))),
            "Healthy",
            "1 jobs planned",
        ),
        (
            sample(2, Some(with_summary(2, SummaryState::Degraded, "job up: Deployment shop/web not found"))),
            "Degraded",
            "job up: Deployment shop/web not found",
        ),
        (
            sample(2, Some(with_summary(2, SummaryState::Progressing, "job up: retrying: conflict"))),
            "Progressing",
            "job up: retrying: conflict",
        ),
        (
            sample(2, Some(with_summary(2, SummaryState::Suspended, "spec.suspend is true"))),
            "Suspended",
            "spec.suspend is true",
        ),
    ];
    for (obj, status, message) in cases {
        assert_eq!(health(lua_bin, &obj), (status.to_owned(), message.to_owned()), "{:?}", obj.status);
    }
}

#[test]
fn the_argocd_health_check_reads_the_old_controllers_status() {
    let Some(lua_bin) = interpreter() else { return };
    let condition =
        |state| JobCondition { name: "up".into(), state, message: "boom".into(), ..Default::default() };
    let old = |state| CronHorizontalPodAutoscalerStatus {
        conditions: vec![condition(state)],
        ..Default::default()
    };
    assert_eq!(health(lua_bin, &sample(1, Some(old(JobState::Succeed)))), ("Healthy".into(), String::new()));
    assert_eq!(
        health(lua_bin, &sample(1, Some(old(JobState::Failed)))),
        ("Degraded".into(), "job up: boom".into())
    );
}
