//! Issue 13, item 11: certificate renewals of the placement webhook while pods are created, with
//! the real kube-apiserver calling the real `diurnal webhook serve` (`failurePolicy: Ignore`, as
//! the chart ships it: a pod the API server cannot get reviewed is created unplaced).
//!
//! cert-manager itself does not run here: the Go module proxy serves
//! `github.com/cert-manager/cert-manager` but not its `cmd/controller` module, so no cert-manager
//! binary can be built for this control plane. The tests do what its pieces do, with the chart's
//! chain shape (`templates/webhook.yaml`; `packaging.rs` checks that shape in the rendered chart):
//! the CA issuer signs serving certificates (rcgen here, ECDSA P-256, a new key for each), the
//! kubelet swaps the Secret's files atomically (a `..data`-style symlink), and cainjector copies
//! the CA Certificate's `ca.crt` into the configuration's `caBundle`, some time later.
//!
//! The webhook runs with `--header-read-timeout 300ms` and pods are created 500 ms apart, so the
//! API server's kept-alive connection is closed before each creation: every pod's review is a new
//! TLS handshake, which checks the served certificate against the `caBundle` of that moment.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use diurnal_e2e::{
    apply_file, cluster_or_skip, diurnal_bin, namespace, pki_dir, pod_webhook_configuration, repo_root,
    service_account_kubeconfig, wait_for,
};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt as _};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// Time between two pod creations: longer than the webhook's header-read timeout (300 ms), so
/// no connection is reused.
const INTERVAL: Duration = Duration::from_millis(500);
const PLACEMENT: &str = "diurnal.dev/placement";

fn ago(minutes: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(minutes * 60)
}

/// The chart's CA Certificate: `isCA`, ECDSA P-256 (the key is passed in: `rotationPolicy:
/// Never` keeps it across renewals), its own issuer. `issued` sets the certificate apart from
/// an earlier one of the same key.
fn ca_params(serial: u64, issued: SystemTime) -> CertificateParams {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "diurnal-webhook-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca.serial_number = Some(serial.into());
    ca.not_before = issued.into();
    ca.not_after = (issued + Duration::from_secs(87_600 * 3600)).into();
    ca
}

/// A serving certificate for the webhook (reached at 127.0.0.1 here; the chart's Service names too).
fn leaf_params(serial: u64) -> CertificateParams {
    let names = [
        "127.0.0.1",
        "diurnal-webhook.diurnal-system.svc",
        "diurnal-webhook.diurnal-system.svc.cluster.local",
    ];
    let mut leaf = CertificateParams::new(names.map(str::to_owned).to_vec()).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    leaf.serial_number = Some(serial.into());
    leaf.not_before = ago(1).into();
    leaf.not_after = (SystemTime::now() + Duration::from_secs(2160 * 3600)).into();
    leaf
}

/// A PEM certificate and key.
struct Pair {
    cert: String,
    key: String,
}

/// What cert-manager's CA issuer does on a serving-certificate (re)issue: a new key, signed by
/// the CA certificate `ca` with the CA's key.
fn issue_leaf(serial: u64, ca: &CertificateParams, ca_key: &KeyPair) -> Pair {
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(serial).signed_by(&key, &Issuer::from_params(ca, ca_key)).unwrap();
    Pair { cert: cert.pem(), key: key.serialize_pem() }
}

/// What the chart did before: the self-signed Issuer signs the serving certificate with its own
/// (new) key, so the certificate is its own CA, and its `ca.crt` is itself.
fn self_signed_leaf(serial: u64) -> Pair {
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(serial).self_signed(&key).unwrap();
    Pair { cert: cert.pem(), key: key.serialize_pem() }
}

/// `openssl x509 -fingerprint` of PEM text.
fn fingerprint(pem: &[u8]) -> String {
    use std::io::Write as _;
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(pem).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap().trim().to_owned()
}

