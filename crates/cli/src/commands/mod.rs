//! One module per subcommand.

pub mod controller;
pub mod crd;
pub mod cronhpa;
pub mod history;
pub mod lint;
pub mod next;
pub mod plan;
pub mod simulate;
pub mod trigger;
pub mod validate;
pub mod webhook;
