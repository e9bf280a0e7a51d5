//! The end-to-end harness: a real control plane (`e2e/cluster`, binaries built from Go modules
//! by `e2e/controlplane/build.sh`), a kube client for it, and helpers to install diurnal's CRD,
//! run the `diurnal` binary against it and wait for conditions.
//!
//! Where the cluster comes from, in order:
//! 1. `DIURNAL_E2E_KUBECONFIG`: a cluster someone else started (`scripts/test` starts one per run
//!    and stops it at the end);
//! 2. otherwise this process runs `e2e/cluster up` once, in `target/e2e-cluster-<pid>`, and the
//!    cluster's watchdog stops it when this process exits.
//!
//! `DIURNAL_E2E=skip` skips every end-to-end test with a loud message — except under `CI=true`,
//! where a missing or broken control plane is a failure, never a skip.

pub mod audit;
mod controller;
pub mod docs;
pub mod faults;
pub mod launch;
pub mod toxi;
pub mod webhook;

pub use controller::Controller;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Config};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where the kubeconfig of the run's cluster is, starting the cluster if needed. `None` when
/// end-to-end tests are skipped.
fn kubeconfig_path() -> Option<PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        if let Ok(path) = std::env::var("DIURNAL_E2E_KUBECONFIG") {
            return Some(PathBuf::from(path));
        }
        if !ci && std::env::var("DIURNAL_E2E").is_ok_and(|v| v == "skip") {
            eprintln!(
                "\n*** DIURNAL_E2E=skip: end-to-end tests against the real control plane are SKIPPED ***\n"
            );
            return None;
        }
        match start_cluster() {
            Ok(path) => Some(path),
            Err(e) => panic!(
                "the end-to-end control plane could not be started: {e:#}\n\
                 (locally, DIURNAL_E2E=skip skips these tests; under CI=true nothing is skipped)"
            ),
        }
    })
    .clone()
}

fn start_cluster() -> anyhow::Result<PathBuf> {
    let dir = repo_root().join(format!("target/e2e-cluster-{}", std::process::id()));
    cluster_up(&dir)?;
    Ok(dir.join("kubeconfig"))
}

/// `e2e/cluster up` in `dir`, stopped by its watchdog when this process exits.
pub(crate) fn cluster_up(dir: &Path) -> anyhow::Result<()> {
    let status = Command::new(repo_root().join("e2e/cluster"))
        .arg("up")
        .env("DIURNAL_E2E_DIR", dir)
        .env("DIURNAL_E2E_OWNER_PID", std::process::id().to_string())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .context("running e2e/cluster up")?;
    if !status.success() {
        bail!("e2e/cluster up failed ({status}); logs are in {}/logs", dir.display());
    }
    Ok(())
}

/// A client for the run's cluster, or `None` when end-to-end tests are skipped.
pub async fn client() -> Option<Client> {
    Some(client_from(&kubeconfig_path()?).await)
}

/// A client authenticated as the kubeconfig at `path` says (e.g. a
/// [`service_account_kubeconfig`]).
pub async fn client_from(path: &Path) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("reading the kubeconfig {}: {e}", path.display()));
    let config = Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("the kubeconfig {}: {e}", path.display()));
    Client::try_from(config).expect("e2e client")
}

/// The kubeconfig path (for child processes), after [`client`] returned `Some`.
pub fn kubeconfig() -> PathBuf {
    kubeconfig_path().expect("end-to-end tests are not skipped")
}

/// The run's cluster folder (`DIURNAL_E2E_DIR` of `e2e/cluster`): the kubeconfig's folder, with
/// `pki/` and `audit.log`.
pub fn cluster_dir() -> PathBuf {
    kubeconfig().parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Skips the calling test (returning from it) when end-to-end tests are skipped.
#[macro_export]
macro_rules! cluster_or_skip {
    () => {
        match $crate::client().await {
            Some(client) => client,
            None => return,
        }
    };
}

/// Creates a namespace with a unique name starting with `prefix`.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!("{prefix}-{}", unique_suffix());
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    name
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{}{n}", std::process::id() % 100_000)
}

/// Installs the CRD exactly as `diurnal crd` prints it and waits until it is Established.
pub async fn install_crd(client: &Client) {
    install_crds(client, &run_diurnal(&["crd"]), "diurnal crd").await;
}

/// Where `e2e/controlplane/build.sh` put the upstream programs (helm, kubectl, ...) and CRDs.
pub fn controlplane_dir() -> PathBuf {
    let version = std::fs::read_to_string(repo_root().join("e2e/controlplane/VERSION")).unwrap();
    repo_root().join("target/controlplane").join(version.trim())
}

