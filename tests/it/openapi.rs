//! `openapi.json` is checked against real answers of the binary: every answer's status must be
//! documented for its operation, and its body must match the documented schema.

use crate::support::TestApp;
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn spec() -> Value {
    let text = std::fs::read_to_string(crate::support::repo_root().join("openapi.json")).unwrap();
    serde_json::from_str(&text).expect("openapi.json is JSON")
}

/// Every `$ref` in the document points at something that exists.
fn check_refs(spec: &Value, node: &Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                let pointer = reference.strip_prefix('#').expect("local references only");
                assert!(spec.pointer(pointer).is_some(), "dangling $ref {reference}");
            }
            map.values().for_each(|v| check_refs(spec, v));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(spec, v)),
        _ => {}
    }
}

/// A documented response, resolved.
fn documented<'a>(spec: &'a Value, path: &str, method: &str, status: u16) -> &'a Value {
    let operation = &spec["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = &operation["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {path} answered {status}, which is not documented"
    );
    match response.get("$ref").and_then(Value::as_str) {
        Some(reference) => spec.pointer(&reference[1..]).unwrap(),
        None => response,
    }
}

struct Checker {
    spec: Value,
    seen: BTreeSet<String>,
}

impl Checker {
    async fn check(&mut self, path: &str, method: &str, response: reqwest::Response) {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let documented = documented(&self.spec, path, method, status).clone();
        self.seen.insert(format!("{method} {path} {status}"));

        match documented.pointer("/content/application~1json/schema") {
            None => assert!(
                text.is_empty(),
                "{method} {path} {status}: undocumented body {text}"
            ),
            Some(schema) => {
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{method} {path} {status}: not JSON: {text}"));
                let mut root = schema.clone();
                root["components"] = self.spec["components"].clone();
                let validator = jsonschema::validator_for(&root).expect("schemas compile");
                let errors: Vec<String> = validator
                    .iter_errors(&body)
                    .map(|e| format!("{e} at {}", e.instance_path()))
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{method} {path} {status}: {errors:?}\n{body}"
                );
            }
        }
        if let Some(documented_headers) = documented["headers"].as_object() {
            for name in documented_headers.keys().filter(|n| *n != "Retry-After") {
                assert!(
                    headers.contains_key(name.as_str()),
                    "{method} {path} {status}: missing header {name}"
                );
            }
        }
    }
}

fn principal() -> String {
    let claims = json!({"claims": [
        {"typ": "tid", "val": "72f988bf-86f1-41af-91ab-2d7cd011db47"},
        {"typ": "oid", "val": "0f8fad5b-d9cb-469f-a165-70867728950e"}
    ]});
    base64::engine::general_purpose::STANDARD.encode(claims.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_document_describes_what_the_binary_answers() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    check_refs(&spec, &spec);
    let mut checker = Checker {
        spec,
        seen: BTreeSet::new(),
    };

    let app = TestApp::spawn_with(&[
        ("SMS_ALLOWED_COUNTRY_CODES", "1,44"),
        ("SMS_LIMIT_PER_NUMBER_PER_HOUR", "3"),
    ])
    .await;
    let mapped = TestApp::spawn_with(&[("TOKEN_IDENTITY_MAPPING", "easyauth")]).await;
    app.state()
        .reject_recipient("+14255550199", 400, "Invalid To phone number format.");

    let token_cases = [
        json!({}),
        json!({"scopes": ["chat"]}),
        json!({"expiresInMinutes": 30}),
    ];
    for body in token_cases {
        checker
            .check(
                "/api/token",
                "post",
                app.post_json("/api/token", body).await,
            )
            .await;
    }
    let wrong_type = app
        .http
        .post(app.url("/api/token"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    checker.check("/api/token", "post", wrong_type).await;
    let huge = app
        .http
        .post(app.url("/api/token"))
        .header("content-type", "application/json")
        .body(vec![b' '; 70_000])
        .send()
        .await
        .unwrap();
    checker.check("/api/token", "post", huge).await;
    checker
        .check(
            "/api/token",
            "post",
            mapped
                .http
                .post(mapped.url("/api/token"))
                .send()
                .await
                .unwrap(),
        )
        .await;
    checker
        .check(
            "/api/token",
            "delete",
            app.http.delete(app.url("/api/token")).send().await.unwrap(),
        )
        .await;
    let signed_in = |method: reqwest::Method, path: &str| {
        mapped
            .http
            .request(method, mapped.url(path))
            .header("x-ms-client-principal", principal())
            .send()
    };
    checker
        .check(
            "/api/token",
            "delete",
            signed_in(reqwest::Method::DELETE, "/api/token")
                .await
                .unwrap(),
        )
        .await;
    checker
        .check(
            "/api/token",
            "delete",
            signed_in(reqwest::Method::DELETE, "/api/token?deleteIdentity=yes")
                .await
                .unwrap(),
        )
        .await;
    checker
        .check(
            "/api/token",
            "delete",
            mapped
                .http
                .delete(mapped.url("/api/token"))
                .send()
                .await
                .unwrap(),
        )
        .await;

    for body in [
        json!({"to": "+14255550123", "message": "hello"}),
        json!({"to": ["+14255550123", "+14255550199"], "message": "hi"}),
        json!({"to": "+14255550199", "message": "hi"}),
        json!({"to": "+33612345678", "message": "hi"}),
        json!({"to": "+14255550123", "message": "hi", "from": "+18005550111"}),
        json!({"to": "not a number", "message": "hi"}),
        json!({"to": "+14255550123", "message": "again"}),
        json!({"to": "+14255550123", "message": "and again"}),
        // Over its number's limit beside a fresh number: a 207 with a 429 item.
        json!({"to": ["+14255550123", "+14255550124"], "message": "hi"}),
    ] {
        checker
            .check("/api/sms", "post", app.post_json("/api/sms", body).await)
            .await;
    }

    let seen: Vec<&str> = checker.seen.iter().map(String::as_str).collect();
    for expected in [
        "post /api/token 200",
        "post /api/token 400",
        "post /api/token 401",
        "post /api/token 413",
        "post /api/token 415",
        "delete /api/token 204",
        "delete /api/token 400",
        "delete /api/token 401",
        "delete /api/token 403",
        "post /api/sms 202",
        "post /api/sms 207",
        "post /api/sms 400",
        "post /api/sms 403",
        "post /api/sms 422",
        "post /api/sms 429",
    ] {
        assert!(
            seen.contains(&expected),
            "{expected} was never exercised: {seen:?}"
        );
    }
}
