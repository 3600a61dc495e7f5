//! The binary: parse arguments, run the command, exit with the error's own exit code
//! ([`image_promote::error::Error::exit_code`]; `docs/architecture.md`, Exit codes).

use std::process::ExitCode;

use clap::Parser as _;
use image_promote::cli::{Cli, Command};

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "image_promote=info",
        1 => "image_promote=debug",
        _ => "image_promote=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn command(cli: Cli) -> image_promote::error::Result<()> {
    match cli.command {
        Command::Copy(args) => image_promote::commands::copy::run(args).await,
        Command::Check(args) => image_promote::commands::check::run(args).await,
        Command::Promote(args) => image_promote::commands::promote::run(args).await,
        Command::Plan(args) => image_promote::commands::plan::run(args).await,
        Command::Report(args) => image_promote::commands::report::run(&args),
        Command::Rollback(args) => image_promote::commands::rollback::run(args).await,
    }
}

/// Natively: tokio's multi-thread runtime, and SIGINT/SIGTERM stop new work.
#[cfg(not(target_family = "wasm"))]
fn run(cli: Cli) -> image_promote::error::Result<()> {
    image_promote::native::tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return Err(image_promote::error::Error::internal(format!(
                "cannot start the async runtime: {e}"
            )));
        }
    };
    runtime.block_on(async {
        let run = command(cli);
        tokio::pin!(run);
        tokio::select! {
            r = &mut run => r,
            signal = image_promote::native::signals::wait_for_signal() => {
                // Let the command notice (no new uploads, no tags) and report, within a grace period.
                match tokio::time::timeout(std::time::Duration::from_secs(20), &mut run).await {
                    Ok(Err(e)) if e.kind == image_promote::error::ErrorKind::Interrupted => Err(e),
                    Ok(_) | Err(_) => Err(image_promote::runtime::interrupted_error(signal)),
                }
            }
        }
    })
}

/// On wasm32-wasip2: wstd's executor; the host (the Node action's wrapper) owns signals. The
/// wrapper passes its working directory in `PWD` (WASI starts at `/`), so relative paths mean
/// what they mean to the user.
#[cfg(target_family = "wasm")]
fn run(cli: Cli) -> image_promote::error::Result<()> {
    if let Some(dir) = std::env::var_os("PWD") {
        if let Err(e) = std::env::set_current_dir(&dir) {
            tracing::debug!("cannot enter {}: {e}", std::path::Path::new(&dir).display());
        }
    }
    wstd::runtime::block_on(command(cli))
}

fn main() -> ExitCode {
    // As a GitHub Action, `INPUT_*` become flags of `promote` (a flag given here wins).
    let env = |k: &str| std::env::var(k).ok();
    let vars: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    let args = match image_promote::action::args_with_inputs(
        std::env::args_os().collect(),
        &<Cli as clap::CommandFactory>::command(),
        &env,
        &vars,
    ) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let cli = Cli::parse_from(args);
    init_tracing(cli.verbose);
    let result = run(cli);
    let code = match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    // Under the Node action a WASI exit says only "failed": the journal carries the real code.
    if let Some(journal) = image_promote::report::journal::JournalBackend::from_env()
        && let Err(e) = journal.exit(code)
    {
        eprintln!("error: cannot record the exit code: {e}");
    }
    ExitCode::from(code)
}
