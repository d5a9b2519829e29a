//! The authenticated caller and the visibility rules of contract §1.

use super::Connector;

/// Who is calling: resolved from an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub org_id: String,
    pub key_id: String,
}

impl Principal {
    /// A connector is visible to its owner, and to its org when shared.
    pub fn can_see(&self, connector: &Connector) -> bool {
        self.owns(connector) || (connector.share_with_org && connector.org_id == self.org_id)
    }

    /// Only the owner may update, delete or sync a connector.
    pub fn owns(&self, connector: &Connector) -> bool {
        connector.user_id == self.user_id
    }
}
