//! Property tests ("fuzzing" within `cargo test`, bounded): arbitrary request bodies, headers,
//! phone numbers and invocation payloads through the in-process router, and arbitrary ACS
//! answers through the ACS client. A panic fails the case; so does any answer that is neither
//! our error shape nor one of our success shapes.
//!
//! ACS is played by an in-process transport (no sockets), so every case takes microseconds.

use acs_functions_handler::{
    acs::{AcsClient, AcsClientOptions, AcsError, CallContext, identity::CreateUser},
    config::Settings,
    error::ApiError,
    limits::SmsLimits,
    phone::PhoneNumber,
    routes::{self, AppState},
    scope::Scope,
    sms_text,
};
use async_trait::async_trait;
use axum::{
    body::Body,
    http::{Request as HttpRequest, Response as HttpResponse},
};
use azure_core::http::{
    AsyncRawResponse, ClientOptions, Context, HttpClient, Request, RetryOptions, StatusCode,
    Transport, Url,
    headers::Headers,
    policies::{Policy, PolicyResult},
};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tower::ServiceExt as _;

const CASES: u32 = 256;

/// What the fake ACS answers: a faithful success, or the given status and body.
#[derive(Debug, Clone)]
enum Upstream {
    Faithful,
    Raw(u16, Vec<u8>, Option<String>),
}

#[derive(Debug)]
struct FakeAcs {
    answer: Mutex<Upstream>,
}

#[async_trait]
impl HttpClient for FakeAcs {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let answer = self.answer.lock().unwrap().clone();
        let mut headers = Headers::new();
        headers.insert("content-type", "application/json");
        let (status, body) = match answer {
            Upstream::Faithful => faithful(request),
            Upstream::Raw(status, body, retry_after) => {
                if let Some(retry_after) = retry_after {
                    headers.insert("retry-after", retry_after);
                }
                (status, body)
            }
        };
        Ok(AsyncRawResponse::from_bytes(
            StatusCode::from(status),
            headers,
            body,
        ))
    }
}

/// A success in the shape ACS gives: a user and token, or one accepted item per recipient.
fn faithful(request: &Request) -> (u16, Vec<u8>) {
    let sent: Value = match request.body() {
        azure_core::http::Body::Bytes(bytes) => {
            serde_json::from_slice(bytes).unwrap_or(Value::Null)
        }
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    };
    if request.url().path() == "/sms" {
        let items: Vec<Value> = sent["smsRecipients"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| json!({"to": r["to"], "messageId": "Outgoing_1", "httpStatusCode": 202, "successful": true}))
            .collect();
        return (202, json!({"value": items}).to_string().into_bytes());
    }
    let body = json!({
        "identity": {"id": "8:acs:00000000-0000-0000-0000-000000000000_00000000-0000-0000-0000-000000000001"},
        "accessToken": {"token": "eyJ.fake.token", "expiresOn": "2026-12-04T20:02:43.956+00:00"}
    });
    (201, body.to_string().into_bytes())
}

/// Lets requests through unsigned: the fake ACS does not check.
#[derive(Debug)]
struct NoAuth;

// The trait spells `&Context` with an elided lifetime, and an impl must match it.
#[allow(elided_lifetimes_in_paths)]
#[async_trait]
impl Policy for NoAuth {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        next[0].send(ctx, request, &next[1..]).await
    }
}

struct Fixture {
    runtime: tokio::runtime::Runtime,
    fake: Arc<FakeAcs>,
    state: Arc<AppState>,
}

fn fixture() -> Fixture {
    let settings = Settings::from_lookup(|name| {
        let value = match name {
            "COMMUNICATION_SERVICES_ENDPOINT" => "https://contoso.communication.azure.com",
            "SMS_FROM" => "+18005550100",
            "TOKEN_ALLOWED_SCOPES" => "voip,chat",
            "SMS_LIMIT_PER_NUMBER_PER_HOUR" | "SMS_LIMIT_PER_CALLER_PER_MINUTE" => "0",
            _ => return None,
        };
        Some(value.to_owned())
    })
    .expect("valid settings");
    let fake = Arc::new(FakeAcs {
        answer: Mutex::new(Upstream::Faithful),
    });
    let options = AcsClientOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(fake.clone())),
            retry: RetryOptions::none(),
            ..Default::default()
        },
        deadline: std::time::Duration::from_secs(5),
    };
    let acs = AcsClient::with_auth_policy(settings.endpoint.clone(), Arc::new(NoAuth), options);
    let state = Arc::new(AppState {
        settings,
        acs,
        sms_limits: SmsLimits::new(0, 0),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Fixture {
        runtime,
        fake,
        state,
    }
}

impl Fixture {
    fn call(&self, request: HttpRequest<Body>) -> (u16, Value, HttpResponse<Body>) {
        self.runtime.block_on(async {
            let response = routes::router(self.state.clone())
                .oneshot(request)
                .await
                .unwrap();
            let status = response.status().as_u16();
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("every answer with a body is JSON")
            };
            (
                status,
                value,
                HttpResponse::from_parts(parts, Body::empty()),
            )
        })
    }

    fn upstream(&self, answer: Upstream) {
        *self.fake.answer.lock().unwrap() = answer;
    }
}

