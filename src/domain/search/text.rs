//! How text becomes search terms, once for both databases: words are runs
//! of letters and digits, lowercased, stripped of accents (NFKD without
//! combining marks) and stemmed (Snowball English). The databases only
//! store and look up the terms made here, so SQLite and PostgreSQL find
//! the same documents for the same query.

use rust_stemmers::{Algorithm, Stemmer};
use std::borrow::Cow;
use std::sync::OnceLock;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Terms longer than this (in bytes, once folded) are not indexed: they
/// are hashes, base64 or URLs, never what anyone types; and PostgreSQL
/// bounds a `tsvector`'s lexemes to 1 MiB, which `MAX_TOKENS` such terms
/// stay under.
pub const MAX_TERM_BYTES: usize = 60;

/// The words of a document that are indexed: PostgreSQL's positions end at
/// 16,383, and phrases must match alike on both databases.
pub const MAX_TOKENS: usize = 16_383;

/// A word of a text: where it is (byte offsets) and the term it indexes as
/// (borrowed where it is read from an index entry's stored terms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub start: usize,
    pub end: usize,
    pub term: Cow<'a, str>,
}

fn stemmer() -> &'static Stemmer {
    static STEMMER: OnceLock<Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| Stemmer::create(Algorithm::English))
}

fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        // The common case, and the same answer: no ASCII character is a
        // combining mark.
        c.is_ascii_alphanumeric()
    } else {
        c.is_alphanumeric() || is_combining_mark(c)
    }
}

/// Lowercased, accents removed; `None` when nothing indexable is left.
pub fn fold(word: &str) -> Option<String> {
    let folded: String = if word.is_ascii() {
        // The common case, and the same result: ASCII has no accents.
        word.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    } else {
        word.to_lowercase()
            .nfkd()
            .filter(|c| c.is_alphanumeric() && !is_combining_mark(*c))
            .collect()
    };
    (!folded.is_empty() && folded.len() <= MAX_TERM_BYTES).then_some(folded)
}

/// The term a word is indexed as, if it is indexed at all.
pub fn term(word: &str) -> Option<String> {
    fold(word).map(stem)
}

/// The term of a folded word.
fn stem(folded: String) -> String {
    match stemmer().stem(&folded) {
        Cow::Borrowed(unchanged) if unchanged == folded => folded,
        stemmed => stemmed.into_owned(),
    }
}

/// Byte spans of the words of `text` (runs of letters, digits and
/// combining marks), in order, found as they are asked for. ASCII, the
/// bulk of any text, is classed by its byte without decoding it.
pub fn words(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = text.as_bytes();
    // Whether the character at byte `i` (a boundary) is part of a word,
    // and its length in bytes.
    let class = move |i: usize| match bytes[i] {
        b if b.is_ascii() => (b.is_ascii_alphanumeric(), 1),
        _ => text[i..]
            .chars()
            .next()
            .map_or((false, 1), |c| (is_word_char(c), c.len_utf8())),
    };
    let mut at = 0;
    std::iter::from_fn(move || {
        let mut start = None;
        while at < bytes.len() {
            let (in_word, len) = class(at);
            match (in_word, start) {
                (true, None) => start = Some(at),
                (false, Some(s)) => return Some((s, at)),
                _ => {}
            }
            at += len;
        }
        start.map(|s| (s, at))
    })
}

/// Every indexable word of `text`, in order, found as they are asked for
/// (at most `MAX_TOKENS`).
pub fn token_stream(text: &str) -> impl Iterator<Item = Token<'static>> + '_ {
    words(text)
        .filter_map(|(start, end)| {
            term(&text[start..end]).map(|term| Token {
                start,
                end,
                term: Cow::Owned(term),
            })
        })
        .take(MAX_TOKENS)
}

