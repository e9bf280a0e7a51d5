//! The distribution reference package's own test vectors (tests/data/, source cited there), run
//! against [`ImageRef::parse`]: every valid input splits into the same domain, repository, tag
//! and digest and prints back unchanged; every invalid one fails for the same reason.

use diurnal_trigger::image::{ImageError, ImageRef};

/// The upstream error name for one of ours.
fn upstream_name(e: &ImageError) -> &'static str {
    match e {
        ImageError::Empty => "ErrNameEmpty",
        ImageError::Malformed(_) => "ErrReferenceInvalidFormat",
        ImageError::Uppercase(_) => "ErrNameContainsUppercase",
        ImageError::NameTooLong(_) => "ErrNameTooLong",
        ImageError::DigestFormat(_) => "ErrDigestInvalidFormat",
        ImageError::DigestLength(_) => "ErrDigestInvalidLength",
        ImageError::DigestUnsupported(_) => "ErrDigestUnsupported",
        ImageError::BadPattern(_) | ImageError::AnyRegistry(_) => "(a pattern error)",
    }
}

#[test]
fn the_distribution_reference_vectors_pass() {
    let data = include_str!("data/distribution-reference-vectors.tsv");
    let mut checked = 0;
    for (n, line) in data.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.is_empty()) {
        let at = format!("tests/data/distribution-reference-vectors.tsv:{}", n + 1);
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 6, "{at}: expected 6 tab-separated fields");
        let input = if fields[0] == "<empty>" { "" } else { fields[0] };
        let (expected, domain, repository, tag, digest) =
            (fields[1], fields[2], fields[3], fields[4], fields[5]);
        let parsed = ImageRef::parse(input);
        if expected == "ok" || expected.starts_with("ok-here:") {
            let r = parsed.unwrap_or_else(|e| panic!("{at}: {input:?}: {e}"));
            assert_eq!(r.to_string(), input, "{at}");
            assert_eq!(r.domain.as_deref().unwrap_or_default(), domain, "{at}: domain of {input:?}");
            assert_eq!(r.repository(), repository, "{at}: repository of {input:?}");
            assert_eq!(r.tag.as_deref().unwrap_or_default(), tag, "{at}: tag of {input:?}");
            assert_eq!(
                r.digest.map(|d| d.to_string()).unwrap_or_default(),
                digest,
                "{at}: digest of {input:?}"
            );
        } else {
            let e =
                parsed.err().unwrap_or_else(|| panic!("{at}: {input:?} parsed, upstream says {expected}"));
            assert_eq!(upstream_name(&e), expected, "{at}: {input:?}: {e}");
        }
        checked += 1;
    }
    assert_eq!(checked, 48, "every vector was read");
}
