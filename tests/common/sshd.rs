//! A real OpenSSH SFTP server for the sync tests: `/usr/sbin/sshd -D` with
//! its own configuration, host key and free port on 127.0.0.1, a test
//! account with a password, and a tree of files with chosen times.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

pub const USER: &str = "inletsync";
pub const PASSWORD: &str = "Portal-Pass-7351";

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    pub dir: tempfile::TempDir,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test account, created on first use (the tests run as root).
fn ensure_account() {
    if Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success()
    {
        return;
    }
    let _ = Command::new("useradd")
        .args(["--no-create-home", "--shell", "/usr/sbin/nologin", USER])
        .output();
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        chpasswd.stdin.as_mut().unwrap(),
        format!("{USER}:{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    assert!(chpasswd.wait().unwrap().success());
}

impl Sshd {
    pub fn start() -> Self {
        assert!(
            Path::new("/usr/sbin/sshd").exists(),
            "openssh-server is not installed (.ci/run installs it)"
        );
        ensure_account();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("host_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key));
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(key.with_extension("pub"))
            .output()
            .unwrap();
        let fingerprint = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string();
        let root = dir.path().join("research");
        std::fs::create_dir_all(&root).unwrap();
        // The account must be able to walk down to the tree.
        let mut p = root.clone();
        loop {
            let _ =
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
            if !p.pop() || p == Path::new("/") || p == Path::new("/tmp") {
                break;
            }
        }
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nPasswordAuthentication yes\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication no\nUsePAM no\nPermitRootLogin no\n\
                 AllowUsers {USER}\nStrictModes no\nSubsystem sftp internal-sftp\nForceCommand internal-sftp\n\
                 MaxStartups 50\nLogLevel ERROR\n",
                key.display(),
                dir.path().join("sshd.pid").display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "sshd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sshd {
            child,
            port,
            root,
            fingerprint,
            dir,
        }
    }

    /// Writes a file under the root with a given modification time.
    pub fn file(&self, relative: &str, contents: &[u8], modified: SystemTime) -> PathBuf {
        let path = self.root.join(relative);
        let parent = path.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        let _ =
            std::fs::set_permissions(parent, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        std::fs::write(&path, contents).unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(modified).unwrap();
        let _ =
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644));
        path
    }

    /// The `[[portals]]` entry for this server.
    pub fn portal(&self, name: &str, host_key: &str) -> String {
        format!(
            "[[portals]]\nname = \"{name}\"\nkind = \"sftp\"\nbroker = \"ACME Securities\"\nhost = \"127.0.0.1\"\n\
             port = {}\nroot = \"{}\"\nhost_key = \"{host_key}\"\nconnect_timeout = \"10s\"\ntransfer_timeout = \"10s\"\n",
            self.port,
            self.root.display()
        )
    }

    /// SIGSTOP to the server and every session process: connections stay
    /// open and nothing answers (a portal that hangs).
    pub fn freeze(&self) {
        self.signal_all("-STOP");
    }

    pub fn thaw(&self) {
        self.signal_all("-CONT");
    }

    fn signal_all(&self, signal: &str) {
        let mut pids = vec![self.child.id()];
        let mut i = 0;
        while i < pids.len() {
            let out = Command::new("pgrep")
                .args(["-P", &pids[i].to_string()])
                .output()
                .unwrap();
            pids.extend(
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
            i += 1;
        }
        for pid in pids {
            let _ = Command::new("kill")
                .args([signal, &pid.to_string()])
                .status();
        }
    }

    pub fn stop(&mut self) {
        self.thaw(); // no session process is left stopped behind
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A date-time as the SFTP server will report it (whole seconds).
pub fn at(rfc3339: &str) -> SystemTime {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp() as u64)
}
