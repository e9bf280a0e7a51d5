//! What a trigger is, as the server holds it (read from a `RedeployTrigger` and checked again,
//! whatever the API server already checked), and what a call to it may do.

use std::fmt;

use diurnal_api::trigger::{
    RedeployTrigger, RedeployTriggerSpec, TriggerAction, TriggerCall, TriggerWorkloadKind, WorkloadRef,
};
use kube::api::ObjectMeta;

use crate::image::{ImageError, ImagePattern, ImageRef};
use crate::token::TokenHash;

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// Annotation on a `RedeployTrigger`: when its token was issued (created or last rotated).
pub const TOKEN_ISSUED: &str = "diurnal.dev/token-issued";

/// Whether `s` is a DNS-1123 subdomain (what the API server requires of Deployment and
/// StatefulSet names): at most 253 characters, dot-separated labels of lowercase letters,
/// digits and inner `-`. Checked before a name goes into a request path.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_label_chars)
}

/// Whether `s` is a DNS-1123 label (namespaces, container names): at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_label_chars(s)
}

fn is_label_chars(s: &str) -> bool {
    let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    s.bytes().next().is_some_and(ok)
        && s.bytes().last().is_some_and(ok)
        && s.bytes().all(|b| ok(b) || b == b'-')
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
    /// Its name (a DNS-1123 subdomain, see [`Workload::new`]).
    pub name: String,
}

impl Workload {
    /// A workload reference whose name is a DNS-1123 subdomain.
    pub fn new(kind: WorkloadKind, name: &str) -> Result<Self, InvalidTrigger> {
        if !is_dns1123_subdomain(name) {
            return Err(InvalidTrigger::WorkloadName(name.chars().take(80).collect()));
        }
        Ok(Self { kind, name: name.to_owned() })
    }
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
    /// The name used on the command line and in the resource.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::SetImage => "set-image",
        }
    }
}

/// A trigger, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Namespace of the `RedeployTrigger` and of the workload.
    pub namespace: String,
    /// The `RedeployTrigger`'s name; with the namespace, the trigger's URL.
    pub name: String,
    /// The workload it rolls.
    pub workload: Workload,
    /// What it may do.
    pub action: Action,
    /// The container whose image `set-image` sets.
    pub container: Option<String>,
    /// Which images `set-image` may set; without one, none.
    pub image_pattern: Option<ImagePattern>,
    /// Whether the pattern may leave the registry open (`allowAnyImage`).
    pub allow_any_image: bool,
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// When the token was issued (created or last rotated), if known.
    pub token_issued: Option<jiff::Timestamp>,
    /// The latest calls, as the status last seen says (newest first).
    pub last_calls: Vec<TriggerCall>,
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

/// Why a `RedeployTrigger` is not served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidTrigger {
    /// No namespace or name (never from the API server).
    #[error("metadata.namespace and metadata.name are required")]
    Unnamed,
    /// The workload name is not a DNS-1123 subdomain.
    #[error("spec.workload.name {0:?} is not a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')")]
    WorkloadName(String),
    /// The container name is not a DNS-1123 label.
    #[error("spec.container {0:?} is not a DNS-1123 label")]
    Container(String),
    /// The hash is not `sha256:` and 64 hex digits.
    #[error("spec.tokenHash is not sha256: and 64 lowercase hexadecimal digits")]
    TokenHash,
    /// set-image without a pattern or a container.
    #[error("spec.action set-image needs spec.imagePattern and spec.container")]
    SetImageIncomplete,
    /// A pattern on a restart-only trigger.
    #[error("spec.imagePattern only applies to action set-image")]
    PatternWithoutSetImage,
    /// The pattern does not parse, or matches any registry without `allowAnyImage`.
    #[error("spec.imagePattern: {0}")]
    Pattern(#[from] ImageError),
}

impl Trigger {
    /// The key rate limits and coalescing use: `namespace/name`, unique in the cluster.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

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

    /// Reads a `RedeployTrigger`, checking everything again: the service acts only on what it
    /// can itself vouch for, whatever the API server let through.
    pub fn from_resource(rt: &RedeployTrigger) -> Result<Self, InvalidTrigger> {
        let namespace = rt.metadata.namespace.clone().ok_or(InvalidTrigger::Unnamed)?;
        let name = rt.metadata.name.clone().ok_or(InvalidTrigger::Unnamed)?;
        let spec = &rt.spec;
        let kind = match spec.workload.kind {
            TriggerWorkloadKind::Deployment => WorkloadKind::Deployment,
            TriggerWorkloadKind::StatefulSet => WorkloadKind::StatefulSet,
        };
        let workload = Workload::new(kind, &spec.workload.name)?;
        let token_hash = spec
            .token_hash
            .strip_prefix("sha256:")
            .filter(|h| h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .and_then(|h| TokenHash::from_hex(h).ok())
            .ok_or(InvalidTrigger::TokenHash)?;
        if let Some(c) = &spec.container
            && !is_dns1123_label(c)
        {
            return Err(InvalidTrigger::Container(c.chars().take(80).collect()));
        }
        let action = match spec.action {
            TriggerAction::Restart => Action::Restart,
            TriggerAction::SetImage => Action::SetImage,
        };
        let image_pattern = match (action, &spec.image_pattern) {
            (Action::SetImage, Some(p)) if spec.container.is_some() => {
                Some(ImagePattern::parse_checked(p, spec.allow_any_image)?)
            }
            (Action::SetImage, _) => return Err(InvalidTrigger::SetImageIncomplete),
            (Action::Restart, Some(_)) => return Err(InvalidTrigger::PatternWithoutSetImage),
            (Action::Restart, None) => None,
        };
        let token_issued = rt
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(TOKEN_ISSUED))
            .and_then(|t| t.parse().ok())
            .or_else(|| rt.metadata.creation_timestamp.as_ref().map(|t| t.0));
        Ok(Self {
            namespace,
            name,
            workload,
            action,
            container: spec.container.clone(),
            image_pattern,
            allow_any_image: spec.allow_any_image,
            token_hash,
            token_issued,
            last_calls: rt.status.as_ref().map(|s| s.last_calls.clone()).unwrap_or_default(),
        })
    }

