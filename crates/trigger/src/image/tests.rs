//! Image references and patterns: examples, then properties over generated references and
//! patterns. The distribution reference package's own test vectors are run in
//! `tests/reference_vectors.rs`.

use proptest::prelude::*;

use super::pattern::glob;
use super::*;

fn img(s: &str) -> ImageRef {
    ImageRef::parse(s).unwrap()
}

fn sha256(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

#[test]
fn references_split_into_domain_path_tag_and_digest() {
    let r = img("registry.cn-hangzhou.aliyuncs.com/biz/biz-server:latest");
    assert_eq!(r.domain.as_deref(), Some("registry.cn-hangzhou.aliyuncs.com"));
    assert_eq!(r.path, "biz/biz-server");
    assert_eq!(r.repository(), "registry.cn-hangzhou.aliyuncs.com/biz/biz-server");
    assert_eq!(r.tag.as_deref(), Some("latest"));
    let r = img("localhost:5000/app");
    assert_eq!((r.repository().as_str(), r.tag), ("localhost:5000/app", None));
    let digest = sha256('a');
    let r = img(&format!("ghcr.io/acme/shop:1.2@{digest}"));
    assert_eq!(r.digest.as_ref().map(ToString::to_string), Some(digest.clone()));
    assert_eq!(r.to_string(), format!("ghcr.io/acme/shop:1.2@{digest}"));
}

#[test]
fn malformed_references_are_refused_with_the_reason() {
    for bad in ["app:", "app: latest", "app\n:1", "a//b", "app:-x", "app;rm -rf /", "app@sha256:xyz"] {
        assert!(matches!(ImageRef::parse(bad), Err(ImageError::Malformed(_))), "{bad:?}");
    }
    assert_eq!(ImageRef::parse(""), Err(ImageError::Empty));
    assert!(matches!(ImageRef::parse("UPPER:1"), Err(ImageError::Uppercase(_))));
    assert!(matches!(ImageRef::parse(&"a".repeat(2000)), Err(ImageError::Malformed(_))));
    let upper_hex = format!("app@sha256:{}", "A".repeat(64));
    assert!(matches!(ImageRef::parse(&upper_hex), Err(ImageError::DigestFormat(_))));
    let short = format!("app@sha256:{}", "a".repeat(63));
    assert!(matches!(ImageRef::parse(&short), Err(ImageError::DigestLength(_))));
    let long = format!("app@sha256:{}", "a".repeat(65));
    assert!(matches!(ImageRef::parse(&long), Err(ImageError::DigestLength(_))));
    let md5 = format!("app@md5:{}", "a".repeat(32));
    assert!(matches!(ImageRef::parse(&md5), Err(ImageError::DigestUnsupported(_))));
    assert!(ImageRef::parse(&format!("app@sha512:{}", "a".repeat(128))).is_ok());
    assert!(matches!(
        ImageRef::parse(&format!("app@sha512:{}", "a".repeat(64))),
        Err(ImageError::DigestLength(_))
    ));
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
    assert!(!p.allows(&img("ghcr.io/acme/shop")));
    let exact = ImagePattern::parse("ghcr.io/acme/shop").unwrap();
    assert!(exact.allows(&img("ghcr.io/acme/shop:anything")));
    assert!(!exact.allows(&img("ghcr.io/acme/shop2:1")));
}

/// Issue 13, item 3: the runtime pulls the digest, whatever the tag says.
#[test]
fn a_digest_is_allowed_only_by_a_pattern_that_names_digests() {
    let any_build = format!("ghcr.io/acme/shop:release-1@{}", sha256('b'));
    for tag_only in ["ghcr.io/acme/shop:release-*", "ghcr.io/acme/shop", "ghcr.io/acme/*"] {
        let p = ImagePattern::parse(tag_only).unwrap();
        assert!(!p.allows(&img(&any_build)), "{tag_only} allowed {any_build}");
        assert!(!p.allows(&img(&format!("ghcr.io/acme/shop@{}", sha256('b')))), "{tag_only}");
    }
    let any_digest = ImagePattern::parse("ghcr.io/acme/shop:release-*@*").unwrap();
    assert!(any_digest.allows(&img(&any_build)));
    assert!(!any_digest.allows(&img("ghcr.io/acme/shop:release-1")), "a digest pattern requires one");
    assert!(!any_digest.allows(&img(&format!("ghcr.io/acme/shop:dev@{}", sha256('b')))));
    let sha512_only = ImagePattern::parse("ghcr.io/acme/shop@sha512:*").unwrap();
    assert!(!sha512_only.allows(&img(&format!("ghcr.io/acme/shop@{}", sha256('b')))));
    assert!(sha512_only.allows(&img(&format!("ghcr.io/acme/shop@sha512:{}", "c".repeat(128)))));
    let one = ImagePattern::parse(&format!("ghcr.io/acme/shop@{}", sha256('d'))).unwrap();
    assert!(one.allows(&img(&format!("ghcr.io/acme/shop@{}", sha256('d')))));
    assert!(one.allows(&img(&format!("ghcr.io/acme/shop:x@{}", sha256('d')))));
    assert!(!one.allows(&img(&format!("ghcr.io/acme/shop@{}", sha256('e')))));
}

#[test]
fn patterns_with_a_port_keep_it_in_the_repository() {
    let p = ImagePattern::parse("localhost:5000/*").unwrap();
    assert!(p.allows(&img("localhost:5000/app:1")));
    assert!(!p.allows(&img("localhost:5001/app:1")));
}

#[test]
fn bad_patterns_are_refused() {
    for bad in ["", "a//b", "app@sha256:x", "x/Upper*", "app:", "app@sha256:ab*", "app@md5:*", "host:*/x"] {
        assert!(matches!(ImagePattern::parse(bad), Err(ImageError::BadPattern(_))), "{bad:?}");
    }
}

/// Issue 13, item 2.
#[test]
fn patterns_that_match_any_registry_need_the_flag() {
    for any in ["*/*", "*", "**", "*/*/*", "*.io/acme/*", "ghcr.*/x", "*:1.0", "*@*", "*/acme/shop:release-*"]
    {
        let p = ImagePattern::parse(any).unwrap_or_else(|e| panic!("{any}: {e}"));
        assert!(!p.pins_registry(), "{any}");
        assert!(matches!(ImagePattern::parse_checked(any, false), Err(ImageError::AnyRegistry(_))), "{any}");
        assert!(ImagePattern::parse_checked(any, true).is_ok(), "{any}");
    }
    for pinned in ["ghcr.io/acme/*", "nginx", "nginx:*", "acme/*", "localhost:5000/*", "ghcr.io/*/*@*"] {
        assert!(ImagePattern::parse_checked(pinned, false).is_ok(), "{pinned}");
    }
}

/// The CRD's CEL rule and `pins_registry` must agree; the regex is run here with a tiny
/// matcher for exactly its two alternatives.
#[test]
fn the_crds_any_registry_rule_is_pins_registry() {
    assert_eq!(diurnal_api::trigger::ANY_REGISTRY_REGEX, "^([^/]*[*][^/]*/|[^/:@]*[*])");
    let cel = |p: &str| {
        let first_alt = p.split_once('/').is_some_and(|(first, _)| first.contains('*'));
        let second_alt = p.split(['/', ':', '@']).next().is_some_and(|s| s.contains('*'));
        first_alt || second_alt
    };
    for p in ["*/*", "*", "nginx:*", "ghcr.io/acme/*", "*.io/x", "a*b", "host:5000/*", "x@*", "*@*", "a/b:*"]
    {
        assert_eq!(cel(p), !ImagePattern::parse(p).unwrap().pins_registry(), "{p}");
    }
}

#[test]
fn glob_is_linear_on_hostile_input() {
    let pattern = "*a*a*a*a*a*a*a*a*a*a*b";
    let text = "a".repeat(400);
    assert!(!glob(pattern.as_bytes(), text.as_bytes()));
}

/// The obvious exponential definition, for comparison on small inputs.
fn naive_glob(p: &[u8], t: &[u8]) -> bool {
    match p.split_first() {
        None => t.is_empty(),
        Some((b'*', rest)) => {
            (0..=t.len()).take_while(|&i| i == 0 || t[i - 1] != b'/').any(|i| naive_glob(rest, &t[i..]))
        }
        Some((c, rest)) => t.first() == Some(c) && naive_glob(rest, &t[1..]),
    }
}

// Strategies that generate what the grammar allows.
fn alnum(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-z0-9]{{1,{max}}}")).unwrap()
}

