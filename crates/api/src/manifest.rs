//! Reading CronHPA and Calendar manifests from (multi-document) YAML files.

use serde_json::Value;

use crate::{Calendar, CronHorizontalPodAutoscaler, Finding};

/// The API group every CronHPA manifest uses.
pub const GROUP: &str = "autoscaling.alibabacloud.com";
/// The kind of the custom resource.
pub const KIND: &str = "CronHorizontalPodAutoscaler";

/// A YAML stream that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ManifestError {
    /// The file the text came from.
    pub file: String,
    /// The YAML parser's message (it carries line and column).
    pub message: String,
}

/// One YAML document of a file, as a generic value.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based position of the document in its file.
    pub index: usize,
    /// The document's content.
    pub value: Value,
}

impl Document {
    /// `apiVersion` and `kind`, when present.
    pub fn type_meta(&self) -> (Option<&str>, Option<&str>) {
        (self.value.get("apiVersion").and_then(Value::as_str), self.value.get("kind").and_then(Value::as_str))
    }

    /// Whether the document declares itself a CronHPA (any version of the group).
    pub fn is_cronhpa(&self) -> bool {
        matches!(self.type_meta(), (Some(api), Some(KIND)) if api.split('/').next() == Some(GROUP))
    }

    /// Decodes the document as a CronHPA. A type mismatch names the field path.
    pub fn decode_cronhpa(&self) -> Result<CronHorizontalPodAutoscaler, Finding> {
        self.decode("autoscaling.alibabacloud.com/v1beta1")
    }

    /// Whether the document declares itself a diurnal `Calendar` (any version of the group).
    pub fn is_calendar(&self) -> bool {
        matches!(self.type_meta(), (Some(api), Some("Calendar")) if api.split('/').next() == Some(crate::trigger::GROUP))
    }

    /// Decodes the document as a `Calendar`. A type mismatch names the field path.
    pub fn decode_calendar(&self) -> Result<Calendar, Finding> {
        self.decode("diurnal.dev/v1alpha1")
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, version: &str) -> Result<T, Finding> {
        if let (Some(api), _) = self.type_meta()
            && api != version
        {
            return Err(Finding::error(
                "apiVersion",
                format!("unsupported version {api:?}; expected {version}"),
            ));
        }
        serde_path_to_error::deserialize(&self.value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            Finding::error(path, e.into_inner().to_string())
        })
    }
}

/// Splits a YAML stream into its non-empty documents.
pub fn parse_documents(text: &str, file: &str) -> Result<Vec<Document>, ManifestError> {
    let values: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| ManifestError { file: file.to_owned(), message: e.to_string() })?;
    Ok(values
        .into_iter()
        .enumerate()
        .filter(|(_, v)| !v.is_null())
        .map(|(i, value)| Document { index: i + 1, value })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_skips_empty_ones() {
        let text = "---\na: 1\n---\n---\nkind: X\n";
        let docs = parse_documents(text, "f.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].type_meta(), (None, Some("X")));
    }

    #[test]
    fn yaml_syntax_errors_name_the_file() {
        let err = parse_documents("a: [1, 2\n", "broken.yaml").unwrap_err();
        assert_eq!(err.file, "broken.yaml");
        assert!(err.to_string().starts_with("broken.yaml: "), "{err}");
    }

    #[test]
    fn type_errors_name_the_field_path() {
        let text = "apiVersion: autoscaling.alibabacloud.com/v1beta1\nkind: CronHorizontalPodAutoscaler\n\
                    metadata: {name: x}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: d}\n\
                    \x20 jobs:\n  - {name: a, schedule: '@daily', targetSize: 1}\n  - {name: b, schedule: '@daily', targetSize: lots}\n";
        let docs = parse_documents(text, "f.yaml").unwrap();
        assert!(docs[0].is_cronhpa());
        let err = docs[0].decode_cronhpa().unwrap_err();
        assert_eq!(err.path, "spec.jobs[1].targetSize");
    }

    #[test]
    fn other_versions_of_the_group_are_recognised_but_refused() {
        let text = "apiVersion: autoscaling.alibabacloud.com/v2\nkind: CronHorizontalPodAutoscaler\n";
        let docs = parse_documents(text, "f.yaml").unwrap();
        assert!(docs[0].is_cronhpa());
        assert_eq!(docs[0].decode_cronhpa().unwrap_err().path, "apiVersion");
    }
}
