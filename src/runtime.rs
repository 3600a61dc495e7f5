//! The one runtime seam (docs/architecture.md, Seams): spawning a task, sleeping, and a
//! semaphore, plus the runtime-agnostic interruption flag. Natively this is tokio's multi-thread
//! runtime, so blob copies hash on every core; a WASI port replaces the tokio parts of this file.
//! Signals and subprocesses are native-only (`crate::native`).

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

/// A task running in the background until [`Background::abort`] (a progress ticker).
pub struct Background(futures_util::future::AbortHandle);

impl Background {
    /// Stops the task.
    pub fn abort(&self) {
        self.0.abort();
    }
}

/// Starts `future` in the background; it runs until it ends or is aborted.
pub fn spawn_background<F>(future: F) -> Background
where
    F: Future<Output = ()> + Send + 'static,
{
    let (future, handle) = futures_util::future::abortable(future);
    drop(tokio::spawn(future));
    Background(handle)
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
