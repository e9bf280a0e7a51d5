//! The API server's audit log, as the record of what really happened: which writes reached the
//! API server, from whom, with which body, and how they were answered.
//!
//! `e2e/cluster` makes kube-apiserver write `audit.log` in the cluster's folder (beside the
//! kubeconfig), one `audit.k8s.io/v1` Event per line, synchronously as each request completes.
//! It records writes only, and not those of kube-controller-manager, kube-scheduler or kwok;
//! the bodies of writes to pods, events, leases, deployments, `*/scale`, HPAs and CronHPAs (see
//! the policy in `e2e/cluster`). Each diurnal process the harness starts has a user of its own
//! ([`crate::Controller::user`]), so its requests are told apart from the test's (the kube
//! client sends no user agent to tell them by).

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Deserialize;

/// The verbs of writes.
pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// One request, as the API server recorded it when its response was complete. Only the fields
/// the tests read are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// `ResponseComplete` (or `Panic`); [`read`] keeps only the first.
    pub stage: String,
    /// `create`, `update`, `patch`, `delete`, ...
    pub verb: String,
    /// The request's path and query.
    #[serde(default, rename = "requestURI")]
    pub request_uri: String,
    /// Who sent it.
    pub user: User,
    /// The client's `User-Agent`, if it sent one.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// What it was about.
    #[serde(default)]
    pub object_ref: Option<ObjectRef>,
    /// How it was answered.
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
    /// The body (recorded at level `Request`): for a PATCH, the patch itself.
    #[serde(default)]
    pub request_object: Option<serde_json::Value>,
    /// When the API server received it (RFC 3339, microseconds).
    pub request_received_timestamp: String,
}

/// `user` of an audit event.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The authenticated name: a client certificate's CN.
    #[serde(default)]
    pub username: String,
}

/// `objectRef` of an audit event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Plural resource, e.g. `deployments`.
    #[serde(default)]
    pub resource: String,
    /// e.g. `scale`, `status`.
    #[serde(default)]
    pub subresource: Option<String>,
    /// Namespace of the object.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name of the object (absent on a create by `generateName`).
    #[serde(default)]
    pub name: Option<String>,
    /// API group, empty or absent for the core group.
    #[serde(default)]
    pub api_group: Option<String>,
    /// Version the request was made at.
    #[serde(default)]
    pub api_version: Option<String>,
}

/// `responseStatus` of an audit event.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponseStatus {
    /// HTTP status code.
    #[serde(default)]
    pub code: u16,
}

impl AuditEvent {
    /// The resource with its subresource, e.g. `deployments/scale`.
    pub fn resource(&self) -> String {
        let Some(r) = &self.object_ref else { return String::new() };
        match &r.subresource {
            Some(sub) => format!("{}/{sub}", r.resource),
            None => r.resource.clone(),
        }
    }

    /// The object's name (empty when the event names none).
    pub fn name(&self) -> &str {
        self.object_ref.as_ref().and_then(|r| r.name.as_deref()).unwrap_or_default()
    }

    /// Whether the request succeeded (2xx).
    pub fn succeeded(&self) -> bool {
        self.response_status.as_ref().is_some_and(|s| (200..300).contains(&s.code))
    }

    /// Whether this is a write (see [`WRITE_VERBS`]).
    pub fn is_write(&self) -> bool {
        WRITE_VERBS.contains(&self.verb.as_str())
    }

    /// Whether this is a successful PATCH or PUT of some object's `scale` subresource.
    pub fn is_scale_write(&self) -> bool {
        matches!(self.verb.as_str(), "patch" | "update")
            && self.object_ref.as_ref().and_then(|r| r.subresource.as_deref()) == Some("scale")
            && self.succeeded()
    }

    /// `spec.replicas` of the body (a scale patch's size).
    pub fn replicas(&self) -> Option<i64> {
        self.request_object.as_ref()?.pointer("/spec/replicas")?.as_i64()
    }

    /// When the API server received the request.
    pub fn received(&self) -> Option<Timestamp> {
        self.request_received_timestamp.parse().ok()
    }

    /// One line for an assertion message: time, user, verb, resource, name, body and code.
    pub fn summary(&self) -> String {
        let body = self.request_object.as_ref().map(|b| {
            let text = b.to_string();
            if text.len() > 300 { format!("{}...", &text[..300]) } else { text }
        });
        format!(
            "{} {} {} {} {} {} -> {}",
            self.request_received_timestamp,
            self.user.username,
            self.verb,
            self.resource(),
            self.name(),
            body.unwrap_or_default(),
            self.response_status.as_ref().map_or(0, |s| s.code),
        )
    }
}

/// Parses one line of the log.
///
/// # Errors
/// When the line is not an audit event.
pub fn parse_line(line: &str) -> Result<AuditEvent, serde_json::Error> {
    serde_json::from_str(line)
}

/// Where the run's cluster writes its audit log (`audit.log` beside the kubeconfig).
pub fn path() -> PathBuf {
    crate::cluster_dir().join("audit.log")
}

