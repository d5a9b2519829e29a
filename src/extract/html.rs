//! HTML (and HTML e-mail bodies) as text with html2text: headings and list
//! items from its markers, paragraphs between blank lines, and each row of
//! a data table as one `table` block, its cells joined by ` | ` (the
//! separator every extractor uses for rows).
//!
//! html2text lays tables out as a grid, which loses where one cell ends.
//! So before rendering, every data table in the DOM is replaced by one
//! block per row whose cells are preceded by marker characters (from the
//! Private Use Area, stripped from the input first); the rendered lines are
//! then read back into rows. Layout tables (holding another table, marked
//! `role="presentation"`, or a single column, as HTML e-mails are built)
//! are not data: raw mode renders their cells one after another as text.

use super::text::decode;
use super::{Block, BlockKind, ExtractError, Extracted, Extractor, Limits};
use html2text::{Element, Handle, RcDom};
use html5ever::interface::{NodeOrText, TreeSink};
use html5ever::{LocalName, QualName};

pub struct Html;

/// Width html2text wraps at: wide, so a paragraph stays on one line.
const WIDTH: usize = 10_000;

/// Starts a table row in the rendered text.
const ROW: char = '\u{E000}';
/// Starts a cell of the current row.
const CELL: char = '\u{E001}';
/// Ends a table.
const END: char = '\u{E002}';
/// Starts a layout table's cell: a paragraph break.
const BREAK: char = '\u{E003}';

fn is_mark(c: char) -> bool {
    matches!(c, ROW | CELL | END | BREAK)
}

impl Extractor for Html {
    fn name(&self) -> &'static str {
        "html"
    }
    fn version(&self) -> &'static str {
        "3"
    }
    fn extract(&self, bytes: &[u8], _: &Limits) -> Result<Extracted, ExtractError> {
        let html = decode(bytes);
        Ok(Extracted {
            title: title(&html),
            language: language(&html),
            body: blocks(&html)?,
            ..Default::default()
        })
    }
}

/// The body blocks of an HTML text.
pub(crate) fn blocks(html: &str) -> Result<Vec<Block>, ExtractError> {
    let config = html2text::config::plain_no_decorate()
        .link_footnotes(false)
        .raw_mode(true)
        .allow_width_overflow();
    let clean;
    let html = if html.contains(is_mark) {
        clean = html.replace(is_mark, "");
        &clean
    } else {
        html
    };
    let dom = config
        .parse_html(html.as_bytes())
        .map_err(ExtractError::failed)?;
    mark_tables(&dom);
    let tree = config
        .dom_to_render_tree(&dom)
        .map_err(ExtractError::failed)?;
    let text = config
        .render_to_string(tree, WIDTH)
        .map_err(ExtractError::failed)?;
    Ok(read_blocks(&text))
}

/// The tag name of an element.
fn tag(node: &Handle) -> Option<&str> {
    match &node.data {
        Element { name, .. } => Some(&name.local),
        _ => None,
    }
}

fn attr_is(node: &Handle, name: &str, values: &[&str]) -> bool {
    match &node.data {
        Element { attrs, .. } => attrs.borrow().iter().any(|a| {
            &*a.name.local == name && values.iter().any(|v| a.value.eq_ignore_ascii_case(v))
        }),
        _ => false,
    }
}

/// The elements of a table, in document order, without those of tables
/// nested in it; walked without recursion (hostile HTML nests deeply).
fn own(table: &Handle) -> Vec<Handle> {
    let mut out = Vec::new();
    let mut stack: Vec<Handle> = table.children.borrow().iter().rev().cloned().collect();
    while let Some(node) = stack.pop() {
        if tag(&node) != Some("table") {
            stack.extend(node.children.borrow().iter().rev().cloned());
        }
        out.push(node);
    }
    out
}

/// The tables under `root` in document order, each with whether it holds
/// another table (one walk, however deep tables nest).
fn tables(root: &Handle) -> Vec<(Handle, bool)> {
    let mut out: Vec<(Handle, bool)> = Vec::new();
    let mut stack: Vec<(Handle, Option<usize>)> = root
        .children
        .borrow()
        .iter()
        .rev()
        .map(|c| (c.clone(), None))
        .collect();
    while let Some((node, within)) = stack.pop() {
        let mut inner = within;
        if tag(&node) == Some("table") {
            if let Some(outer) = within {
                out[outer].1 = true;
            }
            inner = Some(out.len());
            out.push((node.clone(), false));
        }
        stack.extend(
            node.children
                .borrow()
                .iter()
                .rev()
                .map(|c| (c.clone(), inner)),
        );
    }
    out
}

