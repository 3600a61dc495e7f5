//! The `layers` check (Check stage): every blob resolves (HEAD) with its declared size, layer
//! media types are known (gzip, zstd, uncompressed; foreign reported), `rootfs.diff_ids` counts
//! the layers. In deep mode every blob is downloaded and its digest verified while streaming, on
//! every core (hashing runs in spawned tasks). A missing or corrupt blob is never forced.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use futures_util::{StreamExt as _, stream};

use super::{CheckEnv, CheckResult, ConfigProblem, ImageInfo, ImageKind, Outcome};
use crate::digest::{Digest, Verifier};
use crate::error::{Error, ErrorKind, Reason, Result};
use crate::media::{Descriptor, is_foreign_layer, layer_compression};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::registry::retry::Budget;
use crate::registry::transport::BodyStream;

/// HEAD requests in flight at once.
const HEAD_CONCURRENCY: usize = 8;

/// Deep-mode downloads in flight per core: two keep every core hashing while the registry is
/// still sending the next bytes (measured on 2 cores with app/big; see bench/verify.sh).
const DEEP_STREAMS_PER_CORE: usize = 2;

/// What was learnt about one blob.
#[derive(Debug, Clone)]
enum BlobState {
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

/// Runs the `layers` check.
pub(super) async fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let reference = &env.ctx.graph.reference;
    // Every distinct blob to HEAD: layers that are not foreign, and configs not read already.
    let mut wanted: BTreeMap<Digest, u64> = BTreeMap::new();
    for image in &env.ctx.images {
        if image.config.is_none() && image.config_problem.is_none() {
            wanted.insert(
                image.config_descriptor.digest.clone(),
                image.config_descriptor.size,
            );
        }
        for l in image
            .layers()
            .iter()
            .filter(|l| !is_foreign_layer(&l.media_type))
        {
            wanted.insert(l.digest.clone(), l.size);
        }
    }
    let mut states = head_all(env.client, reference, &wanted).await;
    let mut deep_stats = None;
    if env.deep {
        // Configs read into memory were verified already; the rest is downloaded once each.
        let read: BTreeSet<&Digest> = env
            .ctx
            .images
            .iter()
            .filter(|i| i.config.is_some())
            .map(|i| &i.config_descriptor.digest)
            .collect();
        let mut to_download: Vec<(Digest, u64)> = Vec::new();
        let mut by_copy = 0;
        for (digest, size) in &wanted {
            if !matches!(states.get(digest), Some(BlobState::Good)) || read.contains(digest) {
                continue;
            }
            if env.skip_deep_for.contains(digest) {
                by_copy += 1;
            } else {
                to_download.push((digest.clone(), *size));
            }
        }
        let (verified, stats) = verify_all(env.client, reference, to_download).await;
        states.extend(verified);
        deep_stats = Some(DeepStats {
            verified_by_copy: by_copy,
            ..stats
        });
    }
    let mut results = Vec::new();
    let mut request_error: Option<Error> = None;
    for image in &env.ctx.images {
        let (result, error) = judge(env, image, &states, deep_stats.as_ref());
        results.push(result);
        if request_error.is_none() {
            request_error = error;
        }
    }
    if let Some(e) = request_error {
        results.push(CheckResult::could_not_run("layers", &e));
    }
    results
}