/// `diurnal webhook serve`, reading its certificate from `<dir>/current/` as a pod reads a
/// mounted Secret; killed when dropped.
struct Webhook {
    child: Child,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
    generation: usize,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Webhook {
    async fn start(client: &Client, ns: &str, first: &Pair) -> Self {
        apply_file(client, &repo_root().join("deploy/rbac/webhook.yaml"), false).await.unwrap();
        let kubeconfig = service_account_kubeconfig(client, "diurnal-system", "diurnal-webhook").await;
        let dir = repo_root().join(format!("target/e2e-logs/webhook-certs-{ns}"));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = dir.join("webhook.log");
        let mut me = Self { child: Command::new("true").spawn().unwrap(), port, dir, log, generation: 0 };
        me.serve(first);
        let file = std::fs::File::create(&me.log).unwrap();
        me.child = Command::new(diurnal_bin())
            .args(["webhook", "serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--cert-check-period", "1", "--header-read-timeout", "300ms"])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--tls-cert")
            .arg(me.dir.join("current/tls.crt"))
            .arg("--tls-key")
            .arg(me.dir.join("current/tls.key"))
            .arg("--client-ca-file")
            .arg(pki_dir().join("webhook-client-ca.crt"))
            .env("RUST_LOG", "info,diurnal_webhook=debug,diurnal_serving=debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        me.wait_serving(first).await;
        me
    }

    /// Replaces the served files at once, as the kubelet updates a Secret volume (a new folder,
    /// then one symlink renamed over the old one).
    fn serve(&mut self, pair: &Pair) {
        self.generation += 1;
        let generation = format!("generation-{}", self.generation);
        let folder = self.dir.join(&generation);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("tls.crt"), &pair.cert).unwrap();
        std::fs::write(folder.join("tls.key"), &pair.key).unwrap();
        let link = self.dir.join("current.new");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&generation, &link).unwrap();
        std::fs::rename(&link, self.dir.join("current")).unwrap();
    }

    /// Waits until the webhook's TLS handshake presents `pair`'s certificate (it checks its files
    /// every second).
    async fn wait_serving(&self, pair: &Pair) {
        let expected = fingerprint(pair.cert.as_bytes());
        wait_for(Duration::from_secs(20), "the webhook serving the new certificate", || {
            let (port, expected) = (self.port, expected.clone());
            async move {
                let out = Command::new("openssl")
                    .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .ok()?;
                (fingerprint(&out.stdout) == expected).then_some(())
            }
        })
        .await;
    }

    /// Registers the webhook for pods of `ns` as the chart does (`failurePolicy: Ignore`),
    /// trusting `ca_bundle`.
    async fn register(&self, client: &Client, ns: &str, ca_bundle: &str) -> String {
        let name = format!("diurnal-certs-{ns}");
        let url = format!("https://127.0.0.1:{}/mutate", self.port);
        let ca_bundle = serde_json::to_value(ByteString(ca_bundle.into())).unwrap();
        // Ignore, as the chart ships it; a longer timeout than its 2 s, for a busy test machine.
        let mut config = pod_webhook_configuration(&name, &url, ns, &ca_bundle, "Ignore");
        config.webhooks.as_mut().unwrap()[0].timeout_seconds = Some(10);
        Api::<MutatingWebhookConfiguration>::all(client.clone())
            .create(&PostParams::default(), &config)
            .await
            .unwrap();
        name
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// What cainjector does: `caBundle` becomes `ca_bundle`.
async fn inject_ca(client: &Client, config: &str, ca_bundle: &str) {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let mut current = api.get(config).await.unwrap();
    current.webhooks.as_mut().unwrap()[0].client_config.ca_bundle = Some(ByteString(ca_bundle.into()));
    api.replace(config, &PostParams::default(), &current).await.unwrap();
}

/// A namespace with a ReplicaSet that opts in to placement (every pod bursts: baseline 0), and a
/// way to create its pods.
struct Pods {
    api: Api<Pod>,
    owner: serde_json::Value,
}

impl Pods {
    async fn new(client: &Client, ns: &str) -> Self {
        let replica_set: ReplicaSet = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "annotations": {"diurnal.dev/burst": "overflow"}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}},
        }))
        .unwrap();
        let created = Api::<ReplicaSet>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &replica_set)
            .await
            .unwrap();
        let owner = serde_json::json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                       "uid": created.uid().unwrap(), "controller": true});
        Self { api: Api::namespaced(client.clone(), ns), owner }
    }

    /// Creates a pod of the ReplicaSet (labelled outside its selector, so its controller leaves it
    /// be) and returns its name and the placement the webhook gave it (`None`: unplaced).
    async fn create(&self) -> Result<(String, Option<String>), kube::Error> {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"generateName": "renewal-", "labels": {"run": "renewal"}, "ownerReferences": [self.owner]},
            "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
        }))
        .unwrap();
        let created = self.api.create(&PostParams::default(), &pod).await?;
        Ok((created.name_any(), created.labels().get(PLACEMENT).cloned()))
    }

    /// Creates pods until one is placed: the webhook's caches are loaded and it is trusted.
    async fn wait_placed(&self, what: &str) {
        wait_for(Duration::from_secs(30), what, || async {
            let (_, placed) = self.create().await.ok()?;
            tokio::time::sleep(INTERVAL).await;
            placed.map(|_| ())
        })
        .await;
    }
}

