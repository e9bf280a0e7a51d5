//! Network faults between a diurnal process and kube-apiserver, with toxiproxy
//! (`e2e/controlplane/toxiproxy/build.sh` builds `toxiproxy-server` from its Go module).
//!
//! A test starts its own [`Toxiproxy`] (on a free port, killed when dropped), puts a [`Proxy`]
//! in front of the run's API server ([`Toxiproxy::api_server_proxy`]) and starts a process
//! whose kubeconfig points at [`Proxy::listen`] (`Launch::api_server`). The proxy passes TCP
//! through, so TLS and client certificates work as before: the API server's serving certificate
//! covers 127.0.0.1, where every proxy listens. Faults are toxiproxy's "toxics", set through its
//! HTTP API: [`Proxy::add`] a [`Toxic`] ([`Toxic::latency`], [`Toxic::black_hole`],
//! [`Toxic::bandwidth`], [`Toxic::reset_peer`]), [`Proxy::remove`] it, or [`Proxy::disable`]
//! the proxy altogether (its connections closed, new ones refused).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What went wrong talking to toxiproxy.
#[derive(Debug, thiserror::Error)]
pub enum ToxiError {
    /// `toxiproxy-server` could not be built or started.
    #[error("starting toxiproxy-server: {0}")]
    Start(String),
    /// Its HTTP API could not be reached.
    #[error("toxiproxy API {method} {path}: {source}")]
    Io {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Its HTTP API answered with an error (e.g. 409: a toxic of that name exists).
    #[error("toxiproxy API {method} {path}: HTTP {status}: {body}")]
    Status {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The answer's body (toxiproxy's `{"error": ...}`).
        body: String,
    },
    /// Its answer could not be read.
    #[error("toxiproxy API {method} {path}: unreadable answer: {detail}")]
    Answer {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
        /// What was wrong with it.
        detail: String,
    },
}

/// The `toxiproxy-server` binary, built (or found current) once per test process.
///
/// # Errors
/// When the build script fails.
pub fn server_bin() -> Result<PathBuf, ToxiError> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = crate::repo_root().join("e2e/controlplane/toxiproxy/build.sh");
        let out = Command::new(&script)
            .arg("--path")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{} --path failed ({})", script.display(), out.status));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let path = text.lines().last().unwrap_or_default().trim();
        Ok(PathBuf::from(path))
    })
    .clone()
    .map_err(ToxiError::Start)
}

/// The run's API server's address, from its kubeconfig (`https://127.0.0.1:PORT`).
///
/// # Panics
/// When the kubeconfig names no such server.
pub fn api_server_addr() -> SocketAddr {
    let path = crate::kubeconfig();
    let config: Value = crate::yaml_doc(&std::fs::read_to_string(&path).unwrap());
    let server = config.pointer("/clusters/0/cluster/server").and_then(Value::as_str).unwrap_or_default();
    server.strip_prefix("https://").and_then(|a| a.trim_end_matches('/').parse().ok()).unwrap_or_else(|| {
        panic!("{}: clusters[0].cluster.server {server:?} is not https://IP:PORT", path.display())
    })
}

/// A `toxiproxy-server` process of the test's own; killed when dropped.
#[derive(Debug)]
pub struct Toxiproxy {
    child: Child,
    api: SocketAddr,
    /// Where its log goes.
    pub log: PathBuf,
}

