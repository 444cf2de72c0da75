//! The handler as a process: settings errors, readiness without upstreams, shutdown.

use crate::support::{Handler, TestApp, free_port, handler_env, repo_root, start_emulator};
use acs_functions_handler::{
    config::Settings,
    emulator::{Fault, FaultAction, FaultTarget},
    server,
};
use serde_json::{Value, json};
use std::{collections::HashMap, process::Command};

/// Runs the binary with `env` and returns (exit code, stderr).
fn run_to_exit(env: &HashMap<String, String>) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_handler"))
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn base_env() -> HashMap<String, String> {
    [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", free_port().to_string()),
        (
            "COMMUNICATION_SERVICES_ENDPOINT",
            "https://contoso.communication.azure.com".to_owned(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[test]
fn a_bad_port_fails_start_up_with_one_line() {
    let mut env = base_env();
    env.insert("FUNCTIONS_CUSTOMHANDLER_PORT".into(), "seventy".into());

    let (code, stderr) = run_to_exit(&env);

    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("FUNCTIONS_CUSTOMHANDLER_PORT") && stderr.contains("seventy"),
        "{stderr}"
    );
}

#[test]
fn guard_settings_are_checked_at_start_up_not_on_every_send() {
    for (name, value) in [
        ("SMS_FROM", "+1 800 555 010"),
        ("SMS_FROM", "Contoso Ltd OTP"),
        ("SMS_ALLOWED_SENDERS", "+18005550100,18005550100"),
        ("SMS_ALLOWED_COUNTRY_CODES", "1,4"),
    ] {
        let mut env = base_env();
        env.insert(name.into(), value.into());

        let (code, stderr) = run_to_exit(&env);

        assert_eq!(code, Some(2), "{name}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
    }
}

#[test]
fn a_connection_string_in_the_endpoint_setting_is_refused_without_echoing_it() {
    let mut env = base_env();
    env.insert(
        "COMMUNICATION_SERVICES_ENDPOINT".into(),
        "endpoint=https://x.communication.azure.com/;accesskey=U2VjcmV0S2V5VmFsdWU=".into(),
    );

    let (code, stderr) = run_to_exit(&env);

    assert_ne!(code, Some(0));
    assert!(
        stderr.contains("COMMUNICATION_SERVICES_ENDPOINT"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("U2VjcmV0S2V5VmFsdWU="),
        "the key leaked: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_without_upstreams_and_clear_when_they_are_down() {
    let mut env = base_env();
    env.insert(
        "IDENTITY_ENDPOINT".into(),
        format!("http://127.0.0.1:{}/msi/token", free_port()),
    );
    env.insert("IDENTITY_HEADER".into(), "secret".into());
    env.insert(
        "COMMUNICATION_SERVICES_ENDPOINT".into(),
        format!("https://127.0.0.1:{}", free_port()),
    );

    let handler = tokio::task::block_in_place(|| Handler::start(&env, &repo_root()));
    let ready = reqwest::get(format!("{}/", handler.base)).await.unwrap();
    assert_eq!(ready.status(), 200);

    let response = reqwest::Client::new()
        .post(format!("{}/api/token", handler.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["x-ms-error-code"],
        "ManagedIdentityUnavailable"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_with_code_zero() {
    let emulator = start_emulator().await;
    let env = handler_env(&emulator);
    let handler = tokio::task::block_in_place(|| Handler::start(&env, &repo_root()));
    assert_eq!(
        reqwest::get(format!("{}/", handler.base))
            .await
            .unwrap()
            .status(),
        200
    );

    let status = tokio::task::block_in_place(|| handler.terminate());

    assert_eq!(status.code(), Some(0));
}

/// Queues `action` for the next `times` requests to `target`.
fn fault(app: &TestApp, target: FaultTarget, action: FaultAction, times: usize) {
    for _ in 0..times {
        app.state().push_fault(Fault {
            target: target.clone(),
            action: action.clone(),
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_carry_no_secrets_and_no_personal_data() {
    let app = TestApp::spawn_with(&[("TOKEN_ALLOWED_SCOPES", "voip,chat")]).await;
    let message = "Your verification code is 918273";
    let sms = json!({"to": ["+14255550123", "+447700900123"], "message": message});

    // The managed identity down at the first call, then the happy path.
    let identity = FaultTarget::IdentityEndpoint;
    fault(&app, identity.clone(), FaultAction::Reset, 4);
    assert_eq!(app.post_json("/api/token", json!({})).await.status(), 503);
    app.state().clear();
    let token: Value = app
        .post_json("/api/token", json!({"scopes": ["chat"]}))
        .await
        .json()
        .await
        .unwrap();
    app.post_json("/api/sms", sms.clone()).await;
    app.post_json(
        "/api/sms",
        json!({"to": "+1425555012x", "message": message}),
    )
    .await;
    app.post_json("/api/token", json!({"scopes": ["root"]}))
        .await;

    // The fault matrix, SMS and token alike. ACS echoing a recipient in an error that is logged
    // with its cause (a 409 becomes a 502) must not put the number in the log either.
    let echo = FaultAction::Status {
        status: 409,
        retry_after: None,
        body: Some(
            json!({"error": {"code": "InvalidRecipient", "message": "Invalid To: +14255550123 / 447700900123"}})
                .to_string(),
        ),
    };
    let sms_path = FaultTarget::AcsPath("/sms".into());
    let status = |status| FaultAction::Status {
        status,
        retry_after: None,
        body: None,
    };
    let matrix: Vec<(FaultTarget, FaultAction, usize)> = vec![
        (sms_path.clone(), echo, 1),
        (sms_path.clone(), FaultAction::ProcessThenDrop, 1),
        (sms_path.clone(), FaultAction::MalformedJson, 1),
        (sms_path.clone(), FaultAction::TruncatedJson, 1),
        (sms_path.clone(), status(401), 1),
        (sms_path.clone(), FaultAction::Reset, 4),
        (FaultTarget::Acs, status(403), 1),
        (FaultTarget::Acs, FaultAction::TruncatedJson, 1),
        (FaultTarget::Acs, FaultAction::MalformedJson, 1),
        (FaultTarget::Acs, status(500), 4),
    ];
    for (target, action, times) in matrix {
        let path = if matches!(target, FaultTarget::AcsPath(_)) {
            "/api/sms"
        } else {
            "/api/token"
        };
        app.state().clear();
        fault(&app, target, action, times);
        let body = if path == "/api/sms" {
            sms.clone()
        } else {
            json!({"scopes": ["chat"]})
        };
        app.post_json(path, body).await;
    }

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = app.handler.logs().join("\n");
    assert!(
        logs.contains("request completed") && logs.contains("request failed"),
        "the handler logs requests and failures: {logs}"
    );
    let mut secrets = vec![
        token["token"].as_str().unwrap().to_owned(),
        message.to_owned(),
        "+14255550123".to_owned(),
        "4255550123".to_owned(),
        "+447700900123".to_owned(),
        "447700900123".to_owned(),
        app.emulator.identity_header().to_owned(),
    ];
    secrets.extend(app.state().issued_managed_identity_tokens());
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "'{secret}' leaked into the logs:\n{logs}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_request_logs_one_line_with_its_facts_and_failures_go_to_stderr() {
    let app = crate::support::TestApp::spawn().await;
    app.http
        .post(app.url("/api/token"))
        .header("x-ms-client-request-id", "log-check-1")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .unwrap();
    app.state()
        .push_fault(acs_functions_handler::emulator::Fault {
            target: acs_functions_handler::emulator::FaultTarget::Acs,
            action: acs_functions_handler::emulator::FaultAction::Status {
                status: 401,
                retry_after: None,
                body: None,
            },
        });
    let failed = app
        .http
        .post(app.url("/api/token"))
        .header("x-ms-client-request-id", "log-check-2")
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 502);
    let sent = app
        .http
        .post(app.url("/api/sms"))
        .header("x-ms-client-request-id", "log-check-3")
        .json(&json!({"to": "+14255550123", "message": "Your code is 123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let stdout = app.handler.stdout.lock().unwrap().clone();
    let ok: Vec<&String> = stdout
        .iter()
        .filter(|l| l.contains("log-check-1"))
        .collect();
    assert_eq!(ok.len(), 1, "one line per request: {stdout:#?}");
    for fact in [
        "http.method=POST",
        "http.route=/api/token",
        "http.status_code=200",
        "duration_ms=",
        "trace_id=\"0af7651916cd43dd8448eb211c80319c\"",
    ] {
        assert!(ok[0].contains(fact), "{fact} missing from {}", ok[0]);
    }
    let sms: Vec<&String> = stdout
        .iter()
        .filter(|l| l.contains("log-check-3"))
        .collect();
    assert_eq!(sms.len(), 1, "one line per SMS request too: {stdout:#?}");
    for fact in [
        "http.route=/api/sms",
        "http.status_code=202",
        "sms.recipients=1",
        "sms.accepted=1",
        "sms.segments=1",
    ] {
        assert!(sms[0].contains(fact), "{fact} missing from {}", sms[0]);
    }
    assert!(
        !stdout.iter().any(|l| l.contains("log-check-2")),
        "failures are not on stdout"
    );
    let stderr = app.handler.stderr.lock().unwrap().clone();
    let failure: Vec<&String> = stderr
        .iter()
        .filter(|l| l.contains("log-check-2"))
        .collect();
    assert_eq!(failure.len(), 1, "{stderr:#?}");
    assert!(
        failure[0].contains("ERROR") && failure[0].contains("error.code=AcsAuthorizationFailed"),
        "{}",
        failure[0]
    );
}

/// Threads of a process, from `/proc/<pid>/status`.
fn threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_thread_serves_by_default_and_more_can_be_asked_for() {
    let single = TestApp::spawn().await;
    let several = TestApp::spawn_with(&[("HANDLER_WORKER_THREADS", "3")]).await;

    for app in [&single, &several] {
        let token = app.post_json("/api/token", json!({})).await;
        assert_eq!(token.status(), 200);
        let sms = json!({"to": "+14255550123", "message": "Your code is 123456"});
        assert_eq!(app.post_json("/api/sms", sms).await.status(), 202);
    }
    assert_eq!(threads(single.handler.pid()), 1);
    assert!(
        threads(several.handler.pid()) >= 4,
        "three workers and the main thread"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn start_up_warns_when_sms_may_go_to_every_country() {
    let open = crate::support::TestApp::spawn().await;
    let closed = crate::support::TestApp::spawn_with(&[("SMS_ALLOWED_COUNTRY_CODES", "1")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let warned = |app: &crate::support::TestApp| {
        app.handler
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("WARN") && l.contains("SMS_ALLOWED_COUNTRY_CODES"))
    };
    assert!(warned(&open));
    assert!(!warned(&closed));
}

#[test]
fn debug_output_of_settings_and_state_redacts() {
    let env: HashMap<&str, &str> = [
        (
            "COMMUNICATION_SERVICES_ENDPOINT",
            "https://contoso.communication.azure.com",
        ),
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token"),
        ("IDENTITY_HEADER", "identity-header-secret-5b1f"),
        ("AZURE_CLIENT_ID", "client-id-7f3e2a"),
        ("SMS_FROM", "+18005550100"),
        ("SMS_ALLOWED_SENDERS", "+18005550100,+18005550199"),
    ]
    .into_iter()
    .collect();
    let settings = Settings::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap();

    let settings_debug = format!("{settings:?}");
    let state_debug = format!("{:?}", server::build_state(settings).unwrap());

    for text in [&settings_debug, &state_debug] {
        for secret in [
            "identity-header-secret-5b1f",
            "client-id-7f3e2a",
            "+18005550100",
            "+18005550199",
        ] {
            assert!(!text.contains(secret), "'{secret}' in {text}");
        }
    }
    assert!(settings_debug.contains("user-assigned managed identity"));
}
