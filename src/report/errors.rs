//! The errors log: one JSON line per classified error, appended to `errors.jsonl` in the audit
//! directory, each line naming the promotion it belongs to. Input: the [`Promotion`] record;
//! output: the appended lines (redacted by the [`Sink`]).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report::record::{ErrorRecord, Promotion};
use crate::report::sink::Sink;

/// The log's file name inside the audit directory.
pub const FILE_NAME: &str = "errors.jsonl";

#[derive(Serialize)]
struct Line<'a> {
    promotion: &'a str,
    #[serde(flatten)]
    error: &'a ErrorRecord,
}

/// The JSON lines for `record`'s errors (empty when there are none).
///
/// # Errors
/// An internal error if serialization fails.
pub fn render(record: &Promotion) -> Result<String> {
    let mut out = String::new();
    for error in &record.errors {
        let line = serde_json::to_string(&Line {
            promotion: &record.id,
            error,
        })
        .map_err(|e| Error::internal(format!("cannot serialize an error record: {e}")))?;
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// Appends `record`'s errors to `dir/errors.jsonl` (nothing, not even the file, when there are
/// none); returns the path when it wrote.
///
/// # Errors
/// Write errors naming the path.
pub fn append(sink: &Sink, dir: &Path, record: &Promotion) -> Result<Option<PathBuf>> {
    let text = render(record)?;
    if text.is_empty() {
        return Ok(None);
    }
    let path = dir.join(FILE_NAME);
    sink.append(&path, &text)?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::record::{Approval, Request};

    #[test]
    fn one_line_per_error_with_the_promotion_id() {
        let mut p = Promotion::new(Request::default(), None, Approval::default());
        p.record_error(&Error::permission("push denied").hint("check the credentials"));
        p.record_error(&Error::network("reset"));
        let text = render(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["promotion"], p.id.as_str());
        assert_eq!(lines[0]["category"], "PERMISSION");
        assert_eq!(lines[0]["severity"], "CRITICAL");
        assert_eq!(lines[0]["hint"], "check the credentials");
        assert_eq!(lines[1]["retryable"], true);
        assert_eq!(lines[1]["state"], "initializing");
    }
}
