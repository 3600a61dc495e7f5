//! The little of PEM and DER that key files need: PEM blocks (label + base64 body) and a DER
//! reader of tag-length-value items (definite lengths only, at most 4 length bytes). Every
//! failure is a [`DerError`]; nothing here panics on any input (fuzzed: `fuzz/fuzz_targets/signature.rs`).

use base64::Engine as _;

/// One PEM block: its label (`PUBLIC KEY`, `PRIVATE KEY`, …) and its decoded body.
#[derive(Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`.
    pub label: String,
    /// The base64-decoded body.
    pub der: Vec<u8>,
}

/// Overwrites secret bytes (a private key, a key derived from a password) with zeros, in a way
/// the optimizer keeps.
pub fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

impl Drop for PemBlock {
    // A block may hold a private key: its bytes are overwritten when it is dropped.
    fn drop(&mut self) {
        wipe(&mut self.der);
    }
}

impl std::fmt::Debug for PemBlock {
    // A block may hold a private key: its bytes are never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PemBlock({}, {} bytes)", self.label, self.der.len())
    }
}

/// Why PEM or DER text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DerError {
    /// No `-----BEGIN …-----` line.
    #[error("it holds no PEM block (no `-----BEGIN …-----` line)")]
    NoPem,
    /// A BEGIN without its END, or an END with another label.
    #[error("the PEM block `{0}` has no matching `-----END {0}-----` line")]
    Unterminated(String),
    /// The body is not base64.
    #[error("the body of the PEM block `{0}` is not valid base64")]
    Base64(String),
    /// Headers (`Proc-Type:`) inside a block: legacy encrypted PEM.
    #[error("the PEM block `{0}` has headers (legacy encrypted PEM), which are not read")]
    Headers(String),
    /// DER that ends early or has a length that does not fit.
    #[error("its DER is truncated or malformed")]
    Malformed,
    /// A DER item of another type than expected.
    #[error("its DER has tag 0x{found:02x} where 0x{expected:02x} was expected")]
    UnexpectedTag {
        /// The tag expected.
        expected: u8,
        /// The tag found.
        found: u8,
    },
}

/// Every PEM block in `text`, in order (text outside blocks is ignored).
///
/// # Errors
/// [`DerError::NoPem`] when there is none; a block without its END line, with headers, or whose
/// body is not base64.
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>, DerError> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let label = label.to_owned();
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for inner in lines.by_ref() {
            if inner == end {
                closed = true;
                break;
            }
            if inner.starts_with("-----") {
                break;
            }
            if inner.contains(':') {
                return Err(DerError::Headers(label));
            }
            body.push_str(inner);
        }
        if !closed {
            return Err(DerError::Unterminated(label));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| DerError::Base64(label.clone()))?;
        blocks.push(PemBlock { label, der });
    }
    if blocks.is_empty() {
        return Err(DerError::NoPem);
    }
    Ok(blocks)
}

/// DER tags used by keys.
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL.
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
}

/// A reader over DER bytes.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`.
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Whether everything was read.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next item, if any.
    #[must_use]
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next item: its tag and value.
    ///
    /// # Errors
    /// [`DerError::Malformed`] when it is truncated or its length is indefinite or too long.
    pub fn any(&mut self) -> Result<(u8, &'a [u8]), DerError> {
        let (&tag, after) = self.rest.split_first().ok_or(DerError::Malformed)?;
        let (&first, mut after) = after.split_first().ok_or(DerError::Malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after.len() < n {
                return Err(DerError::Malformed);
            }
            let (len_bytes, tail) = after.split_at(n);
            after = tail;
            len_bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        if after.len() < len {
            return Err(DerError::Malformed);
        }
        let (value, rest) = after.split_at(len);
        self.rest = rest;
        Ok((tag, value))
    }

    /// The next item, which must have `expected` tag: its value.
    ///
    /// # Errors
    /// [`DerError::UnexpectedTag`] or [`DerError::Malformed`].
    pub fn expect(&mut self, expected: u8) -> Result<&'a [u8], DerError> {
        let (found, value) = self.any()?;
        if found != expected {
            return Err(DerError::UnexpectedTag { expected, found });
        }
        Ok(value)
    }
}

/// The DER encoding of one item with `tag` and `value`.
#[must_use]
pub fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
    out
}

/// `label` and `der` as a PEM block (64-column base64 lines).
#[must_use]
pub fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pem_and_der() {
        let pem = to_pem(
            "PUBLIC KEY",
            &encode(tag::SEQUENCE, &encode(tag::NULL, &[])),
        );
        let blocks = pem_blocks(&format!("junk\n{pem}more\n")).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "PUBLIC KEY");
        let mut r = Reader::new(&blocks[0].der);
        let seq = r.expect(tag::SEQUENCE).unwrap();
        assert!(r.is_empty());
        assert_eq!(Reader::new(seq).expect(tag::NULL).unwrap(), b"");
        let long = encode(tag::OCTET_STRING, &[7u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(
            Reader::new(&long).expect(tag::OCTET_STRING).unwrap().len(),
            300
        );
    }

    #[test]
    fn refuses_bad_text() {
        assert_eq!(pem_blocks("hello"), Err(DerError::NoPem));
        assert!(matches!(
            pem_blocks("-----BEGIN X-----\nAAAA\n"),
            Err(DerError::Unterminated(_))
        ));
        assert!(matches!(
            pem_blocks("-----BEGIN X-----\n!!!!\n-----END X-----\n"),
            Err(DerError::Base64(_))
        ));
        assert!(matches!(
            pem_blocks("-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END X-----\n"),
            Err(DerError::Headers(_))
        ));
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x00],
            &[0x30, 0x80],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
        ] {
            assert!(Reader::new(bad).any().is_err(), "{bad:?}");
        }
        assert_eq!(
            Reader::new(&[0x02, 0x00]).expect(tag::SEQUENCE),
            Err(DerError::UnexpectedTag {
                expected: 0x30,
                found: 0x02
            })
        );
    }
}
