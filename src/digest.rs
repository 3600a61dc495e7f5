//! Content digests (`sha256:<hex>`, `sha512:<hex>`) and the streaming verifier that hashes and
//! counts bytes as they flow from source to destination (docs/architecture.md, invariant 2).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
#[cfg(not(target_family = "wasm"))]
use sha2::Sha512;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A digest algorithm this tool can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, 64 hex characters.
    Sha256,
    /// SHA-512, 128 hex characters.
    Sha512,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }
}

/// A validated content digest: algorithm plus lower-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses `algorithm:hex`, refusing unknown algorithms, wrong lengths and non-hex characters.
    ///
    /// # Errors
    /// A VALIDATION input error naming what is wrong.
    pub fn parse(input: &str) -> Result<Self> {
        let shown = crate::text::shorten(input);
        let Some((algorithm, hex)) = input.split_once(':') else {
            return Err(Error::input(format!(
                "invalid digest `{shown}`: expected `sha256:` followed by 64 hex characters"
            )));
        };
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => {
                return Err(Error::input(format!(
                    "invalid digest `{shown}`: unsupported algorithm `{}` (expected sha256 or sha512)",
                    crate::text::shorten(other)
                )));
            }
        };
        if hex.len() != algorithm.hex_len() {
            return Err(Error::input(format!(
                "invalid digest `{shown}`: {} needs {} hex characters, found {}",
                algorithm.name(),
                algorithm.hex_len(),
                hex.len()
            )));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::input(format!(
                "invalid digest `{shown}`: the hex part may only hold 0-9 and a-f (lower case)"
            )));
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// The SHA-256 digest of `bytes`.
    #[must_use]
    pub fn sha256_of(bytes: &[u8]) -> Self {
        Self {
            algorithm: Algorithm::Sha256,
            hex: hex_lower(&Sha256::digest(bytes)),
        }
    }

    /// The digest of `bytes` with the same algorithm as `self`.
    #[must_use]
    pub fn same_algorithm_of(&self, bytes: &[u8]) -> Self {
        let mut hasher = Hasher::new(self.algorithm);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The algorithm.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part.
    #[must_use]
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// `sha256:0123456789ab`, for humans.
    #[must_use]
    pub fn short(&self) -> String {
        format!("{}:{}", self.algorithm.name(), &self.hex[..12])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// In the audit schema: a string, `algorithm:hex` in lower case.
impl schemars::JsonSchema for Digest {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Digest".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$"
        })
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

enum HasherState {
    #[cfg(not(target_family = "wasm"))]
    Sha256(Sha256),
    #[cfg(not(target_family = "wasm"))]
    Sha512(Box<Sha512>),
    /// Under the Node action: the host's digest (`src/host/`), not software hashing in wasm.
    #[cfg(target_family = "wasm")]
    Host(Algorithm, crate::host::Hasher),
}

/// An incremental hasher for one algorithm.
pub struct Hasher {
    state: HasherState,
}

impl Hasher {
    /// A hasher for `algorithm`.
    #[must_use]
    pub fn new(algorithm: Algorithm) -> Self {
        #[cfg(target_family = "wasm")]
        let state = HasherState::Host(
            algorithm,
            crate::host::Hasher::new(algorithm == Algorithm::Sha512),
        );
        #[cfg(not(target_family = "wasm"))]
        let state = match algorithm {
            Algorithm::Sha256 => HasherState::Sha256(Sha256::new()),
            Algorithm::Sha512 => HasherState::Sha512(Box::new(Sha512::new())),
        };
        Self { state }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            #[cfg(not(target_family = "wasm"))]
            HasherState::Sha256(h) => h.update(bytes),
            #[cfg(not(target_family = "wasm"))]
            HasherState::Sha512(h) => h.update(bytes),
            #[cfg(target_family = "wasm")]
            HasherState::Host(_, h) => h.update(bytes),
        }
    }

    /// The digest of everything fed.
    #[must_use]
    pub fn finish(self) -> Digest {
        match self.state {
            #[cfg(not(target_family = "wasm"))]
            HasherState::Sha256(h) => Digest {
                algorithm: Algorithm::Sha256,
                hex: hex_lower(&h.finalize()),
            },
            #[cfg(not(target_family = "wasm"))]
            HasherState::Sha512(h) => Digest {
                algorithm: Algorithm::Sha512,
                hex: hex_lower(&h.finalize()),
            },
            #[cfg(target_family = "wasm")]
            HasherState::Host(algorithm, h) => Digest {
                algorithm,
                hex: hex_lower(&h.finish()),
            },
        }
    }
}

