//! Blob transfers of the Copy stage: each blob is skipped (HEAD), mounted, or streamed GET→PUT
//! through a [`VerifyingStream`] that hashes and counts it, in parallel under a semaphore. Where
//! the destination is probed first (a re-run, a dry run) every blob is HEADed up front,
//! [`LOOKUP_CONCURRENCY`] at once, and only the missing ones become transfers. The
//! transfer of a blob owns its attempt budget: each attempt (HEAD, POST, GET→PUT) sends every
//! request once, and a failed attempt restarts the whole transfer, so no request of it is sent
//! more than `--retry-attempts` times. Input: the graph's blobs; output: one [`BlobRecord`] per
//! blob.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};

use super::{BlobAction, BlobRecord, CopyOptions, millis};
use crate::digest::{Digest, Verifier};
use crate::error::{Error, ErrorKind, Reason, Result};
use crate::media::Descriptor;
use crate::reference::Reference;
use crate::registry::retry::Budget;
use crate::registry::transport::BodyStream;
use crate::registry::{LOOKUP_CONCURRENCY, RegistryClient, UploadStart};
use crate::resolve::ImageGraph;

pub(super) async fn copy_blobs(
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
        crate::runtime::spawn_background(async move {
            loop {
                crate::runtime::sleep(std::time::Duration::from_millis(500)).await;
                progress.print(total, count);
            }
        })
    });
    // Largest first: the long transfers start early and the small ones fill the gaps.
    let mut blobs = graph.blobs.clone();
    blobs.sort_by_key(|b| std::cmp::Reverse(b.size));
    // Probed up front, the blobs the destination has are done; the jobs transfer the others
    // (and no longer HEAD first: their upload's mount-from-itself still finds a blob that
    // arrived meanwhile).
    let mut done: Vec<Option<BlobRecord>> = if probe_first {
        probe_all(destination, dst, &blobs, &progress).await?
    } else {
        vec![None; blobs.len()]
    };
    let mut tasks = Vec::with_capacity(blobs.len());
    let mut slots = Vec::with_capacity(blobs.len());
    for (i, blob) in blobs.into_iter().enumerate() {
        if done[i].is_some() {
            continue;
        }
        let job = BlobJob {
            source: source.clone(),
            destination: destination.clone(),
            src: graph.reference.clone(),
            dst: dst.clone(),
            blob,
            mount: same_registry,
            dry_run: options.dry_run,
            progress: progress.clone(),
        };
        // Take the permit before starting the task: blobs start in order (largest first), and
        // after a SIGINT/SIGTERM no new transfer starts.
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("blob semaphore closed"))?;
        if crate::runtime::interrupted().is_some() {
            break;
        }
        slots.push(i);
        tasks.push(crate::runtime::spawn(async move {
            let _permit = permit;
            job.run().await
        }));
    }
    let results = futures_util::future::join_all(tasks).await;
    crate::runtime::check_interrupted()?;
    if let Some(t) = ticker {
        t.abort();
        progress.print(graph.blob_bytes(), graph.blobs.len());
        eprintln!();
    }
    let mut first_error: Option<Error> = None;
    for (i, r) in slots.into_iter().zip(results) {
        match r {
            Ok(rec) => done[i] = Some(rec),
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
    // Every blob has its record (an interruption ended the run above), in the order of the
    // transfers.
    Ok(done.into_iter().flatten().collect())
}

/// HEADs every blob at the destination, [`LOOKUP_CONCURRENCY`] at once: the record of each one
/// the destination has (skipped, as [`BlobJob::confirm`] judges it), `None` for the others.
///
/// # Errors
/// A blob of another size at the destination, or a HEAD that failed after its retries.
async fn probe_all(
    destination: &RegistryClient,
    dst: &Reference,
    blobs: &[Descriptor],
    progress: &Progress,
) -> Result<Vec<Option<BlobRecord>>> {
    let probes = futures_util::stream::iter(blobs.iter().enumerate())
        .map(|(i, blob)| async move {
            let started = Instant::now();
            let present = confirm(destination, dst, blob, Budget::Own)
                .await
                .map_err(|e| {
                    e.context(format_args!("blob {} ({} bytes)", blob.digest, blob.size))
                })?;
            Ok::<_, Error>((i, present.then(|| (blob, millis(started)))))
        })
        .buffer_unordered(LOOKUP_CONCURRENCY);
    futures_util::pin_mut!(probes);
    let mut done = vec![None; blobs.len()];
    while let Some(probe) = probes.next().await {
        let (i, found) = probe?;
        if let Some((blob, ms)) = found {
            progress.blobs.fetch_add(1, Ordering::Relaxed);
            progress.bytes.fetch_add(blob.size, Ordering::Relaxed);
            tracing::info!(blob = %blob.digest.short(), size = blob.size, action = ?BlobAction::Skipped, ms, "blob");
            done[i] = Some(BlobRecord {
                digest: blob.digest.clone(),
                size: blob.size,
                media_type: blob.media_type.clone(),
                action: BlobAction::Skipped,
                millis: ms,
            });
        }
    }
    Ok(done)
}

/// Whether the destination has `blob` (HEAD): yes, no, or an error when it has a blob of that
/// digest and another size.
async fn confirm(
    destination: &RegistryClient,
    dst: &Reference,
    blob: &Descriptor,
    budget: Budget,
) -> Result<bool> {
    match destination.head_blob(dst, &blob.digest, budget).await? {
        None => Ok(false),
        Some(info) if info.size == blob.size => Ok(true),
        Some(info) => Err(Error::size_mismatch(format!(
            "{}: blob {} is {} bytes at the destination, {} in the manifest",
            dst.name(),
            blob.digest,
            info.size,
            blob.size
        ))),
    }
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
    dry_run: bool,
}

impl BlobJob {
    async fn run(self) -> Result<BlobRecord> {
        let started = Instant::now();
        let digest = self.blob.digest.clone();
        // This loop owns the budget: the requests of one attempt are sent once (Budget::Caller),
        // a restarted upload (BLOB_UPLOAD_UNKNOWN, a token expired mid-stream) is an attempt.
        let action = self
            .destination
            .retried(&format!("copy blob {digest}"), || self.attempt())
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
        confirm(&self.destination, &self.dst, &self.blob, Budget::Caller).await
    }

    async fn attempt(&self) -> Result<BlobAction> {
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
        let mount = Some((&self.blob.digest, from));
        let session = match self
            .destination
            .start_upload(&self.dst, mount, Budget::Caller)
            .await?
        {
            UploadStart::Mounted => {
                if self.confirm().await? {
                    return Ok(if self.mount {
                        BlobAction::Mounted
                    } else {
                        BlobAction::Skipped
                    });
                }
                return Err(Error::new(
                    Reason::ServerError,
                    format!(
                        "{}: blob {} reported mounted but HEAD does not find it",
                        self.dst.name(),
                        self.blob.digest
                    ),
                ));
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
/// receives a complete wrong blob (docs/architecture.md, invariant 2).
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
}
