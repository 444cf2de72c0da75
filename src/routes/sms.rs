//! `POST /api/sms`: one message to one or more recipients, with per-recipient results.

use super::AppState;
use crate::{
    acs::{
        AcsError, CallContext,
        sms::{Recipient, SendMessage, SendOptions, SendResult},
    },
    error::ApiError,
    extract::JsonBody,
    limits,
    phone::PhoneNumber,
    sender::Sender,
    sms_text::{self, Encoding, MAX_MESSAGE_UNITS},
};
use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};
use uuid::Uuid;

/// Namespace of the UUIDv5 ids derived from a caller's `Repeatability-Request-ID`.
const REPEATABILITY_NAMESPACE: Uuid = Uuid::from_u128(0x6d1c_54a2_8f3e_4b59_9a57_2c1e_0f4d_8b31);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsRequest {
    to: Option<To>,
    message: Option<String>,
    from: Option<String>,
    enable_delivery_report: Option<bool>,
    tag: Option<String>,
    delivery_report_timeout_in_seconds: Option<serde_json::Value>,
}

/// `"to"` may be one number or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum To {
    One(String),
    Many(Vec<String>),
}

/// One recipient's outcome.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientResult {
    to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    successful: bool,
    http_status_code: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repeatability_result: Option<String>,
    segments: usize,
    encoding: Encoding,
}

/// A send, checked and ready for ACS.
struct CheckedSend {
    from: Sender,
    recipients: Vec<PhoneNumber>,
    message: String,
    enable_delivery_report: bool,
    tag: Option<String>,
}

/// Sends the message and answers 202 when every recipient was accepted, 207 when some were,
/// and 400 or 502 (with the results) when none was.
pub async fn send_sms(
    State(state): State<Arc<AppState>>,
    cx: CallContext,
    headers: HeaderMap,
    uri: Uri,
    JsonBody(body): JsonBody<SmsRequest>,
) -> Result<Response, ApiError> {
    let body = body.ok_or_else(|| {
        ApiError::invalid(
            "body",
            "a JSON body with \"to\" and \"message\" is required",
        )
    })?;
    let send = check(body, &state.settings.sms)?;
    let repeatability = Repeatability::from_headers(&headers)?;
    let caller = limits::caller_key(&headers, &uri, state.settings.trust_client_principal);
    let admission = state.sms_limits.admit(&caller, &send.recipients)?;

    // Recipients over their number's limit are reported, not sent.
    let admitted: Vec<&PhoneNumber> = send
        .recipients
        .iter()
        .zip(&admission.limited)
        .filter(|(_, limited)| limited.is_none())
        .map(|(to, _)| to)
        .collect();
    let recipients: Vec<Recipient> = admitted
        .iter()
        .map(|to| repeatability.recipient(to))
        .collect();
    let message = SendMessage {
        from: send.from.as_str(),
        sms_recipients: recipients,
        message: &send.message,
        sms_send_options: SendOptions {
            enable_delivery_report: send.enable_delivery_report,
            tag: send.tag.as_deref(),
        },
    };
    // From here on ACS may have sent: every answer carries the repeatability pair.
    let unclear = |error: AcsError| {
        let mut response = ApiError::from(error).into_response();
        repeatability.annotate(&mut response);
        Ok(response)
    };
    let items = match state.acs.send_sms(&cx, &message).await {
        Ok(items) => items,
        Err(error) => {
            // A send that certainly went nowhere uses up no one's budget.
            if error.had_no_effect() {
                state.sms_limits.give_back(&admission, admitted);
            }
            return unclear(error);
        }
    };
    // Nor does a recipient ACS refused; one it failed with a 5xx may yet have been sent.
    let refused = admitted
        .iter()
        .zip(&items)
        .filter(|(_, item)| !item.accepted() && (400..500).contains(&item.http_status_code));
    state
        .sms_limits
        .give_back(&admission, refused.map(|(to, _)| *to));
    let mut items = items.into_iter();

    let segmentation = sms_text::segment(&send.message);
    let results: Option<Vec<RecipientResult>> = send
        .recipients
        .iter()
        .zip(admission.limited)
        .map(|(to, limited)| match limited {
            None => items.next().map(|item| result(to, item, segmentation)),
            Some(wait) => Some(rate_limited(to, wait, segmentation)),
        })
        .collect();
    // `send_sms` answers one item per recipient sent, so this cannot happen.
    let Some(results) = results else {
        return unclear(AcsError::InvalidResponse("too few results".into()));
    };
    let accepted = results.iter().filter(|r| r.successful).count();
    tracing::Span::current()
        .record("sms.recipients", results.len())
        .record("sms.accepted", accepted)
        .record("sms.segments", segmentation.segments);
    let mut response = respond(results, accepted);
    repeatability.annotate(&mut response);
    Ok(response)
}

