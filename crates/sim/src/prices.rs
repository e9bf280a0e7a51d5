//! The price catalogue: one row per preset, product and price, each with its unit, currency, the
//! page it comes from, the date it was read (or the page's date) and whether it is an assumption
//! (not read from a price page). Compiled in from `crates/sim/prices/catalogue.csv`; a scenario
//! names a preset (`prices: alibaba-cn-hangzhou`) and overrides any field (`scenario` module).

use serde::{Deserialize, Serialize};

use crate::billing::BillableSizes;

/// The catalogue's text, as shipped.
pub const CATALOGUE_CSV: &str = include_str!("../prices/catalogue.csv");

/// The unit a price is quoted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Per vCPU per second.
    VcpuSecond,
    /// Per vCPU per hour.
    VcpuHour,
    /// Per GiB of memory per second.
    GibSecond,
    /// Per GiB of memory per hour.
    GibHour,
    /// Per GB of memory per hour (AWS's unit; taken as GiB).
    GbHour,
    /// Per node per hour.
    NodeHour,
}

/// One price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceRow {
    /// The preset it belongs to (what a scenario's `prices:` names).
    pub preset: String,
    /// Provider and site.
    pub provider: String,
    /// Region.
    pub region: String,
    /// `eci-vcpu`, `eci-memory`, `fargate-vcpu`, `fargate-memory` or `node`.
    pub product: String,
    /// The price, in `currency` per `unit`.
    pub price: f64,
    /// Its unit.
    pub unit: Unit,
    /// ISO 4217 currency code.
    pub currency: String,
    /// The provider's page it comes from.
    pub source: String,
    /// When it was read, or the page's own date; empty for an assumption.
    pub as_of: String,
    /// `yes` when it was not read from a price page.
    pub assumption: YesNo,
    /// What it covers and anything a reader should know.
    pub note: String,
}

/// `yes` or `no`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YesNo {
    /// Yes.
    Yes,
    /// No.
    No,
}

/// A preset resolved to the model's units.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    /// Its name.
    pub name: String,
    /// Currency of every price.
    pub currency: String,
    /// Virtual node price per vCPU-second.
    pub per_vcpu_second: f64,
    /// Virtual node price per GiB-second.
    pub per_gib_second: f64,
    /// Regular node price per hour, when the catalogue has one.
    pub node_per_hour: Option<f64>,
    /// How the virtual node rounds pod sizes.
    pub sizes: BillableSizes,
}

/// What is wrong with the catalogue or a preset name.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PricesError {
    /// A row does not parse.
    #[error("{file}:{line}: {message}")]
    Row {
        /// The catalogue file.
        file: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// No preset of that name.
    #[error("unknown price preset `{name}` (known: {known})")]
    UnknownPreset {
        /// The name asked for.
        name: String,
        /// The presets there are.
        known: String,
    },
    /// A file has no row for what was asked.
    #[error("{file}: {message}")]
    NoMatch {
        /// The file.
        file: String,
        /// What was looked for.
        message: String,
    },
    /// A preset lacks a price the model needs, or mixes currencies.
    #[error("price preset `{name}`: {message}")]
    Incomplete {
        /// The preset.
        name: String,
        /// What is missing.
        message: String,
    },
}

