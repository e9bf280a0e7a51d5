//! What a trigger is, how it is kept in a Secret, and what a call to it may do.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;

use crate::image::{ImagePattern, ImageRef};
use crate::token::{TokenHash, is_valid_id};

/// Label every trigger Secret carries (value `true`); the server watches Secrets with it.
pub const LABEL: &str = "diurnal.dev/trigger";
/// Label holding the trigger id, so `delete`/`rotate` can find a Secret by id.
pub const ID_LABEL: &str = "diurnal.dev/trigger-id";
/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The Secret that holds trigger `id`.
pub fn secret_name(id: &str) -> String {
    format!("diurnal-trigger-{id}")
}

/// The kind of workload a trigger rolls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
}

impl WorkloadKind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
        }
    }
}

/// One workload in the trigger's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Workload {
    /// Deployment or StatefulSet.
    pub kind: WorkloadKind,
    /// Its name.
    pub name: String,
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str().to_ascii_lowercase(), self.name)
    }
}

/// What a trigger is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Only restart (new `restartedAt` on the pod template), as `kubectl rollout restart`.
    Restart,
    /// Set one container's image (restricted by the image pattern), or restart.
    SetImage,
}

impl Action {
    /// The name used on the command line and in the Secret.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::SetImage => "set-image",
        }
    }
}

/// A stored trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The id in the URL.
    pub id: String,
    /// Namespace of the Secret and of the workload.
    pub namespace: String,
    /// The workload it rolls.
    pub workload: Workload,
    /// What it may do.
    pub action: Action,
    /// The container whose image `set-image` sets.
    pub container: Option<String>,
    /// Which images `set-image` may set; without one, none.
    pub image_pattern: Option<ImagePattern>,
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// When it was created (or its token last rotated).
    pub created: jiff::Timestamp,
}

/// What one accepted call does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Roll the pods with the images they have (pulling again where `imagePullPolicy: Always`).
    Restart,
    /// Set the trigger's container to this image and roll.
    SetImage(ImageRef),
}

/// Why an authenticated call is refused (403).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// An image was asked for but the trigger only restarts.
    #[error("this trigger only restarts; it was created without --action set-image")]
    RestartOnly,
    /// The image is outside the trigger's pattern (or the trigger has none).
    #[error("image {image} is outside this trigger's allowed pattern")]
    OutsidePattern {
        /// The image asked for.
        image: String,
    },
}

impl Trigger {
    /// Decides what a call asking for `image` (or none) may do.
    pub fn permit(&self, image: Option<ImageRef>) -> Result<Intent, Refusal> {
        let Some(image) = image else { return Ok(Intent::Restart) };
        if self.action != Action::SetImage {
            return Err(Refusal::RestartOnly);
        }
        match &self.image_pattern {
            Some(p) if p.allows(&image) => Ok(Intent::SetImage(image)),
            _ => Err(Refusal::OutsidePattern { image: image.to_string() }),
        }
    }

