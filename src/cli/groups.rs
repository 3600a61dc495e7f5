//! The flag groups, each declared once and flattened into the subcommands that take it
//! (`copy`, `check`, `promote`; see [`super::Command`]). A flag shared by two commands is therefore
//! the same flag: same name, value syntax, default, environment variable and help (a test in
//! `tests/cli_flags.rs` holds this). Booleans all follow one convention: `--flag` alone means
//! true, `--flag=true` / `--flag=false` set it explicitly (the Action passes `true`/`false`).

use std::path::PathBuf;

use clap::Args;

use super::{parse_bool, split_list};
use crate::checks::CheckInputs;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::policy::{LabelRule, Policy, parse_size};
use crate::reference::Reference;

fn size_arg(s: &str) -> std::result::Result<u64, String> {
    parse_size(s).map_err(|e| e.message)
}

/// The source image: positional `SRC` or `--source` (`copy`, `check`, `promote`). `SRC` wins
/// over `--source` and its variable, as a flag wins over the environment.
#[derive(Debug, Args, Clone, Default)]
pub struct SourceArgs {
    /// Source image (same as --source).
    #[arg(value_name = "SRC")]
    pub src: Option<String>,
    /// Source image: registry/repository:tag or registry/repository@sha256:….
    #[arg(
        long,
        value_name = "IMAGE",
        env = "IMAGE_PROMOTE_SOURCE",
        help_heading = "Image"
    )]
    pub source: Option<String>,
}

impl SourceArgs {
    /// The source reference.
    ///
    /// # Errors
    /// An input error when none is given or it is malformed.
    pub fn reference(&self) -> Result<Reference> {
        let text = self.text().ok_or_else(|| {
            Error::input("no source image given").hint("pass SRC, --source, or the `source` input")
        })?;
        Reference::parse(text).map_err(|e| e.context("source"))
    }

    /// The source as given (positional first).
    #[must_use]
    pub fn text(&self) -> Option<&String> {
        self.src.as_ref().or(self.source.as_ref())
    }
}

/// The destination image: positional `DST` or `--destination` (`copy`, `promote`). `DST` wins
/// over `--destination` and its variable.
#[derive(Debug, Args, Clone, Default)]
pub struct DestinationArgs {
    /// Destination image (same as --destination).
    #[arg(value_name = "DST")]
    pub dst: Option<String>,
    /// Destination image: registry/repository[:tag]; without a tag, the source's tag.
    #[arg(
        long,
        value_name = "IMAGE",
        env = "IMAGE_PROMOTE_DESTINATION",
        help_heading = "Image"
    )]
    pub destination: Option<String>,
}

impl DestinationArgs {
    /// The destination reference.
    ///
    /// # Errors
    /// An input error when none is given or it is malformed.
    pub fn reference(&self) -> Result<Reference> {
        let text = self.text().ok_or_else(|| {
            Error::input("no destination image given")
                .hint("pass DST, --destination, or the `destination` input")
        })?;
        Reference::parse(text).map_err(|e| e.context("destination"))
    }

    /// The destination as given (positional first).
    #[must_use]
    pub fn text(&self) -> Option<&String> {
        self.dst.as_ref().or(self.destination.as_ref())
    }
}

/// Destination tags (`copy`, `promote`).
#[derive(Debug, Args, Clone, Default)]
pub struct TagArgs {
    /// Extra destination tags, comma- or newline-separated; written last, after the digest is verified.
    #[arg(
        long,
        value_name = "TAGS",
        env = "IMAGE_PROMOTE_TAGS",
        help_heading = "Tags"
    )]
    pub tags: Vec<String>,
    /// One extra destination tag; repeatable.
    #[arg(long, value_name = "TAG", help_heading = "Tags")]
    pub tag: Vec<String>,
    /// Allow moving a version-like destination tag (1.2.3, v1.2) that points at another digest.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, help_heading = "Tags")]
    pub allow_tag_move: bool,
}

impl TagArgs {
    /// Every extra tag from `--tags` and `--tag`.
    #[must_use]
    pub fn extra_tags(&self) -> Vec<String> {
        let mut tags = split_list(&self.tags);
        tags.extend(split_list(&self.tag));
        tags
    }
}

/// How the copy runs (`copy`, `promote`).
#[derive(Debug, Args, Clone)]
pub struct TransferArgs {
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64), env = "IMAGE_PROMOTE_CONCURRENCY", help_heading = "Copy")]
    pub concurrency: u32,
    /// Resolve (and check and gate, where the command does) and report what the copy would do; write nothing to any registry.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, env = "IMAGE_PROMOTE_DRY_RUN", help_heading = "Copy")]
    pub dry_run: bool,
    /// Carry the image's signatures, attestations and SBOMs (cosign's sha256-<hex>.sig/.att/.sbom tags) and OCI referrers, of the digest and of each child manifest, along with it.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "true", default_missing_value = "true", value_parser = parse_bool, env = "IMAGE_PROMOTE_REFERRERS", help_heading = "Copy")]
    pub referrers: bool,
    /// Carry no signature, attestation, SBOM or referrer (the same as --referrers=false).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, help_heading = "Copy")]
    pub no_referrers: bool,
}

