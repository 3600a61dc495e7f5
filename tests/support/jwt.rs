//! ES256 JWT signing for the test token server. The P-256 key and its self-signed
//! certificate come from the `openssl` CLI; signing uses `ring` (already built for
//! rustls). distribution 2.8 finds the signing key either from the `x5c` header (chain
//! verified against `rootcertbundle`) or from a `kid` equal to the libtrust fingerprint of
//! a key in `rootcertbundle`; both are supported here.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use sha2::{Digest, Sha256};

/// How the token header names its signing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRef {
    /// `x5c: [<DER certificate, base64>]`; the certificate is the `rootcertbundle`.
    X5c,
    /// `kid: <libtrust key id>` of the certificate's public key.
    Kid,
}

/// A signing key with its certificate.
pub struct SigningKey {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_der: Vec<u8>,
    cert_pem: String,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (is it installed?)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Decodes the first PEM block of a file's text.
fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(body).expect("PEM body is base64")
}

impl SigningKey {
    /// Generates a fresh P-256 key and a self-signed certificate in `dir` (files
    /// `<name>.key`, `<name>.crt`).
    pub fn generate(dir: &Path, name: &str) -> SigningKey {
        let key_path = dir.join(format!("{name}.key"));
        let crt_path = dir.join(format!("{name}.crt"));
        let (key_s, crt_s) = (key_path.to_string_lossy(), crt_path.to_string_lossy());
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key_s,
        ]);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &key_s,
            "-subj",
            "/CN=image-promote-test-token",
            "-days",
            "30",
            "-out",
            &crt_s,
        ]);
        let key_pem = std::fs::read_to_string(&key_path).expect("read key");
        let cert_pem = std::fs::read_to_string(&crt_path).expect("read cert");
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pem_to_der(&key_pem),
            &SystemRandom::new(),
        )
        .expect("openssl genpkey writes PKCS#8");
        let kid = libtrust_key_id(key.public_key().as_ref());
        SigningKey {
            key,
            rng: SystemRandom::new(),
            cert_der: pem_to_der(&cert_pem),
            cert_pem,
            kid,
        }
    }

    /// The certificate, PEM (what `rootcertbundle` must contain).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// libtrust key id (`ABCD:EFGH:...`, 12 groups).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as a compact ES256 JWS.
    pub fn sign(&self, claims: &serde_json::Value, key_ref: KeyRef) -> String {
        let header = match key_ref {
            KeyRef::X5c => {
                serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.cert_der)]})
            }
            KeyRef::Kid => serde_json::json!({"typ": "JWT", "alg": "ES256", "kid": self.kid}),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .expect("ECDSA sign");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// libtrust fingerprint: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32
/// (RFC 4648, no padding) in 4-character groups joined by `:`.
fn libtrust_key_id(uncompressed_point: &[u8]) -> String {
    // SPKI prefix for an id-ecPublicKey / prime256v1 key with a 65-byte uncompressed point.
    const P256_SPKI_PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(uncompressed_point);
    let digest = Sha256::digest(&spki);
    let b32 = base32(&digest[..30]);
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}
