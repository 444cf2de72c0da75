//! The real Azure SDK path against the emulator: `ManagedIdentityCredential` (App Service
//! source) plus `BearerTokenAuthorizationPolicy` in an `azure_core` pipeline.
//!
//! The credential reads `IDENTITY_ENDPOINT`/`IDENTITY_HEADER` and the TLS stack reads
//! `SSL_CERT_FILE` from the process environment. Setting variables in a running test process is
//! `unsafe` in edition 2024 (and this crate forbids `unsafe`), so the test re-runs its own binary
//! as a child process with the variables set, while the parent keeps the emulator serving.

use std::sync::Arc;

use acs_functions_handler::emulator::{Emulator, EmulatorOptions};
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, Request, StatusCode, Url};
use azure_identity::ManagedIdentityCredential;

/// Set only in the child; holds the ACS endpoint to call.
const CHILD_MARKER: &str = "EMULATOR_PIPELINE_TEST_ACS_ENDPOINT";
const TEST_NAME: &str = "managed_identity_pipeline_calls_the_emulator";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_pipeline_calls_the_emulator() {
    match std::env::var(CHILD_MARKER) {
        Ok(acs_endpoint) => call_through_pipeline(&acs_endpoint).await,
        Err(_) => run_child_against_emulator().await,
    }
}

async fn run_child_against_emulator() {
    let emulator = Emulator::start(EmulatorOptions::default())
        .await
        .expect("emulator starts");

    let output = tokio::process::Command::new(std::env::current_exe().expect("test binary path"))
        .args([TEST_NAME, "--exact", "--nocapture"])
        .env(CHILD_MARKER, emulator.acs_endpoint())
        .env("IDENTITY_ENDPOINT", emulator.identity_endpoint())
        .env("IDENTITY_HEADER", emulator.identity_header())
        .env("SSL_CERT_FILE", emulator.ca_cert_path())
        .env_remove("SSL_CERT_DIR")
        .output()
        .await
        .expect("child test runs");
    assert!(
        output.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The credential asked for the MSI resource form of the double-slash scope.
    let token_requests = emulator.state().identity_requests();
    assert_eq!(token_requests.len(), 1, "the credential caches its token");
    assert_eq!(
        token_requests[0].query_param("resource").as_deref(),
        Some("https://communication.azure.com/")
    );
    let issued = emulator.state().issued_managed_identity_tokens();
    let requests = emulator.state().requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {}", issued[0]).as_str())
        );
    }
    emulator.shutdown().await;
}

async fn call_through_pipeline(acs_endpoint: &str) {
    let credential = ManagedIdentityCredential::new(None).expect("credential from env");
    let policy = BearerTokenAuthorizationPolicy::new(
        credential,
        ["https://communication.azure.com//.default"],
    );
    let pipeline = Pipeline::new(
        Some("emulator-pipeline-test"),
        Some("0.1.0"),
        ClientOptions::default(),
        vec![],
        vec![Arc::new(policy)],
        None,
    );

    for _ in 0..2 {
        let url = Url::parse(&format!("{acs_endpoint}/identities?api-version=2023-10-01"))
            .expect("valid URL");
        let mut request = Request::new(url, Method::Post);
        let response = pipeline
            .send(&Context::new(), &mut request, None)
            .await
            .expect("pipeline call succeeds");
        assert_eq!(response.status(), StatusCode::Created);
    }
}