    /// The `RedeployTrigger` that stores this trigger: the token's hash, never the token.
    pub fn to_resource(&self) -> RedeployTrigger {
        let kind = match self.workload.kind {
            WorkloadKind::Deployment => TriggerWorkloadKind::Deployment,
            WorkloadKind::StatefulSet => TriggerWorkloadKind::StatefulSet,
        };
        let action = match self.action {
            Action::Restart => TriggerAction::Restart,
            Action::SetImage => TriggerAction::SetImage,
        };
        let annotations = self.token_issued.map(|t| [(TOKEN_ISSUED.to_owned(), t.to_string())].into());
        RedeployTrigger {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                annotations,
                ..ObjectMeta::default()
            },
            spec: RedeployTriggerSpec {
                workload: WorkloadRef { kind, name: self.workload.name.clone() },
                token_hash: format!("sha256:{}", self.token_hash.to_hex()),
                action,
                container: self.container.clone(),
                image_pattern: self.image_pattern.as_ref().map(|p| p.as_str().to_owned()),
                allow_any_image: self.allow_any_image,
            },
            status: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Token;

    fn trigger(action: Action, pattern: Option<&str>) -> Trigger {
        Trigger {
            namespace: "shop".into(),
            name: "web-deploy".into(),
            workload: Workload { kind: WorkloadKind::Deployment, name: "web".into() },
            action,
            container: Some("app".into()),
            image_pattern: pattern.map(|p| ImagePattern::parse(p).unwrap()),
            allow_any_image: false,
            token_hash: TokenHash::of("t"),
            token_issued: Some("2026-11-24T20:00:00Z".parse().unwrap()),
            last_calls: Vec::new(),
        }
    }

    #[test]
    fn the_resource_holds_the_hash_and_round_trips() {
        let token = Token::generate().unwrap();
        let mut t = trigger(Action::SetImage, Some("ghcr.io/acme/*"));
        t.token_hash = token.hash();
        let rt = t.to_resource();
        assert_eq!(rt.spec.token_hash, format!("sha256:{}", token.hash().to_hex()));
        let json = serde_json::to_string(&rt).unwrap();
        assert!(!json.contains(token.expose()));
        assert_eq!(Trigger::from_resource(&rt).unwrap(), t);
    }

    /// Issue 13, item 6: the name goes into a request path.
    #[test]
    fn workload_names_are_dns1123_subdomains() {
        for good in ["web", "web-1", "a.b.c", &"a".repeat(253), "0web"] {
            assert!(is_dns1123_subdomain(good), "{good}");
        }
        for bad in
            ["", "Web", "web/../../secrets", "web%2F", "-web", "web-", "a..b", "web?x", &"a".repeat(254)]
        {
            assert!(!is_dns1123_subdomain(bad), "{bad:?}");
            let mut rt = trigger(Action::Restart, None).to_resource();
            rt.spec.workload.name = bad.to_owned();
            assert!(matches!(Trigger::from_resource(&rt), Err(InvalidTrigger::WorkloadName(_))), "{bad:?}");
        }
    }

    #[test]
    fn what_the_schema_refuses_the_service_refuses_too() {
        let base = trigger(Action::SetImage, Some("ghcr.io/acme/*")).to_resource();
        let with = |f: &dyn Fn(&mut RedeployTrigger)| {
            let mut rt = base.clone();
            f(&mut rt);
            Trigger::from_resource(&rt)
        };
        assert_eq!(with(&|rt| rt.spec.token_hash = "sha256:XYZ".into()), Err(InvalidTrigger::TokenHash));
        assert_eq!(
            with(&|rt| rt.spec.token_hash = format!("sha256:{}", "A".repeat(64))),
            Err(InvalidTrigger::TokenHash)
        );
        assert_eq!(with(&|rt| rt.spec.token_hash = "a".repeat(64)), Err(InvalidTrigger::TokenHash));
        assert_eq!(with(&|rt| rt.spec.image_pattern = None), Err(InvalidTrigger::SetImageIncomplete));
        assert_eq!(with(&|rt| rt.spec.container = None), Err(InvalidTrigger::SetImageIncomplete));
        assert!(matches!(
            with(&|rt| rt.spec.container = Some("A_B".into())),
            Err(InvalidTrigger::Container(_))
        ));
        assert_eq!(
            with(&|rt| rt.spec.action = TriggerAction::Restart),
            Err(InvalidTrigger::PatternWithoutSetImage)
        );
        assert!(matches!(
            with(&|rt| rt.spec.image_pattern = Some("*/*".into())),
            Err(InvalidTrigger::Pattern(ImageError::AnyRegistry(_)))
        ));
        let forced = with(&|rt| {
            rt.spec.image_pattern = Some("*/*".into());
            rt.spec.allow_any_image = true;
        });
        assert!(forced.is_ok(), "{forced:?}");
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