/// One pod created while pods were created continuously: the phase it started in, its name and
/// placement, or the error of its creation.
type Created = (usize, Result<(String, Option<String>), String>);

/// Creates a pod every [`INTERVAL`] until stopped, recording the phase each started in.
struct Creator {
    phase: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    created: Arc<Mutex<Vec<Created>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Creator {
    fn start(pods: Pods) -> Self {
        let phase = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let created = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let (phase, stop, created) = (phase.clone(), stop.clone(), created.clone());
            async move {
                while !stop.load(Ordering::SeqCst) {
                    let at = phase.load(Ordering::SeqCst);
                    let result = pods.create().await.map_err(|e| e.to_string());
                    created.lock().unwrap().push((at, result));
                    tokio::time::sleep(INTERVAL).await;
                }
            }
        });
        Self { phase, stop, created, task }
    }

    /// Starts phase `n` and waits until `pods` pods were created in it.
    async fn phase(&self, n: usize, pods: usize) {
        self.phase.store(n, Ordering::SeqCst);
        wait_for(Duration::from_secs(60), &format!("{pods} pods created in phase {n}"), || async {
            let count = self.created.lock().unwrap().iter().filter(|c| c.0 == n).count();
            (count >= pods).then_some(())
        })
        .await;
    }

    async fn finish(self) -> Vec<Created> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        Arc::try_unwrap(self.created).unwrap().into_inner().unwrap()
    }
}

/// The chart's bootstrap CA: renewing the serving certificate (a new key) and renewing the CA (the
/// same key), with `caBundle` updated before or after the next serving certificate, never leaves
/// the API server unable to verify the webhook: every pod created throughout is placed.
#[tokio::test(flavor = "multi_thread")]
async fn renewals_under_the_bootstrap_ca_leave_no_pod_unplaced() {
    renewals_while_pods_are_created(4).await;
}

/// Issue 14's row: the same renewals while 200 pods are created (34 a phase, about two minutes);
/// every pod admitted and placed.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "about 2 min: cargo test -p diurnal-e2e --test webhook_certs -- --ignored"]
async fn renewals_while_200_pods_are_created_leave_no_pod_unplaced() {
    renewals_while_pods_are_created(34).await;
}

