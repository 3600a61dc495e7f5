//! [`PlatformSpec`]: a platform `os/architecture[/variant]` as the policy names it (required and
//! allowed platforms), normalized as containerd does so that `linux/aarch64` and `linux/arm64/v8`
//! are one platform. The `platform` check compares the image's platforms with these.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::media::Platform;

/// A platform `os/architecture[/variant]`, normalized as containerd does: `aarch64` → `arm64`,
/// `x86_64` → `amd64`, `arm64/v8` → `arm64`, `amd64/v1` → `amd64`, `arm` → `arm/v7`, `armhf` →
/// `arm/v7`, `armel` → `arm/v6`, `i386` → `386`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlatformSpec {
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `arm64`.
    pub architecture: String,
    /// e.g. `v7`; `None` where the architecture's default variant applies.
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// Normalizes an os/architecture/variant triple.
    #[must_use]
    pub fn normalize(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = match os.trim().to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_owned(),
            other => other.to_owned(),
        };
        let arch = architecture.trim().to_ascii_lowercase();
        let variant = variant
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty());
        let (architecture, variant) = match arch.as_str() {
            "x86_64" | "x86-64" | "amd64" => (
                "amd64".to_owned(),
                variant.filter(|v| v != "v1" && v != "1"),
            ),
            "aarch64" | "arm64" => (
                "arm64".to_owned(),
                match variant.as_deref() {
                    None | Some("8" | "v8" | "v8.0") => None,
                    Some(v) if !v.starts_with('v') => Some(format!("v{v}")),
                    Some(v) => Some(v.to_owned()),
                },
            ),
            "armhf" => ("arm".to_owned(), Some("v7".to_owned())),
            "armel" => ("arm".to_owned(), Some("v6".to_owned())),
            "arm" => (
                "arm".to_owned(),
                match variant.as_deref() {
                    None | Some("7") => Some("v7".to_owned()),
                    Some(v @ ("5" | "6" | "8")) => Some(format!("v{v}")),
                    Some(v) => Some(v.to_owned()),
                },
            ),
            "i386" | "i686" | "386" => ("386".to_owned(), None),
            _ => (arch, variant),
        };
        Self {
            os,
            architecture,
            variant,
        }
    }

    /// The normalized platform of a descriptor's or config's [`Platform`].
    #[must_use]
    pub fn of(platform: &Platform) -> Self {
        Self::normalize(
            &platform.os,
            &platform.architecture,
            platform.variant.as_deref(),
        )
    }

    /// Whether `self`, as a policy entry, covers `actual`: equal after normalization, and an
    /// entry without a variant covers every variant of its architecture (`linux/amd64` covers
    /// `linux/amd64/v3`; `linux/arm` is `linux/arm/v7`, so it does not cover `linux/arm/v6`).
    #[must_use]
    pub fn covers(&self, actual: &PlatformSpec) -> bool {
        self.os == actual.os
            && self.architecture == actual.architecture
            && (self.variant.is_none() || self.variant == actual.variant)
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for PlatformSpec {
    type Err = Error;

    /// Parses `os/architecture[/variant]` (`linux/arm64/v8`).
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.trim().split('/').map(str::trim).collect();
        let valid = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        match parts.as_slice() {
            [os, arch] if valid(os) && valid(arch) => Ok(Self::normalize(os, arch, None)),
            [os, arch, variant] if valid(os) && valid(arch) && valid(variant) => {
                Ok(Self::normalize(os, arch, Some(variant)))
            }
            _ => Err(Error::input(format!(
                "`{}` is not a platform: expected os/architecture[/variant], e.g. linux/amd64 or linux/arm64/v8",
                crate::reference::shorten(s)
            ))),
        }
    }
}

impl Serialize for PlatformSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PlatformSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_str(super::ParseStr {
            parse: |s| s.parse::<PlatformSpec>().map_err(|e| e.message),
            expecting: "a platform os/architecture[/variant]",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("linux/arm64", "linux/arm64/v8", true)]
    #[case("linux/arm64/v8", "linux/arm64", true)]
    #[case("linux/aarch64", "linux/arm64/8", true)]
    #[case("linux/amd64", "linux/x86_64", true)]
    #[case("linux/amd64", "linux/amd64/v1", true)]
    #[case("linux/amd64", "linux/amd64/v3", true)]
    #[case("linux/amd64/v3", "linux/amd64", false)]
    #[case("linux/arm", "linux/arm/v7", true)]
    #[case("linux/arm", "linux/armhf", true)]
    #[case("linux/arm", "linux/arm/v6", false)]
    #[case("linux/amd64", "linux/s390x", false)]
    #[case("linux/amd64", "windows/amd64", false)]
    fn containerd_normalization(#[case] spec: &str, #[case] actual: &str, #[case] covers: bool) {
        let spec: PlatformSpec = spec.parse().unwrap();
        let actual: PlatformSpec = actual.parse().unwrap();
        assert_eq!(spec.covers(&actual), covers, "{spec} covers {actual}");
    }

    #[rstest]
    #[case("linux")]
    #[case("linux/")]
    #[case("linux/amd64/v2/x")]
    #[case("linux amd64")]
    #[case("")]
    fn refuses_malformed(#[case] input: &str) {
        let e = input.parse::<PlatformSpec>().unwrap_err();
        assert!(e.message.contains("os/architecture"), "{}", e.message);
    }
}
