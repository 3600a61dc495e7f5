//! Signals (native only): SIGINT and SIGTERM set the runtime-agnostic interruption flag
//! ([`crate::runtime::set_interrupted`]) that the pipeline checks before starting new work.

use crate::runtime::set_interrupted;

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
