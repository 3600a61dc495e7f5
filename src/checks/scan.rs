//! The `scan` check (Check stage): gates on a vulnerability report (Trivy JSON, Grype JSON,
//! SARIF 2.1.0, read by `crate::scan`). The report must belong to the image (a digest it names
//! matches the index, a child manifest or a config); the policy's ignore list (with expiry)
//! applies; each finding severity fails, warns or is logged. No report: skipped, visibly.

use super::{CheckEnv, CheckResult, CheckStatus, Outcome};
use crate::policy::Action;
use crate::scan::{Binding, Date, IgnoreOutcome, Severity, SuppressedBy, apply_ignores};

/// Findings ids shown in a message, at most.
const IDS_SHOWN: usize = 5;

/// Runs the `scan` check.
pub(super) fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    check_on(env, Date::today_utc())
}

/// Runs the `scan` check as on `today` (ignore-list expiry).
pub(super) fn check_on(env: &CheckEnv<'_>, today: Date) -> Vec<CheckResult> {
    let policy = &env.policy.scan;
    let Some(input) = &env.ctx.scan else {
        let result = if policy.require_report {
            env.result(
                "scan",
                CheckStatus::Fail,
                "no scan report given, and the policy requires one (scan.require-report)",
            )
        } else {
            env.result(
                "scan",
                CheckStatus::Skipped,
                "no scan report given (--scan-report): vulnerabilities not checked",
            )
        };
        return vec![result];
    };
    let mut report = input.report.clone();
    let mut out = Outcome::default();
    let digests = env.ctx.image.image_digests();
    let digest_refs: Vec<&str> = digests.iter().map(String::as_str).collect();
    let binding = report.belongs_to(&digest_refs);
    match &binding {
        Binding::Matches(d) => out.note(format!("report is of this image ({d})")),
        Binding::Mismatch { named } => out.fail(format!(
            "the report is of another image: it names {}, none of this image's digests ({} and its children/configs)",
            named.join(", "),
            env.ctx.image.graph.root.digest
        )),
        Binding::Unnamed => out.by_action(
            policy.unbound_report,
            "the report names no image digest: it cannot be tied to this image".to_owned(),
        ),
    }
    let applied = apply_ignores(&mut report, &policy.ignore, today);
    for a in &applied {
        if let IgnoreOutcome::Expired { matching } = a.outcome {
            out.warn(format!(
                "ignore entry {} expired on {} ({matching} finding(s) count again)",
                a.entry.id,
                a.entry
                    .expires
                    .map_or_else(|| "?".to_owned(), |d| d.to_string())
            ));
        }
    }
    let counts = report.counts();
    for severity in Severity::ALL {
        let n = counts.get(severity);
        if n == 0 {
            continue;
        }
        let action = policy.thresholds.action(severity);
        if action == Action::Log {
            continue; // the summary's counts show it
        }
        let mut ids: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let more = if ids.len() > IDS_SHOWN { ", …" } else { "" };
        let shown = format!(
            " ({}{more})",
            ids.iter()
                .take(IDS_SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.by_action(action, format!("{n} {severity} finding(s){shown}"));
    }
    let by_report = report
        .suppressed
        .iter()
        .filter(|f| {
            f.suppression
                .as_ref()
                .is_some_and(|s| s.by == SuppressedBy::Report)
        })
        .count();
    let by_list = report.suppressed.len() - by_report;
    if by_report > 0 {
        out.note(format!(
            "{by_report} suppressed in the report (not counted)"
        ));
    }
    if by_list > 0 {
        out.note(format!("{by_list} ignored by the policy's ignore list"));
    }
    let summary = format!(
        "{} report{}: {counts}",
        report.format,
        report
            .tool
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default()
    );
    let result = env
        .result("scan", out.status(), out.message(&summary))
        .details(serde_json::json!({
            "file": input.file.display().to_string(),
            "format": report.format,
            "tool": report.tool,
            "counts": counts,
            "suppressed": report.suppressed_counts(),
            "suppressed_by_report": by_report,
            "ignored": by_list,
            "binding": binding,
            "ignores": applied,
        }));
    vec![result]
}