/// Hashes and counts a blob as it streams, against an expected digest and size.
pub struct Verifier {
    expected: Digest,
    expected_size: Option<u64>,
    hasher: Hasher,
    seen: u64,
}

impl Verifier {
    /// A verifier for a blob that must hash to `expected` and, if given, be `expected_size` long.
    #[must_use]
    pub fn new(expected: &Digest, expected_size: Option<u64>) -> Self {
        Self {
            expected: expected.clone(),
            expected_size,
            hasher: Hasher::new(expected.algorithm()),
            seen: 0,
        }
    }

    /// Feeds a chunk.
    ///
    /// # Errors
    /// VALIDATION (verification) error as soon as more bytes arrive than the expected size.
    pub fn update(&mut self, chunk: &[u8]) -> Result<()> {
        self.seen += chunk.len() as u64;
        if let Some(size) = self.expected_size
            && self.seen > size
        {
            return Err(Error::size_mismatch(format!(
                "blob {} is longer than its declared size {size} (at least {} bytes received)",
                self.expected, self.seen
            ))
            .hint("the source registry serves different bytes than its manifest declares; do not promote this image"));
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Bytes seen so far.
    #[must_use]
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Checks the size and the digest of everything fed.
    ///
    /// # Errors
    /// A short body is a retryable NETWORK error (the connection ended early); a full-length body
    /// whose hash is wrong is a VALIDATION (verification) error, never retried.
    pub fn finish(self) -> Result<Digest> {
        if let Some(size) = self.expected_size
            && self.seen < size
        {
            return Err(Error::network(format!(
                "blob {} ended after {} of {size} bytes",
                self.expected, self.seen
            )));
        }
        let actual = self.hasher.finish();
        if actual != self.expected {
            return Err(Error::verification(format!(
                "blob {} has the wrong content: its {} bytes hash to {actual}",
                self.expected, self.seen
            ))
            .hint("the source registry's storage is corrupt or it serves another blob under this digest; nothing was pushed — repair or rebuild the source image"));
        }
        Ok(actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_known_value() {
        assert_eq!(Digest::sha256_of(b"").to_string(), EMPTY);
        assert_eq!(Digest::parse(EMPTY).unwrap().to_string(), EMPTY);
    }

    #[rstest]
    #[case("sha256:../../x", "64 hex")]
    #[case("sha256:abc", "found 3")]
    #[case("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported algorithm `md5`")]
    #[case(
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "expected `sha256:`"
    )]
    #[case(
        "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        "lower case"
    )]
    fn refuses_malformed(#[case] input: &str, #[case] needle: &str) {
        let err = Digest::parse(input).unwrap_err();
        assert!(err.message.contains(needle), "{}", err.message);
    }

    #[test]
    fn verifier_catches_wrong_bytes_and_sizes() {
        let d = Digest::sha256_of(b"hello world");
        let mut v = Verifier::new(&d, Some(11));
        v.update(b"hello ").unwrap();
        v.update(b"world").unwrap();
        assert_eq!(v.finish().unwrap(), d);

        let mut v = Verifier::new(&d, Some(11));
        v.update(b"hello wOrld").unwrap();
        let e = v.finish().unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Verification);
        assert!(!e.retryable);

        let mut v = Verifier::new(&d, Some(11));
        v.update(b"hello").unwrap();
        let e = v.finish().unwrap_err();
        assert!(e.retryable, "short body is retryable");

        let mut v = Verifier::new(&d, Some(11));
        assert!(v.update(b"hello world!").is_err());
    }
}
