//! Receiving DATA: dot-unstuffing, the size limit, the header section for
//! parsing, SHA-256, and streaming the bytes durably into the blob store
//! (or holding them, bounded in memory, until checks that need the whole
//! message have run).

use crate::blobs::{BlobError, BlobStore};
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;

/// Bytes handed to the blob writer at a time.
const CHUNK: usize = 64 * 1024;
/// The header section kept in memory for parsing, at most.
const MAX_HEADERS: usize = 256 * 1024;
/// A held message stays in memory up to this size, then moves to a spool
/// file: a session's heap stays this small whatever `max_message_bytes` is.
const HELD_IN_MEMORY: usize = 1024 * 1024;

pub enum DataOutcome {
    /// Stored durably under the key given.
    Stored {
        size: u64,
        /// Of the stored bytes, trace headers included.
        sha256: String,
        /// Of the bytes the client sent: the same message sent again has
        /// the same one, whatever trace headers it gets. Only computed for a
        /// message without a `Message-ID` field (see `has_message_id`).
        content_sha256: Option<String>,
        headers: Vec<u8>,
    },
    /// Received but not stored (`spool`): the prefix and the message, for
    /// checks that need all of it before it is stored with `store`. A large
    /// one is a map of its spool file, which goes when the bytes are dropped.
    Held {
        bytes: Bytes,
        content_sha256: Option<String>,
        headers: Vec<u8>,
    },
    /// Larger than the limit: everything was read and discarded.
    TooLarge,
    /// The blob store failed: nothing was kept; the client may retry.
    StorageFailed(String),
}

/// Reads the message up to the terminating `CRLF.CRLF` and stores it,
/// after `prefix` (the trace headers), under `key`. Only a `.` line after a
/// CRLF ends the data, so bare-LF tricks cannot smuggle a second message in.
/// `idle` bounds each wait for more bytes. On every error the partial blob
/// is abandoned, never completed. With a `spool` directory nothing is
/// written to the blob store: the bytes come back (`Held`), from memory or,
/// past `HELD_IN_MEMORY`, from an unnamed file in that directory.
#[allow(clippy::too_many_arguments)]
pub async fn receive<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    blobs: &BlobStore,
    key: &str,
    prefix: &[u8],
    limit: u64,
    idle: Duration,
    spool: Option<&Path>,
) -> io::Result<DataOutcome> {
    let mut sink = match spool {
        Some(dir) => Sink::Spool(Spool::new(dir)),
        None => {
            let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
            let mut hasher = Sha256::new();
            hasher.update(prefix);
            Sink::Blob {
                tx,
                writer: writer(blobs, key, rx, limit),
                hasher,
            }
        }
    };
    // Only dedupe without a Message-ID needs it: dropped once the header
    // section turns out to have one.
    let mut content_hasher = Some(Sha256::new());
    let mut size = prefix.len() as u64;
    let mut pending = BytesMut::with_capacity(CHUNK);
    pending.extend_from_slice(prefix);
    let mut headers = prefix.to_vec();
    let mut headers_done = false;
    let mut unstuff = Unstuff::LineStart;
    let mut too_large = false;
    let mut writer_failed = false;
    // The spool's first error; the session reports it once.
    let mut spool_error: Option<io::Error> = None;
    let read_error = loop {
        let available = match fill_within(reader, idle).await {
            Err(e) => break Some(e),
            Ok([]) => {
                break Some(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during DATA",
                ))
            }
            Ok(available) => available,
        };
        // What this read adds to the content, as one slice or a few (one
        // more per dot-stuffed line): the bytes are not copied to find lines.
        let (used, end) = unstuff.feed(available, |content| {
            size += content.len() as u64;
            if size > limit {
                too_large = true;
            }
            if too_large || writer_failed {
                return; // read on to the end, keep nothing
            }
            if let Sink::Blob { hasher, .. } = &mut sink {
                hasher.update(content);
            }
            if let Some(hasher) = &mut content_hasher {
                hasher.update(content);
            }
            if !headers_done {
                let searched = headers.len().saturating_sub(2).max(prefix.len());
                let room = MAX_HEADERS.saturating_sub(headers.len());
                headers.extend_from_slice(&content[..content.len().min(room)]);
                let end = header_end(&headers[prefix.len()..], searched - prefix.len());
                if let Some(end) = end {
                    headers.truncate(prefix.len() + end);
                }
                if end.is_some() || headers.len() >= MAX_HEADERS {
                    headers_done = true;
                    if has_message_id(&headers[prefix.len()..]) {
                        content_hasher = None;
                    }
                }
            }
            pending.extend_from_slice(content);
        });
        reader.consume(used);
        if end {
            break None;
        }
        if too_large || writer_failed || pending.len() < CHUNK {
            continue;
        }
        match &mut sink {
            Sink::Spool(spool) => {
                if let Err(e) = spool.push(&mut pending) {
                    spool_error = Some(e);
                    writer_failed = true;
                }
            }
            Sink::Blob { tx, .. } => {
                if tx.send(Ok(pending.split().freeze())).await.is_err() {
                    writer_failed = true; // its own result says why
                }
            }
        }
    };
    if read_error.is_some() || too_large {
        if let Sink::Blob { tx, writer, .. } = sink {
            // Abandon the upload: an error item makes the writer abort it.
            let _ = tx.send(Err(io::Error::other("abandoned"))).await;
            drop(tx);
            let _ = writer.await;
        }
        return match read_error {
            Some(e) => Err(e),
            None => Ok(DataOutcome::TooLarge),
        };
    }
    let content_sha256 = content_hasher.map(|h| hex::encode(h.finalize()));
    let (tx, writer, hasher) = match sink {
        Sink::Spool(spool) => {
            let finished = match spool_error {
                Some(e) => Err(e),
                None => spool.finish(pending),
            };
            return Ok(match finished {
                Ok(bytes) => DataOutcome::Held {
                    bytes,
                    content_sha256,
                    headers,
                },
                Err(e) => DataOutcome::StorageFailed(format!("spooling the message: {e}")),
            });
        }
        Sink::Blob { tx, writer, hasher } => (tx, writer, hasher),
    };
    if !pending.is_empty() {
        let _ = tx.send(Ok(pending.freeze())).await;
    }
    drop(tx);
    match writer.await {
        Ok(Ok(_)) => Ok(DataOutcome::Stored {
            size,
            sha256: hex::encode(hasher.finalize()),
            content_sha256,
            headers,
        }),
        Ok(Err(BlobError::TooLarge { .. })) => Ok(DataOutcome::TooLarge),
        Ok(Err(e)) => Ok(DataOutcome::StorageFailed(e.to_string())),
        Err(e) => Ok(DataOutcome::StorageFailed(e.to_string())),
    }
}

