//! Calling a trigger from a CI script: `diurnal trigger call URL`.
//!
//! The URL printed by `create` carries the token as `?token=`, which is what `curl` in the
//! field report's script sends. This client moves it into an `Authorization: Bearer` header
//! and POSTs, so the token stays out of proxy and Ingress access logs.

use std::time::Duration;

use http::{Request, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A call to make.
#[derive(Debug, Clone)]
pub struct Call {
    /// The trigger URL, with or without `?token=`.
    pub url: String,
    /// The token, when not in the URL.
    pub token: Option<String>,
    /// `?image=` to ask for (set-image triggers).
    pub image: Option<String>,
    /// Give up after this long.
    pub timeout: Duration,
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body (JSON from a diurnal server).
    pub body: String,
}

/// Why no answer came. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The URL is not an http(s) URL with a host.
    #[error("{0} is not an http:// or https:// URL")]
    BadUrl(String),
    /// No token in the URL or given separately.
    #[error("no token: the URL has no ?token= and none was given (DIURNAL_TRIGGER_TOKEN)")]
    NoToken,
    /// TLS set-up failed.
    #[error("loading the system's trusted certificates: {0}")]
    Tls(String),
    /// Connecting or exchanging failed.
    #[error("calling {url}: {message}")]
    Transport {
        /// The URL without its token.
        url: String,
        /// What failed.
        message: String,
    },
    /// No answer within the timeout.
    #[error("calling {url}: no answer within {seconds} s")]
    Timeout {
        /// The URL without its token.
        url: String,
        /// The timeout.
        seconds: u64,
    },
}

/// Splits the token out of `url`: (URL without it, token, the URL with `image` added).
fn prepare(call: &Call) -> Result<(Uri, String, String), CallError> {
    let (base, query) = match call.url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (call.url.as_str(), ""),
    };
    let mut token = None;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "token" {
            token = Some(v.into_owned());
        } else {
            rest.append_pair(&k, &v);
            any = true;
        }
    }
    if let Some(image) = &call.image {
        rest.append_pair("image", image);
        any = true;
    }
    let rest = rest.finish();
    let clean = if any { format!("{base}?{rest}") } else { base.to_owned() };
    let uri: Uri = clean.parse().map_err(|_| CallError::BadUrl(base.to_owned()))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(CallError::BadUrl(base.to_owned()));
    }
    let token = token.or_else(|| call.token.clone()).filter(|t| !t.is_empty()).ok_or(CallError::NoToken)?;
    Ok((uri, token, base.to_owned()))
}

/// POSTs to the trigger with the token as a bearer token. Any HTTP answer is `Ok`; the
/// caller decides what a status means. Install a rustls `CryptoProvider` first.
pub async fn call(call: &Call) -> Result<Answer, CallError> {
    let (uri, token, shown) = prepare(call)?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| CallError::Tls(e.to_string()))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let request = Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::USER_AGENT, concat!("diurnal-trigger-call/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::new()))
        .map_err(|_| CallError::BadUrl(shown.clone()))?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| transport(&shown, &e))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| CallError::Transport { url: shown.clone(), message: e.to_string() })?
            .to_bytes();
        Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned() })
    };
    tokio::time::timeout(call.timeout, exchange)
        .await
        .map_err(|_| CallError::Timeout { url: shown.clone(), seconds: call.timeout.as_secs() })?
}

fn transport(url: &str, e: &hyper_util::client::legacy::Error) -> CallError {
    // The full source chain says *why* (refused, DNS, certificate), which a pipeline log needs.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    CallError::Transport { url: url.to_owned(), message }
}

/// What a pipeline should do with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: done (or joined a rollout in progress).
    Done,
    /// 4xx other than 429: the call is wrong (token, id, image); retrying will not help.
    Refused,
    /// 429, 5xx, or no answer: worth retrying later.
    RetryLater,
}

/// Classifies a status.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Done,
        429 | 500..=599 => Verdict::RetryLater,
        _ => Verdict::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(url: &str, token: Option<&str>, image: Option<&str>) -> Call {
        Call {
            url: url.into(),
            token: token.map(Into::into),
            image: image.map(Into::into),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_token_moves_out_of_the_url() {
        let (uri, token, shown) =
            prepare(&c("https://hooks.example.com/hooks/v1/abc?token=s3cret", None, None)).unwrap();
        assert_eq!(uri.to_string(), "https://hooks.example.com/hooks/v1/abc");
        assert_eq!(token, "s3cret");
        assert!(!shown.contains("s3cret"));
        let (uri, _, _) =
            prepare(&c("http://h:8080/hooks/v1/abc?token=t&x=1", None, Some("ghcr.io/a/b:1"))).unwrap();
        assert_eq!(uri.to_string(), "http://h:8080/hooks/v1/abc?x=1&image=ghcr.io%2Fa%2Fb%3A1");
    }

    #[test]
    fn a_token_from_the_environment_is_used_when_the_url_has_none() {
        let (_, token, _) = prepare(&c("http://h/hooks/v1/abc", Some("envtok"), None)).unwrap();
        assert_eq!(token, "envtok");
        assert!(matches!(prepare(&c("http://h/hooks/v1/abc", None, None)), Err(CallError::NoToken)));
    }

    #[test]
    fn bad_urls_are_reported_without_the_token() {
        let e = prepare(&c("ftp://h/x?token=s3cret", None, None)).unwrap_err();
        assert!(matches!(e, CallError::BadUrl(_)));
        assert!(!e.to_string().contains("s3cret"));
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(200), Verdict::Done);
        assert_eq!(verdict(404), Verdict::Refused);
        assert_eq!(verdict(403), Verdict::Refused);
        assert_eq!(verdict(429), Verdict::RetryLater);
        assert_eq!(verdict(502), Verdict::RetryLater);
    }
}
