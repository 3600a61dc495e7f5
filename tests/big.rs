//! The 1 GiB fixture (4 × 256 MiB incompressible layers), copied once cross-registry and once
//! within a registry (mount), with the peak memory of the copy measured: it must stay under 64 MiB
//! because blobs stream through a hashing verifier, never held in memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Command;

use support::harness::{ensure_big, plain, registries, skopeo_digest, text, unique};

const BIG: &str = "sha256:54a342bb7ee28dde5fc571e01352c4662eac804f4a217e6b654dadbabe193817";

fn copy_measured(src: &str, dst: &str) -> (serde_json::Value, u64) {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_image-promote"))
        .args(["copy", src, dst, "--json"])
        .env("DOCKER_CONFIG", "/nonexistent")
        .output()
        .expect("run /usr/bin/time (Debian package `time`)");
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss_kib: u64 = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS in: {stderr}"));
    (serde_json::from_slice(&out.stdout).unwrap(), rss_kib)
}

#[test]
fn one_gib_image_streams_in_bounded_memory() {
    ensure_big();
    let r = registries();
    let src = format!("{}/app/big:1.0", r.staging);
    let dst = format!("{}/{}:1.0", r.production, unique("big"));
    let (report, rss_kib) = copy_measured(&src, &dst);
    assert_eq!(report["destination_digest"], BIG);
    assert_eq!(report["blobs"]["bytes_copied"], 1_073_926_866u64);
    assert_eq!(skopeo_digest(&dst, &plain()).as_deref(), Some(BIG));
    eprintln!(
        "1 GiB cross-registry: {} ms, peak RSS {} MiB",
        report["timings"]["total_ms"],
        rss_kib / 1024
    );
    assert!(
        rss_kib < 64 * 1024,
        "peak RSS {rss_kib} KiB must stay under 64 MiB"
    );

    let dst2 = format!("{}/{}:1.0", r.production, unique("big-mount"));
    let (report, rss_kib) = copy_measured(&dst, &dst2);
    assert_eq!(report["blobs"]["mounted"], 5, "{report}");
    assert_eq!(report["blobs"]["bytes_copied"], 0);
    assert_eq!(skopeo_digest(&dst2, &plain()).as_deref(), Some(BIG));
    eprintln!(
        "1 GiB same-registry mount: {} ms, peak RSS {} MiB",
        report["timings"]["total_ms"],
        rss_kib / 1024
    );
    assert!(rss_kib < 64 * 1024);
}
