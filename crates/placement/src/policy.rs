//! The annotations a workload opts in with, and where its next pod goes.

use std::collections::BTreeMap;

/// Replicas that must run on regular nodes: a non-negative integer.
pub const BASELINE_ANNOTATION: &str = "diurnal.dev/baseline-replicas";
/// Where the replicas above the baseline go: `overflow` or `virtual`.
pub const BURST_ANNOTATION: &str = "diurnal.dev/burst";
/// The provider profile for this workload, overriding the webhook's `--profile`.
pub const PROFILE_ANNOTATION: &str = "diurnal.dev/profile";
/// Set by the webhook on every pod it places: `regular` or `burst`. Counting the live pods
/// labelled `regular` is how the webhook knows how much of the baseline is already placed.
pub const PLACEMENT_LABEL: &str = "diurnal.dev/placement";

/// Where the replicas above the baseline go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BurstMode {
    /// Prefer regular nodes; the scheduler falls back to the virtual node when they are full.
    Overflow,
    /// Always the virtual node.
    Virtual,
}

impl BurstMode {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Overflow => "overflow",
            Self::Virtual => "virtual",
        }
    }
}

/// A workload's placement policy, from its annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementPolicy {
    /// Replicas pinned to regular nodes.
    pub baseline: u32,
    /// Where the others go.
    pub burst: BurstMode,
}

/// An annotation with a value diurnal cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {key}: {message} (got {value:?})")]
pub struct PolicyError {
    /// The annotation key.
    pub key: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong.
    pub message: &'static str,
}

impl PlacementPolicy {
    /// The policy of a workload with these annotations: `None` when it has not opted in (neither
    /// placement annotation). With only one of them, the other takes its default: baseline 0
    /// (everything bursts), burst mode `overflow`.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Result<Option<Self>, PolicyError> {
        let baseline = annotations.get(BASELINE_ANNOTATION);
        let burst = annotations.get(BURST_ANNOTATION);
        if baseline.is_none() && burst.is_none() {
            return Ok(None);
        }
        let baseline = match baseline {
            None => 0,
            Some(v) => v.trim().parse::<u32>().map_err(|_| PolicyError {
                key: BASELINE_ANNOTATION,
                value: v.clone(),
                message: "expected a non-negative integer, e.g. \"3\"",
            })?,
        };
        let burst = match burst.map(|v| v.trim()) {
            None | Some("overflow") => BurstMode::Overflow,
            Some("virtual") => BurstMode::Virtual,
            Some(_) => {
                return Err(PolicyError {
                    key: BURST_ANNOTATION,
                    value: burst.cloned().unwrap_or_default(),
                    message: "expected \"overflow\" or \"virtual\"",
                });
            }
        };
        Ok(Some(Self { baseline, burst }))
    }
}

/// Where one pod goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Pinned to regular nodes (part of the baseline).
    Regular,
    /// Above the baseline.
    Burst(BurstMode),
}

impl Placement {
    /// The value of [`PLACEMENT_LABEL`].
    pub fn label(self) -> &'static str {
        match self {
            Self::Regular => "regular",
            Self::Burst(_) => "burst",
        }
    }
}

/// Where the next pod of a workload goes, given how many of its live pods are already pinned to
/// regular nodes (including ones admitted but not yet seen by the caller's watch).
pub fn place(policy: &PlacementPolicy, regular_pinned: u32) -> Placement {
    if regular_pinned < policy.baseline { Placement::Regular } else { Placement::Burst(policy.burst) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_workload_without_the_annotations_has_not_opted_in() {
        assert_eq!(PlacementPolicy::from_annotations(&annotations(&[("other", "x")])), Ok(None));
    }

    #[test]
    fn both_annotations_give_the_policy_and_one_alone_takes_the_defaults() {
        let p = PlacementPolicy::from_annotations(&annotations(&[
            (BASELINE_ANNOTATION, "3"),
            (BURST_ANNOTATION, "virtual"),
        ]));
        assert_eq!(p, Ok(Some(PlacementPolicy { baseline: 3, burst: BurstMode::Virtual })));
        let p = PlacementPolicy::from_annotations(&annotations(&[(BASELINE_ANNOTATION, " 2 ")]));
        assert_eq!(p, Ok(Some(PlacementPolicy { baseline: 2, burst: BurstMode::Overflow })));
        let p = PlacementPolicy::from_annotations(&annotations(&[(BURST_ANNOTATION, "virtual")]));
        assert_eq!(p, Ok(Some(PlacementPolicy { baseline: 0, burst: BurstMode::Virtual })));
    }

    #[test]
    fn bad_values_name_the_annotation_and_the_value() {
        let e = PlacementPolicy::from_annotations(&annotations(&[(BASELINE_ANNOTATION, "-1")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "annotation diurnal.dev/baseline-replicas: expected a non-negative integer, e.g. \"3\" (got \"-1\")"
        );
        let e = PlacementPolicy::from_annotations(&annotations(&[(BURST_ANNOTATION, "cloud")])).unwrap_err();
        assert_eq!(e.key, BURST_ANNOTATION);
        assert_eq!(e.value, "cloud");
    }

    #[test]
    fn the_baseline_fills_first_then_pods_burst() {
        let p = PlacementPolicy { baseline: 3, burst: BurstMode::Virtual };
        assert_eq!(place(&p, 0), Placement::Regular);
        assert_eq!(place(&p, 2), Placement::Regular);
        assert_eq!(place(&p, 3), Placement::Burst(BurstMode::Virtual));
        assert_eq!(place(&p, 7), Placement::Burst(BurstMode::Virtual));
        let none = PlacementPolicy { baseline: 0, burst: BurstMode::Overflow };
        assert_eq!(place(&none, 0), Placement::Burst(BurstMode::Overflow));
    }
}
