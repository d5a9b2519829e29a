//! Connectors: what they are, which states they move through, and the rules
//! for the values a client may set.

use super::{email_address, Timestamp, ValidationError};
use std::collections::HashSet;
use uuid::Uuid;

pub const MAX_LABEL_CHARS: usize = 256;
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
pub const MAX_ALLOWED_EMAILS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorKind {
    Email,
    InvestmentResearch,
}

impl ConnectorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::InvestmentResearch => "investment_research",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "investment_research" => Some(Self::InvestmentResearch),
            _ => None,
        }
    }
}

/// `active` ingests; `paused` ingests nothing for now (its inbox answers
/// 451 so senders retry; no sync starts) and resumes at will; `archived`
/// (soft delete) keeps its documents and ingests nothing; `deleting` is a
/// hard delete under way, ended by the purge.
///
/// Moves: active ⇄ paused (pause, resume); active or paused → archived
/// (soft delete); any → deleting (hard delete). Nothing leaves archived
/// except to deleting, and nothing leaves deleting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectorState {
    Active,
    Paused,
    Archived,
    Deleting,
}

impl ConnectorState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Archived => "archived",
            Self::Deleting => "deleting",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            "archived" => Some(Self::Archived),
            "deleting" => Some(Self::Deleting),
            _ => None,
        }
    }
}

