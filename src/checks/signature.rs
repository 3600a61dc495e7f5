//! The `signature` check (Check stage): the image carries a cosign signature (the legacy `.sig`
//! tag, or a Sigstore bundle among its referrers: API or fallback tag) that verifies with one of
//! the given public keys and signs this very digest; with `signature.children`, each image of an
//! index too. Pure: `load_context` read the signatures ([`crate::signature::fetch`]). The result
//! names the signer (key fingerprint), the format and where it was found in `details`; a missing,
//! invalid, foreign-key, other-digest or tampered signature fails with the policy's severity
//! (forced only with a reason, like the other checks).

use super::{CheckEnv, CheckResult, CheckStatus};
use crate::signature::{SubjectVerdict, bundle::COSIGN_SIGN_PREDICATE, verify_subject};
use crate::text::shorten;

/// The stable id.
pub const ID: &str = "signature";

/// Runs the check.
#[must_use]
pub fn check(env: &CheckEnv<'_>) -> Vec<CheckResult> {
    let Some(input) = &env.ctx.signatures else {
        return vec![env.result(
            ID,
            CheckStatus::Fail,
            "no verification key was loaded (pass --verify-key or list `signature.keys`)",
        )];
    };
    let mut verdicts = Vec::new();
    for (digest, found) in &input.subjects {
        match found {
            Ok(material) => {
                verdicts.push(verify_subject(material, &input.keys, COSIGN_SIGN_PREDICATE))
            }
            Err(e) => {
                let mut r = CheckResult::could_not_run(ID, e);
                r.message = format!("could not read the signatures of {digest}: {}", e.message);
                return vec![r];
            }
        }
    }
    let fingerprints: Vec<String> = input.keys.iter().map(|k| k.short_fingerprint()).collect();
    let details = serde_json::json!({
        "keys": fingerprints,
        "predicate-type": COSIGN_SIGN_PREDICATE,
        "subjects": verdicts,
    });
    let unsigned: Vec<&SubjectVerdict> = verdicts.iter().filter(|v| !v.is_signed()).collect();
    let (status, message) = if unsigned.is_empty() {
        (CheckStatus::Pass, signed_message(&verdicts))
    } else {
        let parts: Vec<String> = unsigned.iter().map(|v| unsigned_message(v)).collect();
        (CheckStatus::Fail, parts.join("; "))
    };
    vec![env.result(ID, status, message).details(details)]
}

fn short(digest: &str) -> String {
    digest
        .get(..19)
        .map_or_else(|| digest.to_owned(), |s| format!("{s}…"))
}

fn signed_message(verdicts: &[SubjectVerdict]) -> String {
    let parts: Vec<String> = verdicts
        .iter()
        .filter_map(|v| {
            let first = v.verified.first()?;
            Some(format!(
                "{} signed by {} ({}, found by {})",
                short(&v.subject),
                first.signer,
                first.format.as_str(),
                first.found.as_str()
            ))
        })
        .collect();
    parts.join("; ")
}