/// Where received bytes go.
enum Sink<'a> {
    /// Streamed into the blob store as they arrive, hashed on the way.
    Blob {
        tx: mpsc::Sender<Result<Bytes, io::Error>>,
        writer: Writer,
        hasher: Sha256,
    },
    /// Held for checks that need the whole message (hashed when stored).
    Spool(Spool<'a>),
}

/// A held message: memory first, then an unnamed temporary file (gone when
/// closed, or with the process however it ends: nothing to clean up).
/// Writes land in the page cache and are never fsync'd: the spool is
/// scratch space, and durability comes from the blob store afterwards.
struct Spool<'a> {
    dir: &'a Path,
    file: Option<std::fs::File>,
}

impl<'a> Spool<'a> {
    fn new(dir: &'a Path) -> Self {
        Self { dir, file: None }
    }

    /// Moves `pending` to the file once the message outgrows memory.
    fn push(&mut self, pending: &mut BytesMut) -> io::Result<()> {
        if self.file.is_none() && pending.len() < HELD_IN_MEMORY {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(tempfile::tempfile_in(self.dir)?),
        };
        file.write_all(pending)?;
        pending.clear();
        Ok(())
    }

    fn finish(mut self, pending: BytesMut) -> io::Result<Bytes> {
        let Some(mut file) = self.file.take() else {
            return Ok(pending.freeze());
        };
        file.write_all(&pending)?;
        // SAFETY: the file has no name, so nothing else can change or
        // truncate it under the map; it stays open as long as the map.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Bytes::from_owner(map))
    }
}

type Writer = tokio::task::JoinHandle<Result<u64, BlobError>>;

/// Streams what arrives on `rx` durably into the blob `key`; an error item
/// abandons the upload.
fn writer(
    blobs: &BlobStore,
    key: &str,
    mut rx: mpsc::Receiver<Result<Bytes, io::Error>>,
    limit: u64,
) -> Writer {
    let blobs = blobs.clone();
    let key = key.to_string();
    tokio::spawn(async move {
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        blobs.put_stream(&key, Box::pin(stream), limit).await
    })
}

/// Stores a held message durably under `key`, after `header`. Returns the
/// size and SHA-256 of the stored bytes, as `Stored` has them.
pub async fn store(
    blobs: &BlobStore,
    key: &str,
    header: &[u8],
    held: Bytes,
) -> Result<(u64, String), BlobError> {
    let size = (header.len() + held.len()) as u64;
    let mut hasher = Sha256::new();
    hasher.update(header);
    hasher.update(&held);
    // Slices of `held` (of its spool file's map, for a large one): no copy.
    let chunks = std::iter::once(Bytes::copy_from_slice(header)).chain(
        (0..held.len())
            .step_by(CHUNK)
            .map(move |start| held.slice(start..held.len().min(start + CHUNK))),
    );
    let body = futures_util::stream::iter(chunks.map(Ok::<_, io::Error>));
    blobs.put_stream(key, body, size).await?;
    Ok((size, hex::encode(hasher.finalize())))
}