/// A display name: non-empty after trimming, at most 256 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new("label", "must not be empty"));
        }
        // Counted as sent, so a bound on the raw string (the OpenAPI
        // `maxLength`) says exactly what is accepted.
        if raw.chars().count() > MAX_LABEL_CHARS {
            return Err(ValidationError::new(
                "label",
                format!("must be at most {MAX_LABEL_CHARS} characters"),
            ));
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text, `""` when none was given, at most 4,096 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: Option<&str>) -> Result<Self, ValidationError> {
        let text = raw.unwrap_or_default();
        if text.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ValidationError::new(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        Ok(Self(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Validates sender addresses and folds duplicates case-insensitively,
/// keeping the first spelling and the client's order. The first problem.
pub fn parse_allowed_emails(raw: &[String]) -> Result<Vec<String>, ValidationError> {
    check_allowed_emails(raw).map_err(|mut all| all.swap_remove(0))
}

/// [`parse_allowed_emails`] reporting every problem (never an empty list).
pub fn check_allowed_emails(raw: &[String]) -> Result<Vec<String>, Vec<ValidationError>> {
    check_allowed_entries(raw.len(), raw.iter().map(String::as_str).enumerate())
}

/// [`check_allowed_emails`] of the entries of a list of `count` items that
/// are strings, each with its position in the list.
pub fn check_allowed_entries<'a>(
    count: usize,
    entries: impl Iterator<Item = (usize, &'a str)>,
) -> Result<Vec<String>, Vec<ValidationError>> {
    const FIELD: &str = "config.allowed_emails";
    let mut problems = Vec::new();
    if count > MAX_ALLOWED_EMAILS {
        problems.push(ValidationError::new(
            FIELD,
            format!("must hold at most {MAX_ALLOWED_EMAILS} addresses"),
        ));
    }
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    for (i, entry) in entries {
        match email_address::parse(entry) {
            Ok(addr) => {
                if seen.insert(addr.to_ascii_lowercase()) {
                    out.push(addr);
                }
            }
            Err(why) => problems.push(ValidationError::new(
                format!("{FIELD}[{i}]"),
                format!("{entry:?} {why}"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The allowed-sender rule: one of `senders` is on the list, addresses
/// compared case-insensitively.
pub fn allows_sender(allowed_emails: &[String], senders: &[&str]) -> bool {
    senders
        .iter()
        .any(|s| allowed_emails.iter().any(|a| a.eq_ignore_ascii_case(s)))
}

/// Login of an `investment_research` connector: both parts required.
/// Every problem; a message never holds the password.
pub fn check_research_login(
    user_id: &str,
    password: &str,
) -> Result<(String, String), Vec<ValidationError>> {
    let mut problems = Vec::new();
    if user_id.trim().is_empty() {
        problems.push(ValidationError::new("config.user_id", "must not be empty"));
    }
    if password.is_empty() {
        problems.push(ValidationError::new(
            "config.user_password",
            "must not be empty",
        ));
    }
    if problems.is_empty() {
        Ok((user_id.trim().to_string(), password.to_string()))
    } else {
        Err(problems)
    }
}

/// A fresh inbox id: 12 random lowercase hex characters.
pub fn new_email_hash() -> String {
    let bytes: [u8; 6] = rand::random();
    hex::encode(bytes)
}

/// A secret sealed by the server key; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorConfig {
    Email {
        allowed_emails: Vec<String>,
        email_hash: String,
    },
    InvestmentResearch {
        user_id: String,
        portal: String,
        password: Sealed,
    },
}

impl ConnectorConfig {
    pub fn kind(&self) -> ConnectorKind {
        match self {
            Self::Email { .. } => ConnectorKind::Email,
            Self::InvestmentResearch { .. } => ConnectorKind::InvestmentResearch,
        }
    }

    /// The inbox's local part, for email connectors.
    pub fn email_hash(&self) -> Option<&str> {
        match self {
            Self::Email { email_hash, .. } => Some(email_hash),
            Self::InvestmentResearch { .. } => None,
        }
    }
}

/// Outcome of the most recent portal sync (`None` until a first sync).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSync {
    pub at: Timestamp,
    pub status: String,
    pub error_msg: Option<String>,
    pub count: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub id: Uuid,
    pub user_id: String,
    pub org_id: String,
    pub share_with_org: bool,
    pub label: Label,
    pub description: Description,
    pub config: ConnectorConfig,
    pub state: ConnectorState,
    pub files_count: i64,
    pub last_sync: Option<LastSync>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Connector {
    pub fn kind(&self) -> ConnectorKind {
        self.config.kind()
    }

    /// Whether mail from one of `senders` may be stored; never for a
    /// connector that receives no mail.
    pub fn allows_sender(&self, senders: &[&str]) -> bool {
        match &self.config {
            ConnectorConfig::Email { allowed_emails, .. } => allows_sender(allowed_emails, senders),
            ConnectorConfig::InvestmentResearch { .. } => false,
        }
    }

    /// `true` once soft- or hard-deleted (a paused connector is not).
    pub fn archived(&self) -> bool {
        matches!(
            self.state,
            ConnectorState::Archived | ConnectorState::Deleting
        )
    }
}

/// A research connector of user `u` in org `o`, for store-level tests.
#[cfg(test)]
pub fn research_fixture(at: Timestamp) -> Connector {
    Connector {
        id: Uuid::now_v7(),
        user_id: "u".into(),
        org_id: "o".into(),
        share_with_org: false,
        label: Label::parse("research").unwrap(),
        description: Description::default(),
        config: ConnectorConfig::InvestmentResearch {
            user_id: "x".into(),
            portal: "p".into(),
            password: Sealed(vec![1]),
        },
        state: ConnectorState::Active,
        files_count: 0,
        last_sync: None,
        created_at: at,
        updated_at: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_trimmed_and_bounded() {
        assert_eq!(Label::parse("  Daily  ").unwrap().as_str(), "Daily");
        assert_eq!(Label::parse("   ").unwrap_err().field, "label");
        assert!(Label::parse(&"é".repeat(256)).is_ok());
        assert!(Label::parse(&"é".repeat(257)).is_err());
    }

    #[test]
    fn description_defaults_to_empty_and_is_bounded() {
        assert_eq!(Description::parse(None).unwrap().as_str(), "");
        assert!(Description::parse(Some(&"x".repeat(4096))).is_ok());
        let err = Description::parse(Some(&"x".repeat(4097))).unwrap_err();
        assert_eq!(err.field, "description");
    }

    #[test]
    fn allowed_emails_fold_duplicates_case_insensitively() {
        let raw = vec![
            "A@Example.com".to_string(),
            "b@example.com".to_string(),
            "a@example.COM".to_string(),
        ];
        assert_eq!(
            parse_allowed_emails(&raw).unwrap(),
            vec!["A@Example.com", "b@example.com"]
        );
        assert!(parse_allowed_emails(&[]).unwrap().is_empty());
    }

    #[test]
    fn allowed_emails_name_the_bad_entry() {
        let raw = vec!["ok@example.com".to_string(), "nope".to_string()];
        let err = parse_allowed_emails(&raw).unwrap_err();
        assert_eq!(err.field, "config.allowed_emails[1]");
        let many: Vec<String> = (0..1001).map(|i| format!("u{i}@example.com")).collect();
        assert!(parse_allowed_emails(&many).is_err());
    }

    #[test]
    fn every_bad_address_is_reported() {
        let raw: Vec<String> = ["a@x.example", "nope", "b@x.example", "also bad"]
            .map(String::from)
            .to_vec();
        let fields: Vec<String> = check_allowed_emails(&raw)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["config.allowed_emails[1]", "config.allowed_emails[3]"]
        );
        let login = check_research_login(" ", "").unwrap_err();
        assert_eq!(login.len(), 2);
    }

    #[test]
    fn senders_are_allowed_case_insensitively() {
        let allowed = vec!["Desk@Broker.example".to_string()];
        assert!(allows_sender(&allowed, &["desk@broker.EXAMPLE"]));
        assert!(allows_sender(
            &allowed,
            &["spoof@x.example", "DESK@broker.example"]
        ));
        assert!(!allows_sender(&allowed, &["other@broker.example"]));
        assert!(!allows_sender(&allowed, &[]));
        assert!(!allows_sender(&[], &["desk@broker.example"]));
    }

    #[test]
    fn email_hash_is_twelve_lowercase_hex() {
        let h = new_email_hash();
        assert_eq!(h.len(), 12);
        assert!(h
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }
}
