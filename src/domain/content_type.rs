//! The content-type rule: a document's media type comes from its first
//! bytes. Only where the bytes show a container or plain text, and cannot
//! tell which kind, does the file name's extension decide: an OOXML
//! document is a zip file, CSV is text.

/// Bytes from the start of a file that decide its type.
pub const SNIFF_LEN: usize = 8192;

/// The type of bytes that show none.
pub const UNKNOWN: &str = "application/octet-stream";

/// The first [`SNIFF_LEN`] bytes of a file read in chunks.
#[derive(Debug, Default)]
pub struct Head(Vec<u8>);

impl Head {
    pub fn push(&mut self, chunk: &[u8]) {
        let take = SNIFF_LEN.saturating_sub(self.0.len()).min(chunk.len());
        self.0.extend_from_slice(&chunk[..take]);
    }

    /// The type of the file these bytes begin, named `file_name`.
    pub fn content_type(&self, file_name: &str) -> String {
        of(&self.0, file_name)
    }
}

/// The media type of a file from its first bytes and, where they are
/// ambiguous, its name.
pub fn of(bytes: &[u8], file_name: &str) -> String {
    let sniffed = sniff(bytes);
    let extension = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let named = match (sniffed.as_str(), extension.as_str()) {
        ("application/zip", "docx") => {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        }
        ("application/zip", "xlsx") => {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        }
        ("application/zip", "pptx") => {
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        }
        ("text/plain", "csv") => "text/csv",
        ("text/plain", "md" | "markdown") => "text/markdown",
        ("text/plain", "json") => "application/json",
        _ => return sniffed,
    };
    named.to_string()
}

/// The media type a file's first bytes show (it reads no more than
/// [`SNIFF_LEN`]); text when they are UTF-8.
pub fn sniff(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_string();
    }
    if looks_like_email(head) {
        return "message/rfc822".into();
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => Some(t),
        // A multi-byte character cut at the end of the sniffed prefix.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    match text {
        Some(t) if t.trim_start().starts_with('<') && t.to_ascii_lowercase().contains("<html") => {
            "text/html".into()
        }
        Some(t) if !t.contains('\0') => "text/plain".into(),
        _ => UNKNOWN.into(),
    }
}

fn looks_like_email(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&head[..head.len().min(2048)]).to_ascii_lowercase();
    let headers = [
        "from:",
        "to:",
        "subject:",
        "date:",
        "message-id:",
        "received:",
        "mime-version:",
    ];
    let first = text.lines().next().unwrap_or_default();
    headers.iter().any(|h| first.starts_with(h))
        && headers.iter().filter(|h| text.contains(**h)).count() >= 3
}

#[cfg(test)]
mod tests {
    use super::{of, sniff, Head, SNIFF_LEN};

    #[test]
    fn the_name_decides_only_what_the_bytes_cannot() {
        let zip = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00";
        assert_eq!(
            of(zip, "Q3 Outlook.DOCX"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert_eq!(
            of(zip, "model.xlsx"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert_eq!(
            of(zip, "deck.pptx"),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        );
        assert_eq!(of(zip, "archive.zip"), "application/zip");
        assert_eq!(of(b"ticker,price\nAAPL,1\n", "prices.csv"), "text/csv");
        assert_eq!(of(b"# Notes\n", "notes.md"), "text/markdown");
        // A name never overrides what the bytes show.
        assert_eq!(of(b"%PDF-1.7\n", "report.csv"), "application/pdf");
        assert_eq!(of(b"%PDF-1.7\n", "report.docx"), "application/pdf");
        assert_eq!(of(b"plain", "no-extension"), "text/plain");
    }

    #[test]
    fn content_types_come_from_the_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n%..."), "application/pdf");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff("plain text, ünïcode".as_bytes()), "text/plain");
        assert_eq!(sniff(b"<!doctype html><html><body>x"), "text/html");
        assert_eq!(
            sniff(b"From: a@b.example\r\nTo: c@d.example\r\nSubject: hi\r\n\r\nbody"),
            "message/rfc822"
        );
        assert_eq!(
            sniff(&[0xff, 0xfe, 0x00, 0x01, 0x80]),
            "application/octet-stream"
        );
        let mut cut = "é".repeat(10).into_bytes();
        cut.pop();
        assert_eq!(sniff(&cut), "text/plain");
    }

    #[test]
    fn only_the_head_decides() {
        let mut text = "a".repeat(SNIFF_LEN).into_bytes();
        text.extend_from_slice(&[0xff, 0x00]);
        assert_eq!(
            sniff(&text),
            "text/plain",
            "bytes past the head are not read"
        );
        let mut head = Head::default();
        for chunk in text.chunks(1000) {
            head.push(chunk);
        }
        assert_eq!(head.content_type("notes"), "text/plain");
        head = Head::default();
        head.push(b"%PDF-");
        head.push(b"1.7\n");
        assert_eq!(head.content_type("report.pdf"), "application/pdf");
    }
}
