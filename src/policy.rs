//! The policy (a YAML file, flags, or the documented defaults): which checks run, their limits
//! and the severity a failure carries, the platforms required ([`PlatformSpec`]) and the scan
//! ignore list. The gate (`gate.rs`) turns check results into a decision with it. Also
//! [`parse_size`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Severity};
use crate::scan::IgnoreEntry;

mod fields;
mod platform;
mod signature;
mod size;

pub(crate) use fields::{ParseStr, describe_yaml_error};
pub use platform::PlatformSpec;
pub use signature::SignaturePolicy;
pub use size::{format_size, parse_size};

/// The default policy, as a YAML document a team can copy and adopt unchanged.
pub const DEFAULT_POLICY_YAML: &str = r"# image-promote policy (every value shown is the built-in default).
# A failed check whose severity is CRITICAL or HIGH refuses the promotion (force, with a reason,
# overrides it, except an expected-digest mismatch and integrity failures); MEDIUM or LOW warns.
version: 1
allow-force: true            # false: --force is refused (exit 2)
exists:
  enabled: true
  severity: critical         # an expected-digest mismatch is never forced
size:
  enabled: true
  severity: high
  max-size: 2GiB             # per platform: config + layers, compressed
  max-layer-size: 1GiB       # the largest layer
  max-total-size: null       # everything promoted (all platforms, manifests): no limit
platform:
  enabled: true
  severity: high
  required: []               # e.g. [linux/amd64, linux/arm64]; linux/arm64 == linux/arm64/v8
  allowed: [linux/amd64, linux/arm64]   # empty: any platform
layers:
  enabled: true
  severity: critical         # a missing or corrupt blob is CRITICAL and never forced
  unknown-media-type: fail   # fail | warn | log
  foreign: warn              # non-distributable layers are not copied
metadata:
  enabled: true
  severity: medium
labels:
  enabled: true
  severity: high
  required:                  # a key, or {key, pattern}: the whole value must match the regex
    - org.opencontainers.image.source
    - org.opencontainers.image.revision
    - org.opencontainers.image.version
    - org.opencontainers.image.created
  annotations-fallback: true # a label missing from the config may come from manifest annotations
  revision-matches-commit: false   # .revision must equal GITHUB_SHA (when it is set)
entrypoint:
  enabled: true
  severity: high
  non-root: true             # User set, and not root/0/0:0/root:*
  shell-form: warn           # fail | warn | log
scan:
  enabled: true
  severity: critical
  require-report: false      # true: no report fails instead of skipping
  unbound-report: warn       # a report naming no image digest: fail | warn | log
  thresholds: {critical: fail, high: warn, medium: log, low: log, negligible: log, unknown: warn}
  ignore: []                 # - {id: CVE-2025-1234, expires: 2025-12-31, reason: not reachable}
signature:
  enabled: null              # null: on when a key is given (here or --verify-key); true without a key is an error
  severity: critical
  keys: []                   # ECDSA P-256 public keys (cosign.pub), each a path or PEM text; any one verifies
  children: false            # an index: each image it lists must be signed too
";

/// What a finding (or condition) leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The check fails.
    Fail,
    /// The check warns.
    Warn,
    /// Reported in the result only.
    Log,
}

/// The settings every check has.
pub trait CheckSettings {
    /// Whether the check runs.
    fn enabled(&self) -> bool;
    /// The severity a failure of the check carries.
    fn severity(&self) -> Severity;
}

macro_rules! settings {
    ($($t:ty),*) => {$(
        impl CheckSettings for $t {
            fn enabled(&self) -> bool { self.enabled }
            fn severity(&self) -> Severity { self.severity }
        }
    )*};
}

/// `exists`: the reference resolves; an expected digest must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ExistsPolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default CRITICAL).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
}

impl Default for ExistsPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::Critical,
        }
    }
}

/// `size`: limits on compressed sizes, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SizePolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default HIGH).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
    /// Per platform: config + layers (default 2 GiB; `null`: no limit).
    #[serde(deserialize_with = "fields::size_opt")]
    pub max_size: Option<u64>,
    /// The largest layer (default 1 GiB).
    #[serde(deserialize_with = "fields::size_opt")]
    pub max_layer_size: Option<u64>,
    /// Everything promoted: every distinct blob and manifest (default: no limit).
    #[serde(deserialize_with = "fields::size_opt")]
    pub max_total_size: Option<u64>,
}

impl Default for SizePolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::High,
            max_size: Some(2 << 30),
            max_layer_size: Some(1 << 30),
            max_total_size: None,
        }
    }
}

/// `platform`: required and allowed platforms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct PlatformPolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default HIGH).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
    /// Platforms that must be present (default none).
    pub required: Vec<PlatformSpec>,
    /// Platforms that may be present; empty: any (default linux/amd64, linux/arm64).
    pub allowed: Vec<PlatformSpec>,
}

impl Default for PlatformPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::High,
            required: Vec::new(),
            allowed: vec![
                PlatformSpec::normalize("linux", "amd64", None),
                PlatformSpec::normalize("linux", "arm64", None),
            ],
        }
    }
}

