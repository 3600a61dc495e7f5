//! What the carry reports: one [`ReferrerRecord`] per signature, attestation, SBOM or referrer
//! found at the source, in the copy report (`--json`) and the audit record.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What kind of thing was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReferrerKind {
    /// cosign's legacy signature tag `sha256-<hex>.sig`.
    CosignSig,
    /// cosign's legacy attestation tag `sha256-<hex>.att`.
    CosignAtt,
    /// cosign's legacy SBOM tag `sha256-<hex>.sbom`.
    CosignSbom,
    /// An OCI 1.1 referrer (a manifest whose `subject` is the image, a child, or a referrer).
    Referrer,
}

impl ReferrerKind {
    /// The cosign kind of tag suffix `sig`, `att` or `sbom`.
    #[must_use]
    pub fn of_suffix(suffix: &str) -> Option<Self> {
        match suffix {
            "sig" => Some(Self::CosignSig),
            "att" => Some(Self::CosignAtt),
            "sbom" => Some(Self::CosignSbom),
            _ => None,
        }
    }

    /// `cosign-sig`, …, `referrer`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CosignSig => "cosign-sig",
            Self::CosignAtt => "cosign-att",
            Self::CosignSbom => "cosign-sbom",
            Self::Referrer => "referrer",
        }
    }
}

/// How an item was found at the source or written at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReferrerPath {
    /// The referrers API (`GET /v2/<name>/referrers/<digest>`; PUT by digest with `subject`).
    Api,
    /// The fallback index at tag `sha256-<hex>` (merged at the destination, never overwritten).
    FallbackTag,
    /// A cosign tag `sha256-<hex>.sig|.att|.sbom`.
    Tag,
}

impl From<crate::referrers::Path> for ReferrerPath {
    fn from(p: crate::referrers::Path) -> Self {
        match p {
            crate::referrers::Path::Api => Self::Api,
            crate::referrers::Path::FallbackTag => Self::FallbackTag,
        }
    }
}

/// What happened to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CarryStatus {
    /// Copied byte for byte and written at the destination by this run.
    Carried,
    /// The destination already had it (listed among its referrers, or its cosign tag at the
    /// same digest): nothing written.
    Present,
    /// Dry run: would be carried.
    WouldCarry,
    /// Not carried, for the reason given (a destination `.sig` that differs is kept, a listed
    /// referrer whose subject is another digest or whose manifest is missing at the source).
    Skipped,
}

/// One signature, attestation, SBOM or referrer of the promoted image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferrerRecord {
    /// `cosign-sig`, `cosign-att`, `cosign-sbom` or `referrer`.
    pub kind: ReferrerKind,
    /// Its artifact type (the manifest's `artifactType`, else its config's media type), when known.
    pub artifact_type: Option<String>,
    /// Its manifest digest (the same at both ends).
    pub digest: String,
    /// The digest it refers to (the promoted digest, a child manifest, or another referrer).
    pub subject: String,
    /// 1 for the image's own manifests' referrers and cosign tags, 2 and 3 for referrers of
    /// referrers.
    pub depth: u32,
    /// How the source holds it.
    pub source_path: ReferrerPath,
    /// How it was (or would be, or is) held at the destination.
    pub path: ReferrerPath,
    /// What happened.
    pub status: CarryStatus,
    /// Why, when it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Counts per status, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CarryCounts {
    /// Carried by this run.
    pub carried: usize,
    /// Already at the destination.
    pub present: usize,
    /// A dry run would carry these.
    pub would_carry: usize,
    /// Skipped, each with its reason.
    pub skipped: usize,
}

impl CarryCounts {
    /// The counts of `records`.
    #[must_use]
    pub fn of(records: &[ReferrerRecord]) -> Self {
        let mut c = Self::default();
        for r in records {
            match r.status {
                CarryStatus::Carried => c.carried += 1,
                CarryStatus::Present => c.present += 1,
                CarryStatus::WouldCarry => c.would_carry += 1,
                CarryStatus::Skipped => c.skipped += 1,
            }
        }
        c
    }

    /// `2 carried, 1 present, 1 skipped` (zero counts left out; `none` when all are zero).
    #[must_use]
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.carried, "carried"),
            (self.present, "already present"),
            (self.would_carry, "would be carried"),
            (self.skipped, "skipped"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// The step summary's line for `records`: the counts, the kinds, and the first skipped item's
/// reason; `None` when there are none.
#[must_use]
pub fn summary_line(records: &[ReferrerRecord]) -> Option<String> {
    if records.is_empty() {
        return None;
    }
    let mut kinds: Vec<(ReferrerKind, usize)> = Vec::new();
    for r in records {
        match kinds.iter_mut().find(|(k, _)| *k == r.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((r.kind, 1)),
        }
    }
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(k, n)| format!("{n} {}", k.as_str()))
        .collect();
    let mut line = format!(
        "{} ({})",
        CarryCounts::of(records).describe(),
        kinds.join(", ")
    );
    if let Some(s) = records.iter().find(|r| r.status == CarryStatus::Skipped) {
        line.push_str(&format!(
            "; skipped {} {}: {}",
            s.kind.as_str(),
            s.digest,
            s.reason.as_deref().unwrap_or("")
        ));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_counts() {
        assert_eq!(
            ReferrerKind::of_suffix("sig"),
            Some(ReferrerKind::CosignSig)
        );
        assert_eq!(ReferrerKind::of_suffix("x"), None);
        let json = serde_json::to_value(ReferrerKind::CosignSbom).unwrap();
        assert_eq!(json, "cosign-sbom");
        assert_eq!(
            serde_json::to_value(ReferrerPath::FallbackTag).unwrap(),
            "fallback-tag"
        );
        let r = ReferrerRecord {
            kind: ReferrerKind::Referrer,
            artifact_type: None,
            digest: "sha256:1".into(),
            subject: "sha256:2".into(),
            depth: 1,
            source_path: ReferrerPath::Api,
            path: ReferrerPath::FallbackTag,
            status: CarryStatus::WouldCarry,
            reason: None,
        };
        let skipped = ReferrerRecord {
            status: CarryStatus::Skipped,
            reason: Some("x".into()),
            ..r.clone()
        };
        let all = [r.clone(), r, skipped];
        let c = CarryCounts::of(&all);
        assert_eq!(c.describe(), "2 would be carried, 1 skipped");
        assert_eq!(
            summary_line(&all).unwrap(),
            "2 would be carried, 1 skipped (3 referrer); skipped referrer sha256:1: x"
        );
        assert_eq!(summary_line(&[]), None);
        assert_eq!(CarryCounts::default().describe(), "none");
    }
}
