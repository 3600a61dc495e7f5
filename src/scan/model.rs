//! The scan model: findings, severities, counts and the report they form, whatever the format.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The severity of one finding, as the scanner (or the SARIF score) rates it.
///
/// Ordered by gravity, `Unknown < Negligible < Low < Medium < High < Critical`,
/// so `severity >= Severity::High` reads naturally. Serialized in lower case
/// (`"critical"`), displayed in upper case (`CRITICAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// CRITICAL (SARIF score ≥ 9.0).
    Critical,
    /// HIGH (SARIF score ≥ 7.0).
    High,
    /// MEDIUM (SARIF score ≥ 4.0).
    Medium,
    /// LOW (SARIF score > 0).
    Low,
    /// NEGLIGIBLE: Grype only, kept apart from LOW.
    Negligible,
    /// UNKNOWN: unrated, or a severity text this crate does not know.
    Unknown,
}

impl Severity {
    /// All severities, gravest first (the order reports list them in).
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Negligible,
        Severity::Unknown,
    ];

    /// Reads a scanner's severity text, ignoring case; any other text is `Unknown`.
    pub fn from_text(text: &str) -> Severity {
        text.parse().unwrap_or(Severity::Unknown)
    }

    /// The upper-case name, as Trivy writes it (`"CRITICAL"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Negligible => "NEGLIGIBLE",
            Severity::Unknown => "UNKNOWN",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Severity::Unknown => 0,
            Severity::Negligible => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A severity name that is not one of critical, high, medium, low, negligible, unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity `{0}`: expected one of critical, high, medium, low, negligible, unknown")]
pub struct ParseSeverityError(pub String);

impl FromStr for Severity {
    type Err = ParseSeverityError;

    /// Parses a severity name, ignoring case and surrounding blanks.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| ParseSeverityError(s.to_owned()))
    }
}

/// The file format a report was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// `trivy image --format json` (SchemaVersion 2).
    Trivy,
    /// `grype -o json`.
    Grype,
    /// SARIF 2.1.0, from any scanner.
    Sarif,
}

impl fmt::Display for ReportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReportFormat::Trivy => "Trivy JSON",
            ReportFormat::Grype => "Grype JSON",
            ReportFormat::Sarif => "SARIF",
        })
    }
}

/// Who took a finding out of the counted findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuppressedBy {
    /// The scanner itself (Trivy `ExperimentalModifiedFindings`, Grype
    /// `ignoredMatches`, SARIF `suppressions`).
    Report,
    /// This tool's ignore list ([`apply_ignores`]).
    IgnoreList,
}

/// Why a finding sits in [`ScanReport::suppressed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Who suppressed it.
    pub by: SuppressedBy,
    /// The reason given, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One vulnerability in one package, as the scanner emits it.
///
/// The same vulnerability in two packages is two findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Vulnerability id (`CVE-…`, `GHSA-…`). For SARIF, the id named in the
    /// rule's help text, else the rule id.
    pub id: String,
    /// Package name (empty where the report does not say).
    pub package: String,
    /// Installed version (empty where the report does not say).
    pub installed_version: String,
    /// Version(s) with a fix, if any (Grype's several versions joined by `, `).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_version: Option<String>,
    /// Severity this crate counts the finding under.
    pub severity: Severity,
    /// Short title or description, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The severity exactly as the report wrote it: Trivy/Grype severity text;
    /// for SARIF the rule's `security-severity` score, or the result level
    /// where no score exists.
    pub source_severity_text: String,
    /// Set for findings in [`ScanReport::suppressed`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
}

/// Number of findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SeverityCounts {
    /// CRITICAL findings.
    pub critical: usize,
    /// HIGH findings.
    pub high: usize,
    /// MEDIUM findings.
    pub medium: usize,
    /// LOW findings.
    pub low: usize,
    /// NEGLIGIBLE findings (Grype only).
    pub negligible: usize,
    /// UNKNOWN findings.
    pub unknown: usize,
}

impl SeverityCounts {
    /// Counts the severities of `findings`.
    pub fn of(findings: &[Finding]) -> SeverityCounts {
        let mut counts = SeverityCounts::default();
        for f in findings {
            *counts.slot(f.severity) += 1;
        }
        counts
    }

