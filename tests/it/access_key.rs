//! The access-key fallback end to end: the handler with only a connection string signs every
//! ACS call with HMAC-SHA256, and the emulator verifies each signature.

use crate::support::{Handler, SENDER, free_port, handler_env, repo_root};
use acs_functions_handler::emulator::{Emulator, EmulatorOptions};
use base64::Engine as _;
use serde_json::{Value, json};
use std::{collections::HashMap, process::Command};

/// A fresh random key, base64 as the portal shows it.
fn random_key() -> String {
    let bytes = [
        uuid::Uuid::new_v4().into_bytes(),
        uuid::Uuid::new_v4().into_bytes(),
    ]
    .concat();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn emulator_with_key(key: &str) -> Emulator {
    let options = EmulatorOptions {
        cert_dir: std::env::temp_dir().join("acs-handler-tests"),
        owned_senders: vec![SENDER.to_owned()],
        access_key: Some(key.to_owned()),
        ..EmulatorOptions::default()
    };
    Emulator::start(options).await.expect("the emulator starts")
}

/// The handler's environment with no managed identity and no endpoint setting: only the
/// connection string says where ACS is and how to authenticate.
fn key_only_env(emulator: &Emulator, key: &str) -> HashMap<String, String> {
    let mut env = handler_env(emulator);
    for name in [
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "COMMUNICATION_SERVICES_ENDPOINT",
    ] {
        env.remove(name);
    }
    env.insert(
        "COMMUNICATION_SERVICES_CONNECTION_STRING".into(),
        format!("endpoint={}/;accesskey={key}", emulator.acs_endpoint()),
    );
    // Debug logs include the pipeline's own request lines: the key must not show there either.
    env.insert("RUST_LOG".into(), "debug".into());
    env
}

fn assert_key_not_logged(handler: &Handler, key: &str) {
    let logs = handler.logs();
    assert!(!logs.is_empty(), "the handler logged nothing");
    for line in &logs {
        assert!(!line.contains(key), "the access key leaked: {line}");
    }
}

async fn post(
    http: &reqwest::Client,
    handler: &Handler,
    path: &str,
    body: Value,
) -> reqwest::Response {
    http.post(format!("{}{path}", handler.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_and_sms_work_with_only_a_connection_string() {
    let key = random_key();
    let emulator = emulator_with_key(&key).await;
    let env = key_only_env(&emulator, &key);
    let handler = tokio::task::block_in_place(|| Handler::start(&env, &repo_root()));
    let http = reqwest::Client::new();

    let token = post(&http, &handler, "/api/token", json!({})).await;
    let sms = post(
        &http,
        &handler,
        "/api/sms",
        json!({"to": "+14255550123", "message": "signed with the key"}),
    )
    .await;

    assert_eq!(token.status(), 200);
    let body: Value = token.json().await.unwrap();
    assert!(
        body["token"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(sms.status(), 202);
    assert_eq!(emulator.state().outbox().len(), 1);

    // Create a user with its token, then send: both calls signed, neither with a bearer token.
    let requests = emulator.state().requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/identities", "/sms"]);
    for request in &requests {
        let authorization = request.header("authorization").unwrap_or_default();
        assert!(
            authorization.starts_with(
                "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
            ),
            "{} {}: {authorization}",
            request.method,
            request.path
        );
        assert!(request.header("x-ms-date").is_some());
    }
    assert!(emulator.state().identity_requests().is_empty());

    assert!(
        handler
            .logs()
            .iter()
            .any(|line| line.contains("access key (COMMUNICATION_SERVICES_CONNECTION_STRING)")),
        "start-up names the credential kind: {:?}",
        handler.logs()
    );
    assert_key_not_logged(&handler, &key);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_key_is_an_authorization_failure() {
    let emulator = emulator_with_key(&random_key()).await;
    let wrong = random_key();
    let env = key_only_env(&emulator, &wrong);
    let handler = tokio::task::block_in_place(|| Handler::start(&env, &repo_root()));
    let http = reqwest::Client::new();

    let response = post(&http, &handler, "/api/token", json!({})).await;

    assert_eq!(response.status(), 502);
    assert_eq!(
        response.headers()["x-ms-error-code"],
        "AcsAuthorizationFailed"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "AcsAuthorizationFailed");
    assert!(!body.to_string().contains(&wrong), "{body}");
    assert!(emulator.state().outbox().is_empty());
    assert_key_not_logged(&handler, &wrong);
}

#[test]
fn an_endpoint_that_disagrees_with_the_connection_string_stops_start_up() {
    let key = random_key();
    let env: HashMap<&str, String> = [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", free_port().to_string()),
        (
            "COMMUNICATION_SERVICES_ENDPOINT",
            "https://contoso.communication.azure.com".to_owned(),
        ),
        (
            "COMMUNICATION_SERVICES_CONNECTION_STRING",
            format!("endpoint=https://fabrikam.communication.azure.com/;accesskey={key}"),
        ),
    ]
    .into_iter()
    .collect();

    let output = Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("contoso") && stderr.contains("fabrikam"),
        "{stderr}"
    );
    assert!(!stderr.contains(&key), "the key leaked: {stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).trim().is_empty());
}
