//! The load generator's HTTP/1.1 client: one keep-alive connection per worker, plain TCP to the
//! handler or TLS to the emulator, with no pool, no retries and no redirects in the way.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types};

/// Largest answer body read; ours are well under a kilobyte.
const MAX_BODY: usize = 1024 * 1024;

/// Where connections go: the handler (plain HTTP) or the emulator's ACS API (HTTPS).
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    tls: Option<TlsConnector>,
}

impl Target {
    pub fn plain(addr: SocketAddr) -> Target {
        Target { addr, tls: None }
    }

    /// A TLS target that trusts only the CA in `ca_pem`, the way the handler trusts the emulator
    /// through `SSL_CERT_FILE`.
    pub fn tls(addr: SocketAddr, ca_pem: &Path) -> Result<Target, String> {
        use pki_types::pem::PemObject as _;
        let ca = pki_types::CertificateDer::from_pem_file(ca_pem)
            .map_err(|e| format!("cannot read the emulator CA {}: {e}", ca_pem.display()))?;
        let mut roots = RootCertStore::empty();
        roots.add(ca).map_err(|e| format!("bad emulator CA: {e}"))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Target {
            addr,
            tls: Some(TlsConnector::from(Arc::new(config))),
        })
    }

    /// Opens one connection, handshakes included.
    pub async fn connect(&self) -> Result<Connection, String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        let _ = stream.set_nodelay(true);
        let sender = match &self.tls {
            None => handshake(stream).await?,
            Some(connector) => {
                let name = pki_types::ServerName::from(self.addr.ip());
                let stream = connector
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.addr))?;
                handshake(stream).await?
            }
        };
        Ok(Connection { sender })
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Body>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    // The connection task ends when the sender is dropped.
    tokio::spawn(connection);
    Ok(sender)
}

/// One open keep-alive connection.
pub struct Connection {
    sender: SendRequest<Body>,
}

impl Connection {
    /// Sends `request` and reads the whole answer.
    pub async fn send(&mut self, request: Request<Body>) -> Result<(StatusCode, Bytes), String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body = axum::body::to_bytes(Body::new(response.into_body()), MAX_BODY)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        Ok((status, body))
    }
}
