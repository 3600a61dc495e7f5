//! The release plan file (`promotions.yaml`): which services a release promotes, from which source
//! to which destination, under which version tags (immutable, created once) and moving tags (may
//! move; what a rollback moves). YAML, `version: 1`, unknown keys refused; any service field
//! except `name` may be given once under `defaults`. Every error names the file, the path in it
//! (`services[2].tags[0]`) and what was expected, before any request is sent.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;

/// Most services one plan may hold (GitHub Actions runs at most 256 jobs from one matrix).
pub const MAX_SERVICES: usize = 256;

/// The hint of every plan-file error.
const HINT: &str = "see docs/releases.md for the plan file's fields and their forms";

/// The fields a service may set, each also allowed under `defaults` (except `name`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefaults {
    source: Option<String>,
    digest: Option<String>,
    destination: Option<String>,
    tags: Option<Vec<String>>,
    moving_tags: Option<Vec<String>>,
    environment: Option<String>,
    policy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawService {
    name: String,
    source: Option<String>,
    digest: Option<String>,
    destination: Option<String>,
    tags: Option<Vec<String>>,
    moving_tags: Option<Vec<String>>,
    environment: Option<String>,
    policy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPlan {
    version: u32,
    #[serde(default)]
    defaults: RawDefaults,
    services: Vec<RawService>,
}

/// One service of the plan, defaults applied and every field validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Unique name (`^[a-z0-9][a-z0-9-]{0,62}$`): the matrix leg's name.
    pub name: String,
    /// The source image (a tag or a digest).
    pub source: Reference,
    /// The digest the source must resolve to (a pin), if given.
    pub digest: Option<Digest>,
    /// The destination repository (no tag, no digest).
    pub destination: Reference,
    /// Version tags: created once, never moved.
    pub tags: Vec<String>,
    /// Moving tags: may move; what a rollback moves.
    pub moving_tags: Vec<String>,
    /// The GitHub environment of the service's matrix leg.
    pub environment: Option<String>,
    /// The policy file the leg promotes with.
    pub policy: Option<String>,
}

impl Service {
    /// Every destination tag, version tags first.
    #[must_use]
    pub fn all_tags(&self) -> Vec<String> {
        let mut all = self.tags.clone();
        all.extend(self.moving_tags.iter().cloned());
        all
    }
}

/// A parsed, validated plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFile {
    /// The file as named by the user.
    pub file: String,
    /// The sha256 of the file's bytes.
    pub sha256: Digest,
    /// The services, in file order.
    pub services: Vec<Service>,
}

