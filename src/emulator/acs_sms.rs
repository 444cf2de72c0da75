//! `POST /sms` (acs-rest.md §7.2): validation (`sms_validation`), sender ownership, then one
//! outcome per recipient (`sms_recipients`).

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::Response;
use bytes::Bytes;
use serde_json::json;
use uuid::Uuid;

use super::acs_common::{AcsError, Family, json_response};
use super::sms_recipients;
use super::sms_validation::{Errors, validate};
use super::state::EmulatorState;

/// A send request that passed validation.
pub(super) struct SendRequest {
    pub from: String,
    pub recipients: Vec<Recipient>,
    pub message: String,
    pub tag: Option<String>,
    pub enable_delivery_report: bool,
}

/// One entry of `smsRecipients`.
pub(super) struct Recipient {
    pub to: String,
    pub repeatability_request_id: Option<String>,
    pub repeatability_first_sent: Option<String>,
}

/// `POST /sms?api-version=…`: 202 with one item per recipient, even when some fail.
pub(super) async fn send_sms(
    State(state): State<EmulatorState>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response<Body> {
    Family::Sms.finish(send(&state, query.as_deref(), &body))
}

fn send(
    state: &EmulatorState,
    query: Option<&str>,
    body: &[u8],
) -> Result<Response<Body>, AcsError> {
    let version = Family::Sms.api_version(query)?;
    let request = validate(body, version).map_err(|errors| validation_error(errors, version))?;

    // Format problems are 400s; a well-formed sender the resource does not own is a 401.
    if !state.config().owned_senders.contains(&request.from) {
        return Err(AcsError::new(401, "Unauthorized", ""));
    }

    let items = sms_recipients::process(state, &request);
    Ok(json_response(202, &json!({ "value": items })))
}

/// Renders validation errors in the style of the api-version: a bare dictionary in 2021-03-07
/// (acs-rest.md §5), RFC 7807 problem details in 2026-01-23.
fn validation_error(errors: Errors, version: &str) -> AcsError {
    if version == "2021-03-07" {
        return AcsError::raw(400, json!(errors));
    }
    let trace_id = format!(
        "00-{}-{}-00",
        Uuid::new_v4().simple(),
        &Uuid::new_v4().simple().to_string()[..16]
    );
    AcsError::raw(
        400,
        json!({
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.",
            "status": 400,
            "errors": errors,
            "traceId": trace_id,
        }),
    )
}
