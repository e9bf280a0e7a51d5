//! One module per subcommand.

pub mod controller;
pub mod crd;
pub mod next;
pub mod validate;
