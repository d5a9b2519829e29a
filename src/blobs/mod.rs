//! Blob storage over `object_store`: a local directory by default (writes
//! fsync'd before they count as stored) or an S3-compatible store (a write
//! counts once the store confirmed the PUT or the completed multipart
//! upload). Blobs are addressed by keys Inlet makes; client file names never
//! become paths.

pub mod migrate;
pub mod s3;

use crate::config::{BlobBackend, Config};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("blob not found")]
    NotFound,
    #[error("reading the upload failed: {0}")]
    Source(String),
    #[error(transparent)]
    Store(#[from] object_store::Error),
    #[error(transparent)]
    Path(#[from] object_store::path::Error),
    #[error(transparent)]
    Io(std::io::Error),
    #[error("the object store failed: {0}")]
    Unavailable(String),
}

impl BlobError {
    /// The store itself failed (down, unreachable, refusing): worth a retry
    /// later, unlike a missing blob, an oversize body or a broken upload.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Io(_) | Self::Unavailable(_))
    }
}

/// A stored object's key and age, for the orphan sweep.
#[derive(Debug, Clone)]
pub struct BlobInfo {
    pub key: String,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// The same store when it is a local directory, for what is done on its
    /// files directly (deleting many at low priority).
    local: Option<Arc<LocalFileSystem>>,
    /// The directory of a local store, for cleaning up what the object
    /// store itself does not list (staged uploads a crash left behind).
    local_root: Option<std::path::PathBuf>,
    /// The S3 client itself (under any prefix), for presigned URLs.
    s3: Option<Arc<AmazonS3>>,
    /// Single streamed PUTs of bodies whose length is known (S3 only).
    streaming: Option<s3::StreamingPut>,
    /// `blobs.prefix`: what keys are under in the bucket.
    prefix: Option<ObjectPath>,
    /// Parts an upload may have in flight besides the one being filled.
    parts_in_flight: usize,
}

/// Bytes read from a local file per trip to the blocking pool. object_store
/// reads 8 KiB a trip, so a 100 KB message took thirteen thread handoffs
/// each time it was read.
const READ_CHUNK: u64 = 256 * 1024;

/// The first `size` bytes of `file`, a chunk per blocking read.
fn file_chunks(
    file: std::fs::File,
    size: u64,
) -> impl Stream<Item = Result<Bytes, BlobError>> + Send + 'static {
    futures_util::stream::try_unfold((file, size), |(file, left)| async move {
        if left == 0 {
            return Ok(None);
        }
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut chunk = Vec::with_capacity(left.min(READ_CHUNK) as usize);
            let read = (&file).take(left.min(READ_CHUNK)).read_to_end(&mut chunk);
            (file, read.map(|_| chunk))
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?;
        let chunk = chunk.map_err(BlobError::Io)?;
        if chunk.is_empty() {
            // Shorter than its listed size: cut while it was read.
            let gone = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "blob truncated");
            return Err(BlobError::Io(gone));
        }
        let read = chunk.len() as u64;
        Ok(Some((Bytes::from(chunk), (file, left - read))))
    })
}

/// Bytes buffered per part (S3's minimum part size): an upload holds at
/// most `parts_in_flight + 1` parts in memory, never the whole file.
const PART_SIZE: usize = 5 * 1024 * 1024;

/// The smallest declared length streamed in one `PUT` on S3. A body of at
/// most one part is read whole first, as when its length is unknown, and
/// its `PUT` is retried on failure: streaming it measured no faster.
const STREAM_FROM: u64 = PART_SIZE as u64 + 1;

/// Parts in flight on S3: enough to keep the connection busy while the next
/// part fills, bounded so that a 1 GiB upload stays within ~25 MiB.
const S3_PARTS_IN_FLIGHT: usize = 3;

