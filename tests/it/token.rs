//! `POST /api/token` end to end under managed identity.

use crate::support::{TestApp, emulator_options};
use acs_functions_handler::emulator::{Emulator, EmulatorOptions};
use base64::Engine as _;
use serde_json::{Value, json};

fn jwt_payload(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_is_issued_with_the_managed_identity() {
    let app = TestApp::spawn().await;

    let response = app.post_json("/api/token", json!({})).await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert_eq!(jwt_payload(token)["acsScope"], "voip");
    let expires_on = body["expiresOn"].as_str().unwrap();
    assert!(
        azure_core::time::parse_rfc3339(expires_on).is_ok(),
        "{expires_on} is RFC 3339"
    );
    let user = body["user"]["communicationUserId"].as_str().unwrap();
    assert!(user.starts_with("8:acs:"), "{user}");

    // The identity endpoint was asked for the ACS resource, with the platform's secret header.
    let identity = app.state().identity_requests();
    assert_eq!(identity.len(), 1);
    let resource = identity[0].query_param("resource").unwrap();
    assert!(
        resource == "https://communication.azure.com/"
            || resource == "https://communication.azure.com",
        "{resource}"
    );
    assert_eq!(
        identity[0].header("x-identity-header"),
        Some(app.emulator.identity_header())
    );

    // ACS got exactly one call, with that token, the pinned version and the documented body.
    let requests = app.state().requests();
    assert_eq!(requests.len(), 1);
    let call = &requests[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/identities")
    );
    assert_eq!(
        call.query_param("api-version").as_deref(),
        Some("2023-10-01")
    );
    let issued = app.state().issued_managed_identity_tokens();
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {}", issued[0]).as_str())
    );
    assert_eq!(
        call.json().unwrap(),
        json!({"createTokenWithScopes": ["voip"]})
    );
    assert!(
        call.header("x-ms-client-request-id")
            .is_some_and(|id| !id.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_body_means_the_default_voip_token() {
    let app = TestApp::spawn().await;

    let response = app.http.post(app.url("/api/token")).send().await.unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(
        app.state().requests()[0].json().unwrap(),
        json!({"createTokenWithScopes": ["voip"]})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_and_expiry_reach_acs() {
    let app = TestApp::spawn_with(&[("TOKEN_ALLOWED_SCOPES", "chat,voip")]).await;

    let response = app
        .post_json(
            "/api/token",
            json!({"scopes": ["chat", "voip"], "expiresInMinutes": 60}),
        )
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        jwt_payload(body["token"].as_str().unwrap())["acsScope"],
        "chat,voip"
    );
    let sent = app.state().requests()[0].json().unwrap();
    assert_eq!(
        sent,
        json!({"createTokenWithScopes": ["chat", "voip"], "expiresInMinutes": 60})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_scopes_and_expiry_never_reach_acs() {
    let app = TestApp::spawn().await;

    for (body, target) in [
        (json!({"scopes": ["chat"]}), "scopes"),
        (json!({"scopes": ["superuser"]}), "scopes"),
        (json!({"expiresInMinutes": 59}), "expiresInMinutes"),
        (json!({"expiresInMinutes": 1441}), "expiresInMinutes"),
    ] {
        let response = app.post_json("/api/token", body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(response.headers()["x-ms-error-code"], "InvalidRequest");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["target"], target, "{body}");
    }
    assert!(app.state().requests().is_empty());
    assert!(
        app.state().identity_requests().is_empty(),
        "no token is fetched for rejected input"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_managed_identity_token_is_fetched_once() {
    let app = TestApp::spawn().await;

    for _ in 0..5 {
        assert_eq!(app.post_json("/api/token", json!({})).await.status(), 200);
    }

    assert_eq!(app.state().requests().len(), 5);
    assert_eq!(
        app.state().identity_requests().len(),
        1,
        "the credential caches its token"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_assigned_identity_is_asked_for_by_its_client_id() {
    const CLIENT_ID: &str = "6f1a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let options = EmulatorOptions {
        user_assigned_client_ids: vec![CLIENT_ID.to_owned()],
        ..emulator_options()
    };
    let emulator = Emulator::start(options).await.unwrap();
    let app = TestApp::spawn_against(emulator, &[("AZURE_CLIENT_ID", CLIENT_ID)]).await;

    assert_eq!(app.post_json("/api/token", json!({})).await.status(), 200);

    let identity = app.state().identity_requests();
    assert_eq!(
        identity[0].query_param("client_id").as_deref(),
        Some(CLIENT_ID)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_the_app_lacks_is_a_503_that_never_reaches_acs() {
    // The app has only its system-assigned identity; AZURE_CLIENT_ID names another one, a
    // common slip the platform answers with a 400.
    let app =
        TestApp::spawn_with(&[("AZURE_CLIENT_ID", "0c1d2e3f-0000-4000-8000-000000000000")]).await;

    let response = app.post_json("/api/token", json!({})).await;

    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["x-ms-error-code"],
        "ManagedIdentityUnavailable"
    );
    assert!(!app.state().identity_requests().is_empty());
    assert!(app.state().requests().is_empty());
}
