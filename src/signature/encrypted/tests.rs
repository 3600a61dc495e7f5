//! The encrypted key file: cosign's own fixture (`tests/data/signatures/cosign-encrypted.key`),
//! files sealed here with small scrypt parameters, and bodies broken one field at a time.

use super::*;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A body as cosign writes it, sealed with `password` and scrypt N = 2^`log_n`.
fn seal(plain: &[u8], password: &[u8], log_n: u8) -> String {
    let salt = [7u8; 32];
    let nonce = [9u8; 24];
    let mut key = [0u8; 32];
    scrypt::scrypt(
        password,
        &salt,
        &scrypt::Params::new(log_n, 8, 1, 32).unwrap(),
        &mut key,
    )
    .unwrap();
    let sealed = crypto_secretbox::XSalsa20Poly1305::new(&key.into())
        .encrypt(&nonce.into(), plain)
        .unwrap();
    serde_json::json!({
        "kdf": {"name": "scrypt", "params": {"N": 1u64 << log_n, "r": 8, "p": 1}, "salt": b64(&salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(&nonce)},
        "ciphertext": b64(&sealed),
    })
    .to_string()
}

fn cosign_body() -> Vec<u8> {
    let path = format!(
        "{}/tests/data/signatures/cosign-encrypted.key",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let blocks = crate::signature::der::pem_blocks(&text).unwrap();
    assert_eq!(blocks[0].label, "ENCRYPTED SIGSTORE PRIVATE KEY");
    blocks[0].der.clone()
}

#[test]
fn opens_cosigns_file_with_its_password_only() {
    let body = cosign_body();
    let pkcs8 = decrypt(&body, b"correct horse").unwrap();
    // PKCS#8 of an EC key: SEQUENCE, version 0, the id-ecPublicKey algorithm.
    assert_eq!(pkcs8[0], 0x30);
    assert!(
        pkcs8
            .windows(7)
            .any(|w| w == [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
        "{pkcs8:02x?}"
    );
    assert_eq!(
        decrypt(&body, b"correct horsE"),
        Err(DecryptError::WrongPassword)
    );
    assert_eq!(decrypt(&body, b""), Err(DecryptError::WrongPassword));
}

#[test]
fn round_trips_and_refuses_an_altered_box() {
    let body = seal(b"the key", b"pw", 4);
    assert_eq!(decrypt(body.as_bytes(), b"pw").unwrap(), b"the key");
    let empty = seal(b"no password", b"", 4);
    assert_eq!(decrypt(empty.as_bytes(), b"").unwrap(), b"no password");
    let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut sealed = base64::engine::general_purpose::STANDARD
        .decode(v["ciphertext"].as_str().unwrap())
        .unwrap();
    sealed[20] ^= 1;
    v["ciphertext"] = b64(&sealed).into();
    assert_eq!(
        decrypt(v.to_string().as_bytes(), b"pw"),
        Err(DecryptError::WrongPassword)
    );
}

fn malformed(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&seal(b"k", b"pw", 4)).unwrap();
    edit(&mut v);
    match decrypt(v.to_string().as_bytes(), b"pw") {
        Err(DecryptError::Malformed(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn names_what_is_wrong_with_a_malformed_body() {
    let m = malformed(|v| v["kdf"]["name"] = "argon2id".into());
    assert!(m.contains("`argon2id` (only scrypt"), "{m}");
    let m = malformed(|v| v["cipher"]["name"] = "aes-gcm".into());
    assert!(m.contains("`aes-gcm` (only nacl/secretbox"), "{m}");
    let m = malformed(|v| v["cipher"]["nonce"] = b64(&[1; 12]).into());
    assert!(m.contains("nonce is 12 bytes, not 24"), "{m}");
    let m = malformed(|v| v["kdf"]["salt"] = "not base64!".into());
    assert!(m.contains("salt is not base64"), "{m}");
    let m = malformed(|v| v["kdf"]["params"]["N"] = 1000.into());
    assert!(m.contains("N=1000") && m.contains("power of two"), "{m}");
    let m = malformed(|v| v["kdf"]["params"]["p"] = 0.into());
    assert!(m.contains("p=0"), "{m}");
    // 128 · 8 · 2^20 = 1 GiB: refused before scrypt allocates anything.
    let m = malformed(|v| v["kdf"]["params"]["N"] = (1u64 << 20).into());
    assert!(m.contains("ask for 1024 MiB (at most 256 MiB"), "{m}");
    let m = malformed(|v| v["kdf"]["params"]["N"] = u64::MAX.into());
    assert!(m.contains("power of two"), "{m}");
    let m = malformed(|v| v["extra"] = 1.into());
    assert!(m.contains("its JSON") && m.contains("extra"), "{m}");
    let m = malformed(|v| *v = serde_json::json!({"kdf": {}}));
    assert!(m.contains("its JSON"), "{m}");
    assert!(matches!(
        decrypt(b"\xff\xfe not json", b"pw"),
        Err(DecryptError::Malformed(m)) if m.starts_with("its JSON")
    ));
}
