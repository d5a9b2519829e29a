//! Server configuration: a TOML file, overridden by `INLET_*` environment
//! variables, then by command-line flags. Unknown keys and bad values stop
//! start-up with a message that names them.

use crate::domain::sender_auth::{Cidr, SenderAuthMode};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Top-level keys that `INLET_<KEY>` environment variables may override.
const ENV_KEYS: &[&str] = &[
    "data_dir",
    "http_addr",
    "smtp_addr",
    "inbox_domain",
    "database_url",
    "secret_key",
    "default_portal",
    "log_format",
    "public_url",
    "shutdown_timeout",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    pub http_addr: String,
    pub smtp_addr: String,
    /// Domain of every email connector's inbox address.
    pub inbox_domain: String,
    /// `sqlite://...`; empty means `<data_dir>/inlet.db`.
    pub database_url: Option<String>,
    /// 64 hex characters (256 bits). Empty means a key file in `data_dir`.
    pub secret_key: Option<String>,
    pub default_portal: Option<String>,
    pub log_format: LogFormat,
    /// Base URL of signed upload and download links, e.g.
    /// `https://inlet.example.com`. Empty: the request's `Host`.
    pub public_url: Option<String>,
    pub http: HttpConfig,
    pub documents: DocumentsConfig,
    pub jobs: JobsConfig,
    pub blobs: BlobsConfig,
    pub smtp: SmtpConfig,
    pub rate_limit: RateLimitConfig,
    pub events: EventsConfig,
    pub console: ConsoleConfig,
    pub processing: ProcessingConfig,
    /// After SIGTERM, how long in-flight work may take before the process exits anyway.
    pub shutdown_timeout: String,
    pub portals: Vec<PortalConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./inlet-data"),
            http_addr: "127.0.0.1:8080".into(),
            smtp_addr: "127.0.0.1:2525".into(),
            inbox_domain: "localhost".into(),
            database_url: None,
            secret_key: None,
            default_portal: None,
            log_format: LogFormat::Text,
            public_url: None,
            http: HttpConfig::default(),
            documents: DocumentsConfig::default(),
            jobs: JobsConfig::default(),
            blobs: BlobsConfig::default(),
            smtp: SmtpConfig::default(),
            rate_limit: RateLimitConfig::default(),
            events: EventsConfig::default(),
            console: ConsoleConfig::default(),
            processing: ProcessingConfig::default(),
            shutdown_timeout: "30s".into(),
            portals: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest JSON request body accepted, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Longest an API request may take (408 beyond); signed-URL transfers
    /// are not bounded by it.
    pub request_timeout: String,
    /// Largest request line plus headers, in bytes (431 beyond).
    pub max_header_bytes: usize,
    /// How long a request's line and headers may take to arrive, from its
    /// first byte (a new connection: from the connect).
    pub header_timeout: String,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: String,
    /// Memory for answers to repeated reads, reused while the database is
    /// unchanged (SQLite only); 0 keeps none.
    pub kept_answers_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            request_timeout: "30s".into(),
            max_header_bytes: 32 * 1024,
            header_timeout: "10s".into(),
            idle_timeout: "60s".into(),
            kept_answers_bytes: 8 * 1024 * 1024,
        }
    }
}

impl HttpConfig {
    pub fn request_timeout(&self) -> Duration {
        secs(&self.request_timeout)
    }

    pub fn header_timeout(&self) -> Duration {
        secs(&self.header_timeout)
    }

