//! The placement admission webhook (`diurnal webhook serve`): pods of opted-in workloads get
//! their baseline on regular nodes and the rest on the virtual node; pods headed to a virtual node
//! that asks for what it cannot run are refused (or warned about); a loop keeps the scale-in
//! order. The decisions are `diurnal-placement`'s; this crate is the I/O around them.
//!
//! - [`review`]: `AdmissionReview` v1 in and out;
//! - [`admit`]: the decision for one pod, given its workload;
//! - [`cluster`]: watched caches and baseline reservations (how concurrent creations stay within
//!   the baseline);
//! - [`placed`]: the placed pods as compact records, and the counts per controller;
//! - [`costs`]: the deletion-cost loop;
//! - [`server`]: HTTPS with certificate hot reload, `/mutate`, `/metrics`, `/healthz`, `/readyz`;
//! - [`certs`]: a CA and serving certificate for clusters without cert-manager;
//! - [`validate`] and [`validating`]: the validating webhook for CronHPAs and Calendars
//!   (`/validate`: `diurnal validate`'s findings, and conflicts between CronHPAs).

pub mod admit;
pub mod certs;
pub mod cluster;
pub mod costs;
pub mod metrics;
pub mod placed;
pub mod review;
pub mod server;
pub mod validate;
pub mod validating;
