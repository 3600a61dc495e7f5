//! Key parsing on the openssl-made fixtures of `tests/data/signatures` and on broken text.

use super::*;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/data/signatures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn reads_p256_public_and_private_keys() {
    let public = PublicKey::from_pem(&fixture("p256.pub")).unwrap();
    assert_eq!(public.point().len(), 65);
    assert_eq!(public.spki_der().len(), 91);
    assert_eq!(PublicKey::from_pem(&public.to_pem()).unwrap(), public);
    assert!(public.short_fingerprint().starts_with("sha256:"));
    assert_eq!(public.short_fingerprint().len(), 7 + 16);
    let pkcs8 = PrivateKey::from_pem(&fixture("p256.key")).unwrap();
    assert_eq!(pkcs8.public_key(), &public);
    let sec1 = PrivateKey::from_pem(&fixture("p256-sec1.key")).unwrap();
    assert_eq!(sec1.public_key(), &public);
    let shown = format!("{pkcs8:?} {sec1:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        !shown.contains(&format!("{:?}", &pkcs8.pkcs8()[..8])),
        "{shown}"
    );
}

#[test]
fn names_what_is_wrong_with_a_key() {
    let unsupported = |name: &str| PublicKey::from_pem(&fixture(name)).unwrap_err();
    assert_eq!(
        unsupported("p384.pub"),
        KeyError::Unsupported("an ECDSA P-384 key".into())
    );
    assert_eq!(
        unsupported("rsa.pub"),
        KeyError::Unsupported("an RSA key".into())
    );
    assert_eq!(
        unsupported("ed25519.pub"),
        KeyError::Unsupported("an Ed25519 key".into())
    );
    assert_eq!(
        PublicKey::from_pem(&fixture("p256.key")).unwrap_err(),
        KeyError::PrivateGiven("PRIVATE KEY".into())
    );
    assert_eq!(
        PublicKey::from_pem(&fixture("p256-sec1.key")).unwrap_err(),
        KeyError::PrivateGiven("EC PRIVATE KEY".into())
    );
    assert_eq!(
        PrivateKey::from_pem(&fixture("p256.pub")).unwrap_err(),
        KeyError::PublicGiven
    );
    let cosign = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";
    assert!(matches!(
        PrivateKey::from_pem(cosign),
        Err(KeyError::EncryptedMalformed(_))
    ));
    assert!(matches!(
        PublicKey::from_pem(cosign),
        Err(KeyError::PrivateGiven(_))
    ));
    assert_eq!(
        PublicKey::from_pem("not a key"),
        Err(KeyError::Pem(DerError::NoPem))
    );
    let truncated = fixture("p256.pub").replace("\n-----END", "AAAA\n-----END");
    assert!(matches!(
        PublicKey::from_pem(&truncated),
        Err(KeyError::Malformed(..) | KeyError::Pem(_))
    ));
    let garbage = der::to_pem("PUBLIC KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
    assert!(matches!(
        PublicKey::from_pem(&garbage),
        Err(KeyError::Malformed(..))
    ));
    let cert = der::to_pem("CERTIFICATE", &[0x30, 0x00]);
    assert_eq!(
        PublicKey::from_pem(&cert),
        Err(KeyError::NotAKey("CERTIFICATE".into()))
    );
    let two = format!("{}{}", fixture("p256.pub"), fixture("other.pub"));
    assert_eq!(PublicKey::from_pem(&two), Err(KeyError::NotOne(2)));
    assert_eq!(PublicKey::all_from_pem(&two).unwrap().len(), 2);
}

#[test]
fn loads_keys_from_paths_and_text_without_quoting_them() {
    let dir = format!("{}/tests/data/signatures", env!("CARGO_MANIFEST_DIR"));
    let keys = load_public_keys(&[
        format!("{dir}/p256.pub\n{dir}/other.pub"),
        fixture("p256.pub"),
    ])
    .unwrap();
    assert_eq!(keys.len(), 3);
    let e = load_public_keys(&[format!("{dir}/missing.pub")]).unwrap_err();
    assert!(
        e.message.starts_with("verification key 1 ("),
        "{}",
        e.message
    );
    assert!(e.message.contains("cannot read it"), "{}", e.message);
    let e = load_public_keys(&[fixture("p256.pub"), fixture("p256.key")]).unwrap_err();
    assert_eq!(e.reason, crate::error::Reason::InvalidInput);
    assert!(
        e.message
            .contains("verification key 2 (PEM text): it is a private key"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("MIG"), "{}", e.message);
    assert!(e.hint.unwrap_or_default().contains("-pubout"));
    let e = load_public_keys(&[format!("{dir}/p384.pub")]).unwrap_err();
    assert!(e.message.contains("ECDSA P-384"), "{}", e.message);
    assert!(e.message.contains("only ECDSA P-256"), "{}", e.message);
}

#[test]
fn opens_cosigns_encrypted_key_file_with_its_password() {
    let text = fixture("cosign-encrypted.key");
    let public = PublicKey::from_pem(&fixture("cosign-encrypted.pub")).unwrap();
    let key = PrivateKey::from_pem_with_password(&text, Some(b"correct horse")).unwrap();
    assert_eq!(key.public_key(), &public);
    assert_eq!(
        PrivateKey::from_pem_with_password(&text, Some(b"correct")).unwrap_err(),
        KeyError::WrongPassword
    );
    let e = PrivateKey::from_pem(&text).unwrap_err();
    assert_eq!(
        e,
        KeyError::PasswordNeeded("ENCRYPTED SIGSTORE PRIVATE KEY".into())
    );
    let e = e.into_error("the signing key");
    assert!(
        e.hint.unwrap_or_default().contains("--sign-key-password"),
        "{}",
        e.message
    );
    // cosign 1.x wrote the same body under another label.
    let old = text.replace("SIGSTORE", "COSIGN");
    let key = PrivateKey::from_pem_with_password(&old, Some(b"correct horse")).unwrap();
    assert_eq!(key.public_key(), &public);
    assert!(matches!(
        PublicKey::from_pem(&text),
        Err(KeyError::PrivateGiven(_))
    ));
}
