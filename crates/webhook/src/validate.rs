//! Validating admission for CronHPAs and Calendars, without I/O: the same findings
//! `diurnal validate` reports (one decision, in `diurnal-api`'s resolve), as a refusal naming the
//! field paths for errors and as admission warnings (`kubectl apply` prints `Warning:`) for the
//! rest, plus warnings about conflicts with the namespace's other CronHPAs.
//!
//! The [`Index`] is what the webhook knows of the cluster: per namespace, each CronHPA's target
//! (a few strings, not the object) and the resolved Calendars, fed by a watch. Only a change of
//! `spec` is checked: an update that leaves it alone (the controller's finalizer, a label) is let
//! through untouched, so an object stored before a rule existed can still be managed and deleted.

use std::collections::{BTreeMap, HashMap};

use diurnal_api::manifest::Document;
use diurnal_api::{
    Calendar, Calendars, CronHorizontalPodAutoscaler, Finding, Limits, ScaleTargetRef, future_findings,
    resolve_calendar, resolve_object_in,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A workload named by kind and name (in the namespace at hand).
pub type WorkloadName = (String, String);

/// What the webhook knows of the cluster's CronHPAs and Calendars.
#[derive(Debug, Default)]
pub struct Index {
    targets: HashMap<String, BTreeMap<String, ScaleTargetRef>>,
    calendars: HashMap<String, Calendars>,
}

impl Index {
    /// Records a CronHPA's target.
    pub fn apply_cronhpa(&mut self, obj: &CronHorizontalPodAutoscaler) {
        let (ns, name) = key(&obj.metadata);
        self.targets.entry(ns).or_default().insert(name, obj.spec.scale_target_ref.clone());
    }

    /// Forgets a CronHPA.
    pub fn remove_cronhpa(&mut self, namespace: &str, name: &str) {
        if let Some(m) = self.targets.get_mut(namespace) {
            m.remove(name);
            if m.is_empty() {
                self.targets.remove(namespace);
            }
        }
    }

    /// Records a Calendar, resolved.
    pub fn apply_calendar(&mut self, cal: &Calendar) {
        let (ns, name) = key(&cal.metadata);
        self.calendars.entry(ns).or_default().insert(&name, &cal.spec);
    }

    /// Forgets a Calendar.
    pub fn remove_calendar(&mut self, namespace: &str, name: &str) {
        if let Some(c) = self.calendars.get_mut(namespace) {
            c.remove(name);
            if c.is_empty() {
                self.calendars.remove(namespace);
            }
        }
    }

    /// Forgets every CronHPA (before a re-list).
    pub fn clear_cronhpas(&mut self) {
        self.targets.clear();
    }

    /// Forgets every Calendar (before a re-list).
    pub fn clear_calendars(&mut self) {
        self.calendars.clear();
    }

    /// The HPAs whose targets a review of `obj` in `namespace` needs: its own target when that is
    /// an HPA, and the HPA targets of the namespace's other CronHPAs when it targets a workload.
    pub fn hpas_to_look_up(&self, namespace: &str, obj: &CronHorizontalPodAutoscaler) -> Vec<String> {
        let own = &obj.spec.scale_target_ref;
        if own.kind == HPA {
            return vec![own.name.clone()];
        }
        let me = obj.metadata.name.as_deref().unwrap_or_default();
        self.targets
            .get(namespace)
            .into_iter()
            .flatten()
            .filter(|(name, t)| name.as_str() != me && t.kind == HPA)
            .map(|(_, t)| t.name.clone())
            .collect()
    }
}

const HPA: &str = "HorizontalPodAutoscaler";

fn key(meta: &kube::api::ObjectMeta) -> (String, String) {
    (meta.namespace.clone().unwrap_or_else(|| "default".into()), meta.name.clone().unwrap_or_default())
}

/// What to answer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Why the object is refused (every error, `path: message`, joined by `; `).
    pub denied: Option<String>,
    /// Admission warnings, `path: message`.
    pub warnings: Vec<String>,
}

