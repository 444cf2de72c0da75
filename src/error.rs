//! The one error shape every route answers with:
//! `{"error": {"code", "message", "target"?}}` plus the code again in `x-ms-error-code`.

use crate::acs::AcsError;
use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use std::borrow::Cow;

/// Hint attached to ACS 401/403 answers; the token itself is never included.
const AUTHORIZATION_HINT: &str = "ACS refused the handler's credentials. Likely causes: the function \
app's managed identity has no role on the ACS resource (grant 'Communication and Email Service Owner' \
or Contributor at the resource scope; new assignments can take minutes to hours to apply), the \
access key of the connection string is wrong or was rotated, the endpoint names another resource, \
or, for SMS, the sender number is not owned by this resource.";

/// An error on its way to becoming a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub message: String,
    pub target: Option<String>,
    /// Seconds, or an HTTP date, copied into `Retry-After`.
    pub retry_after: Option<String>,
    /// What went wrong underneath, for the log line only; never sent to the caller.
    pub cause: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    error: Body<'a>,
    /// Members beside `error`, e.g. the per-recipient results of a send none of whose
    /// recipients was accepted.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    beside: Option<T>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            target: None,
            retry_after: None,
            cause: None,
        }
    }

    /// A 400 about one field of the request.
    pub fn invalid(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidRequest", message).with_target(target)
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn with_retry_after(mut self, retry_after: impl Into<String>) -> Self {
        self.retry_after = Some(retry_after.into());
        self
    }
}

impl From<AcsError> for ApiError {
    /// The upstream error table (also in the README):
    ///
    /// | ACS outcome | caller gets |
    /// |---|---|
    /// | 400 | 400 with ACS's code and message |
    /// | 401, 403 | 502 `AcsAuthorizationFailed` with a hint |
    /// | 404 | 404 with ACS's code (`IdentityNotFound`) |
    /// | 429 after retries | 503 `AcsThrottled` with `Retry-After` |
    /// | other 4xx | 502 `AcsRequestRejected` |
    /// | 503 with `Retry-After` | 503 `AcsUnavailable` with `Retry-After` |
    /// | other 5xx after retries, connection failure | 502 `AcsUnavailable` |
    /// | deadline passed | 504 `AcsTimeout` |
    /// | no token (managed identity down) | 503 `ManagedIdentityUnavailable` |
    /// | unreadable success body | 502 `AcsInvalidResponse` |
    fn from(error: AcsError) -> Self {
        // The cause is logged: upstream text may carry a recipient's number.
        let cause = Some(crate::redact::numbers(&error.to_string()));
        let mapped = match error {
            AcsError::Service {
                status: 400,
                code,
                message,
                target,
                ..
            } => {
                let error = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    code.unwrap_or_else(|| "AcsBadRequest".into()),
                    if message.is_empty() {
                        "ACS rejected the request".into()
                    } else {
                        message
                    },
                );
                ApiError { target, ..error }
            }
            AcsError::Service {
                status: 401 | 403, ..
            } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "AcsAuthorizationFailed",
                AUTHORIZATION_HINT,
            ),
            AcsError::Service {
                status: 404,
                code,
                message,
                ..
            } => ApiError::new(
                StatusCode::NOT_FOUND,
                code.unwrap_or_else(|| "NotFound".into()),
                if message.is_empty() {
                    "ACS has no such identity".into()
                } else {
                    message
                },
            ),
            AcsError::Service {
                status: 429,
                retry_after,
                ..
            } => {
                let error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "AcsThrottled",
                    "ACS is throttling this resource; retry later",
                );
                error.with_retry_after(retry_after.unwrap_or_else(|| "10".into()))
            }
            AcsError::Service { status, code, .. } if status < 500 => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "AcsRequestRejected",
                format!("ACS answered {status} {}", code.unwrap_or_default())
                    .trim_end()
                    .to_owned(),
            ),
            // ACS said when to come back: pass that on rather than a bare gateway failure.
            AcsError::Service {
                status: 503,
                retry_after: Some(retry_after),
                ..
            } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "AcsUnavailable",
                "ACS is temporarily unavailable; retry after the time in Retry-After",
            )
            .with_retry_after(retry_after),
            AcsError::Service { status, .. } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "AcsUnavailable",
                format!("ACS answered {status} after retries"),
            ),
            AcsError::Transport(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "AcsUnavailable",
                "ACS could not be reached after retries",
            ),
            AcsError::Timeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "AcsTimeout",
                "ACS did not answer within the request deadline",
            ),
            AcsError::Credential(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ManagedIdentityUnavailable",
                "no token for ACS could be obtained: from the app's managed identity in Azure, from \
                 the Azure CLI (az login) or Azure Developer CLI sign-in locally; retry later",
            )
            .with_retry_after("5"),
            AcsError::InvalidResponse(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "AcsInvalidResponse",
                "ACS answered with a body that could not be read",
            ),
        };
        ApiError { cause, ..mapped }
    }
}

