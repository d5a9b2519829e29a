//! Documents and tags: identifiers, states and the rules for client values.

use super::{Timestamp, ValidationError};
use uuid::Uuid;

pub const MAX_FILE_NAME_CHARS: usize = 1024;
pub const MAX_TAG_NAME_CHARS: usize = 256;
pub const MAX_TAGS_PER_REQUEST: usize = 100;

/// 32 uppercase hex characters (a UUIDv7 without hyphens, so ids sort by
/// creation time and index well).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocumentId(String);

impl DocumentId {
    pub fn new() -> Self {
        Self(Uuid::now_v7().simple().to_string().to_ascii_uppercase())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
        .then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for DocumentId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for DocumentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for DocumentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Only valid ids decode, so a stored value is checked as a client's is.
impl<'de> serde::Deserialize<'de> for DocumentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{raw:?} is not a document id (32 uppercase hex characters)"
            ))
        })
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

string_enum!(
    /// `pending` (awaiting its bytes), `processing`, `completed` or `failed`.
    DocumentStatus {
        Pending = "pending",
        Processing = "processing",
        Completed = "completed",
        Failed = "failed",
    }
);

string_enum!(
    /// How a document came in.
    RequestOrigin {
        Email = "email",
        InvestmentResearch = "investment_research",
        FileUpload = "file_upload",
    }
);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub id: Uuid,
    pub user_id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: DocumentId,
    pub user_id: String,
    pub org_id: String,
    pub connector_id: Option<Uuid>,
    pub rp_collection_id: Option<String>,
    pub file_name: String,
    pub raw_size: Option<i64>,
    pub content_type: Option<String>,
    pub request_origin: RequestOrigin,
    pub status: DocumentStatus,
    pub error_code: Option<String>,
    pub share_with_org: bool,
    pub published_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Origin-specific facts (`subject`, `from`, … or `broker`, `remote_path`).
    pub file_metadata: serde_json::Map<String, serde_json::Value>,
    pub sha256: Option<String>,
    /// Where the bytes are, once stored; never derived from `file_name`.
    pub blob_key: Option<String>,
    pub tags: Vec<Tag>,
}

/// A display name only: trimmed, non-empty, no control characters, bounded.
pub fn parse_file_name(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ValidationError::new("file_name", "must not be empty"));
    }
    // Counted as sent, like `Label::parse`.
    if raw.chars().count() > MAX_FILE_NAME_CHARS {
        return Err(ValidationError::new(
            "file_name",
            format!("must be at most {MAX_FILE_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "file_name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// Why a document failed, as clients see it in `error_code`.
pub mod error_code {
    /// The file has no bytes.
    pub const EMPTY_FILE: &str = "EMPTY_FILE";
    /// The bytes were lost before they were processed.
    pub const BLOB_MISSING: &str = "BLOB_MISSING";
    /// The upload URL expired before any bytes came.
    pub const UPLOAD_EXPIRED: &str = "UPLOAD_EXPIRED";
}

/// The empty-file rule: a file with bytes is `completed`, an empty one
/// `failed` with `EMPTY_FILE`, whichever way it came in.
pub fn status_for_size(size: u64) -> (DocumentStatus, Option<&'static str>) {
    if size == 0 {
        (DocumentStatus::Failed, Some(error_code::EMPTY_FILE))
    } else {
        (DocumentStatus::Completed, None)
    }
}

/// The display name of a stored e-mail: its subject, made safe, as `.eml`.
pub fn eml_file_name(subject: Option<&str>) -> String {
    let clean: String = subject
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_control() || c == '/' || c == '\\' {
                ' '
            } else {
                c
            }
        })
        .take(200)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        "message.eml".into()
    } else {
        format!("{clean}.eml")
    }
}

/// The display name of a message's attachment: the name it was sent with,
/// without control characters and bounded, else its position (from 0).
pub fn attachment_file_name(sent: Option<&str>, index: usize) -> String {
    sent.map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().filter(|c| !c.is_control()).take(255).collect())
        .unwrap_or_else(|| format!("attachment-{}", index + 1))
}

