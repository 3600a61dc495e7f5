//! Image references: `registry[:port]/repo/path[:tag][@sha256:…]`, parsed and normalized with
//! Docker's rules (`docker.io` and `library/`, ports, IP literals, `localhost`). Input of the Plan
//! stage; every later stage names images by a [`Reference`].

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, Result};

/// The canonical name of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A normalized image reference.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Re-exported from [`crate::text`], where it lives (below both `digest` and `reference`).
pub use crate::text::shorten;

fn bad(input: &str, what: &str) -> Error {
    Error::input(format!("invalid image reference `{}`: {what}", shorten(input))).hint(
        "write references as registry[:port]/repository[:tag][@sha256:<64 hex>], e.g. ghcr.io/acme/app:1.2.3",
    )
}

fn valid_path_component(c: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
    let bytes = c.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// Whether `tag` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
#[must_use]
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_registry(host_port: &str) -> bool {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("v6", Some(port)),
                None => return false,
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

impl Reference {
    /// Parses and normalizes a reference.
    ///
    /// # Errors
    /// An input error naming the part that is wrong.
    pub fn parse(input: &str) -> Result<Self> {
        if input.is_empty() {
            return Err(bad(input, "it is empty"));
        }
        if input.trim() != input || input.chars().any(char::is_whitespace) {
            return Err(bad(input, "it contains white space"));
        }
        if input.contains("://") {
            return Err(bad(
                input,
                "remove the URL scheme (`https://`): references name a registry host, not a URL",
            ));
        }
        let (rest, digest) = match input.rsplit_once('@') {
            Some((rest, d)) => (
                rest,
                Some(Digest::parse(d).map_err(|e| bad(input, &e.message))?),
            ),
            None => (input, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t)),
            _ => (rest, None),
        };
        if let Some(t) = tag
            && !valid_tag(t)
        {
            return Err(bad(
                input,
                &format!(
                    "tag `{}` must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}",
                    shorten(t)
                ),
            ));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[') =>
            {
                (first.to_owned(), path.to_owned())
            }
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => registry,
        };
        if !valid_registry(&registry) {
            return Err(bad(
                input,
                &format!(
                    "registry `{}` is not a valid host[:port]",
                    shorten(&registry)
                ),
            ));
        }
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.is_empty() {
            return Err(bad(input, "the repository name is missing"));
        }
        for component in path.split('/') {
            if !valid_path_component(component) {
                let why = if component.bytes().any(|b| b.is_ascii_uppercase()) {
                    "must be lower case"
                } else if component.is_empty() {
                    "is empty (double or trailing `/`)"
                } else {
                    "may only hold a-z, 0-9 and single `.`, `_`, `__` or `-` separators between them"
                };
                return Err(bad(
                    input,
                    &format!("repository component `{}` {why}", shorten(component)),
                ));
            }
        }
        if registry.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(bad(input, "the name is longer than 255 characters"));
        }
        Ok(Self {
            registry,
            repository: path,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry as written (normalized: `docker.io` for Docker Hub).
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host and port to talk to (Docker Hub's API host for `docker.io`).
    #[must_use]
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository path, e.g. `library/alpine`.
    #[must_use]
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    #[must_use]
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry for: the digest if pinned, else the tag, else `latest`.
    #[must_use]
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        }
    }

    /// The same repository with another tag and no digest.
    #[must_use]
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to `digest`, keeping the tag for display.
    #[must_use]
    pub fn with_digest(&self, digest: &Digest) -> Self {
        Self {
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// `registry/repository` without tag or digest.
    #[must_use]
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Checks a tag for use as a destination tag.
    ///
    /// # Errors
    /// An input error naming the tag.
    pub fn validate_tag(tag: &str) -> Result<()> {
        if valid_tag(tag) {
            Ok(())
        } else {
            Err(Error::input(format!(
                "invalid tag `{}`: tags must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}",
                shorten(tag)
            )))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Whether a registry host (with optional port) is a loopback address.
#[must_use]
pub fn is_loopback_host(host_port: &str) -> bool {
    let host = if let Some(rest) = host_port.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    if host == "localhost" {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const D: &str = "sha256:8d5f14e4878aea65da3611b8ae2f24a3366990c2c468abee5b2c31f4c7aee992";

    #[rstest]
    #[case("alpine", "docker.io", "library/alpine", None)]
    #[case("alpine:3.20", "docker.io", "library/alpine", Some("3.20"))]
    #[case("docker.io/alpine", "docker.io", "library/alpine", None)]
    #[case("index.docker.io/acme/app:1", "docker.io", "acme/app", Some("1"))]
    #[case("acme/app:v1.2.3", "docker.io", "acme/app", Some("v1.2.3"))]
    #[case("localhost/app", "localhost", "app", None)]
    #[case("localhost:5000/app:1.0", "localhost:5000", "app", Some("1.0"))]
    #[case(
        "127.0.0.1:5000/app/small:1.0",
        "127.0.0.1:5000",
        "app/small",
        Some("1.0")
    )]
    #[case("[::1]:5000/app:x", "[::1]:5000", "app", Some("x"))]
    #[case(
        "ghcr.io/acme/a.b_c__d-e--f/g:latest",
        "ghcr.io",
        "acme/a.b_c__d-e--f/g",
        Some("latest")
    )]
    fn parses(
        #[case] input: &str,
        #[case] registry: &str,
        #[case] repo: &str,
        #[case] tag: Option<&str>,
    ) {
        let r = Reference::parse(input).unwrap();
        assert_eq!(r.registry(), registry);
        assert_eq!(r.repository(), repo);
        assert_eq!(r.tag(), tag);
    }

    #[test]
    fn parses_digest_and_round_trips() {
        let s = format!("127.0.0.1:5000/app/small:1.0@{D}");
        let r = Reference::parse(&s).unwrap();
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(r.to_string(), s);
        assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        assert_eq!(
            Reference::parse("alpine").unwrap().to_string(),
            "docker.io/library/alpine"
        );
        assert_eq!(
            Reference::parse("alpine").unwrap().api_host(),
            "registry-1.docker.io"
        );
    }

    #[rstest]
    #[case("", "empty")]
    #[case("Acme/App", "lower case")]
    #[case("https://ghcr.io/acme/app", "URL scheme")]
    #[case("ghcr.io/acme/app:bad tag", "white space")]
    #[case("ghcr.io/acme/app:-x", "tag `-x`")]
    #[case("ghcr.io/acme//app", "empty")]
    #[case("ghcr.io/acme/app@sha256:abc", "64 hex")]
    #[case("ghcr.io:99999/acme/app", "registry")]
    #[case("ghcr.io/acme/app-", "repository component")]
    #[case("ghcr.io/", "repository")]
    fn refuses(#[case] input: &str, #[case] needle: &str) {
        let e = Reference::parse(input).unwrap_err();
        assert!(e.message.contains(needle), "{input}: {}", e.message);
        assert!(e.hint.is_some());
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1:5000"));
        assert!(is_loopback_host("127.8.0.1"));
        assert!(is_loopback_host("localhost:5000"));
        assert!(is_loopback_host("[::1]:5000"));
        assert!(!is_loopback_host("ghcr.io"));
        assert!(!is_loopback_host("10.0.0.1:5000"));
    }
}
