//! The `sftp` portal kind: SSH with password login, host key verified
//! against the configured `SHA256:` fingerprint, files read over SFTP.

use super::{PortalError, PortalSession, RemoteFile, WalkLimits};
use crate::config::PortalConfig;
use russh::client;
use russh::keys::HashAlg;
use russh_sftp::client::SftpSession as Sftp;
use std::sync::Arc;
use tokio::io::AsyncRead;

pub struct SftpSession {
    sftp: Sftp,
    ssh: client::Handle<HostKeyCheck>,
    root: String,
}

/// Accepts the server only when its key has the configured fingerprint.
pub struct HostKeyCheck {
    expected: Option<String>,
    seen: Arc<std::sync::Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => {
                key.fingerprint(HashAlg::Sha256).to_string()
            }
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                cert.public_key().fingerprint(HashAlg::Sha256).to_string()
            }
        };
        let ok = match &self.expected {
            None => true, // `insecure-accept-any`, said explicitly in the configuration
            Some(expected) => *expected == fingerprint,
        };
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint);
        Ok(ok)
    }
}

impl SftpSession {
    pub async fn connect(
        portal: &PortalConfig,
        user_id: &str,
        password: &str,
    ) -> Result<Self, PortalError> {
        let expected = match portal.host_key.as_deref() {
            Some("insecure-accept-any") => None,
            Some(fp) => Some(fp.to_string()),
            None => {
                return Err(PortalError::Connect(
                    "no host_key is configured for this portal; refusing to connect".into(),
                ))
            }
        };
        let seen = Arc::new(std::sync::Mutex::new(None));
        let handler = HostKeyCheck {
            expected,
            seen: seen.clone(),
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(portal.transfer_timeout()),
            ..Default::default()
        });
        let login = async {
            let mut ssh = client::connect(config, (portal.host.as_str(), portal.port), handler)
                .await
                .map_err(|e| match e {
                    russh::Error::UnknownKey => PortalError::HostKey(
                        seen.lock()
                            .ok()
                            .and_then(|s| s.clone())
                            .unwrap_or_else(|| "(unknown)".into()),
                    ),
                    russh::Error::IO(io) => PortalError::Connect(io.to_string()),
                    other => PortalError::Connect(other.to_string()),
                })?;
            let auth = ssh
                .authenticate_password(user_id, password)
                .await
                .map_err(|e| PortalError::Protocol(e.to_string()))?;
            if !auth.success() {
                return Err(PortalError::Login);
            }
            let channel = ssh
                .channel_open_session()
                .await
                .map_err(|e| PortalError::Protocol(e.to_string()))?;
            channel
                .request_subsystem(true, "sftp")
                .await
                .map_err(|e| PortalError::Protocol(e.to_string()))?;
            let sftp = Sftp::new(channel.into_stream())
                .await
                .map_err(|e| PortalError::Protocol(e.to_string()))?;
            Ok::<_, PortalError>((ssh, sftp))
        };
        let (ssh, sftp) = tokio::time::timeout(portal.connect_timeout(), login)
            .await
            .map_err(|_| PortalError::Timeout("connecting and logging in"))??;
        Ok(Self {
            sftp,
            ssh,
            root: portal.root.trim_end_matches('/').to_string(),
        })
    }
}

fn sftp_error(path: &str, e: russh_sftp::client::error::Error) -> PortalError {
    let text = e.to_string();
    if text.to_ascii_lowercase().contains("no such file") {
        PortalError::Vanished(path.to_string())
    } else {
        PortalError::Protocol(format!("{path}: {text}"))
    }
}

#[async_trait::async_trait]
impl PortalSession for SftpSession {
    async fn list(&mut self, limits: WalkLimits) -> Result<Vec<RemoteFile>, PortalError> {
        let mut files = Vec::new();
        let mut dirs = vec![(
            if self.root.is_empty() {
                "/".to_string()
            } else {
                self.root.clone()
            },
            0usize,
        )];
        let mut seen = 0usize;
        while let Some((dir, depth)) = dirs.pop() {
            let entries = self
                .sftp
                .read_dir(dir.clone())
                .await
                .map_err(|e| sftp_error(&dir, e))?;
            for entry in entries {
                seen += 1;
                if seen > limits.max_entries {
                    return Err(PortalError::Protocol(format!(
                        "more than {} entries under {}; raise the limit or narrow the root",
                        limits.max_entries, self.root
                    )));
                }
                let name = entry.file_name();
                if name == "." || name == ".." {
                    continue;
                }
                let path = format!("{}/{name}", dir.trim_end_matches('/'));
                let meta = entry.metadata();
                if meta.is_dir() {
                    if depth + 1 < limits.max_depth {
                        dirs.push((path, depth + 1));
                    }
                } else if meta.is_regular() {
                    files.push(RemoteFile {
                        path,
                        size: meta.size.unwrap_or(0),
                        modified: i64::from(meta.mtime.unwrap_or(0)),
                    });
                }
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    async fn open(&mut self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, PortalError> {
        let file = self
            .sftp
            .open(path)
            .await
            .map_err(|e| sftp_error(path, e))?;
        Ok(Box::new(file))
    }

    async fn ping(&mut self) -> Result<(), PortalError> {
        let root = if self.root.is_empty() {
            "/"
        } else {
            &self.root
        };
        self.sftp
            .metadata(root)
            .await
            .map(|_| ())
            .map_err(|e| sftp_error(root, e))
    }

    async fn close(self: Box<Self>) {
        let _ = self.sftp.close().await;
        let _ = self
            .ssh
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }
}
