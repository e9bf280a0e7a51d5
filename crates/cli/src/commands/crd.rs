//! `diurnal crd`: every CRD diurnal defines (`CronHorizontalPodAutoscaler`, `RedeployTrigger`).

use std::process::ExitCode;

pub fn run() -> ExitCode {
    print!("{}", diurnal_api::crd::all_crds_yaml());
    ExitCode::SUCCESS
}
