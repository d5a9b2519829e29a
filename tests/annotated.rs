//! Contract §10 through the real server: every document is processed
//! (text extracted in a bounded child process, entities and counts) before
//! it is `completed`, hostile files included, and
//! `GET /documents/{id}/annotated` serves the result with its signed URL.

mod common;

use common::{assert_error, document_path, TestServer};
use serde_json::{json, Value};
use std::io::Write;

const MARKDOWN: &str = "# Apple upgrade\n\n\
    We upgrade $AAPL (NASDAQ: AAPL) to Buy; ISIN US0378331005, not US0378331006.\n\
    Revenue of $1.2bn, margins up 3.5%.\n\n\
    - Contact research@broker.example\n\
    - See https://broker.example/notes\n";

fn annotated_path(id: &str) -> String {
    format!("{}/annotated", document_path(id))
}

/// `GET …/annotated`, checked against its schema in `/openapi.json`.
async fn annotated(s: &TestServer, key: &str, id: &str) -> Value {
    let resp = s.get(&annotated_path(id), key).await;
    assert_eq!(resp.status(), 200, "GET annotated");
    let body: Value = resp.json().await.unwrap();
    let doc: Value = s
        .get_without_key("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    for path in ["/contents/v1/documents/{id}/annotated", "/annotated/{id}"] {
        let schema =
            &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{path} is documented");
        if let Err(e) = common::schema::validate(&doc, schema, &body, "$") {
            panic!("{path} does not match its schema: {e}\n{body}");
        }
    }
    body
}

/// A PDF of these objects (numbered from 1, object 1 the catalog), with a
/// correct cross-reference table.
fn pdf_of(objects: &[String]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .bytes(),
    );
    out
}

/// A stream object's text.
fn stream(content: &str) -> String {
    format!(
        "<< /Length {} >>\nstream\n{content}\nendstream",
        content.len()
    )
}

/// The objects of a PDF of one page per entry, each page's lines in
/// Helvetica (its font dictionary `font`): 1 catalog, 2 pages, 3 font,
/// then (page, content) per page.
fn pdf_objects(pages: &[&[&str]], font: &str) -> Vec<String> {
    let n = pages.len();
    let mut objects: Vec<String> = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".into(),
        format!(
            "<< /Type /Pages /Count {n} /Kids [{}] >>",
            (0..n)
                .map(|i| format!("{} 0 R", 4 + 2 * i))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        font.into(),
    ];
    for (i, lines) in pages.iter().enumerate() {
        let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL\n");
        for l in *lines {
            content.push_str(&format!("({l}) Tj T*\n"));
        }
        content.push_str("ET");
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        objects.push(stream(&content));
    }
    objects
}

const HELVETICA: &str = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>";

/// A PDF of one page per entry, each page's lines in Helvetica.
fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    pdf_of(&pdf_objects(pages, HELVETICA))
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn extraction(doc: &Value) -> (String, bool) {
    let e = &doc["file_metadata"]["extraction"];
    (
        e["status"].as_str().unwrap_or("absent").to_string(),
        e["error"].is_string(),
    )
}