fn judge(
    env: &CheckEnv<'_>,
    image: &ImageInfo,
    states: &BTreeMap<Digest, BlobState>,
    deep: Option<&DeepStats>,
) -> (CheckResult, Option<Error>) {
    let policy = &env.policy.layers;
    let mut out = Outcome::default();
    let mut integrity = false;
    let mut request_error = None;
    let mut missing = Vec::new();
    let mut corrupt = Vec::new();
    match &image.config_problem {
        Some(ConfigProblem::Missing(m)) => {
            integrity = true;
            missing.push(image.config_descriptor.digest.to_string());
            out.fail(m.clone());
        }
        Some(ConfigProblem::Corrupt(m)) => {
            integrity = true;
            corrupt.push(image.config_descriptor.digest.to_string());
            out.fail(format!("config: {m}"));
        }
        Some(ConfigProblem::Invalid(_)) | None => {}
    }
    let mut blobs: Vec<(&str, &Descriptor)> = vec![("config", &image.config_descriptor)];
    blobs.extend(image.layers().iter().map(|l| ("layer", l)));
    for (what, d) in blobs {
        match states.get(&d.digest) {
            Some(BlobState::Missing) => {
                integrity = true;
                missing.push(d.digest.to_string());
                out.fail(format!(
                    "{what} {} is missing from the registry (BLOB_UNKNOWN)",
                    d.digest
                ));
            }
            Some(BlobState::WrongSize(actual)) => {
                integrity = true;
                corrupt.push(d.digest.to_string());
                out.fail(format!(
                    "{what} {} is {actual} bytes in the registry, the manifest declares {}",
                    d.digest, d.size
                ));
            }
            Some(BlobState::Corrupt(m)) => {
                integrity = true;
                corrupt.push(d.digest.to_string());
                out.fail(format!("{what} {}: {m}", d.digest.short()));
            }
            Some(BlobState::Unknown(e)) => {
                if request_error.is_none() {
                    request_error = Some(e.clone());
                }
            }
            Some(BlobState::Good) | None => {}
        }
    }
    // Media types.
    let mut compression: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut foreign = 0;
    for l in image.layers() {
        if is_foreign_layer(&l.media_type) {
            foreign += 1;
            continue;
        }
        let c = layer_compression(&l.media_type);
        let known_family = l.media_type.starts_with("application/vnd.oci.image.layer.")
            || l.media_type
                .starts_with("application/vnd.docker.image.rootfs.");
        if image.kind == ImageKind::Image && (c == "other" || !known_family) {
            out.by_action(
                policy.unknown_media_type,
                format!(
                    "layer {} has unknown media type `{}`",
                    l.digest.short(),
                    crate::reference::shorten(&l.media_type)
                ),
            );
        }
        *compression.entry(c).or_default() += 1;
    }
    if foreign > 0 {
        out.by_action(
            policy.foreign,
            format!("{foreign} foreign (non-distributable) layer(s): not copied, not checked"),
        );
    }
    // diff_ids.
    if let Some(config) = &image.config {
        let diff_ids = config.rootfs.as_ref().map_or(0, |r| r.diff_ids.len());
        if diff_ids != image.layers().len() {
            out.fail(format!(
                "the config lists {diff_ids} diff_ids for {} layers",
                image.layers().len()
            ));
        }
    }
    let layers = image.layers().len();
    let kinds = compression
        .iter()
        .map(|(c, n)| format!("{n} {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let verb = if out.status() == super::CheckStatus::Fail {
        ""
    } else {
        " present with their declared sizes"
    };
    let mut summary = format!(
        "{layers} layer(s){verb}{}",
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({kinds})")
        }
    );
    if let Some(d) = deep {
        summary.push_str(&format!(
            "; deep: {} blob(s), {} bytes hashed at {:.0} MB/s",
            d.blobs, d.bytes, d.mb_per_s
        ));
        if d.verified_by_copy > 0 {
            summary.push_str(&format!(", {} verified while copied", d.verified_by_copy));
        }
    }
    if image.kind == ImageKind::Attestation {
        summary.push_str(" (attestation manifest)");
    } else if image.kind == ImageKind::Artifact {
        summary.push_str(" (artifact: media types not judged)");
    }
    let status = out.status();
    let mut result = env
        .result("layers", status, out.message(&summary))
        .platform(image.platform_label.clone())
        .details(serde_json::json!({
            "layers": layers,
            "compression": compression,
            "foreign": foreign,
            "missing": missing,
            "corrupt": corrupt,
            "deep": deep,
        }));
    if integrity {
        result = result.unforceable();
    }
    (result, request_error)
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
        .buffer_unordered(HEAD_CONCURRENCY)
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