/// The display name of a portal file: the last part of its path.
pub fn remote_file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// Tag names: trimmed, non-empty, bounded, no control characters.
pub fn parse_tag_name(raw: &str, field: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if raw.chars().count() > MAX_TAG_NAME_CHARS {
        return Err(ValidationError::new(
            field,
            format!("must be at most {MAX_TAG_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// A list of tag names, deduplicated, in order.
pub fn parse_tag_names(raw: &[String]) -> Result<Vec<String>, ValidationError> {
    if raw.len() > MAX_TAGS_PER_REQUEST {
        return Err(ValidationError::new(
            "tags",
            format!("must hold at most {MAX_TAGS_PER_REQUEST} tags"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, name) in raw.iter().enumerate() {
        let name = parse_tag_name(name, &format!("tags[{i}]"))?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// Names of the tags ingestion adds by itself.
pub mod auto_tag {
    pub fn from(address: &str) -> String {
        format!("from:{}", address.to_ascii_lowercase())
    }
    pub fn to(address: &str) -> String {
        format!("to:{}", address.to_ascii_lowercase())
    }
    pub fn broker(name: &str) -> String {
        format!("broker:{name}")
    }
    pub fn label(label: &str) -> String {
        format!("label:{label}")
    }
}

/// A completed upload of user `u` in org `o`, for store-level tests.
#[cfg(test)]
pub fn document_fixture(at: Timestamp) -> Document {
    Document {
        id: DocumentId::new(),
        user_id: "u".into(),
        org_id: "o".into(),
        connector_id: None,
        rp_collection_id: None,
        file_name: "f".into(),
        raw_size: None,
        content_type: None,
        request_origin: RequestOrigin::FileUpload,
        status: DocumentStatus::Completed,
        error_code: None,
        share_with_org: false,
        published_at: None,
        created_at: at,
        updated_at: at,
        file_metadata: Default::default(),
        sha256: None,
        blob_key: None,
        tags: vec![],
    }
}

/// `attachment` with an ASCII fallback and the exact UTF-8 name (RFC 6266).
pub fn content_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '/') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in file_name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_ids_are_32_uppercase_hex() {
        let id = DocumentId::new();
        assert_eq!(id.as_str().len(), 32);
        assert!(DocumentId::parse(id.as_str()).is_some());
        assert!(DocumentId::parse(&id.as_str().to_ascii_lowercase()).is_none());
        assert!(DocumentId::parse("ABC").is_none());
        assert!(DocumentId::parse(&"G".repeat(32)).is_none());
        assert!(DocumentId::new() > id, "ids sort by creation");
    }

    #[test]
    fn file_names_are_display_names() {
        assert_eq!(parse_file_name("  report.pdf ").unwrap(), "report.pdf");
        assert_eq!(
            parse_file_name("../../etc/passwd").unwrap(),
            "../../etc/passwd"
        );
        assert!(parse_file_name("").is_err());
        assert!(parse_file_name("a\nb").is_err());
        assert!(parse_file_name(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn tag_names_are_trimmed_and_deduplicated() {
        let names = vec![" a ".to_string(), "b".into(), "a".into()];
        assert_eq!(parse_tag_names(&names).unwrap(), vec!["a", "b"]);
        let err = parse_tag_names(&["ok".into(), " ".into()]).unwrap_err();
        assert_eq!(err.field, "tags[1]");
        assert_eq!(auto_tag::from("Desk@Broker.COM"), "from:desk@broker.com");
    }

    #[test]
    fn empty_files_fail_and_others_complete() {
        assert_eq!(
            status_for_size(0),
            (DocumentStatus::Failed, Some("EMPTY_FILE"))
        );
        assert_eq!(status_for_size(1), (DocumentStatus::Completed, None));
    }

    #[test]
    fn ingested_files_get_safe_display_names() {
        assert_eq!(eml_file_name(Some("Q3 / Q4\tnotes")), "Q3   Q4 notes.eml");
        assert_eq!(eml_file_name(Some("  ")), "message.eml");
        assert_eq!(eml_file_name(None), "message.eml");
        assert_eq!(eml_file_name(Some(&"x".repeat(300))).len(), 204);
        assert_eq!(attachment_file_name(Some(" a\u{7}b.pdf "), 0), "ab.pdf");
        assert_eq!(attachment_file_name(Some(" "), 2), "attachment-3");
        assert_eq!(attachment_file_name(None, 0), "attachment-1");
        assert_eq!(remote_file_name("/out/2024/r.pdf"), "r.pdf");
        assert_eq!(remote_file_name("r.pdf"), "r.pdf");
    }

    #[test]
    fn document_ids_decode_only_when_valid() {
        let id = DocumentId::new();
        let json = serde_json::to_value(&id).unwrap();
        assert_eq!(json, serde_json::json!(id.as_str()));
        assert_eq!(serde_json::from_value::<DocumentId>(json).unwrap(), id);
        let err = serde_json::from_value::<DocumentId>(serde_json::json!("abc")).unwrap_err();
        assert!(err.to_string().contains("not a document id"), "{err}");
    }

    #[test]
    fn content_disposition_carries_the_name_safely() {
        assert_eq!(
            content_disposition("Q3 report.pdf"),
            "attachment; filename=\"Q3 report.pdf\"; filename*=UTF-8''Q3%20report.pdf"
        );
        assert_eq!(
            content_disposition("résumé\"x\".pdf"),
            "attachment; filename=\"r_sum__x_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%22x%22.pdf"
        );
        // No path a client could write to, no header injection.
        assert_eq!(
            content_disposition("../etc/pass\\wd\r\n.pdf"),
            "attachment; filename=\".._etc_pass_wd__.pdf\"; \
             filename*=UTF-8''..%2Fetc%2Fpass%5Cwd%0D%0A.pdf"
        );
    }
}
