//! SIGTERM while requests are in flight: they finish with their normal answer, and the process
//! exits 0 within the grace period.

use crate::support::TestApp;
use acs_functions_handler::{
    emulator::{Fault, FaultAction, FaultTarget},
    server::SHUTDOWN_GRACE,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// Waits until the emulator has received `count` ACS requests (the handler is then mid-call).
async fn until_acs_received(app: &TestApp, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state().requests().len() < count {
        assert!(Instant::now() < deadline, "the requests never reached ACS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request that owns what it needs, so it can run in its own task.
fn post(
    app: &TestApp,
    path: &str,
    body: serde_json::Value,
) -> impl Future<Output = reqwest::Response> + Send + 'static {
    let request = app
        .http
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_string());
    async move { request.send().await.expect("an answer, not a reset") }
}

fn hold(app: &TestApp, path: &str, delay: Duration) {
    app.state().push_fault(Fault {
        target: FaultTarget::AcsPath(path.to_owned()),
        action: FaultAction::Delay(delay),
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_in_flight_at_sigterm_complete() {
    let app = TestApp::spawn().await;
    hold(&app, "/identities", Duration::from_secs(2));
    hold(&app, "/sms", Duration::from_secs(2));
    let token = post(&app, "/api/token", json!({}));
    let sms = post(
        &app,
        "/api/sms",
        json!({"to": "+14255550123", "message": "in flight"}),
    );
    let in_flight = tokio::spawn(async move { tokio::join!(token, sms) });
    until_acs_received(&app, 2).await;

    let TestApp {
        emulator, handler, ..
    } = app;
    let started = Instant::now();
    let exit = tokio::task::spawn_blocking(move || handler.terminate());
    let (token, sms) = in_flight.await.unwrap();
    let exit = exit.await.unwrap();

    assert_eq!(token.status(), 200);
    assert!(token.json::<serde_json::Value>().await.unwrap()["token"].is_string());
    assert_eq!(sms.status(), 202);
    assert_eq!(emulator.state().outbox().len(), 1);
    assert_eq!(exit.code(), Some(0));
    assert!(
        started.elapsed() < SHUTDOWN_GRACE,
        "exited once they were done"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_outlasting_the_grace_period_does_not_hold_the_exit() {
    let app = TestApp::spawn().await;
    hold(
        &app,
        "/identities",
        SHUTDOWN_GRACE + Duration::from_secs(10),
    );
    let stuck = app.http.post(app.url("/api/token")).send();
    let stuck = tokio::spawn(stuck);
    until_acs_received(&app, 1).await;

    let TestApp { handler, .. } = app;
    let started = Instant::now();
    let exit = tokio::task::spawn_blocking(move || handler.terminate())
        .await
        .unwrap();

    assert_eq!(exit.code(), Some(0));
    assert!(started.elapsed() < SHUTDOWN_GRACE + Duration::from_secs(5));
    stuck.abort();
}
