//! Plain text (`text/*`, JSON): paragraphs; Markdown headings and list
//! items; CSV rows as table rows.

use super::{paragraphs, Block, BlockKind, ExtractError, Extracted, Extractor, Limits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Plain,
    Markdown,
    Csv,
}

pub struct Text(pub Flavour);

/// UTF-8 (a BOM dropped), UTF-16 with a BOM, else Latin-1-ish lossy UTF-8.
pub(crate) fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    let utf16 = |rest: &[u8], le: bool| {
        let units = rest.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, false);
    }
    String::from_utf8_lossy(bytes).into_owned()
}

impl Extractor for Text {
    fn name(&self) -> &'static str {
        "text"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn extract(&self, bytes: &[u8], _: &Limits) -> Result<Extracted, ExtractError> {
        let text = decode(bytes);
        let body = match self.0 {
            Flavour::Plain => paragraphs(&text, None),
            Flavour::Markdown => markdown(&text),
            Flavour::Csv => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Block::new(BlockKind::Table, csv_row(l), None))
                .collect(),
        };
        let title = match self.0 {
            Flavour::Markdown => body
                .iter()
                .find(|b| b.kind == BlockKind::Heading)
                .map(|b| b.text.clone()),
            _ => None,
        };
        Ok(Extracted {
            title,
            body,
            ..Default::default()
        })
    }
}

/// A CSV line's cells joined by ` | ` (quotes removed).
fn csv_row(line: &str) -> String {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells
        .iter()
        .map(|c| c.trim())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn markdown(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut para = String::new();
    let flush = |para: &mut String, out: &mut Vec<Block>| {
        out.extend(paragraphs(para, None));
        para.clear();
    };
    for line in text.lines() {
        let t = line.trim();
        let heading = t
            .strip_prefix('#')
            .map(|h| h.trim_start_matches('#').trim());
        let item = ["- ", "* ", "+ "]
            .iter()
            .find_map(|m| t.strip_prefix(m))
            .or_else(|| numbered(t));
        if let Some(h) = heading.filter(|h| !h.is_empty()) {
            flush(&mut para, &mut out);
            out.push(Block::new(BlockKind::Heading, h, None));
        } else if let Some(i) = item {
            flush(&mut para, &mut out);
            out.push(Block::new(BlockKind::ListItem, i.trim(), None));
        } else if t.starts_with('|') {
            flush(&mut para, &mut out);
            let cells: Vec<&str> = t.trim_matches('|').split('|').map(str::trim).collect();
            if !cells
                .iter()
                .all(|c| c.chars().all(|c| matches!(c, '-' | ':')))
            {
                out.push(Block::new(BlockKind::Table, cells.join(" | "), None));
            }
        } else {
            para.push_str(line);
            para.push('\n');
        }
    }
    flush(&mut para, &mut out);
    out
}

/// `1. item` / `2) item`.
fn numbered(line: &str) -> Option<&str> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    let rest = &line[digits..];
    rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_headings_items_and_tables() {
        let md = "# Q3 outlook\n\nRevenue grew\nstrongly.\n\n- first\n2. second\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let e = Text(Flavour::Markdown)
            .extract(md.as_bytes(), &Limits::default())
            .unwrap();
        let kinds = crate::extract::kinds(&e.body);
        assert_eq!(
            kinds,
            [
                (BlockKind::Heading, "Q3 outlook"),
                (BlockKind::Paragraph, "Revenue grew strongly."),
                (BlockKind::ListItem, "first"),
                (BlockKind::ListItem, "second"),
                (BlockKind::Table, "a | b"),
                (BlockKind::Table, "1 | 2"),
            ]
        );
        assert_eq!(e.title.as_deref(), Some("Q3 outlook"));
    }

    #[test]
    fn csv_rows_become_table_rows() {
        let e = Text(Flavour::Csv)
            .extract(b"ticker,price\n\"AAPL\",\"1,000\"\n", &Limits::default())
            .unwrap();
        let rows: Vec<&str> = e.body.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(rows, ["ticker | price", "AAPL | 1,000"]);
    }

    #[test]
    fn encodings_are_decoded_and_garbage_is_not_an_error() {
        assert_eq!(decode(b"\xEF\xBB\xBFhi"), "hi");
        assert_eq!(decode(b"\xFF\xFEh\0i\0"), "hi");
        assert_eq!(decode(b"a\xFFb"), "a\u{FFFD}b");
    }
}
