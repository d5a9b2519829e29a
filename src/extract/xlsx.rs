//! XLSX with calamine: each sheet's name as a heading, then its rows as
//! table rows (cells joined by ` | `). Every part calamine may read is
//! inflated once through the guard before calamine reads anything, and
//! sheets are read a cell at a time: a sheet's memory is its current row,
//! however far apart its cells claim to be.

use super::ooxml::Archive;
use super::{Block, BlockKind, ExtractError, Extracted, Extractor, Limits};
use calamine::{Data, Reader};
use std::io::Cursor;

pub struct Xlsx;

/// Empty cells kept between two cells of a row: a table's gaps show, and
/// a cell in column XFD after one in A does not make 16,000 separators.
const MAX_GAP: usize = 16;

impl Extractor for Xlsx {
    fn name(&self) -> &'static str {
        "xlsx"
    }
    fn version(&self) -> &'static str {
        "3"
    }
    fn extract(&self, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
        // Every part calamine may read (XML and relationships) inflated
        // once through the guard: a bomb stops here, in whichever it hides.
        // Pictures and other media are never read, nor inflated.
        let mut archive = Archive::open(bytes, limits)?;
        for name in archive.names() {
            if name.ends_with(".xml") || name.ends_with(".rels") {
                archive.read(&name)?;
            }
        }
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(ExtractError::failed)?;
        let mut rows = Rows {
            body: Vec::new(),
            used: 0,
            limit: limits.max_text_bytes,
        };
        for name in book.sheet_names() {
            let mut cells = book
                .worksheet_cells_reader(&name)
                .map_err(ExtractError::failed)?;
            rows.body
                .push(Block::new(BlockKind::Heading, name.clone(), None));
            // Columns count from the sheet's declared first one.
            let first_column = cells.dimensions().start.1;
            let (mut row_at, mut row) = (None, Vec::new());
            while let Some(c) = cells.next_cell().map_err(ExtractError::failed)? {
                let (r, column) = c.get_position();
                if row_at != Some(r) {
                    rows.push(&mut row);
                    row_at = Some(r);
                }
                let text = cell(&Data::from(c.get_value().clone()));
                if text.is_empty() {
                    continue;
                }
                let at = column.saturating_sub(first_column) as usize;
                if at > row.len() {
                    row.resize(at.min(row.len() + MAX_GAP), String::new());
                }
                row.push(text);
                if rows.full() {
                    break;
                }
            }
            rows.push(&mut row);
            if rows.full() {
                break;
            }
        }
        Ok(Extracted {
            body: rows.body,
            ..Default::default()
        })
    }
}

/// The table rows made so far, and the text they hold against the limit.
struct Rows {
    body: Vec<Block>,
    used: usize,
    limit: usize,
}

impl Rows {
    /// Ends a row (an empty one leaves nothing).
    fn push(&mut self, row: &mut Vec<String>) {
        if row.is_empty() {
            return;
        }
        let text = row.join(" | ");
        row.clear();
        self.used += text.len() + 2;
        self.body.push(Block::new(BlockKind::Table, text, None));
    }

    fn full(&self) -> bool {
        self.used > self.limit
    }
}

