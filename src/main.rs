//! The binary: parse arguments, run the command, map the outcome to an exit code (DESIGN.md, Exit
//! codes). `anyhow` lives only here.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser as _;
use image_promote::cli::{Cli, Command, CopyArgs};
use image_promote::copy::{CopyOptions, copy_graph, resolve_graph};
use image_promote::error::{Error, ErrorKind};

fn exit_code(e: &Error) -> u8 {
    match e.kind {
        ErrorKind::Input => 2,
        ErrorKind::Refused => 3,
        ErrorKind::Registry => 4,
        ErrorKind::Access => 5,
        ErrorKind::Verification => 6,
        ErrorKind::Interrupted => 130,
        ErrorKind::Internal => 1,
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "image_promote=info",
        1 => "image_promote=debug",
        _ => "image_promote=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run_copy(args: CopyArgs) -> Result<(), Error> {
    let (src, dst) = args.references()?;
    let (source, destination) = args.registry.clients()?;
    source.add_scope(src.api_host(), src.repository(), "pull");
    destination.add_scope(dst.api_host(), dst.repository(), "pull,push");
    if src.api_host() == dst.api_host() && src.repository() != dst.repository() {
        destination.add_scope(dst.api_host(), src.repository(), "pull");
    }
    let t = Instant::now();
    let graph = resolve_graph(&source, &src).await?;
    let resolve_ms = u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX);
    let options = CopyOptions {
        tags: args.extra_tags(),
        concurrency: args.concurrency as usize,
        dry_run: args.dry_run,
    };
    let report = copy_graph(source, destination, &graph, &dst, &options, resolve_ms).await?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| Error::internal(e.to_string()))?;
        let _ = writeln!(stdout, "{json}");
    } else {
        let verb = if report.dry_run { "would copy" } else if report.no_op { "already promoted" } else { "copied" };
        let _ = writeln!(
            stdout,
            "{verb} {} -> {} ({})\n  blobs: {} copied ({} bytes), {} mounted, {} skipped, {} foreign; manifests pushed: {}\n  tags: {}\n  time: {} ms",
            report.source,
            report.destination,
            report.source_digest,
            report.blobs.copied,
            report.blobs.bytes_copied,
            report.blobs.mounted,
            report.blobs.skipped,
            report.blobs.foreign,
            report.manifests_pushed,
            report.tags.iter().map(|t| t.reference.as_str()).collect::<Vec<_>>().join(", "),
            report.timings.total_ms
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Copy(args) => run_copy(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}