/// [`token_stream`] of a text whose terms, as indexed, are `indexed`
/// (space-separated, in order): each word takes its stored term instead
/// of being stemmed again, the bulk of a search's highlighting. Once the
/// terms do not fit the words (they run out, or one is not a stem of its
/// word: stems keep a word's first letter and never lengthen it), the
/// rest is stemmed.
pub fn indexed_token_stream<'a>(
    text: &'a str,
    indexed: &'a str,
) -> impl Iterator<Item = Token<'a>> + 'a {
    let mut stored = indexed.split(' ').filter(|t| !t.is_empty());
    let mut fits = true;
    words(text)
        .filter_map(move |(start, end)| {
            let word = &text[start..end];
            // An ASCII word folds to itself in lower case: its stored term
            // is checked without folding it.
            let folded = if word.is_ascii() && fits {
                if word.len() > MAX_TERM_BYTES {
                    return None; // as `fold` would
                }
                None
            } else {
                Some(fold(word)?)
            };
            if fits {
                let (length, first) = match &folded {
                    Some(f) => (f.len(), f.as_bytes()[0]),
                    None => (word.len(), word.as_bytes()[0].to_ascii_lowercase()),
                };
                match stored.next() {
                    Some(t) if t.len() <= length && t.as_bytes()[0] == first => {
                        return Some(Token {
                            start,
                            end,
                            term: Cow::Borrowed(t),
                        });
                    }
                    _ => fits = false,
                }
            }
            let folded = match folded {
                Some(f) => f,
                None => fold(word)?,
            };
            Some(Token {
                start,
                end,
                term: Cow::Owned(stem(folded)),
            })
        })
        .take(MAX_TOKENS)
}

/// Every indexable word of `text`, in order (at most `MAX_TOKENS`).
pub fn tokens(text: &str) -> Vec<Token<'static>> {
    token_stream(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokens(text)
            .into_iter()
            .map(|t| t.term.into_owned())
            .collect()
    }

    #[test]
    fn words_are_folded_and_stemmed() {
        assert_eq!(
            terms("Lithium PRICES fell; Café-Crème déjà vu"),
            ["lithium", "price", "fell", "cafe", "creme", "deja", "vu"]
        );
        assert_eq!(terms("ﬁnancing Straße"), ["financ", "straße"]);
        assert_eq!(terms("e\u{301}tude"), ["etud"]); // combining accent
        assert_eq!(terms("$AAPL 3.5% 2026"), ["aapl", "3", "5", "2026"]);
        assert!(terms("... --- \u{0} ").is_empty());
    }

    #[test]
    fn stored_terms_stand_for_their_words_until_they_do_not_fit() {
        // A word too long to index, with the next term's first letter.
        let long = "c".repeat(MAX_TERM_BYTES + 1);
        let text = &format!("Lithium PRICES fell; {long} Café-Crème déjà vu, ﬁnancing");
        let indexed = terms(text).join(" ");
        let stored: Vec<Token> = indexed_token_stream(text, &indexed).collect();
        assert_eq!(stored, tokens(text));
        // Another text's terms, too few terms, none: the words are stemmed.
        for other in ["zinc price", "lithium price", ""] {
            assert_eq!(
                indexed_token_stream(text, other).collect::<Vec<_>>(),
                tokens(text),
                "{other:?}"
            );
        }
        // The terms are taken as given while they fit: a stored term is
        // what the index matched, even if the stemmer changed since.
        let given: Vec<String> = indexed_token_stream("prices rose", "pric rose")
            .map(|t| t.term.into_owned())
            .collect();
        assert_eq!(given, ["pric", "rose"]);
    }

    #[test]
    fn the_ascii_shortcut_folds_as_unicode_does() {
        for w in ["Lithium", "PRICES", "x2026", "Q3", "ABCdef123"] {
            let slow: String = w.to_lowercase().nfkd().collect();
            assert_eq!(fold(w), Some(slow));
        }
        assert_eq!(term("Prices").as_deref(), Some("price"));
        assert_eq!(term("copper").as_deref(), Some("copper"));
    }

    #[test]
    fn words_are_runs_of_letters_digits_and_marks_in_any_script() {
        // A combining mark continues its word; punctuation, spaces and
        // symbols of any width end one.
        let text = "«Cafe\u{301}» x2—日本語, naïve.\u{1F600}end ";
        let found: Vec<&str> = words(text).map(|(s, e)| &text[s..e]).collect();
        assert_eq!(found, ["Cafe\u{301}", "x2", "日本語", "naïve", "end"]);
        assert_eq!(words("").count(), 0);
        assert_eq!(words("word").collect::<Vec<_>>(), [(0, 4)]);
    }

    #[test]
    fn offsets_point_at_the_words() {
        let text = "Prix: Élan, x";
        let t = tokens(text);
        assert_eq!(&text[t[1].start..t[1].end], "Élan");
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn long_terms_and_long_texts_are_bounded() {
        assert!(terms(&"a".repeat(61)).is_empty());
        assert_eq!(terms(&"a".repeat(60)).len(), 1);
        assert_eq!(tokens(&"w ".repeat(MAX_TOKENS + 10)).len(), MAX_TOKENS);
    }
}
