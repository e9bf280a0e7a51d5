//! Process and clock faults for the fault-injection tests (`e2e/tests/process_faults.rs`):
//! signals to a process, a control plane of a test's own whose components it kills, restarts
//! and stops (`e2e/cluster kill|start|stop|cont`), a follower of the audit log that reacts the
//! moment a write is recorded, and a wall clock a test steps while the process runs.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::audit::{self, AuditEvent};

/// Sends `signal` (`STOP`, `CONT`, `KILL`, ...) to process `pid`.
///
/// # Panics
/// When `kill` fails (the process is gone).
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid} failed");
}

/// Whether process `pid` runs (exists, and is not a zombie).
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(") ").map(|(_, rest)| !rest.starts_with(['Z', 'X'])))
        .unwrap_or(false)
}

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The status code of a plain-HTTP `GET path` to 127.0.0.1:`port` (`None`: no answer within
/// `timeout`).
pub fn http_status(port: u16, path: &str, timeout: Duration) -> Option<u16> {
    http(port, "GET", path, timeout).map(|(status, _)| status)
}

/// One plain HTTP/1.0 request to 127.0.0.1:`port`: the status and body (`None`: no connection,
/// or no whole answer within `timeout`).
pub fn http(port: u16, method: &str, path: &str, timeout: Duration) -> Option<(u16, String)> {
    use std::io::Write as _;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

/// A wall-clock offset file for libfaketime ([`crate::launch::Launch::clock_file`]): the process
/// started with it reads `offset` seconds ahead of (negative: behind) the real clock, and a
/// rewrite is seen within about a second.
#[derive(Debug)]
pub struct ClockFile {
    /// The file.
    pub path: PathBuf,
}

impl ClockFile {
    /// A new file under `target/e2e-logs/` named after `name`, at offset 0.
    pub fn new(name: &str) -> Self {
        let path = crate::repo_root().join(format!("target/e2e-logs/{name}-{}.faketime", std::process::id()));
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("target/e2e-logs");
        let clock = Self { path };
        clock.set(0);
        clock
    }

    /// Steps the clock to `offset` seconds from the real one (written whole, by rename, so a
    /// reader never sees half a line).
    pub fn set(&self, offset: i64) {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, format!("{offset:+}\n")).expect("write the faketime file");
        std::fs::rename(&tmp, &self.path).expect("replace the faketime file");
    }
}

/// Follows an audit log from where it ends now: [`AuditTail::wait_for`] sees each event
/// recorded after that at most a few milliseconds after the API server wrote it.
#[derive(Debug)]
pub struct AuditTail {
    file: std::fs::File,
    pending: String,
}

impl AuditTail {
    /// Starts at the end of the log at `path`.
    ///
    /// # Panics
    /// When the log cannot be opened.
    pub fn new(path: &Path) -> Self {
        let mut file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        file.seek(SeekFrom::End(0)).expect("seek to the audit log's end");
        Self { file, pending: String::new() }
    }

    /// Polls every 2 ms (blocking the thread: a test calls this when nothing else of it must
    /// run) until an event matching `pred` is recorded, or `timeout` passes.
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&AuditEvent) -> bool) -> Option<AuditEvent> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut more = String::new();
            let _ = self.file.read_to_string(&mut more);
            self.pending.push_str(&more);
            while let Some(end) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=end).collect();
                if let Ok(event) = audit::parse_line(&line)
                    && event.stage == "ResponseComplete"
                    && pred(&event)
                {
                    return Some(event);
                }
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A control plane of the test binary's own (`e2e/cluster up` in `target/e2e-faults-<pid>`), for
/// the tests that kill or stop its components: the run's shared cluster stays untouched. Its
/// watchdog stops it when the test process exits.
#[derive(Debug)]
pub struct PrivateCluster {
    /// `DIURNAL_E2E_DIR` of `e2e/cluster`: `kubeconfig`, `pki/`, `audit.log`, `logs/`.
    pub dir: PathBuf,
}

