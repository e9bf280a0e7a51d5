//! When this process may fire: the Lease, the caches, and fencing by our own clock.
//!
//! Holding the Lease is not enough. The process fires only while
//! - the initial list of CronHPAs is loaded (otherwise catch-up would miss objects),
//! - the HPA cache has synced (otherwise a fire on an HPA-managed workload would patch `/scale`
//!   directly and fight the HPA), and
//! - by this process's own clock, the Lease cannot have expired yet: `renewTime +
//!   leaseDurationSeconds - margin` of the newest renewal it has *seen in the API*. A leader cut
//!   off from the API server stops firing before a standby may take over, even though the lease
//!   library still believes it holds the lock.
//!
//! After an API error the Lease is tried again within [`crate::retry::RETRY_MAX`] ([`hold`]), not
//! after kube-lease-manager's own backoff of up to 30 s.

use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube_lease_manager::LeaseManager;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::retry::Retry;

/// How long before the Lease could expire the leader stops firing.
pub const FENCE_MARGIN: SignedDuration = SignedDuration::from_secs(1);

/// The shortest lease duration, in seconds: its holder must renew at least a second before its
/// fence ([`renew_grace_secs`]), in whole seconds.
pub const MIN_LEASE_DURATION_SECS: u64 = 3;

/// Seconds before the Lease's expiry at which its holder renews it, for a lease of
/// `duration_secs` (at least [`MIN_LEASE_DURATION_SECS`]): a third of it, and at least
/// [`FENCE_MARGIN`] plus a second, so the renewal is back through the Lease watch before the
/// fence closes. (Renewing at the fence itself — a third of 3 to 5 s is 1 s, the margin — made
/// a healthy leader stop leading at every renewal, cancelling the fires in flight.)
pub fn renew_grace_secs(duration_secs: u64) -> u64 {
    let floor = FENCE_MARGIN.as_secs().unsigned_abs() + 1;
    (duration_secs / 3).max(floor).min(duration_secs.saturating_sub(1)).max(1)
}

/// Everything the decision to lead depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gate {
    /// The lease library says this process holds the Lease (always true without election).
    pub lease_held: bool,
    /// The initial CronHPA list is loaded.
    pub synced: bool,
    /// The HPA cache has synced (or HPA coordination is off).
    pub hpa_ready: bool,
    /// Fencing by our own clock (with leader election only).
    pub fence: Fence,
}

/// Whether the hold of the Lease is checked against our own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// No leader election: nothing to fence.
    Off,
    /// The instant our hold may have expired (`None`: no renewal of ours seen yet).
    Until(Option<Timestamp>),
}

impl Gate {
    /// Whether the process may fire at `now`.
    pub fn may_lead(&self, now: Timestamp) -> bool {
        self.lease_held
            && self.synced
            && self.hpa_ready
            && match self.fence {
                Fence::Off => true,
                Fence::Until(at) => at.is_some_and(|at| now < at),
            }
    }

    /// Whether the process is ready to serve (`/readyz`): both caches are loaded.
    pub fn ready(&self) -> bool {
        self.synced && self.hpa_ready
    }

    /// When the answer of [`Gate::may_lead`] changes by itself (the fence), if it can.
    pub fn changes_at(&self, now: Timestamp) -> Option<Timestamp> {
        match self.fence {
            Fence::Until(at) if self.may_lead(now) => at,
            _ => None,
        }
    }
}

/// The instant our hold of a Lease may expire, from the Lease as the API server has it: the
/// holder's `renewTime` (written by its own clock, which is ours when we hold it) plus its
/// duration, minus [`FENCE_MARGIN`]. `None` when another identity holds it, or nobody.
pub fn fence_of(lease: &Lease, identity: &str) -> Option<Timestamp> {
    let spec = lease.spec.as_ref()?;
    if spec.holder_identity.as_deref() != Some(identity) {
        return None;
    }
    let renewed: Timestamp = spec.renew_time.as_ref()?.0;
    let duration = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds?));
    renewed.checked_add(duration).ok()?.checked_sub(FENCE_MARGIN).ok()
}

