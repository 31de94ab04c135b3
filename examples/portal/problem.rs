//! Errors as RFC 9457 problem details (`application/problem+json`), chosen by
//! the library's error classification ([`ErrorKind`]), never by message text.
//!
//! | status | meaning |
//! |---|---|
//! | 400 | invalid input |
//! | 401 | not authenticated |
//! | 403 | not allowed (a role, a CSRF token) |
//! | 404 | not found (or not readable by the actor: the same answer) |
//! | 409 | version conflict (naming both versions), an id or idempotency key already used |
//! | 422 | refused by the rules (naming the state and the command) |
//! | 503 | contention or an unavailable database (with `Retry-After`) |
//! | 500 | anything else |

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use itsm_core::Refusal;
use itsm_store::{ErrorKind, ExecError, StoreError};
use serde_json::{Map, Value, json};

/// A problem to answer with.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short, fixed summary of the problem type.
    pub title: &'static str,
    /// What happened to this request.
    pub detail: String,
    /// Extension members (`expected_version`, `command`...).
    pub extra: Map<String, Value>,
}

impl ApiError {
    fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, title, detail: detail.into(), extra: Map::new() }
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid input", detail)
    }

    /// 401: no valid credentials.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "not authenticated", "log in, or send Authorization: Bearer <token>")
    }

    /// 403.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "not allowed", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not found", detail)
    }

    /// The problem for an error of the given kind.
    pub fn of_kind(kind: ErrorKind, detail: String) -> ApiError {
        let (status, title) = match kind {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not found"),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "not allowed"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, "invalid input"),
            ErrorKind::Rules => (StatusCode::UNPROCESSABLE_ENTITY, "refused by the rules"),
            ErrorKind::Contention => (StatusCode::SERVICE_UNAVAILABLE, "contention, retry"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable, retry"),
            // Internal, and kinds a later library adds.
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        };
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Logged in full; the client learns nothing of the internals.
            tracing::error!(error = %detail, "internal error");
            "the server failed; the error is logged".to_owned()
        } else {
            detail
        };
        ApiError::new(status, title, detail).with("kind", format!("{kind:?}").to_lowercase())
    }

    /// A command's failure: a domain refusal names the command (and its
    /// message the state); a version conflict names both versions.
    pub fn from_exec<E: std::error::Error + Refusal + 'static>(error: ExecError<E>, command: &str) -> ApiError {
        let kind = error.kind();
        match error {
            ExecError::Domain(e) => ApiError::of_kind(kind, e.to_string()).with("command", command),
            ExecError::Store(e) => ApiError::from(e).with("command", command),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let problem = ApiError::of_kind(error.kind(), error.to_string());
        match error {
            StoreError::Conflict { kind, id, expected, actual } => problem
                .with("aggregate_kind", kind.as_str())
                .with("id", id)
                .with(
                    "expected_version",
                    match expected {
                        itsm_store::ExpectedVersion::Exact(v) => Value::from(v),
                        other => Value::from(other.to_string()),
                    },
                )
                .with("actual_version", actual),
            StoreError::NotFound { kind, id } => problem.with("aggregate_kind", kind).with("id", id),
            _ => problem,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            map.extend(self.extra);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