impl TransferArgs {
    /// Whether the referrers are carried: `--referrers` (default true) and not `--no-referrers`.
    #[must_use]
    pub fn carry_referrers(&self) -> bool {
        self.referrers && !self.no_referrers
    }
}

/// The checks and the policy they are judged by (`check`, `promote`). Precedence: flag >
/// environment variable > policy file > built-in default (docs/architecture.md, Conventions).
#[derive(Debug, Args, Clone, Default)]
pub struct CheckOptions {
    /// Policy file (YAML); without it the documented default policy applies (`check --print-policy`).
    #[arg(
        long,
        value_name = "FILE",
        env = "IMAGE_PROMOTE_POLICY",
        help_heading = "Checks"
    )]
    pub policy: Option<PathBuf>,
    /// Vulnerability report of the image: Trivy JSON, Grype JSON or SARIF 2.1.0.
    #[arg(
        long,
        value_name = "FILE",
        env = "IMAGE_PROMOTE_SCAN_REPORT",
        help_heading = "Checks"
    )]
    pub scan_report: Option<PathBuf>,
    /// The digest the image must have (e.g. the one that was tested); a mismatch is never forced.
    #[arg(
        long,
        value_name = "DIGEST",
        env = "IMAGE_PROMOTE_EXPECTED_DIGEST",
        help_heading = "Checks"
    )]
    pub expected_digest: Option<String>,
    /// Download every blob and verify its sha256 (streaming, in parallel) before the gate.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, env = "IMAGE_PROMOTE_DEEP", help_heading = "Checks")]
    pub deep: bool,
    /// Largest compressed size per platform (e.g. 2GiB or 2GB; a bare 2G is refused).
    #[arg(long, value_name = "SIZE", env = "IMAGE_PROMOTE_MAX_SIZE", value_parser = size_arg, help_heading = "Checks")]
    pub max_size: Option<u64>,
    /// Largest compressed layer (e.g. 1GiB).
    #[arg(long, value_name = "SIZE", env = "IMAGE_PROMOTE_MAX_LAYER_SIZE", value_parser = size_arg, help_heading = "Checks")]
    pub max_layer_size: Option<u64>,
    /// Required platforms, comma- or newline-separated (linux/amd64,linux/arm64).
    #[arg(
        long,
        value_name = "PLATFORMS",
        env = "IMAGE_PROMOTE_PLATFORMS",
        help_heading = "Checks"
    )]
    pub platforms: Vec<String>,
    /// Required labels, KEY or KEY=REGEX, comma-separated (newline-separated when a regex has a comma).
    #[arg(
        long,
        value_name = "LABELS",
        env = "IMAGE_PROMOTE_REQUIRED_LABELS",
        help_heading = "Checks"
    )]
    pub required_labels: Vec<String>,
    /// A public key the image must be signed with by cosign (ECDSA P-256: a path such as cosign.pub, or the PEM text); repeatable, any one key counts. Turns the `signature` check on.
    #[arg(
        long,
        value_name = "KEY",
        env = "IMAGE_PROMOTE_VERIFY_KEY",
        allow_hyphen_values = true,
        help_heading = "Checks"
    )]
    pub verify_key: Vec<String>,
}

impl CheckOptions {
    /// The effective policy: the file (or the default), then each flag or variable that is set.
    ///
    /// # Errors
    /// Input errors for an unreadable or malformed policy file, platform or label rule.
    pub fn resolve_policy(&self) -> Result<Policy> {
        let mut policy = match &self.policy {
            Some(path) => Policy::load(path)?,
            None => Policy::default(),
        };
        if let Some(max) = self.max_size {
            policy.size.max_size = Some(max);
        }
        if let Some(max) = self.max_layer_size {
            policy.size.max_layer_size = Some(max);
        }
        let platforms = split_list(&self.platforms);
        if !platforms.is_empty() {
            policy.platform.required = platforms
                .iter()
                .map(|p| p.parse().map_err(|e: Error| e.context("--platforms")))
                .collect::<Result<_>>()?;
        }
        let labels = split_label_rules(&self.required_labels);
        if !labels.is_empty() {
            policy.labels.required = labels
                .iter()
                .map(|l| LabelRule::parse(l).map_err(|e| e.context("--required-labels")))
                .collect::<Result<_>>()?;
        }
        let keys: Vec<String> = self
            .verify_key
            .iter()
            .filter(|k| !k.trim().is_empty())
            .cloned()
            .collect();
        if !keys.is_empty() {
            // A flag beats the policy file: a key given here turns the check on.
            policy.signature.keys.extend(keys);
            policy.signature.enabled = Some(true);
        }
        // A bad key is an input error now, before any request.
        crate::checks::signature_request(&policy)?;
        Ok(policy)
    }

    /// What the checks read besides the image; `github_sha` is the commit being promoted.
    ///
    /// # Errors
    /// An input error for a malformed expected digest.
    pub fn inputs(&self, github_sha: Option<String>) -> Result<CheckInputs> {
        Ok(CheckInputs {
            expected_digest: self.expected_digest()?,
            scan_report: self.scan_report.clone(),
            github_sha,
            signature: None,
        })
    }

