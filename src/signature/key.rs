//! Keys: public keys as PEM `PUBLIC KEY` (SubjectPublicKeyInfo) for ECDSA P-256, the key cosign
//! generates, and private keys as PEM `PRIVATE KEY` (PKCS#8, as `openssl genpkey -algorithm EC
//! -pkeyopt ec_paramgen_curve:P-256` writes it), `EC PRIVATE KEY` (SEC1) or cosign's own
//! password-encrypted key file ([`super::encrypted`]). Another curve, RSA,
//! Ed25519, malformed text, or a private key where a public one is expected is a [`KeyError`]
//! naming what was found and what to give instead. A [`PrivateKey`] never prints its bytes and
//! wipes them when dropped. A key's fingerprint is the sha256 of its SPKI DER.

use base64::Engine as _;

use super::der::{self, DerError, Reader, tag};
use super::encrypted::DecryptError;
use crate::digest::Digest;
use crate::error::{Error, Result};

/// `id-ecPublicKey` (1.2.840.10045.2.1), DER content bytes.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `prime256v1` / P-256 (1.2.840.10045.3.1.7).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `secp384r1` (1.3.132.0.34).
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// `secp521r1` (1.3.132.0.35).
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// `rsaEncryption` (1.2.840.113549.1.1.1).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-RSASSA-PSS` (1.2.840.113549.1.1.10).
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
/// `id-Ed25519` (1.3.101.112).
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// `id-Ed448` (1.3.101.113).
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is not PEM, or a block is broken.
    #[error("{0}")]
    Pem(DerError),
    /// A PEM block that holds no key (a certificate, …).
    #[error("it is a PEM `{0}`, not a key")]
    NotAKey(String),
    /// A private key where a public key is expected.
    #[error("it is a private key (PEM `{0}`), where a public key is expected")]
    PrivateGiven(String),
    /// A public key where a private key is expected.
    #[error("it is a public key, where a private key is expected")]
    PublicGiven,
    /// cosign's own password-encrypted key file, given without its password (and the empty
    /// password, which `COSIGN_PASSWORD=` keys have, does not open it).
    #[error("it is cosign's password-encrypted key file (PEM `{0}`) and no password was given")]
    PasswordNeeded(String),
    /// cosign's encrypted key file, and the password given does not open it.
    #[error(
        "the password does not open it (cosign's encrypted key file): wrong password, or the file was altered"
    )]
    WrongPassword,
    /// cosign's encrypted key file whose content is not what cosign writes.
    #[error("it is not a readable cosign encrypted key file: {0}")]
    EncryptedMalformed(String),
    /// A key of another algorithm or curve.
    #[error("it is {0}; only ECDSA P-256 keys are supported")]
    Unsupported(String),
    /// A compressed or otherwise unusable P-256 point.
    #[error("its ECDSA P-256 point is not an uncompressed 65-byte point")]
    BadPoint,
    /// DER that is not a SubjectPublicKeyInfo / PKCS#8 / SEC1 structure.
    #[error("its DER is not a {0}: {1}")]
    Malformed(&'static str, DerError),
    /// The private key was rejected by the signer (inconsistent, or no public key inside).
    #[error("the private key is not a usable ECDSA P-256 key (it must include its public key)")]
    Rejected,
    /// More or fewer keys than one where one is expected.
    #[error("it holds {0} keys where one is expected")]
    NotOne(usize),
}

