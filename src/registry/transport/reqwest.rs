//! The native [`Transport`]: reqwest over rustls (ring), the only file that touches reqwest. It
//! keeps two clients (verified, and unverified for `insecure-registries` hosts), follows at most 5
//! redirects and never from HTTPS to HTTP (reqwest drops credentials on a redirect to another
//! host), applies the timeouts, and classifies reqwest's failures into [`TransportError`]s whose
//! messages carry redacted URLs only.

use futures_util::TryStreamExt as _;

use super::{
    Body, BoxFuture, FinalUrl, Response, Transport, TransportError, TransportOptions, host_port,
    redact_url,
};
use crate::error::{Error, Result};

/// reqwest, natively.
pub struct ReqwestTransport {
    verified: reqwest::Client,
    unverified: reqwest::Client,
    insecure_registries: Vec<String>,
}

impl ReqwestTransport {
    /// Builds the transport.
    ///
    /// # Errors
    /// Input errors for unusable CA certificates.
    pub fn new(options: &TransportOptions) -> Result<Self> {
        Ok(Self {
            verified: build_client(options, true)?,
            unverified: build_client(options, false)?,
            insecure_registries: options.insecure_registries.clone(),
        })
    }

    fn client_for(&self, url: &str) -> &reqwest::Client {
        let host = host_port(url);
        if url.starts_with("https://") && self.insecure_registries.contains(&host) {
            &self.unverified
        } else {
            &self.verified
        }
    }

    async fn send_one(&self, request: http::Request<Body>) -> Result<Response, TransportError> {
        let url = request.uri().to_string();
        let shown = redact_url(&url);
        let (parts, body) = request.into_parts();
        let mut builder = self
            .client_for(&url)
            .request(parts.method, &url)
            .headers(parts.headers);
        builder = match body {
            Body::Empty => builder,
            Body::Bytes(b) => builder.body(b),
            Body::Stream(s, _) => builder.body(reqwest::Body::wrap_stream(s)),
        };
        let inner = builder
            .send()
            .await
            .map_err(|e| map_reqwest_error(&e, &shown))?;
        let final_url = inner.url().to_string();
        let mut response = http::Response::builder().status(inner.status());
        if let Some(headers) = response.headers_mut() {
            *headers = inner.headers().clone();
        }
        let stream_url = redact_url(&final_url);
        let body: super::BodyStream = Box::pin(
            inner
                .bytes_stream()
                .map_err(move |e| Error::from(map_reqwest_error(&e, &stream_url))),
        );
        response
            .extension(FinalUrl(final_url))
            .body(body)
            .map_err(|e| TransportError::Setup(format!("{shown}: cannot read the response: {e}")))
    }
}

impl Transport for ReqwestTransport {
    fn send(
        &self,
        request: http::Request<Body>,
    ) -> BoxFuture<'_, Result<Response, TransportError>> {
        Box::pin(self.send_one(request))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn is_certificate_error(chain: &str) -> bool {
    let c = chain.to_ascii_lowercase();
    c.contains("certificate") || c.contains("unknownissuer") || c.contains("notvalidforname")
}

fn map_reqwest_error(e: &reqwest::Error, url: &str) -> TransportError {
    // Our own body-stream errors (verification) travel inside reqwest's error; surface them.
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cur {
        if let Some(ours) = c.downcast_ref::<Error>() {
            return TransportError::Body(ours.clone());
        }
        cur = c.source();
    }
    let chain = redact_chain(&error_chain(e));
    if e.is_timeout() {
        return TransportError::Timeout(format!("{url}: timed out ({chain})"));
    }
    if is_certificate_error(&chain) {
        return TransportError::Certificate(format!(
            "{url}: TLS certificate not trusted ({chain})"
        ));
    }
    if e.is_redirect() {
        return TransportError::Redirect(format!("{url}: refused redirect ({chain})"));
    }
    TransportError::Connect(format!("{url}: {chain}"))
}

fn redact_chain(chain: &str) -> String {
    // reqwest includes the URL in its messages: drop query strings.
    chain
        .split(' ')
        .map(|w| {
            let trimmed = w.trim_matches(|c| c == '(' || c == ')');
            if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
                redact_url(trimmed)
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn build_client(options: &TransportOptions, verify: bool) -> Result<reqwest::Client> {
    // One process-wide crypto provider for rustls (ring); a second install is a no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("image-promote/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .pool_max_idle_per_host(32)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                return attempt.error("more than 5 redirects");
            }
            let downgrade = attempt
                .previous()
                .last()
                .is_some_and(|p| p.scheme() == "https")
                && attempt.url().scheme() != "https";
            if downgrade {
                return attempt.error("redirect from https to http refused");
            }
            attempt.follow()
        }));
    if verify {
        for (i, pem) in options.ca_certs.iter().enumerate() {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                Error::input(format!("ca-cert #{}: not a PEM certificate bundle: {e}", i + 1))
                    .hint("pass a path to a PEM file or the PEM text itself (starting with -----BEGIN CERTIFICATE-----)")
            })?;
            if certs.is_empty() {
                return Err(Error::input(format!(
                    "ca-cert #{}: no certificate found in the PEM text",
                    i + 1
                )));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
    } else {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {}", error_chain(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lose_upload_state_and_certificates_are_recognized() {
        let chain = "error sending request for url (https://r.example/v2/u/1?_state=SECRET): tls";
        let shown = redact_chain(chain);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("https://r.example/v2/u/1"), "{shown}");
        assert!(is_certificate_error(
            "invalid peer certificate: UnknownIssuer"
        ));
        assert!(!is_certificate_error("connection refused"));
    }

    #[test]
    fn unusable_ca_certificates_are_input_errors() {
        let options = TransportOptions {
            ca_certs: vec![b"not a certificate".to_vec()],
            ..TransportOptions::default()
        };
        let e = ReqwestTransport::new(&options).err().unwrap();
        assert_eq!(e.kind, crate::error::ErrorKind::Input, "{e}");
        assert!(e.message.contains("ca-cert #1"), "{e}");
    }
}
