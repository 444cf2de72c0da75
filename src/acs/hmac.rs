//! Access-key authentication: every request signed with HMAC-SHA256, as the ACS SDKs sign
//! (acs-rest.md §3).
//!
//! This is the fallback for a local run against a real resource, or a host where no managed
//! identity can be had. The string to sign is
//! `VERB\n<path and query>\n<x-ms-date>;<host>;<x-ms-content-sha256>`, and the key is the
//! base64-decoded access key of the connection string.

use azure_core::{
    error::{Error, ErrorKind},
    http::{
        Body, Context, Request, Url,
        headers::{AUTHORIZATION, HeaderName},
        policies::{Policy, PolicyResult},
    },
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::{fmt, sync::Arc, time::SystemTime};

const X_MS_DATE: HeaderName = HeaderName::from_static("x-ms-date");
const X_MS_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-ms-content-sha256");

/// The decoded bytes of an ACS access key. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey(Vec<u8>);

impl AccessKey {
    /// Decodes the base64 key of a connection string; `None` when it is not base64 or empty.
    pub fn from_base64(encoded: &str) -> Option<Self> {
        match STANDARD.decode(encoded.trim()) {
            Ok(bytes) if !bytes.is_empty() => Some(AccessKey(bytes)),
            _ => None,
        }
    }
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessKey(<redacted>)")
    }
}

/// The three headers that authorize one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub date: String,
    pub content_hash: String,
    pub authorization: String,
}

/// `base64(SHA-256(body))`, the value of `x-ms-content-sha256`.
pub fn content_hash(body: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(body))
}

/// `base64(HMAC-SHA256(key, message))`.
pub fn signature(key: &AccessKey, message: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail; the key is never empty anyway.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC accepts any key");
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The `host` that is signed: the URL's authority, with the port when the URL names a
/// non-default one (the `url` crate drops a default port when parsing).
pub fn signed_host(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Signs one request at `date` (an HTTP date such as `Wed, 13 Apr 2022 18:09:12 GMT`).
/// `path_and_query` is the path plus `?` and the query exactly as they go on the wire.
pub fn sign(
    key: &AccessKey,
    method: &str,
    host: &str,
    path_and_query: &str,
    date: &str,
    body: &[u8],
) -> SignedHeaders {
    let content_hash = content_hash(body);
    let to_sign = format!(
        "{}\n{path_and_query}\n{date};{host};{content_hash}",
        method.to_ascii_uppercase()
    );
    let authorization = format!(
        "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={}",
        signature(key, &to_sign)
    );
    SignedHeaders {
        date: date.to_owned(),
        content_hash,
        authorization,
    }
}

/// An `azure_core` policy that signs every try of a request with the access key. It sits where
/// the bearer-token policy would, after the retry policy, so each retry carries a fresh date.
#[derive(Clone)]
pub struct AccessKeyPolicy {
    key: AccessKey,
}

impl AccessKeyPolicy {
    pub fn new(key: AccessKey) -> Self {
        Self { key }
    }
}

impl fmt::Debug for AccessKeyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKeyPolicy").finish_non_exhaustive()
    }
}

