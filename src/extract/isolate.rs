//! Running an extractor so that no file can hurt the service: off the async
//! runtime, with panics caught, under a timeout, and (by default) in a
//! child process of this same binary with an address-space and CPU limit,
//! killed when the timeout passes. A thread cannot be stopped once it
//! loops forever; a process can, so `thread` isolation is for tests and
//! platforms without the binary at hand.

use super::{for_content_type, ExtractError, Extracted, Limits};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How extraction ended (`file_metadata.extraction.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Unsupported,
    Failed,
    Timeout,
    Truncated,
}

/// What the extractor of a file gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Reply {
    Done {
        extracted: Extracted,
        truncated: bool,
    },
    Failed {
        error: String,
    },
}

/// Where extraction runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// A child process with memory and CPU limits (the default).
    Process,
    /// A blocking thread of this process: panics and time are bounded, a
    /// runaway thread is not stopped and memory is not bounded.
    Thread,
}

/// The bounds of one extraction.
#[derive(Debug, Clone)]
pub struct Bounds {
    pub limits: Limits,
    pub timeout: Duration,
    /// Address space of the child process.
    pub max_memory_bytes: u64,
    pub isolation: Isolation,
}

/// The extraction of one file, as the processing job records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub status: Status,
    pub error: Option<String>,
    pub extracted: Option<Extracted>,
}

impl Run {
    fn failed(status: Status, error: impl Into<String>) -> Self {
        Self {
            status,
            error: Some(error.into()),
            extracted: None,
        }
    }
}

/// Extracts in this thread, catching panics; the text is cut to the limit.
pub fn extract_here(content_type: &str, bytes: &[u8], limits: &Limits) -> Reply {
    match for_content_type(content_type) {
        Some(extractor) => run_guarded(extractor, bytes, limits),
        None => Reply::Failed {
            error: format!("no extractor for {content_type}"),
        },
    }
}

/// Runs `extractor`, a panic being a failure; the text is cut to the limit.
fn run_guarded(extractor: &dyn super::Extractor, bytes: &[u8], limits: &Limits) -> Reply {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| extractor.extract(bytes, limits)));
    match result {
        Ok(Ok(mut extracted)) => {
            let truncated = extracted.truncate(limits.max_text_bytes);
            Reply::Done {
                extracted,
                truncated,
            }
        }
        Ok(Err(ExtractError::Failed(e) | ExtractError::TooLarge(e))) => Reply::Failed { error: e },
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Reply::Failed {
                error: format!("the {} extractor failed: {what}", extractor.name()),
            }
        }
    }
}

impl From<Reply> for Run {
    fn from(r: Reply) -> Self {
        match r {
            Reply::Done {
                extracted,
                truncated,
            } => Self {
                status: if truncated {
                    Status::Truncated
                } else {
                    Status::Ok
                },
                error: None,
                extracted: Some(extracted),
            },
            Reply::Failed { error } => Self::failed(Status::Failed, error),
        }
    }
}

/// The message of a run that took longer than the timeout.
fn timed_out(t: Duration) -> Run {
    Run::failed(
        Status::Timeout,
        format!("extraction took longer than {}s", t.as_secs()),
    )
}

/// Extracts the file `bytes` streams, within `bounds`. A type no extractor
/// reads is `unsupported` at once.
pub async fn extract<S, E>(content_type: &str, bytes: S, bounds: &Bounds) -> Run
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send + 'static,
{
    if for_content_type(content_type).is_none() {
        return Run {
            status: Status::Unsupported,
            error: None,
            extracted: None,
        };
    }
    match bounds.isolation {
        Isolation::Thread => in_thread(content_type, bytes, bounds).await,
        Isolation::Process => match std::env::current_exe() {
            Ok(exe) => in_child(exe, content_type, bytes, bounds).await,
            Err(e) => Run::failed(Status::Failed, format!("cannot start the extractor: {e}")),
        },
    }
}

async fn in_thread<S, E>(content_type: &str, mut bytes: S, bounds: &Bounds) -> Run
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut all = Vec::new();
    while let Some(chunk) = bytes.next().await {
        match chunk {
            Ok(c) => all.extend_from_slice(&c),
            Err(e) => return Run::failed(Status::Failed, format!("reading the file: {e}")),
        }
    }
    let (ct, limits) = (content_type.to_string(), bounds.limits);
    let work = tokio::task::spawn_blocking(move || extract_here(&ct, &all, &limits));
    match tokio::time::timeout(bounds.timeout, work).await {
        Ok(Ok(reply)) => reply.into(),
        Ok(Err(e)) => Run::failed(Status::Failed, format!("the extractor failed: {e}")),
        Err(_) => timed_out(bounds.timeout),
    }
}

/// The hidden `inlet extract` command's arguments.
pub fn child_args(content_type: &str, bounds: &Bounds) -> Vec<String> {
    vec![
        "extract".into(),
        "--content-type".into(),
        content_type.into(),
        "--max-text-bytes".into(),
        bounds.limits.max_text_bytes.to_string(),
        "--max-unpacked-bytes".into(),
        bounds.limits.max_unpacked_bytes.to_string(),
        "--max-entries".into(),
        bounds.limits.max_entries.to_string(),
        "--max-memory-bytes".into(),
        bounds.max_memory_bytes.to_string(),
        "--cpu-seconds".into(),
        (bounds.timeout.as_secs() + 1).to_string(),
    ]
}

async fn in_child<S, E>(exe: PathBuf, content_type: &str, mut bytes: S, bounds: &Bounds) -> Run
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let child = tokio::process::Command::new(exe)
        .args(child_args(content_type, bounds))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Run::failed(Status::Failed, format!("cannot start the extractor: {e}")),
    };
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    // The child reads the whole file before it answers; feed it meanwhile.
    let feed = tokio::spawn(async move {
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| format!("reading the file: {e}"))?;
            if stdin.write_all(&chunk).await.is_err() {
                break; // the child stopped reading (it died or gave up)
            }
        }
        drop(stdin);
        Ok::<(), String>(())
    });
    // JSON escapes at most sextuple the text; the rest is structure.
    let cap = (bounds.limits.max_text_bytes as u64) * 6 + (4 << 20);
    let read = async {
        let mut out = Vec::new();
        (&mut stdout).take(cap).read_to_end(&mut out).await?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((out, status))
    };
    let (out, status) = match tokio::time::timeout(bounds.timeout, read).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Run::failed(Status::Failed, format!("the extractor failed: {e}")),
        Err(_) => {
            let _ = child.kill().await;
            feed.abort();
            return timed_out(bounds.timeout);
        }
    };
    if let Ok(Err(e)) = feed.await {
        return Run::failed(Status::Failed, e);
    }
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        let why = match status.signal() {
            Some(libc::SIGXCPU) | Some(libc::SIGKILL) => "ran out of time or memory".to_string(),
            // What Rust does when an allocation fails or the stack overflows.
            Some(libc::SIGABRT) => "aborted: out of memory (or stack)".to_string(),
            Some(sig) => format!("was killed by signal {sig}"),
            None => format!("exited with {status} (out of memory?)"),
        };
        return Run::failed(Status::Failed, format!("the extractor {why}"));
    }
    match serde_json::from_slice::<Reply>(&out) {
        Ok(reply) => reply.into(),
        Err(_) => Run::failed(Status::Failed, "the extractor gave no readable answer"),
    }
}

/// How much lower than the server's the extractor's priority is (nice
/// values go from -20 to 19, the lowest).
const BACKGROUND_NICE: libc::c_int = 10;

/// The child's side: limits itself, reads the file from stdin, answers one
/// JSON [`Reply`] on stdout. Never panics out: a failure is an answer.
pub fn child_main(content_type: &str, limits: Limits, max_memory_bytes: u64, cpu_seconds: u64) {
    use std::io::Write;
    // The bound is on what extraction adds to the process as it starts
    // (the mapped binary itself counts towards the address space).
    // SAFETY: sysconf reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let base = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page);
    let max_memory_bytes = base.saturating_add(max_memory_bytes);
    // SAFETY: nice and setrlimit only change this process's own priority
    // and limits.
    unsafe {
        // Extraction is background work: under load, the sessions and
        // requests being answered get the CPU first; idle, it gets all.
        libc::nice(BACKGROUND_NICE);
        let set = |resource, value: u64| {
            let lim = libc::rlimit {
                rlim_cur: value as libc::rlim_t,
                rlim_max: value as libc::rlim_t,
            };
            libc::setrlimit(resource, &lim);
        };
        set(libc::RLIMIT_AS, max_memory_bytes);
        set(libc::RLIMIT_CPU, cpu_seconds);
        set(libc::RLIMIT_CORE, 0);
    }
    // Panics are answers, not noise on stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let reply = match read_within_memory(std::io::stdin().lock()) {
        Ok(bytes) => extract_here(content_type, &bytes, &limits),
        Err(error) => Reply::Failed { error },
    };
    let out = serde_json::to_vec(&reply).unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&out);
    let _ = stdout.flush();
}

/// All of `input`, or a failure when it does not fit the memory the
/// process may have (an answer, where running out would abort it).
fn read_within_memory(mut input: impl std::io::Read) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the file: {e}")),
        };
        if bytes.try_reserve(n).is_err() {
            return Err("the file does not fit in the extractor's memory limit".into());
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            limits: Limits::default(),
            timeout: Duration::from_secs(5),
            max_memory_bytes: 1 << 30,
            isolation: Isolation::Thread,
        }
    }

    fn stream(b: &'static [u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter([Ok(Bytes::from_static(b))])
    }

    #[tokio::test]
    async fn text_is_extracted_and_other_types_are_unsupported() {
        let run = extract("text/plain", stream(b"Hello\n\nWorld"), &bounds()).await;
        assert_eq!(run.status, Status::Ok);
        assert_eq!(run.extracted.unwrap().text(), "Hello\n\nWorld");
        let run = extract("image/png", stream(b"\x89PNG"), &bounds()).await;
        assert_eq!((run.status, run.extracted), (Status::Unsupported, None));
    }

    #[tokio::test]
    async fn corrupt_files_fail_and_long_text_is_truncated() {
        for ct in [
            "application/pdf",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ] {
            let run = extract(ct, stream(b"%PDF-1.5 PK\x03\x04 garbage"), &bounds()).await;
            assert_eq!(run.status, Status::Failed, "{ct}");
            assert!(run.error.is_some());
        }
        let mut b = bounds();
        b.limits.max_text_bytes = 5;
        let run = extract("text/plain", stream(b"abcdefgh"), &b).await;
        assert_eq!(run.status, Status::Truncated);
        assert_eq!(run.extracted.unwrap().text(), "abcde");
    }

    #[test]
    fn a_panicking_extractor_is_a_failed_extraction() {
        struct Boom;
        impl crate::extract::Extractor for Boom {
            fn name(&self) -> &'static str {
                "boom"
            }
            fn version(&self) -> &'static str {
                "0"
            }
            fn extract(&self, _: &[u8], _: &Limits) -> Result<Extracted, ExtractError> {
                panic!("index out of bounds")
            }
        }
        let result = std::panic::catch_unwind(|| {
            crate::extract::Extractor::extract(&Boom, b"", &Limits::default())
        });
        assert!(result.is_err(), "the fixture panics");
        // The same guard extract_here puts around every extractor.
        let reply = guarded(&Boom, b"");
        assert!(
            matches!(&reply, Reply::Failed { error } if error.contains("boom extractor failed: index out of bounds")),
            "{reply:?}"
        );
    }

    fn guarded(e: &dyn crate::extract::Extractor, bytes: &[u8]) -> Reply {
        run_guarded(e, bytes, &Limits::default())
    }
}
