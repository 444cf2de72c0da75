//! `POST /api/sms` end to end.

use crate::support::{SENDER, TestApp};
use serde_json::{Value, json};

fn is_uuid(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn one_recipient_is_sent() {
    let app = TestApp::spawn().await;

    let response = app
        .post_json(
            "/api/sms",
            json!({"to": "+1 425 555 0123", "message": "Hello World via SMS"}),
        )
        .await;

    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let result = &body["results"][0];
    assert_eq!(result["to"], "+14255550123");
    assert_eq!(result["successful"], true);
    assert_eq!(result["httpStatusCode"], 202);
    assert!(
        result["messageId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(
        (result["segments"].as_u64(), result["encoding"].as_str()),
        (Some(1), Some("GSM-7"))
    );

    let outbox = app.state().outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (outbox[0].from.as_str(), outbox[0].to.as_str()),
        (SENDER, "+14255550123")
    );
    assert_eq!(outbox[0].message, "Hello World via SMS");

    let call = &app.state().requests()[0];
    assert_eq!((call.method.as_str(), call.path.as_str()), ("POST", "/sms"));
    assert_eq!(
        call.query_param("api-version").as_deref(),
        Some("2021-03-07")
    );
    let sent = call.json().unwrap();
    assert_eq!(sent["from"], SENDER);
    assert_eq!(sent["message"], "Hello World via SMS");
    assert_eq!(
        sent["smsSendOptions"],
        json!({"enableDeliveryReport": false})
    );
    let recipient = &sent["smsRecipients"][0];
    assert_eq!(recipient["to"], "+14255550123");
    assert!(is_uuid(&recipient["repeatabilityRequestId"]));
    let first_sent = recipient["repeatabilityFirstSent"].as_str().unwrap();
    assert!(
        httpdate::parse_http_date(first_sent).is_ok() && first_sent.ends_with(" GMT"),
        "{first_sent}"
    );
    assert!(
        call.header("authorization")
            .is_some_and(|a| a.starts_with("Bearer "))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn several_recipients_each_get_a_result_and_their_own_repeatability_id() {
    let app = TestApp::spawn().await;

    let response = app
        .post_json(
            "/api/sms",
            json!({"to": ["+14255550123", "+447700900123", "+14255550123"], "message": "hi", "enableDeliveryReport": true, "tag": "t1"}),
        )
        .await;

    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "duplicates are removed");
    assert!(results.iter().all(|r| r["successful"] == true));
    let sent = app.state().requests()[0].json().unwrap();
    let ids: Vec<&Value> = sent["smsRecipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["repeatabilityRequestId"])
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        sent["smsSendOptions"],
        json!({"enableDeliveryReport": true, "tag": "t1"})
    );
    let outbox = app.state().outbox();
    assert_eq!(outbox.len(), 2);
    assert!(
        outbox
            .iter()
            .all(|m| m.enable_delivery_report && m.tag.as_deref() == Some("t1"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recipient_acs_rejects_is_never_reported_as_sent() {
    let app = TestApp::spawn().await;
    app.state()
        .reject_recipient("+14255550199", 400, "Invalid To phone number format.");

    let response = app
        .post_json(
            "/api/sms",
            json!({"to": ["+14255550123", "+14255550199"], "message": "hi"}),
        )
        .await;

    assert_eq!(response.status(), 207);
    let body: Value = response.json().await.unwrap();
    let rejected = &body["results"][1];
    assert_eq!(rejected["to"], "+14255550199");
    assert_eq!(rejected["successful"], false);
    assert_eq!(rejected["httpStatusCode"], 400);
    assert!(rejected.get("messageId").is_none());
    assert_eq!(rejected["errorMessage"], "Invalid To phone number format.");
    assert_eq!(app.state().outbox().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn none_accepted_is_an_error_with_the_results() {
    let app = TestApp::spawn().await;
    app.state()
        .reject_recipient("+14255550199", 400, "Invalid To phone number format.");
    app.state()
        .reject_recipient("+14255550198", 503, "ServiceUnavailable");

    let response = app
        .post_json("/api/sms", json!({"to": "+14255550199", "message": "hi"}))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NoRecipientAccepted");
    assert_eq!(body["results"][0]["successful"], false);

    let response = app
        .post_json(
            "/api/sms",
            json!({"to": ["+14255550199", "+14255550198"], "message": "hi"}),
        )
        .await;
    assert_eq!(
        response.status(),
        502,
        "a 5xx among the failures makes it a gateway error"
    );
    assert_eq!(response.headers()["x-ms-error-code"], "NoRecipientAccepted");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["results"].as_array().map(Vec::len), Some(2));

    // An upstream failure is an error for the host's monitoring: a line on stderr.
    let logged = || {
        app.handler
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains("ERROR") && line.contains("NoRecipientAccepted"))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !logged() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(logged(), "{:?}", app.handler.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_recipients_are_named_and_never_reach_acs() {
    let app = TestApp::spawn().await;

    for (to, target) in [
        (json!(["+14255550123", "4255550123"]), "to[1]"),
        (json!("tel:+14255550123"), "to[0]"),
        (json!(["+1425555012x"]), "to[0]"),
        (json!([]), "to"),
    ] {
        let response = app
            .post_json("/api/sms", json!({"to": to, "message": "hi"}))
            .await;
        assert_eq!(response.status(), 400, "{to}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["target"], target, "{to}");
    }
    assert!(app.state().requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callers_retry_with_repeatability_headers_sends_once() {
    let app = TestApp::spawn().await;
    let send = || {
        app.http
            .post(app.url("/api/sms"))
            .header("content-type", "application/json")
            .header(
                "Repeatability-Request-ID",
                "8e1b4a9c-1111-4a2b-9c3d-5e6f7a8b9c0d",
            )
            .header(
                "Repeatability-First-Sent",
                httpdate::fmt_http_date(std::time::SystemTime::now()),
            )
            .body(json!({"to": "+14255550123", "message": "once"}).to_string())
            .send()
    };

    let first: Value = send().await.unwrap().json().await.unwrap();
    let second: Value = send().await.unwrap().json().await.unwrap();

    let requests = app.state().requests();
    let ids: Vec<Value> = requests
        .iter()
        .map(|r| r.json().unwrap()["smsRecipients"][0]["repeatabilityRequestId"].clone())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(
        ids[0], ids[1],
        "the same caller request id yields the same ACS id"
    );
    assert_eq!(
        first["results"][0]["messageId"],
        second["results"][0]["messageId"]
    );
    assert_eq!(app.state().outbox().len(), 1, "ACS de-duplicated the retry");
}
