//! Helpers shared by the emulator integration tests: start an emulator, build a client that
//! trusts its CA, fetch a managed-identity token and call the ACS API.

#![allow(dead_code)] // Each test binary uses a different subset.

use acs_functions_handler::emulator::{Emulator, EmulatorOptions};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A running emulator plus a client that trusts it and a valid bearer token.
pub struct TestEmulator {
    pub emulator: Emulator,
    pub client: reqwest::Client,
    pub token: String,
}

/// An answer with its body read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn start() -> TestEmulator {
    start_with(EmulatorOptions::default()).await
}

pub async fn start_with(options: EmulatorOptions) -> TestEmulator {
    let emulator = Emulator::start(options).await.expect("emulator starts");
    let client = client_for(&emulator);
    let token =
        managed_identity_token(&emulator, &client, "https://communication.azure.com/").await;
    TestEmulator {
        emulator,
        client,
        token,
    }
}

/// A client that trusts only the emulator's CA, read from the file the emulator wrote.
pub fn client_for(emulator: &Emulator) -> reqwest::Client {
    let pem = std::fs::read(emulator.ca_cert_path()).expect("CA file exists");
    let ca = reqwest::Certificate::from_pem(&pem).expect("CA is PEM");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client builds")
}

pub async fn managed_identity_token(
    emulator: &Emulator,
    client: &reqwest::Client,
    resource: &str,
) -> String {
    let answer = client
        .get(identity_url(
            emulator,
            &[("api-version", "2019-08-01"), ("resource", resource)],
        ))
        .header("X-IDENTITY-HEADER", emulator.identity_header())
        .send()
        .await
        .expect("identity endpoint answers");
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

impl TestEmulator {
    /// Calls the ACS API with the bearer token; `path` includes the query.
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let auth = format!("Bearer {}", self.token);
        self.call_with_auth(method, path, body, Some(&auth)).await
    }

    pub async fn call_with_auth(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        authorization: Option<&str>,
    ) -> Answer {
        let url = format!("{}{path}", self.emulator.acs_endpoint());
        let mut request = self.client.request(method, url);
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("ACS answers");
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("body"),
        }
    }

    /// Creates an identity with api-version 2023-10-01 and returns its id.
    pub async fn create_identity(&self) -> String {
        let answer = self
            .call(Method::POST, "/identities?api-version=2023-10-01", None)
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.json()["identity"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }
}

/// Percent-encodes an identity id for a path, `:` included.
pub fn encode_id(id: &str) -> String {
    id.replace(':', "%3A")
}

/// Decodes the payload of a JWT.
pub fn jwt_payload(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

/// The token endpoint URL with these query parameters.
pub fn identity_url(emulator: &Emulator, query: &[(&str, &str)]) -> String {
    url::Url::parse_with_params(&emulator.identity_endpoint(), query)
        .expect("valid URL")
        .into()
}
