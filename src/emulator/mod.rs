//! A local stand-in for Azure Communication Services (Identity and SMS) and for the App Service
//! managed-identity token endpoint, for development and integration tests.
//!
//! Two servers run side by side:
//!
//! * the ACS data plane over HTTPS (a CA and a leaf certificate are generated at start; clients
//!   trust the CA written to [`Emulator::ca_cert_path`]), see `acs_identity` and `acs_sms`;
//! * the managed-identity endpoint over plain HTTP, see `identity_endpoint`.
//!
//! The emulator is deliberately strict: it rejects what the real service rejects (see
//! `../shared/docs/acs-rest.md` §9), because a lenient fake hides client bugs. Every request is recorded
//! in [`EmulatorState`], and [`Fault`]s can be queued to simulate throttling, slow responses and
//! broken connections.

mod acs_common;
mod acs_identity;
mod acs_sms;
mod acs_tokens;
mod auth;
mod faults;
mod identity_endpoint;
mod jwt;
mod server;
mod sms_recipients;
mod sms_validation;
mod state;
mod timefmt;
mod tls;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use faults::{Fault, FaultAction, FaultTarget};
pub use state::{EmulatorState, RecordedRequest, SentSms};

/// How to start an [`Emulator`]. `Default` gives ephemeral loopback ports and a random secret.
#[derive(Clone)]
pub struct EmulatorOptions {
    /// Where the HTTPS ACS API listens; default `127.0.0.1:0`.
    pub acs_addr: SocketAddr,
    /// Where the plain-HTTP managed-identity endpoint listens; default `127.0.0.1:0`.
    pub identity_addr: SocketAddr,
    /// Directory that receives the CA certificate (PEM); default `<temp>/acs-emulator`.
    pub cert_dir: PathBuf,
    /// Secret the identity endpoint requires in `X-IDENTITY-HEADER`; default a random UUID.
    pub identity_header: String,
    /// SMS `from` values the emulated resource owns; default `["+18005550100"]`.
    pub owned_senders: Vec<String>,
    /// Base64 access key. When set, HMAC-SHA256 signed requests are accepted and verified.
    pub access_key: Option<String>,
    /// Lifetime of the tokens the identity endpoint issues; default 8 hours.
    pub managed_identity_token_lifetime: Duration,
    /// Client ids of the user-assigned identities the emulated app has; default none, only its
    /// system-assigned identity. The identity endpoint refuses a token for any other identity,
    /// as App Service does, so a stray `AZURE_CLIENT_ID` fails here as it would in Azure.
    pub user_assigned_client_ids: Vec<String>,
    /// How many recorded requests (per server) and outbox entries to keep, dropping the oldest;
    /// default `None`, everything, as tests want. A long-running emulator sets a bound so its
    /// memory stays flat.
    pub history_limit: Option<usize>,
}

// Hand-written so the identity secret and the access key never reach logs.
impl std::fmt::Debug for EmulatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorOptions")
            .field("acs_addr", &self.acs_addr)
            .field("identity_addr", &self.identity_addr)
            .field("cert_dir", &self.cert_dir)
            .field("owned_senders", &self.owned_senders)
            .field(
                "access_key",
                &self.access_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "managed_identity_token_lifetime",
                &self.managed_identity_token_lifetime,
            )
            .field("history_limit", &self.history_limit)
            .field("user_assigned_client_ids", &self.user_assigned_client_ids)
            .finish_non_exhaustive()
    }
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        let loopback = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
        EmulatorOptions {
            acs_addr: loopback,
            identity_addr: loopback,
            cert_dir: std::env::temp_dir().join("acs-emulator"),
            identity_header: uuid::Uuid::new_v4().to_string(),
            owned_senders: vec!["+18005550100".to_owned()],
            access_key: None,
            managed_identity_token_lifetime: Duration::from_secs(8 * 60 * 60),
            history_limit: None,
            user_assigned_client_ids: Vec::new(),
        }
    }
}

/// A running emulator: both servers plus their shared state.
///
/// Dropping it without calling [`Emulator::shutdown`] also stops the servers (their shutdown
/// channel closes) and removes the CA file, but only `shutdown` waits for the servers to stop.
pub struct Emulator {
    acs_addr: SocketAddr,
    identity_addr: SocketAddr,
    identity_header: String,
    ca_cert_path: PathBuf,
    state: EmulatorState,
    /// Taken by `shutdown`; `None` afterwards.
    servers: Option<server::Servers>,
}

impl Emulator {
    /// Generates the certificates, binds both listeners and starts serving.
    ///
    /// # Errors
    ///
    /// Fails when a listener cannot be bound, the access key is not base64, the certificates
    /// cannot be generated, or the CA file cannot be written.
    pub async fn start(options: EmulatorOptions) -> std::io::Result<Emulator> {
        let access_key = match &options.access_key {
            Some(key) => Some(decode_access_key(key)?),
            None => None,
        };
        let state = EmulatorState::new(state::Config::new(&options, access_key));

        // Bind first: a busy port then fails before any file is written.
        let acs_listener = tokio::net::TcpListener::bind(options.acs_addr).await?;
        let identity_listener = tokio::net::TcpListener::bind(options.identity_addr).await?;
        let acs_addr = client_addr(acs_listener.local_addr()?);
        let identity_addr = client_addr(identity_listener.local_addr()?);

        let material = tls::generate()?;
        let acceptor = tls::acceptor(&material)?;
        let ca_cert_path = tls::write_ca_pem(&options.cert_dir, &material.ca_pem)?;

        let servers = server::Servers::start(acs_listener, acceptor, identity_listener, &state);
        tracing::info!(%acs_addr, %identity_addr, ca = %ca_cert_path.display(), "emulator started");

        Ok(Emulator {
            acs_addr,
            identity_addr,
            identity_header: options.identity_header,
            ca_cert_path,
            state,
            servers: Some(servers),
        })
    }

    /// Base URL of the ACS API, e.g. `https://127.0.0.1:41234` (no trailing slash).
    pub fn acs_endpoint(&self) -> String {
        format!("https://{}", self.acs_addr)
    }

    /// Full URL of the token endpoint, e.g. `http://127.0.0.1:41235/msi/token`.
    pub fn identity_endpoint(&self) -> String {
        format!("http://{}/msi/token", self.identity_addr)
    }

    /// The secret clients must send in `X-IDENTITY-HEADER`.
    pub fn identity_header(&self) -> &str {
        &self.identity_header
    }

    /// Path of the PEM file holding the emulator's CA certificate.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert_path
    }

    /// Handle to the recorded requests, outbox and fault queue.
    pub fn state(&self) -> &EmulatorState {
        &self.state
    }

    /// Stops both servers (in-flight requests get a short grace period) and removes the CA file.
    pub async fn shutdown(mut self) {
        if let Some(servers) = self.servers.take() {
            servers.shutdown().await;
        }
        // The CA file goes in `Drop`.
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // Best effort: someone may have cleaned the directory already. Removing the file also
        // keeps panicking tests from leaving certificates behind.
        let _ = std::fs::remove_file(&self.ca_cert_path);
    }
}

/// Decodes the configured access key; its bytes are the HMAC key (acs-rest.md §1).
fn decode_access_key(key: &str) -> std::io::Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

/// An address clients can dial: a wildcard bind is reached through loopback.
fn client_addr(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port())
    } else {
        bound
    }
}
