//! The search syntax of `GET /documents?q=` (contract 11): words (all must
//! match), `"a phrase"`, `OR` between two terms, `-word` / `-"a phrase"`
//! excluded, `prefix*`. Parsed into terms made by [`super::text`], so what
//! reaches a database is only those terms, each quoted by the compiler of
//! that database's syntax, never the client's text.

use super::text::{fold, tokens, MAX_TERM_BYTES};
use crate::domain::ValidationError;

/// At most this many characters in `q`.
pub const MAX_QUERY_CHARS: usize = 1_000;
/// At most this many terms (words, phrases, prefixes) in one query.
pub const MAX_TERMS: usize = 32;
/// At most this many words in one phrase.
pub const MAX_PHRASE_WORDS: usize = 32;
/// Shortest prefix before `*`, in characters once folded.
pub const MIN_PREFIX_CHARS: usize = 2;

/// Characters a bare word may not hold: the operators of the databases'
/// own syntaxes (FTS5 columns and groups, tsquery weights and operators),
/// refused so that no one can believe they work.
const RESERVED: &[char] = &[
    '(', ')', '[', ']', '{', '}', ':', '^', '~', '<', '>', '|', '!', '\\', '=', ';', '`',
];

/// One thing a document must (or must not) contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// Consecutive terms; a single word is a phrase of one.
    Phrase(Vec<String>),
    /// A folded (unstemmed) prefix of a term.
    Prefix(String),
}

/// A parsed query: every group must match (a group matches when one of its
/// terms does), and no excluded term may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub all: Vec<Vec<Term>>,
    pub none: Vec<Term>,
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::new("q", message)
}

/// What the lexer reads.
enum Item {
    Or,
    Term { excluded: bool, term: Term },
}

impl SearchQuery {
    pub fn parse(q: &str) -> Result<Self, ValidationError> {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(invalid(format!(
                "must be at most {MAX_QUERY_CHARS} characters"
            )));
        }
        if q.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Err(invalid("must not contain control characters"));
        }
        if q.trim().is_empty() {
            return Err(invalid("must not be empty"));
        }
        let items = lex(q)?;
        let terms = items
            .iter()
            .filter(|i| matches!(i, Item::Term { .. }))
            .count();
        if terms > MAX_TERMS {
            return Err(invalid(format!("must have at most {MAX_TERMS} terms")));
        }
        let mut query = SearchQuery {
            all: vec![],
            none: vec![],
        };
        // `joining`: an OR was just read; `after_wanted`: the last item was
        // a term that is not excluded (what an OR may follow).
        let (mut joining, mut after_wanted, mut after_excluded) = (false, false, false);
        for item in items {
            match item {
                Item::Or if after_excluded => {
                    return Err(invalid("OR cannot join an excluded -term"));
                }
                Item::Or if !after_wanted => {
                    return Err(invalid("OR must stand between two terms"));
                }
                Item::Or => {
                    joining = true;
                    after_wanted = false;
                }
                Item::Term {
                    excluded: true,
                    term,
                } => {
                    if joining {
                        return Err(invalid("OR cannot join an excluded -term"));
                    }
                    query.none.push(term);
                    (after_wanted, after_excluded) = (false, true);
                }
                Item::Term {
                    excluded: false,
                    term,
                } => {
                    match (joining, query.all.last_mut()) {
                        (true, Some(group)) => group.push(term),
                        _ => query.all.push(vec![term]),
                    }
                    (joining, after_wanted, after_excluded) = (false, true, false);
                }
            }
        }
        if joining {
            return Err(invalid("OR must stand between two terms"));
        }
        if query.all.is_empty() {
            return Err(invalid("needs at least one word that is not excluded"));
        }
        Ok(query)
    }

    /// Every term that is not excluded (what highlights mark).
    pub fn wanted(&self) -> impl Iterator<Item = &Term> {
        self.all.iter().flatten()
    }
}

/// Splits `q` into terms and `OR`s, rejecting malformed terms; where an
/// `OR` may stand is the caller's rule.
fn lex(q: &str) -> Result<Vec<Item>, ValidationError> {
    let mut items = vec![];
    let mut rest = q;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(items);
        }
        let mut excluded = false;
        if let Some(after) = rest.strip_prefix('-') {
            if after.is_empty() || after.starts_with(char::is_whitespace) {
                return Err(invalid("'-' must be followed by a word or a phrase"));
            }
            excluded = true;
            rest = after;
        }
        if let Some(after) = rest.strip_prefix('"') {
            let Some(end) = after.find('"') else {
                return Err(invalid("a phrase is not closed (missing '\"')"));
            };
            let inside = &after[..end];
            rest = &after[end + 1..];
            if rest.starts_with('*') {
                return Err(invalid("a phrase cannot end in '*'; a prefix is one word"));
            }
            if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
                return Err(invalid("a phrase must be followed by a space"));
            }
            items.push(Item::Term {
                excluded,
                term: phrase(inside)?,
            });
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        if word == "OR" && !excluded {
            items.push(Item::Or);
            continue;
        }
        items.push(Item::Term {
            excluded,
            term: bare_word(word)?,
        });
    }
}

fn phrase(inside: &str) -> Result<Term, ValidationError> {
    let words: Vec<String> = tokens(inside)
        .into_iter()
        .map(|t| t.term.into_owned())
        .collect();
    if words.is_empty() && inside.chars().any(char::is_alphanumeric) {
        return Err(invalid(format!(
            "words longer than {MAX_TERM_BYTES} bytes are not searchable"
        )));
    }
    if words.is_empty() {
        return Err(invalid("a phrase must contain a word"));
    }
    if words.len() > MAX_PHRASE_WORDS {
        return Err(invalid(format!(
            "a phrase must have at most {MAX_PHRASE_WORDS} words"
        )));
    }
    Ok(Term::Phrase(words))
}

