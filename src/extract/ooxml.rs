//! Office Open XML (DOCX, PPTX; XLSX shares the archive guard): the parts'
//! XML read with quick-xml from a zip whose entries, inflated sizes and
//! total are bounded, whatever the archive's directory claims (a zip bomb
//! stops at the limit instead of filling memory).

use super::{Block, BlockKind, ExtractError, Extracted, Extractor, Limits};
use quick_xml::events::{BytesStart, Event};
use std::io::{Cursor, Read};
use zip::ZipArchive;

/// A zip archive read within [`Limits`].
pub(crate) struct Archive<'a> {
    zip: ZipArchive<Cursor<&'a [u8]>>,
    /// Bytes that may still be inflated.
    budget: u64,
}

impl<'a> Archive<'a> {
    pub(crate) fn open(bytes: &'a [u8], limits: &Limits) -> Result<Self, ExtractError> {
        let zip = ZipArchive::new(Cursor::new(bytes)).map_err(ExtractError::failed)?;
        if zip.len() > limits.max_entries {
            return Err(ExtractError::TooLarge(format!(
                "the archive has {} entries (limit {})",
                zip.len(),
                limits.max_entries
            )));
        }
        Ok(Self {
            zip,
            budget: limits.max_unpacked_bytes,
        })
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect()
    }

    /// An entry's inflated bytes; `None` when absent.
    pub(crate) fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>, ExtractError> {
        let entry = match self.zip.by_name(name) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(ExtractError::failed(e)),
        };
        let too_large = || {
            ExtractError::TooLarge("the archive inflates past the limit (a zip bomb?)".to_string())
        };
        if entry.size() > self.budget {
            return Err(too_large());
        }
        let mut out = Vec::new();
        entry
            .take(self.budget + 1)
            .read_to_end(&mut out)
            .map_err(ExtractError::failed)?;
        if out.len() as u64 > self.budget {
            return Err(too_large());
        }
        self.budget -= out.len() as u64;
        Ok(Some(out))
    }
}

fn local(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_string()
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| {
            let key: &str = a.key.as_ref();
            key == name || key.rsplit(':').next() == Some(name)
        })
        .map(|a| a.value.to_string())
}

/// Text of a predefined or character entity reference.
fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

/// What an XML walk sees: element starts (and empties), ends, and text.
enum Item<'e> {
    Start(&'e BytesStart<'e>, bool),
    End(String),
    Text(&'e str),
}

