//! The Action behind a fault-injecting proxy: retries recorded as `promotion-retrying`, and a
//! destination without push rights refused in the conditions, before any byte moves; SIGTERM
//! mid-copy ends as `interrupted` (exit 143) with every report written and no tag.

use crate::runner::{action_command, run_action, states};
use crate::support::harness::{registries, text, unique};

/// A transient failure during the copy is retried and recorded as `promotion-retrying`; a
/// destination that refuses uploads fails in the conditions, before any byte moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_recorded_and_missing_push_rights_fail_fast() {
    use crate::support::proxy::{Fault, FaultProxy, Rule};
    use reqwest::Method;

    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let proxy = FaultProxy::start(&r.production, vec![]).await;
    let src = format!("{}/app/small:1.0", r.staging);

    // The conditions' upload session passes; the copy's first one gets a 503 and is retried.
    proxy.set_rules(vec![
        Rule::new("/blobs/uploads/", Fault::status(503))
            .method(Method::POST)
            .skip(1),
    ]);
    let dst = format!("{}/{}:1.0", proxy.addr(), unique("action-retry"));
    let (s, d) = (src.clone(), dst.clone());
    let run =
        tokio::task::spawn_blocking(move || run_action(&[("source", &s), ("destination", &d)]))
            .await
            .unwrap();
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    assert_eq!(run.output("status"), "promoted");
    let audit = run.audit();
    assert!(
        states(&audit).contains(&"promotion-retrying".to_owned()),
        "{:?}",
        states(&audit)
    );
    assert!(audit["copy"]["retries"].as_u64().unwrap() >= 1);
    assert!(run.summary.contains("`promotion-retrying`"));

    // No push rights: PERMISSION in seconds, nothing uploaded, no checks run.
    proxy.set_rules(vec![
        Rule::new(
            "/blobs/uploads/",
            Fault::oci_error(403, "DENIED", "requested access to the resource is denied"),
        )
        .method(Method::POST)
        .times(1000),
    ]);
    proxy.clear_requests();
    let dst = format!("{}/{}:1.0", proxy.addr(), unique("action-denied"));
    let started = std::time::Instant::now();
    let run =
        tokio::task::spawn_blocking(move || run_action(&[("source", &src), ("destination", &dst)]))
            .await
            .unwrap();
    assert_eq!(run.code(), Some(5), "{}", text(&run.out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(run.output("status"), "failed");
    assert_eq!(
        proxy.count("PUT", "/blobs/"),
        0,
        "bytes moved before the push check"
    );
    let audit = run.audit();
    assert_eq!(audit["errors"][0]["category"], "PERMISSION");
    assert!(
        audit["errors"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("destination credentials can push"),
        "{}",
        audit["errors"][0]
    );
    assert!(audit["checks"].as_array().unwrap().is_empty());
    let push = audit["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "destination-push")
        .unwrap();
    assert_eq!(push["status"], "failed");
}

/// SIGTERM while a blob is in flight: no tag, status `interrupted`, exit 143, reports written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_copy_reports_interrupted() {
    use crate::support::proxy::{Fault, FaultProxy, Rule};
    use reqwest::Method;

    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    // The source stalls in the middle of its largest blob for 3 s.
    let proxy = FaultProxy::start(&r.staging, vec![]).await;
    proxy.set_rules(vec![
        Rule::new(
            "sha256:715fea9229f2d724a5adfd87dc9eef41aa879c6cc97c1c67eb7349a9c109337c",
            Fault::Stall {
                after_bytes: 10_000,
                duration: std::time::Duration::from_secs(3),
            },
        )
        .method(Method::GET),
    ]);
    let src = format!("{}/app/small:1.0", proxy.addr());
    let dst = format!("{}/{}:1.0", r.production, unique("action-sigterm"));
    let (mut cmd, step) = action_command(&[("source", &src), ("destination", &dst)]);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the stalled blob is being read, then ask the process to stop.
    for _ in 0..100 {
        if proxy.count("GET", "sha256:715fea9229f2") > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let run = step.finish(out);
    assert_eq!(run.code(), Some(143), "{}", text(&run.out));
    assert_eq!(run.output("status"), "interrupted");
    let audit = run.audit();
    assert_eq!(audit["status"], "interrupted");
    assert_eq!(states(&audit).last().map(String::as_str), Some("failed"));
    assert!(
        crate::support::harness::skopeo_digest(&dst, &crate::support::harness::plain()).is_none(),
        "an interrupted promotion wrote a tag"
    );
}
