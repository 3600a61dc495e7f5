//! Hostile or broken registries: a small fake registry serves oversized and invalid manifests,
//! malformed descriptors, missing or too deeply nested children, redirects to other hosts and
//! token realms on other hosts. Each is refused with a clear error, without a panic, without
//! credentials leaving for another host, and without writing a destination tag.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::process::Output;
use std::sync::{Arc, Mutex};

use sha2::Digest as _;
use support::harness::{plain, promote, registries, skopeo_digest, text, unique};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[derive(Clone, Debug)]
#[allow(dead_code, reason = "shown in assertion messages")]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn resp(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Resp {
    Resp {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.into(),
    }
}

type Routes = Arc<dyn Fn(&str, &str) -> Resp + Send + Sync>;

/// A fake registry on `bind` (e.g. "127.0.0.1:0"); one request per connection.
struct Fake {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn fake(bind: &str, routes: Routes) -> Fake {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let routes = routes.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.first() == Some(&0x16) {
                        return; // TLS on a plain port: hang up like a plain HTTP server
                    }
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap_or_default().split(' ');
                let method = first.next().unwrap_or_default().to_owned();
                let path = first.next().unwrap_or_default().to_owned();
                let authorization = lines
                    .clone()
                    .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                    .map(|l| l[14..].trim().to_owned());
                seen.lock().unwrap().push(Seen {
                    method: method.clone(),
                    path: path.clone(),
                    authorization,
                });
                let r = routes(&method, &path);
                let mut out = format!(
                    "HTTP/1.1 {} X\r\nConnection: close\r\nContent-Length: {}\r\n",
                    r.status,
                    r.body.len()
                );
                for (k, v) in &r.headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = sock.write_all(out.as_bytes()).await;
                if method != "HEAD" {
                    let _ = sock.write_all(&r.body).await;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    Fake { addr, seen }
}

fn sha(bytes: &[u8]) -> String {
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn manifest_resp(body: &[u8], media_type: &str) -> Resp {
    let d = sha(body);
    resp(
        200,
        &[("Content-Type", media_type), ("Docker-Content-Digest", &d)],
        body.to_vec(),
    )
}

async fn copy_from(src: String, extra: &[&str]) -> (Output, String) {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let dst = format!("{}/{}:1.0", r.production, unique("hostile"));
    let mut args = vec![
        "copy".to_owned(),
        src,
        dst.clone(),
        "--retry-attempts".into(),
        "2".into(),
        "--retry-base-delay".into(),
        "10ms".into(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let out = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        promote(&a)
    })
    .await
    .unwrap();
    let dst2 = dst.clone();
    let tag = tokio::task::spawn_blocking(move || skopeo_digest(&dst2, &plain()))
        .await
        .unwrap();
    assert_eq!(
        tag,
        None,
        "no destination tag may exist after a refused copy: {}",
        text(&out)
    );
    (out, dst)
}

fn layer_manifest(config_digest: &str, config_size: i64) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{config_size}}},"layers":[]}}"#
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_are_refused_as_input_errors() {
    let good = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("huge", vec![b' '; 5 * 1024 * 1024], "4 MiB"),
        (
            "notjson",
            b"{\"schemaVersion\": 2, \"layers\": [".to_vec(),
            "not valid manifest JSON",
        ),
        (
            "traversal",
            layer_manifest("sha256:../../x", 2),
            "invalid digest",
        ),
        (
            "shortdigest",
            layer_manifest("sha256:abcd", 2),
            "needs 64 hex",
        ),
        (
            "md5",
            layer_manifest("md5:d41d8cd98f00b204e9800998ecf8427e", 2),
            "unsupported algorithm",
        ),
        ("negative", layer_manifest(good, -5), "negative"),
        (
            "enormous",
            layer_manifest(good, 1 << 50),
            "implausibly large",
        ),
        (
            "schema1",
            br#"{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[]}"#.to_vec(),
            "schema 1",
        ),
    ];
    let bodies: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        cases
            .iter()
            .map(|(n, b, _)| ((*n).to_owned(), b.clone()))
            .collect(),
    );
    let server = fake(
        "127.0.0.1:0",
        Arc::new(move |_m: &str, path: &str| {
            if path == "/v2/" {
                return resp(200, &[], "{}");
            }
            for (name, body) in bodies.iter() {
                if path == format!("/v2/bad/{name}/manifests/1") {
                    return resp(200, &[("Content-Type", OCI_MANIFEST)], body.clone());
                }
            }
            resp(404, &[], "")
        }),
    )
    .await;
    for (name, _, needle) in &cases {
        let (out, _) = copy_from(format!("{}/bad/{name}:1", server.addr), &[]).await;
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(needle),
            "{name}: expected `{needle}` in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_child_and_deep_nesting_are_refused() {
    // A chain of 10 indexes, each pointing at the next; and an index whose child is absent.
    let mut chain: Vec<Vec<u8>> = Vec::new();
    let leaf = layer_manifest(
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        2,
    );
    let mut next = (sha(&leaf), leaf.len(), OCI_MANIFEST);
    let mut bodies: Vec<(String, Vec<u8>, &'static str)> =
        vec![(next.0.clone(), leaf, OCI_MANIFEST)];
    for _ in 0..10 {
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#,
            next.2, next.0, next.1
        )
        .into_bytes();
        next = (sha(&idx), idx.len(), OCI_INDEX);
        bodies.push((next.0.clone(), idx.clone(), OCI_INDEX));
        chain.push(idx);
    }
    let top = chain.last().unwrap().clone();
    let missing_index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{}","size":10}}]}}"#,
        "ab".repeat(32)
    )
    .into_bytes();
    let bodies = Arc::new(bodies);
    let server = fake(
        "127.0.0.1:0",
        Arc::new(move |_m: &str, path: &str| {
            if path == "/v2/" {
                return resp(200, &[], "{}");
            }
            if path == "/v2/deep/manifests/1" {
                return manifest_resp(&top, OCI_INDEX);
            }
            if path == "/v2/orphan/manifests/1" {
                return manifest_resp(&missing_index, OCI_INDEX);
            }
            for (d, b, mt) in bodies.iter() {
                if path == format!("/v2/deep/manifests/{d}") {
                    return manifest_resp(b, mt);
                }
            }
            resp(
                404,
                &[("Content-Type", "application/json")],
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            )
        }),
    )
    .await;
    let (out, _) = copy_from(format!("{}/deep:1", server.addr), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nest deeper than 8"),
        "{}",
        text(&out)
    );

    let (out, _) = copy_from(format!("{}/orphan:1", server.addr), &[]).await;
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&"ab".repeat(32)) && stderr.contains("MANIFEST_UNKNOWN"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_never_carry_credentials_to_another_host_and_loops_stop() {
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let config_digest = sha(&config);
    let manifest = layer_manifest(&config_digest, config.len() as i64);
    // The blob store: another host (127.0.0.2), recording the Authorization it receives.
    let blob_body = config.clone();
    let store = fake(
        "127.0.0.2:0",
        Arc::new(move |_m: &str, _p: &str| {
            resp(
                200,
                &[("Content-Type", "application/octet-stream")],
                blob_body.clone(),
            )
        }),
    )
    .await;
    let store_url = format!("http://{}/blob", store.addr);
    let cd = config_digest.clone();
    let server = fake(
        "127.0.0.1:0",
        Arc::new(move |_m: &str, path: &str| {
            if path == "/v2/" {
                return resp(401, &[("WWW-Authenticate", "Basic realm=\"hostile\"")], "");
            }
            if path == "/v2/redir/manifests/1" || path == "/v2/loop/manifests/1" {
                return manifest_resp(&manifest, OCI_MANIFEST);
            }
            if path == format!("/v2/redir/blobs/{cd}") {
                return resp(307, &[("Location", &store_url)], "");
            }
            if path.starts_with("/v2/loop/blobs/") {
                return resp(302, &[("Location", "/v2/loop/blobs/again")], "");
            }
            resp(404, &[], "")
        }),
    )
    .await;
    let creds = ["--src-creds", "user:S3cret-Never-Forwarded"];
    // Through the redirect the copy succeeds, but the other host never sees the credentials.
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    let dst = format!("{}/{}:1.0", r.production, unique("redirect"));
    let src = format!("{}/redir:1", server.addr);
    let args: Vec<String> = ["copy", &src, &dst, creds[0], creds[1]]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        promote(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let store_seen = store.seen.lock().unwrap().clone();
    assert!(!store_seen.is_empty());
    assert!(
        store_seen.iter().all(|s| s.authorization.is_none()),
        "{store_seen:?}"
    );
    assert!(
        server
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.authorization.is_some()),
        "the registry itself got them"
    );

    // A redirect loop stops after 5 hops with a REGISTRY error.
    let (out, _) = copy_from(format!("{}/loop:1", server.addr), &creds).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("redirect"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("S3cret-Never-Forwarded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_realm_on_another_host_over_plain_http_is_refused() {
    let realm_host = fake(
        "127.0.0.2:0",
        Arc::new(|_m: &str, _p: &str| resp(200, &[], r#"{"token":"x"}"#)),
    )
    .await;
    let challenge = format!(
        "Bearer realm=\"http://{}/token\",service=\"evil\"",
        realm_host.addr
    );
    let server = fake(
        "127.0.0.1:0",
        Arc::new(move |_m: &str, _p: &str| {
            resp(401, &[("WWW-Authenticate", challenge.as_str())], "")
        }),
    )
    .await;
    let (out, _) = copy_from(
        format!("{}/app:1", server.addr),
        &["--src-creds", "user:Realm-Secret-77"],
    )
    .await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("[AUTHENTICATION]") && all.contains("another host over plain HTTP"),
        "{all}"
    );
    assert!(
        realm_host.seen.lock().unwrap().is_empty(),
        "the realm must not be contacted"
    );
    assert!(!all.contains("Realm-Secret-77"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_name_mismatch_is_never_downgraded() {
    let r = tokio::task::spawn_blocking(registries).await.unwrap();
    // 127.0.0.2 is loopback but not in the certificate's names: forward it to the TLS registry.
    let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let upstream = r.secure.clone();
    tokio::spawn(async move {
        while let Ok((mut a, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut b) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
        }
    });
    let ca = r.secure_cacert.to_str().unwrap().to_owned();
    let creds = format!("{}:{}", r.secure_user, r.secure_password);
    let src = format!("{}/app/small:1.0", r.staging);
    let dst = format!("{addr}/{}:1.0", unique("tlsname"));
    let args: Vec<String> = ["copy", &src, &dst, "--ca-cert", &ca, "--dest-creds", &creds]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        promote(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("certificate") && stderr.contains("never downgraded"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_longer_than_declared_is_refused_mid_stream() {
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let manifest = layer_manifest(&sha(&config), config.len() as i64);
    let mut longer = config.clone();
    longer.extend_from_slice(b"EXTRA-BYTES");
    let server = fake(
        "127.0.0.1:0",
        Arc::new(move |_m: &str, path: &str| {
            if path == "/v2/" {
                return resp(200, &[], "{}");
            }
            if path == "/v2/long/manifests/1" {
                return manifest_resp(&manifest, OCI_MANIFEST);
            }
            if path.starts_with("/v2/long/blobs/") {
                return resp(200, &[], longer.clone());
            }
            resp(404, &[], "")
        }),
    )
    .await;
    let (out, _) = copy_from(format!("{}/long:1", server.addr), &[]).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("longer than its declared size"),
        "{}",
        text(&out)
    );
}
