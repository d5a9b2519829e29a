//! Real S3-compatible servers for the tests, on a free loopback port:
//! `moto_server` (quick; does not check signatures) and `s3s-fs` (checks
//! SigV4, keeps objects in a directory, so it can be stopped and started
//! again on the same data). `.ci/run` installs both under `$HOME/.cache`;
//! `INLET_TEST_MOTO` / `INLET_TEST_S3S_FS` name other binaries.
//!
//! `INLET_TEST_BLOBS=s3` runs every server of the suite on S3 (a bucket per
//! server on one shared S3 server per test binary); `INLET_TEST_S3=s3s-fs`
//! picks the SigV4-checking server for that (default `moto`).

use super::free_port;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "inlettestkey";
pub const SECRET_KEY: &str = "inlet-test-secret-0123456789";

pub const MOTO_VERSION: &str = "5.2.1";
pub const S3S_FS_VERSION: &str = "0.14.1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Kind {
    Moto,
    S3sFs,
}

impl S3Kind {
    fn binary(self) -> PathBuf {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let (var, default) = match self {
            Self::Moto => (
                "INLET_TEST_MOTO",
                format!("{home}/.cache/inlet-moto-{MOTO_VERSION}/bin/moto_server"),
            ),
            Self::S3sFs => (
                "INLET_TEST_S3S_FS",
                format!("{home}/.cache/inlet-s3s-fs-{S3S_FS_VERSION}/bin/s3s-fs"),
            ),
        };
        std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
    }

    /// Present, or the test is skipped with a note (outside CI, which installs it).
    pub fn available(self) -> bool {
        let found = self.binary().is_file();
        if !found {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{:?} must be installed in CI (.ci/run installs it)",
                self.binary()
            );
            eprintln!("SKIPPED: {} is not installed", self.binary().display());
        }
        found
    }
}

/// Which S3 the suite's servers use, if any (`INLET_TEST_BLOBS=s3`).
pub fn suite_kind() -> Option<S3Kind> {
    if std::env::var("INLET_TEST_BLOBS").as_deref() != Ok("s3") {
        return None;
    }
    Some(match std::env::var("INLET_TEST_S3").as_deref() {
        Ok("s3s-fs") => S3Kind::S3sFs,
        _ => S3Kind::Moto,
    })
}

/// The suite's shared S3 server (one per test binary), started on first use.
pub fn shared(kind: S3Kind) -> &'static S3Server {
    static SHARED: OnceLock<S3Server> = OnceLock::new();
    SHARED.get_or_init(|| {
        // Started from a thread that lives as long as the test binary, so
        // the server dies with the binary (PR_SET_PDEATHSIG follows the
        // thread that spawned it), not with the first test that used it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let server = S3Server::start(kind);
            tx.send(server).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("the S3 server starts")
    })
}

pub struct S3Server {
    child: Option<Child>,
    pub kind: S3Kind,
    pub addr: SocketAddr,
    /// s3s-fs's data (a directory per bucket).
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl S3Server {
    pub fn start(kind: S3Kind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s3");
        std::fs::create_dir_all(&root).unwrap();
        let mut server = Self {
            child: None,
            kind,
            addr: "127.0.0.1:0".parse().unwrap(),
            root,
            _dir: dir,
        };
        for _ in 0..20 {
            server.addr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            if server.spawn() {
                return server;
            }
        }
        panic!("no free port for the S3 server");
    }

    /// Starts the process on `addr`; false when the port was taken meanwhile.
    fn spawn(&mut self) -> bool {
        let mut cmd = Command::new(self.kind.binary());
        match self.kind {
            S3Kind::Moto => {
                cmd.args(["-H", "127.0.0.1", "-p", &self.addr.port().to_string()]);
            }
            S3Kind::S3sFs => {
                cmd.args([
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &self.addr.port().to_string(),
                ])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&self.root);
            }
        }
        die_with_parent(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", self.kind.binary().display()));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if TcpStream::connect(self.addr).is_ok() {
                self.child = Some(child);
                return true;
            }
            assert!(Instant::now() < deadline, "the S3 server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new, empty bucket.
    pub fn bucket(&self) -> String {
        let name = format!("inlet-{}", uuid::Uuid::now_v7().simple());
        match self.kind {
            S3Kind::S3sFs => std::fs::create_dir_all(self.root.join(&name)).unwrap(),
            // moto takes an unsigned CreateBucket.
            S3Kind::Moto => {
                use std::io::{Read, Write};
                let mut conn = TcpStream::connect(self.addr).unwrap();
                write!(
                    conn,
                    "PUT /{name} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.addr
                )
                .unwrap();
                let mut reply = String::new();
                conn.read_to_string(&mut reply).unwrap();
                assert!(reply.starts_with("HTTP/1.1 200"), "CreateBucket: {reply}");
            }
        }
        name
    }

    /// A `[blobs]` table for a new bucket on this server, with `extra` keys.
    pub fn blobs_config(&self, extra: &str) -> String {
        format!("[blobs]\n{}{extra}\n", self.blobs_keys(&self.bucket()))
    }

    /// The S3 keys of `[blobs]` for `bucket` on this server. Payloads go
    /// unsigned, as they do by default over https (so uploads of a known
    /// length stream in one PUT); `SIGNED_PAYLOADS` turns signing on.
    pub fn blobs_keys(&self, bucket: &str) -> String {
        format!(
            "backend = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nallow_http = true\n\
             access_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\n{UNSIGNED_PAYLOADS}",
            self.endpoint()
        )
    }

    /// Stops the server (SIGKILL): the object store is down.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and (s3s-fs) the same data.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "the S3 server is running");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "the S3 server's port stayed taken"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The keys of every object in `bucket` (s3s-fs: read from its directory).
    pub fn object_files(&self, bucket: &str) -> Vec<PathBuf> {
        assert_eq!(
            self.kind,
            S3Kind::S3sFs,
            "only s3s-fs keeps objects on disk"
        );
        super::files_under(&self.root.join(bucket))
    }
}

/// The `[blobs]` line of `blobs_keys` that leaves payloads unsigned, and
/// its replacement that signs them (the default over http://).
pub const UNSIGNED_PAYLOADS: &str = "sign_payload = false\n";
pub const SIGNED_PAYLOADS: &str = "sign_payload = true\n";

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server gets SIGKILL when the thread that started it ends.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl only sets this process's parent-death signal; it
    // allocates nothing and is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}