    pub fn idle_timeout(&self) -> Duration {
        secs(&self.idle_timeout)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests per minute and API key.
    pub requests_per_minute: u32,
    /// Requests a key may make at once before the per-minute rate applies.
    pub burst: u32,
    /// Requests per minute and client IP without a valid key (key guessing).
    pub unauthenticated_per_minute: u32,
    /// `memory` (per process) or `redis` (shared by every replica).
    pub backend: RateLimitBackend,
    /// For `backend = "redis"`, e.g. `redis://127.0.0.1:6379`.
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys, so several deployments can share one Redis.
    pub redis_prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RateLimitBackend {
    Memory,
    Redis,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            burst: 60,
            unauthenticated_per_minute: 60,
            backend: RateLimitBackend::Memory,
            redis_url: None,
            redis_prefix: "inlet:ratelimit:".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocumentsConfig {
    /// Largest upload through a signed URL, in bytes (413 beyond).
    pub max_upload_bytes: u64,
    /// How long an upload URL is valid.
    pub upload_url_ttl: String,
    /// How long a download URL is valid.
    pub download_url_ttl: String,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 100 * 1024 * 1024,
            upload_url_ttl: "15m".into(),
            download_url_ttl: "24h".into(),
        }
    }
}

impl DocumentsConfig {
    pub fn upload_url_ttl(&self) -> Duration {
        secs(&self.upload_url_ttl)
    }
    pub fn download_url_ttl(&self) -> Duration {
        secs(&self.download_url_ttl)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Background workers in this process; 0 leaves jobs to other replicas
    /// or to `inlet admin run-jobs`.
    pub workers: usize,
    /// How often an idle worker looks for due jobs.
    pub poll_interval: String,
    /// How long a claimed job stays leased without renewal before another
    /// worker may take it (running jobs renew every third of it).
    pub lease: String,
    /// Attempts before a failing job is marked dead.
    pub max_attempts: i64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            poll_interval: "1s".into(),
            lease: "30s".into(),
            max_attempts: 8,
        }
    }
}

impl JobsConfig {
    pub fn poll_interval(&self) -> Duration {
        secs(&self.poll_interval)
    }
    pub fn lease_duration(&self) -> Duration {
        secs(&self.lease)
    }
}

/// Text extraction after a document's bytes are stored (contract §10).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingConfig {
    /// Longest one extraction may take; past it the extractor is killed
    /// and the document completes with `extraction.status: "timeout"`.
    pub timeout: String,
    /// Text kept per document; more is cut (`truncated`).
    pub max_text_bytes: u64,
    /// Bytes an archive (DOCX, XLSX, PPTX) may inflate to, in all.
    pub max_unpacked_bytes: u64,
    /// Address space of the extractor process, in MiB.
    pub max_memory_mb: u64,
    /// `process` (default): a child process with memory and CPU limits;
    /// `thread`: a blocking thread, without those bounds.
    pub isolation: crate::extract::isolate::Isolation,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            timeout: "60s".into(),
            max_text_bytes: 10 * 1024 * 1024,
            max_unpacked_bytes: 256 * 1024 * 1024,
            max_memory_mb: 1024,
            isolation: crate::extract::isolate::Isolation::Process,
        }
    }
}

impl ProcessingConfig {
    pub fn timeout(&self) -> Duration {
        secs(&self.timeout)
    }

    /// The bounds every extraction runs within.
    pub fn bounds(&self) -> crate::extract::isolate::Bounds {
        crate::extract::isolate::Bounds {
            limits: crate::extract::Limits {
                max_text_bytes: self.max_text_bytes as usize,
                max_unpacked_bytes: self.max_unpacked_bytes,
                ..crate::extract::Limits::default()
            },
            timeout: self.timeout(),
            max_memory_bytes: self.max_memory_mb.saturating_mul(1024 * 1024),
            isolation: self.isolation,
        }
    }
}

/// The connectors' activity log (`GET /connectors/{id}/events`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Events older than this are removed by the periodic sweep.
    pub retention: String,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            retention: "30d".into(),
        }
    }
}

impl EventsConfig {
    pub fn retention(&self) -> Duration {
        secs(&self.retention)
    }
}

/// The web console at `/console` (contract §14).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// A session unused this long is over (sign in again).
    pub session_idle: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_idle: "12h".into(),
        }
    }
}