#[tokio::test]
async fn a_processed_upload_is_annotated_and_its_signed_url_serves_the_same() {
    let s = TestServer::builder().manual_jobs().start().await;
    let key = &s.admin_key;
    let doc = s
        .upload(key, "apple.md", MARKDOWN.as_bytes(), json!({}))
        .await;
    let id = doc["id"].as_str().unwrap();
    assert_eq!(doc["status"], "completed");
    assert_eq!(
        doc["file_metadata"]["extraction"],
        json!({"status": "ok", "error": null})
    );

    let a = annotated(&s, key, id).await;
    assert_eq!(a["document"], doc);
    assert_eq!(a["content"]["title"], "Apple upgrade");
    let body = a["content"]["body"].as_array().unwrap();
    let kinds: Vec<&str> = body.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["heading", "paragraph", "list_item", "list_item"]);
    assert!(body.iter().all(|b| b["page"].is_null()));
    assert_eq!(a["profiling"]["extractor"], "text");
    assert!(
        a["profiling"]["started_at"].as_str().unwrap()
            <= a["profiling"]["finished_at"].as_str().unwrap()
    );
    assert_eq!(
        a["profiling"]["characters"].as_u64().unwrap(),
        body.iter()
            .map(|b| b["text"].as_str().unwrap().chars().count() as u64)
            .sum::<u64>()
            + 2 * (body.len() as u64 - 1)
    );
    assert_eq!(a["analytics"]["metrics"]["paragraphs"], 3);
    let entities: Vec<(String, String, u64)> = a["analytics"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
                e["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let expect = |t: &str, v: &str, n: u64| (t.to_string(), v.to_string(), n);
    assert_eq!(
        entities,
        [
            expect("ticker", "AAPL", 2),
            expect("isin", "US0378331005", 1),
            expect("money", "USD 1.2e9", 1),
            expect("percentage", "3.5%", 1),
            expect("email", "research@broker.example", 1),
            expect("url", "https://broker.example/notes", 1),
        ],
        "the ISIN with a wrong check digit is not one"
    );

    // The signed URL needs no key, serves the same JSON and can be reused.
    let url = a["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/annotated/{id}?", s.base)),
        "{url}"
    );
    for _ in 0..2 {
        let resp = s.http.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.json::<Value>().await.unwrap(), a);
    }
    let tampered = url.replace("signature=", "signature=0");
    assert_error(
        s.http.get(&tampered).send().await.unwrap(),
        403,
        "INVALID_SIGNATURE",
    )
    .await;
    // A download signature does not open the annotated JSON.
    let original = s.original_url(key, id).await;
    let query = original.split_once('?').unwrap().1;
    let crossed = format!("{}/annotated/{id}?{query}", s.base);
    assert_error(
        s.http.get(&crossed).send().await.unwrap(),
        403,
        "INVALID_SIGNATURE",
    )
    .await;

    // Gone with the document, signed URL included.
    assert_eq!(s.delete(&document_path(id), key).await.status(), 200);
    assert_error(
        s.get(&annotated_path(id), key).await,
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;
    assert_error(
        s.http.get(url).send().await.unwrap(),
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;
    // Not only unreachable: the processed content is gone from the store.
    let state = s.open_state().await;
    let id = inlet::domain::DocumentId::parse(id).unwrap();
    assert!(state.store.processed_content(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn annotated_follows_the_documents_visibility() {
    let s = TestServer::builder().manual_jobs().start().await;
    let owner = s.create_key("acme", "alice");
    let member = s.create_key("acme", "bob");
    let outsider = s.create_key("globex", "carol");
    let private = s.upload(&owner, "p.txt", b"private $MSFT", json!({})).await;
    let shared = s
        .upload(
            &owner,
            "s.txt",
            b"shared $MSFT",
            json!({"share_with_org": true}),
        )
        .await;
    let (private, shared) = (
        private["id"].as_str().unwrap(),
        shared["id"].as_str().unwrap(),
    );

    annotated(&s, &owner, private).await;
    annotated(&s, &member, shared).await;
    for (key, id) in [
        (&member, private),
        (&outsider, private),
        (&outsider, shared),
    ] {
        assert_error(
            s.get(&annotated_path(id), key).await,
            404,
            "PRIVATE_CONTENT_NOT_FOUND",
        )
        .await;
    }
    // Not before it is completed: registered, then uploaded, not yet processed.
    let (pending, url) = s
        .new_upload(&owner, &json!({"file_name": "later.txt"}))
        .await;
    assert_error(
        s.get(&annotated_path(&pending), &owner).await,
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;
    assert_eq!(s.put_upload(&url, b"soon".to_vec()).await.status(), 200);
    assert_eq!(
        s.get_document(&owner, &pending).await["status"],
        "processing"
    );
    assert_error(
        s.get(&annotated_path(&pending), &owner).await,
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;
    s.run_jobs();
    annotated(&s, &owner, &pending).await;
    // Malformed ids and missing keys answer as everywhere.
    assert_error(
        s.get(&annotated_path("abc"), &owner).await,
        400,
        "INVALID_DOCUMENT_ID",
    )
    .await;
    assert_error(
        s.get_without_key(&annotated_path(private)).await,
        401,
        "UNAUTHORIZED",
    )
    .await;
}

#[tokio::test]
async fn pdf_pages_and_office_structure_are_kept() {
    let s = TestServer::builder().manual_jobs().start().await;
    let key = &s.admin_key;
    let mut objects = pdf_objects(
        &[&[], &["Second page about EUR 300m of issuance."]],
        HELVETICA,
    );
    // Page 1: a heading set larger than the body text below it.
    objects[4] = stream(
        "BT /F1 20 Tf 72 720 Td (Rates outlook for 2027) Tj ET\n\
         BT /F1 12 Tf 72 680 Td 14 TL (The Fed holds at 4.5% this year.) Tj T* \
         (Cuts come later.) Tj ET",
    );
    let bytes = pdf_of(&objects);
    let doc = s.upload(key, "rates.pdf", &bytes, json!({})).await;
    assert_eq!(extraction(&doc), ("ok".into(), false), "{doc}");
    let a = annotated(&s, key, doc["id"].as_str().unwrap()).await;
    assert_eq!(a["profiling"]["extractor"], "pdf");
    assert_eq!(a["profiling"]["pages"], 2);
    assert_eq!(a["analytics"]["metrics"]["pages"], 2);
    assert_eq!(a["content"]["title"], "Rates outlook for 2027");
    assert_eq!(
        a["content"]["body"],
        json!([{"type": "heading", "text": "Rates outlook for 2027", "page": 1},
               {"type": "paragraph", "text": "The Fed holds at 4.5% this year. Cuts come later.", "page": 1},
               {"type": "paragraph", "text": "Second page about EUR 300m of issuance.", "page": 2}])
    );
    let values: Vec<&str> = a["analytics"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["EUR 3e8", "4.5%"]);

    let docx = zip_of(&[(
        "word/document.xml",
        br#"<w:document xmlns:w="w"><w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Summary</w:t></w:r></w:p><w:p><w:r><w:t>Buy $IBM.</w:t></w:r></w:p></w:body></w:document>"#,
    )]);
    let doc = s.upload(key, "note.docx", &docx, json!({})).await;
    assert_eq!(
        doc["content_type"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let a = annotated(&s, key, doc["id"].as_str().unwrap()).await;
    assert_eq!(
        a["content"]["body"],
        json!([{"type": "heading", "text": "Summary", "page": null},
               {"type": "paragraph", "text": "Buy $IBM.", "page": null}])
    );
    // HTML table rows are table blocks, one per row.
    let html = b"<html lang=\"en-gb\"><head><title>Ratings</title></head><body><h1>Ratings</h1>\
        <table><tr><th>Ticker</th><th>Rating</th></tr><tr><td>AAPL</td><td><p>Buy</p></td></tr></table>\
        <p>Prices as of the close.</p></body></html>";
    let doc = s.upload(key, "ratings.html", html, json!({})).await;
    assert_eq!(doc["content_type"], "text/html");
    let a = annotated(&s, key, doc["id"].as_str().unwrap()).await;
    assert_eq!(a["profiling"]["extractor"], "html");
    assert_eq!(a["content"]["language"], "en-GB", "from <html lang>");
    assert_eq!(
        a["content"]["body"],
        json!([{"type": "heading", "text": "Ratings", "page": null},
               {"type": "table", "text": "Ticker | Rating", "page": null},
               {"type": "table", "text": "AAPL | Buy", "page": null},
               {"type": "paragraph", "text": "Prices as of the close.", "page": null}])
    );
    // A type without an extractor is stored and completed without text.
    let doc = s
        .upload(key, "logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", json!({}))
        .await;
    assert_eq!(doc["status"], "completed");
    assert_eq!(extraction(&doc), ("unsupported".into(), false));
    let a = annotated(&s, key, doc["id"].as_str().unwrap()).await;
    assert_eq!(a["content"]["body"], json!([]));
    assert_eq!(a["profiling"]["extractor"], "none");
}

#[tokio::test]
async fn hostile_files_complete_downloadable_with_the_outcome_recorded() {
    let s = TestServer::builder()
        .manual_jobs()
        .config(
            "[processing]\nmax_text_bytes = 1000\nmax_unpacked_bytes = 8388608\n\
             max_memory_mb = 64\ntimeout = \"20s\"\n",
        )
        .start()
        .await;
    let key = &s.admin_key;
    // 64 MiB of zeros inflating from well under a MiB, named as a DOCX.
    let bomb = zip_of(&[("word/document.xml", &vec![b' '; 64 << 20])]);
    assert!(bomb.len() < 1 << 20);
    let mut corrupt = pdf(&[&["fine so far"]]);
    corrupt.truncate(corrupt.len() / 2);
    corrupt.extend(b"\x00\xff garbage 9999 0 obj << /Length -1 >> stream");
    // More text than the limit: truncated at 1,000 bytes.
    let long = "word ".repeat(1000);
    // More than the extractor may allocate: it is stopped, the server is not.
    let huge = vec![b'a'; 90 << 20];
    // A font encoding pdf-extract does not know: it panics.
    let panics = pdf_of(&pdf_objects(
        &[&["Net income rose."]],
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /NoSuchEncoding >>",
    ));
    // Each case: the status, and what the error says.
    let cases: [(&str, &[u8], &str, &str); 5] = [
        ("bomb.docx", &bomb, "failed", "zip bomb"),
        ("broken.pdf", &corrupt, "failed", ""),
        ("long.txt", long.as_bytes(), "truncated", ""),
        ("huge.txt", &huge, "failed", "memory"),
        ("panics.pdf", &panics, "failed", "the pdf extractor failed"),
    ];
    for (name, bytes, status, error) in cases {
        let doc = s.upload(key, name, bytes, json!({})).await;
        assert_eq!(doc["status"], "completed", "{name}: {doc}");
        let (got, has_error) = extraction(&doc);
        assert_eq!(got, status, "{name}: {doc}");
        assert_eq!(has_error, status == "failed", "{name}: {doc}");
        let said = doc["file_metadata"]["extraction"]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(said.contains(error), "{name}: {said}");
        let id = doc["id"].as_str().unwrap();
        if bytes.len() < 10 << 20 {
            assert_eq!(
                s.download(key, id).await,
                bytes,
                "{name} stays downloadable"
            );
        }
        let a = annotated(&s, key, id).await;
        if status == "truncated" {
            let text = a["content"]["body"][0]["text"].as_str().unwrap();
            assert_eq!(text.len(), 1000);
        }
    }
    // The server is still there, and has them all.
    assert_eq!(s.list_documents(key, "").await.len(), cases.len());
}

/// A tiny PDF that would run for years: its page draws form X1, and each
/// of 40 forms draws the next one twice (2^40 forms in all, none drawing
/// text, so no output limit stops it).
fn endless_pdf() -> Vec<u8> {
    let mut objects = pdf_objects(&[&[]], HELVETICA);
    objects[3] = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
        /Resources << /XObject << /X1 6 0 R >> >> /Contents 5 0 R >>"
        .into();
    objects[4] = stream("/X1 Do");
    const FORMS: usize = 40;
    for i in 0..FORMS {
        let (resources, content) = if i + 1 < FORMS {
            (format!("/XObject << /X1 {} 0 R >>", 7 + i), "/X1 Do /X1 Do")
        } else {
            (String::new(), "0 0 m 1 1 l S")
        };
        objects.push(format!(
            "<< /Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << {resources} >> \
             /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    pdf_of(&objects)
}

#[tokio::test]
async fn an_endless_extraction_is_stopped_at_the_timeout() {
    let s = TestServer::builder()
        .manual_jobs()
        .config("[processing]\ntimeout = \"1s\"\n")
        .start()
        .await;
    let bytes = endless_pdf();
    assert!(bytes.len() < 16 << 10, "{}", bytes.len());
    let started = std::time::Instant::now();
    let doc = s
        .upload(&s.admin_key, "endless.pdf", &bytes, json!({}))
        .await;
    assert_eq!(doc["status"], "completed");
    assert_eq!(
        doc["file_metadata"]["extraction"],
        json!({"status": "timeout", "error": "extraction took longer than 1s"})
    );
    assert!(started.elapsed().as_secs() < 20, "not hung");
    assert_eq!(
        s.download(&s.admin_key, doc["id"].as_str().unwrap()).await,
        bytes
    );
}

/// A valid PDF of one page and a million tiny indirect objects besides,
/// each in the cross-reference table (about 45 MB).
fn million_objects_pdf() -> Vec<u8> {
    let mut objects = pdf_objects(&[&["The page after a million objects."]], HELVETICA);
    objects.extend((0..1_000_000u32).map(|i| (i % 10).to_string()));
    pdf_of(&objects)
}

/// A process's peak resident memory in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib / 1024
}

#[tokio::test]
async fn a_pdf_of_a_million_objects_is_bounded_and_the_server_unaffected() {
    // The server's own workers process it: the extractor is the server's
    // child, within 128 MiB and 10 s.
    let s = TestServer::builder()
        .config("[processing]\nmax_memory_mb = 128\ntimeout = \"10s\"\n")
        .start()
        .await;
    let key = &s.admin_key;
    let bytes = million_objects_pdf();
    let (id, url) = s
        .new_upload(key, &json!({"file_name": "objects.pdf"}))
        .await;
    assert_eq!(s.put_upload(&url, bytes.clone()).await.status(), 200);
    // Stored: processing starts now, and is over within the timeout (the
    // wait gives up at 20 s).
    let doc = s.wait_until_completed(key, &id).await;
    // What happened is recorded, whichever bound stopped it.
    let e = &doc["file_metadata"]["extraction"];
    assert!(
        matches!(e["status"].as_str(), Some("failed" | "timeout")),
        "{doc}"
    );
    assert!(e["error"].is_string(), "{doc}");
    assert_eq!(s.download(key, &id).await, bytes, "downloadable");
    annotated(&s, key, &id).await;
    // The parsing happened in the child: the server never held it.
    let server = peak_rss_mib(s.pid());
    assert!(server < 200, "server peak RSS {server} MiB");
    // And the server goes on processing.
    let next = s
        .upload(
            key,
            "next.pdf",
            &pdf(&[&["Rates held at 4.5%."]]),
            json!({}),
        )
        .await;
    assert_eq!(extraction(&next), ("ok".into(), false), "{next}");
}

/// Extraction is background work: the child runs at a lower CPU priority
/// (nice 10) than the server, so sessions and requests come first.
/// One file as `inlet extract` reads it: the content type, the bytes in
/// one frame, an empty frame.
fn extract_request(content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = (content_type.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

/// The answers `inlet extract` wrote: each a `u64` length and JSON.
fn extract_answers(mut out: &[u8]) -> Vec<Value> {
    let mut answers = Vec::new();
    while out.len() >= 8 {
        let len = u64::from_le_bytes(out[..8].try_into().unwrap()) as usize;
        answers.push(serde_json::from_slice(&out[8..8 + len]).unwrap());
        out = &out[8 + len..];
    }
    assert!(out.is_empty(), "a partial answer");
    answers
}

/// `inlet extract` with small limits, its input and output piped.
fn extractor() -> std::process::Child {
    std::process::Command::new(common::BIN)
        .arg("extract")
        .args(["--max-text-bytes", "1000", "--max-unpacked-bytes", "1000"])
        .args(["--max-entries", "10", "--max-memory-bytes", "67108864"])
        .args(["--cpu-seconds", "5"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn one_extractor_process_answers_file_after_file_and_stops_at_a_broken_one() {
    let mut child = extractor();
    let mut input = extract_request("text/plain", b"first note");
    input.extend(extract_request("application/pdf", b"%PDF-1.7 not really"));
    input.extend(extract_request("text/plain", b"second note"));
    // A frame larger than the protocol allows: answered, and the end.
    input.extend(10u32.to_le_bytes());
    input.extend(b"text/plain");
    input.extend(0x7fff_ffffu32.to_le_bytes());
    input.extend(extract_request("text/plain", b"never read"));
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let answers = extract_answers(&out.stdout);
    assert_eq!(answers.len(), 4, "{answers:?}");
    assert_eq!(answers[0]["outcome"], "done");
    assert_eq!(answers[0]["extracted"]["body"][0]["text"], "first note");
    assert_eq!(answers[1]["outcome"], "failed", "{}", answers[1]);
    assert_eq!(answers[2]["extracted"]["body"][0]["text"], "second note");
    assert_eq!(answers[3]["outcome"], "failed");
    assert!(
        answers[3]["error"].as_str().unwrap().contains("frame"),
        "{}",
        answers[3]
    );
}

#[test]
fn the_extractor_process_runs_at_a_lower_priority() {
    let mut child = extractor();
    // It lowers its priority before it reads the file: wait while it waits.
    let nice = |pid: u32| -> i64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // Field 19, counted after the parenthesised command name.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(16).unwrap().parse().unwrap()
    };
    let own = nice(std::process::id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while nice(child.id()) == own && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(nice(child.id()), (own + 10).min(19));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&extract_request("text/plain", b"still works"))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let reply = &extract_answers(&out.stdout)[0];
    assert_eq!(reply["outcome"], "done", "{reply}");
}

#[tokio::test]
async fn reprocess_processes_documents_stored_before_processing_existed() {
    let s = TestServer::builder().manual_jobs().start().await;
    let key = &s.admin_key;
    let c = s.create_research_connector(key, "Desk", "u", "p").await;
    let other = s.create_research_connector(key, "Other", "u", "p").await;
    let ids = s.seed_connector_documents(&c, 3, &[]).await;
    let others = s.seed_connector_documents(&other, 2, &[]).await;
    for id in ids.iter().chain(&others) {
        assert_error(
            s.get(&annotated_path(id), key).await,
            404,
            "PRIVATE_CONTENT_NOT_FOUND",
        )
        .await;
    }
    // How many it queued (stdout), and its progress (stderr).
    let reprocess = |args: &[&str]| {
        let mut all = vec!["admin", "reprocess"];
        all.extend(args);
        let out = s.cli(&all);
        let progress = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{progress}");
        let queued = String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap();
        (queued, progress)
    };
    let connector = c["connector_id"].as_str().unwrap();
    let (queued, progress) = reprocess(&["--connector", connector]);
    assert_eq!(queued, 3);
    assert!(progress.lines().any(|l| l == "queued 3"), "{progress}");
    assert_eq!(s.get_document(key, &ids[0]).await["status"], "completed");
    s.run_jobs();
    for id in &ids {
        let a = annotated(&s, key, id).await;
        assert_eq!(a["profiling"]["extractor"], "text");
    }
    assert_error(
        s.get(&annotated_path(&others[0]), key).await,
        404,
        "PRIVATE_CONTENT_NOT_FOUND",
    )
    .await;
    // Resumable: what is done is not done again; the rest is.
    assert_eq!(reprocess(&[]).0, 2);
    s.run_jobs();
    assert_eq!(reprocess(&[]).0, 0);

    // --force takes processed documents again. They stay completed, with
    // their earlier content readable, until the new content is written.
    let before = annotated(&s, key, &ids[0]).await["profiling"]["finished_at"].clone();
    let (queued, progress) = reprocess(&["--force", "--connector", connector]);
    assert_eq!(queued, 3);
    let started = progress
        .lines()
        .find_map(|l| l.split("resume with --force --before ").nth(1))
        .unwrap_or_else(|| panic!("the time to resume from: {progress}"))
        .to_string();
    assert_eq!(s.get_document(key, &ids[0]).await["status"], "completed");
    let meanwhile = annotated(&s, key, &ids[0]).await;
    assert_eq!(meanwhile["profiling"]["finished_at"], before);
    assert_eq!(meanwhile["document"]["status"], "completed");
    // Say that run stopped there. Resumed from its start, for every
    // connector, it queues the other two, and none of the three twice.
    assert_eq!(reprocess(&["--force", "--before", &started]).0, 2);
    s.run_jobs();
    let after = annotated(&s, key, &ids[0]).await["profiling"]["finished_at"].clone();
    assert_ne!(before, after);
    assert_eq!(reprocess(&["--force", "--before", &started]).0, 0);
    assert_eq!(
        reprocess(&["--force", "--before", "2000-01-01T00:00:00Z"]).0,
        0
    );
}
