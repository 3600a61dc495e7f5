//! The `platform` check (Check stage): required platforms are present in an index, every platform
//! present is allowed, and each image's config `os`/`architecture`/`variant` agrees with what the
//! index (or the policy) says. Platforms are normalized as containerd does; attestation manifests
//! are not platforms. The platforms the policy names are
//! [`PlatformSpec`]s.

use super::{CheckEnv, CheckResult, Outcome};
use crate::policy::PlatformSpec;
use crate::resolve::ImageKind;

/// Runs the `platform` check.
pub(super) fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let policy = &env.policy.platform;
    let mut results = Vec::new();
    let mut present: Vec<PlatformSpec> = Vec::new();
    for image in env
        .ctx
        .image
        .images
        .iter()
        .filter(|i| i.kind == ImageKind::Image)
    {
        let mut out = Outcome::default();
        let config_platform = image.config.as_ref().and_then(|c| {
            Some(PlatformSpec::normalize(
                c.os.as_deref()?,
                c.architecture.as_deref()?,
                c.variant.as_deref(),
            ))
        });
        let declared = image.descriptor_platform.as_ref().map(PlatformSpec::of);
        let actual = declared.clone().or_else(|| config_platform.clone());
        match (&declared, &config_platform) {
            (Some(d), Some(c)) if d != c => {
                out.fail(format!("the index declares {d} but the config says {c}"))
            }
            (_, None) if image.config.is_some() => {
                out.fail("the config names no os/architecture".to_owned());
            }
            _ => {}
        }
        if let Some(a) = &actual {
            if !policy.allowed.is_empty() && !policy.allowed.iter().any(|p| p.covers(a)) {
                out.fail(format!(
                    "{a} is not an allowed platform (allowed: {})",
                    join(&policy.allowed)
                ));
            }
            if !present.contains(a) {
                present.push(a.clone());
            }
        }
        let shown = actual
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), ToString::to_string);
        let message = if out.status() == super::CheckStatus::Pass {
            out.message(&shown)
        } else {
            out.message("")
        };
        results.push(
            env.result("platform", out.status(), message)
                .platform(image.platform_label.clone())
                .details(serde_json::json!({
                    "platform": shown,
                    "config": config_platform.as_ref().map(ToString::to_string),
                    "declared": declared.as_ref().map(ToString::to_string),
                })),
        );
    }
    // Coverage of the required platforms, over the whole image.
    let missing: Vec<&PlatformSpec> = policy
        .required
        .iter()
        .filter(|r| !present.iter().any(|p| r.covers(p)))
        .collect();
    let attestations = env
        .ctx
        .image
        .images
        .iter()
        .filter(|i| i.kind == ImageKind::Attestation)
        .count();
    let mut summary = format!(
        "platforms: {}",
        if present.is_empty() {
            "none".to_owned()
        } else {
            join(&present)
        }
    );
    if attestations > 0 {
        summary.push_str(&format!(
            " ({attestations} attestation manifest(s), not platforms)"
        ));
    }
    if !policy.required.is_empty() || env.ctx.image.graph.root.is_index() {
        let (status, message) = if missing.is_empty() {
            let what = if policy.required.is_empty() {
                summary
            } else {
                format!("required {} present; {summary}", join(&policy.required))
            };
            (super::CheckStatus::Pass, what)
        } else {
            (
                super::CheckStatus::Fail,
                format!(
                    "required platform(s) missing: {}; {summary}",
                    missing
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        results.push(
            env.result("platform", status, message)
                .details(serde_json::json!({
                    "present": present.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "required": policy.required.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "missing": missing.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "attestations": attestations,
                })),
        );
    }
    results
}

fn join(platforms: &[PlatformSpec]) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
