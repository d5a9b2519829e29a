//! Full-text search (contract 11): the query syntax, how text becomes
//! terms, each database's syntax for a query, and highlights. No I/O: the
//! store keeps what [`IndexEntry`] makes and runs what [`compile`] writes.

pub mod compile;
pub mod highlight;
pub mod query;
pub mod text;

pub use highlight::{highlights, Highlight};
pub use query::{SearchQuery, Term};

use crate::domain::Document;

/// What is searched in a document, as one text: file name, e-mail subject
/// and sender, tag names, then the extracted text. Highlights are cut from
/// the same text, so their offsets point at what was indexed.
pub fn searchable_text(doc: &Document, text: &str) -> String {
    let meta = |key: &str| {
        doc.file_metadata
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let tags: Vec<&str> = doc.tags.iter().map(|t| t.name.as_str()).collect();
    [
        doc.file_name.clone(),
        meta("subject"),
        meta("from"),
        tags.join(" "),
        text.to_string(),
    ]
    .join("\n")
}

/// The term every PostgreSQL index entry of an org's documents carries,
/// beside its words: a search looks only among the caller's org (every
/// document they may see is in it), so what other orgs hold costs it
/// nothing, in time either. `§` is neither a letter nor a digit, so no word
/// of a text or a query is ever this term. (SQLite narrows to the org by
/// a range of keys instead.)
pub fn org_term(org_id: &str) -> String {
    format!("§{}", hex::encode(org_id))
}

/// The indexed words of a document's extracted text, found before the
/// write that stores them: for a long text that takes milliseconds, and
/// on SQLite the write runs on the one writer that every other write
/// waits for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextTokens {
    /// Offsets into the text.
    tokens: Vec<text::Token<'static>>,
}

impl TextTokens {
    pub fn new(text: &str) -> Self {
        Self {
            tokens: text::tokens(text),
        }
    }
}

/// A document's row of the search index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The extracted text, cut after its last indexed word.
    pub text: String,
    tokens: Vec<text::Token<'static>>,
    /// The [`org_term`] of the document's org.
    org: String,
}

impl IndexEntry {
    /// How many terms the entry indexes.
    pub fn length(&self) -> usize {
        self.tokens.len()
    }

    pub fn new(doc: &Document, text: &str) -> Self {
        Self::of(doc, text.to_string(), TextTokens::new(text))
    }

    /// The entry of `doc` for `text`, whose words are `text_tokens`. The
    /// same as tokenizing `searchable_text` whole: its parts are joined by
    /// a line break, which no word spans.
    pub fn of(doc: &Document, mut text: String, text_tokens: TextTokens) -> Self {
        let head = searchable_text(doc, "");
        let mut tokens = text::tokens(&head);
        let room = text::MAX_TOKENS - tokens.len();
        let text_starts = head.len();
        tokens.extend(
            text_tokens
                .tokens
                .into_iter()
                .take(room)
                .map(|t| text::Token {
                    start: t.start + text_starts,
                    end: t.end + text_starts,
                    term: t.term,
                }),
        );
        match tokens.last() {
            Some(last) if tokens.len() == text::MAX_TOKENS && last.end > text_starts => {
                text.truncate(last.end - text_starts)
            }
            Some(_) if tokens.len() == text::MAX_TOKENS => text.clear(),
            _ => {}
        }
        Self {
            text,
            tokens,
            org: org_term(&doc.org_id),
        }
    }

    /// The terms, space-separated, in order (what FTS5 indexes).
    pub fn terms(&self) -> String {
        let terms: Vec<&str> = self.tokens.iter().map(|t| &*t.term).collect();
        terms.join(" ")
    }

    /// The same terms, and the org's, as a PostgreSQL `tsvector` literal.
    pub fn vector(&self) -> String {
        compile::to_tsvector(&self.tokens, &self.org)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RequestOrigin, Tag, Timestamp};

    fn doc() -> Document {
        let now = Timestamp::now();
        let mut file_metadata = serde_json::Map::new();
        file_metadata.insert("subject".into(), "Copper outlook".into());
        file_metadata.insert("from".into(), "Ana <ana@broker.example>".into());
        Document {
            file_name: "note.eml".into(),
            request_origin: RequestOrigin::Email,
            file_metadata,
            tags: vec![Tag {
                id: uuid::Uuid::now_v7(),
                user_id: "u".into(),
                name: "label:Metals".into(),
                created_at: now,
                updated_at: now,
            }],
            ..crate::domain::document::document_fixture(now)
        }
    }

    #[test]
    fn an_entry_holds_name_subject_sender_tags_and_text() {
        let e = IndexEntry::new(&doc(), "Prices rose.");
        assert_eq!(
            e.terms(),
            "note eml copper outlook ana ana broker exampl label metal price rose"
        );
        assert_eq!(e.text, "Prices rose.");
    }

    #[test]
    fn tokens_found_apart_give_the_entry_of_the_whole_text() {
        let d = doc();
        let long = "lithium ".repeat(text::MAX_TOKENS);
        for text in ["", "Prices rose.", "Élan\nvital, x", long.as_str()] {
            let whole = searchable_text(&d, text);
            let tokens = text::tokens(&whole);
            let terms: Vec<&str> = tokens.iter().map(|t| &*t.term).collect();
            // What is kept of the text: up to the last word indexed.
            let text_starts = whole.len() - text.len();
            let kept = match tokens.last() {
                Some(l) if tokens.len() == text::MAX_TOKENS => &whole[text_starts..l.end],
                _ => text,
            };
            let e = IndexEntry::of(&d, text.to_string(), TextTokens::new(text));
            assert_eq!(e.terms(), terms.join(" "), "{text:.20}");
            assert_eq!(e.text, kept, "{text:.20}");
        }
        assert!(IndexEntry::new(&d, &long).text.len() < long.len());
    }

    #[test]
    fn long_texts_keep_what_is_indexed() {
        let text = "word ".repeat(text::MAX_TOKENS + 100);
        let e = IndexEntry::new(&doc(), &text);
        assert_eq!(e.terms().split(' ').count(), text::MAX_TOKENS);
        assert!(e.text.len() < text.len() && e.text.ends_with("word"));
    }
}
