//! The one place reports leave the process (docs/architecture.md, Seams): files (audit, errors log,
//! `$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY`) and log lines on stdout all go through [`Sink`],
//! which redacts every registered secret first (invariant 7). A [`Backend`] does the raw I/O, so
//! a JS wrapper (or a test) can take it over.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use crate::error::{Error, Result};

/// Raw I/O under the sink.
pub trait Backend: Send + Sync {
    /// Replaces `path` with `contents` atomically (a reader sees the old or the new file).
    ///
    /// # Errors
    /// I/O errors.
    fn replace(&self, path: &Path, contents: &[u8]) -> std::io::Result<()>;
    /// Appends `contents` to `path`, creating it.
    ///
    /// # Errors
    /// I/O errors.
    fn append(&self, path: &Path, contents: &[u8]) -> std::io::Result<()>;
    /// Writes to standard output.
    fn stdout(&self, contents: &[u8]);
}

/// The local file system and the process's stdout.
#[derive(Debug, Default)]
pub struct FsBackend;

impl Backend for FsBackend {
    fn replace(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let result = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(contents)?;
            file.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn append(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(contents)
    }

    fn stdout(&self, contents: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(contents);
        let _ = out.flush();
    }
}

/// Files written to a [`MemoryBackend`], in order: (path, contents, appended).
pub type WrittenFiles = Arc<Mutex<Vec<(PathBuf, Vec<u8>, bool)>>>;

/// Captures everything in memory (tests, and hosts that take the writes over).
#[derive(Debug, Default, Clone)]
pub struct MemoryBackend {
    /// Files as written.
    pub files: WrittenFiles,
    /// Everything written to stdout.
    pub stdout: Arc<Mutex<Vec<u8>>>,
}

impl MemoryBackend {
    /// The current contents of `path` (replacements and appends applied in order).
    #[must_use]
    pub fn file(&self, path: &Path) -> Option<String> {
        let files = self.files.lock().ok()?;
        let mut out: Option<Vec<u8>> = None;
        for (p, c, appended) in files.iter() {
            if p == path {
                if *appended {
                    out.get_or_insert_with(Vec::new).extend_from_slice(c);
                } else {
                    out = Some(c.clone());
                }
            }
        }
        out.map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Everything written to stdout.
    #[must_use]
    pub fn stdout_text(&self) -> String {
        self.stdout
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Backend for MemoryBackend {
    fn replace(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        if let Ok(mut f) = self.files.lock() {
            f.push((path.to_owned(), contents.to_vec(), false));
        }
        Ok(())
    }

    fn append(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        if let Ok(mut f) = self.files.lock() {
            f.push((path.to_owned(), contents.to_vec(), true));
        }
        Ok(())
    }

    fn stdout(&self, contents: &[u8]) {
        if let Ok(mut s) = self.stdout.lock() {
            s.extend_from_slice(contents);
        }
    }
}

/// Replaces secret values (raw, JSON-escaped, and base64 of `user:secret` forms) with `***`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// Registers a secret; `username` adds the `Basic` header form.
    pub fn add(&mut self, secret: &str, username: Option<&str>) {
        if secret.is_empty() {
            return;
        }
        let mut forms = vec![secret.to_owned()];
        if let Ok(json) = serde_json::to_string(secret) {
            forms.push(json.trim_matches('"').to_owned());
        }
        // Multi-line secrets (PEM keys) are also masked line by line.
        forms.extend(
            secret
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 8)
                .map(str::to_owned),
        );
        if let Some(user) = username {
            forms
                .push(base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")));
        }
        for f in forms {
            if !f.is_empty() && !self.needles.contains(&f) {
                self.needles.push(f);
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// The secret forms registered (for `::add-mask::`).
    #[must_use]
    pub fn needles(&self) -> &[String] {
        &self.needles
    }

    /// `text` with every secret form replaced by `***`.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "***");
            }
        }
        out
    }
}

/// Every write of a report, redacted.
pub struct Sink {
    backend: Box<dyn Backend>,
    redactor: Redactor,
}

impl Sink {
    /// A sink over `backend` redacting what `redactor` knows.
    #[must_use]
    pub fn new(backend: Box<dyn Backend>, redactor: Redactor) -> Self {
        Self { backend, redactor }
    }

    /// The local file system and stdout.
    #[must_use]
    pub fn fs(redactor: Redactor) -> Self {
        Self::new(Box::new(FsBackend), redactor)
    }

    /// The redactor.
    #[must_use]
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Replaces `path` atomically with the redacted `contents`.
    ///
    /// # Errors
    /// An internal error naming the path.
    pub fn replace(&self, path: &Path, contents: &str) -> Result<()> {
        self.backend
            .replace(path, self.redactor.redact(contents).as_bytes())
            .map_err(|e| write_error(path, &e))
    }

    /// Appends the redacted `contents` to `path`.
    ///
    /// # Errors
    /// An internal error naming the path.
    pub fn append(&self, path: &Path, contents: &str) -> Result<()> {
        self.backend
            .append(path, self.redactor.redact(contents).as_bytes())
            .map_err(|e| write_error(path, &e))
    }

    /// Writes a redacted line (a newline is added) to stdout.
    pub fn line(&self, text: &str) {
        let mut s = self.redactor.redact(text);
        s.push('\n');
        self.backend.stdout(s.as_bytes());
    }

    /// Emits `::add-mask::` for every registered secret form: the one write that is not
    /// redacted, and it must come before anything else is printed.
    pub fn mask_secrets(&self) {
        for n in self.redactor.needles() {
            for line in n.lines().filter(|l| !l.trim().is_empty()) {
                let s = format!("::add-mask::{}\n", escape_data(line));
                self.backend.stdout(s.as_bytes());
            }
        }
    }
}

/// Escapes the data part of a workflow command (`%`, CR, LF).
#[must_use]
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn write_error(path: &Path, e: &std::io::Error) -> Error {
    Error::internal(format!("cannot write {}: {e}", path.display())).hint(
        "check that the directory exists and is writable (audit-dir, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_form() {
        let mut r = Redactor::default();
        r.add("s3cr\"et", Some("bob"));
        let b64 = base64::engine::general_purpose::STANDARD.encode("bob:s3cr\"et");
        let text = format!("a s3cr\"et b {{\"p\":\"s3cr\\\"et\"}} Basic {b64}");
        let out = r.redact(&text);
        assert!(!out.contains("s3cr"), "{out}");
        assert!(!out.contains(&b64), "{out}");
    }

    #[test]
    fn sink_redacts_files_and_lines_and_masks() {
        let backend = MemoryBackend::default();
        let mut r = Redactor::default();
        r.add("hunter2-password", None);
        let sink = Sink::new(Box::new(backend.clone()), r);
        sink.mask_secrets();
        sink.line("login with hunter2-password");
        sink.replace(Path::new("/x/a.json"), "{\"p\":\"hunter2-password\"}")
            .unwrap();
        sink.append(Path::new("/x/b"), "1 hunter2-password\n")
            .unwrap();
        sink.append(Path::new("/x/b"), "2\n").unwrap();
        let out = backend.stdout_text();
        assert!(out.starts_with("::add-mask::hunter2-password\n"), "{out}");
        assert!(out.ends_with("login with ***\n"));
        assert_eq!(
            backend.file(Path::new("/x/a.json")).unwrap(),
            "{\"p\":\"***\"}"
        );
        assert_eq!(backend.file(Path::new("/x/b")).unwrap(), "1 ***\n2\n");
    }

    #[test]
    fn fs_replace_is_atomic_and_creates_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/audit.json");
        FsBackend.replace(&path, b"one").unwrap();
        FsBackend.replace(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let leftovers = std::fs::read_dir(dir.path().join("sub")).unwrap().count();
        assert_eq!(leftovers, 1);
    }
}
