//! The sink's writes as records for a host to carry out (the Node action's wrapper, where the WASI
//! shim cannot replace or create files itself): each [`Backend`] write becomes one JSON line
//! `{"op":"replace"|"append","path":…,"data":<base64>}` appended to a journal file, which the
//! wrapper replays, in order, onto the real files (`action-js/wrapper.mjs`). Stdout stays stdout.
//! The contents are already redacted by the [`super::sink::Sink`] above.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::sink::{Backend, FsBackend, Redactor, Sink};

/// The variable naming the journal file; set by the Node action's wrapper.
pub const JOURNAL_ENV: &str = "IMAGE_PROMOTE_SINK_JOURNAL";

/// This process's sink: the file system, or — when a host named a journal in [`JOURNAL_ENV`]
/// (the Node action) — records the host replays.
#[must_use]
pub fn sink_for_this_process(redactor: Redactor) -> Sink {
    match JournalBackend::from_env() {
        Some(journal) => Sink::new(Box::new(journal), redactor),
        None => Sink::fs(redactor),
    }
}

/// Appends every file write to a journal instead of doing it. The journal is opened at the
/// first record and kept open: under the Node action opening, appending and closing are each a
/// round trip to the WASI shim's worker thread, so a record costs one write instead of about six.
/// Every record is written whole before the call returns (a run that traps still leaves the
/// records before it for the host).
#[derive(Debug)]
pub struct JournalBackend {
    journal: PathBuf,
    file: std::sync::Mutex<Option<std::fs::File>>,
}

impl JournalBackend {
    /// Records into `journal`.
    #[must_use]
    pub fn new(journal: PathBuf) -> Self {
        Self {
            journal,
            file: std::sync::Mutex::new(None),
        }
    }

    /// The journal a host named in [`JOURNAL_ENV`], if any.
    #[must_use]
    pub fn from_env() -> Option<Self> {
        std::env::var_os(JOURNAL_ENV)
            .filter(|j| !j.is_empty())
            .map(|j| Self::new(j.into()))
    }

    /// Records the process's exit code last: a WASI exit carries only success or failure.
    ///
    /// # Errors
    /// I/O errors.
    pub fn exit(&self, code: u8) -> std::io::Result<()> {
        self.write_line(&serde_json::json!({ "op": "exit", "code": code }))
    }

    fn record(&self, op: &str, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        self.write_line(&serde_json::json!({
            "op": op,
            "path": path.to_string_lossy(),
            "data": base64::engine::general_purpose::STANDARD.encode(contents),
        }))
    }

    fn write_line(&self, line: &serde_json::Value) -> std::io::Result<()> {
        let mut file = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("the journal's lock is poisoned"))?;
        if file.is_none() {
            *file = Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.journal)?,
            );
        }
        match file.as_mut() {
            Some(f) => f.write_all(format!("{line}\n").as_bytes()),
            None => Err(std::io::Error::other("the journal is not open")),
        }
    }
}

impl Backend for JournalBackend {
    fn replace(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        self.record("replace", path, contents)
    }

    fn append(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        self.record("append", path, contents)
    }

    fn stdout(&self, contents: &[u8]) {
        FsBackend.stdout(contents);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_become_ordered_records_and_touch_no_target() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.jsonl");
        let backend = JournalBackend::new(journal.clone());
        let target = dir.path().join("out");
        backend.replace(&target, b"a=1\n").unwrap();
        backend.append(&target, b"b=2\n").unwrap();
        assert!(!target.exists());
        let text = std::fs::read_to_string(&journal).unwrap();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["op"], "replace");
        assert_eq!(records[1]["op"], "append");
        assert_eq!(records[1]["path"], target.to_string_lossy().as_ref());
        assert_eq!(records[1]["data"], "Yj0yCg==");
        backend.exit(3).unwrap();
        let last = std::fs::read_to_string(&journal).unwrap();
        assert_eq!(last.lines().last(), Some(r#"{"code":3,"op":"exit"}"#));
        // Records appended by someone else in between are kept (append mode, one handle).
        std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap()
            .write_all(b"{\"op\":\"other\"}\n")
            .unwrap();
        backend.append(&target, b"c=3\n").unwrap();
        let text = std::fs::read_to_string(&journal).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[3], r#"{"op":"other"}"#);
        assert!(lines[4].contains("\"append\""), "{text}");
    }
}
