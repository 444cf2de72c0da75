//! Certificates for the HTTPS side: a throw-away CA per emulator and a loopback leaf it signs.
//!
//! `azure_core`'s bearer policy refuses plain-http URLs, so the ACS side must speak TLS, and
//! clients trust it through the CA file (e.g. `SSL_CERT_FILE`).

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Distinguishes CA files of several emulators in one process.
static CA_FILE_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The generated certificates.
pub(super) struct TlsMaterial {
    pub ca_pem: String,
    leaf_der: CertificateDer<'static>,
    ca_der: CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
}

/// Creates a CA and a leaf for `127.0.0.1`, `::1` and `localhost` signed by it.
pub(super) fn generate() -> io::Result<TlsMaterial> {
    let ca_key = KeyPair::generate().map_err(io::Error::other)?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = name("ACS emulator local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().map_err(io::Error::other)?;
    let names = ["127.0.0.1", "::1", "localhost"]
        .map(str::to_owned)
        .to_vec();
    let mut leaf_params = CertificateParams::new(names).map_err(io::Error::other)?;
    leaf_params.distinguished_name = name("ACS emulator");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf_params
        .signed_by(&leaf_key, &issuer)
        .map_err(io::Error::other)?;

    Ok(TlsMaterial {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        leaf_der: leaf_cert.der().clone(),
        leaf_key_der: leaf_key.serialize_der(),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// A TLS acceptor serving the leaf (with its CA in the chain), HTTP/1.1 only.
pub(super) fn acceptor(material: &TlsMaterial) -> io::Result<TlsAcceptor> {
    // An explicit provider: the process-wide default may be unset or ambiguous when several
    // rustls backends are linked in.
    let provider = Arc::new(aws_lc_rs::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(material.leaf_key_der.clone()));
    let chain = vec![material.leaf_der.clone(), material.ca_der.clone()];
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Writes the CA as `emulator-ca-<pid>-<n>.pem` in `dir` and returns its path.
///
/// Test processes running in parallel may share `dir`, so every emulator gets its own file
/// name, and the file appears atomically (written aside, then renamed) so a reader never sees
/// a partial certificate.
pub(super) fn write_ca_pem(dir: &Path, pem: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let stem = format!(
        "emulator-ca-{}-{}",
        std::process::id(),
        CA_FILE_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(format!("{stem}.pem"));
    let temporary = dir.join(format!("{stem}.pem.tmp"));

    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(pem.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}
