//! Property tests (issue 6, "Parsers fuzzed"): image references print and parse back to the same
//! reference, whatever registry form (host, port, IPv4, IPv6, `localhost`, Docker Hub), path
//! depth, tag and digest; malformed references never panic; digests print as parsed; the
//! streaming verifier agrees with hashing the whole blob, and tells a short body (retryable
//! NETWORK) from wrong bytes (VALIDATION). Also the regression tests for what fuzzing found.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use image_promote::digest::{Digest, Verifier};
use image_promote::error::{Category, ErrorKind};
use image_promote::reference::Reference;
use image_promote::registry::auth::parse_token_reply;
use image_promote::registry::credentials::{DockerConfigAnswer, parse_docker_config};
use proptest::prelude::*;
use sha2::Digest as _;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

/// A registry as written, and as the parser should normalize it (`None`: no registry written).
fn registry() -> impl Strategy<Value = Option<(String, String)>> {
    let port = prop::option::of(1u16..=65535);
    let with_port = |host: String, port: Option<u16>| match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?";
    let hostname = proptest::string::string_regex(&format!("{label}(\\.{label}){{1,3}}")).unwrap();
    prop_oneof![
        2 => Just(None),
        3 => (hostname, port.clone()).prop_map(move |(h, p)| {
            let r = with_port(h, p);
            Some((r.clone(), r))
        }),
        2 => (any::<[u8; 4]>(), port.clone()).prop_map(move |(ip, p)| {
            let r = with_port(std::net::Ipv4Addr::from(ip).to_string(), p);
            Some((r.clone(), r))
        }),
        2 => port.clone().prop_map(move |p| {
            let r = with_port("localhost".to_owned(), p);
            Some((r.clone(), r))
        }),
        1 => (prop::sample::select(vec!["::1", "fe80::1", "2001:db8::42"]), port).prop_map(
            move |(ip, p)| {
                let host = format!("[{ip}]");
                let r = match p {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                };
                Some((r.clone(), r))
            }
        ),
        1 => prop::sample::select(vec!["docker.io", "index.docker.io", "registry-1.docker.io"])
            .prop_map(|r| Some((r.to_owned(), "docker.io".to_owned()))),
    ]
}

fn component() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,2}").unwrap()
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}").unwrap(),
        proptest::string::string_regex("[A-Za-z0-9_][A-Za-z0-9_.-]{127}").unwrap(),
    ]
}

