//! Process and clock faults for the fault-injection tests (`e2e/tests/process_faults.rs`):
//! signals to a process, a control plane of a test's own whose components it kills, restarts
//! and stops (`e2e/cluster kill|start|stop|cont`), a follower of the audit log that reacts the
//! moment a write is recorded, and a wall clock a test steps while the process runs.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::audit::{self, AuditEvent};

/// Sends `signal` (`STOP`, `CONT`, `KILL`, ...) to process `pid`.
///
/// # Panics
/// When `kill` fails (the process is gone).
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{signal} {pid} failed");
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
    use std::io::Write as _;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
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

    /// Serialises the tests that fault the private cluster.
    pub fn lock() -> &'static tokio::sync::Mutex<()> {
        static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        &LOCK
    }

    fn up(dir: &Path) -> anyhow::Result<Self> {
        let status = Command::new(crate::repo_root().join("e2e/cluster"))
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
