//! `image-promote check SRC`: Resolve → Check → Gate without copying anything. Input: the source
//! reference, the policy (file, flags, env: [`crate::cli::CheckOptions`], which `promote` takes
//! too) and an optional scan report; output: a table of results (or `--json`) and exit 0 (pass, warnings
//! included) or 3 (refused); 2 for bad input, 4/5 when the registry could not be asked.

use serde::Serialize;
use std::io::Write as _;

use crate::checks::{
    CheckResult, CheckStatus, blob_probe, load_context, request_failure, run_checks,
};
use crate::cli::CheckArgs;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::gate::{Gate, GateDecision, gate};
use crate::resolve::resolve_graph;

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
    let reason = args.gate.reason(&policy)?;
    let reference = args.source.reference()?;
    let mut inputs = args.checks.inputs(std::env::var("GITHUB_SHA").ok())?;
    inputs.signature = crate::checks::signature_request(&policy)?;
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
        Err(e) if e.reason == crate::error::Reason::ManifestUnknown => (
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
    print_report(&report, &gate, args.output.json)?;
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
