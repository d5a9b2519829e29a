//! Rule-based analytics of extracted text (contract §10): entities —
//! tickers in their common written forms, ISINs whose check digit holds,
//! money with its currency normalised, percentages, e-mail addresses and
//! URLs — and counts. Deterministic: the same text gives the same result.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    Ticker,
    Isin,
    Money,
    Percentage,
    Email,
    Url,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: EntityType,
    /// As first written.
    pub text: String,
    /// The normalised form occurrences are counted by.
    pub value: String,
    pub count: u64,
}

/// Exchanges written before a ticker (`NASDAQ: AAPL`).
const EXCHANGES: &[&str] = &[
    "NASDAQ", "NYSE", "AMEX", "NYSEARCA", "LSE", "TSX", "ASX", "HKEX", "SEHK", "XETRA", "TSE",
    "SIX", "EURONEXT", "OTC", "BATS", "CBOE",
];

/// Currency symbols and the ISO code they stand for; longest first.
const SYMBOLS: &[(&str, &str)] = &[
    ("US$", "USD"),
    ("C$", "CAD"),
    ("A$", "AUD"),
    ("HK$", "HKD"),
    ("S$", "SGD"),
    ("NZ$", "NZD"),
    ("$", "USD"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("¥", "JPY"),
    ("₹", "INR"),
    ("CHF", "CHF"),
];

/// ISO codes recognised before or after an amount.
const CODES: &[&str] = &[
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "HKD", "CNY", "SGD", "SEK", "NOK", "DKK",
    "INR", "NZD", "BRL", "ZAR", "KRW", "MXN",
];

/// Scale words after an amount, as powers of ten; longest first.
const SCALES: &[(&str, i32)] = &[
    ("trillion", 12),
    ("billion", 9),
    ("million", 6),
    ("thousand", 3),
    ("tn", 12),
    ("bn", 9),
    ("mn", 6),
    ("mm", 6),
    ("k", 3),
    ("m", 6),
    ("b", 9),
    ("t", 12),
];

/// Counts of the extracted text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metrics {
    pub words: u64,
    pub paragraphs: u64,
    pub pages: Option<u32>,
}

/// Words are runs of characters separated by whitespace that hold a letter
/// or a digit.
pub fn word_count(text: &str) -> u64 {
    text.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count() as u64
}

