//! The lineage facts of a [`Promotion`](super::record::Promotion) record: whether it was a
//! promotion or a rollback, the history record it pushed before the moving tags moved, and for
//! a rollback the tags put back, the digest rolled back from (now held), the reason, and every
//! candidate that was weighed with why it was taken or skipped. Plain data; the rollback's logic
//! is `release/rollback.rs`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a promotion record (and a history record) says happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A promotion moved the tags to `digest`.
    #[default]
    Promotion,
    /// A rollback moved the tags back to `digest` (from `previous_digest`, now held).
    Rollback,
}

impl Kind {
    /// `promotion` or `rollback`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Promotion => "promotion",
            Self::Rollback => "rollback",
        }
    }
}

/// The history record pushed before the moving tags moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryFacts {
    /// The record manifest's digest (a referrer of the promoted digest).
    pub record_digest: String,
    /// How it was attached: `api` (the referrers API) or `fallback-tag` (the `sha256-<hex>` index).
    pub path: String,
    /// What the moving tags held before (`null`: absent).
    pub previous_digest: Option<String>,
}

/// Where a rollback candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateOrigin {
    /// The promotion history kept in the registry.
    History,
    /// An earlier audit file.
    Audit,
    /// Named with `--to DIGEST|TAG`.
    Explicit,
}

/// One digest a rollback weighed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateFact {
    /// The digest.
    pub digest: String,
    /// Where it came from.
    pub origin: CandidateOrigin,
    /// When it was promoted (the record's or audit's time), if known.
    pub promoted_at: Option<String>,
    /// Whether it was taken.
    pub taken: bool,
    /// Why it was taken or skipped.
    pub why: String,
}

/// What a rollback did and why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackFacts {
    /// The moving tags put back.
    pub tags: Vec<String>,
    /// `--to` as given (`previous`, `N`, a digest or a tag).
    pub target: String,
    /// The digest the tags held (rolled back from: held, so that `plan` does not re-promote it).
    pub from_digest: Option<String>,
    /// The digest put back.
    pub to_digest: Option<String>,
    /// The reason given.
    pub reason: String,
    /// Every candidate weighed, newest first.
    pub candidates: Vec<CandidateFact>,
}
