//! Vulnerability scan reports: one model for Trivy JSON, Grype JSON and SARIF 2.1.0.
//!
//! [`parse_report`] detects the format of a report file and turns it into a
//! [`ScanReport`] (findings, suppressed findings, the image digests it names);
//! [`apply_ignores`] applies a project ignore list to such a report.

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod grype;
pub mod ignore;
mod sarif;
mod trivy;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use ignore::{AppliedIgnore, Date, DateError, IgnoreEntry, IgnoreOutcome, apply_ignores};

/// What every "expected …" message about the whole file says a report is.
const EXPECTED_REPORT: &str =
    "a Trivy (`trivy --format json`), Grype (`grype -o json`) or SARIF 2.1.0 report";

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

/// Why a scan report could not be read. Every message names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The file is empty or blank.
    #[error(
        "scan report {file}: the file is empty; expected a Trivy (`trivy --format json`), Grype (`grype -o json`) or SARIF 2.1.0 report"
    )]
    Empty {
        /// The report's name as given to [`parse_report`].
        file: String,
    },
    /// The file holds binary data.
    #[error(
        "scan report {file}: line 1 column 1: expected JSON, found binary data ({len} bytes starting {head}){hint}"
    )]
    Binary {
        /// The report's name as given to [`parse_report`].
        file: String,
        /// Size of the file in bytes.
        len: usize,
        /// The first bytes, in hex.
        head: String,
        /// Extra advice (e.g. that it looks compressed), empty or starting `; `.
        hint: String,
    },
    /// The file is text but does not start with a JSON document.
    #[error(
        "scan report {file}: line {line} column {column}: expected JSON, found `{found}` — {hint}"
    )]
    NotJson {
        /// The report's name as given to [`parse_report`].
        file: String,
        /// 1-based line of the first non-blank character.
        line: usize,
        /// 1-based column of the first non-blank character.
        column: usize,
        /// The start of that line.
        found: String,
        /// What to pass instead.
        hint: String,
    },
    /// The JSON stops before the document is complete.
    #[error(
        "scan report {file}: line {line} column {column}: the JSON ends early; expected the rest of the document — the file looks truncated (was it copied while the scanner was still writing it?)"
    )]
    Truncated {
        /// The report's name as given to [`parse_report`].
        file: String,
        /// 1-based line where the input ended.
        line: usize,
        /// 1-based column where the input ended.
        column: usize,
    },
    /// The JSON is malformed.
    #[error("scan report {file}: line {line} column {column}: invalid JSON: {message}")]
    Syntax {
        /// The report's name as given to [`parse_report`].
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser expected or found.
        message: String,
    },
    /// Valid JSON, but not a report this crate knows.
    #[error("scan report {file}: unrecognised JSON: found {found}; expected {expected}")]
    UnknownFormat {
        /// The report's name as given to [`parse_report`].
        file: String,
        /// What the document holds instead.
        found: String,
        /// The formats that are understood.
        expected: String,
    },
    /// A known format, but a field holds the wrong kind of value.
    #[error("scan report {file} ({format}): field `{path}`: expected {expected}, found {found}")]
    Field {
        /// The report's name as given to [`parse_report`].
        file: String,
        /// The detected format.
        format: ReportFormat,
        /// JSON path of the field (`Results[2].Vulnerabilities[0].Severity`).
        path: String,
        /// What the field should hold.
        expected: String,
        /// What it holds.
        found: String,
    },
}

