//! Image references, parsed by the grammar of the distribution project's `reference` package
//! (github.com/distribution/reference, `regexp.go`), which container runtimes resolve images by:
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] path
//! domain           := host [ ":" port ]            host: domain-name | "[" IPv6 "]"
//! domain-name      := component ( "." component )*  component: [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?
//! path             := path-component ( "/" path-component )*   (at most 255 characters)
//! path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*   separator: "." | "_" | "__" | "-"+
//! tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest           := algorithm ":" hex             algorithm: [A-Za-z][A-Za-z0-9]* ( [-_+.] [A-Za-z][A-Za-z0-9]* )*
//! ```
//!
//! As the reference package does, the first component is the domain whenever it is a valid
//! domain and a path follows. Digests are checked as `go-digest` checks them, with the algorithms
//! the OCI image specification registers: `sha256` (64 lowercase hex digits) and `sha512` (128).
//! Any other algorithm is refused as unsupported.

use std::fmt;

/// Longest reference accepted at all; the grammar allows about 1,000 characters with a long
/// domain, and the limit keeps a hostile one out of the pod template.
pub const MAX_IMAGE_LEN: usize = 1024;
/// Longest path (the name without its domain), as in the reference package.
pub const MAX_PATH_LEN: usize = 255;

/// Why an image reference or pattern was refused. Each names the input (cut to 80 characters).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// The empty string.
    #[error("the image reference is empty")]
    Empty,
    /// Not of the reference grammar.
    #[error("{0:?} is not an image reference (expected [registry/]repository[:tag][@sha256:digest])")]
    Malformed(String),
    /// Would be valid in lowercase: the repository part has an uppercase letter.
    #[error("{0:?}: the repository name must be lowercase")]
    Uppercase(String),
    /// The path is over 255 characters.
    #[error("{0:?}: the repository path is over {MAX_PATH_LEN} characters")]
    NameTooLong(String),
    /// A supported algorithm whose hex is not lowercase hex.
    #[error("{0:?}: the digest is not lowercase hexadecimal")]
    DigestFormat(String),
    /// A supported algorithm with the wrong number of hex digits.
    #[error("{0:?}: wrong digest length (sha256: 64 hex digits, sha512: 128)")]
    DigestLength(String),
    /// A well-formed digest of an algorithm other than sha256 and sha512.
    #[error("{0:?}: unsupported digest algorithm (sha256 or sha512)")]
    DigestUnsupported(String),
    /// A pattern that cannot be a pattern.
    #[error(
        "{0:?} is not an image pattern (expected [registry/]repository[:tag][@digest], `*` within a path segment, \
         digest `*`, `sha256:*`, `sha512:*` or a full digest)"
    )]
    BadPattern(String),
    /// A pattern whose registry part has a wildcard, without the flag that allows it.
    #[error(
        "image pattern {0:?} matches any registry (a `*` before the first `/`): whoever holds the token could \
         choose where the image comes from; name the registry, or pass --allow-any-image (allowAnyImage: true)"
    )]
    AnyRegistry(String),
}

/// The first 80 characters of an input, for an error message.
pub(crate) fn shown(text: &str) -> String {
    text.chars().take(80).collect()
}

/// A digest algorithm diurnal accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-256: 64 lowercase hex digits.
    Sha256,
    /// SHA-512: 128 lowercase hex digits.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm by name, if it is supported.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// Its name in a digest.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Hex digits in one of its digests.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A validated content digest such as `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    /// The algorithm.
    pub algorithm: DigestAlgorithm,
    /// The lowercase hex encoding.
    pub hex: String,
}

