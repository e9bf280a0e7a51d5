//! `diurnal crd`.

use std::process::ExitCode;

pub fn run() -> anyhow::Result<ExitCode> {
    print!("{}", diurnal_api::crd::crd_yaml());
    Ok(ExitCode::SUCCESS)
}
