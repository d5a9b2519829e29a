//! Highlights: up to three plain-text snippets of a result, each with the
//! character offsets of what matched, so clients render emphasis themselves
//! and no markup ever comes from content.

use super::query::{SearchQuery, Term};
use super::text::{indexed_token_stream, Token};
use std::collections::VecDeque;

/// At most this many snippets per result.
pub const MAX_SNIPPETS: usize = 3;
/// At most this many characters per snippet.
pub const SNIPPET_CHARS: usize = 300;
/// Characters of context kept before the first match of a snippet.
const LEAD_CHARS: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlight {
    pub text: String,
    /// `[start, end)` character offsets into `text`.
    pub matches: Vec<(usize, usize)>,
}

/// The snippets of `content` around what `query` matched; `indexed` is
/// the content's terms as its index entry holds them (see
/// [`indexed_token_stream`]; empty: every word is stemmed). Words are read
/// only until the last snippet is full or the last stored term that can
/// match: the first matches of a long text cost what a short one does, and
/// the words after a text's last match are not read at all.
pub fn highlights(query: &SearchQuery, content: &str, indexed: &str) -> Vec<Highlight> {
    let wanted: Vec<&Term> = query.wanted().collect();
    let words = words_to_read(&wanted, indexed);
    // Tokens wait here until no phrase ending later can still mark them.
    let keep = wanted
        .iter()
        .map(|t| match t {
            Term::Phrase(words) => words.len(),
            Term::Prefix(_) => 1,
        })
        .max()
        .unwrap_or(1)
        - 1;
    let mut pending: VecDeque<(Token, bool)> = VecDeque::with_capacity(keep + 1);
    let mut snippets = Snippets::new(content);
    let mut chars = CharOffsets::new(content);
    for token in indexed_token_stream(content, indexed).take(words) {
        let hit = wanted
            .iter()
            .any(|t| matches!(t, Term::Prefix(p) if token.term.starts_with(p.as_str())));
        pending.push_back((token, hit));
        for term in &wanted {
            if let Term::Phrase(words) = term {
                let n = words.len();
                let tail = pending.len().saturating_sub(n);
                if pending.len() >= n
                    && pending
                        .range(tail..)
                        .zip(words)
                        .all(|((t, _), w)| t.term == *w)
                {
                    pending.range_mut(tail..).for_each(|(_, h)| *h = true);
                }
            }
        }
        while pending.len() > keep {
            let (t, hit) = pending.pop_front().expect("not empty");
            if !snippets.push(chars.span(&t), hit) {
                return snippets.finish();
            }
        }
    }
    for (t, hit) in pending {
        if !snippets.push(chars.span(&t), hit) {
            break;
        }
    }
    snippets.finish()
}

/// How many words of the text can be marked: up to the last stored term
/// (of `indexed`, as [`indexed_token_stream`] counts them) that is a word
/// of a wanted phrase or starts with a wanted prefix, found by searching
/// the terms from their end. Every word when there are no stored terms, or
/// they are not one space apart as entries store them.
fn words_to_read(wanted: &[&Term], indexed: &str) -> usize {
    let bytes = indexed.as_bytes();
    let spaced = matches!((bytes.first(), bytes.last()), (Some(&first), Some(&last)) if first != b' ' && last != b' ')
        && !indexed.contains("  ");
    if !spaced {
        return usize::MAX;
    }
    let mut last = None;
    for term in wanted {
        match term {
            Term::Phrase(words) => {
                for w in words {
                    last = last.max(last_term_at(bytes, w.as_bytes(), true));
                }
            }
            Term::Prefix(p) => last = last.max(last_term_at(bytes, p.as_bytes(), false)),
        }
    }
    last.map_or(0, |at| memchr::memchr_iter(b' ', &bytes[..at]).count() + 1)
}

/// The byte offset of the last term of `terms` (one space apart) that
/// starts with `needle`, or that is `needle` when `whole`.
fn last_term_at(terms: &[u8], needle: &[u8], whole: bool) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let finder = memchr::memmem::FinderRev::new(needle);
    let mut end = terms.len();
    while let Some(at) = finder.rfind(&terms[..end]) {
        let after = at + needle.len();
        let starts = at == 0 || terms[at - 1] == b' ';
        let ends = !whole || after == terms.len() || terms[after] == b' ';
        if starts && ends {
            return Some(at);
        }
        // Earlier occurrences may overlap this one.
        end = after - 1;
    }
    None
}

/// Character offsets of tokens met in order, counted in one pass.
struct CharOffsets<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl<'a> CharOffsets<'a> {
    fn new(text: &'a str) -> Self {
        CharOffsets {
            text,
            byte: 0,
            chars: 0,
        }
    }

    fn at(&mut self, byte: usize) -> usize {
        self.chars += self.text[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars
    }

    fn span(&mut self, t: &Token) -> (usize, usize) {
        (self.at(t.start), self.at(t.end))
    }
}

/// Snippets built from the tokens in order.
struct Snippets<'a> {
    content: &'a str,
    done: Vec<Highlight>,
    open: Option<Open>,
}

/// The snippet being filled: its character range and matches so far.
struct Open {
    start: usize,
    end: usize,
    matches: Vec<(usize, usize)>,
    last_hit: bool,
}

