//! The Node action's one-call HTTP import (`image-promote:host/http`, `src/registry/transport/
//! host_http.rs`, `action-js/host-http.mjs`): a promotion and its no-op re-run send their small
//! requests through it (counted by the wrapper's `IMAGE_PROMOTE_HOST_HTTP_STATS`), a response over
//! the limit falls back to wasi:http with the same result, requests ready together share one call
//! to the worker, and a redirect to another origin answered to one of its requests is followed.

use crate::node::{nodes, run_node_with_env};
use crate::runner::{Run, SMALL};
use crate::support::harness::{plain, registries, skopeo_digest, text, unique};
use crate::support::proxy::{Fault, FaultProxy, Rule};

/// `(sent, too big)` from the wrapper's count on stderr (`N sent, M too big, K calls, …`).
fn host_counts(run: &Run) -> (u64, u64) {
    let (sent, too_big, _) = host_calls(run);
    (sent, too_big)
}

/// `(sent, too big, calls to the worker)`.
fn host_calls(run: &Run) -> (u64, u64, u64) {
    let err = String::from_utf8_lossy(&run.out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("host-http: "))
        .unwrap_or_else(|| panic!("no host-http count in: {err}"));
    let words: Vec<&str> = line.split(' ').collect();
    (
        words[1].parse().unwrap(),
        words[3].parse().unwrap(),
        words[6].parse().unwrap(),
    )
}

fn promote(node: &str, src: &str, dst: &str, env: &[(&str, &str)]) -> Run {
    let mut env = env.to_vec();
    env.push(("IMAGE_PROMOTE_HOST_HTTP_STATS", "1"));
    let run = run_node_with_env(node, &[("source", src), ("destination", dst)], &env);
    assert_eq!(run.code(), Some(0), "{}", text(&run.out));
    run
}

#[test]
fn node_action_sends_small_requests_by_the_host_and_falls_back_over_the_limit() {
    let r = registries();
    let src = format!("{}/app/small:1.0", r.staging);
    for (label, node) in nodes() {
        let dst = format!("{}/{}:1.0", r.production, unique(&format!("host-{label}")));
        let first = promote(&node, &src, &dst, &[]);
        assert_eq!(first.output("digest"), SMALL, "{label}");
        let (sent, too_big) = host_counts(&first);
        assert!(sent >= 8, "{label}: only {sent} requests by the host");
        assert_eq!(
            too_big, 0,
            "{label}: a small image's requests are all under 1 MiB"
        );

        // The no-op re-run: manifest checks only, every one by the host, no upload session.
        let again = promote(&node, &src, &dst, &[]);
        assert_eq!(again.output("status"), "no-op", "{label}");
        let (sent, too_big, calls) = host_calls(&again);
        assert!(sent >= 8, "{label}: only {sent} requests by the host");
        assert_eq!(too_big, 0, "{label}");
        // The blob HEADs of each registry are ready together: they share a call.
        assert!(
            calls + 4 <= sent,
            "{label}: {sent} requests in {calls} calls"
        );
        let audit = again.audit();
        let push = audit["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "destination-push")
            .unwrap();
        assert_eq!(push["status"], "not-checked", "{label}: {push}");

        // A 64-byte limit: every manifest and config GET is refused by the host and sent again
        // by wasi:http, with the same result.
        let dst = format!(
            "{}/{}:1.0",
            r.production,
            unique(&format!("host-cap-{label}"))
        );
        let capped = promote(&node, &src, &dst, &[("IMAGE_PROMOTE_HOST_HTTP", "64")]);
        assert_eq!(capped.output("digest"), SMALL, "{label}");
        let (_, too_big) = host_counts(&capped);
        assert!(too_big >= 2, "{label}: {too_big} refused over 64 bytes");
        assert_eq!(
            skopeo_digest(&dst, &plain()).as_deref(),
            Some(SMALL),
            "{label}"
        );

        // Off: nothing goes by the host.
        let dst = format!(
            "{}/{}:1.0",
            r.production,
            unique(&format!("host-off-{label}"))
        );
        let off = promote(&node, &src, &dst, &[("IMAGE_PROMOTE_HOST_HTTP", "off")]);
        assert_eq!(host_counts(&off), (0, 0), "{label}");
        assert_eq!(
            skopeo_digest(&dst, &plain()).as_deref(),
            Some(SMALL),
            "{label}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_action_follows_a_redirect_to_another_origin_through_the_host() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    // The source's manifest GETs are redirected to the registry itself: another port, another
    // origin, followed by the component over the host's exchange.
    let proxy = FaultProxy::start(&r.staging, vec![]).await;
    let location = format!("http://{}/v2/app/small/manifests/1.0", r.staging);
    proxy.set_rules(vec![
        Rule::new(
            "/v2/app/small/manifests/1.0",
            Fault::Status(307, vec![("Location".to_owned(), location)], Vec::new()),
        )
        .times(usize::MAX),
    ]);
    let src = format!("{}/app/small:1.0", proxy.addr());
    for (label, node) in nodes() {
        let dst = format!(
            "{}/{}:1.0",
            r.production,
            unique(&format!("host-redirect-{label}"))
        );
        let (s, d) = (src.clone(), dst.clone());
        let run = tokio::task::spawn_blocking(move || promote(&node, &s, &d, &[]))
            .await
            .unwrap();
        assert_eq!(run.output("digest"), SMALL, "{label}");
        let (sent, too_big) = host_counts(&run);
        assert!(sent >= 8 && too_big == 0, "{label}: {sent} {too_big}");
        let want = Some(SMALL.to_owned());
        let d = dst.clone();
        let got = tokio::task::spawn_blocking(move || skopeo_digest(&d, &plain()))
            .await
            .unwrap();
        assert_eq!(got, want, "{label}");
    }
}