impl BlobStore {
    /// The configured backend: `<data_dir>/blobs`, or the S3 bucket.
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        match config.blobs.backend {
            BlobBackend::Local => Self::local(&config.data_dir.join("blobs")),
            BlobBackend::S3 => Self::s3(&config.blobs),
        }
    }

    /// An S3-compatible store (`config` already validated).
    pub fn s3(config: &crate::config::BlobsConfig) -> anyhow::Result<Self> {
        let client = s3::client(config)?;
        let prefix = config.prefix.as_deref().map(ObjectPath::from);
        let inner: Arc<dyn ObjectStore> = match &prefix {
            Some(p) => Arc::new(PrefixStore::new(client.clone(), p.clone())),
            None => client.clone(),
        };
        Ok(Self {
            inner,
            local: None,
            local_root: None,
            // A signed payload's hash is in the headers, sent before the
            // body: only unsigned payloads stream.
            streaming: match config.sign_payload() {
                true => None,
                false => Some(s3::StreamingPut::new(client.clone(), config)?),
            },
            s3: Some(client),
            prefix,
            parts_in_flight: S3_PARTS_IN_FLIGHT,
        })
    }

    /// Whether blobs live in an S3 bucket (shared by replicas) rather than
    /// in this machine's data dir.
    pub fn is_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// A presigned GET of the object store itself (S3 only; `None` on a
    /// local directory), answering with `content_type` and a
    /// `Content-Disposition` of `content_disposition`.
    pub async fn presigned_get(
        &self,
        key: &str,
        ttl: Duration,
        content_type: &str,
        content_disposition: &str,
    ) -> Result<Option<String>, BlobError> {
        let Some(client) = &self.s3 else {
            return Ok(None);
        };
        let path = self.bucket_path(key);
        let url = s3::presigned_get(client, &path, ttl, content_type, content_disposition).await?;
        Ok(Some(url))
    }

    /// `key`'s path in the bucket, under `blobs.prefix`.
    fn bucket_path(&self, key: &str) -> ObjectPath {
        match &self.prefix {
            Some(p) => ObjectPath::from(format!("{p}/{key}")),
            None => ObjectPath::from(key),
        }
    }

    /// A durable store under `root` (created when missing).
    pub fn local(root: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .map_err(|e| anyhow::anyhow!("cannot create blob dir {}: {e}", root.display()))?;
        // No automatic cleanup: document keys share 256 fan-out directories,
        // and removing a file would try (and fail) to remove its directory,
        // serialising every deletion on the parent's lock. The sweep removes
        // directories that a crash left empty.
        let fs = Arc::new(LocalFileSystem::new_with_prefix(root)?.with_fsync(true));
        Ok(Self {
            inner: fs.clone(),
            local: Some(fs),
            local_root: Some(root.to_path_buf()),
            s3: None,
            streaming: None,
            prefix: None,
            parts_in_flight: 1,
        })
    }

    /// Streams `body` into `key`, at most `limit` bytes; returns the size.
    /// Nothing is left behind when the body fails or is too large.
    pub async fn put_stream<S, E>(&self, key: &str, body: S, limit: u64) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.put_named(key, body, limit, None).await
    }

    /// `put_stream` of a file named `file_name`: on S3 the object also
    /// carries the document's `Content-Type` (the same rule processing
    /// applies, from the same first bytes) and `Content-Disposition`, so a
    /// presigned download answers with them even from a store that ignores
    /// the signed `response-*` overrides.
    pub async fn put_named<S, E>(
        &self,
        key: &str,
        body: S,
        limit: u64,
        file_name: Option<&str>,
    ) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = ObjectPath::from(key);
        let mut body = body;
        let mut size: u64 = 0;
        // A body shorter than one part (most messages) is written by a single
        // put: one trip to the blocking pool instead of three, and no more
        // memory than the part buffer would hold anyway.
        let mut head = Vec::new();
        while size < PART_SIZE as u64 {
            match next_chunk(&mut body, &mut size, limit).await? {
                None => {
                    let opts = object_store::PutOptions {
                        attributes: self.attributes(&head, file_name),
                        ..Default::default()
                    };
                    self.inner
                        .put_opts(&path, head.into_iter().collect::<PutPayload>(), opts)
                        .await?;
                    return Ok(size);
                }
                Some(chunk) => head.push(chunk),
            }
        }
        let opts = object_store::PutMultipartOptions {
            attributes: self.attributes(&head, file_name),
            ..Default::default()
        };
        let mut upload = WriteMultipart::new_with_chunk_size(
            self.inner.put_multipart_opts(&path, opts).await?,
            PART_SIZE,
        );
        for chunk in head {
            upload.put(chunk);
        }
        let failure = loop {
            match next_chunk(&mut body, &mut size, limit).await {
                Ok(None) => break None,
                Err(e) => break Some(e),
                Ok(Some(chunk)) => {
                    if let Err(e) = upload.wait_for_capacity(self.parts_in_flight).await {
                        break Some(e.into());
                    }
                    upload.put(chunk);
                }
            }
        };
        match failure {
            None => {
                upload.finish().await?;
                Ok(size)
            }
            Some(e) => {
                let _ = upload.abort().await;
                Err(e)
            }
        }
    }

    /// `put_named` of a body that declared its `length` (an upload's
    /// `Content-Length`). On S3, a body of `STREAM_FROM` to
    /// `s3::SINGLE_PUT_MAX` bytes goes on to the store as it arrives, in one
    /// `PUT`: no part files for the store to join, and no wait for the whole
    /// body before sending.
    pub async fn put_sized<S, E>(
        &self,
        key: &str,
        body: S,
        length: u64,
        file_name: &str,
    ) -> Result<u64, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let streaming = self
            .streaming
            .as_ref()
            .filter(|_| (STREAM_FROM..=s3::SINGLE_PUT_MAX).contains(&length));
        let Some(streaming) = streaming else {
            return self.put_named(key, body, length, Some(file_name)).await;
        };
        let mut body = body;
        let mut size = 0;
        // The first bytes name the content type, a header sent before them.
        let mut head = Vec::new();
        while size < crate::domain::content_type::SNIFF_LEN as u64 {
            match next_chunk(&mut body, &mut size, length).await? {
                Some(chunk) => head.push(chunk),
                None => break,
            }
        }
        let (content_type, disposition) = object_headers(&head, file_name);
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in [
            (reqwest::header::CONTENT_TYPE, content_type),
            (reqwest::header::CONTENT_DISPOSITION, disposition),
        ] {
            let value = reqwest::header::HeaderValue::try_from(value)
                .map_err(|e| BlobError::Unavailable(e.to_string()))?;
            headers.insert(name, value);
        }
        let rest = body.map_err(|e| BlobError::Source(e.to_string()));
        let all = futures_util::stream::iter(head.into_iter().map(Ok)).chain(rest);
        streaming
            .put(&self.bucket_path(key), length, headers, all)
            .await?;
        Ok(length)
    }

    /// The object attributes of a named file on S3 (a local directory keeps
    /// none; the download handler sets the headers itself).
    fn attributes(&self, head: &[Bytes], file_name: Option<&str>) -> object_store::Attributes {
        let mut attributes = object_store::Attributes::new();
        if let (true, Some(name)) = (self.is_s3(), file_name) {
            let (content_type, disposition) = object_headers(head, name);
            attributes.insert(object_store::Attribute::ContentType, content_type.into());
            attributes.insert(
                object_store::Attribute::ContentDisposition,
                disposition.into(),
            );
        }
        attributes
    }

    /// The blob's size and a stream of its bytes.
    pub async fn get(
        &self,
        key: &str,
    ) -> Result<
        (
            u64,
            impl Stream<Item = Result<Bytes, BlobError>> + Send + 'static,
        ),
        BlobError,
    > {
        let result = self
            .inner
            .get(&ObjectPath::from(key))
            .await
            .map_err(not_found)?;
        let size = result.meta.size;
        let stream = match result.payload {
            object_store::GetResultPayload::File(file, _) => file_chunks(file, size).boxed(),
            object_store::GetResultPayload::Stream(s) => s.map_err(BlobError::from).boxed(),
        };
        Ok((size, stream))
    }

    /// A durable copy of `from` at `to`.
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), BlobError> {
        self.inner
            .copy(&ObjectPath::from(from), &ObjectPath::from(to))
            .await
            .map_err(not_found)
    }

    /// Deletes `key`; a blob that is already gone is fine.
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.inner.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes every blob in `keys`; blobs already gone are fine. On S3 in
    /// batched requests (`DeleteObjects`, up to 1,000 keys each). Local files
    /// are removed by threads of the lowest CPU priority (`SCHED_IDLE`), one
    /// per core: a purge of many files takes the CPU that requests and
    /// deliveries leave idle, and gives it back the moment they need it.
    pub async fn delete_many(&self, keys: Vec<String>) -> Result<(), BlobError> {
        let Some(local) = &self.local else {
            let paths =
                futures_util::stream::iter(keys.into_iter().map(|k| Ok(ObjectPath::from(k))));
            let mut deleted = self.inner.delete_stream(paths.boxed());
            while let Some(result) = deleted.next().await {
                match result {
                    Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(());
        };
        let mut paths = Vec::with_capacity(keys.len());
        for key in &keys {
            paths.push(local.path_to_filesystem(&ObjectPath::parse(key)?)?);
        }
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let per_thread = paths.len().div_ceil(threads).max(1);
        let mut paths = paths.into_iter();
        let mut done = Vec::with_capacity(threads);
        while paths.len() > 0 {
            let chunk: Vec<_> = paths.by_ref().take(per_thread).collect();
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("blob-delete".into())
                .spawn(move || {
                    lowest_cpu_priority();
                    let _ = tx.send(remove_files(&chunk));
                })
                .map_err(BlobError::Io)?;
            done.push(rx);
        }
        for rx in done {
            rx.await
                .map_err(|_| BlobError::Io(std::io::Error::other("a blob-delete thread died")))??;
        }
        Ok(())
    }

    /// Every blob under `prefix`, streamed.
    pub fn list(
        &self,
        prefix: &str,
    ) -> impl Stream<Item = Result<BlobInfo, BlobError>> + Send + 'static {
        self.inner
            .list(Some(&ObjectPath::from(prefix)))
            .map_ok(|meta| BlobInfo {
                key: meta.location.to_string(),
                last_modified: meta.last_modified,
            })
            .map_err(BlobError::from)
    }

    /// Removes staged uploads (`name#N` files, which listings hide) and empty
    /// directories last changed before `cutoff`: what a crash mid-upload
    /// leaves behind. Returns how many files were removed.
    pub async fn remove_stale_staging(
        &self,
        cutoff: std::time::SystemTime,
    ) -> std::io::Result<u64> {
        let Some(root) = self.local_root.clone() else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || remove_stale(&root, &root, cutoff))
            .await
            .map_err(std::io::Error::other)?
    }

    /// Readiness: a small object can be written (and so, stored durably).
    pub async fn ping(&self) -> Result<(), BlobError> {
        self.inner
            .put(
                &ObjectPath::from(".probe/ready"),
                Bytes::from_static(b"ok").into(),
            )
            .await?;
        Ok(())
    }
}

