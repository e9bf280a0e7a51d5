//! One module per subcommand.

pub mod calendar;
pub mod controller;
pub mod crd;
pub mod cronhpa;
pub mod history;
pub mod lint;
pub mod next;
pub mod plan;
pub mod prices;
pub mod shell;
pub mod simulate;
pub mod trigger;
pub mod validate;
pub mod webhook;
