//! The blob probe of the Resolve stage: every blob HEADed at the source (present, declared
//! size), and in deep mode downloaded and its digest verified while streaming, on every core
//! (hashing runs in spawned tasks). The `layers` check judges the [`BlobState`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use futures_util::{StreamExt as _, stream};

use super::ImageInfo;
use crate::digest::{Digest, Verifier};
use crate::error::{Error, ErrorKind, Reason, Result};
use crate::media::is_foreign_layer;
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::registry::retry::Budget;
use crate::registry::transport::BodyStream;

/// Deep-mode downloads in flight per core: two keep every core hashing while the registry is
/// still sending the next bytes (measured on 2 cores with app/big; see bench/verify.sh).
const DEEP_STREAMS_PER_CORE: usize = 2;

/// What was learnt about one blob.
#[derive(Debug, Clone)]
pub enum BlobState {
    /// Present with the declared size (and, in deep mode, the right digest).
    Good,
    /// Not in the registry.
    Missing,
    /// Present with another size.
    WrongSize(u64),
    /// Its bytes do not hash to its digest (or the registry names another digest).
    Corrupt(String),
    /// The request failed (network, access…): not known.
    Unknown(Error),
}

/// Figures of a deep verification.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DeepStats {
    /// Blobs downloaded and hashed.
    pub blobs: usize,
    /// Bytes downloaded and hashed.
    pub bytes: u64,
    /// Wall-clock milliseconds of the downloads.
    pub millis: u64,
    /// Throughput, MB/s (10^6 bytes per second).
    pub mb_per_s: f64,
    /// Blobs not downloaded here because the copy streams and hashes them.
    pub verified_by_copy: usize,
    /// Downloads at once.
    pub parallelism: usize,
}

/// What the Resolve stage asks the source registry about the blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobProbe {
    /// Nothing (the `layers` check is disabled).
    None,
    /// HEAD every blob: present, with its declared size.
    Head,
    /// HEAD every blob, then download and hash each, except those in `verified_by_copy` (the
    /// copy streams and hashes them anyway: `promote` never downloads a blob twice).
    Deep {
        /// Blobs not downloaded here.
        verified_by_copy: BTreeSet<Digest>,
    },
}

/// What the probe learnt: a state per blob, the deep figures, the time taken.
#[derive(Debug, Clone, Default)]
pub struct BlobStates {
    /// Per blob digest (configs read into memory are not probed again).
    pub states: BTreeMap<Digest, BlobState>,
    /// The deep-verification figures (deep mode only).
    pub deep: Option<DeepStats>,
    /// Milliseconds the probe took.
    pub millis: u64,
}

/// The blobs the probe HEADs, known from the graph alone (so that the HEADs go out while the
/// configs are read): every distinct layer that is not foreign, and the configs that are not
/// `read` into memory (an attestation's or an artifact's).
pub(super) fn wanted(
    classified: &[(&crate::media::Manifest, super::ImageKind)],
    read: &BTreeSet<Digest>,
) -> BTreeMap<Digest, u64> {
    let mut wanted = BTreeMap::new();
    for (m, _) in classified {
        let crate::media::ManifestView::Image { config, layers } = &m.view else {
            continue;
        };
        if !read.contains(&config.digest) {
            wanted.insert(config.digest.clone(), config.size);
        }
        for l in layers.iter().filter(|l| !is_foreign_layer(&l.media_type)) {
            wanted.insert(l.digest.clone(), l.size);
        }
    }
    wanted
}

/// HEADs every blob of `wanted` at the source, unless `probe` asks for nothing.
pub(super) async fn head_wanted(
    client: &RegistryClient,
    reference: &Reference,
    wanted: &BTreeMap<Digest, u64>,
    probe: &BlobProbe,
) -> BTreeMap<Digest, BlobState> {
    if *probe == BlobProbe::None {
        return BTreeMap::new();
    }
    head_all(client, reference, wanted).await
}

