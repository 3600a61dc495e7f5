//! Typed access to the JSON fields of a report, each failure a [`ScanError`] naming the field.

use serde_json::{Map, Value};

use super::error::describe;
use super::{ReportFormat, ScanError};

/// The file and format being parsed, for building field errors.
pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) format: ReportFormat,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(file: &'a str, format: ReportFormat) -> Self {
        Ctx { file, format }
    }

    /// A field error at `path`; `found` of `None` means the field is missing.
    pub(super) fn field_error(
        &self,
        path: &str,
        expected: &str,
        found: Option<&Value>,
    ) -> ScanError {
        ScanError::Field {
            file: self.file.to_owned(),
            format: self.format,
            path: path.to_owned(),
            expected: expected.to_owned(),
            found: found.map_or_else(|| "nothing (the field is missing)".to_owned(), describe),
        }
    }

    /// `value` as an object.
    pub(super) fn object<'v>(
        &self,
        value: &'v Value,
        path: &str,
    ) -> Result<&'v Map<String, Value>, ScanError> {
        value
            .as_object()
            .ok_or_else(|| self.field_error(path, "an object", Some(value)))
    }

    /// `obj[key]` as an object; absent or null is `None`.
    pub(super) fn opt_object<'v>(
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
    pub(super) fn opt_array<'v>(
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
    pub(super) fn opt_str<'v>(
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
    pub(super) fn req_str<'v>(
        &self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<&'v str, ScanError> {
        self.opt_str(obj, key, path)?
            .ok_or_else(|| self.field_error(&join(path, key), "a string", obj.get(key)))
    }

    /// `obj[key]` as a list of strings; absent or null is empty.
    pub(super) fn opt_str_list<'v>(
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
pub(super) fn present<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// `path.key`, or `key` at the top level.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `Some(text)` unless it is empty or blank.
pub(super) fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}
