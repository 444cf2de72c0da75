//! What every ACS route shares: routing, `api-version`, error bodies and response headers.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::state::EmulatorState;
use super::{acs_identity, acs_sms};

/// The ACS routes. Authentication has already happened when a request gets here.
///
/// Paths are matched exactly: `//identities` is a 404, as a client must never produce it.
pub(super) fn router(state: EmulatorState) -> Router {
    Router::new()
        .route("/identities", post(acs_identity::create_identity))
        .route(
            "/identities/{id}",
            get(acs_identity::get_identity).delete(acs_identity::delete_identity),
        )
        // axum reserves a leading `:` in route segments, so `:issueAccessToken` and
        // `:revokeAccessTokens` are captured and dispatched by the handler.
        .route(
            "/identities/{id}/{action}",
            post(acs_identity::identity_action),
        )
        .route("/sms", post(acs_sms::send_sms))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found() -> AcsError {
    AcsError::new(404, "NotFound", "The requested resource was not found.")
}

async fn method_not_allowed() -> AcsError {
    AcsError::new(
        405,
        "MethodNotAllowed",
        "The HTTP method is not supported here.",
    )
}

/// The exact body ACS sends when `api-version` is missing (acs-rest.md §1).
const API_VERSION_UNSPECIFIED: &str = concat!(
    r#"{"error":{"code":"ApiVersionUnspecified","#,
    r#""message":"An API version is required, but was not specified.","innerError":null}}"#
);

/// The two API families, which version independently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Family {
    Identity,
    Sms,
}

impl Family {
    fn supported_versions(self) -> &'static [&'static str] {
        match self {
            Family::Identity => &[
                "2021-03-07",
                "2022-10-01",
                "2023-10-01",
                "2025-03-02-preview",
            ],
            Family::Sms => &["2021-03-07", "2026-01-23"],
        }
    }

    /// Adds `api-supported-versions`, which ACS returns on every answer (acs-rest.md §4).
    pub(super) fn finish(self, result: Result<Response<Body>, AcsError>) -> Response<Body> {
        let mut response = result.unwrap_or_else(IntoResponse::into_response);
        let versions = self.supported_versions().join(", ");
        if let Ok(value) = HeaderValue::from_str(&versions) {
            response
                .headers_mut()
                .insert("api-supported-versions", value);
        }
        response
    }

    /// The `api-version` of the request, if present and supported by this family.
    pub(super) fn api_version(self, query: Option<&str>) -> Result<&'static str, AcsError> {
        let requested = query.and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(key, _)| key == "api-version")
                .map(|(_, value)| value.into_owned())
        });
        let Some(requested) = requested else {
            return Err(AcsError::text(400, API_VERSION_UNSPECIFIED.to_owned()));
        };
        self.supported_versions()
            .iter()
            .find(|v| **v == requested)
            .copied()
            .ok_or_else(|| unsupported_version(&requested))
    }
}

/// The answer for an api-version this emulator (or this operation) does not implement.
pub(super) fn unsupported_version(version: &str) -> AcsError {
    AcsError::new(
        400,
        "UnsupportedApiVersion",
        &format!("The requested resource does not support API version '{version}'."),
    )
}

/// A JSON success answer with the content type ACS uses on success.
pub(super) fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A success answer without a body (204).
pub(super) fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// An error answer: a status and a JSON body in whichever shape the operation uses.
///
/// The body is kept as text so the common shapes keep the service's property order
/// (`code`, `message`, `target`); `serde_json::Value` would sort the keys.
#[derive(Debug)]
pub(super) struct AcsError {
    status: StatusCode,
    body: String,
}

impl AcsError {
    /// The Communication common shape `{"error":{"code","message"}}`.
    pub(super) fn new(status: u16, code: &str, message: &str) -> Self {
        let body = format!(
            r#"{{"error":{{"code":{},"message":{}}}}}"#,
            json!(code),
            json!(message)
        );
        AcsError::text(status, body)
    }

    /// The common shape with a `target` naming the offending field.
    pub(super) fn validation(message: &str, target: &str) -> Self {
        let body = format!(
            r#"{{"error":{{"code":"ValidationError","message":{},"target":{}}}}}"#,
            json!(message),
            json!(target)
        );
        AcsError::text(400, body)
    }

    /// Any body, for operations with their own error shapes (SMS validation).
    pub(super) fn raw(status: u16, body: Value) -> Self {
        AcsError::text(status, body.to_string())
    }

    fn text(status: u16, body: String) -> Self {
        AcsError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body,
        }
    }
}

impl IntoResponse for AcsError {
    fn into_response(self) -> axum::response::Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        // Errors carry plain `application/json`, unlike successes (acs-rest.md §4).
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Parses a JSON request body; an empty body counts as `{}` where `empty_ok` says so.
pub(super) fn parse_body(body: &[u8], empty_ok: bool) -> Result<Value, AcsError> {
    if body.iter().all(u8::is_ascii_whitespace) && empty_ok {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| {
        AcsError::new(
            400,
            "InvalidRequestBody",
            "The request body is not valid JSON.",
        )
    })
}

/// Decodes `%XX` escapes (not `+`, which is literal in paths). Invalid escapes are kept as-is.
pub(super) fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            // `from_str_radix` would accept a sign, so check the digits first.
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decode_handles_ids_and_bad_escapes() {
        assert_eq!(
            percent_decode("/identities/8%3Aacs%3Ax"),
            "/identities/8:acs:x"
        );
        assert_eq!(percent_decode("a+b%2"), "a+b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn api_version_is_required_and_checked() {
        assert!(
            Family::Sms
                .api_version(Some("api-version=2021-03-07"))
                .is_ok()
        );
        assert!(
            Family::Sms
                .api_version(Some("api-version=2023-10-01"))
                .is_err()
        );
        assert!(Family::Identity.api_version(None).is_err());
    }
}