/// Removes each file; one that is already gone is fine.
fn remove_files(paths: &[std::path::PathBuf]) -> Result<(), BlobError> {
    for path in paths {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(BlobError::Io(e)),
            _ => {}
        }
    }
    Ok(())
}

/// Moves the calling thread to `SCHED_IDLE`: it runs only on CPU time no
/// other thread wants. Where that is refused, the thread keeps its priority.
fn lowest_cpu_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_setscheduler reads the param struct and changes only the
    // calling thread (pid 0); it has no other effect on memory.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

fn remove_stale(
    root: &std::path::Path,
    dir: &std::path::Path,
    cutoff: std::time::SystemTime,
) -> std::io::Result<u64> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = entry.metadata()?;
        let stale = meta.modified().map(|m| m < cutoff).unwrap_or(false);
        if meta.is_dir() {
            removed += remove_stale(root, &path, cutoff)?;
            if stale && path != root {
                let _ = std::fs::remove_dir(&path); // fails, as it should, unless empty
            }
        } else if stale && is_staged(&path) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// `object_store` stages a local upload as `<name>#<n>` until it completes.
fn is_staged(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit_once('#'))
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The `Content-Type` (the same rule processing applies, from the same
/// first bytes) and `Content-Disposition` of a file named `file_name` whose
/// first bytes are `head`.
fn object_headers(head: &[Bytes], file_name: &str) -> (String, String) {
    let mut sniffed = crate::domain::content_type::Head::default();
    for chunk in head {
        sniffed.push(chunk);
    }
    (
        sniffed.content_type(file_name),
        crate::domain::document::content_disposition(file_name),
    )
}

/// The body's next chunk, counted into `size`; too large once `size`
/// exceeds `limit`.
async fn next_chunk<S, E>(
    body: &mut S,
    size: &mut u64,
    limit: u64,
) -> Result<Option<Bytes>, BlobError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    match body.next().await {
        None => Ok(None),
        Some(Err(e)) => Err(BlobError::Source(e.to_string())),
        Some(Ok(chunk)) => {
            *size += chunk.len() as u64;
            if *size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            Ok(Some(chunk))
        }
    }
}