/// `layers`: every blob resolves with its declared size; media types are known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LayersPolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default CRITICAL; integrity failures are always CRITICAL).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
    /// A layer media type that is not gzip, zstd, uncompressed or foreign (default fail).
    pub unknown_media_type: Action,
    /// Non-distributable (foreign) layers (default warn).
    pub foreign: Action,
}

impl Default for LayersPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::Critical,
            unknown_media_type: Action::Fail,
            foreign: Action::Warn,
        }
    }
}

/// `metadata`: config fields and history consistency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct MetadataPolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default MEDIUM: warns).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
}

impl Default for MetadataPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::Medium,
        }
    }
}

/// One required label: a key, with an optional regex the whole value must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRule {
    /// Label key.
    pub key: String,
    /// Regex the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

impl LabelRule {
    /// Parses `KEY` or `KEY=REGEX` (the CLI form).
    ///
    /// # Errors
    /// An input error for an empty key or an invalid regex.
    pub fn parse(text: &str) -> Result<Self> {
        let (key, pattern) = match text.split_once('=') {
            Some((k, p)) => (k.trim(), Some(p.to_owned())),
            None => (text.trim(), None),
        };
        let rule = Self {
            key: key.to_owned(),
            pattern,
        };
        rule.validate().map_err(Error::input)?;
        Ok(rule)
    }

    pub(crate) fn validate(&self) -> std::result::Result<(), String> {
        if self.key.is_empty() {
            return Err("a label key is empty".to_owned());
        }
        if let Some(p) = &self.pattern {
            regex::Regex::new(p).map_err(|e| {
                let text = e.to_string();
                format!(
                    "label `{}`: pattern `{}` is not a valid regex: {}",
                    self.key,
                    crate::reference::shorten(p),
                    text.lines().last().unwrap_or_default().trim()
                )
            })?;
        }
        Ok(())
    }
}

/// `labels`: required label keys (and value patterns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LabelsPolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default HIGH).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
    /// Required labels (default: OCI `source`, `revision`, `version`, `created`).
    #[serde(deserialize_with = "fields::label_rules")]
    pub required: Vec<LabelRule>,
    /// Whether a label missing from the config may come from the manifest annotations.
    pub annotations_fallback: bool,
    /// Whether `org.opencontainers.image.revision` must equal the commit (`GITHUB_SHA`).
    pub revision_matches_commit: bool,
}

/// The OCI label every image should carry with its source repository.
pub const LABEL_SOURCE: &str = "org.opencontainers.image.source";
/// The OCI label naming the commit the image was built from.
pub const LABEL_REVISION: &str = "org.opencontainers.image.revision";

impl Default for LabelsPolicy {
    fn default() -> Self {
        let key = |k: &str| LabelRule {
            key: k.to_owned(),
            pattern: None,
        };
        Self {
            enabled: true,
            severity: Severity::High,
            required: vec![
                key(LABEL_SOURCE),
                key(LABEL_REVISION),
                key("org.opencontainers.image.version"),
                key("org.opencontainers.image.created"),
            ],
            annotations_fallback: true,
            revision_matches_commit: false,
        }
    }
}

/// `entrypoint`: something to run, preferably in exec form, not as root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct EntrypointPolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default HIGH).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
    /// `User` must be set and not root (`root`, `0`, `0:0`, `root:*`, `0:*`).
    pub non_root: bool,
    /// A shell-form ENTRYPOINT/CMD (`/bin/sh -c …`) (default warn).
    pub shell_form: Action,
}

impl Default for EntrypointPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::High,
            non_root: true,
            shell_form: Action::Warn,
        }
    }
}

/// What each finding severity of a scan report leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ScanThresholds {
    /// CRITICAL findings (default fail).
    pub critical: Action,
    /// HIGH findings (default warn).
    pub high: Action,
    /// MEDIUM findings (default log).
    pub medium: Action,
    /// LOW findings (default log).
    pub low: Action,
    /// Grype's NEGLIGIBLE findings (default log).
    pub negligible: Action,
    /// UNKNOWN findings (default warn).
    pub unknown: Action,
}

impl Default for ScanThresholds {
    fn default() -> Self {
        Self {
            critical: Action::Fail,
            high: Action::Warn,
            medium: Action::Log,
            low: Action::Log,
            negligible: Action::Log,
            unknown: Action::Warn,
        }
    }
}

impl ScanThresholds {
    /// The action for one finding severity.
    #[must_use]
    pub fn action(&self, severity: crate::scan::Severity) -> Action {
        use crate::scan::Severity as S;
        match severity {
            S::Critical => self.critical,
            S::High => self.high,
            S::Medium => self.medium,
            S::Low => self.low,
            S::Negligible => self.negligible,
            S::Unknown => self.unknown,
        }
    }
}