impl<'a> Snippets<'a> {
    fn new(content: &'a str) -> Self {
        Snippets {
            content,
            done: Vec::new(),
            open: None,
        }
    }

    /// Takes the next token's character span and whether it matched;
    /// `false` once every snippet is full.
    fn push(&mut self, (s, e): (usize, usize), hit: bool) -> bool {
        if let Some(open) = &mut self.open {
            if e <= open.end {
                if hit {
                    match open.matches.last_mut() {
                        // Adjacent words of one phrase make one match.
                        Some((_, last_end)) if open.last_hit && *last_end + 1 >= s - open.start => {
                            *last_end = e - open.start
                        }
                        _ => open.matches.push((s - open.start, e - open.start)),
                    }
                }
                open.last_hit = hit;
                return true;
            }
            self.close();
            if self.done.len() >= MAX_SNIPPETS {
                return false;
            }
        }
        if hit {
            let start = s.saturating_sub(LEAD_CHARS);
            self.open = Some(Open {
                start,
                end: start + SNIPPET_CHARS,
                matches: vec![(s - start, e - start)],
                last_hit: true,
            });
        }
        true
    }

    fn close(&mut self) {
        if let Some(open) = self.open.take() {
            let text = self
                .content
                .chars()
                .skip(open.start)
                .take(open.end - open.start)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            self.done.push(Highlight {
                text,
                matches: open.matches,
            });
        }
    }

    fn finish(mut self) -> Vec<Highlight> {
        self.close();
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(h: &Highlight) -> Vec<String> {
        let chars: Vec<char> = h.text.chars().collect();
        h.matches
            .iter()
            .map(|(s, e)| chars[*s..*e].iter().collect())
            .collect()
    }

    /// The terms an index entry stores for `text`.
    fn stored(text: &str) -> String {
        let tokens = crate::domain::search::text::tokens(text);
        let terms: Vec<&str> = tokens.iter().map(|t| &*t.term).collect();
        terms.join(" ")
    }

    #[test]
    fn stored_terms_give_the_highlights_stemming_gives() {
        let texts = [
            "Lithium prices rose. Cobalt fell; lithium PRICES again, then nothing of note at all.",
            "Émissions de lithium: the prices of lithography were up, lithium prices down",
            "nothing here matches any of the queries, however long this text goes on",
            "cobalt",
        ];
        for q in [
            "lithium",
            "\"lithium prices\"",
            "lith*",
            "cobalt OR émis*",
            "price -cobalt",
        ] {
            let q = SearchQuery::parse(q).unwrap();
            for text in texts {
                let stemmed = highlights(&q, text, "");
                assert_eq!(highlights(&q, text, &stored(text)), stemmed, "{text}");
                // Terms not one space apart are read whole.
                let loose = format!("{}  ", stored(text).replace(' ', "  "));
                assert_eq!(highlights(&q, text, &loose), stemmed, "{text}");
            }
        }
    }

    #[test]
    fn offsets_are_characters_of_the_snippet() {
        let q = SearchQuery::parse("\"lithium prices\" émis*").unwrap();
        let h = highlights(
            &q,
            "Note.pdf\nÉmissions: lithium price rose; <b>LITHIUM PRICES</b>",
            "",
        );
        assert_eq!(h.len(), 1);
        assert_eq!(
            marked(&h[0]),
            ["Émissions", "lithium price", "LITHIUM PRICES"]
        );
        assert!(!h[0].text.contains('\n'));
    }

    #[test]
    fn at_most_three_snippets_of_at_most_300_characters() {
        let filler = "x ".repeat(400);
        let content = format!("copper {filler} copper {filler} copper {filler} copper");
        let q = SearchQuery::parse("copper").unwrap();
        let h = highlights(&q, &content, "");
        assert_eq!(h.len(), 3);
        for s in &h {
            assert!(s.text.chars().count() <= SNIPPET_CHARS);
            assert_eq!(marked(s), ["copper"]);
        }
        assert!(highlights(&SearchQuery::parse("nickel").unwrap(), &content, "").is_empty());
    }

    #[test]
    fn phrases_are_marked_whole_wherever_they_fall() {
        let q = SearchQuery::parse("\"lithium price outlook\" cobalt").unwrap();
        let h = highlights(&q, "lithium price outlook", "");
        assert_eq!(marked(&h[0]), ["lithium price outlook"]);
        // A partial phrase is no match; a phrase at the very end is.
        let h = highlights(&q, "lithium price. cobalt x lithium prices outlook", "");
        assert_eq!(marked(&h[0]), ["cobalt", "lithium prices outlook"]);
        assert!(highlights(&q, "lithium price", "").is_empty());
    }

    #[test]
    fn reading_stops_once_the_snippets_are_full() {
        let filler = "x ".repeat(400);
        let tail = "copper ".repeat(200_000);
        let content = format!("copper {filler} copper {filler} copper {filler} {tail}");
        let h = highlights(&SearchQuery::parse("copper").unwrap(), &content, "");
        assert_eq!(h.len(), 3);
        assert_eq!(h.iter().map(|s| s.matches.len()).sum::<usize>(), 3);
    }
}
