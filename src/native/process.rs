//! Subprocesses (native only): the docker credential helpers run through here.

use std::time::Duration;

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
