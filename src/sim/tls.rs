//! HTTPS for the simulator (`flexform sim --tls-cert FILE --tls-key FILE`), so that users can
//! try their trust and proxy set-up offline, and tests and benchmarks can measure TLS.
//!
//! TLS handshakes run concurrently, each in its own task, so that a slow client never holds
//! up the others; the finished connections are handed to axum through [`TlsListener`].

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The certificate chain and private key the simulator serves HTTPS with (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, server certificate first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// A server configuration from the files; the error names the file and says why.
    pub(crate) fn server_config(&self) -> io::Result<Arc<rustls::ServerConfig>> {
        let invalid = |e: crate::support::tls::TlsFileError| {
            io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
        };
        let chain = crate::support::tls::read_certificates(&self.cert).map_err(invalid)?;
        let key = crate::support::tls::read_private_key(&self.key).map_err(invalid)?;
        let mut config =
            rustls::ServerConfig::builder_with_provider(crate::support::tls::provider())
                .with_safe_default_protocol_versions()
                .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} and {} do not make a TLS server: {e}",
                            self.cert.display(),
                            self.key.display()
                        ),
                    )
                })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// TLS connections ready to serve, for `axum::serve`.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp`, counting each connection in `accepted`, and shakes hands with
    /// `config` in the background.
    pub(crate) fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        accepted: Arc<AtomicU64>,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (sender, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            // Out of file descriptors, say: wait rather than spin.
                            tracing::debug!("simulator accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    // The server is gone: stop accepting.
                    _ = sender.closed() => return,
                };
                accepted.fetch_add(1, Ordering::Relaxed);
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    let handshake = acceptor.accept(stream);
                    match tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await
                    {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