impl ConsoleConfig {
    pub fn session_idle(&self) -> Duration {
        secs(&self.session_idle)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsConfig {
    /// `local` (`<data_dir>/blobs`) or `s3` (any S3-compatible store).
    pub backend: BlobBackend,
    /// Unreferenced blobs younger than this are left alone (uploads in flight).
    pub orphan_grace: String,
    /// How often each worker process sweeps orphan blobs.
    pub sweep_interval: String,
    /// S3: the bucket (required).
    pub bucket: Option<String>,
    /// S3: an S3-compatible server's URL; empty: AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// S3 credentials; empty: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// S3: every key starts with this (several deployments in one bucket).
    pub prefix: Option<String>,
    /// S3: allow `http://` endpoints (test servers, a store on the same host).
    pub allow_http: bool,
    /// S3: `https://endpoint/bucket/key` rather than `https://bucket.endpoint/key`;
    /// unset: `true` when `endpoint` is set.
    pub path_style: Option<bool>,
    /// S3: `GET /documents/{id}/original` answers a presigned URL of the
    /// store itself instead of one of Inlet's download URLs.
    pub direct_downloads: bool,
    /// S3: how long one request may take before the store counts as down.
    pub request_timeout: String,
    /// S3: sign each request body's SHA-256 (SigV4 signed payload) rather
    /// than `UNSIGNED-PAYLOAD`; unset: only for `http://` endpoints, since
    /// TLS already protects the body (and hashing it costs a pass over
    /// every byte, on the server too).
    pub sign_payload: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobBackend {
    Local,
    S3,
}

/// A credential: deserialised like a string, never printed.
#[derive(Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Default for BlobsConfig {
    fn default() -> Self {
        Self {
            backend: BlobBackend::Local,
            orphan_grace: "1h".into(),
            sweep_interval: "1h".into(),
            bucket: None,
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            prefix: None,
            allow_http: false,
            path_style: None,
            direct_downloads: false,
            request_timeout: "30s".into(),
            sign_payload: None,
        }
    }
}

impl BlobsConfig {
    pub fn orphan_grace(&self) -> Duration {
        secs(&self.orphan_grace)
    }
    pub fn sweep_interval(&self) -> Duration {
        secs(&self.sweep_interval)
    }
    pub fn request_timeout(&self) -> Duration {
        secs(&self.request_timeout)
    }
    pub fn path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }
    pub fn sign_payload(&self) -> bool {
        self.sign_payload.unwrap_or_else(|| {
            self.endpoint
                .as_deref()
                .is_some_and(|e| e.to_ascii_lowercase().starts_with("http://"))
        })
    }

    /// The S3 settings' own rules; each message names its key and never a
    /// credential's value.
    fn validate(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        if self.backend == BlobBackend::Local {
            for (key, set) in [
                ("bucket", self.bucket.is_some()),
                ("endpoint", self.endpoint.is_some()),
                ("access_key_id", self.access_key_id.is_some()),
                ("secret_access_key", self.secret_access_key.is_some()),
                ("prefix", self.prefix.is_some()),
                ("path_style", self.path_style.is_some()),
                ("sign_payload", self.sign_payload.is_some()),
                ("direct_downloads", self.direct_downloads),
            ] {
                if set {
                    bail!("invalid configuration: blobs.{key} needs blobs.backend = \"s3\"");
                }
            }
            return Ok(());
        }
        match self.bucket.as_deref() {
            None => bail!("invalid configuration: blobs.bucket is required with blobs.backend = \"s3\""),
            Some(b) if !valid_bucket(b) => bail!(
                "invalid configuration: blobs.bucket {b:?} is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-')"
            ),
            Some(_) => {}
        }
        if let Some(url) = &self.endpoint {
            let Some(rest) = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
            else {
                bail!("invalid configuration: blobs.endpoint must start with http:// or https://");
            };
            if rest.is_empty() || rest.contains(['?', '#', ' ', '@']) {
                bail!("invalid configuration: blobs.endpoint {url:?} is not a server URL");
            }
            if url.starts_with("http://") && !self.allow_http {
                bail!("invalid configuration: blobs.endpoint is http:// but blobs.allow_http is false");
            }
        }
        if self.region.trim().is_empty() || self.region.contains(char::is_whitespace) {
            bail!("invalid configuration: blobs.region must be a region name such as us-east-1");
        }
        if let Some(prefix) = &self.prefix {
            if prefix.is_empty()
                || prefix.starts_with('/')
                || prefix.ends_with('/')
                || prefix
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
            {
                bail!("invalid configuration: blobs.prefix {prefix:?} must be segments such as inlet/prod, without leading or trailing '/'");
            }
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let key_id = self.access_key_id.is_some() || env("AWS_ACCESS_KEY_ID").is_some();
        let secret = self.secret_access_key.is_some() || env("AWS_SECRET_ACCESS_KEY").is_some();
        if key_id != secret {
            let missing = if key_id {
                "blobs.secret_access_key (or AWS_SECRET_ACCESS_KEY)"
            } else {
                "blobs.access_key_id (or AWS_ACCESS_KEY_ID)"
            };
            bail!("invalid configuration: {missing} is missing; the S3 credentials go together");
        }
        if self.direct_downloads && !key_id {
            bail!("invalid configuration: blobs.direct_downloads needs S3 credentials to sign URLs (blobs.access_key_id and blobs.secret_access_key)");
        }
        Ok(())
    }
}

/// S3's bucket naming rules (the common subset every server accepts).
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes (advertised with SIZE; 552 beyond).
    pub max_message_bytes: u64,
    /// Recipients per message (452 beyond).
    pub max_recipients: usize,
    /// Longest command line, in bytes (500 beyond).
    pub max_line_length: usize,
    /// Sessions at once (421 beyond).
    pub max_sessions: usize,
    /// Sessions at once from one client address (421 beyond), so one
    /// client cannot hold every session.
    pub max_sessions_per_ip: usize,
    /// How long the server waits for a command or a chunk of DATA.
    pub command_timeout: String,
    /// How long a session may wait for its next command once more than
    /// half of `max_sessions` are in use.
    pub busy_idle_timeout: String,
    /// PEM certificate chain and key; both set: STARTTLS is offered.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// SPF, DKIM, DMARC and ARC on incoming mail (contract §12).
    pub sender_auth: SenderAuthMode,
    /// DNS servers for those checks (`ip:port`); empty: the system resolver.
    pub dns_servers: Vec<SocketAddr>,
    /// How long one DNS query may take before it counts as a temporary failure.
    pub dns_timeout: String,
    /// Relays in front of Inlet (CIDRs): SPF is checked for the address in
    /// their own top `Received` header instead of theirs.
    pub trusted_relays: Vec<String>,
    /// ARC sealers (domains) whose results may vouch for a forwarded message.
    pub trusted_arc_sealers: Vec<String>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            hostname: "inlet".into(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_line_length: 4096,
            max_sessions: 100,
            max_sessions_per_ip: 20,
            command_timeout: "5m".into(),
            busy_idle_timeout: "30s".into(),
            tls_cert: None,
            tls_key: None,
            sender_auth: SenderAuthMode::Enforce,
            dns_servers: Vec::new(),
            dns_timeout: "5s".into(),
            trusted_relays: Vec::new(),
            trusted_arc_sealers: Vec::new(),
        }
    }
}

