//! Replays the ACS sessions recorded by the official Python SDK's live tests through our ACS
//! client and its real `azure_core` pipeline: each request we build must have the recorded
//! method, path and body fields, and each recorded response must parse into the right result.
//! The spec example files check response parsing alone.

use acs_functions_handler::acs::{
    AcsClient, AcsClientOptions, AcsError, CallContext,
    identity::CreateUser,
    sms::{Recipient, SendMessage, SendOptions},
};
use acs_functions_handler::scope::Scope;
use async_trait::async_trait;
use azure_core::{
    credentials::{AccessToken, TokenCredential, TokenRequestOptions},
    http::{
        AsyncRawResponse, Body, ClientOptions, HttpClient, Request, RetryOptions, StatusCode,
        Transport, Url, headers::Headers,
    },
    time::{Duration, OffsetDateTime},
};
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

const FAKE_TOKEN: &str = "replay-token";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/acs-recordings")
}

fn load(name: &str) -> Value {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixtures are JSON")
}

/// What our client sent.
#[derive(Debug, Clone)]
struct Sent {
    method: String,
    url: Url,
    authorization: Option<String>,
    client_request_id: Option<String>,
    body: Vec<u8>,
}

/// A transport that answers each request with the next recorded response.
#[derive(Debug)]
struct Replay {
    responses: Mutex<Vec<(u16, Value)>>,
    sent: Mutex<Vec<Sent>>,
}

#[async_trait]
impl HttpClient for Replay {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let body = match request.body() {
            Body::Bytes(bytes) => bytes.to_vec(),
            #[allow(unreachable_patterns)]
            _ => panic!("our client sends buffered bodies"),
        };
        let header = |name: &str| {
            request
                .headers()
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, v)| v.as_str().to_owned())
        };
        self.sent.lock().unwrap().push(Sent {
            method: request.method().to_string(),
            url: request.url().clone(),
            authorization: header("authorization"),
            client_request_id: header("x-ms-client-request-id"),
            body,
        });
        let (status, body) = self.responses.lock().unwrap().remove(0);
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        let mut headers = Headers::new();
        headers.insert("content-type", "application/json; charset=utf-8");
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(status),
            headers,
            bytes,
        ))
    }
}

#[derive(Debug)]
struct FixedCredential;

#[async_trait]
impl TokenCredential for FixedCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        assert_eq!(scopes, ["https://communication.azure.com//.default"]);
        Ok(AccessToken::new(
            FAKE_TOKEN.to_owned(),
            OffsetDateTime::now_utc() + Duration::hours(1),
        ))
    }
}

fn replay_client(responses: Vec<(u16, Value)>) -> (AcsClient, Arc<Replay>) {
    let replay = Arc::new(Replay {
        responses: Mutex::new(responses),
        sent: Mutex::new(Vec::new()),
    });
    let options = AcsClientOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(replay.clone())),
            retry: RetryOptions::none(),
            ..Default::default()
        },
        ..Default::default()
    };
    let endpoint = Url::parse("https://sanitized.communication.azure.com").unwrap();
    (
        AcsClient::new(endpoint, Arc::new(FixedCredential), options),
        replay,
    )
}

/// Drops null fields and the values of repeatability fields, which are fresh on every send.
fn comparable(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let v = if k.starts_with("repeatability") {
                        json!("<any>")
                    } else {
                        comparable(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(comparable).collect()),
        other => other.clone(),
    }
}

fn scopes(value: &Value) -> Vec<Scope> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect()
}

