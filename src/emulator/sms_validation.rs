//! Request-level validation of `POST /sms` bodies, reported field by field as ASP.NET model
//! validation does (acs-rest.md §5, §7.2, §7.3).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::acs_sms::{Recipient, SendRequest};
use super::sms_recipients::is_phone_number;

/// The most recipients one request may carry.
const MAX_RECIPIENTS: usize = 100;
/// The longest message, counted in UTF-16 code units as .NET counts string length.
const MAX_MESSAGE_LENGTH: usize = 2048;

/// Field name → messages.
pub(super) type Errors = BTreeMap<String, Vec<String>>;

fn add(errors: &mut Errors, field: &str, message: &str) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(message.to_owned());
}

/// Checks the whole body and reports every problem at once, as the service does.
pub(super) fn validate(body: &[u8], version: &str) -> Result<SendRequest, Errors> {
    let mut errors = Errors::new();
    let body = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        _ => {
            add(
                &mut errors,
                "$",
                "The request body is not a valid JSON object.",
            );
            return Err(errors);
        }
    };

    let from = required_string(&body, "from", "From", &mut errors);
    if let Some(from) = &from
        && !is_sender(from)
    {
        add(&mut errors, "From", "Invalid From phone number format");
    }

    let message = required_string(&body, "message", "Message", &mut errors);
    if let Some(message) = &message
        && message.encode_utf16().count() > MAX_MESSAGE_LENGTH
    {
        let text = format!(
            "The field Message must be a string or array type with a maximum length of \
             '{MAX_MESSAGE_LENGTH}'."
        );
        add(&mut errors, "Message", &text);
    }

    let recipients = recipients(&body, &mut errors);
    let (enable_delivery_report, tag) = send_options(&body, version, &mut errors);

    match (from, message, recipients) {
        (Some(from), Some(message), Some(recipients)) if errors.is_empty() => Ok(SendRequest {
            from,
            recipients,
            message,
            tag,
            enable_delivery_report,
        }),
        _ => Err(errors),
    }
}

/// A required, non-empty string property; ASP.NET's `[Required]` also refuses `""`.
fn required_string(
    body: &Map<String, Value>,
    name: &str,
    field: &str,
    errors: &mut Errors,
) -> Option<String> {
    match body.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) | Some(Value::Null) | None => {
            add(errors, field, &format!("The {field} field is required."));
            None
        }
        Some(_) => {
            add(errors, field, &format!("The {field} field is invalid."));
            None
        }
    }
}

fn recipients(body: &Map<String, Value>, errors: &mut Errors) -> Option<Vec<Recipient>> {
    let items = match body.get("smsRecipients") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) | Some(Value::Null) | None => {
            add(
                errors,
                "SmsRecipients",
                "The SmsRecipients field is required.",
            );
            return None;
        }
        Some(_) => {
            add(
                errors,
                "SmsRecipients",
                "The SmsRecipients field is invalid.",
            );
            return None;
        }
    };
    if items.len() > MAX_RECIPIENTS {
        let text = format!("Max of {MAX_RECIPIENTS} phone numbers are allowed in the To field.");
        add(errors, "SmsRecipients", &text);
        return None;
    }

    let mut recipients = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let prefix = format!("SmsRecipients[{index}]");
        let Value::Object(item) = item else {
            add(errors, &prefix, "The recipient is invalid.");
            continue;
        };
        let to = required_string(item, "to", &format!("{prefix}.To"), errors);
        let id = optional_string(item, "repeatabilityRequestId", &prefix, errors);
        let first_sent = optional_string(item, "repeatabilityFirstSent", &prefix, errors);
        if let Some(to) = to {
            recipients.push(Recipient {
                to,
                repeatability_request_id: id,
                repeatability_first_sent: first_sent,
            });
        }
    }
    Some(recipients)
}

fn optional_string(
    item: &Map<String, Value>,
    name: &str,
    prefix: &str,
    errors: &mut Errors,
) -> Option<String> {
    match item.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            add(errors, &format!("{prefix}.{name}"), "The value is invalid.");
            None
        }
    }
}

/// `smsSendOptions`: optional, but when present `enableDeliveryReport` is required.
/// `deliveryReportTimeoutInSeconds` exists only in 2026-01-23.
fn send_options(
    body: &Map<String, Value>,
    version: &str,
    errors: &mut Errors,
) -> (bool, Option<String>) {
    let options = match body.get("smsSendOptions") {
        None | Some(Value::Null) => return (false, None),
        Some(Value::Object(options)) => options,
        Some(_) => {
            add(
                errors,
                "SmsSendOptions",
                "The SmsSendOptions field is invalid.",
            );
            return (false, None);
        }
    };

    let enable = match options.get("enableDeliveryReport") {
        Some(Value::Bool(enable)) => *enable,
        None | Some(Value::Null) => {
            let text = "The EnableDeliveryReport field is required.";
            add(errors, "SmsSendOptions.EnableDeliveryReport", text);
            false
        }
        Some(_) => {
            let text = "The EnableDeliveryReport field is invalid.";
            add(errors, "SmsSendOptions.EnableDeliveryReport", text);
            false
        }
    };
    let tag = optional_string(options, "tag", "SmsSendOptions", errors);

    if let Some(timeout) = options
        .get("deliveryReportTimeoutInSeconds")
        .filter(|v| !v.is_null())
    {
        let field = "SmsSendOptions.DeliveryReportTimeoutInSeconds";
        if version == "2021-03-07" {
            add(
                errors,
                field,
                "DeliveryReportTimeoutInSeconds is not supported in 2021-03-07.",
            );
        } else if !timeout.as_i64().is_some_and(|t| (60..=43200).contains(&t)) {
            add(
                errors,
                field,
                "The field DeliveryReportTimeoutInSeconds must be between 60 and 43200.",
            );
        }
    }
    (enable, tag)
}

/// A valid sender: E.164 number, 5–6 digit short code, or alphanumeric sender id (1–11 of
/// `A-Z a-z 0-9`, space, `+ - _ &`, at least one letter) per acs-rest.md §7.3.
fn is_sender(from: &str) -> bool {
    let short_code = (5..=6).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&from.len())
        && from.bytes().any(|b| b.is_ascii_alphabetic())
        && from
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" +-_&".contains(&b));
    is_phone_number(from) || short_code || alphanumeric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_of_every_kind_are_recognised() {
        assert!(is_sender("+18005550100"));
        assert!(is_sender("12345"));
        assert!(is_sender("Contoso"));
        assert!(!is_sender("1234"));
        assert!(!is_sender("+1800555010"));
        assert!(!is_sender("ContosoIsTooLong"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = validate(br#"{"smsRecipients":[]}"#, "2021-03-07").err();
        let errors = errors.map(|e| e.into_keys().collect::<Vec<_>>());
        assert_eq!(
            errors,
            Some(vec![
                "From".to_owned(),
                "Message".to_owned(),
                "SmsRecipients".to_owned()
            ])
        );
    }
}
