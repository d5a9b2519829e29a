//! The authenticated caller and the visibility rules of contract §1.

use super::{Connector, Document};

/// Who is calling: resolved from an API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub org_id: String,
    pub key_id: String,
}

/// Something a user owns and may share with their org.
pub trait Shareable {
    fn owner_id(&self) -> &str;
    fn owner_org_id(&self) -> &str;
    fn shared_with_org(&self) -> bool;
}

impl Principal {
    /// Visible to its owner, and to the owner's org when shared.
    pub fn can_see(&self, item: &impl Shareable) -> bool {
        self.owns(item) || (item.shared_with_org() && item.owner_org_id() == self.org_id)
    }

    /// Only the owner may change, delete or sync it.
    pub fn owns(&self, item: &impl Shareable) -> bool {
        item.owner_id() == self.user_id
    }
}

impl Shareable for Connector {
    fn owner_id(&self) -> &str {
        &self.user_id
    }
    fn owner_org_id(&self) -> &str {
        &self.org_id
    }
    fn shared_with_org(&self) -> bool {
        self.share_with_org
    }
}

impl Shareable for Document {
    fn owner_id(&self) -> &str {
        &self.user_id
    }
    fn owner_org_id(&self) -> &str {
        &self.org_id
    }
    fn shared_with_org(&self) -> bool {
        self.share_with_org
    }
}
