//! Authenticated `/metrics`, as controller-runtime's `WithAuthenticationAndAuthorization`: the
//! caller's bearer token is checked with a `TokenReview`, and the user it names must be allowed
//! `get` on the non-resource URL `/metrics` by a `SubjectAccessReview`. No token is a 401, a token
//! the API server does not accept a 401, a user without the right a 403.
//!
//! Answers are cached by a hash of the token (allowed for a minute, refused for ten seconds), so
//! a scrape every 30 s costs the API server two calls a minute per scraper; the cache is bounded,
//! and at most [`MAX_REVIEWS_IN_FLIGHT`] reviews run at once whatever callers send.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// How long an allowed token is trusted without asking again.
pub const ALLOWED_TTL: Duration = Duration::from_secs(60);
/// How long a refused token is refused without asking again.
pub const REFUSED_TTL: Duration = Duration::from_secs(10);
/// Tokens remembered at most.
pub const CACHE_ENTRIES: usize = 1024;
/// Reviews sent to the API server at once, at most.
pub const MAX_REVIEWS_IN_FLIGHT: usize = 4;

/// Why a call to `/metrics` is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401, 403, or 500 when the API server could not be asked.
    pub status: StatusCode,
    /// Said to the caller (never the token).
    pub message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

type Decision = Result<(), Refusal>;

/// Checks `/metrics` callers against the API server.
pub struct MetricsAuth {
    client: kube::Client,
    cache: Mutex<HashMap<[u8; 32], (Instant, Decision)>>,
    reviews: Semaphore,
}

impl std::fmt::Debug for MetricsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAuth").finish_non_exhaustive()
    }
}

fn refusal(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal { status, message: message.into() }
}

impl MetricsAuth {
    /// Reviews through `client` (its identity needs `create` on `tokenreviews` and
    /// `subjectaccessreviews`).
    pub fn new(client: kube::Client) -> Self {
        Self { client, cache: Mutex::new(HashMap::new()), reviews: Semaphore::new(MAX_REVIEWS_IN_FLIGHT) }
    }

    /// `Ok` when the request's bearer token may read `/metrics`.
    pub async fn check(&self, headers: &HeaderMap) -> Decision {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(refusal(StatusCode::UNAUTHORIZED, "/metrics needs a bearer token"));
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(decision) = self.cached(&key) {
            return decision;
        }
        let Ok(_permit) = self.reviews.acquire().await else {
            return Err(refusal(StatusCode::INTERNAL_SERVER_ERROR, "metrics authentication stopped"));
        };
        // Another caller with the same token may have finished while this one waited.
        if let Some(decision) = self.cached(&key) {
            return decision;
        }
        let decision = self.review(token).await;
        if decision.as_ref().is_err_and(|r| r.status == StatusCode::INTERNAL_SERVER_ERROR) {
            return decision; // not the caller's fault: asked again next time
        }
        self.remember(key, decision.clone());
        decision
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Decision> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (at, decision) = cache.get(key)?;
        let ttl = if decision.is_ok() { ALLOWED_TTL } else { REFUSED_TTL };
        (at.elapsed() < ttl).then(|| decision.clone())
    }

    fn remember(&self, key: [u8; 32], decision: Decision) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, (at, d)| at.elapsed() < if d.is_ok() { ALLOWED_TTL } else { REFUSED_TTL });
            if cache.len() >= CACHE_ENTRIES {
                // Still full of live entries (a flood of distinct tokens): start over rather than grow.
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), decision));
    }

    async fn review(&self, token: &str) -> Decision {
        let internal = |what: &str, e: kube::Error| {
            warn!(error = %e, "{what} failed; /metrics refused");
            refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed"))
        };
        let review = TokenReview {
            spec: TokenReviewSpec { token: Some(token.to_owned()), audiences: None },
            ..TokenReview::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| internal("TokenReview", e))?;
        let status = reviewed.status.unwrap_or_default();
        let (Some(true), Some(user)) = (status.authenticated, status.user) else {
            debug!(error = status.error.as_deref().unwrap_or(""), "/metrics: token not authenticated");
            return Err(refusal(StatusCode::UNAUTHORIZED, "the token is not valid"));
        };
        let access = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                groups: user.groups,
                uid: user.uid,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some("/metrics".to_owned()),
                    verb: Some("get".to_owned()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let decided = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &access)
            .await
            .map_err(|e| internal("SubjectAccessReview", e))?;
        let username = user.username.unwrap_or_default();
        if decided.status.is_some_and(|s| s.allowed) {
            Ok(())
        } else {
            debug!(user = %username, "/metrics: not allowed");
            Err(refusal(StatusCode::FORBIDDEN, format!("user {username:?} may not get /metrics")))
        }
    }
}
