//! A parsed query in each database's own syntax. Every term is quoted
//! (FTS5 strings, tsquery lexemes), so nothing a client typed is read as an
//! operator; terms hold only letters and digits anyway ([`super::text`]).

use super::query::{SearchQuery, Term};
use super::text::Token;
use std::collections::BTreeMap;

/// An FTS5 string: double quotes, inner ones doubled.
fn fts5_string(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A tsquery/tsvector lexeme: single quotes, quotes and backslashes escaped.
fn pg_lexeme(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

fn fts5_term(t: &Term) -> String {
    match t {
        Term::Phrase(words) => fts5_string(&words.join(" ")),
        Term::Prefix(p) => format!("{}*", fts5_string(p)),
    }
}

fn tsquery_term(t: &Term) -> String {
    match t {
        Term::Phrase(words) if words.len() == 1 => pg_lexeme(&words[0]),
        Term::Phrase(words) => {
            let parts: Vec<String> = words.iter().map(|w| pg_lexeme(w)).collect();
            format!("({})", parts.join(" <-> "))
        }
        Term::Prefix(p) => format!("{}:*", pg_lexeme(p)),
    }
}

/// `(group) AND (group) …`, then each exclusion as `NOT`.
pub fn to_fts5(q: &SearchQuery) -> String {
    let groups: Vec<String> = q
        .all
        .iter()
        .map(|g| {
            let terms: Vec<String> = g.iter().map(fts5_term).collect();
            format!("({})", terms.join(" OR "))
        })
        .collect();
    let mut out = format!("({})", groups.join(" AND "));
    for t in &q.none {
        out = format!("({out} NOT {})", fts5_term(t));
    }
    out
}

/// The phrases of [`to_fts5`]'s expression in the order FTS5 numbers
/// them (as written), each an FTS5 expression of its own.
pub fn fts5_phrases(q: &SearchQuery) -> Vec<String> {
    q.all
        .iter()
        .flatten()
        .chain(&q.none)
        .map(fts5_term)
        .collect()
}

/// The same query as a `tsquery` literal (cast with `CAST($n AS tsquery)`,
/// which takes lexemes as they are written: no second normalisation).
pub fn to_tsquery(q: &SearchQuery) -> String {
    let mut parts: Vec<String> = q
        .all
        .iter()
        .map(|g| {
            let terms: Vec<String> = g.iter().map(tsquery_term).collect();
            format!("({})", terms.join(" | "))
        })
        .collect();
    parts.extend(q.none.iter().map(|t| format!("!{}", tsquery_term(t))));
    parts.join(" & ")
}

/// `tsquery`, a compiled query, among the documents of the org whose
/// [`super::org_term`] is `org` (the rank is of `tsquery` alone).
pub fn tsquery_in_org(tsquery: &str, org: &str) -> String {
    format!("({tsquery}) & {}", pg_lexeme(org))
}

/// PostgreSQL keeps at most this many positions of one lexeme.
const MAX_POSITIONS: usize = 256;

/// The terms of a text as a `tsvector` literal with 1-based positions, the
/// positions FTS5 gives the same terms; and `org`, an org's term, without a
/// position (no phrase holds it).
pub fn to_tsvector(tokens: &[Token<'_>], org: &str) -> String {
    let mut positions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in tokens.iter().enumerate() {
        let p = positions.entry(&*t.term).or_default();
        if p.len() < MAX_POSITIONS {
            p.push(i + 1);
        }
    }
    let mut lexemes: Vec<String> = positions
        .into_iter()
        .map(|(term, p)| {
            let p: Vec<String> = p.iter().map(usize::to_string).collect();
            format!("{}:{}", pg_lexeme(term), p.join(","))
        })
        .collect();
    lexemes.push(pg_lexeme(org));
    lexemes.join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::text::tokens;
    use super::*;

    #[test]
    fn both_syntaxes_quote_every_term() {
        let q =
            SearchQuery::parse(r#"lithium "price cuts" copper OR nickel -china batter*"#).unwrap();
        assert_eq!(
            to_fts5(&q),
            r#"((("lithium") AND ("price cut") AND ("copper" OR "nickel") AND ("batter"*)) NOT "china")"#
        );
        assert_eq!(
            to_tsquery(&q),
            "('lithium') & (('price' <-> 'cut')) & ('copper' | 'nickel') & ('batter':*) & !'china'"
        );
        assert_eq!(
            fts5_phrases(&q),
            [
                r#""lithium""#,
                r#""price cut""#,
                r#""copper""#,
                r#""nickel""#,
                r#""batter"*"#,
                r#""china""#
            ]
        );
    }

    #[test]
    fn quoting_holds_even_for_terms_the_tokenizer_never_makes() {
        let q = SearchQuery {
            all: vec![vec![Term::Phrase(vec!["a\" OR b".into()])]],
            none: vec![Term::Phrase(vec!["x' | 'y\\".into()])],
        };
        assert_eq!(to_fts5(&q), r#"((("a"" OR b")) NOT "x' | 'y\")"#);
        assert_eq!(to_tsquery(&q), r#"('a" OR b') & !'x'' | ''y\\'"#);
    }

    #[test]
    fn vectors_carry_positions_and_the_org_without_one() {
        let org = crate::domain::search::org_term("acme");
        assert_eq!(org, "§61636d65");
        assert_eq!(
            to_tsvector(&tokens("rates up, rates down"), &org),
            "'down':4 'rate':1,3 'up':2 '§61636d65'"
        );
        let many = tokens(&"w ".repeat(300));
        assert_eq!(to_tsvector(&many, &org).matches(',').count(), 255);
    }

    #[test]
    fn a_query_within_an_org_needs_its_term_beside_the_whole_query() {
        let q = SearchQuery::parse("lithium OR cobalt -china").unwrap();
        let org = crate::domain::search::org_term("o");
        assert_eq!(
            tsquery_in_org(&to_tsquery(&q), &org),
            "(('lithium' | 'cobalt') & !'china') & '§6f'"
        );
    }
}
