//! The two cryptographic operations, ECDSA P-256 with SHA-256 (ASN.1 DER signatures, as cosign
//! writes them): verify and sign. Natively through `ring` (already rustls' provider); in the Node
//! action's wasm component, which has no ECDSA of its own (ring needs a C compiler for the wasm
//! target), through the host import `image-promote:host/ecdsa` (`wit/host.wit`): Node's `crypto`,
//! given the key as SubjectPublicKeyInfo / PKCS#8 DER. The private key's bytes go to the signer
//! only, never into an error or a log.

/// A public key's bytes as the verifiers take them: its SubjectPublicKeyInfo DER and its
/// uncompressed point (crypto takes bytes, not `key::PublicKey`, which uses crypto).
#[derive(Debug, Clone, Copy)]
pub struct KeyBytes<'a> {
    /// The SubjectPublicKeyInfo DER.
    pub spki: &'a [u8],
    /// The uncompressed P-256 point (65 bytes).
    pub point: &'a [u8],
}

/// Why a signature could not be checked or made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// The signature does not verify over the message with the key.
    BadSignature,
    /// The signer failed (no randomness, a rejected key).
    SignFailed,
}

/// Whether this build can verify and sign: every build can (the wasm component by its host).
#[must_use]
pub const fn available() -> bool {
    true
}

#[cfg(not(target_family = "wasm"))]
mod imp {
    use super::{CryptoError, KeyBytes};
    use ring::signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
    };

    pub(super) fn verify(
        key: KeyBytes<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.point)
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

    /// ring checks that the public key inside belongs to the private key.
    pub(super) fn check_private_key(pkcs8: &[u8], _: KeyBytes<'_>) -> Result<(), ()> {
        let rng = ring::rand::SystemRandom::new();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map(|_| ())
            .map_err(|_| ())
    }
}

#[cfg(target_family = "wasm")]
mod imp {
    use super::{CryptoError, KeyBytes};
    use crate::host::ecdsa as host;

    pub(super) fn verify(
        key: KeyBytes<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        if host::verify(key.spki, message, signature) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// The host's reason is dropped: the error carries no text (and the key's bytes never).
    pub(super) fn sign(pkcs8: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        host::sign(pkcs8, message).map_err(|_| CryptoError::SignFailed)
    }

    /// The host's signer takes the key, and a signature of a probe by it verifies with the public
    /// key the PKCS#8 holds (as ring checks natively): a key whose halves do not belong together
    /// is rejected when it is read, not at the first signature.
    pub(super) fn check_private_key(pkcs8: &[u8], public: KeyBytes<'_>) -> Result<(), ()> {
        const PROBE: &[u8] = b"image-promote: does this private key sign for its public key?";
        let signature = host::sign(pkcs8, PROBE).map_err(|_| ())?;
        if host::verify(public.spki, PROBE, &signature) {
            Ok(())
        } else {
            Err(())
        }
    }
}

/// Verifies the ASN.1 DER ECDSA P-256 `signature` of `message` (hashed with SHA-256 here) with
/// `key`.
///
/// # Errors
/// [`CryptoError::BadSignature`] (also for a malformed signature).
pub fn verify(key: KeyBytes<'_>, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
    imp::verify(key, message, signature)
}

/// Signs `message` (hashed with SHA-256) with the PKCS#8 key `pkcs8`: an ASN.1 DER signature.
///
/// # Errors
/// [`CryptoError::SignFailed`].
pub fn sign(pkcs8: &[u8], message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    imp::sign(pkcs8, message)
}

/// Whether the signer accepts PKCS#8 DER whose public key is `public` (`Err(())` when it does not,
/// or when the two do not belong together).
pub(super) fn check_private_key(pkcs8: &[u8], public: KeyBytes<'_>) -> Result<(), ()> {
    imp::check_private_key(pkcs8, public)
}
