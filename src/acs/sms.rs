//! ACS SMS: `POST /sms`.
//!
//! ACS answers 202 even when some recipients fail, so the result is per recipient. Retries are
//! safe only because every recipient carries a repeatability id and first-sent date that stay
//! byte for byte the same on every attempt: the pipeline resends the very body built here.

use super::{AcsClient, AcsError, CallContext, json_body, parse_body};
use azure_core::http::Method;
use serde::{Deserialize, Serialize};

/// The SMS version every recorded session uses; the one place it is pinned.
pub const API_VERSION: &str = "2021-03-07";

/// One message to one or more recipients.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage<'a> {
    pub from: &'a str,
    pub sms_recipients: Vec<Recipient>,
    pub message: &'a str,
    pub sms_send_options: SendOptions<'a>,
}

/// A recipient and the repeatability pair that makes its send idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub to: String,
    pub repeatability_request_id: String,
    /// IMF-fixdate, e.g. `Fri, 13 Jan 2023 15:07:32 GMT`.
    pub repeatability_first_sent: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendOptions<'a> {
    pub enable_delivery_report: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<&'a str>,
}

/// ACS's verdict on one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResult {
    pub to: String,
    #[serde(default)]
    pub message_id: Option<String>,
    pub http_status_code: u16,
    #[serde(default)]
    pub repeatability_result: Option<String>,
    pub successful: bool,
    #[serde(default)]
    pub error_message: Option<String>,
}

impl SendResult {
    /// Accepted means ACS said so in every way it can: the flag, a 2xx item status and a
    /// message id. Anything less is a rejection, never reported as sent.
    pub fn accepted(&self) -> bool {
        self.successful && (200..300).contains(&self.http_status_code) && self.message_id.is_some()
    }
}

#[derive(Deserialize)]
struct SendResponse {
    value: Vec<SendResult>,
}

impl AcsClient {
    /// Sends `message`; returns one result per recipient of the request, in request order.
    pub async fn send_sms(
        &self,
        cx: &CallContext,
        message: &SendMessage<'_>,
    ) -> Result<Vec<SendResult>, AcsError> {
        let mut request = self.request(Method::Post, (&["sms"], None), API_VERSION, cx);
        json_body(&mut request, message);
        let response = self.send(request).await?;
        let answer: SendResponse = parse_body(&response, "send SMS")?;
        Ok(align(&message.sms_recipients, answer.value))
    }
}

