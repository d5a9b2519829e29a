//! XLSX with calamine: each sheet's name as a heading, then its rows as
//! table rows (cells joined by ` | `). The archive's directory is checked
//! against the limits before calamine inflates anything.

use super::ooxml::Archive;
use super::{Block, BlockKind, ExtractError, Extracted, Extractor, Limits};
use calamine::{Data, Reader};
use std::io::Cursor;

pub struct Xlsx;

impl Extractor for Xlsx {
    fn name(&self) -> &'static str {
        "xlsx"
    }
    fn version(&self) -> &'static str {
        "2"
    }
    fn extract(&self, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
        // Every part inflated once through the guard: a bomb stops here.
        let mut archive = Archive::open(bytes, limits)?;
        for name in archive.names() {
            if name.ends_with(".xml") {
                archive.read(&name)?;
            }
        }
        let mut book: calamine::Xlsx<_> =
            calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(ExtractError::failed)?;
        let mut body = Vec::new();
        let mut used = 0usize;
        'sheets: for name in book.sheet_names() {
            let range = book.worksheet_range(&name).map_err(ExtractError::failed)?;
            body.push(Block::new(BlockKind::Heading, name.clone(), None));
            for row in range.rows() {
                let mut cells: Vec<String> = row.iter().map(cell).collect();
                // The range is as wide as the widest row: no trailing `| |`.
                while cells.last().is_some_and(String::is_empty) {
                    cells.pop();
                }
                if cells.is_empty() {
                    continue;
                }
                let text = cells.join(" | ");
                used += text.len() + 2;
                body.push(Block::new(BlockKind::Table, text, None));
                if used > limits.max_text_bytes {
                    break 'sheets;
                }
            }
        }
        Ok(Extracted {
            body,
            ..Default::default()
        })
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
        let mut book = String::from(
            r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>"#,
        );
        let mut rels = String::from(
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
        );
        let mut parts = vec![];
        for (i, (name, rows)) in sheets.iter().enumerate() {
            let n = i + 1;
            book.push_str(&format!(
                r#"<sheet name="{name}" sheetId="{n}" r:id="rId{n}"/>"#
            ));
            rels.push_str(&format!(r#"<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>"#));
            let mut xml = String::from(
                r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
            );
            for (r, row) in rows.iter().enumerate() {
                xml.push_str(&format!(r#"<row r="{}">"#, r + 1));
                for (c, value) in row.iter().enumerate() {
                    if let Some(v) = value {
                        let col = (b'A' + c as u8) as char;
                        xml.push_str(&format!(
                            r#"<c r="{col}{}" t="inlineStr"><is><t>{v}</t></is></c>"#,
                            r + 1
                        ));
                    }
                }
                xml.push_str("</row>");
            }
            xml.push_str("</sheetData></worksheet>");
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
}
