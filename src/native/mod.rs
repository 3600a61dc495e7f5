//! What only a native build has: signals, subprocesses and the allocator's tuning. A WASI build leaves these out (the
//! interruption flag they set stays in [`crate::runtime`]).

pub mod process;
pub mod signals;

/// Tunes glibc's malloc for streaming: HTTP bodies arrive in chunks of up to ~400 KiB, allocated
/// and freed thousands of times per GiB. By default glibc gives the top of each thread's heap
/// back to the kernel (`madvise`) as soon as it is free and maps it again on the next chunk:
/// ~78 000 page faults and ~0.2 CPU-s of kernel time per GiB copied (bench/notes.md). A fixed
/// mmap threshold (32 MiB) and trim threshold (128 MiB) keep those pages; memory stays bounded by
/// the chunks in flight. A no-op on other C libraries (musl's allocator has no such knobs).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's thresholds; it is called once, at start-up,
    // before any thread exists, with valid parameter numbers and values.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 128 << 20);
    }
}
