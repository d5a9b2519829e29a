//! Inlet: a self-hosted content-ingestion service.
//!
//! [`Application::build`] opens the store, binds the listeners and returns a
//! server that [`Application::run_until_stopped`] drives to a graceful end.

pub mod api;
pub mod blobs;
pub mod config;
pub mod console;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod metrics;
pub mod portals;
pub mod ratelimit;
pub mod service;
pub mod smtp;
pub mod store;
pub mod telemetry;

use config::Config;
use service::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

pub struct Application {
    http: TcpListener,
    smtp: smtp::SmtpServer,
    state: AppState,
}

impl Application {
    /// Prepares everything that can fail at start-up: data dir, database and
    /// schema, server key, initial API key, listeners.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let state = open_state(config).await?;
        service::keys::bootstrap_initial_key(state.store.as_ref(), &state.config.data_dir).await?;
        let http = TcpListener::bind(&state.config.http_addr)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot listen on http_addr {}: {e}", state.config.http_addr)
            })?;
        let smtp = smtp::SmtpServer::bind(state.clone()).await?;
        Ok(Self { http, smtp, state })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.http_addr();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let workers: Vec<_> = (0..self.state.config.jobs.workers)
            .map(|_| tokio::spawn(jobs::Runner::new(self.state.clone()).work(stop_rx.clone())))
            .collect();
        tracing::info!(addr = %self.smtp_addr(), "SMTP listener bound");
        let smtp = tokio::spawn(
            self.smtp
                .run(stop_rx.clone(), std::time::Duration::from_secs(30)),
        );
        tracing::info!(%addr, "HTTP listener bound");
        let upkeep = tokio::spawn(metrics::keep_up());
        let timeouts = api::conn::Timeouts {
            header: self.state.config.http.header_timeout(),
            idle: self.state.config.http.idle_timeout(),
        };
        let app = api::router(self.state);
        // SMTP hears about the signal at the same time as HTTP, so sessions
        // waiting for a command close while HTTP drains.
        let stop_on_signal = stop_tx.clone();
        let shutdown = async move {
            shutdown.await;
            let _ = stop_on_signal.send(true);
        };
        api::conn::serve(self.http, app, timeouts, shutdown).await;
        // HTTP has drained; SMTP stops accepting and finishes the
        // transactions under way; workers finish their current job and hand
        // back their leases.
        let _ = stop_tx.send(true);
        let _ = smtp.await;
        for w in workers {
            let _ = w.await;
        }
        upkeep.abort();
        tracing::info!("stopped");
        Ok(())
    }
}

/// The per-key and per-IP limiters of the configured backend.
async fn rate_limiters(
    limits: &config::RateLimitConfig,
) -> anyhow::Result<(
    Arc<dyn ratelimit::RateLimiter>,
    Arc<dyn ratelimit::RateLimiter>,
)> {
    // Key guessing gets a tenth of a minute's allowance at once.
    let ip_burst = limits.unauthenticated_per_minute.div_ceil(6).max(1);
    Ok(match (&limits.backend, &limits.redis_url) {
        (config::RateLimitBackend::Redis, Some(url)) => {
            let key = ratelimit::RedisLimiter::connect(
                url,
                &format!("{}key:", limits.redis_prefix),
                limits.requests_per_minute,
                limits.burst,
            )
            .await?;
            let ip = ratelimit::RedisLimiter::connect(
                url,
                &format!("{}ip:", limits.redis_prefix),
                limits.unauthenticated_per_minute,
                ip_burst,
            )
            .await?;
            (Arc::new(key), Arc::new(ip))
        }
        _ => (
            Arc::new(ratelimit::LocalLimiter::new(
                limits.requests_per_minute,
                limits.burst,
                100_000,
            )),
            Arc::new(ratelimit::LocalLimiter::new(
                limits.unauthenticated_per_minute,
                ip_burst,
                100_000,
            )),
        ),
    })
}

/// Makes everything this process creates private (directories 0700, files
/// 0600: users' documents, the database and its WAL, keys), whatever the
/// umask it inherited, and the data dir itself 0700 even if an earlier
/// version made it readable.
fn private_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: umask only swaps the process's file-creation mask.
    unsafe { libc::umask(0o077) };
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(|e| anyhow::anyhow!("cannot create data_dir {}: {e}", dir.display()))
}

/// Data dir, store and server key: what both `serve` and `admin` need.
pub async fn open_state(config: Config) -> anyhow::Result<AppState> {
    private_data_dir(&config.data_dir)?;
    let store = store::open(&config.database_url()).await?;
    let secret = crypto::SecretKey::load_or_create(config.secret_key.as_deref(), &config.data_dir)?;
    let blobs = blobs::BlobStore::open(&config)?;
    let (limiter, ip_limiter) = rate_limiters(&config.rate_limit).await?;
    let answers = service::answers::Answers::new(config.http.kept_answers_bytes);
    Ok(AppState::new(service::AppParts {
        limiter,
        ip_limiter,
        store,
        config: Arc::new(config),
        secret: Arc::new(secret),
        blobs,
        wake_jobs: Arc::new(tokio::sync::Notify::new()),
        pages: Default::default(),
        answers,
    }))
}