/// Every entity of `text`, most frequent first within each type.
pub fn entities(text: &str) -> Vec<Entity> {
    let mut found: Vec<(EntityType, String, String)> = Vec::new();
    let s = Scanner { s: text };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        // Every match that starts with a letter, digit or `_` starts a
        // word: inside one, skip to its end instead of trying each byte.
        if is_word_byte(bytes[i]) && !s.boundary_before(i) {
            i += bytes[i..].iter().take_while(|&&b| is_word_byte(b)).count();
            continue;
        }
        if let Some((kind, len, value)) = s.at(i) {
            found.push((kind, text[i..i + len].to_string(), value));
            i += len;
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    let mut by_value: HashMap<(EntityType, String), (usize, String, u64)> = HashMap::new();
    for (n, (kind, raw, value)) in found.into_iter().enumerate() {
        by_value
            .entry((kind, value))
            .and_modify(|e| e.2 += 1)
            .or_insert((n, raw, 1));
    }
    let mut out: Vec<(usize, Entity)> = by_value
        .into_iter()
        .map(|((kind, value), (first, text, count))| {
            (
                first,
                Entity {
                    kind,
                    text,
                    value,
                    count,
                },
            )
        })
        .collect();
    out.sort_by(|(fa, a), (fb, b)| {
        (a.kind, std::cmp::Reverse(a.count), *fa).cmp(&(b.kind, std::cmp::Reverse(b.count), *fb))
    });
    out.into_iter().map(|(_, e)| e).collect()
}

struct Scanner<'a> {
    s: &'a str,
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    /// Whether a word ends before `i` (so a match may start there).
    fn boundary_before(&self, i: usize) -> bool {
        i == 0 || !is_word_byte(self.bytes()[i - 1])
    }

    fn boundary_after(&self, i: usize) -> bool {
        i >= self.s.len() || !is_word_byte(self.bytes()[i])
    }

    /// The entity starting at `i`: its type, byte length and value.
    fn at(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let rest = &self.s[i..];
        let first = rest.as_bytes()[0];
        if (rest.starts_with("http://") || rest.starts_with("https://") || rest.starts_with("www."))
            && self.boundary_before(i)
        {
            return self.url(i);
        }
        if first.is_ascii_alphanumeric() && self.boundary_before(i) {
            if let Some(e) = self
                .email(i)
                .or_else(|| self.isin(i))
                .or_else(|| self.exchange_ticker(i))
                .or_else(|| self.bloomberg_ticker(i))
                .or_else(|| self.code_money(i))
                .or_else(|| self.number_entity(i))
            {
                return Some(e);
            }
        }
        if first == b'(' {
            return self.ric(i);
        }
        if first == b'-' && self.boundary_before(i) && rest.len() > 1 {
            let (kind, len, value) = self.percentage(i + 1)?;
            return Some((kind, len + 1, format!("-{value}")));
        }
        self.symbol_money(i).or_else(|| self.dollar_ticker(i))
    }

    /// Uppercase letters from `i` (1–`max`), then a boundary: a symbol.
    fn symbol(&self, i: usize, max: usize) -> Option<usize> {
        let n = self.bytes()[i..]
            .iter()
            .take_while(|b| b.is_ascii_uppercase())
            .count();
        ((1..=max).contains(&n)).then_some(n)
    }

    fn url(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let rest = &self.s[i..];
        let mut len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(rest.len());
        while len > 0 && rest[..len].ends_with(['.', ',', ';', ':', ')', ']', '\'', '!', '?']) {
            len -= 1;
        }
        let url = &rest[..len];
        let host_start = url.find("://").map_or(0, |p| p + 3);
        let host = url[host_start..]
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        if !host.contains('.') || host.ends_with('.') || host.len() < 4 {
            return None;
        }
        let value = if url.starts_with("www.") {
            format!("http://{url}")
        } else {
            url.to_string()
        };
        // Scheme and host are case-insensitive.
        let cut = value.find("://").map_or(0, |p| p + 3);
        let end = cut
            + value[cut..]
                .find(['/', '?', '#'])
                .unwrap_or(value.len() - cut);
        let value = format!("{}{}", value[..end].to_ascii_lowercase(), &value[end..]);
        Some((EntityType::Url, len, value))
    }

    fn email(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let b = self.bytes();
        let local_ok = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
        let at = i + b[i..].iter().take_while(|&&c| local_ok(c)).count();
        if at >= b.len() || b[at] != b'@' || at == i {
            return None;
        }
        let dom_ok = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'.';
        let mut end = at + 1 + b[at + 1..].iter().take_while(|&&c| dom_ok(c)).count();
        while end > at + 1 && b[end - 1] == b'.' {
            end -= 1;
        }
        let domain = &self.s[at + 1..end];
        let tld = domain.rsplit('.').next()?;
        if !domain.contains('.') || tld.len() < 2 || !tld.bytes().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let text = &self.s[i..end];
        Some((EntityType::Email, end - i, text.to_ascii_lowercase()))
    }

    fn isin(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let cand = self.s.get(i..i + 12)?;
        let b = cand.as_bytes();
        let shape = b[..2].iter().all(u8::is_ascii_uppercase)
            && b[2..11]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && b[11].is_ascii_digit();
        (shape && self.boundary_after(i + 12) && isin_check_digit_ok(cand))
            .then(|| (EntityType::Isin, 12, cand.to_string()))
    }

    /// `NASDAQ: AAPL`, `NYSE:IBM`.
    fn exchange_ticker(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let rest = &self.s[i..];
        let exchange = EXCHANGES
            .iter()
            .filter(|x| rest.starts_with(**x))
            .max_by_key(|x| x.len())?;
        let mut j = i + exchange.len();
        if self.bytes().get(j) != Some(&b':') {
            return None;
        }
        j += 1;
        while self.bytes().get(j) == Some(&b' ') {
            j += 1;
        }
        if j >= self.s.len() {
            return None;
        }
        let n = self.symbol(j, 6)?;
        let mut end = j + n;
        // A share class: `BRK.B`.
        if self.bytes().get(end) == Some(&b'.') && self.symbol(end + 1, 1).is_some() {
            end += 2;
        }
        self.boundary_after(end)
            .then(|| (EntityType::Ticker, end - i, self.s[j..end].to_string()))
    }

    /// `AAPL US Equity`.
    fn bloomberg_ticker(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let n = self.symbol(i, 6)?;
        let rest = &self.s[i + n..];
        let b = rest.as_bytes();
        let ok = b.len() >= 10
            && b[0] == b' '
            && b[1].is_ascii_uppercase()
            && b[2].is_ascii_uppercase()
            && rest[3..].starts_with(" Equity");
        (ok && self.boundary_after(i + n + 10))
            .then(|| (EntityType::Ticker, n + 10, self.s[i..i + n].to_string()))
    }

    /// `(AAPL.O)`, a Reuters instrument code in parentheses.
    fn ric(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let j = i + 1;
        if j >= self.s.len() {
            return None;
        }
        let n = self.symbol(j, 6)?;
        let b = self.bytes();
        if b.get(j + n) != Some(&b'.') {
            return None;
        }
        let m = self.symbol(j + n + 1, 2)?;
        let close = j + n + 1 + m;
        (b.get(close) == Some(&b')')).then(|| {
            (
                EntityType::Ticker,
                close + 1 - i,
                self.s[j..j + n].to_string(),
            )
        })
    }

    /// `$AAPL` (a `$` before letters; before digits it is money).
    fn dollar_ticker(&self, i: usize) -> Option<(EntityType, usize, String)> {
        if self.bytes()[i] != b'$' || !self.boundary_before(i) || i + 1 >= self.s.len() {
            return None;
        }
        let n = self.symbol(i + 1, 5)?;
        self.boundary_after(i + 1 + n).then(|| {
            (
                EntityType::Ticker,
                n + 1,
                self.s[i + 1..i + 1 + n].to_string(),
            )
        })
    }

    /// A currency symbol, then an amount: `$1.2bn`, `€ 300m`, `US$5`.
    fn symbol_money(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let rest = &self.s[i..];
        let (sym, code) = SYMBOLS.iter().find(|(s, _)| rest.starts_with(*s))?;
        if sym.as_bytes()[0].is_ascii_alphabetic() && !self.boundary_before(i) {
            return None;
        }
        let mut j = i + sym.len();
        if self.bytes().get(j) == Some(&b' ') {
            j += 1;
        }
        let (len, amount) = self.amount(j)?;
        Some((EntityType::Money, j + len - i, format!("{code} {amount}")))
    }

    /// `USD 1.2bn`.
    fn code_money(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let code = CODES.iter().find(|c| self.s[i..].starts_with(**c))?;
        let mut j = i + 3;
        if self.bytes().get(j) == Some(&b' ') {
            j += 1;
        }
        let (len, amount) = self.amount(j)?;
        Some((EntityType::Money, j + len - i, format!("{code} {amount}")))
    }

    /// A number, then `%`/`percent` (a percentage) or an ISO code (money).
    fn number_entity(&self, i: usize) -> Option<(EntityType, usize, String)> {
        if let Some(p) = self.percentage(i) {
            return Some(p);
        }
        let (len, amount) = self.amount(i)?;
        let j = i + len;
        let rest = &self.s[j..];
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let skip = self.s.len() - j - rest.len();
        let code = CODES.iter().find(|c| rest.starts_with(**c))?;
        let end = j + skip + 3;
        self.boundary_after(end)
            .then(|| (EntityType::Money, end - i, format!("{code} {amount}")))
    }

    fn percentage(&self, i: usize) -> Option<(EntityType, usize, String)> {
        let (len, digits) = self.plain_number(i)?;
        let j = i + len;
        let rest = &self.s[j..];
        let suffix = ["%", " %", " percent", " per cent", "percent"]
            .iter()
            .find(|s| rest.starts_with(**s))?;
        let end = j + suffix.len();
        if suffix.ends_with('t') && !self.boundary_after(end) {
            return None;
        }
        Some((EntityType::Percentage, end - i, format!("{digits}%")))
    }

    /// Digits with optional thousands separators and decimals, at a word
    /// start: its length and the number without separators.
    fn plain_number(&self, i: usize) -> Option<(usize, String)> {
        let b = self.bytes();
        if i >= b.len() || !b[i].is_ascii_digit() || !self.boundary_before(i) {
            return None;
        }
        let mut j = i;
        let mut out = String::new();
        let mut seen_dot = false;
        while j < b.len() {
            let c = b[j];
            if c.is_ascii_digit() {
                out.push(c as char);
                j += 1;
            } else if c == b','
                && !seen_dot
                && b.get(j + 1..j + 4).is_some_and(|d| {
                    d.iter().all(u8::is_ascii_digit)
                        && b.get(j + 4).is_none_or(|n| !n.is_ascii_digit())
                })
            {
                j += 1;
            } else if c == b'.' && !seen_dot && b.get(j + 1).is_some_and(u8::is_ascii_digit) {
                seen_dot = true;
                out.push('.');
                j += 1;
            } else {
                break;
            }
        }
        Some((j - i, out))
    }

    /// An amount with an optional scale (`1.2bn`, `300 million`), in its
    /// normalised form.
    fn amount(&self, i: usize) -> Option<(usize, String)> {
        let (len, digits) = self.plain_number(i)?;
        let mut j = i + len;
        let mut scale = 0;
        let rest = &self.s[j..];
        for spaced in [false, true] {
            let r = if spaced {
                match rest.strip_prefix(' ') {
                    Some(r) => r,
                    None => continue,
                }
            } else {
                rest
            };
            let lower = r.get(..r.len().min(9)).unwrap_or(r).to_ascii_lowercase();
            if let Some((word, exp)) = SCALES.iter().find(|(w, _)| {
                lower.starts_with(w)
                    && (!spaced || w.len() > 2)
                    && self.boundary_after(j + usize::from(spaced) + w.len())
            }) {
                scale = *exp;
                j += usize::from(spaced) + word.len();
                break;
            }
        }
        if !self.boundary_after(j) {
            return None;
        }
        Some((j - i, normalise(&digits, scale)))
    }
}

