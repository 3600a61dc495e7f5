//! Command-line interface (clap derive). Every Action input has a long flag of exactly the same
//! name (DESIGN.md, Conventions); skopeo-style aliases (`--src-creds`, `--dest-creds`, `--tag`,
//! `--insecure-registry`) are accepted too. This module turns flags into engine options.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::registry::RegistryClient;
use crate::registry::credentials::{
    Credential, CredentialSource, Secret, default_docker_config_dir,
};
use crate::registry::retry::RetryPolicy;
use crate::registry::scheme::Connection;
use crate::registry::transport::TransportOptions;

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
pub enum Command {
    /// Copy an image (single manifest or index) digest-preserving; tags are written last.
    Copy(CopyArgs),
    /// Run the checks on an image and gate it with the policy; copies nothing (exit 0 pass, 3 refused).
    Check(crate::commands::check::CheckArgs),
    /// Promote an image: validate conditions, run the checks, gate (force), copy, verify, tag, report.
    Promote(crate::commands::promote::PromoteArgs),
}

/// Splits a comma- or newline-separated list, dropping empty entries.
#[must_use]
pub fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split([',', '\n']))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Options shared by every command that talks to registries.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// User name for the source registry.
    #[arg(
        long,
        env = "IMAGE_PROMOTE_SOURCE_USERNAME",
        help_heading = "Credentials"
    )]
    pub source_username: Option<String>,
    /// Password or token for the source registry.
    #[arg(
        long,
        env = "IMAGE_PROMOTE_SOURCE_PASSWORD",
        hide_env_values = true,
        help_heading = "Credentials"
    )]
    pub source_password: Option<String>,
    /// User name for the destination registry.
    #[arg(
        long,
        env = "IMAGE_PROMOTE_DESTINATION_USERNAME",
        help_heading = "Credentials"
    )]
    pub destination_username: Option<String>,
    /// Password or token for the destination registry.
    #[arg(
        long,
        env = "IMAGE_PROMOTE_DESTINATION_PASSWORD",
        hide_env_values = true,
        help_heading = "Credentials"
    )]
    pub destination_password: Option<String>,
    /// Source credentials as USER:PASSWORD (skopeo style).
    #[arg(long, value_name = "USER:PASSWORD", help_heading = "Credentials", conflicts_with_all = ["source_username", "source_password"])]
    pub src_creds: Option<String>,
    /// Destination credentials as USER:PASSWORD (skopeo style).
    #[arg(long, value_name = "USER:PASSWORD", help_heading = "Credentials", conflicts_with_all = ["destination_username", "destination_password"])]
    pub dest_creds: Option<String>,
    /// Do not read docker's config.json for credentials.
    #[arg(long, help_heading = "Credentials")]
    pub no_docker_config: bool,
    /// Extra CA certificate(s) to trust, in addition to the system roots: a PEM file path or PEM text. Repeatable.
    #[arg(
        long,
        value_name = "PATH|PEM",
        help_heading = "TLS",
        allow_hyphen_values = true
    )]
    pub ca_cert: Vec<String>,
    /// Registries (host[:port]) that may use plain HTTP or unverified TLS; comma- or newline-separated.
    #[arg(
        long,
        value_name = "HOSTS",
        env = "IMAGE_PROMOTE_INSECURE_REGISTRIES",
        help_heading = "TLS"
    )]
    pub insecure_registries: Vec<String>,
    /// One insecure registry (host[:port]); repeatable.
    #[arg(long, value_name = "HOST[:PORT]", help_heading = "TLS")]
    pub insecure_registry: Vec<String>,
    /// Attempts per request in all, the first included.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Retries")]
    pub retry_attempts: u32,
    /// Longest wait between attempts; a longer Retry-After fails at once (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_parser = parse_duration, help_heading = "Retries")]
    pub retry_max_delay: Duration,
    /// First wait between attempts; doubles each time.
    #[arg(long, default_value = "250ms", value_parser = parse_duration, help_heading = "Retries", hide = true)]
    pub retry_base_delay: Duration,
    /// Longest silence while reading a response before it is retried as TIMEOUT.
    #[arg(long, default_value = "60s", value_parser = parse_duration, help_heading = "Retries")]
    pub read_timeout: Duration,
}

/// Parses a humantime duration (`30s`, `2m`, `500ms`).
///
/// # Errors
/// A message naming the expected form.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 30s, 2m, 500ms"))
}