/// Walks `xml`, calling `f` for every item; text has entities resolved.
fn walk(xml: &[u8], mut f: impl FnMut(Item<'_>)) -> Result<(), ExtractError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(ExtractError::failed)?
        {
            Event::Start(e) => f(Item::Start(&e, false)),
            Event::Empty(e) => f(Item::Start(&e, true)),
            Event::End(e) => f(Item::End(e.local_name().as_ref().to_string())),
            Event::Text(t) => f(Item::Text(&t.xml10_content())),
            Event::CData(t) => f(Item::Text(&t)),
            Event::GeneralRef(r) => {
                if let Some(c) = entity(&r) {
                    f(Item::Text(c.encode_utf8(&mut [0; 4])));
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// The tables of a part being walked (DOCX `w:tbl`, PPTX `a:tbl`): a
/// cell collects its paragraphs' text, a row ends as one `table` block,
/// its cells joined by ` | `. A stack, since a cell may hold a table.
#[derive(Default)]
struct Tables {
    /// Per open table: the cells of its current row, and the current cell.
    open: Vec<(Vec<String>, String)>,
}

impl Tables {
    fn start(&mut self, name: &str) {
        match (name, self.open.last_mut()) {
            ("tbl", _) => self.open.push(Default::default()),
            ("tr", Some((row, cell))) => {
                row.clear();
                cell.clear();
            }
            ("tc", Some((_, cell))) => cell.clear(),
            _ => {}
        }
    }

    /// Keeps a paragraph's text in the current cell; false outside tables.
    fn paragraph(&mut self, text: &str) -> bool {
        let Some((_, cell)) = self.open.last_mut() else {
            return false;
        };
        if !cell.is_empty() && !text.is_empty() {
            cell.push(' ');
        }
        cell.push_str(text);
        true
    }

    fn end(&mut self, name: &str, page: Option<u32>, body: &mut Vec<Block>) {
        match (name, self.open.last_mut()) {
            ("tc", Some((row, cell))) => row.push(std::mem::take(cell)),
            ("tr", Some((row, _))) => {
                if row.iter().any(|c| !c.is_empty()) {
                    body.push(Block::new(BlockKind::Table, row.join(" | "), page));
                }
                row.clear();
            }
            ("tbl", _) => {
                self.open.pop();
            }
            _ => {}
        }
    }
}

/// `dc:title` of `docProps/core.xml`.
fn core_title(archive: &mut Archive<'_>) -> Result<Option<String>, ExtractError> {
    let Some(xml) = archive.read("docProps/core.xml")? else {
        return Ok(None);
    };
    let (mut inside, mut title) = (false, String::new());
    walk(&xml, |item| match item {
        Item::Start(e, empty) => inside = !empty && local(e) == "title",
        Item::End(_) => inside = false,
        Item::Text(t) if inside => title.push_str(t),
        Item::Text(_) => {}
    })?;
    let title = title.trim().to_string();
    Ok((!title.is_empty()).then_some(title))
}

/// The extracted document: its title from `docProps/core.xml`, else the
/// first block of kind `title_from`.
fn finish(
    archive: &mut Archive<'_>,
    body: Vec<Block>,
    title_from: BlockKind,
    pages: Option<u32>,
) -> Result<Extracted, ExtractError> {
    let title = core_title(archive)?.or_else(|| {
        body.iter()
            .find(|b| b.kind == title_from)
            .map(|b| b.text.clone())
    });
    Ok(Extracted {
        title,
        body,
        pages,
        ..Default::default()
    })
}

pub struct Docx;

impl Extractor for Docx {
    fn name(&self) -> &'static str {
        "docx"
    }
    fn version(&self) -> &'static str {
        "2"
    }
    fn extract(&self, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
        let mut archive = Archive::open(bytes, limits)?;
        let xml = archive
            .read("word/document.xml")?
            .ok_or_else(|| ExtractError::Failed("no word/document.xml: not a DOCX".into()))?;
        let mut body = Vec::new();
        let (mut para, mut kind) = (String::new(), BlockKind::Paragraph);
        let (mut in_text, mut tables) = (false, Tables::default());
        walk(&xml, |item| match item {
            Item::Start(e, empty) => match local(e).as_str() {
                "p" if !empty => {
                    para.clear();
                    kind = BlockKind::Paragraph;
                }
                "pStyle" => {
                    let style = attr(e, "val").unwrap_or_default().to_ascii_lowercase();
                    if style == "title" {
                        kind = BlockKind::Title;
                    } else if style.starts_with("heading") || style == "subtitle" {
                        kind = BlockKind::Heading;
                    } else if style.contains("list") {
                        kind = BlockKind::ListItem;
                    }
                }
                "numPr" if kind == BlockKind::Paragraph => kind = BlockKind::ListItem,
                "t" => in_text = !empty,
                "tab" => para.push('\t'),
                "br" | "cr" => para.push(' '),
                name if !empty => tables.start(name),
                _ => {}
            },
            Item::End(name) => match name.as_str() {
                "t" => in_text = false,
                "p" => {
                    let t = para.trim();
                    if !tables.paragraph(t) && !t.is_empty() {
                        body.push(Block::new(kind, t, None));
                    }
                    para.clear();
                }
                other => tables.end(other, None, &mut body),
            },
            Item::Text(t) if in_text => para.push_str(t),
            Item::Text(_) => {}
        })?;
        finish(&mut archive, body, BlockKind::Title, None)
    }
}

pub struct Pptx;

/// `ppt/slides/slide12.xml` → 12.
fn slide_number(name: &str) -> Option<u32> {
    name.strip_prefix("ppt/slides/slide")?
        .strip_suffix(".xml")?
        .parse()
        .ok()
}

impl Extractor for Pptx {
    fn name(&self) -> &'static str {
        "pptx"
    }
    fn version(&self) -> &'static str {
        "2"
    }
    fn extract(&self, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
        let mut archive = Archive::open(bytes, limits)?;
        let mut slides: Vec<(u32, String)> = archive
            .names()
            .into_iter()
            .filter_map(|n| slide_number(&n).map(|i| (i, n)))
            .collect();
        if slides.is_empty() {
            return Err(ExtractError::Failed("no slides: not a PPTX".into()));
        }
        slides.sort();
        let mut body = Vec::new();
        for (page, name) in &slides {
            let Some(xml) = archive.read(name)? else {
                continue;
            };
            let (mut para, mut in_text, mut title_shape) = (String::new(), false, false);
            let mut tables = Tables::default();
            walk(&xml, |item| match item {
                Item::Start(e, empty) => match local(e).as_str() {
                    "sp" | "graphicFrame" if !empty => title_shape = false,
                    "ph" => {
                        let t = attr(e, "type").unwrap_or_default();
                        title_shape = t == "title" || t == "ctrTitle";
                    }
                    "t" => in_text = !empty,
                    "br" => para.push(' '),
                    name if !empty => tables.start(name),
                    _ => {}
                },
                Item::End(name) => match name.as_str() {
                    "t" => in_text = false,
                    "p" => {
                        let t = para.trim();
                        if !tables.paragraph(t) && !t.is_empty() {
                            let kind = if title_shape {
                                BlockKind::Heading
                            } else {
                                BlockKind::Paragraph
                            };
                            body.push(Block::new(kind, t, Some(*page)));
                        }
                        para.clear();
                    }
                    other => tables.end(other, Some(*page), &mut body),
                },
                Item::Text(t) if in_text => para.push_str(t),
                Item::Text(_) => {}
            })?;
        }
        finish(
            &mut archive,
            body,
            BlockKind::Heading,
            Some(slides.len() as u32),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    /// A zip of these entries (what the tests build their OOXML files from).
    pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    const DOC: &str = r#"<?xml version="1.0"?><w:document xmlns:w="w"><w:body>
      <w:p><w:pPr><w:pStyle w:val="Title"/></w:pPr><w:r><w:t>Q3 &amp; outlook</w:t></w:r></w:p>
      <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Summary</w:t></w:r></w:p>
      <w:p><w:r><w:t xml:space="preserve">Revenue </w:t></w:r><w:r><w:t>rose 5%.</w:t></w:r></w:p>
      <w:p><w:pPr><w:numPr><w:ilvl w:val="0"/></w:numPr></w:pPr><w:r><w:t>First point</w:t></w:r></w:p>
      <w:tbl><w:tr><w:tc><w:p><w:r><w:t>Ticker</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Price</w:t></w:r></w:p></w:tc></w:tr>
      <w:tr><w:tc><w:p><w:r><w:t>AAPL</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>190</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
      </w:body></w:document>"#;

    #[test]
    fn docx_keeps_title_headings_lists_and_table_rows() {
        let bytes = zip_of(&[("word/document.xml", DOC.as_bytes())]);
        let e = Docx.extract(&bytes, &Limits::default()).unwrap();
        let got = crate::extract::kinds(&e.body);
        assert_eq!(
            got,
            [
                (BlockKind::Title, "Q3 & outlook"),
                (BlockKind::Heading, "Summary"),
                (BlockKind::Paragraph, "Revenue rose 5%."),
                (BlockKind::ListItem, "First point"),
                (BlockKind::Table, "Ticker | Price"),
                (BlockKind::Table, "AAPL | 190"),
            ]
        );
        assert_eq!(e.title.as_deref(), Some("Q3 & outlook"));
    }

    #[test]
    fn pptx_slides_are_pages_in_order_with_titles() {
        let slide = |title: &str, text: &str| {
            format!(
                r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree>
                <p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>{title}</a:t></a:r></a:p></p:txBody></p:sp>
                <p:sp><p:nvSpPr><p:nvPr><p:ph idx="1"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp>
                </p:spTree></p:cSld></p:sld>"#
            )
        };
        let (s1, s2) = (slide("Intro", "Hello"), slide("Numbers", "Up 3%"));
        let bytes = zip_of(&[
            ("ppt/slides/slide10.xml", s2.as_bytes()),
            ("ppt/slides/slide2.xml", s1.as_bytes()),
        ]);
        let e = Pptx.extract(&bytes, &Limits::default()).unwrap();
        let got = crate::extract::kinds_on_pages(&e.body);
        assert_eq!(
            got,
            [
                (BlockKind::Heading, "Intro", Some(2)),
                (BlockKind::Paragraph, "Hello", Some(2)),
                (BlockKind::Heading, "Numbers", Some(10)),
                (BlockKind::Paragraph, "Up 3%", Some(10)),
            ]
        );
        assert_eq!(e.pages, Some(2));
    }

    #[test]
    fn pptx_tables_are_rows_on_their_slide() {
        let cell = |t: &str| {
            format!("<a:tc><a:txBody><a:p><a:r><a:t>{t}</a:t></a:r></a:p></a:txBody></a:tc>")
        };
        let row = |a: &str, b: &str| format!("<a:tr>{}{}</a:tr>", cell(a), cell(b));
        let slide = format!(
            r#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree>
            <p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Estimates</a:t></a:r></a:p></p:txBody></p:sp>
            <p:graphicFrame><a:graphic><a:graphicData><a:tbl>{}{}</a:tbl></a:graphicData></a:graphic></p:graphicFrame>
            <p:sp><p:txBody><a:p><a:r><a:t>Source: company data</a:t></a:r></a:p></p:txBody></p:sp>
            </p:spTree></p:cSld></p:sld>"#,
            row("Year", "EPS"),
            row("2027E", "7.10")
        );
        let bytes = zip_of(&[("ppt/slides/slide1.xml", slide.as_bytes())]);
        let e = Pptx.extract(&bytes, &Limits::default()).unwrap();
        let got = crate::extract::kinds_on_pages(&e.body);
        assert_eq!(
            got,
            [
                (BlockKind::Heading, "Estimates", Some(1)),
                (BlockKind::Table, "Year | EPS", Some(1)),
                (BlockKind::Table, "2027E | 7.10", Some(1)),
                (BlockKind::Paragraph, "Source: company data", Some(1)),
            ]
        );
    }

    #[test]
    fn a_docx_table_in_a_cell_keeps_both_tables_rows() {
        let p = |t: &str| format!("<w:p><w:r><w:t>{t}</w:t></w:r></w:p>");
        let doc = format!(
            r#"<w:document xmlns:w="w"><w:body><w:tbl><w:tr><w:tc>{}</w:tc><w:tc>{}<w:tbl><w:tr><w:tc>{}</w:tc><w:tc>{}</w:tc></w:tr></w:tbl>{}</w:tc></w:tr></w:tbl>{}</w:body></w:document>"#,
            p("Outer"),
            p("before"),
            p("in a"),
            p("in b"),
            p("after"),
            p("Body text.")
        );
        let bytes = zip_of(&[("word/document.xml", doc.as_bytes())]);
        let e = Docx.extract(&bytes, &Limits::default()).unwrap();
        let got = crate::extract::kinds(&e.body);
        assert_eq!(
            got,
            [
                (BlockKind::Table, "in a | in b"),
                (BlockKind::Table, "Outer | before after"),
                (BlockKind::Paragraph, "Body text."),
            ]
        );
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limit() {
        // 64 MiB of zeros deflate to ~64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let bytes = zip_of(&[("word/document.xml", &zeros)]);
        assert!(bytes.len() < 1 << 20, "{}", bytes.len());
        let limits = Limits {
            max_unpacked_bytes: 8 << 20,
            ..Limits::default()
        };
        assert!(matches!(
            Docx.extract(&bytes, &limits),
            Err(ExtractError::TooLarge(_))
        ));
    }

    #[test]
    fn not_a_zip_and_a_zip_without_the_part_fail() {
        let limits = Limits::default();
        assert!(Docx.extract(b"PK\x03\x04 broken", &limits).is_err());
        let empty = zip_of(&[("other.xml", b"<x/>")]);
        assert!(Docx.extract(&empty, &limits).is_err());
        assert!(Pptx.extract(&empty, &limits).is_err());
    }
}