impl Toxiproxy {
    /// Starts `toxiproxy-server` on a free port of 127.0.0.1 and waits until its API answers.
    ///
    /// # Errors
    /// When it cannot be built, or does not answer within 10 s (after three tries: another
    /// process may take the free port first).
    pub async fn start(name: &str) -> Result<Self, ToxiError> {
        let bin = server_bin()?;
        let log =
            crate::repo_root().join(format!("target/e2e-logs/toxiproxy-{name}-{}.log", std::process::id()));
        std::fs::create_dir_all(log.parent().unwrap_or(&log)).map_err(|e| ToxiError::Start(e.to_string()))?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port().map_err(|e| ToxiError::Start(format!("finding a free port: {e}")))?;
            let file = std::fs::File::create(&log)
                .map_err(|e| ToxiError::Start(format!("{}: {e}", log.display())))?;
            let stderr = file.try_clone().map_err(|e| ToxiError::Start(e.to_string()))?;
            let child = Command::new(&bin)
                .args(["-host", "127.0.0.1", "-port", &port.to_string()])
                .stdout(file)
                .stderr(stderr)
                .spawn()
                .map_err(|e| ToxiError::Start(format!("{}: {e}", bin.display())))?;
            let mut server = Self { child, api: SocketAddr::from(([127, 0, 0, 1], port)), log: log.clone() };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while tokio::time::Instant::now() < deadline {
                match server.call("GET", "/proxies", None).await {
                    Ok(_) => return Ok(server),
                    Err(e) => last = format!("its API did not answer within 10 s: {e}"),
                }
                if let Ok(Some(status)) = server.child.try_wait() {
                    last = format!("exited ({status})");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            server.kill();
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(ToxiError::Start(format!("{last}; the end of its log {}:\n{}", log.display(), tail.join("\n"))))
    }

    /// A proxy named `name` on a free port of 127.0.0.1, forwarding to `upstream`.
    ///
    /// # Errors
    /// When toxiproxy refuses it (e.g. the name is taken).
    pub async fn proxy(&self, name: &str, upstream: SocketAddr) -> Result<Proxy, ToxiError> {
        let body =
            json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string(), "enabled": true});
        let answer = self.call("POST", "/proxies", Some(&body)).await?;
        let listen =
            answer["listen"].as_str().and_then(|l| l.parse().ok()).ok_or_else(|| ToxiError::Answer {
                method: "POST".into(),
                path: "/proxies".into(),
                detail: format!("no listen address in {answer}"),
            })?;
        Ok(Proxy { api: self.api, name: name.to_owned(), listen })
    }

    /// A proxy named `name` in front of the run's kube-apiserver ([`api_server_addr`]).
    ///
    /// # Errors
    /// As [`Toxiproxy::proxy`].
    pub async fn api_server_proxy(&self, name: &str) -> Result<Proxy, ToxiError> {
        self.proxy(name, api_server_addr()).await
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ToxiError> {
        call(self.api, method, path, body).await
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Toxiproxy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One proxy of a [`Toxiproxy`].
#[derive(Debug, Clone)]
pub struct Proxy {
    api: SocketAddr,
    name: String,
    /// Where it listens: the address to give a client instead of the upstream's.
    pub listen: SocketAddr,
}

impl Proxy {
    /// Cuts the connection: closes every open connection and refuses new ones (the listener is
    /// closed) until [`Proxy::enable`].
    ///
    /// # Errors
    /// When toxiproxy's API fails.
    pub async fn disable(&self) -> Result<(), ToxiError> {
        self.set_enabled(false).await
    }

    /// Listens again after [`Proxy::disable`], on the same address.
    ///
    /// # Errors
    /// When toxiproxy's API fails (e.g. the port was taken meanwhile).
    pub async fn enable(&self) -> Result<(), ToxiError> {
        self.set_enabled(true).await
    }

    async fn set_enabled(&self, enabled: bool) -> Result<(), ToxiError> {
        let path = format!("/proxies/{}", self.name);
        call(self.api, "POST", &path, Some(&json!({"enabled": enabled}))).await.map(drop)
    }

    /// Adds `toxic` to every connection, open and new.
    ///
    /// # Errors
    /// When toxiproxy refuses it (e.g. a toxic of that name is already there).
    pub async fn add(&self, toxic: &Toxic) -> Result<(), ToxiError> {
        let path = format!("/proxies/{}/toxics", self.name);
        call(self.api, "POST", &path, Some(&toxic.to_json())).await.map(drop)
    }

    /// Removes the toxic named `name`.
    ///
    /// # Errors
    /// When there is none of that name.
    pub async fn remove(&self, name: &str) -> Result<(), ToxiError> {
        let path = format!("/proxies/{}/toxics/{name}", self.name);
        call(self.api, "DELETE", &path, None).await.map(drop)
    }
}

/// Which way a toxic acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// From the client to the upstream (requests).
    Upstream,
    /// From the upstream to the client (responses).
    Downstream,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Downstream => "downstream",
        }
    }
}

