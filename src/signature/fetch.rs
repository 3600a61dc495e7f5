//! The registry reads of the `signature` check (its async part, run from `load_context` before
//! the checks): for one digest, the cosign tag `sha256-<hex>.sig` and its simple-signing
//! layers, then the digest's referrers (API, else the fallback index) and the Sigstore bundle
//! of each bundle referrer. Every blob is size-checked against [`MAX_BLOB_BYTES`] before it is
//! asked for, and digest-checked as read. A signature that cannot be read is a candidate with
//! its [`Problem`]; only a failed request (network, access, registry) is an error.

use bytes::Bytes;

use super::bundle::{self, OCI_EMPTY};
use super::legacy::{SIGNATURE_ANNOTATION, SIMPLESIGNING};
use super::{
    Candidate, Content, Format, Found, MAX_BLOB_BYTES, MAX_LAYERS, MAX_REFERRERS, Problem,
    SubjectMaterial,
};
use crate::digest::Digest;
use crate::error::{Reason, Result};
use crate::media::{Descriptor, ManifestView};
use crate::reference::Reference;
use crate::referrers::{self, Path};
use crate::registry::RegistryClient;

/// Reads the signatures of `subject` in `repo`.
///
/// # Errors
/// Registry, network and access errors of the requests (a missing tag or blob is not one).
pub async fn fetch(
    client: &RegistryClient,
    repo: &Reference,
    subject: &Digest,
) -> Result<SubjectMaterial> {
    let mut material = SubjectMaterial {
        subject: subject.clone(),
        candidates: Vec::new(),
        looked: Vec::new(),
    };
    legacy_candidates(client, repo, subject, &mut material).await?;
    bundle_candidates(client, repo, subject, &mut material).await?;
    Ok(material)
}

async fn legacy_candidates(
    client: &RegistryClient,
    repo: &Reference,
    subject: &Digest,
    material: &mut SubjectMaterial,
) -> Result<()> {
    let tag = referrers::cosign_tag(subject, "sig");
    material.looked.push(format!("tag {tag}"));
    let manifest = match client.get_manifest(repo, &tag).await {
        Ok(m) => m,
        Err(e) if e.reason == Reason::ManifestUnknown => return Ok(()),
        Err(e) if matches!(e.reason, Reason::InvalidInput | Reason::DigestMismatch) => {
            material.candidates.push(Candidate {
                format: Format::CosignLegacy,
                found: Found::Tag,
                location: tag,
                content: Err(Problem::Unreadable(e.message)),
            });
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let layers = match &manifest.view {
        ManifestView::Image { layers, .. } => layers.clone(),
        ManifestView::Index { .. } => Vec::new(),
    };
    let signing: Vec<&Descriptor> = layers
        .iter()
        .filter(|l| l.media_type == SIMPLESIGNING)
        .collect();
    if signing.is_empty() {
        material.candidates.push(Candidate {
            format: Format::CosignLegacy,
            found: Found::Tag,
            location: tag,
            content: Err(Problem::Unreadable(format!(
                "{} has no `{SIMPLESIGNING}` layer",
                manifest.digest
            ))),
        });
        return Ok(());
    }
    let many = signing.len() > 1;
    for (i, layer) in signing.into_iter().take(MAX_LAYERS).enumerate() {
        let location = if many {
            format!("{tag} (layer {})", i + 1)
        } else {
            tag.clone()
        };
        let content = read_blob(client, repo, layer)
            .await?
            .map(|payload| Content::Legacy {
                payload,
                signature: layer.annotations.get(SIGNATURE_ANNOTATION).cloned(),
            });
        material.candidates.push(Candidate {
            format: Format::CosignLegacy,
            found: Found::Tag,
            location,
            content,
        });
    }
    Ok(())
}

async fn bundle_candidates(
    client: &RegistryClient,
    repo: &Reference,
    subject: &Digest,
    material: &mut SubjectMaterial,
) -> Result<()> {
    let listed = referrers::list(client, repo, subject).await?;
    let found = match listed.path {
        Path::Api => Found::ReferrersApi,
        Path::FallbackTag => Found::FallbackTag,
    };
    material.looked.push(match listed.path {
        Path::Api => "the referrers API".to_owned(),
        Path::FallbackTag => format!(
            "the referrers fallback tag {}",
            referrers::fallback_tag(subject)
        ),
    });
    // A bundle referrer by its artifact type; entries without one (or with the empty type, as
    // some clients write into the fallback index) are read to see what they are.
    let maybe = listed
        .descriptors
        .iter()
        .filter(|d| match d.artifact_type.as_deref() {
            Some(t) => bundle::is_bundle(t) || t == OCI_EMPTY,
            None => true,
        });
    for d in maybe.take(MAX_REFERRERS) {
        let location = d.digest.to_string();
        let manifest = match client.get_manifest(repo, &location).await {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.reason,
                    Reason::ManifestUnknown | Reason::InvalidInput | Reason::DigestMismatch
                ) =>
            {
                if d.artifact_type.as_deref().is_some_and(bundle::is_bundle) {
                    material.candidates.push(Candidate {
                        format: Format::SigstoreBundle,
                        found,
                        location,
                        content: Err(Problem::Unreadable(e.message)),
                    });
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let ManifestView::Image { layers, .. } = &manifest.view else {
            continue;
        };
        let typed = manifest
            .artifact_type
            .as_deref()
            .is_some_and(bundle::is_bundle);
        let Some(layer) = layers
            .iter()
            .find(|l| bundle::is_bundle(&l.media_type))
            .or_else(|| if typed { layers.first() } else { None })
        else {
            continue;
        };
        let content = read_blob(client, repo, layer)
            .await?
            .map(|bundle| Content::Bundle { bundle });
        material.candidates.push(Candidate {
            format: Format::SigstoreBundle,
            found,
            location,
            content,
        });
    }
    Ok(())
}

/// One signature blob, at most [`MAX_BLOB_BYTES`], digest-checked; a blob that is too large,
/// missing or corrupt is a [`Problem`].
async fn read_blob(
    client: &RegistryClient,
    repo: &Reference,
    blob: &Descriptor,
) -> Result<std::result::Result<Bytes, Problem>> {
    if blob.size > MAX_BLOB_BYTES {
        return Ok(Err(Problem::TooLarge {
            digest: blob.digest.to_string(),
            size: blob.size,
            limit: MAX_BLOB_BYTES,
        }));
    }
    let limit = usize::try_from(MAX_BLOB_BYTES).unwrap_or(usize::MAX);
    match client
        .get_blob_bytes(repo, &blob.digest, blob.size, limit)
        .await
    {
        Ok(bytes) => Ok(Ok(bytes)),
        Err(e) if e.reason == Reason::BlobUnknown => {
            Ok(Err(Problem::BlobMissing(blob.digest.to_string())))
        }
        Err(e)
            if matches!(
                e.reason,
                Reason::DigestMismatch | Reason::SizeMismatch | Reason::InvalidInput
            ) =>
        {
            Ok(Err(Problem::BlobCorrupt(blob.digest.to_string())))
        }
        Err(e) => Err(e),
    }
}
