//! The HTTPS server's TLS: rustls with aws-lc-rs, TLS 1.2 and 1.3, ALPN `h2` and
//! `http/1.1` (the API server uses HTTP/2 when offered), optional client certificates,
//! and a serving certificate reloaded from disk without a restart.

use crate::metrics::{Metrics, ReloadResult};
use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Pem {
        path: String,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path} holds no certificate")]
    NoCert { path: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("client CA {path}: {source}")]
    ClientCaCert { path: String, source: rustls::Error },
    #[error("client CA {path}: {source}")]
    ClientCa {
        path: String,
        source: rustls::server::VerifierBuilderError,
    },
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn pem_error(path: &Path) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError + '_ {
    move |source| TlsError::Pem {
        path: path.display().to_string(),
        source,
    }
}

fn parse_certs(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(path))?;
    if certs.is_empty() {
        return Err(TlsError::NoCert {
            path: path.display().to_string(),
        });
    }
    Ok(certs)
}

/// Certificate chain and key file contents, as read.
type PemPair = (Vec<u8>, Vec<u8>);

/// The serving certificate, swapped whole when the files on disk change. New handshakes
/// get the new certificate; established connections keep theirs.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// The file contents last tried, so an unchanged (or unchanged bad) pair is not re-read.
    last_seen: Mutex<PemPair>,
    /// The last read error, so a file that stays missing is reported once.
    last_read_error: Mutex<Option<String>>,
}

/// What a reload found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Reloaded,
}

impl ReloadingCert {
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let (cert_pem, key_pem) = (read(cert_path)?, read(key_path)?);
        let key = certified_key(&cert_pem, &key_pem, cert_path, key_path)?;
        Ok(ReloadingCert {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: ArcSwap::from_pointee(key),
            last_seen: Mutex::new((cert_pem, key_pem)),
            last_read_error: Mutex::new(None),
        })
    }

    /// Re-reads both files (through any `..data` symlink the kubelet swapped) and installs
    /// the pair if it changed and is good. A bad or half-written pair keeps the old one.
    pub fn reload(&self) -> Result<Reload, TlsError> {
        let Some((cert_pem, key_pem)) = self.read_settled_pair()? else {
            return Ok(Reload::Unchanged);
        };
        let mut last_seen = self.last_seen.lock().unwrap_or_else(|e| e.into_inner());
        if last_seen.0 == cert_pem && last_seen.1 == key_pem {
            return Ok(Reload::Unchanged);
        }
        let result = certified_key(&cert_pem, &key_pem, &self.cert_path, &self.key_path);
        // Remember a bad pair too: it is reported once, and retried when the files change.
        *last_seen = (cert_pem, key_pem);
        self.current.store(Arc::new(result?));
        Ok(Reload::Reloaded)
    }

    /// Reads the pair; `None` while a swap is under way (the certificate changed while
    /// the key was read), so a normal rotation is never mistaken for a bad pair.
    fn read_settled_pair(&self) -> Result<Option<PemPair>, TlsError> {
        let read_all = || -> Result<_, TlsError> {
            let cert = read(&self.cert_path)?;
            let key = read(&self.key_path)?;
            let cert_again = read(&self.cert_path)?;
            Ok((cert == cert_again).then_some((cert, key)))
        };
        let mut last_error = self
            .last_read_error
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match read_all() {
            Ok(pair) => {
                *last_error = None;
                Ok(pair)
            }
            Err(err) => {
                let text = err.to_string();
                if last_error.as_deref() == Some(text.as_str()) {
                    return Ok(None);
                }
                *last_error = Some(text);
                Err(err)
            }
        }
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The end-entity certificate being served.
    pub fn current_cert(&self) -> CertificateDer<'static> {
        self.current.load().cert[0].clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_path: &Path,
    key_path: &Path,
) -> Result<CertifiedKey, TlsError> {
    let certs = parse_certs(cert_pem, cert_path)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(pem_error(key_path))?;
    Ok(CertifiedKey::from_der(certs, key, &provider())?)
}

/// The server configuration: the reloading certificate, and client certificates signed
/// by `client_ca` required when one is given.
pub fn server_config(
    cert: Arc<ReloadingCert>,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in parse_certs(&read(path)?, path)? {
                roots.add(ca).map_err(|source| TlsError::ClientCaCert {
                    path: path.display().to_string(),
                    source,
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|source| TlsError::ClientCa {
                    path: path.display().to_string(),
                    source,
                })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Seconds since the epoch at which `cert` expires, if it parses.
pub fn not_after_unix(cert: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

/// Polls the certificate files and reloads them when they change.
pub fn spawn_cert_reloader(
    cert: Arc<ReloadingCert>,
    every: Duration,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    record_not_after(&cert, &metrics);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match cert.reload() {
                Ok(Reload::Unchanged) => {}
                Ok(Reload::Reloaded) => {
                    tracing::info!("serving certificate reloaded");
                    metrics.record_reload(ReloadResult::Success);
                    record_not_after(&cert, &metrics);
                }
                Err(err) => {
                    tracing::error!(error = %err, "serving certificate not reloaded; keeping the one in use");
                    metrics.record_reload(ReloadResult::Failure);
                }
            }
        }
    })
}

fn record_not_after(cert: &ReloadingCert, metrics: &Metrics) {
    if let Some(not_after) = not_after_unix(&cert.current_cert()) {
        metrics.tls_expiry.set(not_after);
    }
}