impl KeyError {
    /// The input error (exit 2) for this problem with the key described by `what`.
    #[must_use]
    pub fn into_error(self, what: &str) -> Error {
        let hint = match &self {
            Self::PrivateGiven(_) => {
                "give the public key: `cosign public-key --key KEY > key.pub` or `openssl pkey -in KEY -pubout`"
            }
            Self::PublicGiven => "give the private key (PEM `PRIVATE KEY`) that belongs to it",
            Self::PasswordNeeded(_) | Self::WrongPassword => {
                "give the key's password with --sign-key-password (input `sign-key-password`, a secret) or COSIGN_PASSWORD, as `cosign sign` takes it"
            }
            Self::EncryptedMalformed(_) => {
                "give the cosign.key file as `cosign generate-key-pair` wrote it, or a PKCS#8 PEM key (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)"
            }
            Self::Rejected => {
                "give an ECDSA P-256 private key with its public key inside (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)"
            }
            Self::Unsupported(_) | Self::BadPoint => {
                "use an ECDSA P-256 key (`cosign generate-key-pair`, or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)"
            }
            _ => {
                "give a PEM `PUBLIC KEY` (as `cosign generate-key-pair` writes to cosign.pub), as a file path or the PEM text"
            }
        };
        Error::input(format!("{what}: {self}")).hint(hint)
    }
}

/// The name of an algorithm OID for messages.
fn algorithm_name(alg: &[u8], params: Option<&[u8]>) -> String {
    match alg {
        OID_EC_PUBLIC_KEY => match params {
            Some(OID_P384) => "an ECDSA P-384 key".to_owned(),
            Some(OID_P521) => "an ECDSA P-521 key".to_owned(),
            _ => "an ECDSA key on a curve other than P-256".to_owned(),
        },
        OID_RSA | OID_RSA_PSS => "an RSA key".to_owned(),
        OID_ED25519 => "an Ed25519 key".to_owned(),
        OID_ED448 => "an Ed448 key".to_owned(),
        _ => "a key of an unknown algorithm".to_owned(),
    }
}

/// Reads an AlgorithmIdentifier: the OID and, when the parameters are an OID, that OID.
fn algorithm_identifier(value: &[u8]) -> std::result::Result<(&[u8], Option<&[u8]>), DerError> {
    let mut r = Reader::new(value);
    let alg = r.expect(tag::OID)?;
    let params = match r.peek_tag() {
        Some(tag::OID) => Some(r.expect(tag::OID)?),
        Some(_) => {
            r.any()?;
            None
        }
        None => None,
    };
    Ok((alg, params))
}

