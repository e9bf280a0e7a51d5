//! What to change on a target when a job fires, and what to give back when diurnal lets go of an
//! HPA: the HPA-coordination rules, as pure functions.
//!
//! A job's `targetSize` means "replicas" for a plain workload, and "the floor for this period"
//! when an HorizontalPodAutoscaler manages the workload: diurnal then moves the HPA's
//! `minReplicas` instead of fighting the HPA over `spec.replicas`.
//!
//! diurnal keeps its bookkeeping on the HPA itself (an [`HpaRecord`], stored as annotations):
//! the owner's own floor and ceiling, and the values diurnal last wrote. A field that no longer
//! holds what diurnal wrote was changed by somebody else since, and that change is the owner's
//! new value: it is adopted, never reverted.

/// diurnal's bookkeeping on one HPA, as read from (and written to) its annotations. All `None`
/// means diurnal has never written this HPA (or has let go of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HpaRecord {
    /// The owner's `minReplicas`, from before diurnal moved the floor.
    pub saved_min_replicas: Option<i32>,
    /// The owner's `maxReplicas`, while diurnal has raised the ceiling above it.
    pub saved_max_replicas: Option<i32>,
    /// The `minReplicas` diurnal last wrote.
    pub applied_min_replicas: Option<i32>,
    /// The `maxReplicas` diurnal last wrote.
    pub applied_max_replicas: Option<i32>,
}

impl HpaRecord {
    /// Whether there is anything recorded (and so anything to give back).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

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
        /// diurnal's bookkeeping on the HPA.
        record: HpaRecord,
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
    /// Patch the HPA's `spec.minReplicas` and `spec.maxReplicas`, and its bookkeeping.
    PatchHpa {
        /// New `spec.minReplicas`.
        min_replicas: i32,
        /// New `spec.maxReplicas`.
        max_replicas: i32,
        /// New bookkeeping; a `None` field removes its annotation.
        record: HpaRecord,
    },
}

/// The owner's own `(minReplicas, maxReplicas)`: what diurnal saved where its own write still
/// stands, the HPA's current value where somebody changed the field since.
///
/// A saved ceiling without a record of what diurnal applied (written by diurnal before it kept
/// one) is trusted, as it was then.
pub fn owners_values(min_replicas: Option<i32>, max_replicas: i32, record: &HpaRecord) -> (i32, i32) {
    let min = min_replicas.unwrap_or(1);
    let owner_min = match (record.applied_min_replicas, record.saved_min_replicas) {
        (Some(applied), Some(saved)) if applied == min => saved,
        _ => min,
    };
    let owner_max = match record.saved_max_replicas {
        Some(saved) if record.applied_max_replicas.unwrap_or(max_replicas) == max_replicas => saved,
        _ => max_replicas,
    };
    (owner_min, owner_max)
}

/// What one fire asks of its target: a job's `targetSize` (in the object's HPA mode), or its
/// `targetMinReplicas`/`targetMaxReplicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// `targetSize`: a workload's replicas, an HPA's floor.
    Replicas(i32),
    /// `targetSize` in `hpaMode: Exact`: an HPA's floor *and* ceiling, so the HPA holds exactly
    /// this many until the next fire (a workload: its replicas, as [`Size::Replicas`]).
    Exact(i32),
    /// An HPA's floor and/or ceiling; an unset one stays the owner's.
    Bounds {
        /// `targetMinReplicas`.
        min: Option<i32>,
        /// `targetMaxReplicas`.
        max: Option<i32>,
    },
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Replicas(n) => write!(f, "{n}"),
            Self::Exact(n) => write!(f, "exactly {n}"),
            Self::Bounds { min, max } => {
                let part = |v: Option<i32>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
                write!(f, "min {} max {}", part(min), part(max))
            }
        }
    }
}

/// The changes that bring `state` to `target_size` ([`decide_size`] with [`Size::Replicas`]).
pub fn decide(target_size: i32, state: TargetState) -> Vec<Action> {
    decide_size(Size::Replicas(target_size), state)
}