/// Parses a catalogue (`file` names it in errors).
///
/// # Errors
/// A row that does not parse, or a price that is not a positive number.
pub fn parse(text: &str, file: &str) -> Result<Vec<PriceRow>, PricesError> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.deserialize::<PriceRow>() {
        let row = record.map_err(|e| PricesError::Row {
            file: file.to_owned(),
            line: e.position().map_or(0, csv::Position::line),
            message: e.to_string(),
        })?;
        if !(row.price.is_finite() && row.price > 0.0) {
            let line = u64::try_from(rows.len() + 2).unwrap_or(u64::MAX);
            return Err(PricesError::Row {
                file: file.to_owned(),
                line,
                message: format!("price must be a positive number, got {}", row.price),
            });
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The shipped catalogue.
///
/// # Panics
/// Never for the shipped file (a test parses it).
pub fn catalogue() -> Vec<PriceRow> {
    parse(CATALOGUE_CSV, "crates/sim/prices/catalogue.csv").expect("the shipped catalogue parses")
}

/// The presets of `rows`, in catalogue order.
pub fn preset_names(rows: &[PriceRow]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for row in rows {
        if !names.contains(&row.preset) {
            names.push(row.preset.clone());
        }
    }
    names
}

/// Resolves preset `name` from `rows`: its virtual-node prices per second, its node price per
/// hour (if any) and the size rule its products imply (`eci-*`: ECI's, `fargate-*`: Fargate's).
///
/// # Errors
/// An unknown name, a preset without both virtual-node prices, or one mixing currencies.
pub fn preset(rows: &[PriceRow], name: &str) -> Result<Preset, PricesError> {
    let mine: Vec<&PriceRow> = rows.iter().filter(|r| r.preset == name).collect();
    let Some(first) = mine.first() else {
        return Err(PricesError::UnknownPreset {
            name: name.to_owned(),
            known: preset_names(rows).join(", "),
        });
    };
    let incomplete = |message: String| PricesError::Incomplete { name: name.to_owned(), message };
    if let Some(other) = mine.iter().find(|r| r.currency != first.currency) {
        return Err(incomplete(format!("mixes {} and {}", first.currency, other.currency)));
    }
    let find = |suffix: &str| mine.iter().find(|r| r.product.ends_with(suffix));
    let (Some(vcpu), Some(memory)) = (find("-vcpu"), find("-memory")) else {
        return Err(incomplete("needs a *-vcpu and a *-memory price".into()));
    };
    let per_vcpu_second = match vcpu.unit {
        Unit::VcpuSecond => vcpu.price,
        Unit::VcpuHour => vcpu.price / 3600.0,
        other => return Err(incomplete(format!("{}: unit {other:?} is not per vCPU", vcpu.product))),
    };
    let per_gib_second = match memory.unit {
        Unit::GibSecond => memory.price,
        Unit::GibHour | Unit::GbHour => memory.price / 3600.0,
        other => return Err(incomplete(format!("{}: unit {other:?} is not per GiB", memory.product))),
    };
    let node_per_hour = match find("node") {
        Some(r) if r.unit == Unit::NodeHour => Some(r.price),
        Some(r) => return Err(incomplete(format!("node: unit {:?} is not per node-hour", r.unit))),
        None => None,
    };
    let sizes = if vcpu.product.starts_with("eci-") {
        BillableSizes::Eci
    } else if vcpu.product.starts_with("fargate-") {
        BillableSizes::Fargate
    } else {
        BillableSizes::Requested
    };
    Ok(Preset {
        name: name.to_owned(),
        currency: first.currency.clone(),
        per_vcpu_second,
        per_gib_second,
        node_per_hour,
        sizes,
    })
}

/// One row of an `OpenCost` (`Kubecost`) custom-pricing CSV: `EndTimeStamp, InstanceID, Region,
/// AssetClass, InstanceIDField, InstanceType, MarketPriceHourly, Version`.
#[derive(Debug, Deserialize)]
struct OpenCostRow {
    #[serde(rename = "Region", default)]
    region: String,
    #[serde(rename = "AssetClass")]
    asset_class: String,
    #[serde(rename = "InstanceType", default)]
    instance_type: String,
    #[serde(rename = "MarketPriceHourly")]
    market_price_hourly: String,
}

/// The hourly price of a node of `instance_type` (in `region`, when given) in an `OpenCost`
/// custom-pricing CSV (`file` names it in errors): its `node` rows of that `InstanceType` must
/// agree on one `MarketPriceHourly`. Columns other than those four are ignored.
///
/// # Errors
/// A row that does not parse, no such node row, rows that disagree, a price that is not positive.
pub fn opencost_node_price(
    text: &str,
    file: &str,
    instance_type: &str,
    region: Option<&str>,
) -> Result<f64, PricesError> {
    let row_error = |line: u64, message: String| PricesError::Row { file: file.to_owned(), line, message };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| row_error(1, e.to_string()))?.clone();
    let mut found: Option<(u64, f64)> = None;
    for record in reader.records() {
        let record =
            record.map_err(|e| row_error(e.position().map_or(0, csv::Position::line), e.to_string()))?;
        let line = record.position().map_or(0, csv::Position::line);
        let row: OpenCostRow =
            record.deserialize(Some(&headers)).map_err(|e| row_error(line, e.to_string()))?;
        let wanted = row.asset_class.eq_ignore_ascii_case("node")
            && row.instance_type == instance_type
            && region.is_none_or(|r| row.region == r);
        if !wanted {
            continue;
        }
        let Ok(price) = row.market_price_hourly.parse::<f64>() else {
            let message = format!("MarketPriceHourly `{}` is not a number", row.market_price_hourly);
            return Err(row_error(line, message));
        };
        if !(price.is_finite() && price > 0.0) {
            return Err(row_error(line, format!("MarketPriceHourly must be a positive number, got {price}")));
        }
        match found {
            Some((first, earlier)) if (earlier - price).abs() > f64::EPSILON => {
                let message = format!("{instance_type} costs {price} here but {earlier} on line {first}");
                return Err(row_error(line, message));
            }
            Some(_) => {}
            None => found = Some((line, price)),
        }
    }
    let place = region.map(|r| format!(" in region {r}")).unwrap_or_default();
    found.map(|(_, price)| price).ok_or_else(|| PricesError::NoMatch {
        file: file.to_owned(),
        message: format!("no node row of InstanceType {instance_type}{place} (AssetClass node)"),
    })
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // the catalogue's figures are exact
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_has_the_sourced_figures_and_marks_assumptions() {
        let rows = catalogue();
        let cn = preset(&rows, "alibaba-cn-hangzhou").unwrap();
        assert_eq!(
            (cn.per_vcpu_second, cn.per_gib_second, cn.currency.as_str()),
            (0.000_049, 0.000_006_13, "CNY")
        );
        assert_eq!((cn.node_per_hour, cn.sizes), (Some(0.68), BillableSizes::Eci));
        let intl = preset(&rows, "alibaba-intl").unwrap();
        assert_eq!(
            (intl.per_vcpu_second, intl.per_gib_second, intl.node_per_hour),
            (0.000_007_7, 0.000_000_96, None)
        );
        let aws = preset(&rows, "aws-us-east-1").unwrap();
        assert_eq!(aws.per_vcpu_second, 0.04048 / 3600.0);
        assert_eq!(aws.per_gib_second, 0.004_445 / 3600.0);
        assert_eq!(aws.sizes, BillableSizes::Fargate);
        for row in &rows {
            assert!(row.source.starts_with("https://"), "{row:?}");
            // A figure read from a page carries its date; one that was not is an assumption.
            assert_eq!(row.as_of.is_empty(), row.assumption == YesNo::Yes, "{row:?}");
        }
        assert!(rows.iter().filter(|r| r.product == "node").all(|r| r.assumption == YesNo::Yes));
    }

    #[test]
    fn bad_rows_and_names_are_refused_clearly() {
        let header = CATALOGUE_CSV.lines().next().unwrap();
        let text = format!("{header}\np,x,r,eci-vcpu,-1,vcpu-second,CNY,https://a,2025-01-01,no,\n");
        assert_eq!(
            parse(&text, "c.csv").unwrap_err().to_string(),
            "c.csv:2: price must be a positive number, got -1"
        );
        let text = format!("{header}\np,x,r,eci-vcpu,1,vcpu-fortnight,CNY,https://a,2025-01-01,no,\n");
        let err = parse(&text, "c.csv").unwrap_err().to_string();
        assert!(err.starts_with("c.csv:2: ") && err.contains("vcpu-fortnight"), "{err}");
        let err = preset(&catalogue(), "gcp-mars-1").unwrap_err().to_string();
        assert!(
            err.contains("unknown price preset `gcp-mars-1`") && err.contains("alibaba-cn-hangzhou"),
            "{err}"
        );
    }

    const OPENCOST: &str =
        "EndTimeStamp,InstanceID,Region,AssetClass,InstanceIDField,InstanceType,MarketPriceHourly,Version
2026-12-01 00:00:00 UTC,i-1,cn-hangzhou,node,spec.providerID,ecs.g6.xlarge,0.55,
2026-12-01 00:00:00 UTC,i-2,cn-hangzhou,node,spec.providerID,ecs.g6.xlarge,0.55,
2026-12-01 00:00:00 UTC,i-3,cn-shanghai,node,spec.providerID,ecs.g6.xlarge,0.61,
2026-12-01 00:00:00 UTC,d-1,cn-hangzhou,pv,metadata.name,,0.02,
";

    #[test]
    fn an_opencost_csv_gives_a_node_price_by_instance_type_and_region() {
        assert_eq!(opencost_node_price(OPENCOST, "p.csv", "ecs.g6.xlarge", Some("cn-hangzhou")), Ok(0.55));
        assert_eq!(opencost_node_price(OPENCOST, "p.csv", "ecs.g6.xlarge", Some("cn-shanghai")), Ok(0.61));
        let err = opencost_node_price(OPENCOST, "p.csv", "ecs.g6.xlarge", None).unwrap_err().to_string();
        assert_eq!(err, "p.csv:4: ecs.g6.xlarge costs 0.61 here but 0.55 on line 2");
        let err = opencost_node_price(OPENCOST, "p.csv", "ecs.g7.xlarge", None).unwrap_err().to_string();
        assert_eq!(err, "p.csv: no node row of InstanceType ecs.g7.xlarge (AssetClass node)");
        let bad = OPENCOST.replace("0.61", "cheap");
        let err = opencost_node_price(&bad, "p.csv", "ecs.g6.xlarge", None).unwrap_err().to_string();
        assert_eq!(err, "p.csv:4: MarketPriceHourly `cheap` is not a number");
    }
}
