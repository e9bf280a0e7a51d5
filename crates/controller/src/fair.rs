//! Fires waiting for one of the `--max-parallel-fires` slots, served round-robin across
//! namespaces.
//!
//! Any tenant can create CronHPAs, and every fire is an API call the controller makes with its own
//! identity. Served in the order they fall due, a namespace with thousands of objects firing at
//! the same instant would make every other namespace's fires wait behind all of them; served in
//! turn, each namespace with fires waiting gets the next free slot before any gets a second one.
//! (The scheduler already keeps one fire per object at a time, so no object floods the queue.)
//! The same idea as the API server's Priority and Fairness, with namespaces as the flows.

use std::collections::{HashMap, VecDeque};

/// A queue per namespace and a ring of the namespaces that have something waiting.
#[derive(Debug)]
pub struct FairQueue<T> {
    queues: HashMap<String, VecDeque<T>>,
    /// Namespaces with a non-empty queue, next to be served first. Each appears once.
    ring: VecDeque<String>,
    len: usize,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        Self { queues: HashMap::new(), ring: VecDeque::new(), len: 0 }
    }
}

impl<T> FairQueue<T> {
    /// Queues `item` behind the others of `namespace`. A namespace with nothing waiting joins
    /// the end of the ring.
    pub fn push(&mut self, namespace: &str, item: T) {
        if let Some(queue) = self.queues.get_mut(namespace) {
            queue.push_back(item);
        } else {
            self.queues.insert(namespace.to_owned(), VecDeque::from([item]));
            self.ring.push_back(namespace.to_owned());
        }
        self.len += 1;
    }

    /// The oldest item of the namespace whose turn it is; that namespace then goes to the end of
    /// the ring if it has more waiting.
    pub fn pop(&mut self) -> Option<T> {
        let namespace = self.ring.pop_front()?;
        let queue = self.queues.get_mut(&namespace)?;
        let item = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&namespace);
        } else {
            self.ring.push_back(namespace);
        }
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops everything waiting.
    pub fn clear(&mut self) {
        self.queues.clear();
        self.ring.clear();
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_crowded_namespace_does_not_hold_back_the_others() {
        let mut q = FairQueue::default();
        for i in 0..1000 {
            q.push("crowd", format!("crowd-{i}"));
        }
        q.push("shop", "shop-0".to_owned());
        q.push("blog", "blog-0".to_owned());
        let first: Vec<String> = (0..4).filter_map(|_| q.pop()).collect();
        assert_eq!(first, ["crowd-0", "shop-0", "blog-0", "crowd-1"]);
        assert_eq!(q.len(), 998);
        q.clear();
        assert!(q.is_empty() && q.pop().is_none());
    }

    proptest! {
        /// Every item comes out once; within a namespace in push order; and between two items of
        /// one namespace, no other namespace that had something waiting the whole time is skipped.
        #[test]
        fn every_item_comes_out_once_in_turn(ops in proptest::collection::vec((0u8..4, any::<bool>()), 0..200)) {
            let mut q = FairQueue::default();
            let mut pushed: Vec<(u8, usize)> = Vec::new();
            let mut popped: Vec<(u8, usize)> = Vec::new();
            for (i, (ns, push)) in ops.into_iter().enumerate() {
                if push {
                    q.push(&ns.to_string(), (ns, i));
                    pushed.push((ns, i));
                } else if let Some(item) = q.pop() {
                    popped.push(item);
                }
            }
            // Draining: between two turns of one namespace, every other namespace that has
            // something waiting throughout gets a turn.
            let mut left = [0usize; 4];
            for &(ns, _) in &pushed {
                left[usize::from(ns)] += 1;
            }
            for &(ns, _) in &popped {
                left[usize::from(ns)] -= 1;
            }
            let mut last_turn: [Option<usize>; 4] = [None; 4];
            let mut step = 0;
            let mut turns: Vec<u8> = Vec::new();
            while let Some(item) = q.pop() {
                let ns = usize::from(item.0);
                if let Some(prev) = last_turn[ns] {
                    for (other, &n) in left.iter().enumerate() {
                        if other != ns && n > 0 {
                            let took = turns[prev + 1..].iter().any(|&t| usize::from(t) == other);
                            prop_assert!(took, "{} served twice before {} got a turn: {:?}", ns, other, turns);
                        }
                    }
                }
                last_turn[ns] = Some(step);
                left[ns] -= 1;
                turns.push(item.0);
                step += 1;
                popped.push(item);
            }
            prop_assert_eq!(q.len(), 0);
            let mut sorted = popped.clone();
            sorted.sort_by_key(|&(_, i)| i);
            pushed.sort_by_key(|&(_, i)| i);
            prop_assert_eq!(&sorted, &pushed);
            for ns in 0..4u8 {
                let order: Vec<usize> = popped.iter().filter(|(n, _)| *n == ns).map(|&(_, i)| i).collect();
                prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "{} out of order: {:?}", ns, order);
            }
        }
    }
}
