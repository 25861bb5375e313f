//! `ApiError`: every failure an HTTP route can answer, rendered as SPEC's
//! `{"error": {"code", "message", "details"?}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

use crate::domain::{ErrorCode, SchemaViolation, ValidationError};

/// An HTTP error answer. Expected failures carry a SPEC code and map to 4xx/503; anything else is
/// [`ApiError::unexpected`], logged with its cause chain and answered as an opaque 500.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        code: ErrorCode,
        message: impl Into<String>,
        details: Option<Value>,
    ) -> ApiError {
        ApiError {
            status,
            code: code.as_str(),
            message: message.into(),
            details,
        }
    }

    /// 400 for an invalid envelope, with `details.field`.
    pub fn validation(e: &ValidationError) -> ApiError {
        let details = e.field.as_ref().map(|field| json!({ "field": field }));
        ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message.clone(), details)
    }

    /// 400 `schema_mismatch` (`details`: `instancePath`, `keyword`, `schemaVersion`) or `schema_required`
    /// (`details.type`) for a payload the schema rules refuse.
    pub fn schema(violation: &SchemaViolation) -> ApiError {
        let details = match violation {
            SchemaViolation::Mismatch {
                instance_path,
                keyword,
                schema_version,
                ..
            } => json!({
                "instancePath": instance_path,
                "keyword": keyword,
                "schemaVersion": schema_version,
            }),
            SchemaViolation::Required { event_type } => json!({ "type": event_type.as_str() }),
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            violation.code(),
            violation.to_string(),
            Some(details),
        )
    }

    /// 400 `invalid_schema`: a schema given for registration does not compile; `details.message` is the
    /// validator's.
    pub fn invalid_schema(message: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidSchema,
            message.to_owned(),
            Some(json!({ "message": message })),
        )
    }

    /// 413 `body_too_large` for a schema over its own limit (smaller than `HERALD_MAX_BODY_BYTES`), measured as
    /// compact JSON like every SPEC size.
    pub fn schema_too_large(size: usize, limit_bytes: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!(
                "the schema is {size} bytes as compact JSON; a schema may be at most {limit_bytes} bytes"
            ),
            Some(json!({ "limitBytes": limit_bytes })),
        )
    }

    /// 400 for a query parameter that does not parse (`invalid_parameter`, `invalid_pattern`,
    /// `invalid_json_path`, …), with `details.parameter` naming it as SPEC's error table does for parameters.
    pub fn query(e: &ValidationError) -> ApiError {
        let details = e.field.as_ref().map(|field| json!({ "parameter": field }));
        ApiError::new(StatusCode::BAD_REQUEST, e.code, e.message.clone(), details)
    }

    /// 400 `invalid_parameter` naming the parameter.
    pub fn parameter(parameter: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidParameter,
            message,
            Some(json!({ "parameter": parameter })),
        )
    }

    /// 400 `invalid_cursor`.
    pub fn cursor(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidCursor,
            message,
            Some(json!({ "parameter": "cursor" })),
        )
    }

    /// 400 `batch_rejected` with every rejection.
    pub fn batch_rejected(rejected: Value) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BatchRejected,
            "no envelope of the batch is valid",
            Some(json!({ "rejected": rejected })),
        )
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            message,
            None,
        )
    }

    /// 403 `forbidden` naming the scope the caller lacks.
    pub fn forbidden(scope: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("this token lacks the scope {scope}"),
            Some(json!({ "requiredScope": scope })),
        )
    }

    /// 403 `forbidden` for a change only the resource's owner may make (a shared saved view); no scope would
    /// help, so `details` names the owner instead of a `requiredScope`.
    pub fn not_owner(message: impl Into<String>, owner: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            message,
            Some(json!({ "owner": owner })),
        )
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message, None)
    }

    /// 409 `id_conflict`.
    pub fn id_conflict(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::IdConflict,
            format!("id {id} is already stored with a different type, source or payload"),
            Some(json!({ "id": id })),
        )
    }

    /// 409 `invalid_state`: the resource is not in a state the request applies to.
    pub fn invalid_state(message: impl Into<String>, details: Option<Value>) -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            message,
            details,
        )
    }

    /// 413 `body_too_large`.
    pub fn body_too_large(limit_bytes: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!("the request body is larger than {limit_bytes} bytes (HERALD_MAX_BODY_BYTES)"),
            Some(json!({ "limitBytes": limit_bytes })),
        )
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            message,
            None,
        )
    }

    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>, details: Option<Value>) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
            details,
        )
    }

    /// 500, with the cause logged and withheld from the caller.
    pub fn unexpected(error: impl std::fmt::Display + std::fmt::Debug) -> ApiError {
        tracing::error!(error.message = %error, error.cause_chain = ?error, "Request failed unexpectedly.");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; the server log has the details".into(),
            details: None,
        }
    }

    /// The SPEC code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The error body, also used for per-item errors of a batch.
    pub fn body(&self) -> Value {
        let mut error = json!({ "code": self.code, "message": self.message });
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        error
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(json!({ "error": self.body() }))
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(e: crate::storage::StorageError) -> Self {
        match e {
            crate::storage::StorageError::QueryTimeout => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::QueryTimeout,
                "the query ran past HERALD_QUERY_TIMEOUT_MS; narrow it (type, source, time range) or page \
                 with a cursor",
                None,
            ),
            e => ApiError::unexpected(e),
        }
    }
}
