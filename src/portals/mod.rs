//! Research portals: where `investment_research` connectors log in to
//! fetch research. Each kind sits behind [`PortalSession`], so the sync
//! engine does not know how files are listed or read.

mod sftp;

use crate::config::{PortalConfig, PortalKind};
use tokio::io::AsyncRead;

/// A file found on a portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub path: String,
    pub size: u64,
    /// Modification time, Unix seconds.
    pub modified: i64,
}

/// What can go wrong talking to a portal. Messages name the cause and hold
/// no secret.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("cannot connect to the portal: {0}")]
    Connect(String),
    #[error("the portal's host key {0} does not match the configured fingerprint")]
    HostKey(String),
    #[error("the portal refused the login (wrong user id or password)")]
    Login,
    #[error("the portal did not answer in time ({0})")]
    Timeout(&'static str),
    #[error("portal error: {0}")]
    Protocol(String),
    #[error("{0} vanished from the portal during the sync")]
    Vanished(String),
}

/// Bounds on a walk of the portal's tree.
#[derive(Debug, Clone, Copy)]
pub struct WalkLimits {
    pub max_depth: usize,
    pub max_entries: usize,
}

impl Default for WalkLimits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_entries: 100_000,
        }
    }
}

#[async_trait::async_trait]
pub trait PortalSession: Send {
    /// Every regular file under the configured root.
    async fn list(&mut self, limits: WalkLimits) -> Result<Vec<RemoteFile>, PortalError>;
    /// A file's bytes, streamed.
    async fn open(&mut self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, PortalError>;
    /// A cheap request that shows the session still answers.
    async fn ping(&mut self) -> Result<(), PortalError>;
    async fn close(self: Box<Self>);
}

impl PortalError {
    /// The session or the portal is gone (rather than one file being
    /// unreadable): retrying file by file cannot help, the sync ends.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Connect(_) | Self::HostKey(_) | Self::Login | Self::Timeout(_)
        )
    }
}

/// Logs in to `portal` with a user's credentials.
pub async fn connect(
    portal: &PortalConfig,
    user_id: &str,
    password: &str,
) -> Result<Box<dyn PortalSession>, PortalError> {
    match portal.kind {
        PortalKind::Sftp => Ok(Box::new(
            sftp::SftpSession::connect(portal, user_id, password).await?,
        )),
    }
}
