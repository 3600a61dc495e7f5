//! `image-promote plan FILE`: what a release of the plan file's services would change, read-only
//! (like `--dry-run`: HEADs and GETs, no write anywhere). Input: the plan file
//! ([`crate::release::plan_file`]) and the registry flags; output: the plan as JSON (or the
//! Markdown table) on stdout and, as a GitHub Actions step, the table in the step summary and the
//! outputs `matrix` (`{"include":[…]}`, only legs that change something), `count`, `changes`,
//! `blocked` and `plan-sha256`. Exit 0 with a plan, 3 when an entry blocks it (conflict, missing),
//! 2 for a bad plan file, 4/5 when a registry could not be asked.

use futures_util::StreamExt as _;

use crate::action::{Runner, output_block};
use crate::cli::{PlanArgs, PlanFormat};
use crate::error::{Error, Result};
use crate::release::diff::{ReleasePlan, plan_service};
use crate::release::plan_file::PlanFile;
use crate::release::render;
use crate::report::Sink;

/// Services planned at once (each sends a few HEADs and GETs).
const CONCURRENCY: usize = 4;

/// Runs `plan`.
///
/// # Errors
/// A bad plan file (2), a blocked plan (3, after the plan is printed), registry errors (4/5).
pub async fn run(args: PlanArgs) -> Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let runner = Runner::from_env(&env);
    let sink =
        crate::report::journal::sink_for_this_process(super::credential_redactor(&args.registry));
    if runner.is_some() {
        sink.mask_secrets();
    }
    let file = PlanFile::read(&args.file)?;
    let (source, destination) = args.registry.clients()?;
    for s in &file.services {
        source.add_scope(s.source.api_host(), s.source.repository(), "pull");
        destination.add_scope(s.destination.api_host(), s.destination.repository(), "pull");
    }
    let planned: Vec<Result<_>> = futures_util::stream::iter(&file.services)
        .map(|s| plan_service(&source, &destination, s))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let services = planned.into_iter().collect::<Result<Vec<_>>>()?;
    let created_at = crate::report::record::timestamp(std::time::SystemTime::now());
    let plan = ReleasePlan::new(&file, created_at, services);
    let markdown = render::markdown(&plan);
    match args.format {
        PlanFormat::Json => sink.line(render::to_json(&plan)?.trim_end()),
        PlanFormat::Markdown => sink.line(markdown.trim_end()),
    }
    if let Some(runner) = &runner {
        write_runner_files(&sink, runner, &plan, &markdown)?;
    }
    let blocked: Vec<String> = plan
        .services
        .iter()
        .filter(|s| s.action.blocks())
        .map(|s| format!("{} ({})", s.name, s.action.as_str()))
        .collect();
    if blocked.is_empty() {
        Ok(())
    } else {
        Err(Error::refused(format!(
            "plan file {}: {} service(s) block the release: {}",
            plan.plan_file,
            blocked.len(),
            blocked.join(", ")
        ))
        .hint("each blocked service's `reasons` in the plan say why; fix the plan file or the registry, then plan again"))
    }
}

/// The step summary (the Markdown table) and the outputs of the plan step.
fn write_runner_files(
    sink: &Sink,
    runner: &Runner,
    plan: &ReleasePlan,
    markdown: &str,
) -> Result<()> {
    if let Some(path) = &runner.step_summary {
        sink.append(path, markdown)?;
    }
    // A matrix over the Actions limits fails the step (exit 3) rather than being cut.
    let matrix = render::matrix(plan)?;
    let count = matrix.include.len();
    let outputs = [
        ("matrix", render::to_compact(&matrix)?),
        ("count", count.to_string()),
        ("changes", (count > 0).to_string()),
        ("blocked", plan.summary.blocked.to_string()),
        ("plan-sha256", plan.plan_file_sha256.to_string()),
    ];
    let text: String = outputs.iter().map(|(n, v)| output_block(n, v)).collect();
    match &runner.output {
        Some(path) => sink.append(path, &text),
        None => {
            sink.line("GITHUB_OUTPUT is not set: the step outputs are not written");
            Ok(())
        }
    }
}
