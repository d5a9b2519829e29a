//! Text extraction: one small interface, one module per format, and a
//! registry by detected content type. Extractors are plain synchronous
//! functions over bytes; `isolate` runs them off the async runtime, in a
//! child process with a memory and CPU bound (or a thread in tests), under
//! a timeout, so a hostile file can cost a failed extraction and nothing
//! more.

mod email;
mod html;
pub mod isolate;
mod ooxml;
mod pdf;
mod text;
mod xlsx;

use serde::{Deserialize, Serialize};

/// What a block of the body is (contract §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Title,
    Heading,
    Paragraph,
    ListItem,
    Table,
    Header,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    #[serde(rename = "type")]
    pub kind: BlockKind,
    pub text: String,
    pub page: Option<u32>,
}

impl Block {
    pub fn new(kind: BlockKind, text: impl Into<String>, page: Option<u32>) -> Self {
        Self {
            kind,
            text: text.into(),
            page,
        }
    }
}

/// A document's content as its extractor found it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    pub title: Option<String>,
    pub language: Option<String>,
    pub body: Vec<Block>,
    /// Pages, for formats that have them.
    pub pages: Option<u32>,
}

/// A language tag as a document declares it (an HTML `lang`, an e-mail's
/// `Content-Language`), when it has the shape of one (BCP 47: alphanumeric
/// subtags joined by `-`), in its usual spelling (`en-GB`, `zh-Hant-TW`).
pub fn language_tag(declared: &str) -> Option<String> {
    let tag = declared.trim();
    let ok = (2..=35).contains(&tag.len())
        && tag.as_bytes()[0].is_ascii_alphabetic()
        && tag.split('-').all(|sub| {
            (1..=8).contains(&sub.len()) && sub.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    ok.then(|| spelled(tag))
}

/// A language tag spelled as BCP 47 recommends: the language in lower
/// case, a script in title case, a region in upper case; what follows a
/// singleton (`x-…`) as it is.
fn spelled(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    let mut private = false;
    for (i, sub) in tag.split('-').enumerate() {
        if i > 0 {
            out.push('-');
        }
        private |= i > 0 && sub.len() == 1;
        match sub.len() {
            _ if i == 0 => out.push_str(&sub.to_ascii_lowercase()),
            _ if private => out.push_str(sub),
            2 => out.push_str(&sub.to_ascii_uppercase()),
            4 => {
                out.push_str(&sub[..1].to_ascii_uppercase());
                out.push_str(&sub[1..].to_ascii_lowercase());
            }
            _ => out.push_str(&sub.to_ascii_lowercase()),
        }
    }
    out
}

impl Extracted {
    /// The plain text: blocks separated by blank lines.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for b in &self.body {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&b.text);
        }
        out
    }

    /// Cuts the body so its text holds at most `max` bytes; whether it cut.
    pub fn truncate(&mut self, max: usize) -> bool {
        let mut used = 0usize;
        for (i, b) in self.body.iter_mut().enumerate() {
            let sep = if i == 0 { 0 } else { 2 };
            if used + sep + b.text.len() > max {
                let room = max.saturating_sub(used + sep);
                let mut cut = room.min(b.text.len());
                while !b.text.is_char_boundary(cut) {
                    cut -= 1;
                }
                b.text.truncate(cut);
                let keep = if cut == 0 { i } else { i + 1 };
                self.body.truncate(keep);
                return true;
            }
            used += sep + b.text.len();
        }
        false
    }
}

/// Why an extractor gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    /// Corrupt, encrypted or otherwise unreadable.
    #[error("{0}")]
    Failed(String),
    /// Over one of the limits (decompressed size, entries, …).
    #[error("{0}")]
    TooLarge(String),
}

impl ExtractError {
    pub fn failed(e: impl std::fmt::Display) -> Self {
        Self::Failed(e.to_string())
    }
}

/// Bounds every extractor keeps to, whatever the file claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Text kept; more is cut (`truncated`).
    pub max_text_bytes: usize,
    /// Bytes inflated from an archive (OOXML), in all.
    pub max_unpacked_bytes: u64,
    /// Entries an archive may have.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_text_bytes: 10 * 1024 * 1024,
            max_unpacked_bytes: 256 * 1024 * 1024,
            max_entries: 10_000,
        }
    }
}