impl Digest {
    /// Parses a digest as go-digest does: the general grammar first (else [`ImageError::Malformed`]
    /// with `whole` as the input shown), then the algorithm, its length and lowercase hex.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        Self::parse_in(text, text)
    }

    fn parse_in(text: &str, whole: &str) -> Result<Self, ImageError> {
        let (algorithm, hex) = text.split_once(':').ok_or_else(|| ImageError::Malformed(shown(whole)))?;
        if !valid_algorithm(algorithm) || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ImageError::Malformed(shown(whole)));
        }
        let algorithm = DigestAlgorithm::from_name(algorithm)
            .ok_or_else(|| ImageError::DigestUnsupported(shown(whole)))?;
        if hex.len() != algorithm.hex_len() {
            return Err(ImageError::DigestLength(shown(whole)));
        }
        if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(ImageError::DigestFormat(shown(whole)));
        }
        Ok(Self { algorithm, hex: hex.to_owned() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

/// `[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*`
fn valid_algorithm(a: &str) -> bool {
    a.split(['-', '_', '+', '.']).all(|c| {
        let mut bytes = c.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic()) && bytes.all(|b| b.is_ascii_alphanumeric())
    })
}

/// A syntactically valid image reference, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The registry host (and port), when the first component is one.
    pub domain: Option<String>,
    /// The path within the registry, e.g. `biz/biz-server`.
    pub path: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest, if any: what the runtime then pulls, whatever the tag says.
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// Parses and validates a reference such as `ghcr.io/acme/shop:1.4` or `app@sha256:…`.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        if text.is_empty() {
            return Err(ImageError::Empty);
        }
        if text.len() > MAX_IMAGE_LEN {
            return Err(ImageError::Malformed(shown(text)));
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        // The general digest grammar is part of the reference grammar: checked before the name.
        if let Some(d) = digest
            && let Err(e @ ImageError::Malformed(_)) = Digest::parse_in(d, text)
        {
            return Err(e);
        }
        let (name, tag) = split_tag(name_and_tag);
        let tag_ok = tag.is_none_or(valid_tag);
        let Some((domain, path)) = split_name(name).filter(|_| tag_ok) else {
            let lower = name.to_ascii_lowercase();
            return Err(if tag_ok && lower != name && split_name(&lower).is_some() {
                ImageError::Uppercase(shown(text))
            } else {
                ImageError::Malformed(shown(text))
            });
        };
        if path.len() > MAX_PATH_LEN {
            return Err(ImageError::NameTooLong(shown(text)));
        }
        let digest = digest.map(|d| Digest::parse_in(d, text)).transpose()?;
        Ok(Self {
            domain: domain.map(str::to_owned),
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The name: domain and path, e.g. `registry.cn-hangzhou.aliyuncs.com/biz/biz-server`.
    pub fn repository(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}/{}", self.path),
            None => self.path.clone(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.domain {
            write!(f, "{d}/")?;
        }
        f.write_str(&self.path)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Splits `name[:tag]`: a `:` after the last `/` starts the tag (one before it is a port).
pub(crate) fn split_tag(text: &str) -> (&str, Option<&str>) {
    let last_slash = text.rfind('/').map_or(0, |i| i + 1);
    match text[last_slash..].find(':') {
        Some(i) => (&text[..last_slash + i], Some(&text[last_slash + i + 1..])),
        None => (text, None),
    }
}

/// `[domain "/"] path`, as the reference package's regular expression splits it: the first
/// component is the domain when it is a valid one and a valid path follows.
pub(crate) fn split_name(name: &str) -> Option<(Option<&str>, &str)> {
    if let Some((first, rest)) = name.split_once('/')
        && valid_domain(first)
        && valid_path(rest)
    {
        return Some((Some(first), rest));
    }
    valid_path(name).then_some((None, name))
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
pub(crate) fn valid_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut bytes = t.bytes();
    t.len() <= 128 && bytes.next().is_some_and(word) && bytes.all(|b| word(b) || b == b'.' || b == b'-')
}

fn valid_path(path: &str) -> bool {
    path.split('/').all(valid_path_component)
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `host [":" port]`, host a domain name or a bracketed IPv6 address.
fn valid_domain(d: &str) -> bool {
    let (host_ok, rest) = if let Some(inner) = d.strip_prefix('[') {
        match inner.split_once(']') {
            Some((ip, rest)) => {
                (!ip.is_empty() && ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'), rest)
            }
            None => return false,
        }
    } else {
        let (host, port) = match d.split_once(':') {
            Some((h, _)) => (h, &d[h.len()..]),
            None => (d, ""),
        };
        (host.split('.').all(valid_domain_component), port)
    };
    let port_ok = rest.is_empty()
        || rest.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
fn valid_domain_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !c.starts_with('-')
        && !c.ends_with('-')
}
