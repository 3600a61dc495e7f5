//! The one runtime seam (docs/architecture.md, Seams): spawning a task, sleeping, and a
//! semaphore, plus the runtime-agnostic interruption flag. Natively this is tokio's multi-thread
//! runtime, so blob copies hash on every core; on wasm32-wasip2 it is wstd's single-threaded
//! executor (tasks interleave on one thread; the semaphore is tokio's, which needs no runtime).
//! Signals and subprocesses are native-only (`crate::native`).

use std::time::Duration;

use crate::error::{Error, Result};

/// Sleeps for `duration`.
#[cfg(not(target_family = "wasm"))]
pub async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Sleeps for `duration`.
#[cfg(target_family = "wasm")]
pub async fn sleep(duration: Duration) {
    AssertSend::new(wstd::task::sleep(duration.into())).await;
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
    #[cfg(not(target_family = "wasm"))]
    {
        let handle = tokio::spawn(future);
        async move {
            match handle.await {
                Ok(r) => r,
                Err(e) => Err(Error::internal(format!("a copy task failed: {e}"))),
            }
        }
    }
    // One thread: the task interleaves with the others at their await points.
    #[cfg(target_family = "wasm")]
    AssertSend::new(wstd::runtime::spawn(future))
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
    #[cfg(not(target_family = "wasm"))]
    drop(tokio::spawn(future));
    #[cfg(target_family = "wasm")]
    wstd::runtime::spawn(future).detach();
    Background(handle)
}

/// A future or stream of the single-threaded wasm build marked `Send`, so that it crosses the
/// seams (whose futures are `Send` for the native multi-thread runtime). wstd's and the WASI
/// bindings' types are not `Send` only because nothing on wasm32-wasip2 is ever on another thread.
#[cfg(target_family = "wasm")]
pub struct AssertSend<T>(std::pin::Pin<Box<T>>);

#[cfg(target_family = "wasm")]
impl<T> AssertSend<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self(Box::pin(inner))
    }
}

// SAFETY: this build has no threads (wasm32-wasip2 without the `atomics` feature, checked by the
// cfg), so a value can never be used from another thread than the one that made it.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[allow(unsafe_code)]
unsafe impl<T> Send for AssertSend<T> {}

#[cfg(target_family = "wasm")]
impl<T: Future> Future for AssertSend<T> {
    type Output = T::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T::Output> {
        self.0.as_mut().poll(cx)
    }
}

#[cfg(target_family = "wasm")]
impl<T: futures_util::Stream> futures_util::Stream for AssertSend<T> {
    type Item = T::Item;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Woken when [`set_interrupted`] is called, so that nothing polls the flag on a timer (on wasm a
/// timer is a pollable the executor checks at every turn, a call to the host each time).
static INTERRUPTION: tokio::sync::Notify = tokio::sync::Notify::const_new();

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
    INTERRUPTION.notify_waiters();
}

/// Waits until the process is asked to stop and returns the signal (at once if it was already):
/// woken by [`set_interrupted`], no timer.
pub async fn wait_interrupted() -> i32 {
    wait_for(&INTERRUPTION, interrupted).await
}

/// Waits until `ready` gives a value, looking again each time `notify` wakes its waiters (and
/// at once): the event-driven wait of this seam, no timer.
pub async fn wait_for<T>(notify: &tokio::sync::Notify, ready: impl Fn() -> Option<T>) -> T {
    loop {
        let notified = notify.notified();
        let mut notified = std::pin::pin!(notified);
        // Registered before `ready` looks, so a wake-up in between is not missed.
        notified.as_mut().enable();
        if let Some(value) = ready() {
            return value;
        }
        notified.await;
    }
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
