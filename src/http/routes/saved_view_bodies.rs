//! The bodies of `POST /admin/saved-views` and `PATCH /admin/saved-views/{slug}` (SPEC §6.8) as wire structs,
//! and their conversion into checked requests. Both take `{name, description, filters, visibility}`: a create
//! needs `name`, a patch at least one field. `null` means absent (as for every wire body), so a patch removes a
//! description with `""`.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::domain::{ErrorCode, ValidationError};
use crate::http::wire::{Field, WireBody};
use crate::saved_view::{ViewChanges, ViewDescription, ViewFilters, ViewName, Visibility};

/// The body of a create or a patch, as sent.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SavedViewBody {
    /// 1–120 characters.
    #[serde(default)]
    pub name: Field<String>,
    /// At most 500 characters.
    #[serde(default)]
    pub description: Field<String>,
    /// `{type, source, correlationId, severity, from, to, jsonPath}`, each optional.
    #[serde(default)]
    pub filters: Field<Map<String, Value>>,
    /// `private` or `shared`.
    #[serde(default)]
    pub visibility: Field<String>,
}

impl WireBody for SavedViewBody {
    const FIELDS: &'static [&'static str] = &["name", "description", "filters", "visibility"];
}

/// A checked create: the view but its owner and slug.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// The name.
    pub name: ViewName,
    /// The description, if any.
    pub description: Option<ViewDescription>,
    /// The filters (none: every event).
    pub filters: ViewFilters,
    /// `private` unless asked otherwise.
    pub visibility: Visibility,
}

impl TryFrom<SavedViewBody> for CreateRequest {
    type Error = ValidationError;

    fn try_from(body: SavedViewBody) -> Result<CreateRequest, ValidationError> {
        let name = body.name.required("name", || must_be_a_string("name"))?;
        Ok(CreateRequest {
            name: ViewName::parse(&name)?,
            description: description(body.description)?.flatten(),
            filters: filters(body.filters)?.unwrap_or_default(),
            visibility: visibility(body.visibility)?.unwrap_or(Visibility::Private),
        })
    }
}

impl TryFrom<SavedViewBody> for ViewChanges {
    type Error = ValidationError;

    fn try_from(body: SavedViewBody) -> Result<ViewChanges, ValidationError> {
        let changes = ViewChanges {
            name: body
                .name
                .optional(|| must_be_a_string("name"))?
                .map(|n| ViewName::parse(&n))
                .transpose()?,
            description: description(body.description)?,
            filters: filters(body.filters)?,
            visibility: visibility(body.visibility)?,
        };
        if changes.name.is_none()
            && changes.description.is_none()
            && changes.filters.is_none()
            && changes.visibility.is_none()
        {
            return Err(ValidationError::new(
                ErrorCode::MissingField,
                None,
                "a patch needs at least one of name, description, filters, visibility",
            ));
        }
        Ok(changes)
    }
}

fn must_be_a_string(field: &str) -> ValidationError {
    ValidationError::invalid(field, "must be a string")
}

/// `description`: `None` when absent, `Some(None)` when empty.
fn description(field: Field<String>) -> Result<Option<Option<ViewDescription>>, ValidationError> {
    field
        .optional(|| must_be_a_string("description"))?
        .map(|d| ViewDescription::parse(&d))
        .transpose()
}

fn filters(field: Field<Map<String, Value>>) -> Result<Option<ViewFilters>, ValidationError> {
    field
        .optional(|| ValidationError::invalid("filters", "must be a JSON object"))?
        .map(|map| ViewFilters::from_json(&map))
        .transpose()
}

fn visibility(field: Field<String>) -> Result<Option<Visibility>, ValidationError> {
    let wrong = || ValidationError::invalid("visibility", "must be \"private\" or \"shared\"");
    field
        .optional(wrong)?
        .map(|v| Visibility::parse(&v).map_err(|_| wrong()))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::wire::parse_body;

    fn create(raw: &str) -> Result<CreateRequest, ValidationError> {
        parse_body::<SavedViewBody>(raw.as_bytes()).and_then(CreateRequest::try_from)
    }

    fn patch(raw: &str) -> Result<ViewChanges, ValidationError> {
        parse_body::<SavedViewBody>(raw.as_bytes()).and_then(ViewChanges::try_from)
    }

    #[test]
    fn a_create_needs_a_name_and_defaults_to_private_with_no_filters() {
        let r = create(r#"{"name": "Errors"}"#).unwrap();
        assert_eq!(r.visibility, Visibility::Private);
        assert!(r.filters.filter.is_empty() && r.description.is_none());
        let e = create(r#"{"description": "x"}"#).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::MissingField, Some("name"))
        );
    }

    #[test]
    fn bad_fields_are_named() {
        for (raw, code, field) in [
            (r#"{"name": 3}"#, ErrorCode::InvalidField, "name"),
            (
                r#"{"name": "a", "visibility": "public"}"#,
                ErrorCode::InvalidField,
                "visibility",
            ),
            (
                r#"{"name": "a", "filters": []}"#,
                ErrorCode::InvalidField,
                "filters",
            ),
            (
                r#"{"name": "a", "owner": "me"}"#,
                ErrorCode::UnknownField,
                "owner",
            ),
            (
                r#"{"name": "a", "filters": {"source": "a**b"}}"#,
                ErrorCode::InvalidPattern,
                "filters.source",
            ),
        ] {
            let e = create(raw).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (code, Some(field)), "{raw}");
        }
    }

    #[test]
    fn a_patch_needs_one_field_and_an_empty_description_removes_it() {
        assert_eq!(patch("{}").unwrap_err().code, ErrorCode::MissingField);
        assert_eq!(
            patch(r#"{"name": null}"#).unwrap_err().code,
            ErrorCode::MissingField
        );
        let changes = patch(r#"{"description": ""}"#).unwrap();
        assert_eq!(changes.description, Some(None));
    }
}
