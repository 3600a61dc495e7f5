//! The carry (`--referrers`, on by default): the signatures, attestations, SBOMs and OCI 1.1
//! referrers of the promoted image go with it, byte for byte, after its manifests are verified at
//! the destination and before its tags are written (`docs/architecture.md`, the carry).
//!
//! For the promoted digest and each child manifest of an index (the *subjects*):
//! - cosign's tags `sha256-<hex>.sig|.att|.sbom` that exist at the source: written at the same
//!   tag unless the destination has it already (same digest: present) or holds another manifest
//!   there (kept, reported as skipped: a cosign tag is a merge target, never overwritten);
//! - the referrers the source lists (its referrers API, else its fallback index `sha256-<hex>`,
//!   whose entries are the referrers: the index itself is never carried nor taken for the
//!   subject), and the referrers of those referrers down to [`MAX_DEPTH`], each digest once.
//!
//! Each item's manifest and blobs are copied by digest (blobs HEADed, mounted or streamed and
//! verified like the image's), then written through [`referrers::attach`]: PUT by digest, and
//! where the destination has no referrers API, merged into its fallback index. A re-run that finds
//! everything in place costs one referrers listing per subject at the source (and one at the
//! destination when the source lists any), one HEAD per cosign tag at the source and one per
//! existing cosign tag at the destination.

mod record;

use std::collections::BTreeSet;
use std::sync::Arc;

use futures_util::{StreamExt as _, TryStreamExt as _};

pub use record::{
    CarryCounts, CarryStatus, ReferrerKind, ReferrerPath, ReferrerRecord, summary_line,
};

use super::CopyOptions;
use super::blobs::copy_blobs;
use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::media::{Descriptor, Manifest, ManifestView, OCI_CONFIG, is_foreign_layer};
use crate::reference::Reference;
use crate::referrers::{self, COSIGN_SUFFIXES, Referrers, cosign_tag};
use crate::registry::RegistryClient;
use crate::resolve::{ImageGraph, resolve_graph};

/// How deep referrers of referrers are followed (1: the image's own referrers).
pub const MAX_DEPTH: u32 = 3;

/// Requests of one kind sent at once by the discovery.
const IN_FLIGHT: usize = 8;

/// The two registries and what the carry needs of the copy.
struct Carry<'a> {
    source: &'a Arc<RegistryClient>,
    destination: &'a Arc<RegistryClient>,
    src: &'a Reference,
    dst: &'a Reference,
    options: &'a CopyOptions,
    same_registry: bool,
}

