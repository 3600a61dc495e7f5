//! The Copy, Verify and Tag stages: a digest-preserving copy of a manifest graph. Input: a
//! resolved [`ImageGraph`] and two [`RegistryClient`]s; output: a [`CopyReport`]. Blobs first (skip
//! what the destination has, mount within a registry, else stream GET→PUT verifying hash and size),
//! in parallel; then child manifests and the top manifest by digest; read back; tags last.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;

use crate::digest::{Digest, Verifier};
use crate::error::{Error, ErrorKind, Result};
use crate::media::{Descriptor, MAX_INDEX_DEPTH, Manifest, ManifestView, is_foreign_layer};
use crate::reference::Reference;
use crate::registry::transport::BodyStream;
use crate::registry::{RegistryClient, UploadStart, retry};

/// A source image resolved down to every manifest and blob it references.
#[derive(Debug, Clone)]
pub struct ImageGraph {
    /// The reference it was resolved from.
    pub reference: Reference,
    /// The top manifest (image or index).
    pub root: Manifest,
    /// Child manifests, deepest first (the order they must be pushed in).
    pub children: Vec<Manifest>,
    /// Every distributable blob (configs and layers), each once.
    pub blobs: Vec<Descriptor>,
    /// Non-distributable (foreign) layers: not copied, reported.
    pub foreign: Vec<Descriptor>,
}

impl ImageGraph {
    /// Total bytes of the distributable blobs.
    #[must_use]
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// Resolves `reference` on `client`: the top manifest, every child (indexes nest up to 8 deep),
/// and the set of blobs. A digest in the reference must match what the registry serves.
///
/// # Errors
/// Registry errors (a missing child manifest names it), VALIDATION errors for bad manifests.
pub async fn resolve_graph(client: &RegistryClient, reference: &Reference) -> Result<ImageGraph> {
    let root = client
        .get_manifest(reference, &reference.manifest_reference())
        .await?;
    let mut graph = ImageGraph {
        reference: reference.clone(),
        root: root.clone(),
        children: Vec::new(),
        blobs: Vec::new(),
        foreign: Vec::new(),
    };
    let mut seen_blobs = BTreeSet::new();
    let mut seen_manifests = BTreeSet::new();
    walk(
        client,
        reference,
        &root,
        0,
        &mut graph,
        &mut seen_blobs,
        &mut seen_manifests,
    )
    .await?;
    Ok(graph)
}

fn walk<'a>(
    client: &'a RegistryClient,
    reference: &'a Reference,
    manifest: &'a Manifest,
    depth: usize,
    graph: &'a mut ImageGraph,
    seen_blobs: &'a mut BTreeSet<Digest>,
    seen_manifests: &'a mut BTreeSet<Digest>,
) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>> {
    Box::pin(async move {
        match &manifest.view {
            ManifestView::Image { config, layers } => {
                for d in std::iter::once(config).chain(layers) {
                    if is_foreign_layer(&d.media_type) {
                        if !graph.foreign.iter().any(|f| f.digest == d.digest) {
                            graph.foreign.push(d.clone());
                        }
                    } else if seen_blobs.insert(d.digest.clone()) {
                        graph.blobs.push(d.clone());
                    }
                }
            }
            ManifestView::Index { manifests } => {
                if depth >= MAX_INDEX_DEPTH {
                    return Err(Error::input(format!(
                        "{reference}: indexes nest deeper than {MAX_INDEX_DEPTH} levels"
                    ))
                    .hint("this is not a valid image; check how it was built"));
                }
                for child in manifests {
                    if !seen_manifests.insert(child.digest.clone()) {
                        continue;
                    }
                    let m = client
                        .get_manifest(reference, &child.digest.to_string())
                        .await
                        .map_err(|e| {
                            e.context(format_args!(
                                "index {} child {}",
                                manifest.digest.short(),
                                child.digest
                            ))
                        })?;
                    if m.bytes.len() as u64 != child.size {
                        return Err(Error::verification(format!(
                            "{reference}: child manifest {} is {} bytes, the index declares {}",
                            child.digest,
                            m.bytes.len(),
                            child.size
                        )));
                    }
                    walk(
                        client,
                        reference,
                        &m,
                        depth + 1,
                        graph,
                        seen_blobs,
                        seen_manifests,
                    )
                    .await?;
                    graph.children.push(m);
                }
            }
        }
        Ok(())
    })
}