/// The probe's findings from the HEADs of `wanted` ([`head_wanted`]); in deep mode, every blob
/// found present that is not a config read into memory (`images`) nor streamed by the copy is
/// then downloaded and hashed once. Never fails: a failed request is a [`BlobState::Unknown`].
pub(super) async fn finish_probe(
    client: &RegistryClient,
    reference: &Reference,
    images: &[ImageInfo],
    (wanted, mut states): (&BTreeMap<Digest, u64>, BTreeMap<Digest, BlobState>),
    probe: &BlobProbe,
    started: Instant,
) -> BlobStates {
    let verified_by_copy = match probe {
        BlobProbe::None => return BlobStates::default(),
        BlobProbe::Head => None,
        BlobProbe::Deep { verified_by_copy } => Some(verified_by_copy),
    };
    let mut deep = None;
    if let Some(skip) = verified_by_copy {
        // Configs read into memory were verified already; the rest is downloaded once each.
        let read: BTreeSet<&Digest> = images
            .iter()
            .filter(|i| i.config.is_some())
            .map(|i| &i.config_descriptor.digest)
            .collect();
        let mut to_download: Vec<(Digest, u64)> = Vec::new();
        let mut by_copy = 0;
        for (digest, size) in wanted {
            if !matches!(states.get(digest), Some(BlobState::Good)) || read.contains(digest) {
                continue;
            }
            if skip.contains(digest) {
                by_copy += 1;
            } else {
                to_download.push((digest.clone(), *size));
            }
        }
        let (verified, stats) = verify_all(client, reference, to_download).await;
        states.extend(verified);
        deep = Some(DeepStats {
            verified_by_copy: by_copy,
            ..stats
        });
    }
    BlobStates {
        states,
        deep,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

async fn head_all(
    client: &RegistryClient,
    reference: &Reference,
    wanted: &BTreeMap<Digest, u64>,
) -> BTreeMap<Digest, BlobState> {
    let owned: Vec<(Digest, u64)> = wanted.iter().map(|(d, s)| (d.clone(), *s)).collect();
    stream::iter(owned)
        .map(|(digest, size)| async move {
            let state = match client.head_blob(reference, &digest, Budget::Own).await {
                Ok(None) => BlobState::Missing,
                Ok(Some(info)) if info.size == size => BlobState::Good,
                Ok(Some(info)) => BlobState::WrongSize(info.size),
                Err(e) if e.kind == ErrorKind::Verification => BlobState::Corrupt(e.message),
                Err(e) => BlobState::Unknown(e),
            };
            (digest, state)
        })
        .buffer_unordered(crate::registry::LOOKUP_CONCURRENCY)
        .collect()
        .await
}

/// Downloads and hashes `blobs` (largest first), [`DEEP_STREAMS_PER_CORE`] per core at a time;
/// the hashing of each stream runs in its own task so every core hashes.
async fn verify_all(
    client: &RegistryClient,
    reference: &Reference,
    mut blobs: Vec<(Digest, u64)>,
) -> (BTreeMap<Digest, BlobState>, DeepStats) {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let parallelism = cores * DEEP_STREAMS_PER_CORE;
    let semaphore = Arc::new(crate::runtime::Semaphore::new(parallelism));
    blobs.sort_by_key(|b| std::cmp::Reverse(b.1));
    let started = Instant::now();
    let jobs = blobs.iter().map(|(digest, size)| {
        let semaphore = semaphore.clone();
        async move {
            let state = match semaphore.acquire_owned().await {
                Ok(_permit) => verify_one(client, reference, digest, *size).await,
                Err(_) => BlobState::Unknown(Error::internal("deep-verify semaphore closed")),
            };
            (digest.clone(), state)
        }
    });
    let states: BTreeMap<Digest, BlobState> = futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .collect();
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let bytes: u64 = blobs.iter().map(|(_, s)| s).sum();
    #[expect(clippy::cast_precision_loss, reason = "a throughput figure")]
    let mb_per_s = if millis == 0 {
        0.0
    } else {
        bytes as f64 / 1000.0 / millis as f64
    };
    (
        states,
        DeepStats {
            blobs: blobs.len(),
            bytes,
            millis,
            mb_per_s,
            verified_by_copy: 0,
            parallelism,
        },
    )
}

async fn verify_one(
    client: &RegistryClient,
    reference: &Reference,
    digest: &Digest,
    size: u64,
) -> BlobState {
    // The download and its hashing are one unit under the policy; the GET inside is sent once.
    let outcome = client
        .retried(&format!("verify blob {digest}"), || async {
            let body = client.get_blob(reference, digest).await?;
            let expected = digest.clone();
            crate::runtime::spawn(hash_stream(body, expected, size)).await
        })
        .await;
    match outcome {
        Ok(()) => BlobState::Good,
        Err(e) if e.reason == Reason::BlobUnknown => BlobState::Missing,
        Err(e) if e.kind == ErrorKind::Verification => BlobState::Corrupt(e.message),
        Err(e) => BlobState::Unknown(e),
    }
}

/// Hashes and counts a blob body against its digest and size.
async fn hash_stream(mut body: BodyStream, digest: Digest, size: u64) -> Result<()> {
    let mut verifier = Verifier::new(&digest, Some(size));
    while let Some(chunk) = body.next().await {
        verifier.update(&chunk?)?;
    }
    verifier.finish().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_stream_verifies_digest_and_size() {
        let data = bytes::Bytes::from_static(b"hello world");
        let digest = Digest::sha256_of(&data);
        let body = |chunks: Vec<&'static [u8]>| -> BodyStream {
            Box::pin(stream::iter(
                chunks.into_iter().map(|c| Ok(bytes::Bytes::from_static(c))),
            ))
        };
        hash_stream(body(vec![b"hello ", b"world"]), digest.clone(), 11)
            .await
            .unwrap();
        let e = hash_stream(body(vec![b"hello wOrld"]), digest.clone(), 11)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Verification);
        let e = hash_stream(body(vec![b"hello"]), digest, 11)
            .await
            .unwrap_err();
        assert!(e.retryable, "a short body is retried");
    }
}