/// What the carry reads at the source before anything is written, so that it can go out while
/// the image's blobs move ([`discover`]): the image's own manifests (the subjects), the cosign
/// tags each has, and the referrers the source lists for each.
pub(super) struct Discovery {
    subjects: Vec<Digest>,
    cosign: Vec<(Digest, &'static str, Digest)>,
    first_level: Vec<Referrers>,
}

/// The carry's reads at the source for `graph`: one HEAD per cosign tag of each manifest and one
/// referrers listing per manifest, all at once (reads only; the carry itself writes after the
/// image is verified).
///
/// # Errors
/// Registry errors of those reads.
pub(super) async fn discover(source: &RegistryClient, graph: &ImageGraph) -> Result<Discovery> {
    let src = &graph.reference;
    let mut subjects = vec![graph.root.digest.clone()];
    for m in &graph.children {
        if !subjects.contains(&m.digest) {
            subjects.push(m.digest.clone());
        }
    }
    let tags: Vec<(Digest, &'static str)> = subjects
        .iter()
        .flat_map(|s| {
            COSIGN_SUFFIXES
                .iter()
                .map(move |suffix| (s.clone(), *suffix))
        })
        .collect();
    let heads = futures_util::stream::iter(&tags)
        .map(|(s, suffix)| async move { source.head_manifest(src, &cosign_tag(s, suffix)).await })
        .buffered(IN_FLIGHT)
        .try_collect::<Vec<Option<Digest>>>();
    let (found, first_level) =
        futures_util::future::try_join(heads, list_all(source, src, subjects.iter())).await?;
    let cosign = tags
        .into_iter()
        .zip(found)
        .filter_map(|((subject, suffix), digest)| Some((subject, suffix, digest?)))
        .collect();
    Ok(Discovery {
        subjects,
        cosign,
        first_level,
    })
}

/// Carries the cosign tags and referrers of `graph` (the root and every child manifest) from its
/// source repository to `dst`, from what [`discover`] found; on a dry run lists what would be
/// carried and writes nothing.
///
/// # Errors
/// Registry errors of the listings and writes (among them a fallback tag that holds something
/// other than an index), with the item they concern; nothing is dropped silently.
pub(super) async fn carry(
    (source, destination): (&Arc<RegistryClient>, &Arc<RegistryClient>),
    graph: &ImageGraph,
    dst: &Reference,
    options: &CopyOptions,
    same_registry: bool,
    found: Discovery,
) -> Result<Vec<ReferrerRecord>> {
    let c = Carry {
        source,
        destination,
        src: &graph.reference,
        dst,
        options,
        same_registry,
    };
    let Discovery {
        subjects,
        cosign,
        first_level,
    } = found;
    let mut records = Vec::new();

    // cosign's tags of the image's own manifests (HEADed at the source by `discover`).
    for (subject, suffix, digest) in cosign {
        records.push(c.cosign(&subject, suffix, digest).await?);
    }

    // Referrers, level by level; `seen` guards against loops and a digest listed twice.
    let mut seen: BTreeSet<Digest> = subjects.iter().cloned().collect();
    let mut level = subjects;
    let mut depth = 1;
    let mut listed = Some(first_level);
    while !level.is_empty() && depth <= MAX_DEPTH {
        let listings = c.list_level(&level, listed.take()).await?;
        let mut next = Vec::new();
        for (subject, (at_source, at_destination)) in level.iter().zip(listings) {
            let Some(at_destination) = at_destination else {
                continue;
            };
            let present: BTreeSet<&Digest> = at_destination
                .descriptors
                .iter()
                .map(|d| &d.digest)
                .collect();
            for d in &at_source.descriptors {
                if !seen.insert(d.digest.clone()) {
                    continue;
                }
                let record = c
                    .referrer(
                        subject,
                        d,
                        depth,
                        &at_source,
                        &at_destination,
                        present.contains(&d.digest),
                    )
                    .await
                    .map_err(|e| {
                        e.context(format_args!("carrying referrer {} of {subject}", d.digest))
                    })?;
                if record.status != CarryStatus::Skipped {
                    next.push(d.digest.clone());
                }
                records.push(record);
            }
        }
        level = next;
        depth += 1;
    }
    Ok(records)
}

/// The artifact type of a referrer as its listing shows it: its own, else its config's media type.
fn artifact_type(m: &Manifest) -> Option<String> {
    m.artifact_type
        .clone()
        .filter(|a| !a.is_empty())
        .or_else(|| match &m.view {
            ManifestView::Image { config, .. } => Some(config.media_type.clone()),
            ManifestView::Index { .. } => None,
        })
}

/// The artifact type of a cosign tag's manifest: its own, else (cosign writes a plain image
/// config) its first layer's media type (`…simplesigning…`, `…dsse.envelope…`, `text/spdx+json`).
fn cosign_artifact_type(m: &Manifest) -> Option<String> {
    match &m.view {
        ManifestView::Image { config, layers }
            if m.artifact_type.as_deref().is_none_or(str::is_empty)
                && config.media_type == OCI_CONFIG =>
        {
            layers.first().map(|l| l.media_type.clone())
        }
        _ => artifact_type(m),
    }
}

impl Carry<'_> {
    /// The referrers of each subject of one level at the source (`listed`: read already) and,
    /// for each subject the source lists any for, at the destination.
    async fn list_level(
        &self,
        level: &[Digest],
        listed: Option<Vec<Referrers>>,
    ) -> Result<Vec<(Referrers, Option<Referrers>)>> {
        let at_source = match listed {
            Some(listed) => listed,
            None => list_all(self.source, self.src, level.iter()).await?,
        };
        let wanted = level
            .iter()
            .zip(&at_source)
            .filter(|(_, r)| !r.descriptors.is_empty())
            .map(|(s, _)| s);
        let mut at_destination = list_all(self.destination, self.dst, wanted)
            .await?
            .into_iter();
        Ok(at_source
            .into_iter()
            .map(|r| {
                let theirs = if r.descriptors.is_empty() {
                    None
                } else {
                    at_destination.next()
                };
                (r, theirs)
            })
            .collect())
    }

    /// One referrer `d` of `subject`, listed at the source (`at_source`) and, if `present`,
    /// already at the destination.
    async fn referrer(
        &self,
        subject: &Digest,
        d: &Descriptor,
        depth: u32,
        at_source: &Referrers,
        at_destination: &Referrers,
        present: bool,
    ) -> Result<ReferrerRecord> {
        let mut record = ReferrerRecord {
            kind: ReferrerKind::Referrer,
            artifact_type: d.artifact_type.clone(),
            digest: d.digest.to_string(),
            subject: subject.to_string(),
            depth,
            source_path: at_source.path.into(),
            path: at_destination.path.into(),
            status: CarryStatus::Present,
            reason: None,
        };
        if present {
            return Ok(record);
        }
        let m = match self
            .source
            .get_manifest(self.src, &d.digest.to_string())
            .await
        {
            Ok(m) => m,
            Err(e) if e.reason == Reason::ManifestUnknown => {
                return Ok(skipped(
                    record,
                    "listed among the source's referrers, but its manifest is not in the source repository",
                ));
            }
            Err(e) => return Err(e),
        };
        record.artifact_type = artifact_type(&m);
        match &m.subject {
            Some(s) if s.digest == *subject => {}
            Some(s) => {
                let reason = format!(
                    "its subject is {}, not {subject}: the source's listing is wrong",
                    s.digest
                );
                return Ok(skipped(record, &reason));
            }
            None => return Ok(skipped(record, "its manifest has no subject")),
        }
        if self.options.dry_run {
            record.status = CarryStatus::WouldCarry;
            return Ok(record);
        }
        self.content(&m).await?;
        let attached = referrers::attach(
            self.destination,
            self.dst,
            m.bytes.clone(),
            &m.media_type,
            subject,
        )
        .await?;
        record.path = attached.path.into();
        record.status = if attached.already_listed {
            CarryStatus::Present
        } else {
            CarryStatus::Carried
        };
        Ok(record)
    }

    /// cosign's tag `sha256-<hex>.<suffix>` of `subject`, at `digest` in the source.
    async fn cosign(
        &self,
        subject: &Digest,
        suffix: &str,
        digest: Digest,
    ) -> Result<ReferrerRecord> {
        let tag = cosign_tag(subject, suffix);
        let mut record = ReferrerRecord {
            kind: ReferrerKind::of_suffix(suffix).unwrap_or(ReferrerKind::Referrer),
            artifact_type: None,
            digest: digest.to_string(),
            subject: subject.to_string(),
            depth: 1,
            source_path: ReferrerPath::Tag,
            path: ReferrerPath::Tag,
            status: CarryStatus::Present,
            reason: None,
        };
        let context = |e: Error| e.context(format_args!("carrying {}:{tag}", self.src.name()));
        match self
            .destination
            .head_manifest(self.dst, &tag)
            .await
            .map_err(context)?
        {
            Some(d) if d == digest => return Ok(record),
            Some(d) => {
                let reason = format!(
                    "the destination's {tag} is {d}, not the source's: the destination's is kept (a cosign tag is never overwritten)"
                );
                return Ok(skipped(record, &reason));
            }
            None => {}
        }
        let m = self
            .source
            .get_manifest(self.src, &digest.to_string())
            .await
            .map_err(context)?;
        record.artifact_type = cosign_artifact_type(&m);
        if self.options.dry_run {
            record.status = CarryStatus::WouldCarry;
            return Ok(record);
        }
        self.content(&m).await.map_err(context)?;
        self.destination
            .put_manifest(self.dst, &tag, &m)
            .await
            .map_err(context)?;
        let back = self
            .destination
            .head_manifest(self.dst, &tag)
            .await
            .map_err(context)?;
        if back.as_ref() != Some(&digest) {
            return Err(Error::registry(format!(
                "{}:{tag} reads back as {}, not the {digest} just written",
                self.dst.name(),
                back.map_or_else(|| "missing".to_owned(), |d| d.to_string())
            )));
        }
        record.status = CarryStatus::Carried;
        Ok(record)
    }

    /// Copies what `m` references (its blobs; an index's child manifests and theirs) to the
    /// destination, like the image's own: HEAD, mount or stream verifying.
    async fn content(&self, m: &Manifest) -> Result<()> {
        let at = self.src.with_digest(&m.digest);
        let graph = match &m.view {
            ManifestView::Image { config, layers } => {
                let mut seen = BTreeSet::new();
                let (mut blobs, mut foreign) = (Vec::new(), Vec::new());
                for d in std::iter::once(config).chain(layers) {
                    if is_foreign_layer(&d.media_type) {
                        foreign.push(d.clone());
                    } else if seen.insert(d.digest.clone()) {
                        blobs.push(d.clone());
                    }
                }
                ImageGraph {
                    reference: at,
                    root: m.clone(),
                    children: Vec::new(),
                    blobs,
                    foreign,
                }
            }
            ManifestView::Index { .. } => resolve_graph(self.source, &at).await?,
        };
        let options = CopyOptions {
            concurrency: self.options.concurrency,
            dry_run: false,
            progress: false,
            referrers: false,
        };
        copy_blobs(
            self.source,
            self.destination,
            &graph,
            self.dst,
            &options,
            self.same_registry,
            true,
        )
        .await?;
        for child in &graph.children {
            self.destination
                .put_manifest(self.dst, &child.digest.to_string(), child)
                .await?;
        }
        Ok(())
    }
}

/// The referrers of each of `subjects` in `repo`, in order: the first listing alone (it learns
/// whether the repository has the referrers API, once), then the others at once.
async fn list_all<'a>(
    client: &RegistryClient,
    repo: &Reference,
    subjects: impl Iterator<Item = &'a Digest>,
) -> Result<Vec<Referrers>> {
    let subjects: Vec<&Digest> = subjects.collect();
    let Some((first, rest)) = subjects.split_first() else {
        return Ok(Vec::new());
    };
    let mut out = vec![referrers::list(client, repo, first).await?];
    let rest: Vec<Referrers> = futures_util::stream::iter(rest)
        .map(|s| referrers::list(client, repo, s))
        .buffered(IN_FLIGHT)
        .try_collect()
        .await?;
    out.extend(rest);
    Ok(out)
}