/// Stored in the response extensions so the request-logging middleware can log the failure
/// once, where it became a response, with its cause.
#[derive(Debug, Clone)]
pub struct LoggedError {
    pub code: Cow<'static, str>,
    pub cause: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.respond(None::<()>)
    }
}

impl ApiError {
    /// The error response with the members of `beside` next to `error` in the body.
    pub fn into_response_with(self, beside: impl Serialize) -> Response {
        self.respond(Some(beside))
    }

    fn respond<T: Serialize>(self, beside: Option<T>) -> Response {
        let body = Envelope {
            error: Body {
                code: &self.code,
                message: &self.message,
                target: self.target.as_deref(),
            },
            beside,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Ok(code) = HeaderValue::from_str(&self.code) {
            headers.insert("x-ms-error-code", code);
        }
        if let Some(retry_after) = self
            .retry_after
            .as_deref()
            .and_then(|r| HeaderValue::from_str(r).ok())
        {
            headers.insert(header::RETRY_AFTER, retry_after);
        }
        response.extensions_mut().insert(LoggedError {
            code: self.code,
            cause: self.cause,
        });
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: Option<&str>) -> AcsError {
        AcsError::Service {
            status,
            code: code.map(str::to_owned),
            message: String::new(),
            target: None,
            retry_after: None,
        }
    }

    #[test]
    fn maps_every_upstream_outcome() {
        let cases: [(AcsError, u16, &str); 9] = [
            (
                service(400, Some("ValidationError")),
                400,
                "ValidationError",
            ),
            (
                service(401, Some("Unauthorized")),
                502,
                "AcsAuthorizationFailed",
            ),
            (service(403, None), 502, "AcsAuthorizationFailed"),
            (
                service(404, Some("IdentityNotFound")),
                404,
                "IdentityNotFound",
            ),
            (service(429, None), 503, "AcsThrottled"),
            (service(409, None), 502, "AcsRequestRejected"),
            (service(503, None), 502, "AcsUnavailable"),
            (AcsError::Timeout, 504, "AcsTimeout"),
            (
                AcsError::Credential("down".into()),
                503,
                "ManagedIdentityUnavailable",
            ),
        ];
        for (error, status, code) in cases {
            let mapped = ApiError::from(error.clone());
            assert_eq!(
                (mapped.status.as_u16(), mapped.code.as_ref()),
                (status, code),
                "{error:?}"
            );
        }
    }

    #[test]
    fn unavailable_with_retry_after_is_503_with_it() {
        let error = AcsError::Service {
            status: 503,
            code: None,
            message: String::new(),
            target: None,
            retry_after: Some("60".into()),
        };
        let response = ApiError::from(error).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "60");
        assert_eq!(response.headers()["x-ms-error-code"], "AcsUnavailable");
    }

    #[test]
    fn throttling_keeps_retry_after() {
        let error = AcsError::Service {
            status: 429,
            code: None,
            message: String::new(),
            target: None,
            retry_after: Some("7".into()),
        };
        let response = ApiError::from(error).into_response();
        assert_eq!(response.headers()["retry-after"], "7");
        assert_eq!(response.headers()["x-ms-error-code"], "AcsThrottled");
    }
}
