//! TLS termination with rustls: TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`.
//! The certificate chain and key are read at start (a bad or mismatched
//! pair stops the start, and `gatehouse check`), then watched: when either
//! file changes, or on SIGHUP, the pair is read again and new connections
//! use it; a broken new pair is logged and the old one keeps serving.
//! An OCSP response (`[tls] ocsp`) is stapled as given and follows its
//! file the same way (renew it with e.g. `openssl ocsp … -respout`).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

/// How often the files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Reads and checks a chain and key: at least one certificate, a key
/// rustls can use, and a key that belongs to the first certificate.
pub fn load(cert: &Path, key: &Path, ocsp: Option<&Path>) -> Result<Arc<ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", cert.display()));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: no usable private key: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert_with_ocsp(certs, private, ocsp_response(ocsp)?)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The stapled OCSP response: DER, so it starts with a SEQUENCE; rustls
/// sends it as it is (an empty one: nothing stapled).
fn ocsp_response(path: Option<&Path>) -> Result<Vec<u8>, String> {
    let Some(p) = path else { return Ok(Vec::new()) };
    let der = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if der.first() != Some(&0x30) || der.len() > 64 * 1024 {
        return Err(format!(
            "{}: not a DER OCSP response (`openssl ocsp … -respout` writes one)",
            p.display()
        ));
    }
    Ok(der)
}

/// The current server config, swapped when the files change.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    ocsp: Option<PathBuf>,
    current: RwLock<Arc<ServerConfig>>,
    stamps: Mutex<[Option<SystemTime>; 3]>,
    /// `[tls] hsts`, sent on every answer over TLS.
    pub hsts: Option<http::HeaderValue>,
}

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl Tls {
    pub fn new(t: &crate::config::TlsSettings) -> Result<Arc<Tls>, String> {
        let cfg = load(&t.cert, &t.key, t.ocsp.as_deref())?;
        let hsts = match &t.hsts {
            Some(h) => Some(http::HeaderValue::from_str(h).map_err(|e| format!("hsts: {e}"))?),
            None => None,
        };
        let me = Tls {
            cert: t.cert.clone(),
            key: t.key.clone(),
            ocsp: t.ocsp.clone(),
            current: RwLock::new(cfg),
            stamps: Mutex::new([None; 3]),
            hsts,
        };
        *me.stamps.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = me.stamps();
        Ok(Arc::new(me))
    }

    fn stamps(&self) -> [Option<SystemTime>; 3] {
        [
            modified(&self.cert),
            modified(&self.key),
            self.ocsp.as_deref().and_then(modified),
        ]
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let cfg = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        tokio_rustls::TlsAcceptor::from(cfg)
    }

    /// Reads the pair again; keeps the old one if the new one is broken.
    pub fn reload(&self) -> bool {
        match load(&self.cert, &self.key, self.ocsp.as_deref()) {
            Ok(cfg) => {
                *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = cfg;
                crate::ops::metrics::tls_reload(true);
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                crate::ops::metrics::tls_reload(false);
                tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
                false
            }
        }
    }

    /// Reloads when either file's modification time changes.
    fn reload_if_changed(&self) {
        let now = self.stamps();
        let changed = {
            let mut s = self.stamps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let changed = *s != now;
            *s = now;
            changed
        };
        if changed {
            self.reload();
        }
    }

    /// Watches the files (and SIGHUP) until the runtime ends.
    pub fn spawn_watcher(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.reload_if_changed();
            }
        });
        #[cfg(unix)]
        {
            let me = self.clone();
            tokio::spawn(async move {
                let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
                    return;
                };
                while hup.recv().await.is_some() {
                    me.reload();
                }
            });
        }
    }
}
