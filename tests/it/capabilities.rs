//! The token and SMS rules, each through the real binary; where a rule rejects, the emulator
//! must have received nothing.

use crate::support::{SENDER, TestApp};
use base64::Engine as _;
use serde_json::{Value, json};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const SALLY: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const BOB: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

fn principal(tenant: &str, object: &str) -> String {
    let claims = json!({"auth_typ": "aad", "claims": [
        {"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": tenant},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object},
        {"typ": "name", "val": "Sally"}
    ]});
    base64::engine::general_purpose::STANDARD.encode(claims.to_string())
}

async fn as_caller(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    principal: Option<&str>,
) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(path));
    if let Some(principal) = principal {
        request = request.header("x-ms-client-principal", principal);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_caller_always_gets_the_same_acs_user() {
    let app = TestApp::spawn_with(&[("TOKEN_IDENTITY_MAPPING", "easyauth")]).await;
    let sally = principal(TENANT, SALLY);
    let bob = principal(TENANT, BOB);

    let first: Value = as_caller(&app, reqwest::Method::POST, "/api/token", Some(&sally))
        .await
        .json()
        .await
        .unwrap();
    let again: Value = as_caller(&app, reqwest::Method::POST, "/api/token", Some(&sally))
        .await
        .json()
        .await
        .unwrap();
    let other: Value = as_caller(&app, reqwest::Method::POST, "/api/token", Some(&bob))
        .await
        .json()
        .await
        .unwrap();

    let user = |v: &Value| {
        v["user"]["communicationUserId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(user(&first), user(&again), "a refresh is just another POST");
    assert_ne!(user(&first), user(&other));
    assert!(first["expiresOn"].is_string() && again["expiresOn"].is_string());
    let call = &app.state().requests()[0];
    assert_eq!(
        call.query_param("api-version").as_deref(),
        Some("2025-03-02-preview")
    );
    assert_eq!(
        call.json().unwrap()["customId"],
        format!("entra:{TENANT}:{SALLY}")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_principal_mapping_answers_401_and_calls_nothing() {
    let app = TestApp::spawn_with(&[("TOKEN_IDENTITY_MAPPING", "easyauth")]).await;

    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let response = as_caller(&app, method.clone(), "/api/token", None).await;
        assert_eq!(response.status(), 401, "{method}");
        assert_eq!(response.headers()["x-ms-error-code"], "Unauthenticated");
    }
    let forged = as_caller(
        &app,
        reqwest::Method::POST,
        "/api/token",
        Some("not base64!"),
    )
    .await;
    assert_eq!(forged.status(), 401);
    assert!(app.state().requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_out_revokes_and_optionally_deletes_only_the_callers_user() {
    let app = TestApp::spawn_with(&[("TOKEN_IDENTITY_MAPPING", "easyauth")]).await;
    let sally = principal(TENANT, SALLY);
    let token: Value = as_caller(&app, reqwest::Method::POST, "/api/token", Some(&sally))
        .await
        .json()
        .await
        .unwrap();
    let id = token["user"]["communicationUserId"]
        .as_str()
        .unwrap()
        .to_owned();
    let encoded = id.replace(':', "%3A");

    let revoked = as_caller(&app, reqwest::Method::DELETE, "/api/token", Some(&sally)).await;
    assert_eq!(revoked.status(), 204);
    let paths: Vec<String> = app
        .state()
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        paths.contains(&format!("POST /identities/{encoded}/:revokeAccessTokens")),
        "{paths:?}"
    );
    assert!(!paths.iter().any(|p| p.starts_with("DELETE")), "{paths:?}");

    let deleted = as_caller(
        &app,
        reqwest::Method::DELETE,
        "/api/token?deleteIdentity=true",
        Some(&sally),
    )
    .await;
    assert_eq!(deleted.status(), 204);
    let paths: Vec<String> = app
        .state()
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        paths.contains(&format!("DELETE /identities/{encoded}")),
        "{paths:?}"
    );

    let bad = as_caller(
        &app,
        reqwest::Method::DELETE,
        "/api/token?deleteIdentity=maybe",
        Some(&sally),
    )
    .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_out_needs_identity_mapping() {
    let app = TestApp::spawn().await;

    let response = as_caller(&app, reqwest::Method::DELETE, "/api/token", None).await;

    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-ms-error-code"],
        "IdentityMappingDisabled"
    );
    assert!(app.state().requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn senders_are_allow_listed() {
    let app =
        TestApp::spawn_with(&[("SMS_ALLOWED_SENDERS", &format!("{SENDER},+18005550199"))]).await;

    // Written another way, the same number is the same sender.
    let allowed = app
        .post_json(
            "/api/sms",
            json!({"to": "+14255550123", "message": "hi", "from": "+1 (800) 555-0199"}),
        )
        .await;
    assert_eq!(allowed.status(), 202);
    assert_eq!(
        app.state().requests()[0].json().unwrap()["from"],
        "+18005550199"
    );

    let refused = app
        .post_json(
            "/api/sms",
            json!({"to": "+14255550123", "message": "hi", "from": "+18005550111"}),
        )
        .await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["target"].as_str()
        ),
        (Some("SenderNotAllowed"), Some("from"))
    );
    let malformed = app
        .post_json(
            "/api/sms",
            json!({"to": "+14255550123", "message": "hi", "from": "18005550199"}),
        )
        .await;
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["target"], "from");
    assert_eq!(
        app.state().requests().len(),
        1,
        "the refused sends never reached ACS"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn destinations_outside_the_allowed_countries_are_422() {
    let app = TestApp::spawn_with(&[("SMS_ALLOWED_COUNTRY_CODES", "1")]).await;

    let response = app
        .post_json(
            "/api/sms",
            json!({"to": ["+14255550123", "+447700900123"], "message": "hi"}),
        )
        .await;

    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["target"], "to[1]");
    assert!(app.state().requests().is_empty());
    assert_eq!(
        app.post_json("/api/sms", json!({"to": "+14255550123", "message": "hi"}))
            .await
            .status(),
        202
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recipient_count_message_length_and_report_timeout_are_checked_locally() {
    let app = TestApp::spawn_with(&[("SMS_MAX_RECIPIENTS", "2")]).await;

    for (body, target) in [
        (
            json!({"to": ["+14255550121", "+14255550122", "+14255550123"], "message": "hi"}),
            "to",
        ),
        (json!({"to": "+14255550123", "message": ""}), "message"),
        (
            json!({"to": "+14255550123", "message": "x".repeat(2049)}),
            "message",
        ),
        (
            json!({"to": "+14255550123", "message": "😀".repeat(1025)}),
            "message",
        ),
        (
            json!({"to": "+14255550123", "message": "hi", "deliveryReportTimeoutInSeconds": 300}),
            "deliveryReportTimeoutInSeconds",
        ),
    ] {
        let response = app.post_json("/api/sms", body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["target"], target, "{body}");
    }
    assert!(app.state().requests().is_empty());

    let longest = app
        .post_json(
            "/api/sms",
            json!({"to": "+14255550123", "message": "😀".repeat(1024)}),
        )
        .await;
    assert_eq!(
        longest.status(),
        202,
        "2048 UTF-16 code units is the limit, not characters"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn results_report_segments_and_encoding() {
    let app = TestApp::spawn().await;

    let gsm: Value = app
        .post_json(
            "/api/sms",
            json!({"to": "+14255550123", "message": "a".repeat(161)}),
        )
        .await
        .json()
        .await
        .unwrap();
    let ucs: Value = app
        .post_json(
            "/api/sms",
            json!({"to": "+14255550124", "message": "Grüße 😀 ç"}),
        )
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(
        (
            gsm["results"][0]["encoding"].as_str(),
            gsm["results"][0]["segments"].as_u64()
        ),
        (Some("GSM-7"), Some(2))
    );
    assert_eq!(
        (
            ucs["results"][0]["encoding"].as_str(),
            ucs["results"][0]["segments"].as_u64()
        ),
        (Some("UCS-2"), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_answer_429_with_retry_after_before_any_acs_call() {
    let app = TestApp::spawn_with(&[
        ("SMS_LIMIT_PER_NUMBER_PER_HOUR", "2"),
        ("SMS_LIMIT_PER_CALLER_PER_MINUTE", "0"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.post_json("/api/sms", json!({"to": "+14255550123", "message": "hi"}))
                .await
                .status(),
            202
        );
    }

    let limited = app
        .post_json("/api/sms", json!({"to": "+14255550123", "message": "hi"}))
        .await;

    assert_eq!(limited.status(), 429);
    assert!(
        limited.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(limited.headers()["x-ms-error-code"], "RateLimited");
    assert_eq!(app.state().requests().len(), 2);
    assert_eq!(
        app.post_json("/api/sms", json!({"to": "+14255550124", "message": "hi"}))
            .await
            .status(),
        202
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_number_over_its_limit_is_reported_and_spends_no_one_elses_budget() {
    let app = TestApp::spawn_with(&[
        ("SMS_LIMIT_PER_NUMBER_PER_HOUR", "1"),
        ("SMS_LIMIT_PER_CALLER_PER_MINUTE", "0"),
    ])
    .await;
    let (spent, fresh) = ("+14255550123", "+14255550124");
    let send = |to: Value| app.post_json("/api/sms", json!({"to": to, "message": "hi"}));
    assert_eq!(send(json!(spent)).await.status(), 202);

    let mixed = send(json!([spent, fresh])).await;

    assert_eq!(mixed.status(), 207);
    let body: Value = mixed.json().await.unwrap();
    let limited = &body["results"][0];
    assert_eq!(
        (
            &limited["to"],
            &limited["successful"],
            &limited["httpStatusCode"]
        ),
        (&json!(spent), &json!(false), &json!(429))
    );
    assert!(
        limited["errorMessage"]
            .as_str()
            .unwrap()
            .contains("retry in")
    );
    assert_eq!(body["results"][1]["successful"], true);
    let sent = app.state().requests().last().unwrap().json().unwrap();
    assert_eq!(sent["smsRecipients"].as_array().unwrap().len(), 1);
    assert_eq!(sent["smsRecipients"][0]["to"], fresh);

    // The fresh number's one message went out; a request of only spent numbers reaches nobody.
    let calls = app.state().requests().len();
    let refused = send(json!([fresh, spent])).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(app.state().requests().len(), calls);
    assert_eq!(app.state().outbox().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_that_certainly_went_nowhere_spends_no_budget() {
    let app = TestApp::spawn_with(&[
        ("SMS_LIMIT_PER_NUMBER_PER_HOUR", "1"),
        ("SMS_LIMIT_PER_CALLER_PER_MINUTE", "0"),
        // The emulated resource does not own the second sender: ACS answers 401.
        ("SMS_ALLOWED_SENDERS", &format!("{SENDER},+18005550111")),
    ])
    .await;
    let to = "+14255550123";
    let send = |body: Value| app.post_json("/api/sms", body);

    // Refused whole by ACS.
    let unowned = send(json!({"to": to, "message": "hi", "from": "+18005550111"})).await;
    assert_eq!(unowned.status(), 502);
    // Refused for this recipient inside ACS's 202.
    app.state()
        .reject_recipient(to, 400, "Invalid To phone number format.");
    assert_eq!(send(json!({"to": to, "message": "hi"})).await.status(), 400);
    // An unclear outcome (a 5xx for this recipient) is counted: it may have been sent.
    app.state().clear();
    app.state().reject_recipient(to, 503, "ServiceUnavailable");
    assert_eq!(send(json!({"to": to, "message": "hi"})).await.status(), 502);

    app.state().clear();
    let other = "+14255550124";
    assert_eq!(
        send(json!({"to": other, "message": "hi"})).await.status(),
        202
    );
    assert_eq!(
        send(json!({"to": other, "message": "hi"})).await.status(),
        429,
        "a message sent is counted"
    );
    assert_eq!(
        send(json!({"to": to, "message": "hi"})).await.status(),
        429,
        "the 503 counted, the refusals did not"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_made_up_principal_id_does_not_escape_the_per_caller_limit() {
    let app = TestApp::spawn_with(&[("SMS_LIMIT_PER_CALLER_PER_MINUTE", "1")]).await;
    let send = |principal: &'static str, to: &'static str| {
        app.http
            .post(app.url("/api/sms"))
            .header("x-functions-key", "key-a")
            .header("x-ms-client-principal-id", principal)
            .header("content-type", "application/json")
            .body(json!({"to": to, "message": "hi"}).to_string())
            .send()
    };

    assert_eq!(
        send("made-up-1", "+14255550123").await.unwrap().status(),
        202
    );
    assert_eq!(
        send("made-up-2", "+14255550124").await.unwrap().status(),
        429
    );

    // Behind App Service Authentication the principal is the caller.
    let behind = TestApp::spawn_with(&[
        ("SMS_LIMIT_PER_CALLER_PER_MINUTE", "1"),
        ("WEBSITE_AUTH_ENABLED", "true"),
    ])
    .await;
    for principal in ["user-1", "user-2"] {
        let response = behind
            .http
            .post(behind.url("/api/sms"))
            .header("x-functions-key", "key-a")
            .header("x-ms-client-principal-id", principal)
            .header("content-type", "application/json")
            .body(json!({"to": "+14255550125", "message": "hi"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{principal}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_per_caller_limit_keys_on_the_function_key() {
    let app = TestApp::spawn_with(&[("SMS_LIMIT_PER_CALLER_PER_MINUTE", "1")]).await;
    let send = |key: &'static str, to: &'static str| {
        app.http
            .post(app.url("/api/sms"))
            .header("x-functions-key", key)
            .header("content-type", "application/json")
            .body(json!({"to": to, "message": "hi"}).to_string())
            .send()
    };

    assert_eq!(send("key-a", "+14255550123").await.unwrap().status(), 202);
    assert_eq!(send("key-a", "+14255550124").await.unwrap().status(), 429);
    assert_eq!(send("key-b", "+14255550125").await.unwrap().status(), 202);

    // The host checks the first of repeated `code` values and joins the rest on with commas:
    // what follows is the caller's to choose and must not make a new caller.
    for query in ["code=key-b,1", "code=key-b,2", "Code=key-b"] {
        let response = app
            .http
            .post(app.url(&format!("/api/sms?{query}")))
            .header("content-type", "application/json")
            .body(json!({"to": "+14255550126", "message": "hi"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 429, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_one_shape_and_echo_the_request_id() {
    let app = TestApp::spawn().await;
    let id = "0f8fad5b-d9cb-469f-a165-70867728950e";

    let response = app
        .http
        .post(app.url("/api/sms"))
        .header("x-ms-client-request-id", id)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["x-ms-client-request-id"], id);
    let code = response.headers()["x-ms-error-code"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code.as_str());
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_callers_trace_and_request_id_reach_acs() {
    let app = TestApp::spawn().await;
    let incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    app.http
        .post(app.url("/api/token"))
        .header("traceparent", incoming)
        .header("x-ms-client-request-id", "caller-request-1")
        .send()
        .await
        .unwrap();

    let call = &app.state().requests()[0];
    let sent = call.header("traceparent").unwrap();
    assert_eq!(&sent[..36], &incoming[..36], "same trace");
    assert_ne!(sent, incoming, "a span of our own");
    assert_eq!(
        call.header("x-ms-client-request-id"),
        Some("caller-request-1")
    );
}
