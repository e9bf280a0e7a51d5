//! Coalescing of repeated calls, and rate limits.
//!
//! Both are decisions on state with the time passed in; the server holds them behind a mutex.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// What to do with a call, given the calls before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No rollout of the same kind within the window: this call runs one.
    Run,
    /// A rollout of the same kind started within the window; this call joins it.
    Coalesced {
        /// How long ago that rollout started.
        age: Duration,
        /// The `restartedAt` it set, once it has finished.
        restarted_at: Option<String>,
    },
}

/// Collapses repeated calls within a window into the first one's rollout. A CI system that
/// retries, or two pipelines that finish together, roll the workload once.
#[derive(Debug)]
pub struct Coalescer {
    window: Duration,
    // key → (when the rollout started, its restartedAt once done)
    recent: HashMap<String, (Instant, Option<String>)>,
}

impl Coalescer {
    /// A coalescer with the given window; a zero window never coalesces.
    pub fn new(window: Duration) -> Self {
        Self { window, recent: HashMap::new() }
    }

    /// The key calls coalesce on: same trigger and same thing asked for.
    pub fn key(trigger_id: &str, image: Option<&str>) -> String {
        format!("{trigger_id}\0{}", image.unwrap_or(""))
    }

    /// Decides whether the call with `key` at `now` runs a rollout. A `Run` is recorded at
    /// once, so a second call arriving while the first is still talking to the API server
    /// coalesces too.
    pub fn claim(&mut self, key: &str, now: Instant) -> Claim {
        if let Some((started, restarted_at)) = self.recent.get(key) {
            let age = now.saturating_duration_since(*started);
            if age < self.window {
                return Claim::Coalesced { age, restarted_at: restarted_at.clone() };
            }
        }
        if !self.window.is_zero() {
            self.recent.insert(key.to_owned(), (now, None));
        }
        Claim::Run
    }

    /// The claimed rollout was applied with this `restartedAt`.
    pub fn completed(&mut self, key: &str, restarted_at: String) {
        if let Some(entry) = self.recent.get_mut(key) {
            entry.1 = Some(restarted_at);
        }
    }

    /// The claimed rollout failed: the next call tries again rather than joining a failure.
    pub fn failed(&mut self, key: &str) {
        self.recent.remove(key);
    }

    /// Forgets entries older than the window, so memory follows the number of active triggers.
    pub fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.recent.retain(|_, (started, _)| now.saturating_duration_since(*started) < window);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.recent.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }
}

/// A rate such as `30/min`: at most `count` in `per`, all of them available at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many.
    pub count: NonZeroU32,
    /// In how long.
    pub per: Duration,
}