fn bare_word(word: &str) -> Result<Term, ValidationError> {
    if let Some(c) = word.chars().find(|c| RESERVED.contains(c)) {
        return Err(invalid(format!(
            "{c:?} is not part of the search syntax (words, \"phrases\", OR, -word, prefix*)"
        )));
    }
    if word.contains('"') {
        return Err(invalid("a '\"' may only start or end a phrase"));
    }
    let (body, prefix) = match word.strip_suffix('*') {
        Some(body) => (body, true),
        None => (word, false),
    };
    if body.contains('*') {
        return Err(invalid("'*' may only end a word (prefix*)"));
    }
    if prefix {
        let words = tokens(body);
        let folded = match words.as_slice() {
            [one] if one.start == 0 && one.end == body.len() => fold(body),
            [] => None,
            _ => return Err(invalid("a prefix* must be a single word")),
        };
        let Some(folded) = folded else {
            return Err(invalid("'*' must end a word of letters or digits"));
        };
        if folded.chars().count() < MIN_PREFIX_CHARS {
            return Err(invalid(format!(
                "a prefix* needs at least {MIN_PREFIX_CHARS} letters or digits"
            )));
        }
        return Ok(Term::Prefix(folded));
    }
    if !body.chars().any(char::is_alphanumeric) {
        return Err(invalid(format!(
            "{word:?} has no letters or digits to search for"
        )));
    }
    phrase(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Term {
        Term::Phrase(words.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn the_syntax_of_the_contract() {
        let q =
            SearchQuery::parse(r#"Lithium "price cuts" copper OR nickel -China batter*"#).unwrap();
        assert_eq!(
            q.all,
            vec![
                vec![p(&["lithium"])],
                vec![p(&["price", "cut"])],
                vec![p(&["copper"]), p(&["nickel"])],
                vec![Term::Prefix("batter".into())],
            ]
        );
        assert_eq!(q.none, vec![p(&["china"])]);
        // A word with inner punctuation is the phrase of its parts.
        let q = SearchQuery::parse("e-mail U.S.").unwrap();
        assert_eq!(q.all, vec![vec![p(&["e", "mail"])], vec![p(&["u", "s"])]]);
        // Lowercase "or" and "AND"/"NOT"/"NEAR" are words.
        let q = SearchQuery::parse("a or b AND NOT NEAR").unwrap();
        assert_eq!(q.all.len(), 6);
        let q = SearchQuery::parse("-\"rate hike\" Émission").unwrap();
        assert_eq!(q.none, vec![p(&["rate", "hike"])]);
        assert_eq!(q.all, vec![vec![p(&["emiss"])]]);
        // Accents and case fold in prefixes too, without stemming.
        let q = SearchQuery::parse("ÉMIS*").unwrap();
        assert_eq!(q.all, vec![vec![Term::Prefix("emis".into())]]);
    }

    #[test]
    fn hostile_and_malformed_queries_name_q() {
        let long = "a ".repeat(600);
        let many = "w ".repeat(MAX_TERMS + 1);
        let cases = [
            "",
            "   ",
            "\"unclosed",
            "a \"unclosed",
            "*",
            "**",
            "a*b",
            "a**",
            "x*",
            "\"a b\"*",
            "\"\"",
            "\"...\"",
            "OR",
            "OR a",
            "a OR",
            "a OR OR b",
            "a OR -b",
            "-",
            "a - b",
            "-a",
            "-a -b",
            "NEAR(a b)",
            "NEAR(",
            "col:foo",
            "file_name:x",
            "a^2",
            "{a b}",
            "a) OR (b",
            "'; DROP TABLE documents; --",
            "a\0b",
            "\u{7}",
            "a\"b",
            "\"a\"b",
            "...",
            "e-m*",
            "!a",
            "a & !b",
            "a <-> b",
            "a:*",
            &long,
            &many,
        ];
        for q in cases {
            let e = SearchQuery::parse(q).expect_err(q);
            assert_eq!(e.field, "q", "{q:?}");
        }
        // 10,000 characters.
        assert!(SearchQuery::parse(&"x".repeat(10_000)).is_err());
        // Up to the bounds is fine.
        let at = "abcdefghijklmnopqrstuvwxyz1234 ".repeat(MAX_TERMS);
        assert!(at.chars().count() <= MAX_QUERY_CHARS);
        assert!(SearchQuery::parse(&at).is_ok());
        assert!(SearchQuery::parse(&"é".repeat(30)).is_ok()); // 60 bytes folded
        assert!(SearchQuery::parse(&"ab".repeat(31)).is_err());
        // "a -b OR c" does not make "a OR c".
        assert!(SearchQuery::parse("a -b OR c").is_err());
    }

    #[test]
    fn sql_in_a_query_is_only_words() {
        let q = SearchQuery::parse("x' OR '1'='1").unwrap_err();
        assert_eq!(q.field, "q"); // '=' is refused
        let q = SearchQuery::parse("robert'); drop").unwrap_err();
        assert_eq!(q.field, "q");
        let q = SearchQuery::parse("o'neil \"it's\"").unwrap();
        assert_eq!(q.all, vec![vec![p(&["o", "neil"])], vec![p(&["it", "s"])]]);
    }
}
