//! The `metadata` check (Check stage): each image config has `created`, `os`, `architecture`
//! and `rootfs` (of type `layers`); its history has one non-empty entry per layer; the manifest,
//! config and layer media types belong to the same family (OCI or Docker).

use super::{CheckEnv, CheckResult, CheckStatus, Outcome};
use crate::media::{DOCKER_CONFIG, DOCKER_MANIFEST, OCI_CONFIG, OCI_MANIFEST};
use crate::resolve::{ConfigProblem, ImageKind};

/// Runs the `metadata` check.
pub(super) fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for image in &env.ctx.image.images {
        let label = image.platform_label.clone();
        if image.kind == ImageKind::Attestation {
            continue;
        }
        if image.kind == ImageKind::Artifact {
            results.push(
                env.result(
                    "metadata",
                    CheckStatus::Skipped,
                    format!(
                        "artifact (config `{}`): not an image config",
                        crate::reference::shorten(&image.config_descriptor.media_type)
                    ),
                )
                .platform(label),
            );
            continue;
        }
        let config = match (&image.config, &image.config_problem) {
            (Some(c), _) => c,
            (None, Some(ConfigProblem::Invalid(m))) => {
                results.push(
                    env.result("metadata", CheckStatus::Fail, m.clone())
                        .platform(label),
                );
                continue;
            }
            (None, _) => {
                results.push(
                    env.result(
                        "metadata",
                        CheckStatus::Skipped,
                        "the config could not be read (see `layers`)",
                    )
                    .platform(label),
                );
                continue;
            }
        };
        let mut out = Outcome::default();
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
        let mut absent: Vec<&str> = Vec::new();
        if blank(&config.created) {
            absent.push("created");
        }
        if blank(&config.os) {
            absent.push("os");
        }
        if blank(&config.architecture) {
            absent.push("architecture");
        }
        match &config.rootfs {
            None => absent.push("rootfs"),
            Some(r) if r.kind.as_deref() != Some("layers") => out.fail(format!(
                "rootfs.type is {:?}, expected \"layers\"",
                r.kind.as_deref().unwrap_or("")
            )),
            Some(_) => {}
        }
        if !absent.is_empty() {
            out.fail(format!("the config lacks {}", absent.join(", ")));
        }
        let layers = image.layers().len();
        match &config.history {
            Some(history) => {
                let non_empty = history
                    .iter()
                    .filter(|h| h.empty_layer != Some(true))
                    .count();
                if non_empty != layers {
                    out.fail(format!(
                        "history has {non_empty} non-empty entries for {layers} layers"
                    ));
                }
            }
            None => out.note("no history".to_owned()),
        }
        let manifest_type = image.manifest.media_type.as_str();
        let config_type = image.config_descriptor.media_type.as_str();
        let expected_config = match manifest_type {
            OCI_MANIFEST => Some(OCI_CONFIG),
            DOCKER_MANIFEST => Some(DOCKER_CONFIG),
            _ => None,
        };
        if let Some(expected) = expected_config
            && config_type != expected
        {
            out.fail(format!(
                "a {manifest_type} manifest with a {config_type} config (expected {expected})"
            ));
        }
        let docker_layers = image
            .layers()
            .iter()
            .filter(|l| l.media_type.starts_with("application/vnd.docker."))
            .count();
        let oci_layers = image
            .layers()
            .iter()
            .filter(|l| l.media_type.starts_with("application/vnd.oci."))
            .count();
        if (manifest_type == OCI_MANIFEST && docker_layers > 0)
            || (manifest_type == DOCKER_MANIFEST && oci_layers > 0)
        {
            out.warn(format!(
                "layer media types mix OCI ({oci_layers}) and Docker ({docker_layers})"
            ));
        }
        let summary = format!(
            "created {}, {}/{}, {layers} layer(s) match rootfs and history",
            config.created.as_deref().unwrap_or("?"),
            config.os.as_deref().unwrap_or("?"),
            config.architecture.as_deref().unwrap_or("?"),
        );
        let summary = if out.status() == CheckStatus::Pass {
            summary
        } else {
            String::new()
        };
        results.push(
            env.result("metadata", out.status(), out.message(&summary))
                .platform(label)
                .details(serde_json::json!({
                    "created": config.created,
                    "os": config.os,
                    "architecture": config.architecture,
                    "variant": config.variant,
                    "layers": layers,
                    "history": config.history.as_ref().map(Vec::len),
                    "manifest_media_type": manifest_type,
                    "config_media_type": config_type,
                })),
        );
    }
    results
}
