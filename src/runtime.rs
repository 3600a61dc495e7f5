//! The one runtime seam (DESIGN.md, Distribution): spawning a task and sleeping. Natively this is
//! tokio's multi-thread runtime, so blob copies hash on every core; a WASI port replaces this file.

use std::time::Duration;

use crate::error::{Error, Result};

/// Sleeps for `duration`.
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Starts `future` as its own task now (on any core) and returns a future of its result.
///
/// # Errors
/// The task's error, or an internal error if the task panicked or was cancelled.
pub fn spawn<T, F>(future: F) -> impl Future<Output = Result<T>> + Send
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let handle = tokio::spawn(future);
    async move {
        match handle.await {
            Ok(r) => r,
            Err(e) => Err(Error::internal(format!("a copy task failed: {e}"))),
        }
    }
}

/// A counting semaphore bounding concurrency.
pub type Semaphore = tokio::sync::Semaphore;

/// Runs `program args…` with `input` on stdin; returns (success, stdout, stderr).
///
/// # Errors
/// The I/O error if the program cannot be started.
pub async fn run_with_stdin(
    program: &str,
    args: &[&str],
    input: &[u8],
) -> std::io::Result<(bool, Vec<u8>, Vec<u8>)> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper may exit without reading its input: its exit status and stderr tell why.
        match stdin.write_all(input).await {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e),
            _ => {}
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 30 s")
        })??;
    Ok((out.status.success(), out.stdout, out.stderr))
}

static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The signal number (2 = SIGINT, 15 = SIGTERM) if the process was asked to stop.
#[must_use]
pub fn interrupted() -> Option<i32> {
    match INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Marks the process as interrupted by `signal` (the signal watcher calls this; tests may too).
pub fn set_interrupted(signal: i32) {
    INTERRUPTED.store(signal, std::sync::atomic::Ordering::SeqCst);
}

/// Fails with an interruption error if a stop was asked for: called before starting new work.
///
/// # Errors
/// The interruption error, naming the signal.
pub fn check_interrupted() -> Result<()> {
    match interrupted() {
        None => Ok(()),
        Some(signal) => Err(interrupted_error(signal)),
    }
}

/// The error for an interruption by `signal`.
#[must_use]
pub fn interrupted_error(signal: i32) -> Error {
    let name = if signal == 2 { "SIGINT" } else { "SIGTERM" };
    Error::interrupted(
        signal,
        format!("interrupted by {name}: no new transfer was started and no tag was written"),
    )
    .hint("re-run the same command: finished blobs are skipped and the promotion completes")
}

/// Waits for the first SIGINT or SIGTERM, records it, and returns its number. A second signal
/// ends the process at once (exit 128 + signal).
pub async fn wait_for_signal() -> i32 {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    let first = tokio::select! {
        _ = int.recv() => 2,
        _ = term.recv() => 15,
    };
    set_interrupted(first);
    tokio::spawn(async move {
        let second = tokio::select! {
            _ = int.recv() => 2,
            _ = term.recv() => 15,
        };
        std::process::exit(128 + second);
    });
    first
}
