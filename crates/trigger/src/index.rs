//! The in-memory index of triggers by namespace and name that the server looks tokens up in,
//! filled from a watch on `RedeployTrigger`s (see [`crate::store::watch`]) or, in tests, directly.
//!
//! Looking up in memory rather than asking the API server on each call keeps a flood of bad
//! requests away from the API server, and makes an unknown trigger take as long as a known one.
//! A trigger is found by its namespace *and* name — the API server keeps that pair unique — so
//! nothing created in one namespace can answer for a URL of another, whatever the list order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::model::Trigger;

type Map = HashMap<String, HashMap<String, Arc<Trigger>>>;

/// Triggers by namespace and name, shared between the watch and the request handlers.
#[derive(Debug, Clone, Default)]
pub struct Index {
    triggers: Arc<RwLock<Map>>,
    ready: Arc<AtomicBool>,
}

impl Index {
    /// An empty index, not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// The trigger `name` in `namespace`.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<Trigger>> {
        self.read().get(namespace)?.get(name).cloned()
    }

    /// Adds or replaces a trigger.
    pub fn insert(&self, trigger: Trigger) {
        let mut map = self.triggers.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(trigger.namespace.clone()).or_default().insert(trigger.name.clone(), Arc::new(trigger));
    }

    /// Removes trigger `name` from `namespace`.
    pub fn remove(&self, namespace: &str, name: &str) {
        let mut map = self.triggers.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(ns) = map.get_mut(namespace) {
            ns.remove(name);
            if ns.is_empty() {
                map.remove(namespace);
            }
        }
    }

    /// Replaces everything (after a full relist of all namespaces).
    pub fn replace_all(&self, triggers: impl IntoIterator<Item = Trigger>) {
        let fresh = group(triggers);
        *self.triggers.write().unwrap_or_else(PoisonError::into_inner) = fresh;
    }

    /// Replaces the triggers of one namespace (after a relist of that namespace). Triggers given
    /// for another namespace are ignored.
    pub fn replace_namespace(&self, namespace: &str, triggers: impl IntoIterator<Item = Trigger>) {
        let mut fresh = group(triggers.into_iter().filter(|t| t.namespace == namespace));
        let mut map = self.triggers.write().unwrap_or_else(PoisonError::into_inner);
        match fresh.remove(namespace) {
            Some(ns) => map.insert(namespace.to_owned(), ns),
            None => map.remove(namespace),
        };
    }

    /// Number of triggers held.
    pub fn len(&self) -> usize {
        self.read().values().map(HashMap::len).sum()
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Map> {
        // A panic while holding the lock cannot leave the map half-written (single inserts).
        self.triggers.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn group(triggers: impl IntoIterator<Item = Trigger>) -> Map {
    let mut map = Map::new();
    for t in triggers {
        map.entry(t.namespace.clone()).or_default().insert(t.name.clone(), Arc::new(t));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Workload, WorkloadKind};
    use crate::token::TokenHash;

    fn trigger(namespace: &str, name: &str, token: &str) -> Trigger {
        Trigger {
            namespace: namespace.into(),
            name: name.into(),
            workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
            action: Action::Restart,
            container: None,
            image_pattern: None,
            allow_any_image: false,
            token_hash: TokenHash::of(token),
            token_issued: None,
            last_calls: Vec::new(),
        }
    }

    /// Issue 13, item 4: a trigger of the same name in another namespace takes nothing over,
    /// in either list order, at the first list and at every relist.
    #[test]
    fn the_same_name_in_two_namespaces_is_two_triggers_across_relists() {
        let index = Index::new();
        let victim = trigger("shop", "deploy", "victim-token");
        let attacker = trigger("evil", "deploy", "attacker-token");
        let check = |index: &Index| {
            let shop = index.get("shop", "deploy").unwrap();
            assert!(shop.token_hash.matches(&TokenHash::of("victim-token")));
            let evil = index.get("evil", "deploy").unwrap();
            assert!(evil.token_hash.matches(&TokenHash::of("attacker-token")));
            assert_eq!(index.len(), 2);
        };
        index.replace_all([attacker.clone(), victim.clone()]);
        check(&index);
        index.replace_all([victim.clone(), attacker.clone()]);
        check(&index);
        index.replace_namespace("evil", [attacker.clone(), trigger("shop", "deploy", "smuggled")]);
        check(&index);
        index.insert(trigger("evil", "deploy", "attacker-token"));
        check(&index);
        index.remove("evil", "deploy");
        assert!(index.get("evil", "deploy").is_none());
        assert!(index.get("shop", "deploy").is_some());
    }

    #[test]
    fn replacing_a_namespace_leaves_the_others() {
        let index = Index::new();
        index.replace_all([trigger("a", "x", "1"), trigger("b", "y", "2")]);
        index.replace_namespace("a", []);
        assert!(index.get("a", "x").is_none());
        assert!(index.get("b", "y").is_some());
        index.replace_namespace("a", [trigger("a", "z", "3")]);
        assert_eq!(index.len(), 2);
    }
}