/// Installs the third-party CRDs the chart's optional objects need (cert-manager's `Certificate`
/// and `Issuer`, the Prometheus Operator's `ServiceMonitor`), as `e2e/controlplane/build.sh`
/// collected them from the projects' Go modules, and waits until they are Established.
pub async fn install_third_party_crds(client: &Client) {
    let dir = controlplane_dir().join("crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (e2e/controlplane/build.sh collects them)", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no CRDs", dir.display());
    for path in files {
        install_crds(client, &std::fs::read_to_string(&path).unwrap(), &path.display().to_string()).await;
    }
}

/// Applies every CustomResourceDefinition in `text` (server-side apply) and waits until each
/// is Established.
pub async fn install_crds(client: &Client, text: &str, source: &str) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for doc in diurnal_api::manifest::parse_documents(text, source).expect("valid YAML") {
        let crd: CustomResourceDefinition =
            serde_json::from_value(doc.value).unwrap_or_else(|e| panic!("{source}: not a CRD: {e}"));
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &PatchParams::apply("diurnal-e2e").force(), &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("{source}: applying CRD {name}: {e}"));
        wait_for(Duration::from_secs(30), &format!("CRD {name} Established"), || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let crd = api.get(&name).await.ok()?;
                let conditions = crd.status?.conditions?;
                conditions.iter().any(|c| c.type_ == "Established" && c.status == "True").then_some(())
            }
        })
        .await;
    }
}

/// Parses the single YAML document of `text` (comments and a leading `---` allowed).
pub fn yaml_doc<T: serde::de::DeserializeOwned>(text: &str) -> T {
    let doc = diurnal_api::manifest::parse_documents(text, "<yaml>").expect("valid YAML").into_iter().next();
    serde_json::from_value(doc.expect("one document").value).expect("document shape")
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    try_wait_for(timeout, check)
        .await
        .unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// Polls `check` every 100 ms until it returns `Some`, or returns `None` after `timeout` (for a
/// test that reports what it saw instead of only "timed out").
pub async fn try_wait_for<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `diurnal` binary: `DIURNAL_BIN` (e.g. a release build, for benchmarks), else this
/// workspace's debug build, built if missing.
pub fn diurnal_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("DIURNAL_BIN") {
            return PathBuf::from(bin);
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "diurnal-cli", "--bin", "diurnal"])
            .current_dir(repo_root())
            .status()
            .expect("cargo build diurnal");
        assert!(status.success(), "building the diurnal binary failed");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo_root().join("target"), PathBuf::from);
        target.join("debug/diurnal")
    })
    .clone()
}

/// Runs `diurnal ARGS` to completion and returns its stdout; panics with stderr on failure.
pub fn run_diurnal(args: &[&str]) -> String {
    let out = Command::new(diurnal_bin()).args(args).output().expect("run diurnal");
    assert!(out.status.success(), "diurnal {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Creates a Deployment `name` with `replicas` (its pods need not run: only `spec.replicas` is
/// observed).
pub async fn create_deployment(client: &Client, ns: &str, name: &str, replicas: i32) {
    use k8s_openapi::api::apps::v1::Deployment;
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}},
        },
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
}

/// `spec.replicas` of a Deployment.
pub async fn replicas(client: &Client, ns: &str, name: &str) -> i32 {
    use k8s_openapi::api::apps::v1::Deployment;
    let d = Api::<Deployment>::namespaced(client.clone(), ns).get(name).await.unwrap();
    d.spec.and_then(|s| s.replicas).unwrap_or(1)
}

/// The JSON form of CronHPA `name` scaling `target` with `jobs` (for [`create_cronhpa`]).
pub fn cronhpa(name: &str, target: &serde_json::Value, jobs: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"metadata": {"name": name}, "spec": {"scaleTargetRef": target, "jobs": jobs}})
}

/// A `scaleTargetRef` naming the `apps/v1` Deployment `name`.
pub fn deployment_ref(name: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": name})
}

/// An `@date` schedule firing once at `t` (read in UTC: give the object or job no other zone).
pub fn utc_date(t: jiff::Timestamp) -> String {
    format!("@date {}", t.strftime("%Y-%m-%d %H:%M:%S"))
}

