//! Keys, cosign payloads and Sigstore bundles: the parsers and verifiers of
//! `image_promote::signature` never panic on any input; an accepted public key re-encodes to
//! itself (PEM and DER) with a 65-byte point; no input verifies under the fixed test key unless
//! it is the committed fixture's signature (a forged signature would be a bug in the verifier).
//!
//! Input: the first byte picks what the rest is (`% 6`): 0 PEM text as a public key, 1 PEM text
//! as a private key, 2 DER as a SubjectPublicKeyInfo, 3 DER as PKCS#8 and as SEC1, 4 a legacy
//! payload (then, after the first `\n---\n`, its base64 signature), 5 a bundle.
#![no_main]

use image_promote::digest::Digest;
use image_promote::signature::bundle::{self, COSIGN_SIGN_PREDICATE};
use image_promote::signature::der;
use image_promote::signature::{PrivateKey, PublicKey, legacy};
use libfuzzer_sys::fuzz_target;

const KEY: &str = include_str!("../../tests/data/signatures/p256.pub");
const PAYLOAD: &str = include_str!("../../tests/data/signatures/payload.json");
const BUNDLE: &str = include_str!("../../tests/data/signatures/bundle.json");
const SUBJECT: &str = include_str!("../../tests/data/signatures/subject.txt");

fn check_public(key: &PublicKey) {
    assert_eq!(key.point().len(), 65);
    let again = PublicKey::from_pem(&key.to_pem()).expect("a key re-reads from its PEM");
    assert_eq!(&again, key);
    assert_eq!(PublicKey::from_spki_der(key.spki_der()).as_ref(), Ok(key));
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    let key = PublicKey::from_pem(KEY).expect("the fixture key");
    let subject = Digest::parse(SUBJECT.trim()).expect("the fixture digest");
    match selector % 6 {
        0 => {
            if let Ok(keys) = PublicKey::all_from_pem(&text) {
                keys.iter().for_each(check_public);
            }
            let _ = der::pem_blocks(&text);
        }
        1 => {
            if let Ok(k) = PrivateKey::from_pem(&text) {
                check_public(k.public_key());
                assert!(format!("{k:?}").contains("<redacted>"));
            }
        }
        2 => {
            if let Ok(k) = PublicKey::from_spki_der(body) {
                check_public(&k);
            }
        }
        3 => {
            for k in [
                PrivateKey::from_pkcs8_der(body),
                PrivateKey::from_sec1_der(body),
            ]
            .into_iter()
            .flatten()
            {
                check_public(k.public_key());
            }
        }
        4 => {
            let (payload, signature) = match text.split_once("\n---\n") {
                Some((p, s)) => (p.as_bytes().to_vec(), Some(s.to_owned())),
                None => (body.to_vec(), None),
            };
            let _ = legacy::check_payload(&payload, &subject);
            if legacy::verify(&payload, signature.as_deref(), &subject, &[key]).is_ok() {
                assert_eq!(
                    payload,
                    PAYLOAD.as_bytes(),
                    "only the fixture's payload verifies"
                );
            }
        }
        _ => {
            if bundle::verify(body, &subject, COSIGN_SIGN_PREDICATE, &[key]).is_ok() {
                // Only an envelope carrying the fixture's signed statement can verify.
                let fixture: serde_json::Value = serde_json::from_str(BUNDLE).expect("fixture");
                let given: serde_json::Value = serde_json::from_slice(body).expect("verified JSON");
                assert_eq!(
                    given["dsseEnvelope"]["payload"],
                    fixture["dsseEnvelope"]["payload"]
                );
            }
            let _ = bundle::check_statement(body, &subject, COSIGN_SIGN_PREDICATE);
        }
    }
});