fn path_component() -> impl Strategy<Value = String> {
    (
        alnum(6),
        proptest::collection::vec(
            (prop_oneof![Just("."), Just("_"), Just("__"), Just("-"), Just("--")], alnum(4)),
            0..3,
        ),
    )
        .prop_map(|(head, rest)| rest.into_iter().fold(head, |acc, (sep, c)| format!("{acc}{sep}{c}")))
}

fn domain() -> impl Strategy<Value = String> {
    let name =
        proptest::string::string_regex("[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?(\\.[a-z0-9]{1,5}){1,2}")
            .unwrap();
    let port = proptest::option::of(1u16..);
    prop_oneof![
        (name, port).prop_map(|(n, p)| p.map_or(n.clone(), |p| format!("{n}:{p}"))),
        Just("localhost:5000".to_owned()),
        Just("[::1]:5000".to_owned()),
    ]
}

fn digest() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex("[a-f0-9]{64}").unwrap().prop_map(|h| format!("sha256:{h}")),
        proptest::string::string_regex("[a-f0-9]{128}").unwrap().prop_map(|h| format!("sha512:{h}")),
    ]
}

prop_compose! {
    fn reference()(
        domain in proptest::option::of(domain()),
        path in proptest::collection::vec(path_component(), 1..4),
        tag in proptest::option::of(proptest::string::string_regex("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}").unwrap()),
        digest in proptest::option::of(digest()),
    ) -> String {
        let mut s = domain.map_or(String::new(), |d| format!("{d}/"));
        s.push_str(&path.join("/"));
        if let Some(t) = tag { s.push(':'); s.push_str(&t); }
        if let Some(d) = digest { s.push('@'); s.push_str(&d); }
        s
    }
}

