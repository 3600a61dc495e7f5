//! Subcommand glue: each file turns parsed arguments into a run of the pipeline and prints the
//! result. `main.rs` dispatches here and maps errors to exit codes.

pub mod after;
pub mod approval;
pub mod check;
pub mod copy;
pub mod plan;
pub mod promote;
pub mod report;