/// One format's extractor.
pub trait Extractor: Sync {
    /// Its name in `profiling.extractor`.
    fn name(&self) -> &'static str;
    /// Its version in `profiling.version`; a change is what `--force`
    /// reprocessing is for.
    fn version(&self) -> &'static str;
    fn extract(&self, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError>;
}

static PDF: pdf::Pdf = pdf::Pdf;
static HTML: html::Html = html::Html;
static TEXT: text::Text = text::Text(text::Flavour::Plain);
static MARKDOWN: text::Text = text::Text(text::Flavour::Markdown);
static CSV: text::Text = text::Text(text::Flavour::Csv);
static EMAIL: email::Email = email::Email;
static DOCX: ooxml::Docx = ooxml::Docx;
static PPTX: ooxml::Pptx = ooxml::Pptx;
static XLSX: xlsx::Xlsx = xlsx::Xlsx;

const OOXML: &str = "application/vnd.openxmlformats-officedocument.";

/// The extractor for a detected content type; `None`: stored without text.
pub fn for_content_type(content_type: &str) -> Option<&'static dyn Extractor> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let found: &'static dyn Extractor = match ct.as_str() {
        "application/pdf" => &PDF,
        "text/html" | "application/xhtml+xml" => &HTML,
        "message/rfc822" => &EMAIL,
        "text/csv" | "application/csv" => &CSV,
        "text/markdown" | "text/x-markdown" => &MARKDOWN,
        "application/json" | "application/x-ndjson" => &TEXT,
        _ if ct.starts_with("text/") => &TEXT,
        _ => match ct.strip_prefix(OOXML) {
            Some("wordprocessingml.document") => &DOCX,
            Some("presentationml.presentation") => &PPTX,
            Some("spreadsheetml.sheet") => &XLSX,
            _ => return None,
        },
    };
    Some(found)
}

/// Splits text into paragraphs at blank lines, joining wrapped lines.
pub(crate) fn paragraphs(text: &str, page: Option<u32>) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current = String::new();
    let flush = |current: &mut String, out: &mut Vec<Block>| {
        let t = current.trim();
        if !t.is_empty() {
            out.push(Block::new(BlockKind::Paragraph, t, page));
        }
        current.clear();
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            flush(&mut current, &mut out);
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(line);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// Each block's kind and text: what extractor tests compare.
#[cfg(test)]
pub(crate) fn kinds(body: &[Block]) -> Vec<(BlockKind, &str)> {
    body.iter().map(|b| (b.kind, b.text.as_str())).collect()
}

/// Each block's kind, text and page.
#[cfg(test)]
pub(crate) fn kinds_on_pages(body: &[Block]) -> Vec<(BlockKind, &str, Option<u32>)> {
    body.iter()
        .map(|b| (b.kind, b.text.as_str(), b.page))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_picks_by_content_type() {
        let name = |ct| for_content_type(ct).map(|e| e.name());
        assert_eq!(name("application/pdf"), Some("pdf"));
        assert_eq!(name("text/html; charset=utf-8"), Some("html"));
        assert_eq!(name("text/csv"), Some("text"));
        assert_eq!(name("text/markdown"), Some("text"));
        assert_eq!(name("application/json"), Some("text"));
        assert_eq!(name("message/rfc822"), Some("email"));
        assert_eq!(
            name("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            Some("docx")
        );
        assert_eq!(
            name("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            Some("xlsx")
        );
        assert_eq!(
            name("application/vnd.openxmlformats-officedocument.presentationml.presentation"),
            Some("pptx")
        );
        assert_eq!(name("image/png"), None);
        assert_eq!(name("application/octet-stream"), None);
    }

    #[test]
    fn truncation_keeps_whole_characters_and_says_so() {
        let mut e = Extracted {
            body: vec![
                Block::new(BlockKind::Paragraph, "abc", None),
                Block::new(BlockKind::Paragraph, "ééé", None),
            ],
            ..Default::default()
        };
        assert!(!e.clone().truncate(100));
        assert!(e.truncate(8)); // "abc" + "\n\n" + 3 bytes → "é" and a half
        assert_eq!(e.text(), "abc\n\né");
        let mut e2 = e.clone();
        assert!(e2.truncate(2));
        assert_eq!(e2.text(), "ab");
    }

    #[test]
    fn paragraphs_join_wrapped_lines() {
        let p = paragraphs("One line\nwrapped.\n\n\nTwo.\n", Some(3));
        assert_eq!(
            p,
            vec![
                Block::new(BlockKind::Paragraph, "One line wrapped.", Some(3)),
                Block::new(BlockKind::Paragraph, "Two.", Some(3)),
            ]
        );
    }
}