    fn slot(&mut self, severity: Severity) -> &mut usize {
        match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Negligible => &mut self.negligible,
            Severity::Unknown => &mut self.unknown,
        }
    }

    /// The count for one severity.
    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Negligible => self.negligible,
            Severity::Unknown => self.unknown,
        }
    }

    /// Findings of `severity` or graver (by [`Severity`]'s order).
    pub fn at_or_above(&self, severity: Severity) -> usize {
        Severity::ALL
            .into_iter()
            .filter(|s| *s >= severity)
            .map(|s| self.get(s))
            .sum()
    }

    /// All findings.
    pub fn total(&self) -> usize {
        Severity::ALL.into_iter().map(|s| self.get(s)).sum()
    }
}

impl fmt::Display for SeverityCounts {
    /// `critical 4, high 19, medium 64, low 68, negligible 0, unknown 30`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in Severity::ALL {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{} {}", s.as_str().to_ascii_lowercase(), self.get(s))?;
        }
        Ok(())
    }
}

/// A parsed scan report, whatever format it came in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanReport {
    /// The format the report was written in.
    pub format: ReportFormat,
    /// Scanner name and version (`"Trivy 0.74.0"`, `"grype 0.86.1"`), or just
    /// the name where the report records no version.
    pub tool: Option<String>,
    /// Every digest (`sha256:<hex>`, lower case, no `name@` prefix) the report
    /// names for its image: repo digests, manifest digest, image id.
    pub image_digests: Vec<String>,
    /// The image reference the scan was asked for, if recorded.
    pub image_name: Option<String>,
    /// Findings that count.
    pub findings: Vec<Finding>,
    /// Findings reported but suppressed (by the scanner or the ignore list);
    /// not counted by [`ScanReport::counts`].
    pub suppressed: Vec<Finding>,
}

/// Whether a report is about a given image (see [`ScanReport::belongs_to`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binding {
    /// The report names this digest of the image.
    Matches(String),
    /// The report names digests, none of them the image's.
    Mismatch {
        /// The digests the report names.
        named: Vec<String>,
    },
    /// The report names no digest at all, so it cannot be tied to an image.
    Unnamed,
}

impl ScanReport {
    /// Per-severity counts of [`ScanReport::findings`] (suppressed ones excluded).
    pub fn counts(&self) -> SeverityCounts {
        SeverityCounts::of(&self.findings)
    }

    /// Per-severity counts of [`ScanReport::suppressed`].
    pub fn suppressed_counts(&self) -> SeverityCounts {
        SeverityCounts::of(&self.suppressed)
    }

    /// Ties the report to an image, given that image's digests (manifest
    /// digest, config digest / image id; `name@sha256:…` forms are accepted).
    ///
    /// The first of `image_digests` that the report names wins.
    pub fn belongs_to(&self, image_digests: &[&str]) -> Binding {
        if self.image_digests.is_empty() {
            return Binding::Unnamed;
        }
        for wanted in image_digests {
            let Some(wanted) = normalize_digest(wanted) else {
                continue;
            };
            if self.image_digests.contains(&wanted) {
                return Binding::Matches(wanted);
            }
        }
        Binding::Mismatch {
            named: self.image_digests.clone(),
        }
    }
}

/// Parses a digest reference: `name@sha256:<hex>` or `sha256:<hex>`.
///
/// Returns `algorithm:hex` in lower case, or `None` when it is not a digest.
pub(super) fn normalize_digest(text: &str) -> Option<String> {
    let text = text.trim();
    let digest = text.rsplit_once('@').map_or(text, |(_, d)| d);
    let (algo, hex) = digest.split_once(':')?;
    let algo_ok = !algo.is_empty()
        && algo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'+' || b == b'.');
    let hex_ok = hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    (algo_ok && hex_ok).then(|| format!("{algo}:{}", hex.to_ascii_lowercase()))
}

/// Adds a digest to a list unless it is malformed or already there.
pub(super) fn push_digest(digests: &mut Vec<String>, text: &str) {
    if let Some(d) = normalize_digest(text) {
        if !digests.contains(&d) {
            digests.push(d);
        }
    }
}