/// Options of one copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Extra destination tags (besides the destination reference's own tag).
    pub tags: Vec<String>,
    /// Blobs in flight at once.
    pub concurrency: usize,
    /// Report what would be done; write nothing.
    pub dry_run: bool,
    /// Allow moving version-like tags (`1.2.3`, `v1.2`) that already point at another digest.
    pub allow_tag_move: bool,
    /// Show a progress line on a terminal.
    pub progress: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            tags: Vec::new(),
            concurrency: 8,
            dry_run: false,
            allow_tag_move: false,
            progress: false,
        }
    }
}

/// Whether a tag looks like a release version (`1.2`, `1.2.3`, `v1.2.3`, `1.2.3-rc.1`): such tags
/// are immutable by default, while others (`prod`, `latest`, `stable`) may move.
#[must_use]
pub fn is_version_tag(tag: &str) -> bool {
    let t = tag.strip_prefix('v').unwrap_or(tag);
    let (core, _suffix) = match t.find(['-', '+']) {
        Some(i) if i + 1 < t.len() => (&t[..i], &t[i + 1..]),
        Some(_) => return false,
        None => (t, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_tag_move(
    tagged: &Reference,
    previous: Option<&Digest>,
    digest: &Digest,
    options: &CopyOptions,
) -> Result<()> {
    match previous {
        Some(p) if p != digest && !options.allow_tag_move && tagged.tag().is_some_and(is_version_tag) => Err(Error::refused(format!(
            "{tagged} already points at {p}; version tags are immutable, so it is not moved to {digest}"
        ))
        .hint("promote under a new version tag, or pass --allow-tag-move if moving this tag is intended")),
        _ => Ok(()),
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
    /// Resolving the source graph.
    pub resolve_ms: u64,
    /// Blob transfers.
    pub blobs_ms: u64,
    /// Manifest pushes.
    pub manifests_ms: u64,
    /// Read-back verification.
    pub verify_ms: u64,
    /// Tagging.
    pub tag_ms: u64,
    /// All of it.
    pub total_ms: u64,
}

/// A tag's state before and after.
#[derive(Debug, Clone, Serialize)]
pub struct TagRecord {
    /// The full reference `registry/repo:tag`.
    pub reference: String,
    /// The digest it pointed at before, if any.
    pub previous: Option<Digest>,
    /// Whether this run wrote it.
    pub written: bool,
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

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The destination tags of a copy: the destination's own tag (else the source's), plus extras.
///
/// # Errors
/// Input errors for malformed extra tags.
pub fn destination_tags(
    source: &Reference,
    destination: &Reference,
    extra: &[String],
) -> Result<Vec<String>> {
    let mut tags = Vec::new();
    if let Some(t) = destination.tag().or_else(|| {
        if destination.digest().is_none() {
            source.tag()
        } else {
            None
        }
    }) {
        tags.push(t.to_owned());
    }
    for t in extra {
        Reference::validate_tag(t)?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok(tags)
}

/// Copies `graph` (resolved from the source) to `destination`, verifying as it goes; tags last.
///
/// # Errors
/// Classified errors; no tag is written unless every blob and manifest is in place and verified.
pub async fn copy_graph(
    source: Arc<RegistryClient>,
    destination: Arc<RegistryClient>,
    graph: &ImageGraph,
    dst: &Reference,
    options: &CopyOptions,
    resolve_ms: u64,
) -> Result<CopyReport> {
    let started = Instant::now();
    let tags = destination_tags(&graph.reference, dst, &options.tags)?;
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
    // repository has it (201) or opens its upload (202): one request fewer per blob.
    let root_present = destination
        .head_manifest(dst, &graph.root.digest.to_string())
        .await?;
    let probe_first = options.dry_run || root_present.is_some();

    // Blobs.
    let t = Instant::now();
    let records = copy_blobs(
        &source,
        &destination,
        graph,
        dst,
        options,
        same_registry,
        probe_first,
    )
    .await?;
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

    // Manifests by digest, children first.
    crate::runtime::check_interrupted()?;
    let t = Instant::now();
    for m in graph.children.iter().chain(std::iter::once(&graph.root)) {
        let present = if m.digest == graph.root.digest {
            root_present.clone()
        } else {
            destination
                .head_manifest(dst, &m.digest.to_string())
                .await?
        };
        match present {
            Some(d) if d == m.digest => {}
            Some(d) => {
                return Err(Error::verification(format!(
                    "{dst}: HEAD of manifest {} answered with digest {d}",
                    m.digest
                )));
            }
            None if options.dry_run => report.manifests_pushed += 1,
            None => {
                destination
                    .put_manifest(dst, &m.digest.to_string(), m)
                    .await?;
                report.manifests_pushed += 1;
            }
        }
    }
    let manifests_ms = millis(t);

    // Read back.
    let t = Instant::now();
    if !options.dry_run {
        let back = destination
            .get_manifest(dst, &graph.root.digest.to_string())
            .await?;
        if back.digest != graph.root.digest || back.bytes != graph.root.bytes {
            return Err(Error::verification(format!(
                "{dst}: read back {} instead of {}",
                back.digest, graph.root.digest
            )));
        }
        report.destination_digest = Some(back.digest);
    }
    let verify_ms = millis(t);

    // Tags last.
    let t = Instant::now();
    for tag in &tags {
        let tagged = dst.with_tag(tag);
        crate::runtime::check_interrupted()?;
        let previous = destination.head_manifest(&tagged, tag).await?;
        check_tag_move(&tagged, previous.as_ref(), &graph.root.digest, options)?;
        let needs_write = previous.as_ref() != Some(&graph.root.digest);
        if needs_write && !options.dry_run {
            destination.put_manifest(&tagged, tag, &graph.root).await?;
            let now = destination.head_manifest(&tagged, tag).await?;
            if now.as_ref() != Some(&graph.root.digest) {
                return Err(Error::verification(format!(
                    "{tagged}: after tagging, the tag resolves to {now:?}, not {}",
                    graph.root.digest
                )));
            }
        }
        report.tags.push(TagRecord {
            reference: tagged.to_string(),
            previous,
            written: needs_write && !options.dry_run,
        });
    }
    let tag_ms = millis(t);

    report.no_op = report.blobs.copied == 0
        && report.blobs.mounted == 0
        && report.manifests_pushed == 0
        && report.tags.iter().all(|t| !t.written)
        && !report
            .blob_records
            .iter()
            .any(|b| b.action == BlobAction::WouldTransfer);
    report.timings = Timings {
        resolve_ms,
        blobs_ms,
        manifests_ms,
        verify_ms,
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

async fn copy_blobs(
    source: &Arc<RegistryClient>,
    destination: &Arc<RegistryClient>,
    graph: &ImageGraph,
    dst: &Reference,
    options: &CopyOptions,
    same_registry: bool,
    probe_first: bool,
) -> Result<Vec<BlobRecord>> {
    let semaphore = Arc::new(crate::runtime::Semaphore::new(options.concurrency.max(1)));
    let progress = Arc::new(Progress::default());
    let ticker = options.progress.then(|| {
        let progress = progress.clone();
        let total = graph.blob_bytes();
        let count = graph.blobs.len();
        tokio::spawn(async move {
            loop {
                crate::runtime::sleep(std::time::Duration::from_millis(500)).await;
                progress.print(total, count);
            }
        })
    });
    let mut tasks = Vec::with_capacity(graph.blobs.len());
    // Largest first: the long transfers start early and the small ones fill the gaps.
    let mut blobs = graph.blobs.clone();
    blobs.sort_by_key(|b| std::cmp::Reverse(b.size));
    for blob in blobs {
        let job = BlobJob {
            source: source.clone(),
            destination: destination.clone(),
            src: graph.reference.clone(),
            dst: dst.clone(),
            blob,
            mount: same_registry,
            probe_first,
            dry_run: options.dry_run,
            progress: progress.clone(),
        };
        let semaphore = semaphore.clone();
        tasks.push(crate::runtime::spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .map_err(|_| Error::internal("blob semaphore closed"))?;
            crate::runtime::check_interrupted()?;
            job.run().await
        }));
    }
    let results = futures_util::future::join_all(tasks).await;
    if let Some(t) = ticker {
        t.abort();
        progress.print(graph.blob_bytes(), graph.blobs.len());
        eprintln!();
    }
    let mut records = Vec::with_capacity(results.len());
    let mut first_error: Option<Error> = None;
    for r in results {
        match r {
            Ok(rec) => records.push(rec),
            Err(e) => {
                // Keep the most telling error: a verification failure beats a cancelled sibling.
                let replace = match &first_error {
                    None => true,
                    Some(prev) => {
                        prev.kind != ErrorKind::Verification && e.kind == ErrorKind::Verification
                    }
                };
                if replace {
                    first_error = Some(e);
                }
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(records)
}

/// Bytes and blobs done, for the terminal progress line.
#[derive(Default)]
struct Progress {
    bytes: std::sync::atomic::AtomicU64,
    blobs: std::sync::atomic::AtomicUsize,
}

impl Progress {
    #[allow(clippy::cast_precision_loss, reason = "display only")]
    fn print(&self, total: u64, count: usize) {
        let mib = |b: u64| b as f64 / 1_048_576.0;
        eprint!(
            "\r  {:.1} / {:.1} MiB, {} / {count} blobs",
            mib(self.bytes.load(Ordering::Relaxed)),
            mib(total),
            self.blobs.load(Ordering::Relaxed)
        );
    }
}

struct BlobJob {
    progress: Arc<Progress>,
    source: Arc<RegistryClient>,
    destination: Arc<RegistryClient>,
    src: Reference,
    dst: Reference,
    blob: Descriptor,
    mount: bool,
    probe_first: bool,
    dry_run: bool,
}

impl BlobJob {
    async fn run(self) -> Result<BlobRecord> {
        let started = Instant::now();
        let digest = self.blob.digest.clone();
        let policy = *self.destination.retry_policy();
        let action = retry::run(&policy, &format!("copy blob {digest}"), |attempt| {
            if attempt > 1 {
                self.destination
                    .counters
                    .retries
                    .fetch_add(1, Ordering::Relaxed);
            }
            self.attempt()
        })
        .await
        .map_err(|e| e.context(format_args!("blob {digest} ({} bytes)", self.blob.size)))?;
        self.progress.blobs.fetch_add(1, Ordering::Relaxed);
        if action != BlobAction::Copied {
            self.progress
                .bytes
                .fetch_add(self.blob.size, Ordering::Relaxed);
        }
        tracing::info!(blob = %digest.short(), size = self.blob.size, action = ?action, ms = started.elapsed().as_millis() as u64, "blob");
        Ok(BlobRecord {
            digest,
            size: self.blob.size,
            media_type: self.blob.media_type.clone(),
            action,
            millis: millis(started),
        })
    }

    async fn confirm(&self) -> Result<bool> {
        match self
            .destination
            .head_blob(&self.dst, &self.blob.digest)
            .await?
        {
            None => Ok(false),
            Some(info) if info.size == self.blob.size => Ok(true),
            Some(info) => Err(Error::verification(format!(
                "{}: blob {} is {} bytes at the destination, {} in the manifest",
                self.dst.name(),
                self.blob.digest,
                info.size,
                self.blob.size
            ))),
        }
    }

    async fn attempt(&self) -> Result<BlobAction> {
        if self.probe_first && self.confirm().await? {
            return Ok(BlobAction::Skipped);
        }
        if self.dry_run {
            return Ok(BlobAction::WouldTransfer);
        }
        // Mount from the source repository within a registry; otherwise "mount" from the
        // destination repository itself, which answers 201 when it already has the blob.
        let from = if self.mount {
            self.src.repository()
        } else {
            self.dst.repository()
        };
        let mount = (self.mount || !self.probe_first).then_some((&self.blob.digest, from));
        let session = match self.destination.start_upload(&self.dst, mount).await? {
            UploadStart::Mounted => {
                if self.confirm().await? {
                    return Ok(if self.mount {
                        BlobAction::Mounted
                    } else {
                        BlobAction::Skipped
                    });
                }
                return Err(Error::registry(format!(
                    "{}: blob {} reported mounted but HEAD does not find it",
                    self.dst.name(),
                    self.blob.digest
                ))
                .retryable(true));
            }
            UploadStart::Session(url) => url,
        };
        let body = match self.source.get_blob(&self.src, &self.blob.digest).await {
            Ok(b) => b,
            Err(e) => {
                self.destination.cancel_upload(&self.dst, &session).await;
                return Err(e);
            }
        };
        let slot = Arc::new(Mutex::new(None));
        let mut stream =
            VerifyingStream::new(body, &self.blob.digest, self.blob.size, slot.clone());
        stream.progress = Some(self.progress.clone());
        let result = self
            .destination
            .finish_upload(
                &self.dst,
                &session,
                &self.blob.digest,
                self.blob.size,
                Box::pin(stream),
            )
            .await;
        let stream_error = slot.lock().ok().and_then(|mut s| s.take());
        match (result, stream_error) {
            (_, Some(e)) => {
                self.destination.cancel_upload(&self.dst, &session).await;
                Err(e)
            }
            (Ok(()), None) => Ok(BlobAction::Copied),
            (Err(e), None) => {
                self.destination.cancel_upload(&self.dst, &session).await;
                Err(e)
            }
        }
    }
}

/// Wraps a source body: hashes and counts each chunk, holds the last chunk back until the end, and
/// ends with an error instead of it when the size or digest is wrong, so the destination never
/// receives a complete wrong blob (DESIGN.md, invariant 2).
pub struct VerifyingStream {
    inner: BodyStream,
    verifier: Option<Verifier>,
    held: Option<Bytes>,
    done: bool,
    slot: Arc<Mutex<Option<Error>>>,
    progress: Option<Arc<Progress>>,
}

impl VerifyingStream {
    /// A verifying wrapper; errors are also stored in `slot` for the caller.
    #[must_use]
    pub fn new(
        inner: BodyStream,
        digest: &Digest,
        size: u64,
        slot: Arc<Mutex<Option<Error>>>,
    ) -> Self {
        Self {
            inner,
            verifier: Some(Verifier::new(digest, Some(size))),
            held: None,
            done: false,
            slot,
            progress: None,
        }
    }

    fn fail(&mut self, e: Error) -> Poll<Option<Result<Bytes>>> {
        self.done = true;
        if let Ok(mut s) = self.slot.lock() {
            *s = Some(e.clone());
        }
        Poll::Ready(Some(Err(e)))
    }
}

impl Stream for VerifyingStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match self.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return self.fail(e),
                Poll::Ready(Some(Ok(chunk))) => {
                    if chunk.is_empty() {
                        continue;
                    }
                    let update = match self.verifier.as_mut() {
                        Some(v) => v.update(&chunk),
                        None => Ok(()),
                    };
                    if let Err(e) = update {
                        return self.fail(e);
                    }
                    if let Some(p) = &self.progress {
                        p.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    }
                    if let Some(previous) = self.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(previous)));
                    }
                }
                Poll::Ready(None) => {
                    let finished = match self.verifier.take() {
                        Some(v) => v.finish().map(|_| ()),
                        None => Ok(()),
                    };
                    if let Err(e) = finished {
                        return self.fail(e);
                    }
                    self.done = true;
                    return Poll::Ready(self.held.take().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt as _;

    fn chunks(parts: &[&'static [u8]]) -> BodyStream {
        let v: Vec<Result<Bytes>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures_util::stream::iter(v))
    }

    async fn drain(s: VerifyingStream) -> (Vec<u8>, Option<Error>) {
        let mut out = Vec::new();
        let mut s = Box::pin(s);
        while let Some(c) = s.next().await {
            match c {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn passes_good_bytes_through() {
        let d = Digest::sha256_of(b"abcdef");
        let slot = Arc::new(Mutex::new(None));
        let (out, err) = drain(VerifyingStream::new(
            chunks(&[b"ab", b"cd", b"ef"]),
            &d,
            6,
            slot.clone(),
        ))
        .await;
        assert_eq!(out, b"abcdef");
        assert!(err.is_none());
        assert!(slot.lock().unwrap().is_none());
    }

    #[tokio::test]
    async fn withholds_last_chunk_of_wrong_bytes() {
        let d = Digest::sha256_of(b"abcdef");
        let slot = Arc::new(Mutex::new(None));
        let (out, err) = drain(VerifyingStream::new(
            chunks(&[b"ab", b"cd", b"eX"]),
            &d,
            6,
            slot.clone(),
        ))
        .await;
        assert_eq!(out, b"abcd", "the last chunk must never be sent");
        assert_eq!(err.unwrap().kind, ErrorKind::Verification);
        assert!(slot.lock().unwrap().is_some());
    }

    #[tokio::test]
    async fn long_body_fails_early() {
        let d = Digest::sha256_of(b"abcdef");
        let slot = Arc::new(Mutex::new(None));
        let (out, err) = drain(VerifyingStream::new(
            chunks(&[b"abcd", b"efgh", b"ij"]),
            &d,
            6,
            slot,
        ))
        .await;
        assert!(out.len() < 6);
        assert_eq!(err.unwrap().kind, ErrorKind::Verification);
    }

    #[test]
    fn version_tags() {
        for t in ["1.2.3", "v1.2.3", "1.2", "v10.0.1-rc.1", "1.2.3+build.5"] {
            assert!(is_version_tag(t), "{t}");
        }
        for t in [
            "latest", "prod", "1", "v1", "1.2.3.4", "1.x", "1.2-", "sha-abc", "",
        ] {
            assert!(!is_version_tag(t), "{t}");
        }
    }

    #[test]
    fn tags_default_to_source_tag() {
        let s = Reference::parse("a.io/x:1.0").unwrap();
        let d = Reference::parse("b.io/y").unwrap();
        assert_eq!(
            destination_tags(&s, &d, &["prod".into()]).unwrap(),
            vec!["1.0", "prod"]
        );
        let d = Reference::parse("b.io/y:2").unwrap();
        assert_eq!(destination_tags(&s, &d, &[]).unwrap(), vec!["2"]);
        assert!(destination_tags(&s, &d, &["bad tag".into()]).is_err());
    }
}