impl SmtpConfig {
    pub fn command_timeout(&self) -> Duration {
        secs(&self.command_timeout)
    }

    pub fn busy_idle_timeout(&self) -> Duration {
        secs(&self.busy_idle_timeout)
    }

    pub fn dns_timeout(&self) -> Duration {
        secs(&self.dns_timeout)
    }

    /// `trusted_relays`, already checked by `validate`.
    pub fn trusted_relays(&self) -> Vec<Cidr> {
        self.trusted_relays
            .iter()
            .filter_map(|c| Cidr::parse(c))
            .collect()
    }
}

/// A duration already checked by `validate`.
fn secs(s: &str) -> Duration {
    Duration::from_secs(parse_duration_secs(s).unwrap_or(1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortalKind {
    Sftp,
}

/// A research portal that `investment_research` connectors log in to.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    pub name: String,
    pub kind: PortalKind,
    /// Display name used in `broker:` tags and `file_metadata.broker`.
    pub broker: String,
    pub host: String,
    #[serde(default = "default_sftp_port")]
    pub port: u16,
    #[serde(default = "default_root")]
    pub root: String,
    /// `SHA256:...` as `ssh-keygen -l` prints it, or `insecure-accept-any`.
    pub host_key: Option<String>,
    /// Seconds, or a number with `s`, `m`, `h` or `d`.
    #[serde(default = "default_sync_interval")]
    pub sync_interval: String,
    /// Time allowed to connect and log in.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
    /// Time allowed for each read from the portal.
    #[serde(default = "default_transfer_timeout")]
    pub transfer_timeout: String,
    /// A sync still running after this long ends `error`.
    #[serde(default = "default_max_sync_duration")]
    pub max_sync_duration: String,
}

impl PortalConfig {
    pub fn sync_interval(&self) -> Duration {
        secs(&self.sync_interval)
    }
    pub fn connect_timeout(&self) -> Duration {
        secs(&self.connect_timeout)
    }
    pub fn transfer_timeout(&self) -> Duration {
        secs(&self.transfer_timeout)
    }
    pub fn max_sync_duration(&self) -> Duration {
        secs(&self.max_sync_duration)
    }
}

fn default_sftp_port() -> u16 {
    22
}
fn default_root() -> String {
    "/".into()
}
fn default_sync_interval() -> String {
    "1h".into()
}
fn default_connect_timeout() -> String {
    "30s".into()
}
fn default_max_sync_duration() -> String {
    "6h".into()
}
fn default_transfer_timeout() -> String {
    "60s".into()
}

/// Values given on the command line; they win over the file and environment.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_addr: Option<String>,
}

impl Config {
    pub fn shutdown_timeout(&self) -> Duration {
        secs(&self.shutdown_timeout)
    }

    /// Defaults, then the file (when given), then `INLET_*`, then flags.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                anyhow::bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        let config: Config = figment
            .merge(Env::prefixed("INLET_").only(ENV_KEYS))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        for (key, addr) in [
            ("http_addr", &self.http_addr),
            ("smtp_addr", &self.smtp_addr),
        ] {
            if addr.parse::<std::net::SocketAddr>().is_err() {
                bail!("invalid configuration: {key} = {addr:?} is not an address such as 127.0.0.1:8080");
            }
        }
        if crate::domain::email_address::parse(&format!("x@{}", self.inbox_domain)).is_err()
            && self.inbox_domain != "localhost"
        {
            bail!(
                "invalid configuration: inbox_domain = {:?} is not a domain name",
                self.inbox_domain
            );
        }
        if let Some(url) = &self.database_url {
            if !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|s| url.starts_with(s))
            {
                bail!("invalid configuration: database_url must start with sqlite:, postgres:// or postgresql://");
            }
        }
        if let Some(key) = &self.secret_key {
            crate::crypto::SecretKey::from_hex(key)
                .map_err(|e| anyhow::anyhow!("invalid configuration: secret_key {e}"))?;
        }
        for (key, value) in [
            ("documents.upload_url_ttl", &self.documents.upload_url_ttl),
            (
                "documents.download_url_ttl",
                &self.documents.download_url_ttl,
            ),
            ("jobs.poll_interval", &self.jobs.poll_interval),
            ("jobs.lease", &self.jobs.lease),
            ("blobs.orphan_grace", &self.blobs.orphan_grace),
            ("blobs.sweep_interval", &self.blobs.sweep_interval),
            ("blobs.request_timeout", &self.blobs.request_timeout),
            ("smtp.command_timeout", &self.smtp.command_timeout),
            ("smtp.busy_idle_timeout", &self.smtp.busy_idle_timeout),
            ("smtp.dns_timeout", &self.smtp.dns_timeout),
            ("http.request_timeout", &self.http.request_timeout),
            ("http.header_timeout", &self.http.header_timeout),
            ("http.idle_timeout", &self.http.idle_timeout),
            ("shutdown_timeout", &self.shutdown_timeout),
            ("events.retention", &self.events.retention),
            ("console.session_idle", &self.console.session_idle),
            ("processing.timeout", &self.processing.timeout),
        ] {
            parse_duration_secs(value)
                .map_err(|e| anyhow::anyhow!("invalid configuration: {key} {e}"))?;
        }
        self.blobs.validate()?;
        // SigV4 presigned URLs are valid for at most 7 days.
        if self.blobs.direct_downloads
            && self.documents.download_url_ttl() > Duration::from_secs(7 * 86400)
        {
            bail!("invalid configuration: documents.download_url_ttl is over 7d, the longest a presigned S3 URL (blobs.direct_downloads) may be valid");
        }
        if parse_duration_secs(&self.jobs.lease).unwrap_or(0) < 2 {
            bail!("invalid configuration: jobs.lease must be at least 2s");
        }
        let limits = &self.rate_limit;
        if limits.requests_per_minute == 0
            || limits.burst == 0
            || limits.unauthenticated_per_minute == 0
        {
            bail!("invalid configuration: rate_limit values must be greater than 0");
        }
        if limits.backend == RateLimitBackend::Redis && limits.redis_url.is_none() {
            bail!(
                "invalid configuration: rate_limit.backend = \"redis\" needs rate_limit.redis_url"
            );
        }
        let smtp = &self.smtp;
        if smtp.max_message_bytes == 0
            || smtp.max_recipients == 0
            || smtp.max_sessions == 0
            || smtp.max_sessions_per_ip == 0
        {
            bail!("invalid configuration: smtp.max_message_bytes, max_recipients, max_sessions and max_sessions_per_ip must be greater than 0");
        }
        if smtp.max_line_length < 512 {
            bail!("invalid configuration: smtp.max_line_length must be at least 512 (RFC 5321)");
        }
        if let Some(bad) = smtp
            .trusted_relays
            .iter()
            .find(|c| Cidr::parse(c).is_none())
        {
            bail!("invalid configuration: smtp.trusted_relays: {bad:?} is not an address or CIDR");
        }
        if let Some(bad) = smtp
            .trusted_arc_sealers
            .iter()
            .find(|d| d.is_empty() || d.contains(|c: char| c.is_whitespace() || c == '@'))
        {
            bail!("invalid configuration: smtp.trusted_arc_sealers: {bad:?} is not a domain");
        }
        if smtp.tls_cert.is_some() != smtp.tls_key.is_some() {
            bail!("invalid configuration: smtp.tls_cert and smtp.tls_key go together");
        }
        if self.jobs.max_attempts < 1 {
            bail!("invalid configuration: jobs.max_attempts must be at least 1");
        }
        if self.documents.max_upload_bytes == 0 {
            bail!("invalid configuration: documents.max_upload_bytes must be greater than 0");
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("invalid configuration: public_url must start with http:// or https://");
            }
        }
        let p = &self.processing;
        if p.max_text_bytes == 0 || p.max_unpacked_bytes == 0 || p.max_memory_mb < 64 {
            bail!("invalid configuration: processing.max_text_bytes and max_unpacked_bytes must be greater than 0, processing.max_memory_mb at least 64");
        }
        if parse_duration_secs(&p.timeout).unwrap_or(0) == 0 {
            bail!("invalid configuration: processing.timeout must be at least 1s");
        }
        if self.http.max_body_bytes == 0 {
            bail!("invalid configuration: http.max_body_bytes must be greater than 0");
        }
        let mut names = HashSet::new();
        for (i, p) in self.portals.iter().enumerate() {
            let at = format!("portals[{i}]");
            if p.name.trim().is_empty() {
                bail!("invalid configuration: {at}.name must not be empty");
            }
            if !names.insert(p.name.as_str()) {
                bail!(
                    "invalid configuration: {at}.name {:?} is used twice",
                    p.name
                );
            }
            if p.broker.trim().is_empty() {
                bail!("invalid configuration: {at}.broker must not be empty");
            }
            if p.host.trim().is_empty() {
                bail!("invalid configuration: {at}.host must not be empty");
            }
            if let Some(key) = &p.host_key {
                if key != "insecure-accept-any" && !key.starts_with("SHA256:") {
                    bail!("invalid configuration: {at}.host_key must be a SHA256:... fingerprint or \"insecure-accept-any\"");
                }
            }
            for (key, value) in [
                ("sync_interval", &p.sync_interval),
                ("connect_timeout", &p.connect_timeout),
                ("transfer_timeout", &p.transfer_timeout),
                ("max_sync_duration", &p.max_sync_duration),
            ] {
                parse_duration_secs(value)
                    .map_err(|e| anyhow::anyhow!("invalid configuration: {at}.{key} {e}"))?;
            }
        }
        if let Some(name) = &self.default_portal {
            if !names.contains(name.as_str()) {
                bail!("invalid configuration: default_portal {name:?} names no [[portals]] entry");
            }
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("inlet.db").display()))
    }

    /// The portal a research connector uses: the one named, else the default.
    pub fn portal(&self, name: Option<&str>) -> Option<&PortalConfig> {
        let wanted = name.or(self.default_portal.as_deref());
        match wanted {
            Some(n) => self.portals.iter().find(|p| p.name == n),
            None => self.portals.first(),
        }
    }
}

