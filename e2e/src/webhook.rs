//! `diurnal webhook serve` as the end-to-end tests run it: with only deploy/rbac/webhook.yaml's
//! permissions, certificates from `diurnal webhook certs`, answering only callers with the API
//! server's client certificate, registered as a mutating webhook for one namespace's pods. The
//! process can be stopped, started again on the same port and certificates, and signalled, for
//! the fault tests and `e2e/tests/placement.rs`.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use kube::Client;
use kube::api::{Api, PostParams};

/// A placement webhook process; killed when dropped.
#[derive(Debug)]
pub struct PlacementWebhook {
    child: Child,
    /// Its HTTPS port on 127.0.0.1.
    pub port: u16,
    /// The `caBundle` (base64 of the PEM) that trusts its serving certificate.
    pub ca_bundle: String,
    kubeconfig: PathBuf,
    dir: PathBuf,
    /// Further `webhook serve` arguments, kept for a restart.
    extra: Vec<String>,
    /// Where its log goes (every instance appends).
    pub log: PathBuf,
}

impl Drop for PlacementWebhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PlacementWebhook {
    /// Applies the shipped RBAC, makes certificates and starts the webhook for `ns`'s pods;
    /// returns once it listens.
    ///
    /// # Panics
    /// When a step fails.
    pub async fn start(client: &Client, ns: &str) -> Self {
        Self::start_with(client, ns, &[]).await
    }

    /// [`PlacementWebhook::start`] with further `webhook serve` arguments (e.g. `--mode warn`).
    ///
    /// # Panics
    /// When a step fails.
    pub async fn start_with(client: &Client, ns: &str, extra: &[&str]) -> Self {
        crate::apply_file(client, &crate::repo_root().join("deploy/rbac/webhook.yaml"), false).await.unwrap();
        let kubeconfig = crate::service_account_kubeconfig(client, "diurnal-system", "diurnal-webhook").await;
        let dir = crate::repo_root().join(format!("target/e2e-logs/webhook-{ns}"));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(crate::diurnal_bin())
            .args(["webhook", "certs", "--service", "diurnal-webhook", "--namespace", "diurnal-system"])
            .args(["--extra-name", "127.0.0.1", "--out"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "certs: {}", String::from_utf8_lossy(&out.stderr));
        let ca_bundle = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let port = crate::faults::free_port();
        let log = dir.join("webhook.log");
        let extra: Vec<String> = extra.iter().map(|&a| a.to_owned()).collect();
        let child = Self::spawn(port, &kubeconfig, &dir, &log, &extra);
        let me = Self { child, port, ca_bundle, kubeconfig, dir, extra, log };
        me.wait_listening().await;
        me
    }

    fn spawn(
        port: u16,
        kubeconfig: &std::path::Path,
        dir: &std::path::Path,
        log: &std::path::Path,
        extra: &[String],
    ) -> Child {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        Command::new(crate::diurnal_bin())
            .args(["webhook", "serve", "--addr", &format!("127.0.0.1:{port}"), "--order-period", "1"])
            .args(extra)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--tls-cert")
            .arg(dir.join("tls.crt"))
            .arg("--tls-key")
            .arg(dir.join("tls.key"))
            .arg("--client-ca-file")
            .arg(crate::pki_dir().join("webhook-client-ca.crt"))
            .env("RUST_LOG", "info,diurnal_webhook=debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap()
    }

    async fn wait_listening(&self) {
        let port = self.port;
        crate::wait_for(Duration::from_secs(30), "the webhook to listen", || async move {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok().map(|_| ())
        })
        .await;
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the process (nothing listens on its port until [`PlacementWebhook::restart`]).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again on the same port and certificates; returns once it listens.
    pub async fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(self.port, &self.kubeconfig, &self.dir, &self.log, &self.extra);
        self.wait_listening().await;
    }

    /// Registers the webhook for pods of `ns` only, with `failure_policy` and a 5 s timeout;
    /// returns the configuration's name.
    ///
    /// # Panics
    /// When the API server refuses it.
    pub async fn register(&self, client: &Client, ns: &str, failure_policy: &str) -> String {
        let name = format!("diurnal-placement-{ns}");
        let url = format!("https://127.0.0.1:{}/mutate", self.port);
        let config =
            crate::pod_webhook_configuration(&name, &url, ns, &self.ca_bundle.clone().into(), failure_policy);
        Api::<MutatingWebhookConfiguration>::all(client.clone())
            .create(&PostParams::default(), &config)
            .await
            .unwrap();
        name
    }

    /// Its folder: `tls.crt`, `tls.key`, `ca.crt` (the CA that signed the serving certificate)
    /// and the log.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The CA certificate (PEM file) that trusts its serving certificate, for a client such as
    /// a Prometheus scraping its `/metrics`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
