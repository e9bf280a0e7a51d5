//! Registry push notifications: which image was just pushed, from a Docker Hub, Harbor or
//! Alibaba Cloud Container Registry (ACR) webhook body.

use serde_json::Value;

use crate::image::{ImageError, ImageRef};

/// The registries whose push notifications are understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// Docker Hub: `push_data.tag` and `repository.repo_name`; the image is named the way
    /// manifests name Docker Hub images, without `docker.io/`.
    DockerHub,
    /// Harbor's default payload format: `event_data.resources[0].resource_url`.
    Harbor,
    /// Alibaba Cloud ACR (personal edition): `registry.{region}.aliyuncs.com/{repo_full_name}`
    /// and `push_data.tag`.
    AlibabaAcr,
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// An image was pushed.
    Pushed {
        /// Which registry sent it.
        registry: Registry,
        /// The pushed image.
        image: ImageRef,
    },
    /// A well-formed notification about something other than a push (e.g. Harbor's
    /// `PULL_ARTIFACT`); nothing is to be done.
    NotAPush {
        /// The event type the registry gave.
        event: String,
    },
}

/// Why a body is not a notification that can be acted on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    /// Not JSON at all.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but none of the known formats.
    #[error(
        "the body is not a Docker Hub, Harbor or Alibaba Cloud ACR push notification (expected push_data or event_data)"
    )]
    Unrecognized,
    /// A known format with a field missing or of the wrong type.
    #[error("{registry:?} notification without {field}")]
    Missing {
        /// The format recognised.
        registry: Registry,
        /// The JSON path of the missing field.
        field: &'static str,
    },
    /// The image the notification names is not a valid reference.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Reads a push notification.
pub fn parse(body: &[u8]) -> Result<Notification, PayloadError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| PayloadError::NotJson(e.to_string()))?;
    if v.get("event_data").is_some() {
        harbor(&v)
    } else if v.get("push_data").is_some() && v.pointer("/repository/region").is_some() {
        acr(&v)
    } else if v.get("push_data").is_some() {
        docker_hub(&v)
    } else {
        Err(PayloadError::Unrecognized)
    }
}

fn str_at<'a>(v: &'a Value, registry: Registry, field: &'static str) -> Result<&'a str, PayloadError> {
    v.pointer(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(PayloadError::Missing { registry, field })
}

fn harbor(v: &Value) -> Result<Notification, PayloadError> {
    let r = Registry::Harbor;
    let event = str_at(v, r, "/type")?;
    if event != "PUSH_ARTIFACT" {
        return Ok(Notification::NotAPush { event: event.chars().take(64).collect() });
    }
    let url = str_at(v, r, "/event_data/resources/0/resource_url")?;
    Ok(Notification::Pushed { registry: r, image: ImageRef::parse(url)? })
}

fn acr(v: &Value) -> Result<Notification, PayloadError> {
    let r = Registry::AlibabaAcr;
    let region = str_at(v, r, "/repository/region")?;
    let repo = str_at(v, r, "/repository/repo_full_name")?;
    let tag = str_at(v, r, "/push_data/tag")?;
    let image = ImageRef::parse(&format!("registry.{region}.aliyuncs.com/{repo}:{tag}"))?;
    Ok(Notification::Pushed { registry: r, image })
}

fn docker_hub(v: &Value) -> Result<Notification, PayloadError> {
    let r = Registry::DockerHub;
    let repo = str_at(v, r, "/repository/repo_name")?;
    let tag = str_at(v, r, "/push_data/tag")?;
    Ok(Notification::Pushed { registry: r, image: ImageRef::parse(&format!("{repo}:{tag}"))? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pushed(body: &str) -> (Registry, String) {
        match parse(body.as_bytes()).unwrap() {
            Notification::Pushed { registry, image } => (registry, image.to_string()),
            other @ Notification::NotAPush { .. } => panic!("{other:?}"),
        }
    }

    #[test]
    fn docker_hub_push() {
        let body = r#"{"callback_url":"https://registry.hub.docker.com/u/acme/shop/hook/x/",
            "push_data":{"pushed_at":1417566161,"pusher":"ci","tag":"1.4.2"},
            "repository":{"repo_name":"acme/shop","namespace":"acme","name":"shop","status":"Active"}}"#;
        assert_eq!(pushed(body), (Registry::DockerHub, "acme/shop:1.4.2".into()));
    }

    #[test]
    fn harbor_push() {
        let body = r#"{"type":"PUSH_ARTIFACT","occur_at":1586922308,"operator":"admin",
            "event_data":{"resources":[{"digest":"sha256:1","tag":"v2",
              "resource_url":"harbor.example.com/shop/web:v2"}],
            "repository":{"name":"web","namespace":"shop","repo_full_name":"shop/web","repo_type":"private"}}}"#;
        assert_eq!(pushed(body), (Registry::Harbor, "harbor.example.com/shop/web:v2".into()));
    }

    #[test]
    fn harbor_events_other_than_push_are_not_pushes() {
        let body = r#"{"type":"PULL_ARTIFACT","event_data":{"resources":[]}}"#;
        assert_eq!(parse(body.as_bytes()).unwrap(), Notification::NotAPush { event: "PULL_ARTIFACT".into() });
    }

    #[test]
    fn acr_push() {
        let body = r#"{"push_data":{"digest":"sha256:457f4aa83fc9a6663ab9d1b0a6e2dce25a12a943ed5bf2c1747c58d48bbb4917",
              "pushed_at":"2016-11-29 12:25:46","tag":"latest"},
            "repository":{"date_created":"2016-10-28 21:31:42","name":"biz-server","namespace":"biz",
              "region":"cn-hangzhou","repo_authentication_type":"NO_CERTIFIED","repo_full_name":"biz/biz-server",
              "repo_origin_type":"NO_CERTIFIED","repo_type":"PRIVATE"}}"#;
        assert_eq!(
            pushed(body),
            (Registry::AlibabaAcr, "registry.cn-hangzhou.aliyuncs.com/biz/biz-server:latest".into())
        );
    }

    #[test]
    fn malformed_payloads_are_errors_not_panics() {
        assert!(matches!(parse(b"\xff\xfe not json"), Err(PayloadError::NotJson(_))));
        assert!(matches!(parse(b"{\"a\":"), Err(PayloadError::NotJson(_))));
        assert_eq!(parse(b"[]"), Err(PayloadError::Unrecognized));
        assert_eq!(parse(b"{}"), Err(PayloadError::Unrecognized));
        assert_eq!(
            parse(br#"{"push_data":{"tag":"x"},"repository":{"repo_name":42}}"#),
            Err(PayloadError::Missing { registry: Registry::DockerHub, field: "/repository/repo_name" })
        );
        assert_eq!(
            parse(br#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[]}}"#),
            Err(PayloadError::Missing {
                registry: Registry::Harbor,
                field: "/event_data/resources/0/resource_url"
            })
        );
        assert!(matches!(
            parse(br#"{"push_data":{"tag":"a b"},"repository":{"repo_name":"acme/shop"}}"#),
            Err(PayloadError::Image(_))
        ));
    }
}
