//! The recent executions of CronHPAs (`status.jobHistories`), one line each: shared by
//! `kubectl cronhpa history NAME` and `diurnal next -f FILE --history`.

use diurnal_api::CronHorizontalPodAutoscaler;

use crate::commands::next::format_instant;

/// The header of [`history_lines`].
pub const HEADER: &str = "SCHEDULED\tAPPLIED\tCRONHPA\tJOB\tKIND\tRESULT\tCHANGES\tMESSAGE";

/// One line per execution recorded in each object's status, oldest first across its jobs (the
/// order they fired in): `SCHEDULED<TAB>APPLIED<TAB>NS/NAME<TAB>JOB<TAB>KIND<TAB>RESULT<TAB>
/// CHANGES<TAB>MESSAGE`. An object whose status records none adds no line.
pub fn history_lines(objects: &[&CronHorizontalPodAutoscaler]) -> Vec<String> {
    let mut lines = Vec::new();
    for object in objects {
        let namespace = object.metadata.namespace.as_deref().unwrap_or("default");
        let name = object.metadata.name.as_deref().unwrap_or("");
        let Some(status) = &object.status else { continue };
        let mut executions: Vec<_> =
            status.job_histories.iter().flat_map(|h| h.executions.iter().map(move |e| (h, e))).collect();
        // Stable: executions of one instant keep their job order.
        executions.sort_by_key(|(_, e)| e.schedule_time.0);
        for (history, e) in executions {
            lines.push(format!(
                "{}\t{}\t{namespace}/{name}\t{}\t{:?}\t{:?}\t{}\t{}",
                format_instant(e.schedule_time.0),
                format_instant(e.execution_time.0),
                history.name,
                e.kind,
                e.result,
                e.changes,
                // One line per execution, whatever the message holds.
                e.message.replace(['\n', '\t'], " "),
            ));
        }
    }
    lines
}

/// Prints [`HEADER`] and [`history_lines`], or `when_empty` when there are none.
pub fn print(objects: &[&CronHorizontalPodAutoscaler], when_empty: &str) {
    let lines = history_lines(objects);
    if lines.is_empty() {
        println!("{when_empty}");
        return;
    }
    println!("{HEADER}");
    for line in lines {
        println!("{line}");
    }
}
