//! Deserializers for policy fields that need more than serde's defaults (severities, sizes,
//! label rules given as a key or a map), written as visitors so a YAML error keeps the field's
//! path, and the rendering of serde_norway errors as `field `a.b`: … (line, column)`.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::LabelRule;
use super::size::parse_size;
use crate::error::Severity;

fn label_rule<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<LabelRule, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = LabelRule;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a label key, or a map {key: KEY, pattern: REGEX}")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<LabelRule, E> {
            let rule = LabelRule {
                key: v.to_owned(),
                pattern: None,
            };
            rule.validate().map_err(E::custom)?;
            Ok(rule)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<LabelRule, A::Error> {
            let rule = LabelRule::deserialize(de::value::MapAccessDeserializer::new(map))?;
            rule.validate().map_err(de::Error::custom)?;
            Ok(rule)
        }
    }
    d.deserialize_any(V)
}

pub(super) fn label_rules<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<LabelRule>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "label_rule")] LabelRule);
    Ok(Vec::<Wrapped>::deserialize(d)?
        .into_iter()
        .map(|w| w.0)
        .collect())
}

/// serde_norway says `size.max-size: invalid value … at line 3 column 13`; we say
/// `field `size.max-size`: … (line 3, column 13)`.
pub(crate) fn describe_yaml_error(e: &serde_norway::Error) -> String {
    let text = e.to_string();
    let (body, location) = match e.location() {
        Some(l) => {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            (
                text.strip_suffix(&suffix).unwrap_or(&text).to_owned(),
                format!(" (line {}, column {})", l.line(), l.column()),
            )
        }
        None => (text.clone(), String::new()),
    };
    // A path prefix `a.b[0].c: ` precedes the message for nested fields.
    let (path, message) = match body.split_once(": ") {
        Some((p, m))
            if !p.contains(' ') && p.chars().next().is_some_and(|c| c.is_ascii_lowercase()) =>
        {
            (Some(p.to_owned()), m.to_owned())
        }
        _ => (None, body.clone()),
    };
    // `size: unknown field `max-sise`` → the path of the unknown field itself.
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(f, _)| excerpt(f));
    let path = match (path, unknown) {
        (Some(p), Some(f)) => Some(format!("{p}.{f}")),
        (p, _) => p,
    };
    let path = path.or_else(|| {
        // `unknown field `x`` at top level names the field itself.
        message
            .strip_prefix("unknown field `")
            .and_then(|r| r.split_once('`'))
            .map(|(f, _)| excerpt(f))
    });
    let message = redact(&message).replace(
        "expected struct Policy",
        "expected a policy (a YAML mapping starting with `version: 1`)",
    );
    match path {
        Some(p) => format!("field `{p}`: {message}{location}"),
        None => format!("{message}{location}"),
    }
}

/// Longest excerpt of the file quoted in an error (a field name, a unit, a variant).
const MAX_EXCERPT: usize = 16;

/// `text` cut to [`MAX_EXCERPT`] characters.
fn excerpt(text: &str) -> String {
    if text.chars().count() <= MAX_EXCERPT {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX_EXCERPT / 2).collect();
        format!("{cut}…")
    }
}

/// A parser message with nothing of the file's values in it beyond a short excerpt: a
/// double-quoted value (`invalid type: string "…"`, which for a file that is not a policy is the
/// whole file) is not shown at all, a backtick-quoted one is cut to [`MAX_EXCERPT`] characters.
/// The line and column say where to look.
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(256));
    let mut rest = message;
    while let Some(i) = rest.find(['"', '`']) {
        out.push_str(&rest[..i]);
        let quote = rest[i..].chars().next().unwrap_or('"');
        let inner = &rest[i + 1..];
        // The closing quote (a double-quoted value is Debug-escaped: skip `\"`).
        let mut end = None;
        let mut escaped = false;
        for (j, c) in inner.char_indices() {
            match c {
                '\\' if quote == '"' && !escaped => escaped = true,
                c if c == quote && !escaped => {
                    end = Some(j);
                    break;
                }
                _ => escaped = false,
            }
        }
        let Some(end) = end else {
            // Unbalanced: show nothing of what follows.
            out.push_str("(value not shown)");
            return out;
        };
        if quote == '"' {
            let value = out.ends_with("string ");
            if value {
                out.truncate(out.len() - "string ".len());
            }
            out.push_str(if value {
                "a string (not shown)"
            } else {
                "(value not shown)"
            });
        } else {
            out.push('`');
            out.push_str(&excerpt(&inner[..end]));
            out.push('`');
        }
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    out
}

fn parse_severity(s: &str) -> std::result::Result<Severity, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" => Ok(Severity::Critical),
        "high" => Ok(Severity::High),
        "medium" => Ok(Severity::Medium),
        "low" => Ok(Severity::Low),
        _ => Err(format!(
            "expected a severity: critical, high, medium or low; found `{}`",
            crate::reference::shorten(s)
        )),
    }
}

/// Deserializes a string through `parse` inside the visitor, so the YAML error carries the path.
pub(crate) struct ParseStr<T> {
    /// The parser.
    pub(crate) parse: fn(&str) -> std::result::Result<T, String>,
    /// What is expected, for type errors.
    pub(crate) expecting: &'static str,
}

impl<T> Visitor<'_> for ParseStr<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
}

pub(super) fn severity<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Severity, D::Error> {
    d.deserialize_str(ParseStr {
        parse: parse_severity,
        expecting: "a severity: critical, high, medium or low",
    })
}

pub(super) fn size_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a size such as 2GiB, 500MB or a number of bytes, or null")
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Option<u64>, E> {
            Ok(None)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Option<u64>, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Option<u64>, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("expected a size, found the negative number {v}")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Option<u64>, E> {
            parse_size(v).map(Some).map_err(|e| E::custom(e.message))
        }
    }
    d.deserialize_any(V)
}
