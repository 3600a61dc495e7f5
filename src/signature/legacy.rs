//! cosign's legacy signature format (tag `sha256-<hex>.sig`): one manifest whose layers are
//! simple-signing payloads (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its
//! base64 DER ECDSA signature in the annotation `dev.cosignproject.cosign/signature`, made over
//! the payload's raw bytes. [`verify`] checks one layer; [`sign`] makes one, and
//! [`LegacySignature::manifest`] the `.sig` manifest cosign writes around it.

use base64::Engine as _;
use serde_json::Value;

use super::key::{PrivateKey, PublicKey};
use super::{Problem, crypto};
use crate::digest::Digest;
use crate::media::{OCI_CONFIG, OCI_MANIFEST};

/// The media type of a simple-signing payload layer.
pub const SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 DER signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a container image signature.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Verifies one simple-signing layer: `signature_b64` (the annotation) over `payload` with one
/// of `keys`, then the payload names `subject`. Returns the index of the key that verified.
///
/// # Errors
/// The [`Problem`] found first: no or non-base64 signature, a signature no key verifies, a
/// payload that is not JSON, of another type, or naming another digest.
pub fn verify(
    payload: &[u8],
    signature_b64: Option<&str>,
    subject: &Digest,
    keys: &[PublicKey],
) -> Result<usize, Problem> {
    let b64 = signature_b64
        .filter(|s| !s.trim().is_empty())
        .ok_or(Problem::NoSignature)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| Problem::SignatureNotBase64)?;
    let key = super::verify_with_any(keys, payload, &signature)?;
    check_payload(payload, subject)?;
    Ok(key)
}

/// Checks a simple-signing payload's JSON: its `critical.type` and that
/// `critical.image.docker-manifest-digest` (or the capitalised spelling) is `subject`.
///
/// # Errors
/// [`Problem::PayloadNotJson`], [`Problem::WrongType`], [`Problem::NoDigest`] or
/// [`Problem::OtherDigest`].
pub fn check_payload(payload: &[u8], subject: &Digest) -> Result<(), Problem> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|e| Problem::PayloadNotJson(e.to_string()))?;
    let critical = &v["critical"];
    match critical["type"].as_str() {
        Some(PAYLOAD_TYPE) => {}
        Some(other) => return Err(Problem::WrongType(crate::text::shorten(other))),
        None => return Err(Problem::WrongType("none".to_owned())),
    }
    let image = &critical["image"];
    let named = image["docker-manifest-digest"]
        .as_str()
        .or_else(|| image["Docker-manifest-digest"].as_str())
        .ok_or(Problem::NoDigest)?;
    if named != subject.to_string() {
        return Err(Problem::OtherDigest(crate::text::shorten(named)));
    }
    Ok(())
}

/// A legacy signature made by [`sign`]: the payload bytes and the base64 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacySignature {
    /// The simple-signing payload, exactly the bytes signed.
    pub payload: Vec<u8>,
    /// base64 of the DER ECDSA signature.
    pub signature: String,
}

/// The simple-signing payload for `subject`, in cosign's field order.
#[must_use]
pub fn payload(docker_reference: &str, subject: &Digest) -> Vec<u8> {
    // serde_json's map keeps keys sorted, which is cosign's order too.
    let v = serde_json::json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": subject.to_string()},
            "type": PAYLOAD_TYPE,
        },
        "optional": null,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Signs `subject` (pushed as `docker_reference`, which verifiers ignore) the legacy way.
///
/// # Errors
/// [`Problem::Crypto`] when signing fails.
pub fn sign(
    key: &PrivateKey,
    docker_reference: &str,
    subject: &Digest,
) -> Result<LegacySignature, Problem> {
    let payload = payload(docker_reference, subject);
    let signature = crypto::sign(key.pkcs8(), &payload).map_err(Problem::Crypto)?;
    Ok(LegacySignature {
        signature: base64::engine::general_purpose::STANDARD.encode(signature),
        payload,
    })
}

impl LegacySignature {
    /// The `.sig` manifest and its config blob, as cosign writes them: an OCI image manifest
    /// whose one layer is the payload with the signature annotation. Returns
    /// `(config bytes, manifest bytes)`; the payload is the other blob to push.
    #[must_use]
    pub fn manifest(&self) -> (Vec<u8>, Vec<u8>) {
        let payload_digest = Digest::sha256_of(&self.payload).to_string();
        let config = serde_json::json!({
            "architecture": "", "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
            "rootfs": {"type": "layers", "diff_ids": [payload_digest]}, "config": {},
        });
        let config = serde_json::to_vec(&config).unwrap_or_default();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "size": config.len(), "digest": Digest::sha256_of(&config).to_string()},
            "layers": [{
                "mediaType": SIMPLESIGNING, "size": self.payload.len(), "digest": payload_digest,
                "annotations": {SIGNATURE_ANNOTATION: self.signature},
            }],
        });
        (config, serde_json::to_vec(&manifest).unwrap_or_default())
    }
}
