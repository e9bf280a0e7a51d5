//! Placement for a hybrid cluster: a workload's **baseline** replicas run on regular nodes, the
//! rest **burst** onto a virtual node (virtual-kubelet backed by serverless containers), and
//! scale-in removes virtual-node pods first.
//!
//! Everything here is a pure function of its inputs — no client, no clock, no I/O — so the
//! admission webhook (`diurnal-webhook`), the offline linter (`diurnal lint`) and the tests share
//! one set of decisions:
//!
//! - [`policy`]: the `diurnal.dev/` annotations a workload opts in with, and where its next pod goes;
//! - [`profile`]: how a provider's virtual nodes are recognised and what they can mount;
//! - [`validate`]: what a pod headed to a virtual node must not ask for, with field paths;
//! - [`patch`]: the JSON Patch that applies a placement to a pod;
//! - [`order`]: `controller.kubernetes.io/pod-deletion-cost` values for the scale-in order.
//!
//! It lives outside `diurnal-core` because it reads Kubernetes pod specs (k8s-openapi types);
//! the core has no Kubernetes types at all.

pub mod order;
pub mod patch;
pub mod policy;
pub mod profile;
pub mod validate;

pub use order::{PodFacts, deletion_costs};
pub use patch::placement_patch;
pub use policy::{
    BASELINE_ANNOTATION, BURST_ANNOTATION, BurstMode, PLACEMENT_LABEL, PROFILE_ANNOTATION, Placement,
    PlacementPolicy, PolicyError, place,
};
pub use profile::{Profile, ProfileError, Taint, VolumeKind};
pub use validate::{Violation, headed_to_virtual, validate_pod_spec};