/// `scan`: gate on a vulnerability report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ScanPolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default CRITICAL).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
    /// Whether a missing report fails the check (default false: skipped, visibly).
    pub require_report: bool,
    /// A report that names no image digest (default warn).
    pub unbound_report: Action,
    /// What each finding severity leads to.
    pub thresholds: ScanThresholds,
    /// Vulnerability ids to ignore, with optional expiry and reason.
    pub ignore: Vec<IgnoreEntry>,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            severity: Severity::Critical,
            require_report: false,
            unbound_report: Action::Warn,
            thresholds: ScanThresholds::default(),
            ignore: Vec::new(),
        }
    }
}

settings!(
    ExistsPolicy,
    SizePolicy,
    PlatformPolicy,
    LayersPolicy,
    MetadataPolicy,
    LabelsPolicy,
    EntrypointPolicy,
    ScanPolicy
);

/// The whole policy. Missing keys take the defaults of [`DEFAULT_POLICY_YAML`]; unknown keys are
/// refused (a typo must not silently disable a rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Policy {
    /// Policy format version; only 1 exists.
    pub version: u32,
    /// Whether `force` (with a reason) may override failed checks.
    pub allow_force: bool,
    /// `exists`.
    pub exists: ExistsPolicy,
    /// `size`.
    pub size: SizePolicy,
    /// `platform`.
    pub platform: PlatformPolicy,
    /// `layers`.
    pub layers: LayersPolicy,
    /// `metadata`.
    pub metadata: MetadataPolicy,
    /// `labels`.
    pub labels: LabelsPolicy,
    /// `entrypoint`.
    pub entrypoint: EntrypointPolicy,
    /// `scan`.
    pub scan: ScanPolicy,
    /// `signature`.
    pub signature: SignaturePolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            version: 1,
            allow_force: true,
            exists: ExistsPolicy::default(),
            size: SizePolicy::default(),
            platform: PlatformPolicy::default(),
            layers: LayersPolicy::default(),
            metadata: MetadataPolicy::default(),
            labels: LabelsPolicy::default(),
            entrypoint: EntrypointPolicy::default(),
            scan: ScanPolicy::default(),
            signature: SignaturePolicy::default(),
        }
    }
}

impl Policy {
    /// Reads a policy file.
    ///
    /// # Errors
    /// An input error (exit 2) naming the file, the field and what is expected.
    pub fn load(path: &Path) -> Result<Policy> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!("policy file {shown}: cannot read it: {e}"))
                .hint("pass --policy a readable YAML file, or leave it out for the default policy")
        })?;
        Self::parse(&text, &shown.to_string())
    }

    /// Parses a policy document; `file` names it in errors.
    ///
    /// # Errors
    /// An input error naming `file`, the field and what is expected.
    pub fn parse(text: &str, file: &str) -> Result<Policy> {
        let blank = text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        if blank {
            return Ok(Policy::default());
        }
        let policy: Policy = serde_norway::from_str(text).map_err(|e| {
            Error::input(format!("policy file {file}: {}", fields::describe_yaml_error(&e)))
                .hint("see the default policy (`image-promote check --print-policy`) for every field and its form")
        })?;
        if policy.version != 1 {
            return Err(Error::input(format!(
                "policy file {file}: field `version`: expected 1, found {}",
                policy.version
            )));
        }
        Ok(policy)
    }

    /// The policy as YAML.
    ///
    /// # Errors
    /// Internal error if serialization fails.
    pub fn to_yaml(&self) -> Result<String> {
        serde_norway::to_string(self).map_err(|e| Error::internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_yaml_is_the_default_policy() {
        let parsed = Policy::parse(DEFAULT_POLICY_YAML, "default").unwrap();
        assert_eq!(parsed, Policy::default());
        let round = Policy::parse(&Policy::default().to_yaml().unwrap(), "round").unwrap();
        assert_eq!(round, Policy::default());
        assert_eq!(
            Policy::parse("# nothing\n\n", "x").unwrap(),
            Policy::default()
        );
    }

    #[test]
    fn a_file_that_is_not_a_policy_is_not_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "FAKE-SECRET-3f9a1c";
        for (name, text) in [
            (
                "passwd",
                format!("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1\npassword={secret}\nend\n"),
            ),
            ("env", format!("# settings\nUSER=me\nAPI_TOKEN={secret}\n")),
            (
                "quoted",
                format!("version: 1\nsize:\n  max-size: \"{secret}\"\n"),
            ),
            (
                "field",
                format!("version: 1\nscan:\n  {secret}-{secret}: 1\n"),
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, &text).unwrap();
            let e = Policy::load(&path).unwrap_err();
            let shown = format!("{} {}", e.message, e.hint.unwrap_or_default());
            assert!(!shown.contains(secret), "{name}: {shown}");
            assert!(shown.contains("line "), "{name}: {shown}");
            assert!(shown.len() < 400, "{name}: {shown}");
        }
        let e = Policy::load(&dir.path().join("passwd")).unwrap_err();
        assert!(
            e.message
                .contains("a string (not shown), expected a policy"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("(line 1, column 1)"), "{}", e.message);
        // Short tokens (a misspelt field) are still shown.
        let e = Policy::parse("version: 1\nsise: 1\n", "p").unwrap_err();
        assert!(e.message.contains("field `sise`"), "{}", e.message);
    }
}
