//! The formats on static fixtures made with openssl (`tests/data/signatures`): what openssl
//! signed verifies; what this module signs verifies; each wrong key, digest, type or tampered
//! byte is refused with its [`Problem`].

use bytes::Bytes;

use super::*;
use crate::digest::Digest;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/data/signatures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn subject() -> Digest {
    Digest::parse(fixture("subject.txt").trim()).unwrap()
}

fn keys(names: &[&str]) -> Vec<PublicKey> {
    names
        .iter()
        .map(|n| PublicKey::from_pem(&fixture(n)).unwrap())
        .collect()
}

fn other_digest() -> Digest {
    Digest::sha256_of(b"another image")
}

#[test]
fn legacy_signature_made_by_openssl_verifies() {
    let payload = fixture("payload.json");
    let sig = fixture("payload.sig");
    let subject = subject();
    assert_eq!(
        legacy::verify(
            payload.as_bytes(),
            Some(&sig),
            &subject,
            &keys(&["p256.pub"])
        ),
        Ok(0)
    );
    assert_eq!(
        legacy::verify(
            payload.as_bytes(),
            Some(&sig),
            &subject,
            &keys(&["other.pub", "p256.pub"])
        ),
        Ok(1)
    );
    let e = legacy::verify(
        payload.as_bytes(),
        Some(&sig),
        &subject,
        &keys(&["other.pub"]),
    )
    .unwrap_err();
    assert!(matches!(e, Problem::BadSignature(_)), "{e}");
    assert!(e.to_string().contains("signed by another key"), "{e}");
    let tampered = payload.replace("127.0.0.1:5100/app", "127.0.0.1:5100/evil");
    assert!(matches!(
        legacy::verify(
            tampered.as_bytes(),
            Some(&sig),
            &subject,
            &keys(&["p256.pub"])
        ),
        Err(Problem::BadSignature(_))
    ));
    assert_eq!(
        legacy::verify(
            payload.as_bytes(),
            Some(&sig),
            &other_digest(),
            &keys(&["p256.pub"])
        ),
        Err(Problem::OtherDigest(subject.to_string()))
    );
    assert_eq!(
        legacy::verify(payload.as_bytes(), None, &subject, &keys(&["p256.pub"])),
        Err(Problem::NoSignature)
    );
    assert_eq!(
        legacy::verify(
            payload.as_bytes(),
            Some("%%%"),
            &subject,
            &keys(&["p256.pub"])
        ),
        Err(Problem::SignatureNotBase64)
    );
}

#[test]
fn legacy_payload_rules() {
    let s = subject();
    let capital =
        fixture("payload.json").replace("docker-manifest-digest", "Docker-manifest-digest");
    assert_eq!(legacy::check_payload(capital.as_bytes(), &s), Ok(()));
    let other_type = fixture("payload.json").replace("cosign container image signature", "x");
    assert_eq!(
        legacy::check_payload(other_type.as_bytes(), &s),
        Err(Problem::WrongType("x".into()))
    );
    assert_eq!(
        legacy::check_payload(
            br#"{"critical":{"type":"cosign container image signature"}}"#,
            &s
        ),
        Err(Problem::NoDigest)
    );
    assert!(matches!(
        legacy::check_payload(b"\xff", &s),
        Err(Problem::PayloadNotJson(_))
    ));
}

#[test]
fn bundle_made_by_openssl_verifies() {
    let b = fixture("bundle.json");
    let s = subject();
    let pred = bundle::COSIGN_SIGN_PREDICATE;
    assert_eq!(
        bundle::verify(b.as_bytes(), &s, pred, &keys(&["p256.pub"])),
        Ok(0)
    );
    assert!(matches!(
        bundle::verify(b.as_bytes(), &s, pred, &keys(&["other.pub"])),
        Err(Problem::BadSignature(_))
    ));
    assert!(matches!(
        bundle::verify(b.as_bytes(), &other_digest(), pred, &keys(&["p256.pub"])),
        Err(Problem::OtherDigest(_))
    ));
    assert!(matches!(
        bundle::verify(
            b.as_bytes(),
            &s,
            "https://slsa.dev/provenance/v1",
            &keys(&["p256.pub"])
        ),
        Err(Problem::PredicateType(_))
    ));
    // The payload's base64 changed by one character: the signature no longer covers it.
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    let payload = v["dsseEnvelope"]["payload"].as_str().unwrap();
    let mut body =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, payload).unwrap();
    let at = body.len() - 3;
    body[at] = b' ';
    let tampered = b.replace(
        payload,
        &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &body),
    );
    let fp = keys(&["p256.pub"])[0].short_fingerprint();
    assert_eq!(
        bundle::verify(tampered.as_bytes(), &s, pred, &keys(&["p256.pub"])),
        Err(Problem::Tampered(fp))
    );
    // Without the hint it is only a signature no key verifies.
    let unhinted = tampered.replace("\"hint\"", "\"other\"");
    assert!(matches!(
        bundle::verify(unhinted.as_bytes(), &s, pred, &keys(&["p256.pub"])),
        Err(Problem::BadSignature(_))
    ));
    // Signed by another key: the hint names no given key.
    assert!(matches!(
        bundle::verify(b.as_bytes(), &s, pred, &keys(&["other.pub"])),
        Err(Problem::BadSignature(_))
    ));
    let other_type = b.replace(
        "\"payloadType\":\"application/vnd.in-toto+json\"",
        "\"payloadType\":\"text/plain\"",
    );
    assert_eq!(
        bundle::verify(other_type.as_bytes(), &s, pred, &keys(&["p256.pub"])),
        Err(Problem::PayloadType("text/plain".into()))
    );
    assert_eq!(
        bundle::verify(
            br#"{"messageSignature":{}}"#,
            &s,
            pred,
            &keys(&["p256.pub"])
        ),
        Err(Problem::NoEnvelope)
    );
    assert!(matches!(
        bundle::verify(b"[", &s, pred, &keys(&["p256.pub"])),
        Err(Problem::BundleNotJson(_))
    ));
    // The hint cosign writes is the key's.
    assert_eq!(
        v["verificationMaterial"]["publicKey"]["hint"],
        keys(&["p256.pub"])[0].hint()
    );
}