/// Creates a CronHPA from its JSON form (apiVersion and kind are filled in).
pub async fn create_cronhpa(client: &Client, ns: &str, mut obj: serde_json::Value) {
    obj["apiVersion"] = "autoscaling.alibabacloud.com/v1beta1".into();
    obj["kind"] = "CronHorizontalPodAutoscaler".into();
    let obj: diurnal_api::CronHorizontalPodAutoscaler = serde_json::from_value(obj).unwrap();
    Api::<diurnal_api::CronHorizontalPodAutoscaler>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
}

/// Creates CronHPA `web` scaling Deployment `web` to `size` once, at `fire` (an `@date` job
/// named `peak`, in UTC).
pub async fn create_one_shot(client: &Client, ns: &str, fire: jiff::Timestamp, size: i32) {
    let jobs = serde_json::json!([{"name": "peak", "schedule": utc_date(fire), "targetSize": size}]);
    create_cronhpa(client, ns, cronhpa("web", &deployment_ref("web"), &jobs)).await;
}

/// A CronHPA's status.
pub async fn cronhpa_status(
    client: &Client,
    ns: &str,
    name: &str,
) -> Option<diurnal_api::CronHorizontalPodAutoscalerStatus> {
    Api::<diurnal_api::CronHorizontalPodAutoscaler>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .ok()?
        .status
}

/// Reasons of the events.k8s.io Events in a namespace, with their notes.
pub async fn events(client: &Client, ns: &str) -> Vec<(String, String)> {
    use k8s_openapi::api::events::v1::Event;
    Api::<Event>::namespaced(client.clone(), ns)
        .list(&kube::api::ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// A whole second at least `ahead` from now, so a fire planned for it is in the future.
pub fn next_whole_second(ahead: Duration) -> jiff::Timestamp {
    let t = jiff::Timestamp::now() + jiff::SignedDuration::try_from(ahead).unwrap();
    jiff::Timestamp::from_second(t.as_second() + 1).unwrap()
}

/// Sleeps until `at`.
pub async fn sleep_until(at: jiff::Timestamp) {
    let wait = at.duration_since(jiff::Timestamp::now());
    if let Ok(d) = Duration::try_from(wait) {
        tokio::time::sleep(d).await;
    }
}

/// Applies every document of a YAML file with server-side apply (`dry_run`: server-side dry
/// run), resolving each kind through discovery. Returns `kind/name` of each applied object.
pub async fn apply_file(client: &Client, path: &Path, dry_run: bool) -> anyhow::Result<Vec<String>> {
    use kube::api::DynamicObject;
    use kube::discovery::{Discovery, Scope};
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let discovery = Discovery::new(client.clone()).run().await.context("API discovery")?;
    let mut applied = Vec::new();
    for doc in diurnal_api::manifest::parse_documents(&text, &path.display().to_string())? {
        let obj: DynamicObject = serde_json::from_value(doc.value)?;
        let types = obj.types.clone().context("document without apiVersion/kind")?;
        let gvk = kube::core::GroupVersionKind::try_from(&types)?;
        let (resource, caps) = discovery
            .resolve_gvk(&gvk)
            .with_context(|| format!("{}: the API server does not serve {gvk:?}", path.display()))?;
        let name = obj.metadata.name.clone().context("document without a name")?;
        let api: Api<DynamicObject> = match (caps.scope, obj.metadata.namespace.as_deref()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &resource),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
        };
        let mut params = PatchParams::apply("diurnal-e2e").force();
        params.dry_run = dry_run;
        // Unknown or duplicate fields are errors, not warnings: a typo in a manifest must fail.
        params.field_validation = Some(kube::api::ValidationDirective::Strict);
        api.patch(&name, &params, &Patch::Apply(&obj))
            .await
            .with_context(|| format!("{}: applying {} {name}", path.display(), types.kind))?;
        applied.push(format!("{}/{name}", types.kind));
    }
    Ok(applied)
}

/// A kubeconfig for the run's cluster that authenticates as a service account (through a
/// `TokenRequest`), so a component runs with exactly the RBAC it ships with.
pub async fn service_account_kubeconfig(client: &Client, namespace: &str, name: &str) -> PathBuf {
    let token = service_account_token(client, namespace, name).await;
    let admin = std::fs::read_to_string(kubeconfig()).unwrap();
    let mut config: serde_json::Value = yaml_doc(&admin);
    config["users"] = serde_json::json!([{"name": "admin", "user": {"token": token}}]);
    // A file per call: tests running side by side each write one, and a process started with a
    // shared one could read it half-written ("failed to determine current context").
    let path = repo_root().join(format!("target/e2e-logs/{namespace}-{name}-{}.kubeconfig", unique_suffix()));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

/// Creates the service accounts `accounts` in `namespace` and binds the first to the
/// `diurnal-metrics-reader` cluster role (deploy/rbac/metrics-auth.yaml), as a user's Prometheus
/// is; returns the binding's name (`metrics-reader-<namespace>`), for the test to
/// delete.
///
/// # Panics
/// When the API server refuses an object.
pub async fn metrics_reader(client: &Client, namespace: &str, accounts: &[&str]) -> String {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    for name in accounts {
        let account: ServiceAccount =
            serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &account).await.unwrap();
    }
    let name = format!("metrics-reader-{namespace}");
    let binding: ClusterRoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "diurnal-metrics-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": accounts[0], "namespace": namespace}],
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(client.clone()).create(&PostParams::default(), &binding).await.unwrap();
    name
}

