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

/// Extractions one child process serves before a fresh one replaces it:
/// a long-lived child spares each document the start of a process (most
/// of the cost of a small one), and replacing it now and then bounds what
/// a slow leak or fragmentation in an extractor could add up to.
const USES_PER_CHILD: u32 = 256;
/// Idle children kept for the next documents, at most.
const MAX_IDLE: usize = 8;
/// The largest piece of a file in one frame to the child.
const FRAME: usize = 1 << 20;
/// The longest content type a request carries.
const MAX_CONTENT_TYPE: usize = 1024;

/// The hidden `inlet extract` command's arguments.
pub fn child_args(bounds: &Bounds) -> Vec<String> {
    vec![
        "extract".into(),
        "--max-text-bytes".into(),
        bounds.limits.max_text_bytes.to_string(),
        "--max-unpacked-bytes".into(),
        bounds.limits.max_unpacked_bytes.to_string(),
        "--max-entries".into(),
        bounds.limits.max_entries.to_string(),
        "--max-memory-bytes".into(),
        bounds.max_memory_bytes.to_string(),
        // A backstop for all the child's extractions together; each one is
        // bounded by the timeout, after which the child is killed.
        "--cpu-seconds".into(),
        ((bounds.timeout.as_secs() + 1) * u64::from(USES_PER_CHILD)).to_string(),
    ]
}

/// A running `inlet extract`, waiting for its next file.
struct Child {
    args: Vec<String>,
    process: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::process::ChildStdout,
    used: u32,
}

/// Children that answered their last file and may take another.
static IDLE: std::sync::Mutex<Vec<Child>> = std::sync::Mutex::new(Vec::new());

impl Child {
    /// An idle child started with `args` that is still alive, else a new one.
    fn get(exe: PathBuf, args: Vec<String>) -> std::io::Result<Self> {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(at) = idle.iter().position(|c| c.args == args) {
            let mut child = idle.swap_remove(at);
            if matches!(child.process.try_wait(), Ok(None)) {
                return Ok(child);
            }
        }
        drop(idle);
        let mut process = tokio::process::Command::new(exe)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = process.stdin.take().expect("piped");
        let stdout = process.stdout.take().expect("piped");
        Ok(Self {
            args,
            process,
            stdin,
            stdout,
            used: 0,
        })
    }

    /// Keeps the child for the next file, unless it has served enough
    /// (dropped, it is killed).
    fn put_back(mut self) {
        self.used += 1;
        if self.used >= USES_PER_CHILD {
            return;
        }
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(self);
        }
    }

    /// Sends one file: its content type, then its bytes in frames, then an
    /// empty frame. `Err(Some(_))`: the file could not be read; `Err(None)`:
    /// the child stopped reading (its answer says why).
    async fn send<S, E>(&mut self, content_type: &str, bytes: &mut S) -> Result<(), Option<String>>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut head = (content_type.len() as u32).to_le_bytes().to_vec();
        head.extend_from_slice(content_type.as_bytes());
        self.stdin.write_all(&head).await.map_err(|_| None)?;
        while let Some(chunk) = bytes.next().await {
            let chunk = chunk.map_err(|e| Some(format!("reading the file: {e}")))?;
            for frame in chunk.chunks(FRAME) {
                let len = (frame.len() as u32).to_le_bytes();
                self.stdin.write_all(&len).await.map_err(|_| None)?;
                self.stdin.write_all(frame).await.map_err(|_| None)?;
            }
        }
        self.stdin
            .write_all(&0u32.to_le_bytes())
            .await
            .map_err(|_| None)?;
        self.stdin.flush().await.map_err(|_| None)
    }

    /// The child's answer to the file sent, at most `cap` bytes of JSON.
    async fn answer(&mut self, cap: u64) -> std::io::Result<Option<Reply>> {
        let mut len = [0u8; 8];
        self.stdout.read_exact(&mut len).await?;
        let len = u64::from_le_bytes(len);
        if len > cap {
            return Ok(None);
        }
        let mut out = vec![0u8; len as usize];
        self.stdout.read_exact(&mut out).await?;
        Ok(serde_json::from_slice(&out).ok())
    }

    /// Why the child is gone, from how it ended.
    async fn died(mut self) -> Run {
        use std::os::unix::process::ExitStatusExt;
        let why = match self.process.wait().await {
            Ok(status) => match status.signal() {
                Some(libc::SIGXCPU) | Some(libc::SIGKILL) => {
                    "ran out of time or memory".to_string()
                }
                // What Rust does when an allocation fails or the stack overflows.
                Some(libc::SIGABRT) => "aborted: out of memory (or stack)".to_string(),
                Some(sig) => format!("was killed by signal {sig}"),
                None => format!("exited with {status} (out of memory?)"),
            },
            Err(e) => format!("could not be waited for: {e}"),
        };
        Run::failed(Status::Failed, format!("the extractor {why}"))
    }
}

