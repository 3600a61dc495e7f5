//! The subcommands, each composed of the flag groups of [`super::groups`] it takes:
//!
//! | group | `copy` | `check` | `promote` |
//! |---|---|---|---|
//! | [`SourceArgs`] (SRC, --source) | ✓ | ✓ | ✓ |
//! | [`DestinationArgs`] (DST, --destination) | ✓ | | ✓ |
//! | [`TagArgs`] (--tags, --tag, --allow-tag-move) | ✓ | | ✓ |
//! | [`TransferArgs`] (--concurrency, --dry-run) | ✓ | | ✓ |
//! | [`CheckOptions`] (--policy, --scan-report, --expected-digest, --deep, --max-size, …) | | ✓ | ✓ |
//! | [`GateArgs`] (--force, --force-reason) | | ✓ | ✓ |
//! | [`OutputArgs`] (--json) | ✓ | ✓ | |
//! | [`ReportArgs`] (--audit-dir, --summary, --environment) | | | ✓ |
//! | [`GitHubArgs`] (--github-token, --require-approval, --environment-url) | | | ✓ |
//! | [`NotifyArgs`] (--notify-webhook, --notify-on, --notify-format, --notify-secret) | | | ✓ |
//! | [`LegArgs`](super::LegArgs) (--moving-tags, --expected-previous) | | | ✓ |
//! | [`RegistryArgs`] (credentials, TLS, retries) | ✓ | ✓ | ✓ |

use clap::{Args, Parser, Subcommand};

use super::RegistryArgs;
use super::groups::{
    CheckOptions, DestinationArgs, GateArgs, OutputArgs, ReportArgs, SourceArgs, TagArgs,
    TransferArgs,
};
use super::record::{GitHubArgs, NotifyArgs};

/// Promote a tested container image from staging to production, byte for byte.
#[derive(Debug, Parser)]
#[command(name = "image-promote", version, about, long_about = None)]
pub struct Cli {
    /// More output (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only add indirection"
)]
pub enum Command {
    /// Copy an image (single manifest or index) digest-preserving; tags are written last.
    Copy(CopyArgs),
    /// Run the checks on an image and gate it with the policy; copies nothing (exit 0 pass, 3 refused).
    Check(CheckArgs),
    /// Promote an image: validate conditions, run the checks, gate (force), copy, verify, tag, report.
    Promote(PromoteArgs),
    /// Plan a release of many services from a plan file: incoming vs outgoing per service, read-only (exit 0 plan, 3 blocked).
    Plan(super::release::PlanArgs),
    /// Fold the audit files of a release's legs into one summary (`--merge`; statuses never move backwards).
    Report(super::release::MergeArgs),
    /// Put a moving tag back to its last good digest: the same checks, gate, record and summary as a promotion (exit 3 refused).
    Rollback(super::release::RollbackArgs),
}

/// `image-promote copy`: the engine alone, no checks.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The source image.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The destination image.
    #[command(flatten)]
    pub destination: DestinationArgs,
    /// Destination tags.
    #[command(flatten)]
    pub tags: TagArgs,
    /// How the copy runs.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Output.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `image-promote check`: resolve, check and gate; copies nothing.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The image checked.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Checks and policy.
    #[command(flatten)]
    pub checks: CheckOptions,
    /// Force.
    #[command(flatten)]
    pub gate: GateArgs,
    /// Output.
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print the effective policy (defaults, then the file, then flags) as YAML and exit.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = super::parse_bool, help_heading = "Output")]
    pub print_policy: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// `image-promote promote`: the whole flow. Every Action input is a long flag of exactly the same
/// name.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The source image.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The destination image.
    #[command(flatten)]
    pub destination: DestinationArgs,
    /// Destination tags.
    #[command(flatten)]
    pub tags: TagArgs,
    /// Checks and policy: the same options as `check`.
    #[command(flatten)]
    pub checks: CheckOptions,
    /// Force.
    #[command(flatten)]
    pub gate: GateArgs,
    /// How the copy runs.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// The record.
    #[command(flatten)]
    pub report: ReportArgs,
    /// GitHub: approvals, deployment URL.
    #[command(flatten)]
    pub github: GitHubArgs,
    /// Notifications.
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// A matrix leg's compare-and-swap (moving tags, expected previous digest).
    #[command(flatten)]
    pub leg: super::release::LegArgs,
    /// Signing the promotion.
    #[command(flatten)]
    pub sign: super::SignArgs,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}