fn unsigned_message(v: &SubjectVerdict) -> String {
    if v.rejected.is_empty() {
        return format!(
            "{}: no signature found (looked at {})",
            v.subject,
            v.looked.join(" and ")
        );
    }
    let why: Vec<String> = v
        .rejected
        .iter()
        .take(3)
        .map(|r| {
            format!(
                "{} at {} ({}): {}",
                r.format.as_str(),
                shorten(&r.location),
                r.found.as_str(),
                r.problem
            )
        })
        .collect();
    let more = v.rejected.len().saturating_sub(3);
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    format!(
        "{}: {} signature(s) found, none valid: {}{tail}",
        v.subject,
        v.rejected.len(),
        why.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;

    use super::*;
    use crate::checks::{CheckContext, CheckInputs, SignatureInput};
    use crate::digest::Digest;
    use crate::error::{Category, Error, Severity};
    use crate::gate::{GateDecision, gate};
    use crate::media::Manifest;
    use crate::policy::Policy;
    use crate::reference::Reference;
    use crate::resolve::{ImageGraph, ResolvedImage};
    use crate::signature::{Candidate, Content, Format, Found, PublicKey, SubjectMaterial};

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/data/signatures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn run(key: &str, subjects: Vec<(Digest, Result<SubjectMaterial, Error>)>) -> Vec<CheckResult> {
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": crate::media::OCI_MANIFEST,
            "config": {"mediaType": crate::media::OCI_CONFIG, "digest": Digest::sha256_of(b"{}").to_string(), "size": 2},
            "layers": []});
        let root =
            Manifest::parse("t", Bytes::from(serde_json::to_vec(&m).unwrap()), None).unwrap();
        let graph = ImageGraph {
            reference: Reference::parse("127.0.0.1:5100/app:1").unwrap(),
            root,
            children: Vec::new(),
            blobs: Vec::new(),
            foreign: Vec::new(),
        };
        let mut ctx = CheckContext::new(
            ResolvedImage::new(graph, &BTreeMap::new()),
            None,
            &CheckInputs::default(),
        );
        ctx.signatures = Some(SignatureInput {
            keys: vec![PublicKey::from_pem(&fixture(key)).unwrap()],
            subjects,
        });
        let policy = Policy::default();
        check(&CheckEnv {
            ctx: &ctx,
            policy: &policy,
        })
    }

    fn subject() -> Digest {
        Digest::parse(fixture("subject.txt").trim()).unwrap()
    }

    fn legacy(subject: Digest) -> SubjectMaterial {
        SubjectMaterial {
            subject,
            candidates: vec![Candidate {
                format: Format::CosignLegacy,
                found: Found::Tag,
                location: "sha256-x.sig".into(),
                content: Ok(Content::Legacy {
                    payload: Bytes::from(fixture("payload.json")),
                    signature: Some(fixture("payload.sig")),
                }),
            }],
            looked: vec!["tag sha256-x.sig".into(), "the referrers API".into()],
        }
    }

    #[test]
    fn passes_with_signer_format_and_place() {
        let r = run("p256.pub", vec![(subject(), Ok(legacy(subject())))]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].status, CheckStatus::Pass, "{}", r[0].message);
        let fp = PublicKey::from_pem(&fixture("p256.pub"))
            .unwrap()
            .short_fingerprint();
        let v = &r[0].details["subjects"][0]["verified"][0];
        assert_eq!(v["signer"]["kind"], "key");
        assert_eq!(v["signer"]["fingerprint"], fp.as_str());
        assert_eq!(v["format"], "cosign-legacy");
        assert_eq!(v["found"], "tag");
        assert!(r[0].message.contains(&fp), "{}", r[0].message);
    }

    #[test]
    fn fails_naming_what_is_wrong_and_force_overrides_with_a_reason() {
        let mut r = run("other.pub", vec![(subject(), Ok(legacy(subject())))]);
        assert_eq!(r[0].status, CheckStatus::Fail);
        assert_eq!(r[0].severity, Severity::Critical);
        assert!(
            r[0].message.contains("signed by another key"),
            "{}",
            r[0].message
        );
        assert_eq!(gate(&mut r.clone(), None).decision, GateDecision::Refuse);
        let g = gate(&mut r, Some("signed out of band, ticket 7"));
        assert_eq!(g.decision, GateDecision::PromoteWithWarnings);
        assert!(r[0].overridden);

        let other = Digest::sha256_of(b"another image");
        let r = run("p256.pub", vec![(other.clone(), Ok(legacy(other)))]);
        assert_eq!(r[0].status, CheckStatus::Fail);
        assert!(r[0].message.contains("another image"), "{}", r[0].message);

        let mut none = legacy(subject());
        none.candidates.clear();
        let r = run("p256.pub", vec![(subject(), Ok(none))]);
        assert_eq!(r[0].status, CheckStatus::Fail);
        assert!(
            r[0].message
                .contains("no signature found (looked at tag sha256-x.sig and the referrers API)"),
            "{}",
            r[0].message
        );
    }

    #[test]
    fn a_failed_request_is_not_a_finding() {
        let r = run(
            "p256.pub",
            vec![(subject(), Err(Error::network("connection reset")))],
        );
        assert_eq!(r[0].status, CheckStatus::Fail);
        assert_eq!(r[0].category, Category::Network);
        assert!(r[0].unforceable);
    }
}
