//! HMAC-SHA256 key authentication end to end.

use acs_functions_handler::emulator::EmulatorOptions;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::support::start_with;

const KEY: &str = "pw==";

/// Signs like the SDKs do (acs-rest.md §3) and returns the request headers.
fn signed(
    method: &str,
    host: &str,
    path_and_query: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let hash = STANDARD.encode(Sha256::digest(body));
    let to_sign = format!("{method}\n{path_and_query}\n{date};{host};{hash}");
    let key = STANDARD.decode(KEY).expect("base64 key");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length");
    mac.update(to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    vec![
        ("x-ms-date", date),
        ("x-ms-content-sha256", hash),
        (
            "authorization",
            format!(
                "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"
            ),
        ),
    ]
}

#[tokio::test]
async fn signed_requests_are_verified() {
    let options = EmulatorOptions {
        access_key: Some(KEY.to_owned()),
        ..Default::default()
    };
    let t = start_with(options).await;
    let endpoint = t.emulator.acs_endpoint();
    let host = endpoint.trim_start_matches("https://").to_owned();
    let path = "/identities?api-version=2023-10-01";
    let body = br#"{"createTokenWithScopes":["chat","voip"]}"#;

    let send = |headers: Vec<(&'static str, String)>, body: &'static [u8]| {
        let mut request = t.client.post(format!("{endpoint}{path}")).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };

    let good = send(signed("POST", &host, path, body), body)
        .await
        .expect("answer");
    assert_eq!(good.status(), StatusCode::CREATED);

    let tampered = send(signed("POST", &host, path, body), b"{}")
        .await
        .expect("answer");
    assert_eq!(tampered.status(), StatusCode::UNAUTHORIZED);
    let text = tampered.text().await.unwrap_or_default();
    assert!(
        text.contains("differs from generated content hash"),
        "{text}"
    );

    let wrong_host = send(signed("POST", "example.com", path, body), body)
        .await
        .expect("answer");
    assert_eq!(wrong_host.status(), StatusCode::UNAUTHORIZED);
    let text = wrong_host.text().await.unwrap_or_default();
    assert!(text.contains("Denied by the resource provider."), "{text}");
    t.emulator.shutdown().await;
}
