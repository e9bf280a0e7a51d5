//! `prices: <preset>`: the catalogue's figures fill what the scenario file does not give; and
//! `regular_nodes.opencost_csv`: the node price from an `OpenCost` custom-pricing CSV.

use super::{Scenario, ScenarioError};
use crate::prices;

impl Scenario {
    /// Fills the currency, the virtual node's prices and size rule and the regular node's price
    /// from preset `name`, each only where `given` (the file as written) lacks it.
    pub(super) fn apply_preset(
        &mut self,
        name: &str,
        given: &serde_json::Value,
        file: &str,
    ) -> Result<(), ScenarioError> {
        let invalid = |field: &str, message: String| ScenarioError::Invalid {
            file: file.to_owned(),
            field: field.to_owned(),
            message,
        };
        let preset =
            prices::preset(&prices::catalogue(), name).map_err(|e| invalid("prices", e.to_string()))?;
        let has = |section: &str, field: &str| given.get(section).and_then(|s| s.get(field)).is_some();
        match given.get("currency").and_then(serde_json::Value::as_str) {
            Some(c) if c != preset.currency => {
                return Err(invalid(
                    "currency",
                    format!("is {c}, but price preset `{name}` is in {}: drop one of them", preset.currency),
                ));
            }
            _ => self.currency.clone_from(&preset.currency),
        }
        if !has("virtual_node", "price_per_vcpu_second") {
            self.virtual_node.price_per_vcpu_second = preset.per_vcpu_second;
        }
        if !has("virtual_node", "price_per_gib_second") {
            self.virtual_node.price_per_gib_second = preset.per_gib_second;
        }
        if self.virtual_node.billable_sizes.is_none() {
            self.virtual_node.billable_sizes = Some(preset.sizes);
        }
        if !has("regular_nodes", "price_per_hour") {
            let Some(hour) = preset.node_per_hour else {
                return Err(invalid(
                    "regular_nodes.price_per_hour",
                    format!("price preset `{name}` has no regular node price: give your own"),
                ));
            };
            self.regular_nodes.price_per_hour = hour;
        }
        Ok(())
    }

    /// Sets `regular_nodes.price_per_hour` from `text`, the `OpenCost` custom-pricing CSV that
    /// `regular_nodes.opencost_csv` names (`csv_file` names it in errors); nothing without one.
    ///
    /// # Errors
    /// The file has no node row of the instance type, or rows that disagree or do not parse.
    pub fn apply_opencost_csv(
        &mut self,
        text: &str,
        csv_file: &str,
    ) -> Result<(), crate::prices::PricesError> {
        if let Some(spec) = &self.regular_nodes.opencost_csv {
            self.regular_nodes.price_per_hour =
                prices::opencost_node_price(text, csv_file, &spec.instance_type, spec.region.as_deref())?;
        }
        Ok(())
    }
}
