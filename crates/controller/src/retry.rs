//! How long the controller waits before it talks to the API server again after a failure: for
//! every watch (CronHPAs, HPAs, the Lease's fence) and for the Lease itself.
//!
//! Both libraries back off to 30 s: kube-runtime's `default_backoff` (0.8 s doubling to 30 s,
//! reset after 120 s) and kube-lease-manager's `watch` (1 s doubling to 30 s). After an outage of
//! half a minute the controller then came back up to ~30 s after the API server did — fires
//! waited on a sleep, not on the API server (RELIABILITY.md: 11.8-16.7 s after a 30 s outage).
//! Here the wait doubles from [`RETRY_MIN`] to at most [`RETRY_MAX`]: a handful of list and
//! watch calls a few seconds apart cost an API server that is coming back little, and a
//! controller must be back within a few seconds for fires to keep their deadline.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use kube::runtime::utils::Backoff;

/// The first wait after a failure.
pub const RETRY_MIN: Duration = Duration::from_millis(250);

/// The longest wait between two tries (jitter adds up to as much again).
pub const RETRY_MAX: Duration = Duration::from_secs(2);

/// The waits between tries after failures, doubling from [`RETRY_MIN`] to [`RETRY_MAX`] with
/// jitter, without end; [`Backoff::reset`] after a success starts again from the shortest.
#[derive(Debug)]
pub struct Retry(ExponentialBackoff);

impl Retry {
    /// A fresh series of waits.
    pub fn new() -> Self {
        Self(
            ExponentialBuilder::default()
                .with_min_delay(RETRY_MIN)
                .with_max_delay(RETRY_MAX)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times()
                .build(),
        )
    }
}

impl Default for Retry {
    fn default() -> Self {
        Self::new()
    }
}

impl Iterator for Retry {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        // Never `None`: a watch whose backoff ends stops for good.
        Some(self.0.next().unwrap_or(RETRY_MAX))
    }
}

impl Backoff for Retry {
    fn reset(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_after_a_failure_never_exceeds_a_few_seconds_however_long_the_outage() {
        let mut retry = Retry::new();
        // A minute of failures a few hundred milliseconds apart is a few hundred tries.
        let waits: Vec<Duration> = retry.by_ref().take(500).collect();
        assert_eq!(waits.len(), 500, "the waits never end");
        assert!(waits[0] >= RETRY_MIN && waits[0] <= 2 * RETRY_MIN, "{:?}", waits[0]);
        assert!(waits.iter().all(|w| *w <= 2 * RETRY_MAX), "{waits:?}");
        assert!(waits[10..].iter().all(|w| *w >= RETRY_MAX), "it does grow to the cap: {waits:?}");
        retry.reset();
        assert!(retry.next().is_some_and(|w| w <= 2 * RETRY_MIN), "a success starts again from the shortest");
    }
}
