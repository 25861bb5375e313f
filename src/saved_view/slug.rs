//! [`Slug`]: a saved view's address in URLs (SPEC §6.8), made from its name.
//!
//! The rule: ASCII letters and digits are kept (lowercased), every run of anything else becomes one `-`, dashes
//! are trimmed from both ends, and the result is cut to [`SLUG_MAX_CHARS`]. Only ASCII is kept so that a slug
//! is the same in a path, a log line and a shell without percent-encoding; a name with no ASCII letter or digit
//! gets the slug `view`. On collision the slug takes the smallest free numeric suffix `-2`, `-3`, …, the base
//! being cut so the whole still fits: deterministic and readable, and a caller learns the slug from the answer.
//! A slug is made once, at creation: a rename keeps it, so shared links keep working.

use std::collections::HashSet;
use std::fmt;

use crate::domain::{ErrorCode, ValidationError};

/// Longest slug, in characters (all ASCII).
pub const SLUG_MAX_CHARS: usize = 64;

/// The slug of a name that has no ASCII letter or digit.
const FALLBACK_SLUG: &str = "view";

/// A slug: 1–64 characters of `a-z`, `0-9` and inner single dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// The slug `name` asks for, before any collision suffix.
    pub fn from_name(name: &str) -> Slug {
        let mut slug = String::with_capacity(name.len().min(SLUG_MAX_CHARS));
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c.to_ascii_lowercase());
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        Slug(fit(&slug, SLUG_MAX_CHARS))
    }

    /// `base` itself when `taken` does not hold it, else `base-n` for the smallest free `n ≥ 2`, with `base` cut
    /// so the whole stays within [`SLUG_MAX_CHARS`].
    pub fn first_free(base: &Slug, taken: &HashSet<String>) -> Slug {
        if !taken.contains(base.as_str()) {
            return base.clone();
        }
        // At most `taken.len() + 1` candidates can be tried before one is free.
        (2..)
            .map(|n: u64| {
                let suffix = format!("-{n}");
                let head = fit(base.as_str(), SLUG_MAX_CHARS - suffix.len());
                format!("{head}{suffix}")
            })
            .find(|candidate| !taken.contains(candidate))
            .map(Slug)
            .unwrap_or_else(|| base.clone())
    }

    /// A slug as it arrives in a URL path.
    ///
    /// # Errors
    /// `invalid_parameter` naming `slug` when it is not a slug this rule could have made (the route then answers
    /// 404 as for any unknown slug).
    pub fn parse(text: &str) -> Result<Slug, ValidationError> {
        let well_formed = !text.is_empty()
            && text.len() <= SLUG_MAX_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !text.starts_with('-')
            && !text.ends_with('-')
            && !text.contains("--");
        if well_formed {
            Ok(Slug(text.to_owned()))
        } else {
            Err(ValidationError::new(
                ErrorCode::InvalidParameter,
                Some("slug".to_owned()),
                format!("{text:?} is not a saved view slug"),
            ))
        }
    }

    /// The slug's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `slug` cut to `max` characters with trailing dashes trimmed, or [`FALLBACK_SLUG`] when nothing is left.
fn fit(slug: &str, max: usize) -> String {
    // Every character is ASCII, so a byte index is a character index.
    let cut = slug[..slug.len().min(max)].trim_matches('-');
    if cut.is_empty() {
        FALLBACK_SLUG.to_owned()
    } else {
        cut.to_owned()
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(name: &str) -> String {
        Slug::from_name(name).as_str().to_owned()
    }

    #[test]
    fn names_lowercase_and_non_alphanumerics_become_single_dashes() {
        assert_eq!(slug("Failed Billing  Events!"), "failed-billing-events");
        assert_eq!(slug("  --Ops / On-call: 24x7 -- "), "ops-on-call-24x7");
        assert_eq!(slug("Ünïcode café"), "n-code-caf");
        assert_eq!(slug("!!!"), "view");
        assert_eq!(slug("日本"), "view");
    }

    #[test]
    fn slugs_are_cut_to_64_characters_without_a_trailing_dash() {
        let long = format!("{} tail", "a".repeat(63));
        assert_eq!(slug(&long), "a".repeat(63));
        assert_eq!(slug(&"b".repeat(200)).len(), SLUG_MAX_CHARS);
    }

    #[test]
    fn a_collision_takes_the_smallest_free_numeric_suffix_within_the_limit() {
        let base = Slug::from_name("Errors");
        let taken: HashSet<String> = ["errors", "errors-2", "errors-4"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(Slug::first_free(&base, &taken).as_str(), "errors-3");
        assert_eq!(Slug::first_free(&base, &HashSet::new()).as_str(), "errors");
        let long = Slug::from_name(&"c".repeat(64));
        let taken = HashSet::from([long.as_str().to_owned()]);
        let free = Slug::first_free(&long, &taken);
        assert_eq!(free.as_str(), format!("{}-2", "c".repeat(62)));
    }

    #[test]
    fn only_well_formed_slugs_parse_from_a_path() {
        for good in ["a", "errors-2", "x1-y2-z3"] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(65);
        for bad in ["", "A", "-a", "a-", "a--b", "a_b", "a b", too_long.as_str()] {
            assert_eq!(
                Slug::parse(bad).unwrap_err().code,
                ErrorCode::InvalidParameter,
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn every_name_makes_a_slug_that_parses(name in ".{0,200}") {
            let made = Slug::from_name(&name);
            proptest::prop_assert!(Slug::parse(made.as_str()).is_ok(), "{:?} -> {:?}", name, made);
        }
    }
}
