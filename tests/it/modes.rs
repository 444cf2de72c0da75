//! One request matrix through the test host in forwarding mode and in payload mode: the
//! caller must not be able to tell the modes apart, except where the host itself differs.

use crate::{
    host::{FUNCTION_KEY, Host, Mode},
    support::{handler_env, repo_root, start_emulator},
};
use acs_functions_handler::emulator::Emulator;
use serde_json::{Value, json};

/// What the caller can observe of a response.
#[derive(Debug, PartialEq)]
struct Observed {
    status: u16,
    error_code: Option<String>,
    retry_after: Option<String>,
    media_type: Option<String>,
    body: Value,
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    key: Option<&'static str>,
    body: Option<Vec<u8>>,
}

fn case(name: &'static str, method: &'static str, path: &'static str, body: Option<Value>) -> Case {
    Case {
        name,
        method,
        path,
        content_type: body.as_ref().map(|_| "application/json"),
        key: Some(FUNCTION_KEY),
        body: body.map(|b| b.to_string().into_bytes()),
    }
}

fn matrix() -> Vec<Case> {
    vec![
        case("token, default body", "POST", "/api/token", Some(json!({}))),
        case("token, no body", "POST", "/api/token", None),
        case(
            "token, voip with expiry",
            "POST",
            "/api/token",
            Some(json!({"scopes": ["voip"], "expiresInMinutes": 120})),
        ),
        case(
            "token, disallowed scope",
            "POST",
            "/api/token",
            Some(json!({"scopes": ["chat"]})),
        ),
        case(
            "token, unknown scope",
            "POST",
            "/api/token",
            Some(json!({"scopes": ["root"]})),
        ),
        case(
            "token, expiry too short",
            "POST",
            "/api/token",
            Some(json!({"expiresInMinutes": 59})),
        ),
        case(
            "token, unknown fields ignored",
            "POST",
            "/api/token",
            Some(json!({"colour": "blue"})),
        ),
        Case {
            body: Some(b"{\"scopes\": [".to_vec()),
            ..case("token, broken JSON", "POST", "/api/token", Some(json!({})))
        },
        Case {
            content_type: Some("text/plain"),
            ..case(
                "token, wrong media type",
                "POST",
                "/api/token",
                Some(json!({})),
            )
        },
        Case {
            body: Some(vec![b' '; 70 * 1024]),
            ..case("token, too large", "POST", "/api/token", Some(json!({})))
        },
        case("token, GET is not a route", "GET", "/api/token", None),
        case(
            "token, path in other letter case",
            "POST",
            "/API/Token",
            Some(json!({})),
        ),
        case(
            "sms, path with a trailing slash",
            "POST",
            "/api/sms/",
            Some(json!({"to": "+14255550123", "message": "hello"})),
        ),
        Case {
            key: None,
            ..case(
                "token, code in the query",
                "POST",
                "/api/token?code=test-function-key&x=1&x=2",
                Some(json!({})),
            )
        },
        case(
            "sms, one recipient",
            "POST",
            "/api/sms",
            Some(json!({"to": "+14255550123", "message": "hello"})),
        ),
        case(
            "sms, mixed results",
            "POST",
            "/api/sms",
            Some(json!({"to": ["+14255550123", "+14255550199"], "message": "hi"})),
        ),
        case(
            "sms, none accepted",
            "POST",
            "/api/sms",
            Some(json!({"to": "+14255550199", "message": "hi"})),
        ),
        case(
            "sms, bad number",
            "POST",
            "/api/sms",
            Some(json!({"to": ["+14255550123", "555-0123"], "message": "hi"})),
        ),
        case(
            "sms, no message",
            "POST",
            "/api/sms",
            Some(json!({"to": "+14255550123"})),
        ),
        case("sms, no body", "POST", "/api/sms", None),
        case(
            "sms, unknown route",
            "POST",
            "/api/sms/extra",
            Some(json!({})),
        ),
    ]
}

/// Replaces values that differ on every call (ids, tokens, times) with their kind.
fn stable(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| match k.as_str() {
                    "token" | "expiresOn" | "communicationUserId" | "messageId" => {
                        (k.clone(), json!("<varies>"))
                    }
                    _ => (k.clone(), stable(v)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(stable).collect()),
        other => other.clone(),
    }
}

async fn send(host: &Host, case: &Case) -> Observed {
    let client = reqwest::Client::new();
    let mut request = client.request(
        case.method.parse().unwrap(),
        format!("{}{}", host.base, case.path),
    );
    if let Some(key) = case.key {
        request = request.header("x-functions-key", key);
    }
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    if let Some(body) = &case.body {
        request = request.body(body.clone());
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let media_type = header("content-type").map(|t| t.split(';').next().unwrap().trim().to_owned());
    let (status, error_code, retry_after) = (
        response.status().as_u16(),
        header("x-ms-error-code"),
        header("retry-after"),
    );
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        stable(&serde_json::from_str(&text).unwrap_or(json!(text)))
    };
    Observed {
        status,
        error_code,
        retry_after,
        media_type,
        body,
    }
}

