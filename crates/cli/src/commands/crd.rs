//! `diurnal crd`.

use std::process::ExitCode;

pub fn run() -> ExitCode {
    print!("{}", diurnal_api::crd::crd_yaml());
    ExitCode::SUCCESS
}
