//! Integration tests of the ACS + managed-identity emulator over real sockets: TLS, auth,
//! the Identity API. SMS and faults live in `emulator/`.

#[path = "emulator/faults.rs"]
mod faults;
#[path = "emulator/hmac.rs"]
mod hmac;
#[path = "emulator/sms.rs"]
mod sms;
mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{encode_id, identity_url, jwt_payload, start};

#[tokio::test]
async fn tls_with_the_written_ca_and_a_managed_identity_token_works() {
    let t = start().await;
    assert!(t.emulator.acs_endpoint().starts_with("https://127.0.0.1:"));
    let name = t
        .emulator
        .ca_cert_path()
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    assert!(
        name.starts_with("emulator-ca-") && name.ends_with(".pem"),
        "{name}"
    );

    // Several calls on one client also exercise keep-alive connections.
    for _ in 0..3 {
        t.create_identity().await;
    }
    let tokens = t.emulator.state().issued_managed_identity_tokens();
    assert_eq!(tokens, vec![t.token.clone()]);
    let claims = jwt_payload(&t.token);
    assert_eq!(claims["aud"], "https://communication.azure.com/");
    assert!(claims["exp"].is_u64() && claims["iat"].is_u64() && claims["oid"].is_string());
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn identity_endpoint_checks_secret_and_version_and_records_requests() {
    let t = start().await;
    let query = [
        ("api-version", "2019-08-01"),
        ("resource", "https://communication.azure.com"),
    ];
    let url = identity_url(&t.emulator, &query);

    let wrong_secret = t.client.get(&url).header("X-IDENTITY-HEADER", "nope");
    let answer = wrong_secret.send().await.expect("answer");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);

    let old_version = [("api-version", "2017-09-01"), ("resource", "https://x")];
    let request = t.client.get(identity_url(&t.emulator, &old_version));
    let answer = request
        .header("X-IDENTITY-HEADER", t.emulator.identity_header())
        .send()
        .await;
    assert_eq!(answer.expect("answer").status(), StatusCode::BAD_REQUEST);

    let request = t.client.get(&url);
    let answer = request
        .header("X-IDENTITY-HEADER", t.emulator.identity_header())
        .send()
        .await;
    let body: serde_json::Value = answer.expect("answer").json().await.expect("json");
    assert_eq!(body["resource"], "https://communication.azure.com");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["expires_on"]
            .as_str()
            .is_some_and(|s| s.parse::<u64>().is_ok())
    );
    assert!(body["client_id"].is_string());

    let requests = t.emulator.state().identity_requests();
    assert_eq!(requests.len(), 4); // including the one made by `start`
    assert_eq!(
        requests[3].query_param("resource").as_deref(),
        Some("https://communication.azure.com")
    );
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn bearer_tokens_other_than_the_emulators_are_refused() {
    let t = start().await;
    let path = "/identities?api-version=2023-10-01";
    let random = t
        .call_with_auth(Method::POST, path, None, Some("Bearer abc.def.ghi"))
        .await;
    assert_eq!(random.status, StatusCode::UNAUTHORIZED);
    assert_eq!(random.json()["error"]["code"], "InvalidAuthenticationToken");

    let missing = t.call_with_auth(Method::POST, path, None, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);

    let vault =
        support::managed_identity_token(&t.emulator, &t.client, "https://vault.azure.net").await;
    let wrong_audience = format!("Bearer {vault}");
    let answer = t
        .call_with_auth(Method::POST, path, None, Some(&wrong_audience))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);

    // Rejected requests are recorded too.
    assert_eq!(t.emulator.state().requests().len(), 3);
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn api_version_is_required_and_known_and_paths_are_exact() {
    let t = start().await;
    let missing = t.call(Method::POST, "/identities", None).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.text,
        r#"{"error":{"code":"ApiVersionUnspecified","message":"An API version is required, but was not specified.","innerError":null}}"#
    );

    let unknown = t
        .call(Method::POST, "/identities?api-version=2020-01-01", None)
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.json()["error"]["code"], "UnsupportedApiVersion");

    let doubled = t
        .call(Method::POST, "//identities?api-version=2023-10-01", None)
        .await;
    assert_eq!(doubled.status, StatusCode::NOT_FOUND);

    let url = format!(
        "{}/identities?api-version=2023-10-01",
        t.emulator.acs_endpoint()
    );
    let bearer = format!("Bearer {}", t.token);
    let request = t.client.post(url).header("authorization", bearer);
    let broken = request.body(r#"{"scopes":"#).send().await.expect("answer");
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = broken.json().await.expect("JSON error body");
    assert!(body["error"]["code"].is_string());
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn identities_are_created_with_and_without_a_token() {
    let t = start().await;
    let plain = t
        .call(
            Method::POST,
            "/identities?api-version=2023-10-01",
            Some(&json!({})),
        )
        .await;
    assert_eq!(plain.status, StatusCode::CREATED);
    assert_eq!(
        plain.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert!(
        plain
            .header("api-supported-versions")
            .is_some_and(|v| v.contains("2023-10-01"))
    );
    let body = plain.json();
    assert!(body.get("accessToken").is_none());
    let id = body["identity"]["id"].as_str().unwrap_or_default();
    assert!(id.starts_with("8:acs:") && id.len() == 79, "{id}");

    let request = json!({"createTokenWithScopes": ["voip", "chat"], "expiresInMinutes": 60});
    let with_token = t
        .call(
            Method::POST,
            "/identities?api-version=2023-10-01",
            Some(&request),
        )
        .await;
    assert_eq!(with_token.status, StatusCode::CREATED);
    let body = with_token.json();
    let claims = jwt_payload(body["accessToken"]["token"].as_str().unwrap_or_default());
    assert_eq!(claims["acsScope"], "voip,chat");
    assert_eq!(claims["scp"], 1792);
    let expires_on = body["accessToken"]["expiresOn"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        expires_on.len(),
        "2023-01-17T13:48:04.3931159+00:00".len(),
        "{expires_on}"
    );
    assert!(expires_on.ends_with("+00:00"));
    let exp = claims["exp"].as_i64().unwrap_or_default();
    assert_eq!(exp - claims["iat"].as_i64().unwrap_or_default(), 3600);
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn token_requests_are_validated_like_the_service() {
    let t = start().await;
    let too_short = json!({"createTokenWithScopes": ["chat"], "expiresInMinutes": 59});
    let answer = t
        .call(
            Method::POST,
            "/identities?api-version=2023-10-01",
            Some(&too_short),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.json(),
        json!({"error":{"code":"ValidationError","message":"ExpiresInMinutes value 59 is invalid. Value must be within the [60, 1440] interval.","target":"ExpiresInMinutes"}})
    );

    let join = json!({"createTokenWithScopes": ["voip.join"]});
    let old = t
        .call(
            Method::POST,
            "/identities?api-version=2022-10-01",
            Some(&join),
        )
        .await;
    assert_eq!(
        old.json()["error"]["message"],
        "Scope 'voip.join' is invalid."
    );
    let new = t
        .call(
            Method::POST,
            "/identities?api-version=2023-10-01",
            Some(&join),
        )
        .await;
    assert_eq!(new.status, StatusCode::CREATED);

    let id = encode_id(&t.create_identity().await);
    let issue = format!("/identities/{id}/:issueAccessToken?api-version=2023-10-01");
    let no_scopes = t
        .call(Method::POST, &issue, Some(&json!({"scopes": null})))
        .await;
    assert_eq!(
        no_scopes.json(),
        json!({"error":{"code":"ValidationError","message":"Scopes: The Scopes field is required.","target":"Scopes"}})
    );
    let ok = t
        .call(
            Method::POST,
            &issue,
            Some(&json!({"scopes": ["chat"], "expiresInMinutes": null})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.json()["token"].is_string());
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn custom_id_creates_once_then_returns_the_same_identity() {
    let t = start().await;
    let preview = "/identities?api-version=2025-03-02-preview";
    let request = json!({"customId": "sally@contoso.com", "createTokenWithScopes": ["chat"]});
    let first = t.call(Method::POST, preview, Some(&request)).await;
    let second = t
        .call(
            Method::POST,
            preview,
            Some(&json!({"customId": "sally@contoso.com"})),
        )
        .await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::CREATED, StatusCode::OK)
    );
    let id = first.json()["identity"]["id"].clone();
    assert_eq!(second.json()["identity"]["id"], id);
    assert_eq!(second.json()["identity"]["customId"], "sally@contoso.com");
    assert!(second.json()["identity"]["lastTokenIssuedAt"].is_string());

    let path = format!(
        "/identities/{}?api-version=2025-03-02-preview",
        encode_id(id.as_str().unwrap_or_default())
    );
    let got = t.call(Method::GET, &path, None).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["customId"], "sally@contoso.com");

    let ga = t
        .call(
            Method::POST,
            "/identities?api-version=2023-10-01",
            Some(&json!({"customId": "x"})),
        )
        .await;
    assert_eq!(ga.status, StatusCode::BAD_REQUEST);
    assert_eq!(ga.json()["error"]["target"], "customId");
    t.emulator.shutdown().await;
}

#[tokio::test]
async fn revoke_and_delete_answer_204_then_404() {
    let t = start().await;
    let id = encode_id(&t.create_identity().await);
    let revoke = format!("/identities/{id}/:revokeAccessTokens?api-version=2023-10-01");
    let delete = format!("/identities/{id}?api-version=2023-10-01");

    assert_eq!(
        t.call(Method::POST, &revoke, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.call(Method::DELETE, &delete, None).await.status,
        StatusCode::NO_CONTENT
    );
    let again = t.call(Method::DELETE, &delete, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.json()["error"]["code"], "IdentityNotFound");
    assert_eq!(
        t.call(Method::POST, &revoke, None).await.status,
        StatusCode::NOT_FOUND
    );

    // The raw path keeps its percent-encoding.
    let recorded = t.emulator.state().requests();
    assert!(recorded.iter().any(|r| r.path.contains("8%3Aacs%3A")));
    t.emulator.shutdown().await;
}
