//! The `labels` check (Check stage): required label keys are present (and their whole values
//! match the optional regex), read from the config's `Labels`, falling back to the manifest's
//! (then the index's) `annotations`; the result says where each came from. Optionally the
//! `org.opencontainers.image.revision` label must equal the commit being promoted.

use std::collections::BTreeMap;

use super::{CheckEnv, CheckResult, Outcome};
use crate::policy::LABEL_REVISION;
use crate::resolve::ImageKind;

/// Where a label value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelSource {
    /// The config's `Labels`.
    Config,
    /// The image manifest's `annotations`.
    ManifestAnnotations,
    /// The index's `annotations`.
    IndexAnnotations,
}

impl LabelSource {
    fn describe(self) -> &'static str {
        match self {
            Self::Config => "config Labels",
            Self::ManifestAnnotations => "manifest annotations",
            Self::IndexAnnotations => "index annotations",
        }
    }
}

/// Runs the `labels` check.
pub(super) fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let policy = &env.policy.labels;
    let root = &env.ctx.image.graph.root;
    let mut results = Vec::new();
    for image in env
        .ctx
        .image
        .images
        .iter()
        .filter(|i| i.kind != ImageKind::Attestation)
    {
        let empty = BTreeMap::new();
        let config_labels = image
            .config
            .as_ref()
            .and_then(|c| c.config.as_ref())
            .and_then(|r| r.labels.as_ref())
            .unwrap_or(&empty);
        let mut sources: Vec<(LabelSource, &BTreeMap<String, String>)> =
            vec![(LabelSource::Config, config_labels)];
        if policy.annotations_fallback {
            sources.push((
                LabelSource::ManifestAnnotations,
                &image.manifest.annotations,
            ));
            if root.is_index() {
                sources.push((LabelSource::IndexAnnotations, &root.annotations));
            }
        }
        let lookup = |key: &str| {
            sources
                .iter()
                .find_map(|(s, map)| map.get(key).map(|v| (*s, v.as_str())))
        };
        let mut out = Outcome::default();
        let mut missing = Vec::new();
        let mut mismatched = Vec::new();
        let mut found: BTreeMap<&str, LabelSource> = BTreeMap::new();
        for rule in &policy.required {
            match lookup(&rule.key) {
                None => missing.push(rule.key.as_str()),
                Some((_, v)) if v.trim().is_empty() => missing.push(rule.key.as_str()),
                Some((source, value)) => {
                    found.insert(&rule.key, source);
                    if let Some(pattern) = &rule.pattern {
                        let whole = format!("^(?:{pattern})$");
                        let ok = regex::Regex::new(&whole).is_ok_and(|re| re.is_match(value));
                        if !ok {
                            mismatched.push(rule.key.as_str());
                            out.fail(format!(
                                "label {} = `{}` does not match /{pattern}/",
                                rule.key,
                                crate::reference::shorten(value)
                            ));
                        }
                    }
                }
            }
        }
        if !missing.is_empty() {
            out.fail(format!("missing label(s): {}", missing.join(", ")));
        }
        let mut revision_check = serde_json::Value::Null;
        if policy.revision_matches_commit {
            match (&env.ctx.github_sha, lookup(LABEL_REVISION)) {
                (None, _) => out.warn(format!(
                    "GITHUB_SHA is not set: {LABEL_REVISION} was not compared with the commit"
                )),
                (Some(sha), None) => {
                    out.fail(format!(
                        "no {LABEL_REVISION} label to compare with commit {sha}"
                    ));
                }
                (Some(sha), Some((_, revision))) => {
                    let revision = revision.trim().to_ascii_lowercase();
                    let sha_l = sha.to_ascii_lowercase();
                    let same =
                        revision == sha_l || (revision.len() >= 7 && sha_l.starts_with(&revision));
                    revision_check =
                        serde_json::json!({"commit": sha, "revision": revision, "matches": same});
                    if !same {
                        out.fail(format!(
                            "{LABEL_REVISION} is {revision}, but the commit being promoted is {sha}"
                        ));
                    }
                }
            }
        }
        let mut by_source: BTreeMap<&'static str, usize> = BTreeMap::new();
        for s in found.values() {
            *by_source.entry(s.describe()).or_default() += 1;
        }
        let summary = if policy.required.is_empty() {
            "no labels required".to_owned()
        } else if missing.is_empty() && mismatched.is_empty() {
            format!(
                "{} required label(s) present (from {})",
                policy.required.len(),
                by_source
                    .iter()
                    .map(|(s, n)| format!("{s}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else if by_source.is_empty() {
            "none found in config Labels or annotations".to_owned()
        } else {
            format!(
                "found in {}",
                by_source.keys().copied().collect::<Vec<_>>().join(" and ")
            )
        };
        results.push(
            env.result("labels", out.status(), out.message(&summary))
                .platform(image.platform_label.clone())
                .details(serde_json::json!({
                    "missing": missing,
                    "mismatched": mismatched,
                    "sources": found,
                    "revision": revision_check,
                })),
        );
    }
    results
}