/// A table's rows, each its cells.
fn rows(table: &Handle) -> Vec<Vec<Handle>> {
    own(table)
        .iter()
        .filter(|n| tag(n) == Some("tr"))
        .map(|tr| {
            tr.children
                .borrow()
                .iter()
                .filter(|c| is_cell(c))
                .cloned()
                .collect()
        })
        .collect()
}

fn is_cell(node: &Handle) -> bool {
    matches!(tag(node), Some("td" | "th"))
}

/// Replaces each data table by one `div` per row, holding the marks and
/// the cells' content, then an end mark; a layout table's cells start
/// with a paragraph break.
fn mark_tables(dom: &RcDom) {
    // Decided on the DOM as parsed, before any table is rewritten.
    let mut data: Vec<(Handle, Vec<Vec<Handle>>)> = Vec::new();
    let mut layout_cells: Vec<Handle> = Vec::new();
    for (table, nested) in tables(&dom.document) {
        let rows = rows(&table);
        let layout = nested
            || attr_is(&table, "role", &["presentation", "none"])
            || rows.iter().all(|r| r.len() < 2);
        if layout {
            layout_cells.extend(rows.into_iter().flatten());
        } else {
            data.push((table, rows));
        }
    }
    for cell in layout_cells {
        let first = cell.children.borrow().first().cloned();
        if let Some(first) = first {
            dom.append_before_sibling(&first, NodeOrText::AppendText(BREAK.to_string().into()));
        }
    }
    let element = |name: &str| {
        dom.create_element(
            QualName::new(None, html2text::ns!(html), LocalName::from(name)),
            vec![],
            Default::default(),
        )
    };
    let mark = |parent: &Handle, c: char| {
        dom.append(parent, NodeOrText::AppendText(c.to_string().into()));
    };
    for (table, rows) in data {
        // A caption is text too: it stays, before the rows.
        for caption in table
            .children
            .borrow()
            .iter()
            .filter(|c| tag(c) == Some("caption"))
        {
            let div = element("div");
            dom.reparent_children(caption, &div);
            dom.append_before_sibling(&table, NodeOrText::AppendNode(div));
        }
        for cells in rows {
            let row = element("div");
            mark(&row, ROW);
            for cell in cells {
                mark(&row, CELL);
                dom.reparent_children(&cell, &row);
            }
            dom.append_before_sibling(&table, NodeOrText::AppendNode(row));
        }
        let end = element("div");
        mark(&end, END);
        dom.append_before_sibling(&table, NodeOrText::AppendNode(end));
        dom.remove_from_parent(&table);
    }
}

/// Collects the rows of a marked table from the rendered lines.
#[derive(Default)]
struct Rows {
    open: bool,
    cells: Vec<String>,
}

impl Rows {
    /// Takes the marks and text of one line.
    fn line(&mut self, line: &str, out: &mut Vec<Block>) {
        let mut rest = line;
        while !rest.is_empty() {
            let at = rest.find(is_mark).unwrap_or(rest.len());
            let text = rest[..at].trim();
            if !text.is_empty() {
                match self.cells.last_mut() {
                    Some(cell) => {
                        if !cell.is_empty() {
                            cell.push(' ');
                        }
                        cell.push_str(text);
                    }
                    None => self.cells.push(text.to_string()),
                }
            }
            let Some(mark) = rest[at..].chars().next() else {
                break;
            };
            match mark {
                ROW => {
                    self.finish_row(out);
                    self.open = true;
                }
                CELL => self.cells.push(String::new()),
                _ => {
                    self.finish_row(out);
                    self.open = false;
                }
            }
            rest = &rest[at + mark.len_utf8()..];
        }
    }

    fn finish_row(&mut self, out: &mut Vec<Block>) {
        let cells = std::mem::take(&mut self.cells);
        if cells.iter().any(|c| !c.is_empty()) {
            out.push(Block::new(BlockKind::Table, cells.join(" | "), None));
        }
    }
}

