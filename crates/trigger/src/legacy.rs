//! The Secret-based triggers of diurnal 0.1 (labelled `diurnal.dev/trigger=true`), read only to
//! migrate them: `diurnal trigger migrate` turns each into a `RedeployTrigger` named after the
//! Secret, with the same token hash, so the token keeps working at the trigger's new URL.

use std::collections::BTreeMap;

use diurnal_api::trigger::{
    RedeployTrigger, RedeployTriggerSpec, TriggerAction, TriggerWorkloadKind, WorkloadRef,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;

use crate::image::{ImageError, ImagePattern};
use crate::model::{TOKEN_ISSUED, is_dns1123_label, is_dns1123_subdomain};
use crate::token::TokenHash;

/// Label every 0.1 trigger Secret carries (value `true`).
pub const LABEL: &str = "diurnal.dev/trigger";
/// Label holding the 0.1 trigger id.
pub const ID_LABEL: &str = "diurnal.dev/trigger-id";

/// Why a labelled Secret cannot be migrated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LegacyError {
    /// The id label is missing, malformed, or does not match the Secret's name.
    #[error("the {ID_LABEL} label is missing or does not match the Secret's name")]
    Id,
    /// A required field is missing.
    #[error("data.{0} is missing")]
    Missing(&'static str),
    /// A field does not parse.
    #[error("data.{0} is not valid")]
    Invalid(&'static str),
    /// The pattern is refused today (any registry, without --allow-any-image).
    #[error("data.image-pattern: {0}")]
    Pattern(ImageError),
}

/// The label selector of 0.1 trigger Secrets.
pub fn selector() -> String {
    format!("{LABEL}=true")
}

/// The `RedeployTrigger` a 0.1 trigger Secret becomes: named as the Secret
/// (`diurnal-trigger-<id>`), in its namespace, with its hash, workload, action, container and
/// pattern. `allow_any_image` carries `--allow-any-image` for patterns such as `*/*`.
pub fn to_resource(secret: &Secret, allow_any_image: bool) -> Result<RedeployTrigger, LegacyError> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let id = secret.metadata.labels.as_ref().and_then(|l| l.get(ID_LABEL)).ok_or(LegacyError::Id)?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !id_ok || name != format!("diurnal-trigger-{id}") {
        return Err(LegacyError::Id);
    }
    let empty = BTreeMap::new();
    let data = secret.data.as_ref().unwrap_or(&empty);
    let get = |k: &'static str| -> Result<Option<&str>, LegacyError> {
        data.get(k).map(|v| std::str::from_utf8(&v.0).map_err(|_| LegacyError::Invalid(k))).transpose()
    };
    let need = |k: &'static str| get(k)?.ok_or(LegacyError::Missing(k));
    let kind = match need("kind")? {
        "Deployment" => TriggerWorkloadKind::Deployment,
        "StatefulSet" => TriggerWorkloadKind::StatefulSet,
        _ => return Err(LegacyError::Invalid("kind")),
    };
    let workload = need("name")?;
    if !is_dns1123_subdomain(workload) {
        return Err(LegacyError::Invalid("name"));
    }
    let action = match need("action")? {
        "restart" => TriggerAction::Restart,
        "set-image" => TriggerAction::SetImage,
        _ => return Err(LegacyError::Invalid("action")),
    };
    let hash =
        TokenHash::from_hex(need("token-sha256")?).map_err(|_| LegacyError::Invalid("token-sha256"))?;
    let container = get("container")?.map(str::to_owned);
    if container.as_deref().is_some_and(|c| !is_dns1123_label(c)) {
        return Err(LegacyError::Invalid("container"));
    }
    let image_pattern = match get("image-pattern")? {
        Some(p) => {
            ImagePattern::parse_checked(p, allow_any_image).map_err(LegacyError::Pattern)?;
            Some(p.to_owned())
        }
        None => None,
    };
    let issued = get("created")?.map(|c| BTreeMap::from([(TOKEN_ISSUED.to_owned(), c.to_owned())]));
    Ok(RedeployTrigger {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: secret.metadata.namespace.clone(),
            annotations: issued,
            ..ObjectMeta::default()
        },
        spec: RedeployTriggerSpec {
            workload: WorkloadRef { kind, name: workload.to_owned() },
            token_hash: format!("sha256:{}", hash.to_hex()),
            action,
            // A 0.1 restart trigger may name a container; the resource keeps it for set-image only.
            container: container.filter(|_| action == TriggerAction::SetImage),
            image_pattern: image_pattern.filter(|_| action == TriggerAction::SetImage),
            allow_any_image,
        },
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;

    use super::*;
    use crate::model::Trigger;

    fn secret(pattern: &str) -> Secret {
        let mut data = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
        };
        put("token-sha256", &TokenHash::of("the-old-token").to_hex());
        put("kind", "Deployment");
        put("name", "web");
        put("action", "set-image");
        put("container", "app");
        put("image-pattern", pattern);
        put("created", "2026-11-24T20:00:00Z");
        Secret {
            metadata: ObjectMeta {
                name: Some("diurnal-trigger-0123456789abcdef".into()),
                namespace: Some("shop".into()),
                labels: Some(BTreeMap::from([
                    (LABEL.to_owned(), "true".to_owned()),
                    (ID_LABEL.to_owned(), "0123456789abcdef".to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            data: Some(data),
            ..Secret::default()
        }
    }

    #[test]
    fn a_legacy_secret_becomes_a_trigger_that_accepts_the_same_token() {
        let rt = to_resource(&secret("ghcr.io/acme/*"), false).unwrap();
        assert_eq!(rt.metadata.name.as_deref(), Some("diurnal-trigger-0123456789abcdef"));
        let t = Trigger::from_resource(&rt).unwrap();
        assert!(t.token_hash.matches(&TokenHash::of("the-old-token")));
        assert_eq!((t.namespace.as_str(), t.workload.name.as_str()), ("shop", "web"));
        assert_eq!(t.token_issued, Some("2026-11-24T20:00:00Z".parse().unwrap()));
    }

    #[test]
    fn what_is_refused_today_is_refused_in_migration() {
        assert!(matches!(
            to_resource(&secret("*/*"), false),
            Err(LegacyError::Pattern(ImageError::AnyRegistry(_)))
        ));
        assert!(to_resource(&secret("*/*"), true).is_ok());
        let mut s = secret("ghcr.io/acme/*");
        s.metadata.name = Some("diurnal-trigger-ffffffffffffffff".into());
        assert_eq!(to_resource(&s, false), Err(LegacyError::Id));
        let mut s = secret("ghcr.io/acme/*");
        s.data.as_mut().unwrap().insert("name".into(), ByteString(b"../../secrets".to_vec()));
        assert_eq!(to_resource(&s, false), Err(LegacyError::Invalid("name")));
    }
}
