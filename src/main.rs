//! The binary: parse arguments, run the command, map the outcome to an exit code (DESIGN.md, Exit
//! codes). `anyhow` lives only here.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use image_promote::cli::{Cli, Command};
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
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Copy(args) => image_promote::commands::copy::run(args).await,
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