/// The renewals of [`renewals_under_the_bootstrap_ca_leave_no_pod_unplaced`], with at least
/// `per_phase` pods created in each of the six phases (3 in the first when `per_phase` is 4, as
/// the default run always had).
async fn renewals_while_pods_are_created(per_phase: usize) {
    let started = std::time::Instant::now();
    let first_phase = if per_phase == 4 { 3 } else { per_phase };
    let client = cluster_or_skip!();
    let ns = namespace(&client, "webhook-renewal").await;
    let ca_key = KeyPair::generate().unwrap();
    let ca1 = ca_params(1, ago(10));
    let ca1_pem = ca1.self_signed(&ca_key).unwrap().pem();
    let leaf1 = issue_leaf(101, &ca1, &ca_key);
    let mut webhook = Webhook::start(&client, &ns, &leaf1).await;
    let config = webhook.register(&client, &ns, &ca1_pem).await;
    let pods = Pods::new(&client, &ns).await;
    pods.wait_placed("a first pod placed").await;

    let creator = Creator::start(pods);
    let phases = [
        "serving certificate 1 (CA certificate 1), caBundle CA 1",
        "serving certificate renewed: a new key, signed by CA 1",
        "CA renewed with the same key, caBundle CA 2 before the serving certificate is renewed",
        "serving certificate signed by CA 2, caBundle CA 2",
        "CA renewed again; serving certificate signed by CA 3 while caBundle is still CA 2 (cainjector lags)",
        "caBundle CA 3",
    ];
    creator.phase(0, first_phase).await;

    let leaf2 = issue_leaf(102, &ca1, &ca_key);
    webhook.serve(&leaf2);
    webhook.wait_serving(&leaf2).await;
    creator.phase(1, per_phase).await;

    let ca2 = ca_params(2, ago(5));
    let ca2_pem = ca2.self_signed(&ca_key).unwrap().pem();
    inject_ca(&client, &config, &ca2_pem).await;
    creator.phase(2, per_phase).await;

    let leaf3 = issue_leaf(103, &ca2, &ca_key);
    webhook.serve(&leaf3);
    webhook.wait_serving(&leaf3).await;
    creator.phase(3, per_phase).await;

    let ca3 = ca_params(3, ago(2));
    let ca3_pem = ca3.self_signed(&ca_key).unwrap().pem();
    let leaf4 = issue_leaf(104, &ca3, &ca_key);
    webhook.serve(&leaf4);
    webhook.wait_serving(&leaf4).await;
    creator.phase(4, per_phase).await;

    inject_ca(&client, &config, &ca3_pem).await;
    creator.phase(5, per_phase).await;

    let created = creator.finish().await;
    let report: Vec<String> = created.iter().map(|(at, c)| format!("{}: {c:?}", phases[*at])).collect();
    let unplaced: Vec<&String> =
        report.iter().zip(&created).filter(|(_, c)| !matches!(&c.1, Ok((_, Some(_))))).map(|r| r.0).collect();
    assert!(
        unplaced.is_empty(),
        "pods not placed (or not created) during the renewals:\n{}\n\nall:\n{}\n\nwebhook log:\n{}",
        unplaced.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        report.join("\n"),
        webhook.log_text()
    );
    assert!(created.len() >= first_phase + 5 * per_phase, "{report:#?}");
    eprintln!(
        "figures: certificate renewals: {} pods created, {} placed, 0 unplaced; wall {:.0} s",
        created.len(),
        created.iter().filter(|c| matches!(&c.1, Ok((_, Some(_))))).count(),
        started.elapsed().as_secs_f64()
    );
    // Each review came over a connection of its own (then closed by the header-read timeout),
    // so each pod's review was a TLS handshake checked against the caBundle of its moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let closed = webhook.log_text().matches("read header from client timeout").count();
    assert!(closed >= created.len(), "{closed} connections closed for {} pods", created.len());
}

/// The chart's previous chain, for contrast: the self-signed Issuer signed the serving certificate
/// itself, so `caBundle` was that certificate. Renewed (a new key), it is trusted by nobody until
/// cainjector copies it into `caBundle`; pods created in between are created unplaced
/// (`failurePolicy: Ignore`). Deterministic: the pods are created after the webhook serves the
/// new certificate (and after its kept-alive connection has closed) and before `caBundle` changes.
#[tokio::test(flavor = "multi_thread")]
async fn renewing_a_self_signed_serving_certificate_leaves_pods_unplaced_until_cainjector_catches_up() {
    let client = cluster_or_skip!();
    let ns = namespace(&client, "webhook-selfsigned").await;
    let first = self_signed_leaf(201);
    let mut webhook = Webhook::start(&client, &ns, &first).await;
    let config = webhook.register(&client, &ns, &first.cert).await;
    let pods = Pods::new(&client, &ns).await;
    pods.wait_placed("a first pod placed").await;

    let renewed = self_signed_leaf(202);
    webhook.serve(&renewed);
    webhook.wait_serving(&renewed).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // the header-read timeout closes idle connections
    let mut in_window = Vec::new();
    for _ in 0..3 {
        in_window.push(pods.create().await.expect("created: failurePolicy Ignore"));
        tokio::time::sleep(INTERVAL).await;
    }
    assert!(
        in_window.iter().all(|(_, placed)| placed.is_none()),
        "the API server cannot trust a renewed self-signed certificate before caBundle has it, yet: \
         {in_window:?}\n{}",
        webhook.log_text()
    );
    assert!(webhook.log_text().contains("TLS handshake failed"), "{}", webhook.log_text());

    inject_ca(&client, &config, &renewed.cert).await;
    pods.wait_placed("pods placed again once caBundle is the new certificate").await;
}