impl PrivateCluster {
    /// The binary's private cluster, started on first use (about 20 s). Tests that fault it
    /// must hold [`PrivateCluster::lock`] so that one fault at a time hits it.
    ///
    /// # Panics
    /// When the cluster cannot be started.
    pub fn shared() -> &'static Self {
        static CLUSTER: OnceLock<PrivateCluster> = OnceLock::new();
        CLUSTER.get_or_init(|| {
            let dir = crate::repo_root().join(format!("target/e2e-faults-{}", std::process::id()));
            Self::up(&dir).unwrap_or_else(|e| panic!("the private control plane: {e:#}"))
        })
    }

    /// [`PrivateCluster::shared`], or `None` when end-to-end tests are skipped (`DIURNAL_E2E=skip`,
    /// not under `CI=true`, as for the shared cluster).
    pub fn shared_or_skip() -> Option<&'static Self> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        if !ci && std::env::var("DIURNAL_E2E").is_ok_and(|v| v == "skip") {
            eprintln!("\n*** DIURNAL_E2E=skip: the private control plane's fault tests are SKIPPED ***\n");
            return None;
        }
        Some(Self::shared())
    }

    /// Serialises the tests that fault the private cluster.
    pub fn lock() -> &'static tokio::sync::Mutex<()> {
        static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        &LOCK
    }

    fn up(dir: &Path) -> anyhow::Result<Self> {
        crate::cluster_up(dir)?;
        Ok(Self { dir: dir.to_path_buf() })
    }

    /// Runs `e2e/cluster ACTION COMPONENT` (`kill`, `start`, `restart`, `stop`, `cont`).
    ///
    /// # Panics
    /// When it fails.
    pub fn fault(&self, action: &str, component: &str) {
        let status = Command::new(crate::repo_root().join("e2e/cluster"))
            .args([action, component])
            .env("DIURNAL_E2E_DIR", &self.dir)
            .status()
            .expect("run e2e/cluster");
        assert!(status.success(), "e2e/cluster {action} {component} failed (logs in {})", self.dir.display());
    }

    /// An admin client.
    pub async fn client(&self) -> kube::Client {
        crate::client_from(&self.dir.join("kubeconfig")).await
    }

    /// Its audit log (appended to by every kube-apiserver instance, the killed ones included).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    /// The successful scale writes of `user` in `ns`, from its audit log.
    pub fn scale_writes(&self, ns: &str, user: &str) -> Vec<AuditEvent> {
        audit::writes_from(&self.audit_log(), ns)
            .into_iter()
            .filter(|e| e.user.username == user && e.is_scale_write())
            .collect()
    }
}

/// A custom resource with a `scale` subresource (`faulttargets.faults.diurnal.dev`): scaling it
/// starts no pods, so a thousand of them cost the API server little.
pub const TARGET_CRD: &str = r"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: faulttargets.faults.diurnal.dev
spec:
  group: faults.diurnal.dev
  scope: Namespaced
  names: {plural: faulttargets, singular: faulttarget, kind: FaultTarget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {replicas: {type: integer}}}
          status: {type: object, properties: {replicas: {type: integer}}}
    subresources:
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
";

/// The `FaultTarget`s of namespace `ns`.
pub fn targets(client: &kube::Client, ns: &str) -> kube::Api<kube::api::DynamicObject> {
    let resource = kube::discovery::ApiResource {
        group: "faults.diurnal.dev".into(),
        version: "v1".into(),
        api_version: "faults.diurnal.dev/v1".into(),
        kind: "FaultTarget".into(),
        plural: "faulttargets".into(),
    };
    kube::Api::namespaced_with(client.clone(), ns, &resource)
}