#[test]
fn pae_is_dssev1() {
    assert_eq!(bundle::pae("t", b"ab"), b"DSSEv1 1 t 2 ab".to_vec());
}

#[test]
fn what_is_signed_verifies() {
    let private = PrivateKey::from_pem(&fixture("p256.key")).unwrap();
    let sec1 = PrivateKey::from_pem(&fixture("p256-sec1.key")).unwrap();
    let public = keys(&["p256.pub"]);
    let s = subject();
    for key in [&private, &sec1] {
        let l = legacy::sign(key, "127.0.0.1:5100/app", &s).unwrap();
        assert_eq!(
            legacy::verify(&l.payload, Some(&l.signature), &s, &public),
            Ok(0)
        );
        assert!(legacy::verify(&l.payload, Some(&l.signature), &s, &keys(&["other.pub"])).is_err());
        let (config, manifest) = l.manifest();
        let m = crate::media::Manifest::parse("sig", Bytes::from(manifest), None).unwrap();
        let crate::media::ManifestView::Image { config: c, layers } = &m.view else {
            panic!()
        };
        assert_eq!(c.digest, Digest::sha256_of(&config));
        assert_eq!(layers[0].media_type, legacy::SIMPLESIGNING);
        assert_eq!(layers[0].digest, Digest::sha256_of(&l.payload));
        assert_eq!(
            layers[0].annotations[legacy::SIGNATURE_ANNOTATION],
            l.signature
        );

        let predicate = serde_json::json!({"promoted-to": "prod"});
        let b = bundle::sign(key, &s, "https://example.test/promotion/v1", &predicate).unwrap();
        assert_eq!(
            bundle::verify(&b, &s, "https://example.test/promotion/v1", &public),
            Ok(0)
        );
        assert!(bundle::verify(&b, &s, bundle::COSIGN_SIGN_PREDICATE, &public).is_err());
        let r = bundle::referrer_manifest(
            &b,
            (crate::media::OCI_MANIFEST, &s, 123),
            bundle::COSIGN_SIGN_PREDICATE,
            "2026-01-01T00:00:00Z",
        );
        let m = crate::media::Manifest::parse("ref", Bytes::from(r), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some(bundle::BUNDLE_V03));
        assert_eq!(m.subject.unwrap().digest, s);
    }
}

fn material(
    candidates: Vec<(Format, Found, std::result::Result<Content, Problem>)>,
) -> SubjectMaterial {
    SubjectMaterial {
        subject: subject(),
        candidates: candidates
            .into_iter()
            .map(|(format, found, content)| Candidate {
                format,
                found,
                location: "loc".into(),
                content,
            })
            .collect(),
        looked: vec!["tag x".into()],
    }
}

#[test]
fn a_subject_is_signed_when_one_candidate_verifies() {
    let legacy = Content::Legacy {
        payload: Bytes::from(fixture("payload.json")),
        signature: Some(fixture("payload.sig")),
    };
    let bundle = Content::Bundle {
        bundle: Bytes::from(fixture("bundle.json")),
    };
    let m = material(vec![
        (
            Format::CosignLegacy,
            Found::Tag,
            Err(Problem::BlobCorrupt("sha256:1".into())),
        ),
        (Format::SigstoreBundle, Found::ReferrersApi, Ok(bundle)),
        (Format::CosignLegacy, Found::Tag, Ok(legacy)),
    ]);
    let v = verify_subject(&m, &keys(&["p256.pub"]), bundle::COSIGN_SIGN_PREDICATE);
    assert!(v.is_signed());
    assert_eq!(v.verified.len(), 2);
    assert_eq!(v.verified[0].format, Format::SigstoreBundle);
    assert_eq!(v.verified[0].found, Found::ReferrersApi);
    assert_eq!(v.rejected.len(), 1);
    assert!(
        v.rejected[0].problem.contains("corrupt"),
        "{}",
        v.rejected[0].problem
    );
    let v = verify_subject(&m, &keys(&["other.pub"]), bundle::COSIGN_SIGN_PREDICATE);
    assert!(!v.is_signed());
    assert_eq!(v.rejected.len(), 3);
    let none = verify_subject(
        &material(vec![]),
        &keys(&["p256.pub"]),
        bundle::COSIGN_SIGN_PREDICATE,
    );
    assert!(!none.is_signed() && none.rejected.is_empty());
}
