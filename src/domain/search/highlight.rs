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
/// only until the last snippet is full: the first matches of a long text
/// cost what a short one does.
pub fn highlights(query: &SearchQuery, content: &str, indexed: &str) -> Vec<Highlight> {
    let wanted: Vec<&Term> = query.wanted().collect();
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
    for token in indexed_token_stream(content, indexed) {
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