/// The changes that bring `state` to `size`.
///
/// For an HPA and a `targetSize` of 1 or more: the floor becomes `targetSize`. A floor above the
/// owner's `maxReplicas` raises the ceiling to the floor; once a later floor fits under the
/// owner's ceiling again, it is restored. The owner's values are recorded (see
/// [`owners_values`]) so that [`restore`] can give them back. When the workload runs fewer
/// replicas than the new floor it is scaled up at once: the peak does not wait for the HPA's next
/// sync, and an HPA does not act at all on a workload at 0 replicas.
///
/// [`Size::Exact`] also sets the ceiling to the size and scales the workload down to it at
/// once (the HPA could not keep more anyway). [`Size::Bounds`] sets the floor and/or ceiling it
/// names; an unset one is the owner's (a ceiling under the owner's floor takes the floor down
/// with it, since the API server refuses `minReplicas` above `maxReplicas`).
///
/// For an HPA and a `targetSize` of 0: the workload itself is scaled to 0 (an HPA stops acting
/// on a workload at 0 replicas, as long as its floor is above 0) and the HPA is left as it is.
///
/// A plain workload is set to `targetSize`; bounds (which validation allows on HPA targets only)
/// clamp its replicas.
pub fn decide_size(size: Size, state: TargetState) -> Vec<Action> {
    match state {
        TargetState::Workload { replicas } => {
            let to = match size {
                Size::Replicas(n) | Size::Exact(n) => n,
                Size::Bounds { min, max } => {
                    let up = min.map_or(replicas, |m| replicas.max(m));
                    max.map_or(up, |m| up.min(m))
                }
            };
            if replicas == to { vec![] } else { vec![Action::ScaleWorkload { from: replicas, to }] }
        }
        TargetState::Hpa { workload_replicas, .. } if matches!(size, Size::Replicas(n) | Size::Exact(n) if n <= 0) => {
            match workload_replicas {
                Some(replicas) if replicas != 0 => vec![Action::ScaleWorkload { from: replicas, to: 0 }],
                _ => vec![],
            }
        }
        TargetState::Hpa { min_replicas, max_replicas, record, workload_replicas } => {
            let (owner_min, owner_max) = owners_values(min_replicas, max_replicas, &record);
            let (floor, max) = match size {
                Size::Replicas(n) => (n, owner_max.max(n)),
                Size::Exact(n) => (n, n),
                Size::Bounds { min: Some(a), max: Some(b) } => (a, b.max(a)),
                Size::Bounds { min: Some(a), max: None } => (a, owner_max.max(a)),
                Size::Bounds { min: None, max: Some(b) } => (owner_min.min(b), b),
                Size::Bounds { min: None, max: None } => (owner_min, owner_max),
            };
            let next = HpaRecord {
                saved_min_replicas: Some(owner_min),
                saved_max_replicas: (max != owner_max).then_some(owner_max),
                applied_min_replicas: Some(floor),
                applied_max_replicas: Some(max),
            };
            let mut actions = Vec::new();
            if min_replicas.unwrap_or(1) != floor || max != max_replicas || next != record {
                actions.push(Action::PatchHpa { min_replicas: floor, max_replicas: max, record: next });
            }
            match workload_replicas {
                Some(replicas) if replicas < floor => {
                    actions.push(Action::ScaleWorkload { from: replicas, to: floor });
                }
                Some(replicas) if matches!(size, Size::Exact(_)) && replicas > max => {
                    actions.push(Action::ScaleWorkload { from: replicas, to: max });
                }
                _ => {}
            }
            actions
        }
    }
}

/// What to write back on an HPA diurnal lets go of (its CronHPA was deleted or retargeted).
/// The bookkeeping annotations are removed in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restore {
    /// The owner's `minReplicas` to put back; `None` leaves the field as it is.
    pub min_replicas: Option<i32>,
    /// The owner's `maxReplicas` to put back; `None` leaves the field as it is.
    pub max_replicas: Option<i32>,
}

