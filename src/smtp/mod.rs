//! The built-in SMTP receiver: a tokio accept loop with limits and
//! timeouts, `smtp-proto` for command parsing, STARTTLS when a certificate
//! is configured. Sessions speak the protocol; what an inbox accepts and how
//! a message is stored is the email service's business.

mod data;
mod load;
mod sender_auth;
mod session;

use crate::service::AppState;
use load::{Load, Refusal};
use sender_auth::SenderAuth;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub struct SmtpServer {
    listener: TcpListener,
    app: AppState,
    tls: Option<TlsAcceptor>,
    load: Arc<Load>,
    auth: Arc<SenderAuth>,
}

impl SmtpServer {
    /// Binds `smtp_addr` and loads the TLS certificate when configured.
    pub async fn bind(app: AppState) -> anyhow::Result<Self> {
        let addr = &app.config.smtp_addr;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on smtp_addr {addr}: {e}"))?;
        let tls = match (&app.config.smtp.tls_cert, &app.config.smtp.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            _ => None,
        };
        let load = Load::new(&app.config.smtp);
        let spool = app.config.data_dir.join("spool");
        std::fs::create_dir_all(&spool)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", spool.display()))?;
        let auth = Arc::new(SenderAuth::new(&app.config.smtp, spool)?);
        Ok(Self {
            listener,
            app,
            tls,
            load,
            auth,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Accepts sessions until `stop`; then waits (at most `drain`) for the
    /// sessions under way to finish their transactions.
    pub async fn run(self, mut stop: watch::Receiver<bool>, drain: Duration) {
        loop {
            let accepted = tokio::select! {
                _ = stop.changed() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (mut tcp, peer) = match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "SMTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let admission = match self.load.admit(peer.ip()) {
                Ok(admission) => admission,
                Err(refusal) => {
                    let (outcome, reply) = match refusal {
                        Refusal::TooManySessions => (
                            "refused",
                            &b"421 4.3.2 Too many connections, try again later\r\n"[..],
                        ),
                        Refusal::TooManyFromAddress => (
                            "refused_per_ip",
                            &b"421 4.7.0 Too many connections from your address, try again later\r\n"[..],
                        ),
                    };
                    metrics::counter!(crate::metrics::SMTP_SESSIONS, "outcome" => outcome)
                        .increment(1);
                    tracing::warn!(%peer, ?refusal, "SMTP session refused");
                    let _ = tcp.write_all(reply).await;
                    continue;
                }
            };
            metrics::counter!(crate::metrics::SMTP_SESSIONS, "outcome" => "accepted").increment(1);
            let (app, tls, stop) = (self.app.clone(), self.tls.clone(), stop.clone());
            let (load, auth) = (self.load.clone(), self.auth.clone());
            tokio::spawn(async move {
                session::serve(app, (&load, &auth), tcp, peer, tls, stop).await;
                drop(admission);
            });
        }
        drop(self.listener);
        if !self.load.drained(drain).await {
            tracing::warn!("SMTP sessions still open at shutdown");
        }
    }
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<TlsAcceptor> {
    use std::io::BufReader;
    let open = |p: &std::path::Path| {
        std::fs::File::open(p)
            .map(BufReader::new)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    let certs = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("smtp.tls_cert {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("smtp.tls_cert {} holds no certificate", cert.display());
    }
    let key = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| anyhow::anyhow!("smtp.tls_key {}: {e}", key.display()))?
        .ok_or_else(|| anyhow::anyhow!("smtp.tls_key {} holds no private key", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| anyhow::anyhow!("smtp TLS certificate and key do not fit: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
