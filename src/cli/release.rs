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
