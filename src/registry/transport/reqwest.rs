//! The native [`Transport`]: reqwest over rustls (ring), the only file that touches reqwest. It
//! keeps two clients (verified, and unverified for `insecure-registries` hosts), follows at most 5
//! redirects and never from HTTPS to HTTP (reqwest drops credentials on a redirect to another
//! host), applies the timeouts, and classifies reqwest's failures into [`TransportError`]s whose
//! messages carry redacted URLs only. The verified client trusts the system's store plus
//! `--ca-cert`, as reqwest would, but the store is read on the first certificate to verify
//! ([`LazyVerifier`]): a run against plain-HTTP registries never pays for it.

use std::sync::{Arc, OnceLock};

use futures_util::TryStreamExt as _;
use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

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
        .http1_only()
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
        let mut extra = Vec::new();
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
            for der in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
                extra.push(der.map_err(|e| {
                    Error::input(format!("ca-cert #{}: not a PEM certificate: {e}", i + 1))
                })?);
            }
        }
        builder = builder.use_preconfigured_tls(verified_tls(extra)?);
    } else {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| Error::internal(format!("cannot build the HTTP client: {}", error_chain(&e))))
}

/// rustls as reqwest configures it (TLS 1.2 and 1.3), with a [`LazyVerifier`], offering HTTP/1.1
/// only: each blob upload gets its own connection instead of sharing one HTTP/2 connection's flow
/// control (1 GiB to a TLS registry: 6–16 % faster, ~0.3 CPU-s less of ours, bench/notes.md).
fn verified_tls(extra: Vec<CertificateDer<'static>>) -> Result<rustls::ClientConfig> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let verifier = LazyVerifier {
        provider: provider.clone(),
        extra,
        inner: OnceLock::new(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::internal(format!("cannot configure TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// rustls-platform-verifier's verifier (the system store plus `extra`), built on the first
/// certificate it is asked about. The signature schemes offered in the ClientHello are the
/// provider's, which is what the built verifier answers too.
#[derive(Debug)]
struct LazyVerifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
    extra: Vec<CertificateDer<'static>>,
    inner: OnceLock<Result<Arc<rustls_platform_verifier::Verifier>, rustls::Error>>,
}

impl LazyVerifier {
    fn inner(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.inner
            .get_or_init(|| {
                rustls_platform_verifier::Verifier::new_with_extra_roots(
                    self.extra.iter().cloned(),
                    self.provider.clone(),
                )
                .map(Arc::new)
            })
            .as_deref()
            .map_err(Clone::clone)
    }
}

impl ServerCertVerifier for LazyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner()?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
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
    fn the_trust_store_is_read_on_the_first_certificate_only() {
        let verifier = LazyVerifier {
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            extra: Vec::new(),
            inner: OnceLock::new(),
        };
        // Building the ClientHello asks for the schemes: no store yet.
        assert!(!verifier.supported_verify_schemes().is_empty());
        assert!(verifier.inner.get().is_none());
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let name = ServerName::try_from("registry.example").unwrap();
        let verdict = verifier.verify_server_cert(&junk, &[], &name, &[], UnixTime::now());
        assert!(verdict.is_err(), "a junk certificate must not verify");
        assert!(
            verifier.inner.get().is_some(),
            "built on the first certificate"
        );
    }

    #[test]
    fn tls_offers_http1_only() {
        let tls = verified_tls(Vec::new()).unwrap();
        assert_eq!(tls.alpn_protocols, vec![b"http/1.1".to_vec()]);
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