// `async_trait` cannot match `&Context<'_>` against the trait's `&Context`.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl Policy for AccessKeyPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let Body::Bytes(body) = request.body() else {
            // The hash needs every byte before sending; the client only ever sends byte bodies.
            return Err(Error::with_message(
                ErrorKind::Other,
                "access-key signing needs a body held in memory, not a stream",
            ));
        };
        let date = httpdate::fmt_http_date(SystemTime::now());
        let headers = sign(
            &self.key,
            request.method().as_str(),
            &signed_host(request.url()),
            &request.path_and_query(),
            &date,
            body,
        );

        request.insert_header(X_MS_DATE, headers.date);
        request.insert_header(X_MS_CONTENT_SHA256, headers.content_hash);
        request.insert_header(AUTHORIZATION, headers.authorization);
        next[0].send(ctx, request, &next[1..]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn key() -> AccessKey {
        AccessKey::from_base64("pw==").unwrap()
    }

    const DATE: &str = "Wed, 13 Apr 2022 18:09:12 GMT";
    const SET_A_HOST: &str = "contoso.communicationservices.azure.com";

    fn signature_of(headers: &SignedHeaders) -> &str {
        headers
            .authorization
            .strip_prefix("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=")
            .expect("the documented header shape")
    }

    #[test]
    fn raw_hmac_matches_set_a() {
        assert_eq!(
            signature(&key(), "banana"),
            "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8="
        );
        assert_eq!(
            signature(&key(), "😀"),
            "1rudJKjn2Zi+3hRrBG29wIF6pD6YyAeQR1ZcFtXoKAU="
        );
    }

    #[test]
    fn content_hashes_match_the_documented_values() {
        for (body, hash) in [
            ("", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
            ("banana", "tJPUg2Sv5E0RwBZc9HCkFk0eJgmRHvmYvoaNRq3j3k4="),
            ("😀", "8EQ6NCxe9UeDoRG1G6Vsk45HTDIyTZDDpgycjjo34tk="),
            (
                r#"{"createTokenWithScopes":["chat","voip"]}"#,
                "fYTayOkxDFdoXd25BoJTvoTLLr5+QVfLFXvdJep6oNs=",
            ),
            (
                r#"{"scopes":["chat"],"expiresInMinutes":60}"#,
                "E55T2AR1et0dXg9viVUjwxjce4gxp+nmLcQffc3NPsA=",
            ),
        ] {
            assert_eq!(content_hash(body.as_bytes()), hash, "{body}");
        }
    }

    #[test]
    fn requests_sign_as_in_sets_a_and_b() {
        for (host, path, expected) in [
            (
                SET_A_HOST,
                "/",
                "88MDmJhUR3m5QhFxb8ztShsSwlGrg7g/6XPnWf7QEO4=",
            ),
            (
                SET_A_HOST,
                "/testPath",
                "RoCrHjw7fb9fpHSbqvRUY2xa8RBS0YvI1cxI1x8AS38=",
            ),
            (
                SET_A_HOST,
                "/testPath?testQuery=yes",
                "il99+rd6V5O136roX/zVePCNle78HmvC4B7tu9zRH3I=",
            ),
            (
                "example.com",
                "/testPath?testQuery=test",
                "DGdgwggJWnQyc6EHjR/Vbqg1ES64KpD6U2XwTDDj3tU=",
            ),
            (
                "example.com",
                "/testPath",
                "+6tWkg3lNKVjQHHmxkdGQcJjUgzclsWTMebnuCz1ngU=",
            ),
        ] {
            let signed = sign(&key(), "GET", host, path, DATE, b"");
            assert_eq!(signature_of(&signed), expected, "{host}{path}");
            assert_eq!(signed.date, DATE);
            assert_eq!(
                signed.content_hash,
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
            );
        }
    }

    #[test]
    fn derived_vectors_cover_a_body_and_an_encoded_id() {
        let create = sign(
            &key(),
            "post",
            SET_A_HOST,
            "/identities?api-version=2023-10-01",
            DATE,
            br#"{"createTokenWithScopes":["chat","voip"]}"#,
        );
        assert_eq!(
            signature_of(&create),
            "YbVqrFHn0amuLfWKjppFBoFbCFDSGQdxeUfDAX8868o="
        );

        let revoke = sign(
            &key(),
            "POST",
            SET_A_HOST,
            "/identities/8%3Aacs%3A2dee53b4-368b-45b4-ab52-8493fb117652_00000005-14a2-493b-8a72-\
             5a3a0d000081/:revokeAccessTokens?api-version=2023-10-01",
            DATE,
            b"",
        );
        assert_eq!(
            signature_of(&revoke),
            "oKymXBVmnyZZwqM5CPL1kqq3bye1dciteKCCygmj0Fo="
        );
    }

    #[test]
    fn signed_host_keeps_only_a_non_default_port() {
        let host = |url: &str| signed_host(&Url::parse(url).unwrap());
        assert_eq!(
            host("https://x.communication.azure.com/a"),
            "x.communication.azure.com"
        );
        assert_eq!(
            host("https://x.communication.azure.com:443/"),
            "x.communication.azure.com"
        );
        assert_eq!(host("https://127.0.0.1:8443/sms"), "127.0.0.1:8443");
        assert_eq!(host("http://localhost:7071/"), "localhost:7071");
    }

    #[test]
    fn access_key_is_base64_and_never_printed() {
        assert!(AccessKey::from_base64("not base64!").is_none());
        assert!(AccessKey::from_base64("").is_none());
        let key = AccessKey::from_base64("c2VjcmV0LWtleQ==").unwrap();
        let printed = format!("{key:?} {:?}", AccessKeyPolicy::new(key.clone()));
        assert!(!printed.contains("c2VjcmV0"), "{printed}");
        assert!(!printed.contains("secret"), "{printed}");
    }

    /// The last policy of a test pipeline: keeps the request it was handed and fails.
    #[derive(Debug, Default)]
    struct Capture(Mutex<Option<Request>>);

    #[allow(elided_lifetimes_in_paths)]
    #[async_trait::async_trait]
    impl Policy for Capture {
        async fn send(
            &self,
            _ctx: &Context,
            request: &mut Request,
            _next: &[Arc<dyn Policy>],
        ) -> PolicyResult {
            *self.0.lock().unwrap() = Some(request.clone());
            Err(Error::with_message(ErrorKind::Other, "captured"))
        }
    }

    #[tokio::test]
    async fn policy_signs_the_request_as_it_will_be_sent() {
        let url = Url::parse("https://127.0.0.1:8443/sms?api-version=2021-03-07").unwrap();
        let mut request = Request::new(url, azure_core::http::Method::Post);
        let body = br#"{"from":"+18005550100"}"#;
        request.set_body(body.to_vec());
        let capture = Arc::new(Capture::default());
        let next: Vec<Arc<dyn Policy>> = vec![capture.clone()];

        let policy = AccessKeyPolicy::new(key());
        let _ = policy.send(&Context::new(), &mut request, &next).await;

        let sent = capture
            .0
            .lock()
            .unwrap()
            .take()
            .expect("the policy passed it on");
        let header = |name: HeaderName| sent.headers().get_str(&name).unwrap().to_owned();
        let date = header(X_MS_DATE);
        assert!(httpdate::parse_http_date(&date).is_ok(), "{date}");
        assert_eq!(header(X_MS_CONTENT_SHA256), content_hash(body));
        let expected = sign(
            &key(),
            "POST",
            "127.0.0.1:8443",
            "/sms?api-version=2021-03-07",
            &date,
            body,
        );
        assert_eq!(header(AUTHORIZATION), expected.authorization);
    }
}
