//! A real Prometheus (Debian's `prometheus` and `promtool`): backfilled with an OpenMetrics text,
//! for tests that read metrics history the way a user's cluster serves it, or scraping running
//! processes, for tests that query what they export.

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running, backfilled Prometheus; killed when dropped.
#[derive(Debug)]
pub struct Prometheus {
    child: Child,
    port: u16,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `prometheus` and `promtool` are on `PATH`.
pub fn installed() -> bool {
    let ok = |p: &str| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success());
    ok("prometheus") && ok("promtool")
}

fn ready(port: u16) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = write!(s, "GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

impl Prometheus {
    /// Backfills `openmetrics` (ending in `# EOF`) into a TSDB under `dir` with `promtool tsdb
    /// create-blocks-from openmetrics`, starts Prometheus on a free loopback port with unlimited
    /// retention, and waits (at most a minute) until it is ready. Panics with the tool's message
    /// on failure.
    pub fn start(dir: &Path, openmetrics: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let om = dir.join("backfill.om");
        std::fs::write(&om, openmetrics).unwrap();
        let data = dir.join("data");
        let out = Command::new("promtool")
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&om)
            .arg(&data)
            .output()
            .expect("run promtool");
        assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
        Self::launch(dir, "global: {}\n", &data, "100y")
    }

    /// Starts Prometheus with `config` (a prometheus.yml: scrape jobs for running processes) and
    /// an empty TSDB under `dir`, and waits (at most a minute) until it is ready.
    pub fn scraping(dir: &Path, config: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        Self::launch(dir, config, &dir.join("data"), "1d")
    }

    fn launch(dir: &Path, config: &str, data: &Path, retention: &str) -> Self {
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.tsdb.retention.time={retention}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let me = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(port) {
            assert!(
                Instant::now() < deadline,
                "prometheus did not get ready (log: {})",
                dir.join("prometheus.log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        me
    }

    /// An instant query (`/api/v1/query`): the answer's `data.result`, or the error Prometheus
    /// gave (a query that does not parse, say) as `Err`.
    pub fn query(&self, promql: &str) -> Result<Vec<serde_json::Value>, String> {
        let encoded: String = promql
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        write!(s, "GET /api/v1/query?query={encoded} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let json: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("{e}: {answer}"))?;
        if json["status"] != "success" {
            return Err(format!("{}: {}", json["errorType"], json["error"]));
        }
        Ok(json["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
