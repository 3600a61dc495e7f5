//! `image-promote check SRC`: Resolve → Check → Gate without copying anything. Input: the source
//! reference, the policy (file, flags, env; [`PolicyArgs`] is reusable by `promote`) and an
//! optional scan report; output: a table of results (or `--json`) and exit 0 (pass, warnings
//! included) or 3 (refused); 2 for bad input, 4/5 when the registry could not be asked.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::checks::{
    CheckInputs, CheckResult, CheckStatus, blob_probe, load_context, request_failure, run_checks,
};
use crate::cli::RegistryArgs;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::gate::{Gate, GateDecision, gate};
use crate::policy::{LabelRule, Policy, parse_size};
use crate::reference::Reference;
use crate::resolve::resolve_graph;

fn size_arg(s: &str) -> std::result::Result<u64, String> {
    parse_size(s).map_err(|e| e.message)
}

/// Check and policy options shared by `check` and `promote`. Precedence: flag > environment
/// variable > policy file > built-in default (DESIGN.md, Conventions).
#[derive(Debug, Args, Clone, Default)]
pub struct PolicyArgs {
    /// Policy file (YAML); without it the documented default policy applies (`--print-policy`).
    #[arg(long, value_name = "FILE", env = "IMAGE_PROMOTE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Vulnerability report of the image: Trivy JSON, Grype JSON or SARIF 2.1.0.
    #[arg(long, value_name = "FILE", env = "IMAGE_PROMOTE_SCAN_REPORT")]
    pub scan_report: Option<PathBuf>,
    /// The digest the image must have (e.g. the one that was tested); a mismatch is never forced.
    #[arg(long, value_name = "DIGEST", env = "IMAGE_PROMOTE_EXPECTED_DIGEST")]
    pub expected_digest: Option<String>,
    /// Download every blob and verify its sha256 (streaming, in parallel).
    #[arg(long)]
    pub deep: bool,
    /// Largest compressed size per platform (e.g. 2GiB or 2GB; a bare 2G is refused).
    #[arg(long, value_name = "SIZE", env = "IMAGE_PROMOTE_MAX_SIZE", value_parser = size_arg, help_heading = "Policy")]
    pub max_size: Option<u64>,
    /// Largest compressed layer (e.g. 1GiB).
    #[arg(long, value_name = "SIZE", env = "IMAGE_PROMOTE_MAX_LAYER_SIZE", value_parser = size_arg, help_heading = "Policy")]
    pub max_layer_size: Option<u64>,
    /// Required platforms, comma- or newline-separated (linux/amd64,linux/arm64).
    #[arg(
        long,
        value_name = "PLATFORMS",
        env = "IMAGE_PROMOTE_PLATFORMS",
        help_heading = "Policy"
    )]
    pub platforms: Vec<String>,
    /// Required labels, KEY or KEY=REGEX, comma-separated (newline-separated when a regex has a comma).
    #[arg(
        long,
        value_name = "LABELS",
        env = "IMAGE_PROMOTE_REQUIRED_LABELS",
        help_heading = "Policy"
    )]
    pub required_labels: Vec<String>,
}

