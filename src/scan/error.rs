//! Why a scan report could not be read, and the messages that say so.

use serde_json::{Map, Value};

use super::ReportFormat;

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

/// The error for a file whose first non-blank byte does not start JSON.
pub(super) fn not_json(bytes: &[u8], start: usize, file: String) -> ScanError {
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
pub(super) fn syntax_error(file: String, err: &serde_json::Error) -> ScanError {
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
pub(super) fn looks_binary(bytes: &[u8]) -> bool {
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
pub(super) fn json_start_line(bytes: &[u8]) -> Option<usize> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .skip(1)
        .find(|(_, l)| l.first() == Some(&b'{'))
        .map(|(i, _)| i + 1)
}

/// The start of the first line of `bytes`, at most 60 characters, printable.
pub(super) fn snippet(bytes: &[u8]) -> String {
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
pub(super) fn describe(v: &Value) -> String {
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
pub(super) fn describe_keys(obj: &Map<String, Value>) -> String {
    if obj.is_empty() {
        return "an empty object".to_owned();
    }
    let keys: Vec<String> = obj.keys().take(8).map(|k| format!("`{k}`")).collect();
    let more = if obj.len() > 8 { ", …" } else { "" };
    format!("an object with keys {}{more}", keys.join(", "))
}
