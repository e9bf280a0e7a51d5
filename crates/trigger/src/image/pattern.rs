//! Image references and the patterns a `set-image` trigger restricts them to.
//!
//! A pattern is `REPOSITORY[:TAG]` where `*` stands for any run of characters other than `/`.
//! The repository part must match the image's repository; a tag part, when given, must match the
//! image's tag. `registry.cn-hangzhou.aliyuncs.com/biz/*` allows every repository directly under
//! `biz/`, `ghcr.io/acme/shop:release-*` allows only release tags of one repository.

use std::fmt;

/// Longest image reference accepted; real ones are far shorter, and the limit keeps a hostile
/// one out of the pod template.
const MAX_IMAGE_LEN: usize = 512;

/// Why an image reference or pattern was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    /// Empty, too long, or containing characters an image reference cannot contain.
    #[error("{0:?} is not an image reference (expected [registry/]repository[:tag][@sha256:digest])")]
    Malformed(String),
    /// A pattern that cannot be a pattern.
    #[error(
        "{0:?} is not an image pattern (expected [registry/]repository[:tag], `*` within a path segment)"
    )]
    BadPattern(String),
}

/// A syntactically valid image reference, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host and path, e.g. `registry.cn-hangzhou.aliyuncs.com/biz/biz-server`.
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and validates a reference such as `ghcr.io/acme/shop:1.4` or `app@sha256:…`.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let bad = || ImageError::Malformed(text.chars().take(80).collect());
        if text.is_empty() || text.len() > MAX_IMAGE_LEN {
            return Err(bad());
        }
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        if let Some(d) = digest {
            let (algo, hex) = d.split_once(':').ok_or_else(bad)?;
            let algo_ok =
                !algo.is_empty() && algo.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            let hex_ok = hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
            if !algo_ok || !hex_ok {
                return Err(bad());
            }
        }
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if !valid_repository(repository) {
            return Err(bad());
        }
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(bad());
        }
        Ok(Self {
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_repository(r: &str) -> bool {
    // A registry host may carry a port (`host:5000/app`); components are never empty.
    !r.is_empty()
        && r.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-:".contains(&b))
        })
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !t.starts_with(['.', '-'])
}

/// Which images a `set-image` trigger may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePattern {
    text: String,
    repository: String,
    tag: Option<String>,
}

impl ImagePattern {
    /// Parses a pattern; `*` is the only wildcard.
    pub fn parse(text: &str) -> Result<Self, ImageError> {
        let bad = || ImageError::BadPattern(text.chars().take(80).collect());
        let last_slash = text.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match text[last_slash..].rfind(':') {
            Some(i) => (&text[..last_slash + i], Some(&text[last_slash + i + 1..])),
            None => (text, None),
        };
        // Validate as if each `*` were a letter.
        if text.contains('@') || !valid_repository(&repository.replace('*', "x")) {
            return Err(bad());
        }
        if let Some(t) = tag
            && !valid_tag(&t.replace('*', "x"))
        {
            return Err(bad());
        }
        Ok(Self { text: text.to_owned(), repository: repository.to_owned(), tag: tag.map(str::to_owned) })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern allows `image`.
    pub fn allows(&self, image: &ImageRef) -> bool {
        if !glob(self.repository.as_bytes(), image.repository.as_bytes()) {
            return false;
        }
        match (&self.tag, &image.tag) {
            (None, _) => true,
            (Some(p), Some(t)) => glob(p.as_bytes(), t.as_bytes()),
            // A tag pattern with a digest-only reference: the tag cannot be checked, so no.
            (Some(_), None) => false,
        }
    }
}

impl fmt::Display for ImagePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `*` matches any run of bytes other than `/`. Iterative with a single backtrack point (the
/// last star), so a hostile pattern or input cannot make it exponential.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn img(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn references_split_into_repository_tag_and_digest() {
        let r = img("registry.cn-hangzhou.aliyuncs.com/biz/biz-server:latest");
        assert_eq!(r.repository, "registry.cn-hangzhou.aliyuncs.com/biz/biz-server");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = img("localhost:5000/app");
        assert_eq!((r.repository.as_str(), r.tag), ("localhost:5000/app", None));
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = img(&format!("ghcr.io/acme/shop:1.2@{digest}"));
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(r.to_string(), format!("ghcr.io/acme/shop:1.2@{digest}"));
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in [
            "",
            "UPPER/case",
            "app:",
            "app: latest",
            "app\n:1",
            "a//b",
            "app@sha256:xyz",
            "app:-x",
            "app;rm -rf /",
            &"a".repeat(600),
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_star_stays_within_one_path_segment() {
        let p = ImagePattern::parse("registry.cn-hangzhou.aliyuncs.com/biz/*").unwrap();
        assert!(p.allows(&img("registry.cn-hangzhou.aliyuncs.com/biz/biz-server:latest")));
        assert!(!p.allows(&img("registry.cn-hangzhou.aliyuncs.com/biz/sub/x:1")));
        assert!(!p.allows(&img("registry.cn-hangzhou.aliyuncs.com/bizz/x:1")));
        assert!(!p.allows(&img("evil.example.com/biz/biz-server:1")));
    }

    #[test]
    fn a_tag_pattern_restricts_tags() {
        let p = ImagePattern::parse("ghcr.io/acme/shop:release-*").unwrap();
        assert!(p.allows(&img("ghcr.io/acme/shop:release-1.4")));
        assert!(!p.allows(&img("ghcr.io/acme/shop:dev")));
        assert!(!p.allows(&img(&format!("ghcr.io/acme/shop@sha256:{}", "b".repeat(64)))));
        let exact = ImagePattern::parse("ghcr.io/acme/shop").unwrap();
        assert!(exact.allows(&img("ghcr.io/acme/shop:anything")));
        assert!(!exact.allows(&img("ghcr.io/acme/shop2:1")));
    }

    #[test]
    fn patterns_with_a_port_keep_it_in_the_repository() {
        let p = ImagePattern::parse("localhost:5000/*").unwrap();
        assert!(p.allows(&img("localhost:5000/app:1")));
        assert!(!p.allows(&img("localhost:5001/app:1")));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "a//b", "app@sha256:x", "Upper/*", "app:"] {
            assert!(ImagePattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn glob_is_linear_on_hostile_input() {
        let pattern = "*a*a*a*a*a*a*a*a*a*a*b";
        let text = "a".repeat(400);
        assert!(!glob(pattern.as_bytes(), text.as_bytes()));
    }
}