impl PolicyArgs {
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
        let platforms = crate::cli::split_list(&self.platforms);
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
        Ok(policy)
    }

    /// What the checks read besides the image; `github_sha` is the commit being promoted.
    ///
    /// # Errors
    /// An input error for a malformed expected digest.
    pub fn inputs(&self, github_sha: Option<String>) -> Result<CheckInputs> {
        Ok(CheckInputs {
            expected_digest: self
                .expected_digest
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(|d| Digest::parse(d).map_err(|e| e.context("--expected-digest")))
                .transpose()?,
            scan_report: self.scan_report.clone(),
            github_sha,
        })
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

/// `image-promote check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Source image (registry/repo:tag or @sha256:…).
    #[arg(value_name = "SRC", required_unless_present_any = ["source", "print_policy"])]
    pub src: Option<String>,
    /// Source image (same as SRC).
    #[arg(long, conflicts_with = "src")]
    pub source: Option<String>,
    /// Checks and policy.
    #[command(flatten)]
    pub checks: PolicyArgs,
    /// Proceed past failed checks (not an expected-digest mismatch or a missing/corrupt blob); needs --force-reason.
    #[arg(long)]
    pub force: bool,
    /// Why the failures are overridden; recorded with every overridden result.
    #[arg(long, value_name = "REASON")]
    pub force_reason: Option<String>,
    /// Print the machine-readable result on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print the effective policy (defaults, then the file, then flags) as YAML and exit.
    #[arg(long)]
    pub print_policy: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Checks `--force` and `--force-reason` together: force needs a non-blank reason, a reason needs
/// force, and the policy may forbid force.
///
/// # Errors
/// Input errors (exit 2).
pub fn force_reason(force: bool, reason: Option<&str>, policy: &Policy) -> Result<Option<String>> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match (force, reason) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(Error::input("--force-reason is given without --force")
            .hint("add --force to override failed checks, or drop --force-reason")),
        (true, None) => Err(Error::input("--force needs --force-reason")
            .hint("say why the failed checks may be overridden, e.g. --force-reason \"CVE-2025-1234 not reachable, INC-42\"; it is recorded")),
        (true, Some(_)) if !policy.allow_force => Err(Error::input(
            "--force is not allowed by the policy (allow-force: false)",
        )),
        (true, Some(r)) => Ok(Some(r.to_owned())),
    }
}

/// The machine-readable result of `check` (`--json`).
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// The reference checked.
    pub reference: String,
    /// Its top manifest digest (absent when it did not resolve).
    pub digest: Option<Digest>,
    /// The gate's decision.
    pub decision: GateDecision,
    /// Whether force was applied.
    pub forced: bool,
    /// The force reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_reason: Option<String>,
    /// Check ids that refuse.
    pub refusals: Vec<String>,
    /// Check ids overridden by force.
    pub overridden: Vec<String>,
    /// Results that warn.
    pub warnings: usize,
    /// Every result.
    pub results: Vec<CheckResult>,
}

/// Runs `check`.
///
/// # Errors
/// Input errors (2), a refusal (3), registry/network (4) or access (5) failures.
pub async fn run(args: CheckArgs) -> Result<()> {
    let policy = args.checks.resolve_policy()?;
    if args.print_policy {
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, "{}", policy.to_yaml()?);
        return Ok(());
    }
    let reason = force_reason(args.force, args.force_reason.as_deref(), &policy)?;
    let src = args
        .src
        .as_ref()
        .or(args.source.as_ref())
        .ok_or_else(|| Error::input("no source image given"))?;
    let reference = Reference::parse(src).map_err(|e| e.context("source"))?;
    let inputs = args.checks.inputs(std::env::var("GITHUB_SHA").ok())?;
    if let Some(path) = &inputs.scan_report {
        // A bad report is an input error before any request.
        crate::checks::read_scan_report(path)?;
    }
    let (source, _) = args.registry.clients()?;
    source.add_scope(reference.api_host(), reference.repository(), "pull");
    let (digest, mut results) = match resolve_graph(&source, &reference).await {
        Ok(graph) => {
            let digest = graph.root.digest.clone();
            let probe = blob_probe(&policy, args.checks.deep, std::collections::BTreeSet::new());
            let ctx = load_context(&source, graph, &inputs, &probe).await?;
            (Some(digest), run_checks(&ctx, &policy))
        }
        Err(e) if e.status == Some(404) => (
            None,
            crate::checks::exists::unresolved(&reference, &e, &policy),
        ),
        Err(e) => return Err(e),
    };
    let failure = request_failure(&results);
    let gate = gate(&mut results, reason.as_deref());
    let report = CheckReport {
        reference: reference.to_string(),
        digest,
        decision: gate.decision,
        forced: !gate.overridden.is_empty(),
        force_reason: reason.filter(|_| !gate.overridden.is_empty()),
        refusals: gate.refusals.clone(),
        overridden: gate.overridden.clone(),
        warnings: gate.warnings,
        results,
    };
    print_report(&report, &gate, args.json)?;
    if let Some(e) = failure {
        return Err(e);
    }
    if gate.decision == GateDecision::Refuse {
        return Err(Error::refused(format!(
            "{reference}: refused by the checks: {}",
            gate.refusals.join(", ")
        ))
        .hint(refusal_hint(&report)));
    }
    Ok(())
}

