//! The compare-and-swap of a matrix leg: `promote --moving-tags prod --expected-previous D`
//! refuses, before anything is written, when a moving tag no longer holds what the plan saw
//! (production moved after the plan was made). Judged on the tag plan ([`TagPlan`]), whose
//! HEADs are the ones the tags are later written against (each tag is HEADed again just before
//! its write, so nothing can slip in between).

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::tags::TagPlan;

/// What the moving tags must hold when the promotion starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareAndSwap {
    /// The tags guarded (the leg's moving tags).
    pub moving_tags: Vec<String>,
    /// The digest they must point at now; `None`: they must not exist (`none`).
    pub expected: Option<Digest>,
}

impl CompareAndSwap {
    /// Parses `--expected-previous` (`sha256:…` or `none`) for `moving_tags`.
    ///
    /// # Errors
    /// An input error naming the flag: a malformed digest, or no moving tag to guard.
    pub fn parse(value: &str, moving_tags: Vec<String>) -> Result<Self> {
        let value = value.trim();
        if moving_tags.is_empty() {
            return Err(Error::input(
                "expected-previous is set but moving-tags is empty: there is no tag to compare",
            )
            .hint("pass the leg's moving tags too (the matrix's `moving_tags`)"));
        }
        let expected = if value.eq_ignore_ascii_case("none") {
            None
        } else {
            Some(Digest::parse(value).map_err(|_| {
                Error::input(format!(
                    "expected-previous `{}`: expected a digest `sha256:<64 hex>` or `none`",
                    crate::text::shorten(value)
                ))
            })?)
        };
        Ok(Self {
            moving_tags,
            expected,
        })
    }

    /// `Ok` when every guarded tag of `plan` holds the expected digest (or, from an earlier run
    /// of the same leg, the target already); else a REFUSED error naming each tag that moved.
    ///
    /// # Errors
    /// The refusal (exit 3).
    pub fn check(&self, plan: &TagPlan) -> Result<()> {
        let shown =
            |d: Option<&Digest>| d.map_or_else(|| "nothing".to_owned(), ToString::to_string);
        let moved: Vec<String> = plan
            .entries
            .iter()
            .filter(|e| self.moving_tags.contains(&e.tag))
            .filter(|e| e.previous != self.expected && e.previous.as_ref() != Some(&plan.target))
            .map(|e| {
                format!(
                    "{} points at {}, the plan expected {}",
                    plan.destination.with_tag(&e.tag),
                    shown(e.previous.as_ref()),
                    shown(self.expected.as_ref())
                )
            })
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        Err(Error::refused(format!(
            "compare-and-swap: {}; production moved after the plan was made, so nothing is written",
            moved.join("; ")
        ))
        .hint("plan the release again (`image-promote plan`) and run the new matrix"))
    }
}

/// [`CompareAndSwap::check`] when there is one, else `Ok`.
///
/// # Errors
/// The refusal.
pub fn check(cas: Option<&CompareAndSwap>, plan: &TagPlan) -> Result<()> {
    cas.map_or(Ok(()), |c| c.check(plan))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Reference;

    fn d(n: u8) -> Digest {
        Digest::sha256_of(&[n])
    }

    fn plan(prod: Option<u8>) -> TagPlan {
        let dst = Reference::parse("b.io/x").unwrap();
        let heads = vec![("2.0".into(), None), ("prod".into(), prod.map(d))];
        TagPlan::decide(&dst, &d(9), heads, false)
    }

    #[test]
    fn refuses_when_the_moving_tag_moved() {
        let cas = CompareAndSwap::parse(&d(1).to_string(), vec!["prod".into()]).unwrap();
        assert!(cas.check(&plan(Some(1))).is_ok());
        assert!(
            cas.check(&plan(Some(9))).is_ok(),
            "a resumed leg finds the target"
        );
        let e = cas.check(&plan(Some(2))).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Refused);
        assert!(
            e.message.contains(&format!(
                "b.io/x:prod points at {}, the plan expected {}",
                d(2),
                d(1)
            )),
            "{}",
            e.message
        );
        let e = cas.check(&plan(None)).unwrap_err();
        assert!(e.message.contains("points at nothing"), "{}", e.message);
        let none = CompareAndSwap::parse("none", vec!["prod".into()]).unwrap();
        assert!(none.check(&plan(None)).is_ok());
        assert!(
            none.check(&plan(Some(1)))
                .unwrap_err()
                .message
                .contains("the plan expected nothing")
        );
    }

    #[test]
    fn bad_input() {
        let e = CompareAndSwap::parse("sha256:12", vec!["prod".into()]).unwrap_err();
        assert!(
            e.message
                .contains("expected-previous `sha256:12`: expected a digest")
        );
        let e = CompareAndSwap::parse("none", vec![]).unwrap_err();
        assert!(e.message.contains("moving-tags is empty"));
    }
}