fn cell(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        other => other.to_string().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::ooxml::tests::zip_of;

    /// A workbook of sheets, each a list of rows of inline-string cells
    /// (`None`: no cell there).
    fn workbook(sheets: &[(&str, &[&[Option<&str>]])]) -> Vec<u8> {
        let sheets: Vec<(&str, String)> = sheets
            .iter()
            .map(|(name, rows)| {
                let mut data = String::new();
                for (r, row) in rows.iter().enumerate() {
                    data.push_str(&format!(r#"<row r="{}">"#, r + 1));
                    for (c, value) in row.iter().enumerate() {
                        if let Some(v) = value {
                            let col = (b'A' + c as u8) as char;
                            data.push_str(&inline_cell(&format!("{col}{}", r + 1), v));
                        }
                    }
                    data.push_str("</row>");
                }
                (*name, data)
            })
            .collect();
        workbook_of(&sheets, &[])
    }

    fn inline_cell(at: &str, text: &str) -> String {
        format!(r#"<c r="{at}" t="inlineStr"><is><t>{text}</t></is></c>"#)
    }

    /// A workbook of sheets given as their `sheetData` (and whatever comes
    /// before it), with `extra` parts beside them.
    fn workbook_of(sheets: &[(&str, String)], extra: &[(&str, &[u8])]) -> Vec<u8> {
        let mut book = String::from(
            r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
        );
        let mut rels = String::from(
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
        );
        let mut parts = vec![];
        for (i, (name, data)) in sheets.iter().enumerate() {
            let n = i + 1;
            book.push_str(&format!(
                r#"<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>"#
            ));
            rels.push_str(&format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#));
            let xml = if data.starts_with("<dimension") {
                data.replacen("/>", "/><sheetData>", 1)
            } else {
                format!("<sheetData>{data}")
            };
            let xml = format!(
                r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{xml}</sheetData></worksheet>"#
            );
            parts.push((format!("xl/worksheets/sheet{n}.xml"), xml));
        }
        book.push_str("</sheets></workbook>");
        rels.push_str("</Relationships>");
        let types = r#"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>"#;
        let root = r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
        let mut entries: Vec<(&str, &[u8])> = vec![
            ("[Content_Types].xml", types.as_bytes()),
            ("_rels/.rels", root.as_bytes()),
            ("xl/workbook.xml", book.as_bytes()),
            ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ];
        for (name, xml) in &parts {
            entries.push((name, xml.as_bytes()));
        }
        entries.extend_from_slice(extra);
        zip_of(&entries)
    }

    #[test]
    fn each_sheet_is_a_heading_and_its_rows_table_blocks() {
        let bytes = workbook(&[
            (
                "Estimates",
                &[
                    &[Some("Ticker"), Some("EPS"), Some("Note")],
                    &[Some("AAPL"), Some("7.10"), None],
                    &[None, None, None],
                    &[Some("MSFT"), None, Some("no estimate")],
                ],
            ),
            ("Notes", &[&[Some("Source: company data")]]),
        ]);
        let e = Xlsx.extract(&bytes, &Limits::default()).unwrap();
        let got = crate::extract::kinds(&e.body);
        assert_eq!(
            got,
            [
                (BlockKind::Heading, "Estimates"),
                (BlockKind::Table, "Ticker | EPS | Note"),
                (BlockKind::Table, "AAPL | 7.10"),
                (BlockKind::Table, "MSFT |  | no estimate"),
                (BlockKind::Heading, "Notes"),
                (BlockKind::Table, "Source: company data"),
            ]
        );
    }

    #[test]
    fn a_sheet_whose_cells_claim_to_be_far_apart_reads_in_little_memory() {
        // A1 and the last cell a sheet can have: as a range, 17 billion cells.
        let data = format!(
            r#"<dimension ref="A1:XFD1048576"/><row r="1">{}</row><row r="1048576">{}</row>"#,
            inline_cell("A1", "top left"),
            inline_cell("XFD1048576", "bottom right")
        );
        let wide = format!(
            r#"<row r="1">{}{}</row>"#,
            inline_cell("A1", "first"),
            inline_cell("XFD1", "last")
        );
        let bytes = workbook_of(&[("Sparse", data), ("Wide", wide)], &[]);
        let e = Xlsx.extract(&bytes, &Limits::default()).unwrap();
        let got = crate::extract::kinds(&e.body);
        // Gaps are kept, to a point: at the start of a row too.
        let leading = format!("{}bottom right", " | ".repeat(MAX_GAP));
        let gap = format!("first{}last", " | ".repeat(MAX_GAP + 1));
        assert_eq!(
            got,
            [
                (BlockKind::Heading, "Sparse"),
                (BlockKind::Table, "top left"),
                (BlockKind::Table, leading.as_str()),
                (BlockKind::Heading, "Wide"),
                (BlockKind::Table, gap.as_str()),
            ]
        );
    }

    #[test]
    fn a_bomb_in_a_relationships_part_stops_at_the_limit() {
        // 64 MiB of zeros deflate to ~64 KiB.
        let zeros = vec![0u8; 64 << 20];
        let rows = format!(r#"<row r="1">{}</row>"#, inline_cell("A1", "fine"));
        let bytes = workbook_of(
            &[("Sheet", rows)],
            &[("xl/worksheets/_rels/sheet1.xml.rels", zeros.as_slice())],
        );
        assert!(bytes.len() < 1 << 20, "{}", bytes.len());
        let limits = Limits {
            max_unpacked_bytes: 8 << 20,
            ..Limits::default()
        };
        assert!(matches!(
            Xlsx.extract(&bytes, &limits),
            Err(ExtractError::TooLarge(_))
        ));
        assert!(Xlsx.extract(&bytes, &Limits::default()).is_ok());
    }
}
