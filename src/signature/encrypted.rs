//! cosign's own password-encrypted private key files: PEM `ENCRYPTED SIGSTORE PRIVATE KEY`
//! (cosign ≥ 2.0; `ENCRYPTED COSIGN PRIVATE KEY` before) whose body is the JSON of
//! go-securesystemslib's `encrypted` package: `{"kdf":{"name":"scrypt","params":{"N","r","p"},
//! "salt"},"cipher":{"name":"nacl/secretbox","nonce"},"ciphertext"}`, all bytes base64. The key
//! is scrypt(password, salt, N, r, p) → 32 bytes; the plaintext, opened with XSalsa20-Poly1305,
//! is the PKCS#8 DER of the private key. `cosign generate-key-pair` writes N = 65536, r = 8,
//! p = 1 (64 MiB of scrypt memory); parameters beyond [`MAX_SCRYPT_BYTES`] are refused before any
//! work, so a hostile file cannot make a run allocate gigabytes.

use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use serde::Deserialize;

/// Why an encrypted key file did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The body is not the JSON cosign writes, or its parameters are out of bounds.
    #[error("{0}")]
    Malformed(String),
    /// The box did not open: a wrong password (or an altered file; the two look alike).
    #[error("the password does not open it")]
    WrongPassword,
}

/// The most memory the scrypt parameters of a key file may ask for (128 · r · N · p bytes):
/// four times what cosign uses.
pub const MAX_SCRYPT_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    name: String,
    params: Params,
    salt: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cipher {
    name: String,
    nonce: String,
}

/// The PKCS#8 DER inside `body` (the PEM block's decoded bytes), opened with `password`. The
/// caller wipes the returned bytes.
///
/// # Errors
/// [`DecryptError::Malformed`] for a body that is not that JSON (unknown KDF or cipher,
/// bad base64, a nonce that is not 24 bytes, scrypt parameters out of bounds), and
/// [`DecryptError::WrongPassword`] when the box does not open: the password is wrong (or the file
/// was altered; the two cannot be told apart).
pub fn decrypt(body: &[u8], password: &[u8]) -> Result<Vec<u8>, DecryptError> {
    let bad = |what: String| DecryptError::Malformed(what);
    let data: Data = serde_json::from_slice(body).map_err(|e| bad(format!("its JSON: {e}")))?;
    if data.kdf.name != "scrypt" {
        return Err(bad(format!(
            "the key derivation `{}` (only scrypt is known)",
            crate::text::shorten(&data.kdf.name)
        )));
    }
    if data.cipher.name != "nacl/secretbox" {
        return Err(bad(format!(
            "the cipher `{}` (only nacl/secretbox is known)",
            crate::text::shorten(&data.cipher.name)
        )));
    }
    let b64 = |field: &str, v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|e| bad(format!("its {field} is not base64: {e}")))
    };
    let salt = b64("salt", &data.kdf.salt)?;
    let nonce = b64("nonce", &data.cipher.nonce)?;
    let sealed = b64("ciphertext", &data.ciphertext)?;
    let params = scrypt_params(&data.kdf.params)?;
    let nonce: [u8; 24] = nonce
        .try_into()
        .map_err(|n: Vec<u8>| bad(format!("its nonce is {} bytes, not 24", n.len())))?;
    let mut key = [0u8; 32];
    scrypt::scrypt(password, &salt, &params, &mut key).map_err(|e| bad(format!("scrypt: {e}")))?;
    let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
    super::der::wipe(&mut key);
    cipher
        .decrypt(&nonce.into(), sealed.as_slice())
        .map_err(|_| DecryptError::WrongPassword)
}

/// scrypt's parameters, within bounds: N a power of two ≥ 2, r and p ≥ 1, 128 · r · N · p ≤
/// [`MAX_SCRYPT_BYTES`].
fn scrypt_params(p: &Params) -> Result<scrypt::Params, DecryptError> {
    let bad = |what: String| DecryptError::Malformed(what);
    if p.n < 2 || !p.n.is_power_of_two() || p.r == 0 || p.p == 0 {
        return Err(bad(format!(
            "its scrypt parameters N={} r={} p={} (N must be a power of two, r and p at least 1)",
            p.n, p.r, p.p
        )));
    }
    let bytes = 128u64
        .saturating_mul(u64::from(p.r))
        .saturating_mul(p.n)
        .saturating_mul(u64::from(p.p));
    if bytes > MAX_SCRYPT_BYTES {
        return Err(bad(format!(
            "its scrypt parameters N={} r={} p={} ask for {} MiB (at most {} MiB are allowed)",
            p.n,
            p.r,
            p.p,
            bytes >> 20,
            MAX_SCRYPT_BYTES >> 20
        )));
    }
    let log_n = u8::try_from(p.n.trailing_zeros()).unwrap_or(u8::MAX);
    scrypt::Params::new(log_n, p.r, p.p, 32).map_err(|e| bad(format!("scrypt parameters: {e}")))
}

#[cfg(test)]
mod tests;
