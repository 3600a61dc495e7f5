//! Manifest operations of the Distribution API: fetch raw bytes (digest checked against
//! `Docker-Content-Digest` and the reference), HEAD by tag or digest, and PUT the same bytes with
//! the same media type. Input: a reference; output: a [`Manifest`] or its digest.

use super::retry::Budget;
use super::transport::{Body, Method, Request, ResponseExt as _};
use super::{RegistryClient, not_found_hint, push_hint};
use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::media::{MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, Manifest};
use crate::reference::Reference;

impl RegistryClient {
    /// Fetches a manifest's raw bytes and checks its digest against `Docker-Content-Digest` and
    /// against the reference's digest.
    ///
    /// # Errors
    /// REGISTRY errors (not found, …), VALIDATION errors for digest mismatches or bad manifests.
    pub async fn get_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
    ) -> Result<Manifest> {
        let what = format!(
            "{}/{}:{}",
            reference.registry(),
            reference.repository(),
            tag_or_digest
        );
        let repo = reference.repository().to_owned();
        let tod = tag_or_digest.to_owned();
        let build = move |base: &str| {
            Request::new(Method::GET, format!("{base}/v2/{repo}/manifests/{tod}"))
                .header("Accept", MANIFEST_ACCEPT)
        };
        // The GET and the reading of its body are one unit under the policy (a body cut short
        // restarts it); the GET inside is sent once per attempt.
        let get = format!("GET manifest {what}");
        let (content_type, header_digest, bytes) = self
            .retried(&get, || async {
                let response = self
                    .execute_with(Budget::Caller, reference.api_host(), &get, &[200], &build)
                    .await?;
                let content_type = response.header("content-type").map(str::to_owned);
                let header_digest = response.header("docker-content-digest").map(str::to_owned);
                let bytes = response
                    .bytes_limited(MAX_MANIFEST_BYTES)
                    .await
                    .map_err(|e| {
                        if e.reason == Reason::InvalidInput {
                            e.hint("manifests over 4 MiB are refused")
                        } else {
                            e
                        }
                    })?;
                Ok((content_type, header_digest, bytes))
            })
            .await
            .map_err(|e| not_found_hint(e, &what))?;
        let manifest = Manifest::parse(&what, bytes, content_type.as_deref())?;
        if let Ok(expected) = Digest::parse(tag_or_digest) {
            let actual = expected.same_algorithm_of(&manifest.bytes);
            if actual != expected {
                return Err(Error::verification(format!(
                    "manifest {what}: the registry served bytes whose digest is {actual}"
                ))
                .hint("the registry does not serve the content it was asked for; do not promote from it"));
            }
        }
        if let Some(h) = header_digest
            && let Ok(hd) = Digest::parse(&h)
        {
            let actual = hd.same_algorithm_of(&manifest.bytes);
            if actual != hd {
                return Err(Error::verification(format!(
                    "manifest {what}: Docker-Content-Digest says {hd} but the bytes hash to {actual}"
                )));
            }
        }
        Ok(manifest)
    }

    /// HEADs a manifest; `None` if absent. Returns its digest from `Docker-Content-Digest`.
    ///
    /// # Errors
    /// Registry errors other than 404.
    pub async fn head_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
    ) -> Result<Option<Digest>> {
        let repo = reference.repository().to_owned();
        let tod = tag_or_digest.to_owned();
        let build = move |base: &str| {
            Request::new(Method::HEAD, format!("{base}/v2/{repo}/manifests/{tod}"))
                .header("Accept", MANIFEST_ACCEPT)
        };
        let response = self
            .execute(
                reference.api_host(),
                &format!("HEAD manifest {}:{tag_or_digest}", reference.name()),
                &[200, 404],
                &build,
            )
            .await?;
        if response.status() == 404 {
            return Ok(None);
        }
        match response.header("docker-content-digest").map(Digest::parse) {
            Some(Ok(d)) => Ok(Some(d)),
            _ => {
                // Without the header, fetch to learn the digest.
                Ok(Some(
                    self.get_manifest(reference, tag_or_digest).await?.digest,
                ))
            }
        }
    }

    /// PUTs raw manifest bytes with their media type under `tag_or_digest`.
    ///
    /// # Errors
    /// Registry errors; a VALIDATION error if the registry reports another digest.
    pub async fn put_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
        manifest: &Manifest,
    ) -> Result<()> {
        let repo = reference.repository().to_owned();
        let tod = tag_or_digest.to_owned();
        let bytes = manifest.bytes.clone();
        let media_type = manifest.media_type.clone();
        let build = move |base: &str| {
            Request::new(Method::PUT, format!("{base}/v2/{repo}/manifests/{tod}"))
                .header("Content-Type", media_type.clone())
                .body(Body::Bytes(bytes.clone()))
        };
        let what = format!("PUT manifest {}:{tag_or_digest}", reference.name());
        let response = self
            .execute(reference.api_host(), &what, &[200, 201, 202], &build)
            .await
            .map_err(|e| push_hint(e, reference))?;
        if let Some(Ok(d)) = response.header("docker-content-digest").map(Digest::parse)
            && d != manifest.digest
        {
            return Err(Error::verification(format!(
                "{what}: the registry stored it as {d}, not {}",
                manifest.digest
            ))
            .hint("the destination registry rewrote the manifest; it cannot hold this image digest-preserving"));
        }
        Ok(())
    }
}