impl PlanFile {
    /// Reads and parses the plan file at `path`.
    ///
    /// # Errors
    /// An input error naming the file (unreadable) or, from [`PlanFile::parse`], the path in it.
    pub fn read(path: &Path) -> Result<Self> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::input(format!("plan file {file}: cannot read it: {e}"))
                .hint("pass the path of a YAML plan file (e.g. promotions.yaml)")
        })?;
        Self::parse(&text, &file)
    }

    /// Parses a plan document; `file` names it in errors.
    ///
    /// # Errors
    /// An input error naming `file`, the path in it (`services[2].tags[0]`) and what was expected.
    pub fn parse(text: &str, file: &str) -> Result<Self> {
        let raw: RawPlan = serde_norway::from_str(text).map_err(|e| {
            let described = crate::policy::describe_yaml_error(&e).replace(
                "expected struct RawPlan",
                "expected a plan (a YAML mapping with `version: 1` and `services`)",
            );
            Error::input(format!("plan file {file}: {described}")).hint(HINT)
        })?;
        let fail = |path: &str, what: String| {
            Error::input(format!("plan file {file}: field `{path}`: {what}")).hint(HINT)
        };
        if raw.version != 1 {
            return Err(fail(
                "version",
                format!("expected 1, found {}", raw.version),
            ));
        }
        if raw.services.is_empty() || raw.services.len() > MAX_SERVICES {
            return Err(fail(
                "services",
                format!(
                    "expected 1 to {MAX_SERVICES} services, found {}",
                    raw.services.len()
                ),
            ));
        }
        let mut services = Vec::with_capacity(raw.services.len());
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        // (destination repository, tag) → index of the service that owns it.
        let mut owners: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (i, s) in raw.services.into_iter().enumerate() {
            let at = |field: &str| format!("services[{i}].{field}");
            let service = resolve_service(s, &raw.defaults, &at).map_err(|(p, w)| fail(&p, w))?;
            if let Some(first) = names.insert(service.name.clone(), i) {
                return Err(fail(
                    &at("name"),
                    format!(
                        "expected a unique name; `{}` is already the name of services[{first}]",
                        service.name
                    ),
                ));
            }
            let repository = service.destination.name();
            let fields = service
                .tags
                .iter()
                .enumerate()
                .map(|(j, t)| (format!("tags[{j}]"), t))
                .chain(
                    service
                        .moving_tags
                        .iter()
                        .enumerate()
                        .map(|(j, t)| (format!("moving-tags[{j}]"), t)),
                );
            for (field, tag) in fields {
                if let Some(&owner) = owners.get(&(repository.clone(), tag.clone())) {
                    let whose = if owner == i {
                        "this service already lists it".to_owned()
                    } else {
                        format!("it already belongs to services[{owner}]")
                    };
                    return Err(fail(
                        &at(&field),
                        format!(
                            "expected a destination tag owned by one service only; `{repository}:{tag}`: {whose}"
                        ),
                    ));
                }
                owners.insert((repository.clone(), tag.clone()), i);
            }
            services.push(service);
        }
        Ok(Self {
            file: file.to_owned(),
            sha256: Digest::sha256_of(text.as_bytes()),
            services,
        })
    }
}

type FieldError = (String, String);

fn resolve_service(
    s: RawService,
    defaults: &RawDefaults,
    at: &dyn Fn(&str) -> String,
) -> std::result::Result<Service, FieldError> {
    let name_ok = {
        let b = s.name.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    };
    if !name_ok {
        return Err((
            at("name"),
            format!(
                "expected lower-case letters, digits and `-` (at most 63, not starting with `-`), found `{}`",
                crate::text::shorten(&s.name)
            ),
        ));
    }
    let pick = |own: Option<String>, default: &Option<String>| own.or_else(|| default.clone());
    let source = pick(s.source, &defaults.source).ok_or_else(|| {
        (
            at("source"),
            "expected an image reference (none given here or in defaults)".to_owned(),
        )
    })?;
    let source = Reference::parse(&source).map_err(|e| {
        (
            at("source"),
            format!("expected an image reference: {}", e.message),
        )
    })?;
    let digest = pick(s.digest, &defaults.digest)
        .map(|d| {
            Digest::parse(&d).map_err(|_| {
                (
                    at("digest"),
                    "expected a digest `sha256:<64 hex>`".to_owned(),
                )
            })
        })
        .transpose()?;
    if let (Some(pin), Some(d)) = (&digest, source.digest())
        && pin != d
    {
        return Err((
            at("digest"),
            format!("expected the digest of `source` ({d}), found {pin}"),
        ));
    }
    let destination = pick(s.destination, &defaults.destination).ok_or_else(|| {
        (
            at("destination"),
            "expected a repository `registry/path` (none given here or in defaults)".to_owned(),
        )
    })?;
    let destination = Reference::parse(&destination).map_err(|e| {
        (
            at("destination"),
            format!("expected a repository `registry/path`: {}", e.message),
        )
    })?;
    if destination.tag().is_some() || destination.digest().is_some() {
        return Err((
            at("destination"),
            "expected a repository without a tag or digest (tags go in `tags` and `moving-tags`)"
                .to_owned(),
        ));
    }
    let tags = check_tags(s.tags.or_else(|| defaults.tags.clone()), "tags", at)?;
    let moving_tags = check_tags(
        s.moving_tags.or_else(|| defaults.moving_tags.clone()),
        "moving-tags",
        at,
    )?;
    if tags.is_empty() && moving_tags.is_empty() {
        return Err((
            at("tags"),
            "expected at least one destination tag in `tags` or `moving-tags`".to_owned(),
        ));
    }
    Ok(Service {
        name: s.name,
        source,
        digest,
        destination,
        tags,
        moving_tags,
        environment: pick(s.environment, &defaults.environment),
        policy: pick(s.policy, &defaults.policy),
    })
}

