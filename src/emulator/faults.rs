//! Injected failures: throttling, slow answers, broken connections and broken bodies.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;

/// A failure to inject into exactly one future request that matches `target`.
#[derive(Clone, Debug)]
pub struct Fault {
    /// Which requests the fault may apply to.
    pub target: FaultTarget,
    /// What happens to the request.
    pub action: FaultAction,
}

/// Which server, and for ACS optionally which path, a [`Fault`] applies to.
#[derive(Clone, Debug)]
pub enum FaultTarget {
    /// Any request to the ACS API.
    Acs,
    /// An ACS request whose percent-decoded path starts with this prefix, e.g. `/sms`.
    AcsPath(String),
    /// Any request to the managed-identity endpoint.
    IdentityEndpoint,
}

/// What a [`Fault`] does to the request it applies to.
#[derive(Clone, Debug)]
pub enum FaultAction {
    /// Answer with this status without processing the request. `body` is sent as JSON when
    /// given; otherwise an ACS-shaped error body is generated.
    Status {
        status: u16,
        retry_after: Option<String>,
        body: Option<String>,
    },
    /// Wait, then process the request normally.
    Delay(Duration),
    /// Close the connection without answering and without processing.
    Reset,
    /// Process normally, then send only part of the body (with the real status).
    TruncatedJson,
    /// Process normally, then send the real status with the body `{not json`.
    MalformedJson,
    /// Process normally (an SMS does reach the outbox), then close without answering.
    ProcessThenDrop,
}

/// The two servers of an emulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Site {
    Acs,
    Identity,
}

impl FaultTarget {
    pub(super) fn matches(&self, site: Site, decoded_path: &str) -> bool {
        match self {
            FaultTarget::Acs => site == Site::Acs,
            FaultTarget::AcsPath(prefix) => site == Site::Acs && decoded_path.starts_with(prefix),
            FaultTarget::IdentityEndpoint => site == Site::Identity,
        }
    }
}

/// The answer for [`FaultAction::Status`].
pub(super) fn status_response(
    status: u16,
    retry_after: Option<&str>,
    body: Option<&str>,
) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match body {
        Some(body) => body.to_owned(),
        None => serde_json::json!({
            "error": { "code": error_code(status), "message": error_message(status) }
        })
        .to_string(),
    };

    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(v).ok()) {
        headers.insert(header::RETRY_AFTER, value);
    }
    response
}

/// Error codes in the style the ACS front end uses for these statuses.
fn error_code(status: StatusCode) -> String {
    match status.as_u16() {
        429 => "TooManyRequests".to_owned(),
        500 => "InternalError".to_owned(),
        503 => "ServiceUnavailable".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("Error")
            .replace([' ', '-'], ""),
    }
}

fn error_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        429 => "Rate limit exceeded. Try again later.",
        500 => "The server encountered an internal error.",
        503 => "The service is temporarily unavailable.",
        _ => "The request failed (injected fault).",
    }
}

/// Replaces a processed response's body according to a post-processing fault.
pub(super) async fn corrupt_body(response: Response<Body>, action: &FaultAction) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let bytes = match action {
        // Keep the first half so the client sees a plausible but unterminated document.
        FaultAction::TruncatedJson => bytes.slice(..bytes.len() / 2),
        FaultAction::MalformedJson => Bytes::from_static(b"{not json"),
        _ => bytes,
    };
    // The length is recomputed from the new body.
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}
