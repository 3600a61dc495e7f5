//! The Copy, Verify and Tag stages: a digest-preserving copy of a manifest graph. Input: a
//! resolved [`ImageGraph`] (the Resolve stage, `resolve/`) and two [`RegistryClient`]s; output: a [`CopyReport`]. Blobs first (see
//! `blobs.rs`: skip what the destination has, mount within a registry, else stream GET→PUT
//! verifying hash and size, in parallel); then child manifests and the top manifest by digest;
//! read back; then the image's signatures, attestations, SBOMs and referrers (`carry/`, unless
//! `referrers` is off); tags last, from the tag plan decided before the copy (`tags.rs`).

mod blobs;
mod carry;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;

pub use blobs::VerifyingStream;
use blobs::copy_blobs;
pub use carry::{
    CarryCounts, CarryStatus, MAX_DEPTH, ReferrerKind, ReferrerPath, ReferrerRecord, summary_line,
};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::resolve::ImageGraph;
use crate::tags::{TagPlan, TagRecord};

/// Options of one copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Blobs in flight at once.
    pub concurrency: usize,
    /// Report what would be done; write nothing.
    pub dry_run: bool,
    /// Show a progress line on a terminal.
    pub progress: bool,
    /// Carry the image's cosign tags and referrers along (`--referrers`, on by default).
    pub referrers: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            concurrency: 8,
            dry_run: false,
            progress: false,
            referrers: true,
        }
    }
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlobAction {
    /// Streamed from source to destination, verified in the stream.
    Copied,
    /// Mounted from the source repository (same registry), confirmed by HEAD.
    Mounted,
    /// Already at the destination, confirmed by HEAD.
    Skipped,
    /// Dry run: would be copied or mounted.
    WouldTransfer,
}

/// One blob's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct BlobRecord {
    /// Digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// What was done.
    pub action: BlobAction,
    /// Milliseconds taken.
    pub millis: u64,
}

/// Counts per blob action.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BlobCounts {
    /// Blobs streamed.
    pub copied: usize,
    /// Blobs mounted.
    pub mounted: usize,
    /// Blobs already present.
    pub skipped: usize,
    /// Foreign layers not copied.
    pub foreign: usize,
    /// Bytes streamed.
    pub bytes_copied: u64,
    /// Bytes mounted or already present.
    pub bytes_not_transferred: u64,
}

/// Milliseconds per stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Resolving the source graph (the destination tags' HEADs are sent meanwhile).
    pub resolve_ms: u64,
    /// Blob transfers.
    pub blobs_ms: u64,
    /// Manifest pushes.
    pub manifests_ms: u64,
    /// Read-back verification.
    pub verify_ms: u64,
    /// Carrying the signatures, attestations, SBOMs and referrers.
    pub referrers_ms: u64,
    /// Tagging.
    pub tag_ms: u64,
    /// All of it.
    pub total_ms: u64,
}

/// The machine-readable result of a copy (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// Source reference.
    pub source: String,
    /// Destination reference.
    pub destination: String,
    /// Source manifest digest.
    pub source_digest: Digest,
    /// Destination manifest digest, read back (absent on dry runs).
    pub destination_digest: Option<Digest>,
    /// Top manifest media type.
    pub media_type: String,
    /// Manifests in the graph (top included).
    pub manifests: usize,
    /// Manifests pushed by this run.
    pub manifests_pushed: usize,
    /// Counts.
    pub blobs: BlobCounts,
    /// Per-blob detail.
    pub blob_records: Vec<BlobRecord>,
    /// Foreign layers not copied.
    pub foreign_layers: Vec<Digest>,
    /// Tags.
    pub tags: Vec<TagRecord>,
    /// The signatures, attestations, SBOMs and referrers carried along (empty with
    /// `--referrers=false`).
    pub referrers: Vec<ReferrerRecord>,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Whether the destination already held everything (a no-op).
    pub no_op: bool,
    /// Timings.
    pub timings: Timings,
    /// Requests sent to the source / destination registries.
    pub requests: (u64, u64),
    /// Attempts that were retries.
    pub retries: u64,
}

pub(crate) fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// HEADs every child manifest of `graph` at the destination, all at once: the digest each answers.
async fn head_children(
    destination: &RegistryClient,
    graph: &ImageGraph,
    dst: &Reference,
) -> Result<Vec<Option<Digest>>> {
    futures_util::future::try_join_all(
        graph
            .children
            .iter()
            .map(|m| async move { destination.head_manifest(dst, &m.digest.to_string()).await }),
    )
    .await
}

/// Pushes manifest `m` by digest unless `present` (its HEAD) says the destination has it;
/// whether it was (or, on a dry run, would be) pushed.
async fn push_manifest(
    destination: &RegistryClient,
    dst: &Reference,
    m: &crate::media::Manifest,
    present: Option<Digest>,
    dry_run: bool,
) -> Result<bool> {
    match present {
        Some(d) if d == m.digest => Ok(false),
        Some(d) => Err(Error::verification(format!(
            "{dst}: HEAD of manifest {} answered with digest {d}",
            m.digest
        ))),
        None if dry_run => Ok(true),
        None => {
            destination
                .put_manifest(dst, &m.digest.to_string(), m)
                .await?;
            Ok(true)
        }
    }
}