fn skipped(mut record: ReferrerRecord, reason: &str) -> ReferrerRecord {
    record.status = CarryStatus::Skipped;
    record.reason = Some(reason.to_owned());
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn manifest(json: &serde_json::Value) -> Manifest {
        Manifest::parse("t", Bytes::from(serde_json::to_vec(json).unwrap()), None).unwrap()
    }

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn artifact_types_as_listings_and_cosign_tags_show_them() {
        // cosign's legacy `.sig`: a plain image config, the payload's type on the layer.
        let sig = manifest(
            &serde_json::json!({"schemaVersion": 2, "mediaType": crate::media::OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": d('1'), "size": 2},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": d('2'), "size": 3}]}),
        );
        assert_eq!(
            cosign_artifact_type(&sig).as_deref(),
            Some("application/vnd.dev.cosign.simplesigning.v1+json")
        );
        assert_eq!(artifact_type(&sig).as_deref(), Some(OCI_CONFIG));
        // A bundle: its own artifactType wins everywhere.
        let bundle = manifest(
            &serde_json::json!({"schemaVersion": 2, "mediaType": crate::media::OCI_MANIFEST,
            "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": d('1'), "size": 2},
            "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "digest": d('2'), "size": 3}],
            "subject": {"mediaType": crate::media::OCI_MANIFEST, "digest": d('4'), "size": 1}}),
        );
        for f in [artifact_type, cosign_artifact_type] {
            assert_eq!(
                f(&bundle).as_deref(),
                Some("application/vnd.dev.sigstore.bundle.v0.3+json")
            );
        }
        // An index without one has none.
        let index = manifest(
            &serde_json::json!({"schemaVersion": 2, "mediaType": crate::media::OCI_INDEX, "manifests": []}),
        );
        assert_eq!(artifact_type(&index), None);
    }
}
