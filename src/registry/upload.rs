//! Blob uploads of the Distribution API: upload sessions (with cross-repository mount), the
//! monolithic PUT with a streamed-PATCH fallback, and cancelling. Input: a session and a verified
//! body stream from the copy engine; output: the blob committed at the destination, or an error.

use std::sync::Mutex;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::retry::Budget;
use super::transport::{self, Body, Method, Request, Response, ResponseExt as _};
use super::{
    Pipe as _, RegistryClient, UploadStart, error_from_response, push_hint, resolve_location,
};
use crate::digest::Digest;
use crate::error::{Error, Reason, Result};
use crate::reference::Reference;

impl RegistryClient {
    /// Starts an upload in `reference`'s repository, mounting `mount` (digest, from-repository)
    /// when given. A mount the registry cannot do opens a normal session instead. Retried under
    /// the policy, or sent once within a blob transfer ([`Budget`]).
    ///
    /// # Errors
    /// Registry, permission and authentication errors.
    pub async fn start_upload(
        &self,
        reference: &Reference,
        mount: Option<(&Digest, &str)>,
        budget: Budget,
    ) -> Result<UploadStart> {
        let repo = reference.repository().to_owned();
        let query = match mount {
            Some((d, from)) => format!("?mount={d}&from={from}"),
            None => String::new(),
        };
        let build = move |base: &str| {
            Request::new(
                Method::POST,
                format!("{base}/v2/{repo}/blobs/uploads/{query}"),
            )
            .header("Content-Length", "0")
        };
        let response = self
            .execute_with(
                budget,
                reference.api_host(),
                &format!("start upload to {}", reference.name()),
                &[201, 202],
                &build,
            )
            .await
            .map_err(|e| push_hint(e, reference))?;
        if response.status() == 201 && mount.is_some() {
            return Ok(UploadStart::Mounted);
        }
        let location = self.location(reference, &response)?;
        Ok(UploadStart::Session(location))
    }

    fn location(&self, reference: &Reference, response: &Response) -> Result<String> {
        let loc = response.header("location").ok_or_else(|| {
            Error::registry(format!(
                "{}: upload response without Location",
                reference.name()
            ))
        })?;
        resolve_location(response.final_url(), loc).ok_or_else(|| {
            Error::registry(format!(
                "{}: upload Location does not parse",
                reference.name()
            ))
        })
    }

    /// Uploads a blob body into a session: a monolithic PUT, or (when the registry refused that
    /// once) a streamed PATCH then a closing PUT. One attempt: the caller retries the whole blob.
    ///
    /// # Errors
    /// Registry and network errors; `BLOB_UPLOAD_UNKNOWN` is retryable (the caller restarts).
    pub async fn finish_upload(
        &self,
        reference: &Reference,
        session: &str,
        digest: &Digest,
        size: u64,
        body: transport::BodyStream,
    ) -> Result<()> {
        let host_name = reference.api_host();
        let host = self.host(host_name).await?;
        let put_url = |session: &str| {
            let sep = if session.contains('?') { '&' } else { '?' };
            format!("{session}{sep}digest={digest}")
        };
        if host.prefer_patch.load(Ordering::Relaxed) {
            return self
                .patch_then_put(reference, session, digest, size, body)
                .await;
        }
        let url = put_url(session);
        let body_slot = Mutex::new(Some(body));
        let build = |_: &str| {
            let body = body_slot.lock().ok().and_then(|mut b| b.take());
            let req = Request::new(Method::PUT, url.clone())
                .header("Content-Type", "application/octet-stream");
            match body {
                Some(b) => req.body(Body::Stream(b, Some(size))),
                None => req.body(Body::Bytes(Bytes::new())),
            }
        };
        let response = self.send_authed(host_name, &build).await?;
        match response.status().as_u16() {
            201 | 204 => Ok(()),
            405 | 501 | 413 => {
                host.prefer_patch.store(true, Ordering::Relaxed);
                let e = error_from_response(response, &format!("PUT blob {digest}")).await;
                let mut refused = Error::new(
                    Reason::MonolithicUploadRefused,
                    format!(
                        "monolithic upload refused; switching to chunked uploads: {}",
                        e.message
                    ),
                );
                refused.status = e.status;
                refused.registry_code = e.registry_code;
                Err(refused)
            }
            _ => Err(error_from_response(
                response,
                &format!("upload blob {digest} to {}", reference.name()),
            )
            .await
            .pipe(|e| push_hint(e, reference))),
        }
    }

    async fn patch_then_put(
        &self,
        reference: &Reference,
        session: &str,
        digest: &Digest,
        size: u64,
        body: transport::BodyStream,
    ) -> Result<()> {
        let host_name = reference.api_host();
        let body_slot = Mutex::new(Some(body));
        let session_owned = session.to_owned();
        let build = |_: &str| {
            let body = body_slot.lock().ok().and_then(|mut b| b.take());
            let req = Request::new(Method::PATCH, session_owned.clone())
                .header("Content-Type", "application/octet-stream");
            match body {
                Some(b) => req
                    .header("Content-Range", format!("0-{}", size.saturating_sub(1)))
                    .body(Body::Stream(b, Some(size))),
                None => req.body(Body::Bytes(Bytes::new())),
            }
        };
        let response = self.send_authed(host_name, &build).await?;
        if response.status() != 202 {
            return Err(error_from_response(response, &format!("PATCH blob {digest}")).await);
        }
        let next = self.location(reference, &response)?;
        let sep = if next.contains('?') { '&' } else { '?' };
        let url = format!("{next}{sep}digest={digest}");
        let build =
            move |_: &str| Request::new(Method::PUT, url.clone()).header("Content-Length", "0");
        let response = self.send_authed(host_name, &build).await?;
        if matches!(response.status().as_u16(), 201 | 204) {
            Ok(())
        } else {
            Err(error_from_response(response, &format!("close upload of blob {digest}")).await)
        }
    }

    /// Cancels an upload session (best effort).
    pub async fn cancel_upload(&self, reference: &Reference, session: &str) {
        let url = session.to_owned();
        let build = move |_: &str| Request::new(Method::DELETE, url.clone());
        let _ = self.send_authed(reference.api_host(), &build).await;
    }
}