impl Rate {
    fn quota(self) -> Quota {
        let period = self.per / self.count.get();
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

/// A rate that is not `N/s`, `N/min` or `N/h` with N ≥ 1.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a rate (expected N/s, N/min or N/h, e.g. 30/min)")]
pub struct BadRate(String);

impl FromStr for Rate {
    type Err = BadRate;
    fn from_str(s: &str) -> Result<Self, BadRate> {
        let bad = || BadRate(s.to_owned());
        let (n, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: NonZeroU32 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Self { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The two rate limits.
///
/// Per trigger: authenticated calls to one id (a runaway pipeline cannot roll a workload
/// forever). Per client: *failed* authentications from one address. Failures are what an
/// attacker produces; counting only them means a flood of bad requests from an address
/// (or from the Ingress all clients share) never locks out a CI job holding a valid token.
#[derive(Debug)]
pub struct RateLimits {
    per_trigger: DefaultKeyedRateLimiter<String>,
    per_client_failures: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimits {
    /// Limits with the given rates.
    pub fn new(per_trigger: Rate, per_client_failures: Rate) -> Self {
        Self {
            per_trigger: RateLimiter::keyed(per_trigger.quota()),
            per_client_failures: RateLimiter::keyed(per_client_failures.quota()),
        }
    }

    /// Counts an authenticated call to `id`; false when over the limit.
    pub fn allow_call(&self, id: &str) -> bool {
        self.per_trigger.check_key(&id.to_owned()).is_ok()
    }

    /// Counts a failed authentication from `client`; false when over the limit.
    pub fn allow_failure(&self, client: IpAddr) -> bool {
        self.per_client_failures.check_key(&client).is_ok()
    }

    /// Drops state of keys whose limits have fully recovered, so an attacker cycling
    /// addresses cannot grow memory without bound.
    pub fn prune(&self) {
        self.per_trigger.retain_recent();
        self.per_client_failures.retain_recent();
        self.per_trigger.shrink_to_fit();
        self.per_client_failures.shrink_to_fit();
    }

    /// Keys held (ids plus client addresses).
    pub fn len(&self) -> usize {
        self.per_trigger.len() + self.per_client_failures.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A duration that is not `0`, `N ms`, `N s`, `N m` or `N h`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a duration (expected e.g. 10s, 500ms, 2m, or 0)")]
pub struct BadDuration(String);

/// Parses `10s`, `500ms`, `2m`, `1h` or `0` (the form of `--coalesce-window`).
pub fn parse_duration(s: &str) -> Result<Duration, BadDuration> {
    let bad = || BadDuration(s.to_owned());
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: u64 = t[..split].parse().map_err(|_| bad())?;
    match &t[split..] {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" | "min" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_within_the_window_join_the_first_and_later_ones_run() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Duration::from_secs(10));
        let k = Coalescer::key("abc", None);
        assert_eq!(c.claim(&k, t0), Claim::Run);
        assert_eq!(
            c.claim(&k, t0 + Duration::from_secs(1)),
            Claim::Coalesced { age: Duration::from_secs(1), restarted_at: None }
        );
        c.completed(&k, "2026-11-24T20:00:00Z".into());
        assert_eq!(
            c.claim(&k, t0 + Duration::from_secs(9)),
            Claim::Coalesced {
                age: Duration::from_secs(9),
                restarted_at: Some("2026-11-24T20:00:00Z".into())
            }
        );
        assert_eq!(c.claim(&k, t0 + Duration::from_secs(10)), Claim::Run);
    }

    #[test]
    fn a_different_image_is_a_different_rollout_and_a_failure_is_not_joined() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Duration::from_secs(10));
        assert_eq!(c.claim(&Coalescer::key("abc", Some("a:1")), t0), Claim::Run);
        assert_eq!(c.claim(&Coalescer::key("abc", Some("a:2")), t0), Claim::Run);
        assert_eq!(c.claim(&Coalescer::key("abc", None), t0), Claim::Run);
        let k = Coalescer::key("abc", None);
        c.failed(&k);
        assert_eq!(c.claim(&k, t0), Claim::Run);
    }

    #[test]
    fn prune_forgets_old_entries_and_a_zero_window_keeps_nothing() {
        let t0 = Instant::now();
        let mut c = Coalescer::new(Duration::from_secs(10));
        c.claim("a", t0);
        c.claim("b", t0 + Duration::from_secs(5));
        c.prune(t0 + Duration::from_secs(12));
        assert_eq!(c.len(), 1);
        let mut zero = Coalescer::new(Duration::ZERO);
        assert_eq!(zero.claim("a", t0), Claim::Run);
        assert_eq!(zero.claim("a", t0), Claim::Run);
        assert!(zero.is_empty());
    }

    #[test]
    fn rates_parse_and_print() {
        let r: Rate = "30/min".parse().unwrap();
        assert_eq!((r.count.get(), r.per), (30, Duration::from_secs(60)));
        assert_eq!(r.to_string(), "30/min");
        assert_eq!("5/s".parse::<Rate>().unwrap().to_string(), "5/s");
        for bad in ["0/min", "x/min", "30", "30/day", "-1/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "s", "-1s", "1.5s", "10 days"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_count_per_key() {
        let limits = RateLimits::new("2/h".parse().unwrap(), "3/h".parse().unwrap());
        assert!(limits.allow_call("a") && limits.allow_call("a"));
        assert!(!limits.allow_call("a"));
        assert!(limits.allow_call("b"));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!((0..3).all(|_| limits.allow_failure(ip)));
        assert!(!limits.allow_failure(ip));
        assert!(limits.allow_failure("10.0.0.2".parse().unwrap()));
        assert_eq!(limits.len(), 4);
    }
}
