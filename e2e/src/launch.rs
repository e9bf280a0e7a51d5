//! How the harness starts a diurnal process: as a user of its own (so the audit log tells its
//! requests apart from the test's), and optionally with a shifted wall clock (libfaketime).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use jiff::Timestamp;

/// Options for [`crate::Controller::start_with`].
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The process's wall clock reads this instant when it starts (and runs on from there), by
    /// libfaketime (`LD_PRELOAD`; Debian package `faketime`). The monotonic clock is left alone,
    /// so timers and timeouts run at real speed. The cluster's certificates are valid for 30
    /// days, so a clock up to a few weeks ahead still trusts the API server.
    pub fake_now: Option<Timestamp>,
    /// Groups of the process's user instead of `system:masters` (e.g. to run with the RBAC a
    /// test grants).
    pub groups: Option<Vec<String>>,
    /// The API server's address in the process's kubeconfig instead of the cluster's, e.g. a
    /// [`crate::toxi::Proxy`] in front of it (`https://` this address; the serving certificate
    /// covers 127.0.0.1).
    pub api_server: Option<SocketAddr>,
    /// The process's wall clock is shifted by the offset this file holds (libfaketime's
    /// `FAKETIME_TIMESTAMP_FILE`, e.g. `+3600`), read again every second, so a test steps the
    /// clock of a running process by rewriting it ([`crate::faults::ClockFile`]). Not with
    /// [`Launch::fake_now`].
    pub clock_file: Option<PathBuf>,
    /// The folder of the cluster to run against (`DIURNAL_E2E_DIR` of `e2e/cluster`, holding
    /// `kubeconfig` and `pki/`) instead of the run's shared one (e.g. a
    /// [`crate::faults::PrivateCluster`]).
    pub cluster_dir: Option<PathBuf>,
}

/// Where libfaketime's library is, if installed.
pub fn libfaketime() -> Option<PathBuf> {
    ["/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime"]
        .iter()
        .map(|dir| Path::new(dir).join("libfaketime.so.1"))
        .find(|path| path.exists())
}

impl Launch {
    /// Sets the environment that shifts `command`'s wall clock, if [`Launch::fake_now`] says so.
    ///
    /// # Panics
    /// When libfaketime is not installed (`scripts/install-test-deps` installs it).
    pub fn apply_clock(&self, command: &mut Command) {
        if let Some(file) = &self.clock_file {
            assert!(self.fake_now.is_none(), "a clock file and fake_now exclude each other");
            let lib = libfaketime().expect("libfaketime is not installed: run scripts/install-test-deps");
            // FAKETIME itself must stay unset: it takes priority over the file.
            command
                .env("LD_PRELOAD", lib)
                .env("FAKETIME_TIMESTAMP_FILE", file)
                .env("FAKETIME_CACHE_DURATION", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
            return;
        }
        let Some(at) = self.fake_now else { return };
        let lib = libfaketime().expect("libfaketime is not installed: run scripts/install-test-deps");
        // An offset, not an absolute start: libfaketime reads "+N" as N seconds from now.
        let offset = at.as_second() - Timestamp::now().as_second();
        command
            .env("LD_PRELOAD", lib)
            .env("FAKETIME", format!("{offset:+}"))
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    }
}

/// A kubeconfig for the run's cluster that authenticates as `user` in `groups`, with a client
/// certificate signed by the cluster's CA (`pki/ca.key` in the cluster's folder).
///
/// # Panics
/// When openssl fails or the cluster's CA is not readable.
pub fn user_kubeconfig(user: &str, groups: &[String]) -> PathBuf {
    user_kubeconfig_in(&crate::cluster_dir(), user, groups, None)
}

/// [`user_kubeconfig`] for the cluster whose folder is `cluster` (its `kubeconfig` and `pki/`),
/// reaching its API server at `api_server` (e.g. through a [`crate::toxi::Proxy`]) when given.
///
/// # Panics
/// When openssl fails or the cluster's CA is not readable.
pub fn user_kubeconfig_in(
    cluster: &Path,
    user: &str,
    groups: &[String],
    api_server: Option<SocketAddr>,
) -> PathBuf {
    assert!(!user.contains(['/', '=', '\\']), "{user}: not usable as a certificate subject");
    let dir = crate::repo_root().join("target/e2e-logs/users");
    std::fs::create_dir_all(&dir).unwrap();
    let pki = cluster.join("pki");
    let (key, csr, crt, ext) = (
        dir.join(format!("{user}.key")),
        dir.join(format!("{user}.csr")),
        dir.join(format!("{user}.crt")),
        dir.join(format!("{user}.ext")),
    );
    std::fs::write(&ext, "extendedKeyUsage=clientAuth\n").unwrap();
    let subject: String = groups.iter().map(|g| format!("/O={g}")).chain([format!("/CN={user}")]).collect();
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        &subject,
        "-keyout",
        &key.to_string_lossy(),
        "-out",
        &csr.to_string_lossy(),
    ]);
    // A serial of its own: `-CAcreateserial` would share one serial file between parallel tests.
    let serial = format!(
        "0x{:x}{:08x}",
        std::process::id(),
        Timestamp::now().as_nanosecond().unsigned_abs() % 0xffff_ffff
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr.to_string_lossy(),
        "-CA",
        &pki.join("ca.crt").to_string_lossy(),
        "-CAkey",
        &pki.join("ca.key").to_string_lossy(),
        "-set_serial",
        &serial,
        "-days",
        "30",
        "-extfile",
        &ext.to_string_lossy(),
        "-out",
        &crt.to_string_lossy(),
    ]);
    let admin = std::fs::read_to_string(cluster.join("kubeconfig")).unwrap();
    let mut config: serde_json::Value = crate::yaml_doc(&admin);
    config["users"] = serde_json::json!([{"name": "admin", "user": {
        "client-certificate": crt, "client-key": key,
    }}]);
    if let Some(addr) = api_server {
        config["clusters"][0]["cluster"]["server"] = format!("https://{addr}").into();
    }
    let path = dir.join(format!("{user}.kubeconfig"));
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}
