//! Saved views (SPEC §6.8): named event filters an operator saves, applies and shares. Pure rules only: the view
//! and its parts, who may see and change it, its slug and its analytics; storage and HTTP build on these.
//!
//! - `slug.rs`: [`Slug`], made from the name, with a numeric suffix on collision.
//! - `filters.rs`: [`ViewFilters`], parsed with the events list's own filter and time rules.
//! - `analytics.rs`: [`ViewAnalytics`] over the last 15 minutes ([`analytics_window`], clock passed in).
//!
//! It sits beside [`crate::filter`] rather than in `domain` because a view holds an
//! [`EventFilter`](crate::filter::EventFilter), which imports the domain.

mod analytics;
mod filters;
mod slug;

use std::fmt;

use chrono::{DateTime, Utc};

pub use analytics::{ANALYTICS_WINDOW, SAMPLE_LIMIT, ViewAnalytics, analytics_window};
pub use filters::ViewFilters;
pub use slug::{SLUG_MAX_CHARS, Slug};

use crate::domain::{UnknownSpelling, ValidationError};

/// Longest name, in characters.
pub const NAME_MAX_CHARS: usize = 120;
/// Longest description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 500;

/// Who may see a view besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only the owner; anyone else is told it does not exist.
    Private,
    /// Everyone with `events:read`, read-only.
    Shared,
}

impl Visibility {
    /// The wire and column spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Shared => "shared",
        }
    }

    /// Reads a stored or sent spelling.
    ///
    /// # Errors
    /// [`UnknownSpelling`] for anything but `private` or `shared`.
    pub fn parse(text: &str) -> Result<Visibility, UnknownSpelling> {
        match text {
            "private" => Ok(Visibility::Private),
            "shared" => Ok(Visibility::Shared),
            other => Err(UnknownSpelling::new("visibility", other)),
        }
    }
}

/// A view's name: 1–120 characters, trimmed, not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewName(String);

impl ViewName {
    /// Parses the `name` field.
    ///
    /// # Errors
    /// `invalid_field` naming `name` when blank or longer than [`NAME_MAX_CHARS`].
    pub fn parse(text: &str) -> Result<ViewName, ValidationError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::invalid("name", "must not be blank"));
        }
        if trimmed.chars().count() > NAME_MAX_CHARS {
            return Err(ValidationError::invalid(
                "name",
                format_args!("must be at most {NAME_MAX_CHARS} characters"),
            ));
        }
        Ok(ViewName(trimmed.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ViewName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A view's description: at most 500 characters; an empty one is no description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewDescription(String);

impl ViewDescription {
    /// Parses the `description` field; `None` for an empty (or all-blank) text.
    ///
    /// # Errors
    /// `invalid_field` naming `description` when longer than [`DESCRIPTION_MAX_CHARS`].
    pub fn parse(text: &str) -> Result<Option<ViewDescription>, ValidationError> {
        if text.chars().count() > DESCRIPTION_MAX_CHARS {
            return Err(ValidationError::invalid(
                "description",
                format_args!("must be at most {DESCRIPTION_MAX_CHARS} characters"),
            ));
        }
        let trimmed = text.trim();
        Ok((!trimmed.is_empty()).then(|| ViewDescription(trimmed.to_owned())))
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A view about to be created; the slug is chosen by storage, which knows the taken ones.
#[derive(Debug, Clone)]
pub struct NewSavedView {
    /// The name.
    pub name: ViewName,
    /// The description, if any.
    pub description: Option<ViewDescription>,
    /// The filters.
    pub filters: ViewFilters,
    /// `private` unless asked otherwise.
    pub visibility: Visibility,
    /// The creating token's subject.
    pub owner: String,
}

/// A PATCH: the fields to change, at least one.
#[derive(Debug, Clone, Default)]
pub struct ViewChanges {
    /// A new name (the slug stays).
    pub name: Option<ViewName>,
    /// A new description; `Some(None)` removes it.
    pub description: Option<Option<ViewDescription>>,
    /// New filters, replacing the old ones whole.
    pub filters: Option<ViewFilters>,
    /// A new visibility.
    pub visibility: Option<Visibility>,
}

/// A stored view.
#[derive(Debug, Clone)]
pub struct SavedView {
    /// The storage key, a ULID (creation order).
    pub id: String,
    /// The address.
    pub slug: Slug,
    /// The name.
    pub name: ViewName,
    /// The description, if any.
    pub description: Option<ViewDescription>,
    /// The filters.
    pub filters: ViewFilters,
    /// Private or shared.
    pub visibility: Visibility,
    /// The owner's token subject.
    pub owner: String,
    /// Times applied, by anyone.
    pub applied_count: u64,
    /// Times shared.
    pub shared_count: u64,
    /// When last applied.
    pub last_applied_at: Option<DateTime<Utc>>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When its name, description, filters or visibility last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a caller may do with a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The owner: everything.
    Owner,
    /// Someone else, on a shared view: read and apply.
    Reader,
    /// Someone else, on a private view: nothing, not even to know it exists.
    Hidden,
}

impl SavedView {
    /// What the caller with token subject `subject` may do with this view.
    pub fn access_for(&self, subject: &str) -> Access {
        if self.owner == subject {
            Access::Owner
        } else if self.visibility == Visibility::Shared {
            Access::Reader
        } else {
            Access::Hidden
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorCode;

    fn view(visibility: Visibility) -> SavedView {
        let now = Utc::now();
        SavedView {
            id: "01".into(),
            slug: Slug::from_name("v"),
            name: ViewName::parse("v").unwrap(),
            description: None,
            filters: ViewFilters::default(),
            visibility,
            owner: "alice".into(),
            applied_count: 0,
            shared_count: 0,
            last_applied_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn private_views_are_hidden_and_shared_ones_read_only_to_others() {
        assert_eq!(view(Visibility::Private).access_for("alice"), Access::Owner);
        assert_eq!(view(Visibility::Private).access_for("bob"), Access::Hidden);
        assert_eq!(view(Visibility::Shared).access_for("bob"), Access::Reader);
        assert_eq!(view(Visibility::Shared).access_for("alice"), Access::Owner);
    }

    #[test]
    fn names_are_trimmed_not_blank_and_at_most_120_characters() {
        assert_eq!(ViewName::parse("  Errors ").unwrap().as_str(), "Errors");
        assert!(ViewName::parse(&"é".repeat(120)).is_ok());
        for bad in ["", "   ", &"x".repeat(121)] {
            let e = ViewName::parse(bad).unwrap_err();
            assert_eq!(
                (e.code, e.field.as_deref()),
                (ErrorCode::InvalidField, Some("name"))
            );
        }
    }

    #[test]
    fn descriptions_are_at_most_500_characters_and_empty_means_none() {
        assert_eq!(ViewDescription::parse("").unwrap(), None);
        assert!(ViewDescription::parse(&"d".repeat(500)).unwrap().is_some());
        let e = ViewDescription::parse(&"d".repeat(501)).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("description"));
    }

    #[test]
    fn visibility_reads_back_its_own_spelling_only() {
        for v in [Visibility::Private, Visibility::Shared] {
            assert_eq!(Visibility::parse(v.as_str()).unwrap(), v);
        }
        assert!(Visibility::parse("public").is_err());
    }
}
