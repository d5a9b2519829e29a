//! E-mail (`message/rfc822`): subject, from, to and date as header blocks,
//! then the text body; an HTML-only body as text (html2text).

use super::{html, paragraphs, Block, BlockKind, ExtractError, Extracted, Extractor, Limits};
use mail_parser::{Address, MessageParser, MimeHeaders, PartType};

pub struct Email;

fn addresses(a: Option<&Address<'_>>) -> Option<String> {
    let list: Vec<String> = a?
        .iter()
        .map(|m| match (m.name(), m.address()) {
            (Some(n), Some(a)) => format!("{n} <{a}>"),
            (None, Some(a)) => a.to_string(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

impl Extractor for Email {
    fn name(&self) -> &'static str {
        "email"
    }
    fn version(&self) -> &'static str {
        "1"
    }
    fn extract(&self, bytes: &[u8], _: &Limits) -> Result<Extracted, ExtractError> {
        let msg = MessageParser::default()
            .parse(bytes)
            .ok_or_else(|| ExtractError::Failed("not a readable e-mail message".into()))?;
        let mut body = Vec::new();
        let subject = msg.subject().map(|s| s.trim().to_string());
        let date = msg.date().map(|d| d.to_rfc3339());
        for (name, value) in [
            ("Subject", subject.clone()),
            ("From", addresses(msg.from())),
            ("To", addresses(msg.to())),
            ("Date", date),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                body.push(Block::new(BlockKind::Header, format!("{name}: {v}"), None));
            }
        }
        // The first text part, else the first HTML part, as the body.
        let text = msg
            .text_body
            .iter()
            .find_map(|&i| match &msg.parts.get(i as usize)?.body {
                PartType::Text(t) => Some(t.to_string()),
                _ => None,
            });
        match text {
            Some(t) => body.extend(paragraphs(&t, None)),
            None => {
                let html =
                    msg.html_body
                        .iter()
                        .find_map(|&i| match &msg.parts.get(i as usize)?.body {
                            PartType::Html(h) => Some(h.to_string()),
                            _ => None,
                        });
                if let Some(h) = html {
                    body.extend(html::blocks(&h)?);
                }
            }
        }
        let language = msg
            .content_language()
            .as_text_list()
            .and_then(|l| l.first().and_then(|s| super::language_tag(s)));
        Ok(Extracted {
            title: subject.filter(|s| !s.is_empty()),
            language,
            body,
            pages: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_the_text_body_are_extracted() {
        let raw = "From: Desk <desk@broker.example>\r\nTo: a@x.example\r\nSubject: AAPL note\r\n\
                   Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\nLine one\r\nwrapped.\r\n\r\nTwo.\r\n";
        let e = Email.extract(raw.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(e.title.as_deref(), Some("AAPL note"));
        let texts: Vec<&str> = e.body.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Subject: AAPL note",
                "From: Desk <desk@broker.example>",
                "To: a@x.example",
                "Date: 2026-12-01T10:00:00Z",
                "Line one wrapped.",
                "Two."
            ]
        );
    }

    #[test]
    fn the_language_is_content_languages_tag_in_its_usual_spelling() {
        let language = |header: &str| {
            let raw = format!("From: a@x.example\r\n{header}\r\n\r\nText.\r\n");
            Email
                .extract(raw.as_bytes(), &Limits::default())
                .unwrap()
                .language
        };
        assert_eq!(
            language("Content-Language: EN-us").as_deref(),
            Some("en-US")
        );
        assert_eq!(language("Content-Language: de, en").as_deref(), Some("de"));
        assert_eq!(language("Content-Language: <b>x</b>"), None);
        assert_eq!(language("Subject: none declared"), None);
    }

    #[test]
    fn an_html_only_body_is_read_as_text() {
        let raw = "From: a@x.example\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n\
                   <html><body><h2>Rates</h2><p>Hold at 4%.</p><script>x()</script></body></html>";
        let e = Email.extract(raw.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(
            crate::extract::kinds(&e.body[2..]),
            [
                (BlockKind::Heading, "Rates"),
                (BlockKind::Paragraph, "Hold at 4%.")
            ]
        );
    }
}
