//! Signed fixtures, made with cosign 3.1.1 (`scripts/harness/fetch-peers.sh` puts it in
//! `$IMAGE_PROMOTE_PEERS/bin`, default `/tmp/image-promote-peers/bin`), offline and keyed: a key
//! pair with an empty password (`COSIGN_PASSWORD= cosign generate-key-pair`) in a temporary
//! directory, then, on `REF@DIGEST`:
//!
//! | what | command |
//! |---|---|
//! | legacy `sha256-<hex>.sig` | `cosign sign --key cosign.key --new-bundle-format=false --use-signing-config=false --tlog-upload=false --allow-http-registry -y` |
//! | v3 bundle referrer (`application/vnd.dev.sigstore.bundle.v0.3+json`) | `cosign sign --key cosign.key --signing-config sc.json --allow-http-registry -y`, `sc.json` = `{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}` (a signing config without a transparency log: cosign warns that it cannot reach its TUF repository and goes on) |
//! | `sha256-<hex>.sbom` | `cosign attach sbom --sbom s.spdx.json --type spdx --allow-http-registry` (unsigned) |
//! | legacy `sha256-<hex>.att` | `cosign attest --key cosign.key --predicate p.json --type slsaprovenance --new-bundle-format=false --use-signing-config=false --tlog-upload=false --allow-http-registry -y` |
//! | verify | `cosign verify --key cosign.pub --insecure-ignore-tlog=true --allow-http-registry [--new-bundle-format=false]` |
//!
//! On a registry without the referrers API (distribution 2.8) cosign writes the bundle's fallback
//! index at tag `sha256-<hex>`; on one with it (ferro-oci-server) it writes none.
//! [`Cosign::find`] returns `None` (the caller skips with a message) only when cosign is absent
//! and `CI` is unset; in CI an absent cosign fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A cosign binary and a fresh key pair.
pub struct Cosign {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

pub const SIGNING_CONFIG: &str =
    r#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json"}"#;
const SBOM: &str = r#"{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"fixture","dataLicense":"CC0-1.0","documentNamespace":"https://spdx.invalid/fixture","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: image-promote-tests"]},"packages":[]}"#;
const PREDICATE: &str =
    r#"{"buildType":"https://image-promote.invalid/test","builder":{"id":"image-promote-tests"}}"#;
/// The offline flags of a legacy (tag-schema) signature or attestation.
pub const LEGACY: [&str; 3] = [
    "--new-bundle-format=false",
    "--use-signing-config=false",
    "--tlog-upload=false",
];

/// The cosign binary, or `None` (the caller skips) when it is absent outside CI.
///
/// # Panics
/// When cosign is absent in CI (`CI` set): CI must not skip the signature tests.
pub fn bin() -> Option<PathBuf> {
    let peers = std::env::var_os("IMAGE_PROMOTE_PEERS")
        .map_or_else(|| PathBuf::from("/tmp/image-promote-peers"), PathBuf::from);
    let bin = peers.join("bin/cosign");
    if !bin.is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "cosign is not at {}: run `bash scripts/harness/fetch-peers.sh` (CI must not skip the signature tests)",
            bin.display()
        );
        eprintln!(
            "SKIPPED: cosign is not at {} (run `bash scripts/harness/fetch-peers.sh`)",
            bin.display()
        );
        return None;
    }
    Some(bin)
}

/// cosign `args` in `dir`, offline and hermetic: an empty key password, `dir` as HOME (its own
/// TUF cache and docker config).
pub fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("COSIGN_PASSWORD", "")
        .env("HOME", dir)
        .env("DOCKER_CONFIG", dir.join("docker"))
        .env("TUF_ROOT", dir.join("tuf"))
        .env_remove("COSIGN_EXPERIMENTAL")
        .env_remove("SIGSTORE_ROOT_FILE")
        .output()
        .expect("run cosign")
}

/// [`run`], which must succeed.
///
/// # Panics
/// When cosign fails (its output is in the message).
pub fn ok(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    let out = run(bin, dir, args);
    assert!(
        out.status.success(),
        "cosign {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Cosign {
    /// cosign with a new key pair; `None` when cosign is absent outside CI (the caller skips).
    ///
    /// # Panics
    /// When cosign is absent in CI (`CI` set), or the key pair cannot be made.
    pub fn find() -> Option<Self> {
        let bin = bin()?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sc.json"), SIGNING_CONFIG).unwrap();
        std::fs::write(dir.path().join("s.spdx.json"), SBOM).unwrap();
        std::fs::write(dir.path().join("p.json"), PREDICATE).unwrap();
        let c = Self { bin, dir };
        c.ok(&["generate-key-pair"]);
        Some(c)
    }

    /// The public key (`cosign.pub`).
    pub fn public_key(&self) -> PathBuf {
        self.dir.path().join("cosign.pub")
    }

    fn run(&self, args: &[&str]) -> Output {
        run(&self.bin, self.dir.path(), args)
    }

    fn ok(&self, args: &[&str]) -> Output {
        ok(&self.bin, self.dir.path(), args)
    }

    /// A legacy signature at `sha256-<hex>.sig` of `reference` (`REF@DIGEST`).
    pub fn sign_legacy(&self, reference: &str) {
        let mut args = vec!["sign", "--key", "cosign.key"];
        args.extend(LEGACY);
        args.extend(["--allow-http-registry", "-y", reference]);
        self.ok(&args);
    }

    /// A v3 bundle signature, stored as an OCI referrer of `reference`.
    pub fn sign_bundle(&self, reference: &str) {
        self.ok(&[
            "sign",
            "--key",
            "cosign.key",
            "--signing-config",
            "sc.json",
            "--allow-http-registry",
            "-y",
            reference,
        ]);
    }

    /// An SPDX SBOM at `sha256-<hex>.sbom` (unsigned).
    pub fn attach_sbom(&self, reference: &str) {
        self.ok(&[
            "attach",
            "sbom",
            "--sbom",
            "s.spdx.json",
            "--type",
            "spdx",
            "--allow-http-registry",
            reference,
        ]);
    }

    /// A legacy SLSA provenance attestation at `sha256-<hex>.att`.
    pub fn attest_legacy(&self, reference: &str) {
        let mut args = vec![
            "attest",
            "--key",
            "cosign.key",
            "--predicate",
            "p.json",
            "--type",
            "slsaprovenance",
        ];
        args.extend(LEGACY);
        args.extend(["--allow-http-registry", "-y", reference]);
        self.ok(&args);
    }

    /// `cosign verify` of `reference` with this key: the legacy `.sig` only (`legacy`), or the
    /// v3 default (bundles, then the legacy tag). Whether it accepted, and its output.
    pub fn verify(&self, reference: &str, legacy: bool) -> (bool, String) {
        let mut args = vec![
            "verify",
            "--key",
            "cosign.pub",
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
        ];
        if legacy {
            args.push("--new-bundle-format=false");
        }
        args.push(reference);
        let out = self.run(&args);
        (
            out.status.success(),
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}
