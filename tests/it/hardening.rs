//! Bad input through the binary: through the host double in both modes, and malformed
//! invocation payloads posted straight to the handler as a broken host (or anyone who reaches
//! the port) could send them.

use crate::{
    host::{FUNCTION_KEY, Host, Mode},
    support::{TestApp, handler_env, repo_root, start_emulator},
};
use serde_json::{Value, json};

struct Seen {
    status: u16,
    code: Option<String>,
    body: Value,
}

async fn post(host: &Host, path: &str, content_type: &str, body: Vec<u8>) -> Seen {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", host.base))
        .header("x-functions-key", FUNCTION_KEY)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let code = response
        .headers()
        .get("x-ms-error-code")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    Seen { status, code, body }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_alike_in_both_modes() {
    let emulator = start_emulator().await;
    let env = handler_env(&emulator);
    let sms = |message: String| {
        json!({"to": "+14255550123", "message": message})
            .to_string()
            .into_bytes()
    };

    for mode in [Mode::Forwarding, Mode::Payload] {
        let bin = env!("CARGO_BIN_EXE_handler").as_ref();
        let host = Host::start(&repo_root(), Some(bin), &env, mode).await;
        let json_type = "application/json";

        // Over 64 KiB: 413, whatever the content.
        let big = post(&host, "/api/sms", json_type, sms("x".repeat(100 * 1024))).await;
        assert_eq!(
            (big.status, big.code.as_deref()),
            (413, Some("PayloadTooLarge")),
            "{mode:?}"
        );
        // Far over: the same answer, though in payload mode the invocation carries the body
        // twice.
        let huge = post(&host, "/api/sms", json_type, sms("x".repeat(600 * 1024))).await;
        assert_eq!((huge.status, &huge.body), (413, &big.body), "{mode:?}");

        // Not JSON by its media type: 415.
        let plain = post(&host, "/api/sms", "text/plain", sms("hi".into())).await;
        assert_eq!(
            (plain.status, plain.code.as_deref()),
            (415, Some("UnsupportedMediaType")),
            "{mode:?}"
        );

        // Broken JSON: 400 naming where it broke.
        let broken = post(
            &host,
            "/api/sms",
            json_type,
            b"{\n  \"to\": \"+14255550123\",\n  \"message\": hi\n}".to_vec(),
        )
        .await;
        assert_eq!(
            (broken.status, broken.code.as_deref()),
            (400, Some("InvalidJson")),
            "{mode:?}"
        );
        let message = broken.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("line 3 column 14"), "{mode:?}: {message}");

        // A field of the wrong type: 400 with the position and the field.
        let typed = post(
            &host,
            "/api/token",
            json_type,
            br#"{"expiresInMinutes": "soon"}"#.to_vec(),
        )
        .await;
        assert_eq!(typed.status, 400, "{mode:?}");
        let message = typed.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("line 1 column"), "{mode:?}: {message}");
        assert_eq!(
            typed.body["error"]["target"], "expiresInMinutes",
            "{mode:?}"
        );
        for (body, field) in [
            (json!({"expiresInMinutes": 60.0}), "expiresInMinutes"),
            (json!({"scopes": ["voip", 7]}), "scopes[1]"),
        ] {
            let typed = post(
                &host,
                "/api/token",
                json_type,
                body.to_string().into_bytes(),
            )
            .await;
            assert_eq!(typed.body["error"]["target"], field, "{mode:?}: {body}");
        }
        let typed = json!({"to": "+14255550123", "message": "hi", "tag": 4255550123_u64});
        let typed = post(&host, "/api/sms", json_type, typed.to_string().into_bytes()).await;
        assert_eq!(typed.body["error"]["target"], "tag", "{mode:?}");

        // A positional array is not a body, though serde would read a struct from it.
        let array = json!(["+14255550177", "array body", null, null, null, null]);
        let array = post(&host, "/api/sms", json_type, array.to_string().into_bytes()).await;
        assert_eq!(
            (array.status, array.code.as_deref()),
            (400, Some("InvalidJson")),
            "{mode:?}"
        );

        // Text that is not JSON at all still gets its position.
        let text = post(&host, "/api/sms", json_type, b"hello".to_vec()).await;
        assert_eq!(text.code.as_deref(), Some("InvalidJson"), "{mode:?}");
        let message = text.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("line 1 column"), "{mode:?}: {message}");

        // Unknown fields are ignored.
        let extra = json!({"to": "+14255550124", "message": "hi", "priority": "high", "x": [1]});
        let extra = post(&host, "/api/sms", json_type, extra.to_string().into_bytes()).await;
        assert_eq!(extra.status, 202, "{mode:?}: {}", extra.body);
        let extra = post(
            &host,
            "/api/token",
            json_type,
            br#"{"colour":"blue"}"#.to_vec(),
        )
        .await;
        assert_eq!(extra.status, 200, "{mode:?}");
    }

    // Invalid UTF-8 reaches the handler only in forwarding mode (the payload host has already
    // replaced it, see modes.rs); there it is a 400.
    let host = Host::start(
        &repo_root(),
        Some(env!("CARGO_BIN_EXE_handler").as_ref()),
        &env,
        Mode::Forwarding,
    )
    .await;
    let mut bytes = br#"{"to": "+14255550123", "message": "caf"#.to_vec();
    bytes.extend([0xC3, 0x28, b'"', b'}']);
    let sent = emulator.state().outbox().len();
    let invalid = post(&host, "/api/sms", "application/json", bytes).await;
    assert_eq!(
        (invalid.status, invalid.code.as_deref()),
        (400, Some("InvalidJson"))
    );
    assert_eq!(emulator.state().outbox().len(), sent);
}

