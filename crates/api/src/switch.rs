//! An on/off field that reads as YAML people write it: `off` and `on` (which YAML 1.1 readers,
//! `kubectl` among them, turn into booleans before the API server sees them) as well as `true`
//! and `false`, so `hpaCoordination: off` means the same in `kubectl apply` and `diurnal
//! validate`.

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Switch {
    Bool(bool),
    Text(String),
}

/// Deserialises `Option<bool>` from `true`/`false`/`on`/`off` (any case); anything else is an
/// error naming the accepted values.
pub fn deserialize_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Switch>::deserialize(d)? {
        None => Ok(None),
        Some(Switch::Bool(b)) => Ok(Some(b)),
        Some(Switch::Text(t)) => match t.to_ascii_lowercase().as_str() {
            "on" | "true" => Ok(Some(true)),
            "off" | "false" => Ok(Some(false)),
            _ => Err(serde::de::Error::custom(format!("expected on, off, true or false, got {t:?}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    struct S {
        #[serde(default, deserialize_with = "super::deserialize_option")]
        v: Option<bool>,
    }

    #[test]
    fn on_off_and_booleans_read_alike_and_anything_else_is_refused() {
        let read = |j: serde_json::Value| serde_json::from_value::<S>(j).map(|s| s.v);
        assert_eq!(read(serde_json::json!({"v": "off"})).unwrap(), Some(false));
        assert_eq!(read(serde_json::json!({"v": "On"})).unwrap(), Some(true));
        assert_eq!(read(serde_json::json!({"v": false})).unwrap(), Some(false));
        assert_eq!(read(serde_json::json!({})).unwrap(), None);
        let err = read(serde_json::json!({"v": "maybe"})).unwrap_err().to_string();
        assert!(err.contains("expected on, off"), "{err}");
    }
}
