//! The audit JSON: the [`Promotion`] record, schema-versioned, written atomically into the audit
//! directory as `promotion-<id>.json`. Its JSON Schema is generated from the Rust types
//! ([`schema_json`]) and committed as `schemas/audit.schema.json`; a unit test fails when the two
//! differ. Regenerate with `IMAGE_PROMOTE_BLESS=1 cargo test --lib report::audit`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::report::record::Promotion;
use crate::report::sink::Sink;

/// The `$id` the committed schema carries.
pub const SCHEMA_ID: &str =
    "https://github.com/image-promote/image-promote/blob/main/schemas/audit.schema.json";

/// The audit file name for a promotion id.
#[must_use]
pub fn file_name(id: &str) -> String {
    format!("promotion-{id}.json")
}

/// Serializes `record` (pretty, trailing newline).
///
/// # Errors
/// An internal error if serialization fails.
pub fn to_json(record: &Promotion) -> Result<String> {
    let mut s = serde_json::to_string_pretty(record)
        .map_err(|e| Error::internal(format!("cannot serialize the audit record: {e}")))?;
    s.push('\n');
    Ok(s)
}

/// Writes the audit of `record` into `dir` atomically; returns its path.
///
/// # Errors
/// Write errors naming the path.
pub fn write(sink: &Sink, dir: &Path, record: &Promotion) -> Result<PathBuf> {
    let path = dir.join(file_name(&record.id));
    sink.replace(&path, &to_json(record)?)?;
    Ok(path)
}

/// The JSON Schema of the audit document, generated from [`Promotion`].
#[must_use]
pub fn schema() -> serde_json::Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(Promotion)).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), SCHEMA_ID.into());
    }
    schema
}

/// The schema as committed in `schemas/audit.schema.json` (pretty, trailing newline).
#[must_use]
pub fn schema_json() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::record::{Approval, Request, State, Status};

    fn committed_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/audit.schema.json")
    }

    /// The committed schema equals the generated one. To regenerate after changing the record
    /// types: `IMAGE_PROMOTE_BLESS=1 cargo test --lib report::audit`.
    #[test]
    fn committed_schema_is_current() {
        let generated = schema_json();
        if std::env::var_os("IMAGE_PROMOTE_BLESS").is_some() {
            std::fs::create_dir_all(committed_path().parent().unwrap()).unwrap();
            std::fs::write(committed_path(), &generated).unwrap();
        }
        let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
        assert!(
            committed == generated,
            "schemas/audit.schema.json is stale; regenerate it with \
             `IMAGE_PROMOTE_BLESS=1 cargo test --lib report::audit` and commit the result"
        );
    }

    fn sample() -> Promotion {
        let mut p = Promotion::new(
            Request {
                source: "a/b:1".into(),
                destination: "c/d:1".into(),
                ..Request::default()
            },
            None,
            Approval {
                environment: Some("production".into()),
                approvers: vec![],
                ..Approval::default()
            },
        );
        p.enter(State::Completed, std::time::Instant::now());
        p.status = Status::Promoted;
        p
    }

    #[test]
    fn a_record_validates_and_broken_ones_do_not() {
        let validator = jsonschema::validator_for(&schema()).unwrap();
        let good = serde_json::to_value(sample()).unwrap();
        assert!(validator.is_valid(&good), "{good}");

        let mut bad = good.clone();
        bad["status"] = "forced".into();
        assert!(!validator.is_valid(&bad), "status outside the enum");
        let mut bad = good.clone();
        bad.as_object_mut().unwrap().remove("transitions");
        assert!(!validator.is_valid(&bad), "missing transitions");
        let mut bad = good.clone();
        bad["transitions"][0]["state"] = "teleporting".into();
        assert!(!validator.is_valid(&bad), "unknown state");
        let mut bad = good;
        bad["schema_version"] = "one".into();
        assert!(!validator.is_valid(&bad), "schema_version not a number");
    }

    #[test]
    fn writes_atomically_named_by_id() {
        let backend = crate::report::sink::MemoryBackend::default();
        let sink = Sink::new(Box::new(backend.clone()), Default::default());
        let p = sample();
        let path = write(&sink, Path::new("/audit"), &p).unwrap();
        assert_eq!(
            path,
            Path::new("/audit").join(format!("promotion-{}.json", p.id))
        );
        let text = backend.file(&path).unwrap();
        let back: Promotion = serde_json::from_str(&text).unwrap();
        assert_eq!(back.status, Status::Promoted);
    }
}