/// `"1.2"` × 10^9 → `"1.2e9"`; amounts under a thousand stay plain.
fn normalise(number: &str, scale: i32) -> String {
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits: String = format!("{int}{frac}");
    let lead = digits.bytes().take_while(|&b| b == b'0').count();
    let sig = digits[lead..].trim_end_matches('0');
    if sig.is_empty() {
        return "0".into();
    }
    // Exponent of the first significant digit.
    let exp = int.len() as i32 - 1 - lead as i32 + scale;
    if exp >= 3 {
        let (first, more) = sig.split_at(1);
        if more.is_empty() {
            format!("{first}e{exp}")
        } else {
            format!("{first}.{more}e{exp}")
        }
    } else {
        // Plain: place the point after digit `exp`.
        let point = (int.len() as i32 + scale) as usize;
        let all = format!("{}{}", digits, "0".repeat(scale.max(0) as usize));
        let (a, b) = all.split_at(point.min(all.len()));
        let a = a.trim_start_matches('0');
        let b = b.trim_end_matches('0');
        match (a.is_empty(), b.is_empty()) {
            (true, true) => "0".into(),
            (_, true) => a.to_string(),
            (true, _) => format!("0.{b}"),
            _ => format!("{a}.{b}"),
        }
    }
}

/// ISO 6166: letters become numbers (A=10 … Z=35), then the Luhn check.
pub fn isin_check_digit_ok(isin: &str) -> bool {
    let mut digits = Vec::with_capacity(24);
    for c in isin.chars() {
        match c {
            '0'..='9' => digits.push(c as u32 - '0' as u32),
            'A'..='Z' => {
                let v = c as u32 - 'A' as u32 + 10;
                digits.push(v / 10);
                digits.push(v % 10);
            }
            _ => return false,
        }
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(n, &d)| {
            if n % 2 == 1 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(EntityType, String, u64)> {
        entities(text)
            .into_iter()
            .map(|e| (e.kind, e.value, e.count))
            .collect()
    }

    fn of(kind: EntityType, text: &str) -> Vec<String> {
        entities(text)
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.value)
            .collect()
    }

    #[test]
    fn tickers_in_their_written_forms() {
        let text = "We upgrade $AAPL to Buy. Apple (NASDAQ: AAPL) beat; see AAPL US Equity \
                    and Microsoft (MSFT.O). NYSE:BRK.B is flat.";
        assert_eq!(
            values(text)
                .into_iter()
                .filter(|v| v.0 == EntityType::Ticker)
                .collect::<Vec<_>>(),
            [
                (EntityType::Ticker, "AAPL".into(), 3),
                (EntityType::Ticker, "MSFT".into(), 1),
                (EntityType::Ticker, "BRK.B".into(), 1),
            ]
        );
    }

    #[test]
    fn near_miss_tickers_do_not_match() {
        // "$5" is money; a lowercase word, a long run, "CEO:" are not tickers.
        let text =
            "Shares at $5 after $aapl chatter; $ABCDEFG; CEO: Tim; (Apple.o) (AAPL.) NASDAQ:";
        assert!(
            of(EntityType::Ticker, text).is_empty(),
            "{:?}",
            entities(text)
        );
        assert_eq!(of(EntityType::Money, text), ["USD 5"]);
    }

    #[test]
    fn isins_need_a_valid_check_digit() {
        // Apple US0378331005 and BAE Systems GB0002634946 are real; the
        // same with one digit changed is not.
        let text = "Apple (US0378331005), BAE GB0002634946; typo US0378331006 and \
                    XUS0378331005 and US03783310051.";
        assert_eq!(of(EntityType::Isin, text), ["US0378331005", "GB0002634946"]);
        assert!(isin_check_digit_ok("DE000BAY0017"));
        assert!(!isin_check_digit_ok("DE000BAY0018"));
    }

    #[test]
    fn money_is_normalised_with_its_currency() {
        let text = "Revenue of $1.2bn (up from $950m), a €300 million buy-back, £2,500, \
                    USD 4.5 billion of debt, 12 EUR fee, US$0.35 dividend, ¥1,000k.";
        assert_eq!(
            of(EntityType::Money, text),
            [
                "USD 1.2e9",
                "USD 9.5e8",
                "EUR 3e8",
                "GBP 2.5e3",
                "USD 4.5e9",
                "EUR 12",
                "USD 0.35",
                "JPY 1e6"
            ]
        );
    }

    #[test]
    fn percentages_and_their_near_misses() {
        let text = "Margins rose 3.5% to 41 percent; growth -2.1%; 10 per cent. Version 5 of v2%x.";
        assert_eq!(
            of(EntityType::Percentage, text),
            ["3.5%", "41%", "-2.1%", "10%"]
        );
    }

    #[test]
    fn emails_and_urls() {
        let text =
            "Contact Research.Desk@Broker.example or see https://Broker.example/Notes?id=7. \
                    Also www.sec.gov, and not user@localhost or http://x.";
        assert_eq!(
            of(EntityType::Email, text),
            ["research.desk@broker.example"]
        );
        assert_eq!(
            of(EntityType::Url, text),
            ["https://broker.example/Notes?id=7", "http://www.sec.gov"]
        );
    }

    #[test]
    fn counts_and_order_are_deterministic() {
        let text = "$MSFT then $AAPL, $AAPL, 5% and 5%.";
        let a = entities(text);
        assert_eq!(a, entities(text));
        assert_eq!(
            values(text),
            [
                (EntityType::Ticker, "AAPL".into(), 2),
                (EntityType::Ticker, "MSFT".into(), 1),
                (EntityType::Percentage, "5%".into(), 2),
            ]
        );
        assert_eq!(a[0].text, "$AAPL");
        assert_eq!(word_count("Hello, world — 3 items."), 4);
    }

    #[test]
    fn hostile_text_is_harmless() {
        for text in [
            "",
            "$",
            "(",
            "((((",
            "-",
            "1,",
            "1.",
            "US",
            "@@",
            "é$€£¥",
            "https://",
        ] {
            let _ = entities(text);
        }
        let long = "9".repeat(100_000);
        assert_eq!(of(EntityType::Money, &format!("${long}")).len(), 1);
    }
}
