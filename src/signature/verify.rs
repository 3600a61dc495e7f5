//! What the registry reads gathered for one digest ([`SubjectMaterial`], made by
//! [`super::fetch`]) and its pure verification ([`verify_subject`]): every candidate signature
//! is verified with the given keys; the digest is signed when at least one verifies.

use bytes::Bytes;
use serde::Serialize;

use super::{Format, Found, Problem, PublicKey, Signer, bundle, legacy};
use crate::digest::Digest;

/// The bytes of one candidate signature, as fetched (blobs digest-checked).
#[derive(Debug, Clone)]
pub enum Content {
    /// A simple-signing payload and its signature annotation.
    Legacy {
        /// The payload blob.
        payload: Bytes,
        /// The `dev.cosignproject.cosign/signature` annotation.
        signature: Option<String>,
    },
    /// A Sigstore bundle blob.
    Bundle {
        /// The bundle's bytes.
        bundle: Bytes,
    },
}

/// One signature found for a digest, or the problem met reading it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its format.
    pub format: Format,
    /// Where it was found.
    pub found: Found,
    /// The manifest holding it (and the layer, for a `.sig` with several).
    pub location: String,
    /// Its bytes, or why they could not be read.
    pub content: Result<Content, Problem>,
}

/// Everything found for one digest.
#[derive(Debug, Clone)]
pub struct SubjectMaterial {
    /// The signed digest.
    pub subject: Digest,
    /// The candidates, legacy first.
    pub candidates: Vec<Candidate>,
    /// Where was looked (`tag sha256-….sig`, `referrers (api)`), for messages.
    pub looked: Vec<String>,
}

/// A signature that verified.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// Who signed.
    pub signer: Signer,
    /// Its format.
    pub format: Format,
    /// Where it was found.
    pub found: Found,
    /// The manifest holding it.
    pub location: String,
}

/// A signature that did not verify, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    /// Its format.
    pub format: Format,
    /// Where it was found.
    pub found: Found,
    /// The manifest holding it.
    pub location: String,
    /// Why it does not count.
    pub problem: String,
}

/// The verdict on one digest.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectVerdict {
    /// The digest.
    pub subject: String,
    /// Signatures that verified.
    pub verified: Vec<Verified>,
    /// Signatures that did not, with why.
    pub rejected: Vec<Rejected>,
    /// Where was looked.
    pub looked: Vec<String>,
}

impl SubjectVerdict {
    /// Whether some signature verified.
    #[must_use]
    pub fn is_signed(&self) -> bool {
        !self.verified.is_empty()
    }
}

/// Verifies every candidate of `material` with `keys`; bundles must carry `predicate_type`.
#[must_use]
pub fn verify_subject(
    material: &SubjectMaterial,
    keys: &[PublicKey],
    predicate_type: &str,
) -> SubjectVerdict {
    let mut verdict = SubjectVerdict {
        subject: material.subject.to_string(),
        verified: Vec::new(),
        rejected: Vec::new(),
        looked: material.looked.clone(),
    };
    for c in &material.candidates {
        let outcome = c.content.clone().and_then(|content| match content {
            Content::Legacy { payload, signature } => {
                legacy::verify(&payload, signature.as_deref(), &material.subject, keys)
            }
            Content::Bundle { bundle } => {
                bundle::verify(&bundle, &material.subject, predicate_type, keys)
            }
        });
        match outcome.and_then(|i| keys.get(i).ok_or(Problem::NoSignature)) {
            Ok(key) => verdict.verified.push(Verified {
                signer: Signer::Key {
                    fingerprint: key.short_fingerprint(),
                },
                format: c.format,
                found: c.found,
                location: c.location.clone(),
            }),
            Err(problem) => verdict.rejected.push(Rejected {
                format: c.format,
                found: c.found,
                location: c.location.clone(),
                problem: problem.to_string(),
            }),
        }
    }
    verdict
}
