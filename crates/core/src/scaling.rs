//! What to change on a target when a job fires: the HPA-coordination rules, as a pure function.
//!
//! A job's `targetSize` means "replicas" for a plain workload, and "the floor for this period"
//! when an HorizontalPodAutoscaler manages the workload: diurnal then moves the HPA's
//! `minReplicas` instead of fighting the HPA over `spec.replicas`.

/// What the target looks like right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// A workload with a `scale` subresource and no HPA managing it.
    Workload {
        /// Its current `spec.replicas`.
        replicas: i32,
    },
    /// An HPA (the CronHPA's target, or one whose `scaleTargetRef` is the CronHPA's target).
    Hpa {
        /// Current `spec.minReplicas` (Kubernetes defaults it to 1).
        min_replicas: Option<i32>,
        /// Current `spec.maxReplicas`.
        max_replicas: i32,
        /// The `maxReplicas` diurnal saved before raising it, if it did.
        saved_max_replicas: Option<i32>,
        /// The managed workload's current `spec.replicas`, when it could be read.
        workload_replicas: Option<i32>,
    },
}

/// One change to make. An empty decision means the target is already as the job wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Patch the workload's `/scale` `spec.replicas`.
    ScaleWorkload {
        /// Replicas before.
        from: i32,
        /// Replicas after.
        to: i32,
    },
    /// Patch the HPA's `spec.minReplicas` and `spec.maxReplicas`, and the annotation that
    /// remembers the user's own `maxReplicas` while diurnal has raised it.
    PatchHpa {
        /// New `spec.minReplicas`.
        min_replicas: i32,
        /// New `spec.maxReplicas`.
        max_replicas: i32,
        /// New value of the saved-max annotation; `None` removes it.
        saved_max_replicas: Option<i32>,
    },
}

/// The changes that bring `state` to `target_size`.
///
/// For an HPA: the floor becomes `max(target_size, 1)` (an HPA's `minReplicas` cannot be 0
/// without the `HPAScaleToZero` feature gate). A floor above `maxReplicas` raises the ceiling to
/// the floor and saves the original ceiling; once a later floor fits under the saved ceiling
/// again, the ceiling is restored and the saved value dropped. When the workload runs fewer
/// replicas than the new floor it is scaled up at once, so the peak does not wait for the HPA's
/// next sync.
pub fn decide(target_size: i32, state: TargetState) -> Vec<Action> {
    match state {
        TargetState::Workload { replicas } => {
            if replicas == target_size {
                vec![]
            } else {
                vec![Action::ScaleWorkload { from: replicas, to: target_size }]
            }
        }
        TargetState::Hpa { min_replicas, max_replicas, saved_max_replicas, workload_replicas } => {
            let floor = target_size.max(1);
            let user_max = saved_max_replicas.unwrap_or(max_replicas);
            let (max, saved) = if floor > user_max { (floor, Some(user_max)) } else { (user_max, None) };
            let mut actions = Vec::new();
            if min_replicas.unwrap_or(1) != floor || max != max_replicas || saved != saved_max_replicas {
                actions.push(Action::PatchHpa {
                    min_replicas: floor,
                    max_replicas: max,
                    saved_max_replicas: saved,
                });
            }
            if let Some(replicas) = workload_replicas.filter(|r| *r < floor) {
                actions.push(Action::ScaleWorkload { from: replicas, to: floor });
            }
            actions
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(min: i32, max: i32, saved: Option<i32>, running: i32) -> TargetState {
        TargetState::Hpa {
            min_replicas: Some(min),
            max_replicas: max,
            saved_max_replicas: saved,
            workload_replicas: Some(running),
        }
    }

    #[test]
    fn a_workload_is_scaled_only_when_its_size_differs() {
        assert_eq!(decide(3, TargetState::Workload { replicas: 3 }), vec![]);
        assert_eq!(
            decide(5, TargetState::Workload { replicas: 3 }),
            vec![Action::ScaleWorkload { from: 3, to: 5 }]
        );
        assert_eq!(
            decide(0, TargetState::Workload { replicas: 3 }),
            vec![Action::ScaleWorkload { from: 3, to: 0 }]
        );
    }

    #[test]
    fn an_hpa_gets_a_new_floor_and_is_left_alone_above_it() {
        assert_eq!(
            decide(4, hpa(2, 10, None, 6)),
            vec![Action::PatchHpa { min_replicas: 4, max_replicas: 10, saved_max_replicas: None }]
        );
        assert_eq!(decide(4, hpa(4, 10, None, 6)), vec![]);
    }

    #[test]
    fn a_floor_above_the_ceiling_raises_it_and_saves_the_users_value() {
        assert_eq!(
            decide(12, hpa(2, 10, None, 3)),
            vec![
                Action::PatchHpa { min_replicas: 12, max_replicas: 12, saved_max_replicas: Some(10) },
                Action::ScaleWorkload { from: 3, to: 12 },
            ]
        );
    }

    #[test]
    fn a_higher_floor_keeps_the_first_saved_ceiling() {
        assert_eq!(
            decide(15, hpa(12, 12, Some(10), 12)),
            vec![
                Action::PatchHpa { min_replicas: 15, max_replicas: 15, saved_max_replicas: Some(10) },
                Action::ScaleWorkload { from: 12, to: 15 },
            ]
        );
    }

    #[test]
    fn lowering_the_floor_restores_the_saved_ceiling() {
        assert_eq!(
            decide(2, hpa(12, 12, Some(10), 12)),
            vec![Action::PatchHpa { min_replicas: 2, max_replicas: 10, saved_max_replicas: None }]
        );
    }

    #[test]
    fn the_workload_is_scaled_up_at_once_but_never_down_by_the_floor() {
        assert_eq!(decide(6, hpa(6, 10, None, 2)), vec![Action::ScaleWorkload { from: 2, to: 6 }]);
        assert_eq!(decide(2, hpa(2, 10, None, 8)), vec![]);
    }

    #[test]
    fn a_zero_floor_becomes_one_and_an_unset_min_counts_as_one() {
        let state = TargetState::Hpa {
            min_replicas: None,
            max_replicas: 5,
            saved_max_replicas: None,
            workload_replicas: None,
        };
        assert_eq!(decide(0, state), vec![]);
        assert_eq!(decide(1, state), vec![]);
    }
}