/// Creates `n` `FaultTarget`s `t-0`.. at size 1 and as many CronHPAs of the same names, each
/// with one `@date` job `peak` scaling its target to `size` at `fire`.
///
/// # Panics
/// When a creation fails.
pub async fn same_second_fires(client: &kube::Client, ns: &str, n: usize, fire: jiff::Timestamp, size: i32) {
    use futures::StreamExt as _;
    let api = targets(client, ns);
    futures::stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let api = api.clone();
            async move {
                let name = format!("t-{i}");
                let obj: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
                    "apiVersion": "faults.diurnal.dev/v1", "kind": "FaultTarget",
                    "metadata": {"name": name}, "spec": {"replicas": 1},
                }))
                .expect("a FaultTarget");
                api.create(&kube::api::PostParams::default(), &obj)
                    .await
                    .unwrap_or_else(|e| panic!("creating FaultTarget {name}: {e}"));
                let target = serde_json::json!({"apiVersion": "faults.diurnal.dev/v1", "kind": "FaultTarget", "name": name});
                let jobs = serde_json::json!([{"name": "peak", "schedule": crate::utc_date(fire), "targetSize": size}]);
                crate::create_cronhpa(client, ns, crate::cronhpa(&name, &target, &jobs)).await;
            }
        })
        .await;
}

/// What became of `n` same-second fires (to `size`, at `fire`), by target: from the audit log
/// (`writes`: the controller's successful scale writes) and the targets' sizes now.
#[derive(Debug, Clone, Default)]
pub struct FireCount {
    /// Fires expected.
    pub expected: usize,
    /// Targets scaled by exactly one write.
    pub applied: usize,
    /// Targets with more than one scale write.
    pub doubled: Vec<String>,
    /// Targets not at `size` now.
    pub lost: Vec<String>,
    /// Targets at `size` with no scale write in the audit log (the API server died after the
    /// write was stored and before it was audited).
    pub unaudited: Vec<String>,
    /// Fire lateness, the API server's receipt of each first write minus the instant: p50, p99
    /// and max, in seconds.
    pub lateness: (f64, f64, f64),
    /// The last write's receipt.
    pub last_write: Option<jiff::Timestamp>,
}

impl FireCount {
    /// Counts, from `writes` and the sizes of the `n` targets in `ns`.
    ///
    /// # Panics
    /// When the targets cannot be listed.
    pub async fn of(
        client: &kube::Client,
        ns: &str,
        n: usize,
        size: i64,
        fire: jiff::Timestamp,
        writes: &[AuditEvent],
    ) -> Self {
        let mut by_name = std::collections::HashMap::<&str, Vec<&AuditEvent>>::new();
        for w in writes {
            by_name.entry(w.name()).or_default().push(w);
        }
        let list =
            targets(client, ns).list(&kube::api::ListParams::default()).await.expect("list FaultTargets");
        let sizes: std::collections::HashMap<String, Option<i64>> = list
            .items
            .into_iter()
            .map(|o| {
                (
                    o.metadata.name.clone().unwrap_or_default(),
                    o.data.pointer("/spec/replicas").and_then(serde_json::Value::as_i64),
                )
            })
            .collect();
        let mut count = Self { expected: n, ..Self::default() };
        let mut late = Vec::new();
        for i in 0..n {
            let name = format!("t-{i}");
            let w = by_name.get(name.as_str()).map_or(&[][..], Vec::as_slice);
            let at_size = sizes.get(&name).copied().flatten() == Some(size);
            match (w.len(), at_size) {
                (_, false) => count.lost.push(name.clone()),
                (0, true) => count.unaudited.push(name.clone()),
                (1, true) => count.applied += 1,
                (_, true) => count.doubled.push(name.clone()),
            }
            if let Some(t) = w.first().and_then(|e| e.received()) {
                late.push(t.duration_since(fire).as_secs_f64());
            }
        }
        late.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss,
                reason = "an index into a short list"
            )]
            let i = ((late.len() as f64 - 1.0) * q).round().max(0.0) as usize;
            late.get(i).copied().unwrap_or(f64::NAN)
        };
        count.lateness = (pick(0.5), pick(0.99), late.last().copied().unwrap_or(f64::NAN));
        count.last_write = writes.iter().filter_map(AuditEvent::received).max();
        count
    }
}