async fn in_child<S, E>(exe: PathBuf, content_type: &str, mut bytes: S, bounds: &Bounds) -> Run
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let mut child = match Child::get(exe, child_args(bounds)) {
        Ok(c) => c,
        Err(e) => return Run::failed(Status::Failed, format!("cannot start the extractor: {e}")),
    };
    // JSON escapes at most sextuple the text; the rest is structure.
    let cap = (bounds.limits.max_text_bytes as u64) * 6 + (4 << 20);
    let work = async {
        // `Err(None)`: it stopped reading; read why, if it said.
        if let Err(Some(error)) = child.send(content_type, &mut bytes).await {
            return Err(Some(error));
        }
        child.answer(cap).await.map_err(|_| None)
    };
    match tokio::time::timeout(bounds.timeout, work).await {
        // The child is killed as it is dropped.
        Err(_) => timed_out(bounds.timeout),
        Ok(Err(Some(error))) => Run::failed(Status::Failed, error),
        Ok(Err(None)) => child.died().await,
        Ok(Ok(None)) => Run::failed(Status::Failed, "the extractor gave no readable answer"),
        Ok(Ok(Some(reply))) => {
            // A child that failed may be in a state of the file's making:
            // only one that succeeded takes the next file.
            if matches!(reply, Reply::Done { .. }) {
                child.put_back();
            }
            reply.into()
        }
    }
}

/// How much lower than the server's the extractor's priority is (nice
/// values go from -20 to 19, the lowest).
const BACKGROUND_NICE: libc::c_int = 10;

/// The child's side: limits itself, then answers files until its input
/// ends. Each file is its content type (a little-endian `u32` length, then
/// the name) and its bytes in frames (a `u32` length, then the bytes) up to
/// an empty frame; each answer is a `u64` length and a JSON [`Reply`].
/// Never panics out: a failure is an answer. A file it cannot read whole is
/// answered and ends the child (the rest of the input is not its to skip).
pub fn child_main(limits: Limits, max_memory_bytes: u64, cpu_seconds: u64) {
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
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    loop {
        let (reply, go_on) = match read_request(&mut input) {
            Ok(None) => return,
            Ok(Some((content_type, bytes))) => (extract_here(&content_type, &bytes, &limits), true),
            Err(error) => (Reply::Failed { error }, false),
        };
        let out = serde_json::to_vec(&reply).unwrap_or_default();
        let sent = output
            .write_all(&(out.len() as u64).to_le_bytes())
            .and_then(|()| output.write_all(&out))
            .and_then(|()| output.flush());
        if sent.is_err() || !go_on {
            return;
        }
    }
}

/// The next file of `input`: `None` when the input ends before one; a
/// failure when it does not fit the memory the process may have (an answer,
/// where running out would abort it) or breaks off.
fn read_request(mut input: impl std::io::Read) -> Result<Option<(String, Vec<u8>)>, String> {
    let broken = |e: std::io::Error| format!("reading the file: {e}");
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(broken(e)),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_CONTENT_TYPE {
        return Err("a content type longer than 1 KiB".into());
    }
    let mut name = vec![0u8; len];
    input.read_exact(&mut name).map_err(broken)?;
    let content_type =
        String::from_utf8(name).map_err(|_| "a content type that is not UTF-8".to_string())?;
    let mut bytes = Vec::new();
    loop {
        let mut len = [0u8; 4];
        input.read_exact(&mut len).map_err(broken)?;
        let n = u32::from_le_bytes(len) as usize;
        if n == 0 {
            return Ok(Some((content_type, bytes)));
        }
        if n > FRAME {
            return Err("a frame larger than 1 MiB".into());
        }
        if bytes.try_reserve(n).is_err() {
            return Err("the file does not fit in the extractor's memory limit".into());
        }
        let start = bytes.len();
        bytes.resize(start + n, 0);
        input.read_exact(&mut bytes[start..]).map_err(broken)?;
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
