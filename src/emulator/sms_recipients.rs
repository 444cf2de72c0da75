//! The outcome of an SMS send for each recipient: number format, repeatability (acs-rest.md
//! §7.4), injected rejections, and delivery to the outbox.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use uuid::Uuid;

use super::acs_sms::{Recipient, SendRequest};
use super::state::{Data, EmulatorState, RepeatRecord, SentSms};
use super::timefmt;

/// How long a repeatability id is remembered, and how old `repeatabilityFirstSent` may be.
const REPEATABILITY_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How often expired repeatability records are swept out.
const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

const INVALID_TO: &str = "Invalid To phone number format.";
const INVALID_FIRST_SENT: &str = "Request sent with Invalid DateTime value for \
                                  repeatability-first-sent. Expected is DateTime ,RFC1123 pattern.";
const INVALID_REQUEST_ID: &str = "Request sent with Invalid value for repeatability-request-id. \
                                  Expected is a GUID.";
const FIRST_SENT_TOO_OLD: &str = "The repeatability-first-sent value is outside the 5 minute \
                                  repeatability window.";
const ID_REUSED: &str = "The repeatability-request-id was already used with a different \
                         request payload.";

/// E.164 (`^\+[1-9]\d{1,14}$`); numbers in the `+1` plan need exactly 10 national digits.
pub(super) fn is_phone_number(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('+') else {
        return false;
    };
    let well_formed = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    match digits.strip_prefix('1') {
        Some(national) if well_formed => national.len() == 10,
        _ => well_formed,
    }
}

/// Decides every recipient in request order and returns the response items. Accepted
/// messages go to the outbox, except replays of an earlier send.
pub(super) fn process(state: &EmulatorState, request: &SendRequest) -> Vec<Value> {
    let fingerprint = format!("{}\n{}", request.from, request.message);
    let mut sent = Vec::new();

    let items = {
        // One lock for the batch keeps repeatability lookups and inserts consistent.
        let mut data = state.data();
        prune_repeatability(&mut data);
        request
            .recipients
            .iter()
            .map(|recipient| decide(&mut data, request, recipient, &fingerprint, &mut sent))
            .collect()
    };

    for sms in sent {
        state.send_sms(sms);
    }
    items
}

fn decide(
    data: &mut Data,
    request: &SendRequest,
    recipient: &Recipient,
    fingerprint: &str,
    sent: &mut Vec<SentSms>,
) -> Value {
    let to = recipient.to.as_str();
    if !is_phone_number(to) {
        return failure(to, 400, INVALID_TO, None);
    }

    let request_id = recipient.repeatability_request_id.as_deref();
    if let Some(request_id) = request_id {
        if let Err((status, message)) = check_repeatability(recipient, request_id) {
            return failure(to, status, message, Some("rejected"));
        }
        let key = (to.to_owned(), request_id.to_owned());
        let remembered = data.repeatability.get(&key);
        if let Some(record) = remembered.filter(|r| r.seen_at.elapsed() < REPEATABILITY_WINDOW) {
            // Same id and payload: the original outcome again, and no second message.
            if record.fingerprint == fingerprint {
                return record.item.clone();
            }
            return failure(to, 400, ID_REUSED, Some("rejected"));
        }
    }

    if let Some((status, message)) = data.rejections.get(to) {
        return failure(to, *status, message, None);
    }

    let now = timefmt::now();
    let message_id = format!("Outgoing_{}{}_noam", timefmt::compact(now), Uuid::new_v4());
    let mut item = json!({
        "to": to,
        "messageId": message_id,
        "httpStatusCode": 202,
        "successful": true,
    });
    if let Some(request_id) = request_id {
        item["repeatabilityResult"] = json!("accepted");
        let record = RepeatRecord {
            seen_at: Instant::now(),
            fingerprint: fingerprint.to_owned(),
            item: item.clone(),
        };
        data.repeatability
            .insert((to.to_owned(), request_id.to_owned()), record);
    }

    sent.push(SentSms {
        from: request.from.clone(),
        to: to.to_owned(),
        message: request.message.clone(),
        message_id,
        tag: request.tag.clone(),
        enable_delivery_report: request.enable_delivery_report,
        repeatability_request_id: request_id.map(str::to_owned),
    });
    item
}

/// Forgets expired repeatability records. Lookups ignore expired records anyway, so this only
/// bounds memory, and it runs at most once per [`PRUNE_INTERVAL`]: scanning the whole map on
/// every send made a long benchmark run quadratic.
fn prune_repeatability(data: &mut Data) {
    if data
        .repeatability_pruned_at
        .is_some_and(|at| at.elapsed() < PRUNE_INTERVAL)
    {
        return;
    }
    data.repeatability
        .retain(|_, record| record.seen_at.elapsed() < REPEATABILITY_WINDOW);
    data.repeatability_pruned_at = Some(Instant::now());
}

/// Validates the repeatability pair: a GUID id and an RFC 1123 first-sent date inside the window.
fn check_repeatability(recipient: &Recipient, request_id: &str) -> Result<(), (u16, &'static str)> {
    if Uuid::parse_str(request_id).is_err() {
        return Err((400, INVALID_REQUEST_ID));
    }
    let first_sent = recipient
        .repeatability_first_sent
        .as_deref()
        .filter(|s| is_rfc1123_shape(s))
        .and_then(|s| httpdate::parse_http_date(s).ok())
        .ok_or((400, INVALID_FIRST_SENT))?;
    let age = SystemTime::now()
        .duration_since(first_sent)
        .unwrap_or_default();
    if age > REPEATABILITY_WINDOW {
        return Err((412, FIRST_SENT_TOO_OLD));
    }
    Ok(())
}

/// `Fri, 13 Jan 2023 15:07:28 GMT`: `httpdate` also takes the obsolete RFC 850 and asctime
/// forms, which the service refuses.
fn is_rfc1123_shape(value: &str) -> bool {
    value.len() == 29 && value.as_bytes().get(3) == Some(&b',') && value.ends_with(" GMT")
}

fn failure(to: &str, status: u16, message: &str, repeatability: Option<&str>) -> Value {
    let mut item = json!({
        "to": to,
        "httpStatusCode": status,
        "errorMessage": message,
        "successful": false,
    });
    if let Some(result) = repeatability {
        item["repeatabilityResult"] = json!(result);
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_follow_e164_and_the_north_american_plan() {
        assert!(is_phone_number("+11234567890"));
        assert!(is_phone_number("+447700900123"));
        assert!(!is_phone_number("+112345678901"));
        assert!(!is_phone_number("+1123456789"));
        assert!(!is_phone_number("11234567890"));
        assert!(!is_phone_number("+01234567890"));
        assert!(!is_phone_number("+1234567890123456"));
        assert!(!is_phone_number("+4477a0900123"));
    }

    #[test]
    fn only_imf_fixdate_counts_as_rfc1123() {
        assert!(is_rfc1123_shape("Fri, 13 Jan 2023 15:07:28 GMT"));
        assert!(!is_rfc1123_shape("Friday, 13-Jan-23 15:07:28 GMT"));
        assert!(!is_rfc1123_shape("2023-01-13T15:07:28Z"));
    }
}
