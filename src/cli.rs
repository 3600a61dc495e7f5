//! Command-line interface (clap derive). Every Action input has a long flag of exactly the same
//! name (docs/architecture.md, Conventions); skopeo-style aliases (`--src-creds`, `--dest-creds`,
//! `--tag`, `--insecure-registry`) are accepted too. Each flag group is declared once
//! ([`groups`]) and the subcommands are composed of them ([`subcommands`]); this module holds the
//! value parsers and the registry flags, which it turns into clients.

mod groups;
mod record;
mod release;
mod signing;
mod subcommands;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

pub use groups::{
    CheckOptions, DestinationArgs, GateArgs, OutputArgs, ReportArgs, SourceArgs, TagArgs,
    TransferArgs,
};
pub use record::{GitHubArgs, NotifyArgs};
pub use release::{LegArgs, MergeArgs, PlanArgs, PlanFormat, RollbackArgs};
pub use signing::SignArgs;
pub use subcommands::{CheckArgs, Cli, Command, CopyArgs, PromoteArgs};

use crate::error::{Error, Result};
use crate::registry::RegistryClient;
use crate::registry::credentials::{
    Credential, CredentialSource, Secret, default_docker_config_dir,
};
use crate::registry::retry::RetryPolicy;
use crate::registry::scheme::Connection;
use crate::registry::transport::TransportOptions;

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

/// Parses a humantime duration (`30s`, `2m`, `500ms`).
///
/// # Errors
/// A message naming the expected form.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration ({e}); write e.g. 30s, 2m, 500ms"))
}

/// Parses a boolean flag or input value: `true` or `false` (any case), nothing else. Every boolean
/// flag takes it: `--flag` alone means `true`, `--flag=false` turns it off.
///
/// # Errors
/// A message naming the accepted values.
pub fn parse_bool(value: &str) -> std::result::Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("`{value}` is not a boolean; write true or false")),
    }
}

/// Registry access, shared by every command: credentials and transport.
#[derive(Debug, Args, Clone)]
pub struct RegistryArgs {
    /// Credentials.
    #[command(flatten)]
    pub credentials: CredentialArgs,
    /// TLS, insecure registries, retries and timeouts.
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// Credentials for the source and destination registries.
#[derive(Debug, Args, Clone)]
pub struct CredentialArgs {
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
    #[arg(long, value_name = "BOOL", num_args = 0..=1, action = clap::ArgAction::Set, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = parse_bool, help_heading = "Credentials")]
    pub no_docker_config: bool,
}

/// How registries are reached: TLS trust, insecure registries, retries, timeouts.
#[derive(Debug, Args, Clone)]
pub struct TransportArgs {
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
    /// Attempts in all per request (and per blob transfer), the first included; no request is sent more often.
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
            crate::text::shorten(value)
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
        let (c, t) = (&self.credentials, &self.transport);
        let transport = Arc::new(Connection::for_this_build(TransportOptions {
            insecure_registries: t.insecure_registries(),
            ..self.transport_options()?
        })?);
        let retry = self.retry_policy();
        let docker_dir = if c.no_docker_config {
            None
        } else {
            default_docker_config_dir()
        };
        let src_cred = credential(
            c.source_username.as_ref(),
            c.source_password.as_ref(),
            c.src_creds.as_ref(),
            "source",
        )?;
        let dst_cred = credential(
            c.destination_username.as_ref(),
            c.destination_password.as_ref(),
            c.dest_creds.as_ref(),
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

    /// The connection and retry policy for the GitHub API: the CA certificates, timeouts and
    /// retry budget of these flags; no host is insecure there.
    ///
    /// # Errors
    /// Input errors for unusable CA certificates.
    pub fn api_connection(&self) -> Result<(Arc<Connection>, RetryPolicy)> {
        let connection = Arc::new(Connection::for_this_build(self.transport_options()?)?);
        Ok((connection, self.retry_policy()))
    }

    fn transport_options(&self) -> Result<TransportOptions> {
        let t = &self.transport;
        let ca_certs = t
            .ca_cert
            .iter()
            .map(|c| read_ca_cert(c))
            .collect::<Result<Vec<_>>>()?;
        Ok(TransportOptions {
            ca_certs,
            read_timeout: t.read_timeout,
            ..TransportOptions::default()
        })
    }

    fn retry_policy(&self) -> RetryPolicy {
        let t = &self.transport;
        RetryPolicy {
            attempts: t.retry_attempts,
            base_delay: t.retry_base_delay,
            max_delay: t.retry_max_delay,
        }
    }

    /// Secret values given on the command line or in the environment (for masking).
    #[must_use]
    pub fn secrets(&self) -> Vec<String> {
        let c = &self.credentials;
        let mut out: Vec<String> = [&c.source_password, &c.destination_password]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        for pair in [&c.src_creds, &c.dest_creds].into_iter().flatten() {
            if let Some((_, p)) = pair.split_once(':') {
                out.push(p.to_owned());
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }
}

impl TransportArgs {
    /// Every insecure registry from `--insecure-registries` and `--insecure-registry`.
    #[must_use]
    pub fn insecure_registries(&self) -> Vec<String> {
        let mut insecure = split_list(&self.insecure_registries);
        insecure.extend(split_list(&self.insecure_registry));
        insecure
    }
}