/// An hour's token of the service account `namespace/name` (a `TokenRequest`).
pub async fn service_account_token(client: &Client, namespace: &str, name: &str) -> String {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request: TokenRequest =
        serde_json::from_value(serde_json::json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("a token for the service account")
        .status
        .expect("token status")
        .token
}

/// The run's cluster's certificates (`e2e/cluster`'s `pki/`): `webhook-client-ca.crt` is the CA of
/// the client certificate the API server presents to admission webhooks.
pub fn pki_dir() -> PathBuf {
    kubeconfig().parent().expect("the kubeconfig is in the cluster's folder").join("pki")
}

/// Asserts that of the access objects `applied` (as `Kind/name`, from `docs`, the rendered YAML
/// documents), the only cluster-wide ones are those authenticated metrics need: creating
/// token reviews and subject access reviews (cluster-scoped, so no Role can grant them) and `get` on
/// `/metrics`. Nothing cluster-wide reads or writes an object.
pub fn assert_only_metrics_auth_cluster_wide(applied: &[String], docs: &[&str]) {
    let cluster_wide: Vec<&String> = applied.iter().filter(|a| a.starts_with("Cluster")).collect();
    assert!(
        cluster_wide.iter().all(|a| a.contains("-metrics-")),
        "only the metrics-authentication objects may be cluster-wide: {applied:?}"
    );
    for doc in docs.iter().filter(|d| d.contains("\nkind: ClusterRole\n")) {
        for line in doc.lines().filter(|l| l.contains("resources:") || l.contains("nonResourceURLs:")) {
            assert!(
                ["[\"tokenreviews\"]", "[\"subjectaccessreviews\"]", "[\"/metrics\"]"]
                    .iter()
                    .any(|r| line.ends_with(r)),
                "a cluster-wide rule beyond metrics authentication: {line}"
            );
        }
    }
}

/// `helm template` of the chart (`deploy/helm/diurnal`) as release `release` in `namespace`, with
/// `--set` values `set`; panics with helm's message when it fails.
pub fn helm_template(release: &str, namespace: &str, set: &[&str]) -> String {
    let mut command = Command::new(controlplane_dir().join("helm"));
    command.args([
        "template",
        release,
        "deploy/helm/diurnal",
        "--kube-version",
        "v1.34.4",
        "--namespace",
        namespace,
    ]);
    for value in set {
        command.args(["--set", value]);
    }
    let out = command.current_dir(repo_root()).output().expect("run helm");
    assert!(out.status.success(), "helm template {set:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The documents of a rendering that say what a component may do: service accounts, roles,
/// cluster roles, their bindings, and admission policies with their bindings.
pub fn access_documents(rendered: &str) -> Vec<&str> {
    const KINDS: [&str; 7] = [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ];
    rendered
        .split("\n---\n")
        .filter(|doc| KINDS.iter().any(|kind| doc.contains(&format!("\nkind: {kind}\n"))))
        .collect()
}

/// A `MutatingWebhookConfiguration` `name` that sends pod creations in namespace `ns` to `url`,
/// trusting `ca_bundle` (its JSON form: base64 of PEM), with `failure_policy`.
pub fn pod_webhook_configuration(
    name: &str,
    url: &str,
    ns: &str,
    ca_bundle: &serde_json::Value,
    failure_policy: &str,
) -> k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "webhooks": [{
            "name": "placement.diurnal.dev",
            "clientConfig": {"url": url, "caBundle": ca_bundle},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            "failurePolicy": failure_policy,
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": 5,
        }],
    }))
    .expect("a MutatingWebhookConfiguration")
}