/// Watches the one Lease and publishes [`fence_of`] for `identity` at every change. While the
/// watch is cut off, the last value stays — and runs out by itself.
pub fn watch_fence(
    client: &Client,
    namespace: &str,
    name: &str,
    identity: &str,
) -> watch::Receiver<Option<Timestamp>> {
    let (tx, rx) = watch::channel(None);
    let api: Api<Lease> = Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let identity = identity.to_owned();
    tokio::spawn(async move {
        let mut leases = watcher(api, config).backoff(Retry::new()).applied_objects().boxed();
        loop {
            match leases.next().await {
                Some(Ok(lease)) => {
                    let fence = fence_of(&lease, &identity);
                    if tx.send(fence).is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    warn!(error = %e, "Lease watch (fencing)");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                None => return,
            }
        }
    });
    rx
}

/// Runs `manager`: publishes whether this process holds the Lease at every change, and releases
/// the Lease once every receiver is gone (the task then ends).
///
/// This replaces kube-lease-manager's `watch`, which is the same loop around
/// [`LeaseManager::changed`] but sleeps up to 30 s after an error: after an outage the Lease
/// was taken again — and fires resumed — up to half a minute after the API server was back.
/// Here an error is tried again after a [`Retry`] wait (at most a few seconds).
pub fn hold(manager: LeaseManager) -> (watch::Receiver<bool>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut retry = Retry::new();
        loop {
            tokio::select! {
                biased;
                () = tx.closed() => break,
                changed = manager.changed() => match changed {
                    Ok(held) => {
                        retry = Retry::new();
                        if tx.send(held).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let wait = retry.next().unwrap_or(crate::retry::RETRY_MAX);
                        warn!(error = %e, retry_in = ?wait, "Lease");
                        tokio::select! {
                            () = tx.closed() => break,
                            () = tokio::time::sleep(wait) => {}
                        }
                    }
                },
            }
        }
        if let Err(e) = manager.release().await {
            warn!(error = %e, "releasing the Lease");
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn lease(holder: &str, renewed: &str) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                renew_time: Some(MicroTime(t(renewed))),
                lease_duration_seconds: Some(15),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn the_fence_is_the_renewal_plus_the_duration_minus_the_margin_and_only_for_us() {
        assert_eq!(fence_of(&lease("me", "2026-03-02T10:00:00Z"), "me"), Some(t("2026-03-02T10:00:14Z")));
        assert_eq!(fence_of(&lease("other", "2026-03-02T10:00:00Z"), "me"), None);
        assert_eq!(fence_of(&Lease::default(), "me"), None);
    }

    #[test]
    fn a_holder_renews_at_least_a_second_before_its_fence_for_every_duration() {
        let margin = FENCE_MARGIN.as_secs().unsigned_abs();
        for duration in MIN_LEASE_DURATION_SECS..=120 {
            let grace = renew_grace_secs(duration);
            assert!(
                0 < grace && grace < duration,
                "{duration} s: kube-lease-manager needs 0 < grace < duration"
            );
            // Seconds after a renewal: the next renewal, and the fence.
            let (renews, fence) = (duration - grace, duration - margin);
            assert!(
                renews < fence,
                "{duration} s: renews {renews} s after a renewal, the fence closes at {fence} s"
            );
        }
        assert_eq!(renew_grace_secs(15), 5, "the default lease: a third, as before");
        assert_eq!(renew_grace_secs(4), 2);
    }

    #[test]
    fn a_leader_stops_at_its_fence_and_never_before_both_caches_are_loaded() {
        let gate = Gate {
            lease_held: true,
            synced: true,
            hpa_ready: true,
            fence: Fence::Until(Some(t("2026-03-02T10:00:14Z"))),
        };
        assert!(gate.may_lead(t("2026-03-02T10:00:13Z")));
        assert!(!gate.may_lead(t("2026-03-02T10:00:14Z")), "the lease may have expired");
        assert_eq!(gate.changes_at(t("2026-03-02T10:00:13Z")), Some(t("2026-03-02T10:00:14Z")));
        assert!(
            !Gate { hpa_ready: false, ..gate }.may_lead(t("2026-03-02T10:00:00Z")),
            "HPA cache not synced"
        );
        assert!(!Gate { synced: false, ..gate }.may_lead(t("2026-03-02T10:00:00Z")));
        assert!(
            !Gate { fence: Fence::Until(None), ..gate }.may_lead(t("2026-03-02T10:00:00Z")),
            "no renewal seen"
        );
        assert!(Gate { fence: Fence::Off, ..gate }.may_lead(t("2026-03-02T10:00:00Z")));
        assert!(!Gate { lease_held: false, ..gate }.may_lead(t("2026-03-02T10:00:00Z")));
    }
}
