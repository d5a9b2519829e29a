//! HTML (and HTML e-mail bodies) as text with html2text: headings and list
//! items from its markers, paragraphs between blank lines.

use super::text::decode;
use super::{Block, BlockKind, ExtractError, Extracted, Extractor, Limits};

pub struct Html;

/// Width html2text wraps at: wide, so a paragraph stays on one line.
const WIDTH: usize = 10_000;

impl Extractor for Html {
    fn name(&self) -> &'static str {
        "html"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn extract(&self, bytes: &[u8], _: &Limits) -> Result<Extracted, ExtractError> {
        let html = decode(bytes);
        Ok(Extracted {
            title: title(&html),
            body: blocks(&html)?,
            ..Default::default()
        })
    }
}

/// The body blocks of an HTML text.
pub(crate) fn blocks(html: &str) -> Result<Vec<Block>, ExtractError> {
    let text = html2text::config::plain_no_decorate()
        .link_footnotes(false)
        .no_table_borders()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), WIDTH)
        .map_err(ExtractError::failed)?;
    let mut out = Vec::new();
    let mut para = String::new();
    let flush = |para: &mut String, out: &mut Vec<Block>| {
        let t = para.trim();
        if !t.is_empty() {
            out.push(Block::new(BlockKind::Paragraph, t, None));
        }
        para.clear();
    };
    for line in text.lines() {
        let t = line.trim();
        let heading = t
            .strip_prefix('#')
            .map(|h| h.trim_start_matches('#'))
            .and_then(|h| h.strip_prefix(' '));
        if let Some(h) = heading {
            flush(&mut para, &mut out);
            out.push(Block::new(BlockKind::Heading, h.trim(), None));
        } else if let Some(item) = t.strip_prefix("* ").or_else(|| ordered(t)) {
            flush(&mut para, &mut out);
            out.push(Block::new(BlockKind::ListItem, item.trim(), None));
        } else if t.is_empty() {
            flush(&mut para, &mut out);
        } else {
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(t);
        }
    }
    flush(&mut para, &mut out);
    Ok(out)
}

fn ordered(line: &str) -> Option<&str> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    (1..=9)
        .contains(&digits)
        .then(|| line[digits..].strip_prefix(". "))
        .flatten()
}

/// The `<title>`'s text, entities left as written but whitespace folded.
fn title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let close = open_end + lower[open_end..].find("</title")?;
    let t = html[open_end..close]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_lists_and_paragraphs_are_kept() {
        let html = "<html><head><title> Weekly\n note </title><script>alert(1)</script></head>\
            <body><h1>Banks</h1><p>Net interest income rose.</p><ul><li>one</li><li>two</li></ul>\
            <p>Second <b>para</b>.</p></body></html>";
        let e = Html.extract(html.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(e.title.as_deref(), Some("Weekly note"));
        let got: Vec<(BlockKind, &str)> =
            e.body.iter().map(|b| (b.kind, b.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (BlockKind::Heading, "Banks"),
                (BlockKind::Paragraph, "Net interest income rose."),
                (BlockKind::ListItem, "one"),
                (BlockKind::ListItem, "two"),
                (BlockKind::Paragraph, "Second para."),
            ]
        );
        assert!(!e.text().contains("alert"), "no script text");
    }

    #[test]
    fn broken_html_still_gives_text() {
        let e = Html
            .extract(b"<p>open <div><<>>&&amp; <b>x", &Limits::default())
            .unwrap();
        assert!(e.text().contains("open"), "{:?}", e.text());
    }
}
