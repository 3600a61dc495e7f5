//! cosign signatures, verified and made by hand (keyed ECDSA P-256, no transparency log): the
//! key formats ([`key`], cosign's encrypted key files in [`encrypted`]), the legacy `.sig` format ([`legacy`]), Sigstore bundles with DSSE
//! envelopes ([`bundle`]), the registry reads that gather what to verify ([`fetch`], the async
//! part, called from the Check stage's `load_context`), and [`verify_subject`], the pure
//! verification the `signature` check runs. What "verified" means: some signature found for the
//! digest (its `.sig` tag, or a bundle among its referrers: API or fallback tag) verifies with
//! one of the given keys over the exact bytes fetched (blobs digest-checked and size-limited),
//! and what it signs names that same digest (and, for bundles, the cosign signature predicate).

pub mod bundle;
mod crypto;
pub mod der;
pub mod encrypted;
pub mod fetch;
pub mod key;
pub mod legacy;
mod verify;

use serde::Serialize;

pub use crypto::{CryptoError, KeyBytes, available};
pub use key::{KeyError, PrivateKey, PublicKey, load_public_keys};
pub use verify::{Candidate, Content, SubjectMaterial, SubjectVerdict, Verified, verify_subject};

/// The largest signature payload or bundle blob read (cosign's are a few hundred bytes to a few
/// KiB): a larger blob is a [`Problem::TooLarge`], never downloaded.
pub const MAX_BLOB_BYTES: u64 = 256 * 1024;
/// The most signature layers read from one `.sig` manifest.
pub const MAX_LAYERS: usize = 64;
/// The most referrer manifests read for one digest.
pub const MAX_REFERRERS: usize = 64;

/// Which format a signature is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    /// cosign's `.sig` tag with simple-signing payloads.
    #[serde(rename = "cosign-legacy")]
    CosignLegacy,
    /// A Sigstore bundle (DSSE) attached as a referrer.
    #[serde(rename = "sigstore-bundle")]
    SigstoreBundle,
}

impl Format {
    /// `cosign-legacy` or `sigstore-bundle`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CosignLegacy => "cosign-legacy",
            Self::SigstoreBundle => "sigstore-bundle",
        }
    }
}

/// Where a signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    /// The cosign tag `sha256-<hex>.sig`.
    Tag,
    /// The registry's referrers API.
    ReferrersApi,
    /// The referrers fallback index at tag `sha256-<hex>`.
    FallbackTag,
}

impl Found {
    /// `tag`, `referrers-api` or `fallback-tag`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tag => "tag",
            Self::ReferrersApi => "referrers-api",
            Self::FallbackTag => "fallback-tag",
        }
    }
}

/// Who made a verified signature. Keyed only for now; keyless verification (a certificate's
/// identity and issuer, checked against a trusted root) is meant to add a variant here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Signer {
    /// A public key, by its fingerprint (sha256 of its SPKI DER, shortened).
    Key {
        /// `sha256:` and the first 16 hex digits.
        fingerprint: String,
    },
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key { fingerprint } => write!(f, "key {fingerprint}"),
        }
    }
}

/// Why one signature does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// No signature value (empty annotation, empty DSSE signature list).
    #[error("it carries no signature")]
    NoSignature,
    /// The signature is not base64.
    #[error("its signature is not valid base64")]
    SignatureNotBase64,
    /// No given key verifies the signature over the bytes.
    #[error(
        "the signature does not verify with {0}: signed by another key, or the signed payload was changed"
    )]
    BadSignature(String),
    /// A bundle that names one of the given keys (its `publicKey.hint`) whose signature does not
    /// verify with that key: changed after signing.
    #[error(
        "the bundle names the given key {0}, but its signature does not verify with it: the signed payload was changed"
    )]
    Tampered(String),
    /// The payload or statement is not JSON.
    #[error("the signed payload is not JSON ({0})")]
    PayloadNotJson(String),
    /// The DSSE payload is not base64.
    #[error("the DSSE payload is not valid base64")]
    PayloadNotBase64,
    /// `critical.type` is not a container image signature.
    #[error("the payload's type is `{0}`, not `cosign container image signature`")]
    WrongType(String),
    /// The payload names no digest.
    #[error("the signed payload names no image digest")]
    NoDigest,
    /// The payload names another digest: a signature of another image.
    #[error("it signs {0}, another image")]
    OtherDigest(String),
    /// The bundle is not JSON.
    #[error("the bundle is not JSON ({0})")]
    BundleNotJson(String),
    /// The bundle holds no DSSE envelope (a message signature, e.g. of a blob).
    #[error("the bundle holds no DSSE envelope")]
    NoEnvelope,
    /// The DSSE payload type is not in-toto.
    #[error("the DSSE payload type is `{0}`, not `application/vnd.in-toto+json`")]
    PayloadType(String),
    /// The statement's predicate type is not the one required.
    #[error("the statement's predicate type is `{0}`, not `https://sigstore.dev/cosign/sign/v1`")]
    PredicateType(String),
    /// A blob declared larger than [`MAX_BLOB_BYTES`].
    #[error("its blob {digest} declares {size} bytes, over the {limit}-byte limit for signatures")]
    TooLarge {
        /// The blob.
        digest: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A blob whose bytes do not match its digest or size.
    #[error("its blob {0} does not match its digest or size (corrupt or tampered)")]
    BlobCorrupt(String),
    /// A blob the registry does not have.
    #[error("its blob {0} is missing from the registry")]
    BlobMissing(String),
    /// A signature manifest that could not be read.
    #[error("its manifest cannot be read: {0}")]
    Unreadable(String),
    /// Verification or signing failed.
    #[error("{}", crypto_message(*.0))]
    Crypto(CryptoError),
}

fn crypto_message(e: CryptoError) -> &'static str {
    match e {
        CryptoError::SignFailed => "signing failed",
        CryptoError::BadSignature => "the signature does not verify",
    }
}

/// The index of the first of `keys` that verifies `signature` over `message`.
///
/// # Errors
/// [`Problem::BadSignature`] naming how many keys were tried.
pub(crate) fn verify_with_any(
    keys: &[PublicKey],
    message: &[u8],
    signature: &[u8],
) -> Result<usize, Problem> {
    keys.iter()
        .position(|k| crypto::verify(k.bytes(), message, signature).is_ok())
        .ok_or_else(|| {
            Problem::BadSignature(match keys {
                [one] => format!("the given key {}", one.short_fingerprint()),
                _ => format!("any of the {} given keys", keys.len()),
            })
        })
}

#[cfg(test)]
mod tests;
