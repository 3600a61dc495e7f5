//! The tag plan against the real registries: a refused version tag refuses the whole `copy` or
//! `promote` before a byte moves (no POST, PUT, PATCH or DELETE reaches the destination, counted
//! by a proxy in front of it; B's manifests and blobs are absent; every tag still resolves to
//! what it did), and `--allow-tag-move` moves every tag, recording the previous digests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::process::Output;

use reqwest::Method;
use support::harness::{promote, registries, text, unique};
use support::oci::{MANIFEST_ACCEPT, client, json, tag_digest};
use support::proxy::{Fault, FaultProxy, Rule};

const SMALL: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
const MULTI: &str = "sha256:f4bde69193791bb9b12817907ecaa4613f0c5400ea04135655c76f6a99694d3b";
const DOCKER: &str = "sha256:22d0869eed7a56ec232b28233226d62232ca8e342147de7132300f21a947d341";

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        promote(&args)
    })
    .await
    .unwrap()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// The tags of `repo`, sorted.
async fn tag_list(registry: &str, repo: &str) -> Vec<String> {
    let resp = client()
        .get(format!("http://{registry}/v2/{repo}/tags/list"))
        .send()
        .await
        .unwrap();
    let body = json(resp).await.unwrap();
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    tags.sort();
    tags
}

