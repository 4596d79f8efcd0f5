//! TLS as libpq's `sslmode` means it, with rustls: `disable` never, `allow`/`prefer` when the
//! server offers it, `require` always; those three do not check the certificate (libpq does
//! not either, unless a root certificate is given to `require`). `verify-ca` checks the chain
//! against `sslrootcert`, `verify-full` the host name too. A client certificate is sent when
//! `sslcert` and `sslkey` are set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use postgres::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{Fail, PgParams};

/// The connector for the app's `sslmode`, or None for a plain connection.
pub fn connector(p: &PgParams) -> Result<Option<(SslMode, MakeRustlsConnect)>, Fail> {
    let mode = p.sslmode.trim().to_ascii_lowercase();
    let (ssl_mode, check) = match mode.as_str() {
        "disable" => return Ok(None),
        "allow" | "prefer" | "" => (SslMode::Prefer, Check::None),
        "require" if p.sslrootcert.is_some() => (SslMode::Require, Check::Chain),
        "require" => (SslMode::Require, Check::None),
        "verify-ca" => (SslMode::Require, Check::Chain),
        "verify-full" => (SslMode::Require, Check::Full),
        other => {
            return Err(Fail::Tls(format!(
                "sslmode '{other}' is not one of disable, allow, prefer, require, verify-ca, verify-full"
            )))
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = match check {
        Check::None => None,
        Check::Chain | Check::Full => Some(
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(p.sslrootcert.as_deref())?),
                provider.clone(),
            )
            .build()
            .map_err(|e| Fail::Tls(format!("sslrootcert: {e}")))?,
        ),
    };
    let verifier = Arc::new(Verifier {
        provider: provider.clone(),
        chain,
        check_name: matches!(check, Check::Full),
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Fail::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&p.sslcert, &p.sslkey) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| Fail::Tls(format!("sslcert/sslkey: {e}")))?,
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(Fail::Tls(
                "sslcert and sslkey go together: set both or neither".into(),
            ))
        }
    };
    Ok(Some((ssl_mode, MakeRustlsConnect::new(config))))
}

enum Check {
    None,
    Chain,
    Full,
}

/// The root certificates to check the server against: `sslrootcert`, else libpq's default
/// `~/.postgresql/root.crt`.
fn roots(file: Option<&Path>) -> Result<RootCertStore, Fail> {
    let path = match file {
        Some(f) => f.to_path_buf(),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
            .unwrap_or_default(),
    };
    let mut store = RootCertStore::empty();
    for cert in certificates(&path)? {
        store
            .add(cert)
            .map_err(|e| Fail::Tls(format!("{}: {e}", path.display())))?;
    }
    Ok(store)
}

fn read_pem(path: &Path) -> Result<Vec<u8>, Fail> {
    std::fs::read(path).map_err(|e| Fail::Tls(format!("cannot read {}: {e}", path.display())))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Fail> {
    let pem = read_pem(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Fail::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Fail::Tls(format!(
            "{}: no PEM certificate in it",
            path.display()
        )));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Fail> {
    PrivateKeyDer::from_pem_slice(&read_pem(path)?)
        .map_err(|e| Fail::Tls(format!("{}: {e}", path.display())))
}

/// The server's certificate as libpq's sslmode checks it: `prefer`/`require` without a root
/// certificate encrypt without authenticating (no `chain`); `verify-ca` checks the chain,
/// `verify-full` the host name too. The handshake's signatures are always checked (the peer
/// holds the certificate's key).
#[derive(Debug)]
struct Verifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