/// `image-promote copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source image (registry/repo:tag or @sha256:…).
    #[arg(value_name = "SRC", required_unless_present = "source")]
    pub src: Option<String>,
    /// Destination image (registry/repo[:tag]).
    #[arg(value_name = "DST", required_unless_present = "destination")]
    pub dst: Option<String>,
    /// Source image (same as SRC).
    #[arg(long, conflicts_with = "src")]
    pub source: Option<String>,
    /// Destination image (same as DST).
    #[arg(long, conflicts_with = "dst")]
    pub destination: Option<String>,
    /// Extra destination tags, comma- or newline-separated.
    #[arg(long, value_name = "TAGS")]
    pub tags: Vec<String>,
    /// One extra destination tag; repeatable.
    #[arg(long, value_name = "TAG")]
    pub tag: Vec<String>,
    /// Blobs transferred at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Report what would be copied; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the machine-readable result on stdout.
    #[arg(long)]
    pub json: bool,
    /// Allow moving a version-like tag (1.2.3, v1.2) that already points at another digest.
    #[arg(long)]
    pub allow_tag_move: bool,
    /// Registry access.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl CopyArgs {
    /// The source and destination references.
    ///
    /// # Errors
    /// Input errors for malformed references.
    pub fn references(&self) -> Result<(Reference, Reference)> {
        let src = self
            .src
            .as_ref()
            .or(self.source.as_ref())
            .ok_or_else(|| Error::input("no source image given"))?;
        let dst = self
            .dst
            .as_ref()
            .or(self.destination.as_ref())
            .ok_or_else(|| Error::input("no destination image given"))?;
        Ok((
            Reference::parse(src).map_err(|e| e.context("source"))?,
            Reference::parse(dst).map_err(|e| e.context("destination"))?,
        ))
    }

    /// Every extra tag from `--tags` and `--tag`.
    #[must_use]
    pub fn extra_tags(&self) -> Vec<String> {
        let mut tags = split_list(&self.tags);
        tags.extend(split_list(&self.tag));
        tags
    }
}

fn credential(
    user: Option<&String>,
    password: Option<&String>,
    pair: Option<&String>,
    role: &str,
) -> Result<Option<Credential>> {
    if let Some(pair) = pair {
        let flag = if role == "source" {
            "--src-creds"
        } else {
            "--dest-creds"
        };
        return Credential::parse_pair(flag, pair).map(Some);
    }
    match (
        user.filter(|u| !u.is_empty()),
        password.filter(|p| !p.is_empty()),
    ) {
        (Some(u), Some(p)) => Ok(Some(Credential {
            username: u.clone(),
            password: Secret::new(p.clone()),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(Error::input(format!(
            "--{role}-username is set but --{role}-password is not"
        ))
        .hint(format!(
            "pass both, or set IMAGE_PROMOTE_{}_PASSWORD",
            role.to_uppercase()
        ))),
        (None, Some(_)) => Err(Error::input(format!(
            "--{role}-password is set but --{role}-username is not"
        ))),
    }
}

/// Reads a `ca-cert` value: PEM text as is, else a file path.
///
/// # Errors
/// An input error naming the path.
pub fn read_ca_cert(value: &str) -> Result<Vec<u8>> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    std::fs::read(PathBuf::from(value)).map_err(|e| {
        Error::input(format!(
            "ca-cert `{}`: cannot read the file: {e}",
            crate::reference::shorten(value)
        ))
        .hint("pass a path to a PEM file or the PEM text itself")
    })
}

impl RegistryArgs {
    /// Builds the source and destination clients.
    ///
    /// # Errors
    /// Input errors for bad credentials flags or CA certificates.
    pub fn clients(&self) -> Result<(Arc<RegistryClient>, Arc<RegistryClient>)> {
        let mut insecure = split_list(&self.insecure_registries);
        insecure.extend(split_list(&self.insecure_registry));
        let ca_certs = self
            .ca_cert
            .iter()
            .map(|c| read_ca_cert(c))
            .collect::<Result<Vec<_>>>()?;
        let transport = Arc::new(Connection::native(TransportOptions {
            ca_certs,
            insecure_registries: insecure,
            read_timeout: self.read_timeout,
            ..TransportOptions::default()
        })?);
        let retry = RetryPolicy {
            attempts: self.retry_attempts,
            base_delay: self.retry_base_delay,
            max_delay: self.retry_max_delay,
        };
        let docker_dir = if self.no_docker_config {
            None
        } else {
            default_docker_config_dir()
        };
        let src_cred = credential(
            self.source_username.as_ref(),
            self.source_password.as_ref(),
            self.src_creds.as_ref(),
            "source",
        )?;
        let dst_cred = credential(
            self.destination_username.as_ref(),
            self.destination_password.as_ref(),
            self.dest_creds.as_ref(),
            "destination",
        )?;
        let source = RegistryClient::new(
            transport.clone(),
            CredentialSource {
                explicit: src_cred,
                docker_config_dir: docker_dir.clone(),
            },
            retry,
            "source",
        );
        let destination = RegistryClient::new(
            transport,
            CredentialSource {
                explicit: dst_cred,
                docker_config_dir: docker_dir,
            },
            retry,
            "destination",
        );
        Ok((Arc::new(source), Arc::new(destination)))
    }

    /// Secret values given on the command line or in the environment (for masking).
    #[must_use]
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = [&self.source_password, &self.destination_password]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for pair in [&self.src_creds, &self.dest_creds].into_iter().flatten() {
            if let Some((_, p)) = pair.split_once(':') {
                out.push(p.to_owned());
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }
}
