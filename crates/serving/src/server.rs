//! How every diurnal server (controller, webhook, trigger service) holds its connections, in one
//! place: HTTP/1.1 on hyper with a timer, so that
//!
//! - a request's headers must arrive within [`Limits::header_read_timeout`] (a slow-loris client
//!   that dribbles them is cut off; hyper counts from the moment it waits for a request, so this
//!   also closes a kept-alive connection that sends no next request in that time),
//! - a connection on which no byte moves either way for [`Limits::idle_timeout`] is closed
//!   (a stalled body, a client that does not read its answer),
//! - at most [`Limits::max_connections`] connections are open: past that the server stops
//!   accepting until one closes (the kernel's backlog holds the rest), and
//! - the TLS handshake, when TLS is on, must finish within the header-read timeout too.
//!
//! HTTP/2 is not offered, as controller-runtime's servers do by default since the HTTP/2
//! rapid-reset attacks (CVE-2023-44487): every client diurnal serves speaks HTTP/1.1.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::response::IntoResponse as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;
use tracing::{debug, info, warn};

use crate::metrics_auth::MetricsAuth;
use crate::tls::Tls;

/// Largest request head (request line and headers) read; a longer one is answered 431. Bearer
/// tokens and the API server's headers are a few kB; this bounds what a connection can make the
/// server buffer before a request starts (hyper's smallest allowed buffer is 8 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long open connections get to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Timeouts and the connection cap (`--header-read-timeout`, `--idle-timeout`,
/// `--max-connections` on every server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request's head must be complete this long after the server starts waiting for it (from
    /// accept, or from the end of the previous answer on a kept-alive connection). Also the TLS
    /// handshake's limit.
    pub header_read_timeout: Duration,
    /// A connection on which nothing is read or written for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once, at most.
    pub max_connections: usize,
}

impl Default for Limits {
    /// 10 s, 60 s, 1,024 connections.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// How a server serves: limits, TLS, and whether `/metrics` needs a token.
#[derive(Debug, Default)]
pub struct Options {
    /// Timeouts and the connection cap.
    pub limits: Limits,
    /// Serve TLS (with the certificate reloaded when its files change).
    pub tls: Option<Arc<Tls>>,
    /// Require a bearer token allowed to `get` the non-resource URL `/metrics`.
    pub metrics_auth: Option<Arc<MetricsAuth>>,
}

/// What is known of the connection a request came on; every request carries it as an extension
/// (and the peer address as axum's `ConnectInfo<SocketAddr>` too).
#[derive(Debug, Clone)]
pub struct Peer {
    /// The TCP peer.
    pub address: SocketAddr,
    /// The client certificate, when the client sent one; it was verified against the
    /// configured client CA during the handshake (a certificate that does not verify fails the
    /// handshake, so a request never carries one).
    pub client_certificate: Option<CertificateDer<'static>>,
}

struct Shared {
    router: Router,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    metrics_auth: Option<Arc<MetricsAuth>>,
    epoch: Instant,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open connections finish
/// their request for up to [`SHUTDOWN_GRACE`]. With TLS, the files are checked for a new
/// certificate meanwhile ([`Tls::watch`]).
pub async fn serve(
    listener: std::net::TcpListener,
    router: Router,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let limits = options.limits;
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let shared = Arc::new(Shared {
        router,
        limits,
        tls: options.tls,
        metrics_auth: options.metrics_auth,
        epoch: Instant::now(),
    });
    let reloader = shared.tls.clone().map(|tls| tokio::spawn(tls.watch()));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned_full = false;
    loop {
        // A slot first, then the connection: at the cap, connections wait in the backlog.
        let permit = if let Ok(p) = slots.clone().try_acquire_owned() {
            p
        } else {
            if !warned_full {
                warn!(max_connections = max, "connection limit reached; accepting again when one closes");
                warned_full = true;
            }
            tokio::select! {
                () = &mut shutdown => break,
                p = slots.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            }
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, address)) => {
                if slots.available_permits() > max / 2 {
                    warned_full = false;
                }
                let shared = shared.clone();
                let stopping = stopping.clone();
                tokio::spawn(async move {
                    connection(stream, address, &shared, stopping).await;
                    drop(permit);
                });
            }
            // Out of file descriptors and the like: a pause instead of a busy loop.
            Err(e) => {
                warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    let _ = stop.send(true);
    let open = max - slots.available_permits();
    if open > 0 {
        info!(open, "shutting down; open connections finish their request");
    }
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all)).await.is_err() {
        warn!("connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}

async fn connection(
    stream: TcpStream,
    address: SocketAddr,
    shared: &Arc<Shared>,
    stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new(shared.epoch));
    let io = Watched { inner: stream, activity: activity.clone() };
    let Some(tls) = &shared.tls else {
        let peer = Peer { address, client_certificate: None };
        return http(io, peer, shared, &activity, stopping).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    match tokio::time::timeout(shared.limits.header_read_timeout, acceptor.accept(io)).await {
        Ok(Ok(stream)) => {
            let client_certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned());
            let peer = Peer { address, client_certificate };
            http(stream, peer, shared, &activity, stopping).await;
        }
        Ok(Err(e)) => debug!(%address, error = %e, "TLS handshake failed"),
        Err(_) => debug!(%address, "TLS handshake not finished within the header-read timeout; closed"),
    }
}

async fn http<I>(
    io: I,
    peer: Peer,
    shared: &Arc<Shared>,
    activity: &Activity,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let address = peer.address;
    let service = {
        let shared = shared.clone();
        hyper::service::service_fn(move |request| {
            let shared = shared.clone();
            let peer = peer.clone();
            async move { Ok::<_, Infallible>(handle(&shared, peer, request).await) }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut idle = std::pin::pin!(activity.idle_for(shared.limits.idle_timeout));
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(%address, error = %e, "connection closed");
                }
                return;
            }
            () = &mut idle => {
                debug!(%address, "no traffic within the idle timeout; connection closed");
                return;
            }
            _ = stopping.wait_for(|stop| *stop), if !draining => {
                // Finish the request in flight, then close instead of keeping the connection alive.
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

async fn handle(shared: &Shared, peer: Peer, request: Request<Incoming>) -> Response<Body> {
    let mut request = request.map(Body::new);
    request.extensions_mut().insert(ConnectInfo(peer.address));
    request.extensions_mut().insert(peer);
    if let Some(auth) = &shared.metrics_auth
        && request.uri().path() == "/metrics"
        && let Err(refusal) = auth.check(request.headers()).await
    {
        return refusal.into_response();
    }
    match shared.router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// When a connection last moved a byte, as milliseconds since the server started.
struct Activity {
    epoch: Instant,
    last: AtomicU64,
}

impl Activity {
    fn new(epoch: Instant) -> Self {
        let activity = Self { epoch, last: AtomicU64::new(0) };
        activity.touch();
        activity
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    /// Completes once nothing has moved for `limit`: one timer per connection, re-armed from the
    /// last activity rather than reset on every read.
    async fn idle_for(&self, limit: Duration) {
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        loop {
            let quiet = self.now().saturating_sub(self.last.load(Ordering::Relaxed));
            if quiet >= limit_ms {
                return;
            }
            tokio::time::sleep(Duration::from_millis(limit_ms - quiet)).await;
        }
    }
}

/// The TCP stream, noting each read and write in its [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
