//! The `exists` check (Check stage): the reference resolved (the graph exists), and when an
//! expected digest is given (the one that was tested) the top manifest has exactly that digest.
//! A mismatch is never forced.

use super::{CheckEnv, CheckResult, CheckStatus};

/// Runs the `exists` check.
pub(super) fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let graph = &env.ctx.image.graph;
    let actual = &graph.root.digest;
    let details = serde_json::json!({
        "reference": graph.reference.to_string(),
        "digest": actual,
        "media_type": graph.root.media_type,
        "expected_digest": env.ctx.expected_digest,
    });
    let result = match &env.ctx.expected_digest {
        Some(expected) if expected != actual => {
            let child = if graph.children.iter().any(|c| &c.digest == expected) {
                " (it is a child manifest of this index: promote the index digest, or name the child by digest)"
            } else {
                ""
            };
            env.result(
                "exists",
                CheckStatus::Fail,
                format!(
                    "{} resolves to {actual}, not the expected {expected}{child}",
                    graph.reference
                ),
            )
            .unforceable()
        }
        Some(_) => env.result(
            "exists",
            CheckStatus::Pass,
            format!("{} resolves to the expected {actual}", graph.reference),
        ),
        None => env.result(
            "exists",
            CheckStatus::Pass,
            format!("{} resolves to {actual}", graph.reference),
        ),
    };
    vec![result.details(details)]
}

/// The results when `reference` did not resolve (the registry answered 404 for the manifest or a
/// child of an index): `exists` fails (never forced: there is nothing to promote) and every
/// other check is skipped.
#[must_use]
pub fn unresolved(
    reference: &crate::reference::Reference,
    error: &crate::error::Error,
    policy: &crate::policy::Policy,
) -> Vec<CheckResult> {
    let mut results = vec![
        CheckResult::new(
            "exists",
            CheckStatus::Fail,
            policy.exists.severity,
            format!("{reference} does not resolve: {}", error.message),
        )
        .unforceable()
        .details(serde_json::json!({ "reference": reference.to_string(), "status": error.status })),
    ];
    for check in super::CHECKS.iter().filter(|c| c.id != "exists") {
        results.push(CheckResult::new(
            check.id,
            CheckStatus::Skipped,
            super::settings(policy, check.id)
                .map_or(crate::error::Severity::High, |s| s.severity()),
            "not run: the image did not resolve",
        ));
    }
    results
}
