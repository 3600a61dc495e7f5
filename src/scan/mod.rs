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

mod error;
mod fields;
mod grype;
pub mod ignore;
mod model;
mod sarif;
mod trivy;

use serde_json::{Map, Value};

pub use error::ScanError;
pub use ignore::{AppliedIgnore, Date, DateError, IgnoreEntry, IgnoreOutcome, apply_ignores};
pub use model::{
    Binding, Finding, ParseSeverityError, ReportFormat, ScanReport, Severity, SeverityCounts,
    SuppressedBy, Suppression,
};

use error::{describe, describe_keys, not_json, syntax_error};
use fields::Ctx;

/// What every "expected …" message about the whole file says a report is.
const EXPECTED_REPORT: &str =
    "a Trivy (`trivy --format json`), Grype (`grype -o json`) or SARIF 2.1.0 report";

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

#[cfg(test)]
mod tests;