fn refusal_hint(report: &CheckReport) -> String {
    let unforceable = report
        .results
        .iter()
        .any(|r| r.status == CheckStatus::Fail && r.unforceable && !r.overridden);
    if report.digest.is_none() {
        "check that the image exists and that the reference is spelled right".to_owned()
    } else if unforceable {
        "an expected-digest mismatch or a missing/corrupt blob cannot be forced: rebuild or re-push the image".to_owned()
    } else {
        "fix the image, adjust the policy, or override with --force --force-reason \"why\" (recorded)"
            .to_owned()
    }
}

/// The status column of the table.
#[must_use]
pub fn status_mark(result: &CheckResult) -> &'static str {
    match result.status {
        CheckStatus::Pass => "✅",
        CheckStatus::Warn => "⚠️",
        CheckStatus::Fail if result.overridden => "⚠️",
        CheckStatus::Fail if crate::gate::refuses(result) => "❌",
        CheckStatus::Fail => "⚠️",
        CheckStatus::Skipped => "⏭",
    }
}

fn print_report(report: &CheckReport, gate: &Gate, json: bool) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if json {
        let text =
            serde_json::to_string_pretty(report).map_err(|e| Error::internal(e.to_string()))?;
        let _ = writeln!(stdout, "{text}");
        return Ok(());
    }
    let _ = writeln!(
        stdout,
        "{}{}",
        report.reference,
        report
            .digest
            .as_ref()
            .map(|d| format!(" @ {d}"))
            .unwrap_or_default()
    );
    let id_width = report
        .results
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let platform_width = report
        .results
        .iter()
        .map(|r| r.platform.as_deref().map_or(1, str::len))
        .max()
        .unwrap_or(1)
        .max(8);
    let _ = writeln!(
        stdout,
        "   {:id_width$}  {:platform_width$}  RESULT",
        "CHECK", "PLATFORM"
    );
    for r in &report.results {
        let mut message = r.message.clone();
        if r.status == CheckStatus::Fail {
            message = format!("[{} {}] {message}", r.category, r.severity);
            if r.unforceable {
                message.push_str(" (cannot be forced)");
            }
            if let Some(reason) = &r.override_reason {
                message.push_str(&format!(" — overridden: {reason}"));
            }
        }
        let _ = writeln!(
            stdout,
            "{} {:id_width$}  {:platform_width$}  {message}",
            status_mark(r),
            r.id,
            r.platform.as_deref().unwrap_or("-"),
        );
    }
    let tail = match gate.decision {
        GateDecision::Refuse => format!("refused ({})", gate.refusals.join(", ")),
        GateDecision::PromoteWithWarnings if !gate.overridden.is_empty() => format!(
            "promote, forced past {}{}",
            gate.overridden.join(", "),
            if gate.warnings > 0 {
                format!(" ({} warning(s))", gate.warnings)
            } else {
                String::new()
            }
        ),
        GateDecision::PromoteWithWarnings => {
            format!("promote with {} warning(s)", gate.warnings)
        }
        GateDecision::Promote => "promote".to_owned(),
    };
    let _ = writeln!(stdout, "decision: {tail}");
    Ok(())
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
        assert!(force_reason(false, Some("why"), &p).is_err());
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