/// Work that runs once the image and what the carry brought are verified at the destination,
/// just before the first tag is written (`promote` signs the promotion there). Not run by a dry
/// run; its failure fails the copy, and no tag is written. `()` does nothing.
pub trait BeforeTags {
    /// Runs it.
    fn before_tags(&self) -> impl std::future::Future<Output = Result<()>>;
}

impl BeforeTags for () {
    async fn before_tags(&self) -> Result<()> {
        Ok(())
    }
}

/// Copies `graph` (resolved from the source) to `destination`, verifying as it goes; then what
/// the carry brings, then `hook`, and the tags of `tags` (planned before, see
/// [`crate::tags::plan`]) last.
///
/// # Errors
/// The tag plan's refusal before any request; classified errors; no tag is written unless every
/// blob and manifest is in place and verified, and `hook` succeeded.
#[allow(
    clippy::too_many_arguments,
    reason = "the copy's inputs; each caller names every one"
)]
pub async fn copy_graph(
    source: Arc<RegistryClient>,
    destination: Arc<RegistryClient>,
    graph: &ImageGraph,
    dst: &Reference,
    tags: &TagPlan,
    options: &CopyOptions,
    resolve_ms: u64,
    hook: &impl BeforeTags,
) -> Result<CopyReport> {
    let started = Instant::now();
    // A refused tag refuses the whole copy before a byte moves.
    tags.ensure_allowed()?;
    if tags.target != graph.root.digest || tags.destination.name() != dst.name() {
        return Err(Error::internal(format!(
            "the tag plan is for {}@{}, the copy for {dst}@{}",
            tags.destination.name(),
            tags.target,
            graph.root.digest
        )));
    }
    if let Some(d) = dst.digest()
        && *d != graph.root.digest
    {
        return Err(Error::input(format!(
            "destination {dst} names digest {d}, but the source is {}",
            graph.root.digest
        )));
    }
    let same_registry = graph.reference.api_host() == dst.api_host()
        && graph.reference.repository() != dst.repository();

    // Does the destination already hold this image? Then blobs are probed with HEAD first (a
    // re-run is all skips). Otherwise each blob starts with one POST that mounts it if the
    // repository has it (201) or opens its upload (202): one request fewer per blob. The tag
    // plan's HEADs answer first: a tag at the root digest means present; every tag absent means
    // a fresh destination, and the root's HEAD (needed before its PUT) goes out with the blobs.
    let root = graph.root.digest.to_string();
    let fresh = !options.dry_run
        && !tags.entries.is_empty()
        && tags.entries.iter().all(|e| e.previous.is_none());
    let known_root: Option<Option<Digest>> = if tags
        .entries
        .iter()
        .any(|e| e.previous.as_ref() == Some(&graph.root.digest))
    {
        Some(Some(graph.root.digest.clone()))
    } else if fresh {
        None
    } else {
        Some(destination.head_manifest(dst, &root).await?)
    };
    let probe_first = options.dry_run || matches!(known_root, Some(Some(_)));

    // Blobs; meanwhile the root's HEAD (fresh destination), or, when the destination has the top
    // manifest already, its read-back and the tags' re-check HEADs (independent reads; every
    // write still comes after the blobs).
    let t = Instant::now();
    let read_early =
        known_root.as_ref() == Some(&Some(graph.root.digest.clone())) && !options.dry_run;
    // The carry's reads at the source go out now too (it writes only after the image is verified).
    let discovery = async {
        if options.referrers {
            carry::discover(&source, graph).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (records, (early_back, late_root), discovered) = futures_util::future::try_join3(
        copy_blobs(
            &source,
            &destination,
            graph,
            dst,
            options,
            same_registry,
            probe_first,
        ),
        async {
            if read_early {
                let read = futures_util::future::try_join(
                    destination.get_manifest(dst, &root),
                    crate::tags::recheck(&destination, tags),
                )
                .await?;
                Ok((Some(read), None))
            } else if known_root.is_none() {
                let (root, children) = futures_util::future::try_join(
                    destination.head_manifest(dst, &root),
                    head_children(&destination, graph, dst),
                )
                .await?;
                Ok((None, Some((root, children))))
            } else {
                Ok((None, None))
            }
        },
        discovery,
    )
    .await?;
    let (root_present, children_present) = match (known_root, late_root) {
        (Some(root), _) => (root, head_children(&destination, graph, dst).await?),
        (None, Some((root, children))) => (root, children),
        (None, None) => return Err(Error::internal("the top manifest's HEAD was not sent")),
    };
    let blobs_ms = millis(t);

    let mut report = CopyReport {
        source: graph.reference.to_string(),
        destination: dst.to_string(),
        source_digest: graph.root.digest.clone(),
        destination_digest: None,
        media_type: graph.root.media_type.clone(),
        manifests: graph.children.len() + 1,
        manifests_pushed: 0,
        blobs: BlobCounts::default(),
        blob_records: Vec::new(),
        foreign_layers: graph.foreign.iter().map(|d| d.digest.clone()).collect(),
        tags: Vec::new(),
        referrers: Vec::new(),
        dry_run: options.dry_run,
        no_op: false,
        timings: Timings::default(),
        requests: (0, 0),
        retries: 0,
    };
    for r in &records {
        match r.action {
            BlobAction::Copied => {
                report.blobs.copied += 1;
                report.blobs.bytes_copied += r.size;
            }
            BlobAction::Mounted => {
                report.blobs.mounted += 1;
                report.blobs.bytes_not_transferred += r.size;
            }
            BlobAction::Skipped => {
                report.blobs.skipped += 1;
                report.blobs.bytes_not_transferred += r.size;
            }
            BlobAction::WouldTransfer => {}
        }
    }
    report.blobs.foreign = graph.foreign.len();
    report.blob_records = records;

    // Manifests by digest, children first: image manifests (whose blobs are all in place) at
    // once, then the child indexes in order (each after its own children), the top one last.
    crate::runtime::check_interrupted()?;
    let t = Instant::now();
    let mut images = Vec::new();
    let mut later = Vec::new();
    for (m, present) in graph.children.iter().zip(children_present) {
        if matches!(m.view, crate::media::ManifestView::Image { .. }) {
            images.push((m, present));
        } else {
            later.push((m, present));
        }
    }
    later.push((&graph.root, root_present.clone()));
    let pushed = futures_util::future::try_join_all(
        images
            .into_iter()
            .map(|(m, present)| push_manifest(&destination, dst, m, present, options.dry_run)),
    )
    .await?;
    report.manifests_pushed += pushed.into_iter().filter(|p| *p).count();
    for (m, present) in later {
        if push_manifest(&destination, dst, m, present, options.dry_run).await? {
            report.manifests_pushed += 1;
        }
    }
    let manifests_ms = millis(t);

    // Read back; the tags' re-check HEADs go out with it (reads, after the manifests are in place).
    let t = Instant::now();
    let mut tag_states = Vec::new();
    if !options.dry_run {
        let back = match early_back {
            Some((back, states)) => {
                tag_states = states;
                back
            }
            None => {
                let (back, states) = futures_util::future::try_join(
                    destination.get_manifest(dst, &graph.root.digest.to_string()),
                    crate::tags::recheck(&destination, tags),
                )
                .await?;
                tag_states = states;
                back
            }
        };
        if back.digest != graph.root.digest || back.bytes != graph.root.bytes {
            return Err(Error::verification(format!(
                "{dst}: read back {} instead of {}",
                back.digest, graph.root.digest
            )));
        }
        report.destination_digest = Some(back.digest);
    }
    let verify_ms = millis(t);

    // The image's signatures, attestations, SBOMs and referrers: after its manifests are verified,
    // before its tags; a failure to carry fails the copy (no tag is written).
    let t = Instant::now();
    if let Some(found) = discovered {
        crate::runtime::check_interrupted()?;
        report.referrers = carry::carry(
            (&source, &destination),
            graph,
            dst,
            options,
            same_registry,
            found,
        )
        .await?;
    }
    let referrers_ms = millis(t);
    if !options.dry_run {
        crate::runtime::check_interrupted()?;
        hook.before_tags().await?;
    }

    // Tags last, from the plan.
    let t = Instant::now();
    report.tags = if options.dry_run || tag_states.len() == tags.entries.len() {
        crate::tags::apply_checked(&destination, tags, &graph.root, options.dry_run, tag_states)
            .await?
    } else {
        crate::tags::apply(&destination, tags, &graph.root, options.dry_run).await?
    };
    let tag_ms = millis(t);

    report.no_op = report.blobs.copied == 0
        && report.blobs.mounted == 0
        && report.manifests_pushed == 0
        && report.tags.iter().all(|t| !t.written)
        && report
            .referrers
            .iter()
            .all(|r| !matches!(r.status, CarryStatus::Carried | CarryStatus::WouldCarry))
        && !report
            .blob_records
            .iter()
            .any(|b| b.action == BlobAction::WouldTransfer);
    report.timings = Timings {
        resolve_ms,
        blobs_ms,
        manifests_ms,
        verify_ms,
        referrers_ms,
        tag_ms,
        total_ms: resolve_ms + millis(started),
    };
    report.requests = (
        source.counters.requests.load(Ordering::Relaxed),
        destination.counters.requests.load(Ordering::Relaxed),
    );
    report.retries = source.counters.retries.load(Ordering::Relaxed)
        + destination.counters.retries.load(Ordering::Relaxed);
    Ok(report)
}
