//! The HTTP surface: the routes of both functions, readiness, and per-request logging.

mod sms;
mod token;

use crate::{
    acs::AcsClient,
    config::Settings,
    error::{ApiError, LoggedError},
    extract::call_context,
};
use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::{HeaderValue, StatusCode},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};
use std::{sync::Arc, time::Instant};
use tracing::Instrument;

/// What every route shares; built once at start-up.
#[derive(Debug)]
pub struct AppState {
    pub settings: Settings,
    pub acs: AcsClient,
    pub sms_limits: crate::limits::SmsLimits,
}

/// Both modes: forwarding (`/api/...`, the request as the caller sent it) and payload
/// (`POST /<FunctionName>`, a JSON invocation translated into the same request).
pub fn router(state: Arc<AppState>) -> Router {
    let api = api_router(state);
    let invocations = Router::new()
        .route("/{function}", post(crate::invocation::invoke))
        .with_state(api.clone());
    api.merge(invocations)
}

/// The routes of both functions under the host's `/api` prefix, as `function.json` names them.
pub const TOKEN_ROUTE: &str = "/api/token";
pub const SMS_ROUTE: &str = "/api/sms";

/// The router of forwarding mode: the host sends each request to its original `/api/...` path.
pub fn api_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(ready))
        .route(
            TOKEN_ROUTE,
            post(token::issue_token).delete(token::revoke_tokens),
        )
        .route(SMS_ROUTE, post(sms::send_sms))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(trace_request))
        .with_state(state)
}

/// Gives a function's path its canonical spelling before routing.
///
/// The host matches routes case-insensitively, ignoring one trailing slash, and forwards the
/// path as the caller wrote it: `/API/Token/` reaches us after the host accepted it as
/// `/api/token`, and must not end in a 404 here.
pub fn canonical_path(mut request: Request) -> Request {
    let path = request.uri().path();
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let Some(route) = [TOKEN_ROUTE, SMS_ROUTE]
        .into_iter()
        .find(|route| route.eq_ignore_ascii_case(trimmed) && *route != path)
    else {
        return request;
    };
    let rebuilt = match request.uri().query() {
        Some(query) => format!("{route}?{query}"),
        None => route.to_owned(),
    };
    if let Ok(uri) = rebuilt.parse() {
        *request.uri_mut() = uri;
    }
    request
}

/// The host's readiness probe (`GET /` every 25 ms until any answer).
async fn ready() -> StatusCode {
    StatusCode::OK
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "this route does not take that method",
    )
}

/// One span per request, one log line when it completes, and the failure logged once, here,
/// where it became a response. The caller's `x-ms-client-request-id` is echoed back.
async fn trace_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (mut parts, body) = request.into_parts();
    let cx = call_context(&parts);
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        http.method = %parts.method,
        http.route = %route,
        client_request_id = cx.client_request_id.as_deref().unwrap_or(""),
        trace_id = cx.traceparent.as_deref().and_then(|t| t.get(3..35)).unwrap_or(""),
        // Filled in by `POST /api/sms` once ACS has answered, so the request's one line says
        // what became of the send.
        sms.recipients = tracing::field::Empty,
        sms.accepted = tracing::field::Empty,
        sms.segments = tracing::field::Empty,
    );
    let readiness = route == "/";
    parts.extensions.insert(cx.clone());

    let mut response = next
        .run(Request::from_parts(parts, body))
        .instrument(span.clone())
        .await;

    if let Some(id) = cx
        .client_request_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        response.headers_mut().insert("x-ms-client-request-id", id);
    }
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let _entered = span.enter();
    match response.extensions().get::<LoggedError>() {
        Some(error) if status >= 500 => tracing::error!(
            http.status_code = status,
            duration_ms,
            error.code = %error.code,
            error.cause = error.cause.as_deref().unwrap_or(""),
            "request failed"
        ),
        Some(error) => {
            tracing::info!(http.status_code = status, duration_ms, error.code = %error.code, "request rejected")
        }
        None if readiness => {
            tracing::debug!(http.status_code = status, duration_ms, "readiness probe")
        }
        None => tracing::info!(http.status_code = status, duration_ms, "request completed"),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(uri: &str) -> String {
        let request = Request::builder()
            .uri(uri)
            .body(Default::default())
            .unwrap();
        canonical_path(request).uri().to_string()
    }

    #[test]
    fn function_paths_are_matched_as_the_host_matches_them() {
        assert_eq!(canonical("/API/Token"), "/api/token");
        assert_eq!(canonical("/api/sms/"), "/api/sms");
        assert_eq!(
            canonical("/Api/Token/?deleteIdentity=true"),
            "/api/token?deleteIdentity=true"
        );
        assert_eq!(canonical("/api/token"), "/api/token");
        for other in ["/api/tokens", "/api/token//", "/", "/function-sms", "/api"] {
            assert_eq!(canonical(other), other);
        }
    }
}
