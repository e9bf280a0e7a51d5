//! Calendars against the real control plane: a make-up Saturday fires the weekday job (the
//! controller's clock set to that Saturday by libfaketime), and a Calendar edit moves the next
//! fire of the CronHPA that names it.
//!
//! `DIURNAL_E2E_KUBECONFIG=... cargo test -p diurnal-e2e --test calendars` (about 5 s once the binary is built: the clock starts 4 s before the Saturday's 08:00).

use std::time::Duration;

use diurnal_api::Calendar;
use diurnal_e2e::launch::Launch;
use diurnal_e2e::{
    Controller, cluster_or_skip, create_cronhpa, create_deployment, cronhpa, cronhpa_status, deployment_ref,
    install_crd, namespace, replicas, try_wait_for,
};
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

fn at(tz: &TimeZone, day: Date, hour: i8, minute: i8, second: i8) -> Timestamp {
    day.at(hour, minute, second, 0).to_zoned(tz.clone()).unwrap().timestamp()
}

async fn next_fire(client: &Client, ns: &str) -> Option<Timestamp> {
    let status = cronhpa_status(client, ns, "web").await?;
    status.conditions.first()?.next_schedule_time.as_ref().map(|t| t.0)
}

#[tokio::test]
async fn a_make_up_saturday_fires_the_weekday_job_and_a_calendar_edit_moves_the_next_fire() {
    let client = cluster_or_skip!();
    install_crd(&client).await;
    let ns = namespace(&client, "calendar").await;
    let tz = TimeZone::get("Asia/Shanghai").unwrap();
    // The first Saturday whose 08:00 is at least two hours ahead (so it is after the creation).
    let earliest = Timestamp::now() + SignedDuration::from_hours(2);
    let mut saturday = earliest.to_zoned(tz.clone()).date();
    while saturday.weekday() != Weekday::Saturday || at(&tz, saturday, 8, 0, 0) < earliest {
        saturday = saturday.tomorrow().unwrap();
    }
    let monday = saturday.checked_add(jiff::Span::new().days(2)).unwrap();
    let tuesday = monday.tomorrow().unwrap();

    let calendars: Api<Calendar> = Api::namespaced(client.clone(), &ns);
    let calendar: Calendar = serde_json::from_value(json!({
        "apiVersion": "diurnal.dev/v1alpha1", "kind": "Calendar", "metadata": {"name": "cn"},
        "spec": {"source": "e2e", "workdays": [saturday.to_string()]},
    }))
    .unwrap();
    calendars.create(&PostParams::default(), &calendar).await.unwrap();
    create_deployment(&client, &ns, "web", 1).await;
    let mut obj = cronhpa(
        "web",
        &deployment_ref("web"),
        &json!([{"name": "up", "schedule": "0 0 8 * * MON-FRI", "targetSize": 3, "days": "workdays"}]),
    );
    obj["spec"]["timeZone"] = "Asia/Shanghai".into();
    obj["spec"]["calendars"] = json!([{"name": "cn", "as": "workday"}]);
    // The weekdays between now and the fake Saturday are missed fires, too old to catch up.
    obj["spec"]["startingDeadlineSeconds"] = 3.into();
    create_cronhpa(&client, &ns, obj).await;

    let launch = Launch { fake_now: Some(at(&tz, saturday, 7, 59, 56)), ..Launch::default() };
    let controller =
        Controller::start_with("calendar", &["--namespace", &ns, "--leader-election", "off"], &launch);
    let scaled = try_wait_for(Duration::from_secs(30), || async {
        (replicas(&client, &ns, "web").await == 3).then_some(())
    })
    .await;
    let status = cronhpa_status(&client, &ns, "web").await;
    assert!(scaled.is_some(), "the make-up Saturday did not fire: {status:#?}\n{}", controller.log_text());
    let saturday_8 = at(&tz, saturday, 8, 0, 0);
    let recorded = try_wait_for(Duration::from_secs(10), || async {
        let status = cronhpa_status(&client, &ns, "web").await?;
        let last = status.conditions.first()?.last_schedule_time.as_ref()?.0;
        (last == saturday_8).then_some(())
    })
    .await;
    let status = cronhpa_status(&client, &ns, "web").await;
    assert!(recorded.is_some(), "expected lastScheduleTime {saturday_8}: {status:#?}");

    // Sunday is a weekend day: the next fire is Monday's.
    let monday_8 = at(&tz, monday, 8, 0, 0);
    let planned = try_wait_for(Duration::from_secs(10), || async {
        (next_fire(&client, &ns).await == Some(monday_8)).then_some(())
    })
    .await;
    assert!(planned.is_some(), "next fire {:?}, expected {monday_8}", next_fire(&client, &ns).await);

    // Monday becomes a holiday: the fire moves to Tuesday.
    let edit = json!({"spec": {"holidays": [monday.to_string()]}});
    calendars.patch("cn", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
    let tuesday_8 = at(&tz, tuesday, 8, 0, 0);
    let moved = try_wait_for(Duration::from_secs(10), || async {
        (next_fire(&client, &ns).await == Some(tuesday_8)).then_some(())
    })
    .await;
    assert!(
        moved.is_some(),
        "after the edit the next fire is {:?}, expected {tuesday_8}\n{}",
        next_fire(&client, &ns).await,
        controller.log_text()
    );
    drop(controller);
}