/// `3600`, `90s`, `30m`, `1h`, `2d` → seconds (at least one).
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 30m or 1h"))?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?} is not a duration such as 30m or 1h")),
    };
    match n.checked_mul(factor) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("{s:?} must be a positive duration")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("3600"), Ok(3600));
        assert_eq!(parse_duration_secs("30m"), Ok(1800));
        assert_eq!(parse_duration_secs("1h"), Ok(3600));
        assert_eq!(parse_duration_secs("2d"), Ok(172_800));
        assert!(parse_duration_secs("0").is_err());
        assert!(parse_duration_secs("1w").is_err());
        assert!(parse_duration_secs("h").is_err());
    }

    #[test]
    fn portal_selection_prefers_named_then_default_then_first() {
        let portal = |name: &str| PortalConfig {
            name: name.into(),
            kind: PortalKind::Sftp,
            broker: "B".into(),
            host: "h".into(),
            port: 22,
            root: "/".into(),
            host_key: None,
            sync_interval: "1h".into(),
            connect_timeout: "30s".into(),
            transfer_timeout: "60s".into(),
            max_sync_duration: "6h".into(),
        };
        let mut c = Config {
            portals: vec![portal("a"), portal("b")],
            ..Config::default()
        };
        assert_eq!(c.portal(None).unwrap().name, "a");
        assert_eq!(c.portal(Some("b")).unwrap().name, "b");
        assert!(c.portal(Some("zz")).is_none());
        c.default_portal = Some("b".into());
        assert_eq!(c.portal(None).unwrap().name, "b");
    }

    #[test]
    fn payloads_are_signed_by_default_only_over_plain_http() {
        let blobs = |endpoint: Option<&str>, sign: Option<bool>| BlobsConfig {
            backend: BlobBackend::S3,
            endpoint: endpoint.map(Into::into),
            sign_payload: sign,
            ..BlobsConfig::default()
        };
        assert!(blobs(Some("http://127.0.0.1:9000"), None).sign_payload());
        assert!(blobs(Some("HTTP://minio.internal"), None).sign_payload());
        assert!(!blobs(Some("https://s3.example"), None).sign_payload());
        assert!(!blobs(None, None).sign_payload(), "AWS, over https");
        assert!(!blobs(Some("http://127.0.0.1:9000"), Some(false)).sign_payload());
        assert!(blobs(Some("https://s3.example"), Some(true)).sign_payload());
        let local = BlobsConfig {
            sign_payload: Some(true),
            ..BlobsConfig::default()
        };
        let error = local.validate().unwrap_err().to_string();
        assert!(error.contains("blobs.sign_payload"), "{error}");
    }
}
