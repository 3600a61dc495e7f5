//! The two cryptographic operations, ECDSA P-256 with SHA-256 (ASN.1 DER signatures, as cosign
//! writes them): verify and sign, through `ring` (already rustls' provider). Native only: ring
//! needs a C compiler for the wasm target, so the Node action's component reports the signature
//! check as unavailable (fail closed) and signs nothing.

/// Why a signature could not be checked or made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// The signature does not verify over the message with the key.
    BadSignature,
    /// This build has no ECDSA implementation (the wasm component).
    Unavailable,
    /// The signer failed (no randomness, a rejected key).
    SignFailed,
}

/// Whether this build can verify and sign.
#[must_use]
pub const fn available() -> bool {
    cfg!(not(target_family = "wasm"))
}

#[cfg(not(target_family = "wasm"))]
mod imp {
    use super::CryptoError;
    use ring::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
    };

    pub(super) fn verify(
        point: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .verify(message, signature)
            .map_err(|_| CryptoError::BadSignature)
    }

    pub(super) fn sign(pkcs8: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|_| CryptoError::SignFailed)?;
        pair.sign(&rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| CryptoError::SignFailed)
    }

    pub(super) fn check_private_key(pkcs8: &[u8]) -> Result<(), ()> {
        let rng = ring::rand::SystemRandom::new();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map(|_| ())
            .map_err(|_| ())
    }
}

#[cfg(target_family = "wasm")]
mod imp {
    use super::CryptoError;

    pub(super) fn verify(_: &[u8], _: &[u8], _: &[u8]) -> Result<(), CryptoError> {
        Err(CryptoError::Unavailable)
    }

    pub(super) fn sign(_: &[u8], _: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::Unavailable)
    }

    pub(super) fn check_private_key(_: &[u8]) -> Result<(), ()> {
        Ok(())
    }
}

/// Verifies the ASN.1 DER ECDSA P-256 `signature` of `message` (hashed with SHA-256 here) with
/// the public key's uncompressed `point`.
///
/// # Errors
/// [`CryptoError::BadSignature`], or [`CryptoError::Unavailable`] on the wasm build.
pub fn verify(point: &[u8], message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    imp::verify(point, message, signature)
}

/// Signs `message` (hashed with SHA-256) with the PKCS#8 key `pkcs8`: an ASN.1 DER signature.
///
/// # Errors
/// [`CryptoError::SignFailed`], or [`CryptoError::Unavailable`] on the wasm build.
pub fn sign(pkcs8: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    imp::sign(pkcs8, message)
}

/// Whether the signer accepts PKCS#8 DER (`Err(())` when it does not).
pub(super) fn check_private_key(pkcs8: &[u8]) -> Result<(), ()> {
    imp::check_private_key(pkcs8)
}
