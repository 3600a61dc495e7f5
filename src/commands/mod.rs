//! Subcommand glue: each file turns parsed arguments into a run of the pipeline and prints the
//! result. `main.rs` dispatches here and maps errors to exit codes.

pub mod after;
pub mod approval;
pub mod check;
pub mod copy;
pub mod plan;
pub mod promote;
pub mod report;
pub mod rollback;

use crate::cli::RegistryArgs;
use crate::report::Redactor;

/// The registry passwords of `registry` (and their `Basic` header forms, with the user), to keep
/// out of every output; a command adds its other secrets to it.
pub(crate) fn credential_redactor(registry: &RegistryArgs) -> Redactor {
    let c = &registry.credentials;
    let mut redactor = Redactor::default();
    for (user, password) in [
        (&c.source_username, &c.source_password),
        (&c.destination_username, &c.destination_password),
    ] {
        if let Some(p) = password {
            redactor.add(p, user.as_deref());
        }
    }
    for pair in [&c.src_creds, &c.dest_creds].into_iter().flatten() {
        if let Some((user, password)) = pair.split_once(':') {
            redactor.add(password, Some(user));
        }
    }
    redactor
}