/// An ECDSA P-256 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
    point: Vec<u8>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.short_fingerprint())
    }
}

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo (DER).
    ///
    /// # Errors
    /// [`KeyError::Malformed`], [`KeyError::Unsupported`] (another algorithm or curve),
    /// [`KeyError::BadPoint`].
    pub fn from_spki_der(der_bytes: &[u8]) -> std::result::Result<Self, KeyError> {
        let malformed = |e| KeyError::Malformed("SubjectPublicKeyInfo", e);
        let mut outer = Reader::new(der_bytes);
        let seq = outer.expect(tag::SEQUENCE).map_err(malformed)?;
        if !outer.is_empty() {
            return Err(malformed(DerError::Malformed));
        }
        let mut r = Reader::new(seq);
        let (alg, params) =
            algorithm_identifier(r.expect(tag::SEQUENCE).map_err(malformed)?).map_err(malformed)?;
        let bits = r.expect(tag::BIT_STRING).map_err(malformed)?;
        if !r.is_empty() {
            return Err(malformed(DerError::Malformed));
        }
        if alg != OID_EC_PUBLIC_KEY || params != Some(OID_P256) {
            return Err(KeyError::Unsupported(algorithm_name(alg, params)));
        }
        match bits.split_first() {
            Some((0, point)) if point.len() == 65 && point[0] == 0x04 => Ok(Self {
                spki: der_bytes.to_vec(),
                point: point.to_vec(),
            }),
            _ => Err(KeyError::BadPoint),
        }
    }

    /// The key of an uncompressed P-256 point (65 bytes, `04 || x || y`).
    ///
    /// # Errors
    /// [`KeyError::BadPoint`].
    pub fn from_point(point: &[u8]) -> std::result::Result<Self, KeyError> {
        if point.len() != 65 || point[0] != 0x04 {
            return Err(KeyError::BadPoint);
        }
        let alg = [
            der::encode(tag::OID, OID_EC_PUBLIC_KEY),
            der::encode(tag::OID, OID_P256),
        ]
        .concat();
        let mut bits = vec![0u8];
        bits.extend_from_slice(point);
        let body = [
            der::encode(tag::SEQUENCE, &alg),
            der::encode(tag::BIT_STRING, &bits),
        ]
        .concat();
        Self::from_spki_der(&der::encode(tag::SEQUENCE, &body))
    }

    /// Parses PEM text holding exactly one key.
    ///
    /// # Errors
    /// A [`KeyError`] naming what the text is instead.
    pub fn from_pem(text: &str) -> std::result::Result<Self, KeyError> {
        let mut keys = Self::all_from_pem(text)?;
        match keys.len() {
            1 => Ok(keys.remove(0)),
            n => Err(KeyError::NotOne(n)),
        }
    }

    /// Parses every `PUBLIC KEY` block of PEM text (at least one).
    ///
    /// # Errors
    /// A [`KeyError`] for the first block that is not an ECDSA P-256 public key.
    pub fn all_from_pem(text: &str) -> std::result::Result<Vec<Self>, KeyError> {
        let blocks = der::pem_blocks(text).map_err(KeyError::Pem)?;
        blocks
            .iter()
            .map(|b| match b.label.as_str() {
                "PUBLIC KEY" => Self::from_spki_der(&b.der),
                l if l.contains("PRIVATE KEY") => Err(KeyError::PrivateGiven(l.to_owned())),
                "RSA PUBLIC KEY" => Err(KeyError::Unsupported("an RSA key".to_owned())),
                l => Err(KeyError::NotAKey(l.to_owned())),
            })
            .collect()
    }

    /// The key's bytes, as the verifiers take them.
    #[must_use]
    pub fn bytes(&self) -> super::crypto::KeyBytes<'_> {
        super::crypto::KeyBytes {
            spki: self.spki_der(),
            point: self.point(),
        }
    }

    /// The SubjectPublicKeyInfo DER.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The uncompressed point (65 bytes).
    #[must_use]
    pub fn point(&self) -> &[u8] {
        &self.point
    }

    /// The key as PEM `PUBLIC KEY`.
    #[must_use]
    pub fn to_pem(&self) -> String {
        der::to_pem("PUBLIC KEY", &self.spki)
    }

    /// `sha256:<hex>` of the SPKI DER.
    #[must_use]
    pub fn fingerprint(&self) -> Digest {
        Digest::sha256_of(&self.spki)
    }

    /// The fingerprint cut to 16 hex digits (`sha256:1a2b…`), for messages.
    #[must_use]
    pub fn short_fingerprint(&self) -> String {
        let f = self.fingerprint();
        format!("sha256:{}", &f.hex()[..16.min(f.hex().len())])
    }

    /// base64 of the sha256 of the SPKI DER: the `publicKey.hint` cosign writes in a bundle.
    #[must_use]
    pub fn hint(&self) -> String {
        use sha2::Digest as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&self.spki))
    }
}

/// An ECDSA P-256 private key as PKCS#8 DER. Its `Debug` shows only the public key's
/// fingerprint; its bytes are overwritten when it is dropped.
pub struct PrivateKey {
    pkcs8: Vec<u8>,
    public: PublicKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PrivateKey(<redacted>, public {})",
            self.public.short_fingerprint()
        )
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        der::wipe(&mut self.pkcs8);
    }
}

impl PrivateKey {
    /// Parses PEM `PRIVATE KEY` (PKCS#8) or `EC PRIVATE KEY` (SEC1), ECDSA P-256; cosign's
    /// encrypted key file only when its password is empty (see [`Self::from_pem_with_password`]).
    ///
    /// # Errors
    /// A [`KeyError`]: a public key, an encrypted key that needs a password, another algorithm,
    /// malformed DER, or a key the signer rejects.
    pub fn from_pem(text: &str) -> std::result::Result<Self, KeyError> {
        Self::from_pem_with_password(text, None)
    }

