//! Highlights: up to three plain-text snippets of a result, each with the
//! character offsets of what matched, so clients render emphasis themselves
//! and no markup ever comes from content.

use super::query::{SearchQuery, Term};
use super::text::{tokens, Token};

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

/// Which tokens a wanted term matches (phrases: every word of an
/// occurrence; prefixes: terms that start with them).
fn matched(query: &SearchQuery, toks: &[Token]) -> Vec<bool> {
    let mut hit = vec![false; toks.len()];
    for term in query.wanted() {
        match term {
            Term::Prefix(p) => {
                for (i, t) in toks.iter().enumerate() {
                    if t.term.starts_with(p.as_str()) {
                        hit[i] = true;
                    }
                }
            }
            Term::Phrase(words) => {
                for i in 0..toks.len().saturating_sub(words.len() - 1) {
                    if words.iter().zip(&toks[i..]).all(|(w, t)| *w == t.term) {
                        hit[i..i + words.len()].iter_mut().for_each(|h| *h = true);
                    }
                }
            }
        }
    }
    hit
}

/// The snippets of `content` around what `query` matched.
pub fn highlights(query: &SearchQuery, content: &str) -> Vec<Highlight> {
    let toks = tokens(content);
    let hit = matched(query, &toks);
    // Character offsets of every token, in one pass over the text.
    let (mut byte, mut chars) = (0, 0);
    let mut advance = |to: usize| {
        chars += content[byte..to].chars().count();
        byte = to;
        chars
    };
    let spans: Vec<(usize, usize)> = toks
        .iter()
        .map(|t| (advance(t.start), advance(t.end)))
        .collect();
    let total_chars = advance(content.len());
    let mut out = vec![];
    let mut i = 0;
    while i < toks.len() && out.len() < MAX_SNIPPETS {
        if !hit[i] {
            i += 1;
            continue;
        }
        let first = spans[i].0;
        let start = first.saturating_sub(LEAD_CHARS);
        let end = (start + SNIPPET_CHARS).min(total_chars);
        let mut matches = vec![];
        while i < toks.len() {
            let (s, e) = spans[i];
            if e > end {
                break;
            }
            if hit[i] {
                // Adjacent words of one phrase make one match.
                match matches.last_mut() {
                    Some((_, last_end)) if *last_end + 1 >= s - start && hit[i - 1] => {
                        *last_end = e - start
                    }
                    _ => matches.push((s - start, e - start)),
                }
            }
            i += 1;
        }
        let text: String = content
            .chars()
            .skip(start)
            .take(end - start)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.push(Highlight { text, matches });
    }
    out
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
        let h = highlights(&q, &content);
        assert_eq!(h.len(), 3);
        for s in &h {
            assert!(s.text.chars().count() <= SNIPPET_CHARS);
            assert_eq!(marked(s), ["copper"]);
        }
        assert!(highlights(&SearchQuery::parse("nickel").unwrap(), &content).is_empty());
    }
}