/// The end of the data and dot-stuffing (RFC 5321 §4.5.2) over a stream
/// of reads. Only a `.` line after a CRLF ends the data, so bare-LF tricks
/// cannot smuggle a second message in; a line that starts with a dot loses
/// that dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unstuff {
    /// At the start of a line: after a CRLF, or of the data.
    LineStart,
    /// Within a line; `cr`: the last byte was a CR (a CRLF may be split
    /// across two reads).
    Mid { cr: bool },
    /// A line's leading dot, dropped.
    Dot,
    /// A leading dot and a CR: the end, if an LF follows.
    DotCr,
}

impl Unstuff {
    /// Feeds one read: `content` gets what it adds to the message, in
    /// order. Returns how many bytes were used (all of them, or up to the
    /// end of the data) and whether the end was found.
    fn feed(&mut self, read: &[u8], mut content: impl FnMut(&[u8])) -> (usize, bool) {
        let mut i = 0;
        while i < read.len() {
            match *self {
                Unstuff::LineStart if read[i] == b'.' => {
                    *self = Unstuff::Dot;
                    i += 1;
                }
                Unstuff::Dot if read[i] == b'\r' => {
                    *self = Unstuff::DotCr;
                    i += 1;
                }
                Unstuff::LineStart | Unstuff::Dot => *self = Unstuff::Mid { cr: false },
                Unstuff::DotCr if read[i] == b'\n' => return (i + 1, true),
                Unstuff::DotCr => {
                    content(b"\r");
                    *self = Unstuff::Mid { cr: true };
                }
                Unstuff::Mid { cr: true } if read[i] == b'\n' => {
                    content(&read[i..=i]);
                    i += 1;
                    *self = Unstuff::LineStart;
                }
                Unstuff::Mid { .. } => {
                    let rest = &read[i..];
                    // The next line that starts with a dot; up to it, nothing
                    // but content.
                    match memchr::memmem::find(rest, b"\r\n.") {
                        Some(at) => {
                            content(&rest[..at + 2]);
                            i += at + 2;
                            *self = Unstuff::LineStart;
                        }
                        None => {
                            content(rest);
                            i = read.len();
                            *self = if rest.ends_with(b"\r\n") {
                                Unstuff::LineStart
                            } else {
                                Unstuff::Mid {
                                    cr: rest.ends_with(b"\r"),
                                }
                            };
                        }
                    }
                }
            }
        }
        (i, false)
    }
}

/// Where the header section that starts `head` ends (after its empty
/// line), looking from `from` on.
fn header_end(head: &[u8], from: usize) -> Option<usize> {
    if from == 0 {
        if head.starts_with(b"\r\n") {
            return Some(2);
        }
        if head.starts_with(b"\n") {
            return Some(1);
        }
    }
    let at = from
        + memchr::memchr_iter(b'\n', &head[from..]).find(|&i| {
            let next = &head[from + i + 1..];
            next.starts_with(b"\r\n") || next.starts_with(b"\n")
        })?;
    Some(if head[at + 1] == b'\r' {
        at + 3
    } else {
        at + 2
    })
}

/// The reader's buffered bytes, reading more when there are none, within
/// `idle` (`TimedOut` after). Empty at the end of input.
async fn fill_within<R: AsyncBufRead + Unpin>(reader: &mut R, idle: Duration) -> io::Result<&[u8]> {
    match tokio::time::timeout(idle, reader.fill_buf()).await {
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "DATA timed out")),
        Ok(read) => read,
    }
}

/// Whether a header section has a `Message-ID` field, which then is the
/// message's dedupe key instead of its content hash.
fn has_message_id(headers: &[u8]) -> bool {
    headers
        .split(|&b| b == b'\n')
        .any(|line| line.len() > 11 && line[..11].eq_ignore_ascii_case(b"message-id:"))
}

/// Reads up to and including the next LF, or at most `cap` bytes.
async fn read_segment<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    cap: usize,
) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let room = cap - out.len();
        let (take, done) = match memchr(available, room) {
            Some(i) => (i + 1, true),
            None => {
                let take = available.len().min(room);
                (take, out.len() + take >= cap)
            }
        };
        out.extend_from_slice(&available[..take]);
        reader.consume(take);
        total += take;
        if done {
            return Ok(total);
        }
    }
}

fn memchr(bytes: &[u8], within: usize) -> Option<usize> {
    memchr::memchr(b'\n', &bytes[..bytes.len().min(within)])
}