/// Blocks from html2text's rendering with the table marks.
fn read_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut para = String::new();
    let mut rows = Rows::default();
    let flush = |para: &mut String, out: &mut Vec<Block>| {
        let t = para.trim();
        if !t.is_empty() {
            out.push(Block::new(BlockKind::Paragraph, t, None));
        }
        para.clear();
    };
    // A layout cell's start is a paragraph's.
    let text = text.replace(BREAK, "\n\n");
    for line in text.lines() {
        let t = line.trim();
        if rows.open || t.starts_with(ROW) {
            flush(&mut para, &mut out);
            rows.line(t, &mut out);
            continue;
        }
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
    rows.finish_row(&mut out);
    out
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

/// How far into a document its `<html>` element is looked for.
const LANG_HEAD: usize = 64 * 1024;

/// The `lang` of the `<html>` element, when it is a language tag (see
/// `language_tag`).
fn language(html: &str) -> Option<String> {
    let b = &html.as_bytes()[..html.len().min(LANG_HEAD)];
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
        } else if b[i..].starts_with(b"<!--") {
            i += 4 + b[i + 4..].windows(3).position(|w| w == b"-->")? + 3;
        } else {
            let name = &b[i + 1..];
            let n = name
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            if name[..n].eq_ignore_ascii_case(b"html") {
                let value = std::str::from_utf8(lang_attribute(&name[n..])?).ok()?;
                return super::language_tag(value);
            }
            i += 1;
        }
    }
    None
}

