//! `image-promote report --merge AUDIT...`: the audit files of a release's matrix legs (in any
//! order, re-runs included) folded into one summary ([`crate::release::merge`]): JSON (or
//! Markdown) on stdout and, as a GitHub Actions step, the table in the step summary and the
//! outputs `overall` and `report` (the compact JSON). Exit 0 when the files could be read
//! (whatever the statuses: `overall` says), 2 for an unreadable or malformed audit file.

use std::path::{Path, PathBuf};

use crate::action::{Runner, output_block};
use crate::cli::{MergeArgs, PlanFormat};
use crate::error::{Error, Result};
use crate::release::merge::{Leg, markdown, merge};
use crate::report::Redactor;

/// The audit files under `path`: the file itself, or the `promotion-*.json` files of a directory
/// and of its subdirectories (as `actions/download-artifact` lays them out), sorted.
pub(super) fn audit_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![(path.to_owned(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            Error::input(format!(
                "audit directory {}: cannot read it: {e}",
                dir.display()
            ))
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if p.is_dir() && depth < 2 {
                dirs.push((p, depth + 1));
            } else if name.starts_with("promotion-") && name.ends_with(".json") {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(Error::input(format!(
            "audit directory {}: no promotion-*.json file in it",
            path.display()
        )));
    }
    Ok(out)
}

/// Runs `report --merge`.
///
/// # Errors
/// Input errors naming the audit file.
pub fn run(args: &MergeArgs) -> Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let runner = Runner::from_env(&env);
    let sink = crate::report::journal::sink_for_this_process(Redactor::default());
    let mut legs = Vec::new();
    for path in &args.merge {
        for file in audit_files(path)? {
            legs.push(Leg::read(&file)?);
        }
    }
    let report = merge(legs);
    let json = serde_json::to_string_pretty(&report).map_err(|e| Error::internal(e.to_string()))?;
    let md = markdown(&report);
    match args.format {
        PlanFormat::Json => sink.line(&json),
        PlanFormat::Markdown => sink.line(md.trim_end()),
    }
    if let Some(runner) = runner {
        if let Some(path) = &runner.step_summary {
            sink.append(path, &md)?;
        }
        let overall = serde_json::to_value(report.overall)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let compact = serde_json::to_string(&report).map_err(|e| Error::internal(e.to_string()))?;
        let text = output_block("overall", &overall) + &output_block("report", &compact);
        match &runner.output {
            Some(path) => sink.append(path, &text)?,
            None => sink.line("GITHUB_OUTPUT is not set: the step outputs are not written"),
        }
    }
    Ok(())
}