    /// The expected digest, when one is given (blank means none); an input error when malformed.
    fn expected_digest(&self) -> Result<Option<Digest>> {
        self.expected_digest
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| Digest::parse(d).map_err(|e| e.context("--expected-digest")))
            .transpose()
    }
}

/// `KEY=REGEX` entries: split on newlines when there are any (a regex may hold commas), else on
/// commas.
fn split_label_rules(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| {
            if v.contains('\n') {
                v.split('\n').map(str::to_owned).collect::<Vec<_>>()
            } else {
                v.split(',').map(str::to_owned).collect()
            }
        })
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Overriding failed checks (`check`, `promote`).
#[derive(Debug, Args, Clone, Default)]
pub struct GateArgs {
    /// Proceed past failed checks (not an expected-digest mismatch or a missing/corrupt blob); needs --force-reason.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, env = "IMAGE_PROMOTE_FORCE", help_heading = "Gate")]
    pub force: bool,
    /// Why the failed checks are overridden; recorded with every overridden result and in the audit.
    #[arg(
        long,
        value_name = "REASON",
        env = "IMAGE_PROMOTE_FORCE_REASON",
        help_heading = "Gate"
    )]
    pub force_reason: Option<String>,
}

impl GateArgs {
    /// `--force` and `--force-reason` together: force needs a non-blank reason, a reason needs
    /// force, and the policy may forbid force. `Some(reason)` when forced.
    ///
    /// # Errors
    /// Input errors (exit 2).
    pub fn reason(&self, policy: &Policy) -> Result<Option<String>> {
        force_reason(self.force, self.force_reason.as_deref(), policy)
    }

    /// The reason as given, blank meaning none (for the record of the request).
    #[must_use]
    pub fn given_reason(&self) -> Option<String> {
        self.force_reason.clone().filter(|r| !r.trim().is_empty())
    }
}

/// See [`GateArgs::reason`].
fn force_reason(force: bool, reason: Option<&str>, policy: &Policy) -> Result<Option<String>> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match (force, reason) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(Error::input("--force-reason is given without --force")
            .hint("add --force (input `force: true`) to override failed checks, or drop --force-reason")),
        (true, None) => Err(Error::input("--force needs --force-reason")
            .hint("say why the failed checks may be overridden, e.g. --force-reason \"CVE-2025-1234 not reachable, INC-42\" (input `force-reason`); it is recorded")),
        (true, Some(_)) if !policy.allow_force => Err(Error::input(
            "--force is not allowed by the policy (allow-force: false)",
        )
        .hint("fix what the checks found, or change the policy file")),
        (true, Some(r)) => Ok(Some(r.to_owned())),
    }
}

/// Machine-readable output on stdout (`copy`, `check`).
#[derive(Debug, Args, Clone, Default)]
pub struct OutputArgs {
    /// Print the machine-readable result on stdout.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, help_heading = "Output")]
    pub json: bool,
}

/// The record of a promotion: audit, step summary, approval context (`promote`).
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Directory for the audit JSON and errors.jsonl (relative to the working directory).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "image-promote-audit",
        env = "IMAGE_PROMOTE_AUDIT_DIR",
        help_heading = "Output"
    )]
    pub audit_dir: PathBuf,
    /// Write the Markdown step summary to $GITHUB_STEP_SUMMARY.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "true", default_missing_value = "true", value_parser = parse_bool, env = "IMAGE_PROMOTE_SUMMARY", help_heading = "Output")]
    pub summary: bool,
    /// The name of the job's `environment:` (a step cannot read it, so the workflow passes it); recorded as the approval context.
    #[arg(
        long,
        value_name = "NAME",
        env = "IMAGE_PROMOTE_ENVIRONMENT",
        help_heading = "Output"
    )]
    pub environment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_needs_a_reason_and_permission() {
        let p = Policy::default();
        assert_eq!(force_reason(false, None, &p).unwrap(), None);
        assert!(
            force_reason(true, None, &p)
                .unwrap_err()
                .message
                .contains("--force-reason")
        );
        assert!(force_reason(true, Some("  "), &p).is_err());
        assert!(
            force_reason(false, Some("why"), &p)
                .unwrap_err()
                .message
                .contains("without --force")
        );
        assert_eq!(force_reason(false, Some("  "), &p).unwrap(), None);
        assert_eq!(
            force_reason(true, Some(" INC-1 "), &p).unwrap().as_deref(),
            Some("INC-1")
        );
        let strict = Policy {
            allow_force: false,
            ..Policy::default()
        };
        assert!(
            force_reason(true, Some("x"), &strict)
                .unwrap_err()
                .message
                .contains("allow-force")
        );
    }

    #[test]
    fn label_rules_split_on_newlines_when_present() {
        assert_eq!(
            split_label_rules(&["a,b=x".to_owned()]),
            vec!["a".to_owned(), "b=x".to_owned()]
        );
        assert_eq!(
            split_label_rules(&["a=^x{1,3}$\nb".to_owned()]),
            vec!["a=^x{1,3}$".to_owned(), "b".to_owned()]
        );
    }
}
