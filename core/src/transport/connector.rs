//! How a new connection is made: TCP with keep-alive and no Nagle, then rustls with the system's
//! roots plus `ca_file` (verification is always on) when the URL says https, offering h2 by ALPN
//! unless `http2` is `never`; all under `connect_timeout_ms`. The pool ([`super::pool`]) does
//! the HTTP handshake on what this returns.
//!
//! The TLS side is set up at a client's first https connect, not when the client is made:
//! reading and parsing the system's trusted roots takes milliseconds (and a few hundred file
//! system calls) that a client speaking only http, or a short-lived program, should not pay.
//! `ca_file` is still read and checked when the client is made, so a bad one is an error there.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::uri::Scheme;
use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use once_cell::sync::Lazy;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tower_service::Service;

use super::deadline::ConnectTimeout;
use crate::config::{Config, Http2};
use crate::error::{Error, Result};
use crate::runtime::ForkLocal;

/// TCP, then TLS when the URL says https, all under `connect_timeout_ms`.
pub(crate) type Connector = ConnectTimeout<Dialer>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The system's trusted roots, read once per process, at the first https connect of any client.
/// Once per fork generation, in fact: a child forked while a parent thread was reading them must
/// not wait for that thread, which does not exist in the child.
static SYSTEM_ROOTS: Lazy<ForkLocal<OnceLock<Vec<CertificateDer<'static>>>>> =
    Lazy::new(|| ForkLocal::new(OnceLock::new()));

fn system_roots() -> &'static [CertificateDer<'static>] {
    SYSTEM_ROOTS
        .get_or_make(OnceLock::new)
        .get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The connector for one `Config`.
pub(crate) fn build(config: &Config) -> Result<Connector> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_keepalive(Some(std::time::Duration::from_secs(60)));
    let tls = TlsSetup {
        extra_roots: ca_file_roots(config)?,
        http2: config.http2,
        http2_prior_knowledge: config.http2_prior_knowledge,
    };
    let dialer = Dialer {
        tcp,
        tls: Arc::new((tls, OnceCell::new())),
    };
    Ok(ConnectTimeout::new(dialer, config.connect_timeout))
}

/// `ca_file`'s certificates, read and checked now (an empty store without one).
fn ca_file_roots(config: &Config) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    let Some(path) = &config.ca_file else {
        return Ok(roots);
    };
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
    Ok(roots)
}

/// What the TLS connector is made from, when it is first needed.
#[derive(Debug)]
struct TlsSetup {
    extra_roots: rustls::RootCertStore,
    http2: Http2,
    http2_prior_knowledge: bool,
}

impl TlsSetup {
    /// The system's roots plus `ca_file`'s, and ALPN as `http2` says. Blocking: reads files.
    fn connector(&self, tcp: HttpConnector) -> std::result::Result<Https, BoxError> {
        let mut roots = self.extra_roots.clone();
        // A few unparsable system certificates should not stop anyone; they are skipped.
        let _ = roots.add_parsable_certificates(system_roots().iter().cloned());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        Ok(match (self.http2, self.http2_prior_knowledge) {
            (Http2::Never, _) => builder.enable_http1().wrap_connector(tcp),
            (Http2::Auto, true) => builder.enable_http2().wrap_connector(tcp),
            (Http2::Auto, false) => builder.enable_all_versions().wrap_connector(tcp),
        })
    }
}

type Https = HttpsConnector<HttpConnector>;

/// Dials `http://` over TCP and `https://` over TLS, setting TLS up at the first https dial.
#[derive(Clone)]
pub(crate) struct Dialer {
    tcp: HttpConnector,
    /// Made once per client, by whichever https connect comes first (the others wait for it).
    tls: Arc<(TlsSetup, OnceCell<Https>)>,
}

impl Dialer {
    /// Whether TLS has been set up (for tests of the laziness).
    #[cfg(test)]
    fn tls_ready(&self) -> bool {
        self.tls.1.initialized()
    }
}

impl Service<Uri> for Dialer {
    type Response = MaybeHttpsStream<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        // Both connectors are always ready; readiness is asked of the one used, in `call`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let Dialer { mut tcp, tls } = self.clone();
        Box::pin(async move {
            if uri.scheme() != Some(&Scheme::HTTPS) {
                return Ok(MaybeHttpsStream::Http(tcp.call(uri).await?));
            }
            let mut https = tls
                .1
                .get_or_try_init(|| async {
                    // Reading the roots blocks: off the runtime's worker threads.
                    let tls = tls.clone();
                    tokio::task::spawn_blocking(move || tls.0.connector(tcp))
                        .await
                        .map_err(|e| format!("TLS setup did not finish: {e}"))?
                })
                .await?
                .clone();
            https.call(uri).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that only dials http never sets TLS up; its first https dial does, once.
    #[test]
    fn tls_is_set_up_at_the_first_https_dial_only() {
        let tb = tailrace_testbed::Testbed::start(Default::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let connector = build(&Config::default()).unwrap();
        let mut dialer = connector.inner().clone();
        rt.block_on(async {
            let io = dialer.call(tb.url().parse().unwrap()).await.unwrap();
            assert!(matches!(io, MaybeHttpsStream::Http(_)));
            assert!(!dialer.tls_ready(), "an http dial set TLS up");
            // The testbed speaks plain http on this port: the TLS handshake fails, but TLS is
            // set up by then, and stays set up for the next https dial.
            let https: Uri = tb.url().replace("http://", "https://").parse().unwrap();
            assert!(dialer.call(https).await.is_err());
            assert!(dialer.tls_ready());
        });
    }

    #[test]
    fn a_bad_ca_file_is_an_error_when_the_client_is_made() {
        let dir = std::env::temp_dir().join(format!("tailrace-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate").unwrap();
        let mut c = Config::default();
        c.set("ca_file", dir.to_str().unwrap()).unwrap();
        let err = build(&c)
            .err()
            .expect("a file with no certificate is refused");
        std::fs::remove_file(&dir).unwrap();
        assert!(err.message().contains("ca_file"), "{err}");
    }
}