/// Parses a Trivy JSON, Grype JSON or SARIF 2.1.0 report, detecting which.
///
/// `source_name` (usually the file path) is only used in error messages.
/// Never panics, whatever `bytes` holds.
pub fn parse_report(bytes: &[u8], source_name: &str) -> Result<ScanReport, ScanError> {
    let file = source_name.to_owned();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let Some(start) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err(ScanError::Empty { file });
    };
    let first = bytes.get(start).copied().unwrap_or(b' ');
    let root: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(_) if first != b'{' && first != b'[' => return Err(not_json(bytes, start, file)),
        Err(e) => return Err(syntax_error(file, &e)),
    };
    let Value::Object(obj) = &root else {
        return Err(ScanError::UnknownFormat {
            file,
            found: match root {
                // Trivy before SchemaVersion 2 wrote a bare array of results.
                Value::Array(_) => format!(
                    "{}, not an object (old Trivy wrote an array: use a Trivy with SchemaVersion 2)",
                    describe(&root)
                ),
                _ => format!("{}, not an object", describe(&root)),
            },
            expected: EXPECTED_REPORT.to_owned(),
        });
    };
    match detect(obj) {
        Some(ReportFormat::Trivy) => trivy::parse(obj, &Ctx::new(source_name, ReportFormat::Trivy)),
        Some(ReportFormat::Grype) => grype::parse(obj, &Ctx::new(source_name, ReportFormat::Grype)),
        Some(ReportFormat::Sarif) => sarif::parse(obj, &Ctx::new(source_name, ReportFormat::Sarif)),
        None => Err(ScanError::UnknownFormat {
            file,
            found: describe_keys(obj),
            expected: format!(
                "{EXPECTED_REPORT}: Trivy has `SchemaVersion` and `Results`, Grype `matches` and `descriptor`, SARIF `runs` and `version: \"2.1.0\"`"
            ),
        }),
    }
}

/// Which format a top-level JSON object is, by its keys.
fn detect(obj: &Map<String, Value>) -> Option<ReportFormat> {
    if obj.contains_key("SchemaVersion")
        && (obj.contains_key("Results") || obj.contains_key("ArtifactName"))
    {
        return Some(ReportFormat::Trivy);
    }
    if obj.contains_key("matches") && (obj.contains_key("descriptor") || obj.contains_key("source"))
    {
        return Some(ReportFormat::Grype);
    }
    let schema_says_sarif = obj
        .get("$schema")
        .and_then(Value::as_str)
        .is_some_and(|s| s.to_ascii_lowercase().contains("sarif"));
    let version_says_sarif = obj.get("version").and_then(Value::as_str) == Some("2.1.0");
    if obj.contains_key("runs") && (schema_says_sarif || version_says_sarif) {
        return Some(ReportFormat::Sarif);
    }
    None
}

/// The error for a file whose first non-blank byte does not start JSON.
fn not_json(bytes: &[u8], start: usize, file: String) -> ScanError {
    if looks_binary(bytes) {
        let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let hint = if bytes.starts_with(b"\x1f\x8b") {
            "; it looks gzip-compressed: decompress it first"
        } else {
            ""
        };
        return ScanError::Binary {
            file,
            len: bytes.len(),
            head: head.join(" "),
            hint: hint.to_owned(),
        };
    }
    let before = bytes.get(..start).unwrap_or_default();
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = start - line_start + 1;
    let rest = bytes.get(start..).unwrap_or_default();
    let found = snippet(rest);
    let mut hint = "pass the report file written by `trivy --format json`, `grype -o json` or a SARIF formatter, not the console log".to_owned();
    if let Some(json_line) = json_start_line(bytes) {
        hint.push_str(&format!(
            " (the JSON seems to start at line {json_line}: drop the lines before it)"
        ));
    }
    ScanError::NotJson {
        file,
        line,
        column,
        found,
        hint,
    }
}

/// The error for a document that starts like JSON but does not parse.
fn syntax_error(file: String, err: &serde_json::Error) -> ScanError {
    if err.is_eof() {
        return ScanError::Truncated {
            file,
            line: err.line(),
            column: err.column(),
        };
    }
    let full = err.to_string();
    let mut message = match full.rsplit_once(" at line ") {
        Some((msg, _)) => msg.to_owned(),
        None => full,
    };
    if message == "trailing characters" {
        message = "other text follows the JSON document; expected the file to end there (was console output appended to the report?)".to_owned();
    }
    ScanError::Syntax {
        file,
        line: err.line(),
        column: err.column(),
        message,
    }
}

/// True when the first KiB holds a NUL or bytes that are not UTF-8.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = bytes.get(..1024).unwrap_or(bytes);
    if head.contains(&0) {
        return true;
    }
    match std::str::from_utf8(head) {
        Ok(_) => false,
        // `error_len() == None` only means a character is cut at the 1 KiB mark.
        Err(e) => e.error_len().is_some(),
    }
}