/// What a toxic does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Delays the data by `latency` ± `jitter`.
    Latency {
        /// The delay.
        latency: Duration,
        /// Up to this much more or less.
        jitter: Duration,
    },
    /// Drops all data; closes the connection after `timeout`, never if zero (a black hole).
    Timeout {
        /// When to close; zero: never.
        timeout: Duration,
    },
    /// Passes at most `kilobytes_per_second`.
    Bandwidth {
        /// The rate, in KB/s.
        kilobytes_per_second: u64,
    },
    /// Resets the connection (TCP RST) after `timeout`, immediately if zero.
    ResetPeer {
        /// When to reset.
        timeout: Duration,
    },
}

/// A toxic: a [`Kind`] acting on one [`Stream`] of every connection of a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    /// Its name on the proxy (for [`Proxy::remove`]).
    pub name: String,
    /// Which way it acts.
    pub stream: Stream,
    /// What it does.
    pub kind: Kind,
    /// The share of connections it acts on, 0 to 1.
    pub toxicity: f32,
}

impl Toxic {
    /// Delays `stream` by `latency`.
    pub fn latency(name: &str, stream: Stream, latency: Duration) -> Self {
        Self::new(name, stream, Kind::Latency { latency, jitter: Duration::ZERO })
    }

    /// A black hole on `stream`: the connection stays open and nothing gets through.
    pub fn black_hole(name: &str, stream: Stream) -> Self {
        Self::new(name, stream, Kind::Timeout { timeout: Duration::ZERO })
    }

    /// At most `kilobytes_per_second` on `stream`.
    pub fn bandwidth(name: &str, stream: Stream, kilobytes_per_second: u64) -> Self {
        Self::new(name, stream, Kind::Bandwidth { kilobytes_per_second })
    }

    /// Resets each connection after `timeout` of data on `stream`.
    pub fn reset_peer(name: &str, stream: Stream, timeout: Duration) -> Self {
        Self::new(name, stream, Kind::ResetPeer { timeout })
    }

    fn new(name: &str, stream: Stream, kind: Kind) -> Self {
        Self { name: name.to_owned(), stream, kind, toxicity: 1.0 }
    }

    /// The body of toxiproxy's `POST /proxies/{proxy}/toxics`.
    pub fn to_json(&self) -> Value {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (kind, attributes) = match self.kind {
            Kind::Latency { latency, jitter } => {
                ("latency", json!({"latency": ms(latency), "jitter": ms(jitter)}))
            }
            Kind::Timeout { timeout } => ("timeout", json!({"timeout": ms(timeout)})),
            Kind::Bandwidth { kilobytes_per_second } => ("bandwidth", json!({"rate": kilobytes_per_second})),
            Kind::ResetPeer { timeout } => ("reset_peer", json!({"timeout": ms(timeout)})),
        };
        json!({
            "name": self.name, "type": kind, "stream": self.stream.as_str(),
            "toxicity": self.toxicity, "attributes": attributes,
        })
    }
}

