//! Small Distribution-API client helpers for tests: digests, monolithic blob uploads
//! (POST then PUT `?digest=`), and pushing a tiny valid OCI image.

use anyhow::{Context, Result, bail};
use reqwest::{Client, RequestBuilder, StatusCode};
use sha2::{Digest, Sha256};

/// The Accept header a manifest GET should send.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// Staging registry of the harness.
pub const STAGING: &str = super::harness::STAGING;
/// Production registry of the harness.
pub const PRODUCTION: &str = super::harness::PRODUCTION;
/// Digest of the `app/small:1.0` fixture on staging.
pub const SMALL_DIGEST: &str =
    "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `application/x-www-form-urlencoded` / query-string encoding of `pairs`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Parses a JSON response body.
pub async fn json(resp: reqwest::Response) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&resp.bytes().await?)?)
}

/// Installs rustls' crypto provider (ring, as the crate does) before any client is built.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client that ignores proxy environment variables (tests talk to 127.0.0.1).
pub fn client() -> Client {
    install_crypto();
    Client::builder()
        .no_proxy()
        .build()
        .expect("build reqwest client")
}

fn auth(rb: RequestBuilder, token: Option<&str>) -> RequestBuilder {
    match token {
        Some(t) => rb.bearer_auth(t),
        None => rb,
    }
}

/// Uploads `data` to `http://{host}/v2/{repo}/blobs/` (POST, then one PUT with the body);
/// returns its digest.
pub async fn upload_blob(
    client: &Client,
    host: &str,
    repo: &str,
    data: Vec<u8>,
    token: Option<&str>,
) -> Result<String> {
    let digest = sha256_digest(&data);
    let base = format!("http://{host}");
    let resp = auth(
        client.post(format!("{base}/v2/{repo}/blobs/uploads/")),
        token,
    )
    .send()
    .await?;
    if resp.status() != StatusCode::ACCEPTED {
        bail!(
            "POST upload: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    let loc = resp
        .headers()
        .get("location")
        .context("upload POST without Location")?
        .to_str()?
        .to_string();
    let loc = if loc.starts_with('/') {
        format!("{base}{loc}")
    } else {
        loc
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let resp = auth(client.put(format!("{loc}{sep}digest={digest}")), token)
        .header("content-type", "application/octet-stream")
        .body(data)
        .send()
        .await?;
    if resp.status() != StatusCode::CREATED {
        bail!(
            "PUT upload: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    Ok(digest)
}

/// What [`push_test_image`] pushed.
#[derive(Clone, Debug)]
pub struct TestImage {
    /// Manifest digest.
    pub digest: String,
    /// Manifest bytes.
    pub manifest: Vec<u8>,
    /// (digest, bytes) of the config and the layer.
    pub blobs: Vec<(String, Vec<u8>)>,
}

/// The manifest and blobs of a tiny valid OCI image (one empty-tar layer); the config
/// carries `repo`/`tag` labels so each (repo, tag) gets its own digest.
pub fn test_image(repo: &str, tag: &str) -> TestImage {
    image_with_config(|layer_digest| {
        serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"test.repo": repo, "test.tag": tag}},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        })
    })
}

/// A one-layer OCI image (an empty tar) whose config is `config(layer digest)`.
pub fn image_with_config(config: impl FnOnce(&str) -> serde_json::Value) -> TestImage {
    let layer = vec![0u8; 1024]; // an empty tar archive: two zero blocks
    let layer_digest = sha256_digest(&layer);
    let config = config(&layer_digest).to_string().into_bytes();
    let config_digest = sha256_digest(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    })
    .to_string()
    .into_bytes();
    TestImage {
        digest: sha256_digest(&manifest),
        manifest,
        blobs: vec![(config_digest, config), (layer_digest, layer)],
    }
}

/// Pushes [`test_image`] to `http://{host}/v2/{repo}` under `tag`.
pub async fn push_test_image(
    client: &Client,
    host: &str,
    repo: &str,
    tag: &str,
    token: Option<&str>,
) -> Result<TestImage> {
    let image = test_image(repo, tag);
    for (_, data) in &image.blobs {
        upload_blob(client, host, repo, data.clone(), token).await?;
    }
    let resp = auth(
        client.put(format!("http://{host}/v2/{repo}/manifests/{tag}")),
        token,
    )
    .header("content-type", OCI_MANIFEST)
    .body(image.manifest.clone())
    .send()
    .await?;
    if resp.status() != StatusCode::CREATED {
        bail!(
            "PUT manifest: {} {}",
            resp.status(),
            resp.text().await.unwrap_or_default()
        );
    }
    let got = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if got != image.digest {
        bail!(
            "registry says manifest digest {got}, expected {}",
            image.digest
        );
    }
    Ok(image)
}

/// The digest `registry/repo:tag` resolves to (HEAD), `None` if absent.
pub async fn tag_digest(registry: &str, repo: &str, tag: &str) -> Option<String> {
    let resp = client()
        .head(format!("http://{registry}/v2/{repo}/manifests/{tag}"))
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    if resp.status() == 404 {
        return None;
    }
    assert!(
        resp.status().is_success(),
        "HEAD {repo}:{tag}: {}",
        resp.status()
    );
    Some(
        resp.headers()["docker-content-digest"]
            .to_str()
            .unwrap()
            .to_owned(),
    )
}
