//! The GitHub runner contract (docs/architecture.md, The Action): `INPUT_*` variables mapped onto the same
//! options as the CLI flags (a flag on the command line wins), workflow commands (`::add-mask::`,
//! `::group::`, `::error title=…::`), and the `$GITHUB_OUTPUT` / `$GITHUB_STEP_SUMMARY` files
//! written with the file-command syntax. Input: the process environment; output: through the
//! [`Sink`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::cli::parse_bool;
use crate::error::{Error, Result};
use crate::promote::Observer;
use crate::report::record::{ErrorRecord, Promotion, SeverityName, State};
use crate::report::sink::{Sink, escape_data};

/// Whether the process runs as a step of a GitHub Actions job.
#[must_use]
pub fn in_actions(env: &dyn Fn(&str) -> Option<String>) -> bool {
    env("GITHUB_ACTIONS").as_deref() == Some("true")
}

/// The environment variable the runner sets for input `name` (`expected-digest` →
/// `INPUT_EXPECTED-DIGEST`: upper case, hyphens kept).
#[must_use]
pub fn input_variable(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_uppercase())
}

/// Reads input `name`; an empty (or blank) value means unset, as the runner passes unset inputs.
#[must_use]
pub fn input(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(&input_variable(name)).filter(|v| !v.trim().is_empty())
}

/// When running as an Action (`GITHUB_ACTIONS=true` and some `INPUT_*` set), returns `args`
/// with the `promote` subcommand added if none was given, and one `--name=value` per input of
/// that subcommand that is set and not already given on the command line (flag > `INPUT_*` >
/// environment > policy > default). Otherwise returns `args` unchanged.
///
/// # Errors
/// An input error for a boolean input that is neither `true` nor `false`.
pub fn args_with_inputs(
    args: Vec<OsString>,
    command: &clap::Command,
    env: &dyn Fn(&str) -> Option<String>,
    vars: &[String],
) -> Result<Vec<OsString>> {
    if !in_actions(env) || !vars.iter().any(|v| v.starts_with("INPUT_")) {
        return Ok(args);
    }
    let mut args = args;
    let subcommands: Vec<&str> = command
        .get_subcommands()
        .map(clap::Command::get_name)
        .collect();
    let given = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| !a.starts_with('-'))
        .map(str::to_owned);
    match given.as_deref() {
        Some("promote") => {}
        Some(other) if subcommands.contains(&other) => return Ok(args),
        _ => args.insert(1.min(args.len()), OsString::from("promote")),
    }
    let Some(promote) = command.find_subcommand("promote") else {
        return Ok(args);
    };
    let mut extra = Vec::new();
    for arg in promote.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let Some(value) = input(env, long) else {
            continue;
        };
        let flag = format!("--{long}");
        let present = args.iter().filter_map(|a| a.to_str()).any(|a| {
            a == flag
                || a.strip_prefix(flag.as_str())
                    .is_some_and(|r| r.starts_with('='))
        });
        if present {
            continue;
        }
        if arg.get_value_parser().type_id() == clap::value_parser!(bool).type_id() {
            // Every boolean flag takes `--flag=true|false` (cli::parse_bool); checked here so the
            // message names the input.
            let on = parse_bool(&value).map_err(|e| {
                Error::input(format!("input `{long}`: {e}")).hint(format!(
                    "set `{long}: true` or `{long}: false` in the step's `with:`"
                ))
            })?;
            extra.push(OsString::from(format!("{flag}={on}")));
        } else {
            extra.push(OsString::from(format!("{flag}={value}")));
        }
    }
    args.extend(extra);
    Ok(args)
}