    /// [`Self::from_pem`], and cosign's password-encrypted key file (`ENCRYPTED SIGSTORE
    /// PRIVATE KEY`, or `ENCRYPTED COSIGN PRIVATE KEY` of cosign 1.x) opened with `password`.
    /// Without a password the empty one is tried, as cosign does with `COSIGN_PASSWORD=`.
    ///
    /// # Errors
    /// As [`Self::from_pem`], and [`KeyError::PasswordNeeded`], [`KeyError::WrongPassword`],
    /// [`KeyError::EncryptedMalformed`] for the encrypted file.
    pub fn from_pem_with_password(
        text: &str,
        password: Option<&[u8]>,
    ) -> std::result::Result<Self, KeyError> {
        let blocks = der::pem_blocks(text).map_err(KeyError::Pem)?;
        let mut keys = Vec::new();
        for b in &blocks {
            match b.label.as_str() {
                "PRIVATE KEY" => keys.push(Self::from_pkcs8_der(&b.der)?),
                "EC PRIVATE KEY" => keys.push(Self::from_sec1_der(&b.der)?),
                "EC PARAMETERS" => {}
                "PUBLIC KEY" => return Err(KeyError::PublicGiven),
                l @ ("ENCRYPTED SIGSTORE PRIVATE KEY" | "ENCRYPTED COSIGN PRIVATE KEY") => {
                    let mut pkcs8 = super::encrypted::decrypt(&b.der, password.unwrap_or_default())
                        .map_err(|e| match (e, password) {
                            (DecryptError::WrongPassword, None) => {
                                KeyError::PasswordNeeded(l.to_owned())
                            }
                            (DecryptError::WrongPassword, Some(_)) => KeyError::WrongPassword,
                            (DecryptError::Malformed(m), _) => KeyError::EncryptedMalformed(m),
                        })?;
                    let key = Self::from_pkcs8_der(&pkcs8);
                    der::wipe(&mut pkcs8);
                    keys.push(key?);
                }
                "RSA PRIVATE KEY" => return Err(KeyError::Unsupported("an RSA key".to_owned())),
                l => return Err(KeyError::NotAKey(l.to_owned())),
            }
        }
        match keys.len() {
            1 => Ok(keys.remove(0)),
            n => Err(KeyError::NotOne(n)),
        }
    }

    /// Parses PKCS#8 DER (v1, ECDSA P-256, with the public key inside).
    ///
    /// # Errors
    /// A [`KeyError`] naming what is wrong.
    pub fn from_pkcs8_der(pkcs8: &[u8]) -> std::result::Result<Self, KeyError> {
        let malformed = |e| KeyError::Malformed("PKCS#8 private key", e);
        let mut outer = Reader::new(pkcs8);
        let mut r = Reader::new(outer.expect(tag::SEQUENCE).map_err(malformed)?);
        r.expect(tag::INTEGER).map_err(malformed)?;
        let (alg, params) =
            algorithm_identifier(r.expect(tag::SEQUENCE).map_err(malformed)?).map_err(malformed)?;
        if alg != OID_EC_PUBLIC_KEY || params != Some(OID_P256) {
            return Err(KeyError::Unsupported(algorithm_name(alg, params)));
        }
        let inner = r.expect(tag::OCTET_STRING).map_err(malformed)?;
        let public = sec1_public_point(inner)?;
        let key = Self {
            pkcs8: pkcs8.to_vec(),
            public: PublicKey::from_point(&public)?,
        };
        super::crypto::check_private_key(&key.pkcs8, key.public.bytes())
            .map_err(|()| KeyError::Rejected)?;
        Ok(key)
    }

