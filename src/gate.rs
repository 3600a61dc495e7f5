//! The Gate stage proper: check results in, a [`GateDecision`] out. CRITICAL and HIGH failures
//! refuse, MEDIUM and LOW failures warn; `force` with a reason overrides every refusing failure
//! except the unforceable ones (expected-digest mismatch, missing or corrupt blob) and checks
//! that could not run, keeping each overridden failure with the reason for the audit.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::{CheckResult, CheckStatus};
use crate::error::{Category, Severity};

/// What the gate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
