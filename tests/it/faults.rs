//! ACS and managed-identity failures, injected at the emulator, seen through the binary:
//! which ones are retried, how `Retry-After` is honoured, what the caller gets once retries are
//! exhausted (the table in `error.rs` and the README), and that SMS retries never send twice.

use crate::support::TestApp;
use acs_functions_handler::emulator::{Fault, FaultAction, FaultTarget};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime};

/// What the caller saw.
struct Answer {
    status: u16,
    code: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

fn status(code: u16) -> FaultAction {
    FaultAction::Status {
        status: code,
        retry_after: None,
        body: None,
    }
}

fn throttled(retry_after: &str) -> FaultAction {
    FaultAction::Status {
        status: 429,
        retry_after: Some(retry_after.to_owned()),
        body: None,
    }
}

fn push(app: &TestApp, target: FaultTarget, action: FaultAction, times: usize) {
    for _ in 0..times {
        app.state().push_fault(Fault {
            target: target.clone(),
            action: action.clone(),
        });
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (status, code, retry_after) = (
        response.status().as_u16(),
        header("x-ms-error-code"),
        header("retry-after"),
    );
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        code,
        retry_after,
        body,
    }
}

async fn token(app: &TestApp) -> Answer {
    answer(app.post_json("/api/token", json!({})).await).await
}

async fn sms(app: &TestApp, to: &str) -> Answer {
    answer(
        app.post_json("/api/sms", json!({"to": to, "message": "retry me"}))
            .await,
    )
    .await
}

/// ACS requests received since the last `clear`, by path.
fn calls(app: &TestApp, path: &str) -> usize {
    app.state()
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_until_acs_answers() {
    let app = TestApp::spawn().await;

    for code in [408, 429, 500, 502, 503, 504] {
        app.state().clear();
        push(&app, FaultTarget::Acs, status(code), 1);

        let answer = token(&app).await;

        assert_eq!(answer.status, 200, "after one {code}");
        assert!(answer.body["token"].is_string());
        assert_eq!(calls(&app, "/identities"), 2, "one retry after {code}");
    }

    // A reset connection, then a 503 and a reset in a row: three attempts, one success.
    app.state().clear();
    push(&app, FaultTarget::Acs, FaultAction::Reset, 1);
    assert_eq!(token(&app).await.status, 200);
    assert_eq!(calls(&app, "/identities"), 2);

    app.state().clear();
    push(&app, FaultTarget::Acs, status(503), 1);
    push(&app, FaultTarget::Acs, FaultAction::Reset, 1);
    assert_eq!(token(&app).await.status, 200);
    assert_eq!(calls(&app, "/identities"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    let app = TestApp::spawn().await;

    // Without `Retry-After` the first back-off is under half a second; two seconds proves the
    // header was read.
    push(&app, FaultTarget::Acs, throttled("2"), 1);
    let started = Instant::now();
    assert_eq!(token(&app).await.status, 200);
    assert!(started.elapsed() >= Duration::from_secs(2), "seconds form");
    assert_eq!(calls(&app, "/identities"), 2);

    // An HTTP date three seconds ahead (whole seconds, so two to three seconds away).
    app.state().clear();
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    push(&app, FaultTarget::Acs, throttled(&at), 1);
    let started = Instant::now();
    assert_eq!(token(&app).await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "date form"
    );
    assert_eq!(calls(&app, "/identities"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn exhausted_retries_map_to_the_documented_answers() {
    let app = TestApp::spawn().await;

    // Throttled on every attempt: 1 try + 3 retries, then 503 with ACS's Retry-After.
    push(&app, FaultTarget::Acs, throttled("1"), 4);
    let answer = token(&app).await;
    assert_eq!(
        (
            answer.status,
            answer.code.as_deref(),
            answer.retry_after.as_deref()
        ),
        (503, Some("AcsThrottled"), Some("1"))
    );
    assert_eq!(answer.body["error"]["code"], "AcsThrottled");
    assert_eq!(calls(&app, "/identities"), 4);

    for (action, what) in [(status(500), "500"), (FaultAction::Reset, "reset")] {
        app.state().clear();
        push(&app, FaultTarget::Acs, action, 4);
        let answer = token(&app).await;
        assert_eq!(
            (answer.status, answer.code.as_deref()),
            (502, Some("AcsUnavailable")),
            "{what}"
        );
        assert_eq!(calls(&app, "/identities"), 4, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_beyond_the_deadline_is_passed_on_at_once() {
    // The default deadline is 30 s; ACS asks for a minute. Waiting would only end in a 504.
    let app = TestApp::spawn().await;
    push(&app, FaultTarget::Acs, throttled("60"), 1);

    let started = Instant::now();
    let answer = token(&app).await;

    assert_eq!(
        (
            answer.status,
            answer.code.as_deref(),
            answer.retry_after.as_deref()
        ),
        (503, Some("AcsThrottled"), Some("60"))
    );
    assert_eq!(calls(&app, "/identities"), 1, "no retry");
    assert!(started.elapsed() < Duration::from_secs(30));

    // The same for a 503 that says when to come back: a 503 with that time, not a bare 502.
    app.state().clear();
    let unavailable = FaultAction::Status {
        status: 503,
        retry_after: Some("60".to_owned()),
        body: None,
    };
    push(&app, FaultTarget::Acs, unavailable, 1);

    let answer = sms(&app, "+14255550123").await;

    assert_eq!(
        (
            answer.status,
            answer.code.as_deref(),
            answer.retry_after.as_deref()
        ),
        (503, Some("AcsUnavailable"), Some("60"))
    );
    assert_eq!(calls(&app, "/sms"), 1, "no retry");

    // A `Retry-After` that says nothing is not passed on.
    app.state().clear();
    let unreadable = |status| FaultAction::Status {
        status,
        retry_after: Some("soon".to_owned()),
        body: None,
    };
    push(&app, FaultTarget::Acs, unreadable(429), 4);
    let answer = token(&app).await;
    assert_eq!(
        (answer.status, answer.retry_after.as_deref()),
        (503, Some("10"))
    );
    push(&app, FaultTarget::Acs, unreadable(503), 4);
    let answer = token(&app).await;
    assert_eq!(
        (answer.status, answer.code.as_deref(), answer.retry_after),
        (502, Some("AcsUnavailable"), None)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn acs_answers_map_to_the_documented_answers() {
    let app = TestApp::spawn().await;
    // Cache the managed-identity token first, so its value can be looked for in answers.
    assert_eq!(token(&app).await.status, 200);
    let issued = app.state().issued_managed_identity_tokens();

    let validation = FaultAction::Status {
        status: 400,
        retry_after: None,
        body: Some(
            json!({"error": {"code": "ValidationError", "message": "ExpiresInMinutes is invalid.", "target": "ExpiresInMinutes"}})
                .to_string(),
        ),
    };
    let cases: Vec<(FaultAction, u16, &str)> = vec![
        (validation, 400, "ValidationError"),
        (status(401), 502, "AcsAuthorizationFailed"),
        (status(403), 502, "AcsAuthorizationFailed"),
        (status(404), 404, "NotFound"),
        (status(409), 502, "AcsRequestRejected"),
        (status(501), 502, "AcsUnavailable"),
        (FaultAction::TruncatedJson, 502, "AcsInvalidResponse"),
        (FaultAction::MalformedJson, 502, "AcsInvalidResponse"),
    ];
    for (action, expected_status, expected_code) in cases {
        app.state().clear();
        let what = format!("{action:?}");
        push(&app, FaultTarget::Acs, action, 1);

        let answer = token(&app).await;

        assert_eq!(
            (answer.status, answer.code.as_deref()),
            (expected_status, Some(expected_code)),
            "{what}"
        );
        assert_eq!(answer.body["error"]["code"], expected_code, "{what}");
        assert_eq!(calls(&app, "/identities"), 1, "{what}: not retried");
        let text = answer.body.to_string();
        assert!(issued.iter().all(|t| !text.contains(t.as_str())), "{what}");
    }

    // ACS's own message and target travel with a 400.
    app.state().clear();
    push(
        &app,
        FaultTarget::Acs,
        FaultAction::Status {
            status: 400,
            retry_after: None,
            body: Some(json!({"error": {"code": "ValidationError", "message": "bad expiry", "target": "ExpiresInMinutes"}}).to_string()),
        },
        1,
    );
    let answer = token(&app).await;
    assert_eq!(answer.body["error"]["message"], "bad expiry");
    assert_eq!(answer.body["error"]["target"], "ExpiresInMinutes");

    // Refused credentials: a hint naming the likely causes, the sender among them for SMS.
    app.state().clear();
    push(&app, FaultTarget::AcsPath("/sms".into()), status(403), 1);
    let answer = sms(&app, "+14255550123").await;
    assert_eq!(answer.status, 502);
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("role") && message.contains("sender"),
        "{message}"
    );
    assert!(app.state().outbox().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sms_accepted_before_the_connection_dropped_is_sent_once() {
    let app = TestApp::spawn().await;
    push(
        &app,
        FaultTarget::AcsPath("/sms".into()),
        FaultAction::ProcessThenDrop,
        1,
    );

    let answer = sms(&app, "+14255550123").await;

    assert_eq!(answer.status, 202, "{}", answer.body);
    let outbox = app.state().outbox();
    assert_eq!(outbox.len(), 1, "exactly one message left ACS");
    let result = &answer.body["results"][0];
    assert_eq!(result["successful"], true);
    assert_eq!(result["messageId"], outbox[0].message_id.as_str());

    // The retry resent the very bytes of the first attempt, repeatability id and all.
    let sends: Vec<_> = app
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/sms")
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].body, sends[1].body);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unclear_outcome_is_resent_with_the_echoed_headers_and_sent_once() {
    let app = TestApp::spawn().await;
    // Every attempt reaches ACS, which sends, and then loses the answer: the caller cannot know.
    push(
        &app,
        FaultTarget::AcsPath("/sms".into()),
        FaultAction::ProcessThenDrop,
        4,
    );
    let first = app
        .post_json("/api/sms", json!({"to": "+14255550123", "message": "once"}))
        .await;
    assert_eq!(first.status(), 502);
    let id = first.headers()["repeatability-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let sent = first.headers()["repeatability-first-sent"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.state().outbox().len(), 1, "ACS did send it");

    let again = app
        .http
        .post(app.url("/api/sms"))
        .header("content-type", "application/json")
        .header("repeatability-request-id", &id)
        .header("repeatability-first-sent", &sent)
        .body(json!({"to": "+14255550123", "message": "once"}).to_string())
        .send()
        .await
        .unwrap();

    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["repeatability-request-id"], id.as_str());
    let body: Value = again.json().await.unwrap();
    assert_eq!(
        body["results"][0]["messageId"],
        app.state().outbox()[0].message_id.as_str()
    );
    assert_eq!(
        app.state().outbox().len(),
        1,
        "the resend was de-duplicated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sms_retries_after_failures_send_once() {
    let app = TestApp::spawn().await;
    let sms_path = || FaultTarget::AcsPath("/sms".into());

    for (action, to) in [
        (status(503), "+14255550101"),
        (FaultAction::Reset, "+14255550102"),
        (throttled("1"), "+14255550103"),
    ] {
        app.state().clear();
        let what = format!("{action:?}");
        push(&app, sms_path(), action, 1);

        let answer = sms(&app, to).await;

        assert_eq!(answer.status, 202, "{what}");
        assert_eq!(app.state().outbox().len(), 1, "{what}");
        let sends: Vec<_> = app
            .state()
            .requests()
            .into_iter()
            .filter(|r| r.path == "/sms")
            .collect();
        assert_eq!(sends.len(), 2, "{what}");
        assert_eq!(sends[0].body, sends[1].body, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unavailable_managed_identity_is_a_503_and_recovers() {
    let app = TestApp::spawn().await;

    for (action, what) in [
        (status(500), "500"),
        (FaultAction::Reset, "reset"),
        (status(400), "400"),
    ] {
        app.state().clear();
        push(&app, FaultTarget::IdentityEndpoint, action, 4);

        let answer = token(&app).await;

        assert_eq!(
            (answer.status, answer.code.as_deref()),
            (503, Some("ManagedIdentityUnavailable")),
            "{what}"
        );
        assert!(answer.retry_after.is_some(), "{what}");
        assert!(
            app.state().requests().is_empty(),
            "{what}: ACS never called"
        );
    }

    // A slow identity endpoint within the deadline only slows the first call.
    app.state().clear();
    push(
        &app,
        FaultTarget::IdentityEndpoint,
        FaultAction::Delay(Duration::from_secs(1)),
        1,
    );
    assert_eq!(token(&app).await.status, 200);
    assert_eq!(app.state().identity_requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_acs_or_identity_endpoint_is_a_504_within_the_deadline() {
    let app = TestApp::spawn_with(&[("ACS_REQUEST_DEADLINE_SECONDS", "2")]).await;

    // The identity endpoint hangs on the first token fetch.
    push(
        &app,
        FaultTarget::IdentityEndpoint,
        FaultAction::Delay(Duration::from_secs(6)),
        1,
    );
    let started = Instant::now();
    let answer = token(&app).await;
    assert_eq!(
        (answer.status, answer.code.as_deref()),
        (504, Some("AcsTimeout"))
    );
    assert!(started.elapsed() < Duration::from_secs(6));

    // ACS hangs.
    app.state().clear();
    push(
        &app,
        FaultTarget::Acs,
        FaultAction::Delay(Duration::from_secs(6)),
        1,
    );
    let started = Instant::now();
    let answer = token(&app).await;
    assert_eq!(
        (answer.status, answer.code.as_deref()),
        (504, Some("AcsTimeout"))
    );
    assert!(started.elapsed() < Duration::from_secs(6));
}
