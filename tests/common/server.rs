//! Starting the real `inlet` binary: one builder for every way a test needs
//! a server (extra configuration, own portals, a chosen database, env vars,
//! serve flags, replicas and restarts on the same data), and the running
//! process (logs, SIGKILL, SIGTERM, `inlet admin …` with the same settings).

use super::{TestDatabase, BIN, INBOX_DOMAIN};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a server may take to bind its listeners, or to exit.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Portals every test server knows unless the test names its own:
/// `broker-a` (the default) and `broker-b`.
const DEFAULT_TEST_PORTAL: &str = r#"default_portal = "broker-a"
"#;
const TEST_PORTAL_TABLES: &str = r#"
[[portals]]
name = "broker-a"
kind = "sftp"
broker = "Broker A"
host = "127.0.0.1"
host_key = "insecure-accept-any"

[[portals]]
name = "broker-b"
kind = "sftp"
broker = "Broker B"
host = "127.0.0.1"
host_key = "insecure-accept-any"
"#;

/// Tests poll and retry freely; only the rate-limit tests set limits.
const GENEROUS_RATE_LIMITS: &str = "\n[rate_limit]\nrequests_per_minute = 1000000\nburst = 1000000\nunauthenticated_per_minute = 1000000\n";

/// What the configuration file holds besides the test's own fragments.
enum Layout {
    /// Loopback listeners, JSON logs, the test inbox domain, generous rate
    /// limits, the suite's database and the test portals.
    Full,
    /// Only `data_dir` and a loopback `http_addr`: for configurations that
    /// must be refused, where any other key could mask the one under test.
    Minimal,
    /// Exactly this text.
    Exact(String),
    /// No file is written; the server is pointed at this path.
    Elsewhere(PathBuf),
}

enum Portals {
    Test,
    Own(Vec<String>),
}

/// Where the server keeps blobs.
enum Blobs {
    /// S3 when the suite runs on it (`INLET_TEST_BLOBS=s3`), else local.
    Suite,
    Local,
    /// These `[blobs]` keys (an S3 server's bucket and credentials).
    S3(String),
}

enum Database {
    /// PostgreSQL when the suite runs on it (`INLET_TEST_BACKEND=postgres`).
    Suite,
    Sqlite,
    Postgres(TestDatabase),
}

pub struct TestServerBuilder {
    dir: tempfile::TempDir,
    layout: Layout,
    fragments: Vec<String>,
    jobs: Vec<String>,
    portals: Portals,
    database: Database,
    blobs: Blobs,
    env: Vec<(String, String)>,
    args: Vec<String>,
    close_stderr_when_ready: bool,
}