fn result(
    to: &PhoneNumber,
    item: SendResult,
    segmentation: sms_text::Segmentation,
) -> RecipientResult {
    let successful = item.accepted();
    let error_message = match (&item.error_message, successful) {
        (Some(message), _) => Some(message.clone()),
        (None, false) => Some("ACS did not accept this recipient".to_owned()),
        (None, true) => None,
    };
    RecipientResult {
        to: to.as_str().to_owned(),
        message_id: item.message_id.filter(|_| successful),
        successful,
        http_status_code: item.http_status_code,
        error_message,
        repeatability_result: item.repeatability_result,
        segments: segmentation.segments,
        encoding: segmentation.encoding,
    }
}

/// A recipient left out of the send because its number had too many messages this hour.
fn rate_limited(
    to: &PhoneNumber,
    wait: Duration,
    segmentation: sms_text::Segmentation,
) -> RecipientResult {
    RecipientResult {
        to: to.as_str().to_owned(),
        message_id: None,
        successful: false,
        http_status_code: StatusCode::TOO_MANY_REQUESTS.as_u16(),
        error_message: Some(format!(
            "not sent: this number has had too many messages \
             (SMS_LIMIT_PER_NUMBER_PER_HOUR); retry in {} s",
            limits::retry_seconds(wait)
        )),
        repeatability_result: None,
        segments: segmentation.segments,
        encoding: segmentation.encoding,
    }
}

/// The body of a send that reached ACS.
#[derive(Serialize)]
struct Results {
    results: Vec<RecipientResult>,
}

fn respond(results: Vec<RecipientResult>, accepted: usize) -> Response {
    if accepted == results.len() {
        return (StatusCode::ACCEPTED, Json(Results { results })).into_response();
    }
    if accepted > 0 {
        return (StatusCode::MULTI_STATUS, Json(Results { results })).into_response();
    }
    let all_client_errors = results
        .iter()
        .all(|r| (400..500).contains(&r.http_status_code));
    let status = if all_client_errors {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::BAD_GATEWAY
    };
    ApiError::new(
        status,
        "NoRecipientAccepted",
        "ACS accepted none of the recipients; see results",
    )
    .into_response_with(Results { results })
}

/// Applies every local rule, so a send that breaks one costs no ACS call.
fn check(body: SmsRequest, settings: &crate::config::SmsSettings) -> Result<CheckedSend, ApiError> {
    if body.delivery_report_timeout_in_seconds.is_some() {
        return Err(ApiError::invalid(
            "deliveryReportTimeoutInSeconds",
            format!(
                "deliveryReportTimeoutInSeconds needs SMS api-version 2026-01-23; this handler speaks {}",
                crate::acs::sms::API_VERSION
            ),
        ));
    }

    let numbers = match body.to {
        None => {
            return Err(ApiError::invalid(
                "to",
                "\"to\" is required: a phone number or a list of them",
            ));
        }
        Some(To::One(number)) => vec![number],
        Some(To::Many(numbers)) => numbers,
    };
    let mut recipients: Vec<PhoneNumber> = Vec::with_capacity(numbers.len());
    for (index, raw) in numbers.iter().enumerate() {
        let number = PhoneNumber::parse(raw).map_err(|e| {
            ApiError::invalid(format!("to[{index}]"), format!("recipient {index} {e}"))
        })?;
        if !recipients.contains(&number) {
            recipients.push(number);
        }
    }
    if recipients.is_empty() {
        return Err(ApiError::invalid(
            "to",
            "\"to\" must name at least one recipient",
        ));
    }
    if recipients.len() > settings.max_recipients {
        return Err(ApiError::invalid(
            "to",
            format!(
                "at most {} recipients per request (SMS_MAX_RECIPIENTS)",
                settings.max_recipients
            ),
        ));
    }

    let message = body.message.unwrap_or_default();
    let units = sms_text::utf16_len(&message);
    if units == 0 || units > MAX_MESSAGE_UNITS {
        return Err(ApiError::invalid(
            "message",
            format!(
                "message must be 1 to {MAX_MESSAGE_UNITS} characters (UTF-16 code units); got {units}"
            ),
        ));
    }

    let from = match body.from {
        Some(raw) => {
            let from = Sender::parse(&raw).map_err(|e| ApiError::invalid("from", e))?;
            if !settings.allowed_senders.contains(&from) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "SenderNotAllowed",
                    "this sender is not in SMS_ALLOWED_SENDERS",
                )
                .with_target("from"));
            }
            from
        }
        None => settings.from.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SenderNotConfigured",
                "the app setting SMS_FROM is not set",
            )
        })?,
    };

    if let Some(codes) = &settings.allowed_country_codes {
        for (index, number) in recipients.iter().enumerate() {
            if !codes
                .iter()
                .any(|code| number.digits().starts_with(code.as_str()))
            {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "DestinationNotAllowed",
                    format!(
                        "recipient {index}: destination country is not in SMS_ALLOWED_COUNTRY_CODES"
                    ),
                )
                .with_target(format!("to[{index}]")));
            }
        }
    }

    Ok(CheckedSend {
        from,
        recipients,
        message,
        enable_delivery_report: body.enable_delivery_report.unwrap_or(false),
        tag: body.tag,
    })
}

