//! The flags of the release commands: `plan FILE` (read-only: what a release of the plan file's
//! services would change) and the compare-and-swap of a matrix leg (`--expected-previous`, taken
//! by `promote`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::RegistryArgs;
use crate::error::Result;
use crate::release::cas::CompareAndSwap;

/// How `plan` and `report` print on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// The JSON document (`plan`: `schemas/plan.schema.json`).
    Json,
    /// The Markdown of the step summary.
    Markdown,
}

/// `image-promote plan FILE`: compares the plan file with the registries, writes nothing.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The plan file (YAML; docs/releases.md).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// What stdout gets: the JSON plan or the Markdown table.
    #[arg(long, value_enum, default_value = "json", help_heading = "Output")]
    pub format: PlanFormat,
    /// Registry access (source flags for the sources, destination flags for the destinations).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// The compare-and-swap of a matrix leg (`promote`): the moving tags and what they must hold now.
#[derive(Debug, Args, Clone)]
pub struct LegArgs {
    /// Destination tags that may move (added to the tags); the ones --expected-previous guards.
    #[arg(long, value_name = "TAGS", help_heading = "Tags")]
    pub moving_tags: Vec<String>,
    /// The digest the moving tags must hold now (or `none`: absent); refused before any write when production moved after the plan.
    #[arg(long, value_name = "DIGEST|none", help_heading = "Tags")]
    pub expected_previous: Option<String>,
}

impl LegArgs {
    /// Every moving tag from `--moving-tags`.
    #[must_use]
    pub fn moving_tags(&self) -> Vec<String> {
        super::split_list(&self.moving_tags)
    }

    /// The compare-and-swap, when `--expected-previous` is set (an empty value is unset).
    ///
    /// # Errors
    /// Input errors from [`CompareAndSwap::parse`].
    pub fn compare_and_swap(&self) -> Result<Option<CompareAndSwap>> {
        self.expected_previous
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(|v| CompareAndSwap::parse(v, self.moving_tags()))
            .transpose()
    }
}

/// `image-promote report --merge AUDIT...`: the legs' audit files folded into one release summary.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The legs' audit files (or directories holding `promotion-*.json`, searched two levels deep), in any order.
    #[arg(long, value_name = "AUDIT", num_args = 1.., required = true)]
    pub merge: Vec<PathBuf>,
    /// What stdout gets: the JSON report or the Markdown table.
    #[arg(long, value_enum, default_value = "json", help_heading = "Output")]
    pub format: PlanFormat,
}

/// `image-promote rollback DEST --tag prod --reason TEXT`: puts a moving tag back to its last good
/// digest, as a promotion with the same checks, gate, record and summary (`kind: rollback`).
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The destination repository (registry/repository; a `:tag` is taken as the first --tag).
    #[command(flatten)]
    pub destination: super::DestinationArgs,
    /// The moving tags to put back (comma- or newline-separated; repeatable). Version tags never move.
    #[arg(
        long = "tag",
        value_name = "TAGS",
        env = "IMAGE_PROMOTE_ROLLBACK_TAG",
        help_heading = "Rollback"
    )]
    pub tags: Vec<String>,
    /// Where to: `previous` (the newest good predecessor), a count back (1, 2, …), a digest, or a tag of the repository.
    #[arg(
        long,
        value_name = "previous|N|DIGEST|TAG",
        default_value = "previous",
        env = "IMAGE_PROMOTE_ROLLBACK_TO",
        help_heading = "Rollback"
    )]
    pub to: String,
    /// Why (recorded in the history, the audit and the summary); required.
    #[arg(
        long,
        value_name = "TEXT",
        env = "IMAGE_PROMOTE_ROLLBACK_REASON",
        help_heading = "Rollback"
    )]
    pub reason: Option<String>,
    /// Earlier audit files (or directories of `promotion-*.json`) to read the tag's lineage from when the registry keeps no history for it.
    #[arg(long, value_name = "AUDIT", help_heading = "Rollback")]
    pub history_audit: Vec<PathBuf>,
    /// Checks and policy: the same options as `check` (the digest put back must pass today's policy).
    #[command(flatten)]
    pub checks: super::CheckOptions,
    /// Force.
    #[command(flatten)]
    pub gate: super::GateArgs,
    /// `--dry-run` shows the candidates and why each was taken or skipped, and writes nothing.
    #[command(flatten)]
    pub transfer: super::TransferArgs,
    /// The record.
    #[command(flatten)]
    pub report: super::ReportArgs,
    /// GitHub: approvals, deployment URL, the production deploy.
    #[command(flatten)]
    pub github: super::GitHubArgs,
    /// Notifications.
    #[command(flatten)]
    pub notify: super::NotifyArgs,
    /// Signing the digest put back (as for a promotion).
    #[command(flatten)]
    pub sign: super::SignArgs,
    /// Registry access (the destination's credentials serve both sides).
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl RollbackArgs {
    /// The moving tags from `--tag`, after the destination's own tag if it names one.
    #[must_use]
    pub fn tags(&self) -> Vec<String> {
        let own = self
            .destination
            .reference()
            .ok()
            .and_then(|r| r.tag().map(str::to_owned));
        let mut tags: Vec<String> = own.into_iter().collect();
        for t in super::split_list(&self.tags) {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        tags
    }
}