fn check_tags(
    tags: Option<Vec<String>>,
    field: &str,
    at: &dyn Fn(&str) -> String,
) -> std::result::Result<Vec<String>, FieldError> {
    let tags = tags.unwrap_or_default();
    for (j, t) in tags.iter().enumerate() {
        if Reference::validate_tag(t).is_err() {
            return Err((
                at(&format!("{field}[{j}]")),
                format!(
                    "expected a tag (letters, digits, `_`, `.`, `-`; at most 128, not starting with `.` or `-`), found `{}`",
                    crate::text::shorten(t)
                ),
            ));
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version: 1
defaults: { environment: production, moving-tags: [prod], policy: .image-promote/policy.yaml }
services:
  - name: api
    source: staging.example.com/acme/api:1.4.2
    destination: registry.example.com/acme/api
    tags: [1.4.2]
    moving-tags: [prod, latest]
  - name: web
    source: staging.example.com/acme/web@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    destination: registry.example.com/acme/web
    tags: [2.0.0]
    environment: production-web
";

    fn error(text: &str) -> String {
        let e = PlanFile::parse(text, "promotions.yaml").unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Input, "{e}");
        e.message
    }

    #[test]
    fn parses_and_applies_defaults() {
        let plan = PlanFile::parse(GOOD, "promotions.yaml").unwrap();
        assert_eq!(plan.services.len(), 2);
        let (api, web) = (&plan.services[0], &plan.services[1]);
        assert_eq!(
            api.moving_tags,
            ["prod", "latest"],
            "the service's own list wins"
        );
        assert_eq!(web.moving_tags, ["prod"], "defaulted");
        assert_eq!(api.environment.as_deref(), Some("production"));
        assert_eq!(web.environment.as_deref(), Some("production-web"));
        assert_eq!(web.policy.as_deref(), Some(".image-promote/policy.yaml"));
        assert_eq!(api.all_tags(), ["1.4.2", "prod", "latest"]);
        assert_eq!(api.destination.name(), "registry.example.com/acme/api");
        assert_eq!(plan.sha256, Digest::sha256_of(GOOD.as_bytes()));
    }

    #[test]
    fn unknown_key_names_its_path() {
        let text = GOOD.replace("    tags: [2.0.0]", "    tags: [2.0.0]\n    tag: x");
        let m = error(&text);
        assert!(m.starts_with("plan file promotions.yaml: "), "{m}");
        assert!(m.contains("`services[1].tag`"), "{m}");
        assert!(m.contains("unknown field"), "{m}");
        let m = error("version: 1\nextra: 1\nservices: []\n");
        assert!(m.contains("`extra`"), "{m}");
        let m = error(&GOOD.replace("policy: .image", "polcy: .image"));
        assert!(m.contains("`defaults.polcy`"), "{m}");
    }

    #[test]
    fn wrong_type_names_its_path() {
        let m = error(&GOOD.replace("tags: [1.4.2]", "tags: {a: 1}"));
        assert!(m.contains("`services[0].tags`"), "{m}");
        assert!(m.contains("expected a sequence"), "{m}");
        let m = error(&GOOD.replace("tags: [2.0.0]", "tags: [[1]]"));
        assert!(m.contains("`services[1].tags[0]`"), "{m}");
        let m = error("- a\n");
        assert!(m.contains("expected a plan"), "{m}");
    }

    #[test]
    fn bad_values_name_their_path() {
        let m = error(&GOOD.replace("tags: [2.0.0]", "tags: [2.0.0, 'bad tag']"));
        assert!(
            m.contains("field `services[1].tags[1]`: expected a tag"),
            "{m}"
        );
        let m = error(&GOOD.replace("name: web", "name: Web_1"));
        assert!(
            m.contains("field `services[1].name`: expected lower-case"),
            "{m}"
        );
        let m = error(&GOOD.replace("name: web", "name: api"));
        assert!(
            m.contains("field `services[1].name`: expected a unique name"),
            "{m}"
        );
        assert!(m.contains("services[0]"), "{m}");
        let m = error(&GOOD.replace("/acme/web\n", "/acme/web:1\n"));
        assert!(m.contains("field `services[1].destination`"), "{m}");
        let m = error(&GOOD.replace("version: 1", "version: 2"));
        assert!(m.contains("field `version`: expected 1, found 2"), "{m}");
        let m = error(&GOOD.replace(
            "    tags: [1.4.2]\n",
            "    tags: [1.4.2]\n    digest: sha256:bbbb\n",
        ));
        assert!(
            m.contains("field `services[0].digest`: expected a digest"),
            "{m}"
        );
        let pin = format!("    digest: sha256:{}\n", "b".repeat(64));
        let m = error(&GOOD.replace("    tags: [2.0.0]\n", &format!("    tags: [2.0.0]\n{pin}")));
        assert!(
            m.contains("field `services[1].digest`: expected the digest of `source`"),
            "{m}"
        );
    }

    #[test]
    fn a_tag_has_one_owner() {
        let text = GOOD.replace("acme/web\n", "acme/api\n");
        let m = error(&text);
        assert!(m.contains("field `services[1].moving-tags[0]`"), "{m}");
        assert!(m.contains("owned by one service only"), "{m}");
        assert!(m.contains("registry.example.com/acme/api:prod"), "{m}");
        assert!(m.contains("services[0]"), "{m}");
        // The same tag twice in one service.
        let m = error(&GOOD.replace("moving-tags: [prod, latest]", "moving-tags: [prod, 1.4.2]"));
        assert!(m.contains("field `services[0].moving-tags[1]`"), "{m}");
        assert!(m.contains("this service already lists it"), "{m}");
    }

    #[test]
    fn services_count_is_bounded() {
        let m = error("version: 1\nservices: []\n");
        assert!(
            m.contains("field `services`: expected 1 to 256 services, found 0"),
            "{m}"
        );
        let mut text = String::from(
            "version: 1\ndefaults: {source: a.io/x:1, destination: b.io/x}\nservices:\n",
        );
        for i in 0..257 {
            text.push_str(&format!("  - {{name: s{i}, tags: [t{i}]}}\n"));
        }
        let m = error(&text);
        assert!(m.contains("expected 1 to 256 services, found 257"), "{m}");
        let cut: String = text
            .lines()
            .take(3 + 256)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(PlanFile::parse(&cut, "p.yaml").unwrap().services.len(), 256);
    }

    #[test]
    fn missing_fields_are_named() {
        let m =
            error("version: 1\nservices:\n  - name: a\n    destination: b.io/x\n    tags: [1.0]\n");
        assert!(
            m.contains("field `services[0].source`: expected an image reference"),
            "{m}"
        );
        let m = error(
            "version: 1\nservices:\n  - name: a\n    source: a.io/x:1\n    destination: b.io/x\n",
        );
        assert!(
            m.contains("field `services[0].tags`: expected at least one"),
            "{m}"
        );
        let m = error("version: 1\nservices:\n  - source: a.io/x:1\n");
        assert!(m.contains("services[0]"), "{m}");
        assert!(m.contains("missing field `name`"), "{m}");
    }

    #[test]
    fn unreadable_file_is_named() {
        let e = PlanFile::read(Path::new("/nonexistent/promotions.yaml")).unwrap_err();
        assert!(
            e.message
                .contains("plan file /nonexistent/promotions.yaml: cannot read it")
        );
    }
}
