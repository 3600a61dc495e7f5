//! Sigstore bundles (what cosign 3 attaches as an OCI 1.1 referrer, `artifactType`
//! `application/vnd.dev.sigstore.bundle.v0.3+json`; v0.1 and v0.2 media types read too) holding a
//! DSSE envelope: `payloadType` `application/vnd.in-toto+json`, the signature made over the DSSE
//! pre-authentication encoding ([`pae`]) of an in-toto statement whose subject is the image and
//! whose predicate type is `https://sigstore.dev/cosign/sign/v1` for a signature. [`verify`]
//! checks one bundle; [`sign`] makes one over a statement with any predicate, and
//! [`referrer_manifest`] the manifest that attaches it.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::key::{PrivateKey, PublicKey};
use super::{Problem, crypto};
use crate::digest::Digest;
use crate::media::OCI_MANIFEST;

/// The bundle media type cosign 3 writes.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Older bundle media types, read as well.
pub const BUNDLE_OLDER: [&str; 2] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
];
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The in-toto statement type.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of a `cosign sign` signature.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// The empty config descriptor's media type (OCI 1.1 artifacts).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Whether `media_type` is a Sigstore bundle.
#[must_use]
pub fn is_bundle(media_type: &str) -> bool {
    media_type == BUNDLE_V03 || BUNDLE_OLDER.contains(&media_type)
}

/// The DSSE pre-authentication encoding: `DSSEv1 <len> <type> <len> <body>`.
#[must_use]
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    #[serde(default)]
    dsse_envelope: Option<Envelope>,
    #[serde(default)]
    verification_material: Option<Material>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Material {
    #[serde(default)]
    public_key: Option<KeyHint>,
}

#[derive(Deserialize)]
struct KeyHint {
    #[serde(default)]
    hint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    #[serde(default)]
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    #[serde(default)]
    sig: String,
}

/// Verifies one bundle: a DSSE envelope of an in-toto statement, signed by one of `keys`,
/// whose subject is `subject` and whose predicate type is `predicate_type`. Returns the index
/// of the key that verified.
///
/// # Errors
/// The [`Problem`] found first.
pub fn verify(
    bundle: &[u8],
    subject: &Digest,
    predicate_type: &str,
    keys: &[PublicKey],
) -> Result<usize, Problem> {
    let b: Bundle =
        serde_json::from_slice(bundle).map_err(|e| Problem::BundleNotJson(e.to_string()))?;
    let envelope = b.dsse_envelope.ok_or(Problem::NoEnvelope)?;
    if envelope.payload_type != IN_TOTO {
        return Err(Problem::PayloadType(crate::text::shorten(
            &envelope.payload_type,
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = b64
        .decode(envelope.payload.as_bytes())
        .map_err(|_| Problem::PayloadNotBase64)?;
    if envelope.signatures.is_empty() {
        return Err(Problem::NoSignature);
    }
    let message = pae(&envelope.payload_type, &body);
    let mut last = Problem::NoSignature;
    let mut key = None;
    for s in &envelope.signatures {
        let Ok(signature) = b64.decode(s.sig.as_bytes()) else {
            last = Problem::SignatureNotBase64;
            continue;
        };
        match super::verify_with_any(keys, &message, &signature) {
            Ok(k) => {
                key = Some(k);
                break;
            }
            Err(p) => last = p,
        }
    }
    let hint = b
        .verification_material
        .and_then(|m| m.public_key)
        .map(|k| k.hint)
        .unwrap_or_default();
    let key = key.ok_or_else(|| match (&last, keys.iter().find(|k| k.hint() == hint)) {
        // The bundle names one of the given keys, yet that key does not verify it: its bytes
        // were changed after signing.
        (Problem::BadSignature(_), Some(named)) => Problem::Tampered(named.short_fingerprint()),
        _ => last,
    })?;
    check_statement(&body, subject, predicate_type)?;
    Ok(key)
}

/// Checks an in-toto statement: some subject's `digest.sha256` is `subject`'s hex and the
/// predicate type is `predicate_type`.
///
/// # Errors
/// [`Problem::PayloadNotJson`], [`Problem::OtherDigest`], [`Problem::NoDigest`] or
/// [`Problem::PredicateType`].
pub fn check_statement(body: &[u8], subject: &Digest, predicate_type: &str) -> Result<(), Problem> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Problem::PayloadNotJson(e.to_string()))?;
    let algorithm = subject.to_string();
    let algorithm = algorithm.split(':').next().unwrap_or("sha256");
    let named: Vec<&str> = v["subject"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["digest"][algorithm].as_str())
                .collect()
        })
        .unwrap_or_default();
    if named.is_empty() {
        return Err(Problem::NoDigest);
    }
    if !named.iter().any(|h| h.eq_ignore_ascii_case(subject.hex())) {
        return Err(Problem::OtherDigest(crate::text::shorten(&format!(
            "{algorithm}:{}",
            named[0]
        ))));
    }
    match v["predicateType"].as_str() {
        Some(p) if p == predicate_type => Ok(()),
        Some(p) => Err(Problem::PredicateType(crate::text::shorten(p))),
        None => Err(Problem::PredicateType("none".to_owned())),
    }
}

/// The in-toto statement v1 over `subject` with `predicate_type` and `predicate`.
#[must_use]
pub fn statement(subject: &Digest, predicate_type: &str, predicate: &Value) -> Vec<u8> {
    let algorithm = subject.to_string();
    let algorithm = algorithm.split(':').next().unwrap_or("sha256").to_owned();
    let v = serde_json::json!({
        "_type": STATEMENT_V1,
        "subject": [{"digest": {algorithm: subject.hex()}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Signs a statement over `subject` as a DSSE envelope and wraps it in a v0.3 bundle with the
/// key's hint (keyed: no certificate, no transparency log entry). Returns the bundle's bytes.
///
/// # Errors
/// [`Problem::Crypto`] when signing fails.
pub fn sign(
    key: &PrivateKey,
    subject: &Digest,
    predicate_type: &str,
    predicate: &Value,
) -> Result<Vec<u8>, Problem> {
    let body = statement(subject, predicate_type, predicate);
    let signature = crypto::sign(key.pkcs8(), &pae(IN_TOTO, &body)).map_err(Problem::Crypto)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let v = serde_json::json!({
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": key.public_key().hint()}},
        "dsseEnvelope": {
            "payload": b64.encode(&body),
            "payloadType": IN_TOTO,
            "signatures": [{"sig": b64.encode(signature)}],
        },
    });
    Ok(serde_json::to_vec(&v).unwrap_or_default())
}

/// The referrer manifest that attaches `bundle` to the manifest `subject` (`media_type`,
/// `size`): `artifactType` the v0.3 bundle, the empty config, one layer, cosign's annotations.
/// The blobs to push are `bundle` and `{}` (the empty config).
#[must_use]
pub fn referrer_manifest(
    bundle: &[u8],
    subject: (&str, &Digest, u64),
    predicate_type: &str,
    created: &str,
) -> Vec<u8> {
    let (subject_type, subject_digest, subject_size) = subject;
    let v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": {"mediaType": OCI_EMPTY, "digest": Digest::sha256_of(b"{}").to_string(), "size": 2},
        "layers": [{"mediaType": BUNDLE_V03, "digest": Digest::sha256_of(bundle).to_string(), "size": bundle.len()}],
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": predicate_type,
            "org.opencontainers.image.created": created,
        },
        "subject": {"mediaType": subject_type, "digest": subject_digest.to_string(), "size": subject_size},
    });
    serde_json::to_vec(&v).unwrap_or_default()
}
