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
        "1"
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
                let cells: Vec<String> = row.iter().map(cell).collect();
                if cells.iter().all(String::is_empty) {
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