/// A pattern derived from a reference: some lowercase letters of its repository and tag replaced
/// by `*` (a letter stands where a star may: not in a port or an IPv6 address), its digest kept,
/// dropped, or replaced by a digest pattern.
fn pattern_of(reference: &str, stars: &[usize], digest_form: u8) -> String {
    let (name, digest) = reference.split_once('@').map_or((reference, None), |(n, d)| (n, Some(d)));
    let mut name: Vec<char> = name.chars().collect();
    for &i in stars {
        let i = i % name.len();
        if name[i].is_ascii_lowercase() {
            name[i] = '*';
        }
    }
    let name: String = name.into_iter().collect();
    match (digest_form % 4, digest) {
        (0, _) | (_, None) => name,
        (1, Some(_)) => format!("{name}@*"),
        (2, Some(d)) => format!("{name}@{}:*", d.split(':').next().unwrap_or_default()),
        (_, Some(d)) => format!("{name}@{d}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsing_never_panics(s in "\\PC{0,300}") {
        let _ = ImageRef::parse(&s);
        let _ = ImagePattern::parse(&s);
    }

    #[test]
    fn parsing_never_panics_on_reference_like_text(s in "[a-zA-Z0-9:/@._\\-\\[\\]*]{0,80}") {
        if let Ok(r) = ImageRef::parse(&s) {
            prop_assert_eq!(r.to_string(), s.clone());
        }
        let _ = ImagePattern::parse(&s);
    }

    #[test]
    fn generated_references_parse_and_round_trip(s in reference()) {
        let r = ImageRef::parse(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(r.to_string(), s);
    }

    #[test]
    fn a_reference_is_its_own_pattern(s in reference()) {
        let r = ImageRef::parse(&s).unwrap();
        let p = ImagePattern::parse(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert!(p.allows(&r), "{} does not allow itself", s);
    }

    #[test]
    fn only_a_digest_pattern_allows_a_digest(
        s in reference(), other in reference(), stars in proptest::collection::vec(0usize..200, 0..4)
    ) {
        let r = ImageRef::parse(&s).unwrap();
        let without_digest = pattern_of(&other, &stars, 0);
        if let Ok(p) = ImagePattern::parse(&without_digest) {
            prop_assert!(r.digest.is_none() || !p.allows(&r), "{} allows {}", without_digest, s);
        }
    }

    #[test]
    fn a_pattern_derived_from_a_reference_allows_it(
        s in reference(), stars in proptest::collection::vec(0usize..200, 0..4), form in 0u8..4
    ) {
        let r = ImageRef::parse(&s).unwrap();
        let text = pattern_of(&s, &stars, form);
        let p = ImagePattern::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        // Dropping the digest part (form 0) is the one way to lose the reference.
        prop_assert_eq!(p.allows(&r), r.digest.is_none() || form != 0, "{} / {}", text, s);
    }

    #[test]
    fn a_pinned_registry_is_the_images_registry(
        s in reference(), other in reference(), stars in proptest::collection::vec(0usize..200, 0..4)
    ) {
        let r = ImageRef::parse(&s).unwrap();
        let text = pattern_of(&other, &stars, 1);
        if let Ok(p) = ImagePattern::parse_checked(&text, false)
            && p.allows(&r)
        {
            let repository = super::reference::split_tag(text.split('@').next().unwrap()).0;
            let first = |t: &str| t.split('/').next().unwrap_or_default().to_owned();
            prop_assert_eq!(first(&r.repository()), first(repository), "{} allows {}", text, s);
            prop_assert_eq!(r.repository().matches('/').count(), repository.matches('/').count());
        }
    }

    #[test]
    fn glob_agrees_with_the_naive_definition(p in "[ab/*]{0,10}", t in "[ab/]{0,10}") {
        prop_assert_eq!(glob(p.as_bytes(), t.as_bytes()), naive_glob(p.as_bytes(), t.as_bytes()));
    }

    #[test]
    fn digests_are_sha256_or_sha512_of_exact_length(algorithm in "[a-z0-9]{1,8}", hex in "[a-fA-F0-9]{0,140}") {
        let text = format!("{algorithm}:{hex}");
        let valid = match algorithm.as_str() {
            "sha256" => hex.len() == 64,
            "sha512" => hex.len() == 128,
            _ => false,
        } && !hex.bytes().any(|b| b.is_ascii_uppercase());
        prop_assert_eq!(Digest::parse(&text).is_ok(), valid, "{}", text);
    }
}
