//! The promotion history's registry I/O, on the referrers seam ([`crate::referrers`]): writing a
//! record before a moving tag moves (its blobs, the artifact manifest attached to the promoted
//! digest — referrers API or fallback index — and the pointer tag `image-promote.<tag>` at the
//! newest record), reading the newest record of a tag through that pointer, and the records of a
//! digest through its referrers (other tools' referrers tolerated). Fail closed: `promote` moves
//! no moving tag unless [`write`] succeeded.

use bytes::Bytes;

use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::reference::Reference;
use crate::registry::retry::Budget;
use crate::registry::{RegistryClient, UploadStart};
use crate::release::history::{History, Kind, OCI_MANIFEST, Record};
use crate::report::lineage::HistoryFacts;

/// The tag that points at the newest record of `tag` (`image-promote.<tag>`).
///
/// # Errors
/// An input error when the pointer would be longer than a tag may be (128).
pub fn pointer_tag(tag: &str) -> Result<String> {
    let pointer = format!("image-promote.{tag}");
    if pointer.len() > 128 {
        return Err(Error::input(format!(
            "moving tag `{}` is too long to keep a history for (at most 114 characters)",
            crate::text::shorten(tag)
        )));
    }
    Ok(pointer)
}

/// Uploads `bytes` as a blob of `repository` unless it is there already.
pub(crate) async fn push_blob(
    client: &RegistryClient,
    repository: &Reference,
    bytes: Bytes,
) -> Result<()> {
    let digest = Digest::sha256_of(&bytes);
    if client
        .head_blob(repository, &digest, Budget::Own)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let size = bytes.len() as u64;
    client
        .retried(&format!("upload the record blob {digest}"), || {
            let bytes = bytes.clone();
            let digest = digest.clone();
            async move {
                match client
                    .start_upload(repository, None, Budget::Caller)
                    .await?
                {
                    UploadStart::Mounted => Ok(()),
                    UploadStart::Session(session) => {
                        let body: crate::registry::transport::BodyStream =
                            Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
                        client
                            .finish_upload(repository, &session, &digest, size, body)
                            .await
                    }
                }
            }
        })
        .await
}

/// Writes `record` into `repository`: the empty config and the record blob, the artifact manifest
/// (subject: the promoted manifest, of `subject_media_type` and `subject_size`) attached as a
/// referrer, then each record tag's pointer moved to it. Returns how the record manifest was
/// attached (its digest and path).
///
/// # Errors
/// Registry errors (the caller then moves no tag).
pub async fn write(
    client: &RegistryClient,
    repository: &Reference,
    record: &Record,
    subject_media_type: &str,
    subject_size: u64,
) -> Result<crate::referrers::Attached> {
    let (blob, manifest) = record.to_artifact(subject_media_type, subject_size)?;
    push_blob(client, repository, Bytes::from_static(b"{}")).await?;
    push_blob(client, repository, Bytes::from(blob)).await?;
    let manifest = Bytes::from(manifest);
    let attached = crate::referrers::attach(
        client,
        repository,
        manifest.clone(),
        OCI_MANIFEST,
        &record.digest,
    )
    .await?;
    let parsed = crate::media::Manifest::parse("promotion record", manifest, Some(OCI_MANIFEST))?;
    for tag in &record.tags {
        let pointer = pointer_tag(tag)?;
        client
            .put_manifest(&repository.with_tag(&pointer), &pointer, &parsed)
            .await?;
    }
    tracing::info!(
        "history: {} record {} for {} attached ({})",
        record.kind.as_str(),
        attached.digest.short(),
        record.digest.short(),
        attached.path.as_str()
    );
    Ok(attached)
}

/// The newest record of `repository`'s `tag` (through its pointer); `None` when the tag has no
/// history (the tool's first use), or the pointer holds something that is not a record of ours.
///
/// # Errors
/// Registry errors other than an absent pointer.
pub async fn last(
    client: &RegistryClient,
    repository: &Reference,
    tag: &str,
) -> Result<Option<Record>> {
    let pointer = pointer_tag(tag)?;
    match client
        .get_manifest(&repository.with_tag(&pointer), &pointer)
        .await
    {
        Ok(m) => Ok(Record::from_annotations(&m.annotations)),
        Err(e) if e.reason == Reason::ManifestUnknown => Ok(None),
        Err(e) => Err(e),
    }
}

/// The records of `digest` for `repository`'s `tag`, from its referrers (foreign ones counted).
///
/// # Errors
/// Registry errors of the listing.
pub async fn records_of(
    client: &RegistryClient,
    repository: &Reference,
    digest: &Digest,
    tag: &str,
) -> Result<History> {
    let mut referrers = crate::referrers::list(client, repository, digest).await?;
    // A registry may list one referrer once per tag it was pushed under.
    let mut seen = std::collections::BTreeSet::new();
    referrers
        .descriptors
        .retain(|d| seen.insert(d.digest.clone()));
    Ok(History::from_referrers(
        referrers
            .descriptors
            .iter()
            .map(|d| (d.artifact_type.as_deref(), &d.annotations)),
        &repository.name(),
        tag,
    ))
}

/// What a promotion's record says beyond the tag plan: `promotion` or `rollback` (with its
/// reason).
#[derive(Debug, Clone, Default)]
pub struct Intent {
    /// The record's kind.
    pub kind: Kind,
    /// A rollback's reason.
    pub reason: Option<String>,
}

/// Before the tags of a promotion are written: when one of its `moving_tags` is to be written
/// (created or moved), pushes the promotion record (subject: the promoted manifest `root`;
/// previous digest: what the first moving tag holds now; kind and reason: `intent`). Nothing to
/// move, nothing recorded (`None`).
///
/// # Errors
/// The record could not be written: the promotion stops before any tag moves.
pub async fn before_tags(
    client: &RegistryClient,
    plan: &crate::tags::TagPlan,
    root: &crate::media::Manifest,
    moving_tags: &[String],
    intent: &Intent,
    promotion: &crate::report::Promotion,
) -> Result<Option<HistoryFacts>> {
    let moving: Vec<&crate::tags::TagDecision> = plan
        .entries
        .iter()
        .filter(|e| moving_tags.contains(&e.tag))
        .collect();
    if !moving.iter().any(|e| e.writes()) {
        return Ok(None);
    }
    let repository = plan.destination.name();
    let record = Record {
        kind: intent.kind,
        service: repository.rsplit('/').next().unwrap_or_default().to_owned(),
        repository,
        tags: moving.iter().map(|e| e.tag.clone()).collect(),
        digest: plan.target.clone(),
        previous_digest: moving.iter().find_map(|e| e.previous.clone()),
        run_url: promotion.workflow.as_ref().and_then(|w| w.run_url.clone()),
        promotion_id: promotion.id.clone(),
        created_at: crate::report::record::timestamp(std::time::SystemTime::now()),
        reason: intent.reason.clone(),
    };
    let size = root.bytes.len() as u64;
    match write(client, &plan.destination, &record, &root.media_type, size).await {
        Ok(attached) => Ok(Some(HistoryFacts {
            record_digest: attached.digest.to_string(),
            path: attached.path.as_str().to_owned(),
            previous_digest: record.previous_digest.as_ref().map(ToString::to_string),
        })),
        Err(e) => {
            let message = format!(
                "the {} record for {} could not be written, so no tag is moved: {}",
                record.kind.as_str(),
                plan.destination.name(),
                e.message
            );
            let hint = e.hint.clone().unwrap_or_else(|| {
                "no record, no tag move: check push rights and the registry, then re-run".to_owned()
            });
            Err(Error::new(e.reason, message).hint(hint))
        }
    }
}
