//! Real registries for the integration tests: started once per test binary through
//! `scripts/harness` (idempotent; storage is never wiped), with the fixture images pushed.
//! Each test names its own repositories with [`unique`] so runs never collide.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the harness lives and what it started.
pub struct Registries {
    pub staging: String,
    pub production: String,
    pub secure: String,
    pub secure_user: String,
    pub secure_password: String,
    pub secure_cacert: PathBuf,
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn harness(script: &str) -> PathBuf {
    project_root().join("scripts/harness").join(script)
}

/// The tests' own registries: ports and scratch directory apart from the demo's and the
/// benchmark's (5000–5002, /tmp/reg-harness), so a benchmark that wipes storage never hits a test.
pub const TEST_DIR: &str = "/tmp/image-promote-it";
/// Staging registry of the tests.
pub const STAGING: &str = "127.0.0.1:5100";
/// Production registry of the tests.
pub const PRODUCTION: &str = "127.0.0.1:5101";
/// TLS + basic-auth registry of the tests.
pub const SECURE: &str = "127.0.0.1:5102";

fn run_script(script: &str, args: &[&str]) {
    let out = Command::new("bash")
        .arg(harness(script))
        .args(args)
        .env("REG_HARNESS_DIR", TEST_DIR)
        .env("REG_STAGING_PORT", "5100")
        .env("REG_PRODUCTION_PORT", "5101")
        .env("REG_SECURE_PORT", "5102")
        .env_remove("REG_SECURE_USER")
        .env_remove("REG_SECURE_PASSWORD")
        .output()
        .expect("run harness script");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn harness_dir() -> PathBuf {
    PathBuf::from(TEST_DIR)
}

/// The small fixtures every test binary may use (not app/big: see [`ensure_big`]).
const FIXTURES: &str = "small,multi,many,docker,nolabels,corrupt,noentry,root,wrongarch,oversized,multi-amd64,zstd,artifact,nested";

/// Starts the registries (staging, production, secure) and pushes the fixtures, once per process.
pub fn registries() -> &'static Registries {
    static REGISTRIES: OnceLock<Registries> = OnceLock::new();
    REGISTRIES.get_or_init(|| {
        run_script("start-registries.sh", &["--secure", "--quiet"]);
        run_script("make-fixtures.sh", &["--only", FIXTURES]);
        run_script("make-fixtures.sh", &["--secure", "--only", "small"]);
        let dir = harness_dir();
        Registries {
            staging: STAGING.to_owned(),
            production: PRODUCTION.to_owned(),
            secure: SECURE.to_owned(),
            secure_user: "harness".into(),
            secure_password: "harness-pass".into(),
            secure_cacert: dir.join("secure/certs/ca.crt"),
        }
    })
}

/// Pushes the 1 GiB fixture (about 40 s the first time on this machine kind).
pub fn ensure_big() {
    static BIG: OnceLock<()> = OnceLock::new();
    registries();
    BIG.get_or_init(|| run_script("make-fixtures.sh", &["--only", "big"]));
}

/// A repository name no other test or run uses.
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "it/{name}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// The image-promote binary.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_image-promote"));
    c.env_remove("RUST_LOG")
        .env("DOCKER_CONFIG", "/nonexistent-docker-config");
    for (k, _) in std::env::vars() {
        if k.starts_with("IMAGE_PROMOTE_") || k.starts_with("INPUT_") {
            c.env_remove(k);
        }
    }
    c
}

/// Runs image-promote with `args`.
pub fn promote(args: &[&str]) -> Output {
    bin().args(args).output().expect("run image-promote")
}

/// [`promote`] from async tests: on a blocking thread, so the test's own proxies keep serving.
#[allow(
    dead_code,
    reason = "not every test binary runs the binary from async code"
)]
pub async fn promote_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        promote(&args)
    })
    .await
    .expect("the blocking task ran")
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The audit record (`promotion-*.json`) that a promote run wrote into `dir`.
pub fn audit_in(dir: &Path) -> serde_json::Value {
    let file = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("promotion-") && n.ends_with(".json"))
        })
        .expect("an audit file");
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

/// The (`a`, `b`) string fields of each object of the JSON array `items`, in order (e.g. a
/// record's conditions as (id, status)).
pub fn pairs(items: &serde_json::Value, a: &str, b: &str) -> Vec<(String, String)> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x[a].as_str().unwrap().to_owned(),
                x[b].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The manifest digest skopeo sees (sha256 of `skopeo inspect --raw`), or `None` if absent.
pub fn skopeo_digest(reference: &str, extra: &[&str]) -> Option<String> {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--retry-times", "0"])
        .args(extra)
        .arg(format!("docker://{reference}"))
        .output()
        .expect("run skopeo");
    if !out.status.success() {
        return None;
    }
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(&out.stdout)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(format!("sha256:{hex}"))
}

/// Whether `skopeo copy` can read `reference` back completely (into a throwaway OCI layout).
pub fn skopeo_reads_back(reference: &str, extra: &[&str]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "--all", "--preserve-digests", "--retry-times", "0"])
        .args(extra)
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:x", dir.path().display()))
        .output()
        .expect("run skopeo");
    if !out.status.success() {
        eprintln!(
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

pub fn plain() -> [&'static str; 1] {
    ["--tls-verify=false"]
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// A directory holding only the secure registry's CA (for skopeo's --cert-dir).
pub fn harness_cert_dir() -> String {
    harness_dir().join("secure/trust").display().to_string()
}

/// The registry with the OCI 1.1 referrers API (ferro-oci-server) of the tests.
pub const FERRO: &str = "127.0.0.1:5103";

/// Starts ferro-oci-server on [`FERRO`] (idempotent, shared by test processes; storage under
/// `TEST_DIR/ferro`, never wiped), once per process; returns its address.
pub fn ferro() -> &'static str {
    static FERRO_UP: OnceLock<()> = OnceLock::new();
    FERRO_UP.get_or_init(|| {
        let out = Command::new("bash")
            .arg(harness("start-ferro.sh"))
            .args(["--dir", TEST_DIR, "--port", "5103"])
            .output()
            .expect("run start-ferro.sh");
        assert!(
            out.status.success(),
            "start-ferro.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    FERRO
}
