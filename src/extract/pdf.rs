//! PDF with pdf-extract (on lopdf): the text of every page, in the order of
//! its content stream, as paragraphs with their page number; lines set in
//! a larger font than the body's are headings. The word and line rules are
//! pdf-extract's own plain-text ones, kept per page so one broken page
//! costs only that page.

use super::{Block, BlockKind, ExtractError, Extracted, Extractor, Limits};
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};

pub struct Pdf;

/// A line of text and the font size it was set in.
#[derive(Debug, Default)]
struct Line {
    text: String,
    size: f64,
    /// A vertical gap larger than a line's went before it: a new paragraph.
    gap_before: bool,
}

/// Collects the lines of each page.
struct Collector {
    pages: Vec<(u32, Vec<Line>)>,
    page_height: f64,
    last_end: f64,
    last_y: f64,
    first_char: bool,
    bytes: usize,
    max_bytes: usize,
    full: bool,
}

impl Collector {
    fn line(&mut self) -> &mut Vec<Line> {
        &mut self.pages.last_mut().expect("begin_page came first").1
    }
}

impl OutputDev for Collector {
    fn begin_page(
        &mut self,
        page_num: u32,
        media_box: &MediaBox,
        _: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.page_height = media_box.ury - media_box.lly;
        self.pages.push((page_num, vec![Line::default()]));
        self.last_end = 100_000.;
        self.last_y = 0.;
        self.first_char = false;
        Ok(())
    }
    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        ch: &str,
    ) -> Result<(), OutputError> {
        if self.full {
            return Err(OutputError::FormatError(std::fmt::Error));
        }
        // pdf-extract's PlainTextOutput, with the page flipped upright.
        let (x, y) = (trm.m31, self.page_height - trm.m32);
        let vx = font_size * trm.m11 + font_size * trm.m21;
        let vy = font_size * trm.m12 + font_size * trm.m22;
        let size = (vx * vy).abs().sqrt();
        if self.first_char {
            let dy = (y - self.last_y).abs();
            let gap = dy > size * 1.5;
            let new_line = gap || (x < self.last_end && dy > size * 0.5);
            if new_line {
                self.line().push(Line {
                    gap_before: gap,
                    ..Line::default()
                });
            } else if x > self.last_end + size * 0.1 {
                self.line().last_mut().expect("a line").text.push(' ');
            }
        }
        let line = self.line().last_mut().expect("a line");
        line.text.push_str(ch);
        line.size = line.size.max(size);
        self.bytes += ch.len();
        if self.bytes > self.max_bytes {
            self.full = true;
        }
        self.first_char = false;
        self.last_y = y;
        self.last_end = x + width * size;
        Ok(())
    }
    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.first_char = true;
        Ok(())
    }
    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

impl Extractor for Pdf {
    fn name(&self) -> &'static str {
        "pdf"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn extract(&self, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
        let mut doc = pdf_extract::Document::load_mem(bytes).map_err(ExtractError::failed)?;
        if doc.is_encrypted() && doc.decrypt("").is_err() {
            return Err(ExtractError::Failed("the PDF is encrypted".into()));
        }
        let pages = doc.get_pages();
        let mut out = Collector {
            pages: Vec::new(),
            page_height: 0.,
            last_end: 100_000.,
            last_y: 0.,
            first_char: false,
            bytes: 0,
            max_bytes: limits.max_text_bytes,
            full: false,
        };
        let mut failed = 0;
        for &number in pages.keys() {
            if out.full {
                break;
            }
            if pdf_extract::output_doc_page(&doc, &mut out, number).is_err() && !out.full {
                failed += 1;
                tracing::debug!(page = number, "PDF page not readable");
            }
        }
        if failed > 0 && failed == pages.len() {
            return Err(ExtractError::Failed(
                "no page of the PDF is readable".into(),
            ));
        }
        let info_title = info_title(&doc);
        let mut e = blocks(out.pages);
        e.pages = Some(pages.len() as u32);
        e.title = info_title.or_else(|| {
            e.body
                .iter()
                .find(|b| b.kind == BlockKind::Heading)
                .map(|b| b.text.clone())
        });
        Ok(e)
    }
}

