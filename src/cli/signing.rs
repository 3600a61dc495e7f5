//! The signing flags of `promote` and `rollback`: `--sign-key` (a secret: the PEM private key or
//! its path), `--sign-key-password` (a secret: the password of cosign's encrypted key file; else
//! `COSIGN_PASSWORD`, as cosign takes it) and `--sign-format`.

use clap::Args;

use crate::error::Result;
use crate::promote::sign::{SignFormat, Signing, load_private_key};

/// Sign the promoted digest and attest the promotion at the destination.
#[derive(Debug, Args, Clone)]
pub struct SignArgs {
    /// Sign the promoted digest in production and attach a promotion attestation: an ECDSA P-256 private key (PEM `PRIVATE KEY` as openssl writes it, `EC PRIVATE KEY`, or cosign's encrypted cosign.key with --sign-key-password), its text or the path of its file; a secret, never shown
    #[arg(
        long,
        value_name = "PATH|PEM",
        env = "IMAGE_PROMOTE_SIGN_KEY",
        hide_env_values = true,
        help_heading = "Signing"
    )]
    pub sign_key: Option<String>,
    /// The password of a cosign-encrypted signing key (`cosign generate-key-pair`'s cosign.key); else COSIGN_PASSWORD is read, as cosign does; a secret, never shown
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "IMAGE_PROMOTE_SIGN_KEY_PASSWORD",
        hide_env_values = true,
        help_heading = "Signing"
    )]
    pub sign_key_password: Option<String>,
    /// The form of the signature and attestation: `auto` (the form(s) the image's signatures have at the destination, else a bundle), `bundle` (Sigstore bundle referrers, what cosign 3 writes) or `legacy` (layers of the `sha256-<hex>.sig` and `.att` tags, merged with what is there)
    #[arg(
        long,
        value_enum,
        hide_possible_values = true,
        value_name = "FORMAT",
        default_value = "auto",
        help_heading = "Signing"
    )]
    pub sign_format: SignFormat,
}

impl SignArgs {
    /// The signing key and format, when a key is given (an empty value is none).
    ///
    /// # Errors
    /// Input errors naming the key's path (never its text) and what is wrong with it.
    pub fn signing(&self) -> Result<Option<Signing>> {
        self.sign_key
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .map(|k| {
                Ok(Signing {
                    key: load_private_key(k, self.password().as_deref())?,
                    format: self.sign_format,
                })
            })
            .transpose()
    }

    /// The key's password: `--sign-key-password` (or its variable), else `COSIGN_PASSWORD`; an
    /// empty value is none (cosign's empty password is tried then anyway). A secret: the
    /// redactor takes it.
    #[must_use]
    pub fn password(&self) -> Option<String> {
        self.sign_key_password
            .clone()
            .or_else(|| std::env::var("COSIGN_PASSWORD").ok())
            .filter(|p| !p.is_empty())
    }

    /// The key's text, when given as PEM (for the redactor).
    #[must_use]
    pub fn secret_text(&self) -> Option<&str> {
        self.sign_key
            .as_deref()
            .filter(|k| k.contains("-----BEGIN"))
    }
}
