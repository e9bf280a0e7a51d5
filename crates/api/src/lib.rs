//! diurnal's Kubernetes API: the `CronHorizontalPodAutoscaler` custom resource
//! (`autoscaling.alibabacloud.com/v1beta1`, a superset of kubernetes-cronhpa-controller's), the
//! validation that turns one into the core's [`diurnal_core::Plan`], the `RedeployTrigger`
//! custom resource ([`trigger`], `diurnal.dev/v1alpha1`), the `Calendar` custom resource
//! ([`calendar`], `diurnal.dev/v1alpha1`), and the CRD manifests.

pub mod calendar;
pub mod crd;
pub mod finding;
pub mod history;
pub mod limits;
pub mod manifest;
pub mod resolve;
mod switch;
pub mod trigger;
pub mod types;

pub use calendar::{Calendar, CalendarRef, CalendarSpec, CalendarUse, Calendars, JobDays, resolve_calendar};
pub use finding::{Finding, Severity};
pub use history::*;
pub use limits::Limits;
pub use resolve::{
    Resolution, future_findings, resolve, resolve_in, resolve_object, resolve_object_in, resolve_object_with,
    resolve_with,
};
pub use types::*;