/// A free TCP port of 127.0.0.1 (free when asked: another process may take it first).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One request to toxiproxy's HTTP API. HTTP/1.0, so the answer is never chunked and ends
/// when the server closes the connection.
async fn call(api: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ToxiError> {
    let io = |source| ToxiError::Io { method: method.into(), path: path.into(), source };
    let answer_error =
        |detail: String| ToxiError::Answer { method: method.into(), path: path.into(), detail };
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(api).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| io(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 10 s")))?
        .map_err(io)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, content) =
        text.split_once("\r\n\r\n").ok_or_else(|| answer_error(format!("no header end in {text:?}")))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| answer_error(format!("no status in {head:?}")))?;
    if !(200..300).contains(&status) {
        return Err(ToxiError::Status {
            method: method.into(),
            path: path.into(),
            status,
            body: content.trim().into(),
        });
    }
    if content.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(content).map_err(|e| answer_error(format!("{e}: {content:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::net::TcpListener;

    #[test]
    fn toxics_are_the_bodies_toxiproxy_reads() {
        let latency = Toxic::latency("slow", Stream::Upstream, Duration::from_millis(1500));
        assert_eq!(
            latency.to_json(),
            json!({"name": "slow", "type": "latency", "stream": "upstream", "toxicity": 1.0,
                   "attributes": {"latency": 1500, "jitter": 0}})
        );
        let hole = Toxic::black_hole("hole", Stream::Downstream).to_json();
        assert_eq!((&hole["type"], &hole["attributes"]), (&json!("timeout"), &json!({"timeout": 0})));
        let narrow = Toxic::bandwidth("narrow", Stream::Downstream, 8).to_json();
        assert_eq!(narrow["attributes"], json!({"rate": 8}));
        let reset = Toxic::reset_peer("rst", Stream::Upstream, Duration::ZERO).to_json();
        assert_eq!((&reset["type"], &reset["attributes"]), (&json!("reset_peer"), &json!({"timeout": 0})));
    }

    /// A TCP echo server on a free port: writes back every byte it reads.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    /// Sends `data` through a new connection to `addr` and reads as many bytes back, within 3 s.
    async fn round_trip(addr: SocketAddr, data: &[u8]) -> std::io::Result<Vec<u8>> {
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.write_all(data).await?;
            let mut back = vec![0; data.len()];
            stream.read_exact(&mut back).await?;
            Ok(back)
        };
        tokio::time::timeout(Duration::from_secs(3), exchange)
            .await
            .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 3 s")))
    }

    /// Each fault does what its name says, on a real toxiproxy-server in front of an echo server
    /// (no cluster needed; `DIURNAL_E2E=skip` skips it with the end-to-end tests).
    #[tokio::test]
    async fn each_fault_does_what_it_says_through_a_real_toxiproxy() {
        if std::env::var("DIURNAL_E2E").is_ok_and(|v| v == "skip") && std::env::var("CI").is_err() {
            return;
        }
        let toxiproxy = Toxiproxy::start("unit").await.unwrap();
        let proxy = toxiproxy.proxy("echo", echo().await).await.unwrap();
        assert_eq!(round_trip(proxy.listen, b"ping").await.unwrap(), b"ping", "a clean proxy passes data");

        proxy.add(&Toxic::latency("slow", Stream::Upstream, Duration::from_millis(400))).await.unwrap();
        let start = Instant::now();
        round_trip(proxy.listen, b"ping").await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(400), "latency: {:?}", start.elapsed());
        let again = proxy.add(&Toxic::latency("slow", Stream::Upstream, Duration::ZERO)).await.unwrap_err();
        assert!(matches!(again, ToxiError::Status { status: 409, .. }), "a second toxic of a name: {again}");
        proxy.remove("slow").await.unwrap();

        proxy.add(&Toxic::black_hole("hole", Stream::Upstream)).await.unwrap();
        let err = round_trip(proxy.listen, b"ping").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "black hole: {err}");
        proxy.remove("hole").await.unwrap();

        proxy.add(&Toxic::reset_peer("rst", Stream::Upstream, Duration::ZERO)).await.unwrap();
        let err = round_trip(proxy.listen, b"ping").await.unwrap_err();
        assert_ne!(err.kind(), std::io::ErrorKind::TimedOut, "reset peer is no black hole: {err}");
        proxy.remove("rst").await.unwrap();

        // 1 KB/s: 3 KB take about 3 s one way (each way's buffer is counted).
        proxy.add(&Toxic::bandwidth("narrow", Stream::Downstream, 1)).await.unwrap();
        let start = Instant::now();
        let err = round_trip(proxy.listen, &[7; 6 * 1024]).await;
        assert!(
            err.is_err() || start.elapsed() >= Duration::from_secs(2),
            "bandwidth: {:?}",
            start.elapsed()
        );
        proxy.remove("narrow").await.unwrap();

        proxy.disable().await.unwrap();
        let err = round_trip(proxy.listen, b"ping").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "a disabled proxy: {err}");
        proxy.enable().await.unwrap();
        assert_eq!(round_trip(proxy.listen, b"ping").await.unwrap(), b"ping", "enabled again");

        let unknown = Proxy { name: "nope".into(), ..proxy.clone() };
        let err = unknown.disable().await.unwrap_err();
        assert!(matches!(err, ToxiError::Status { status: 404, .. }), "an unknown proxy: {err}");
    }
}
