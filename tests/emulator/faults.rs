//! Every `FaultAction`, each applied to exactly one matching request.

use std::time::{Duration, Instant};

use acs_functions_handler::emulator::{Fault, FaultAction, FaultTarget};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::support::{identity_url, start};

const CREATE: &str = "/identities?api-version=2023-10-01";

fn fault(target: FaultTarget, action: FaultAction) -> Fault {
    Fault { target, action }
}

#[tokio::test]
async fn status_fault_answers_without_processing_and_only_once() {
    let t = start().await;
    let throttle = FaultAction::Status {
        status: 429,
        retry_after: Some("2".to_owned()),
        body: None,
    };
    t.emulator
        .state()
        .push_fault(fault(FaultTarget::Acs, throttle));

    let throttled = t.call(Method::POST, CREATE, None).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.header("retry-after"), Some("2"));
    assert!(throttled.json()["error"]["code"].is_string());
    assert_eq!(
        t.call(Method::POST, CREATE, None).await.status,
        StatusCode::CREATED
    );

    let custom = FaultAction::Status {
        status: 503,
        retry_after: None,
        body: Some(r#"{"x":1}"#.to_owned()),
    };
    t.emulator
        .state()
        .push_fault(fault(FaultTarget::AcsPath("/sms".to_owned()), custom));
    // An identity call does not match the `/sms` fault.
    assert_eq!(
        t.call(Method::POST, CREATE, None).await.status,
        StatusCode::CREATED
    );
    let sms = t
        .call(
            Method::POST,
            "/sms?api-version=2021-03-07",
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        (sms.status, sms.text.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, r#"{"x":1}"#)
    );
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn delay_fault_slows_the_answer() {
    let t = start().await;
    t.emulator.state().push_fault(fault(
        FaultTarget::Acs,
        FaultAction::Delay(Duration::from_millis(300)),
    ));
    let started = Instant::now();
    assert_eq!(
        t.call(Method::POST, CREATE, None).await.status,
        StatusCode::CREATED
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn reset_fault_closes_the_connection_without_processing() {
    let t = start().await;
    t.emulator
        .state()
        .push_fault(fault(FaultTarget::Acs, FaultAction::Reset));
    let url = format!("{}{CREATE}", t.emulator.acs_endpoint());
    let bearer = format!("Bearer {}", t.token);
    let result = t
        .client
        .post(&url)
        .header("authorization", &bearer)
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(t.emulator.state().requests().len(), 1);
    // The next request, on a new connection, works.
    assert_eq!(
        t.call(Method::POST, CREATE, None).await.status,
        StatusCode::CREATED
    );
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn body_faults_keep_the_status_and_break_the_json() {
    let t = start().await;
    t.emulator
        .state()
        .push_fault(fault(FaultTarget::Acs, FaultAction::TruncatedJson));
    let truncated = t.call(Method::POST, CREATE, None).await;
    assert_eq!(truncated.status, StatusCode::CREATED);
    assert!(!truncated.text.is_empty());
    assert!(serde_json::from_str::<serde_json::Value>(&truncated.text).is_err());

    t.emulator
        .state()
        .push_fault(fault(FaultTarget::Acs, FaultAction::MalformedJson));
    let malformed = t.call(Method::POST, CREATE, None).await;
    assert_eq!(
        (malformed.status, malformed.text.as_str()),
        (StatusCode::CREATED, "{not json")
    );
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn process_then_drop_sends_the_sms_but_never_answers() {
    let t = start().await;
    t.emulator.state().push_fault(fault(
        FaultTarget::AcsPath("/sms".to_owned()),
        FaultAction::ProcessThenDrop,
    ));
    let body =
        json!({"from": "+18005550100", "smsRecipients": [{"to": "+11234567890"}], "message": "hi"});
    let url = format!("{}/sms?api-version=2021-03-07", t.emulator.acs_endpoint());
    let bearer = format!("Bearer {}", t.token);
    let result = t
        .client
        .post(&url)
        .header("authorization", &bearer)
        .json(&body)
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(t.emulator.state().outbox().len(), 1);
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn identity_endpoint_faults_apply_there_only() {
    let t = start().await;
    let failure = FaultAction::Status {
        status: 500,
        retry_after: None,
        body: None,
    };
    t.emulator
        .state()
        .push_fault(fault(FaultTarget::IdentityEndpoint, failure));
    assert_eq!(
        t.call(Method::POST, CREATE, None).await.status,
        StatusCode::CREATED
    );

    let answer = t
        .client
        .get(identity_url(
            &t.emulator,
            &[
                ("api-version", "2019-08-01"),
                ("resource", "https://communication.azure.com/"),
            ],
        ))
        .header("X-IDENTITY-HEADER", t.emulator.identity_header())
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);

    t.emulator.state().clear();
    assert!(t.emulator.state().requests().is_empty());
    t.emulator.shutdown().await;
}