/// What giving an HPA back takes; `None` when diurnal recorded nothing on it.
///
/// A field is put back only where diurnal's own write still stands: a value somebody changed
/// since is theirs and is kept. A restore that would leave `minReplicas` above `maxReplicas`
/// (which the API server refuses) keeps the current ceiling, and if that is not enough, the
/// current floor.
pub fn restore(min_replicas: Option<i32>, max_replicas: i32, record: &HpaRecord) -> Option<Restore> {
    if record.is_empty() {
        return None;
    }
    let min = min_replicas.unwrap_or(1);
    let mut put_min =
        record.saved_min_replicas.filter(|saved| record.applied_min_replicas == Some(min) && *saved != min);
    let mut put_max = record.saved_max_replicas.filter(|saved| {
        record.applied_max_replicas.unwrap_or(max_replicas) == max_replicas && *saved != max_replicas
    });
    if put_min.unwrap_or(min) > put_max.unwrap_or(max_replicas) {
        put_max = None;
    }
    if put_min.unwrap_or(min) > max_replicas {
        put_min = None;
    }
    Some(Restore { min_replicas: put_min, max_replicas: put_max })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as diurnal writes it: the owner's `(min, max)`, a saved ceiling, what it applied.
    fn rec(owner_min: i32, saved_max: Option<i32>, applied: (i32, i32)) -> HpaRecord {
        HpaRecord {
            saved_min_replicas: Some(owner_min),
            saved_max_replicas: saved_max,
            applied_min_replicas: Some(applied.0),
            applied_max_replicas: Some(applied.1),
        }
    }

    fn hpa(min: i32, max: i32, record: HpaRecord, running: i32) -> TargetState {
        TargetState::Hpa {
            min_replicas: Some(min),
            max_replicas: max,
            record,
            workload_replicas: Some(running),
        }
    }

    fn patch(min: i32, max: i32, record: HpaRecord) -> Action {
        Action::PatchHpa { min_replicas: min, max_replicas: max, record }
    }

    const NONE: HpaRecord = HpaRecord {
        saved_min_replicas: None,
        saved_max_replicas: None,
        applied_min_replicas: None,
        applied_max_replicas: None,
    };

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
    fn the_first_floor_records_the_owners_values() {
        assert_eq!(decide(4, hpa(2, 10, NONE, 6)), vec![patch(4, 10, rec(2, None, (4, 10)))]);
    }

    #[test]
    fn an_hpa_already_at_the_floor_with_its_record_is_left_alone() {
        assert_eq!(decide(4, hpa(4, 10, rec(2, None, (4, 10)), 6)), vec![]);
        // The same spec without the record still gets one, so it can be given back later.
        assert_eq!(decide(4, hpa(4, 10, NONE, 6)), vec![patch(4, 10, rec(4, None, (4, 10)))]);
    }

    #[test]
    fn a_floor_above_the_ceiling_raises_it_and_saves_the_owners_value() {
        assert_eq!(
            decide(12, hpa(2, 10, NONE, 3)),
            vec![patch(12, 12, rec(2, Some(10), (12, 12))), Action::ScaleWorkload { from: 3, to: 12 }]
        );
    }

    #[test]
    fn a_higher_floor_keeps_the_first_saved_values() {
        assert_eq!(
            decide(15, hpa(12, 12, rec(2, Some(10), (12, 12)), 12)),
            vec![patch(15, 15, rec(2, Some(10), (15, 15))), Action::ScaleWorkload { from: 12, to: 15 }]
        );
    }

    #[test]
    fn lowering_the_floor_restores_the_saved_ceiling() {
        assert_eq!(
            decide(2, hpa(12, 12, rec(2, Some(10), (12, 12)), 12)),
            vec![patch(2, 10, rec(2, None, (2, 10)))]
        );
    }

    #[test]
    fn a_ceiling_the_owner_changed_while_raised_is_theirs_and_is_not_reverted() {
        // diurnal raised 10 to 12; the owner then set 20. The lower fire keeps 20.
        assert_eq!(
            decide(2, hpa(12, 20, rec(2, Some(10), (12, 12)), 12)),
            vec![patch(2, 20, rec(2, None, (2, 20)))]
        );
        // The owner set 11 (still under the floor): a later floor of 14 saves 11, not 10.
        assert_eq!(
            decide(14, hpa(12, 11, rec(2, Some(10), (12, 12)), 12)),
            vec![patch(14, 14, rec(2, Some(11), (14, 14))), Action::ScaleWorkload { from: 12, to: 14 }]
        );
    }

    #[test]
    fn a_floor_the_owner_changed_becomes_the_saved_floor() {
        assert_eq!(
            decide(6, hpa(3, 10, rec(2, None, (4, 10)), 6)),
            vec![patch(6, 10, rec(3, None, (6, 10)))]
        );
    }

    #[test]
    fn a_saved_ceiling_from_before_the_record_is_trusted() {
        let legacy = HpaRecord { saved_max_replicas: Some(10), ..NONE };
        assert_eq!(decide(2, hpa(12, 12, legacy, 12)), vec![patch(2, 10, rec(12, None, (2, 10)))]);
    }

    #[test]
    fn the_workload_is_scaled_up_at_once_but_never_down_by_the_floor() {
        let r = rec(2, None, (6, 10));
        assert_eq!(decide(6, hpa(6, 10, r, 2)), vec![Action::ScaleWorkload { from: 2, to: 6 }]);
        let r = rec(2, None, (2, 10));
        assert_eq!(decide(2, hpa(2, 10, r, 8)), vec![]);
    }

    #[test]
    fn zero_scales_the_workload_to_zero_and_leaves_the_hpa_alone() {
        let r = rec(2, Some(10), (12, 12));
        assert_eq!(decide(0, hpa(12, 12, r, 14)), vec![Action::ScaleWorkload { from: 14, to: 0 }]);
        assert_eq!(decide(0, hpa(12, 12, r, 0)), vec![]);
        let unknown =
            TargetState::Hpa { min_replicas: None, max_replicas: 5, record: NONE, workload_replicas: None };
        assert_eq!(decide(0, unknown), vec![]);
    }

    #[test]
    fn the_fire_after_zero_sets_the_floor_and_wakes_the_workload() {
        // The HPA does nothing at 0 replicas, so the workload is scaled to the floor directly.
        assert_eq!(
            decide(3, hpa(2, 10, rec(2, None, (2, 10)), 0)),
            vec![patch(3, 10, rec(2, None, (3, 10))), Action::ScaleWorkload { from: 0, to: 3 }]
        );
        assert_eq!(
            decide(2, hpa(2, 10, rec(2, None, (2, 10)), 0)),
            vec![Action::ScaleWorkload { from: 0, to: 2 }]
        );
    }

    #[test]
    fn an_unset_min_counts_as_one() {
        let state = TargetState::Hpa {
            min_replicas: None,
            max_replicas: 5,
            record: rec(1, None, (1, 5)),
            workload_replicas: None,
        };
        assert_eq!(decide(1, state), vec![]);
    }

    /// `restore` table: current `(min, max)`, the record, what is put back.
    #[test]
    fn restore_gives_back_only_what_diurnal_wrote_and_nobody_changed() {
        let put = |min, max| Some(Restore { min_replicas: min, max_replicas: max });
        let cases = [
            // Nothing recorded: nothing to do.
            ((4, 10), NONE, None),
            // Floor and ceiling untouched since diurnal's write: both back.
            ((12, 12), rec(2, Some(10), (12, 12)), put(Some(2), Some(10))),
            // Only the floor was moved.
            ((6, 10), rec(2, None, (6, 10)), put(Some(2), None)),
            // The owner changed the ceiling since: keep it, restore the floor.
            ((12, 20), rec(2, Some(10), (12, 12)), put(Some(2), None)),
            // The owner changed the floor since: keep it, restore the ceiling.
            ((5, 12), rec(2, Some(10), (12, 12)), put(None, Some(10))),
            // Already equal to the owner's values: only the annotations go.
            ((2, 10), rec(2, None, (2, 10)), put(None, None)),
            // Restoring the ceiling under a floor the owner raised would be refused: keep both.
            ((11, 12), rec(2, Some(10), (12, 12)), put(None, None)),
            // The owner's floor above a ceiling they lowered since: keep the floor too.
            ((4, 6), rec(8, None, (4, 10)), put(None, None)),
            // A saved ceiling from before the record is trusted...
            ((2, 12), HpaRecord { saved_max_replicas: Some(10), ..NONE }, put(None, Some(10))),
            // ... but the floor it raised it for is unknown, and stays above it: keep both.
            ((12, 12), HpaRecord { saved_max_replicas: Some(10), ..NONE }, put(None, None)),
        ];
        for ((min, max), record, expected) in cases {
            assert_eq!(restore(Some(min), max, &record), expected, "min {min} max {max} {record:?}");
        }
    }

    #[test]
    fn exact_holds_the_hpa_at_the_size_and_scales_down_at_once() {
        // Owner (2, 10), 8 running: exactly 3 pins both bounds and forces the scale-down.
        assert_eq!(
            decide_size(Size::Exact(3), hpa(2, 10, NONE, 8)),
            vec![patch(3, 3, rec(2, Some(10), (3, 3))), Action::ScaleWorkload { from: 8, to: 3 }]
        );
        // The next floor-mode fire gives the owner's ceiling back.
        assert_eq!(decide(4, hpa(3, 3, rec(2, Some(10), (3, 3)), 3)), {
            vec![patch(4, 10, rec(2, None, (4, 10))), Action::ScaleWorkload { from: 3, to: 4 }]
        });
        // Exactly 0 is 0: the workload alone.
        assert_eq!(decide_size(Size::Exact(0), hpa(2, 10, NONE, 8)), decide(0, hpa(2, 10, NONE, 8)));
    }

    #[test]
    fn bounds_set_the_floor_and_ceiling_they_name_and_keep_the_owners_otherwise() {
        let both = Size::Bounds { min: Some(10), max: Some(60) };
        assert_eq!(
            decide_size(both, hpa(2, 20, NONE, 4)),
            vec![patch(10, 60, rec(2, Some(20), (10, 60))), Action::ScaleWorkload { from: 4, to: 10 }]
        );
        // Nights: min 2, max 20 after the day's 10..60 gives back exactly the owner's values.
        let night = Size::Bounds { min: Some(2), max: Some(20) };
        assert_eq!(decide_size(night, hpa(10, 60, rec(2, Some(20), (10, 60)), 30)), {
            vec![patch(2, 20, rec(2, None, (2, 20)))]
        });
        // Only a ceiling: the owner's floor stays, unless it is above the new ceiling.
        let max_only = |m| Size::Bounds { min: None, max: Some(m) };
        assert_eq!(
            decide_size(max_only(8), hpa(2, 20, NONE, 4)),
            vec![patch(2, 8, rec(2, Some(20), (2, 8)))]
        );
        assert_eq!(
            decide_size(max_only(3), hpa(5, 20, NONE, 6)),
            vec![patch(3, 3, rec(5, Some(20), (3, 3)))]
        );
        // Only a floor: as targetSize.
        let min_only = Size::Bounds { min: Some(12), max: None };
        assert_eq!(decide_size(min_only, hpa(2, 10, NONE, 3)), decide(12, hpa(2, 10, NONE, 3)));
    }

    #[test]
    fn bounds_clamp_a_plain_workload() {
        let b = Size::Bounds { min: Some(2), max: Some(5) };
        assert_eq!(
            decide_size(b, TargetState::Workload { replicas: 1 }),
            vec![Action::ScaleWorkload { from: 1, to: 2 }]
        );
        assert_eq!(
            decide_size(b, TargetState::Workload { replicas: 9 }),
            vec![Action::ScaleWorkload { from: 9, to: 5 }]
        );
        assert_eq!(decide_size(b, TargetState::Workload { replicas: 3 }), vec![]);
    }

    #[test]
    fn owners_values_adopt_fields_changed_since_diurnals_write() {
        assert_eq!(owners_values(Some(12), 12, &rec(2, Some(10), (12, 12))), (2, 10));
        assert_eq!(owners_values(Some(7), 20, &rec(2, Some(10), (12, 12))), (7, 20));
        assert_eq!(owners_values(Some(3), 10, &NONE), (3, 10));
        assert_eq!(owners_values(None, 10, &NONE), (1, 10));
    }
}