impl Verdict {
    fn of(findings: impl IntoIterator<Item = Finding>) -> Self {
        let (errors, warnings): (Vec<Finding>, Vec<Finding>) =
            findings.into_iter().partition(Finding::is_error);
        let denied = (!errors.is_empty())
            .then(|| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "));
        Self { denied, warnings: warnings.iter().map(ToString::to_string).collect() }
    }
}

/// How CronHPAs are checked: the controller's limits and default zone.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The controller's `--min-fire-interval`.
    pub limits: Limits,
    /// The controller's `--default-time-zone`.
    pub default_zone: TimeZone,
}

/// Checks a CronHPA being created or updated in `namespace`. `hpa_workloads` maps the HPAs of
/// [`Index::hpas_to_look_up`] to the workload each scales (missing: unknown, not checked).
pub fn review_cronhpa<S: std::hash::BuildHasher>(
    object: &serde_json::Value,
    namespace: &str,
    index: &Index,
    hpa_workloads: &HashMap<String, WorkloadName, S>,
    rules: &Rules,
    now: Timestamp,
) -> Verdict {
    let doc = Document { index: 1, value: object.clone() };
    let obj = match doc.decode_cronhpa() {
        Ok(obj) => obj,
        Err(finding) => return Verdict::of([finding]),
    };
    let none = Calendars::none();
    let calendars = index.calendars.get(namespace).unwrap_or(&none);
    let resolution = resolve_object_in(&obj, &rules.default_zone, &rules.limits, calendars);
    let later = future_findings(&obj.spec, &resolution, now);
    let conflicts = conflicts(&obj, namespace, index, hpa_workloads);
    Verdict::of(resolution.findings.into_iter().chain(later).chain(conflicts))
}

/// Checks a Calendar being created or updated.
pub fn review_calendar(object: &serde_json::Value) -> Verdict {
    let doc = Document { index: 1, value: object.clone() };
    match doc.decode_calendar() {
        Ok(cal) => Verdict::of(resolve_calendar(&cal.spec).findings),
        Err(finding) => Verdict::of([finding]),
    }
}

/// Other CronHPAs of the namespace that scale the same workload, directly or through its HPA.
fn conflicts<S: std::hash::BuildHasher>(
    obj: &CronHorizontalPodAutoscaler,
    namespace: &str,
    index: &Index,
    hpa_workloads: &HashMap<String, WorkloadName, S>,
) -> Vec<Finding> {
    let me = obj.metadata.name.as_deref().unwrap_or_default();
    let own = &obj.spec.scale_target_ref;
    // The workload this object moves in the end (through its HPA, for an HPA target).
    let workload_of = |t: &ScaleTargetRef| -> Option<WorkloadName> {
        if t.kind == HPA {
            hpa_workloads.get(&t.name).cloned()
        } else {
            Some((t.kind.clone(), t.name.clone()))
        }
    };
    let mine = workload_of(own);
    let mut findings = Vec::new();
    for (name, other) in index.targets.get(namespace).into_iter().flatten() {
        if name == me {
            continue;
        }
        let message = if other.kind == own.kind && other.name == own.name {
            format!("CronHPA {name:?} also scales {} {:?}: the two overwrite each other", own.kind, own.name)
        } else if mine.is_some() && workload_of(other) == mine {
            let (kind, workload) = mine.clone().unwrap_or_default();
            let via = |t: &ScaleTargetRef| {
                if t.kind == HPA {
                    format!("through HorizontalPodAutoscaler {:?}", t.name)
                } else {
                    "directly".to_owned()
                }
            };
            format!(
                "CronHPA {name:?} scales {kind} {workload:?} {} and this one {}: they fight over its size; \
                 point both at the HPA",
                via(other),
                via(own)
            )
        } else {
            continue;
        };
        findings.push(Finding::warning("spec.scaleTargetRef", message));
    }
    findings
}

#[cfg(test)]
mod tests;
