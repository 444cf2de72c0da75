//! In-process hot paths: input parsing at the edge, SMS segmentation, and a request through the
//! router that is answered without ACS (readiness and validation failures).
//!
//! `cargo bench --bench micro`; `cargo test --bench micro` runs each once as a check.

use acs_functions_handler::{config::Settings, phone::PhoneNumber, routes, server, sms_text};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tower::ServiceExt as _;

fn parsing(c: &mut Criterion) {
    c.bench_function("phone: parse a formatted number", |b| {
        b.iter(|| PhoneNumber::parse(black_box("+1 (425) 555-0123")))
    });
    c.bench_function("sms_text: segment 200 GSM-7 characters", |b| {
        let message = "Your code is 123456. ".repeat(10);
        b.iter(|| sms_text::segment(black_box(&message)))
    });
    c.bench_function("sms_text: segment 100 UCS-2 characters", |b| {
        let message = "Ваш код 123456 ✓ ".repeat(6);
        b.iter(|| sms_text::segment(black_box(&message)))
    });
}

/// The router with settings that name no managed identity: nothing here reaches a credential.
fn router() -> Router {
    let settings = Settings::from_lookup(|name| match name {
        "COMMUNICATION_SERVICES_ENDPOINT" => Some("https://bench.communication.azure.com".into()),
        "SMS_FROM" => Some("+18005550100".into()),
        _ => None,
    })
    .expect("bench settings are valid");
    routes::router(server::build_state(settings).expect("state builds without I/O"))
}

fn post(path: &str, body: &'static str) -> Request<Body> {
    Request::post(path)
        .header("content-type", "application/json")
        .header(
            "x-ms-client-request-id",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        )
        .body(Body::from(body))
        .expect("a valid request")
}

/// Builds a fresh request for each iteration (a request body is consumed when served).
type MakeRequest = fn() -> Request<Body>;

fn dispatch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let app = router();
    let cases: [(&str, MakeRequest, StatusCode); 3] = [
        (
            "router: GET / (readiness)",
            || {
                Request::get("/")
                    .body(Body::empty())
                    .expect("a valid request")
            },
            StatusCode::OK,
        ),
        (
            "router: POST /api/sms with a bad recipient (400)",
            || {
                post(
                    "/api/sms",
                    r#"{"to":["+14255550123","0425"],"message":"Your code is 123456"}"#,
                )
            },
            StatusCode::BAD_REQUEST,
        ),
        (
            "router: POST /api/token with an unknown scope (400)",
            || post("/api/token", r#"{"scopes":["voip","admin"]}"#),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, request, expected) in cases {
        c.bench_function(name, |b| {
            b.iter(|| {
                let response = runtime
                    .block_on(app.clone().oneshot(request()))
                    .expect("infallible");
                assert_eq!(response.status(), expected);
                runtime.block_on(axum::body::to_bytes(response.into_body(), 4096))
            })
        });
    }
}

criterion_group!(benches, parsing, dispatch);
criterion_main!(benches);