/// Our shapes: the error envelope (code in the header too), or a route's success.
fn check_shape(path: &str, status: u16, body: &Value, response: &HttpResponse<Body>) {
    let header = response
        .headers()
        .get("x-ms-error-code")
        .map(|v| v.to_str().unwrap());
    if status >= 400 {
        let code = body["error"]["code"].as_str().expect("error.code");
        assert!(body["error"]["message"].is_string(), "{body}");
        assert_eq!(header, Some(code));
        return;
    }
    assert!(header.is_none(), "{status} {body}");
    match (path, status) {
        ("/api/token", 200) => {
            assert!(body["token"].is_string() && body["expiresOn"].is_string());
            assert!(body["user"]["communicationUserId"].is_string());
        }
        ("/api/token", 204) => assert!(body.is_null()),
        ("/api/sms", 202 | 207) => {
            let results = body["results"].as_array().expect("results");
            assert!(!results.is_empty());
            assert!(
                results
                    .iter()
                    .all(|r| r["to"].is_string() && r["successful"].is_boolean())
            );
        }
        ("/", 200) => {}
        other => panic!("unexpected success {other:?}: {body}"),
    }
}

fn request(
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> HttpRequest<Body> {
    let mut builder = HttpRequest::builder().method(method).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(Body::from(body)).unwrap()
}

/// JSON values made of the words our bodies use, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        phone_like().prop_map(Value::String),
        prop_oneof![
            Just("voip"),
            Just("chat"),
            Just("chat.join"),
            Just("+18005550100")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("to"),
        Just("message"),
        Just("from"),
        Just("tag"),
        Just("enableDeliveryReport"),
        Just("deliveryReportTimeoutInSeconds"),
        Just("scopes"),
        Just("expiresInMinutes"),
        Just("Data"),
        Just("req"),
        Just("Method"),
        Just("Headers"),
        Just("Query"),
        Just("Body"),
        Just("x"),
    ]
    .prop_map(str::to_owned)
}