/// The request-level repeatability pair every recipient's pair derives from.
///
/// It comes from the caller's `Repeatability-Request-ID` and `Repeatability-First-Sent`, or is
/// minted once for this request. Either way it is echoed on the response, so a caller whose
/// request ended without a clear outcome (a 502 or 504 after ACS may have sent) can resend the
/// same request with these headers and ACS de-duplicates it.
struct Repeatability {
    request_id: String,
    /// IMF-fixdate.
    first_sent: String,
}

impl Repeatability {
    fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let get = |name: &str| headers.get(name).map(|v| v.to_str().map(str::trim));
        match (
            get("repeatability-request-id"),
            get("repeatability-first-sent"),
        ) {
            (None, None) => Ok(Repeatability {
                request_id: Uuid::new_v4().to_string(),
                first_sent: httpdate::fmt_http_date(SystemTime::now()),
            }),
            (Some(Ok(id)), Some(Ok(date))) => {
                if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(ApiError::invalid(
                        "Repeatability-Request-ID",
                        "must be 1 to 64 visible ASCII characters, e.g. a UUID",
                    ));
                }
                let sent = httpdate::parse_http_date(date).map_err(|_| {
                    ApiError::invalid(
                        "Repeatability-First-Sent",
                        "must be an HTTP date, e.g. Fri, 13 Jan 2023 15:07:32 GMT",
                    )
                })?;
                Ok(Repeatability {
                    request_id: id.to_owned(),
                    first_sent: httpdate::fmt_http_date(sent),
                })
            }
            (Some(_), _) => Err(ApiError::invalid(
                "Repeatability-First-Sent",
                "Repeatability-Request-ID and Repeatability-First-Sent go together",
            )),
            (None, Some(_)) => Err(ApiError::invalid(
                "Repeatability-Request-ID",
                "Repeatability-Request-ID and Repeatability-First-Sent go together",
            )),
        }
    }

    /// The recipient's own pair: a UUIDv5 of the request id and the number, so the same
    /// request always yields the same ids, and two recipients never share one.
    fn recipient(&self, to: &PhoneNumber) -> Recipient {
        let name = format!("{}\n{to}", self.request_id);
        Recipient {
            to: to.as_str().to_owned(),
            repeatability_request_id: Uuid::new_v5(&REPEATABILITY_NAMESPACE, name.as_bytes())
                .to_string(),
            repeatability_first_sent: self.first_sent.clone(),
        }
    }

    /// Echoes the pair on the response.
    fn annotate(&self, response: &mut Response) {
        let headers = response.headers_mut();
        for (name, value) in [
            ("repeatability-request-id", &self.request_id),
            ("repeatability-first-sent", &self.first_sent),
        ] {
            if let Ok(value) = value.parse() {
                headers.insert(name, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn caller_repeatability_is_deterministic_per_recipient() {
        let h = headers(&[
            (
                "repeatability-request-id",
                "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            ),
            ("repeatability-first-sent", "Fri, 13 Jan 2023 15:07:32 GMT"),
        ]);
        let a = PhoneNumber::parse("+14255550100").unwrap();
        let b = PhoneNumber::parse("+14255550101").unwrap();
        let first = Repeatability::from_headers(&h).unwrap();
        let again = Repeatability::from_headers(&h).unwrap();
        assert_eq!(first.recipient(&a), again.recipient(&a));
        assert_ne!(
            first.recipient(&a).repeatability_request_id,
            first.recipient(&b).repeatability_request_id
        );
        assert_eq!(
            first.recipient(&a).repeatability_first_sent,
            "Fri, 13 Jan 2023 15:07:32 GMT"
        );
    }

    #[test]
    fn each_request_mints_its_own_pair() {
        let a = PhoneNumber::parse("+14255550100").unwrap();
        let first = Repeatability::from_headers(&HeaderMap::new()).unwrap();
        let second = Repeatability::from_headers(&HeaderMap::new()).unwrap();
        assert_eq!(first.recipient(&a), first.recipient(&a));
        assert_ne!(
            first.recipient(&a).repeatability_request_id,
            second.recipient(&a).repeatability_request_id
        );
        assert!(httpdate::parse_http_date(&first.recipient(&a).repeatability_first_sent).is_ok());
    }

    #[test]
    fn half_or_malformed_headers_are_rejected() {
        let only_id = headers(&[("repeatability-request-id", "abc")]);
        assert!(Repeatability::from_headers(&only_id).is_err());
        let bad_date = headers(&[
            ("repeatability-request-id", "abc"),
            ("repeatability-first-sent", "yesterday"),
        ]);
        let err = Repeatability::from_headers(&bad_date).err().unwrap();
        assert_eq!(err.target.as_deref(), Some("Repeatability-First-Sent"));
    }
}
