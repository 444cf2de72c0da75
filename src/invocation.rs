//! Payload mode: the host's JSON invocation (`POST /<FunctionName>`), translated into the very
//! request forwarding mode would have delivered, run through the same router, and answered as
//! `Outputs.res`.
//!
//! The host fails an invocation whose answer is not a 2xx JSON object (the caller then gets a
//! bare 500), and waits until the function timeout on an empty body or `null`. So every answer
//! here is a 200 JSON object, bad payloads included: their error travels in `Outputs.res`.

use crate::error::ApiError;
use axum::{
    Json, Router,
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::{collections::HashMap, time::Instant};
use tower::ServiceExt as _;

/// Largest invocation payload read. The host puts the body in it twice (`Data.req.Body` and,
/// JSON-encoded again, each top-level property in `Metadata`), and escaping can make each copy
/// a few times the size, so a body at our own limit needs well under 1 MiB. Only a body over
/// that limit makes a larger payload.
pub const PAYLOAD_LIMIT: usize = 1024 * 1024;

/// Function folder names and the routes they serve (`function.json` `route`, under `/api`).
pub const FUNCTIONS: [(&str, &str); 2] = [
    ("function-token", crate::routes::TOKEN_ROUTE),
    ("function-sms", crate::routes::SMS_ROUTE),
];

/// The HTTP trigger object, `Data.req`. Only the fields we use; the rest is ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HttpTrigger {
    method: String,
    #[serde(default)]
    query: HashMap<String, Value>,
    #[serde(default)]
    headers: HashMap<String, Value>,
    #[serde(default)]
    body: Option<Value>,
}

/// Answers one invocation of `function` by running the translated request through `api`.
pub async fn invoke(
    State(api): State<Router>,
    Path(function): Path<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let Some(route) = FUNCTIONS
        .iter()
        .find(|(name, _)| *name == function)
        .map(|(_, route)| *route)
    else {
        let error = ApiError::new(
            StatusCode::NOT_FOUND,
            "FunctionNotFound",
            "no function by that name",
        );
        let name: String = function
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        return refused(error, format!("no function named {name}")).await;
    };

    let translated = match translate(route, request).await {
        Ok(request) => request,
        Err(error) => {
            let log = format!(
                "invalid invocation payload for {function}: {}",
                error.message
            );
            return refused(error, log).await;
        }
    };
    let method = translated.method().clone();
    let response = match api.oneshot(translated).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let mut logs = vec![format!(
        "{method} {route} -> {} in {:.1} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    )];
    if let Some(code) = response
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
    {
        logs.push(format!("error code {code}"));
    }
    outputs(response, logs).await
}

/// Answers an invocation that never reached a route. Like every error it carries an
/// `x-ms-client-request-id`: minted, since the caller's could not be read.
async fn refused(error: ApiError, log: String) -> Response {
    let mut response = error.into_response();
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("x-ms-client-request-id", id);
    }
    outputs(response, vec![log]).await
}

/// Rebuilds the caller's request from `Data.req`.
async fn translate(route: &str, request: Request) -> Result<Request, ApiError> {
    let bytes = axum::body::to_bytes(request.into_body(), PAYLOAD_LIMIT)
        .await
        .map_err(|_| crate::extract::too_large())?;
    let payload: Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("payload is not JSON: {e}")))?;
    let req = field(&payload, "Data")
        .and_then(|data| field(data, "req"))
        .ok_or_else(|| invalid("payload has no Data.req"))?;
    let trigger: HttpTrigger =
        serde_json::from_value(req.clone()).map_err(|e| invalid(format!("Data.req: {e}")))?;

    let method = Method::from_bytes(trigger.method.as_bytes())
        .map_err(|_| invalid("Data.req.Method is not a method"))?;
    let uri = uri(route, &trigger.query)?;
    let mut builder = axum::http::Request::builder().method(method).uri(uri);
    let mut content_type = None;
    for (name, values) in &trigger.headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        // The body is rebuilt below; its length header would be stale.
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        for value in header_values(values) {
            if let Ok(value) = HeaderValue::from_str(&value) {
                if name == header::CONTENT_TYPE {
                    content_type = Some(value.to_str().unwrap_or("").to_ascii_lowercase());
                }
                builder = builder.header(&name, value);
            }
        }
    }

    // The host base64-encodes octet-stream and multipart bodies and UTF-8 decodes the rest.
    let body = match trigger.body {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => {
            let binary = content_type.as_deref().is_some_and(|t| {
                t.starts_with("application/octet-stream") || t.starts_with("multipart/")
            });
            if binary {
                base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|_| invalid("Data.req.Body is not base64"))?
            } else {
                text.into_bytes()
            }
        }
        // Some hosts hand over an already parsed JSON body.
        Some(other) => other.to_string().into_bytes(),
    };
    builder
        .body(Body::from(body))
        .map_err(|e| invalid(format!("cannot rebuild request: {e}")))
}

/// A payload the host would never send; answered inside `Outputs.res`.
fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "InvalidInvocation", message)
}

/// Top-level and binding names are matched case-insensitively, as the host binds them.
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn header_values(values: &Value) -> Vec<String> {
    match values {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Value::String(text) => vec![text.clone()],
        _ => Vec::new(),
    }
}

/// `route?k=v&...` from the `Query` object (values already comma-joined by the host).
fn uri(route: &str, query: &HashMap<String, Value>) -> Result<Uri, ApiError> {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    let mut keys: Vec<&String> = query.keys().collect();
    keys.sort();
    for key in keys {
        let value = match &query[key] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        serializer.append_pair(key, &value);
    }
    let query = serializer.finish();
    let text = if query.is_empty() {
        route.to_owned()
    } else {
        format!("{route}?{query}")
    };
    text.parse()
        .map_err(|_| invalid("Data.req.Query cannot form a URL"))
}

/// Wraps a route's response as `{"Outputs": {"res": ...}, "Logs": [...], "ReturnValue": null}`.
///
/// `statusCode` (never `status`, which the host ignores); header values as strings; the body as
/// the exact text the route produced, so the caller receives the same bytes as in forwarding
/// mode (the host appends `; charset=utf-8` to the media type).
async fn outputs(response: Response, logs: Vec<String>) -> Response {
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        if let Ok(value) = value.to_str() {
            // Repeated names: the host keeps the first.
            headers
                .entry(name.as_str().to_owned())
                .or_insert_with(|| Value::String(value.to_owned()));
        }
    }
    let res = json!({ "statusCode": parts.status.as_u16(), "headers": headers, "body": body });
    Json(json!({ "Outputs": { "res": res }, "Logs": logs, "ReturnValue": null })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_rebuilt_and_encoded() {
        let query: HashMap<String, Value> = [
            ("deleteIdentity".to_owned(), json!("true")),
            ("code".to_owned(), json!("a b&c")),
        ]
        .into();
        assert_eq!(
            uri("/api/token", &query).unwrap().to_string(),
            "/api/token?code=a+b%26c&deleteIdentity=true"
        );
        assert_eq!(
            uri("/api/sms", &HashMap::new()).unwrap().to_string(),
            "/api/sms"
        );
    }

    #[test]
    fn fields_match_case_insensitively() {
        let payload = json!({"data": {"REQ": {"Method": "POST"}}});
        assert!(
            field(&payload, "Data")
                .and_then(|d| field(d, "req"))
                .is_some()
        );
    }
}
