//! The one runtime seam (DESIGN.md, Distribution): spawning a task and sleeping. Natively this is
//! tokio's multi-thread runtime, so blob copies hash on every core; a WASI port replaces this file.

use std::time::Duration;

use crate::error::{Error, Result};

/// Sleeps for `duration`.
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Runs `future` as its own task and waits for its result.
///
/// # Errors
/// The task's error, or an internal error if the task panicked or was cancelled.
pub async fn spawn<T, F>(future: F) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    match tokio::spawn(future).await {
        Ok(r) => r,
        Err(e) => Err(Error::internal(format!("a copy task failed: {e}"))),
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
        stdin.write_all(input).await?;
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 30 s")
        })??;
    Ok((out.status.success(), out.stdout, out.stderr))
}
