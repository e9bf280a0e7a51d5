//! The bounds on what one CronHPA may hold and ask for.
//!
//! Any namespace tenant may write a CronHPA, and every replica of the controller indexes every
//! object, so the size of an object and the rate at which it fires are bounded. The sizes are in
//! the CRD's schema (the API server refuses a bigger object) and are checked again by
//! [`crate::resolve`] (for files given to `diurnal validate`, and for objects stored before the
//! schema had them). The minimum fire interval is the controller's setting
//! (`--min-fire-interval`), since no schema can read a cron expression. `docs/security.md`
//! explains each figure.

use jiff::SignedDuration;

/// At most this many jobs in `spec.jobs`.
pub const MAX_JOBS: usize = 64;
/// At most this many entries in `spec.excludeDates`.
pub const MAX_EXCLUDE_DATES: usize = 256;
/// The longest job name (a DNS label's length: names appear in Events and metric labels).
pub const MAX_JOB_NAME: usize = 63;
/// The longest schedule expression.
pub const MAX_SCHEDULE: usize = 256;
/// The longest `excludeDates` entry.
pub const MAX_EXCLUDE_DATE: usize = 128;
/// The longest time zone name (the longest IANA name has 32 characters).
pub const MAX_TIME_ZONE: usize = 64;
/// The longest target kind (Kubernetes kinds are DNS labels at most).
pub const MAX_KIND: usize = 63;
/// The longest target API version (a DNS subdomain, `/`, a DNS label).
pub const MAX_API_VERSION: usize = 317;
/// The longest target name (a DNS subdomain).
pub const MAX_NAME: usize = 253;
/// The largest `targetSize`.
pub const MAX_TARGET_SIZE: i32 = 100_000;
/// The largest `spec.historyLimit` (executions kept per job).
pub const MAX_HISTORY_LIMIT: u32 = 32;
/// `spec.historyLimit` when unset.
pub const DEFAULT_HISTORY_LIMIT: u32 = 5;
/// The most executions kept per object, over all its jobs: with many jobs each keeps fewer
/// (`historyLimit` or this divided by the number of jobs, whichever is less), so 64 jobs at the
/// largest limit cannot grow the status past its bound.
pub const MAX_HISTORY_ENTRIES: usize = 128;
/// The longest message kept in one execution, in bytes.
pub const MAX_HISTORY_MESSAGE: usize = 256;
/// The largest `startingDeadlineSeconds` (a year; unset means "any age").
pub const MAX_STARTING_DEADLINE_SECONDS: i64 = 366 * 86_400;

/// `text`, cut at a character boundary to at most `max` bytes (ending `...` when cut): for free
/// text the controller writes into a status or an Event, whose size it must bound.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The limits that are settings of the controller rather than of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A job whose fires can come closer together than this is refused (its condition says
    /// why). Zero: no minimum.
    pub min_fire_interval: SignedDuration,
}

impl Limits {
    /// The controller's default minimum interval between two fires of one job: a minute, the
    /// finest step of a Kubernetes CronJob. Scaling more often than that fights the HPA and the
    /// rollout it starts, and costs the API server a write per fire.
    pub const DEFAULT_MIN_FIRE_INTERVAL: SignedDuration = SignedDuration::from_secs(60);

    /// No minimum fire interval (tests, and `--min-fire-interval=0s`).
    pub const NONE: Limits = Limits { min_fire_interval: SignedDuration::ZERO };
}

impl Default for Limits {
    fn default() -> Self {
        Self { min_fire_interval: Self::DEFAULT_MIN_FIRE_INTERVAL }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cut_keeps_short_text_and_cuts_long_text_at_a_character_boundary() {
        assert_eq!(super::cut("short", 10), "short");
        assert_eq!(super::cut("abcdefghij", 8), "abcde...");
        let cut = super::cut(&"时".repeat(10), 10);
        assert!(cut.len() <= 10 && cut.ends_with("..."), "{cut}");
        assert_eq!(cut, "时时...");
    }
}
