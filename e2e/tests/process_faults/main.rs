//! Process and clock faults on the real control plane (issue 14): the controller killed (SIGKILL) at
//! each point of a fire, the API server killed and etcd stopped during 1,000 same-second fires,
//! and the controller's wall clock stepped. What happened is counted from the API server's audit
//! log ([`diurnal_e2e::audit`]), never from diurnal's own counters; each controller runs as a user
//! of its own. The figures go to RELIABILITY.md ("Process and clock faults").
//!
//! The default run has the SIGKILL-at-a-fire tests (about 10 s each, in parallel), the webhook
//! outage and kube-apiserver killed and restarted during 100 same-second fires (about 40 s with
//! its private control plane's start). The rest is `#[ignore]`d; run everything with
//! `cargo test -p diurnal-e2e --test process_faults -- --include-ignored`. The tests that kill
//! or stop kube-apiserver or etcd do it to a control plane of this binary's own
//! ([`diurnal_e2e::faults::PrivateCluster`]), one at a time, so the shared cluster's tests never see the fault.

mod clock;
mod kill;
mod plane;
mod services;

use diurnal_e2e::Controller;

/// A controller watching `ns` alone, without leader election.
pub(crate) fn controller(name: &str, ns: &str) -> Controller {
    Controller::start(name, &["--namespace", ns, "--leader-election", "off"])
}