async fn host(emulator: &Emulator, mode: Mode) -> Host {
    emulator
        .state()
        .reject_recipient("+14255550199", 400, "Invalid To phone number format.");
    Host::start(
        &repo_root(),
        Some(env!("CARGO_BIN_EXE_handler").as_ref()),
        &handler_env(emulator),
        mode,
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn both_modes_answer_the_matrix_identically() {
    let emulator = start_emulator().await;
    let forwarding = host(&emulator, Mode::Forwarding).await;
    let payload = host(&emulator, Mode::Payload).await;
    assert_eq!(
        (forwarding.mode(), payload.mode()),
        (Mode::Forwarding, Mode::Payload)
    );

    for case in matrix() {
        let before = emulator.state().requests().len();
        let a = send(&forwarding, &case).await;
        let acs_calls = emulator.state().requests().len() - before;
        let b = send(&payload, &case).await;
        assert_eq!(a, b, "{}: forwarding vs payload", case.name);
        assert_eq!(
            emulator.state().requests().len() - before,
            2 * acs_calls,
            "{}: same ACS calls",
            case.name
        );
        if a.status >= 400 && a.status != 404 && a.status != 401 {
            let code = a.error_code.as_deref().unwrap_or_default();
            assert_eq!(
                a.body["error"]["code"], code,
                "{}: the header repeats the code",
                case.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_missing_key_never_reaches_the_handler() {
    let emulator = start_emulator().await;
    for mode in [Mode::Forwarding, Mode::Payload] {
        let host = host(&emulator, mode).await;
        for key in [None, Some("wrong"), Some("")] {
            let mut case = case("token without key", "POST", "/api/token", Some(json!({})));
            case.key = key;
            let observed = send(&host, &case).await;
            assert_eq!(
                (observed.status, observed.body),
                (401, Value::Null),
                "{mode:?} {key:?}"
            );
        }
        assert_eq!(host.reached_handler(), 0, "{mode:?}");
        assert!(emulator.state().requests().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hosts_own_differences_show_as_differences() {
    let emulator = start_emulator().await;
    let forwarding = host(&emulator, Mode::Forwarding).await;
    let payload = host(&emulator, Mode::Payload).await;

    // Invalid UTF-8: forwarded as bytes, which the handler rejects; in payload mode the host has
    // already replaced it, so the handler sees valid text.
    let mut bytes = br#"{"to": "+14255550123", "message": "caf"#.to_vec();
    bytes.extend([0xE9, b'"', b'}']);
    let raw = Case {
        body: Some(bytes),
        ..case("sms, latin-1 byte", "POST", "/api/sms", Some(json!({})))
    };
    let a = send(&forwarding, &raw).await;
    assert_eq!(
        (a.status, a.error_code.as_deref()),
        (400, Some("InvalidJson"))
    );
    let b = send(&payload, &raw).await;
    assert_eq!(b.status, 202);
    assert_eq!(emulator.state().outbox()[0].message, "caf\u{FFFD}");

    // A chunked upload: the forwarding host fails it; in payload mode it arrives without a body.
    for (host, expected) in [(&forwarding, 500), (&payload, 400)] {
        let body =
            reqwest::Body::wrap_stream(futures_stream(br#"{"to":"+14255550123","message":"x"}"#));
        let response = reqwest::Client::new()
            .post(format!("{}/api/sms", host.base))
            .header("x-functions-key", FUNCTION_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{:?}", host.mode());
    }
}

fn futures_stream(
    bytes: &'static [u8],
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    struct Once(Option<Vec<u8>>);
    impl futures_core::Stream for Once {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.take().map(Ok))
        }
    }
    Once(Some(bytes.to_vec()))
}

#[tokio::test(flavor = "multi_thread")]
async fn payload_replies_follow_the_hosts_rules() {
    let emulator = start_emulator().await;
    let env = handler_env(&emulator);
    let handler =
        tokio::task::block_in_place(|| crate::support::Handler::start(&env, &repo_root()));
    let client = reqwest::Client::new();
    let invocation = |function: &str, req: Value| {
        client
            .post(format!("{}/{function}", handler.base))
            .header("content-type", "application/json; charset=utf-8")
            .body(json!({"Data": {"req": req}, "Metadata": {}}).to_string())
            .send()
    };

    for (function, req, status) in [
        (
            "function-token",
            json!({"Method": "POST", "Query": {}, "Headers": {"Content-Type": ["application/json"]}, "Params": {}, "Body": "{}"}),
            200,
        ),
        (
            "function-token",
            json!({"Method": "POST", "Query": {}, "Headers": {}, "Params": {}}),
            200,
        ),
        (
            "function-sms",
            json!({"Method": "POST", "Query": {"code": "k"}, "Headers": {"Content-Type": ["application/json"]}, "Params": {}, "Body": "{\"to\":\"+14255550123\",\"message\":\"hi\"}"}),
            202,
        ),
        (
            "function-sms",
            json!({"Method": "POST", "Headers": {}}),
            400,
        ),
        ("function-nope", json!({"Method": "POST"}), 404),
    ] {
        let response = invocation(function, req).await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "{function}: the invocation itself always succeeds"
        );
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let reply: Value = response.json().await.unwrap();
        let res = &reply["Outputs"]["res"];
        assert_eq!(res["statusCode"], status, "{function}: {reply}");
        assert!(res.get("status").is_none(), "the host ignores `status`");
        assert!(
            res["headers"]["x-ms-client-request-id"].is_string(),
            "{function}: every answer has a request id: {reply}"
        );
        assert!(
            res["headers"]
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_string),
            "header values are strings"
        );
        assert!(res["body"].is_string());
        assert!(
            reply["Logs"]
                .as_array()
                .is_some_and(|logs| !logs.is_empty())
        );
        assert!(reply.get("ReturnValue").is_some_and(Value::is_null));
    }
}