/// Posts `body` as an invocation of `function` straight to the handler.
async fn invoke(app: &TestApp, function: &str, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/{function}")))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("the handler answers every invocation");
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(media.as_deref(), Some("application/json"));
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_invocations_get_a_4xx_inside_a_200() {
    let app = TestApp::spawn().await;
    let req = |r: Value| json!({"Data": {"req": r}}).to_string().into_bytes();
    let json_headers = json!({"Content-Type": ["application/json"]});

    let mut huge = br#"{"Data": {"req": {"Method": "POST", "Body": ""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 600 * 1024));
    huge.extend(br#""}}}"#);
    let mut invalid_utf8 = br#"{"Data": {"req": {"Method": "POST", "Body": "caf"#.to_vec();
    invalid_utf8.extend([0xE9, b'"', b'}', b'}', b'}']);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"hello".to_vec()),
        ("empty", Vec::new()),
        ("null", b"null".to_vec()),
        ("an array", b"[1, 2]".to_vec()),
        ("no Data", b"{}".to_vec()),
        ("no Data.req", br#"{"Data": {}}"#.to_vec()),
        ("Data.req null", req(Value::Null)),
        ("Data.req a string", req(json!("POST"))),
        ("no Method", req(json!({"Body": "{}"}))),
        ("Method a number", req(json!({"Method": 5}))),
        ("Method not a token", req(json!({"Method": "PO ST"}))),
        (
            "Headers a string",
            req(json!({"Method": "POST", "Headers": "x"})),
        ),
        (
            "Query an array",
            req(json!({"Method": "POST", "Query": [1]})),
        ),
        ("huge", huge),
        ("invalid UTF-8", invalid_utf8),
        (
            "lone surrogate",
            br#"{"Data":{"req":{"Method":"POST","Body":"\ud800"}}}"#.to_vec(),
        ),
        (
            "Body a number",
            req(json!({"Method": "POST", "Headers": json_headers, "Body": 42})),
        ),
        (
            "Body an array",
            req(json!({"Method": "POST", "Headers": json_headers, "Body": [1, "a"]})),
        ),
        (
            "Body true, no content type",
            req(json!({"Method": "POST", "Body": true})),
        ),
        (
            "Body not base64",
            req(
                json!({"Method": "POST", "Headers": {"Content-Type": ["application/octet-stream"]}, "Body": "%%%"}),
            ),
        ),
        ("GET", req(json!({"Method": "GET"}))),
    ];

    for (name, body) in cases {
        let (status, answer) = invoke(&app, "function-sms", body).await;

        assert_eq!(status, 200, "{name}");
        let res = &answer["Outputs"]["res"];
        let code = res["statusCode"].as_u64().unwrap_or_default();
        assert!((400..500).contains(&code), "{name}: {answer}");
        let inner: Value = serde_json::from_str(res["body"].as_str().unwrap()).unwrap();
        assert!(inner["error"]["code"].is_string(), "{name}: {inner}");
        assert!(answer["Logs"].is_array(), "{name}");
    }
    assert!(app.state().requests().is_empty(), "no ACS call");
    assert!(
        !app.handler.logs().join("\n").contains("panicked"),
        "no panic"
    );
}
