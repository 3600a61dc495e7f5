//! The Gate stage: the policy (a YAML file, flags, or the documented defaults) says which checks
//! run, their limits and the severity a failure carries; [`gate`] turns the check results into
//! [`GateDecision::Promote`], [`GateDecision::PromoteWithWarnings`] or [`GateDecision::Refuse`],
//! applying `force` (with a reason) to every forceable failure. Also [`parse_size`].

use std::fmt;
use std::path::Path;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::checks::platform::PlatformSpec;
use crate::checks::{CheckResult, CheckStatus};
use crate::error::{Category, Error, Result, Severity};
use crate::scan::IgnoreEntry;

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
    #[serde(deserialize_with = "severity")]
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
    #[serde(deserialize_with = "severity")]
    pub severity: Severity,
    /// Per platform: config + layers (default 2 GiB; `null`: no limit).
    #[serde(deserialize_with = "size_opt")]
    pub max_size: Option<u64>,
    /// The largest layer (default 1 GiB).
    #[serde(deserialize_with = "size_opt")]
    pub max_layer_size: Option<u64>,
    /// Everything promoted: every distinct blob and manifest (default: no limit).
    #[serde(deserialize_with = "size_opt")]
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
    #[serde(deserialize_with = "severity")]
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
    #[serde(deserialize_with = "severity")]
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
    #[serde(deserialize_with = "severity")]
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

    fn validate(&self) -> std::result::Result<(), String> {
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

fn label_rule<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<LabelRule, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = LabelRule;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a label key, or a map {key: KEY, pattern: REGEX}")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<LabelRule, E> {
            let rule = LabelRule {
                key: v.to_owned(),
                pattern: None,
            };
            rule.validate().map_err(E::custom)?;
            Ok(rule)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<LabelRule, A::Error> {
            let rule = LabelRule::deserialize(de::value::MapAccessDeserializer::new(map))?;
            rule.validate().map_err(de::Error::custom)?;
            Ok(rule)
        }
    }
    d.deserialize_any(V)
}

fn label_rules<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<LabelRule>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "label_rule")] LabelRule);
    Ok(Vec::<Wrapped>::deserialize(d)?
        .into_iter()
        .map(|w| w.0)
        .collect())
}

/// `labels`: required label keys (and value patterns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct LabelsPolicy {
    /// Whether the check runs.
    pub enabled: bool,
    /// Severity of a failure (default HIGH).
    #[serde(deserialize_with = "severity")]
    pub severity: Severity,
    /// Required labels (default: OCI `source`, `revision`, `version`, `created`).
    #[serde(deserialize_with = "label_rules")]
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
    #[serde(deserialize_with = "severity")]
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
    #[serde(deserialize_with = "severity")]
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
            Error::input(format!("policy file {file}: {}", describe_yaml_error(&e)))
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

/// serde_norway says `size.max-size: invalid value … at line 3 column 13`; we say
/// `field `size.max-size`: … (line 3, column 13)`.
fn describe_yaml_error(e: &serde_norway::Error) -> String {
    let text = e.to_string();
    let (body, location) = match e.location() {
        Some(l) => {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            (
                text.strip_suffix(&suffix).unwrap_or(&text).to_owned(),
                format!(" (line {}, column {})", l.line(), l.column()),
            )
        }
        None => (text.clone(), String::new()),
    };
    // A path prefix `a.b[0].c: ` precedes the message for nested fields.
    let (path, message) = match body.split_once(": ") {
        Some((p, m))
            if !p.contains(' ') && p.chars().next().is_some_and(|c| c.is_ascii_lowercase()) =>
        {
            (Some(p.to_owned()), m.to_owned())
        }
        _ => (None, body.clone()),
    };
    // `size: unknown field `max-sise`` → the path of the unknown field itself.
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(f, _)| f.to_owned());
    let path = match (path, unknown) {
        (Some(p), Some(f)) => Some(format!("{p}.{f}")),
        (p, _) => p,
    };
    let path = path.or_else(|| {
        // `unknown field `x`` at top level names the field itself.
        message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split_once('`'))
            .map(|(f, _)| f.to_owned())
    });
    match path {
        Some(p) => format!("field `{p}`: {message}{location}"),
        None => format!("{message}{location}"),
    }
}

fn parse_severity(s: &str) -> std::result::Result<Severity, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" => Ok(Severity::Critical),
        "high" => Ok(Severity::High),
        "medium" => Ok(Severity::Medium),
        "low" => Ok(Severity::Low),
        _ => Err(format!(
            "expected a severity: critical, high, medium or low; found `{}`",
            crate::reference::shorten(s)
        )),
    }
}

/// Deserializes a string through `parse` inside the visitor, so the YAML error carries the path.
pub(crate) struct ParseStr<T> {
    /// The parser.
    pub(crate) parse: fn(&str) -> std::result::Result<T, String>,
    /// What is expected, for type errors.
    pub(crate) expecting: &'static str,
}