/// Reads one command line of at most `max` bytes. `Ok(None)` at end of
/// input; `Err(InvalidData)` for a longer line (which is skipped).
pub async fn read_command<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<()>> {
    line.clear();
    if read_segment(reader, line, max).await? == 0 {
        return Ok(None);
    }
    if line.ends_with(b"\n") {
        return Ok(Some(()));
    }
    if line.len() < max {
        return Ok(None); // closed mid-line
    }
    // Too long: skip to the end of the line.
    loop {
        let mut rest = Vec::new();
        let n = read_segment(reader, &mut rest, 64 * 1024).await?;
        if n == 0 || rest.ends_with(b"\n") {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{has_message_id, header_end, Unstuff};

    /// RFC 5321's rules a byte at a time: the reference `Unstuff` must
    /// agree with. `None` without an end of data.
    fn unstuffed(raw: &[u8]) -> Option<(Vec<u8>, usize)> {
        let mut out = Vec::new();
        let mut line_start = true;
        let mut i = 0;
        while i < raw.len() {
            if line_start && raw[i] == b'.' {
                if raw[i + 1..].starts_with(b"\r\n") {
                    return Some((out, i + 3));
                }
                line_start = false;
                i += 1;
                continue;
            }
            out.push(raw[i]);
            line_start = raw[i] == b'\n' && i > 0 && raw[i - 1] == b'\r';
            i += 1;
        }
        None
    }

    /// Feeds `raw` in reads that end at `cuts`.
    fn fed(raw: &[u8], cuts: &[usize]) -> Option<(Vec<u8>, usize)> {
        let mut state = Unstuff::LineStart;
        let mut out = Vec::new();
        let mut at = 0;
        for end in cuts.iter().copied().chain([raw.len()]) {
            while at < end {
                let (used, done) = state.feed(&raw[at..end], |c| out.extend_from_slice(c));
                assert!(used > 0 && at + used <= end);
                at += used;
                if done {
                    return Some((out, at));
                }
            }
        }
        None
    }

    #[test]
    fn dot_stuffing_and_the_end_of_data_agree_with_the_rules_however_the_bytes_arrive() {
        // Every string of up to 6 bytes over the bytes that matter, with
        // "\r\n.\r\n" after it or not, cut into reads at every one or two
        // places.
        const ALPHABET: &[u8] = b".\r\na";
        let mut checked = 0;
        for len in 0..=6u32 {
            for n in 0..ALPHABET.len().pow(len) {
                let mut raw: Vec<u8> = (0..len)
                    .map(|k| ALPHABET[n / ALPHABET.len().pow(k) % ALPHABET.len()])
                    .collect();
                for ended in [false, true] {
                    if ended {
                        raw.extend_from_slice(b"\r\n.\r\n");
                    }
                    let want = unstuffed(&raw);
                    assert_eq!(fed(&raw, &[]), want, "{raw:?}");
                    for a in 1..raw.len() {
                        assert_eq!(fed(&raw, &[a]), want, "{raw:?} cut at {a}");
                        for b in a + 1..raw.len() {
                            assert_eq!(fed(&raw, &[a, b]), want, "{raw:?} cut at {a}, {b}");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn bare_line_ends_never_end_the_data() {
        for raw in [&b"a\n.\r\nb"[..], b"a\r.\r\n", b"a\n.\n", b"a\r\n.\n"] {
            assert_eq!(fed(raw, &[]), None, "{raw:?}");
        }
        assert_eq!(
            fed(b"a\r\n..b\r\n.\r\nnext", &[]),
            Some((b"a\r\n.b\r\n".to_vec(), 11))
        );
    }

    #[test]
    fn the_header_section_ends_at_its_first_empty_line() {
        assert_eq!(header_end(b"A: 1\r\n\r\nbody\r\n\r\n", 0), Some(8));
        assert_eq!(header_end(b"A: 1\n\nbody", 0), Some(6));
        assert_eq!(header_end(b"\r\nbody", 0), Some(2));
        assert_eq!(header_end(b"A: 1\r\nB: 2\r\n", 0), None);
        assert_eq!(header_end(b"A: 1\r\n\r", 0), None, "not yet known");
        assert_eq!(header_end(b"A: 1\r\n\r\n", 5), Some(8));
    }

    #[test]
    fn a_message_id_field_is_found_in_any_case_and_only_as_a_field() {
        assert!(has_message_id(
            b"From: a@b.example\r\nMessage-ID: <x@y>\r\n\r\n"
        ));
        assert!(has_message_id(b"MESSAGE-ID:<x@y>\r\n"));
        assert!(!has_message_id(b"Subject: Message-ID: <x@y>\r\n\r\n"));
        assert!(!has_message_id(
            b"X-Message-ID: <x@y>\r\nMessage-IDs: 2\r\n"
        ));
        assert!(!has_message_id(b"Message-ID:"), "no value");
    }
}
