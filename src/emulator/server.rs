//! Accept loops, per-connection HTTP/1.1 serving, and the steps every request goes through:
//! record, apply a queued fault, authenticate (ACS), route.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::acs_common::{self, percent_decode};
use super::faults::{self, FaultAction, Site};
use super::state::{EmulatorState, RecordedRequest};
use super::{auth, identity_endpoint};

/// Largest request body accepted; SMS bodies are far smaller.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// A client that connects but never finishes the handshake must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for in-flight requests before cutting connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The two running accept loops.
pub(super) struct Servers {
    shutdown: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

impl Servers {
    pub(super) fn start(
        acs: TcpListener,
        acceptor: TlsAcceptor,
        identity: TcpListener,
        state: &EmulatorState,
    ) -> Servers {
        let (shutdown, signal) = watch::channel(false);
        let acs_app = App {
            site: Site::Acs,
            state: state.clone(),
            router: acs_common::router(state.clone()),
        };
        // The token endpoint has a single route and is answered without a router.
        let identity_app = App {
            site: Site::Identity,
            state: state.clone(),
            router: Router::new(),
        };
        let loops = vec![
            tokio::spawn(accept_loop(acs, Some(acceptor), acs_app, signal.clone())),
            tokio::spawn(accept_loop(identity, None, identity_app, signal)),
        ];
        Servers { shutdown, loops }
    }

    pub(super) async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for handle in self.loops {
            let _ = handle.await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: App,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // Also fires when the `Emulator` is dropped and the sender goes away.
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    app.state.count_connection(app.site);
                    let conn = serve_stream(stream, tls.clone(), app.clone(), shutdown.clone());
                    connections.spawn(conn);
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "emulator accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
    connections.abort_all();
}

/// Runs the TLS handshake (in this connection's own task, so a slow client cannot stall the
/// accept loop) and then serves HTTP on the stream.
async fn serve_stream(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    app: App,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    match tls {
        None => serve_http(TokioIo::new(stream), app, shutdown).await,
        Some(acceptor) => {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve_http(TokioIo::new(stream), app, shutdown).await,
                Ok(Err(error)) => tracing::debug!(%error, "emulator TLS handshake failed"),
                Err(_) => tracing::debug!("emulator TLS handshake timed out"),
            }
        }
    }
}

async fn serve_http<I>(io: I, app: App, mut shutdown: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let app = app.clone();
        async move { app.handle(request).await }
    });
    // Keep-alive is on by default: clients pool connections.
    let connection = http1::Builder::new().serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Returned by the service to make hyper close the connection without writing a response.
#[derive(Debug)]
struct DropConnection;

impl fmt::Display for DropConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// What one server needs to answer a request.
#[derive(Clone)]
struct App {
    site: Site,
    state: EmulatorState,
    router: Router,
}

impl App {
    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Body>, DropConnection> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(Body::new(body), MAX_BODY)
            .await
            .map_err(|_| DropConnection)?;
        let recorded = RecordedRequest::new(&parts, body.clone());
        self.state.record(self.site, recorded.clone());

        let fault = self
            .state
            .take_fault(self.site, &percent_decode(parts.uri.path()));
        let after = match fault {
            None => None,
            Some(FaultAction::Status {
                status,
                retry_after,
                body,
            }) => {
                let response =
                    faults::status_response(status, retry_after.as_deref(), body.as_deref());
                return Ok(self.finish(response, &recorded));
            }
            Some(FaultAction::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                None
            }
            Some(FaultAction::Reset) => return Err(DropConnection),
            Some(other) => Some(other),
        };

        let response = match self.site {
            Site::Identity => identity_endpoint::handle(&self.state, &recorded),
            Site::Acs => match auth::authorize(&self.state, &parts, &body) {
                Err(error) => axum::response::IntoResponse::into_response(error),
                Ok(()) => {
                    let request = Request::from_parts(parts, Body::from(body));
                    let result: Result<_, Infallible> = self.router.clone().oneshot(request).await;
                    match result {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                }
            },
        };

        let response = match after {
            Some(FaultAction::ProcessThenDrop) => return Err(DropConnection),
            Some(action) => faults::corrupt_body(response, &action).await,
            None => response,
        };
        Ok(self.finish(response, &recorded))
    }

    /// ACS echoes the caller's `x-ms-client-request-id` (acs-rest.md §4).
    fn finish(&self, mut response: Response<Body>, request: &RecordedRequest) -> Response<Body> {
        if self.site == Site::Acs
            && let Some(id) = request.header("x-ms-client-request-id")
            && let Ok(value) = HeaderValue::from_str(id)
        {
            response
                .headers_mut()
                .insert("x-ms-client-request-id", value);
        }
        response
    }
}
