//! The named states of a promotion, recorded in the audit's transitions and in each error
//! record. Below `record` and `results`, which both use it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The named states a promotion moves through (issue 5); the audit records each transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Reading inputs, building the plan.
    Initializing,
    /// Registries reachable, pull and push allowed, tags writable.
    ValidatingConditions,
    /// Resolving the source and running the checks.
    ValidationRunning,
    /// The gate lets the image through.
    ValidationPassed,
    /// The gate found failures (refused unless forced).
    ValidationFailed,
    /// Failures overridden by `force` with a reason.
    Forced,
    /// Copying blobs and manifests, verifying, tagging.
    PromotionRunning,
    /// A transient failure is being retried.
    PromotionRetrying,
    /// Copied, verified, tagged.
    PromotionSucceeded,
    /// The copy failed.
    PromotionFailed,
    /// Writing the audit, errors log, summary and outputs.
    GeneratingReports,
    /// Done; the status says how it went.
    Completed,
    /// Done after an error.
    Failed,
}

impl State {
    /// The kebab-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::ValidatingConditions => "validating-conditions",
            Self::ValidationRunning => "validation-running",
            Self::ValidationPassed => "validation-passed",
            Self::ValidationFailed => "validation-failed",
            Self::Forced => "forced",
            Self::PromotionRunning => "promotion-running",
            Self::PromotionRetrying => "promotion-retrying",
            Self::PromotionSucceeded => "promotion-succeeded",
            Self::PromotionFailed => "promotion-failed",
            Self::GeneratingReports => "generating-reports",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}
