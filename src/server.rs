//! Start-up and shutdown of the HTTP server.

use crate::{
    acs::{AcsClient, AcsClientOptions},
    config::Settings,
    credential,
    limits::SmsLimits,
    routes::{self, AppState},
};
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Builds the shared state: the credential and the ACS client. No network I/O happens here.
pub fn build_state(settings: Settings) -> Result<Arc<AppState>, String> {
    let auth = credential::auth_policy(&settings.auth)
        .map_err(|e| format!("cannot set up {}: {e}", settings.auth.describe()))?;
    let retry = ExponentialRetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(200),
        max_retries: 3,
        max_total_elapsed: azure_core::time::Duration::seconds(settings.deadline.as_secs() as i64),
        max_delay: azure_core::time::Duration::seconds(8),
    };
    let options = AcsClientOptions {
        client_options: ClientOptions {
            retry: RetryOptions::exponential(retry),
            ..Default::default()
        },
        deadline: settings.deadline,
    };
    let acs = AcsClient::with_auth_policy(settings.endpoint.clone(), auth, options);
    let sms_limits = SmsLimits::new(
        settings.sms.per_number_per_hour,
        settings.sms.per_caller_per_minute,
    );
    Ok(Arc::new(AppState {
        settings,
        acs,
        sms_limits,
    }))
}

/// Binds the loopback port the host gave us. The host always dials `127.0.0.1`.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Serves until `shutdown` completes, then lets in-flight requests finish for at most
/// [`SHUTDOWN_GRACE`].
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let app = tower::ServiceExt::map_request(routes::router(state), routes::canonical_path);
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = signalled_tx.send(());
    });
    let server = server.into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result,
        _ = async { let _ = signalled_rx.await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("shutdown grace period over; dropping requests still in flight");
            Ok(())
        }
    }
}

/// Completes on SIGTERM (how the host and the platform stop us) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