/// Strings that look like phone numbers, or almost.
fn phone_like() -> impl Strategy<Value = String> {
    "[+]?[0-9 ().\\-]{0,22}[0-9a٣]?"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bodies_get_our_shapes(
        body in prop::collection::vec(any::<u8>(), 0..200),
        path in prop_oneof![Just("/api/token"), Just("/api/sms")],
        content_type in prop::option::of(prop_oneof![
            Just("application/json"), Just("text/plain"), Just("application/x+json; charset=x"), Just("")
        ]),
    ) {
        let fixture = fixture();
        let (status, value, response) = fixture.call(request("POST", path, content_type, body));
        check_shape(path, status, &value, &response);
    }

    #[test]
    fn arbitrary_json_bodies_get_our_shapes(
        body in json_value(),
        path in prop_oneof![Just("/api/token"), Just("/api/sms")],
    ) {
        let fixture = fixture();
        let bytes = body.to_string().into_bytes();
        let (status, value, response) =
            fixture.call(request("POST", path, Some("application/json"), bytes));
        check_shape(path, status, &value, &response);
    }

    #[test]
    fn arbitrary_headers_get_our_shapes(
        headers in prop::collection::vec((
            prop_oneof![
                Just("x-ms-client-request-id"), Just("traceparent"), Just("repeatability-request-id"),
                Just("repeatability-first-sent"), Just("x-ms-client-principal"),
                Just("x-ms-client-principal-id"), Just("x-functions-key"), Just("content-type"),
                Just("content-length"),
            ],
            prop::collection::vec(32u8..=255, 0..80),
        ), 0..6),
        path in prop_oneof![Just("/api/token"), Just("/api/sms"), Just("/api/token?deleteIdentity=x")],
        method in prop_oneof![Just("POST"), Just("DELETE"), Just("GET"), Just("PUT")],
    ) {
        let fixture = fixture();
        // A JSON media type first, so most cases get past that check and reach the headers
        // under test; a generated `content-type` is appended after it (the first one counts).
        let mut builder = HttpRequest::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        for (name, value) in &headers {
            if let Ok(value) = axum::http::HeaderValue::from_bytes(value) {
                builder = builder.header(*name, value);
            }
        }
        let body = json!({"to": "+14255550123", "message": "hi"}).to_string();
        let Ok(request) = builder.body(Body::from(body)) else { return Ok(()) };
        let (status, value, response) = fixture.call(request);
        check_shape(path.split('?').next().unwrap(), status, &value, &response);
    }

    #[test]
    fn arbitrary_recipients_are_sent_or_refused_by_name(to in phone_like(), message in "\\PC{0,200}") {
        let fixture = fixture();
        let body = json!({"to": [to.clone()], "message": message}).to_string().into_bytes();
        let (status, value, response) =
            fixture.call(request("POST", "/api/sms", Some("application/json"), body));
        check_shape("/api/sms", status, &value, &response);
        let units = sms_text::utf16_len(&message);
        match PhoneNumber::parse(&to) {
            Ok(number) if (1..=2048).contains(&units) => {
                prop_assert_eq!(status, 202);
                prop_assert_eq!(value["results"][0]["to"].as_str(), Some(number.as_str()));
            }
            Ok(_) => prop_assert_eq!(value["error"]["target"].as_str(), Some("message")),
            Err(_) => prop_assert_eq!(value["error"]["target"].as_str(), Some("to[0]")),
        }
    }

    #[test]
    fn arbitrary_invocations_are_answered_as_a_200_json_object(
        payload in prop_oneof![
            json_value(),
            (json_value(), json_value(), json_value(), prop::option::of(json_value())).prop_map(
                |(method, headers, query, body)| {
                    let mut req = json!({"Method": method, "Headers": headers, "Query": query});
                    if let Some(body) = body { req["Body"] = body; }
                    json!({"Data": {"req": req}})
                }
            ),
            (prop_oneof![Just("POST"), Just("DELETE"), Just("GET")], json_value()).prop_map(
                |(method, body)| json!({"Data": {"req": {
                    "Method": method,
                    "Headers": {"Content-Type": ["application/json"]},
                    "Body": body.to_string()
                }}})
            ),
        ],
        function in prop_oneof![Just("/function-token"), Just("/function-sms"), Just("/nope")],
    ) {
        let fixture = fixture();
        let bytes = payload.to_string().into_bytes();
        let (status, value, _) =
            fixture.call(request("POST", function, Some("application/json"), bytes));
        prop_assert_eq!(status, 200);
        let res = &value["Outputs"]["res"];
        let code = res["statusCode"].as_u64().expect("Outputs.res.statusCode");
        prop_assert!((200..500).contains(&code), "{}", value);
        prop_assert!(res["body"].is_string());
        prop_assert!(res["headers"].is_object());
        prop_assert!(value["Logs"].is_array());
        if code >= 400 {
            let inner: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
            prop_assert!(inner["error"]["code"].is_string(), "{}", inner);
        }
    }

    #[test]
    fn arbitrary_acs_answers_reach_the_caller_in_our_shapes(
        status in prop_oneof![100u16..600, Just(200), Just(201), Just(202), Just(400), Just(429)],
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..120),
            json_value().prop_map(|v| v.to_string().into_bytes()),
            json_value().prop_map(|v| json!({"value": [v]}).to_string().into_bytes()),
            json_value().prop_map(|v| json!({"identity": v, "accessToken": v}).to_string().into_bytes()),
            json_value().prop_map(|v| json!({"error": v}).to_string().into_bytes()),
        ],
        retry_after in prop::option::of("\\PC{0,30}"),
        path in prop_oneof![Just("/api/token"), Just("/api/sms")],
    ) {
        let fixture = fixture();
        fixture.upstream(Upstream::Raw(status, body, retry_after));
        let body = match path {
            "/api/sms" => json!({"to": "+14255550123", "message": "hi"}),
            _ => json!({}),
        };
        let (code, value, response) =
            fixture.call(request("POST", path, Some("application/json"), body.to_string().into_bytes()));
        check_shape(path, code, &value, &response);
        prop_assert!(code != 500, "never an internal error: {}", value);
    }

    #[test]
    fn arbitrary_error_bodies_parse_without_panicking(
        status in any::<u16>(),
        body in prop::collection::vec(any::<u8>(), 0..400),
        retry_after in prop::option::of("\\PC{0,20}"),
    ) {
        let error = AcsError::from_response(status, &body, retry_after);
        if let AcsError::Service { message, .. } = &error {
            prop_assert!(message.chars().count() <= body.len() + 1);
        }
        let mapped = ApiError::from(error);
        prop_assert!([400, 404, 502, 503].contains(&mapped.status.as_u16()), "{:?}", mapped);
    }

    #[test]
    fn the_client_reads_arbitrary_answers_without_panicking(
        status in 100u16..600,
        body in json_value(),
    ) {
        let fixture = fixture();
        fixture.upstream(Upstream::Raw(status, body.to_string().into_bytes(), None));
        let scopes = [Scope::Voip];
        let options = CreateUser { scopes: &scopes, ..CreateUser::default() };
        let result = fixture
            .runtime
            .block_on(fixture.state.acs.create_user(&CallContext::default(), &options));
        if let Ok(created) = result {
            prop_assert!((200..300).contains(&status));
            prop_assert!(created.access_token.is_some());
        }
    }
}

#[test]
fn the_fake_acs_answers_like_acs() {
    // Guards the fixture: a faithful upstream gives the success shapes.
    let fixture = fixture();
    let body = json!({"to": "+14255550123", "message": "hi"})
        .to_string()
        .into_bytes();
    let (status, value, _) =
        fixture.call(request("POST", "/api/sms", Some("application/json"), body));
    assert_eq!(status, 202, "{value}");
    let (status, value, _) = fixture.call(request("POST", "/api/token", None, Vec::new()));
    assert_eq!(status, 200, "{value}");
    let _ = Url::parse("https://contoso.communication.azure.com").unwrap();
}
