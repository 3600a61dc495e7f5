//! Redirects above the seam, for transports that do not follow them (the wasi:http one: the WASI
//! host hands 3xx responses back). [`Redirecting`] follows at most [`MAX_REDIRECTS`], never from
//! HTTPS to HTTP, and drops `Authorization` when the host (or port or scheme) changes — the rules
//! reqwest applies natively (`reqwest.rs`). A 303, or a 301/302 after a POST, becomes a GET
//! without body; a streamed body cannot be replayed, so such a redirect is returned as it came.

use std::sync::Arc;

use super::{Body, BoxFuture, FinalUrl, Response, Transport, TransportError, redact_url};

/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// A transport that follows redirects over an inner one that does not.
pub struct Redirecting {
    inner: Arc<dyn Transport>,
}

impl Redirecting {
    /// Follows redirects over `inner`.
    #[must_use]
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        Self { inner }
    }

    async fn send_following(
        &self,
        request: http::Request<Body>,
    ) -> Result<Response, TransportError> {
        let (mut parts, body) = request.into_parts();
        // A body in memory can be sent again; a stream cannot.
        let replayable = match &body {
            Body::Empty => Some(Body::Empty),
            Body::Bytes(b) => Some(Body::Bytes(b.clone())),
            Body::Stream(..) => None,
        };
        let mut url = parts.uri.to_string();
        let mut response = self
            .inner
            .send(http::Request::from_parts(parts.clone(), body))
            .await?;
        let mut followed = 0;
        while let Some(location) = redirect_location(&response) {
            let Some(mut next_body) = replayable.as_ref().map(clone_body) else {
                break;
            };
            let shown = redact_url(&url);
            if followed == MAX_REDIRECTS {
                return Err(TransportError::Redirect(format!(
                    "{shown}: refused redirect (more than {MAX_REDIRECTS} redirects)"
                )));
            }
            let next = url::Url::parse(&url)
                .and_then(|base| base.join(&location))
                .map_err(|e| {
                    TransportError::Redirect(format!("{shown}: redirect to an unusable URL ({e})"))
                })?;
            if url.starts_with("https://") && next.scheme() != "https" {
                return Err(TransportError::Redirect(format!(
                    "{shown}: refused redirect (from https to http)"
                )));
            }
            if origin(&url) != origin(next.as_str()) {
                parts.headers.remove(http::header::AUTHORIZATION);
                parts.headers.remove(http::header::COOKIE);
            }
            let status = response.status().as_u16();
            if status == 303 || (matches!(status, 301 | 302) && parts.method == http::Method::POST)
            {
                parts.method = http::Method::GET;
                parts.headers.remove(http::header::CONTENT_LENGTH);
                parts.headers.remove(http::header::CONTENT_TYPE);
                next_body = Body::Empty;
            }
            parts.uri = next.as_str().parse().map_err(|e| {
                TransportError::Redirect(format!("{shown}: redirect to an unusable URL ({e})"))
            })?;
            url = next.to_string();
            followed += 1;
            response = self
                .inner
                .send(http::Request::from_parts(parts.clone(), next_body))
                .await?;
        }
        response.extensions_mut().insert(FinalUrl(url));
        Ok(response)
    }
}

fn clone_body(body: &Body) -> Body {
    match body {
        Body::Bytes(b) => Body::Bytes(b.clone()),
        Body::Empty | Body::Stream(..) => Body::Empty,
    }
}

fn redirect_location(response: &Response) -> Option<String> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn origin(url: &str) -> Option<(String, String, Option<u16>)> {
    let u = url::Url::parse(url).ok()?;
    Some((
        u.scheme().to_owned(),
        u.host_str()?.to_owned(),
        u.port_or_known_default(),
    ))
}

impl Transport for Redirecting {
    fn send(
        &self,
        request: http::Request<Body>,
    ) -> BoxFuture<'_, Result<Response, TransportError>> {
        Box::pin(self.send_following(request))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{FakeTransport, answer};
    use super::super::{Request, ResponseExt as _};
    use super::*;

    fn get(url: &str) -> http::Request<Body> {
        Request::new(http::Method::GET, url)
            .header("authorization", "Bearer SECRET")
            .into_http()
            .unwrap()
    }

    #[tokio::test]
    async fn follows_a_blob_redirect_and_drops_credentials_on_another_host() {
        let fake = FakeTransport::new(|r| {
            if r.url.contains("reg.test") {
                answer(307, &[("location", "http://cdn.test/blob?sig=1")], "")
            } else {
                answer(200, &[], "bytes")
            }
        });
        let t = Redirecting::new(fake.clone());
        let response = t.send(get("http://reg.test/v2/r/blobs/x")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.final_url(), "http://cdn.test/blob?sig=1");
        let sent = fake.requests();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].header("authorization"), Some("Bearer SECRET"));
        assert_eq!(sent[1].header("authorization"), None, "{:?}", sent[1]);
    }

    #[tokio::test]
    async fn keeps_credentials_on_the_same_host_and_resolves_relative_locations() {
        let fake = FakeTransport::new(|r| {
            if r.url.ends_with("/a") {
                answer(302, &[("location", "/b")], "")
            } else {
                answer(200, &[], "ok")
            }
        });
        let t = Redirecting::new(fake.clone());
        let response = t.send(get("http://reg.test/a")).await.unwrap();
        assert_eq!(response.final_url(), "http://reg.test/b");
        assert_eq!(
            fake.requests()[1].header("authorization"),
            Some("Bearer SECRET")
        );
    }

    #[tokio::test]
    async fn refuses_https_to_http_and_more_than_five_redirects() {
        let fake = FakeTransport::new(|_| answer(307, &[("location", "http://reg.test/x")], ""));
        let t = Redirecting::new(fake.clone());
        let e = t.send(get("https://reg.test/a")).await.err().unwrap();
        assert!(
            matches!(&e, TransportError::Redirect(m) if m.contains("https to http")),
            "{e:?}"
        );
        assert_eq!(fake.requests().len(), 1);

        let looping = FakeTransport::new(|_| answer(308, &[("location", "/again")], ""));
        let t = Redirecting::new(looping.clone());
        let e = t.send(get("http://reg.test/a")).await.err().unwrap();
        assert!(
            matches!(&e, TransportError::Redirect(m) if m.contains("more than 5")),
            "{e:?}"
        );
        assert_eq!(looping.requests().len(), 1 + MAX_REDIRECTS);
    }

    #[tokio::test]
    async fn a_streamed_body_is_not_replayed_and_a_303_becomes_a_get() {
        let fake = FakeTransport::new(|r| {
            if r.url.ends_with("/see-other") {
                answer(200, &[], "")
            } else {
                answer(303, &[("location", "/see-other")], "")
            }
        });
        let t = Redirecting::new(fake.clone());
        let stream: super::super::BodyStream = Box::pin(futures_util::stream::iter([Ok(
            bytes::Bytes::from_static(b"data"),
        )]));
        let put = Request::new(http::Method::PUT, "http://reg.test/upload")
            .body(Body::Stream(stream, Some(4)))
            .into_http()
            .unwrap();
        let response = t.send(put).await.unwrap();
        assert_eq!(response.status(), 303, "a streamed body cannot follow");
        let post = Request::new(http::Method::POST, "http://reg.test/upload")
            .body(Body::Bytes(bytes::Bytes::from_static(b"x")))
            .into_http()
            .unwrap();
        assert_eq!(t.send(post).await.unwrap().status(), 200);
        let last = fake.requests().pop().unwrap();
        assert_eq!((last.method, last.body.len()), (http::Method::GET, 0));
    }
}
