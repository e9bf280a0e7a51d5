//! diurnal's pure core.
//!
//! Everything here is a function of its inputs: no clock, no I/O, no Kubernetes. Time is always
//! passed in as a [`jiff::Timestamp`], zones as [`jiff::tz::TimeZone`].
//!
//! Vocabulary used across the project:
//! - a **job** is one schedule line of a CronHPA (`jobs[]`),
//! - a **fire** is one instant at which a job triggers,
//! - a **target** is what gets scaled.

pub mod calendar;
pub mod exclusion;
pub mod scaling;
pub mod schedule;
pub mod timeline;
pub mod zone;

pub use calendar::{Calendar, CalendarError, DaySpan, DaySpanError, Days};
pub use exclusion::{ExcludeDate, ExclusionError, is_excluded};
pub use schedule::{Dialect, Schedule, ScheduleError};
pub use timeline::{Fire, Fires, JobPlan, Plan};
pub use zone::{ZoneError, default_zone_name, resolve_zone};
