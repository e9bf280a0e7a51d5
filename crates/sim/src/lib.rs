//! diurnal's simulator: what scheduled scaling on a hybrid cluster would cost on a load trace.
//!
//! - [`trace`] reads a request-rate trace (CSV) onto a regular grid, reporting gaps;
//! - [`model`] is the cluster and price model (workload, node pool, virtual node, HPA);
//! - [`prices`] is the price catalogue and its presets, [`billing`] the providers' pod sizes;
//! - [`engine`] runs one policy over a trace, step by step;
//! - [`oracle`] is the perfect-foresight lower bound;
//! - [`scenario`] is the YAML scenario file and turns it into runnable policies;
//! - [`planner`] learns a daily/weekly profile and writes a CronHPA;
//! - [`study`] runs a whole comparison: split, plan, every policy, the oracle, the goals;
//! - [`frontier`] sweeps the planner's settings on the held-out window, for comparisons at
//!   equal shortfall;
//! - [`bench`] is the simulator benchmark (many workloads, one-second steps);
//! - [`report`] renders the results (table, JSON, HTML).
//!
//! Everything is a function of its inputs: traces arrive as text, time is the trace's.

pub mod bench;
pub mod billing;
pub mod engine;
pub mod frontier;
pub mod model;
pub mod oracle;
pub mod planner;
pub mod prices;
pub mod report;
pub mod scenario;
pub mod study;
pub mod trace;
