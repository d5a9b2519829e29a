//! The S3 backend: object_store's client configured from `[blobs]`, and the
//! presigned download URLs of `direct_downloads`.

use crate::config::BlobsConfig;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::sync::Arc;
use std::time::Duration;

/// TLS for the S3 client (reqwest on rustls without a provider of its own):
/// ring, the provider the rest of the process uses. Installing twice is fine.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The client for `config` (already validated). Nothing is sent yet: a
/// store that is down is reported by readiness, not by start-up.
pub fn client(config: &BlobsConfig) -> anyhow::Result<Arc<AmazonS3>> {
    install_tls_provider();
    let bucket = config
        .bucket
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("invalid configuration: blobs.bucket is required"))?;
    // A store that is down must answer quickly (503, 451) rather than hold
    // an upload or an SMTP transaction for minutes of retries.
    let retry = RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: Duration::from_secs(10),
    };
    let options = ClientOptions::new()
        .with_allow_http(config.allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(config.request_timeout());
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(&config.region)
        .with_allow_http(config.allow_http)
        .with_virtual_hosted_style_request(!config.path_style())
        .with_unsigned_payload(!config.sign_payload())
        .with_retry(retry)
        .with_client_options(options);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(id) = &config.access_key_id {
        builder = builder.with_access_key_id(id);
    }
    if let Some(secret) = &config.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose());
    }
    // The builder's messages name settings, never their values; still,
    // only the kind of problem is passed on.
    let s3 = builder
        .build()
        .map_err(|e| anyhow::anyhow!("invalid configuration: blobs (S3): {}", redacted(&e)))?;
    Ok(Arc::new(s3))
}

/// An object_store configuration error without any value it might quote.
fn redacted(e: &object_store::Error) -> String {
    let text = e.to_string();
    match text.split_once(':') {
        Some((kind, _)) if text.contains("ecret") => kind.to_string(),
        _ => text,
    }
}

/// A presigned `GET` of `path` valid for `ttl`, whose response carries
/// `content_type` and `content_disposition` (S3's `response-*` overrides,
/// part of what is signed).
pub async fn presigned_get(
    s3: &AmazonS3,
    path: &ObjectPath,
    ttl: Duration,
    content_type: &str,
    content_disposition: &str,
) -> Result<String, object_store::Error> {
    let options = SignedUrlOptions::new().with_query([
        ("response-content-type", content_type),
        ("response-content-disposition", content_disposition),
    ]);
    let url = s3
        .signed_url_opts(object_store::signer::Method::GET, path, ttl, &options)
        .await?;
    Ok(url.to_string())
}

/// The largest body sent as one streamed `PUT`. Above it an upload goes in
/// parts: each part's bytes are held while it is sent, so a part that fails
/// is retried alone instead of failing the whole upload.
pub const SINGLE_PUT_MAX: u64 = 64 * 1024 * 1024;

/// Streams a body of known length into one `PUT` of a presigned URL: what
/// object_store does not offer (its single put takes the bytes in memory;
/// its multipart upload leaves the store to join the parts, which reads and
/// writes every byte again).
#[derive(Clone)]
pub struct StreamingPut {
    client: Arc<AmazonS3>,
    http: reqwest::Client,
}

/// How long the presigned URL of one streamed `PUT` is valid; S3 checks it
/// when the request starts, not when the body ends.
const PUT_URL_TTL: Duration = Duration::from_secs(15 * 60);

/// Chunks waiting between the incoming body and the outgoing request.
const PUT_CHANNEL: usize = 4;

impl StreamingPut {
    pub fn new(client: Arc<AmazonS3>, config: &BlobsConfig) -> anyhow::Result<Self> {
        // A read timeout, not a total one: a large body may take minutes to
        // send, but the store must not fall silent for longer than this.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(config.request_timeout())
            .https_only(!config.allow_http)
            .build()?;
        Ok(Self { client, http })
    }

    /// Sends exactly `length` bytes of `body` to `path`, with `headers`
    /// (the object's `Content-Type` and `Content-Disposition`). Stored once
    /// S3 answers `2xx`; a body that fails, ends short or runs long is cut
    /// mid-request, and S3 never stores a cut `PUT`.
    pub async fn put<S>(
        &self,
        path: &ObjectPath,
        length: u64,
        headers: reqwest::header::HeaderMap,
        mut body: S,
    ) -> Result<(), super::BlobError>
    where
        S: futures_util::Stream<Item = Result<bytes::Bytes, super::BlobError>> + Unpin,
    {
        use super::BlobError;
        use futures_util::StreamExt;
        let url = self
            .client
            .signed_url(object_store::signer::Method::PUT, path, PUT_URL_TTL)
            .await?;
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(PUT_CHANNEL);
        let outgoing = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let request = self
            .http
            .put(url)
            .headers(headers)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(reqwest::Body::wrap_stream(outgoing))
            .send();
        let pump = async move {
            let mut sent = 0u64;
            let failure = loop {
                match body.next().await {
                    Some(Ok(chunk)) => {
                        sent += chunk.len() as u64;
                        if sent > length {
                            break BlobError::Source("the body is longer than declared".into());
                        }
                        if tx.send(Ok(chunk)).await.is_err() {
                            // The request ended first; its outcome says why.
                            return Ok(());
                        }
                    }
                    Some(Err(e)) => break e,
                    None if sent < length => {
                        break BlobError::Source("the body ended before its declared length".into())
                    }
                    None => return Ok(()),
                }
            };
            // Cut the request mid-body, so that nothing is stored.
            let _ = tx.send(Err(std::io::Error::other("upload cut"))).await;
            Err(failure)
        };
        let (sent, pumped) = tokio::join!(request, pump);
        pumped?;
        let response = sent.map_err(|e| BlobError::Unavailable(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(BlobError::Unavailable(format!(
                "the object store answered {status}"
            )));
        }
        Ok(())
    }
}
