//! `image-promote copy`: the engine alone (no checks): resolve, plan the tags, copy, verify, tag; `--json`
//! prints the [`CopyReport`](crate::copy::CopyReport) on stdout.

use std::io::Write as _;
use std::time::Instant;

use crate::cli::CopyArgs;
use crate::copy::{CopyOptions, copy_graph};
use crate::error::Error;
use crate::resolve::resolve_graph;
use crate::tags::TagPlan;

/// Runs `copy`.
///
/// # Errors
/// Any classified error of the copy.
pub async fn run(args: CopyArgs) -> Result<(), Error> {
    let src = args.source.reference()?;
    let dst = args.destination.reference()?;
    let (source, destination) = args.registry.clients()?;
    source.add_scope(src.api_host(), src.repository(), "pull");
    destination.add_scope(dst.api_host(), dst.repository(), "pull,push");
    if src.api_host() == dst.api_host() && src.repository() != dst.repository() {
        destination.add_scope(dst.api_host(), src.repository(), "pull");
    }
    let t = Instant::now();
    let tags = crate::tags::destination_tags(&src, &dst, &args.tags.extra_tags())?;
    // The destination's tags are HEADed while the source resolves (both only read): on another
    // registry this also reaches the destination (scheme, auth) during the source's round trips.
    // Within one registry the source's probe of the host comes first, so the host is probed once.
    if src.api_host() == dst.api_host() {
        source.base_url(src.api_host()).await?;
    }
    let (graph, heads) = futures_util::future::try_join(
        resolve_graph(&source, &src),
        crate::tags::head_tags(&destination, &dst, &tags),
    )
    .await?;
    let resolve_ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
    // The tag plan, before a byte moves: a refused tag refuses the copy.
    let tags = TagPlan::decide(&dst, &graph.root.digest, heads, args.tags.allow_tag_move);
    let options = CopyOptions {
        concurrency: args.transfer.concurrency as usize,
        dry_run: args.transfer.dry_run,
        referrers: args.transfer.carry_referrers(),
        progress: !args.output.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let report = copy_graph(
        source,
        destination,
        &graph,
        &dst,
        &tags,
        &options,
        resolve_ms,
        &(),
    )
    .await?;
    let mut stdout = std::io::stdout().lock();
    if args.output.json {
        let json =
            serde_json::to_string_pretty(&report).map_err(|e| Error::internal(e.to_string()))?;
        let _ = writeln!(stdout, "{json}");
    } else {
        let verb = if report.dry_run {
            "would copy"
        } else if report.no_op {
            "already promoted"
        } else {
            "copied"
        };
        let _ = writeln!(
            stdout,
            "{verb} {} -> {} ({})\n  blobs: {} copied ({} bytes), {} mounted, {} skipped, {} foreign; manifests pushed: {}\n  referrers: {}\n  tags: {}\n  time: {} ms",
            report.source,
            report.destination,
            report.source_digest,
            report.blobs.copied,
            report.blobs.bytes_copied,
            report.blobs.mounted,
            report.blobs.skipped,
            report.blobs.foreign,
            report.manifests_pushed,
            crate::copy::CarryCounts::of(&report.referrers).describe(),
            report
                .tags
                .iter()
                .map(|t| t.reference.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            report.timings.total_ms
        );
    }
    Ok(())
}