/// The document information dictionary's `Title`, when it has one.
fn info_title(doc: &pdf_extract::Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let dict = match info {
        pdf_extract::Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        pdf_extract::Object::Dictionary(d) => d,
        _ => return None,
    };
    let raw = dict.get(b"Title").ok()?.as_str().ok()?;
    let title = if let Some(be) = raw.strip_prefix(b"\xFE\xFF") {
        let units = be.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    } else {
        raw.iter().map(|&b| b as char).collect::<String>()
    };
    let title = title.trim().to_string();
    (!title.is_empty()).then_some(title)
}

/// Paragraphs per page; the body's font size is the one most text is set
/// in, and short paragraphs set larger are headings.
fn blocks(pages: Vec<(u32, Vec<Line>)>) -> Extracted {
    let mut by_size: std::collections::HashMap<i64, usize> = Default::default();
    for (_, lines) in &pages {
        for l in lines {
            *by_size.entry((l.size * 2.).round() as i64).or_default() += l.text.len();
        }
    }
    let body_size = by_size
        .into_iter()
        .max_by_key(|&(size, n)| (n, -size))
        .map(|(s, _)| s as f64 / 2.)
        .unwrap_or(0.);
    let mut body = Vec::new();
    for (page, lines) in pages {
        let mut para = String::new();
        let mut larger = true;
        let mut flush = |para: &mut String, larger: &mut bool| {
            let t = para.trim();
            if !t.is_empty() {
                let kind = if *larger && body_size > 0. && t.len() <= 200 {
                    BlockKind::Heading
                } else {
                    BlockKind::Paragraph
                };
                body.push(Block::new(kind, t, Some(page)));
            }
            para.clear();
            *larger = true;
        };
        for l in lines {
            let text = l.text.trim();
            if l.gap_before {
                flush(&mut para, &mut larger);
            }
            if text.is_empty() {
                continue;
            }
            if !para.is_empty() {
                para.push(' ');
            }
            para.push_str(text);
            larger &= l.size >= body_size * 1.15;
        }
        flush(&mut para, &mut larger);
    }
    Extracted {
        body,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, size: f64, gap_before: bool) -> Line {
        Line {
            text: text.into(),
            size,
            gap_before,
        }
    }

    #[test]
    fn larger_short_lines_are_headings_and_blocks_keep_their_page() {
        let pages = vec![
            (
                1,
                vec![
                    line("Banks", 18., false),
                    line("Net interest income rose", 10., true),
                    line("in the quarter.", 10., false),
                    line("Margins held.", 10., true),
                ],
            ),
            (
                2,
                vec![
                    line("Outlook", 18., false),
                    line("2 Sector view", 14., true),
                    line("Flat.", 10., true),
                ],
            ),
        ];
        let e = blocks(pages);
        let b = |k, t, p| (k, t, Some(p));
        assert_eq!(
            crate::extract::kinds_on_pages(&e.body),
            [
                b(BlockKind::Heading, "Banks", 1),
                b(
                    BlockKind::Paragraph,
                    "Net interest income rose in the quarter.",
                    1
                ),
                b(BlockKind::Paragraph, "Margins held.", 1),
                b(BlockKind::Heading, "Outlook", 2),
                b(BlockKind::Heading, "2 Sector view", 2),
                b(BlockKind::Paragraph, "Flat.", 2),
            ]
        );
    }

    #[test]
    fn garbage_and_truncated_pdfs_fail_without_panicking() {
        let limits = Limits::default();
        for bytes in [
            &b"%PDF-1.7\n"[..],
            b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
            b"not a pdf at all",
            b"",
        ] {
            assert!(Pdf.extract(bytes, &limits).is_err(), "{bytes:?}");
        }
    }
}