/// Every complete event of stage `ResponseComplete` in the log whose line contains `needle`
/// (a cheap pre-filter; `""` keeps all). A last line still being written is left out.
///
/// # Panics
/// When the log cannot be read, or a complete line is not an audit event.
pub fn read(needle: &str) -> Vec<AuditEvent> {
    read_from(&path(), needle)
}

/// [`read`] of the audit log at `path` (another cluster's, e.g. a
/// [`crate::faults::PrivateCluster`]'s).
///
/// # Panics
/// As [`read`].
pub fn read_from(path: &std::path::Path, needle: &str) -> Vec<AuditEvent> {
    let mut text = rotated(path);
    text.push_str(&std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("reading the audit log {}: {e} (e2e/cluster up enables it)", path.display())
    }));
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle))
        .map(|(i, line)| {
            parse_line(line)
                .unwrap_or_else(|e| panic!("{}:{}: not an audit event: {e}", path.display(), i + 1))
        })
        .filter(|e| e.stage == "ResponseComplete")
        .collect()
}

/// The text of rotated logs beside `path` (`audit-<time>.log`, oldest first), for a cluster
/// started before e2e/cluster stopped the API server rotating its log at 100 MB.
fn rotated(path: &std::path::Path) -> String {
    let Some(dir) = path.parent() else { return String::new() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "log")
                        && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("audit-"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|f| std::fs::read_to_string(f).ok()).collect()
}

/// The writes to objects in namespace `ns`, in the order the API server completed them.
pub fn writes(ns: &str) -> Vec<AuditEvent> {
    writes_from(&path(), ns)
}

/// [`writes`] in the audit log at `path`.
pub fn writes_from(path: &std::path::Path, ns: &str) -> Vec<AuditEvent> {
    read_from(path, &format!("\"namespace\":\"{ns}\""))
        .into_iter()
        .filter(|e| e.is_write() && e.object_ref.as_ref().and_then(|r| r.namespace.as_deref()) == Some(ns))
        .collect()
}

/// The successful writes of `user` to `scale` subresources in namespace `ns`.
pub fn scale_writes(ns: &str, user: &str) -> Vec<AuditEvent> {
    writes(ns).into_iter().filter(|e| e.user.username == user && e.is_scale_write()).collect()
}

/// The events as lines, for an assertion message.
pub fn describe<'a>(events: impl IntoIterator<Item = &'a AuditEvent>) -> String {
    let lines: Vec<String> = events.into_iter().map(|e| format!("  {}", e.summary())).collect();
    if lines.is_empty() { "  (none)".to_owned() } else { lines.join("\n") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line from a real `e2e/cluster` audit log: a controller scaling a Deployment (the kube
    /// client sends no user agent).
    const SCALE_PATCH: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"08700ea5-4eb3-4aae-a13b-a7b15a261a76","stage":"ResponseComplete","requestURI":"/apis/apps/v1/namespaces/restore-1190411/deployments/web/scale?","verb":"patch","user":{"username":"diurnal-e2e-controller:restore-1190412","groups":["system:masters","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["X509SHA256=7b7d2b1d970bc0e90a31c2723fd8299233785f6f3a2775819997d28ed24c7149"]}},"sourceIPs":["127.0.0.1"],"objectRef":{"resource":"deployments","namespace":"restore-1190411","name":"web","apiGroup":"apps","apiVersion":"v1","subresource":"scale"},"responseStatus":{"metadata":{},"code":200},"requestObject":{"spec":{"replicas":5}},"requestReceivedTimestamp":"2026-12-01T18:11:11.019708Z","stageTimestamp":"2026-12-01T18:11:11.023128Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}"#;

    #[test]
    fn a_scale_patch_line_reads_as_a_scale_write_with_its_size() {
        let e = parse_line(SCALE_PATCH).unwrap();
        assert_eq!(e.stage, "ResponseComplete");
        assert_eq!(e.verb, "patch");
        assert_eq!(e.user.username, "diurnal-e2e-controller:restore-1190412");
        assert_eq!(e.user_agent, None);
        assert_eq!(e.resource(), "deployments/scale");
        assert_eq!(e.name(), "web");
        let r = e.object_ref.as_ref().unwrap();
        assert_eq!((r.api_group.as_deref(), r.api_version.as_deref()), (Some("apps"), Some("v1")));
        assert_eq!(r.namespace.as_deref(), Some("restore-1190411"));
        assert!(e.is_scale_write());
        assert_eq!(e.replicas(), Some(5));
        assert_eq!(e.received(), Some("2026-12-01T18:11:11.019708Z".parse().unwrap()));
        assert!(e.summary().contains(r#"patch deployments/scale web {"spec":{"replicas":5}} -> 200"#));
    }

    #[test]
    fn a_refused_write_is_not_a_scale_write_and_a_bad_line_is_an_error() {
        let refused = SCALE_PATCH.replace(r#""code":200"#, r#""code":409"#);
        assert!(!parse_line(&refused).unwrap().is_scale_write());
        assert!(parse_line(r#"{"stage":"ResponseComplete"}"#).is_err(), "verb and user are required");
    }
}
