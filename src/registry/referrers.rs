//! The HTTP side of OCI 1.1 referrers: one page of `GET /v2/<name>/referrers/<digest>` (with the
//! `Link: rel="next"` of the next page), under the client's auth and retry policy. What the
//! answers mean (supported or not, the fallback tag schema) is decided in `crate::referrers`.

use bytes::Bytes;

use super::RegistryClient;
use super::retry::Budget;
use super::transport::{Method, Request, ResponseExt as _};
use crate::digest::Digest;
use crate::error::Result;
use crate::media::{MAX_MANIFEST_BYTES, OCI_INDEX};
use crate::reference::Reference;

/// One answer of the referrers endpoint.
#[derive(Debug, Clone)]
pub struct ReferrersPage {
    /// HTTP status: 200 (a page), or 400/404/405 (the registry has no referrers API).
    pub status: u16,
    /// The body of a 200 (an OCI image index); empty otherwise.
    pub body: Bytes,
    /// The path and query (`/v2/…`) of the next page, from `Link: <…>; rel="next"`.
    pub next: Option<String>,
    /// `OCI-Filters-Applied`, when sent.
    pub filters_applied: Option<String>,
}

impl RegistryClient {
    /// GETs one page of the referrers of `subject` in `reference`'s repository: the first page,
    /// or `next` (a path from a previous page's `Link`). 400, 404 and 405 are answers, not errors.
    ///
    /// # Errors
    /// Registry, network and access errors; a body over 4 MiB.
    pub async fn get_referrers_page(
        &self,
        reference: &Reference,
        subject: &Digest,
        next: Option<&str>,
    ) -> Result<ReferrersPage> {
        let path = match next {
            Some(n) => n.to_owned(),
            None => format!("/v2/{}/referrers/{subject}", reference.repository()),
        };
        let build = move |base: &str| {
            Request::new(Method::GET, format!("{base}{path}")).header("Accept", OCI_INDEX)
        };
        let what = format!("GET referrers of {subject} in {}", reference.name());
        self.retried(&what, || async {
            let response = self
                .execute_with(
                    Budget::Caller,
                    reference.api_host(),
                    &what,
                    &[200, 400, 404, 405],
                    &build,
                )
                .await?;
            let status = response.status().as_u16();
            let next = response.header("link").and_then(next_link);
            let filters_applied = response.header("oci-filters-applied").map(str::to_owned);
            let body = if status == 200 {
                response.bytes_limited(MAX_MANIFEST_BYTES).await?
            } else {
                Bytes::new()
            };
            Ok(ReferrersPage {
                status,
                body,
                next,
                filters_applied,
            })
        })
        .await
    }
}

/// The path and query of the `rel="next"` target of a `Link` header; an absolute URL keeps only
/// its path and query (the next page is on the same registry, never elsewhere).
#[must_use]
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if target.starts_with('/') {
            return Some(target.to_owned());
        }
        let url = url::Url::parse(target).ok()?;
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        path.starts_with("/v2/").then_some(path)
    })
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn reads_the_next_link() {
        assert_eq!(
            next_link(r#"</v2/a/referrers/sha256:1?n=2&last=x>; rel="next""#).as_deref(),
            Some("/v2/a/referrers/sha256:1?n=2&last=x")
        );
        assert_eq!(
            next_link(r#"<https://r.example/v2/a/referrers/x?last=y>; rel="next""#).as_deref(),
            Some("/v2/a/referrers/x?last=y")
        );
        assert_eq!(next_link(r#"</v2/a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(
            next_link(r#"<https://evil.example/steal>; rel="next""#),
            None
        );
    }
}
