//! `diurnal prices`: the price catalogue the simulator knows (crates/sim/prices/catalogue.csv),
//! every figure with its unit, currency, source page and date, assumptions marked.

use std::process::ExitCode;

use diurnal_sim::prices;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this preset's rows, and what the simulator takes from them.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let rows = prices::catalogue();
    let shown: Vec<&prices::PriceRow> =
        rows.iter().filter(|r| args.preset.as_ref().is_none_or(|p| &r.preset == p)).collect();
    if let Some(name) = &args.preset {
        // Refuses an unknown name, listing the known ones.
        let preset = prices::preset(&rows, name)?;
        println!(
            "{name}: virtual node {} {c}/vCPU-second, {} {c}/GiB-second, {:?} sizes; regular node {}",
            preset.per_vcpu_second,
            preset.per_gib_second,
            preset.sizes,
            preset.node_per_hour.map_or_else(
                || "not in the catalogue: give your own".to_owned(),
                |h| format!("{h} {}/hour", preset.currency)
            ),
            c = preset.currency,
        );
    }
    println!(
        "{:<20} {:<15} {:<15} {:>11} {:<12} {:<8} {:<11} source",
        "preset", "region", "product", "price", "unit", "currency", "as of"
    );
    for r in shown {
        let unit =
            serde_json::to_value(r.unit).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let as_of =
            if r.assumption == prices::YesNo::Yes { "ASSUMPTION".to_owned() } else { r.as_of.clone() };
        println!(
            "{:<20} {:<15} {:<15} {:>11} {:<12} {:<8} {:<11} {}",
            r.preset, r.region, r.product, r.price, unit, r.currency, as_of, r.source
        );
    }
    println!("ASSUMPTION: not read from the provider's price page; quote your own in the scenario.");
    Ok(ExitCode::SUCCESS)
}
