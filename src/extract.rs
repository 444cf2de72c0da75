//! Extractors that turn the raw request into checked input, answering bad input with an
//! [`ApiError`] that names the problem.

use crate::{acs::CallContext, error::ApiError};
use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

/// Largest request body accepted; ours are a few hundred bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A JSON body that may be absent: `None` when the request has no body at all.
///
/// Unlike axum's `Json`, every rejection is our error shape: 413 over [`BODY_LIMIT`], 415 for a
/// body that is not `application/json`, 400 with the line and column of a syntax error.
/// Unknown fields are ignored.
pub struct JsonBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap_or("").to_owned());
        let bytes = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| too_large())?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(None));
        }
        if !content_type.as_deref().is_some_and(is_json) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "the request body must be JSON with Content-Type: application/json",
            ));
        }
        // Both bodies are objects; serde would also read a struct from a positional array.
        // Text that is not JSON at all goes on to the parser, which says where it breaks.
        if bytes.trim_ascii_start().first() != Some(&b'{')
            && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidJson",
                "the request body must be a JSON object",
            ));
        }
        let mut json = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut json)
            .map_err(|e| json_error(&e.path().to_string(), e.into_inner()))?;
        // Trailing characters after the value are a syntax error, as `from_slice` has it.
        json.end().map_err(|e| json_error(".", e))?;
        Ok(JsonBody(Some(value)))
    }
}

/// The answer to a body over [`BODY_LIMIT`].
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PayloadTooLarge",
        format!("the request body exceeds {BODY_LIMIT} bytes"),
    )
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Names the field (its path, e.g. `to[1]`) when serde knows it, and always the position.
fn json_error(path: &str, error: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let position = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        Category::Data => {
            let text = error.to_string();
            let detail = text.split(" at line ").next().unwrap_or(&text);
            let api_error = ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                format!("invalid request body at {position}: {detail}"),
            );
            // The path is that of the value serde could not read; a missing field is named
            // only in the message, and the path is then its parent.
            let target = missing_field(detail).or((path != ".").then(|| path.to_owned()));
            match target {
                Some(target) => api_error.with_target(target),
                None => api_error,
            }
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidJson",
            format!("the request body is not valid JSON ({position})"),
        ),
    }
}

/// serde names a missing field as "missing field `x`"; pick out `x`.
fn missing_field(detail: &str) -> Option<String> {
    let name = detail.strip_prefix("missing field `")?;
    Some(name[..name.find('`')?].to_owned())
}

/// The caller's correlation headers: `x-ms-client-request-id` (echoed, or minted) and
/// `traceparent` (continued to ACS; a new trace when absent or malformed).
impl<S: Send + Sync> FromRequestParts<S> for CallContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CallContext>()
            .cloned()
            .unwrap_or_else(|| call_context(parts)))
    }
}

/// Reads the correlation headers; the request-logging middleware calls it once per request.
pub fn call_context(parts: &Parts) -> CallContext {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let client_request_id = header("x-ms-client-request-id")
        .filter(|id| valid_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let incoming = header("traceparent").filter(|t| valid_traceparent(t));
    CallContext {
        client_request_id: Some(client_request_id),
        traceparent: Some(continue_trace(incoming)),
    }
}

/// The `traceparent` for our calls to ACS: the caller's trace id and flags with a new parent id
/// (our span), or a new trace when the caller sent none.
pub fn continue_trace(incoming: Option<&str>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    let span_id = &random[..16];
    match incoming {
        Some(traceparent) => {
            // `valid_traceparent` vouched for the layout `00-<32>-<16>-<2>`.
            let trace_id = &traceparent[3..35];
            let flags = &traceparent[53..55];
            format!("00-{trace_id}-{span_id}-{flags}")
        }
        None => format!("00-{}-{span_id}-00", uuid::Uuid::new_v4().simple()),
    }
}

fn valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all zero.
fn valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/jsonx"));
    }

    #[test]
    fn traceparent_must_be_well_formed() {
        assert!(valid_traceparent(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ));
        assert!(!valid_traceparent(
            "00-00000000000000000000000000000000-b7ad6b7169203331-01"
        ));
        assert!(!valid_traceparent(
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        ));
        assert!(!valid_traceparent(
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"
        ));
        assert!(!valid_traceparent("garbage"));
    }

    #[test]
    fn traces_are_continued_with_a_new_parent() {
        let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let outgoing = continue_trace(Some(incoming));
        assert!(valid_traceparent(&outgoing), "{outgoing}");
        assert_eq!(&outgoing[..36], &incoming[..36], "same trace id");
        assert_ne!(&outgoing[36..52], &incoming[36..52], "our own span id");
        assert!(outgoing.ends_with("-01"));
        let fresh = continue_trace(None);
        assert!(
            valid_traceparent(&fresh) && fresh.ends_with("-00"),
            "{fresh}"
        );
    }

    #[test]
    fn request_ids_are_bounded_and_plain() {
        assert!(valid_request_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
        assert!(!valid_request_id(&"a".repeat(65)));
        assert!(!valid_request_id("a\r\nb"));
        assert!(!valid_request_id(""));
    }

    #[test]
    fn data_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            message: String,
        }
        let read = |json: &str| {
            let mut deserializer = serde_json::Deserializer::from_str(json);
            let error = serde_path_to_error::deserialize::<_, Body>(&mut deserializer).unwrap_err();
            json_error(&error.path().to_string(), error.into_inner())
        };
        let error = read("{}");
        assert_eq!(error.target.as_deref(), Some("message"));
        assert!(
            error.message.contains("line 1 column 2"),
            "{}",
            error.message
        );
        assert_eq!(
            read("{\"message\": true}").target.as_deref(),
            Some("message")
        );
        assert_eq!(read("{\"message\": ").code, "InvalidJson");
    }
}
