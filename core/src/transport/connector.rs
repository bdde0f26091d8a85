//! How a new connection is made: TCP with keep-alive and no Nagle, then rustls with the system's
//! roots plus `ca_file` (verification is always on) when the URL says https, offering h2 by ALPN
//! unless `http2` is `never`; all under `connect_timeout_ms`. The pool ([`super::pool`]) does
//! the HTTP handshake on what this returns.

use std::sync::Arc;

use hyper_util::client::legacy::connect::HttpConnector;
use once_cell::sync::Lazy;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::deadline::ConnectTimeout;
use crate::config::{Config, Http2};
use crate::error::{Error, Result};

/// TCP, then TLS when the URL says https, all under `connect_timeout_ms`.
pub(crate) type Connector = ConnectTimeout<hyper_rustls::HttpsConnector<HttpConnector>>;

/// The system's trusted roots, read once per process (parsing them takes milliseconds).
static SYSTEM_ROOTS: Lazy<Vec<CertificateDer<'static>>> =
    Lazy::new(|| rustls_native_certs::load_native_certs().certs);

fn tls_config(config: &Config) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    // A few unparsable system certificates should not stop anyone; they are skipped.
    let _ = roots.add_parsable_certificates(SYSTEM_ROOTS.iter().cloned());
    if let Some(path) = &config.ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<std::result::Result<_, _>>())
            .map_err(|e| {
                Error::invalid_option("ca_file", format!("cannot read `{}`: {e}", path.display()))
            })?;
        if certs.is_empty() {
            return Err(Error::invalid_option(
                "ca_file",
                format!("`{}` holds no PEM certificate", path.display()),
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                Error::invalid_option(
                    "ca_file",
                    format!("bad certificate in `{}`: {e}", path.display()),
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tls)
}

/// The connector for one `Config`.
pub(crate) fn build(config: &Config) -> Result<Connector> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_keepalive(Some(std::time::Duration::from_secs(60)));

    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(config)?)
        .https_or_http();
    let https = match (config.http2, config.http2_prior_knowledge) {
        (Http2::Never, _) => builder.enable_http1().wrap_connector(tcp),
        (Http2::Auto, true) => builder.enable_http2().wrap_connector(tcp),
        (Http2::Auto, false) => builder.enable_all_versions().wrap_connector(tcp),
    };
    Ok(ConnectTimeout::new(https, config.connect_timeout))
}
