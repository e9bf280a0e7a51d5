//! Calendars in the scheduler: an index per namespace, and re-planning the CronHPAs that read
//! one when it is created, edited or deleted.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use diurnal_api::{Calendar, Calendars, CronHorizontalPodAutoscaler, Resolution, resolve_object_in};
use jiff::Timestamp;

use super::object::warnings_of;
use super::{Object, ObjectKey, Scheduler};

/// What an object's calendar references resolve to in `known`: equal digests, equal plans.
pub(super) fn digest(obj: &CronHorizontalPodAutoscaler, known: &Calendars) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for r in &obj.spec.calendars {
        (r, known.get(&r.name)).hash(&mut h);
    }
    h.finish()
}

/// What an object keeps of itself for re-planning on a Calendar change: nothing when it names no
/// calendar, else the object without its managed fields (often its largest part).
pub(super) fn source_of(obj: &CronHorizontalPodAutoscaler) -> Option<Arc<CronHorizontalPodAutoscaler>> {
    if obj.spec.calendars.is_empty() {
        return None;
    }
    let mut kept = obj.clone();
    kept.metadata.managed_fields = None;
    Some(Arc::new(kept))
}

impl Scheduler {
    /// Resolves an object with its namespace's calendars: the resolution, its warnings (as the
    /// status shows them), the digest of what its calendar references resolved to, and whether
    /// that changed since `old` (then its jobs are planned afresh, as after an edit).
    pub(super) fn resolve(
        &self,
        obj: &CronHorizontalPodAutoscaler,
        old: Option<&Object>,
        now: Timestamp,
    ) -> (Resolution, Vec<String>, u64, bool) {
        let none = Calendars::none();
        let namespace = obj.metadata.namespace.as_deref().unwrap_or("default");
        let known = self.calendars.get(namespace).unwrap_or(&none);
        let digest = digest(obj, known);
        let changed = old.is_some_and(|o| o.calendar_digest != digest);
        let resolution = resolve_object_in(obj, &self.default_zone, &self.limits, known);
        let warnings = warnings_of(obj, &resolution, now);
        (resolution, warnings, digest, changed)
    }

    /// Adds or updates a Calendar from a watch event and re-plans every CronHPA of its namespace
    /// that names it. Returns their keys (their status should be written).
    pub fn upsert_calendar(&mut self, calendar: &Calendar, now: Timestamp) -> Vec<ObjectKey> {
        let namespace = calendar.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let name = calendar.metadata.name.clone().unwrap_or_default();
        let changed = self.calendars.entry(namespace.clone()).or_default().insert(&name, &calendar.spec);
        if changed { self.replan_readers(&namespace, &name, now) } else { Vec::new() }
    }

    /// Forgets a Calendar (deleted) and re-plans the CronHPAs that name it, which then read it
    /// as empty.
    pub fn remove_calendar(&mut self, namespace: &str, name: &str, now: Timestamp) -> Vec<ObjectKey> {
        let Some(known) = self.calendars.get_mut(namespace) else { return Vec::new() };
        let removed = known.remove(name);
        if known.is_empty() {
            self.calendars.remove(namespace);
        }
        if removed { self.replan_readers(namespace, name, now) } else { Vec::new() }
    }

    /// Names of the calendars known in `namespace` (for the shell's re-list after a watch
    /// restart).
    pub fn calendar_names(&self, namespace: &str) -> Vec<String> {
        self.calendars.get(namespace).map(Calendars::names).unwrap_or_default()
    }

    /// Namespaces with calendars.
    pub fn calendar_namespaces(&self) -> Vec<String> {
        self.calendars.keys().cloned().collect()
    }

    fn replan_readers(&mut self, namespace: &str, name: &str, now: Timestamp) -> Vec<ObjectKey> {
        let readers: Vec<_> = self
            .objects
            .values()
            .filter(|o| o.key.namespace == namespace)
            .filter_map(|o| o.source.clone())
            .filter(|src| src.spec.calendars.iter().any(|r| r.name == name))
            .collect();
        readers
            .iter()
            .map(|src| {
                self.upsert(src, now);
                ObjectKey::of(src)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