    /// Parses SEC1 `ECPrivateKey` DER (P-256), wrapping it into PKCS#8.
    ///
    /// # Errors
    /// A [`KeyError`] naming what is wrong.
    pub fn from_sec1_der(sec1: &[u8]) -> std::result::Result<Self, KeyError> {
        let malformed = |e| KeyError::Malformed("SEC1 EC private key", e);
        let mut outer = Reader::new(sec1);
        let mut r = Reader::new(outer.expect(tag::SEQUENCE).map_err(malformed)?);
        r.expect(tag::INTEGER).map_err(malformed)?;
        r.expect(tag::OCTET_STRING).map_err(malformed)?;
        if r.peek_tag() == Some(0xa0) {
            let params = r.expect(0xa0).map_err(malformed)?;
            let curve = Reader::new(params).expect(tag::OID).map_err(malformed)?;
            if curve != OID_P256 {
                return Err(KeyError::Unsupported(algorithm_name(
                    OID_EC_PUBLIC_KEY,
                    Some(curve),
                )));
            }
        }
        let alg = [
            der::encode(tag::OID, OID_EC_PUBLIC_KEY),
            der::encode(tag::OID, OID_P256),
        ]
        .concat();
        let body = [
            der::encode(tag::INTEGER, &[0]),
            der::encode(tag::SEQUENCE, &alg),
            der::encode(tag::OCTET_STRING, sec1),
        ]
        .concat();
        let mut pkcs8 = der::encode(tag::SEQUENCE, &body);
        let key = Self::from_pkcs8_der(&pkcs8);
        pkcs8.fill(0);
        key
    }

    /// The PKCS#8 DER (for the signer only).
    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key that belongs to it.
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

/// The public point of a SEC1 `ECPrivateKey` (its `[1] publicKey`).
fn sec1_public_point(sec1: &[u8]) -> std::result::Result<Vec<u8>, KeyError> {
    let malformed = |e| KeyError::Malformed("SEC1 EC private key", e);
    let mut outer = Reader::new(sec1);
    let mut r = Reader::new(outer.expect(tag::SEQUENCE).map_err(malformed)?);
    r.expect(tag::INTEGER).map_err(malformed)?;
    r.expect(tag::OCTET_STRING).map_err(malformed)?;
    while let Some(t) = r.peek_tag() {
        let value = r.any().map_err(malformed)?.1;
        if t == 0xa1 {
            let bits = Reader::new(value)
                .expect(tag::BIT_STRING)
                .map_err(malformed)?;
            return match bits.split_first() {
                Some((0, point)) => Ok(point.to_vec()),
                _ => Err(KeyError::BadPoint),
            };
        }
    }
    Err(KeyError::Rejected)
}

/// How a key was given, for messages (never the PEM text itself).
fn describe(index: usize, value: &str) -> String {
    if value.contains("-----BEGIN") {
        format!("verification key {index} (PEM text)")
    } else {
        format!(
            "verification key {index} ({})",
            crate::text::shorten(value.trim())
        )
    }
}

/// Loads the public keys given as `values`: each is PEM text (one or more `PUBLIC KEY` blocks)
/// or the path of a PEM file (several paths on separate lines).
///
/// # Errors
/// An input error (exit 2) naming the key (its position and path, never its text) and what is
/// wrong with it.
pub fn load_public_keys(values: &[String]) -> Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    let mut index = 0;
    for value in values {
        let items: Vec<&str> = if value.contains("-----BEGIN") {
            vec![value.as_str()]
        } else {
            value
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect()
        };
        for item in items {
            index += 1;
            let what = describe(index, item);
            let text = if item.contains("-----BEGIN") {
                item.to_owned()
            } else {
                std::fs::read_to_string(item).map_err(|e| {
                    Error::input(format!("{what}: cannot read it: {e}"))
                        .hint("give the path of a PEM `PUBLIC KEY` file (cosign.pub), or the PEM text itself")
                })?
            };
            keys.extend(PublicKey::all_from_pem(&text).map_err(|e| e.into_error(&what))?);
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests;
