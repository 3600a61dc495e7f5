//! The `size` check (Check stage): the compressed size of each platform (config + layers), the
//! largest layer, and the total promoted (every distinct blob and manifest) against the policy's
//! limits. The result shows the figures, in bytes in `details`.

use std::collections::BTreeSet;

use super::{CheckEnv, CheckResult, Outcome};
use crate::policy::format_size;
use crate::resolve::ImageKind;

/// Runs the `size` check.
pub(super) fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let policy = &env.policy.size;
    let graph = &env.ctx.image.graph;
    let manifest_bytes: u64 = std::iter::once(&graph.root)
        .chain(&graph.children)
        .map(|m| m.bytes.len() as u64)
        .sum();
    let total = graph.blob_bytes() + manifest_bytes;
    let mut results = Vec::new();
    for image in env
        .ctx
        .image
        .images
        .iter()
        .filter(|i| i.kind != ImageKind::Attestation)
    {
        let mut out = Outcome::default();
        let mut seen = BTreeSet::new();
        let blobs = std::iter::once(&image.config_descriptor)
            .chain(image.layers())
            .filter(|d| seen.insert(&d.digest));
        let size: u64 = blobs.map(|d| d.size).sum();
        let largest = image.layers().iter().max_by_key(|d| d.size);
        let largest_size = largest.map_or(0, |d| d.size);
        if let Some(max) = policy.max_size
            && size > max
        {
            out.fail(format!(
                "size {} ({size} bytes) is over max-size {} ({max} bytes)",
                format_size(size),
                format_size(max)
            ));
        }
        if let (Some(max), Some(l)) = (policy.max_layer_size, largest)
            && l.size > max
        {
            out.fail(format!(
                "layer {} is {} ({} bytes), over max-layer-size {} ({max} bytes)",
                l.digest.short(),
                format_size(l.size),
                l.size,
                format_size(max)
            ));
        }
        let summary = format!(
            "{} in {} layer(s), largest {}{}",
            format_size(size),
            image.layers().len(),
            format_size(largest_size),
            if graph.root.is_index() {
                String::new()
            } else {
                format!("; {} stored in all", format_size(total))
            }
        );
        results.push(
            env.result("size", out.status(), out.message(&summary))
                .platform(image.platform_label.clone())
                .details(serde_json::json!({
                    "size": size,
                    "layers": image.layers().len(),
                    "largest_layer": largest_size,
                    "largest_layer_digest": largest.map(|d| &d.digest),
                    "total": total,
                    "max_size": policy.max_size,
                    "max_layer_size": policy.max_layer_size,
                    "max_total_size": policy.max_total_size,
                })),
        );
    }
    let single = !graph.root.is_index();
    let mut out = Outcome::default();
    if let Some(max) = policy.max_total_size
        && total > max
    {
        out.fail(format!(
            "total {} ({total} bytes) is over max-total-size {} ({max} bytes)",
            format_size(total),
            format_size(max)
        ));
    }
    if !single {
        let summary = format!(
            "total {} ({total} bytes) in {} blobs and {} manifests",
            format_size(total),
            graph.blobs.len(),
            graph.children.len() + 1
        );
        results.push(
            env.result("size", out.status(), out.message(&summary))
                .details(serde_json::json!({
                    "total": total,
                    "blobs": graph.blobs.len(),
                    "manifests": graph.children.len() + 1,
                    "max_total_size": policy.max_total_size,
                })),
        );
    } else if let Some(r) = results.first_mut()
        && out.status() == super::CheckStatus::Fail
    {
        r.status = super::CheckStatus::Fail;
        r.message = format!("{}; {}", out.message(""), r.message);
    }
    results
}