/// The 1-based number of the first line (after the first) that starts with `{`.
fn json_start_line(bytes: &[u8]) -> Option<usize> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .skip(1)
        .find(|(_, l)| l.first() == Some(&b'{'))
        .map(|(i, _)| i + 1)
}

/// The start of the first line of `bytes`, at most 60 characters, printable.
fn snippet(bytes: &[u8]) -> String {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(line);
    let mut out: String = text
        .chars()
        .take(60)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let out_trimmed_len = out.trim_end().len();
    out.truncate(out_trimmed_len);
    if text.chars().count() > 60 {
        out.push_str(" ...");
    }
    out
}

/// What a JSON value is, for error messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("a string (\"{short}…\")")
            } else {
                format!("a string (\"{short}\")")
            }
        }
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Object(o) => format!("an object with {} keys", o.len()),
    }
}

/// The top-level keys of an unrecognised object, for error messages.
fn describe_keys(obj: &Map<String, Value>) -> String {
    if obj.is_empty() {
        return "an empty object".to_owned();
    }
    let keys: Vec<String> = obj.keys().take(8).map(|k| format!("`{k}`")).collect();
    let more = if obj.len() > 8 { ", …" } else { "" };
    format!("an object with keys {}{more}", keys.join(", "))
}

/// Parses a digest reference: `name@sha256:<hex>` or `sha256:<hex>`.
///
/// Returns `algorithm:hex` in lower case, or `None` when it is not a digest.
fn normalize_digest(text: &str) -> Option<String> {
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
fn push_digest(digests: &mut Vec<String>, text: &str) {
    if let Some(d) = normalize_digest(text) {
        if !digests.contains(&d) {
            digests.push(d);
        }
    }
}

/// The file and format being parsed, for building field errors.
struct Ctx<'a> {
    file: &'a str,
    format: ReportFormat,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, format: ReportFormat) -> Self {
        Ctx { file, format }
    }

    /// A field error at `path`; `found` of `None` means the field is missing.
    fn field_error(&self, path: &str, expected: &str, found: Option<&Value>) -> ScanError {
        ScanError::Field {
            file: self.file.to_owned(),
            format: self.format,
            path: path.to_owned(),
            expected: expected.to_owned(),
            found: found.map_or_else(|| "nothing (the field is missing)".to_owned(), describe),
        }
    }

    /// `value` as an object.
    fn object<'v>(
        &self,
        value: &'v Value,
        path: &str,
    ) -> Result<&'v Map<String, Value>, ScanError> {
        value
            .as_object()
            .ok_or_else(|| self.field_error(path, "an object", Some(value)))
    }

    /// `obj[key]` as an object; absent or null is `None`.
    fn opt_object<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v Map<String, Value>>, ScanError> {
        match present(obj, key) {
            None => Ok(None),
            Some(v) => self.object(v, &join(path, key)).map(Some),
        }
    }

    /// `obj[key]` as an array; absent or null is empty.
    fn opt_array<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'v [Value], ScanError> {
        match present(obj, key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(v) => Err(self.field_error(&join(path, key), "an array", Some(v))),
        }
    }

    /// `obj[key]` as a string; absent or null is `None`.
    fn opt_str<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v str>, ScanError> {
        match present(obj, key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.field_error(&join(path, key), "a string", Some(v))),
        }
    }

    /// `obj[key]` as a string, which must be there.
    fn req_str<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'v str, ScanError> {
        self.opt_str(obj, key, path)?
            .ok_or_else(|| self.field_error(&join(path, key), "a string", obj.get(key)))
    }

    /// `obj[key]` as a list of strings; absent or null is empty.
    fn opt_str_list<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Vec<&'v str>, ScanError> {
        let items = self.opt_array(obj, key, path)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.as_str()),
                other => {
                    let p = format!("{}[{i}]", join(path, key));
                    return Err(self.field_error(&p, "a string", Some(other)));
                }
            }
        }
        Ok(out)
    }
}

