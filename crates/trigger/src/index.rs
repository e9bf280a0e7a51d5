//! The in-memory index of triggers by id that the server looks tokens up in, filled from a
//! watch on labelled Secrets (see [`crate::store::watch`]) or, in tests, directly.
//!
//! Looking up in memory rather than asking the API server on each call keeps a flood of bad
//! requests away from the API server, and makes an unknown id take as long as a known one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::model::Trigger;

/// Triggers by id, shared between the watch and the request handlers.
#[derive(Debug, Clone, Default)]
pub struct Index {
    triggers: Arc<RwLock<HashMap<String, Arc<Trigger>>>>,
    ready: Arc<AtomicBool>,
}

impl Index {
    /// An empty index, not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// The trigger with `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Trigger>> {
        self.read().get(id).cloned()
    }

    /// Adds or replaces a trigger. Returns false (and keeps the one held) if a trigger with the
    /// same id exists in another namespace: ids are random, so a clash is someone copying an
    /// id label, and the first holder keeps it.
    pub fn insert(&self, trigger: Trigger) -> bool {
        let mut map = self.triggers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(&trigger.id) {
            Some(held) if held.namespace != trigger.namespace => false,
            _ => {
                map.insert(trigger.id.clone(), Arc::new(trigger));
                true
            }
        }
    }

    /// Removes trigger `id` if it is the one in `namespace`.
    pub fn remove(&self, namespace: &str, id: &str) {
        let mut map = self.triggers.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.get(id).is_some_and(|t| t.namespace == namespace) {
            map.remove(id);
        }
    }

    /// Replaces everything (after a full relist).
    pub fn replace_all(&self, triggers: impl IntoIterator<Item = Trigger>) {
        let fresh = Self::new();
        for t in triggers {
            fresh.insert(t);
        }
        let fresh =
            std::mem::take(&mut *fresh.triggers.write().unwrap_or_else(std::sync::PoisonError::into_inner));
        *self.triggers.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
    }

    /// Number of triggers held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no trigger is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks the initial list loaded (`/readyz` turns 200).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Whether the initial list is loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Trigger>>> {
        // A panic while holding the lock cannot leave the map half-written (single inserts).
        self.triggers.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