impl TestServerBuilder {
    pub(super) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
            layout: Layout::Full,
            fragments: vec![],
            jobs: vec![],
            portals: Portals::Test,
            database: Database::Suite,
            blobs: Blobs::Suite,
            env: vec![],
            args: vec![],
            close_stderr_when_ready: false,
        }
    }

    /// Adds TOML to the configuration (tables; top-level keys only with
    /// `minimal`, where nothing precedes them but `data_dir` and `http_addr`).
    pub fn config(mut self, toml: &str) -> Self {
        self.fragments.push(toml.to_string());
        self
    }

    /// A low per-IP limit for unauthenticated requests (the generous test
    /// limits otherwise): a sixth of it may come at once.
    pub fn unauthenticated_per_minute(self, n: u32) -> Self {
        self.config(&format!("[rate_limit]\nunauthenticated_per_minute = {n}"))
    }

    /// Jobs run only when the test says so (`run_jobs`).
    pub fn manual_jobs(self) -> Self {
        self.workers(0)
    }

    pub fn workers(mut self, n: usize) -> Self {
        self.jobs.push(format!("workers = {n}"));
        self
    }

    /// A short lease lets another process take over a killed worker's job soon.
    pub fn job_lease(mut self, lease: &str) -> Self {
        self.jobs.push(format!("lease = \"{lease}\""));
        self
    }

    /// A `[[portals]]` entry; the first one replaces the test portals.
    pub fn portal(mut self, entry: &str) -> Self {
        match &mut self.portals {
            Portals::Own(entries) => entries.push(entry.to_string()),
            Portals::Test => self.portals = Portals::Own(vec![entry.to_string()]),
        }
        self
    }

    /// No research portal at all.
    pub fn without_portals(mut self) -> Self {
        self.portals = Portals::Own(vec![]);
        self
    }

    /// SQLite, whatever backend the suite runs on.
    pub fn sqlite(mut self) -> Self {
        self.database = Database::Sqlite;
        self
    }

    /// This PostgreSQL database, whatever backend the suite runs on.
    pub fn postgres(mut self, database: TestDatabase) -> Self {
        self.database = Database::Postgres(database);
        self
    }

    /// Blobs in `<data_dir>/blobs`, whatever the suite runs on (tests of
    /// the local directory itself).
    pub fn local_blobs(mut self) -> Self {
        self.blobs = Blobs::Local;
        self
    }

    /// Blobs in a new bucket of `s3`, whatever the suite runs on.
    pub fn s3(mut self, s3: &super::s3::S3Server) -> Self {
        self.blobs = Blobs::S3(s3.blobs_keys(&s3.bucket()));
        self
    }

    /// Blobs under these `[blobs]` keys (another replica's bucket).
    pub fn blobs_keys(mut self, keys: &str) -> Self {
        self.blobs = Blobs::S3(keys.to_string());
        self
    }

    /// See `Layout::Minimal`.
    pub fn minimal(mut self) -> Self {
        self.layout = Layout::Minimal;
        self
    }

    /// The configuration file is exactly `text` (`data_dir()` is where the
    /// harness looks for the data; point the server there yourself).
    pub fn config_file(mut self, text: &str) -> Self {
        self.layout = Layout::Exact(text.to_string());
        self
    }

    /// Points the server at `path` instead of writing a configuration file.
    pub fn config_path(mut self, path: &str) -> Self {
        self.layout = Layout::Elsewhere(path.into());
        self
    }

    /// An environment variable for `inlet serve` and for `inlet admin …`.
    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        let value = value.as_ref().to_string_lossy().into_owned();
        self.env.push((name.to_string(), value));
        self
    }

    /// A flag for `inlet serve`.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    /// Stops reading the server's stderr once it is ready, so its later log
    /// writes fail: the server must keep serving regardless.
    pub fn close_stderr_when_ready(mut self) -> Self {
        self.close_stderr_when_ready = true;
        self
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server and waits until both listeners are bound.
    pub async fn start(self) -> TestServer {
        let launch = Arc::new(self.into_launch());
        let process = Process::spawn(&launch);
        TestServer::ready(launch, process)
    }

    /// Runs `inlet serve`, which must exit within the start timeout (a
    /// refused configuration); returns its status and output.
    pub fn start_and_exit(self) -> Output {
        let launch = self.into_launch();
        let mut child = launch
            .serve()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("inlet serve starts");
        let deadline = Instant::now() + START_TIMEOUT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("inlet serve kept running; it should have refused to start");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    }

    fn into_launch(mut self) -> Launch {
        let database = match std::mem::replace(&mut self.database, Database::Sqlite) {
            Database::Suite if matches!(self.layout, Layout::Full) => TestDatabase::create(),
            Database::Postgres(db) => Some(db),
            Database::Suite | Database::Sqlite => None,
        };
        let blobs = match std::mem::replace(&mut self.blobs, Blobs::Local) {
            Blobs::Suite if matches!(self.layout, Layout::Full) => super::s3::suite_kind()
                .filter(|k| k.available())
                .map(|k| super::s3::shared(k))
                .map(|s3| s3.blobs_keys(&s3.bucket())),
            Blobs::S3(keys) => Some(keys),
            Blobs::Suite | Blobs::Local => None,
        };
        let mut config_path = self.dir.path().join("inlet.toml");
        let text = match &self.layout {
            Layout::Elsewhere(path) => {
                config_path = path.clone();
                None
            }
            Layout::Exact(text) => Some(text.clone()),
            Layout::Minimal => Some(format!(
                "data_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\n{}\n",
                self.data_dir().display().to_string(),
                self.fragments.join("\n")
            )),
            Layout::Full => Some(self.full_config(database.as_ref(), blobs.as_deref())),
        };
        if let Some(text) = text {
            std::fs::write(&config_path, text).unwrap();
        }
        Launch {
            data_dir: self.data_dir(),
            config_path,
            env: self.env,
            args: self.args,
            close_stderr_when_ready: self.close_stderr_when_ready,
            database,
            blobs_keys: blobs,
            _dir: self.dir,
        }
    }

    fn full_config(&self, database: Option<&TestDatabase>, blobs: Option<&str>) -> String {
        let mut text = format!(
            "data_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\nsmtp_addr = \"127.0.0.1:0\"\n\
             inbox_domain = \"{INBOX_DOMAIN}\"\nlog_format = \"json\"\n",
            self.data_dir().display().to_string()
        );
        if let Some(db) = database {
            text += &format!("database_url = \"{}\"\n", db.url);
        }
        if let Portals::Test = self.portals {
            text += DEFAULT_TEST_PORTAL;
        }
        // Unsigned test mail from 127.0.0.1 must get through: sender
        // authentication is off unless the test sets it (tests/sender_auth.rs).
        let mut smtp_seen = false;
        let mut blobs_seen = false;
        for fragment in &self.fragments {
            let mut fragment = if fragment.contains("[smtp]") && !fragment.contains("sender_auth") {
                fragment.replacen("[smtp]", "[smtp]\nsender_auth = \"off\"", 1)
            } else {
                fragment.clone()
            };
            if let Some(keys) = blobs.filter(|_| fragment.contains("[blobs]")) {
                if !fragment.contains("backend") {
                    fragment = fragment.replacen("[blobs]", &format!("[blobs]\n{keys}"), 1);
                }
                blobs_seen = true;
            }
            smtp_seen |= fragment.contains("[smtp]");
            text += &format!("{fragment}\n");
        }
        if !smtp_seen {
            text += "[smtp]\nsender_auth = \"off\"\n";
        }
        if let (false, Some(keys)) = (blobs_seen, blobs) {
            text += &format!("[blobs]\n{keys}\n");
        }
        if !self.jobs.is_empty() {
            text += &format!("[jobs]\n{}\n", self.jobs.join("\n"));
        }
        match &self.portals {
            Portals::Test => text += TEST_PORTAL_TABLES,
            Portals::Own(entries) => text += &entries.join("\n"),
        }
        if !self.fragments.iter().any(|f| f.contains("[rate_limit]")) {
            text += GENEROUS_RATE_LIMITS;
        }
        text
    }
}