    /// The Secret that stores this trigger: the token's hash, never the token.
    pub fn to_secret(&self) -> Secret {
        let mut data = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            data.insert(k.to_owned(), ByteString(v.as_bytes().to_vec()));
        };
        put("token-sha256", &self.token_hash.to_hex());
        put("kind", self.workload.kind.as_str());
        put("name", &self.workload.name);
        put("action", self.action.as_str());
        if let Some(c) = &self.container {
            put("container", c);
        }
        if let Some(p) = &self.image_pattern {
            put("image-pattern", p.as_str());
        }
        put("created", &self.created.to_string());
        Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(&self.id)),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([
                    (LABEL.to_owned(), "true".to_owned()),
                    (ID_LABEL.to_owned(), self.id.clone()),
                ])),
                ..ObjectMeta::default()
            },
            type_: Some("diurnal.dev/trigger".into()),
            data: Some(data),
            ..Secret::default()
        }
    }

    /// Reads a trigger Secret; any Secret that does not fully parse is not a trigger.
    pub fn from_secret(secret: &Secret) -> Result<Self, SecretError> {
        let name = secret.metadata.name.as_deref().unwrap_or_default();
        let id = secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(ID_LABEL))
            .filter(|id| is_valid_id(id) && secret_name(id) == name)
            .ok_or(SecretError::Id)?
            .clone();
        let namespace = secret.metadata.namespace.clone().ok_or(SecretError::Missing("namespace"))?;
        let empty = BTreeMap::new();
        let data = secret.data.as_ref().unwrap_or(&empty);
        let get = |k: &'static str| -> Result<Option<&str>, SecretError> {
            data.get(k).map(|v| std::str::from_utf8(&v.0).map_err(|_| SecretError::Invalid(k))).transpose()
        };
        let need = |k: &'static str| get(k)?.ok_or(SecretError::Missing(k));
        let kind = match need("kind")? {
            "Deployment" => WorkloadKind::Deployment,
            "StatefulSet" => WorkloadKind::StatefulSet,
            _ => return Err(SecretError::Invalid("kind")),
        };
        let action = match need("action")? {
            "restart" => Action::Restart,
            "set-image" => Action::SetImage,
            _ => return Err(SecretError::Invalid("action")),
        };
        let image_pattern = get("image-pattern")?
            .map(ImagePattern::parse)
            .transpose()
            .map_err(|_| SecretError::Invalid("image-pattern"))?;
        Ok(Self {
            id,
            namespace,
            workload: Workload { kind, name: need("name")?.to_owned() },
            action,
            container: get("container")?.map(str::to_owned),
            image_pattern,
            token_hash: TokenHash::from_hex(need("token-sha256")?)
                .map_err(|_| SecretError::Invalid("token-sha256"))?,
            created: need("created")?.parse().map_err(|_| SecretError::Invalid("created"))?,
        })
    }
}

/// Why a labelled Secret is not a usable trigger.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The id label is missing, malformed, or does not match the Secret's name.
    #[error("the {ID_LABEL} label is missing or does not match the Secret's name")]
    Id,
    /// A required field is missing.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A field does not parse.
    #[error("{0} is not valid")]
    Invalid(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Token;

    fn trigger(action: Action, pattern: Option<&str>) -> Trigger {
        Trigger {
            id: "0123456789abcdef".into(),
            namespace: "shop".into(),
            workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
            action,
            container: Some("app".into()),
            image_pattern: pattern.map(|p| ImagePattern::parse(p).unwrap()),
            token_hash: TokenHash::of("t"),
            created: "2026-11-24T20:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_secret_holds_the_hash_and_round_trips() {
        let token = Token::generate().unwrap();
        let mut t = trigger(Action::SetImage, Some("ghcr.io/acme/*"));
        t.token_hash = token.hash();
        let secret = t.to_secret();
        assert_eq!(secret.metadata.name.as_deref(), Some("diurnal-trigger-0123456789abcdef"));
        let json = serde_json::to_string(&secret).unwrap();
        assert!(!json.contains(token.expose()));
        assert_eq!(Trigger::from_secret(&secret).unwrap(), t);
    }

    #[test]
    fn a_secret_whose_id_label_disagrees_with_its_name_is_not_a_trigger() {
        let mut secret = trigger(Action::Restart, None).to_secret();
        secret.metadata.name = Some("diurnal-trigger-ffffffffffffffff".into());
        assert_eq!(Trigger::from_secret(&secret), Err(SecretError::Id));
        let mut secret = trigger(Action::Restart, None).to_secret();
        secret.data.as_mut().unwrap().insert("action".into(), ByteString(b"delete".to_vec()));
        assert_eq!(Trigger::from_secret(&secret), Err(SecretError::Invalid("action")));
    }

    #[test]
    fn permit_restart_always_set_image_only_within_the_pattern() {
        let img = |s: &str| Some(ImageRef::parse(s).unwrap());
        let restart_only = trigger(Action::Restart, None);
        assert_eq!(restart_only.permit(None), Ok(Intent::Restart));
        assert_eq!(restart_only.permit(img("ghcr.io/acme/web:1")), Err(Refusal::RestartOnly));
        let set = trigger(Action::SetImage, Some("ghcr.io/acme/*"));
        assert_eq!(set.permit(None), Ok(Intent::Restart));
        assert!(matches!(set.permit(img("ghcr.io/acme/web:1")), Ok(Intent::SetImage(_))));
        assert!(matches!(set.permit(img("ghcr.io/evil/web:1")), Err(Refusal::OutsidePattern { .. })));
        let no_pattern = trigger(Action::SetImage, None);
        assert!(matches!(no_pattern.permit(img("ghcr.io/acme/web:1")), Err(Refusal::OutsidePattern { .. })));
    }
}