/// Every manifest and blob digest of `repo@digest` (recursing into indexes).
async fn graph(registry: &str, repo: &str, digest: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut manifests = BTreeSet::new();
    let mut blobs = BTreeSet::new();
    let mut todo = vec![digest.to_owned()];
    while let Some(d) = todo.pop() {
        let resp = client()
            .get(format!("http://{registry}/v2/{repo}/manifests/{d}"))
            .header("Accept", MANIFEST_ACCEPT)
            .send()
            .await
            .unwrap();
        let m = json(resp).await.unwrap();
        manifests.insert(d);
        for child in m["manifests"].as_array().into_iter().flatten() {
            todo.push(child["digest"].as_str().unwrap().to_owned());
        }
        for b in m["config"].as_object().into_iter().chain(
            m["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_object()),
        ) {
            blobs.insert(b["digest"].as_str().unwrap().to_owned());
        }
    }
    (manifests, blobs)
}

async fn status(registry: &str, repo: &str, kind: &str, digest: &str) -> u16 {
    client()
        .head(format!("http://{registry}/v2/{repo}/{kind}/{digest}"))
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A fresh destination repository where `1.2.3`, `prod` and `other` point at `a` (`app/<name>`).
async fn seed(name: &str, a: &str, label: &str) -> String {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let repo = unique(label);
    let out = run(args(&[
        "copy",
        &format!("{}/app/{name}", r.staging),
        &format!("{}/{repo}:1.2.3", r.production),
        "--tags",
        "prod,other",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    for tag in ["1.2.3", "prod", "other"] {
        assert_eq!(
            tag_digest(&r.production, &repo, tag).await.as_deref(),
            Some(a)
        );
    }
    repo
}

/// Asserts the refused run left `repo` exactly as seeded (every tag at `a`, nothing of `b`) and
/// that the proxy saw reads only.
async fn assert_untouched(proxy: &FaultProxy, repo: &str, a: &str, b: &str, b_repo: &str) {
    let r = registries();
    let requests = proxy.requests();
    let writes: Vec<_> = requests
        .iter()
        .filter(|q| ["POST", "PUT", "PATCH", "DELETE"].contains(&q.method.as_str()))
        .collect();
    assert!(
        writes.is_empty(),
        "writes reached the destination: {writes:?}"
    );
    // Reads only: the ping and one HEAD per planned tag.
    let tag_heads = [
        format!("/v2/{repo}/manifests/prod"),
        format!("/v2/{repo}/manifests/1.2.3"),
    ];
    assert!(
        requests
            .iter()
            .all(|q| (q.method == "GET" && q.path_and_query == "/v2/")
                || (q.method == "HEAD" && tag_heads.contains(&q.path_and_query))),
        "{requests:?}"
    );
    for path in &tag_heads {
        assert_eq!(proxy.count("HEAD", path), 1, "{path}: {requests:?}");
    }
    eprintln!(
        "refused run: {} request(s) at the destination, all GET/HEAD: {:?}",
        requests.len(),
        requests
            .iter()
            .map(|q| format!("{} {}", q.method, q.path_and_query))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        tag_list(&r.production, repo).await,
        ["1.2.3", "other", "prod"]
    );
    for tag in ["1.2.3", "prod", "other"] {
        assert_eq!(
            tag_digest(&r.production, repo, tag).await.as_deref(),
            Some(a),
            "{tag}"
        );
    }
    let (a_manifests, a_blobs) = graph(&r.production, repo, a).await;
    let (b_manifests, b_blobs) = graph(&r.staging, b_repo, b).await;
    let only_b: Vec<_> = b_blobs.difference(&a_blobs).collect();
    assert!(!only_b.is_empty(), "B must have blobs A lacks");
    for d in only_b {
        assert_eq!(
            status(&r.production, repo, "blobs", d).await,
            404,
            "blob {d}"
        );
    }
    for d in b_manifests.difference(&a_manifests) {
        assert_eq!(
            status(&r.production, repo, "manifests", d).await,
            404,
            "manifest {d}"
        );
    }
}

fn assert_refusal(out: &Output, repo: &str, a: &str, b: &str) {
    assert_eq!(out.status.code(), Some(3), "{}", text(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[VALIDATION]"), "{stderr}");
    assert!(
        stderr.contains(&format!("{repo}:1.2.3 already points at {a}")),
        "{stderr}"
    );
    assert!(stderr.contains(b), "the target digest: {stderr}");
    assert!(stderr.contains("--allow-tag-move"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_version_tag_copy_pushes_nothing_and_moves_no_tag() {
    let repo = seed("small:1.0", SMALL, "tags-copy").await;
    let r = registries();
    let proxy = FaultProxy::start(&r.production, vec![]).await;
    let src = format!("{}/app/multi:1.0", r.staging);
    let out = run(args(&[
        "copy",
        &src,
        &format!("{}/{repo}:prod", proxy.addr()),
        "--tags",
        "1.2.3",
    ]))
    .await;
    assert_refusal(&out, &repo, SMALL, MULTI);
    assert_untouched(&proxy, &repo, SMALL, MULTI, "app/multi").await;

    // Allowed: both tags move (and `other` stays), the previous digests are reported.
    let out = run(args(&[
        "copy",
        &src,
        &format!("{}/{repo}:prod", r.production),
        "--tags",
        "1.2.3",
        "--allow-tag-move",
        "--json",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags = report["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 2, "{report}");
    for t in tags {
        assert_eq!(t["previous"], SMALL, "{t}");
        assert_eq!(t["written"], true, "{t}");
    }
    for (tag, want) in [("prod", MULTI), ("1.2.3", MULTI), ("other", SMALL)] {
        assert_eq!(
            tag_digest(&r.production, &repo, tag).await.as_deref(),
            Some(want),
            "{tag}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_version_tag_promote_pushes_nothing_and_moves_no_tag() {
    let repo = seed("docker:1.0", DOCKER, "tags-promote").await;
    let r = registries();
    let audit = tempfile::tempdir().unwrap();
    let audit_dir = audit.path().to_str().unwrap();
    let proxy = FaultProxy::start(&r.production, vec![]).await;
    let src = format!("{}/app/small:1.0", r.staging);
    let out = run(args(&[
        "promote",
        &src,
        &format!("{}/{repo}:prod", proxy.addr()),
        "--tags",
        "1.2.3",
        "--audit-dir",
        audit_dir,
        "--summary=false",
    ]))
    .await;
    assert_refusal(&out, &repo, DOCKER, SMALL);
    assert_untouched(&proxy, &repo, DOCKER, SMALL, "app/small").await;

    // Allowed: both move; the audit lists each tag with its previous digest.
    let out = run(args(&[
        "promote",
        &src,
        &format!("{}/{repo}:prod", r.production),
        "--tags",
        "1.2.3",
        "--allow-tag-move",
        "--audit-dir",
        audit_dir,
        "--summary=false",
    ]))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    for (tag, want) in [("prod", SMALL), ("1.2.3", SMALL), ("other", DOCKER)] {
        assert_eq!(
            tag_digest(&r.production, &repo, tag).await.as_deref(),
            Some(want),
            "{tag}"
        );
    }
    let audits: Vec<serde_json::Value> = std::fs::read_dir(audit.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    let promoted = audits
        .iter()
        .find(|a| a["status"] == "promoted")
        .unwrap_or_else(|| panic!("no promoted audit in {audits:?}"));
    let tags = promoted["copy"]["tags"].as_array().unwrap();
    assert_eq!(tags.len(), 2, "{tags:?}");
    for t in tags {
        assert_eq!(t["previous"], DOCKER, "{t}");
    }
    let refused = audits
        .iter()
        .find(|a| a["status"] != "promoted")
        .unwrap_or_else(|| panic!("no refused audit in {audits:?}"));
    let condition = refused["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "destination-tags")
        .unwrap();
    assert_eq!(condition["status"], "failed", "{refused}");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.contains("plan: prod (moves from sha256:")
            && message.contains("1.2.3 (refused: immutable at sha256:"),
        "{message}"
    );
    assert!(
        refused["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != "destination-push"),
        "no upload session is opened for a refused tag plan: {refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_moved_during_the_copy_is_not_overwritten() {
    let repo = seed("small:1.0", SMALL, "tags-race").await;
    let r = registries();
    // The plan sees `prod` at SMALL; when the tags are written, another writer has moved it to
    // DOCKER (the proxy answers the second HEAD of the tag as the registry would then).
    let proxy = FaultProxy::start(
        &r.production,
        vec![
            Rule::new(
                &format!("/v2/{repo}/manifests/prod"),
                Fault::Status(
                    200,
                    vec![("Docker-Content-Digest".to_owned(), DOCKER.to_owned())],
                    Vec::new(),
                ),
            )
            .method(Method::HEAD)
            .skip(1)
            .times(1),
        ],
    )
    .await;
    let out = run(args(&[
        "copy",
        &format!("{}/app/multi:1.0", r.staging),
        &format!("{}/{repo}:prod", proxy.addr()),
    ]))
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("changed concurrently")
            && stderr.contains(&format!("pointed at {SMALL}, now at {DOCKER}")),
        "{stderr}"
    );
    assert_eq!(proxy.faulted().len(), 1);
    assert_eq!(
        proxy.count("PUT", &format!("/v2/{repo}/manifests/prod")),
        0,
        "the moved tag is not written"
    );
    assert!(
        proxy.count("PUT", "/manifests/sha256:") > 0,
        "the copy itself ran"
    );
    assert_eq!(
        tag_digest(&r.production, &repo, "prod").await.as_deref(),
        Some(SMALL)
    );
}