/// Runs one recorded entry through the client method it stands for and checks the outcome.
async fn replay_entry(file: &str, entry: &Value) {
    let method = entry["RequestMethod"].as_str().unwrap();
    let recorded_url = Url::parse(entry["RequestUri"].as_str().unwrap()).unwrap();
    let recorded_body = &entry["RequestBody"];
    let status = entry["StatusCode"].as_u64().unwrap() as u16;
    let response = entry["ResponseBody"].clone();
    let (client, replay) = replay_client(vec![(status, response.clone())]);
    let cx = CallContext {
        client_request_id: Some("4f1e4ab8-1d6b-4e3e-a06b-2a3bbd0e4d5e".into()),
        traceparent: None,
    };
    let path = recorded_url.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    match (method, segments.as_slice()) {
        ("POST", ["identities"]) => {
            let scopes = scopes(&recorded_body["createTokenWithScopes"]);
            let expires = recorded_body["expiresInMinutes"].as_u64().map(|m| m as u32);
            let created = client
                .create_user(
                    &cx,
                    &CreateUser {
                        scopes: &scopes,
                        expires_in_minutes: expires,
                        custom_id: None,
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                created.identity.id,
                response["identity"]["id"].as_str().unwrap(),
                "{file}"
            );
            if let Some(token) = response.get("accessToken") {
                let ours = created.access_token.expect("token parsed");
                assert_eq!(ours.token, token["token"].as_str().unwrap());
                assert_eq!(ours.expires_on, token["expiresOn"].as_str().unwrap());
            }
        }
        ("POST", ["identities", id, ":issueAccessToken"]) => {
            let scopes = scopes(&recorded_body["scopes"]);
            let expires = recorded_body["expiresInMinutes"].as_u64().map(|m| m as u32);
            let token = client
                .issue_token(&cx, id, &scopes, expires)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(token.token, response["token"].as_str().unwrap());
            assert_eq!(token.expires_on, response["expiresOn"].as_str().unwrap());
        }
        ("POST", ["identities", id, ":revokeAccessTokens"]) => {
            client
                .revoke_tokens(&cx, id)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        ("DELETE", ["identities", id]) => {
            client
                .delete_user(&cx, id)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        ("POST", ["sms"]) => {
            let recipients: Vec<Recipient> = recorded_body["smsRecipients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| Recipient {
                    to: r["to"].as_str().unwrap().to_owned(),
                    repeatability_request_id: uuid::Uuid::new_v4().to_string(),
                    repeatability_first_sent: httpdate::fmt_http_date(std::time::SystemTime::now()),
                })
                .collect();
            let options = &recorded_body["smsSendOptions"];
            let message = SendMessage {
                from: recorded_body["from"].as_str().unwrap(),
                sms_recipients: recipients,
                message: recorded_body["message"].as_str().unwrap(),
                sms_send_options: SendOptions {
                    enable_delivery_report: options["enableDeliveryReport"]
                        .as_bool()
                        .unwrap_or(false),
                    tag: options["tag"].as_str(),
                },
            };
            let results = client
                .send_sms(&cx, &message)
                .await
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let items = response["value"].as_array().unwrap();
            assert_eq!(results.len(), items.len(), "{file}");
            for (ours, item) in results.iter().zip(items) {
                assert_eq!(
                    ours.http_status_code as u64,
                    item["httpStatusCode"].as_u64().unwrap()
                );
                assert_eq!(
                    ours.accepted(),
                    item["successful"].as_bool().unwrap(),
                    "{file}"
                );
                assert_eq!(ours.message_id.as_deref(), item["messageId"].as_str());
                assert_eq!(ours.error_message.as_deref(), item["errorMessage"].as_str());
                assert_eq!(
                    ours.repeatability_result.as_deref(),
                    item["repeatabilityResult"].as_str()
                );
            }
        }
        other => panic!("{file}: no client operation for {other:?}"),
    }

    let sent = replay.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{file}: one request per operation");
    let sent = &sent[0];
    assert_eq!(sent.method, method, "{file}");
    assert_eq!(sent.url.path(), recorded_url.path(), "{file}");
    assert!(
        sent.url.query().unwrap().starts_with("api-version="),
        "{file}"
    );
    assert_eq!(
        sent.authorization.as_deref(),
        Some(format!("Bearer {FAKE_TOKEN}").as_str()),
        "{file}"
    );
    assert_eq!(
        sent.client_request_id.as_deref(),
        cx.client_request_id.as_deref(),
        "{file}"
    );
    if recorded_body.is_null() {
        assert!(
            sent.body.is_empty(),
            "{file}: expected no body, sent {}",
            String::from_utf8_lossy(&sent.body)
        );
    } else {
        let ours: Value = serde_json::from_slice(&sent.body).expect("we send JSON");
        assert_eq!(comparable(&ours), comparable(recorded_body), "{file}");
    }
}

#[tokio::test]
async fn every_recorded_session_replays() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures())
        .expect("../shared/fixtures/acs-recordings exists beside the repository")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    let mut replayed = 0;
    for file in &files {
        let recording = load(file);
        let Some(entries) = recording.get("Entries").and_then(Value::as_array) else {
            continue;
        };
        for entry in entries {
            replay_entry(file, entry).await;
            replayed += 1;
        }
    }
    assert!(replayed >= 12, "replayed only {replayed} entries");
}

#[tokio::test]
async fn the_2026_sms_example_parses_item_by_item() {
    let example = load("spec-example-sms-2026-01-23-SmsSend.json");
    let request = &example["parameters"]["SendMessageRequest"];
    let recipients: Vec<Recipient> = request["smsRecipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Recipient {
            to: r["to"].as_str().unwrap().into(),
            repeatability_request_id: "x".into(),
            repeatability_first_sent: "y".into(),
        })
        .collect();
    let message = SendMessage {
        from: "+18001110000",
        sms_recipients: recipients,
        message: "Hello world!",
        sms_send_options: SendOptions::default(),
    };
    let (client, _) = replay_client(vec![(202, example["responses"]["202"]["body"].clone())]);
    let results = client
        .send_sms(&CallContext::default(), &message)
        .await
        .unwrap();
    let accepted: Vec<bool> = results.iter().map(|r| r.accepted()).collect();
    assert_eq!(accepted, [true, true, false, false, true, false]);
    assert_eq!(results[3].http_status_code, 503);
    assert_eq!(results[5].repeatability_result.as_deref(), Some("rejected"));

    for (status, code) in [(400, "ValidationError"), (401, "Unauthorized")] {
        let (client, _) = replay_client(vec![(
            status,
            example["responses"][status.to_string()]["body"].clone(),
        )]);
        let message = SendMessage {
            sms_recipients: vec![],
            ..message.clone()
        };
        match client.send_sms(&CallContext::default(), &message).await {
            Err(AcsError::Service {
                status: s,
                code: Some(c),
                ..
            }) => assert_eq!((s, c.as_str()), (status, code)),
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_custom_id_example_parses() {
    let example = load("spec-example-identity-2025-03-02-preview-CreateIdentity.json");
    let body = &example["parameters"]["body"];
    let (client, replay) = replay_client(vec![(201, example["responses"]["201"]["body"].clone())]);
    let scopes = scopes(&body["createTokenWithScopes"]);
    let options = CreateUser {
        scopes: &scopes,
        expires_in_minutes: Some(60),
        custom_id: Some("sally@contoso.com"),
    };
    let created = client
        .create_user(&CallContext::default(), &options)
        .await
        .unwrap();
    assert_eq!(
        created.identity.custom_id.as_deref(),
        Some("sally@contoso.com")
    );
    assert!(created.identity.id.starts_with("8:acs:"));
    let sent = replay.sent.lock().unwrap()[0].clone();
    assert_eq!(sent.url.query(), Some("api-version=2025-03-02-preview"));
    let ours: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(ours, *body);
}