/// The value of the `lang` attribute among a tag's attributes (`rest`
/// starts after the tag's name); `None` at the tag's end without one.
fn lang_attribute(mut rest: &[u8]) -> Option<&[u8]> {
    let skip_space =
        |r: &[u8]| -> usize { r.iter().take_while(|c| c.is_ascii_whitespace()).count() };
    loop {
        rest = &rest[skip_space(rest)..];
        let n = rest
            .iter()
            .take_while(|&&c| !c.is_ascii_whitespace() && !matches!(c, b'=' | b'>' | b'/'))
            .count();
        match rest.first()? {
            b'>' => return None,
            b'/' if n == 0 => {
                rest = &rest[1..];
                continue;
            }
            _ => {}
        }
        let name = &rest[..n];
        let mut after = &rest[n..];
        after = &after[skip_space(after)..];
        let mut value: &[u8] = b"";
        if after.first() == Some(&b'=') {
            let v = &after[1..];
            let v = &v[skip_space(v)..];
            (value, after) = match v.first() {
                Some(&q @ (b'"' | b'\'')) => {
                    let end = v[1..].iter().position(|&c| c == q)?;
                    (&v[1..1 + end], &v[end + 2..])
                }
                _ => {
                    let end = v
                        .iter()
                        .take_while(|&&c| !c.is_ascii_whitespace() && c != b'>')
                        .count();
                    (&v[..end], &v[end..])
                }
            };
        } else if n == 0 {
            after = &after[1..]; // a stray character: step over it
        }
        if name.eq_ignore_ascii_case(b"lang") {
            return Some(value);
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_language_comes_from_its_html_element() {
        let lang = |html: &str| language(html);
        assert_eq!(
            lang(r#"<!doctype html><HTML LANG="en-gb"><p>x"#).as_deref(),
            Some("en-GB")
        );
        assert_eq!(lang("<html class=a lang='de'>").as_deref(), Some("de"));
        assert_eq!(lang("<html lang=pt-BR>").as_deref(), Some("pt-BR"));
        assert_eq!(
            lang(r#"<html xml:lang="fr" lang = "fr">"#).as_deref(),
            Some("fr")
        );
        // Not a language: nothing rather than something made up.
        assert_eq!(lang(r#"<html lang="<script>">"#), None);
        assert_eq!(lang(r#"<html lang="">"#), None);
        assert_eq!(lang(r#"<html data-lang="en">"#), None);
        assert_eq!(lang(r#"<htmlx lang="en"><p lang="en">"#), None);
        assert_eq!(lang("<p>no html element</p>"), None);
        assert_eq!(lang(r#"<html lang="en"#), None, "an unclosed tag");
        // What only looks like the attribute, or like the element.
        assert_eq!(
            lang(r#"<html data-x=" lang=xx" lang="en">"#).as_deref(),
            Some("en")
        );
        assert_eq!(
            lang(r#"<html title="a > b" lang="nl">"#).as_deref(),
            Some("nl")
        );
        assert_eq!(
            lang(r#"<!-- <html lang="xx"> --><html lang="sv">"#).as_deref(),
            Some("sv")
        );
        assert_eq!(lang(r#"<!-- never closed <html lang="xx">"#), None);
        assert_eq!(lang("<html / lang=fi >").as_deref(), Some("fi"));
        assert_eq!(lang("<html lang>"), None, "no value");
        // Only near the top.
        let late = format!("{}<html lang=\"en\">", " ".repeat(LANG_HEAD));
        assert_eq!(lang(&late), None);
        // The usual spelling of each part.
        assert_eq!(
            lang(r#"<html lang="ZH-hant-tw">"#).as_deref(),
            Some("zh-Hant-TW")
        );
        assert_eq!(lang(r#"<html lang="en-x-ab">"#).as_deref(), Some("en-x-ab"));
        assert_eq!(lang(r#"<html lang="es-419">"#).as_deref(), Some("es-419"));
        // Every short tail of an `<html` tag over the characters that
        // matter to the scanner: no panic.
        let alphabet = ['<', '>', '=', '"', '\'', '/', ' ', '-', '!', 'l'];
        let mut tails = vec![String::new()];
        for _ in 0..5 {
            tails = tails
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            for t in &tails {
                let _ = lang(&format!("<html{t}"));
                let _ = lang(&format!("<html lang{t}"));
            }
        }
        // Hostile bytes: no panic, nothing made up.
        for junk in [
            "<html lang='é",
            "<html \u{0}lang=en",
            "<<html",
            "<html =",
            "<html lang=\"\u{7f}\">",
        ] {
            let _ = lang(junk);
        }
    }

    #[test]
    fn headings_lists_and_paragraphs_are_kept() {
        let html = "<html><head><title> Weekly\n note </title><script>alert(1)</script></head>\
            <body><h1>Banks</h1><p>Net interest income rose.</p><ul><li>one</li><li>two</li></ul>\
            <p>Second <b>para</b>.</p></body></html>";
        let e = Html.extract(html.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(e.title.as_deref(), Some("Weekly note"));
        let got = crate::extract::kinds(&e.body);
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
    fn data_table_rows_are_table_blocks() {
        // Word-style cells (a paragraph in each), a header row, an empty
        // row, a caption, and text around the table.
        let html = "<p>Before.</p><table><caption>Ratings</caption>\
            <thead><tr><th>Ticker</th><th>Target</th><th>Rating</th></tr></thead>\
            <tbody><tr><td><p class=MsoNormal>AAPL</p></td><td>210.5</td><td>Buy <b>(new)</b></td></tr>\
            <tr><td></td><td> </td></tr>\
            <tr><td>MSFT</td><td>\n 450\n</td></tr></tbody></table><p>After.</p>";
        assert_eq!(
            crate::extract::kinds(&blocks(html).unwrap()),
            [
                (BlockKind::Paragraph, "Before."),
                (BlockKind::Paragraph, "Ratings"),
                (BlockKind::Table, "Ticker | Target | Rating"),
                (BlockKind::Table, "AAPL | 210.5 | Buy (new)"),
                (BlockKind::Table, "MSFT | 450"),
                (BlockKind::Paragraph, "After."),
            ]
        );
    }

    #[test]
    fn layout_tables_are_text_and_the_data_table_inside_is_rows() {
        // How HTML e-mails are built: an outer layout table, a one-column
        // table, and a data table nested in a cell.
        let html = "<table width=600><tr><td><h2>Morning note</h2><p>Rates held.</p></td>\
            <td><table><tr><td>EUR</td><td>1.08</td></tr><tr><td>JPY</td><td>151</td></tr></table></td></tr></table>\
            <table><tr><td>Only one column</td></tr><tr><td>still text</td></tr></table>\
            <table role=presentation><tr><td>Left</td><td>Right</td></tr></table>";
        assert_eq!(
            crate::extract::kinds(&blocks(html).unwrap()),
            [
                (BlockKind::Heading, "Morning note"),
                (BlockKind::Paragraph, "Rates held."),
                (BlockKind::Table, "EUR | 1.08"),
                (BlockKind::Table, "JPY | 151"),
                (BlockKind::Paragraph, "Only one column"),
                (BlockKind::Paragraph, "still text"),
                (BlockKind::Paragraph, "Left"),
                (BlockKind::Paragraph, "Right"),
            ]
        );
    }

    #[test]
    fn the_marks_in_the_input_do_not_make_tables() {
        let html =
            "<p>\u{E000}a\u{E001}b\u{E002}</p><table><tr><td>x\u{E001}</td><td>y</td></tr></table>";
        assert_eq!(
            crate::extract::kinds(&blocks(html).unwrap()),
            [(BlockKind::Paragraph, "ab"), (BlockKind::Table, "x | y")]
        );
    }

    #[test]
    fn broken_html_still_gives_text() {
        let e = Html
            .extract(b"<p>open <div><<>>&&amp; <b>x", &Limits::default())
            .unwrap();
        assert!(e.text().contains("open"), "{:?}", e.text());
    }
}
