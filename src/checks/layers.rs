//! The `layers` check (Check stage): every blob resolved (HEAD) with its declared size, layer
//! media types are known (gzip, zstd, uncompressed; foreign reported), `rootfs.diff_ids` counts
//! the layers. In deep mode every blob was downloaded and its digest verified. A pure function
//! of the resolved image: the Resolve stage probed the blobs (`resolve/blobs.rs`). A missing or
//! corrupt blob is never forced.

use std::collections::BTreeMap;

use super::{CheckEnv, CheckResult, Outcome};
use crate::digest::Digest;
use crate::error::Error;
use crate::media::{Descriptor, is_foreign_layer, layer_compression};
use crate::resolve::{BlobState, ConfigProblem, DeepStats, ImageInfo, ImageKind};

/// Runs the `layers` check on the blob states the Resolve stage probed.
pub(super) fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let blobs = &env.ctx.image.blobs;
    let mut results = Vec::new();
    let mut request_error: Option<Error> = None;
    for image in &env.ctx.image.images {
        let (result, error) = judge(env, image, &blobs.states, blobs.deep.as_ref());
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