/// `obj[key]`, treating JSON `null` as absent.
fn present<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// `path.key`, or `key` at the top level.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `Some(text)` unless it is empty or blank.
fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Directory of the real reports (see its README.md for the figures).
    pub(crate) const DATA: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/scan-reports/");

    pub(crate) fn read(name: &str) -> Vec<u8> {
        let path = format!("{DATA}{name}");
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    pub(crate) fn parse(name: &str) -> ScanReport {
        parse_report(&read(name), name).unwrap_or_else(|e| panic!("{e}"))
    }

    const ALL_FILES: [&str; 9] = [
        "trivy-debian13-python-critical.json",
        "trivy-alpine-gobinary-zero-vulns.json",
        "trivy-alpine-nodejs-unknown-severity.json",
        "trivy-ubi7-critical-2022.json",
        "grype-debian8-redis-critical.json",
        "grype-chainguard-gomodules-critical.json",
        "trivy-debian13-python-critical.sarif",
        "grype-wolfi-nginx-levels.sarif",
        "trivy-alpine-zero-results.sarif",
    ];

    fn err_of(bytes: &[u8], name: &str) -> String {
        match parse_report(bytes, name) {
            Ok(r) => panic!("{name}: expected an error, parsed {:?} report", r.format),
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(name), "message does not name the file: {msg}");
                msg
            }
        }
    }

    #[test]
    fn detects_every_format() {
        let formats: Vec<ReportFormat> = ALL_FILES.iter().map(|f| parse(f).format).collect();
        use ReportFormat::*;
        assert_eq!(
            formats,
            [
                Trivy, Trivy, Trivy, Trivy, Grype, Grype, Sarif, Sarif, Sarif
            ]
        );
    }

    #[test]
    fn severity_order_text_and_serde() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Low > Severity::Negligible);
        assert!(Severity::Negligible > Severity::Unknown);
        assert_eq!(Severity::from_text("Negligible"), Severity::Negligible);
        assert_eq!(Severity::from_text("bogus"), Severity::Unknown);
        assert_eq!(" high ".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
        assert_eq!(Severity::Critical.to_string(), "CRITICAL");
        assert_eq!(
            serde_json::to_string(&Severity::Critical).unwrap(),
            "\"critical\""
        );
    }

    #[test]
    fn counts_display_and_threshold() {
        let c = parse("trivy-debian13-python-critical.json").counts();
        assert_eq!(
            c.to_string(),
            "critical 4, high 19, medium 64, low 68, negligible 0, unknown 30"
        );
        assert_eq!(c.at_or_above(Severity::High), 23);
        assert_eq!(c.total(), 185);
    }

    #[test]
    fn belongs_to_matching_mismatching_unnamed() {
        let r = parse("grype-debian8-redis-critical.json");
        let repo = "sha256:730b765df9fe96af414da64a2b67f3a5f70b8fd13a31e5096fee4807ed802e20";
        assert_eq!(r.belongs_to(&[repo]), Binding::Matches(repo.to_owned()));
        let with_name = format!(
            "docker.io/library/redis@{}",
            repo.to_uppercase().replace("SHA256", "sha256")
        );
        assert_eq!(
            r.belongs_to(&[&with_name]),
            Binding::Matches(repo.to_owned())
        );
        let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        match r.belongs_to(&[other, "not a digest"]) {
            Binding::Mismatch { named } => {
                assert_eq!(named.len(), 3);
                assert!(named.contains(&repo.to_owned()));
            }
            b => panic!("expected a mismatch, got {b:?}"),
        }
        let mut unnamed = r.clone();
        unnamed.image_digests.clear();
        assert_eq!(unnamed.belongs_to(&[repo]), Binding::Unnamed);
        // The Trivy SARIF names its image via run properties; Grype SARIF via locations.
        let s = parse("trivy-alpine-zero-results.sarif");
        let d = "sha256:68a13d7619fbeadb330f5515fdca746679b20c91d1ea3341d6f6c0dec69c35f0";
        assert_eq!(s.belongs_to(&[other, d]), Binding::Matches(d.to_owned()));
    }

    #[test]
    fn log_line_before_json_names_file_position_and_fix() {
        let mut bytes =
            b"2024-01-01T10:00:00.000Z\tINFO\tVulnerability scanning is enabled\n".to_vec();
        bytes.extend(read("trivy-alpine-nodejs-unknown-severity.json"));
        let msg = err_of(&bytes, "trivy.json");
        assert!(msg.starts_with("scan report trivy.json: line 1 column 1: expected JSON, found `2024-01-01T10:00:00.000Z"), "{msg}");
        assert!(msg.contains("not the console log"), "{msg}");
        assert!(msg.contains("the JSON seems to start at line 2"), "{msg}");
    }

    #[test]
    fn truncated_json_is_reported_as_truncated() {
        let bytes = read("grype-chainguard-gomodules-critical.json");
        let msg = err_of(&bytes[..bytes.len() / 2], "grype.json");
        assert!(msg.contains("line 1 column"), "{msg}");
        assert!(msg.contains("truncated"), "{msg}");
    }

    #[test]
    fn trailing_console_output_is_a_syntax_error() {
        let mut bytes = read("trivy-alpine-zero-results.sarif");
        bytes.extend(b"\nDone in 3s\n");
        let msg = err_of(&bytes, "out.sarif");
        assert!(
            msg.starts_with(
                "scan report out.sarif: line 34 column 1: invalid JSON: other text follows"
            ),
            "{msg}"
        );
    }

    #[test]
    fn unknown_json_shapes() {
        let msg = err_of(br#"{"foo": 1, "bar": [2]}"#, "x.json");
        assert!(
            msg.contains("unrecognised JSON: found an object with keys `bar`, `foo`"),
            "{msg}"
        );
        assert!(msg.contains("SchemaVersion"), "{msg}");
        let msg = err_of(b"[1, 2, 3]", "list.json");
        assert!(msg.contains("an array of 3 items, not an object"), "{msg}");
        let msg = err_of(b"{}", "empty-object.json");
        assert!(msg.contains("an empty object"), "{msg}");
        // CycloneDX SBOM: JSON, but not a vulnerability report this crate reads.
        let msg = err_of(
            br#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#,
            "sbom.json",
        );
        assert!(msg.contains("`bomFormat`"), "{msg}");
    }

    #[test]
    fn empty_and_blank_files() {
        for bytes in [&b""[..], b"  \n\t\r\n", b"\xEF\xBB\xBF"] {
            let msg = err_of(bytes, "empty.json");
            assert!(msg.contains("the file is empty"), "{msg}");
        }
    }

    #[test]
    fn binary_garbage() {
        let gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xfe";
        let msg = err_of(gz, "report.json.gz");
        assert!(
            msg.contains("binary data (12 bytes starting 1f 8b 08 00)"),
            "{msg}"
        );
        assert!(msg.contains("gzip"), "{msg}");
        let mut rng = Rng(7);
        let noise: Vec<u8> = (0..4096).map(|_| rng.byte()).collect();
        let msg = err_of(&noise, "noise.bin");
        assert!(msg.contains("expected JSON"), "{msg}");
    }

    #[test]
    fn field_errors_name_the_path() {
        let msg = err_of(
            br#"{"SchemaVersion":2,"Results":[{"Vulnerabilities":[{"VulnerabilityID":"CVE-1","PkgName":"a","Severity":7}]}]}"#,
            "t.json",
        );
        assert_eq!(
            msg,
            "scan report t.json (Trivy JSON): field `Results[0].Vulnerabilities[0].Severity`: expected a string, found a number (7)"
        );
        let msg = err_of(br#"{"matches":{},"descriptor":{}}"#, "g.json");
        assert!(
            msg.contains("field `matches`: expected an array, found an object"),
            "{msg}"
        );
        let msg = err_of(
            br#"{"version":"2.1.0","runs":[{"results":[{"ruleId":"X"}]}]}"#,
            "s.sarif",
        );
        assert!(
            msg.contains("field `runs[0].tool`: expected an object, found nothing"),
            "{msg}"
        );
        let msg = err_of(
            br#"{"version":"2.0.0","$schema":"sarif-2.0.0","runs":[]}"#,
            "old.sarif",
        );
        assert!(msg.contains("field `version`: expected \"2.1.0\""), "{msg}");
    }

    /// A tiny deterministic PRNG (xorshift64*), so the test needs no crate.
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        pub(crate) fn byte(&mut self) -> u8 {
            (self.next() >> 32) as u8
        }
    }

    /// Parses `bytes`; any error must name the file. A panic fails the test.
    fn survive(bytes: &[u8], name: &str) -> bool {
        match parse_report(bytes, name) {
            Ok(r) => {
                let _ = r.counts();
                true
            }
            Err(e) => {
                assert!(e.to_string().contains(name), "{e}");
                false
            }
        }
    }

    #[test]
    fn truncations_never_panic() {
        for name in [
            "trivy-alpine-nodejs-unknown-severity.json",
            "grype-chainguard-gomodules-critical.json",
            "trivy-alpine-zero-results.sarif",
        ] {
            let bytes = read(name);
            let mut cut = 0;
            while cut < bytes.len() {
                // A cut inside trailing whitespace may still parse; anything else must fail.
                let ok = survive(&bytes[..cut], name);
                assert!(
                    !ok || bytes[cut..].iter().all(u8::is_ascii_whitespace),
                    "{name} cut at {cut}"
                );
                cut += 97;
            }
        }
    }

    #[test]
    fn byte_mutations_never_panic() {
        const INTERESTING: &[u8] = b"{}[]\":,0-9.eE+ntfu\\\x00\xff";
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for name in [
            "trivy-alpine-nodejs-unknown-severity.json",
            "trivy-alpine-zero-results.sarif",
        ] {
            let original = read(name);
            for _ in 0..1500 {
                let mut bytes = original.clone();
                for _ in 0..=rng.below(3) {
                    let at = rng.below(bytes.len());
                    let b = if rng.below(2) == 0 {
                        INTERESTING[rng.below(INTERESTING.len())]
                    } else {
                        rng.byte()
                    };
                    match rng.below(3) {
                        0 => bytes[at] = b,
                        1 => bytes.insert(at, b),
                        _ => {
                            bytes.remove(at);
                        }
                    }
                }
                survive(&bytes, name);
            }
        }
    }

    /// Replaces one random node of `v` with a value of a random other kind.
    fn mutate_value(v: &mut Value, rng: &mut Rng, depth: u32) {
        let descend = depth < 12 && rng.below(5) != 0;
        match v {
            Value::Object(o) if descend && !o.is_empty() => {
                let i = rng.below(o.len());
                if let Some((_, child)) = o.iter_mut().nth(i) {
                    return mutate_value(child, rng, depth + 1);
                }
            }
            Value::Array(a) if descend && !a.is_empty() => {
                let i = rng.below(a.len());
                return mutate_value(&mut a[i], rng, depth + 1);
            }
            _ => {}
        }
        *v = match rng.below(8) {
            0 => Value::Null,
            1 => Value::Bool(true),
            2 => serde_json::json!(-1.5e300),
            3 => serde_json::json!(""),
            4 => serde_json::json!("NaN"),
            5 => serde_json::json!([]),
            6 => serde_json::json!({}),
            _ => serde_json::json!([null, 1, "x", {"a": []}]),
        };
    }

    #[test]
    fn structural_mutations_never_panic() {
        let mut rng = Rng(42);
        for (name, rounds) in [
            ("trivy-alpine-nodejs-unknown-severity.json", 600),
            ("grype-chainguard-gomodules-critical.json", 300),
            ("trivy-alpine-zero-results.sarif", 300),
            ("trivy-debian13-python-critical.sarif", 40),
            ("grype-wolfi-nginx-levels.sarif", 40),
        ] {
            let original: Value = serde_json::from_slice(&read(name)).unwrap();
            for _ in 0..rounds {
                let mut v = original.clone();
                for _ in 0..=rng.below(3) {
                    mutate_value(&mut v, &mut rng, 0);
                }
                survive(&serde_json::to_vec(&v).unwrap(), name);
            }
        }
    }
}