/// What every process of one server shares: its configuration, data and
/// database. Replicas and restarts reuse it; it goes with the last of them.
struct Launch {
    data_dir: PathBuf,
    config_path: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
    close_stderr_when_ready: bool,
    /// Dropped after every process that used it was killed.
    database: Option<TestDatabase>,
    /// The S3 keys of `[blobs]`, when blobs are not local.
    blobs_keys: Option<String>,
    _dir: tempfile::TempDir,
}

impl Launch {
    fn serve(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(&self.args)
            .arg("--config")
            .arg(&self.config_path)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// Where each listener is bound, as the server logs it.
enum Listener {
    Smtp(String),
    Http(String),
}

/// One `inlet serve` process and its log lines.
struct Process {
    child: Child,
    listeners: mpsc::Receiver<Listener>,
    logs: Mutex<mpsc::Receiver<String>>,
}

impl Process {
    fn spawn(launch: &Launch) -> Self {
        let mut child = launch
            .serve()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("inlet serve starts");
        let stderr = child.stderr.take().unwrap();
        let (listener_tx, listeners) = mpsc::channel();
        let (log_tx, logs) = mpsc::channel();
        let close_when_ready = launch.close_stderr_when_ready;
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[inlet] {line}");
                let listener = listener_in(&line);
                let _ = log_tx.send(line);
                if let Some(l) = listener {
                    let http = matches!(l, Listener::Http(_));
                    let _ = listener_tx.send(l);
                    if http && close_when_ready {
                        return;
                    }
                }
            }
        });
        Self {
            child,
            listeners,
            logs: Mutex::new(logs),
        }
    }

    /// Waits for the listener lines: `(http, smtp)`. SMTP is logged first;
    /// it may be missing when the test's own configuration disables JSON logs.
    fn wait_until_ready(&mut self) -> (String, String) {
        let mut smtp = String::new();
        loop {
            match self.listeners.recv_timeout(START_TIMEOUT) {
                Ok(Listener::Smtp(addr)) => smtp = addr,
                Ok(Listener::Http(addr)) => return (addr, smtp),
                Err(_) => panic!(
                    "inlet serve did not report its listeners (exit status: {:?})",
                    self.child.try_wait()
                ),
            }
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listener_in(line: &str) -> Option<Listener> {
    let v: Value = serde_json::from_str(line).ok()?;
    let addr = v["addr"].as_str().unwrap_or_default().to_string();
    match v["message"].as_str()? {
        "SMTP listener bound" => Some(Listener::Smtp(addr)),
        "HTTP listener bound" => Some(Listener::Http(addr)),
        _ => None,
    }
}

pub struct TestServer {
    process: Process,
    launch: Arc<Launch>,
    /// `http://host:port` of the HTTP listener.
    pub base: String,
    /// `host:port` of the SMTP listener.
    pub smtp: String,
    /// The key written to `initial-api-key` on first start (org `default`).
    pub admin_key: String,
    pub http: reqwest::Client,
}

impl TestServer {
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::new()
    }

    /// A server with the default test configuration.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    fn ready(launch: Arc<Launch>, mut process: Process) -> Self {
        // reqwest's TLS (enabled for the S3 client) has no provider of its own.
        inlet::blobs::s3::install_tls_provider();
        let (http, smtp) = process.wait_until_ready();
        let admin_key = std::fs::read_to_string(launch.data_dir.join("initial-api-key"))
            .expect("initial key written")
            .trim()
            .to_string();
        Self {
            process,
            launch,
            base: format!("http://{http}"),
            smtp,
            admin_key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// Another process on the same configuration, data dir and database.
    pub fn replica(&self) -> TestServer {
        let process = Process::spawn(&self.launch);
        Self::ready(self.launch.clone(), process)
    }

    /// Another process on the same configuration, database and blob
    /// bucket but a data dir of its own: replicas with no shared volume
    /// (blobs on S3; the configuration must name `secret_key`).
    pub fn replica_with_own_data_dir(&self) -> TestServer {
        assert!(
            self.launch.blobs_keys.is_some(),
            "replicas share blobs only through S3"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let config_path = dir.path().join("inlet.toml");
        let text = std::fs::read_to_string(&self.launch.config_path).unwrap();
        let own = format!("data_dir = {:?}", data_dir.display().to_string());
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("data_dir = ") {
                    own.clone()
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&config_path, text.join("\n")).unwrap();
        let launch = Arc::new(Launch {
            data_dir,
            config_path,
            env: self.launch.env.clone(),
            args: self.launch.args.clone(),
            close_stderr_when_ready: false,
            database: None,
            blobs_keys: self.launch.blobs_keys.clone(),
            _dir: dir,
        });
        let mut process = Process::spawn(&launch);
        let (http, smtp) = process.wait_until_ready();
        TestServer {
            process,
            launch,
            base: format!("http://{http}"),
            smtp,
            admin_key: self.admin_key.clone(),
            http: self.http.clone(),
        }
    }

    /// Starts the server again on the same data (SIGKILLing it first if
    /// it still runs); requests go to the new process from here on.
    pub fn restart(&mut self) {
        self.process.kill();
        let mut process = Process::spawn(&self.launch);
        let (http, smtp) = process.wait_until_ready();
        self.process = process;
        self.base = format!("http://{http}");
        self.smtp = smtp;
    }

    /// SIGKILL: no chance to clean up, as in a crash.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// SIGTERM: the graceful shutdown.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM");
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.process.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// The next log line containing `needle` (earlier ones are passed over), as JSON.
    pub fn wait_for_log(&self, needle: &str) -> Value {
        let logs = self.process.logs.lock().unwrap();
        loop {
            let line = logs
                .recv_timeout(START_TIMEOUT)
                .unwrap_or_else(|_| panic!("no log line with {needle}"));
            if line.contains(needle) {
                return serde_json::from_str(&line).unwrap();
            }
        }
    }

    /// The log lines not read yet, up to a pause of `quiet` in the output.
    pub fn logs_until_quiet(&self, quiet: Duration) -> String {
        let logs = self.process.logs.lock().unwrap();
        let mut seen = String::new();
        while let Ok(line) = logs.recv_timeout(quiet) {
            seen.push_str(&line);
        }
        seen
    }

    pub fn data_dir(&self) -> PathBuf {
        self.launch.data_dir.clone()
    }

    pub fn config_path(&self) -> &Path {
        &self.launch.config_path
    }

    /// The `[blobs]` S3 keys this server runs on; `None`: a local directory.
    pub fn blobs_keys(&self) -> Option<&str> {
        self.launch.blobs_keys.as_deref()
    }

    /// Every stored blob: the files under the blob directory, or the keys
    /// of the bucket's objects.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        if self.launch.blobs_keys.is_none() {
            return super::files_under(&self.data_dir().join("blobs"));
        }
        let config =
            inlet::config::Config::load(Some(&self.launch.config_path), &Default::default())
                .unwrap();
        // Its own runtime on its own thread: callers may be inside one.
        std::thread::spawn(move || {
            let blobs = inlet::blobs::BlobStore::open(&config).unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    use futures_util::TryStreamExt;
                    let listed: Vec<_> = blobs.list("").try_collect().await.unwrap();
                    listed.into_iter().map(|b| PathBuf::from(b.key)).collect()
                })
        })
        .join()
        .unwrap()
    }

    /// The PostgreSQL database this server runs on, if any.
    pub fn database_url(&self) -> Option<&str> {
        self.launch.database.as_ref().map(|d| d.url.as_str())
    }

    /// Runs `inlet <args>` with this server's configuration and environment.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--config")
            .arg(&self.launch.config_path)
            .envs(self.launch.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("inlet runs")
    }

    /// Opens this server's store and blob store in-process, as a second
    /// replica would, for seeding and inspecting.
    pub async fn open_state(&self) -> inlet::service::AppState {
        let config =
            inlet::config::Config::load(Some(&self.launch.config_path), &Default::default())
                .unwrap();
        inlet::open_state(config).await.unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.process.kill();
    }
}
