//! `POST /sms`: per-recipient outcomes, rejections, repeatability, sender ownership.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use acs_functions_handler::emulator::EmulatorOptions;

use super::support::{start, start_with};

const SMS_2021: &str = "/sms?api-version=2021-03-07";
const SMS_2026: &str = "/sms?api-version=2026-01-23";
const SENDER: &str = "+18005550100";

fn now_rfc1123() -> String {
    httpdate::fmt_http_date(std::time::SystemTime::now())
}

fn send_request(recipients: Value) -> Value {
    json!({
        "from": SENDER,
        "smsRecipients": recipients,
        "message": "Hello World via SMS",
        "smsSendOptions": {"enableDeliveryReport": true, "tag": "custom-tag"}
    })
}

#[tokio::test]
async fn mixed_batch_answers_202_and_sends_only_valid_recipients() {
    let t = start().await;
    let mut outbox = t.emulator.state().subscribe_outbox();
    let body = send_request(json!([{"to": "+11234567890"}, {"to": "+112345678901"}]));
    let answer = t.call(Method::POST, SMS_2021, Some(&body)).await;

    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let items = answer.json()["value"].clone();
    assert_eq!(items[0]["httpStatusCode"], 202);
    assert_eq!(items[0]["successful"], true);
    assert!(items[0].get("repeatabilityResult").is_none());
    let message_id = items[0]["messageId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message_id.starts_with("Outgoing_") && message_id.ends_with("_noam"));
    assert_eq!(
        items[1],
        json!({"to": "+112345678901", "httpStatusCode": 400,
               "errorMessage": "Invalid To phone number format.", "successful": false})
    );

    let sent = t.emulator.state().outbox();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id, message_id);
    assert_eq!(sent[0].tag.as_deref(), Some("custom-tag"));
    assert!(sent[0].enable_delivery_report);
    assert_eq!(outbox.recv().await.ok(), Some(sent[0].clone()));
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn rejected_recipients_fail_inside_the_202() {
    let t = start().await;
    t.emulator
        .state()
        .reject_recipient("+11234567892", 503, "ServiceUnavailable");
    let body = send_request(json!([{"to": "+11234567892"}]));
    let answer = t.call(Method::POST, SMS_2021, Some(&body)).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    let item = &answer.json()["value"][0];
    assert_eq!(
        (item["httpStatusCode"].clone(), item["successful"].clone()),
        (json!(503), json!(false))
    );
    assert_eq!(item["errorMessage"], "ServiceUnavailable");
    assert!(t.emulator.state().outbox().is_empty());
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn repeated_request_id_replays_without_sending_twice() {
    let t = start().await;
    let id = uuid::Uuid::new_v4().to_string();
    let recipient = json!({"to": "+11234567893", "repeatabilityRequestId": id, "repeatabilityFirstSent": now_rfc1123()});
    let body = send_request(json!([recipient]));
    let first = t.call(Method::POST, SMS_2021, Some(&body)).await.json();
    let second = t.call(Method::POST, SMS_2021, Some(&body)).await.json();
    assert_eq!(first["value"][0]["repeatabilityResult"], "accepted");
    assert_eq!(first["value"][0], second["value"][0]);
    assert_eq!(t.emulator.state().outbox().len(), 1);
    assert_eq!(
        t.emulator.state().outbox()[0]
            .repeatability_request_id
            .as_deref(),
        Some(id.as_str())
    );

    let mut changed = body.clone();
    changed["message"] = json!("Another text");
    let third = t.call(Method::POST, SMS_2021, Some(&changed)).await.json();
    assert_eq!(third["value"][0]["httpStatusCode"], 400);
    assert_eq!(third["value"][0]["repeatabilityResult"], "rejected");

    let no_date =
        json!([{"to": "+11234567894", "repeatabilityRequestId": uuid::Uuid::new_v4().to_string()}]);
    let answer = t
        .call(Method::POST, SMS_2021, Some(&send_request(no_date)))
        .await
        .json();
    assert_eq!(
        answer["value"][0]["errorMessage"],
        "Request sent with Invalid DateTime value for repeatability-first-sent. Expected is DateTime ,RFC1123 pattern."
    );
    let stale = json!([{"to": "+11234567894", "repeatabilityRequestId": uuid::Uuid::new_v4().to_string(),
                        "repeatabilityFirstSent": "Fri, 13 Jan 2023 15:07:28 GMT"}]);
    let answer = t
        .call(Method::POST, SMS_2021, Some(&send_request(stale)))
        .await
        .json();
    assert_eq!(answer["value"][0]["httpStatusCode"], 412);
    assert_eq!(t.emulator.state().outbox().len(), 1);
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn unowned_sender_is_unauthorized() {
    let t = start().await;
    let mut body = send_request(json!([{"to": "+11234567890"}]));
    body["from"] = json!("+18007342577");
    let answer = t.call(Method::POST, SMS_2021, Some(&body)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.text,
        r#"{"error":{"code":"Unauthorized","message":""}}"#
    );
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn request_validation_errors_follow_the_api_version_style() {
    let t = start().await;
    let mut body = send_request(json!([{"to": "+11234567890"}]));
    body["from"] = json!("+1555");
    let old = t.call(Method::POST, SMS_2021, Some(&body)).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        old.json(),
        json!({"From": ["Invalid From phone number format"]})
    );

    let empty = send_request(json!([]));
    let new = t.call(Method::POST, SMS_2026, Some(&empty)).await.json();
    assert_eq!(new["title"], "One or more validation errors occurred.");
    assert!(new["errors"]["SmsRecipients"].is_array());

    let too_many: Vec<Value> = (0..101).map(|_| json!({"to": "+11234567890"})).collect();
    let answer = t
        .call(Method::POST, SMS_2021, Some(&send_request(json!(too_many))))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);

    let mut long = send_request(json!([{"to": "+11234567890"}]));
    long["message"] = json!("x".repeat(2049));
    assert_eq!(
        t.call(Method::POST, SMS_2021, Some(&long)).await.status,
        StatusCode::BAD_REQUEST
    );

    let mut timeout = send_request(json!([{"to": "+11234567890"}]));
    timeout["smsSendOptions"]["deliveryReportTimeoutInSeconds"] = json!(300);
    assert_eq!(
        t.call(Method::POST, SMS_2021, Some(&timeout)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        t.call(Method::POST, SMS_2026, Some(&timeout)).await.status,
        StatusCode::ACCEPTED
    );

    let no_flag = json!({"from": SENDER, "smsRecipients": [{"to": "+11234567890"}],
                         "message": "hi", "smsSendOptions": {"tag": "x"}});
    assert_eq!(
        t.call(Method::POST, SMS_2021, Some(&no_flag)).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(t.emulator.state().outbox().len(), 1);
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn a_history_limit_keeps_only_the_newest_requests_and_messages() {
    let options = EmulatorOptions {
        history_limit: Some(2),
        ..EmulatorOptions::default()
    };
    let t = start_with(options).await;
    for to in ["+14255550101", "+14255550102", "+14255550103"] {
        let body = send_request(json!([{"to": to}]));
        let answer = t.call(Method::POST, SMS_2021, Some(&body)).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED);
    }

    let kept: Vec<String> = t
        .emulator
        .state()
        .outbox()
        .into_iter()
        .map(|s| s.to)
        .collect();
    assert_eq!(kept, ["+14255550102", "+14255550103"]);
    let requests = t.emulator.state().requests();
    assert_eq!(requests.len(), 2);
    let last = requests[1].json().unwrap_or_default();
    assert_eq!(last["smsRecipients"][0]["to"], "+14255550103");
    // `start_with` fetched one token; the limit counts per server.
    assert_eq!(t.emulator.state().identity_requests().len(), 1);
    t.emulator.shutdown().await;
}