fn digest() -> impl Strategy<Value = Digest> {
    (any::<Vec<u8>>(), any::<bool>()).prop_map(|(bytes, long)| {
        let d = Digest::sha256_of(&bytes);
        if long {
            Digest::parse(&format!("sha512:{}", hex(&sha2::Sha512::digest(&bytes)))).unwrap()
        } else {
            d
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A valid reference as written, with the registry, repository, tag and digest it must parse to.
#[derive(Debug, Clone)]
struct Valid {
    input: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

fn valid_reference() -> impl Strategy<Value = Valid> {
    (
        registry(),
        prop::collection::vec(component(), 1..=4),
        prop::option::of(tag()),
        prop::option::of(digest()),
    )
        .prop_filter_map(
            "first path component would read as a registry",
            |(reg, path, tag, digest)| {
                let (written, registry) = match &reg {
                    Some((w, n)) => (Some(w.clone()), n.clone()),
                    None => {
                        let first = &path[0];
                        if path.len() > 1 && (first.contains('.') || first == "localhost") {
                            return None;
                        }
                        (None, "docker.io".to_owned())
                    }
                };
                let joined = path.join("/");
                let repository = if registry == "docker.io" && path.len() == 1 {
                    format!("library/{joined}")
                } else {
                    joined.clone()
                };
                let mut input = match &written {
                    Some(w) => format!("{w}/{joined}"),
                    None => joined,
                };
                if let Some(t) = &tag {
                    input.push(':');
                    input.push_str(t);
                }
                if let Some(d) = &digest {
                    input.push('@');
                    input.push_str(&d.to_string());
                }
                Some(Valid {
                    input,
                    registry,
                    repository,
                    tag,
                    digest,
                })
            },
        )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reference_parse_print_round_trips(v in valid_reference()) {
        let r = Reference::parse(&v.input)
            .unwrap_or_else(|e| panic!("{:?} refused: {}", v.input, e.message));
        prop_assert_eq!(r.registry(), v.registry.as_str());
        prop_assert_eq!(r.repository(), v.repository.as_str());
        prop_assert_eq!(r.tag(), v.tag.as_deref());
        prop_assert_eq!(r.digest(), v.digest.as_ref());
        let shown = r.to_string();
        let mut expected = format!("{}/{}", v.registry, v.repository);
        if let Some(t) = &v.tag {
            expected = format!("{expected}:{t}");
        }
        if let Some(d) = &v.digest {
            expected = format!("{expected}@{d}");
        }
        prop_assert_eq!(&shown, &expected);
        let again = Reference::parse(&shown).unwrap();
        prop_assert_eq!(&again, &r);
        prop_assert_eq!(again.to_string(), shown);
    }

    #[test]
    fn reference_garbage_never_panics(s in "\\PC{0,80}") {
        if let Ok(r) = Reference::parse(&s) {
            prop_assert_eq!(Reference::parse(&r.to_string()).ok(), Some(r));
        }
    }

    #[test]
    fn reference_mutations_never_panic(
        v in valid_reference(),
        at in any::<prop::sample::Index>(),
        c in prop::sample::select(vec!['/', ':', '@', '.', '_', '-', 'A', ' ', '[', ']', '\u{e9}', '\0']),
        delete in any::<bool>(),
    ) {
        let mut chars: Vec<char> = v.input.chars().collect();
        let i = at.index(chars.len() + 1);
        if delete && i < chars.len() {
            chars.remove(i);
        } else {
            chars.insert(i, c);
        }
        let s: String = chars.into_iter().collect();
        match Reference::parse(&s) {
            Ok(r) => prop_assert_eq!(Reference::parse(&r.to_string()).ok(), Some(r)),
            Err(e) => prop_assert!(e.hint.is_some() && !e.message.is_empty()),
        }
    }

    #[test]
    fn digest_parse_display_round_trips(d in digest()) {
        let shown = d.to_string();
        let again = Digest::parse(&shown).unwrap();
        prop_assert_eq!(again.to_string(), shown);
        prop_assert_eq!(again, d);
    }

    #[test]
    fn digest_parse_accepts_exactly_the_valid_forms(
        s in "(sha256|sha512|SHA256|md5|sha384)?:?[0-9a-fA-Fg./]{0,130}"
    ) {
        let valid = match s.split_once(':') {
            Some(("sha256", h)) => h.len() == 64,
            Some(("sha512", h)) => h.len() == 128,
            _ => false,
        } && s.split_once(':').is_some_and(|(_, h)| h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        match Digest::parse(&s) {
            Ok(d) => {
                prop_assert!(valid, "accepted {:?}", s);
                prop_assert_eq!(d.to_string(), s);
            }
            Err(e) => {
                prop_assert!(!valid, "refused {:?}: {}", s, e.message);
                prop_assert_eq!(e.kind, ErrorKind::Input);
            }
        }
    }

    #[test]
    fn verifier_matches_whole_hash_for_any_chunking(
        data in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        sha512 in any::<bool>(),
        declare_size in any::<bool>(),
    ) {
        let expected = if sha512 {
            Digest::parse(&format!("sha512:{}", hex(&sha2::Sha512::digest(&data)))).unwrap()
        } else {
            Digest::parse(&format!("sha256:{}", hex(&sha2::Sha256::digest(&data)))).unwrap()
        };
        prop_assert_eq!(expected.same_algorithm_of(&data), expected.clone());
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        let size = declare_size.then_some(data.len() as u64);
        let mut v = Verifier::new(&expected, size);
        for w in points.windows(2) {
            v.update(&data[w[0]..w[1]]).unwrap();
        }
        prop_assert_eq!(v.seen(), data.len() as u64);
        prop_assert_eq!(v.finish().unwrap(), expected);
    }

    #[test]
    fn verifier_refuses_flipped_truncated_and_extended_blobs(
        data in prop::collection::vec(any::<u8>(), 1..2048),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
        keep in any::<prop::sample::Index>(),
    ) {
        let expected = Digest::sha256_of(&data);
        let size = Some(data.len() as u64);

        // Any byte flipped, full length: VALIDATION, never retried.
        let mut flipped = data.clone();
        flipped[at.index(data.len())] ^= mask;
        let mut v = Verifier::new(&expected, size);
        v.update(&flipped).unwrap();
        let e = v.finish().unwrap_err();
        prop_assert_eq!(e.kind, ErrorKind::Verification);
        prop_assert_eq!(e.category, Category::Validation);
        prop_assert!(!e.retryable);

        // Truncated (the connection ended early): retryable NETWORK.
        let cut = keep.index(data.len());
        let mut v = Verifier::new(&expected, size);
        v.update(&data[..cut]).unwrap();
        let e = v.finish().unwrap_err();
        prop_assert_eq!(e.category, Category::Network);
        prop_assert!(e.retryable);

        // Truncated with no declared size: the hash is wrong, VALIDATION.
        let mut v = Verifier::new(&expected, None);
        v.update(&data[..cut]).unwrap();
        prop_assert_eq!(v.finish().unwrap_err().category, Category::Validation);

        // Longer than declared: refused as soon as the extra byte arrives.
        let mut v = Verifier::new(&expected, size);
        v.update(&data).unwrap();
        let e = v.update(&[0]).unwrap_err();
        prop_assert_eq!(e.kind, ErrorKind::Verification);
    }
}

/// Fuzzing (`token reply` in the `www_authenticate` target) found that a token endpoint answering
/// `"expires_in": 18446744073709551615` made `Instant + Duration` overflow and panic.
#[test]
fn issue_6_token_reply_huge_expires_in() {
    for body in [
        br#"{"token":"x","expires_in":18446744073709551615}"#.as_slice(),
        br#"{"access_token":"x","expires_in":9223372036854775807}"#,
        br#"{"token":"x","expires_in":0}"#,
    ] {
        let t = parse_token_reply(body, "repository:a:pull").unwrap();
        assert!(t.expires > std::time::Instant::now());
    }
}

/// Fuzzing (`docker_config` target) found that a malformed `config.json` error quoted serde's
/// message, which repeats a misplaced string value — e.g. a base64 `auth` or a password written
/// where an object belongs — into the error shown to the user and written to the logs.
#[test]
fn issue_6_docker_config_error_hides_values() {
    let path = Path::new("/home/u/.docker/config.json");
    for config in [
        r#""YWxpY2U6czNjcmV0LXB3""#,
        r#"{"auths":{"ghcr.io":"YWxpY2U6czNjcmV0LXB3"}}"#,
        r#"{"auths":{"ghcr.io":{"password":"s3cret-pw-value","auth":["YWxpY2U6czNjcmV0LXB3"]}}}"#,
        r#"{"credsStore":["s3cret-pw-value"]}"#,
    ] {
        let e = parse_docker_config(config.as_bytes(), path, "ghcr.io").unwrap_err();
        assert_eq!(e.category, Category::Docker);
        assert!(e.message.contains("config.json"), "{}", e.message);
        for secret in ["YWxpY2U6czNjcmV0LXB3", "s3cret-pw-value"] {
            assert!(!e.message.contains(secret), "{}", e.message);
        }
    }
    // Well-formed files still answer, in the documented order.
    let ok = r#"{"auths":{"ghcr.io":{"auth":"YWxpY2U6czNjcmV0LXB3"}},"credHelpers":{"gcr.io":"gcloud"},"credsStore":"desktop"}"#;
    match parse_docker_config(ok.as_bytes(), path, "ghcr.io").unwrap() {
        DockerConfigAnswer::Credential(c) => assert_eq!(c.username, "alice"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse_docker_config(ok.as_bytes(), path, "gcr.io").unwrap(),
        DockerConfigAnswer::Helper("gcloud".to_owned())
    );
    assert_eq!(
        parse_docker_config(ok.as_bytes(), path, "quay.io").unwrap(),
        DockerConfigAnswer::Helper("desktop".to_owned())
    );
}
