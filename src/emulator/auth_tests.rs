//! HMAC verification against the test vectors of acs-rest.md §8.

use super::*;
use axum::http::HeaderValue;

const KEY: [u8; 1] = [0xA7]; // base64 `pw==`
const DATE: &str = "Wed, 13 Apr 2022 18:09:12 GMT";
const HOST_A: &str = "contoso.communicationservices.azure.com";
const EMPTY_HASH: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
const REVOKE_PATH: &str = "/identities/8%3Aacs%3A2dee53b4-368b-45b4-ab52-8493fb117652_\
                           00000005-14a2-493b-8a72-5a3a0d000081/:revokeAccessTokens\
                           ?api-version=2023-10-01";

fn string_to_sign(method: &str, path_and_query: &str, host: &str, body: &[u8]) -> String {
    format!(
        "{method}\n{path_and_query}\n{DATE};{host};{}",
        content_hash(body)
    )
}

fn signed_headers(
    host: &str,
    body: &[u8],
    date_header: &'static str,
    signature: &str,
) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = |s: &str| HeaderValue::from_str(s).expect("valid header value");
    headers.insert("host", value(host));
    headers.insert(date_header, value(DATE));
    headers.insert("x-ms-content-sha256", value(&content_hash(body)));
    headers.insert("authorization", value(&credentials(date_header, signature)));
    headers
}

fn credentials(date_header: &str, signature: &str) -> String {
    format!("SignedHeaders={date_header};host;x-ms-content-sha256&Signature={signature}")
}

#[test]
fn content_hashes_match_the_vectors() {
    assert_eq!(content_hash(b""), EMPTY_HASH);
    assert_eq!(
        content_hash(b"banana"),
        "tJPUg2Sv5E0RwBZc9HCkFk0eJgmRHvmYvoaNRq3j3k4="
    );
    assert_eq!(
        content_hash("😀".as_bytes()),
        "8EQ6NCxe9UeDoRG1G6Vsk45HTDIyTZDDpgycjjo34tk="
    );
    assert_eq!(
        content_hash(br#"{"createTokenWithScopes":["chat","voip"]}"#),
        "fYTayOkxDFdoXd25BoJTvoTLLr5+QVfLFXvdJep6oNs="
    );
    assert_eq!(
        content_hash(br#"{"scopes":["chat"],"expiresInMinutes":60}"#),
        "E55T2AR1et0dXg9viVUjwxjce4gxp+nmLcQffc3NPsA="
    );
}

#[test]
fn raw_hmac_matches_the_vectors() {
    assert_eq!(
        signature(&KEY, "banana"),
        "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8="
    );
    assert_eq!(
        signature(&KEY, "😀"),
        "1rudJKjn2Zi+3hRrBG29wIF6pD6YyAeQR1ZcFtXoKAU="
    );
}

#[test]
fn request_signatures_match_the_vectors() {
    let cases = [
        (
            "GET",
            "/",
            HOST_A,
            &b""[..],
            "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4=",
        ),
        (
            "GET",
            "/testPath",
            HOST_A,
            b"",
            "RoCrHjw7fb9fpHSbqvRUY2xa8RBS0YvI1cxI1x8AS38=",
        ),
        (
            "GET",
            "/testPath?testQuery=yes",
            HOST_A,
            b"",
            "il99+rd6V5O136roX/zVePCNle78HmvC4B7tu9zRH3I=",
        ),
        (
            "GET",
            "/testPath?testQuery=test",
            "example.com",
            b"",
            "DGdgwggJWnQyc6EHjR/Vbqg1ES64KpD6U2XwTDDj3tU=",
        ),
        (
            "GET",
            "/testPath",
            "example.com",
            b"",
            "+6tWkg3lNKVjQHHmxkdGQcJjUgzclsWTMebnuCz1ngU=",
        ),
        (
            "POST",
            "/identities?api-version=2023-10-01",
            HOST_A,
            br#"{"createTokenWithScopes":["chat","voip"]}"#,
            "YbVqrFHn0amuLfWKjppFBoFbCFDSGQdxeUfDAX8868o=",
        ),
        (
            "POST",
            REVOKE_PATH,
            HOST_A,
            b"",
            "oKymXBVmnyZZwqM5CPL1kqq3bye1dciteKCCygmj0Fo=",
        ),
    ];
    for (method, path, host, body, expected) in cases {
        let computed = signature(&KEY, &string_to_sign(method, path, host, body));
        assert_eq!(computed, expected, "{method} {path}");

        let headers = signed_headers(host, body, "x-ms-date", expected);
        let creds = credentials("x-ms-date", expected);
        assert_eq!(
            verify_hmac(&KEY, method, path, &headers, body, &creds),
            Ok(())
        );
    }
}

#[test]
fn signature_over_the_decoded_path_is_accepted() {
    let decoded = percent_decode(REVOKE_PATH);
    assert!(decoded.contains("8:acs:"));
    let sig = signature(&KEY, &string_to_sign("POST", &decoded, HOST_A, b""));
    let headers = signed_headers(HOST_A, b"", "x-ms-date", &sig);
    let creds = credentials("x-ms-date", &sig);
    assert_eq!(
        verify_hmac(&KEY, "POST", REVOKE_PATH, &headers, b"", &creds),
        Ok(())
    );
}

#[test]
fn date_header_may_replace_x_ms_date_when_signed() {
    let sig = "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4=";
    let headers = signed_headers(HOST_A, b"", "date", sig);
    assert_eq!(
        verify_hmac(&KEY, "GET", "/", &headers, b"", &credentials("date", sig)),
        Ok(())
    );
}

#[test]
fn body_that_differs_from_its_hash_is_refused_as_such() {
    let sig = "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4=";
    let headers = signed_headers(HOST_A, b"", "x-ms-date", sig);
    let creds = credentials("x-ms-date", sig);
    assert_eq!(
        verify_hmac(&KEY, "GET", "/", &headers, b"tampered", &creds),
        Err(HmacError::ContentHash)
    );
}

#[test]
fn wrong_key_path_or_host_is_denied() {
    let sig = "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4=";
    let creds = credentials("x-ms-date", sig);
    let headers = signed_headers(HOST_A, b"", "x-ms-date", sig);
    assert_eq!(
        verify_hmac(&[1], "GET", "/", &headers, b"", &creds),
        Err(HmacError::Denied)
    );
    assert_eq!(
        verify_hmac(&KEY, "GET", "/x", &headers, b"", &creds),
        Err(HmacError::Denied)
    );
    let other_host = signed_headers("example.com", b"", "x-ms-date", sig);
    assert_eq!(
        verify_hmac(&KEY, "GET", "/", &other_host, b"", &creds),
        Err(HmacError::Denied)
    );
}

#[test]
fn unsigned_required_headers_are_denied() {
    let sig = "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4=";
    let headers = signed_headers(HOST_A, b"", "x-ms-date", sig);
    let creds = format!("SignedHeaders=x-ms-date;host&Signature={sig}");
    assert_eq!(
        verify_hmac(&KEY, "GET", "/", &headers, b"", &creds),
        Err(HmacError::Denied)
    );
    assert_eq!(
        verify_hmac(&KEY, "GET", "/", &headers, b"", "garbage"),
        Err(HmacError::Denied)
    );
}