fn not_found(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => other.into(),
    }
}

/// The key of a document's bytes: one per upload attempt, so a losing
/// concurrent upload can never overwrite the winner's blob. Files sit in
/// 256 directories by the id's last two (random) hex digits: a directory
/// per document would cost a mkdir and two more fsyncs per stored message.
/// Keys are stored with their rows, so blobs written under an earlier
/// layout stay readable.
pub fn document_key(document_id: &str) -> String {
    format!(
        "documents/{}/{document_id}.{}",
        &document_id[document_id.len().saturating_sub(2)..],
        uuid::Uuid::now_v7().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: Vec<&'static [u8]>,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p))))
    }

    #[tokio::test]
    async fn stores_streams_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        let size = blobs
            .put_stream("a/b", chunks(vec![b"hello ", b"world"]), 100)
            .await
            .unwrap();
        assert_eq!(size, 11);
        let (len, stream) = blobs.get("a/b").await.unwrap();
        assert_eq!(len, 11);
        let bytes: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert_eq!(bytes.concat(), b"hello world");
        assert_eq!(
            std::fs::read(dir.path().join("a/b")).unwrap(),
            b"hello world"
        );
        let listed: Vec<BlobInfo> = blobs.list("a").try_collect().await.unwrap();
        assert_eq!(listed.len(), 1);
        blobs.delete("a/b").await.unwrap();
        blobs.delete("a/b").await.unwrap();
        assert!(matches!(
            blobs.get("a/b").await.err(),
            Some(BlobError::NotFound)
        ));
    }

    #[tokio::test]
    async fn a_local_blob_reads_back_whole_in_chunks_and_an_empty_one_as_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..READ_CHUNK * 2 + 1000)
            .map(|i| (i % 251) as u8)
            .collect();
        let body =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes.clone()))]);
        blobs.put_stream("big", body, u64::MAX).await.unwrap();
        let (len, stream) = blobs.get("big").await.unwrap();
        let read: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert_eq!((len, read.len()), (bytes.len() as u64, 3));
        assert!(read.concat() == bytes);
        blobs.put_stream("empty", chunks(vec![]), 10).await.unwrap();
        let (len, stream) = blobs.get("empty").await.unwrap();
        let read: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert_eq!((len, read.len()), (0, 0));
    }

    #[tokio::test]
    async fn a_blob_cut_while_it_is_read_is_an_error_not_a_short_read() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        blobs
            .put_stream("cut", chunks(vec![b"0123456789"]), 100)
            .await
            .unwrap();
        let (_, stream) = blobs.get("cut").await.unwrap();
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("cut"))
            .unwrap()
            .set_len(4)
            .unwrap();
        let read: Result<Vec<Bytes>, BlobError> = stream.try_collect().await;
        assert!(matches!(read, Err(BlobError::Io(_))), "{read:?}");
    }

    #[tokio::test]
    async fn deletes_many_and_skips_the_ones_already_gone() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        let keys: Vec<String> = (0..25)
            .map(|i| document_key(&format!("{i:032X}")))
            .collect();
        for key in &keys[1..] {
            blobs.put_stream(key, chunks(vec![b"x"]), 10).await.unwrap();
        }
        blobs
            .put_stream("keep/me", chunks(vec![b"y"]), 10)
            .await
            .unwrap();
        blobs.delete_many(keys.clone()).await.unwrap(); // keys[0] never existed
        assert_eq!(walk(dir.path()), vec![dir.path().join("keep/me")]);
        blobs.delete_many(keys).await.unwrap();
        blobs.delete_many(vec![]).await.unwrap();
        assert!(matches!(
            blobs.delete_many(vec!["a/../b".into()]).await,
            Err(BlobError::Path(_))
        ));
    }

    #[tokio::test]
    async fn oversize_and_failing_bodies_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::local(dir.path()).unwrap();
        let err = blobs
            .put_stream("big", chunks(vec![b"12345", b"67890"]), 8)
            .await
            .unwrap_err();
        assert!(matches!(err, BlobError::TooLarge { limit: 8 }));
        let failing = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("connection reset")),
        ]);
        assert!(matches!(
            blobs.put_stream("broken", failing, 100).await,
            Err(BlobError::Source(_))
        ));
        let left: Vec<BlobInfo> = blobs.list("").try_collect().await.unwrap();
        assert!(left.is_empty(), "{left:?}");
        let files: Vec<_> = walk(dir.path());
        assert!(files.is_empty(), "no staged files remain: {files:?}");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = vec![];
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn document_keys_are_ours_and_unique() {
        let a = document_key("0123456789ABCDEF0123456789ABCDEF");
        let b = document_key("0123456789ABCDEF0123456789ABCDEF");
        assert!(a.starts_with("documents/EF/0123456789ABCDEF0123456789ABCDEF."));
        assert_eq!(a.matches('/').count(), 2, "no directory per document: {a}");
        assert_ne!(a, b);
    }
}