impl<T> Visitor<'_> for ParseStr<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
}

fn severity<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Severity, D::Error> {
    d.deserialize_str(ParseStr {
        parse: parse_severity,
        expecting: "a severity: critical, high, medium or low",
    })
}

fn size_opt<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a size such as 2GiB, 500MB or a number of bytes, or null")
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Option<u64>, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("expected a size, found the negative number {v}")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Option<u64>, E> {
            parse_size(v).map(Some).map_err(|e| E::custom(e.message))
        }
    }
    d.deserialize_any(V)
}

/// Parses a size: a number of bytes, or a number with a unit: `B`, decimal `KB` `MB` `GB` `TB`
/// (powers of 1000) or binary `KiB` `MiB` `GiB` `TiB` (powers of 1024), case-insensitive,
/// fractions allowed (`1.5GiB`). A bare `2G` is refused: it does not say which of the two.
///
/// # Errors
/// An input error naming the text and the accepted forms.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let bad = |why: &str| {
        Error::input(format!(
            "`{}` is not a size: {why}; expected e.g. 2GiB (binary), 2GB (decimal) or 1048576 (bytes)",
            crate::reference::shorten(text)
        ))
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad("it does not start with a number"));
    }
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        "k" | "m" | "g" | "t" | "ki" | "mi" | "gi" | "ti" => {
            return Err(bad(&format!(
                "the unit `{unit}` is ambiguous (write {unit}iB for powers of 1024 or {}B for powers of 1000)",
                unit.trim_end_matches(['i', 'I'])
            )));
        }
        _ => return Err(bad(&format!("unknown unit `{unit}`"))),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if fraction.contains('.') {
        return Err(bad("the number has two decimal points"));
    }
    let overflow = || bad("it is too large");
    let whole: u64 = whole.parse().map_err(|_| overflow())?;
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(overflow)?;
    if !fraction.is_empty() {
        // Exact decimal arithmetic on up to 9 fractional digits, rounded down.
        let digits = &fraction[..fraction.len().min(9)];
        let scale = 10u128.pow(u32::try_from(digits.len()).unwrap_or(9));
        let frac: u128 = digits
            .parse()
            .map_err(|_| bad("the fraction is not a number"))?;
        let extra = u64::try_from(frac * u128::from(multiplier) / scale).map_err(|_| overflow())?;
        bytes = bytes.checked_add(extra).ok_or_else(overflow)?;
    }
    Ok(bytes)
}

/// Renders bytes for humans with binary units (`1.50 GiB`), exact bytes below 1 KiB.
#[must_use]
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateDecision {
    /// Every check passed.
    Promote,
    /// Nothing refuses, but there are warnings or forced overrides.
    PromoteWithWarnings,
    /// At least one failure refuses.
    Refuse,
}

impl fmt::Display for GateDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Promote => "promote",
            Self::PromoteWithWarnings => "promote with warnings",
            Self::Refuse => "refuse",
        })
    }
}

/// The gate's decision and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gate {
    /// The decision.
    pub decision: GateDecision,
    /// Ids of the checks that refuse (each once, in result order).
    pub refusals: Vec<String>,
    /// Ids of the checks whose failures `force` overrode (each once).
    pub overridden: Vec<String>,
    /// Results that warn: status `warn`, or a failure of MEDIUM or LOW severity.
    pub warnings: usize,
}

/// Whether a failed result refuses: CRITICAL or HIGH severity, or a check that could not run
/// (a category other than VALIDATION: the registry could not be asked).
#[must_use]
pub fn refuses(result: &CheckResult) -> bool {
    result.status == CheckStatus::Fail
        && (matches!(result.severity, Severity::Critical | Severity::High)
            || result.category != Category::Validation)
}