/// Pairs ACS's items with our recipients, so no outcome is ever reported for the wrong number.
///
/// An item whose `to` is a recipient's number belongs to that recipient, wherever it stands.
/// ACS answers one item per recipient in request order, so when the counts agree, an item
/// whose `to` matches no recipient (ACS spelled the number another way) belongs to the
/// recipient at its position, if that one has none yet. When they do not agree, position says
/// nothing. A recipient still without an item is reported as failed with an unknown outcome,
/// never dropped.
fn align(recipients: &[Recipient], items: Vec<SendResult>) -> Vec<SendResult> {
    let by_position = items.len() == recipients.len();
    let mut items: Vec<Option<SendResult>> = items.into_iter().map(Some).collect();
    let mut aligned: Vec<Option<SendResult>> = recipients
        .iter()
        .map(|recipient| {
            let slot = items
                .iter()
                .position(|item| item.as_ref().is_some_and(|item| item.to == recipient.to))?;
            items[slot].take()
        })
        .collect();
    for (position, result) in aligned.iter_mut().enumerate() {
        if by_position
            && result.is_none()
            && let Some(slot) = items.get_mut(position)
            && slot
                .as_ref()
                .is_some_and(|item| !recipients.iter().any(|r| r.to == item.to))
        {
            *result = slot.take();
        }
    }
    recipients
        .iter()
        .zip(aligned)
        .map(|(recipient, result)| {
            result.unwrap_or_else(|| SendResult {
                to: recipient.to.clone(),
                message_id: None,
                http_status_code: 502,
                repeatability_result: None,
                successful: false,
                error_message: Some(
                    "ACS returned no result for this recipient; it may or may not have been sent"
                        .into(),
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(to: &str) -> Recipient {
        Recipient {
            to: to.into(),
            repeatability_request_id: "id".into(),
            repeatability_first_sent: "date".into(),
        }
    }

    fn item(to: &str, status: u16, successful: bool, message_id: Option<&str>) -> SendResult {
        SendResult {
            to: to.into(),
            message_id: message_id.map(str::to_owned),
            http_status_code: status,
            repeatability_result: None,
            successful,
            error_message: None,
        }
    }

    #[test]
    fn accepted_needs_flag_status_and_id() {
        assert!(item("+1", 202, true, Some("m")).accepted());
        assert!(!item("+1", 400, true, Some("m")).accepted());
        assert!(!item("+1", 202, false, Some("m")).accepted());
        assert!(!item("+1", 202, true, None).accepted());
    }

    #[test]
    fn a_missing_item_is_reported_as_unknown_not_dropped() {
        let recipients = [recipient("+14255550100"), recipient("+14255550101")];
        let aligned = align(
            &recipients,
            vec![item("+14255550101", 202, true, Some("m"))],
        );
        assert_eq!(aligned.len(), 2);
        assert_eq!(aligned[0].to, "+14255550100");
        assert!(!aligned[0].accepted());
        assert!(aligned[1].accepted());
    }

    #[test]
    fn items_belong_to_their_number_wherever_they_stand() {
        let recipients = [recipient("+14255550100"), recipient("+14255550101")];
        let aligned = align(
            &recipients,
            vec![
                item("+14255550101", 202, true, Some("m")),
                item("+14255550100", 400, false, None),
            ],
        );
        assert_eq!(aligned[0].to, "+14255550100");
        assert!(!aligned[0].accepted());
        assert_eq!(aligned[1].to, "+14255550101");
        assert!(aligned[1].accepted());
    }

    #[test]
    fn items_spelled_otherwise_go_by_position() {
        let recipients = [recipient("+14255550100"), recipient("+14255550101")];
        let aligned = align(
            &recipients,
            vec![
                item("14255550100", 400, false, None),
                item("14255550101", 202, true, Some("m")),
            ],
        );
        assert!(!aligned[0].accepted());
        assert!(aligned[1].accepted());
        // The recorded sessions answer `sanitized` for every number.
        let sanitized = [recipient("sanitized"), recipient("sanitized")];
        let aligned = align(
            &sanitized,
            vec![
                item("sanitized", 202, true, Some("a")),
                item("sanitized", 202, true, Some("b")),
            ],
        );
        let ids: Vec<_> = aligned.iter().map(|i| i.message_id.as_deref()).collect();
        assert_eq!(ids, [Some("a"), Some("b")]);
    }

    #[test]
    fn with_items_missing_position_says_nothing() {
        let recipients = [
            recipient("+14255550101"),
            recipient("+14255550102"),
            recipient("+14255550103"),
        ];
        let aligned = align(
            &recipients,
            vec![
                item("14255550102", 202, true, Some("for-102")),
                item("14255550103", 202, true, Some("for-103")),
            ],
        );
        assert_eq!(aligned.len(), 3);
        assert!(aligned.iter().all(|item| !item.accepted()), "{aligned:?}");
        assert!(aligned.iter().all(|item| item.message_id.is_none()));
    }

    #[test]
    fn the_wire_body_has_the_recorded_shape() {
        let message = SendMessage {
            from: "+18005550100",
            sms_recipients: vec![recipient("+14255550123")],
            message: "hi",
            sms_send_options: SendOptions {
                enable_delivery_report: false,
                tag: None,
            },
        };
        let json = serde_json::to_value(&message).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "from": "+18005550100",
                "smsRecipients": [{"to": "+14255550123", "repeatabilityRequestId": "id", "repeatabilityFirstSent": "date"}],
                "message": "hi",
                "smsSendOptions": {"enableDeliveryReport": false}
            })
        );
    }
}