/// The runner's files, from its environment.
#[derive(Debug, Clone, Default)]
pub struct Runner {
    /// `$GITHUB_OUTPUT`.
    pub output: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`.
    pub step_summary: Option<PathBuf>,
    /// `$GITHUB_WORKSPACE`.
    pub workspace: Option<PathBuf>,
}

impl Runner {
    /// Reads the runner's variables; `None` outside Actions.
    #[must_use]
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        if !in_actions(env) {
            return None;
        }
        let path = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        Some(Self {
            output: path("GITHUB_OUTPUT"),
            step_summary: path("GITHUB_STEP_SUMMARY"),
            workspace: path("GITHUB_WORKSPACE"),
        })
    }

    /// `path` relative to the workspace when it lies inside it (so later steps can upload it).
    #[must_use]
    pub fn workspace_relative(&self, path: &Path) -> String {
        let absolute = if path.is_absolute() {
            path.to_owned()
        } else {
            std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| path.to_owned())
        };
        let relative = self
            .workspace
            .as_ref()
            .and_then(|w| absolute.strip_prefix(w).ok());
        match relative {
            Some(r) => r.display().to_string(),
            None if path.is_relative() => path.display().to_string(),
            None => absolute.display().to_string(),
        }
    }
}

/// Escapes an annotation property value (`title=`): data escapes plus `:` and `,`.
#[must_use]
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The annotation level for a severity: CRITICAL/HIGH → error, MEDIUM → warning, LOW → notice.
#[must_use]
pub fn level(severity: SeverityName) -> &'static str {
    match severity {
        SeverityName::Critical | SeverityName::High => "error",
        SeverityName::Medium => "warning",
        SeverityName::Low => "notice",
    }
}

/// One annotation line for an error record, title naming category and severity, message ending
/// with the hint.
#[must_use]
pub fn annotation(error: &ErrorRecord) -> String {
    let title = format!(
        "image-promote {} ({})",
        error.category.as_str(),
        error.severity.as_str()
    );
    let mut message = error.message.clone();
    if let Some(hint) = &error.hint {
        message.push_str("\nhint: ");
        message.push_str(hint);
    }
    format!(
        "::{} title={}::{}",
        level(error.severity),
        escape_property(&title),
        escape_data(&message)
    )
}

/// One `name<<DELIMITER … DELIMITER` block, with a random delimiter absent from the value.
#[must_use]
pub fn output_block(name: &str, value: &str) -> String {
    let delimiter = loop {
        let d = format!("ghadelimiter_{:016x}", fastrand::u64(..));
        if !value.contains(&d) {
            break d;
        }
    };
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// The step outputs of a promotion: `digest`, `source-digest`, `promoted`, `status`,
/// `audit-file`, `warnings`, `environment-url`, `pin-digest`.
#[must_use]
pub fn outputs(record: &Promotion, audit_file: Option<&str>) -> String {
    let image = record.image.as_ref();
    let source_digest = image.map(|i| i.source_digest.clone()).unwrap_or_default();
    let digest = image
        .and_then(|i| i.destination_digest.clone())
        .unwrap_or_default();
    [
        ("digest", digest),
        ("source-digest", source_digest),
        ("promoted", record.promoted.join("\n")),
        ("status", record.status.as_str().to_owned()),
        ("audit-file", audit_file.unwrap_or_default().to_owned()),
        ("warnings", record.warnings.to_string()),
        (
            "environment-url",
            record.environment_url.clone().unwrap_or_default(),
        ),
        ("pin-digest", record.pin_digest.clone().unwrap_or_default()),
    ]
    .iter()
    .map(|(n, v)| output_block(n, v))
    .collect()
}

/// Writes outputs and (when `summary` is on) the step summary into the runner's files, and one
/// annotation per error to the log.
///
/// # Errors
/// Write errors naming the file.
pub fn report(
    sink: &Sink,
    runner: &Runner,
    record: &Promotion,
    audit_file: Option<&Path>,
    summary: Option<&str>,
) -> Result<()> {
    for error in &record.errors {
        sink.line(&annotation(error));
    }
    if let (Some(path), Some(markdown)) = (&runner.step_summary, summary) {
        sink.append(path, markdown)?;
    }
    let audit = audit_file.map(|p| runner.workspace_relative(p));
    let text = outputs(record, audit.as_deref());
    match &runner.output {
        Some(path) => sink.append(path, &text)?,
        None => sink.line("GITHUB_OUTPUT is not set: the step outputs are not written"),
    }
    Ok(())
}

/// Opens a `::group::` per stage in the log.
pub struct Groups<'a> {
    sink: &'a Sink,
    open: AtomicBool,
}

impl<'a> Groups<'a> {
    /// Groups written through `sink`.
    #[must_use]
    pub fn new(sink: &'a Sink) -> Self {
        Self {
            sink,
            open: AtomicBool::new(false),
        }
    }

    /// Closes the open group, if any.
    pub fn close(&self) {
        if self.open.swap(false, Ordering::SeqCst) {
            self.sink.line("::endgroup::");
        }
    }
}

impl Observer for Groups<'_> {
    fn entered(&self, state: State) {
        let title = match state {
            State::ValidatingConditions => {
                "Validate conditions: registries, pull and push rights, tags"
            }
            State::ValidationRunning => "Resolve the source and run the checks",
            State::PromotionRunning => "Copy, verify, tag",
            State::GeneratingReports => "Reports",
            _ => return,
        };
        self.close();
        self.sink
            .line(&format!("::group::image-promote: {}", escape_data(title)));
        self.open.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn input_names_keep_hyphens() {
        assert_eq!(input_variable("expected-digest"), "INPUT_EXPECTED-DIGEST");
        let env = env_of(&[("INPUT_TAGS", "  "), ("INPUT_FORCE", "true")]);
        assert_eq!(input(&env, "tags"), None);
        assert_eq!(input(&env, "force").as_deref(), Some("true"));
    }

    #[test]
    fn annotation_escapes_and_levels() {
        let mut p = Promotion::new(Default::default(), None, Default::default());
        p.record_error(
            &Error::permission("push to a,b: denied\n100%").hint("check the credentials"),
        );
        let line = annotation(&p.errors[0]);
        assert_eq!(
            line,
            "::error title=image-promote PERMISSION (CRITICAL)::push to a,b: denied%0A100%25%0Ahint: check the credentials"
        );
        assert_eq!(level(SeverityName::Medium), "warning");
        assert_eq!(level(SeverityName::Low), "notice");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn output_blocks_are_multiline_safe() {
        let block = output_block("promoted", "a:1@sha256:x\nb:2@sha256:x");
        let mut lines = block.lines();
        let head = lines.next().unwrap();
        let delimiter = head.strip_prefix("promoted<<").unwrap();
        assert!(delimiter.starts_with("ghadelimiter_"));
        assert_eq!(lines.next(), Some("a:1@sha256:x"));
        assert_eq!(lines.next(), Some("b:2@sha256:x"));
        assert_eq!(lines.next(), Some(delimiter));
    }

    #[test]
    fn workspace_relative_paths() {
        let runner = Runner {
            workspace: Some(PathBuf::from("/github/workspace")),
            ..Runner::default()
        };
        assert_eq!(
            runner.workspace_relative(Path::new("/github/workspace/audit/p.json")),
            "audit/p.json"
        );
        assert_eq!(
            runner.workspace_relative(Path::new("/tmp/p.json")),
            "/tmp/p.json"
        );
    }

    #[test]
    fn parses_booleans_strictly() {
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("false"), Ok(false));
        assert!(parse_bool("yes").is_err());
    }
}
