//! The patterns a `set-image` trigger restricts images to.
//!
//! A pattern is `REPOSITORY[:TAG][@DIGEST]`, where `*` in the repository or the tag stands for
//! any run of characters other than `/`:
//!
//! - the repository must match the image's (domain and path) — `ghcr.io/acme/*` allows every
//!   repository directly under `acme/`, not `acme/x/y`;
//! - with `:TAG`, the image must have a tag and it must match; without, any tag or none;
//! - an image **with a digest** is allowed only by a pattern with a digest part, because the
//!   runtime pulls the digest whatever the tag says: `@*` (any sha256 or sha512 digest),
//!   `@sha256:*` / `@sha512:*` (any of that algorithm), or `@sha256:<64 hex>` (exactly that one).
//!   A pattern with a digest part requires one: `ghcr.io/acme/shop@sha256:*` allows pinned
//!   references only.
//!
//! The registry part (before the first `/`) must not hold a `*` — `*/*`, `*`, `*.io/*` would let
//! the token's holder choose the registry — unless the trigger says `allowAnyImage`.

use std::fmt;

use super::reference::{
    Digest, DigestAlgorithm, ImageError, ImageRef, MAX_IMAGE_LEN, shown, split_name, split_tag, valid_tag,
};

/// What a pattern says about an image's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DigestPattern {
    /// `@*`: any supported digest.
    Any,
    /// `@sha256:*`: any digest of one algorithm.
    Algorithm(DigestAlgorithm),
    /// `@sha256:<hex>`: exactly this one.
    Exact(Digest),
}

impl DigestPattern {
    fn parse(text: &str, whole: &str) -> Result<Self, ImageError> {
        if text == "*" {
            return Ok(Self::Any);
        }
        if let Some(algorithm) = text.strip_suffix(":*") {
            return DigestAlgorithm::from_name(algorithm)
                .map(Self::Algorithm)
                .ok_or_else(|| ImageError::BadPattern(shown(whole)));
        }
        if text.contains('*') {
            return Err(ImageError::BadPattern(shown(whole)));
        }
        Digest::parse(text).map(Self::Exact).map_err(|_| ImageError::BadPattern(shown(whole)))
    }

    fn allows(&self, digest: &Digest) -> bool {
        match self {
            Self::Any => true,
            Self::Algorithm(a) => digest.algorithm == *a,
            Self::Exact(d) => d == digest,
        }
    }
}

/// Which images a `set-image` trigger may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    text: String,
    repository: String,
    tag: Option<String>,
    digest: Option<DigestPattern>,
}

impl ImagePattern {
    /// Parses a pattern, refusing one that matches any registry unless `allow_any_registry`.
    pub fn parse_checked(text: &str, allow_any_registry: bool) -> Result<Self, ImageError> {
        let p = Self::parse(text)?;
        if !allow_any_registry && !p.pins_registry() {
            return Err(ImageError::AnyRegistry(shown(text)));
        }
        Ok(p)
    }

    /// Parses a pattern's syntax only (see [`Self::parse_checked`] for the registry rule).
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let bad = || ImageError::BadPattern(shown(text));
        if text.is_empty() || text.len() > MAX_IMAGE_LEN {
            return Err(bad());
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(DigestPattern::parse(d, text)?)),
            None => (text, None),
        };
        let (repository, tag) = split_tag(name_and_tag);
        // Valid as if each `*` were a letter; stars stay within the part they are written in.
        if split_name(&repository.replace('*', "x")).is_none() {
            return Err(bad());
        }
        if let Some(t) = tag
            && !valid_tag(&t.replace('*', "x"))
        {
            return Err(bad());
        }
        Ok(Self {
            text: text.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the registry part is fixed: no `*` before the first `/` (or, in a one-component
    /// pattern, anywhere in the repository). The CRD's CEL rule checks the same
    /// (`diurnal_api::trigger::ANY_REGISTRY_REGEX`).
    pub fn pins_registry(&self) -> bool {
        let first = self.repository.split('/').next().unwrap_or_default();
        !first.contains('*')
    }

    /// Whether the pattern allows `image`.
    pub fn allows(&self, image: &ImageRef) -> bool {
        if !glob(self.repository.as_bytes(), image.repository().as_bytes()) {
            return false;
        }
        let tag_ok = match (&self.tag, &image.tag) {
            (None, _) => true,
            (Some(p), Some(t)) => glob(p.as_bytes(), t.as_bytes()),
            // A tag pattern with a digest-only reference: the tag cannot be checked, so no.
            (Some(_), None) => false,
        };
        let digest_ok = match (&self.digest, &image.digest) {
            (None, None) => true,
            (Some(p), Some(d)) => p.allows(d),
            // A digest is what is pulled: allowed only where the pattern names digests, and a
            // pattern that names them requires one.
            (None, Some(_)) | (Some(_), None) => false,
        };
        tag_ok && digest_ok
    }
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `*` matches any run of bytes other than `/`. Iterative with a single backtrack point (the
/// last star), so a hostile pattern or input cannot make it exponential.
pub(crate) fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star
            && text[st] != b'/'
        {
            // Let the last star swallow one more byte, unless that byte is a slash.
            star = Some((sp, st + 1));
            p = sp + 1;
            t = st + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}
