//! `signature`: the image (and, with `children`, each image of an index) carries a cosign
//! signature that verifies with one of the given public keys (ECDSA P-256 PEM, a path or the
//! PEM text). Off unless a key is given (`keys`, or `--verify-key`/`verify-key`).

use serde::{Deserialize, Serialize};

use super::CheckSettings;
use super::fields;
use crate::error::Severity;

/// `signature`: keyed cosign signatures (legacy `.sig` tag or Sigstore bundle referrer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SignaturePolicy {
    /// Whether the check runs; `null` (the default): when a key is given.
    pub enabled: Option<bool>,
    /// Severity of a failure (default CRITICAL).
    #[serde(deserialize_with = "fields::severity")]
    pub severity: Severity,
    /// Public keys, each a path (relative to the working directory) or PEM text; a signature by
    /// any one of them counts. `--verify-key` adds to them.
    pub keys: Vec<String>,
    /// For an index: each image it lists must be signed too, not only the index (default false).
    pub children: bool,
}

impl Default for SignaturePolicy {
    fn default() -> Self {
        Self {
            enabled: None,
            severity: Severity::Critical,
            keys: Vec::new(),
            children: false,
        }
    }
}

impl CheckSettings for SignaturePolicy {
    fn enabled(&self) -> bool {
        self.enabled.unwrap_or(!self.keys.is_empty())
    }
    fn severity(&self) -> Severity {
        self.severity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    #[test]
    fn on_when_a_key_is_given_unless_turned_off() {
        let p = Policy::default();
        assert!(!p.signature.enabled());
        let p = Policy::parse("version: 1\nsignature:\n  keys: [cosign.pub]\n", "p").unwrap();
        assert!(p.signature.enabled());
        assert_eq!(p.signature.severity, Severity::Critical);
        let p = Policy::parse(
            "version: 1\nsignature:\n  enabled: false\n  keys: [cosign.pub]\n  severity: medium\n  children: true\n",
            "p",
        )
        .unwrap();
        assert!(!p.signature.enabled());
        assert_eq!(p.signature.severity, Severity::Medium);
        assert!(p.signature.children);
        let e = Policy::parse("version: 1\nsignature:\n  key: cosign.pub\n", "p").unwrap_err();
        assert!(e.message.contains("`key`"), "{}", e.message);
    }
}
