//! The CronHPA controller: watches CronHorizontalPodAutoscalers, keeps one timer queue of their
//! fires ([`scheduler`], pure), and applies each fire through the Kubernetes API ([`target`]),
//! writing status and Events ([`runner`]). Only the holder of a Lease fires.

pub mod discovery;
pub mod fair;
pub mod finalizer;
pub mod http;
pub mod lead;
pub mod metrics;
pub mod retry;
pub mod runner;
pub mod scheduler;
pub mod target;
mod writer;