/// Turns check results into a decision. A failure refuses when [`refuses`] says so; with
/// `force_reason`, each refusing failure that is not `unforceable` is marked overridden with the
/// reason instead (an expected-digest mismatch, a missing or corrupt blob, and a check that could
/// not run are never overridden). A failure of MEDIUM or LOW severity warns. A forced promotion
/// is [`GateDecision::PromoteWithWarnings`]. An empty or blank reason is no force: the CLI layer
/// refuses `--force` without a reason as an input error before calling this.
pub fn gate(results: &mut [CheckResult], force_reason: Option<&str>) -> Gate {
    let reason = force_reason.map(str::trim).filter(|r| !r.is_empty());
    let mut refusals: Vec<String> = Vec::new();
    let mut overridden: Vec<String> = Vec::new();
    let mut warnings = 0;
    for r in results.iter_mut() {
        if refuses(r) {
            let forceable = !r.unforceable && r.category == Category::Validation;
            match reason {
                Some(reason) if forceable => {
                    r.overridden = true;
                    r.override_reason = Some(reason.to_owned());
                    if !overridden.contains(&r.id) {
                        overridden.push(r.id.clone());
                    }
                }
                _ => {
                    if !refusals.contains(&r.id) {
                        refusals.push(r.id.clone());
                    }
                }
            }
        } else if matches!(r.status, CheckStatus::Warn | CheckStatus::Fail) {
            warnings += 1;
        }
    }
    let decision = if !refusals.is_empty() {
        GateDecision::Refuse
    } else if warnings > 0 || !overridden.is_empty() {
        GateDecision::PromoteWithWarnings
    } else {
        GateDecision::Promote
    };
    Gate {
        decision,
        refusals,
        overridden,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("2GiB", 2 << 30)]
    #[case("2GB", 2_000_000_000)]
    #[case("2 gib", 2 << 30)]
    #[case("512MiB", 512 << 20)]
    #[case("1.5GiB", 3 << 29)]
    #[case("100kb", 100_000)]
    #[case("1048576", 1 << 20)]
    #[case("10B", 10)]
    #[case("1TiB", 1 << 40)]
    fn sizes(#[case] text: &str, #[case] bytes: u64) {
        assert_eq!(parse_size(text).unwrap(), bytes);
    }

    #[rstest]
    #[case("2G", "ambiguous")]
    #[case("2g", "ambiguous")]
    #[case("2Gi", "ambiguous")]
    #[case("GiB", "does not start with a number")]
    #[case("", "does not start with a number")]
    #[case("-1GiB", "does not start with a number")]
    #[case("2 parsecs", "unknown unit")]
    #[case("99999999999999999999", "too large")]
    #[case("20000000TiB", "too large")]
    #[case("1.2.3GB", "two decimal points")]
    fn refused_sizes(#[case] text: &str, #[case] needle: &str) {
        let e = parse_size(text).unwrap_err();
        assert!(e.message.contains(needle), "{text}: {}", e.message);
        assert!(e.message.contains("2GiB"), "{}", e.message);
    }

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
    fn format_sizes() {
        assert_eq!(format_size(10), "10 B");
        assert_eq!(format_size(3 << 29), "1.50 GiB");
        assert_eq!(format_size(3_302_483), "3.15 MiB");
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    fn result(id: &str, status: CheckStatus, severity: Severity) -> CheckResult {
        CheckResult::new(id, status, severity, "m")
    }

    #[test]
    fn decisions() {
        let mut all_pass = vec![
            result("exists", CheckStatus::Pass, Severity::Critical),
            result("scan", CheckStatus::Skipped, Severity::Critical),
        ];
        assert_eq!(gate(&mut all_pass, None).decision, GateDecision::Promote);

        let mut warned = vec![
            result("labels", CheckStatus::Warn, Severity::High),
            result("metadata", CheckStatus::Fail, Severity::Medium),
        ];
        let g = gate(&mut warned, None);
        assert_eq!(g.decision, GateDecision::PromoteWithWarnings);
        assert_eq!(g.warnings, 2);
        assert!(g.refusals.is_empty());

        let mut refused = vec![
            result("entrypoint", CheckStatus::Fail, Severity::High),
            result("entrypoint", CheckStatus::Fail, Severity::High),
            result("size", CheckStatus::Fail, Severity::Critical),
        ];
        let g = gate(&mut refused, None);
        assert_eq!(g.decision, GateDecision::Refuse);
        assert_eq!(g.refusals, ["entrypoint", "size"]);
        assert!(refused.iter().all(|r| !r.overridden));
    }

    #[test]
    fn force_overrides_all_but_unforceable_and_request_failures() {
        let mut results = vec![
            result("entrypoint", CheckStatus::Fail, Severity::High),
            result("layers", CheckStatus::Fail, Severity::High).unforceable(),
            CheckResult::could_not_run("layers", &crate::error::Error::network("reset")),
        ];
        let g = gate(&mut results, Some(" INC-1 "));
        assert_eq!(g.decision, GateDecision::Refuse);
        assert_eq!(g.refusals, ["layers"]);
        assert_eq!(g.overridden, ["entrypoint"]);
        assert!(results[0].overridden);
        assert_eq!(results[0].override_reason.as_deref(), Some("INC-1"));
        assert!(!results[1].overridden && !results[2].overridden);

        let mut forceable = vec![result("labels", CheckStatus::Fail, Severity::Critical)];
        let g = gate(&mut forceable, Some("why"));
        assert_eq!(g.decision, GateDecision::PromoteWithWarnings);
        // A blank reason is no force.
        let mut blank = vec![result("labels", CheckStatus::Fail, Severity::Critical)];
        assert_eq!(gate(&mut blank, Some("  ")).decision, GateDecision::Refuse);
    }
}
